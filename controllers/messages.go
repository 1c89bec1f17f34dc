/*
Copyright 2026 The certsmith Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controllers

import (
	"fmt"
	"unicode/utf8"
)

// MaxMessageBytes bounds every condition message and Event note certsmith
// writes: a request with thousands of names must not make kilobytes of
// status or Events out of them.
const MaxMessageBytes = 1024

// limitMessage cuts a message to MaxMessageBytes, at a character boundary,
// ending in "… and N more bytes".
func limitMessage(message string) string {
	if len(message) <= MaxMessageBytes {
		return message
	}
	// The suffix is at most this long for any N a message can have.
	const suffixRoom = len("… and 9999999999 more bytes")
	cut := MaxMessageBytes - suffixRoom
	for cut > 0 && !utf8.RuneStart(message[cut]) {
		cut--
	}
	return message[:cut] + fmt.Sprintf("… and %d more bytes", len(message)-cut)
}
