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
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The fuzz targets cover the parsers of tenant-controlled bytes: the
// PKCS#10 request of a CSR, and the tls.crt and tls.key of a Secret (read
// by the operator when it adopts a Secret and by "kubectl certsmith inspect
// secret" on any Secret). Hostile seeds (two common names, 4,000 names,
// NUL bytes, an RSA-7680 key, huge PEM) are in testdata/fuzz.

// FuzzParseCSR checks that a CSR ParseCSR accepts has a valid signature and
// a supported key and parses again unchanged, and that every refusal wraps
// one of the sentinels.
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
		if csr == nil {
			t.Fatal("no CSR and no error")
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("ParseCSR accepted a CSR whose signature does not verify: %v", err)
		}
		if _, err := KeySpecOf(csr.PublicKey); err != nil {
			t.Fatalf("ParseCSR accepted a CSR with an unsupported key: %v", err)
		}
		// What was accepted is accepted again, unchanged, on its own.
		again, err := ParseCSR(pem.EncodeToMemory(&pem.Block{Type: PEMTypeCertificateRequest, Bytes: csr.Raw}))
		if err != nil {
			t.Fatalf("re-encoded CSR refused: %v", err)
		}
		if !bytes.Equal(again.Raw, csr.Raw) {
			t.Fatal("re-encoded CSR parses to different bytes")
		}
	})
}

// FuzzParseCertificatesPEM checks that tls.crt parsing returns exactly the
// CERTIFICATE blocks, in order, byte for byte, and refuses only for a block
// that does not parse (or none).
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
			if !errors.Is(err, ErrMalformedPEM) {
				t.Fatalf("error %v does not wrap ErrMalformedPEM", err)
			}
			// Refused only for a CERTIFICATE block that does not parse, or
			// for having none: blocks of other types do not matter.
			if blocks := certificateBlocks(data); len(blocks) > 0 && !slices.ContainsFunc(blocks, func(der []byte) bool {
				_, err := x509.ParseCertificate(der)
				return err != nil
			}) {
				t.Fatalf("every CERTIFICATE block parses on its own, but the PEM is refused: %v", err)
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		// Every CERTIFICATE block is returned, in order, byte for byte;
		// other blocks are skipped.
		blocks := certificateBlocks(data)
		if len(blocks) != len(certs) {
			t.Fatalf("%d certificates from %d CERTIFICATE blocks", len(certs), len(blocks))
		}
		for i, cert := range certs {
			if cert == nil {
				t.Fatal("nil certificate in the result")
			}
			if !bytes.Equal(cert.Raw, blocks[i]) {
				t.Fatalf("certificate %d is not the DER of block %d", i+1, i+1)
			}
			if fp := FingerprintSHA256(cert); len(fp) != 3*sha256.Size-1 {
				t.Fatalf("fingerprint %q has the wrong length", fp)
			}
		}
		again, err := ParseCertificatesPEM(EncodeCertificatesPEM(certs...))
		if err != nil || len(again) != len(certs) {
			t.Fatalf("re-encoded certificates: %d, %v; want %d", len(again), err, len(certs))
		}
	})
}

// FuzzParsePrivateKeyPEM checks that a parsed tls.key is a supported signer
// that round-trips through both encodings, and that errors quote no key bytes.
func FuzzParsePrivateKeyPEM(f *testing.F) {
	for _, spec := range []KeySpec{ecdsaP256, rsa2048, ed25519s} {
		for _, encoding := range []KeyEncoding{KeyEncodingPKCS1, KeyEncodingPKCS8} {
			f.Add(mustEncodeKey(f, testKey(f, spec), encoding))
		}
	}
	f.Add([]byte{})
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePrivateKeyPEM(data)
		if err != nil {
			if key != nil {
				t.Fatalf("key returned along with error %v", err)
			}
			checkNoKeyMaterial(t, err, data)
			return
		}
		if key == nil || key.Public() == nil {
			t.Fatal("no key (or no public key) and no error")
		}
		switch key.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		default:
			t.Fatalf("ParsePrivateKeyPEM returned a %T", key)
		}
		spec, specErr := KeySpecOf(key)
		if specErr != nil && !errors.Is(specErr, ErrUnsupportedKey) {
			t.Fatalf("KeySpecOf: %v does not wrap ErrUnsupportedKey", specErr)
		}
		// The key round-trips through both encodings: tls.key written back
		// by certsmith is the same key.
		for _, encoding := range []KeyEncoding{KeyEncodingPKCS1, KeyEncodingPKCS8} {
			again, err := ParsePrivateKeyPEM(mustEncodeKey(t, key, encoding))
			if err != nil {
				t.Fatalf("%s re-encoding of a parsed %T refused: %v", encoding, key, err)
			}
			if !PublicKeysEqual(key.Public(), again.Public()) {
				t.Fatalf("%s re-encoding changed the public key", encoding)
			}
			if !key.(interface{ Equal(crypto.PrivateKey) bool }).Equal(again) {
				t.Fatalf("%s re-encoding changed the private key", encoding)
			}
			if againSpec, err := KeySpecOf(again); againSpec != spec || (err == nil) != (specErr == nil) {
				t.Fatalf("%s re-encoding changed the key spec from %v to %v", encoding, spec, againSpec)
			}
		}
	})
}

// FuzzSecretKeyPair fuzzes a Secret's tls.crt and tls.key together, as the
// operator and "kubectl certsmith inspect secret" read them.
func FuzzSecretKeyPair(f *testing.F) {
	ca := newTestRootCA(f, ecdsaP256, time.Hour, -1)
	caKey := mustEncodeKey(f, ca.Key, KeyEncodingPKCS1)
	certPEM := EncodeCertificatesPEM(ca.Certificate)
	f.Add(certPEM, caKey)
	f.Add(certPEM, mustEncodeKey(f, testKey(f, rsa2048), KeyEncodingPKCS8))
	f.Add(caKey, certPEM)
	f.Add(append(bytes.Clone(certPEM), caKey...), []byte{})
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		certs, certErr := ParseCertificatesPEM(certPEM)
		key, keyErr := ParsePrivateKeyPEM(keyPEM)
		if (certErr == nil) == (certs == nil) || (keyErr == nil) == (key == nil) {
			t.Fatalf("result and error: %d certificates, %v; key %T, %v", len(certs), certErr, key, keyErr)
		}
		if keyErr == nil && KeyMatchesCertificate(key, nil) {
			t.Fatal("a key matches no certificate")
		}
		if certErr == nil && KeyMatchesCertificate(nil, certs[0]) {
			t.Fatal("no key matches a certificate")
		}
		if certErr != nil || keyErr != nil {
			return
		}
		leaf := certs[0]
		matches := KeyMatchesCertificate(key, leaf)
		// The answer is proved, not trusted: the key's signature verifies
		// with the leaf's public key exactly when the two match.
		if verifies := signsFor(t, key, leaf); verifies != matches {
			t.Fatalf("KeyMatchesCertificate = %v, but a signature by the %T verifies with the leaf: %v", matches, key, verifies)
		}
		if matches {
			keySpec, keyErr := KeySpecOf(key)
			certSpec, certErr := KeySpecOf(leaf.PublicKey)
			if keySpec != certSpec || (keyErr == nil) != (certErr == nil) {
				t.Fatalf("matching key and certificate describe as %v (%v) and %v (%v)", keySpec, keyErr, certSpec, certErr)
			}
		}
	})
}

// signsFor signs a fixed message with key and reports whether the signature
// verifies with cert's public key. A parsed key that cannot sign fails the
// test: a Secret holding it would break every TLS handshake.
func signsFor(t *testing.T, key crypto.Signer, cert *x509.Certificate) bool {
	t.Helper()
	message := []byte("certsmith: does tls.key belong to tls.crt?")
	digest := sha256.Sum256(message)
	var (
		algorithm x509.SignatureAlgorithm
		signature []byte
		err       error
	)
	switch key.(type) {
	case *rsa.PrivateKey:
		algorithm = x509.SHA256WithRSA
		signature, err = key.Sign(rand.Reader, digest[:], crypto.SHA256)
	case *ecdsa.PrivateKey:
		algorithm = x509.ECDSAWithSHA256
		signature, err = key.Sign(rand.Reader, digest[:], crypto.SHA256)
	case ed25519.PrivateKey:
		algorithm = x509.PureEd25519
		signature, err = key.Sign(rand.Reader, message, crypto.Hash(0))
	default:
		t.Fatalf("unexpected key type %T", key)
	}
	if err != nil {
		t.Fatalf("a parsed %T cannot sign: %v", key, err)
	}
	return cert.CheckSignature(algorithm, message, signature) == nil
}

// checkNoKeyMaterial fails the test if a parse error quotes a PEM block of
// data, raw, in hex or in base64: the errors end up in logs, events and
// kubectl output.
func checkNoKeyMaterial(t *testing.T, err error, data []byte) {
	t.Helper()
	message := err.Error()
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return
		}
		if len(block.Bytes) < 16 {
			continue
		}
		for _, leaked := range []string{string(block.Bytes), hex.EncodeToString(block.Bytes), base64.StdEncoding.EncodeToString(block.Bytes)} {
			if strings.Contains(strings.ToLower(message), strings.ToLower(leaked)) {
				t.Fatalf("error quotes the %s block: %.200q", block.Type, message)
			}
		}
	}
}

// certificateBlocks returns the DER of every CERTIFICATE block in data.
func certificateBlocks(data []byte) [][]byte {
	var blocks [][]byte
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return blocks
		}
		if block.Type == PEMTypeCertificate {
			blocks = append(blocks, block.Bytes)
		}
	}
}

func mustEncodeKey(t testing.TB, key crypto.Signer, encoding KeyEncoding) []byte {
	t.Helper()
	data, err := EncodePrivateKeyPEM(key, encoding)
	if err != nil {
		t.Fatalf("EncodePrivateKeyPEM(%T, %s): %v", key, encoding, err)
	}
	return data
}
