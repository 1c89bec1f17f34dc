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
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseCertificatesPEM(t *testing.T) {
	root := newTestRootCA(t, ecdsaP256, 24*time.Hour, -1)
	other := newTestRootCA(t, ed25519s, 24*time.Hour, 0)
	keyPEM, err := EncodePrivateKeyPEM(root.Key, KeyEncodingPKCS8)
	if err != nil {
		t.Fatal(err)
	}
	chain := EncodeCertificatesPEM(root.Certificate, other.Certificate)
	corrupt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate.Raw[:len(root.Certificate.Raw)/2]})

	tests := []struct {
		name    string
		data    []byte
		want    []*x509.Certificate
		wantErr error
	}{
		{name: "one", data: EncodeCertificatesPEM(root.Certificate), want: []*x509.Certificate{root.Certificate}},
		{name: "two in order", data: chain, want: []*x509.Certificate{root.Certificate, other.Certificate}},
		{name: "key block skipped", data: concat(EncodeCertificatesPEM(other.Certificate), keyPEM, EncodeCertificatesPEM(root.Certificate)), want: []*x509.Certificate{other.Certificate, root.Certificate}},
		{name: "text around blocks", data: concat([]byte("subject=CN=x\n"), chain, []byte("trailing text\n")), want: []*x509.Certificate{root.Certificate, other.Certificate}},
		{name: "empty", data: nil, wantErr: ErrMalformedPEM},
		{name: "garbage", data: []byte("-----BEGIN garbage"), wantErr: ErrMalformedPEM},
		{name: "DER instead of PEM", data: root.Certificate.Raw, wantErr: ErrMalformedPEM},
		{name: "key only", data: keyPEM, wantErr: ErrMalformedPEM},
		{name: "corrupt certificate", data: corrupt, wantErr: ErrMalformedPEM},
		{name: "good then corrupt", data: concat(chain, corrupt), wantErr: ErrMalformedPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCertificatesPEM(tt.data)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("certificates returned along with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCertificatesPEM: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d certificates, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Errorf("certificate %d differs", i)
				}
			}
		})
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestEncodeCertificatesPEM(t *testing.T) {
	root := newTestRootCA(t, ecdsaP256, time.Hour, -1)
	if got := EncodeCertificatesPEM(); len(got) != 0 {
		t.Errorf("EncodeCertificatesPEM() = %q, want empty", got)
	}
	got := EncodeCertificatesPEM(root.Certificate, nil, root.Certificate)
	if n := strings.Count(string(got), "-----BEGIN CERTIFICATE-----"); n != 2 {
		t.Errorf("got %d CERTIFICATE blocks, want 2", n)
	}
}

func TestKeyMatchesCertificate(t *testing.T) {
	root := newTestRootCA(t, ecdsaP256, time.Hour, -1)
	tests := []struct {
		name string
		key  crypto.Signer
		cert *x509.Certificate
		want bool
	}{
		{"matching", root.Key, root.Certificate, true},
		{"other key", testKey(t, ecdsaP256), root.Certificate, false},
		{"other algorithm", testKey(t, ed25519s), root.Certificate, false},
		{"nil key", nil, root.Certificate, false},
		{"nil certificate", root.Key, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KeyMatchesCertificate(tt.key, tt.cert); got != tt.want {
				t.Errorf("KeyMatchesCertificate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFingerprintSHA256(t *testing.T) {
	root := newTestRootCA(t, ecdsaP256, time.Hour, -1)
	got := FingerprintSHA256(root.Certificate)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(got) {
		t.Fatalf("FingerprintSHA256 = %q, not in openssl format", got)
	}
	sum := sha256.Sum256(root.Certificate.Raw)
	if want := strings.ToUpper(hex.EncodeToString(sum[:])); strings.ReplaceAll(got, ":", "") != want {
		t.Errorf("FingerprintSHA256 = %q, want the digits %s", got, want)
	}
	if FingerprintSHA256(nil) != "" {
		t.Errorf("FingerprintSHA256(nil) is not empty")
	}
}
