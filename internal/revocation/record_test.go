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

package revocation

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/certsmith/certsmith/internal/pki"
)

func testCA(t *testing.T, now time.Time, lifetime time.Duration) *pki.CA {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 256})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.NewSelfSignedCA(key, pki.CATemplate{Subject: pkix.Name{CommonName: "revocation test"}, Duration: lifetime, MaxPathLen: 0}, now)
	if err != nil {
		t.Fatal(err)
	}
	return &pki.CA{Certificate: cert, Key: key}
}

func entry(ca *pki.CA, serial int64, revokedAt, notAfter time.Time, namespace string) Entry {
	return Entry{CA: CAID(ca.Certificate), Namespace: namespace,
		Revoked: pki.Revoked{Serial: big.NewInt(serial), RevokedAt: revokedAt.Truncate(time.Second), Reason: pki.ReasonKeyCompromise, NotAfter: notAfter.Truncate(time.Second)}}
}

func parse(t *testing.T, der []byte) *x509.RevocationList {
	t.Helper()
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

// TestPlanLifecycle: a first CRL at once, new entries coalesced for
// MinInterval, refresh at two thirds, expired entries dropped, a CA gone
// takes its entries and CRL along, numbers always increase.
func TestPlanLifecycle(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ca := testCA(t, now, 30*24*time.Hour)
	cas := []CA{{Certificate: ca.Certificate, Signer: ca}}
	rec, res, err := Plan(&Record{}, cas, now, DefaultValidity)
	if err != nil || !res.Changed || len(rec.CRLs) != 1 {
		t.Fatalf("first plan: %v %+v %d CRLs", err, res, len(rec.CRLs))
	}
	first := parse(t, rec.CRLs[0].DER)
	if err := first.CheckSignatureFrom(ca.Certificate); err != nil || len(first.RevokedCertificateEntries) != 0 {
		t.Fatalf("first CRL: %v, %d entries", err, len(first.RevokedCertificateEntries))
	}

	// Nothing changed: nothing signed, due again at two thirds.
	again, res, err := Plan(rec, cas, now.Add(time.Minute), DefaultValidity)
	if err != nil || res.Changed || len(res.Signed) != 0 || !res.Next.Equal(now.Add(16*time.Hour)) {
		t.Fatalf("quiet plan: %v %+v", err, res)
	}

	// A revocation within MinInterval of the last CRL waits for it.
	if _, err := again.Add(entry(ca, 42, now.Add(5*time.Second), now.Add(time.Hour), "tenant")); err != nil {
		t.Fatal(err)
	}
	held, res, err := Plan(again, cas, now.Add(5*time.Second), DefaultValidity)
	if err != nil || len(res.Signed) != 0 || !res.Next.Equal(now.Add(MinInterval)) {
		t.Fatalf("coalesced plan: %v %+v", err, res)
	}
	if held.Lists(CAID(ca.Certificate), big.NewInt(42)) {
		t.Fatal("listed before a CRL was made")
	}
	signed, res, err := Plan(held, cas, now.Add(MinInterval), DefaultValidity)
	if err != nil || len(res.Signed) != 1 || !signed.Lists(CAID(ca.Certificate), big.NewInt(42)) {
		t.Fatalf("plan after the interval: %v %+v", err, res)
	}
	crl := parse(t, signed.CRLs[0].DER)
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].ReasonCode != pki.ReasonKeyCompromise || crl.Number.Cmp(first.Number) <= 0 {
		t.Fatalf("second CRL: %+v, number %s after %s", crl.RevokedCertificateEntries, crl.Number, first.Number)
	}

	// Past the certificate's expiry the entry leaves, and the CRL follows.
	later := now.Add(2 * time.Hour)
	dropped, res, err := Plan(signed, cas, later, DefaultValidity)
	if err != nil || len(dropped.Entries) != 0 || len(res.Signed) != 1 || len(parse(t, dropped.CRLs[0].DER).RevokedCertificateEntries) != 0 {
		t.Fatalf("after expiry: %v %+v, %d entries", err, res, len(dropped.Entries))
	}

	// The CA gone: its entries and CRL go too.
	other := testCA(t, now, 30*24*time.Hour)
	if _, err := dropped.Add(entry(ca, 7, later, later.Add(time.Hour), "")); err != nil {
		t.Fatal(err)
	}
	gone, res, err := Plan(dropped, []CA{{Certificate: other.Certificate, Signer: other}}, later.Add(time.Minute), DefaultValidity)
	if err != nil || len(gone.Entries) != 0 || len(gone.CRLs) != 1 || gone.CRLs[0].CA != CAID(other.Certificate) || !res.Changed {
		t.Fatalf("CA gone: %v %+v %+v", err, res, gone.CRLs)
	}

	// A CA without a key keeps its entries but gets no CRL.
	keyless, _, err := Plan(dropped, []CA{{Certificate: ca.Certificate}}, later.Add(time.Minute), DefaultValidity)
	if err != nil || len(keyless.Entries) != 1 || len(keyless.CRLs) != 0 {
		t.Fatalf("keyless CA: %v, %d entries, %d CRLs", err, len(keyless.Entries), len(keyless.CRLs))
	}
}

// TestRecordRoundTripAndBounds: encode and decode agree; duplicates are
// not added twice; the per-namespace and total bounds hold; a damaged
// record is an error, never a silently shorter list.
func TestRecordRoundTripAndBounds(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ca := testCA(t, now, 30*24*time.Hour)
	rec := &Record{}
	unknown := entry(ca, 99, now, time.Time{}, "")
	unknown.NotAfter = time.Time{}
	for _, e := range []Entry{entry(ca, 1, now, now.Add(time.Hour), "a"), unknown} {
		if added, err := rec.Add(e); !added || err != nil {
			t.Fatalf("add: %v %v", added, err)
		}
	}
	if added, _ := rec.Add(entry(ca, 1, now.Add(time.Hour), now.Add(2*time.Hour), "a")); added {
		t.Fatal("the same serial was added twice")
	}
	rec, _, err := Plan(rec, []CA{{Certificate: ca.Certificate, Signer: ca}}, now, DefaultValidity)
	if err != nil {
		t.Fatal(err)
	}
	data, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Entries) != 2 || len(back.CRLs) != 1 || string(back.PEM()) != string(rec.PEM()) || !back.Lists(CAID(ca.Certificate), big.NewInt(99)) {
		t.Fatalf("round trip: %+v", back)
	}
	if e, _ := back.Lookup(CAID(ca.Certificate), big.NewInt(99)); !e.NotAfter.IsZero() || e.Namespace != "" {
		t.Fatalf("unknown entry read back as %+v", e)
	}

	for i := 1; i < MaxEntriesPerNamespace; i++ {
		if _, err := back.Add(entry(ca, int64(1000+i), now, now.Add(time.Hour), "a")); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	if _, err := back.Add(entry(ca, 5, now, now.Add(time.Hour), "a")); !errors.Is(err, ErrFull) {
		t.Fatalf("past the namespace bound: %v", err)
	}
	if _, err := back.Add(entry(ca, 5, now, now.Add(time.Hour), "b")); err != nil {
		t.Fatalf("another namespace: %v", err)
	}
	for i := len(back.Entries); i < MaxEntries; i++ {
		if _, err := back.Add(entry(ca, int64(100000+i), now, now.Add(time.Hour), "")); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	if _, err := back.Add(entry(ca, 6, now, now.Add(time.Hour), "")); !errors.Is(err, ErrFull) {
		t.Fatalf("past the total bound: %v", err)
	}
	full, _, err := Plan(back, []CA{{Certificate: ca.Certificate, Signer: ca}}, now.Add(time.Minute), DefaultValidity)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := full.Encode(); err != nil || len(data) == 0 {
		t.Fatalf("a full record does not fit a Secret: %v", err)
	}

	for name, damaged := range map[string]string{
		"fields":   "abc 1 2\n",
		"serial":   CAID(ca.Certificate) + " zz 1 0 0 -\n",
		"negative": CAID(ca.Certificate) + " -5 1 0 0 -\n",
		"reason":   CAID(ca.Certificate) + " 5 1 8 0 -\n",
		"time":     CAID(ca.Certificate) + " 5 x 0 0 -\n",
	} {
		if _, err := Decode(map[string][]byte{KeyEntries: []byte(damaged)}); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Decode(map[string][]byte{KeyState: []byte("{not json")}); err == nil {
		t.Error("unreadable state accepted")
	}
}

func TestSecretName(t *testing.T) {
	if got := SecretName("corp"); got != "corp-revocations" {
		t.Fatal(got)
	}
	long := strings.Repeat("a", 250)
	if got := SecretName(long); len(got) > 253 || !strings.HasSuffix(got, "-revocations") || got == SecretName(long+"b") {
		t.Fatalf("%d %q", len(got), got)
	}
}

// TestPlanOneCAFails: a CA that cannot sign CRLs (no cRLSign key usage)
// is reported and keeps no CRL; the other CA's CRL and every entry are
// still brought up to date.
func TestPlanOneCAFails(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	good := testCA(t, now.Add(-time.Hour), 365*24*time.Hour)
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 256})
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "no crl sign"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, SubjectKeyId: []byte{1, 2, 3, 4},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	bad := &pki.CA{Certificate: cert, Key: key}
	rec := &Record{Entries: []Entry{
		entry(good, 10, now, now.Add(time.Hour), "a"),
		entry(bad, 11, now, now.Add(time.Hour), "a"),
	}}
	out, res, err := Plan(rec, []CA{{Certificate: good.Certificate, Signer: good}, {Certificate: bad.Certificate, Signer: bad}}, now, DefaultValidity)
	if err != nil {
		t.Fatalf("Plan failed as a whole: %v", err)
	}
	if res.Failed[CAID(bad.Certificate)] == nil || len(res.Failed) != 1 {
		t.Errorf("Failed = %v, want the CA without cRLSign only", res.Failed)
	}
	if len(out.CRLs) != 1 || out.CRLs[0].CA != CAID(good.Certificate) {
		t.Fatalf("CRLs %+v, want the good CA's only", out.CRLs)
	}
	if len(out.Entries) != 2 {
		t.Errorf("entries %d, want both kept", len(out.Entries))
	}
	if !res.Changed || len(res.Signed) != 1 {
		t.Errorf("changed %v signed %v, want the good CA's CRL signed", res.Changed, res.Signed)
	}
}

// TestListsDoesNotFlap: a serial in the signed CRL stays listed when other
// revocations are added before the next CRL.
func TestListsDoesNotFlap(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ca := testCA(t, now.Add(-time.Hour), 365*24*time.Hour)
	cas := []CA{{Certificate: ca.Certificate, Signer: ca}}
	rec := &Record{Entries: []Entry{entry(ca, 1, now, now.Add(time.Hour), "a")}}
	signed, _, err := Plan(rec, cas, now, DefaultValidity)
	if err != nil {
		t.Fatal(err)
	}
	if !signed.Lists(CAID(ca.Certificate), big.NewInt(1)) {
		t.Fatal("the signed CRL does not list serial 1")
	}
	if _, err := signed.Add(entry(ca, 2, now, now.Add(time.Hour), "b")); err != nil {
		t.Fatal(err)
	}
	if !signed.Lists(CAID(ca.Certificate), big.NewInt(1)) {
		t.Error("serial 1 looks unpublished once serial 2 was added")
	}
	if signed.Lists(CAID(ca.Certificate), big.NewInt(2)) {
		t.Error("serial 2 looks published before a CRL lists it")
	}
}

// TestAddKeepsRoomForAdmins: namespaces together fill the record only up
// to MaxEntries-ReservedForCluster; an admin's cluster-scoped revocation
// still fits.
func TestAddKeepsRoomForAdmins(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ca := testCA(t, now.Add(-time.Hour), 365*24*time.Hour)
	rec := &Record{}
	for i := range MaxEntries - ReservedForCluster {
		ns := fmt.Sprintf("team-%d", i/MaxEntriesPerNamespace)
		if _, err := rec.Add(entry(ca, int64(10+i), now, now.Add(time.Hour), ns)); err != nil {
			t.Fatalf("entry %d of %s: %v", i, ns, err)
		}
	}
	if _, err := rec.Add(entry(ca, 1, now, now.Add(time.Hour), "newcomer")); !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "cluster-scoped") {
		t.Fatalf("a namespace's revocation into the reserve: %v", err)
	}
	if added, err := rec.Add(entry(ca, 2, now, now.Add(time.Hour), "")); err != nil || !added {
		t.Fatalf("an admin's revocation: %v", err)
	}
}
