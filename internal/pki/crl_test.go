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

package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/certsmith/certsmith/internal/testutil"
)

// TestCreateCRL: a CRL signed by the CA, with its number, authority key
// identifier, this and next update in whole seconds, and each entry's
// reason (none for unspecified); it lints clean and marks exactly the
// revoked certificates.
func TestCreateCRL(t *testing.T) {
	ca := newTestRootCA(t, ecdsaP256, year, -1)
	key := testKey(t, ecdsaP256)
	var certs []*x509.Certificate
	for range 3 {
		cert, err := ca.Sign(SignRequest{CSR: newTestCSR(t, key, CSRRequest{DNSNames: []string{"a.ns.svc"}}), Usages: []string{UsageServerAuth}, Duration: day, Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, cert)
	}
	now := testNow.Add(time.Hour + 300*time.Millisecond)
	revoked := []Revoked{
		{Serial: certs[0].SerialNumber, RevokedAt: now.Add(-time.Minute), Reason: ReasonKeyCompromise, NotAfter: certs[0].NotAfter},
		{Serial: certs[1].SerialNumber, RevokedAt: now.Add(-time.Minute), Reason: ReasonUnspecified, NotAfter: certs[1].NotAfter},
	}
	der, err := ca.CreateCRL(CRLRequest{Revoked: KeepRevoked(revoked, ca.Certificate.NotAfter, now), Number: big.NewInt(7), Now: now, Validity: day})
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Certificate); err != nil {
		t.Errorf("signature: %v", err)
	}
	if crl.Number.Int64() != 7 || !bytes.Equal(crl.AuthorityKeyId, ca.Certificate.SubjectKeyId) {
		t.Errorf("number %v, AKI %x", crl.Number, crl.AuthorityKeyId)
	}
	if want := now.Truncate(time.Second); !crl.ThisUpdate.Equal(want) || !crl.NextUpdate.Equal(want.Add(day)) {
		t.Errorf("this/next update %s %s", crl.ThisUpdate, crl.NextUpdate)
	}
	reasons := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		reasons[e.SerialNumber.String()] = e.ReasonCode
	}
	if len(reasons) != 2 || reasons[certs[0].SerialNumber.String()] != ReasonKeyCompromise || reasons[certs[1].SerialNumber.String()] != 0 {
		t.Errorf("entries %v", reasons)
	}
	if !IsRevoked(crl, certs[0]) || !IsRevoked(crl, certs[1]) || IsRevoked(crl, certs[2]) {
		t.Error("IsRevoked")
	}
	if err := testutil.LintCRL(der); err != nil {
		t.Error(err)
	}
	if block, _ := pem.Decode(EncodeCRLPEM(der)); block == nil || block.Type != "X509 CRL" || !bytes.Equal(block.Bytes, der) {
		t.Error("PEM")
	}
}

// TestCreateCRLRefuses: what a CRL must not be made of.
func TestCreateCRLRefuses(t *testing.T) {
	ca := newTestRootCA(t, ecdsaP256, year, -1)
	ok := CRLRequest{Number: big.NewInt(1), Now: testNow, Validity: day}
	for name, req := range map[string]CRLRequest{
		"no number":      {Now: testNow, Validity: day},
		"number zero":    {Number: big.NewInt(0), Now: testNow, Validity: day},
		"no validity":    {Number: big.NewInt(1), Now: testNow},
		"removeFromCRL":  {Number: big.NewInt(1), Now: testNow, Validity: day, Revoked: []Revoked{{Serial: big.NewInt(5), Reason: ReasonRemoveFromCRL}}},
		"reason 7":       {Number: big.NewInt(1), Now: testNow, Validity: day, Revoked: []Revoked{{Serial: big.NewInt(5), Reason: 7}}},
		"no serial":      {Number: big.NewInt(1), Now: testNow, Validity: day, Revoked: []Revoked{{Reason: ReasonSuperseded}}},
		"the CA expired": {Number: big.NewInt(1), Now: ca.Certificate.NotAfter.Add(time.Second), Validity: day},
	} {
		if _, err := ca.CreateCRL(req); err == nil {
			t.Errorf("%s: made a CRL", name)
		}
	}
	// nextUpdate never passes the CA's expiry.
	ok.Now = ca.Certificate.NotAfter.Add(-time.Hour)
	der, err := ca.CreateCRL(ok)
	if err != nil {
		t.Fatal(err)
	}
	crl, _ := x509.ParseRevocationList(der)
	if !crl.NextUpdate.Equal(ca.Certificate.NotAfter.UTC()) {
		t.Errorf("next update %s past the CA's %s", crl.NextUpdate, ca.Certificate.NotAfter)
	}
}

// TestKeepRevoked: expired certificates leave, unknown ones stay until
// the CA expires; the order is by serial.
func TestKeepRevoked(t *testing.T) {
	caNotAfter := testNow.Add(year)
	entries := []Revoked{
		{Serial: big.NewInt(30), NotAfter: testNow.Add(time.Hour)},
		{Serial: big.NewInt(10), NotAfter: testNow.Add(-time.Second)}, // expired
		{Serial: big.NewInt(20)},                                      // unknown certificate
	}
	kept := KeepRevoked(entries, caNotAfter, testNow)
	if len(kept) != 2 || kept[0].Serial.Int64() != 20 || kept[1].Serial.Int64() != 30 {
		t.Errorf("kept %v", kept)
	}
	if late := KeepRevoked(entries, caNotAfter, caNotAfter); len(late) != 0 {
		t.Errorf("after the CA expired: %v", late)
	}
	if got := CRLRefreshTime(testNow, testNow.Add(24*time.Hour)); !got.Equal(testNow.Add(16 * time.Hour)) {
		t.Errorf("refresh %s", got)
	}
}

// BenchmarkCreateCRL10000 signs a CRL of 10,000 revoked serials with an
// ECDSA P-256 CA (docs/benchmarks.md).
func BenchmarkCreateCRL10000(b *testing.B) {
	ca := newTestRootCA(b, ecdsaP256, year, -1)
	revoked := make([]Revoked, 10000)
	for i := range revoked {
		serial, _ := newSerialNumber()
		revoked[i] = Revoked{Serial: serial, RevokedAt: testNow, Reason: ReasonKeyCompromise, NotAfter: testNow.Add(day)}
	}
	var size int
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		der, err := ca.CreateCRL(CRLRequest{Revoked: KeepRevoked(revoked, ca.Certificate.NotAfter, testNow), Number: big.NewInt(int64(i + 1)), Now: testNow, Validity: day})
		if err != nil {
			b.Fatal(err)
		}
		size = len(der)
	}
	b.ReportMetric(float64(size), "bytes/CRL")
}
