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
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/revocation"
)

// Tests of the CRLs in the bundle ConfigMaps (key ca.crl): the unit tests
// run the decisions and whole passes on a fake client, the specs run against
// the test API server. Both write the revocation record themselves, as its
// writer (the revocation controller) would.

// revokedRecord is rec with the serials of ca revoked at now, and the CRLs
// that revocation.Plan signs for it at now.
func revokedRecord(rec *revocation.Record, ca *pki.CA, now time.Time, serials ...*big.Int) (*revocation.Record, error) {
	next := &revocation.Record{Entries: slices.Clone(rec.Entries), CRLs: slices.Clone(rec.CRLs)}
	for _, serial := range serials {
		next.Entries = append(next.Entries, revocation.Entry{CA: revocation.CAID(ca.Certificate),
			Revoked: pki.Revoked{Serial: serial, RevokedAt: now.Truncate(time.Second), Reason: pki.ReasonKeyCompromise}})
	}
	planned, _, err := revocation.Plan(next, []revocation.CA{{Certificate: ca.Certificate, Signer: ca}}, now, 0)
	return planned, err
}

// oversizedRecord is a record whose one CRL, a real one of ca, lists so many
// certificates that its PEM passes maxBundleDataBytes. The record keeps the
// CRL only (not the entries), so that it still fits into a Secret.
func oversizedRecord(ca *pki.CA, now time.Time) (*revocation.Record, error) {
	serials := make([]*big.Int, 14000)
	for i := range serials {
		b := make([]byte, 20)
		_, _ = rand.Read(b)
		b[0] = 0x40 | b[0]&0x3f // 20 bytes, positive
		serials[i] = new(big.Int).SetBytes(b)
	}
	rec, err := revokedRecord(&revocation.Record{}, ca, now, serials...)
	if err != nil {
		return nil, err
	}
	rec.Entries = nil
	return rec, nil
}

// serialsOf lists serial numbers as big integers.
func serialsOf(serials ...int64) []*big.Int {
	out := make([]*big.Int, len(serials))
	for i, s := range serials {
		out[i] = big.NewInt(s)
	}
	return out
}

// revocationRecordSecret is an issuer's revocation record Secret holding rec.
func revocationRecordSecret(namespace, issuer string, rec *revocation.Record) (*corev1.Secret, error) {
	data, err := rec.Encode()
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: revocation.SecretName(issuer),
			Labels:      map[string]string{certsmithv1alpha1.LabelRevocations: "true"},
			Annotations: map[string]string{certsmithv1alpha1.AnnotationIssuerName: issuer}},
		Type: revocation.SecretType,
		Data: data,
	}, nil
}

// parsedCRLsOf parses a ca.crl value with crypto/x509: every block a CRL.
func parsedCRLsOf(value string) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	rest := []byte(value)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("a PEM block of type %q", block.Type)
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, crl)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("%d bytes after the last PEM block", len(rest))
	}
	return out, nil
}

func unitRecordSecret(t *testing.T, issuer string, rec *revocation.Record) *corev1.Secret {
	t.Helper()
	secret, err := revocationRecordSecret(unitOperatorNamespace, issuer, rec)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func unitRevokedRecord(t *testing.T, rec *revocation.Record, ca *pki.CA, now time.Time, serials ...int64) *revocation.Record {
	t.Helper()
	next, err := revokedRecord(rec, ca, now, serialsOf(serials...)...)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

// TestBundleContentWithCRLs: the ConfigMap data with and without CRLs, and
// the bound on anchors and CRLs together.
func TestBundleContentWithCRLs(t *testing.T) {
	anchors := []byte("-----BEGIN CERTIFICATE-----\nanchors\n-----END CERTIFICATE-----\n")
	record := types.NamespacedName{Namespace: unitOperatorNamespace, Name: "web-revocations"}
	// room is what the CRLs may take beside the anchors under ca.crt.
	room := maxBundleDataBytes - len("ca.crt") - len(anchors) - len(certsmithv1alpha1.BundleCRLKey)
	tests := []struct {
		name       string
		crls       issuerCRLs
		wantCRL    bool
		wantStatus metav1.ConditionStatus
		wantReason string
		// wantIn are parts of the message.
		wantIn []string
	}{
		{name: "no record yet: no key", crls: issuerCRLs{record: record},
			wantStatus: metav1.ConditionFalse, wantReason: reasonNoCRL, wantIn: []string{"no CRL yet", record.String()}},
		{name: "CRLs: under ca.crl", crls: issuerCRLs{record: record, pem: []byte("two CRLs"), numbers: []string{"1767225600", "1767225601"}},
			wantCRL: true, wantStatus: metav1.ConditionTrue, wantReason: reasonCRLPublished, wantIn: []string{"2 CRLs", "1767225600, 1767225601", "8 bytes"}},
		{name: "exactly at the bound: published", crls: issuerCRLs{record: record, pem: []byte(strings.Repeat("c", room)), numbers: []string{"7"}},
			wantCRL: true, wantStatus: metav1.ConditionTrue, wantReason: reasonCRLPublished, wantIn: []string{"1 CRL "}},
		{name: "a byte past it: left out, served over HTTP only", crls: issuerCRLs{record: record, pem: []byte(strings.Repeat("c", room+1)), numbers: []string{"7"}},
			wantStatus: metav1.ConditionFalse, wantReason: certsmithv1alpha1.ReasonCRLTooLarge,
			wantIn: []string{fmt.Sprintf("%d bytes of PEM", room+1), fmt.Sprintf("%d bytes of each", maxBundleDataBytes+1), fmt.Sprint(maxBundleDataBytes), "HTTP only"}},
		{name: "an unreadable record: left out, said why", crls: issuerCRLs{record: record, unreadable: "revoked line 3: want 6 fields, got 2"},
			wantStatus: metav1.ConditionFalse, wantReason: reasonCRLRecordUnreadable, wantIn: []string{"line 3", record.String()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, condition := bundleContent("ca.crt", anchors, tt.crls)
			if data["ca.crt"] != string(anchors) {
				t.Fatal("the anchors are not under ca.crt")
			}
			crl, ok := data[certsmithv1alpha1.BundleCRLKey]
			if ok != tt.wantCRL || (ok && crl != string(tt.crls.pem)) || len(data) != map[bool]int{true: 2, false: 1}[tt.wantCRL] {
				t.Fatalf("data has keys %v (ca.crl %d bytes), want ca.crl: %v", sortedKeys(data), len(crl), tt.wantCRL)
			}
			if condition.Type != conditionCRLPublished || condition.Status != tt.wantStatus || condition.Reason != tt.wantReason {
				t.Fatalf("condition %+v, want %s %s", condition, tt.wantStatus, tt.wantReason)
			}
			for _, part := range tt.wantIn {
				if !strings.Contains(condition.Message, part) {
					t.Errorf("message %q lacks %q", condition.Message, part)
				}
			}
			if len(condition.Message) > MaxMessageBytes {
				t.Errorf("message of %d bytes", len(condition.Message))
			}
		})
	}

	// An issuer whose anchors' key is ca.crl (admitted before the API refused
	// it) keeps its anchors there, and no CRLs.
	data, condition := bundleContent(certsmithv1alpha1.BundleCRLKey, anchors, issuerCRLs{pem: []byte("a CRL"), numbers: []string{"1"}})
	if len(data) != 1 || data[certsmithv1alpha1.BundleCRLKey] != string(anchors) || condition.Reason != reasonCRLKeyInUse || condition.Status != metav1.ConditionFalse {
		t.Fatalf("key ca.crl: data %v, condition %+v", sortedKeys(data), condition)
	}

	// The CRLs are part of the hash the cache compares: a new CRL is a write.
	with, _ := bundleContent("ca.crt", anchors, issuerCRLs{pem: []byte("a")})
	newer, _ := bundleContent("ca.crt", anchors, issuerCRLs{pem: []byte("b")})
	without, _ := bundleContent("ca.crt", anchors, issuerCRLs{})
	if h := []string{configMapContentHash(with, nil), configMapContentHash(newer, nil), configMapContentHash(without, nil)}; h[0] == h[1] || h[0] == h[2] {
		t.Fatal("the content hash does not follow the CRLs")
	}
}

// TestBundleCRLPublishedTransitions: lastTransitionTime moves only when the
// status does, and an unchanged condition is the one already written.
func TestBundleCRLPublishedTransitions(t *testing.T) {
	earlier := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	published := metav1.Condition{Type: conditionCRLPublished, Status: metav1.ConditionTrue, Reason: reasonCRLPublished, Message: "2 CRLs"}
	tooLarge := metav1.Condition{Type: conditionCRLPublished, Status: metav1.ConditionFalse, Reason: certsmithv1alpha1.ReasonCRLTooLarge, Message: "too large"}
	noCRL := metav1.Condition{Type: conditionCRLPublished, Status: metav1.ConditionFalse, Reason: reasonNoCRL, Message: "none yet"}
	with := func(c metav1.Condition) *certsmithv1alpha1.BundleStatus {
		c.LastTransitionTime, c.ObservedGeneration = earlier, 1
		return &certsmithv1alpha1.BundleStatus{CRLPublished: &c}
	}

	first := crlPublished(nil, noCRL, 1)
	if first.LastTransitionTime.IsZero() || first.Reason != reasonNoCRL || first.ObservedGeneration != 1 {
		t.Fatalf("first condition %+v", first)
	}
	if same := crlPublished(with(published), published, 1); *same != *with(published).CRLPublished {
		t.Fatalf("an unchanged condition changed: %+v (a status write every pass)", same)
	}
	if moved := crlPublished(with(noCRL), published, 1); !moved.LastTransitionTime.After(earlier.Time) || moved.Status != metav1.ConditionTrue {
		t.Fatalf("NoCRL to Published: %+v, want a new transition time", moved)
	}
	if kept := crlPublished(with(noCRL), tooLarge, 1); !kept.LastTransitionTime.Equal(&earlier) || kept.Reason != certsmithv1alpha1.ReasonCRLTooLarge {
		t.Fatalf("NoCRL to CRLTooLarge (both False): %+v, want the transition time kept", kept)
	}
	if newMessage := crlPublished(with(published), metav1.Condition{Type: conditionCRLPublished, Status: metav1.ConditionTrue, Reason: reasonCRLPublished, Message: "3 CRLs"}, 2); !newMessage.LastTransitionTime.Equal(&earlier) ||
		newMessage.Message != "3 CRLs" || newMessage.ObservedGeneration != 2 {
		t.Fatalf("a new CRL: %+v", newMessage)
	}
}

// TestBundleCRLTooLargeEvent: one Warning when the CRLs stop fitting, none
// while they still do not, another after they fitted again.
func TestBundleCRLTooLargeEvent(t *testing.T) {
	recorder := events.NewFakeRecorder(10)
	r := &BundleReconciler{Recorder: recorder}
	issuer := unitBundleIssuer(&certsmithv1alpha1.BundleSpec{})
	condition := func(reason, message string) *certsmithv1alpha1.BundleStatus {
		status := metav1.ConditionFalse
		if reason == reasonCRLPublished {
			status = metav1.ConditionTrue
		}
		return &certsmithv1alpha1.BundleStatus{CRLPublished: &metav1.Condition{Type: conditionCRLPublished, Status: status, Reason: reason, Message: message}}
	}
	steps := []struct {
		status    *certsmithv1alpha1.BundleStatus
		wantEvent bool
	}{
		{status: condition(reasonNoCRL, "none")},
		{status: condition(reasonCRLPublished, "1 CRL")},
		{status: condition(certsmithv1alpha1.ReasonCRLTooLarge, "950000 bytes"), wantEvent: true},
		{status: condition(certsmithv1alpha1.ReasonCRLTooLarge, "950000 bytes")},
		{status: condition(certsmithv1alpha1.ReasonCRLTooLarge, "960000 bytes (a new CRL)")},
		{status: condition(reasonCRLPublished, "1 CRL")},
		{status: condition(certsmithv1alpha1.ReasonCRLTooLarge, "970000 bytes"), wantEvent: true},
	}
	for i, step := range steps {
		r.reportCRLTooLarge(issuer, step.status)
		evts := unitEvents(recorder)
		if got := len(evts) == 1; got != step.wantEvent || len(evts) > 1 {
			t.Fatalf("step %d (%s): events %q, want one: %v", i, step.status.CRLPublished.Reason, evts, step.wantEvent)
		}
		if step.wantEvent && (!strings.HasPrefix(evts[0], corev1.EventTypeWarning+" "+certsmithv1alpha1.ReasonCRLTooLarge+" ") ||
			!strings.Contains(evts[0], step.status.CRLPublished.Message) || !strings.Contains(evts[0], "CRL server")) {
			t.Fatalf("step %d: event %q", i, evts[0])
		}
		issuer.Status.Bundle = step.status
	}
}

// TestBundleRevocationRecordIssuer: only a revocation record, of the name
// its issuer's record has, maps to that issuer.
func TestBundleRevocationRecordIssuer(t *testing.T) {
	valid := func(mutate func(*corev1.Secret)) *corev1.Secret {
		s := unitRecordSecret(t, "web", &revocation.Record{})
		if mutate != nil {
			mutate(s)
		}
		return s
	}
	long := strings.Repeat("a", 250)
	tests := []struct {
		name   string
		secret *corev1.Secret
		want   string
	}{
		{name: "the record", secret: valid(nil), want: "web"},
		{name: "a long issuer name, hashed into the Secret's name", secret: unitRecordSecret(t, long, &revocation.Record{}), want: long},
		{name: "another type", secret: valid(func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque })},
		{name: "no label", secret: valid(func(s *corev1.Secret) { s.Labels = nil })},
		{name: "another issuer's name", secret: valid(func(s *corev1.Secret) { s.Annotations[certsmithv1alpha1.AnnotationIssuerName] = "other" })},
		{name: "not a name", secret: valid(func(s *corev1.Secret) {
			s.Annotations[certsmithv1alpha1.AnnotationIssuerName] = "Web/../x"
			s.Name = revocation.SecretName("Web/../x")
		})},
		{name: "no annotation", secret: valid(func(s *corev1.Secret) { s.Annotations = nil })},
	}
	for _, tt := range tests {
		if got := revocationRecordIssuer(tt.secret); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := revocationRecordIssuer(&corev1.ConfigMap{ObjectMeta: valid(nil).ObjectMeta}); got != "" {
		t.Errorf("a ConfigMap maps to %q", got)
	}

	r := &BundleReconciler{Namespace: unitOperatorNamespace}
	want := []reconcile.Request{{NamespacedName: types.NamespacedName{Name: "web"}}}
	if got := r.issuersOfCASecret(context.Background(), valid(nil)); !slices.Equal(got, want) {
		t.Fatalf("the record maps to %v, want %v", got, want)
	}
	elsewhere := valid(func(s *corev1.Secret) { s.Namespace = "tenant" })
	if got := r.issuersOfCASecret(context.Background(), elsewhere); len(got) != 0 {
		t.Fatalf("a record outside the operator's namespace maps to %v", got)
	}
}

// TestBundleCRLsParsedOncePerResourceVersion: the record is parsed once per
// resourceVersion; what is not the record publishes nothing.
func TestBundleCRLsParsedOncePerResourceVersion(t *testing.T) {
	root := unitRootCA(t, "root")
	rec := unitRevokedRecord(t, &revocation.Record{}, root, unitNow.Add(time.Hour), 10, 11)
	c := unitFakeClient(t, unitRecordSecret(t, "web", rec))
	tctx := context.Background()
	var p parsedCRLs
	first, err := p.of(tctx, c, unitOperatorNamespace, "web")
	if err != nil || string(first.pem) != string(rec.PEM()) || len(first.numbers) != 1 || first.numbers[0] != rec.CRLs[0].Number || first.unreadable != "" {
		t.Fatalf("parsed %+v, %v", first, err)
	}
	again, _ := p.of(tctx, c, unitOperatorNamespace, "web")
	if &again.pem[0] != &first.pem[0] {
		t.Fatal("the same resourceVersion was parsed again")
	}

	secret := &corev1.Secret{}
	if err := c.Get(tctx, revocationRecordKey("web", unitOperatorNamespace), secret); err != nil {
		t.Fatal(err)
	}
	secret.Data[revocation.KeyEntries] = []byte("damaged\n")
	if err := c.Update(tctx, secret); err != nil {
		t.Fatal(err)
	}
	damaged, err := p.of(tctx, c, unitOperatorNamespace, "web")
	if err != nil || damaged.unreadable == "" || len(damaged.pem) != 0 {
		t.Fatalf("a damaged record: %+v, %v", damaged, err)
	}

	secret.Type = corev1.SecretTypeOpaque
	if err := c.Update(tctx, secret); err != nil {
		t.Fatal(err)
	}
	if foreign, err := p.of(tctx, c, unitOperatorNamespace, "web"); err != nil || len(foreign.pem) != 0 || foreign.unreadable != "" {
		t.Fatalf("a Secret that is not the record: %+v, %v", foreign, err)
	}
	if none, err := p.of(tctx, c, unitOperatorNamespace, "other"); err != nil || len(none.pem) != 0 || none.record.Name != "other-revocations" {
		t.Fatalf("no record: %+v, %v", none, err)
	}
}

// writeCounter counts the writes of a fake client, by "verb kind".
type writeCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (w *writeCounter) add(verb string, obj client.Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.counts == nil {
		w.counts = map[string]int{}
	}
	w.counts[fmt.Sprintf("%s %T", verb, obj)]++
}

// take returns the counts since the last take.
func (w *writeCounter) take() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.counts
	w.counts = nil
	if out == nil {
		out = map[string]int{}
	}
	return out
}

func countingClient(base client.WithWatch, w *writeCounter) client.WithWatch {
	return interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			w.add("create", obj)
			return c.Create(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			w.add("patch", obj)
			return c.Patch(ctx, obj, patch, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			w.add("update", obj)
			return c.Update(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			w.add("delete", obj)
			return c.Delete(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			w.add("patch/"+sub, obj)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
}

// TestBundleCRLDistributionPass runs whole passes on a fake client: the
// CRLs reach every ConfigMap under ca.crl (never the ClusterTrustBundle), a
// pass with the same record writes nothing, a new CRL is one write per
// namespace, and CRLs too large leave the ConfigMaps with one Event.
func TestBundleCRLDistributionPass(t *testing.T) {
	root := unitRootCA(t, "root")
	anchors := pki.EncodeCertificatesPEM(root.Certificate)
	issuer := unitBundleIssuer(&certsmithv1alpha1.BundleSpec{})
	base := unitFakeClient(t, issuer, unitCASecret(t, "web-ca", root, anchors), unitNamespace("a", nil), unitNamespace("b", nil), unitNamespace("c", nil))
	writes := &writeCounter{}
	c := countingClient(base, writes)
	recorder := events.NewFakeRecorder(10)
	r := &BundleReconciler{Client: c, APIReader: c, Recorder: recorder, Namespace: unitOperatorNamespace, ClusterTrustBundles: true}
	tctx := context.Background()
	pass := func() *certsmithv1alpha1.BundleStatus {
		t.Helper()
		if _, err := r.Reconcile(tctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "web"}}); err != nil {
			t.Fatal(err)
		}
		got := &certsmithv1alpha1.ClusterIssuer{}
		if err := c.Get(tctx, types.NamespacedName{Name: "web"}, got); err != nil {
			t.Fatal(err)
		}
		return got.Status.Bundle
	}
	configMaps := func() map[string]map[string]string {
		t.Helper()
		out := map[string]map[string]string{}
		for _, ns := range []string{"a", "b", "c"} {
			cm := &corev1.ConfigMap{}
			if err := c.Get(tctx, types.NamespacedName{Namespace: ns, Name: "web-ca"}, cm); err != nil {
				t.Fatal(err)
			}
			out[ns] = cm.Data
		}
		return out
	}
	expectCRL := func(step string, want []byte) {
		t.Helper()
		for ns, data := range configMaps() {
			got, ok := data[certsmithv1alpha1.BundleCRLKey]
			if (want == nil) == ok || got != string(want) || data["ca.crt"] != string(anchors) || len(data) != map[bool]int{true: 1, false: 2}[want == nil] {
				t.Fatalf("%s: namespace %s holds keys %v, ca.crl of %d bytes, want %d", step, ns, sortedKeys(data), len(got), len(want))
			}
		}
		ctb := &certificatesv1.ClusterTrustBundle{}
		if err := c.Get(tctx, types.NamespacedName{Name: clusterTrustBundleName(issuer.EffectiveSignerName())}, ctb); err != nil || ctb.Spec.TrustBundle != string(anchors) {
			t.Fatalf("%s: the ClusterTrustBundle holds %q (%v), want the anchors only", step, ctb.Spec.TrustBundle, err)
		}
	}
	expectWrites := func(step string, want map[string]int) {
		t.Helper()
		if got := writes.take(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: writes %v, want %v", step, got, want)
		}
	}
	expectCondition := func(step string, status *certsmithv1alpha1.BundleStatus, reason string) {
		t.Helper()
		if status == nil || status.CRLPublished == nil || status.CRLPublished.Reason != reason || status.UpToDate != 3 {
			t.Fatalf("%s: status.bundle %+v, want crlPublished %s and 3 up to date", step, status, reason)
		}
	}

	// No record yet: anchors only.
	status := pass()
	expectCondition("no record", status, reasonNoCRL)
	expectCRL("no record", nil)
	writes.take()
	pass()
	expectWrites("no record, again", map[string]int{})

	// The first CRL: one patch per namespace and one status write.
	rec := unitRevokedRecord(t, &revocation.Record{}, root, unitNow.Add(time.Hour), 100)
	record := unitRecordSecret(t, "web", rec)
	if err := base.Create(tctx, record); err != nil {
		t.Fatal(err)
	}
	status = pass()
	expectCondition("first CRL", status, reasonCRLPublished)
	expectCRL("first CRL", rec.PEM())
	expectWrites("first CRL", map[string]int{"patch *v1.ConfigMap": 3, "patch/status *v1alpha1.ClusterIssuer": 1})
	if !strings.Contains(status.CRLPublished.Message, rec.CRLs[0].Number) {
		t.Fatalf("the message %q does not name CRL number %s", status.CRLPublished.Message, rec.CRLs[0].Number)
	}
	transition := status.CRLPublished.LastTransitionTime

	// The same record again: nothing at all is written.
	pass()
	expectWrites("the same record", map[string]int{})
	if len(unitEvents(recorder)) != 0 {
		t.Fatal("events without a change")
	}

	// A new CRL: again one patch per namespace (the message names the new number).
	next := unitRevokedRecord(t, rec, root, unitNow.Add(time.Hour+revocation.MinInterval), 101)
	updateRecord := func(rec *revocation.Record) {
		t.Helper()
		current := &corev1.Secret{}
		if err := base.Get(tctx, client.ObjectKeyFromObject(record), current); err != nil {
			t.Fatal(err)
		}
		current.Data = unitRecordSecret(t, "web", rec).Data
		if err := base.Update(tctx, current); err != nil {
			t.Fatal(err)
		}
	}
	updateRecord(next)
	status = pass()
	expectCRL("a new CRL", next.PEM())
	expectWrites("a new CRL", map[string]int{"patch *v1.ConfigMap": 3, "patch/status *v1alpha1.ClusterIssuer": 1})
	if !status.CRLPublished.LastTransitionTime.Equal(&transition) {
		t.Fatal("a new CRL moved lastTransitionTime")
	}

	// Entries only (no new CRL yet, as within MinInterval): nothing to write.
	pending := &revocation.Record{Entries: append(slices.Clone(next.Entries), revocation.Entry{CA: revocation.CAID(root.Certificate),
		Revoked: pki.Revoked{Serial: big.NewInt(102), RevokedAt: unitNow.Add(2 * time.Hour)}}), CRLs: next.CRLs}
	updateRecord(pending)
	pass()
	expectWrites("a recorded revocation, not yet in a CRL", map[string]int{})

	// Too large: ca.crl leaves every ConfigMap; one Event, once.
	bigRec, err := oversizedRecord(root, unitNow.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(bigRec.PEM()) <= maxBundleDataBytes {
		t.Fatalf("the oversized CRL takes %d bytes of PEM only", len(bigRec.PEM()))
	}
	updateRecord(bigRec)
	status = pass()
	expectCondition("too large", status, certsmithv1alpha1.ReasonCRLTooLarge)
	expectCRL("too large", nil)
	expectWrites("too large", map[string]int{"patch *v1.ConfigMap": 3, "patch/status *v1alpha1.ClusterIssuer": 1})
	if evts := unitEvents(recorder); len(evts) != 1 || !strings.Contains(evts[0], certsmithv1alpha1.ReasonCRLTooLarge) {
		t.Fatalf("events %q, want one CRLTooLarge", evts)
	}
	pass()
	expectWrites("too large, again", map[string]int{})
	if evts := unitEvents(recorder); len(evts) != 0 {
		t.Fatalf("events %q on a pass without a change", evts)
	}

	// They fit again: ca.crl is back.
	updateRecord(next)
	status = pass()
	expectCondition("fits again", status, reasonCRLPublished)
	expectCRL("fits again", next.PEM())

	// The issuer is deleted: what is remembered of its record goes.
	if _, ok := r.crls.byIssuer["web"]; !ok {
		t.Fatal("the parsed record is not remembered")
	}
	if err := c.Delete(tctx, issuer); err != nil {
		t.Fatal(err)
	}
	pass2 := func() {
		if _, err := r.Reconcile(tctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "web"}}); err != nil {
			t.Fatal(err)
		}
	}
	pass2()
	if _, ok := r.crls.byIssuer["web"]; ok {
		t.Fatal("a deleted issuer's record is still remembered")
	}
}

// TestBundleCRLKeyMakesNoConfigMapCertsmiths: a ca.crl key changes nothing
// about ownership: a tenant's ConfigMap that holds exactly the wanted data
// stays a conflict, and adoption takes only what an earlier release (which
// wrote no CRLs) made.
func TestBundleCRLKeyMakesNoConfigMapCertsmiths(t *testing.T) {
	root := unitRootCA(t, "root")
	anchors := pki.EncodeCertificatesPEM(root.Certificate)
	rec := unitRevokedRecord(t, &revocation.Record{}, root, unitNow.Add(time.Hour), 100)
	want, _ := bundleContent("ca.crt", anchors, issuerCRLs{pem: rec.PEM(), numbers: []string{rec.CRLs[0].Number}})
	tenants := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "web-ca", Labels: bundleLabels("web")}, Data: want}
	c := unitFakeClient(t, unitBundleIssuer(&certsmithv1alpha1.BundleSpec{}), unitCASecret(t, "web-ca", root, anchors), unitRecordSecret(t, "web", rec),
		unitNamespace("a", nil), unitNamespace("b", nil), tenants)
	r := &BundleReconciler{Client: c, APIReader: c, Recorder: events.NewFakeRecorder(10), Namespace: unitOperatorNamespace}
	tctx := context.Background()
	if _, err := r.Reconcile(tctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "web"}}); err != nil {
		t.Fatal(err)
	}
	got := &certsmithv1alpha1.ClusterIssuer{}
	if err := c.Get(tctx, types.NamespacedName{Name: "web"}, got); err != nil {
		t.Fatal(err)
	}
	if s := got.Status.Bundle; s.UpToDate != 1 || s.Conflicts != 1 || !slices.Equal(s.ConflictNamespaces, []string{"b"}) {
		t.Fatalf("status.bundle %+v: the tenant's ConfigMap with the wanted ca.crt and ca.crl is not a conflict", s)
	}
	if record, _ := loadBundleRecord(tctx, c, &bundleRecords{}, unitOperatorNamespace, "web"); func() bool { _, ok := record.get("b"); return ok }() {
		t.Fatal("the tenant's ConfigMap was recorded as certsmith's")
	}

	anchorSet := map[string]bool{pki.FingerprintSHA256(root.Certificate): true}
	labelled := func(data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-ca", Labels: bundleLabels("web")}, Data: data}
	}
	if !adoptableConfigMap(labelled(map[string]string{"ca.crt": string(anchors)}), "web", "ca.crt", anchorSet) {
		t.Fatal("what an earlier release made is not adoptable")
	}
	if adoptableConfigMap(labelled(want), "web", "ca.crt", anchorSet) {
		t.Fatal("a labelled ConfigMap with ca.crl was adopted: no release without ownership records wrote one")
	}
}

// The specs below write the issuer's revocation record themselves, signed
// with the issuer's own CA; the revocation controller does not run in this
// suite.

// issuerCA reads the CA (certificate and key) of a generated issuer.
func issuerCA(issuer *certsmithv1alpha1.ClusterIssuer) *pki.CA {
	ca, err := parseCASecret(getSecret(operatorNamespace, issuer.Name+"-ca"))
	Expect(err).NotTo(HaveOccurred())
	return ca
}

// recordWithCRL waits for an issuer's revocation record, as the revocation
// controller writes it, to hold a CRL for each CA, and returns it.
func recordWithCRL(issuer string) *revocation.Record {
	var rec *revocation.Record
	Eventually(func(g Gomega) {
		secret := &corev1.Secret{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: revocation.SecretName(issuer)}, secret)).To(Succeed())
		var err error
		rec, err = revocation.Decode(secret.Data)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(rec.CRLs).NotTo(BeEmpty())
	}, timeout, interval).Should(Succeed())
	return rec
}

// crlPublishedOf reads status.bundle.crlPublished of an issuer.
func crlPublishedOf(name string) *metav1.Condition {
	return bundleStatusOf(name).CRLPublished
}

// bundleCRLs returns the ca.crl of each namespace's ConfigMap, "<absent>" where it has none.
func bundleCRLs(name string, namespaces ...string) []string {
	out := make([]string, len(namespaces))
	for i, ns := range namespaces {
		// Read without Expect: called from Eventually, where a ConfigMap
		// not written yet is a retry, not a failure.
		cm := &corev1.ConfigMap{}
		if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, cm); err != nil {
			out[i] = "<" + err.Error() + ">"
			continue
		}
		value, ok := cm.Data[certsmithv1alpha1.BundleCRLKey]
		if !ok {
			value = "<absent>"
		}
		out[i] = value
	}
	return out
}

var _ = Describe("CRLs in trust bundles", func() {
	// The revocation controller writes the record here, as in a cluster. The
	// path where the CRLs are too large for a ConfigMap is a guard that the
	// record's own bounds keep certsmith from reaching (5,000 entries, under
	// 1 MiB with their CRLs): the unit tests above cover it with a record
	// written by hand.
	It("puts the issuer's CRLs into every bundle ConfigMap under ca.crl, byte for byte, and follows new ones", func() {
		name, selector := uniqueName("crl"), uniqueName("certsmith-test/crl")
		first, second := newNamespace(), newNamespace()
		setNamespaceLabel(first, selector, "yes")
		setNamespaceLabel(second, selector, "yes")
		issuer := bundleIssuer(&certsmithv1alpha1.BundleSpec{
			ConfigMap:         &certsmithv1alpha1.ConfigMapTarget{Name: name},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{selector: "yes"}},
		}, nil, 0)
		fp := caFingerprint(issuer)
		ca := issuerCA(issuer)

		By("the issuer's first CRL, empty, reaches every ConfigMap next to the anchors")
		rec := recordWithCRL(issuer.Name)
		Eventually(func() []string { return bundleCRLs(name, first, second) }, timeout, interval).
			Should(Equal([]string{string(rec.PEM()), string(rec.PEM())}))
		Expect(configMapBundle(first, name, "ca.crt")).To(Equal([]string{fp}))
		Eventually(func(g Gomega) {
			c := crlPublishedOf(issuer.Name)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Type).To(Equal("CRLPublished"))
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal("Published"))
			g.Expect(c.Message).To(ContainSubstring(rec.CRLs[0].Number))
		}, timeout, interval).Should(Succeed())

		By("revocations reach every ConfigMap in the next CRL, byte for byte")
		createCertificate(first, issuer.Name, "one", nil)
		createCertificate(first, issuer.Name, "two", nil)
		waitRevision(first, "one", 1)
		waitRevision(first, "two", 1)
		revoked := []string{leafOf(first, "one-tls").SerialNumber.Text(16), leafOf(first, "two-tls").SerialNumber.Text(16)}
		names := []string{
			revokeCertificate(first, "one", certsmithv1alpha1.RevocationKeyCompromise),
			revokeCertificate(first, "two", certsmithv1alpha1.RevocationKeyCompromise),
		}
		passCoalescing(issuer.Name)
		for _, n := range names {
			waitRevoked(first, n, metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationPublished)
		}
		next := recordWithCRL(issuer.Name)
		Expect(next.CRLs[0].Number).NotTo(Equal(rec.CRLs[0].Number))
		Eventually(func() []string { return bundleCRLs(name, first, second) }, timeout, interval).
			Should(Equal([]string{string(next.PEM()), string(next.PEM())}))
		crls, err := parsedCRLsOf(getConfigMap(second, name).Data[certsmithv1alpha1.BundleCRLKey])
		Expect(err).NotTo(HaveOccurred())
		Expect(crls).To(HaveLen(1))
		Expect(crls[0].CheckSignatureFrom(ca.Certificate)).To(Succeed())
		var listed []string
		for _, e := range crls[0].RevokedCertificateEntries {
			listed = append(listed, e.SerialNumber.Text(16))
		}
		Expect(listed).To(ConsistOf(revoked))
		Eventually(func() string { return crlPublishedOf(issuer.Name).Message }, timeout, interval).Should(ContainSubstring(next.CRLs[0].Number))

		By("the ClusterTrustBundle carries certificates only")
		ctb := &certificatesv1.ClusterTrustBundle{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: clusterTrustBundleName(issuer.Status.SignerName)}, ctb)).To(Succeed())
		Expect(ctb.Spec.TrustBundle).NotTo(ContainSubstring("CRL"))

		By("passes with the same record write nothing")
		versions := func() []string {
			out := []string{bundleStatusOf(issuer.Name).CRLPublished.LastTransitionTime.String()}
			for _, ns := range []string{first, second} {
				out = append(out, getConfigMap(ns, name).ResourceVersion)
			}
			return out
		}
		before := versions()
		nudgeIssuer(issuer.Name)
		Consistently(versions, 3*time.Second, 200*time.Millisecond).Should(Equal(before))
	})

	It("keeps a tenant's ConfigMap with a ca.crl key a conflict, and adopts only what an earlier release made", func() {
		name, selector := uniqueName("crlowner"), uniqueName("certsmith-test/crlowner")
		issuer := bundleIssuer(selectedBundle(name, selector), nil, 0)
		Eventually(func() []string { return bundleStatusOf(issuer.Name).FingerprintsSHA256 }, timeout, interval).ShouldNot(BeEmpty())
		rec := recordWithCRL(issuer.Name)
		Eventually(func() string { return crlPublishedOf(issuer.Name).Reason }, timeout, interval).Should(Equal("Published"))

		anchors := string(injectionBundle(issuer.Name))
		wanted := map[string]string{"ca.crt": anchors, certsmithv1alpha1.BundleCRLKey: string(rec.PEM())}
		squatted, earlier := newNamespace(), newNamespace()
		squatter := tenantConfigMap(squatted, name, issuer.Name, wanted, false)
		tenantConfigMap(earlier, name, issuer.Name, map[string]string{"ca.crt": anchors}, false)
		setNamespaceLabel(squatted, selector, "yes")
		setNamespaceLabel(earlier, selector, "yes")
		Eventually(func() []string { return bundleStatusOf(issuer.Name).ConflictNamespaces }, timeout, interval).Should(ConsistOf(squatted, earlier))

		By("after the loss of the ownership record, only the one without ca.crl is adopted, and then gets the CRLs")
		for _, s := range recordSecrets(issuer.Name) {
			Expect(k8sClient.Delete(ctx, &s)).To(Succeed())
		}
		Eventually(func() []string { return bundleStatusOf(issuer.Name).ConflictNamespaces }, timeout, interval).Should(Equal([]string{squatted}))
		Eventually(func() []string { return bundleCRLs(name, earlier) }, timeout, interval).Should(Equal([]string{string(rec.PEM())}))
		got := getConfigMap(squatted, name)
		Expect(got.UID).To(Equal(squatter.UID))
		Expect(got.Data).To(Equal(wanted))
		Expect(got.Annotations).NotTo(HaveKey(annotationBundleClaim))
	})
})
