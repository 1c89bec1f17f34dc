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
	"crypto/x509"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// chainFixture is an up-to-date certificate of shop/web, issued by ca at
// scTestNow for 90 days, and the input of the re-issue chain for it.
type chainFixture struct {
	sc     *certsmithv1alpha1.ServiceCertificate
	ca     *pki.CA
	issued *issuedCertificate
}

// newChainFixture issues the certificate of the fixture.
func newChainFixture(t *testing.T) *chainFixture {
	sc := scTestCertificate(nil)
	ca := scTestCA(t, "corp root", scTestNow.Add(-time.Hour))
	return &chainFixture{sc: sc, ca: ca, issued: scTestIssued(t, sc, scTestRequest(t, sc), ca, scTestNow, 90*24*time.Hour)}
}

// input returns a fresh chain input at now: a fresh request, a copy of the
// Secret (so a case may edit it), and the renewal time from the spec.
func (f *chainFixture) input(t *testing.T, now time.Time) *issuanceInput {
	secret := f.issued.secret.DeepCopy()
	issued := decodeSecret(secret)
	req := scTestRequest(t, f.sc)
	return &issuanceInput{issued: issued, request: req, ca: f.ca, now: now,
		renewalTime: renewalTime(f.sc, req, issued.leaf())}
}

// TestServiceCertificateReissueChain checks every policy of the re-issue chain, its reason and message, and that the first that fires wins.
func TestServiceCertificateReissueChain(t *testing.T) {
	f := newChainFixture(t)
	leaf := f.issued.leaf()
	renewal := renewalTime(f.sc, scTestRequest(t, f.sc), leaf)
	otherCA := scTestCA(t, "another root", scTestNow.Add(-time.Hour))
	rsa := pki.KeySpec{Algorithm: pki.KeyAlgorithmRSA, Size: 2048}
	cases := []struct {
		name string
		// edit changes the input of an up-to-date certificate.
		edit        func(in *issuanceInput)
		reason      string // "" when nothing fires
		wantMessage string
	}{
		{name: "up to date", edit: func(*issuanceInput) {}},
		{name: "no Secret", edit: func(in *issuanceInput) { in.issued = nil },
			reason: certsmithv1alpha1.ReasonSecretMissing, wantMessage: "the Secret does not exist"},
		{name: "no tls.key", edit: func(in *issuanceInput) {
			delete(in.issued.secret.Data, corev1.TLSPrivateKeyKey)
			in.issued = decodeSecret(in.issued.secret)
		}, reason: certsmithv1alpha1.ReasonSecretInvalid, wantMessage: "the Secret has no tls.crt or no tls.key"},
		{name: "tls.crt is not PEM", edit: func(in *issuanceInput) {
			in.issued.secret.Data[corev1.TLSCertKey] = []byte("garbage")
			in.issued = decodeSecret(in.issued.secret)
		}, reason: certsmithv1alpha1.ReasonSecretInvalid, wantMessage: "tls.crt cannot be decoded"},
		{name: "another key", edit: func(in *issuanceInput) { in.issued.key = scTestKey(t) },
			reason: certsmithv1alpha1.ReasonKeyMismatch, wantMessage: "tls.key does not belong to the certificate in tls.crt"},
		{name: "issued by another issuer", edit: func(in *issuanceInput) {
			in.issued.secret.Annotations[certsmithv1alpha1.AnnotationIssuerName] = "legacy"
		}, reason: certsmithv1alpha1.ReasonIssuerChanged, wantMessage: `the certificate was issued by "legacy", the spec names "corp"`},
		{name: "DNS names changed", edit: func(in *issuanceInput) { in.request.dnsNames = []string{"api.shop.svc"} },
			reason: certsmithv1alpha1.ReasonSpecChanged, wantMessage: "the certificate's DNS names [web.shop.svc] differ from the wanted [api.shop.svc]"},
		{name: "URIs changed", edit: func(in *issuanceInput) {
			in.request.uris = []*url.URL{{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/shop/sa/web"}}
		}, reason: certsmithv1alpha1.ReasonSpecChanged, wantMessage: "the certificate's URIs [] differ from the wanted [spiffe://cluster.local/ns/shop/sa/web]"},
		{name: "common name changed", edit: func(in *issuanceInput) { in.request.subject.CommonName = "web" },
			reason: certsmithv1alpha1.ReasonSpecChanged, wantMessage: `the certificate's common name "web.shop.svc" differs from the wanted "web"`},
		{name: "IP addresses changed", edit: func(in *issuanceInput) { in.request.ipAddresses = []net.IP{net.ParseIP("10.0.0.1")} },
			reason: certsmithv1alpha1.ReasonSpecChanged, wantMessage: "the certificate's IP addresses [] differ from the wanted [10.0.0.1]"},
		{name: "key algorithm changed", edit: func(in *issuanceInput) { in.request.keySpec = rsa },
			reason: certsmithv1alpha1.ReasonSpecChanged, wantMessage: "the certificate's key (ECDSA-256) differs from the wanted RSA-2048"},
		{name: "usages changed", edit: func(in *issuanceInput) {
			in.request.usages = append(in.request.usages, string(certsmithv1alpha1.UsageClientAuth))
		}, reason: certsmithv1alpha1.ReasonSpecChanged, wantMessage: "the certificate's usages differ from the wanted"},
		{name: "request hash changed", edit: func(in *issuanceInput) {
			in.issued.secret.Annotations[certsmithv1alpha1.AnnotationCertificateHash] = "edited"
		}, reason: certsmithv1alpha1.ReasonSpecChanged, wantMessage: "the spec changed since the certificate was issued"},
		{name: "issuer has another CA, no rotation", edit: func(in *issuanceInput) { in.ca = otherCA },
			reason: certsmithv1alpha1.ReasonNotChainedToIssuer, wantMessage: "the certificate does not chain to the issuer's current CA"},
		{name: "expired", edit: func(in *issuanceInput) { in.now = leaf.NotAfter },
			reason: certsmithv1alpha1.ReasonExpired, wantMessage: "the certificate expired at " + leaf.NotAfter.UTC().Format(time.RFC3339)},
		{name: "manual trigger", edit: func(in *issuanceInput) { in.renewRequest = "2030-01-02" },
			reason: certsmithv1alpha1.ReasonManuallyTriggered, wantMessage: `re-issuance was requested (certsmith.io/renew-requested-at="2030-01-02")`},
		{name: "manual trigger already acted on", edit: func(in *issuanceInput) { in.renewRequest, in.lastRenewRequest = "2030-01-02", "2030-01-02" }},
		{name: "a second before the renewal time", edit: func(in *issuanceInput) { in.now = renewal.Add(-time.Second) }},
		{name: "renewal time reached", edit: func(in *issuanceInput) { in.now = renewal },
			reason: certsmithv1alpha1.ReasonRenewing, wantMessage: "the renewal time " + renewal.UTC().Format(time.RFC3339) + " has been reached"},
		{name: "the first policy that fires wins", edit: func(in *issuanceInput) {
			in.issued.secret.Annotations[certsmithv1alpha1.AnnotationIssuerName] = "legacy"
			in.ca, in.now, in.renewRequest = otherCA, leaf.NotAfter, "again"
		}, reason: certsmithv1alpha1.ReasonIssuerChanged, wantMessage: `the certificate was issued by "legacy"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := f.input(t, scTestNow.Add(time.Hour))
			tc.edit(in)
			reason, message, needed := needsIssuance(in)
			if needed != (tc.reason != "") || reason != tc.reason {
				t.Fatalf("needed=%v reason=%q (%s), want reason %q", needed, reason, message, tc.reason)
			}
			if !strings.HasPrefix(message, tc.wantMessage) {
				t.Fatalf("message %q, want it to start with %q", message, tc.wantMessage)
			}
		})
	}
}

// rotationFixture is a certificate signed by the old root of an issuer
// that has switched to a new root, the old one still in its trust bundle.
type rotationFixture struct {
	*chainFixture
	newCA      *pki.CA
	switchedAt time.Time
	window     time.Duration
}

// newRotationFixture switches the issuer of a chainFixture to a new CA a
// day after the certificate was issued.
func newRotationFixture(t *testing.T) *rotationFixture {
	f := newChainFixture(t)
	return &rotationFixture{chainFixture: f, newCA: scTestCA(t, "corp root 2", scTestNow.Add(23*time.Hour)),
		switchedAt: scTestNow.Add(24 * time.Hour), window: 10 * time.Minute}
}

// input is the chain's input at now, with anchors as the trust bundle.
func (f *rotationFixture) input(t *testing.T, now time.Time, anchors ...*x509.Certificate) *issuanceInput {
	in := f.chainFixture.input(t, now)
	in.ca = f.newCA
	in.rotation = rotationInput{switchedAt: f.switchedAt, reissueWindow: f.window, anchors: anchors, spreadSeed: "shop/web"}
	return in
}

// turn is where the fixture's certificate falls in the re-issue window.
func (f *rotationFixture) turn() time.Time {
	return f.switchedAt.Add(time.Duration(pki.JitterFraction("shop/web") / pki.MaxJitterFraction * float64(f.window)))
}

// TestServiceCertificateRotationTurn steps a clock through a CA switch: a certificate of the old CA waits for its turn in the re-issue window, then NotChainedToIssuer fires.
func TestServiceCertificateRotationTurn(t *testing.T) {
	f := newRotationFixture(t)
	turn := f.turn()
	if turn.Before(f.switchedAt) || !turn.Before(f.switchedAt.Add(f.window)) {
		t.Fatalf("turn %s is outside the re-issue window [%s, +%s)", turn, f.switchedAt, f.window)
	}
	bundle := []*x509.Certificate{f.ca.Certificate, f.newCA.Certificate}
	clock := clocktesting.NewFakeClock(f.switchedAt)

	// Right after the switch the certificate still works: it waits for its
	// turn, which becomes its renewal time.
	in := f.input(t, clock.Now(), bundle...)
	if reason, message, needed := needsIssuance(in); needed {
		t.Fatalf("re-issued at the switch (%s: %s), before its turn at %s", reason, message, turn)
	}
	if !in.renewalTime.Equal(turn) {
		t.Fatalf("renewal time %s, want the turn %s", in.renewalTime, turn)
	}

	clock.SetTime(turn.Add(-time.Second))
	if reason, _, needed := needsIssuance(f.input(t, clock.Now(), bundle...)); needed {
		t.Fatalf("re-issued a second before its turn (%s)", reason)
	}

	clock.Step(time.Second)
	reason, message, needed := needsIssuance(f.input(t, clock.Now(), bundle...))
	if !needed || reason != certsmithv1alpha1.ReasonNotChainedToIssuer || message != "the certificate does not chain to the issuer's current CA" {
		t.Fatalf("at its turn: needed=%v %s: %s, want NotChainedToIssuer with today's message", needed, reason, message)
	}

	clock.Step(time.Hour)
	if reason, _, _ := needsIssuance(f.input(t, clock.Now(), bundle...)); reason != certsmithv1alpha1.ReasonNotChainedToIssuer {
		t.Fatalf("after the window: %q, want NotChainedToIssuer", reason)
	}
}

// TestServiceCertificateRotationRule checks when the rotation rule of the chain holds a certificate back and when it does not.
func TestServiceCertificateRotationRule(t *testing.T) {
	f := newRotationFixture(t)
	turn := f.turn()
	both := []*x509.Certificate{f.ca.Certificate, f.newCA.Certificate}
	cases := []struct {
		name        string
		at          time.Time
		anchors     []*x509.Certificate
		edit        func(in *issuanceInput)
		reason      string
		wantRenewal time.Time // checked when nothing fires
	}{
		{name: "old CA left the bundle: re-issued at once", at: f.switchedAt, anchors: []*x509.Certificate{f.newCA.Certificate},
			reason: certsmithv1alpha1.ReasonNotChainedToIssuer},
		{name: "no switch recorded: re-issued at once", at: f.switchedAt, anchors: both,
			edit: func(in *issuanceInput) { in.rotation.switchedAt = time.Time{} }, reason: certsmithv1alpha1.ReasonNotChainedToIssuer},
		{name: "an unreadable bundle trusts nothing: re-issued at once", at: f.switchedAt, anchors: nil,
			reason: certsmithv1alpha1.ReasonNotChainedToIssuer},
		{name: "a certificate of the current CA keeps its own renewal time", at: f.switchedAt, anchors: both,
			edit: func(in *issuanceInput) { in.ca = f.ca }, wantRenewal: renewalTime(f.sc, scTestRequest(t, f.sc), f.issued.leaf())},
		{name: "a renewal time already past waits for the turn", at: f.switchedAt, anchors: both,
			edit: func(in *issuanceInput) { in.renewalTime = f.switchedAt.Add(-time.Hour) }, wantRenewal: turn},
		{name: "a manual trigger does not wait for the turn", at: f.switchedAt, anchors: both,
			edit: func(in *issuanceInput) { in.renewRequest = "now" }, reason: certsmithv1alpha1.ReasonManuallyTriggered},
		{name: "an expired certificate does not wait for the turn", at: f.issued.leaf().NotAfter, anchors: both,
			edit: func(in *issuanceInput) { in.rotation.switchedAt = f.issued.leaf().NotAfter }, reason: certsmithv1alpha1.ReasonExpired},
		{name: "a Secret edited during the rotation is re-issued for that", at: f.switchedAt, anchors: both,
			edit: func(in *issuanceInput) { in.issued.key = scTestKey(t) }, reason: certsmithv1alpha1.ReasonKeyMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := f.input(t, tc.at, tc.anchors...)
			if tc.edit != nil {
				tc.edit(in)
			}
			reason, message, needed := needsIssuance(in)
			if reason != tc.reason || needed != (tc.reason != "") {
				t.Fatalf("needed=%v %s (%s), want %q", needed, reason, message, tc.reason)
			}
			if !needed && !in.renewalTime.Equal(tc.wantRenewal) {
				t.Fatalf("renewal time %s, want %s", in.renewalTime, tc.wantRenewal)
			}
		})
	}
}

// TestServiceCertificateRotationOf checks what the rotation rule reads of an issuer.
func TestServiceCertificateRotationOf(t *testing.T) {
	f := newRotationFixture(t)
	issuer := scTestIssuer()
	bundle := pki.EncodeCertificatesPEM(f.ca.Certificate, f.newCA.Certificate)
	// 5m is the documented default of spec.rotation.reissueWindow.
	if got := rotationOf(issuer, bundle, "shop/web"); !got.switchedAt.IsZero() || got.reissueWindow != 5*time.Minute || len(got.anchors) != 2 {
		t.Fatalf("an issuer that never rotated: %+v", got)
	}
	issuer.Spec.Rotation = &certsmithv1alpha1.RotationSpec{ReissueWindow: &metav1.Duration{Duration: f.window}}
	issuer.Status.Rotation = &certsmithv1alpha1.RotationStatus{Phase: certsmithv1alpha1.RotationRetiring, SwitchedAt: &metav1.Time{Time: f.switchedAt}}
	got := rotationOf(issuer, bundle, "shop/web")
	if !got.switchedAt.Equal(f.switchedAt) || got.reissueWindow != f.window || got.spreadSeed != "shop/web" {
		t.Fatalf("a switched issuer: %+v", got)
	}
	if got := rotationOf(issuer, []byte("not PEM"), "shop/web"); got.anchors != nil {
		t.Fatalf("anchors from an unreadable bundle: %d", len(got.anchors))
	}
	// The window stretched at the switch to the issuer's certificates at
	// maxReissueRate is the one spread over; never shorter than the spec's.
	issuer.Status.Rotation.ReissueWindow = &metav1.Duration{Duration: 10 * f.window}
	if got := rotationOf(issuer, bundle, "shop/web"); got.reissueWindow != 10*f.window {
		t.Fatalf("a stretched window: %s, want %s", got.reissueWindow, 10*f.window)
	}
	issuer.Status.Rotation.ReissueWindow = &metav1.Duration{Duration: f.window / 2}
	if got := rotationOf(issuer, bundle, "shop/web"); got.reissueWindow != f.window {
		t.Fatalf("a recorded window shorter than the spec's: %s, want the spec's %s", got.reissueWindow, f.window)
	}
}

// TestServiceCertificateRenewalTime checks the renewal time for each way the spec sets it.
func TestServiceCertificateRenewalTime(t *testing.T) {
	notBefore := scTestNow.Add(-pki.Backdate)
	notAfter := notBefore.Add(90 * 24 * time.Hour)
	leaf := &x509.Certificate{NotBefore: notBefore, NotAfter: notAfter}
	lifetime := notAfter.Sub(notBefore)
	def := renewalTime(scTestCertificate(nil), &certificateRequest{}, leaf)
	earliest := notBefore.Add(lifetime*2/3 - time.Duration(pki.MaxJitterFraction*float64(lifetime)))
	if def.After(notBefore.Add(lifetime*2/3)) || def.Before(earliest) {
		t.Fatalf("default renewal %s is not two thirds into the lifetime less at most %.0f%% jitter", def, pki.MaxJitterFraction*100)
	}
	other := scTestCertificate(nil)
	other.Name = "api"
	if renewalTime(other, &certificateRequest{}, leaf).Equal(def) {
		t.Fatal("two certificates issued together renew together: no jitter")
	}
	percentage := int32(25)
	cases := []struct {
		name string
		req  certificateRequest
		leaf *x509.Certificate
		want time.Time
	}{
		{name: "renewBefore", req: certificateRequest{renewBefore: 24 * time.Hour}, leaf: leaf, want: notAfter.Add(-24 * time.Hour)},
		{name: "renewBefore as long as the lifetime falls back to the default", req: certificateRequest{renewBefore: lifetime}, leaf: leaf, want: def},
		{name: "renewBefore longer than a shortened lifetime falls back to the default",
			req: certificateRequest{renewBefore: 100 * 24 * time.Hour}, leaf: leaf, want: def},
		{name: "renewBeforePercentage", req: certificateRequest{renewBeforePercentage: percentage}, leaf: leaf, want: notAfter.Add(-lifetime / 4)},
		{name: "never sooner than the floor after issuance", req: certificateRequest{renewBefore: 119 * time.Second},
			leaf: &x509.Certificate{NotBefore: notBefore, NotAfter: notBefore.Add(2 * time.Minute)},
			want: pki.RenewalFloor(notBefore, notBefore.Add(2*time.Minute))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := renewalTime(scTestCertificate(nil), &tc.req, tc.leaf); !got.Equal(tc.want) {
				t.Fatalf("renewal %s, want %s", got, tc.want)
			}
		})
	}
}

// TestServiceCertificateRotationTurnPastExpiry: a certificate whose turn in
// a stretched re-issue window comes at or after its expiry keeps its own
// renewal time, so it is renewed before it expires.
func TestServiceCertificateRotationTurnPastExpiry(t *testing.T) {
	f := newRotationFixture(t)
	in := f.input(t, f.switchedAt, f.ca.Certificate, f.newCA.Certificate)
	own := in.renewalTime
	// A window so long that every turn is past the certificate's expiry.
	in.rotation.reissueWindow = 100 * f.issued.leaf().NotAfter.Sub(f.switchedAt)
	if reason, _, needed := needsIssuance(in); needed {
		t.Fatalf("re-issued at the switch: %s", reason)
	}
	if !in.renewalTime.Equal(own) || !in.reissueAt.IsZero() {
		t.Fatalf("renewal %s (turn %s), want its own renewal time %s", in.renewalTime, in.reissueAt, own)
	}
	if !own.Before(f.issued.leaf().NotAfter) {
		t.Fatalf("the fixture's own renewal %s is not before its expiry", own)
	}
}
