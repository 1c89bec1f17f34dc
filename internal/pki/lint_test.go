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
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/certsmith/certsmith/internal/testutil"
)

// lintNow is the fixed issuance time of the zlint tests.
var lintNow = time.Date(2026, time.November, 30, 9, 30, 0, 0, time.UTC)

// Usage sets that controllers commonly request for workload certificates.
var (
	// lintUsagesServer is the classic TLS server set; key encipherment is
	// dropped by Sign for ECDSA and Ed25519 keys.
	lintUsagesServer = []string{UsageDigitalSignature, UsageKeyEncipherment, UsageServerAuth}
	// lintUsagesMTLS is the mutual TLS set.
	lintUsagesMTLS = []string{UsageDigitalSignature, UsageServerAuth, UsageClientAuth}
)

var ecdsaP384 = KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 384}

// lintRootCA creates a self-signed root CA at lintNow with a fresh key.
func lintRootCA(t *testing.T, spec KeySpec, maxPathLen int) *CA {
	t.Helper()
	key, err := GenerateKey(spec)
	if err != nil {
		t.Fatalf("GenerateKey(%v): %v", spec, err)
	}
	cert, err := NewSelfSignedCA(key, CATemplate{
		Subject: pkix.Name{
			CommonName:   fmt.Sprintf("certsmith lint root %s", spec),
			Organization: []string{"certsmith"},
		},
		Duration:   10 * 365 * 24 * time.Hour,
		MaxPathLen: maxPathLen,
	}, lintNow)
	if err != nil {
		t.Fatalf("NewSelfSignedCA(%v): %v", spec, err)
	}
	return &CA{Certificate: cert, Key: key}
}

// lintIntermediateCA has parent sign an intermediate CA with a fresh key.
func lintIntermediateCA(t *testing.T, parent *CA, spec KeySpec, maxPathLen int) *CA {
	t.Helper()
	key, err := GenerateKey(spec)
	if err != nil {
		t.Fatalf("GenerateKey(%v): %v", spec, err)
	}
	csr := newTestCSR(t, key, CSRRequest{Subject: pkix.Name{
		CommonName:   fmt.Sprintf("certsmith lint intermediate %s pathlen %d", spec, maxPathLen),
		Organization: []string{"certsmith"},
	}})
	cert, err := parent.Sign(SignRequest{
		CSR:        csr,
		Duration:   5 * 365 * 24 * time.Hour,
		IsCA:       true,
		MaxPathLen: maxPathLen,
		Now:        lintNow,
	})
	if err != nil {
		t.Fatalf("signing intermediate %v (pathlen %d) under %q: %v", spec, maxPathLen, parent.Certificate.Subject, err)
	}
	chain := append([]*x509.Certificate{parent.Certificate}, parent.Chain...)
	return &CA{Certificate: cert, Chain: chain, Key: key}
}

// lintLeaf has issuer sign a leaf certificate for a key of spec.
func lintLeaf(t *testing.T, issuer *CA, spec KeySpec, req CSRRequest, usages []string) *x509.Certificate {
	t.Helper()
	cert, err := issuer.Sign(SignRequest{
		CSR:      newTestCSR(t, testKey(t, spec), req),
		Usages:   usages,
		Duration: 90 * 24 * time.Hour,
		Now:      lintNow,
	})
	if err != nil {
		t.Fatalf("signing leaf %v under %q: %v", spec, issuer.Certificate.Subject, err)
	}
	return cert
}

// TestIssuedCertificatesPassZlint checks every kind of certificate certsmith
// issues, CAs included, against zlint's RFC 5280, RFC 5480 and RFC 8813
// lints: any warning, error or fatal result fails the test.
func TestIssuedCertificatesPassZlint(t *testing.T) {
	rootP256 := lintRootCA(t, ecdsaP256, -1)
	rootP384 := lintRootCA(t, ecdsaP384, 1)
	rootRSA := lintRootCA(t, rsa2048, -1)
	rootEd25519 := lintRootCA(t, ed25519s, 0)

	// Intermediates, each with the path lengths its parent allows.
	interP256Zero := lintIntermediateCA(t, rootP256, ecdsaP256, 0)
	interP256Unlimited := lintIntermediateCA(t, rootP256, ecdsaP256, -1)
	interRSAOne := lintIntermediateCA(t, rootRSA, rsa2048, 1)
	interEd25519Zero := lintIntermediateCA(t, rootRSA, ed25519s, 0)
	interP384Zero := lintIntermediateCA(t, rootP384, ecdsaP384, 0)
	interUnderIntermediate := lintIntermediateCA(t, interRSAOne, ecdsaP256, 0)

	type lintCase struct {
		name string
		cert *x509.Certificate
		isCA bool
	}
	cases := []lintCase{
		{name: "root ECDSA P-256 unlimited path", cert: rootP256.Certificate, isCA: true},
		{name: "root ECDSA P-384 pathlen 1", cert: rootP384.Certificate, isCA: true},
		{name: "root RSA 2048 unlimited path", cert: rootRSA.Certificate, isCA: true},
		{name: "root Ed25519 pathlen 0", cert: rootEd25519.Certificate, isCA: true},
		{name: "intermediate ECDSA P-256 pathlen 0 under ECDSA root", cert: interP256Zero.Certificate, isCA: true},
		{name: "intermediate ECDSA P-256 unlimited path under ECDSA root", cert: interP256Unlimited.Certificate, isCA: true},
		{name: "intermediate RSA 2048 pathlen 1 under RSA root", cert: interRSAOne.Certificate, isCA: true},
		{name: "intermediate Ed25519 pathlen 0 under RSA root", cert: interEd25519Zero.Certificate, isCA: true},
		{name: "intermediate ECDSA P-384 pathlen 0 under pathlen-1 root", cert: interP384Zero.Certificate, isCA: true},
		{name: "intermediate ECDSA P-256 pathlen 0 under intermediate", cert: interUnderIntermediate.Certificate, isCA: true},
	}

	// Leaves of every key type and usage set, from roots and intermediates.
	issuers := []struct {
		name string
		ca   *CA
	}{
		{"ECDSA P-256 root", rootP256},
		{"RSA root", rootRSA},
		{"Ed25519 root", rootEd25519},
		{"ECDSA P-256 intermediate", interP256Zero},
		{"Ed25519 intermediate", interEd25519Zero},
		{"second-level intermediate", interUnderIntermediate},
	}
	leafKeys := []KeySpec{ecdsaP256, rsa2048, ed25519s}
	usageSets := []struct {
		name   string
		usages []string
	}{
		{"server (digital signature, key encipherment, server auth)", lintUsagesServer},
		{"mTLS (digital signature, server auth, client auth)", lintUsagesMTLS},
	}
	serviceReq := CSRRequest{
		Subject:  pkix.Name{CommonName: "my-svc.my-namespace.svc", Organization: []string{"certsmith"}},
		DNSNames: []string{"my-svc.my-namespace.svc"},
	}
	for _, issuer := range issuers {
		for _, spec := range leafKeys {
			for _, usage := range usageSets {
				cases = append(cases, lintCase{
					name: fmt.Sprintf("leaf %s from %s, %s", spec, issuer.name, usage.name),
					cert: lintLeaf(t, issuer.ca, spec, serviceReq, usage.usages),
				})
			}
		}
	}

	// Leaves with the name shapes that in-cluster workloads use.
	cases = append(cases,
		lintCase{
			name: "leaf with only IP SANs and an empty subject",
			cert: lintLeaf(t, interP256Zero, ecdsaP256, CSRRequest{
				IPAddresses: []net.IP{net.ParseIP("10.96.0.10"), net.ParseIP("fd00:10:96::a")},
			}, lintUsagesServer),
		},
		lintCase{
			name: "leaf with only IP SANs and an empty subject, RSA issuer",
			cert: lintLeaf(t, rootRSA, rsa2048, CSRRequest{
				IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			}, lintUsagesMTLS),
		},
		lintCase{
			name: "leaf with a SPIFFE URI SAN and an empty subject",
			cert: lintLeaf(t, interP256Zero, ecdsaP256, CSRRequest{
				URIs: []*url.URL{mustParseURL(t, "spiffe://cluster.local/ns/a/sa/b")},
			}, lintUsagesMTLS),
		},
		lintCase{
			name: "leaf with a SPIFFE URI SAN and a subject",
			cert: lintLeaf(t, rootEd25519, ed25519s, CSRRequest{
				Subject: pkix.Name{Organization: []string{"certsmith"}, OrganizationalUnit: []string{"a"}},
				URIs:    []*url.URL{mustParseURL(t, "spiffe://cluster.local/ns/a/sa/b")},
			}, lintUsagesMTLS),
		},
		lintCase{
			name: "leaf with cluster DNS names",
			cert: lintLeaf(t, interP256Zero, rsa2048, CSRRequest{
				Subject: pkix.Name{CommonName: "my-svc.my-namespace.svc.cluster.local"},
				DNSNames: []string{
					"my-svc.my-namespace.svc.cluster.local",
					"my-svc.my-namespace.svc",
					"my-svc.my-namespace",
					"my-svc",
					"*.my-svc.my-namespace.svc.cluster.local",
					"pod-0.my-svc.my-namespace.svc.cluster.local",
				},
			}, lintUsagesServer),
		},
		lintCase{
			name: "leaf with DNS, IP, URI and email SANs",
			cert: lintLeaf(t, rootP384, ecdsaP384, CSRRequest{
				Subject:        pkix.Name{CommonName: "my-svc", Organization: []string{"certsmith"}},
				DNSNames:       []string{"my-svc.my-namespace.svc.cluster.local"},
				IPAddresses:    []net.IP{net.ParseIP("10.96.0.11")},
				URIs:           []*url.URL{mustParseURL(t, "spiffe://cluster.local/ns/my-namespace/sa/my-svc")},
				EmailAddresses: []string{"ops@example.com"},
			}, lintUsagesMTLS),
		},
	)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cert.IsCA != tc.isCA {
				t.Fatalf("IsCA = %v, want %v", tc.cert.IsCA, tc.isCA)
			}
			if err := testutil.LintCertificate(tc.cert); err != nil {
				t.Errorf("%v\n%s", err, EncodeCertificatesPEM(tc.cert))
			}
		})
	}
}

func mustParseURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", raw, err)
	}
	return u
}
