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

import (
	"fmt"
	"runtime/debug"
	"strconv"
)

// memoryLimitEnv is the container's memory limit in bytes, which the
// Deployment passes from resources.limits.memory (a resourceFieldRef).
const memoryLimitEnv = "CERTSMITH_MEMORY_LIMIT"

// memoryLimitMargin is what the Go runtime is told to leave of the
// container's limit: a tenth of it, at least memoryLimitMinMargin. The
// margin is for the binary's own pages, stacks and what the runtime does
// not count, so that the GC works harder near the limit instead of the
// kernel killing the container.
func memoryLimitMargin(limit int64) int64 { return max(limit/10, memoryLimitMinMargin) }

const (
	memoryLimitMinMargin = 32 << 20
	// memoryLimitFloor is the least Go memory limit set: below it the GC
	// would run all the time, and a restart after an OOM kill is better.
	memoryLimitFloor = 32 << 20
)

// goMemoryLimit returns the soft memory limit for the Go runtime from the
// environment (read by getenv): the container's limit less its margin, and false when none is to be set: an
// explicit GOMEMLIMIT wins (the runtime has read it already), and no
// limit, or one that is not a positive number of bytes, sets nothing.
func goMemoryLimit(getenv func(string) string) (int64, bool, error) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false, nil
	}
	value := getenv(memoryLimitEnv)
	if value == "" {
		return 0, false, nil
	}
	limit, err := strconv.ParseInt(value, 10, 64)
	if err != nil || limit <= 0 {
		return 0, false, fmt.Errorf("%s=%q is not a positive number of bytes; no Go memory limit set", memoryLimitEnv, value)
	}
	goLimit := limit - memoryLimitMargin(limit)
	if goLimit < memoryLimitFloor {
		return 0, false, fmt.Errorf("%s=%d leaves less than %d MiB for the Go heap; no Go memory limit set", memoryLimitEnv, limit, memoryLimitFloor>>20)
	}
	return goLimit, true, nil
}

// setGoMemoryLimit applies goMemoryLimit and returns what it set (0: none).
func setGoMemoryLimit(getenv func(string) string) (int64, error) {
	limit, ok, err := goMemoryLimit(getenv)
	if !ok {
		return 0, err
	}
	debug.SetMemoryLimit(limit)
	return limit, nil
}
