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
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ErrMalformedPEM reports input that is not valid PEM, lacks the expected
// PEM block, or whose block does not contain a parseable DER structure.
var ErrMalformedPEM = errors.New("malformed PEM")

// PEMTypeCertificate is the PEM block type of an X.509 certificate.
const PEMTypeCertificate = "CERTIFICATE"

// ParseCertificatesPEM parses every "CERTIFICATE" block in data, in order.
// Blocks of other types (for example a private key in a combined PEM file)
// are skipped. It returns an error wrapping ErrMalformedPEM if data holds no
// certificate, and an error naming the block if any certificate fails to
// parse.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != PEMTypeCertificate {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %w", ErrMalformedPEM, len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no %s PEM block found", ErrMalformedPEM, PEMTypeCertificate)
	}
	return certs, nil
}

// EncodeCertificatesPEM encodes certs as concatenated "CERTIFICATE" PEM
// blocks, in the order given. Nil certificates are skipped.
func EncodeCertificatesPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, cert := range certs {
		if cert == nil {
			continue
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: PEMTypeCertificate, Bytes: cert.Raw})...)
	}
	return out
}

// KeyMatchesCertificate reports whether key is the private half of the
// public key in cert.
func KeyMatchesCertificate(key crypto.Signer, cert *x509.Certificate) bool {
	if key == nil || cert == nil {
		return false
	}
	return PublicKeysEqual(normalizeSigner(key).Public(), cert.PublicKey)
}

// KeyMatchesRequest reports whether key is the private half of the public
// key in the request.
func KeyMatchesRequest(key crypto.Signer, request *x509.CertificateRequest) bool {
	if key == nil || request == nil {
		return false
	}
	return PublicKeysEqual(normalizeSigner(key).Public(), request.PublicKey)
}

// FingerprintSHA256 returns the SHA-256 fingerprint of cert's DER encoding as
// upper-case hex bytes separated by colons, the format of
// `openssl x509 -noout -fingerprint -sha256`.
func FingerprintSHA256(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	sum := sha256.Sum256(cert.Raw)
	return colonHex(sum[:])
}

func colonHex(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) * 3)
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return sb.String()
}
