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
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"
)

var oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}

// extension returns cert's extension with the given id, or nil.
func extension(cert *x509.Certificate, id asn1.ObjectIdentifier) *pkix.Extension {
	for i := range cert.Extensions {
		if cert.Extensions[i].Id.Equal(id) {
			return &cert.Extensions[i]
		}
	}
	return nil
}

func TestNewSelfSignedCA(t *testing.T) {
	tests := []struct {
		name           string
		spec           KeySpec
		maxPathLen     int
		wantMaxPathLen int
		wantZero       bool
	}{
		{"ECDSA unlimited", ecdsaP256, -1, -1, false},
		{"RSA leaves only", rsa2048, 0, 0, true},
		{"Ed25519 two levels", ed25519s, 2, 2, false},
	}
	const duration = 10 * 365 * 24 * time.Hour
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testKey(t, tt.spec)
			subject := pkix.Name{CommonName: "certsmith root", Organization: []string{"certsmith"}}
			cert, err := NewSelfSignedCA(key, CATemplate{Subject: subject, Duration: duration, MaxPathLen: tt.maxPathLen}, testNow)
			if err != nil {
				t.Fatalf("NewSelfSignedCA: %v", err)
			}
			if !cert.IsCA || !cert.BasicConstraintsValid {
				t.Errorf("IsCA = %v, BasicConstraintsValid = %v, want both true", cert.IsCA, cert.BasicConstraintsValid)
			}
			if ext := extension(cert, oidBasicConstraints); ext == nil || !ext.Critical {
				t.Errorf("basic constraints missing or not critical")
			}
			if cert.MaxPathLen != tt.wantMaxPathLen || cert.MaxPathLenZero != tt.wantZero {
				t.Errorf("MaxPathLen = %d (zero %v), want %d (zero %v)", cert.MaxPathLen, cert.MaxPathLenZero, tt.wantMaxPathLen, tt.wantZero)
			}
			wantUsage := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
			if cert.KeyUsage != wantUsage {
				t.Errorf("KeyUsage = %v, want %v", cert.KeyUsage, wantUsage)
			}
			wantSKI, err := SubjectKeyID(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(cert.SubjectKeyId, wantSKI) || len(cert.SubjectKeyId) != 20 {
				t.Errorf("SubjectKeyId = %x, want %x", cert.SubjectKeyId, wantSKI)
			}
			if len(cert.AuthorityKeyId) != 0 && !bytes.Equal(cert.AuthorityKeyId, cert.SubjectKeyId) {
				t.Errorf("AuthorityKeyId = %x, want none or the SKI", cert.AuthorityKeyId)
			}
			if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() < 64 {
				t.Errorf("serial %v is not a positive number of at least 64 bits", cert.SerialNumber)
			}
			if want := testNow.Add(-time.Minute); !cert.NotBefore.Equal(want) {
				t.Errorf("NotBefore = %v, want %v", cert.NotBefore, want)
			}
			if want := testNow.Add(duration); !cert.NotAfter.Equal(want) {
				t.Errorf("NotAfter = %v, want %v", cert.NotAfter, want)
			}
			if cert.Subject.String() != subject.String() || !IsSelfSigned(cert) {
				t.Errorf("subject %q (self-signed %v), want %q self-signed", cert.Subject, IsSelfSigned(cert), subject)
			}
			if !KeyMatchesCertificate(key, cert) {
				t.Errorf("certificate does not match the key")
			}
		})
	}
}

func TestNewSelfSignedCAErrors(t *testing.T) {
	key := testKey(t, ecdsaP256)
	subject := pkix.Name{CommonName: "root"}
	tests := []struct {
		name string
		key  crypto.Signer
		tmpl CATemplate
	}{
		{"zero duration", key, CATemplate{Subject: subject}},
		{"negative duration", key, CATemplate{Subject: subject, Duration: -time.Hour}},
		{"empty subject", key, CATemplate{Duration: time.Hour}},
		{"bad path length", key, CATemplate{Subject: subject, Duration: time.Hour, MaxPathLen: -2}},
		{"nil key", nil, CATemplate{Subject: subject, Duration: time.Hour}},
		{"unsupported curve", p224Key(t), CATemplate{Subject: subject, Duration: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSelfSignedCA(tt.key, tt.tmpl, testNow); err == nil {
				t.Fatalf("NewSelfSignedCA succeeded, want an error")
			}
		})
	}
}

// p224Key returns an ECDSA key on a curve that certsmith does not support.
func p224Key(t testing.TB) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestNewSelfSignedCAExternalSigner(t *testing.T) {
	// A signer of an unknown type (an HSM or KMS handle) works as long as
	// its public key is supported.
	key := opaqueSigner{testKey(t, ecdsaP256)}
	cert, err := NewSelfSignedCA(key, CATemplate{Subject: pkix.Name{CommonName: "kms root"}, Duration: time.Hour, MaxPathLen: -1}, testNow)
	if err != nil {
		t.Fatalf("NewSelfSignedCA: %v", err)
	}
	ca := &CA{Certificate: cert, Key: key}
	csr := newTestCSR(t, testKey(t, ed25519s), CSRRequest{DNSNames: []string{"a.example"}})
	if _, err := ca.Sign(SignRequest{CSR: csr, Usages: []string{UsageServerAuth}, Duration: time.Hour, Now: testNow}); err != nil {
		t.Fatalf("Sign with an external signer: %v", err)
	}
}

func TestRoots(t *testing.T) {
	root := newTestRootCA(t, ecdsaP256, 24*time.Hour, -1)
	intermediateKey := testKey(t, ecdsaP256)
	intermediateCert, err := root.Sign(SignRequest{
		CSR:        newTestCSR(t, intermediateKey, CSRRequest{Subject: pkix.Name{CommonName: "intermediate"}}),
		Duration:   time.Hour,
		IsCA:       true,
		MaxPathLen: 0,
		Now:        testNow,
	})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	tests := []struct {
		name string
		ca   *CA
		want []*x509.Certificate
	}{
		{"root", root, []*x509.Certificate{root.Certificate}},
		{"intermediate with chain", &CA{Certificate: intermediateCert, Chain: []*x509.Certificate{root.Certificate}, Key: intermediateKey}, []*x509.Certificate{root.Certificate}},
		{"intermediate without chain", &CA{Certificate: intermediateCert, Key: intermediateKey}, nil},
		{"nil CA", nil, nil},
		{"empty CA", &CA{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.ca.Roots()
			if len(got) != len(tt.want) {
				t.Fatalf("Roots() returned %d certificates, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Errorf("root %d is %q, want %q", i, got[i].Subject, tt.want[i].Subject)
				}
			}
		})
	}
}

// TestIsSelfSignedRemembersByContent: the remembered answer belongs to the
// certificate's content, so a certificate whose signature was changed is
// not taken for the self-signed one it was copied from, and the memo stays
// bounded.
func TestIsSelfSignedRemembersByContent(t *testing.T) {
	key, err := GenerateKey(KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 256})
	if err != nil {
		t.Fatal(err)
	}
	root, err := NewSelfSignedCA(key, CATemplate{Subject: pkix.Name{CommonName: "memo"}, Duration: time.Hour, MaxPathLen: -1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second answer comes from the memo
		if !IsSelfSigned(root) {
			t.Fatal("a self-signed root is not self-signed")
		}
	}
	forged := *root
	forged.Signature = bytes.Clone(root.Signature)
	forged.Signature[len(forged.Signature)-1] ^= 1
	if IsSelfSigned(&forged) {
		t.Fatal("a root with a changed signature is taken as self-signed")
	}
	if !IsSelfSigned(root) {
		t.Fatal("the original is no longer self-signed")
	}
	for i := range 2 * selfSignedMemoSize {
		selfSigned.put([32]byte{byte(i), byte(i >> 8), 1}, true)
	}
	selfSigned.mu.Lock()
	n := len(selfSigned.answers)
	selfSigned.mu.Unlock()
	if n > selfSignedMemoSize {
		t.Fatalf("%d remembered answers, more than %d", n, selfSignedMemoSize)
	}
}

// TestDigestOfParts: the parts are length-prefixed, so moving bytes from
// one part to the next, or adding an empty part, changes the digest.
func TestDigestOfParts(t *testing.T) {
	base := DigestOfParts([]byte("ab"), []byte("c"))
	for name, other := range map[string][sha256.Size]byte{
		"bytes moved to the next part": DigestOfParts([]byte("a"), []byte("bc")),
		"one part":                     DigestOfParts([]byte("abc")),
		"an empty part added":          DigestOfParts([]byte("ab"), []byte("c"), nil),
		"another byte":                 DigestOfParts([]byte("ab"), []byte("d")),
	} {
		if other == base {
			t.Errorf("%s: same digest", name)
		}
	}
	if DigestOfParts([]byte("ab"), []byte("c")) != base {
		t.Error("the same parts give another digest")
	}
}
