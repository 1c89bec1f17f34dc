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
	"bytes"
	"crypto/rsa"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// unitNow is "now" in the unit tests of "pods".
var unitNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// podCertificateProjection is a projection source of a podCertificate.
func podCertificateProjection(signerName, keyType string) corev1.VolumeProjection {
	return corev1.VolumeProjection{PodCertificate: &corev1.PodCertificateProjection{
		SignerName: signerName, KeyType: keyType, CredentialBundlePath: "credentials.pem",
	}}
}

func TestPodCertificateSources(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", UID: "uid-web-0"},
		Spec: corev1.PodSpec{
			NodeName: "node-1",
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
				// The ServiceAccount token volume is projected too, without a
				// pod certificate.
				{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}},
				}}},
				{Name: "identity", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{podCertificateProjection("clusterissuers.certsmith.io/mesh", "ECDSAP256")},
				}}},
				{Name: "more", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{
						podCertificateProjection("example.org/other", "ED25519"),
						{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Path: "ca.pem"}},
						podCertificateProjection("clusterissuers.certsmith.io/mesh", "RSA3072"),
					},
				}}},
			},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	got := podCertificateSources(pod)
	source := func(volume, signer, keyType string, shares bool) podCertificateSource {
		return podCertificateSource{
			Namespace: "shop", Pod: "web-0", PodUID: "uid-web-0", NodeName: "node-1", Phase: corev1.PodRunning,
			Volume: volume, SignerName: signer, KeyType: keyType, SharesSigner: shares,
		}
	}
	want := []podCertificateSource{
		source("identity", "clusterissuers.certsmith.io/mesh", "ECDSAP256", true),
		source("more[0]", "example.org/other", "ED25519", false),
		source("more[2]", "clusterissuers.certsmith.io/mesh", "RSA3072", true),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("podCertificateSources =\n%+v\nwant\n%+v", got, want)
	}
	if got := podCertificateSources(&corev1.Pod{}); len(got) != 0 {
		t.Errorf("a pod without volumes has sources %+v", got)
	}
}

func TestPodIssuerFor(t *testing.T) {
	issuer := func(name, signerName, statusSigner string, created time.Time) certsmithv1alpha1.ClusterIssuer {
		return certsmithv1alpha1.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
			Spec:       certsmithv1alpha1.ClusterIssuerSpec{SignerName: signerName},
			Status:     certsmithv1alpha1.ClusterIssuerStatus{SignerName: statusSigner},
		}
	}
	issuers := []certsmithv1alpha1.ClusterIssuer{
		issuer("younger", "example.com/mesh", "example.com/mesh", unitNow),
		issuer("older", "example.com/mesh", "example.com/mesh", unitNow.Add(-time.Hour)),
		issuer("b-same-age", "example.com/twin", "", unitNow),
		issuer("a-same-age", "example.com/twin", "", unitNow),
		issuer("default", "", "", unitNow),
	}
	for signer, want := range map[string]string{
		"example.com/mesh":                    "older",
		"example.com/twin":                    "a-same-age",
		"clusterissuers.certsmith.io/default": "default",
		"example.org/unknown":                 "",
	} {
		got := ""
		if chosen := podIssuerFor(issuers, signer); chosen != nil {
			got = chosen.Name
		}
		if got != want {
			t.Errorf("podIssuerFor(%s) = %q, want %q", signer, got, want)
		}
	}
}

func TestSummarizePodRequest(t *testing.T) {
	caKey, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := pki.NewSelfSignedCA(caKey, pki.CATemplate{Subject: pkix.Name{CommonName: "Unit CA"}, Duration: 365 * 24 * time.Hour, MaxPathLen: -1}, unitNow)
	if err != nil {
		t.Fatal(err)
	}
	ca := &pki.CA{Certificate: caCert, Key: caKey}
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 384})
	if err != nil {
		t.Fatal(err)
	}
	stub, err := newStubRequest(key)
	if err != nil {
		t.Fatal(err)
	}
	dnsNames := []string{"a.shop.svc", "b.shop.svc", "c.shop.svc", "d.shop.svc", "e.shop.svc", "f.shop.svc"}
	leaf, err := signPodCertificate(ca, stub, pki.SubjectAltNames{
		DNSNames: dnsNames,
		URIs:     []*url.URL{{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/shop/sa/web"}, {Scheme: "https", Host: "example.com"}},
	}, unitNow, 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	beginRefreshAt := unitNow.Add(8 * time.Hour)
	pcr := func(status certificatesv1.PodCertificateRequestStatus) *certificatesv1.PodCertificateRequest {
		return &certificatesv1.PodCertificateRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "req-abcde", CreationTimestamp: metav1.NewTime(unitNow)},
			Spec:       certificatesv1.PodCertificateRequestSpec{StubPKCS10Request: stub},
			Status:     status,
		}
	}
	condition := func(conditionType, reason, message string) []metav1.Condition {
		return []metav1.Condition{{Type: conditionType, Status: metav1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(unitNow)}}
	}

	t.Run("issued", func(t *testing.T) {
		got := summarizePodRequest(pcr(certificatesv1.PodCertificateRequestStatus{
			Conditions:       condition(podRequestIssued, "Issued", "issued by certsmith"),
			CertificateChain: string(pki.EncodeCertificatesPEM(leaf, caCert)),
			NotBefore:        &metav1.Time{Time: leaf.NotBefore}, NotAfter: &metav1.Time{Time: leaf.NotAfter},
			BeginRefreshAt: &metav1.Time{Time: beginRefreshAt},
		}))
		want := podRequest{
			Name: "req-abcde", Created: unitNow, KeyType: "ECDSAP384", State: podRequestIssued, Reason: "Issued", Message: "issued by certsmith",
			Certificate: &podCertificateFacts{
				Identity:  "spiffe://cluster.local/ns/shop/sa/web",
				DNSNames:  "a.shop.svc, b.shop.svc, c.shop.svc, d.shop.svc (+2 more)",
				Serial:    fmt.Sprintf("%x", leaf.SerialNumber),
				NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, BeginRefreshAt: beginRefreshAt,
			},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("summarizePodRequest =\n%+v %+v\nwant\n%+v %+v", got, got.Certificate, want, want.Certificate)
		}
	})

	t.Run("denied", func(t *testing.T) {
		long := strings.Repeat("x", 2*maxRequestMessageLength)
		got := summarizePodRequest(pcr(certificatesv1.PodCertificateRequestStatus{
			Conditions: condition(podRequestDenied, certsmithv1alpha1.ReasonPodIdentityMismatch, "pod\tshop/web-0\nis gone "+long),
		}))
		if got.State != podRequestDenied || got.Reason != certsmithv1alpha1.ReasonPodIdentityMismatch || got.Certificate != nil {
			t.Errorf("denied request = %+v", got)
		}
		if !strings.HasPrefix(got.Message, "pod shop/web-0 is gone x") || len([]rune(got.Message)) != maxRequestMessageLength+1 {
			t.Errorf("message %q is not one bounded line", got.Message)
		}
	})

	t.Run("pending, with an unreadable stub", func(t *testing.T) {
		request := pcr(certificatesv1.PodCertificateRequestStatus{})
		request.Spec.StubPKCS10Request = []byte("not DER")
		got := summarizePodRequest(request)
		if got.State != podRequestPending || got.Reason != "" || got.KeyType != "" || got.Certificate != nil {
			t.Errorf("pending request = %+v", got)
		}
	})

	t.Run("issued, with an unreadable chain", func(t *testing.T) {
		got := summarizePodRequest(pcr(certificatesv1.PodCertificateRequestStatus{
			Conditions:       condition(podRequestIssued, "Issued", ""),
			CertificateChain: "garbage",
			NotAfter:         &metav1.Time{Time: leaf.NotAfter}, BeginRefreshAt: &metav1.Time{Time: beginRefreshAt},
		}))
		if got.Certificate == nil || got.Certificate.Unreadable == "" || got.Certificate.Identity != noValue ||
			!got.Certificate.NotAfter.Equal(leaf.NotAfter) || !got.Certificate.BeginRefreshAt.Equal(beginRefreshAt) {
			t.Errorf("unreadable chain gives %+v", got.Certificate)
		}
	})
}

func TestPodKeyTypeOf(t *testing.T) {
	for _, tc := range []struct {
		spec pki.KeySpec
		want string
	}{
		{pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 256}, "ECDSAP256"},
		{pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 521}, "ECDSAP521"},
		{pki.KeySpec{Algorithm: pki.KeyAlgorithmEd25519}, "ED25519"},
	} {
		key, err := pki.GenerateKey(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := podKeyTypeOf(key.Public()); got != tc.want {
			t.Errorf("podKeyTypeOf(%s) = %q, want %q", tc.spec, got, tc.want)
		}
	}
	// Only the modulus size matters, so no slow RSA key generation.
	for bits, want := range map[int]string{3072: "RSA3072", 4096: "RSA4096", 2048: ""} {
		pub := &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), uint(bits-1)), E: 65537}
		if got := podKeyTypeOf(pub); got != want {
			t.Errorf("podKeyTypeOf(RSA-%d) = %q, want %q", bits, got, want)
		}
	}
	if got := podKeyTypeOf(nil); got != "" {
		t.Errorf("podKeyTypeOf(nil) = %q", got)
	}
}

func TestPodRequestIndexLookup(t *testing.T) {
	request := func(name, keyType, state string, created time.Duration) *podRequest {
		return &podRequest{Name: name, KeyType: keyType, State: state, Created: unitNow.Add(created)}
	}
	const mesh = "clusterissuers.certsmith.io/mesh"
	index := podRequestIndex{}
	index.add("pod-a", mesh, request("req-ec-old", "ECDSAP256", podRequestIssued, -10*time.Minute))
	index.add("pod-a", mesh, request("req-ec-new", "ECDSAP256", podRequestPending, -time.Minute))
	index.add("pod-a", mesh, request("req-rsa", "RSA3072", podRequestDenied, -2*time.Minute))
	index.add("pod-a", "example.org/other", request("req-other", "ECDSAP256", podRequestIssued, 0))
	index.add("pod-b", mesh, request("req-b", "", podRequestIssued, -3*time.Minute))
	index.add("pod-b", mesh, request("req-b-later", "ED25519", podRequestPending, -3*time.Minute))

	for _, tc := range []struct {
		name                 string
		source               podCertificateSource
		newest, newestIssued string
		count                int
	}{
		{"two sources of one signer: by key type", podCertificateSource{PodUID: "pod-a", SignerName: mesh, KeyType: "ECDSAP256", SharesSigner: true}, "req-ec-new", "req-ec-old", 2},
		{"the other key type", podCertificateSource{PodUID: "pod-a", SignerName: mesh, KeyType: "RSA3072", SharesSigner: true}, "req-rsa", "", 1},
		{"one source: every key type counts", podCertificateSource{PodUID: "pod-a", SignerName: mesh, KeyType: "ED25519"}, "req-ec-new", "req-ec-old", 3},
		{"same creation second: the name decides", podCertificateSource{PodUID: "pod-b", SignerName: mesh}, "req-b-later", "req-b", 2},
		{"another signer", podCertificateSource{PodUID: "pod-a", SignerName: "example.org/other"}, "req-other", "req-other", 1},
		{"no requests", podCertificateSource{PodUID: "pod-c", SignerName: mesh}, "", "", 0},
	} {
		got := index.lookup(&tc.source)
		name := func(r *podRequest) string {
			if r == nil {
				return ""
			}
			return r.Name
		}
		if name(got.Newest) != tc.newest || name(got.NewestIssued) != tc.newestIssued || got.Count != tc.count {
			t.Errorf("%s: lookup = newest %q, newest issued %q, count %d; want %q, %q, %d",
				tc.name, name(got.Newest), name(got.NewestIssued), got.Count, tc.newest, tc.newestIssued, tc.count)
		}
	}
}

func TestDescribePodCertificate(t *testing.T) {
	const signer = "clusterissuers.certsmith.io/mesh"
	running := &podCertificateSource{Namespace: "shop", Pod: "web-0", PodUID: "uid", NodeName: "node-1", Phase: corev1.PodRunning, Volume: "identity", SignerName: signer, KeyType: "ECDSAP256"}
	ready := []metav1.Condition{{Type: certsmithv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: certsmithv1alpha1.ReasonCAReady}}
	issuer := &certsmithv1alpha1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh"},
		Spec:       certsmithv1alpha1.ClusterIssuerSpec{PodCertificates: &certsmithv1alpha1.PodCertificatePolicy{}},
		Status:     certsmithv1alpha1.ClusterIssuerStatus{SignerName: signer, Conditions: ready},
	}
	notReady := issuer.DeepCopy()
	notReady.Status.Conditions = []metav1.Condition{{Type: certsmithv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: certsmithv1alpha1.ReasonCASecretNotFound}}
	noPodCertificates := issuer.DeepCopy()
	noPodCertificates.Spec.PodCertificates = nil
	deleting := issuer.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: unitNow}

	notBefore := unitNow.Add(-time.Hour)
	facts := &podCertificateFacts{
		Identity: "spiffe://cluster.local/ns/shop/sa/web", DNSNames: "web.shop.svc", Serial: "1f2e",
		NotBefore: notBefore, NotAfter: notBefore.Add(24 * time.Hour), BeginRefreshAt: notBefore.Add(16 * time.Hour),
	}
	issued := func(name string, created time.Time) *podRequest {
		return &podRequest{Name: name, Created: created, State: podRequestIssued, Reason: "Issued", Certificate: facts}
	}
	history := func(requests ...*podRequest) podRequestHistory {
		var h podRequestHistory
		for _, r := range requests {
			h.add(r)
		}
		return h
	}
	fresh := history(issued("req-1", notBefore))

	unscheduled := *running
	unscheduled.NodeName = ""
	finished := *running
	finished.Phase = corev1.PodSucceeded
	customSigner := *running
	customSigner.SignerName = "example.com/mesh"
	customIssuer := issuer.DeepCopy()
	customIssuer.Spec.SignerName, customIssuer.Status.SignerName = "example.com/mesh", "example.com/mesh"

	for _, tc := range []struct {
		name     string
		source   *podCertificateSource
		issuer   *certsmithv1alpha1.ClusterIssuer
		requests podRequestHistory
		now      time.Time
		// want holds the cells checked; Message is matched by substrings.
		want     podCertificateRow
		messages []string
	}{
		{
			name: "issued and fresh", source: running, issuer: issuer, requests: fresh, now: unitNow,
			want: podCertificateRow{Issuer: "mesh", Request: "req-1 (60m)", State: "Issued", Reason: "Issued",
				Identity: "spiffe://cluster.local/ns/shop/sa/web", DNSNames: "web.shop.svc", Serial: "1f2e", NotAfter: "in 23h", Refresh: "in 15h"},
		},
		{
			name: "refresh due: the kubelet should be asking", source: running, issuer: issuer, requests: fresh, now: facts.BeginRefreshAt.Add(3 * time.Minute),
			want: podCertificateRow{State: "Issued", NotAfter: "in 7h57m", Refresh: "due 3m ago"},
		},
		{
			name: "refresh overdue", source: running, issuer: issuer, requests: fresh, now: facts.BeginRefreshAt.Add(20 * time.Minute),
			want:     podCertificateRow{State: "Issued", Refresh: "overdue (due 20m ago)"},
			messages: []string{"refresh overdue: the kubelet should have asked for a new certificate by " + rfc3339(facts.BeginRefreshAt.Add(15*time.Minute))},
		},
		{
			name: "expired", source: running, issuer: issuer, requests: fresh, now: facts.NotAfter.Add(5 * time.Hour),
			want:     podCertificateRow{State: "Issued", NotAfter: "5h ago", Refresh: "overdue (due 13h ago)"},
			messages: []string{"the certificate expired 5h ago"},
		},
		{
			name: "refresh pending: the pod still holds the earlier certificate", source: running, issuer: issuer,
			requests: history(issued("req-1", notBefore), &podRequest{Name: "req-2", Created: unitNow.Add(-2 * time.Minute), State: podRequestPending}),
			now:      unitNow,
			want:     podCertificateRow{Request: "req-2 (2m)", State: "Pending", Reason: noValue, Identity: facts.Identity, NotAfter: "in 23h"},
			messages: []string{"refresh requested 2m ago, not answered yet; the pod still holds the certificate of req-1"},
		},
		{
			name: "pending for long at an issuer that is not Ready", source: running, issuer: notReady,
			requests: history(&podRequest{Name: "req-1", Created: unitNow.Add(-12 * time.Minute), State: podRequestPending}),
			now:      unitNow,
			want:     podCertificateRow{State: "Pending", Identity: noValue, NotAfter: noValue, Refresh: noValue},
			messages: []string{"ClusterIssuer mesh is not Ready (CASecretNotFound)", "requested 12m ago, not answered yet", "the kubelet replaces a request left unanswered for 10-15 minutes"},
		},
		{
			name: "pending for minutes at a Ready issuer", source: running, issuer: issuer,
			requests: history(&podRequest{Name: "req-1", Created: unitNow.Add(-2 * time.Minute), State: podRequestPending}),
			now:      unitNow,
			want:     podCertificateRow{State: "Pending"},
			messages: []string{"certsmith is slow to answer: look at the events of ClusterIssuer mesh and at certsmith's logs"},
		},
		{
			name: "pending for minutes for a custom signerName", source: &customSigner, issuer: customIssuer,
			requests: history(&podRequest{Name: "req-1", Created: unitNow.Add(-2 * time.Minute), State: podRequestPending}),
			now:      unitNow,
			want:     podCertificateRow{State: "Pending"},
			messages: []string{`a custom signerName needs the "sign" verb granted to certsmith (a Warning SignerPermissionMissing on ClusterIssuer mesh says it is missing)`},
		},
		{
			name: "denied", source: running, issuer: issuer,
			requests: history(&podRequest{Name: "req-1", Created: unitNow, State: podRequestDenied, Reason: certsmithv1alpha1.ReasonPodIdentityMismatch, Message: "pod shop/web-0 has another UID"}),
			now:      unitNow,
			want:     podCertificateRow{State: "Denied", Reason: "PodIdentityMismatch", Identity: noValue},
			messages: []string{"pod shop/web-0 has another UID; the kubelet does not ask again for this pod: fix the cause, then recreate the pod"},
		},
		{
			name: "failed", source: running, issuer: issuer,
			requests: history(&podRequest{Name: "req-1", Created: unitNow, State: podRequestFailed, Reason: "SigningFailed"}),
			now:      unitNow,
			want:     podCertificateRow{State: "Failed", Reason: "SigningFailed"},
			messages: []string{"the kubelet does not ask again for this pod"},
		},
		{
			name: "no request left", source: running, issuer: issuer, now: unitNow,
			want:     podCertificateRow{Issuer: "mesh", Request: noValue, State: "NoRequest", Reason: noValue, Identity: noValue, NotAfter: noValue, Refresh: noValue},
			messages: []string{"no PodCertificateRequest left (they are deleted 15-20 minutes after creation): a certificate issued earlier lives only in the kubelet's memory and the pod's volume"},
		},
		{
			name: "not scheduled yet", source: &unscheduled, issuer: issuer, now: unitNow,
			want:     podCertificateRow{State: "NoRequest"},
			messages: []string{"the pod is not scheduled to a node yet"},
		},
		{
			name: "finished", source: &finished, issuer: issuer, now: unitNow,
			want:     podCertificateRow{State: "NoRequest"},
			messages: []string{"the pod has finished"},
		},
		{
			name: "no certsmith issuer serves the signer", source: running, issuer: nil,
			requests: history(&podRequest{Name: "req-1", Created: unitNow, State: podRequestPending}),
			now:      unitNow,
			want:     podCertificateRow{Issuer: noValue, State: "Pending"},
			messages: []string{"no certsmith ClusterIssuer serves signer " + signer + "; requested 0s ago"},
		},
		{
			name: "the issuer does not sign pod certificates", source: running, issuer: noPodCertificates, now: unitNow,
			want:     podCertificateRow{Issuer: "mesh", State: "NoRequest"},
			messages: []string{"ClusterIssuer mesh does not sign pod certificates (spec.podCertificates is not set); no PodCertificateRequest left"},
		},
		{
			name: "the issuer is being deleted", source: running, issuer: deleting, requests: fresh, now: unitNow,
			want:     podCertificateRow{Issuer: "mesh", State: "Issued", Refresh: "in 15h"},
			messages: []string{"ClusterIssuer mesh is being deleted and signs no more pod certificates"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := describePodCertificate(tc.source, tc.issuer, tc.requests, tc.now)
			if got.Pod != tc.source.Pod || got.Namespace != tc.source.Namespace || got.Volume != tc.source.Volume || got.Signer != tc.source.SignerName {
				t.Errorf("row names %s/%s %s %s, want the source's", got.Namespace, got.Pod, got.Volume, got.Signer)
			}
			// Compare only the cells the case sets.
			gotCells, wantCells := reflect.ValueOf(got), reflect.ValueOf(tc.want)
			for i := 0; i < wantCells.NumField(); i++ {
				field := wantCells.Type().Field(i).Name
				if want := wantCells.Field(i).String(); want != "" && field != "Message" && gotCells.Field(i).String() != want {
					t.Errorf("%s = %q, want %q", field, gotCells.Field(i).String(), want)
				}
			}
			for _, message := range tc.messages {
				if !strings.Contains(got.Message, message) {
					t.Errorf("message %q does not contain %q", got.Message, message)
				}
			}
			if len(tc.messages) == 0 && got.Message != "" {
				t.Errorf("message = %q, want none", got.Message)
			}
		})
	}
}

func TestRefreshState(t *testing.T) {
	begin := unitNow
	for _, tc := range []struct {
		now     time.Time
		want    string
		overdue bool
	}{
		{begin.Add(-15 * time.Hour), "in 15h", false},
		{begin, "due 0s ago", false},
		{begin.Add(14*time.Minute + 59*time.Second), "due 14m ago", false},
		{begin.Add(15 * time.Minute), "overdue (due 15m ago)", true},
		{begin.Add(30 * time.Hour), "overdue (due 30h ago)", true},
	} {
		got, overdue := refreshState(begin, tc.now)
		if got != tc.want || overdue != tc.overdue {
			t.Errorf("refreshState at begin%+v = %q, %v; want %q, %v", tc.now.Sub(begin), got, overdue, tc.want, tc.overdue)
		}
	}
	if got, overdue := refreshState(time.Time{}, unitNow); got != noValue || overdue {
		t.Errorf("refreshState without a time = %q, %v", got, overdue)
	}
}

func TestJoinBounded(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   string
	}{
		{nil, noValue},
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a, b"},
		{[]string{"a", "b", "c"}, "a, b (+1 more)"},
	} {
		if got := joinBounded(tc.values, 2); got != tc.want {
			t.Errorf("joinBounded(%q, 2) = %q, want %q", tc.values, got, tc.want)
		}
	}
}

func TestPrintPodCertificates(t *testing.T) {
	rows := []podCertificateRow{{
		Namespace: "shop", Pod: "web-0", Volume: "identity", Signer: "example.com/mesh", Issuer: "mesh",
		Request: "req-1 (3m)", State: "Issued", Reason: "Issued", Identity: "spiffe://cluster.local/ns/shop/sa/web",
		DNSNames: "web.shop.svc", Serial: "1f2e", NotAfter: "in 23h", Refresh: "in 15h",
	}}
	header := func(allNamespaces, wide bool) string {
		var out bytes.Buffer
		if err := printPodCertificates(&out, rows, allNamespaces, wide); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(out.String(), "\n")
		if len(lines) != 3 || lines[2] != "" {
			t.Fatalf("want a header and one row, got %q", out.String())
		}
		return strings.Join(strings.Fields(lines[0]), " ")
	}
	for _, tc := range []struct {
		allNamespaces, wide bool
		want                string
	}{
		{false, false, "POD VOLUME ISSUER REQUEST STATE REASON IDENTITY NOT AFTER REFRESH MESSAGE"},
		{true, false, "NAMESPACE POD VOLUME ISSUER REQUEST STATE REASON IDENTITY NOT AFTER REFRESH MESSAGE"},
		{false, true, "POD VOLUME SIGNER ISSUER REQUEST STATE REASON IDENTITY DNS NAMES SERIAL NOT AFTER REFRESH MESSAGE"},
	} {
		if got := header(tc.allNamespaces, tc.wide); got != tc.want {
			t.Errorf("header (all namespaces %v, wide %v) = %q, want %q", tc.allNamespaces, tc.wide, got, tc.want)
		}
	}
}

func TestPodsOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		opts podsOptions
		args []string
		want string
	}{
		{podsOptions{limit: 1}, nil, ""},
		{podsOptions{limit: 1, output: "wide", allNamespaces: true, selector: "app=web"}, nil, ""},
		{podsOptions{limit: 1}, []string{"web-0"}, ""},
		{podsOptions{limit: 1}, []string{"a", "b"}, "give at most one Pod name"},
		{podsOptions{limit: 1, allNamespaces: true}, []string{"web-0"}, "takes no Pod name"},
		{podsOptions{limit: 1, selector: "app=web"}, []string{"web-0"}, "not both"},
		{podsOptions{limit: 1, output: "json"}, nil, `unknown output format "json"`},
		{podsOptions{limit: 0}, nil, "--limit must be at least 1"},
	} {
		err := tc.opts.validate(tc.args)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("validate(%+v, %q) = %v, want no error", tc.opts, tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("validate(%+v, %q) = %v, want %q", tc.opts, tc.args, err, tc.want)
		}
	}
}
