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
	"sync"
	"testing"
	"time"
)

// testNow is the fixed "current time" of the tests.
var testNow = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

var (
	testKeysMu sync.Mutex
	testKeys   = map[KeySpec]crypto.Signer{}
)

// testKey returns a key for spec, generated once per test binary: RSA key
// generation is slow, and the tests only need distinct keys per spec plus
// the few fresh ones they ask GenerateKey for directly.
func testKey(t testing.TB, spec KeySpec) crypto.Signer {
	t.Helper()
	testKeysMu.Lock()
	defer testKeysMu.Unlock()
	if key, ok := testKeys[spec]; ok {
		return key
	}
	key, err := GenerateKey(spec)
	if err != nil {
		t.Fatalf("GenerateKey(%v): %v", spec, err)
	}
	testKeys[spec] = key
	return key
}

var (
	ecdsaP256 = KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 256}
	rsa2048   = KeySpec{Algorithm: KeyAlgorithmRSA, Size: 2048}
	ed25519s  = KeySpec{Algorithm: KeyAlgorithmEd25519}
)

// newTestRootCA returns a self-signed root CA created at testNow.
func newTestRootCA(t testing.TB, spec KeySpec, duration time.Duration, maxPathLen int) *CA {
	t.Helper()
	key, err := GenerateKey(spec)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	cert, err := NewSelfSignedCA(key, CATemplate{
		Subject:    pkix.Name{CommonName: "certsmith test root", Organization: []string{"certsmith"}},
		Duration:   duration,
		MaxPathLen: maxPathLen,
	}, testNow)
	if err != nil {
		t.Fatalf("NewSelfSignedCA: %v", err)
	}
	return &CA{Certificate: cert, Key: key}
}

// newTestCSR builds and parses a CSR for key.
func newTestCSR(t testing.TB, key crypto.Signer, req CSRRequest) *x509.CertificateRequest {
	t.Helper()
	pemBytes, err := BuildCSR(key, req)
	if err != nil {
		t.Fatalf("BuildCSR: %v", err)
	}
	csr, err := ParseCSR(pemBytes)
	if err != nil {
		t.Fatalf("ParseCSR: %v", err)
	}
	return csr
}
