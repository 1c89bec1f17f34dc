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

package ca

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/certsmith/certsmith/internal/pki"
)

// Keys of a stored CA set: the data keys and annotations of the CA Secret.
const (
	// KeyCertificate holds the active CA certificate followed by its chain.
	KeyCertificate = "tls.crt"
	// KeyPrivateKey holds the active CA's key.
	KeyPrivateKey = "tls.key"
	// KeyBundle holds the trust bundle: the anchors of every CA in the set.
	KeyBundle = "ca.crt"
	// KeyNextCertificate and KeyNextPrivateKey hold the next CA of a rotation.
	KeyNextCertificate = "next.crt"
	KeyNextPrivateKey  = "next.key"
	// KeyRetiring holds the retired CAs that are still trusted.
	KeyRetiring = "retiring.crt"
	// KeyRetiringChains holds the chains of the retiring CAs (intermediates
	// and anchors), so their anchors stay known after the switch.
	KeyRetiringChains = "retiring-chain.crt"
	// KeyRetiringKeys holds the keys of the retiring CAs, so that each can
	// keep signing its CRL while what it signed is still valid (sets stored
	// before 0.3 have none: their retiring CAs get no CRL).
	KeyRetiringKeys = "retiring.key"

	// AnnotationRetireAfter maps each retired CA's fingerprint to the
	// signed-until mark frozen when it stopped signing.
	AnnotationRetireAfter = "certsmith.io/retire-after"
	// AnnotationRotateHandled records the last rotation request acted on,
	// written with the CA it made so that a stale status cannot fire it twice.
	AnnotationRotateHandled = "certsmith.io/rotate-request-handled"
	// AnnotationSignedUntil maps CA fingerprints to the latest notAfter each
	// may have signed. The signer keeps these marks in an object of its own;
	// on a CA Secret the annotation is what releases before 0.2 wrote there,
	// still honoured until the CAs it names are gone.
	AnnotationSignedUntil = "certsmith.io/signed-until"
)

// Forever stands for "still in use": a CA that something still signs under.
var Forever = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Set is the CAs an issuer keeps.
type Set struct {
	// Active signs.
	Active *pki.CA
	// Next is published in the bundle during a root rotation, before it signs.
	Next *pki.CA
	// Retiring are the CAs that signed before; still trusted.
	Retiring []*x509.Certificate
	// RetiringChains are the chain certificates and anchors of Retiring.
	RetiringChains []*x509.Certificate
	// RetiringKeys are the keys of Retiring, by certificate fingerprint,
	// for signing their CRLs; a retiring CA may have none.
	RetiringKeys map[string]crypto.Signer
	// RetireAfter is, per retired CA fingerprint, the signed-until mark
	// frozen at the switch.
	RetireAfter map[string]time.Time
	// LegacySignedUntil are signed-until marks found on the stored set
	// (written there by earlier releases); kept until their CA is gone.
	LegacySignedUntil map[string]time.Time
	// Bundle is the trust bundle: the anchors of every CA in the set.
	Bundle []*x509.Certificate
	// RotateHandled is the last rotation request acted on.
	RotateHandled string
	// nextDropped: Decode found a next CA that is not whole and left it out.
	nextDropped bool
}

// Fingerprints returns the SHA-256 fingerprints of every CA in the set.
func (s *Set) Fingerprints() []string {
	out := []string{pki.FingerprintSHA256(s.Active.Certificate)}
	if s.Next != nil {
		out = append(out, pki.FingerprintSHA256(s.Next.Certificate))
	}
	for _, c := range s.Retiring {
		out = append(out, pki.FingerprintSHA256(c))
	}
	return out
}

// clone returns a copy that can be changed without touching s.
func (s *Set) clone() *Set {
	out := *s
	out.Retiring = append([]*x509.Certificate(nil), s.Retiring...)
	out.RetiringChains = append([]*x509.Certificate(nil), s.RetiringChains...)
	out.RetiringKeys = maps.Clone(s.RetiringKeys)
	if out.RetiringKeys == nil {
		out.RetiringKeys = map[string]crypto.Signer{}
	}
	out.RetireAfter = maps.Clone(s.RetireAfter)
	out.LegacySignedUntil = maps.Clone(s.LegacySignedUntil)
	out.Bundle = append([]*x509.Certificate(nil), s.Bundle...)
	if out.RetireAfter == nil {
		out.RetireAfter = map[string]time.Time{}
	}
	if out.LegacySignedUntil == nil {
		out.LegacySignedUntil = map[string]time.Time{}
	}
	return &out
}

// Role is what a CA of a set does.
type Role string

// Roles of the CAs in a set.
const (
	RoleActive   Role = "Active"
	RoleNext     Role = "Next"
	RoleRetiring Role = "Retiring"
)

// Member describes one CA of a set, for status.
type Member struct {
	Certificate *x509.Certificate
	Role        Role
	// RetireAfter is the frozen mark of a retiring CA; zero otherwise.
	RetireAfter time.Time
}

// Members lists the CAs of the set: active, next, then retiring.
func (s *Set) Members() []Member {
	out := []Member{{Certificate: s.Active.Certificate, Role: RoleActive}}
	if s.Next != nil {
		out = append(out, Member{Certificate: s.Next.Certificate, Role: RoleNext})
	}
	for _, c := range s.Retiring {
		out = append(out, Member{Certificate: c, Role: RoleRetiring, RetireAfter: s.RetireAfter[pki.FingerprintSHA256(c)]})
	}
	return out
}

// Decode reads a stored set from the CA Secret's data and annotations. The
// error names the key that is wrong, never key material.
func Decode(data map[string][]byte, annotations map[string]string) (*Set, error) {
	// The bundle is derived (the plan rebuilds it): an unreadable one is
	// no reason to stop, nor to make a new CA.
	bundle, err := pki.ParseCertificatesPEM(data[KeyBundle])
	rootsPEM := data[KeyBundle]
	if err != nil {
		bundle, rootsPEM = nil, nil
	}
	active, err := pki.ParseCA(data[KeyCertificate], data[KeyPrivateKey], rootsPEM)
	if err != nil {
		return nil, err
	}
	set := &Set{Active: active, Bundle: bundle, RotateHandled: annotations[AnnotationRotateHandled],
		RetireAfter: DecodeMarks(annotations[AnnotationRetireAfter]), LegacySignedUntil: DecodeMarks(annotations[AnnotationSignedUntil])}
	if len(data[KeyNextCertificate]) > 0 || len(data[KeyNextPrivateKey]) > 0 {
		// A next CA that is not whole (no key, a key that does not match,
		// not a CA) is dropped: it never signed, and the plan starts the
		// rotation over with a new one.
		if next, err := pki.ParseCA(data[KeyNextCertificate], data[KeyNextPrivateKey], nil); err == nil {
			set.Next = next
		} else {
			set.nextDropped = true
		}
	}
	for key, into := range map[string]*[]*x509.Certificate{KeyRetiring: &set.Retiring, KeyRetiringChains: &set.RetiringChains} {
		if raw := data[key]; len(raw) > 0 {
			if *into, err = pki.ParseCertificatesPEM(raw); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	if raw := data[KeyRetiringKeys]; len(raw) > 0 {
		// A key that does not parse or belongs to no retiring CA is left
		// out: it costs that CA its CRL, never the set.
		set.RetiringKeys = decodeRetiringKeys(raw, set.Retiring)
	}
	return set, nil
}

// decodeRetiringKeys reads the PEM keys of retiring CAs and files each
// under the fingerprint of the certificate it belongs to.
func decodeRetiringKeys(raw []byte, retiring []*x509.Certificate) map[string]crypto.Signer {
	out := map[string]crypto.Signer{}
	for rest := raw; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return out
		}
		key, err := pki.ParsePrivateKeyPEM(pem.EncodeToMemory(block))
		if err != nil {
			continue
		}
		for _, cert := range retiring {
			if pki.KeyMatchesCertificate(key, cert) {
				out[pki.FingerprintSHA256(cert)] = key
			}
		}
	}
}

// RetiringCA returns a retiring CA that can sign (its CRL), or nil when
// the set holds no key for it.
func (s *Set) RetiringCA(cert *x509.Certificate) *pki.CA {
	key := s.RetiringKeys[pki.FingerprintSHA256(cert)]
	if key == nil {
		return nil
	}
	return &pki.CA{Certificate: cert, Key: key}
}

// Encode renders the set as the CA Secret's data, and the annotations it
// keeps: every key of the result is the set's to write, an empty value
// meaning "remove".
func (s *Set) Encode() (map[string][]byte, map[string]string, error) {
	keyPEM, err := pki.EncodePrivateKeyPEM(s.Active.Key, pki.KeyEncodingPKCS8)
	if err != nil {
		return nil, nil, err
	}
	data := map[string][]byte{
		KeyCertificate: pki.EncodeCertificatesPEM(append([]*x509.Certificate{s.Active.Certificate}, s.Active.Chain...)...),
		KeyPrivateKey:  keyPEM,
		KeyBundle:      pki.EncodeCertificatesPEM(s.Bundle...),
	}
	if s.Next != nil {
		nextKey, err := pki.EncodePrivateKeyPEM(s.Next.Key, pki.KeyEncodingPKCS8)
		if err != nil {
			return nil, nil, err
		}
		data[KeyNextCertificate] = pki.EncodeCertificatesPEM(append([]*x509.Certificate{s.Next.Certificate}, s.Next.Chain...)...)
		data[KeyNextPrivateKey] = nextKey
	}
	if len(s.Retiring) > 0 {
		data[KeyRetiring] = pki.EncodeCertificatesPEM(s.Retiring...)
		if len(s.RetiringChains) > 0 {
			data[KeyRetiringChains] = pki.EncodeCertificatesPEM(s.RetiringChains...)
		}
		var keys []byte
		for _, cert := range s.Retiring {
			if key := s.RetiringKeys[pki.FingerprintSHA256(cert)]; key != nil {
				keyPEM, err := pki.EncodePrivateKeyPEM(key, pki.KeyEncodingPKCS8)
				if err != nil {
					return nil, nil, err
				}
				keys = append(keys, keyPEM...)
			}
		}
		if len(keys) > 0 {
			data[KeyRetiringKeys] = keys
		}
	}
	annotations := map[string]string{
		AnnotationRetireAfter:   EncodeMarks(s.RetireAfter),
		AnnotationSignedUntil:   EncodeMarks(s.LegacySignedUntil),
		AnnotationRotateHandled: s.RotateHandled,
	}
	return data, annotations, nil
}

// DecodeMarks reads a fingerprint → time map; anything unreadable counts as
// no mark.
func DecodeMarks(raw string) map[string]time.Time {
	out := map[string]time.Time{}
	if raw == "" {
		return out
	}
	var strs map[string]string
	if json.Unmarshal([]byte(raw), &strs) != nil {
		return out
	}
	for k, v := range strs {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			out[k] = t
		}
	}
	return out
}

// EncodeMarks writes a fingerprint → time map ("" for none), to the second.
func EncodeMarks(marks map[string]time.Time) string {
	if len(marks) == 0 {
		return ""
	}
	strs := map[string]string{}
	for k, v := range marks {
		strs[k] = v.UTC().Format(time.RFC3339)
	}
	raw, _ := json.Marshal(strs)
	return string(raw)
}

// SignedUntilMark is the mark the signer records, before it releases a
// certificate valid until notAfter, for the CA that signed it: notAfter
// plus headroom (a tenth of the certificate's lifetime, at least a minute,
// at most a day), so that most issuances need no new mark; never past the
// CA's own notAfter.
func SignedUntilMark(notBefore, notAfter, caNotAfter time.Time) time.Time {
	headroom := min(max(notAfter.Sub(notBefore)/10, time.Minute), 24*time.Hour)
	if mark := notAfter.Add(headroom); mark.Before(caNotAfter) {
		return mark
	}
	return caNotAfter
}

// RaiseMark returns the marks with fp raised to cover notAfter (the value
// SignedUntilMark gives), keeping only the fingerprints in keep (the CAs
// the issuer still has), and whether anything changed. A mark never goes
// down.
func RaiseMark(marks map[string]time.Time, fp string, notBefore, notAfter, caNotAfter time.Time, keep []string) (map[string]time.Time, bool) {
	out := map[string]time.Time{}
	changed := false
	for k, v := range marks {
		if k == fp || slices.Contains(keep, k) {
			out[k] = v
		} else {
			changed = true
		}
	}
	if notAfter.After(out[fp]) {
		out[fp] = SignedUntilMark(notBefore, notAfter, caNotAfter)
		changed = true
	}
	return out, changed
}
