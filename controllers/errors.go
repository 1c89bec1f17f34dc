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

// terminalError is a problem the user must fix. Reconcilers turn it into a
// False condition (and an Event) and return nil, so it is not retried in a
// hot loop; a watch brings the object back when something changes.
type terminalError struct {
	reason  string
	message string
}

// Error implements error.
func (e *terminalError) Error() string { return e.reason + ": " + e.message }

// terminal makes a terminalError with a condition reason and message.
func terminal(reason, message string) error {
	return &terminalError{reason: reason, message: message}
}
