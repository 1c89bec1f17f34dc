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
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"net/url"
	"reflect"
	"testing"
	"time"
)

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

const (
	day  = 24 * time.Hour
	year = 365 * day
)

func TestSignSerialNumbers(t *testing.T) {
	ca := newTestRootCA(t, ecdsaP256, year, -1)
	csr := newTestCSR(t, testKey(t, ecdsaP256), CSRRequest{DNSNames: []string{"a.example"}})
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		cert, err := ca.Sign(SignRequest{CSR: csr, Usages: []string{UsageServerAuth}, Duration: day, Now: testNow})
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		serial := cert.SerialNumber
		if serial.Sign() <= 0 {
			t.Fatalf("serial %v is not positive", serial)
		}
		if serial.BitLen() < 64 || serial.BitLen() > 128 {
			t.Fatalf("serial has %d bits, want 64..128", serial.BitLen())
		}
		if seen[serial.String()] {
			t.Fatalf("serial %v issued twice", serial)
		}
		seen[serial.String()] = true
	}
}

func TestSignCopiesNamesAndSetsExtensions(t *testing.T) {
	spiffe, _ := url.Parse("spiffe://cluster.local/ns/a/sa/b")
	ca := newTestRootCA(t, ecdsaP256, year, -1)
	key := testKey(t, rsa2048)
	subject := pkix.Name{
		CommonName:   "api.a.svc",
		Organization: []string{"a"},
		// An attribute that pkix.Name has no field for must survive too.
		ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: "uid-42"}},
	}
	csr := newTestCSR(t, key, CSRRequest{
		Subject:        subject,
		DNSNames:       []string{"api.a.svc", "api.a.svc.cluster.local"},
		IPAddresses:    []net.IP{net.ParseIP("10.0.0.1").To4()},
		URIs:           []*url.URL{spiffe},
		EmailAddresses: []string{"ops@example.com"},
	})
	cert, err := ca.Sign(SignRequest{CSR: csr, Usages: []string{UsageDigitalSignature, UsageServerAuth}, Duration: 30 * day, Now: testNow})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if !bytes.Equal(cert.RawSubject, csr.RawSubject) {
		t.Errorf("subject %q, want %q", cert.Subject, csr.Subject)
	}
	if !bytes.Equal(cert.RawIssuer, ca.Certificate.RawSubject) {
		t.Errorf("issuer %q, want %q", cert.Issuer, ca.Certificate.Subject)
	}
	if !reflect.DeepEqual(cert.DNSNames, csr.DNSNames) || !reflect.DeepEqual(cert.EmailAddresses, csr.EmailAddresses) ||
		len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(csr.IPAddresses[0]) ||
		len(cert.URIs) != 1 || cert.URIs[0].String() != spiffe.String() {
		t.Errorf("SANs not copied: DNS %v IP %v URI %v email %v", cert.DNSNames, cert.IPAddresses, cert.URIs, cert.EmailAddresses)
	}
	if ext := extension(cert, oidSubjectAltName); ext == nil || ext.Critical {
		t.Errorf("SAN extension missing, or critical although the subject is not empty")
	}
	wantSKI, _ := SubjectKeyID(key.Public())
	if len(cert.SubjectKeyId) == 0 || !bytes.Equal(cert.SubjectKeyId, wantSKI) {
		t.Errorf("SubjectKeyId = %x, want %x", cert.SubjectKeyId, wantSKI)
	}
	if len(cert.AuthorityKeyId) == 0 || !bytes.Equal(cert.AuthorityKeyId, ca.Certificate.SubjectKeyId) {
		t.Errorf("AuthorityKeyId = %x, want the CA's SKI %x", cert.AuthorityKeyId, ca.Certificate.SubjectKeyId)
	}
	if ext := extension(cert, oidBasicConstraints); ext == nil || !ext.Critical {
		t.Errorf("basic constraints missing or not critical")
	}
	if !cert.BasicConstraintsValid || cert.IsCA {
		t.Errorf("BasicConstraintsValid = %v, IsCA = %v; want a valid CA:FALSE", cert.BasicConstraintsValid, cert.IsCA)
	}
	if !KeyMatchesCertificate(key, cert) {
		t.Errorf("certificate does not carry the CSR's key")
	}
	if err := cert.CheckSignatureFrom(ca.Certificate); err != nil {
		t.Errorf("certificate not signed by the CA: %v", err)
	}
}

func TestSignIgnoresRequestedExtensions(t *testing.T) {
	ca := newTestRootCA(t, ecdsaP256, year, -1)
	key := testKey(t, ecdsaP256)
	// A CSR that asks for CA:TRUE through a basic constraints extension.
	bc, _ := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{true})
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: "sneaky"},
		ExtraExtensions: []pkix.Extension{{Id: oidBasicConstraints, Critical: true, Value: bc}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(SignRequest{CSR: csr, Usages: []string{UsageClientAuth}, Duration: day, Now: testNow})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if cert.IsCA {
		t.Errorf("the CSR's basic constraints extension made the certificate a CA")
	}
}

func TestSignEmptySubjectMakesSANCritical(t *testing.T) {
	ca := newTestRootCA(t, ecdsaP256, year, -1)
	csr := newTestCSR(t, testKey(t, ecdsaP256), CSRRequest{URIs: []*url.URL{{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/a/sa/b"}}})
	cert, err := ca.Sign(SignRequest{CSR: csr, Usages: []string{UsageClientAuth}, Duration: day, Now: testNow})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if len(cert.Subject.Names) != 0 {
		t.Fatalf("subject %q is not empty", cert.Subject)
	}
	if ext := extension(cert, oidSubjectAltName); ext == nil || !ext.Critical {
		t.Errorf("SAN extension of a certificate with an empty subject must be critical (RFC 5280, 4.2.1.6)")
	}
}

// TestSignSANsReplaceTheRequests: SANs, when given, are the certificate's
// names and the CSR's are not read; with an empty subject the extension is
// critical.
func TestSignSANsReplaceTheRequests(t *testing.T) {
	ca := newTestRootCA(t, ecdsaP256, year, -1)
	csr := newTestCSR(t, testKey(t, ecdsaP256), CSRRequest{Subject: pkix.Name{CommonName: "kubernetes.default.svc"}, DNSNames: []string{"kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}, URIs: []*url.URL{{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/kube-system/sa/admin"}}})
	want := &url.URL{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/shop/sa/web"}
	cert, err := ca.Sign(SignRequest{CSR: csr, Usages: []string{UsageClientAuth}, Duration: day, Now: testNow,
		Subject: &pkix.Name{}, SANs: &SubjectAltNames{DNSNames: []string{"web.shop.svc"}, URIs: []*url.URL{want}}})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if !reflect.DeepEqual(cert.DNSNames, []string{"web.shop.svc"}) || len(cert.IPAddresses) != 0 || len(cert.URIs) != 1 ||
		cert.URIs[0].String() != want.String() || len(cert.Subject.Names) != 0 {
		t.Errorf("names %v %v %v, subject %q", cert.DNSNames, cert.IPAddresses, cert.URIs, cert.Subject)
	}
	if ext := extension(cert, oidSubjectAltName); ext == nil || !ext.Critical {
		t.Error("the SAN extension of an empty subject is not critical")
	}
}

func TestSignValidityWindow(t *testing.T) {
	const caDuration = year
	ca := newTestRootCA(t, ecdsaP256, caDuration, -1)
	caNotBefore, caNotAfter := ca.Certificate.NotBefore, ca.Certificate.NotAfter
	csr := newTestCSR(t, testKey(t, ecdsaP256), CSRRequest{DNSNames: []string{"a.example"}})
	tests := []struct {
		name          string
		now           time.Time
		duration      time.Duration
		wantNotBefore time.Time
		wantNotAfter  time.Time
	}{
		{"backdated one minute", testNow.Add(30 * day), 90 * day, testNow.Add(30*day - time.Minute), testNow.Add(120 * day)},
		{"just after the CA was created", testNow.Add(20 * time.Second), time.Hour, testNow.Add(-40 * time.Second), testNow.Add(time.Hour + 20*time.Second)},
		{"backdate clamped to the CA's NotBefore", testNow.Add(-90 * time.Second), time.Hour, caNotBefore, testNow.Add(time.Hour - 90*time.Second)},
		{"capped at the CA's NotAfter", testNow.Add(300 * day), 90 * day, testNow.Add(300*day - time.Minute), caNotAfter},
		{"sub-second now truncated", testNow.Add(day + 700*time.Millisecond), time.Hour, testNow.Add(day - time.Minute), testNow.Add(day + time.Hour)},
		{"at the CA's NotAfter", caNotAfter, time.Hour, caNotAfter.Add(-time.Minute), caNotAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, err := ca.Sign(SignRequest{CSR: csr, Usages: []string{UsageServerAuth}, Duration: tt.duration, Now: tt.now})
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if !cert.NotBefore.Equal(tt.wantNotBefore) {
				t.Errorf("NotBefore = %v, want %v", cert.NotBefore, tt.wantNotBefore)
			}
			if !cert.NotAfter.Equal(tt.wantNotAfter) {
				t.Errorf("NotAfter = %v, want %v", cert.NotAfter, tt.wantNotAfter)
			}
			if cert.NotBefore.Before(caNotBefore) || cert.NotAfter.After(caNotAfter) {
				t.Errorf("validity %v..%v is outside the CA's %v..%v", cert.NotBefore, cert.NotAfter, caNotBefore, caNotAfter)
			}
			if backdate := tt.now.Sub(cert.NotBefore); backdate > time.Minute+time.Second {
				t.Errorf("backdated by %v, want at most a minute", backdate)
			}
		})
	}
}

func TestSignKeyUsagesByKeyType(t *testing.T) {
	ca := newTestRootCA(t, ecdsaP256, year, -1)
	requested := []string{UsageDigitalSignature, UsageKeyEncipherment, UsageKeyAgreement, UsageDataEncipherment, UsageContentCommitment, UsageServerAuth}
	tests := []struct {
		name string
		spec KeySpec
		want x509.KeyUsage
	}{
		{"RSA keeps everything", rsa2048, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement | x509.KeyUsageDataEncipherment | x509.KeyUsageContentCommitment},
		{"ECDSA drops key encipherment", ecdsaP256, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement | x509.KeyUsageDataEncipherment | x509.KeyUsageContentCommitment},
		{"Ed25519 keeps only signature usages", ed25519s, x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := newTestCSR(t, testKey(t, tt.spec), CSRRequest{DNSNames: []string{"a.example"}})
			cert, err := ca.Sign(SignRequest{CSR: csr, Usages: requested, Duration: day, Now: testNow})
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if cert.KeyUsage != tt.want {
				t.Errorf("KeyUsage = %b, want %b", cert.KeyUsage, tt.want)
			}
		})
	}
}

func TestParseUsages(t *testing.T) {
	tests := []struct {
		name    string
		usages  []string
		wantKU  x509.KeyUsage
		wantEKU []x509.ExtKeyUsage
		wantErr bool
	}{
		{"none", nil, 0, nil, false},
		{"typical server", []string{"digital signature", "key encipherment", "server auth"}, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, false},
		{"signing is digital signature", []string{"signing"}, x509.KeyUsageDigitalSignature, nil, false},
		{"all key usages", []string{"signing", "digital signature", "content commitment", "key encipherment", "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only"},
			x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageEncipherOnly | x509.KeyUsageDecipherOnly, nil, false},
		{"all ext key usages", []string{"any", "server auth", "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"}, 0,
			[]x509.ExtKeyUsage{x509.ExtKeyUsageAny, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageCodeSigning, x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageIPSECEndSystem, x509.ExtKeyUsageIPSECTunnel, x509.ExtKeyUsageIPSECUser, x509.ExtKeyUsageTimeStamping, x509.ExtKeyUsageOCSPSigning, x509.ExtKeyUsageMicrosoftServerGatedCrypto, x509.ExtKeyUsageNetscapeServerGatedCrypto}, false},
		{"duplicates collapse", []string{"client auth", "server auth", "client auth"}, 0, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, false},
		{"unknown", []string{"server auth", "serverAuth"}, 0, nil, true},
		{"wrong case", []string{"Server Auth"}, 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ku, eku, err := ParseUsages(tt.usages)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseUsages succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseUsages: %v", err)
			}
			if ku != tt.wantKU || !reflect.DeepEqual(eku, tt.wantEKU) {
				t.Errorf("ParseUsages = %b, %v; want %b, %v", ku, eku, tt.wantKU, tt.wantEKU)
			}
		})
	}
	_, _, err := ParseUsages([]string{"server auth", "frobnicate"})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`"frobnicate"`)) {
		t.Errorf("error %v does not name the unknown usage", err)
	}
}

func TestSignExtKeyUsages(t *testing.T) {
	ca := newTestRootCA(t, ecdsaP256, year, -1)
	csr := newTestCSR(t, testKey(t, ecdsaP256), CSRRequest{DNSNames: []string{"a.example"}})
	cert, err := ca.Sign(SignRequest{CSR: csr, Usages: []string{UsageDigitalSignature, UsageServerAuth, UsageClientAuth}, Duration: day, Now: testNow})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	want := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if !reflect.DeepEqual(cert.ExtKeyUsage, want) {
		t.Errorf("ExtKeyUsage = %v, want %v", cert.ExtKeyUsage, want)
	}
}

func TestSignIntermediateCA(t *testing.T) {
	tests := []struct {
		name           string
		maxPathLen     int
		wantMaxPathLen int
		wantZero       bool
	}{
		{"leaves only", 0, 0, true},
		{"one level", 1, 1, false},
		{"unlimited", -1, -1, false},
	}
	root := newTestRootCA(t, ecdsaP256, year, -1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := newTestCSR(t, testKey(t, ed25519s), CSRRequest{Subject: pkix.Name{CommonName: "intermediate"}})
			cert, err := root.Sign(SignRequest{CSR: csr, Usages: []string{UsageKeyEncipherment}, Duration: 90 * day, IsCA: true, MaxPathLen: tt.maxPathLen, Now: testNow})
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if !cert.IsCA || !cert.BasicConstraintsValid {
				t.Errorf("not a CA certificate")
			}
			if cert.MaxPathLen != tt.wantMaxPathLen || cert.MaxPathLenZero != tt.wantZero {
				t.Errorf("MaxPathLen = %d (zero %v), want %d (zero %v)", cert.MaxPathLen, cert.MaxPathLenZero, tt.wantMaxPathLen, tt.wantZero)
			}
			if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature; cert.KeyUsage != want {
				t.Errorf("KeyUsage = %b, want %b (key encipherment dropped for Ed25519)", cert.KeyUsage, want)
			}
		})
	}
}

func TestSignRefusals(t *testing.T) {
	root := newTestRootCA(t, ecdsaP256, year, -1)
	leafKey := testKey(t, ecdsaP256)
	csr := newTestCSR(t, leafKey, CSRRequest{DNSNames: []string{"a.example"}})
	leafCert, err := root.Sign(SignRequest{CSR: csr, Usages: []string{UsageServerAuth}, Duration: day, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	leavesOnly := newTestRootCA(t, ecdsaP256, year, 0)
	twoLevels := newTestRootCA(t, ecdsaP256, year, 2)

	tamperedCSR := *csr
	tamperedCSR.Signature = append([]byte(nil), csr.Signature...)
	tamperedCSR.Signature[len(tamperedCSR.Signature)-1] ^= 1

	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakCSR := newTestCSR(t, rsa1024, CSRRequest{DNSNames: []string{"weak.example"}})

	ok := SignRequest{CSR: csr, Usages: []string{UsageServerAuth}, Duration: day, Now: testNow}
	with := func(change func(*SignRequest)) SignRequest {
		req := ok
		change(&req)
		return req
	}
	tests := []struct {
		name    string
		ca      *CA
		req     SignRequest
		wantErr error // nil: any error
	}{
		{"cert sign without IsCA", root, with(func(r *SignRequest) { r.Usages = []string{UsageCertSign, UsageServerAuth} }), nil},
		{"expired CA", root, with(func(r *SignRequest) { r.Now = root.Certificate.NotAfter.Add(time.Second) }), ErrCAExpired},
		{"zero duration", root, with(func(r *SignRequest) { r.Duration = 0 }), nil},
		{"negative duration", root, with(func(r *SignRequest) { r.Duration = -time.Hour }), nil},
		{"unknown usage", root, with(func(r *SignRequest) { r.Usages = []string{"world domination"} }), nil},
		{"no CSR", root, with(func(r *SignRequest) { r.CSR = nil }), nil},
		{"tampered CSR", root, with(func(r *SignRequest) { r.CSR = &tamperedCSR }), ErrBadCSRSignature},
		{"DSA-like unknown key", root, with(func(r *SignRequest) {
			r.CSR = &x509.CertificateRequest{PublicKeyAlgorithm: x509.DSA, PublicKey: struct{ Y int }{1}}
		}), ErrUnsupportedKey},
		{"no public key", root, with(func(r *SignRequest) { r.CSR = &x509.CertificateRequest{} }), ErrUnsupportedKey},
		{"P-224 key", root, with(func(r *SignRequest) { r.CSR = &x509.CertificateRequest{PublicKey: p224.Public()} }), ErrUnsupportedKey},
		{"X25519 key", root, with(func(r *SignRequest) { r.CSR = &x509.CertificateRequest{PublicKey: x25519.PublicKey()} }), ErrUnsupportedKey},
		{"RSA 1024 key", root, with(func(r *SignRequest) { r.CSR = weakCSR }), ErrUnsupportedKey},
		{"CA certificate is a leaf", &CA{Certificate: leafCert, Key: leafKey}, ok, nil},
		{"CA key does not match", &CA{Certificate: root.Certificate, Key: testKey(t, ed25519s)}, ok, nil},
		{"CA without key", &CA{Certificate: root.Certificate}, ok, nil},
		{"nil CA", nil, ok, nil},
		{"CA that may sign only leaves asked for a CA", leavesOnly, with(func(r *SignRequest) { r.IsCA = true }), nil},
		{"path length not below the CA's", twoLevels, with(func(r *SignRequest) { r.IsCA = true; r.MaxPathLen = 2 }), nil},
		{"unlimited path length below a limited CA", twoLevels, with(func(r *SignRequest) { r.IsCA = true; r.MaxPathLen = -1 }), nil},
		{"bad path length", root, with(func(r *SignRequest) { r.IsCA = true; r.MaxPathLen = -5 }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, err := tt.ca.Sign(tt.req)
			if err == nil {
				t.Fatalf("Sign succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if cert != nil {
				t.Errorf("certificate returned along with an error")
			}
		})
	}

	// The same requests succeed where the constraint allows them.
	if _, err := twoLevels.Sign(with(func(r *SignRequest) { r.IsCA = true; r.MaxPathLen = 1 })); err != nil {
		t.Errorf("signing a path length 1 CA below a path length 2 CA: %v", err)
	}
	if _, err := root.Sign(with(func(r *SignRequest) { r.IsCA = true; r.Usages = []string{UsageCertSign} })); err != nil {
		t.Errorf("signing a CA that asks for cert sign: %v", err)
	}
}

func TestChainVerifies(t *testing.T) {
	root := newTestRootCA(t, KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 384}, 10*year, -1)
	intermediateKey := testKey(t, rsa2048)
	intermediateCert, err := root.Sign(SignRequest{
		CSR:      newTestCSR(t, intermediateKey, CSRRequest{Subject: pkix.Name{CommonName: "certsmith intermediate"}}),
		Duration: year, IsCA: true, MaxPathLen: 0, Now: testNow,
	})
	if err != nil {
		t.Fatalf("signing the intermediate: %v", err)
	}
	intermediate := &CA{Certificate: intermediateCert, Chain: []*x509.Certificate{root.Certificate}, Key: intermediateKey}
	leafKey := testKey(t, ed25519s)
	leaf, err := intermediate.Sign(SignRequest{
		CSR:      newTestCSR(t, leafKey, CSRRequest{Subject: pkix.Name{CommonName: "api.a.svc"}, DNSNames: []string{"api.a.svc", "api.a.svc.cluster.local"}, IPAddresses: []net.IP{net.IPv4(10, 96, 0, 1)}}),
		Usages:   []string{UsageDigitalSignature, UsageKeyEncipherment, UsageServerAuth, UsageClientAuth},
		Duration: 90 * day, Now: testNow.Add(time.Hour),
	})
	if err != nil {
		t.Fatalf("signing the leaf: %v", err)
	}
	intermediates := []*x509.Certificate{intermediateCert}
	if got := intermediate.Roots(); len(got) != 1 || !got[0].Equal(root.Certificate) {
		t.Fatalf("intermediate.Roots() is not the root")
	}
	otherRoot := newTestRootCA(t, ecdsaP256, 10*year, -1)
	verifyAt := testNow.Add(30 * day)

	tests := []struct {
		name          string
		intermediates []*x509.Certificate
		roots         []*x509.Certificate
		dnsName       string
		now           time.Time
		wantOK        bool
	}{
		{"full chain, right name", intermediates, intermediate.Roots(), "api.a.svc", verifyAt, true},
		{"full chain, second name", intermediates, intermediate.Roots(), "api.a.svc.cluster.local", verifyAt, true},
		{"IP address as host", intermediates, intermediate.Roots(), "10.96.0.1", verifyAt, true},
		{"no name check", intermediates, intermediate.Roots(), "", verifyAt, true},
		{"wrong name", intermediates, intermediate.Roots(), "api.b.svc", verifyAt, false},
		{"missing intermediate", nil, intermediate.Roots(), "api.a.svc", verifyAt, false},
		{"wrong root", intermediates, []*x509.Certificate{otherRoot.Certificate}, "api.a.svc", verifyAt, false},
		{"no roots", intermediates, nil, "api.a.svc", verifyAt, false},
		{"after the leaf expired", intermediates, intermediate.Roots(), "api.a.svc", testNow.Add(91 * day), false},
		{"before the leaf is valid", intermediates, intermediate.Roots(), "api.a.svc", testNow.Add(-time.Hour), false},
		{"zero time", intermediates, intermediate.Roots(), "api.a.svc", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyChain(leaf, tt.intermediates, tt.roots, tt.dnsName, tt.now)
			if tt.wantOK && err != nil {
				t.Errorf("VerifyChain: %v", err)
			}
			if !tt.wantOK && err == nil {
				t.Errorf("VerifyChain succeeded, want an error")
			}
		})
	}
	if err := VerifyChain(nil, intermediates, intermediate.Roots(), "", verifyAt); err == nil {
		t.Errorf("VerifyChain(nil leaf) succeeded")
	}

	// The intermediate has path length 0, so a CA below it is refused.
	if _, err := intermediate.Sign(SignRequest{CSR: newTestCSR(t, leafKey, CSRRequest{Subject: pkix.Name{CommonName: "too deep"}}), Duration: day, IsCA: true, Now: testNow}); err == nil {
		t.Errorf("an intermediate with path length 0 signed a CA")
	}
}
