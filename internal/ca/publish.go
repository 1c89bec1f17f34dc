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

package ca

import "time"

// PublishingPoll is how often a rotation in its Publishing phase looks at
// the trust paths again.
const PublishingPoll = 2 * time.Second

// MaxNamedPaths bounds how many unpublished trust paths a Coverage names.
const MaxNamedPaths = 10

// maxPathName bounds the length of one named path.
const maxPathName = 600

// Coverage counts the trust paths (bundle ConfigMaps, ClusterTrustBundles,
// the ca.crt of certificate Secrets, injected caBundles; of an issuer and
// of the issuers below it) that do not hold the next CA yet.
type Coverage struct {
	// Unpublished is every path without the next CA.
	Unpublished int
	// Conflicts are those that certsmith cannot write.
	Conflicts int
	// Blocking are those that certsmith can write but whose write failed
	// for a transient reason: they block the switch even past the deadline.
	Blocking int
	// Names are the first MaxNamedPaths of them.
	Names []string
}

// Add counts n paths; name describes them ("" counts without naming).
func (c *Coverage) Add(n int, name string, conflict, blocking bool) {
	if n <= 0 {
		return
	}
	c.Unpublished += n
	if conflict {
		c.Conflicts += n
	}
	if blocking {
		c.Blocking += n
	}
	if name != "" && len(c.Names) < MaxNamedPaths {
		if len(name) > maxPathName {
			name = name[:maxPathName]
		}
		c.Names = append(c.Names, name)
	}
}

// publishInput is what decides a Publishing step.
type publishInput struct {
	now, startedAt time.Time
	// publishedAt is when nothing blocked the switch any more; zero until then.
	publishedAt time.Time
	deadline    time.Duration
	delay       time.Duration
	coverage    Coverage
}

// publishStep is the decision of one Publishing step.
type publishStep struct {
	// publish: nothing blocks any more; record publishedAt = now.
	publish bool
	// skipping: publish although some paths lack the next CA (the deadline passed).
	skipping bool
	// switchNow: switch signing to the next CA.
	switchNow bool
	// requeue is when to look again (when not switching).
	requeue time.Duration
}

// planPublish decides one step of the Publishing phase. The switch waits
// until every trust path holds the next CA; from startedAt plus the
// deadline on, only paths that certsmith can write and whose write failed
// for a transient reason keep it waiting. The propagation delay then runs
// from that moment. Publishing looks again every PublishingPoll.
func planPublish(in publishInput) publishStep {
	var step publishStep
	publishedAt := in.publishedAt
	if publishedAt.IsZero() {
		pastDeadline := !in.now.Before(in.startedAt.Add(in.deadline))
		if in.coverage.Unpublished == 0 || (pastDeadline && in.coverage.Blocking == 0) {
			step.publish = true
			step.skipping = in.coverage.Unpublished > 0
			publishedAt = in.now
		}
	}
	if publishedAt.IsZero() {
		step.requeue = PublishingPoll
		return step
	}
	if wait := publishedAt.Add(in.delay).Sub(in.now); wait > 0 {
		step.requeue = min(wait, PublishingPoll)
		return step
	}
	step.switchNow = true
	return step
}
