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

import (
	"testing"
	"time"
)

// TestPlanPublish: the switch waits for every path, or, past the deadline,
// for every path certsmith can write and has not confirmed.
func TestPlanPublish(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		coverage  Coverage
		elapsed   time.Duration
		published bool
		want      publishStep
	}{
		{"all published: publishedAt now, then the delay", Coverage{}, time.Second, false, publishStep{publish: true, requeue: PublishingPoll}},
		{"a conflict before the deadline: wait", Coverage{Unpublished: 1, Conflicts: 1}, 9 * time.Minute, false, publishStep{requeue: PublishingPoll}},
		{"a conflict past the deadline: publish, skipping it", Coverage{Unpublished: 1, Conflicts: 1}, 10 * time.Minute, false,
			publishStep{publish: true, skipping: true, requeue: PublishingPoll}},
		{"an unconfirmed ca.crt past the deadline: publish, skipping it", Coverage{Unpublished: 3}, 11 * time.Minute, false,
			publishStep{publish: true, skipping: true, requeue: PublishingPoll}},
		{"a failed write certsmith retries, past the deadline: wait", Coverage{Unpublished: 2, Conflicts: 1, Blocking: 1}, time.Hour, false,
			publishStep{requeue: PublishingPoll}},
		{"published, delay not over: wait", Coverage{}, 30 * time.Second, true, publishStep{requeue: PublishingPoll}},
		{"published, delay over: switch", Coverage{Unpublished: 1, Conflicts: 1}, 2 * time.Minute, true, publishStep{switchNow: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := publishInput{now: start.Add(tc.elapsed), startedAt: start, deadline: 10 * time.Minute, delay: time.Minute, coverage: tc.coverage}
			if tc.published {
				in.publishedAt = start
			}
			if got := planPublish(in); got != tc.want {
				t.Fatalf("planPublish = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestCoverageBounds: at most MaxNamedPaths names, each at most
// maxPathName bytes; everything counted.
func TestCoverageBounds(t *testing.T) {
	var c Coverage
	long := string(make([]byte, 5000))
	for i := 0; i < 50; i++ {
		c.Add(2, long, i%2 == 0, i%5 == 0)
	}
	c.Add(0, "not counted", true, true)
	if c.Unpublished != 100 || c.Conflicts != 50 || c.Blocking != 20 {
		t.Fatalf("counts = %d/%d/%d, want 100/50/20", c.Unpublished, c.Conflicts, c.Blocking)
	}
	if len(c.Names) != MaxNamedPaths {
		t.Fatalf("%d names, want %d", len(c.Names), MaxNamedPaths)
	}
	for _, n := range c.Names {
		if len(n) > maxPathName {
			t.Fatalf("a name of %d bytes", len(n))
		}
	}
	r := &Rotation{Unpublished: c.Unpublished, Conflicts: c.Conflicts, UnpublishedPaths: []string{"ConfigMap a/b", "ConfigMap c/d"}}
	if got, want := Summary(r, 200), "100 trust paths (50 of them conflicts: not certsmith's, immutable or rejected): ConfigMap a/b, ConfigMap c/d … and 98 more"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
}
