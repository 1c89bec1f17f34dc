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
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/ca"
	"github.com/certsmith/certsmith/internal/pki"
)

// TestSignerApprovalRoute: certsmith decides its own CSRs and, under Auto
// approval, those of named requesters; a person decides the rest.
func TestSignerApprovalRoute(t *testing.T) {
	named := &certsmithv1alpha1.ClusterIssuer{Spec: certsmithv1alpha1.ClusterIssuerSpec{Approval: certsmithv1alpha1.ApprovalAuto,
		Policy: &certsmithv1alpha1.IssuerPolicy{AutoApprove: &certsmithv1alpha1.AutoApprovePolicy{Users: []string{"alice"}}}}}
	manual := &certsmithv1alpha1.ClusterIssuer{Spec: certsmithv1alpha1.ClusterIssuerSpec{Approval: certsmithv1alpha1.ApprovalManual}}
	csrOf := func(user string) *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{Username: user}}
	}
	for _, tc := range []struct {
		name   string
		csr    *certificatesv1.CertificateSigningRequest
		owned  bool
		issuer *certsmithv1alpha1.ClusterIssuer
		want   approvalRoute
	}{
		{"a ServiceCertificate's CSR under Manual approval", csrOf("system:serviceaccount:certsmith-system:certsmith"), true, manual, routeDecide},
		{"a named requester under Auto", csrOf("alice"), false, named, routeDecide},
		{"an unnamed requester under Auto", csrOf("mallory"), false, named, routeSkipAutoApproval},
		{"a hand-made CSR under Manual", csrOf("alice"), false, manual, routeWaitForPerson},
	} {
		if got := approvalRouteOf(tc.csr, tc.owned, tc.issuer); got != tc.want {
			t.Errorf("%s: route %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestSignerCSRLifetime: expirationSeconds within policy.maxDuration; a
// hand-made CSR at most 90 days unless the policy says otherwise.
func TestSignerCSRLifetime(t *testing.T) {
	year := int32(365 * 24 * 3600)
	hour := int32(3600)
	withMax := func(d time.Duration) *certsmithv1alpha1.ClusterIssuer {
		return &certsmithv1alpha1.ClusterIssuer{Spec: certsmithv1alpha1.ClusterIssuerSpec{Policy: &certsmithv1alpha1.IssuerPolicy{MaxDuration: &metav1.Duration{Duration: d}}}}
	}
	none := &certsmithv1alpha1.ClusterIssuer{}
	for _, tc := range []struct {
		name    string
		issuer  *certsmithv1alpha1.ClusterIssuer
		owned   bool
		seconds *int32
		want    time.Duration
	}{
		{"default", none, true, nil, defaultCSRDuration},
		{"asked for an hour", none, false, &hour, time.Hour},
		{"a hand-made CSR asking for a year gets 90 days", none, false, &year, defaultCSRDuration},
		{"a ServiceCertificate's CSR asking for a year gets it", none, true, &year, 365 * 24 * time.Hour},
		{"maxDuration caps a ServiceCertificate's CSR", withMax(48 * time.Hour), true, &year, 48 * time.Hour},
		{"maxDuration lifts the 90-day cap of hand-made CSRs", withMax(200 * 24 * time.Hour), false, &year, 200 * 24 * time.Hour},
	} {
		if got := csrLifetime(tc.issuer, tc.owned, tc.seconds); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestSignerMarks: the signer creates its record on first use, raises a
// mark only when a certificate outlives it (no write otherwise), drops the
// marks of CAs the issuer no longer has, never touches the CA Secret, and
// refuses to write a Secret of that name that is not its record.
func TestSignerMarks(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	root := unitRootCA(t, "marks")
	fp := pki.FingerprintSHA256(root.Certificate)
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "marks"},
		Status: certsmithv1alpha1.ClusterIssuerStatus{TrustedCAs: []certsmithv1alpha1.TrustedCA{{FingerprintSHA256: fp}}}}
	caSecret := unitCASecret(t, "marks-ca", root, nil)
	c := unitFakeClient(t, caSecret)
	var marks signedMarks
	read := func() (*corev1.Secret, map[string]time.Time) {
		t.Helper()
		secret := &corev1.Secret{}
		if err := c.Get(ctx, signedUntilKey(issuer, caSecret.Namespace), secret); err != nil {
			t.Fatalf("reading the record: %v", err)
		}
		return secret, ca.DecodeMarks(secret.Annotations[ca.AnnotationSignedUntil])
	}

	if _, err := marks.record(ctx, c, c, caSecret.Namespace, issuer, root.Certificate, now, now.Add(10*time.Hour)); err != nil {
		t.Fatal(err)
	}
	record, got := read()
	if want := now.Add(11 * time.Hour); !got[fp].Equal(want) || record.Labels[certsmithv1alpha1.LabelSignedUntil] != "marks" {
		t.Fatalf("first mark %s (labels %v), want %s", got[fp], record.Labels, want)
	}
	// Covered by the headroom: no write at all.
	if _, err := marks.record(ctx, c, c, caSecret.Namespace, issuer, root.Certificate, now, now.Add(10*time.Hour+30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if again, _ := read(); again.ResourceVersion != record.ResourceVersion {
		t.Fatal("a certificate within the mark's headroom wrote the record")
	}
	// Past the mark, in a new process (nothing remembered): raised; the
	// mark of a CA the issuer no longer has is dropped in the same write.
	record.Annotations[ca.AnnotationSignedUntil] = ca.EncodeMarks(map[string]time.Time{fp: now.Add(11 * time.Hour), "gone": now})
	if err := c.Update(ctx, record); err != nil {
		t.Fatal(err)
	}
	var restarted signedMarks
	if _, err := restarted.record(ctx, c, c, caSecret.Namespace, issuer, root.Certificate, now, now.Add(20*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, got := read(); !got[fp].Equal(now.Add(22*time.Hour)) || len(got) != 1 {
		t.Fatalf("raised marks %v, want only %s at +22h", got, fp)
	}
	after := &corev1.Secret{}
	if err := c.Get(ctx, caSecretKey(issuer, caSecret.Namespace), after); err != nil || after.ResourceVersion != caSecret.ResourceVersion && caSecret.ResourceVersion != "" {
		t.Fatalf("the CA Secret changed (%v)", err)
	}
	if _, ok := after.Annotations[ca.AnnotationSignedUntil]; ok {
		t.Fatal("the signer wrote a mark on the CA Secret")
	}

	// A Secret of the record's name that is not certsmith's is not written.
	squatter := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other-signed-until", Namespace: caSecret.Namespace}}
	other := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "other"}}
	c2 := unitFakeClient(t, squatter)
	var m2 signedMarks
	_, err := m2.record(ctx, c2, c2, caSecret.Namespace, other, root.Certificate, now, now.Add(time.Hour))
	var conflict *recordConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("wrote marks into a Secret that is not the signer's record, or failed otherwise: %v", err)
	}
	// The issuer is told, once an hour, not at every CSR.
	recorder := events.NewFakeRecorder(10)
	clock := clocktesting.NewFakeClock(now)
	r := &CSRReconciler{Recorder: recorder, Clock: clock, skipWarned: newUIDMemory(clock, skipWarningTTL)}
	other.UID = "other-uid"
	for range 3 {
		r.warnRecordConflict(other, fmt.Errorf("recording: %w", err))
	}
	r.warnRecordConflict(other, errors.New("some other failure"))
	if evts := unitEvents(recorder); len(evts) != 1 || !strings.HasPrefix(evts[0], corev1.EventTypeWarning+" "+certsmithv1alpha1.ReasonSignedUntilRecordConflict+" ") ||
		!strings.Contains(evts[0], "other-signed-until") {
		t.Fatalf("events %q, want one SignedUntilRecordConflict naming the Secret", evts)
	}
	if got, err := readSignedUntil(ctx, c2, caSecret.Namespace, other); err != nil || len(got) != 0 {
		t.Fatalf("read marks %v from a foreign Secret (%v)", got, err)
	}
}

// TestSignerMarksRecordDeleted: a record deleted by hand is made again by
// the next signing, although this process remembers a mark covering it.
func TestSignerMarksRecordDeleted(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	root := unitRootCA(t, "gone")
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "gone"}}
	c := unitFakeClient(t)
	var marks signedMarks
	if wrote, err := marks.record(ctx, c, c, unitOperatorNamespace, issuer, root.Certificate, now, now.Add(10*time.Hour)); err != nil || !wrote {
		t.Fatalf("first record: wrote %v, %v", wrote, err)
	}
	record := &corev1.Secret{}
	if err := c.Get(ctx, signedUntilKey(issuer, unitOperatorNamespace), record); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, record); err != nil {
		t.Fatal(err)
	}
	if wrote, err := marks.record(ctx, c, c, unitOperatorNamespace, issuer, root.Certificate, now, now.Add(time.Hour)); err != nil || !wrote {
		t.Fatalf("after deletion: wrote %v, %v; a released certificate would have no mark", wrote, err)
	}
	got, err := readSignedUntil(ctx, c, unitOperatorNamespace, issuer)
	if err != nil || !got[pki.FingerprintSHA256(root.Certificate)].After(now.Add(time.Hour)) {
		t.Fatalf("marks after re-creation %v (%v)", got, err)
	}
}

// TestSignerStillTrusted: after a new mark the signer releases only what a
// CA still in the CA Secret signed (active, next or retiring).
func TestSignerStillTrusted(t *testing.T) {
	ctx := context.Background()
	active, retiring, gone := unitRootCA(t, "active"), unitRootCA(t, "retiring"), unitRootCA(t, "gone")
	set := &ca.Set{Active: active, Retiring: []*x509.Certificate{retiring.Certificate}, Bundle: []*x509.Certificate{active.Certificate, retiring.Certificate}}
	data, _, err := set.Encode()
	if err != nil {
		t.Fatal(err)
	}
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "trust"}}
	c := unitFakeClient(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "trust-ca", Namespace: unitOperatorNamespace}, Data: data})
	for cert, want := range map[*x509.Certificate]bool{active.Certificate: true, retiring.Certificate: true, gone.Certificate: false} {
		if got, err := stillTrusted(ctx, c, unitOperatorNamespace, issuer, cert); err != nil || got != want {
			t.Errorf("%s: trusted %v (%v), want %v", cert.Subject.CommonName, got, err, want)
		}
	}
}

// The signer's record has a valid name for every issuer name: one of up to
// 253 characters used to give a name past the limit, and every write of
// the record, so every signature, failed.
func TestSignedUntilKeyFitsEveryIssuerName(t *testing.T) {
	issuer := func(name string) *certsmithv1alpha1.ClusterIssuer {
		return &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	if got := signedUntilKey(issuer("web"), "ns").Name; got != "web-signed-until" {
		t.Fatalf("short names keep their record: %q", got)
	}
	long := strings.Repeat("a", 240) + "." + strings.Repeat("b", 12)
	other := strings.Repeat("a", 240) + "." + strings.Repeat("c", 12)
	a, b := signedUntilKey(issuer(long), "ns").Name, signedUntilKey(issuer(other), "ns").Name
	for _, name := range []string{a, b} {
		if len(name) > 253 || len(validation.IsDNS1123Subdomain(name)) != 0 {
			t.Fatalf("record name %q (%d characters) is not a valid Secret name: %v", name, len(name), validation.IsDNS1123Subdomain(name))
		}
	}
	if a == b {
		t.Fatalf("two long issuer names share the record %q", a)
	}
	if a != signedUntilKey(issuer(long), "ns").Name {
		t.Fatal("the record name is not stable")
	}
	withRef := issuer(long)
	withRef.Spec.CA.SecretRef = &certsmithv1alpha1.SecretReference{Name: a}
	if c := signedUntilKey(withRef, "ns").Name; c == a || len(c) > 253 {
		t.Fatalf("an imported CA in the record's Secret: record %q", c)
	}
}

// TestSignerMarksRecordNotYetCached: right after this process created the
// record, a cache that has not seen it yet sends the signer to the API
// server, not into a second create (a 409 per CA otherwise).
func TestSignerMarksRecordNotYetCached(t *testing.T) {
	root := unitRootCA(t, "fresh")
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}
	ctx := context.Background()
	now := unitNow
	server := unitFakeClient(t)
	var marks signedMarks
	if wrote, err := marks.record(ctx, server, server, unitOperatorNamespace, issuer, root.Certificate, now, now.Add(10*time.Hour)); err != nil || !wrote {
		t.Fatalf("first record: %v %v", wrote, err)
	}
	staleCache := unitFakeClient(t) // has not seen the create
	wrote, err := marks.record(ctx, staleCache, server, unitOperatorNamespace, issuer, root.Certificate, now, now.Add(10*time.Hour+time.Minute))
	if err != nil || wrote {
		t.Fatalf("covered by the record the API server holds: wrote %v, %v", wrote, err)
	}
	var secrets corev1.SecretList
	if err := staleCache.List(ctx, &secrets); err != nil || len(secrets.Items) != 0 {
		t.Errorf("created again through the stale client: %d Secrets, %v", len(secrets.Items), err)
	}
}
