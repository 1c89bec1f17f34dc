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
	"testing"
	"time"
)

// TestRetryLimiter: the back-off of one object starts at FirstRetryDelay,
// doubles, stops at the cap however many failures follow, and starts over
// once the object succeeds; other objects are not slowed by it.
func TestRetryLimiter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxDelay time.Duration
		want     time.Duration
	}{
		{"the default", 0, DefaultMaxRetryDelay},
		{"negative is the default", -time.Second, DefaultMaxRetryDelay},
		{"a set cap", 2 * time.Second, 2 * time.Second},
		{"below the first delay", time.Millisecond, FirstRetryDelay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limiter := retryLimiter[string](tc.maxDelay)
			if got := limiter.When("a"); got != FirstRetryDelay {
				t.Fatalf("first failure: %s, want %s", got, FirstRetryDelay)
			}
			if got, want := limiter.When("a"), min(2*FirstRetryDelay, tc.want); got != want {
				t.Fatalf("second failure: %s, want %s", got, want)
			}
			var last time.Duration
			for range 200 {
				last = limiter.When("a")
				if last > tc.want {
					t.Fatalf("back-off %s above the cap %s", last, tc.want)
				}
			}
			if last != tc.want {
				t.Fatalf("after 200 failures: %s, want the cap %s", last, tc.want)
			}
			if got := limiter.When("b"); got != FirstRetryDelay {
				t.Fatalf("another object's first failure: %s, want %s", got, FirstRetryDelay)
			}
			limiter.Forget("a")
			if got := limiter.When("a"); got != FirstRetryDelay {
				t.Fatalf("after success: %s, want %s", got, FirstRetryDelay)
			}
		})
	}
}
