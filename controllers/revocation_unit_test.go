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
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/revocation"
)

// TestRevokedCertificateIsReissued: a revoked certificate is re-issued at
// once, past the hourly limit, within its own budget of three a day, and
// always with a new key.
func TestRevokedCertificateIsReissued(t *testing.T) {
	f := newChainFixture(t)
	req := scTestRequest(t, f.sc)
	now := scTestNow.Add(time.Hour)
	observedAt := func(edit func(o *observed)) decision {
		o := scTestObserved(f.sc.DeepCopy(), req, f.ca, f.issued)
		o.sc.Status.SecretName = f.issued.secret.Name
		edit(o)
		return decide(o, now)
	}
	if d := observedAt(func(o *observed) {}); d.action == actionIssue {
		t.Fatalf("a valid certificate is re-issued: %q", d.reason)
	}
	d := observedAt(func(o *observed) {
		o.revoked = true
		for i := range maxIssuancesPerHourInAll {
			o.sc.Status.RecentIssuances = recordIssuance(o.sc.Status.RecentIssuances, issuanceKey(o.sc, req, f.ca), now.Add(-time.Duration(i+1)*time.Minute))
		}
	})
	if d.action != actionIssue || d.reason != certsmithv1alpha1.ReasonRevoked || !strings.Contains(d.message, f.issued.leaf().SerialNumber.Text(16)) {
		t.Fatalf("revoked, past the hourly limits: action %v reason %q %q", d.action, d.reason, d.message)
	}
	d = observedAt(func(o *observed) {
		o.revoked = true
		o.sc.Status.RecentIssuances = &certsmithv1alpha1.IssuanceHistory{}
		for i := range maxRevocationReissues {
			o.sc.Status.RecentIssuances = recordRevocationReissue(o.sc.Status.RecentIssuances, now.Add(-time.Duration(3-i)*time.Hour))
		}
	})
	if d.action != actionRateLimited || d.limit != maxRevocationReissues || d.wait != 21*time.Hour {
		t.Fatalf("a fourth within a day: action %v limit %d wait %s", d.action, d.limit, d.wait)
	}
	history := &certsmithv1alpha1.IssuanceHistory{}
	for i := range 5 {
		history = recordRevocationReissue(history, now.Add(time.Duration(i)*time.Minute))
	}
	if len(history.RevokedTimes) != maxRevocationReissues {
		t.Fatalf("history keeps %d times", len(history.RevokedTimes))
	}
	if old := recordRevocationReissue(&certsmithv1alpha1.IssuanceHistory{RevokedTimes: []metav1.Time{{Time: now.Add(-25 * time.Hour)}}}, now); len(old.RevokedTimes) != 1 {
		t.Fatalf("a day-old time was kept: %v", old.RevokedTimes)
	}

	req.rotationPolicy = certsmithv1alpha1.RotationPolicyNever
	if key, err := keyFor(req, f.issued, false); err != nil || key != f.issued.key {
		t.Fatalf("rotationPolicy Never keeps the key: %v", err)
	}
	if key, err := keyFor(req, f.issued, true); err != nil || pki.KeyMatchesCertificate(key, f.issued.leaf()) {
		t.Fatalf("a revoked certificate's key was reused: %v", err)
	}
}

// TestCRLDistributionPoints: the issuer's URL with the signing CA's ID, or none.
func TestCRLDistributionPoints(t *testing.T) {
	f := newChainFixture(t)
	issuer := scTestIssuer()
	if got := crlDistributionPoints(issuer, f.ca.Certificate); got != nil {
		t.Fatalf("no URL set: %v", got)
	}
	issuer.Spec.Revocation = &certsmithv1alpha1.RevocationSpec{CRLDistributionPoint: "http://crl.example/crl/corp/$(CA_ID).crl"}
	got := crlDistributionPoints(issuer, f.ca.Certificate)
	if want := "http://crl.example/crl/corp/" + revocation.CAID(f.ca.Certificate) + ".crl"; len(got) != 1 || got[0] != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	if caIDOfFingerprint(pki.FingerprintSHA256(f.ca.Certificate)) != revocation.CAID(f.ca.Certificate) {
		t.Fatal("the CA ID of a fingerprint differs from the CA's")
	}
}

func TestRevokedOnDeleteName(t *testing.T) {
	serial := big.NewInt(0xabcdef)
	if got := revokedOnDeleteName("internal", serial); got != "internal-abcdef" {
		t.Errorf("name = %q, want internal-abcdef", got)
	}
	long := strings.Repeat("a", 250)
	got := revokedOnDeleteName(long, serial)
	if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 || !strings.HasPrefix(got, "revoked-on-delete-") {
		t.Errorf("name of a long issuer = %q (%v), want a valid hashed name", got, errs)
	}
	if again := revokedOnDeleteName(long, serial); again != got {
		t.Errorf("the name is not stable: %q then %q", got, again)
	}
	if other := revokedOnDeleteName(long, big.NewInt(0xabcdee)); other == got {
		t.Errorf("two serials share the name %q", got)
	}
	// A name ending in a dot would make "<issuer>.-<serial>": hashed too.
	if got := revokedOnDeleteName("a.b.", serial); len(validation.IsDNS1123Subdomain(got)) > 0 {
		t.Errorf("name %q is not valid", got)
	}
}

func TestWantsRevokeOnDelete(t *testing.T) {
	on := &certsmithv1alpha1.ClusterIssuer{Spec: certsmithv1alpha1.ClusterIssuerSpec{Revocation: &certsmithv1alpha1.RevocationSpec{RevokeOnDelete: true}}}
	issued := &certsmithv1alpha1.ServiceCertificate{Status: certsmithv1alpha1.ServiceCertificateStatus{SerialNumber: "1f"}}
	if !wantsRevokeOnDelete(issued, on) {
		t.Error("an issued certificate of an issuer revoking on delete wants the finalizer")
	}
	if wantsRevokeOnDelete(&certsmithv1alpha1.ServiceCertificate{}, on) {
		t.Error("a certificate never issued wants no finalizer")
	}
	if wantsRevokeOnDelete(issued, &certsmithv1alpha1.ClusterIssuer{}) || wantsRevokeOnDelete(issued, nil) {
		t.Error("no finalizer without revokeOnDelete")
	}
	deleting := on.DeepCopy()
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	if wantsRevokeOnDelete(issued, deleting) {
		t.Error("no new finalizer for an issuer being deleted")
	}
}

// TestFromDeletion: a revocation made on a deletion is resolved from what
// it recorded then, to the issuer's CAs with that key identifier, and only
// when it carries certsmith's label.
func TestFromDeletion(t *testing.T) {
	now := time.Now()
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 256})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.NewSelfSignedCA(key, pki.CATemplate{Subject: pkix.Name{CommonName: "deleted"}, Duration: 24 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	w := &work{cas: []revocation.CA{{Certificate: cert, Signer: &pki.CA{Certificate: cert, Key: key}}}}
	notAfter := now.Add(time.Hour).UTC().Truncate(time.Second)
	rev := &certsmithv1alpha1.ClusterCertificateRevocation{ObjectMeta: metav1.ObjectMeta{
		Labels: map[string]string{certsmithv1alpha1.LabelRevokedOnDelete: "true"},
		Annotations: map[string]string{
			certsmithv1alpha1.AnnotationServiceCertificate:    "team/web",
			certsmithv1alpha1.AnnotationRevokedNotAfter:       notAfter.Format(time.RFC3339),
			certsmithv1alpha1.AnnotationRevokedAuthorityKeyID: hex.EncodeToString(cert.SubjectKeyId),
		},
	}}
	f := fromDeletion(w, rev, big.NewInt(5))
	if f == nil || len(f.cas) != 1 || f.cas[0] != pki.FingerprintSHA256(cert) || !f.notAfter.Equal(notAfter) || f.serviceCertificate != "team/web" {
		t.Fatalf("fromDeletion = %+v, want the CA, the notAfter and the ServiceCertificate", f)
	}
	other := rev.DeepCopy()
	other.Annotations[certsmithv1alpha1.AnnotationRevokedAuthorityKeyID] = "0102"
	if fromDeletion(w, other, big.NewInt(5)) != nil {
		t.Error("resolved to a CA with another key identifier")
	}
	unlabelled := rev.DeepCopy()
	unlabelled.Labels = nil
	if fromDeletion(w, unlabelled, big.NewInt(5)) != nil {
		t.Error("resolved a revocation certsmith did not make")
	}
	badTime := rev.DeepCopy()
	badTime.Annotations[certsmithv1alpha1.AnnotationRevokedNotAfter] = "soon"
	if fromDeletion(w, badTime, big.NewInt(5)) != nil {
		t.Error("resolved without a notAfter")
	}
}

// TestResolveOrder: revocations never answered come first (oldest first),
// then refused ones by how long ago; resolved ones are left out.
func TestResolveOrder(t *testing.T) {
	at := func(minutes int) metav1.Time {
		return metav1.NewTime(time.Date(2026, 12, 2, 12, minutes, 0, 0, time.UTC))
	}
	rev := func(name string, created int, refusedAt int, serial string) *revocationTarget {
		r := &certsmithv1alpha1.CertificateRevocation{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at(created)}}
		if refusedAt >= 0 {
			r.Status.Conditions = []metav1.Condition{{Type: certsmithv1alpha1.ConditionRevoked, Status: metav1.ConditionFalse,
				Reason: certsmithv1alpha1.ReasonRevocationNoCertificate, LastTransitionTime: at(refusedAt)}}
		}
		if serial != "" {
			now := at(created)
			r.Status.SerialNumber, r.Status.CAFingerprintsSHA256, r.Status.RevokedAt = serial, []string{"AA"}, &now
		}
		return &revocationTarget{namespaced: r}
	}
	targets := []*revocationTarget{
		rev("refused-late", 0, 30, ""),
		rev("new-late", 20, -1, ""),
		rev("done", 1, -1, "1f"),
		rev("refused-early", 0, 10, ""),
		rev("new-early", 5, -1, ""),
	}
	var got []string
	for _, target := range resolveOrder(targets) {
		got = append(got, target.object().GetName())
	}
	if want := []string{"new-early", "new-late", "refused-early", "refused-late"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("order %v, want %v", got, want)
	}
}
