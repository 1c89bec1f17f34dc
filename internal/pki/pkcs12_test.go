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
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

func TestPKCS12RoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	caKey, err := GenerateKey(KeySpec{Algorithm: KeyAlgorithmECDSA})
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := NewSelfSignedCA(caKey, CATemplate{Subject: pkix.Name{CommonName: "p12 root"}, Duration: time.Hour, MaxPathLen: -1}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []KeyAlgorithm{KeyAlgorithmECDSA, KeyAlgorithmRSA, KeyAlgorithmEd25519} {
		key, err := GenerateKey(KeySpec{Algorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		csrPEM, err := BuildCSR(key, CSRRequest{DNSNames: []string{"p12.example"}})
		if err != nil {
			t.Fatal(err)
		}
		csr, err := ParseCSR(csrPEM)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := (&CA{Certificate: caCert, Key: caKey}).Sign(SignRequest{CSR: csr, Usages: []string{"digital signature", "server auth"}, Duration: time.Hour, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		data, err := EncodePKCS12Keystore(key, []*x509.Certificate{leaf, caCert}, "s3cret")
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		gotKey, gotCert, gotCAs, err := pkcs12.DecodeChain(data, "s3cret")
		if err != nil {
			t.Fatalf("%s: decode: %v", alg, err)
		}
		if !gotCert.Equal(leaf) || len(gotCAs) != 1 || !gotCAs[0].Equal(caCert) {
			t.Fatalf("%s: chain did not round-trip", alg)
		}
		signer, ok := gotKey.(crypto.Signer)
		if !ok || !PublicKeysEqual(signer.Public(), key.Public()) {
			t.Fatalf("%s: key did not round-trip", alg)
		}
		if _, _, _, err := pkcs12.DecodeChain(data, "wrong"); err == nil {
			t.Fatalf("%s: wrong password accepted", alg)
		}
		der, err := EncodePrivateKeyDER(key)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		if !PublicKeysEqual(parsed.(crypto.Signer).Public(), key.Public()) {
			t.Fatalf("%s: DER key did not round-trip", alg)
		}
	}
	trust, err := EncodePKCS12Truststore([]*x509.Certificate{caCert}, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pkcs12.DecodeTrustStore(trust, "s3cret")
	if err != nil || len(certs) != 1 || !certs[0].Equal(caCert) {
		t.Fatalf("truststore did not round-trip: %v", err)
	}
}
