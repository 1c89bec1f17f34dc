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
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// TrustAnchors returns the certificates that clients should trust for ca:
// its root, or the last certificate of its chain when no self-signed root is
// known (an imported intermediate without its root), or the CA itself.
func TrustAnchors(ca *CA) []*x509.Certificate {
	if roots := ca.Roots(); len(roots) > 0 {
		return roots
	}
	if n := len(ca.Chain); n > 0 {
		return ca.Chain[n-1:]
	}
	return []*x509.Certificate{ca.Certificate}
}

// Intermediates returns the certificates that travel with a leaf signed by
// ca: the CA itself unless it is the anchor, and every chain certificate
// below the anchor, in order.
func Intermediates(ca *CA) []*x509.Certificate {
	anchors := TrustAnchors(ca)
	var out []*x509.Certificate
	for _, cert := range append([]*x509.Certificate{ca.Certificate}, ca.Chain...) {
		if !ContainsCertificate(anchors, cert) {
			out = append(out, cert)
		}
	}
	return out
}

// ContainsCertificate reports whether certs holds cert (byte for byte).
func ContainsCertificate(certs []*x509.Certificate, cert *x509.Certificate) bool {
	for _, c := range certs {
		if c.Equal(cert) {
			return true
		}
	}
	return false
}

// AppendNew appends to certs those of more it does not hold yet.
func AppendNew(certs []*x509.Certificate, more ...*x509.Certificate) []*x509.Certificate {
	for _, c := range more {
		if c != nil && !ContainsCertificate(certs, c) {
			certs = append(certs, c)
		}
	}
	return certs
}

// ChainsTo reports whether cert was signed by ca and chains through ca's
// chain to ca's trust anchors at time at. Callers pass the certificate's
// own start (notBefore plus a second) to ask "was this signed by this CA"
// without the answer changing as the clock moves.
//
// The answer follows from the DER of cert and of ca's certificates and
// from at alone, so it is remembered (chainsToMemo): every reconcile of a
// certificate asks it, and it costs two signature checks.
func ChainsTo(cert *x509.Certificate, ca *CA, at time.Time) bool {
	if cert == nil || ca == nil || ca.Certificate == nil {
		return false
	}
	intermediates, anchors := Intermediates(ca), TrustAnchors(ca)
	digest, ok := chainsToDigest(cert, ca.Certificate, intermediates, anchors, at)
	if ok {
		if known, found := chainsTo.get(digest); found {
			return known
		}
	}
	answer := cert.CheckSignatureFrom(ca.Certificate) == nil && VerifyChain(cert, intermediates, anchors, "", at) == nil
	if ok {
		chainsTo.put(digest, answer)
	}
	return answer
}

// chainsToMemoSize bounds the remembered answers of ChainsTo: one per
// certificate and CA, enough for 10,000 certificates reconciled together
// (about 1 MiB); when full it starts over.
const chainsToMemoSize = 16384

var chainsTo = answerMemo{size: chainsToMemoSize, answers: map[[sha256.Size]byte]bool{}}

// chainsToDigest names what ChainsTo's answer depends on; false when a
// certificate was not parsed from DER (a template names nothing).
func chainsToDigest(cert, signer *x509.Certificate, intermediates, anchors []*x509.Certificate, at time.Time) ([sha256.Size]byte, bool) {
	if len(intermediates) > 255 {
		return [sha256.Size]byte{}, false
	}
	var when [8]byte
	binary.BigEndian.PutUint64(when[:], uint64(at.UnixNano()))
	parts := [][]byte{when[:], {byte(len(intermediates))}}
	for _, c := range slices.Concat([]*x509.Certificate{cert, signer}, intermediates, anchors) {
		// The signed part and the signature, as IsSelfSigned's memo: what
		// the checks read, also of a certificate changed in memory.
		if c == nil || len(c.RawTBSCertificate) == 0 {
			return [sha256.Size]byte{}, false
		}
		parts = append(parts, c.RawTBSCertificate, c.Signature, []byte(c.SignatureAlgorithm.String()))
	}
	return DigestOfParts(parts...), true
}

// AnchorsOf returns the trust anchors that cert chains to, building chains
// from known: a certificate of known is an anchor when it is self-signed or
// in trusted, otherwise an intermediate. A self-signed cert is its own
// anchor. Chains are built at cert's own start, so the answer does not
// depend on the clock.
func AnchorsOf(cert *x509.Certificate, known, trusted []*x509.Certificate) []*x509.Certificate {
	if cert == nil {
		return nil
	}
	if IsSelfSigned(cert) {
		return []*x509.Certificate{cert}
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range append(append([]*x509.Certificate(nil), trusted...), known...) {
		if c == nil {
			continue
		}
		if IsSelfSigned(c) || ContainsCertificate(trusted, c) {
			roots.AddCert(c)
		} else {
			inter.AddCert(c)
		}
	}
	chains, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		CurrentTime: cert.NotBefore.Add(time.Second), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for _, chain := range chains {
		out = AppendNew(out, chain[len(chain)-1])
	}
	return out
}

// IntermediateTemplate describes a CA certificate that a parent signs.
type IntermediateTemplate struct {
	// Subject is the intermediate's subject.
	Subject pkix.Name
	// Duration is the wanted lifetime; the parent's notAfter caps it.
	Duration time.Duration
	// MaxPathLen is the path length constraint; -1 for none.
	MaxPathLen int
}

// NewIntermediateCA has parent sign a CA certificate for key and returns
// the new CA with its chain (parent first, root last).
func NewIntermediateCA(parent *CA, key crypto.Signer, tmpl IntermediateTemplate, now time.Time) (*CA, error) {
	csrPEM, err := BuildCSR(key, CSRRequest{Subject: tmpl.Subject})
	if err != nil {
		return nil, err
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	cert, err := parent.Sign(SignRequest{CSR: csr, Duration: tmpl.Duration, IsCA: true, MaxPathLen: tmpl.MaxPathLen, Now: now})
	if err != nil {
		return nil, err
	}
	chain := append([]*x509.Certificate{parent.Certificate}, parent.Chain...)
	return &CA{Certificate: cert, Chain: chain, Key: key}, nil
}

// Errors of ParseCA; callers name the field they read.
var (
	// ErrNoCertificate: the certificate field is empty.
	ErrNoCertificate = errors.New("no certificate")
	// ErrNoKey: the key field is empty.
	ErrNoKey = errors.New("no private key")
)

// CAParseError says which part of a stored CA is wrong: "certificate",
// "key" or "roots". It never quotes key material.
type CAParseError struct {
	// Part is "certificate", "key" or "roots".
	Part string
	Err  error
}

func (e *CAParseError) Error() string { return e.Part + ": " + e.Err.Error() }

func (e *CAParseError) Unwrap() error { return e.Err }

// ParseCA loads a CA from PEM: certPEM holds the CA certificate followed by
// its chain, keyPEM its key, and the optional rootsPEM self-signed roots, of
// which the one that issued the last certificate of certPEM is added when
// certPEM does not end in a root. It checks that the certificate is a CA and
// that the key matches it.
func ParseCA(certPEM, keyPEM, rootsPEM []byte) (*CA, error) {
	if len(certPEM) == 0 {
		return nil, &CAParseError{"certificate", ErrNoCertificate}
	}
	if len(keyPEM) == 0 {
		return nil, &CAParseError{"key", ErrNoKey}
	}
	certs, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, &CAParseError{"certificate", err}
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, &CAParseError{"key", err}
	}
	// Clipped: a CA may be shared, and an append must not write into certs.
	ca := &CA{Certificate: certs[0], Chain: slices.Clip(certs[1:]), Key: key}
	if !ca.Certificate.IsCA || !ca.Certificate.BasicConstraintsValid {
		return nil, &CAParseError{"certificate", fmt.Errorf("%q is not a CA (basic constraints CA:TRUE missing)", ca.Certificate.Subject)}
	}
	if !KeyMatchesCertificate(key, ca.Certificate) {
		return nil, &CAParseError{"key", errors.New("does not match the public key of the CA certificate")}
	}
	if roots := ca.Roots(); (len(roots) == 0 || !IsSelfSigned(roots[0])) && len(rootsPEM) > 0 {
		extra, err := ParseCertificatesPEM(rootsPEM)
		if err != nil {
			return nil, &CAParseError{"roots", err}
		}
		// rootsPEM may be a bundle of several anchors (a rotation's old and
		// new root): only the root that issued the top of the chain belongs
		// at its end, once. Appending any other would make it the CA's trust
		// anchor, and nothing the CA signs would chain to it.
		// Of roots that share a key (one re-issued), the one valid longest.
		top := certs[len(certs)-1]
		var anchor *x509.Certificate
		for _, root := range extra {
			if IsSelfSigned(root) && !ContainsCertificate(certs, root) && top.CheckSignatureFrom(root) == nil &&
				(anchor == nil || root.NotAfter.After(anchor.NotAfter)) {
				anchor = root
			}
		}
		if anchor != nil {
			ca.Chain = append(ca.Chain, anchor)
		}
	}
	return ca, nil
}
