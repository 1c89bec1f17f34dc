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
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// Backdate is how far before "now" a new certificate's NotBefore is set, so
// that peers whose clocks lag slightly behind still accept it.
const Backdate = time.Minute

// serialBits is the size of a certificate serial number. RFC 5280 allows up
// to 20 octets; CA/Browser Forum rules ask for at least 64 bits of entropy.
const serialBits = 128

// CATemplate describes a self-signed certificate authority.
type CATemplate struct {
	// Subject is the CA's distinguished name; it must not be empty.
	Subject pkix.Name
	// Duration is the CA certificate's lifetime; it must be positive.
	Duration time.Duration
	// MaxPathLen limits the number of intermediate CAs below this one:
	// -1 means unlimited, 0 means the CA may sign only leaf certificates,
	// n > 0 allows up to n intermediate levels.
	MaxPathLen int
}

// NewSelfSignedCA creates a self-signed CA certificate for key. The
// certificate is valid from now minus Backdate until now plus tmpl.Duration,
// carries the key usages cert sign, CRL sign and digital signature, a
// subject key identifier, critical basic constraints with the template's
// path length, and a random 128-bit serial number. Self-signed roots carry
// no authority key identifier (RFC 5280, section 4.2.1.1 allows omitting it).
func NewSelfSignedCA(key crypto.Signer, tmpl CATemplate, now time.Time) (*x509.Certificate, error) {
	if key == nil {
		return nil, errors.New("creating CA: no private key")
	}
	key = normalizeSigner(key)
	if tmpl.Duration <= 0 {
		return nil, fmt.Errorf("creating CA: duration must be positive, got %s", tmpl.Duration)
	}
	if len(tmpl.Subject.ToRDNSequence()) == 0 {
		return nil, errors.New("creating CA: subject must not be empty")
	}
	pub := key.Public()
	if _, err := KeySpecOf(pub); err != nil {
		return nil, fmt.Errorf("creating CA: %w", err)
	}
	serial, err := newSerialNumber()
	if err != nil {
		return nil, fmt.Errorf("creating CA: %w", err)
	}
	ski, err := SubjectKeyID(pub)
	if err != nil {
		return nil, fmt.Errorf("creating CA: %w", err)
	}
	now = now.UTC().Truncate(time.Second)
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               tmpl.Subject,
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(tmpl.Duration),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski,
	}
	if err := setMaxPathLen(template, tmpl.MaxPathLen); err != nil {
		return nil, fmt.Errorf("creating CA: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, pub, key)
	if err != nil {
		return nil, fmt.Errorf("creating CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("creating CA: parsing the new certificate: %w", err)
	}
	return cert, nil
}

// setMaxPathLen translates certsmith's path length convention (-1 unlimited,
// 0 leaves only, n > 0) into the x509 package's fields.
func setMaxPathLen(template *x509.Certificate, maxPathLen int) error {
	switch {
	case maxPathLen < -1:
		return fmt.Errorf("max path length must be -1 (unlimited) or >= 0, got %d", maxPathLen)
	case maxPathLen == -1:
		template.MaxPathLen = -1
	case maxPathLen == 0:
		template.MaxPathLen = 0
		template.MaxPathLenZero = true
	default:
		template.MaxPathLen = maxPathLen
	}
	return nil
}

// newSerialNumber returns a positive, non-zero random serial number of up
// to serialBits bits.
func newSerialNumber() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), serialBits)
	for {
		serial, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generating serial number: %w", err)
		}
		// A serial with fewer than 64 significant bits happens with
		// probability 2^-64; retrying keeps the entropy guarantee exact.
		if serial.BitLen() >= 64 {
			return serial, nil
		}
	}
}

// SubjectKeyID computes a subject key identifier for pub with RFC 7093,
// section 2, method 1: the leftmost 160 bits of the SHA-256 hash of the
// subjectPublicKey BIT STRING (excluding tag, length and unused-bits octet).
func SubjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	spkiDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("computing subject key identifier: %w", err)
	}
	var spki struct {
		Algorithm        pkix.AlgorithmIdentifier
		SubjectPublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spkiDER, &spki); err != nil {
		return nil, fmt.Errorf("computing subject key identifier: %w", err)
	}
	sum := sha256.Sum256(spki.SubjectPublicKey.Bytes)
	return sum[:20], nil
}

// CA is a signing authority: its certificate, the chain of CA certificates
// above it (parent first, root last; empty for a root), and its key.
type CA struct {
	// Certificate is the CA's own certificate; it must be a CA certificate.
	Certificate *x509.Certificate
	// Chain holds the CA certificates above Certificate, parent first and
	// root last; it is empty for a root CA.
	Chain []*x509.Certificate
	// Key is the private key of Certificate. Any crypto.Signer whose public
	// key certsmith supports works, including HSM or KMS handles.
	Key crypto.Signer
}

// A CA may be shared between goroutines (the operator parses each CA
// Secret once): code that holds one reads it and never changes it.

// Roots returns the trust anchor(s) of the CA: the last certificate of
// Chain, or Certificate itself when Chain is empty and Certificate is
// self-signed. It returns nil when neither applies (an intermediate whose
// chain is unknown).
func (ca *CA) Roots() []*x509.Certificate {
	if ca == nil {
		return nil
	}
	if n := len(ca.Chain); n > 0 && ca.Chain[n-1] != nil {
		return []*x509.Certificate{ca.Chain[n-1]}
	}
	if ca.Certificate != nil && IsSelfSigned(ca.Certificate) {
		return []*x509.Certificate{ca.Certificate}
	}
	return nil
}

// IsSelfSigned reports whether cert's issuer is its own subject and its
// signature verifies with its own public key. The answer for each
// certificate (by the SHA-256 of what it depends on) is remembered: a CA's own
// signature is checked on every issuance otherwise, ~170 µs each for ECDSA
// P-256.
func IsSelfSigned(cert *x509.Certificate) bool {
	if cert == nil || !bytes.Equal(cert.RawIssuer, cert.RawSubject) {
		return false
	}
	if len(cert.Raw) == 0 {
		// Not parsed from DER (a template): nothing names it.
		return cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil
	}
	digest := selfSignedDigest(cert)
	if known, ok := selfSigned.get(digest); ok {
		return known
	}
	ok := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil
	selfSigned.put(digest, ok)
	return ok
}

// selfSignedDigest names what IsSelfSigned's answer depends on: the signed
// part (which holds the public key), the algorithm and the signature.
func selfSignedDigest(cert *x509.Certificate) [sha256.Size]byte {
	return DigestOfParts(cert.RawTBSCertificate, cert.Signature, []byte(cert.SignatureAlgorithm.String()))
}

// DigestOfParts is the SHA-256 of the parts, each preceded by its length
// (8 bytes, big-endian), so that no two different lists of parts have the
// same input: ("ab", "c") and ("a", "bc") differ. It keys memos by content.
func DigestOfParts(parts ...[]byte) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, part := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var digest [sha256.Size]byte
	h.Sum(digest[:0])
	return digest
}

// selfSignedMemoSize bounds the remembered answers of IsSelfSigned: a few
// per CA; when full, it starts over.
const selfSignedMemoSize = 512

// selfSigned remembers IsSelfSigned's answers. The answer follows from the
// DER alone (its issuer, subject, signed part, algorithm and signature).
var selfSigned = answerMemo{size: selfSignedMemoSize, answers: map[[sha256.Size]byte]bool{}}

// answerMemo remembers yes-or-no answers that follow from their inputs
// alone, by a digest of them (DigestOfParts), at most size of them; when
// full, it starts over.
type answerMemo struct {
	mu      sync.Mutex
	size    int
	answers map[[sha256.Size]byte]bool
}

func (m *answerMemo) get(digest [sha256.Size]byte) (answer, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	answer, ok = m.answers[digest]
	return answer, ok
}

func (m *answerMemo) put(digest [sha256.Size]byte, answer bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.answers) >= m.size {
		clear(m.answers)
	}
	m.answers[digest] = answer
}
