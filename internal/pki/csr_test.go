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
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestBuildParseCSRRoundTrip(t *testing.T) {
	spiffe, err := url.Parse("spiffe://cluster.local/ns/payments/sa/api")
	if err != nil {
		t.Fatal(err)
	}
	full := CSRRequest{
		Subject:        pkix.Name{CommonName: "api.payments.svc", Organization: []string{"payments"}, OrganizationalUnit: []string{"team-a"}},
		DNSNames:       []string{"api.payments.svc", "api.payments.svc.cluster.local"},
		IPAddresses:    []net.IP{net.ParseIP("10.96.0.10").To4(), net.ParseIP("fd00::10")},
		URIs:           []*url.URL{spiffe},
		EmailAddresses: []string{"platform@example.com"},
	}
	tests := []struct {
		name string
		spec KeySpec
		req  CSRRequest
	}{
		{"ECDSA all names", ecdsaP256, full},
		{"RSA all names", rsa2048, full},
		{"Ed25519 all names", ed25519s, full},
		{"ECDSA P-521 subject only", KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 521}, CSRRequest{Subject: pkix.Name{CommonName: "etcd-peer"}}},
		{"ECDSA SANs only", ecdsaP256, CSRRequest{DNSNames: []string{"webhook.system.svc"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testKey(t, tt.spec)
			pemBytes, err := BuildCSR(key, tt.req)
			if err != nil {
				t.Fatalf("BuildCSR: %v", err)
			}
			if !strings.HasPrefix(string(pemBytes), "-----BEGIN CERTIFICATE REQUEST-----\n") {
				t.Errorf("BuildCSR output does not start with a CERTIFICATE REQUEST block")
			}
			csr, err := ParseCSR(pemBytes)
			if err != nil {
				t.Fatalf("ParseCSR: %v", err)
			}
			if !PublicKeysEqual(csr.PublicKey, key.Public()) {
				t.Errorf("CSR public key does not match the key")
			}
			if got, want := csr.Subject.String(), tt.req.Subject.String(); got != want {
				t.Errorf("subject = %q, want %q", got, want)
			}
			if !sameStrings(csr.DNSNames, tt.req.DNSNames) {
				t.Errorf("DNS names = %v, want %v", csr.DNSNames, tt.req.DNSNames)
			}
			if !sameStrings(csr.EmailAddresses, tt.req.EmailAddresses) {
				t.Errorf("email addresses = %v, want %v", csr.EmailAddresses, tt.req.EmailAddresses)
			}
			if len(csr.IPAddresses) != len(tt.req.IPAddresses) {
				t.Fatalf("IP addresses = %v, want %v", csr.IPAddresses, tt.req.IPAddresses)
			}
			for i, ip := range csr.IPAddresses {
				if !ip.Equal(tt.req.IPAddresses[i]) {
					t.Errorf("IP address %d = %v, want %v", i, ip, tt.req.IPAddresses[i])
				}
			}
			if len(csr.URIs) != len(tt.req.URIs) {
				t.Fatalf("URIs = %v, want %v", csr.URIs, tt.req.URIs)
			}
			for i, u := range csr.URIs {
				if u.String() != tt.req.URIs[i].String() {
					t.Errorf("URI %d = %v, want %v", i, u, tt.req.URIs[i])
				}
			}
		})
	}
}

// sameStrings compares string slices, treating nil and empty as equal.
func sameStrings(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestBuildCSRErrors(t *testing.T) {
	if _, err := BuildCSR(nil, CSRRequest{DNSNames: []string{"a"}}); err == nil {
		t.Errorf("BuildCSR(nil key) succeeded")
	}
	if _, err := BuildCSR(p224Key(t), CSRRequest{DNSNames: []string{"a"}}); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("BuildCSR(P-224 key) error = %v, want ErrUnsupportedKey", err)
	}
	if _, err := BuildCSR(opaqueSigner{testKey(t, ecdsaP256)}, CSRRequest{DNSNames: []string{"a"}}); err != nil {
		t.Errorf("BuildCSR(external signer): %v", err)
	}
}

func TestParseCSR(t *testing.T) {
	key := testKey(t, ecdsaP256)
	good, err := BuildCSR(key, CSRRequest{Subject: pkix.Name{CommonName: "svc"}, DNSNames: []string{"svc.ns.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	goodBlock, _ := pem.Decode(good)
	edGood, err := BuildCSR(testKey(t, ed25519s), CSRRequest{DNSNames: []string{"svc.ns.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	edBlock, _ := pem.Decode(edGood)
	p224DER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "p224"}}, p224Key(t))
	if err != nil {
		t.Fatal(err)
	}
	certPEM := EncodeCertificatesPEM(newTestRootCA(t, ecdsaP256, 24*time.Hour, -1).Certificate)

	tests := []struct {
		name    string
		data    []byte
		wantErr error // nil: success expected
	}{
		{"valid", good, nil},
		{"legacy NEW CERTIFICATE REQUEST", pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: goodBlock.Bytes}), nil},
		{"certificate before the request is skipped", concat(certPEM, good), nil},
		{"empty", nil, ErrMalformedPEM},
		{"garbage", []byte("hello"), ErrMalformedPEM},
		{"DER instead of PEM", goodBlock.Bytes, ErrMalformedPEM},
		{"certificate only", certPEM, ErrMalformedPEM},
		{"truncated DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: goodBlock.Bytes[:len(goodBlock.Bytes)-10]}), ErrMalformedPEM},
		{"truncated PEM", good[:len(good)-20], ErrMalformedPEM},
		{"tampered ECDSA signature", tamperLastByte(goodBlock.Bytes), ErrBadCSRSignature},
		{"tampered Ed25519 signature", tamperLastByte(edBlock.Bytes), ErrBadCSRSignature},
		{"tampered subject", tamperSubject(t, goodBlock.Bytes), ErrBadCSRSignature},
		{"unsupported P-224 key", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: p224DER}), ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr, err := ParseCSR(tt.data)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ParseCSR: %v", err)
				}
				if csr == nil {
					t.Fatal("ParseCSR returned nil without an error")
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			for _, other := range []error{ErrMalformedPEM, ErrBadCSRSignature, ErrUnsupportedKey} {
				if other != tt.wantErr && errors.Is(err, other) {
					t.Errorf("error %v also matches %v; the sentinels must be distinct", err, other)
				}
			}
			if csr != nil {
				t.Errorf("CSR returned along with an error")
			}
		})
	}
}

// tamperLastByte flips the last byte of a DER CSR (inside the signature) and
// returns it PEM-encoded.
func tamperLastByte(der []byte) []byte {
	tampered := append([]byte(nil), der...)
	tampered[len(tampered)-1] ^= 0x01
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered})
}

// tamperSubject changes one letter of the common name "svc" in a DER CSR,
// keeping it well-formed but invalidating the signature.
func tamperSubject(t *testing.T, der []byte) []byte {
	t.Helper()
	i := strings.Index(string(der), "svc")
	if i < 0 {
		t.Fatal("common name not found in the CSR")
	}
	tampered := append([]byte(nil), der...)
	tampered[i] = 'x'
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered})
}
