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

package main

import "testing"

// TestGoMemoryLimit: the container's limit less a tenth, at least 32 MiB,
// unless GOMEMLIMIT is set; a limit too small to leave 32 MiB sets nothing; a missing limit sets nothing, and a malformed or hostile one sets
// nothing and says so.
func TestGoMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    int64
		set     bool
		wantErr bool
	}{
		{"256Mi: less 32 MiB", map[string]string{memoryLimitEnv: "268435456"}, 224 << 20, true, false},
		{"1Gi: less a tenth", map[string]string{memoryLimitEnv: "1073741824"}, 1073741824 - 107374182, true, false},
		{"64Mi: just the floor", map[string]string{memoryLimitEnv: "67108864"}, 32 << 20, true, false},
		{"48Mi: too small", map[string]string{memoryLimitEnv: "50331648"}, 0, false, true},
		{"1 byte", map[string]string{memoryLimitEnv: "1"}, 0, false, true},
		{"GOMEMLIMIT wins", map[string]string{memoryLimitEnv: "268435456", "GOMEMLIMIT": "100MiB"}, 0, false, false},
		{"no limit", map[string]string{}, 0, false, false},
		{"not a number", map[string]string{memoryLimitEnv: "256Mi"}, 0, false, true},
		{"zero", map[string]string{memoryLimitEnv: "0"}, 0, false, true},
		{"negative", map[string]string{memoryLimitEnv: "-1"}, 0, false, true},
		{"too large", map[string]string{memoryLimitEnv: "99999999999999999999"}, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, set, err := goMemoryLimit(func(k string) string { return tc.env[k] })
			if got != tc.want || set != tc.set || (err != nil) != tc.wantErr {
				t.Fatalf("= %d %v %v, want %d %v error %v", got, set, err, tc.want, tc.set, tc.wantErr)
			}
		})
	}
}
