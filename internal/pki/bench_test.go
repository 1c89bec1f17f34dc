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
	"crypto/x509/pkix"
	"testing"
	"time"
)

func BenchmarkGenerateKeyECDSAP256(b *testing.B) {
	for b.Loop() {
		if _, err := GenerateKey(ecdsaP256); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenerateKeyRSA2048(b *testing.B) {
	for b.Loop() {
		if _, err := GenerateKey(rsa2048); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildCSR(b *testing.B) {
	key := testKey(b, ecdsaP256)
	req := CSRRequest{
		Subject:  pkix.Name{CommonName: "api.payments.svc"},
		DNSNames: []string{"api.payments.svc", "api.payments.svc.cluster.local"},
	}
	for b.Loop() {
		if _, err := BuildCSR(key, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	ca := newTestRootCA(b, ecdsaP256, 365*24*time.Hour, -1)
	csr := newTestCSR(b, testKey(b, ecdsaP256), CSRRequest{
		Subject:  pkix.Name{CommonName: "api.payments.svc"},
		DNSNames: []string{"api.payments.svc", "api.payments.svc.cluster.local"},
	})
	req := SignRequest{CSR: csr, Usages: []string{UsageDigitalSignature, UsageServerAuth}, Duration: 90 * 24 * time.Hour, Now: testNow}
	for b.Loop() {
		if _, err := ca.Sign(req); err != nil {
			b.Fatal(err)
		}
	}
}
