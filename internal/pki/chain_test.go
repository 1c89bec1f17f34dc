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
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// chainPKI is a small hierarchy created at testNow:
//
//	root ── inter1 ── inter2
//	root2 (same subject as root, another key)
type chainPKI struct {
	root, root2    *CA
	inter1, inter2 *CA
}

func newChainPKI(t *testing.T) chainPKI {
	t.Helper()
	root := newTestRootCA(t, ecdsaP256, year, -1)
	root2 := newTestRootCA(t, ecdsaP256, year, -1)
	inter1 := signTestIntermediate(t, root, "certsmith inter 1", 180*day, -1)
	inter2 := signTestIntermediate(t, inter1, "certsmith inter 2", 90*day, 0)
	return chainPKI{root: root, root2: root2, inter1: inter1, inter2: inter2}
}

// signTestIntermediate has parent sign a CA certificate for a fresh key,
// through Sign (not NewIntermediateCA, which is under test), and returns
// it with its chain.
func signTestIntermediate(t *testing.T, parent *CA, cn string, duration time.Duration, maxPathLen int) *CA {
	t.Helper()
	key, err := GenerateKey(ecdsaP256)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	return signTestIntermediateFor(t, parent, key, cn, duration, maxPathLen)
}

func signTestIntermediateFor(t *testing.T, parent *CA, key crypto.Signer, cn string, duration time.Duration, maxPathLen int) *CA {
	t.Helper()
	cert, err := parent.Sign(SignRequest{
		CSR:      newTestCSR(t, key, CSRRequest{Subject: pkix.Name{CommonName: cn}}),
		Duration: duration, IsCA: true, MaxPathLen: maxPathLen, Now: testNow,
	})
	if err != nil {
		t.Fatalf("signing %s: %v", cn, err)
	}
	return &CA{Certificate: cert, Chain: append([]*x509.Certificate{parent.Certificate}, parent.Chain...), Key: key}
}

// signTestLeaf has ca sign a leaf certificate for a.example at now.
func signTestLeaf(t *testing.T, ca *CA, duration time.Duration, now time.Time) *x509.Certificate {
	t.Helper()
	cert, err := ca.Sign(SignRequest{
		CSR:    newTestCSR(t, testKey(t, ecdsaP256), CSRRequest{DNSNames: []string{"a.example"}}),
		Usages: []string{UsageDigitalSignature, UsageServerAuth}, Duration: duration, Now: now,
	})
	if err != nil {
		t.Fatalf("signing a leaf: %v", err)
	}
	return cert
}

// withChain returns a copy of ca with another chain.
func withChain(ca *CA, chain ...*x509.Certificate) *CA {
	return &CA{Certificate: ca.Certificate, Chain: chain, Key: ca.Key}
}

// certList is the set of certs as their subjects and serials, for messages.
func certList(certs []*x509.Certificate) string {
	parts := make([]string, 0, len(certs))
	for _, c := range certs {
		if c == nil {
			parts = append(parts, "<nil>")
			continue
		}
		parts = append(parts, c.Subject.CommonName+"#"+c.SerialNumber.Text(16)[:8])
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// sameCerts reports whether got and want hold the same certificates in the
// same order.
func sameCerts(got, want []*x509.Certificate) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			return false
		}
	}
	return true
}

// sameCertSet reports whether got and want hold the same certificates, in
// any order, each once.
func sameCertSet(got, want []*x509.Certificate) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		n := 0
		for _, g := range got {
			if g.Equal(w) {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}

// reparsed returns a distinct *x509.Certificate with the same bytes.
func reparsed(t *testing.T, cert *x509.Certificate) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type certs = []*x509.Certificate

func TestTrustAnchorsAndIntermediates(t *testing.T) {
	p := newChainPKI(t)
	root, inter1, inter2 := p.root.Certificate, p.inter1.Certificate, p.inter2.Certificate
	tests := []struct {
		name              string
		ca                *CA
		wantAnchors       certs
		wantIntermediates certs
	}{
		{"root: itself, no intermediates", p.root, certs{root}, nil},
		{"two levels", p.inter1, certs{root}, certs{inter1}},
		{"three levels, in order", p.inter2, certs{root}, certs{inter2, inter1}},
		{"imported intermediate with its parent, without the root", withChain(p.inter2, inter1), certs{inter1}, certs{inter2}},
		{"imported intermediate without a chain", withChain(p.inter2), certs{inter2}, nil},
		{"root listed again at the end of its own chain", withChain(p.root, root), certs{root}, nil},
		// Roots skips a nil tail: a self-signed CA is then its own anchor,
		// and for any other TrustAnchors returns that slot as is.
		{"root with a nil chain tail", withChain(p.root, nil), certs{root}, certs{nil}},
		{"chain ending in nil", withChain(p.inter2, inter1, nil), certs{nil}, certs{inter2, inter1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TrustAnchors(tt.ca); !sameCerts(got, tt.wantAnchors) {
				t.Errorf("TrustAnchors = %s, want %s", certList(got), certList(tt.wantAnchors))
			}
			if got := Intermediates(tt.ca); !sameCerts(got, tt.wantIntermediates) {
				t.Errorf("Intermediates = %s, want %s", certList(got), certList(tt.wantIntermediates))
			}
		})
	}
}

func TestContainsCertificate(t *testing.T) {
	p := newChainPKI(t)
	root, root2, inter1 := p.root.Certificate, p.root2.Certificate, p.inter1.Certificate
	tests := []struct {
		name  string
		certs certs
		cert  *x509.Certificate
		want  bool
	}{
		{"empty list", nil, root, false},
		{"first", certs{root, inter1}, root, true},
		{"last", certs{root, inter1}, inter1, true},
		{"absent", certs{root, inter1}, p.inter2.Certificate, false},
		{"same bytes, another pointer", certs{inter1, root}, reparsed(t, root), true},
		{"same subject, another certificate", certs{root}, root2, false},
		{"nil is not a certificate of the list", certs{root}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ContainsCertificate(tt.certs, tt.cert); got != tt.want {
				t.Errorf("ContainsCertificate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAppendNew(t *testing.T) {
	p := newChainPKI(t)
	a, b, c := p.root.Certificate, p.inter1.Certificate, p.inter2.Certificate
	tests := []struct {
		name  string
		certs certs
		more  certs
		want  certs
	}{
		{"nothing to add", certs{a}, nil, certs{a}},
		{"to nil", nil, certs{a, b}, certs{a, b}},
		{"order kept", certs{c}, certs{b, a}, certs{c, b, a}},
		{"already held", certs{a, b}, certs{b, a}, certs{a, b}},
		{"same bytes, another pointer", certs{a}, certs{reparsed(t, a)}, certs{a}},
		{"duplicates among more", certs{a}, certs{b, b, reparsed(t, b)}, certs{a, b}},
		{"nil skipped", certs{a}, certs{nil, b, nil}, certs{a, b}},
		{"only nil", nil, certs{nil}, nil},
		{"same subject is not the same certificate", certs{a}, certs{p.root2.Certificate}, certs{a, p.root2.Certificate}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AppendNew(tt.certs, tt.more...); !sameCerts(got, tt.want) {
				t.Errorf("AppendNew = %s, want %s", certList(got), certList(tt.want))
			}
		})
	}
}

func TestChainsTo(t *testing.T) {
	p := newChainPKI(t)
	leafOfRoot := signTestLeaf(t, p.root, 90*day, testNow)
	leafOfRoot2 := signTestLeaf(t, p.root2, 90*day, testNow)
	leafOfInter1 := signTestLeaf(t, p.inter1, 30*day, testNow)
	leafOfInter2 := signTestLeaf(t, p.inter2, 30*day, testNow)
	start := func(c *x509.Certificate) time.Time { return c.NotBefore.Add(time.Second) }
	tests := []struct {
		name string
		cert *x509.Certificate
		ca   *CA
		at   time.Time
		want bool
	}{
		{"leaf of a root", leafOfRoot, p.root, start(leafOfRoot), true},
		{"leaf of a root, later in its life", leafOfRoot, p.root, testNow.Add(89 * day), true},
		{"signed by another CA with the same subject", leafOfRoot2, p.root, start(leafOfRoot2), false},
		{"checked against another CA with the same subject", leafOfRoot, p.root2, start(leafOfRoot), false},
		{"expired at the given time", leafOfRoot, p.root, leafOfRoot.NotAfter.Add(time.Second), false},
		{"not yet valid at the given time", leafOfRoot, p.root, leafOfRoot.NotBefore.Add(-time.Second), false},
		{"leaf of a two-level chain", leafOfInter1, p.inter1, start(leafOfInter1), true},
		{"leaf of a three-level chain", leafOfInter2, p.inter2, start(leafOfInter2), true},
		{"intermediate to its parent", p.inter2.Certificate, p.inter1, start(p.inter2.Certificate), true},
		{"intermediate to its root", p.inter1.Certificate, p.root, start(p.inter1.Certificate), true},
		{"leaf of the child, asked about the parent", leafOfInter2, p.inter1, start(leafOfInter2), false},
		{"leaf of the parent, asked about the child", leafOfInter1, p.inter2, start(leafOfInter1), false},
		{"wrong chain: root of another key", leafOfInter1, withChain(p.inter1, p.root2.Certificate), start(leafOfInter1), false},
		{"wrong chain: parent missing", leafOfInter2, withChain(p.inter2, p.root.Certificate), start(leafOfInter2), false},
		{"imported intermediate without a chain", leafOfInter2, withChain(p.inter2), start(leafOfInter2), true},
		{"imported intermediate with its parent only", leafOfInter2, withChain(p.inter2, p.inter1.Certificate), start(leafOfInter2), true},
		{"zero time", leafOfRoot, p.root, time.Time{}, false},
		{"nil certificate", nil, p.root, testNow, false},
		{"nil CA", leafOfRoot, nil, testNow, false},
		{"CA without a certificate", leafOfRoot, &CA{}, testNow, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for try := range 2 { // the second answer is the memo's
				if got := ChainsTo(tt.cert, tt.ca, tt.at); got != tt.want {
					t.Errorf("ChainsTo (try %d) = %v, want %v", try+1, got, tt.want)
				}
			}
		})
	}

	t.Run("a signature changed in memory is not taken for the original", func(t *testing.T) {
		if !ChainsTo(leafOfRoot, p.root, start(leafOfRoot)) {
			t.Fatal("the original does not chain")
		}
		forged := *leafOfRoot
		forged.Signature = slices.Clone(leafOfRoot.Signature)
		forged.Signature[len(forged.Signature)-1] ^= 1
		if ChainsTo(&forged, p.root, start(leafOfRoot)) {
			t.Fatal("a leaf with a changed signature chains, from the memo")
		}
	})

	t.Run("bounded", func(t *testing.T) {
		for i := range 2 * chainsToMemoSize {
			chainsTo.put([32]byte{byte(i), byte(i >> 8), 2}, true)
		}
		chainsTo.mu.Lock()
		n := len(chainsTo.answers)
		chainsTo.mu.Unlock()
		if n > chainsToMemoSize {
			t.Fatalf("%d remembered answers, more than %d", n, chainsToMemoSize)
		}
	})
}

func TestAnchorsOf(t *testing.T) {
	p := newChainPKI(t)
	root, root2, inter1, inter2 := p.root.Certificate, p.root2.Certificate, p.inter1.Certificate, p.inter2.Certificate
	// Leaves valid for an hour from testNow: AnchorsOf must build chains
	// at the leaf's start, not at the wall clock (when they have expired).
	leafOfRoot := signTestLeaf(t, p.root, time.Hour, testNow)
	leafOfInter1 := signTestLeaf(t, p.inter1, time.Hour, testNow)
	leafOfInter2 := signTestLeaf(t, p.inter2, time.Hour, testNow)

	// The same key and subject certified twice by root, and once by root2:
	// a leaf of that key has two chains to root and one to root2.
	sharedKey, err := GenerateKey(ecdsaP256)
	if err != nil {
		t.Fatal(err)
	}
	twinA := signTestIntermediateFor(t, p.root, sharedKey, "certsmith twin", 90*day, 0)
	twinB := signTestIntermediateFor(t, p.root, sharedKey, "certsmith twin", 90*day, 0)
	cross := signTestIntermediateFor(t, p.root2, sharedKey, "certsmith twin", 90*day, 0)
	leafOfTwin := signTestLeaf(t, twinA, time.Hour, testNow)
	if chains, err := leafOfTwin.Verify(x509.VerifyOptions{Roots: poolOf(root), Intermediates: poolOf(twinA.Certificate, twinB.Certificate),
		CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil || len(chains) != 2 {
		t.Fatalf("the twins give %d chains (%v), want 2: the dedup case would test nothing", len(chains), err)
	}

	tests := []struct {
		name    string
		cert    *x509.Certificate
		known   certs
		trusted certs
		want    certs
		anyOrd  bool
	}{
		{"self-signed: itself", root, nil, nil, certs{root}, false},
		{"self-signed: itself, whatever is known", root, certs{inter1, root2}, certs{root2}, certs{root}, false},
		{"leaf of a root", leafOfRoot, certs{root}, nil, certs{root}, false},
		{"intermediate found through known", leafOfInter1, certs{inter1, root}, nil, certs{root}, false},
		{"two intermediates found through known", leafOfInter2, certs{root, inter2, inter1}, nil, certs{root}, false},
		{"root only in trusted", leafOfInter1, certs{inter1}, certs{root}, certs{root}, false},
		{"issuer only in trusted", leafOfInter1, nil, certs{inter1}, certs{inter1}, false},
		{"trusted intermediate above an intermediate of known", leafOfInter2, certs{inter2}, certs{inter1}, certs{inter1}, false},
		{"a trusted intermediate ends the chain before its root", leafOfInter1, certs{inter1, root}, certs{inter1}, certs{inter1}, false},
		{"no path: root missing", leafOfInter1, certs{inter1}, nil, nil, false},
		{"no path: intermediate missing", leafOfInter2, certs{inter1, root}, nil, nil, false},
		{"no path: root of the same subject, another key", leafOfRoot, certs{root2}, certs{root2}, nil, false},
		{"no path: nothing known", leafOfRoot, nil, nil, nil, false},
		{"two chains to one root: deduplicated", leafOfTwin, certs{twinA.Certificate, twinB.Certificate, root}, nil, certs{root}, false},
		{"same root in known and trusted: once", leafOfRoot, certs{root}, certs{root, reparsed(t, root)}, certs{root}, false},
		{"cross-signed: both anchors", leafOfTwin, certs{twinA.Certificate, cross.Certificate, root, root2}, nil, certs{root, root2}, true},
		{"nil certificate", nil, certs{root}, certs{root}, nil, false},
		{"nil entries in known and trusted are skipped", leafOfInter1, certs{nil, inter1, nil}, certs{nil, root}, certs{root}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AnchorsOf(tt.cert, tt.known, tt.trusted)
			if ok := sameCerts(got, tt.want); tt.anyOrd {
				ok = sameCertSet(got, tt.want)
				if !ok {
					t.Errorf("AnchorsOf = %s, want %s in any order", certList(got), certList(tt.want))
				}
			} else if !ok {
				t.Errorf("AnchorsOf = %s, want %s", certList(got), certList(tt.want))
			}
			if tt.want == nil && got != nil {
				t.Errorf("AnchorsOf = %#v, want nil", got)
			}
		})
	}
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

func TestNewIntermediateCA(t *testing.T) {
	root := newTestRootCA(t, ecdsaP256, year, -1)
	limited := newTestRootCA(t, ecdsaP256, year, 1)
	inter1 := signTestIntermediate(t, root, "certsmith inter 1", 180*day, 2)
	inter2 := signTestIntermediate(t, inter1, "certsmith inter 2", 90*day, 1)
	later := testNow.Add(10 * day)
	tests := []struct {
		name           string
		parent         *CA
		duration       time.Duration
		maxPathLen     int
		now            time.Time
		wantNotAfter   time.Time
		wantMaxPathLen int
		wantZero       bool
		wantChain      certs
	}{
		{"under a root, unlimited", root, 90 * day, -1, testNow, testNow.Add(90 * day), -1, false, certs{root.Certificate}},
		{"under a root, leaves only", root, 90 * day, 0, testNow, testNow.Add(90 * day), 0, true, certs{root.Certificate}},
		{"under a root, two levels", root, 90 * day, 2, later, later.Add(90 * day), 2, false, certs{root.Certificate}},
		{"below a limited root", limited, 30 * day, 0, testNow, testNow.Add(30 * day), 0, true, certs{limited.Certificate}},
		{"notAfter capped by the parent", root, 10 * year, -1, later, root.Certificate.NotAfter, -1, false, certs{root.Certificate}},
		{"under an intermediate: parent, then root", inter1, 30 * day, 1, testNow, testNow.Add(30 * day), 1, false, certs{inter1.Certificate, root.Certificate}},
		{"third level, capped by the parent", inter2, year, 0, testNow, inter2.Certificate.NotAfter, 0, true, certs{inter2.Certificate, inter1.Certificate, root.Certificate}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := GenerateKey(ed25519s)
			if err != nil {
				t.Fatal(err)
			}
			subject := pkix.Name{CommonName: "certsmith new " + tt.name, Organization: []string{"certsmith"}}
			parentChain := append(certs(nil), tt.parent.Chain...)
			ca, err := NewIntermediateCA(tt.parent, key, IntermediateTemplate{Subject: subject, Duration: tt.duration, MaxPathLen: tt.maxPathLen}, tt.now)
			if err != nil {
				t.Fatalf("NewIntermediateCA: %v", err)
			}
			cert := ca.Certificate
			if !cert.IsCA || !cert.BasicConstraintsValid {
				t.Errorf("IsCA = %v, BasicConstraintsValid = %v; want a CA", cert.IsCA, cert.BasicConstraintsValid)
			}
			if cert.MaxPathLen != tt.wantMaxPathLen || cert.MaxPathLenZero != tt.wantZero {
				t.Errorf("MaxPathLen = %d (zero %v), want %d (zero %v)", cert.MaxPathLen, cert.MaxPathLenZero, tt.wantMaxPathLen, tt.wantZero)
			}
			if cert.Subject.String() != subject.String() {
				t.Errorf("subject %q, want %q", cert.Subject, subject)
			}
			if !cert.NotAfter.Equal(tt.wantNotAfter) {
				t.Errorf("NotAfter = %v, want %v", cert.NotAfter, tt.wantNotAfter)
			}
			if want := tt.now.Add(-Backdate); !cert.NotBefore.Equal(want) {
				t.Errorf("NotBefore = %v, want %v", cert.NotBefore, want)
			}
			if cert.KeyUsage&x509.KeyUsageCertSign == 0 {
				t.Errorf("KeyUsage %b lacks cert sign", cert.KeyUsage)
			}
			if err := cert.CheckSignatureFrom(tt.parent.Certificate); err != nil {
				t.Errorf("not signed by the parent: %v", err)
			}
			if !PublicKeysEqual(ca.Key.Public(), key.Public()) || !KeyMatchesCertificate(ca.Key, cert) {
				t.Errorf("the CA's key is not the one given")
			}
			if !sameCerts(ca.Chain, tt.wantChain) {
				t.Errorf("Chain = %s, want %s", certList(ca.Chain), certList(tt.wantChain))
			}
			// The new CA signs leaves that chain to it, and it chains to
			// its parent.
			if leaf := signTestLeaf(t, ca, day, tt.now); !ChainsTo(leaf, ca, leaf.NotBefore.Add(time.Second)) {
				t.Errorf("a leaf of the new CA does not chain to it")
			}
			if !ChainsTo(cert, tt.parent, cert.NotBefore.Add(time.Second)) {
				t.Errorf("the new CA does not chain to its parent")
			}
			// The chain is the CA's own: changing it leaves the parent's alone.
			ca.Chain[len(ca.Chain)-1] = nil
			if !sameCerts(tt.parent.Chain, parentChain) {
				t.Errorf("the new CA's chain shares its array with the parent's")
			}
		})
	}
}

// swappingSigner shows BuildCSR a supported public key, then signs the
// request with another one, of a curve certsmith does not support (an HSM
// handle that changed under us): the only way for a CSR that BuildCSR made
// not to parse.
type swappingSigner struct {
	first crypto.Signer
	then  crypto.Signer
	calls int
}

func (s *swappingSigner) Public() crypto.PublicKey {
	s.calls++
	if s.calls == 1 {
		return s.first.Public()
	}
	return s.then.Public()
}

func (s *swappingSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.then.Sign(rand, digest, opts)
}

func TestNewIntermediateCAErrors(t *testing.T) {
	root := newTestRootCA(t, ecdsaP256, year, -1)
	limited := newTestRootCA(t, ecdsaP256, year, 1)
	leavesOnly := newTestRootCA(t, ecdsaP256, year, 0)
	key := testKey(t, ecdsaP256)
	subject := pkix.Name{CommonName: "certsmith new"}
	ok := IntermediateTemplate{Subject: subject, Duration: day, MaxPathLen: -1}
	tests := []struct {
		name    string
		parent  *CA
		key     crypto.Signer
		tmpl    IntermediateTemplate
		now     time.Time
		wantErr error // nil: any error
	}{
		{"no key", root, nil, ok, testNow, nil},
		{"key whose CSR does not parse", root, &swappingSigner{first: key, then: p224Key(t)}, ok, testNow, ErrUnsupportedKey},
		{"parent expired", root, key, ok, root.Certificate.NotAfter.Add(time.Second), ErrCAExpired},
		{"parent signs leaves only", leavesOnly, key, IntermediateTemplate{Subject: subject, Duration: day, MaxPathLen: 0}, testNow, nil},
		{"unlimited below a limited parent", limited, key, ok, testNow, nil},
		{"path length not below the parent's", limited, key, IntermediateTemplate{Subject: subject, Duration: day, MaxPathLen: 1}, testNow, nil},
		{"zero duration", root, key, IntermediateTemplate{Subject: subject, MaxPathLen: -1}, testNow, nil},
		{"bad path length", root, key, IntermediateTemplate{Subject: subject, Duration: day, MaxPathLen: -2}, testNow, nil},
		{"parent without a key", &CA{Certificate: root.Certificate}, key, ok, testNow, nil},
		{"no parent", nil, key, ok, testNow, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, err := NewIntermediateCA(tt.parent, tt.key, tt.tmpl, tt.now)
			if err == nil {
				t.Fatalf("NewIntermediateCA succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if ca != nil {
				t.Errorf("CA returned along with an error")
			}
		})
	}
}

func TestParseCA(t *testing.T) {
	p := newChainPKI(t)
	root, root2, inter1, inter2 := p.root.Certificate, p.root2.Certificate, p.inter1.Certificate, p.inter2.Certificate
	pemOf := EncodeCertificatesPEM
	keyOf := func(ca *CA) []byte { return mustEncodeKey(t, ca.Key, KeyEncodingPKCS8) }
	rootKey, inter1Key, inter2Key := keyOf(p.root), keyOf(p.inter1), mustEncodeKey(t, p.inter2.Key, KeyEncodingPKCS1)
	leafKey := testKey(t, ecdsaP256)
	leaf := signTestLeaf(t, p.root, day, testNow) // for testKey(ecdsaP256)
	garbage := []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
	keyBlock, _ := pem.Decode(rootKey)
	corruptKey := pem.EncodeToMemory(&pem.Block{Type: keyBlock.Type, Bytes: keyBlock.Bytes[:len(keyBlock.Bytes)-8]})

	tests := []struct {
		name      string
		cert, key []byte
		roots     []byte
		wantChain certs // the CA's certificate is the first of cert
		wantErr   error // with wantPart: nil means any error
		wantPart  string
	}{
		// A root needs nothing more; roots are not even read.
		{name: "root", cert: pemOf(root), key: rootKey},
		{name: "root, roots ignored", cert: pemOf(root), key: rootKey, roots: pemOf(root2)},
		{name: "root, garbage roots not read", cert: pemOf(root), key: rootKey, roots: garbage},
		{name: "key of another encoding", cert: pemOf(inter2, inter1, root), key: inter2Key, wantChain: certs{inter1, root}},
		{name: "full chain", cert: pemOf(inter1, root), key: inter1Key, wantChain: certs{root}},
		{name: "full chain, roots ignored", cert: pemOf(inter1, root), key: inter1Key, roots: pemOf(root2, root), wantChain: certs{root}},
		{name: "full chain, garbage roots not read", cert: pemOf(inter1, root), key: inter1Key, roots: garbage, wantChain: certs{root}},
		{name: "chain without root, no roots", cert: pemOf(inter2, inter1), key: inter2Key, wantChain: certs{inter1}},
		{name: "chain without root, root added", cert: pemOf(inter2, inter1), key: inter2Key, roots: pemOf(root), wantChain: certs{inter1, root}},
		{name: "no chain, root added", cert: pemOf(inter1), key: inter1Key, roots: pemOf(root), wantChain: certs{root}},
		{name: "root added once", cert: pemOf(inter1), key: inter1Key, roots: pemOf(root, root), wantChain: certs{root}},
		{name: "non-self-signed roots ignored", cert: pemOf(inter2), key: inter2Key, roots: pemOf(inter1), wantChain: nil},
		{name: "non-self-signed issuer ignored, root does not issue the top", cert: pemOf(inter2), key: inter2Key, roots: pemOf(inter1, root), wantChain: nil},
		{name: "root of another key not added", cert: pemOf(inter1), key: inter1Key, roots: pemOf(root2), wantChain: nil},
		{name: "bundle of roots, issuer last: the issuer only", cert: pemOf(inter1), key: inter1Key, roots: pemOf(root2, root), wantChain: certs{root}},
		{name: "bundle of roots, issuer first: the issuer only", cert: pemOf(inter2, inter1), key: inter2Key, roots: pemOf(root, root2), wantChain: certs{inter1, root}},
		{name: "root already in the (misordered) chain not added again", cert: pemOf(inter2, root, inter1), key: inter2Key, roots: pemOf(root), wantChain: certs{root, inter1}},
		{name: "other blocks of roots skipped", cert: pemOf(inter1), key: inter1Key, roots: append(append([]byte(nil), rootKey...), pemOf(root)...), wantChain: certs{root}},

		{name: "no certificate", key: rootKey, wantErr: ErrNoCertificate, wantPart: "certificate"},
		{name: "nothing at all", wantErr: ErrNoCertificate, wantPart: "certificate"},
		{name: "no key", cert: pemOf(root), wantErr: ErrNoKey, wantPart: "key"},
		{name: "empty key", cert: pemOf(root), key: []byte{}, wantErr: ErrNoKey, wantPart: "key"},
		{name: "garbage certificate", cert: garbage, key: rootKey, wantErr: ErrMalformedPEM, wantPart: "certificate"},
		{name: "certificate is not PEM", cert: []byte("tls.crt"), key: rootKey, wantErr: ErrMalformedPEM, wantPart: "certificate"},
		{name: "key is a certificate", cert: pemOf(root), key: pemOf(root), wantErr: ErrMalformedPEM, wantPart: "key"},
		{name: "corrupt key", cert: pemOf(root), key: corruptKey, wantPart: "key"},
		{name: "certificate is not a CA", cert: pemOf(leaf, root), key: mustEncodeKey(t, leafKey, KeyEncodingPKCS8), wantPart: "certificate"},
		{name: "key does not match", cert: pemOf(inter1, root), key: rootKey, wantPart: "key"},
		{name: "key of the chain's next certificate", cert: pemOf(inter2, inter1), key: inter1Key, wantPart: "key"},
		{name: "garbage roots", cert: pemOf(inter1), key: inter1Key, roots: garbage, wantErr: ErrMalformedPEM, wantPart: "roots"},
		{name: "roots without a certificate", cert: pemOf(inter1), key: inter1Key, roots: rootKey, wantErr: ErrMalformedPEM, wantPart: "roots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, err := ParseCA(tt.cert, tt.key, tt.roots)
			if tt.wantPart != "" {
				if err == nil {
					t.Fatalf("ParseCA succeeded, want a %s error", tt.wantPart)
				}
				if ca != nil {
					t.Errorf("CA returned along with an error")
				}
				var parseErr *CAParseError
				if !errors.As(err, &parseErr) {
					t.Fatalf("error %v (%T) is not a *CAParseError", err, err)
				}
				if parseErr.Part != tt.wantPart {
					t.Errorf("Part = %q, want %q (%v)", parseErr.Part, tt.wantPart, err)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v is not %v", err, tt.wantErr)
				}
				if want := parseErr.Part + ": " + parseErr.Err.Error(); err.Error() != want {
					t.Errorf("Error() = %q, want %q", err.Error(), want)
				}
				if errors.Unwrap(err) != parseErr.Err {
					t.Errorf("Unwrap does not return the cause")
				}
				if strings.Contains(err.Error(), "-----BEGIN") {
					t.Errorf("error quotes PEM: %q", err)
				}
				checkNoKeyMaterial(t, err, tt.key)
				return
			}
			if err != nil {
				t.Fatalf("ParseCA: %v", err)
			}
			want, err := ParseCertificatesPEM(tt.cert)
			if err != nil {
				t.Fatal(err)
			}
			if !ca.Certificate.Equal(want[0]) {
				t.Errorf("Certificate = %q, want %q", ca.Certificate.Subject, want[0].Subject)
			}
			if !sameCerts(ca.Chain, tt.wantChain) {
				t.Errorf("Chain = %s, want %s", certList(ca.Chain), certList(tt.wantChain))
			}
			if ca.Key == nil || !KeyMatchesCertificate(ca.Key, ca.Certificate) {
				t.Errorf("the key does not match the certificate")
			}
		})
	}

	// What ParseCA returns is usable: it signs leaves that chain to it.
	ca, err := ParseCA(pemOf(inter2, inter1), inter2Key, pemOf(root, root2))
	if err != nil {
		t.Fatalf("ParseCA: %v", err)
	}
	if leaf := signTestLeaf(t, ca, day, testNow); !ChainsTo(leaf, ca, leaf.NotBefore.Add(time.Second)) {
		t.Errorf("a leaf of the parsed CA does not chain to it (anchors %s)", certList(TrustAnchors(ca)))
	}
}

// TestParseCAPrefersTheLongestValidRoot: of two roots with the same key
// (one re-issued), ca.crt may list the expired one first; the anchor is the
// one valid longest.
func TestParseCAPrefersTheLongestValidRoot(t *testing.T) {
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	key, _ := GenerateKey(KeySpec{Algorithm: KeyAlgorithmECDSA})
	subject := pkix.Name{CommonName: "corp root"}
	oldRoot, _ := NewSelfSignedCA(key, CATemplate{Subject: subject, Duration: 365 * 24 * time.Hour, MaxPathLen: -1}, t0)
	newRoot, _ := NewSelfSignedCA(key, CATemplate{Subject: subject, Duration: 20 * 365 * 24 * time.Hour, MaxPathLen: -1}, t0.Add(300*24*time.Hour))
	now := t0.Add(2 * 365 * 24 * time.Hour)
	interKey, _ := GenerateKey(KeySpec{Algorithm: KeyAlgorithmECDSA})
	inter, err := NewIntermediateCA(&CA{Certificate: newRoot, Key: key}, interKey, IntermediateTemplate{Subject: pkix.Name{CommonName: "issuing"}, Duration: 365 * 24 * time.Hour, MaxPathLen: 0}, now)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := EncodePrivateKeyPEM(inter.Key, KeyEncodingPKCS8)
	for _, order := range [][]*x509.Certificate{{oldRoot, newRoot}, {newRoot, oldRoot}} {
		parsed, err := ParseCA(EncodeCertificatesPEM(inter.Certificate), keyPEM, EncodeCertificatesPEM(order...))
		if err != nil {
			t.Fatal(err)
		}
		if anchor := TrustAnchors(parsed)[0]; !anchor.Equal(newRoot) {
			t.Fatalf("anchor valid until %s, want the re-issued root (until %s)", anchor.NotAfter, newRoot.NotAfter)
		}
	}
}
