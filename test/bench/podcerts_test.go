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
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestPodPlan(t *testing.T) {
	cfg := &config{podCertificateSizes: []int{200, 1000}, foreignPodCertificates: 1000, profileDir: "p", repeat: 2}
	var names []string
	for _, r := range podPlan(cfg) {
		names = append(names, fmt.Sprintf("%s profiled=%v", r, r.profile))
	}
	want := []string{
		"PCR N=200 +1000 foreign #1 profiled=false", "PCR N=1000 +1000 foreign #1 profiled=true",
		"PCR N=200 +1000 foreign #2 profiled=false", "PCR N=1000 +1000 foreign #2 profiled=false",
	}
	if !slices.Equal(names, want) {
		t.Errorf("podPlan = %q, want %q", names, want)
	}
	if got := (podRunSpec{n: 5}).String(); got != "PCR N=5" {
		t.Errorf("a run without foreign requests is %q", got)
	}
	if runs := podPlan(&config{repeat: 3}); len(runs) != 0 {
		t.Errorf("no -pod-certificates planned %v", runs)
	}
	if tag := (podRunSpec{n: 1000}).profileTag(); tag.key != "pcr" || tag.n != 1000 {
		t.Errorf("profileTag = %+v", tag)
	}
}

// testFixtures are pods made by newBenchPod, with UIDs as the API server would give them.
func testFixtures(n int) *podFixtures {
	f := &podFixtures{}
	for i := range podNodes {
		f.nodes = append(f.nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName(i), UID: types.UID("node-uid-" + nodeName(i))}})
	}
	for i := range podServiceAccounts {
		f.serviceAccounts = append(f.serviceAccounts, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
			Name: serviceAccountName(i), Namespace: benchNamespace, UID: types.UID("sa-uid-" + serviceAccountName(i))}})
	}
	for i := range n {
		pod := newBenchPod(i)
		pod.UID = types.UID("pod-uid-" + pod.Name)
		f.pods = append(f.pods, pod)
	}
	return f
}

func TestBenchPod(t *testing.T) {
	pod := newBenchPod(23)
	if pod.Name != "pod-00023" || pod.Namespace != benchNamespace || pod.Spec.NodeName != "node-03" || pod.Spec.ServiceAccountName != "sa-03" {
		t.Errorf("pod 23 is %s/%s on %q as %q", pod.Namespace, pod.Name, pod.Spec.NodeName, pod.Spec.ServiceAccountName)
	}
	var signers []string
	for _, v := range pod.Spec.Volumes {
		for _, source := range v.Projected.Sources {
			if pc := source.PodCertificate; pc != nil {
				signers = append(signers, pc.SignerName)
				if pc.KeyType != podKeyType || pc.CredentialBundlePath == "" {
					t.Errorf("volume %s: keyType %q, credentialBundlePath %q", v.Name, pc.KeyType, pc.CredentialBundlePath)
				}
			}
		}
	}
	if want := []string{ownSignerName, foreignSignerName}; !slices.Equal(signers, want) {
		t.Errorf("the pod mounts podCertificate volumes of %q, want %q", signers, want)
	}
}

func TestPodRequest(t *testing.T) {
	f := testFixtures(15)
	keys, err := newPodKeys(20)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 12, 17} {
		pcr := f.newPodRequest(foreignRequestName(i), i, foreignSignerName, keys.stubs[i])
		// Beyond the pods, requests name the pods again from the first.
		pod := f.pods[i%15]
		s := pcr.Spec
		if pcr.Name != foreignRequestName(i) || pcr.Namespace != pod.Namespace || s.SignerName != foreignSignerName {
			t.Errorf("request %d: %s/%s of %s", i, pcr.Namespace, pcr.Name, s.SignerName)
		}
		if s.PodName != pod.Name || s.PodUID != pod.UID {
			t.Errorf("request %d names pod %s (%s), want %s (%s)", i, s.PodName, s.PodUID, pod.Name, pod.UID)
		}
		// The ServiceAccount and node are the pod's, with their UIDs.
		if s.ServiceAccountName != pod.Spec.ServiceAccountName || s.ServiceAccountUID != types.UID("sa-uid-"+pod.Spec.ServiceAccountName) {
			t.Errorf("request %d names ServiceAccount %s (%s); the pod runs as %s", i, s.ServiceAccountName, s.ServiceAccountUID, pod.Spec.ServiceAccountName)
		}
		if string(s.NodeName) != pod.Spec.NodeName || s.NodeUID != types.UID("node-uid-"+pod.Spec.NodeName) {
			t.Errorf("request %d names node %s (%s); the pod runs on %s", i, s.NodeName, s.NodeUID, pod.Spec.NodeName)
		}
		csr, err := x509.ParseCertificateRequest(s.StubPKCS10Request)
		if err != nil {
			t.Fatal(err)
		}
		if err := csr.CheckSignature(); err != nil {
			t.Errorf("request %d: the stub request does not verify: %v", i, err)
		}
		if !keys.keys[i].PublicKey.Equal(csr.PublicKey.(*ecdsa.PublicKey)) {
			t.Errorf("request %d: the stub request holds another key", i)
		}
		if len(csr.Subject.Names) > 0 || len(csr.DNSNames) > 0 || len(csr.Extensions) > 0 {
			t.Errorf("request %d: the stub request is not empty: %+v", i, csr.Subject)
		}
	}
}

func TestPodRequestState(t *testing.T) {
	withCondition := func(conditionType string, status metav1.ConditionStatus) *certificatesv1.PodCertificateRequest {
		pcr := &certificatesv1.PodCertificateRequest{ObjectMeta: metav1.ObjectMeta{Name: "pcr-00001", Namespace: benchNamespace}}
		if conditionType != "" {
			pcr.Status.Conditions = []metav1.Condition{{Type: conditionType, Status: status, Reason: "SomeReason", Message: "some message"}}
		}
		return pcr
	}
	if issued, err := podRequestState(withCondition("", "")); issued || err != nil {
		t.Errorf("an open request: issued %v, error %v", issued, err)
	}
	if issued, err := podRequestState(withCondition(certificatesv1.PodCertificateRequestConditionTypeIssued, metav1.ConditionTrue)); !issued || err != nil {
		t.Errorf("an Issued request: issued %v, error %v", issued, err)
	}
	for _, refused := range []string{certificatesv1.PodCertificateRequestConditionTypeDenied, certificatesv1.PodCertificateRequestConditionTypeFailed} {
		_, err := podRequestState(withCondition(refused, metav1.ConditionTrue))
		if err == nil || !strings.Contains(err.Error(), refused+" (SomeReason): some message") {
			t.Errorf("a %s request: error %v", refused, err)
		}
	}
}

func TestParseChain(t *testing.T) {
	der := selfSignedForTest(t)
	one := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	chain, err := parseChain(one + one)
	if err != nil || len(chain) != 2 {
		t.Fatalf("parseChain of two = %d certificates, %v", len(chain), err)
	}
	for name, bad := range map[string]string{
		"empty":      "",
		"a key":      string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})),
		"garbage":    one + "garbage",
		"not a cert": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}})),
	} {
		if _, err := parseChain(bad); err == nil {
			t.Errorf("parseChain accepted %s", name)
		}
	}
}

func TestReadyTrackerByName(t *testing.T) {
	tracker := newReadyTracker(2, podRequestName)
	start := time.Unix(1000, 0)
	tracker.setStart(start)
	tracker.sent(0, start)
	tracker.sent(1, start.Add(time.Second))
	tracker.ready(podRequestName(1), start.Add(3*time.Second))
	tracker.ready(podRequestName(1), start.Add(9*time.Second)) // only the first counts
	select {
	case <-tracker.done:
		t.Fatal("done with one of two")
	default:
	}
	tracker.ready(podRequestName(0), start.Add(4*time.Second))
	<-tracker.done
	all, latencies := tracker.results()
	if all != 4*time.Second || !slices.Equal(latencies, []time.Duration{2 * time.Second, 4 * time.Second}) {
		t.Errorf("results = %s, %v; want 4s, [2s 4s]", all, latencies)
	}
}

func TestPromHistogram(t *testing.T) {
	h := promHistogram{count: 100, sum: 150, buckets: []promBucket{{0.5, 10}, {1, 50}, {2, 90}, {5, 100}, {math.Inf(1), 100}}}
	for q, want := range map[float64]float64{
		0.05: 0.25, // within the first bucket, from 0
		0.5:  1,    // the top of the second
		0.7:  1.5,  // halfway into the third
		0.99: 4.7,
	} {
		if got := h.quantile(q); math.Abs(got-want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if got := h.mean(); got != 1.5 {
		t.Errorf("mean = %v", got)
	}
	// A rank above the highest finite bucket gets its upper bound.
	above := promHistogram{count: 10, buckets: []promBucket{{1, 5}, {2, 8}}}
	if got := above.quantile(0.99); got != 2 {
		t.Errorf("quantile above the buckets = %v, want 2", got)
	}
	if got := (promHistogram{}).quantile(0.5); !math.IsNaN(got) {
		t.Errorf("quantile of nothing = %v", got)
	}
	sum := (promHistogram{}).add(h).add(h)
	if sum.count != 200 || sum.sum != 300 || sum.buckets[1].count != 100 || h.buckets[1].count != 50 {
		t.Errorf("add = %+v (and the addend became %+v)", sum, h)
	}
}

func TestParseManagerMetrics(t *testing.T) {
	m, err := parseManagerMetrics([]byte(`# TYPE certsmith_podcertificaterequest_issuance_duration_seconds histogram
certsmith_podcertificaterequest_issuance_duration_seconds_bucket{issuer="a",le="1"} 3
certsmith_podcertificaterequest_issuance_duration_seconds_bucket{issuer="a",le="2"} 4
certsmith_podcertificaterequest_issuance_duration_seconds_bucket{issuer="a",le="+Inf"} 4
certsmith_podcertificaterequest_issuance_duration_seconds_sum{issuer="a"} 5
certsmith_podcertificaterequest_issuance_duration_seconds_count{issuer="a"} 4
certsmith_podcertificaterequest_issuance_duration_seconds_bucket{issuer="b",le="1"} 1
certsmith_podcertificaterequest_issuance_duration_seconds_bucket{issuer="b",le="2"} 2
certsmith_podcertificaterequest_issuance_duration_seconds_bucket{issuer="b",le="+Inf"} 2
certsmith_podcertificaterequest_issuance_duration_seconds_sum{issuer="b"} 2.5
certsmith_podcertificaterequest_issuance_duration_seconds_count{issuer="b"} 2
# TYPE certsmith_podcertificaterequests_issued_total counter
certsmith_podcertificaterequests_issued_total{issuer="a"} 4
certsmith_podcertificaterequests_issued_total{issuer="b"} 2
# TYPE certsmith_podcertificaterequests_refused_total counter
certsmith_podcertificaterequests_refused_total{condition="Denied",issuer="a",reason="PodIdentityMismatch"} 1
# TYPE certsmith_podcertificaterequests_watched gauge
certsmith_podcertificaterequests_watched{signer="clusterissuers.certsmith.io/a",state="pending"} 0
certsmith_podcertificaterequests_watched{signer="clusterissuers.certsmith.io/a",state="finished"} 5
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:61443",method="PUT"} 7
rest_client_requests_total{code="409",host="127.0.0.1:61443",method="PUT"} 1
rest_client_requests_total{code="200",host="127.0.0.1:61443",method="GET"} 30
# TYPE go_gc_heap_live_bytes gauge
go_gc_heap_live_bytes 1.048576e+06
`))
	if err != nil {
		t.Fatal(err)
	}
	h := m.podIssuance
	if h.count != 6 || h.sum != 7.5 || len(h.finite()) != 2 || h.finite()[0].count != 4 || h.finite()[1].count != 6 {
		t.Errorf("podIssuance = %+v", h)
	}
	if m.podIssued != 6 || m.podRefused != 1 {
		t.Errorf("issued %d, refused %d; want 6, 1", m.podIssued, m.podRefused)
	}
	if got := watchedText(m.podWatched); got != "clusterissuers.certsmith.io/a: 0 pending, 5 finished" {
		t.Errorf("watched = %q", got)
	}
	if m.requests["PUT"] != 8 || m.requests["GET"] != 30 || m.heapLive != 1<<20 || m.heapInUse != -1 {
		t.Errorf("requests %v, heap live %v, in use %v", m.requests, m.heapLive, m.heapInUse)
	}
	if got := watchedText(nil); got != "no signer watched" {
		t.Errorf("watchedText(nil) = %q", got)
	}
}

func TestWritesBetween(t *testing.T) {
	before := map[string]int{"GET": 10, "PUT": 3, "POST": 1}
	after := map[string]int{"GET": 50, "PUT": 10, "POST": 2, "PATCH": 1, "DELETE": 1}
	if got := writesBetween(before, after); got != 10 {
		t.Errorf("writesBetween = %d, want 10 (7 PUT, 1 POST, 1 PATCH, 1 DELETE)", got)
	}
}

func TestSummarizeReads(t *testing.T) {
	delta := map[requestKey]int{
		{verb: "GET", resource: "pods", code: "200"}:                             5,
		{verb: "LIST", resource: "secrets", code: "200"}:                         1,
		{verb: "GET", code: "200"}:                                               3, // /metrics
		{verb: "WATCH", resource: "pods", code: "200"}:                           1,
		{verb: "PUT", resource: "podcertificaterequests", subresource: "status"}: 5,
	}
	got := summarizeReads(delta)
	if len(got) != 2 || got[requestKey{verb: "GET", resource: "pods", code: "200"}] != 5 || got[requestKey{verb: "LIST", resource: "secrets", code: "200"}] != 1 {
		t.Errorf("summarizeReads = %v", got)
	}
}

func TestMedianRange(t *testing.T) {
	if got := medianRange([]float64{3, 1, 2}, "%.1f"); got != "2.0 (1.0 – 3.0)" {
		t.Errorf("medianRange = %q", got)
	}
	if got := medianRange(nil, "%.1f"); got != "–" {
		t.Errorf("medianRange of nothing = %q", got)
	}
}

func TestGrowth(t *testing.T) {
	from := memorySample{proc: memoryInfo{rss: 40 << 20}, heapLive: 5 << 20}
	to := memorySample{proc: memoryInfo{rss: 38 << 20}, heapLive: 8 << 20}
	if heap, rss := growth(from, to); heap != 3<<20 || rss != -2<<20 {
		t.Errorf("growth = %v, %v", heap, rss)
	}
}

// selfSignedForTest returns the DER of a throwaway self-signed certificate.
func selfSignedForTest(t *testing.T) []byte {
	t.Helper()
	keys, err := newPodKeys(1)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Unix(0, 0), NotAfter: time.Unix(3600, 0)}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &keys.keys[0].PublicKey, keys.keys[0])
	if err != nil {
		t.Fatal(err)
	}
	return der
}
