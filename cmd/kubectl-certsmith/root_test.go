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
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("the root command", func() {
	It("introduces itself as kubectl certsmith and lists every command", func() {
		result := runPlugin("--help")
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("kubectl certsmith [command]"))
		for _, command := range []string{"status", "pods", "renew", "inspect", "approve", "deny", "rotate", "revoke", "version"} {
			Expect(result.Out).To(MatchRegexp(`\n  ` + command + `\s+\S`))
		}
		Expect(result.Out).To(ContainSubstring("--kubeconfig"))
		Expect(result.Out).To(ContainSubstring("-n, --namespace"))
		Expect(result.Out).To(ContainSubstring("--context"))
	})

	It("gives every command help with examples", func() {
		for _, command := range [][]string{{"status"}, {"pods"}, {"renew"}, {"inspect", "secret"}, {"approve"}, {"deny"}, {"rotate"}, {"revoke"}, {"version"}} {
			result := runPlugin(append(command, "--help")...)
			Expect(result.Err).NotTo(HaveOccurred())
			Expect(result.Out).To(ContainSubstring("Examples:\n  "), "%v", command)
			Expect(result.Out).To(ContainSubstring("kubectl certsmith "+command[0]), "%v", command)
		}
	})

	It("prints its version", func() {
		result := runPlugin("version")
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(MatchRegexp(`^kubectl-certsmith \S+ \(go\S+, \w+/\w+\)\n$`))
	})

	It("rejects unknown commands", func() {
		Expect(runPlugin("frobnicate").Err).To(MatchError(ContainSubstring(`unknown command "frobnicate"`)))
	})
})

func TestRelativeTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		offset time.Duration
		want   string
	}{
		{59*24*time.Hour + 23*time.Hour, "in 59d"},
		{90 * time.Second, "in 90s"},
		{-3 * time.Hour, "3h ago"},
		{-400 * 24 * time.Hour, "400d ago"},
		{500 * time.Millisecond, "now"},
		{0, "now"},
	} {
		if got := relativeTime(now.Add(tc.offset), now); got != tc.want {
			t.Errorf("relativeTime(now%+v) = %q, want %q", tc.offset, got, tc.want)
		}
	}
}

func TestRequestTimestamp(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	if got, want := requestTimestamp(now, ""), "2026-03-01T11:00:00Z"; got != want {
		t.Errorf("first request = %q, want %q", got, want)
	}
	if got, want := requestTimestamp(now, "2026-03-01T11:00:00Z"), "2026-03-01T11:00:00.000000000Z"; got != want {
		t.Errorf("second request in the same second = %q, want %q", got, want)
	}
	if got, want := requestTimestamp(now, "2026-03-01T11:00:00.000000000Z"), "2026-03-01T11:00:00Z"; got != want {
		t.Errorf("third request in the same second = %q, want %q", got, want)
	}
}
