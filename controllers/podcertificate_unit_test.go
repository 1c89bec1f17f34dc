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
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

const unitSigner = "clusterissuers.certsmith.io/pods"

// unitPodFacts returns a request and the objects that match it.
func unitPodFacts(t *testing.T) (*certificatesv1.PodCertificateRequest, podFacts) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop", UID: "pod-uid"},
		Spec: corev1.PodSpec{NodeName: "n1", ServiceAccountName: "web", Volumes: []corev1.Volume{
			{Name: "other", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "identity", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{PodCertificate: &corev1.PodCertificateProjection{SignerName: unitSigner, KeyType: "ECDSAP256"}},
			}}}},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	sa := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "sa-uid"}}
	node := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}
	pcr := &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "req-1", Namespace: "shop", UID: "pcr-uid"},
		Spec: certificatesv1.PodCertificateRequestSpec{
			SignerName: unitSigner, PodName: "app", PodUID: "pod-uid", ServiceAccountName: "web", ServiceAccountUID: "sa-uid",
			NodeName: "n1", NodeUID: "node-uid", MaxExpirationSeconds: ptr.To[int32](86400),
		},
	}
	return pcr, podFacts{pod: pod, serviceAccount: sa, node: node}
}

// TestPodCertificateFacts: every way a request can disagree with what the
// API server holds is a PodIdentityMismatch, with a message naming it.
func TestPodCertificateFacts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*certificatesv1.PodCertificateRequest, *podFacts)
		want   string // "" = allowed
	}{
		{"all match", func(*certificatesv1.PodCertificateRequest, *podFacts) {}, ""},
		{"a terminating pod still gets its refresh", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) {
			f.pod.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		}, ""},
		{"no pod", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) { f.pod = nil }, "pod shop/app does not exist"},
		{"pod made again", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) { f.pod.UID = "new" }, "has UID new, not pod-uid"},
		{"pod on another node", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) { f.pod.Spec.NodeName = "n2" }, `runs on node "n2"`},
		{"another ServiceAccount", func(p *certificatesv1.PodCertificateRequest, _ *podFacts) { p.Spec.ServiceAccountName = "admin" },
			`runs as ServiceAccount "web", not "admin"`},
		{"a mirror pod", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) {
			f.pod.Annotations = map[string]string{mirrorPodAnnotation: "x"}
		}, "mirror pod"},
		{"a finished pod", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) { f.pod.Status.Phase = corev1.PodSucceeded }, "has finished"},
		{"a failed pod", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) { f.pod.Status.Phase = corev1.PodFailed }, "has finished"},
		{"no volume of this signer", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) {
			f.pod.Spec.Volumes[1].Projected.Sources[0].PodCertificate.SignerName = "example.com/other"
		}, "mounts no podCertificate volume of signer " + unitSigner},
		{"no ServiceAccount", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) { f.serviceAccount = nil }, "ServiceAccount shop/web does not exist"},
		{"ServiceAccount made again", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) { f.serviceAccount.UID = "new" },
			"ServiceAccount shop/web does not exist with UID sa-uid"},
		{"no node", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) { f.node = nil }, "node n1 does not exist"},
		{"node made again", func(_ *certificatesv1.PodCertificateRequest, f *podFacts) { f.node.UID = "new" }, "node n1 does not exist with UID node-uid"},
	} {
		pcr, facts := unitPodFacts(t)
		tc.mutate(pcr, &facts)
		refusal := checkPodFacts(pcr, facts)
		switch {
		case tc.want == "" && refusal != nil:
			t.Errorf("%s: refused: %+v", tc.name, refusal)
		case tc.want != "" && refusal == nil:
			t.Errorf("%s: allowed", tc.name)
		case tc.want != "" && (refusal.reason != certsmithv1alpha1.ReasonPodIdentityMismatch ||
			refusal.conditionType != certificatesv1.PodCertificateRequestConditionTypeDenied || !strings.Contains(refusal.message, tc.want)):
			t.Errorf("%s: %+v, want Denied PodIdentityMismatch with %q", tc.name, refusal, tc.want)
		}
	}
}

func unitKey(t *testing.T, keyType string) crypto.Signer {
	t.Helper()
	var key crypto.Signer
	var err error
	switch keyType {
	case "ECDSAP224":
		key, err = ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case "ECDSAP256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ECDSAP384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ECDSAP521":
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "ED25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "RSA2048":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "RSA3072":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	}
	if err != nil || key == nil {
		t.Fatalf("key %s: %v", keyType, err)
	}
	return key
}

func unitStub(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestPodCertificateKeyTypes: keys are named as the kubelet names them;
// what the issuer does not list is UnsupportedKeyType, naming what it
// does; keys the kubelet never makes have no name.
func TestPodCertificateKeyTypes(t *testing.T) {
	all := &certsmithv1alpha1.PodCertificatePolicy{}
	onlyP384 := &certsmithv1alpha1.PodCertificatePolicy{KeyTypes: []certsmithv1alpha1.PodCertificateKeyType{certsmithv1alpha1.PodCertificateKeyECDSAP384}}
	for _, tc := range []struct {
		key    string
		policy *certsmithv1alpha1.PodCertificatePolicy
		name   certsmithv1alpha1.PodCertificateKeyType
		denied string
	}{
		{"ECDSAP256", all, certsmithv1alpha1.PodCertificateKeyECDSAP256, ""},
		{"ECDSAP384", all, certsmithv1alpha1.PodCertificateKeyECDSAP384, ""},
		{"ECDSAP521", all, certsmithv1alpha1.PodCertificateKeyECDSAP521, ""},
		{"ED25519", all, certsmithv1alpha1.PodCertificateKeyED25519, ""},
		{"RSA3072", all, certsmithv1alpha1.PodCertificateKeyRSA3072, ""},
		{"ECDSAP384", onlyP384, certsmithv1alpha1.PodCertificateKeyECDSAP384, ""},
		{"ED25519", onlyP384, certsmithv1alpha1.PodCertificateKeyED25519, "does not sign ED25519 keys; set the podCertificate volume's keyType to one of ECDSAP384"},
		{"RSA2048", all, "", "does not sign an unknown key type keys"},
		{"ECDSAP224", all, "", "one of ECDSAP256, ECDSAP384, ECDSAP521, ED25519, RSA3072, RSA4096"},
	} {
		key := unitKey(t, tc.key)
		if got := podCertificateKeyType(key.Public()); got != tc.name {
			t.Errorf("%s: named %q, want %q", tc.key, got, tc.name)
		}
		csr := &x509.CertificateRequest{PublicKey: key.Public()}
		refusal := checkKeyType(csr, tc.policy)
		switch {
		case tc.denied == "" && refusal != nil:
			t.Errorf("%s: refused: %s", tc.key, refusal.message)
		case tc.denied != "" && (refusal == nil || refusal.reason != certificatesv1.PodCertificateRequestConditionUnsupportedKeyType ||
			!strings.Contains(refusal.message, tc.denied)):
			t.Errorf("%s: %+v, want UnsupportedKeyType with %q", tc.key, refusal, tc.denied)
		}
	}
	if podCertificateKeyType(unitKey(t, "RSA3072").Public()) != certsmithv1alpha1.PodCertificateKeyRSA3072 {
		t.Error("RSA 3072")
	}
}

// TestPodCertificateStubRequest: only a request that parses and whose
// signature verifies is read, and then only for its key.
func TestPodCertificateStubRequest(t *testing.T) {
	pcr, _ := unitPodFacts(t)
	key := unitKey(t, "ECDSAP256")
	pcr.Spec.StubPKCS10Request = unitStub(t, key)
	csr, refusal := parseStubRequest(pcr)
	if refusal != nil || !pki.PublicKeysEqual(csr.PublicKey, key.Public()) {
		t.Fatalf("a good stub: %+v", refusal)
	}
	pcr.Spec.StubPKCS10Request = []byte("not DER")
	if _, refusal := parseStubRequest(pcr); refusal == nil || refusal.reason != certsmithv1alpha1.ReasonPodCertificateMalformed {
		t.Errorf("garbage: %+v", refusal)
	}
	tampered := unitStub(t, key)
	tampered[len(tampered)-1] ^= 0xff // the last byte of the signature
	pcr.Spec.StubPKCS10Request = tampered
	if _, refusal := parseStubRequest(pcr); refusal == nil || refusal.reason != certsmithv1alpha1.ReasonPodCertificateMalformed ||
		!strings.Contains(refusal.message, "signature") {
		t.Errorf("a bad signature: %+v", refusal)
	}
}

// TestPodCertificateUserAnnotations: any unverified user annotation is a
// refusal; the message names a bounded number of keys and never a value.
func TestPodCertificateUserAnnotations(t *testing.T) {
	pcr, _ := unitPodFacts(t)
	if refusal := checkUserAnnotations(pcr); refusal != nil {
		t.Fatalf("none: %+v", refusal)
	}
	pcr.Spec.UnverifiedUserAnnotations = map[string]string{}
	for i := range 50 {
		pcr.Spec.UnverifiedUserAnnotations["example.com/key-"+string(rune('a'+i%26))+strings.Repeat("x", i)] = "secret-value"
	}
	refusal := checkUserAnnotations(pcr)
	if refusal == nil || refusal.reason != certificatesv1.PodCertificateRequestConditionInvalidUserConfig {
		t.Fatalf("refusal %+v", refusal)
	}
	if strings.Contains(refusal.message, "secret-value") || !strings.Contains(refusal.message, "and 46 more") || len(refusal.message) > 600 {
		t.Errorf("message %q", refusal.message)
	}
}

// TestPodCertificateNames: the identity comes from the namespace and
// ServiceAccount, DNS names from the templates and verified facts only.
func TestPodCertificateNames(t *testing.T) {
	pcr, _ := unitPodFacts(t)
	p := &certsmithv1alpha1.PodCertificatePolicy{}
	if got := spiffeID(trustDomainOf(p, "Cluster.Local."), pcr.Namespace, pcr.Spec.ServiceAccountName).String(); got != "spiffe://cluster.local/ns/shop/sa/web" {
		t.Errorf("default trust domain: %s", got)
	}
	p.TrustDomain = "prod.example"
	if got := spiffeID(trustDomainOf(p, "cluster.local"), "shop", "web").String(); got != "spiffe://prod.example/ns/shop/sa/web" {
		t.Errorf("trust domain: %s", got)
	}
	if names := podDNSNames(p, pcr, "cluster.local"); names != nil {
		t.Errorf("no templates: %v", names)
	}
	p.DNSNames = []string{"$(SERVICE_ACCOUNT).$(NAMESPACE).svc", "$(POD_NAME).$(SERVICE_ACCOUNT).$(NAMESPACE).svc.$(CLUSTER_DOMAIN)", "$(SERVICE_ACCOUNT).$(NAMESPACE).SVC"}
	got := podDNSNames(p, pcr, "cluster.local.")
	if want := []string{"web.shop.svc", "app.web.shop.svc.cluster.local"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("names %v, want %v (lower case, no duplicates)", got, want)
	}
	pcr.Spec.UnverifiedUserAnnotations = map[string]string{"spiffe/path-overriding": "/ns/kube-system/sa/admin"}
	if again := podDNSNames(p, pcr, "cluster.local"); strings.Join(again, ",") != strings.Join(got, ",") {
		t.Errorf("annotations changed the names: %v", again)
	}
}

// TestPodCertificateLifetime: the shortest of the request's
// maxExpirationSeconds, podCertificates.maxDuration (24h by default) and
// policy.maxDuration.
func TestPodCertificateLifetime(t *testing.T) {
	issuerWith := func(podMax, policyMax time.Duration) *certsmithv1alpha1.ClusterIssuer {
		issuer := &certsmithv1alpha1.ClusterIssuer{Spec: certsmithv1alpha1.ClusterIssuerSpec{PodCertificates: &certsmithv1alpha1.PodCertificatePolicy{}}}
		if podMax > 0 {
			issuer.Spec.PodCertificates.MaxDuration = &metav1.Duration{Duration: podMax}
		}
		if policyMax > 0 {
			issuer.Spec.Policy = &certsmithv1alpha1.IssuerPolicy{MaxDuration: &metav1.Duration{Duration: policyMax}}
		}
		return issuer
	}
	for _, tc := range []struct {
		name    string
		issuer  *certsmithv1alpha1.ClusterIssuer
		seconds *int32
		want    time.Duration
	}{
		{"defaults", issuerWith(0, 0), nil, 24 * time.Hour},
		{"the pod asks for less", issuerWith(0, 0), ptr.To[int32](7200), 2 * time.Hour},
		{"the pod asks for 91 days", issuerWith(0, 0), ptr.To[int32](7862400), 24 * time.Hour},
		{"podCertificates.maxDuration lifts the default", issuerWith(72*time.Hour, 0), ptr.To[int32](7862400), 72 * time.Hour},
		{"policy.maxDuration caps", issuerWith(72*time.Hour, 90*time.Minute), nil, 90 * time.Minute},
		{"whole seconds", issuerWith(90*time.Minute+1500*time.Millisecond, 0), nil, 90*time.Minute + time.Second},
	} {
		pcr, _ := unitPodFacts(t)
		pcr.Spec.MaxExpirationSeconds = tc.seconds
		if got := podCertificateLifetime(tc.issuer, pcr); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestPodCertificateCacheBound: the cache keeps of a request what the
// signer reads, whatever its size, and of a finished one even less.
func TestPodCertificateCacheBound(t *testing.T) {
	pcr, _ := unitPodFacts(t)
	pcr.Labels = map[string]string{"big": strings.Repeat("x", 60)}
	pcr.Annotations = map[string]string{"big": strings.Repeat("x", 1<<16)}
	pcr.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	pcr.Spec.StubPKCS10Request = make([]byte, 4096)
	pcr.Spec.UnverifiedUserAnnotations = map[string]string{}
	for i := range 100 {
		pcr.Spec.UnverifiedUserAnnotations["example.com/"+strings.Repeat("k", i+1)] = strings.Repeat("v", 1<<12)
	}
	out, _ := boundedPCR(pcr.DeepCopy())
	bounded := out.(*certificatesv1.PodCertificateRequest)
	if bounded.Labels != nil || bounded.Annotations != nil || bounded.ManagedFields != nil {
		t.Errorf("metadata kept: %v %v", bounded.Labels, bounded.ManagedFields)
	}
	if n := len(bounded.Spec.UnverifiedUserAnnotations); n != maxCachedUserAnnotations {
		t.Errorf("%d user annotations kept", n)
	}
	for _, v := range bounded.Spec.UnverifiedUserAnnotations {
		if v != "" {
			t.Error("a user annotation value kept")
		}
	}
	if checkUserAnnotations(bounded) == nil {
		t.Error("the bounded request is no longer refused")
	}
	if len(bounded.Spec.StubPKCS10Request) != 4096 {
		t.Error("an open request lost its stub")
	}
	again, _ := boundedPCR(bounded.DeepCopy())
	if len(again.(*certificatesv1.PodCertificateRequest).Spec.UnverifiedUserAnnotations) != maxCachedUserAnnotations {
		t.Error("not idempotent")
	}
	bounded.Status = certificatesv1.PodCertificateRequestStatus{
		Conditions:       []metav1.Condition{{Type: certificatesv1.PodCertificateRequestConditionTypeIssued, Status: metav1.ConditionTrue}},
		CertificateChain: strings.Repeat("c", 1<<15),
	}
	out, _ = boundedPCR(bounded)
	finished := out.(*certificatesv1.PodCertificateRequest)
	if finished.Status.CertificateChain != "" || finished.Spec.StubPKCS10Request != nil || !pcrFinished(finished) {
		t.Errorf("a finished request keeps %d bytes of chain, %d of stub", len(finished.Status.CertificateChain), len(finished.Spec.StubPKCS10Request))
	}
	if _, err := boundedPCR(&corev1.Pod{}); err != nil {
		t.Error(err)
	}
}

// TestPodCertificateRefusalEvents: the first refusal of an issuer and
// reason gets an Event at once; the next ones within the window none; the
// next Event after the window counts those left out. Reasons and issuers
// are sampled apart.
func TestPodCertificateRefusalEvents(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC))
	digest := newRefusalDigest(clk)
	mismatch := denied(certsmithv1alpha1.ReasonPodIdentityMismatch, "pod shop/app does not exist")
	if note, due := digest.note("a", mismatch, "shop/req-1"); !due || !strings.Contains(note, "Denied PodCertificateRequest shop/req-1 (PodIdentityMismatch): pod shop/app does not exist") {
		t.Fatalf("first: %v %q", due, note)
	}
	for i := range 36 {
		clk.Step(time.Second)
		if _, due := digest.note("a", mismatch, "shop/req-x"); due {
			t.Fatalf("refusal %d within the window got an Event", i)
		}
	}
	if _, due := digest.note("b", mismatch, "shop/req-y"); !due {
		t.Error("another issuer is sampled apart")
	}
	keyType := denied(certsmithv1alpha1.ReasonPodCertificateUnsupportedKeyType, "no")
	if _, due := digest.note("a", keyType, "shop/req-z"); !due {
		t.Error("another reason is sampled apart")
	}
	clk.Step(refusalWindow)
	note, due := digest.note("a", mismatch, "shop/req-2")
	if !due || !strings.Contains(note, "and 36 more Denied for this reason since 2026-12-02T08:00:00Z") {
		t.Errorf("after the window: %v %q", due, note)
	}
	if note, _ := func() (string, bool) { clk.Step(refusalWindow); return digest.note("a", mismatch, "shop/req-3") }(); strings.Contains(note, "more") {
		t.Errorf("the count restarts: %q", note)
	}
	// Bounded: a flood of issuers does not grow it past the limit.
	for i := range 3 * maxRefusalEntries {
		digest.note(string(rune(i))+"-issuer", mismatch, "x")
	}
	if len(digest.entries) > maxRefusalEntries {
		t.Errorf("%d entries", len(digest.entries))
	}
}

// TestPodCertificateSigningFailure: a CA that cannot sign is the issuer's
// trouble: the request is retried, nothing is written to it, and the
// issuer gets one Warning an hour.
func TestPodCertificateSigningFailure(t *testing.T) {
	pcr, _ := unitPodFacts(t)
	pcr.Spec.StubPKCS10Request = unitStub(t, unitKey(t, "ECDSAP256"))
	c := unitFakeClientBuilder(t, pcr).WithStatusSubresource(&certificatesv1.PodCertificateRequest{}).Build()
	clk := clocktesting.NewFakeClock(time.Now())
	recorder := events.NewFakeRecorder(10)
	r := &PodCertificateReconciler{Client: c, APIReader: c, Clock: clk, Recorder: recorder, Namespace: "certsmith-system",
		recent: newRecentlyFinished(clk), refusals: newRefusalDigest(clk), warned: newUIDMemory(clk, skipWarningTTL), Marks: &signedMarks{}}
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "pods", UID: "issuer-uid"},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{PodCertificates: &certsmithv1alpha1.PodCertificatePolicy{}}}
	broken := unitRootCA(t, "broken")
	broken.Key = unitKey(t, "ECDSAP256") // not the certificate's key
	csr, _ := parseStubRequest(pcr)
	checked := &checkedPodRequest{csr: csr, names: podCertificateNames{uri: &url.URL{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/shop/sa/web"}}}
	for range 3 {
		if err := r.issue(context.Background(), pcr.DeepCopy(), issuer, broken, checked); err == nil {
			t.Fatal("no error to retry on")
		}
	}
	got := &certificatesv1.PodCertificateRequest{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: "req-1"}, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Conditions) != 0 || got.Status.CertificateChain != "" {
		t.Errorf("status written: %+v", got.Status)
	}
	if events := unitEvents(recorder); len(events) != 1 || !strings.Contains(events[0], certsmithv1alpha1.ReasonPodCertificateSigningFailed) {
		t.Errorf("events %v", events)
	}
	if r.recent.has(pcr.UID) {
		t.Error("remembered as finished")
	}
}

// TestPodCertificateConfigProblems: settings that would refuse every pod
// are the issuer's problem, found before any request is denied.
func TestPodCertificateConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		name          string
		mutate        func(*certsmithv1alpha1.ClusterIssuer)
		clusterDomain string
		want          string
	}{
		{"defaults", func(*certsmithv1alpha1.ClusterIssuer) {}, "cluster.local", ""},
		{"no cluster domain, no trust domain", func(*certsmithv1alpha1.ClusterIssuer) {}, "", "no trust domain"},
		{"no cluster domain, a trust domain", func(i *certsmithv1alpha1.ClusterIssuer) { i.Spec.PodCertificates.TrustDomain = "prod.example" }, "", ""},
		{"a trailing dot from an empty cluster domain", func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Spec.PodCertificates.TrustDomain = "prod.example"
			i.Spec.PodCertificates.DNSNames = []string{"$(SERVICE_ACCOUNT).$(NAMESPACE).svc.$(CLUSTER_DOMAIN)"}
		}, "", "starts or ends with a dot"},
		{"an empty label", func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Spec.PodCertificates.DNSNames = []string{"$(SERVICE_ACCOUNT)..svc"}
		}, "cluster.local", "invalid names"},
		{"usages without client auth", func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Spec.Policy = &certsmithv1alpha1.IssuerPolicy{Usages: []certsmithv1alpha1.KeyUsage{"digital signature", "server auth"}}
		}, "cluster.local", `does not allow "client auth"`},
		{"an invalid IP range", func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Spec.Policy = &certsmithv1alpha1.IssuerPolicy{IPRanges: []string{"nonsense"}}
		}, "cluster.local", "spec.policy is invalid"},
		{"an invalid selector", func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Spec.PodCertificates.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}
		}, "cluster.local", "spec.podCertificates.namespaceSelector is invalid"},
		{"maxNames too small", func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Spec.Policy = &certsmithv1alpha1.IssuerPolicy{MaxNames: ptr.To[int32](1)}
			i.Spec.PodCertificates.DNSNames = []string{"$(SERVICE_ACCOUNT).$(NAMESPACE).svc"}
		}, "cluster.local", "maxNames (1)"},
		{"a trust domain of the API server's", func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Spec.PodCertificates.TrustDomain = "kubernetes.default.svc"
		}, "cluster.local",
			"refuses the SPIFFE ID of every pod"},
	} {
		issuer := &certsmithv1alpha1.ClusterIssuer{Spec: certsmithv1alpha1.ClusterIssuerSpec{PodCertificates: &certsmithv1alpha1.PodCertificatePolicy{}}}
		tc.mutate(issuer)
		got := podCertificateConfigProblem(issuer, tc.clusterDomain)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestPodCertificateServiceAccounts: the list names ServiceAccounts by
// namespace and name; "*" stands for either part only.
func TestPodCertificateServiceAccounts(t *testing.T) {
	list := []string{"shop/web", "*/mesh", "payments/*"}
	for _, tc := range []struct {
		namespace, name string
		want            bool
	}{
		{"shop", "web", true}, {"shop", "api", false}, {"other", "web", false},
		{"any", "mesh", true}, {"payments", "anything", true}, {"shop", "mesh-2", false}, {"shop/web", "", false},
	} {
		if got := serviceAccountListed(list, tc.namespace, tc.name); got != tc.want {
			t.Errorf("%s/%s: %v, want %v", tc.namespace, tc.name, got, tc.want)
		}
	}
}

// TestPodCertificateSignPermission: the API server refuses a status write
// without the sign verb as an invalid spec.signerName, not a 403.
func TestPodCertificateSignPermission(t *testing.T) {
	gk := certificatesv1.Resource("podcertificaterequests")
	invalid := apierrors.NewInvalid(schema.GroupKind{Group: gk.Group, Kind: "PodCertificateRequest"}, "req-1", field.ErrorList{
		field.Forbidden(field.NewPath("spec", "signerName"), "User \"x\" is not permitted to \"sign\" for signer \"example.com/pods\""),
	})
	other := apierrors.NewInvalid(schema.GroupKind{Group: gk.Group, Kind: "PodCertificateRequest"}, "req-1", field.ErrorList{
		field.Invalid(field.NewPath("status", "notBefore"), "x", "must be set to within 5 minutes of kube-apiserver's current time"),
	})
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{invalid, true}, {apierrors.NewForbidden(gk, "req-1", nil), true}, {other, false}, {nil, false}, {apierrors.NewConflict(gk, "req-1", nil), false},
	} {
		if got := signPermissionMissing(tc.err); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestPodCertificateSignedFromFactsOnly: what the CA signs carries the
// names given, never the stub's, with an empty subject and the pod
// usages, for exactly the lifetime asked.
func TestPodCertificateSignedFromFactsOnly(t *testing.T) {
	root := unitRootCA(t, "pods")
	key := unitKey(t, "ECDSAP256")
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "kubernetes.default.svc"}, DNSNames: []string{"kubernetes.default.svc"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	uri := spiffeID("cluster.local", "shop", "web")
	now := root.Certificate.NotBefore.Add(time.Hour)
	cert, err := root.Sign(pki.SignRequest{CSR: csr, Usages: podCertificateUsages, Duration: 2*time.Hour - pki.Backdate,
		Subject: &pkix.Name{}, SANs: &pki.SubjectAltNames{URIs: []*url.URL{uri}}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.DNSNames) != 0 || cert.Subject.String() != "" || len(cert.URIs) != 1 || cert.URIs[0].String() != uri.String() {
		t.Errorf("names %v %q %v", cert.DNSNames, cert.Subject, cert.URIs)
	}
	if got := cert.NotAfter.Sub(cert.NotBefore); got != 2*time.Hour {
		t.Errorf("lifetime %s", got)
	}
	if len(cert.ExtKeyUsage) != 2 || cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("usages %v %v", cert.ExtKeyUsage, cert.KeyUsage)
	}
}

// TestPodCertificateSyncBeforeTheCacheSynced: waking a signer whose watch
// has started but not synced yet does nothing (its handler delivers every
// request once it has), and does not read the unsynced cache.
func TestPodCertificateSyncBeforeTheCacheSynced(t *testing.T) {
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{PodCertificates: &certsmithv1alpha1.PodCertificatePolicy{}}}
	c := unitFakeClientBuilder(t, issuer).WithIndex(&certsmithv1alpha1.ClusterIssuer{}, indexIssuerSignerName, func(obj client.Object) []string {
		return []string{obj.(*certsmithv1alpha1.ClusterIssuer).EffectiveSignerName()}
	}).Build()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signers := &signerWatches{running: map[string]*signerWatch{issuer.EffectiveSignerName(): {cancel: func() {}}}, base: ctx}
	r := &PodCertificateReconciler{Client: c, signers: signers}
	if err := r.syncSigner(ctx, issuer.EffectiveSignerName()); err != nil {
		t.Fatal(err)
	}
	if signers.get(issuer.EffectiveSignerName()) != nil {
		t.Error("an unsynced cache is handed out")
	}
	// Opting out stops it.
	issuer.Spec.PodCertificates = nil
	if err := c.Update(ctx, issuer); err != nil {
		t.Fatal(err)
	}
	if err := r.syncSigner(ctx, issuer.EffectiveSignerName()); err != nil || len(signers.names()) != 0 {
		t.Errorf("still watched: %v %v", signers.names(), err)
	}
}
