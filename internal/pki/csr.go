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
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
)

// ErrBadCSRSignature reports a certificate signing request whose
// self-signature does not verify: it was tampered with, or was not signed by
// the key it names.
var ErrBadCSRSignature = errors.New("certificate signing request signature does not verify")

// PEM block types of certificate signing requests.
const (
	// PEMTypeCertificateRequest is the PEM block type of a PKCS#10 CSR.
	PEMTypeCertificateRequest = "CERTIFICATE REQUEST"
	// PEMTypeNewCertificateRequest is the legacy block type that some tools
	// (older openssl, Netscape) still write for a PKCS#10 CSR.
	PEMTypeNewCertificateRequest = "NEW CERTIFICATE REQUEST"
)

// CSRRequest holds the names to put into a certificate signing request.
type CSRRequest struct {
	// Subject is the distinguished name (CommonName, Organization, ...).
	Subject pkix.Name
	// DNSNames are the DNS subject alternative names.
	DNSNames []string
	// IPAddresses are the IP address subject alternative names.
	IPAddresses []net.IP
	// URIs are the URI subject alternative names (for example SPIFFE IDs).
	URIs []*url.URL
	// EmailAddresses are the email (rfc822Name) subject alternative names.
	EmailAddresses []string
}

// BuildCSR creates a PKCS#10 certificate signing request for req, signed by
// key, and returns it PEM-encoded as a "CERTIFICATE REQUEST" block. The
// signature algorithm is the standard library's default for the key type.
func BuildCSR(key crypto.Signer, req CSRRequest) ([]byte, error) {
	if key == nil {
		return nil, errors.New("building CSR: no private key")
	}
	key = normalizeSigner(key)
	if _, err := KeySpecOf(key.Public()); err != nil {
		return nil, fmt.Errorf("building CSR: %w", err)
	}
	template := &x509.CertificateRequest{
		Subject:        req.Subject,
		DNSNames:       req.DNSNames,
		IPAddresses:    req.IPAddresses,
		URIs:           req.URIs,
		EmailAddresses: req.EmailAddresses,
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, template, key)
	if err != nil {
		return nil, fmt.Errorf("building CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PEMTypeCertificateRequest, Bytes: der}), nil
}

// ParseCSR decodes the first certificate request PEM block in data, parses
// it and checks its self-signature. It returns an error wrapping
// ErrMalformedPEM when there is no such block or its content does not parse,
// ErrUnsupportedKey when the request's public key is of a type certsmith does
// not support, and ErrBadCSRSignature when the signature does not verify.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	rest := data
	var block *pem.Block
	for {
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%w: no %s PEM block found", ErrMalformedPEM, PEMTypeCertificateRequest)
		}
		if block.Type == PEMTypeCertificateRequest || block.Type == PEMTypeNewCertificateRequest {
			break
		}
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing certificate request: %w", ErrMalformedPEM, err)
	}
	if _, err := KeySpecOf(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if k, ok := csr.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() > MaxRSAKeySize {
		// Before the signature check, which a huge key makes expensive.
		return nil, fmt.Errorf("certificate request: %w", checkRSASize(k))
	}
	if err := checkCSRSignature(csr); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSRSignature, err)
	}
	return csr, nil
}

// csrSignaturesMemoSize bounds the remembered CSR signature checks: the
// CSRs of a burst, each parsed by a few reconciles and signed once.
const csrSignaturesMemoSize = 4096

// csrSignatures remembers the CSRs whose signature checked out, by their
// signed part, algorithm and signature: a CSR is parsed by every
// reconcile that looks at it, and checked again when signed.
var csrSignatures = answerMemo{size: csrSignaturesMemoSize, answers: map[[sha256.Size]byte]bool{}}

// checkCSRSignature is csr.CheckSignature, remembered for CSRs parsed
// from DER; only a good signature is remembered, a bad one is checked
// again each time (and fails again).
func checkCSRSignature(csr *x509.CertificateRequest) error {
	if len(csr.RawTBSCertificateRequest) == 0 {
		return csr.CheckSignature()
	}
	digest := DigestOfParts(csr.RawTBSCertificateRequest, csr.Signature, []byte(csr.SignatureAlgorithm.String()))
	if ok, found := csrSignatures.get(digest); found && ok {
		return nil
	}
	if err := csr.CheckSignature(); err != nil {
		return err
	}
	csrSignatures.put(digest, true)
	return nil
}
