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
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// noValue stands for an unset field in the output.
const noValue = "<none>"

// relativeTime says how far t is from now: "in 59d", "3h ago" or "now".
func relativeTime(t, now time.Time) string {
	switch d := t.Sub(now); {
	case d >= time.Second:
		return "in " + duration.HumanDuration(d)
	case d <= -time.Second:
		return duration.HumanDuration(-d) + " ago"
	default:
		return "now"
	}
}

// absoluteAndRelative prints t in RFC 3339 (UTC) followed by its distance
// from now, for example "2026-03-01T10:00:00Z (in 59d)".
func absoluteAndRelative(t time.Time, now time.Time) string {
	return fmt.Sprintf("%s (%s)", t.UTC().Format(time.RFC3339), relativeTime(t, now))
}

// metaTime is absoluteAndRelative for an optional API time.
func metaTime(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return noValue
	}
	return absoluteAndRelative(t.Time, now)
}

// age is the time since t, as kubectl prints it ("5m"), or noValue.
func age(t time.Time, now time.Time) string {
	if t.IsZero() {
		return noValue
	}
	if now.Before(t) {
		return "0s"
	}
	return duration.HumanDuration(now.Sub(t))
}

// orNone returns s, or noValue when s is empty.
func orNone(s string) string {
	if s == "" {
		return noValue
	}
	return s
}

// joinOrNone joins values with ", ", or returns noValue for none.
func joinOrNone(values []string) string {
	if len(values) == 0 {
		return noValue
	}
	return strings.Join(values, ", ")
}

// newTable returns a tabwriter for aligned columns; callers Flush it.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

// oneLine makes a message safe for a table cell: no line breaks or tabs.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// requestTimestamp is the value written into the renew and rotate
// annotations: now in RFC 3339. certsmith acts when the value differs from
// the last one it handled, so when the object already carries this very
// second, the value gets all nine fractional digits (still RFC 3339) and
// differs.
func requestTimestamp(now time.Time, current string) string {
	value := now.UTC().Format(time.RFC3339)
	if value == current {
		value = now.UTC().Format(rfc3339Nanoseconds)
	}
	return value
}

// rfc3339Nanoseconds is RFC 3339 with exactly nine fractional digits;
// time.RFC3339Nano drops trailing zeros, and with them the difference.
const rfc3339Nanoseconds = "2006-01-02T15:04:05.000000000Z07:00"

// annotationPatch is a JSON merge patch that sets one annotation and
// touches nothing else: no spec, no resourceVersion precondition.
func annotationPatch(key, value string) (client.Patch, error) {
	data, err := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"annotations": map[string]string{key: value},
		},
	})
	if err != nil {
		return nil, err
	}
	return client.RawPatch(types.MergePatchType, data), nil
}
