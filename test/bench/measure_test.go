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
	"slices"
	"testing"
	"time"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

func TestParseProcStat(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250, stime 50 ticks.
	stat := "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0"
	got, err := parseProcStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("parseProcStat = %s, want %s", got, want)
	}
	if _, err := parseProcStat("1234 (cmd S 1"); err == nil {
		t.Error("parseProcStat accepted a malformed line")
	}
}

func TestParseMachineBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal: busy = 100+0+50+10+5+5 = 170 ticks.
	busy, steal, err := parseMachineBusy("cpu  100 0 50 1000 30 10 5 5 0 0")
	if err != nil {
		t.Fatal(err)
	}
	if busy != 1700*time.Millisecond || steal != 50*time.Millisecond {
		t.Errorf("parseMachineBusy = %s, %s; want 1.7s, 50ms", busy, steal)
	}
}

func TestParseProcStatus(t *testing.T) {
	got, err := parseProcStatus("Name:\tmanager\nVmPeak:\t 900000 kB\nVmHWM:\t   65536 kB\nVmRSS:\t   32768 kB\nRssAnon:\t   20480 kB\nRssFile:\t   12288 kB\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := (memoryInfo{hwm: 64 << 20, rss: 32 << 20, anon: 20 << 20, file: 12 << 20}); got != want {
		t.Errorf("parseProcStatus = %+v, want %+v", got, want)
	}
}

func TestParseRequestCountsAndSummary(t *testing.T) {
	before, err := parseRequestCounts([]byte(`# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",group="certsmith.io",resource="servicecertificates",scope="resource",subresource="",verb="POST",version="v1alpha1"} 5
apiserver_request_total{code="200",component="apiserver",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 7
`))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseRequestCounts([]byte(`# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",group="certsmith.io",resource="servicecertificates",scope="resource",subresource="",verb="POST",version="v1alpha1"} 7
apiserver_request_total{code="200",component="apiserver",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 8
apiserver_request_total{code="201",component="apiserver",group="certificates.k8s.io",resource="certificatesigningrequests",scope="resource",subresource="",verb="POST",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",group="certificates.k8s.io",resource="certificatesigningrequests",scope="resource",subresource="approval",verb="PUT",version="v1"} 2
apiserver_request_total{code="409",component="apiserver",group="",resource="secrets",scope="resource",subresource="",verb="PATCH",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",group="",resource="secrets",scope="resource",subresource="",verb="GET",version="v1"} 9
apiserver_request_total{code="429",component="apiserver",group="",resource="secrets",scope="resource",subresource="",verb="GET",version="v1"} 2
# TYPE apiserver_terminated_watchers_total counter
apiserver_terminated_watchers_total{group="certsmith.io",resource="servicecertificates",version="v1alpha1"} 3
`))
	if err != nil {
		t.Fatal(err)
	}
	s := summarizeWrites(before.delta(after), 2)
	// 2 creates (the harness's) + 1 lease (background) + 2 + 2 + 1 (the 409) mutating.
	if s.operator != 5 || s.background != 1 || s.conflicts != 1 || s.throttled != 2 {
		t.Errorf("summary = operator %d, background %d, conflicts %d, throttled %d; want 5, 1, 1, 2", s.operator, s.background, s.conflicts, s.throttled)
	}
	if s.terminatedWatchers["servicecertificates"] != 3 {
		t.Errorf("terminated watchers = %v, want servicecertificates 3", s.terminatedWatchers)
	}
	if _, ok := s.byKey[requestKey{verb: "GET", resource: "secrets", code: "200"}]; ok {
		t.Error("a GET counted as a write")
	}
	want := "PUT certificatesigningrequests/approval 200"
	if got := (requestKey{verb: "PUT", group: "certificates.k8s.io", resource: "certificatesigningrequests", subresource: "approval", code: "200"}).String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestParseWatchEvents(t *testing.T) {
	before, err := parseRequestCounts([]byte(`# TYPE apiserver_request_total counter
apiserver_request_total{code="200",resource="pods",verb="GET"} 1
# TYPE apiserver_watch_events_total counter
apiserver_watch_events_total{group="certificates.k8s.io",resource="podcertificaterequests",version="v1"} 10
# TYPE apiserver_watch_events_sizes histogram
apiserver_watch_events_sizes_bucket{group="certificates.k8s.io",resource="podcertificaterequests",version="v1",le="+Inf"} 10
apiserver_watch_events_sizes_sum{group="certificates.k8s.io",resource="podcertificaterequests",version="v1"} 20000
apiserver_watch_events_sizes_count{group="certificates.k8s.io",resource="podcertificaterequests",version="v1"} 10
`))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseRequestCounts([]byte(`# TYPE apiserver_request_total counter
apiserver_request_total{code="200",resource="pods",verb="GET"} 1
# TYPE apiserver_watch_events_total counter
apiserver_watch_events_total{group="certificates.k8s.io",resource="podcertificaterequests",version="v1"} 13
# TYPE apiserver_watch_events_sizes histogram
apiserver_watch_events_sizes_bucket{group="certificates.k8s.io",resource="podcertificaterequests",version="v1",le="+Inf"} 13
apiserver_watch_events_sizes_sum{group="certificates.k8s.io",resource="podcertificaterequests",version="v1"} 26144
apiserver_watch_events_sizes_count{group="certificates.k8s.io",resource="podcertificaterequests",version="v1"} 13
`))
	if err != nil {
		t.Fatal(err)
	}
	s := summarizeWrites(before.delta(after), 0)
	if s.watchEvents["podcertificaterequests"] != 3 || s.watchBytes["podcertificaterequests"] != 6144 || s.operator != 0 || len(s.byKey) != 0 {
		t.Errorf("summary = %+v; want 3 events of 6144 bytes and no writes", s)
	}
	if got := watchEventsText(s); got != "3 (6)" {
		t.Errorf("watchEventsText = %q", got)
	}
}

func TestPercentile(t *testing.T) {
	var values []time.Duration
	for i := 1; i <= 100; i++ {
		values = append(values, time.Duration(i)*time.Second)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Second, 90: 90 * time.Second, 99: 99 * time.Second, 100: 100 * time.Second} {
		if got := percentile(values, p); got != want {
			t.Errorf("percentile(%v) = %s, want %s", p, got, want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %s", got)
	}
}

func TestHistogram(t *testing.T) {
	got := histogram([]float64{0, 0.05, 0.1, 0.55, 0.99, 1}, 0, 1, 10)
	want := []int{2, 1, 0, 0, 0, 1, 0, 0, 0, 2}
	if !slices.Equal(got, want) {
		t.Errorf("histogram = %v, want %v", got, want)
	}
	if got := histogram([]float64{0.5, 0.5}, 0.5, 0.5, 10); got[0] != 2 {
		t.Errorf("histogram of equal values = %v", got)
	}
}

func TestPlan(t *testing.T) {
	cfg := &config{sizes: []int{200, 1000}, secretsSizes: []int{200, 1000}, keys: []string{keyECDSA, keyRSA}, secrets: 5000, profileDir: "p"}
	var names []string
	for _, r := range plan(cfg) {
		name := r.String()
		if r.profile {
			name += " (profiled)"
		}
		names = append(names, name)
	}
	want := []string{"ECDSA N=200", "ECDSA N=1000 (profiled)", "RSA N=200", "RSA N=1000", "ECDSA N=200 +5000 Secrets", "ECDSA N=1000 +5000 Secrets"}
	if !slices.Equal(names, want) {
		t.Errorf("plan = %q, want %q", names, want)
	}

	cfg = &config{sizes: []int{1000}, keys: []string{keyECDSA}, profileDir: "p", repeat: 2}
	names = names[:0]
	for _, r := range plan(cfg) {
		names = append(names, fmt.Sprintf("%s profiled=%v", r, r.profile))
	}
	want = []string{"ECDSA N=1000 #1 profiled=true", "ECDSA N=1000 #2 profiled=false"}
	if !slices.Equal(names, want) {
		t.Errorf("repeated plan = %q, want %q", names, want)
	}

	// The tenant's labelled objects are in every run, the unrelated Secrets' ones included.
	cfg = &config{sizes: []int{200}, secretsSizes: []int{200}, keys: []string{keyECDSA}, secrets: 10, labelledSecrets: 150, labelledConfigMaps: 50}
	names = names[:0]
	for _, r := range plan(cfg) {
		names = append(names, r.String())
	}
	want = []string{"ECDSA N=200 +150 labelled Secrets +50 labelled ConfigMaps", "ECDSA N=200 +10 Secrets +150 labelled Secrets +50 labelled ConfigMaps"}
	if !slices.Equal(names, want) {
		t.Errorf("plan with labelled objects = %q, want %q", names, want)
	}
}

func TestFillers(t *testing.T) {
	cfg := &config{secretSize: 10, labelledSecretSize: 20, labelledConfigMapSize: 30}
	var got []string
	for _, f := range (runSpec{secrets: 1, labelledSecrets: 2, labelledConfigMaps: 3}).fillers(cfg) {
		got = append(got, fmt.Sprintf("%s %s %s %v", f.kind, f, f.name(0), f.labels))
	}
	want := []string{
		"Secret 1 unrelated Secrets of 10 bytes in namespace unrelated unrelated-00000 map[]",
		"Secret 2 labelled Secrets of 20 bytes in namespace tenant labelled-00000 map[app.kubernetes.io/managed-by:certsmith]",
		"ConfigMap 3 labelled ConfigMaps of 30 bytes in namespace tenant labelled-00000 map[app.kubernetes.io/managed-by:certsmith certsmith.io/bundle-issuer:bench]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("fillers = %q, want %q", got, want)
	}
	if f := (runSpec{labelledConfigMaps: 1}).fillers(cfg); len(f) != 1 || f[0].kind != "ConfigMap" {
		t.Errorf("fillers of a run with one labelled ConfigMap = %v", f)
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{1, 2, 10}); got != 2 {
		t.Errorf("median = %v, want 2", got)
	}
	if got := median([]float64{1, 2, 4, 10}); got != 3 {
		t.Errorf("median = %v, want 3", got)
	}
}

func TestParseInts(t *testing.T) {
	got, err := parseInts("200, 1_000")
	if err != nil || !slices.Equal(got, []int{200, 1000}) {
		t.Errorf("parseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "x", "-5"} {
		if _, err := parseInts(bad); err == nil {
			t.Errorf("parseInts(%q) succeeded", bad)
		}
	}
}

// TestCertificateListForKubectl: the file handed to kubectl create -f holds
// the very ServiceCertificates the concurrent clients create, each with its
// apiVersion and kind, in a List.
func TestCertificateListForKubectl(t *testing.T) {
	data, err := certificateList(runSpec{n: 3, key: keyRSA})
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		APIVersion, Kind string
		Items            []certsmithv1alpha1.ServiceCertificate
	}
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != 3 {
		t.Fatalf("%s %s of %d items", list.APIVersion, list.Kind, len(list.Items))
	}
	for i, sc := range list.Items {
		want := newBenchCertificate(runSpec{n: 3, key: keyRSA}, i)
		if sc.Kind != "ServiceCertificate" || sc.APIVersion != certsmithv1alpha1.GroupVersion.String() ||
			sc.Name != want.Name || sc.Namespace != benchNamespace || sc.Spec.DNSNames[0] != want.Spec.DNSNames[0] ||
			sc.Spec.PrivateKey == nil || sc.Spec.PrivateKey.Size != 2048 {
			t.Fatalf("item %d: %+v", i, sc)
		}
	}
}
