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
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// The pod-certificate signer writes no Event per request: a thousand pods
// refused would be a thousand Events, and the kubelet already puts one on
// each pod it could not serve (with the reason and message certsmith
// wrote). The issuer gets a sampled Warning instead: the first refusal of
// each (issuer, reason) in refusalWindow, counting those left out since
// the last one. Sampling rather than summing at the end of a window keeps
// it immediate (the first refusal shows at once) and needs no timer; the
// metric certsmith_podcertificaterequests_refused_total counts every one.

// refusalWindow is the shortest time between two refusal Events of one
// issuer and reason.
const refusalWindow = 5 * time.Minute

// maxRefusalEntries bounds the digest: past it, the entries of the oldest
// windows are dropped (an issuer's next refusal then gets its Event).
const maxRefusalEntries = 1000

// refusalDigest samples refusal Events.
type refusalDigest struct {
	mu      sync.Mutex
	clock   clock.PassiveClock
	entries map[refusalKey]*refusalEntry
}

type refusalKey struct{ issuer, conditionType, reason string }

type refusalEntry struct {
	// emittedAt is when the last Event was emitted.
	emittedAt time.Time
	// left is how many refusals got no Event since then.
	left int
}

func newRefusalDigest(c clock.PassiveClock) *refusalDigest {
	return &refusalDigest{clock: c, entries: map[refusalKey]*refusalEntry{}}
}

// note records a refusal of the request named by what and returns the
// Event note to emit, if one is due.
func (d *refusalDigest) note(issuer string, refusal *podCertificateRefusal, what string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	key := refusalKey{issuer, refusal.conditionType, refusal.reason}
	entry := d.entries[key]
	if entry != nil && now.Sub(entry.emittedAt) < refusalWindow {
		entry.left++
		return "", false
	}
	left := 0
	if entry != nil {
		left = entry.left
	} else {
		d.makeRoom(now)
	}
	d.entries[key] = &refusalEntry{emittedAt: now}
	note := fmt.Sprintf("%s PodCertificateRequest %s (%s): %s", refusal.conditionType, what, refusal.reason, refusal.message)
	if left > 0 {
		note += fmt.Sprintf(" (and %d more %s for this reason since %s; see certsmith_podcertificaterequests_refused_total)",
			left, refusal.conditionType, entry.emittedAt.UTC().Format(time.RFC3339))
	}
	return note, true
}

// makeRoom drops finished windows once the digest is full, and, if it is
// still full, every entry.
func (d *refusalDigest) makeRoom(now time.Time) {
	if len(d.entries) < maxRefusalEntries {
		return
	}
	for key, entry := range d.entries {
		if now.Sub(entry.emittedAt) >= refusalWindow {
			delete(d.entries, key)
		}
	}
	if len(d.entries) >= maxRefusalEntries {
		clear(d.entries)
	}
}
