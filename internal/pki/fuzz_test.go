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
	"encoding/pem"
	"errors"
	"testing"
	"time"
)

func FuzzParseCSR(f *testing.F) {
	key, err := GenerateKey(ecdsaP256)
	if err != nil {
		f.Fatal(err)
	}
	good, err := BuildCSR(key, CSRRequest{Subject: pkix.Name{CommonName: "svc"}, DNSNames: []string{"svc.ns.svc"}})
	if err != nil {
		f.Fatal(err)
	}
	block, _ := pem.Decode(good)
	f.Add(good)
	f.Add(tamperLastByte(block.Bytes))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: block.Bytes[:len(block.Bytes)/2]}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x80, 0x00}}))
	f.Add(block.Bytes)
	f.Add([]byte{})
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSR(data)
		if err != nil {
			if csr != nil {
				t.Fatalf("CSR returned along with error %v", err)
			}
			if !errors.Is(err, ErrMalformedPEM) && !errors.Is(err, ErrBadCSRSignature) && !errors.Is(err, ErrUnsupportedKey) {
				t.Fatalf("error %v matches none of the sentinels", err)
			}
			return
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("ParseCSR accepted a CSR whose signature does not verify: %v", err)
		}
	})
}

func FuzzParseCertificatesPEM(f *testing.F) {
	ca := newTestRootCA(f, ecdsaP256, time.Hour, -1)
	chain := EncodeCertificatesPEM(ca.Certificate, ca.Certificate)
	f.Add(chain)
	f.Add(chain[:len(chain)/2])
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate.Raw[:40]}))
	f.Add(ca.Certificate.Raw)
	f.Add([]byte{})
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificatesPEM(data)
		if err != nil {
			if certs != nil {
				t.Fatalf("certificates returned along with error %v", err)
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		for _, cert := range certs {
			if cert == nil {
				t.Fatal("nil certificate in the result")
			}
			_ = FingerprintSHA256(cert)
		}
	})
}
