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

package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/zmap/zlint/v3/lint"
)

var lintTestNow = time.Date(2026, time.November, 30, 12, 0, 0, 0, time.UTC)

// selfSigned creates a self-signed certificate from tmpl with a fresh P-256
// key, filling in serial and validity.
func selfSigned(t *testing.T, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generating key: %v", err)
	}
	tmpl.SerialNumber = new(big.Int).Lsh(big.NewInt(1), 100)
	tmpl.NotBefore = lintTestNow.Add(-time.Minute)
	tmpl.NotAfter = lintTestNow.Add(24 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("creating certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parsing certificate: %v", err)
	}
	return cert
}

func TestLintNames(t *testing.T) {
	names := LintNames()
	if len(names) < 50 {
		t.Fatalf("LintNames() returned %d lints, want the ~100 RFC 5280/5480/8813 lints", len(names))
	}
	reg, err := registry()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[lint.LintSource]bool{}
	for _, s := range LintSources {
		allowed[s] = true
	}
	for _, name := range names {
		l := reg.CertificateLints().ByName(name)
		if l == nil {
			t.Fatalf("lint %s is listed but not registered", name)
		}
		if !allowed[l.Source] {
			t.Errorf("lint %s has source %s, outside %v", name, l.Source, LintSources)
		}
	}
	t.Logf("%d certificate lints from %v", len(names), LintSources)
}

func TestLintCertificateAcceptsGoodCA(t *testing.T) {
	cert := selfSigned(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "testutil root", Organization: []string{"certsmith"}},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	})
	if err := LintCertificate(cert); err != nil {
		t.Fatalf("LintCertificate: %v", err)
	}
}

func TestLintCertificateReportsFailures(t *testing.T) {
	tests := []struct {
		name     string
		tmpl     *x509.Certificate
		wantLint string
	}{
		{
			name: "leaf with cert sign but not a CA",
			tmpl: &x509.Certificate{
				Subject:               pkix.Name{CommonName: "not a CA"},
				KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
				BasicConstraintsValid: true,
				SubjectKeyId:          []byte{1, 2, 3, 4},
			},
			wantLint: "e_ext_key_usage_cert_sign_without_ca: error",
		},
		{
			name: "ECDSA leaf with key encipherment (RFC 8813)",
			tmpl: &x509.Certificate{
				Subject:               pkix.Name{CommonName: "ecdsa key encipherment"},
				KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
				BasicConstraintsValid: true,
				SubjectKeyId:          []byte{1, 2, 3, 4},
			},
			wantLint: "e_ecdsa_allowed_ku: error",
		},
		{
			name: "leaf without subject key identifier (a warning)",
			tmpl: &x509.Certificate{
				Subject:               pkix.Name{CommonName: "no SKI"},
				KeyUsage:              x509.KeyUsageDigitalSignature,
				BasicConstraintsValid: true,
			},
			wantLint: "w_ext_subject_key_identifier_missing_sub_cert: warn",
		},
		{
			name: "leaf with empty subject and no SAN",
			tmpl: &x509.Certificate{
				KeyUsage:              x509.KeyUsageDigitalSignature,
				ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				BasicConstraintsValid: true,
			},
			wantLint: "e_subject_empty_without_san: error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := LintCertificate(selfSigned(t, tt.tmpl))
			if err == nil {
				t.Fatalf("LintCertificate returned nil, want an error naming %s", tt.wantLint)
			}
			if !strings.Contains(err.Error(), tt.wantLint) {
				t.Fatalf("LintCertificate error does not name %s:\n%v", tt.wantLint, err)
			}
		})
	}
}

func TestLintCertificateRejectsUnusableInput(t *testing.T) {
	if err := LintCertificate(nil); err == nil {
		t.Error("LintCertificate(nil) returned nil")
	}
	if err := LintCertificate(&x509.Certificate{}); err == nil {
		t.Error("LintCertificate without Raw returned nil")
	}
	if err := LintCertificate(&x509.Certificate{Raw: []byte("not DER")}); err == nil {
		t.Error("LintCertificate with garbage Raw returned nil")
	}
}

// TestLintCRLRejectsUnparsable: a CRL zcrypto cannot parse is an error,
// never a pass.
func TestLintCRLRejectsUnparsable(t *testing.T) {
	for _, der := range [][]byte{nil, []byte("not a CRL")} {
		if err := LintCRL(der); err == nil {
			t.Errorf("LintCRL(%q) passed", der)
		}
	}
}
