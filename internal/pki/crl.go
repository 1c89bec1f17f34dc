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
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Revocation reasons of RFC 5280, section 5.3.1 (7 is not used).
const (
	ReasonUnspecified          = 0
	ReasonKeyCompromise        = 1
	ReasonCACompromise         = 2
	ReasonAffiliationChanged   = 3
	ReasonSuperseded           = 4
	ReasonCessationOfOperation = 5
	ReasonCertificateHold      = 6
	ReasonRemoveFromCRL        = 8
	ReasonPrivilegeWithdrawn   = 9
	ReasonAACompromise         = 10
)

// Revoked is one revoked certificate of a CA.
type Revoked struct {
	// Serial is the certificate's serial number.
	Serial *big.Int
	// RevokedAt is when it was revoked.
	RevokedAt time.Time
	// Reason is an RFC 5280 reason code; ReasonUnspecified is left out of
	// the entry, as RFC 5280 asks.
	Reason int
	// NotAfter is the certificate's expiry, zero when the certificate is
	// not known (a serial named by hand): the entry then stays until the
	// CA itself expires.
	NotAfter time.Time
}

// ValidRevocationReason reports whether code is an RFC 5280 reason that a
// CA's CRL may carry for a leaf: removeFromCRL belongs to delta CRLs, and
// 7 is unassigned.
func ValidRevocationReason(code int) bool {
	return code >= ReasonUnspecified && code <= ReasonAACompromise && code != 7 && code != ReasonRemoveFromCRL
}

// KeepRevoked returns the entries a CRL issued at now must still list: an
// entry leaves once its certificate has expired (RFC 5280 allows dropping
// it then), an entry of an unknown certificate once the CA has expired.
// The result is sorted by serial number, so that the same set makes the
// same CRL.
func KeepRevoked(entries []Revoked, caNotAfter, now time.Time) []Revoked {
	kept := make([]Revoked, 0, len(entries))
	for _, e := range entries {
		expiry := e.NotAfter
		if expiry.IsZero() {
			expiry = caNotAfter
		}
		if now.Before(expiry) {
			kept = append(kept, e)
		}
	}
	slices.SortFunc(kept, func(a, b Revoked) int { return a.Serial.Cmp(b.Serial) })
	return kept
}

// CRLRequest is what a CRL says.
type CRLRequest struct {
	// Revoked are the entries, as KeepRevoked returns them.
	Revoked []Revoked
	// Number is the CRL number; each CRL of a CA must have a larger one.
	Number *big.Int
	// Now is thisUpdate.
	Now time.Time
	// Validity is how long until nextUpdate.
	Validity time.Duration
}

// CreateCRL makes a DER CRL (RFC 5280, version 2) signed by ca: thisUpdate
// now, nextUpdate now plus the validity but never after the CA's expiry,
// the CRL number, the authority key identifier of the CA, and each entry's
// reason code. Times are whole seconds.
func (ca *CA) CreateCRL(req CRLRequest) ([]byte, error) {
	if err := ca.checkCanSign(req.Now); err != nil {
		return nil, err
	}
	if ca.Certificate.KeyUsage != 0 && ca.Certificate.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return nil, errors.New("creating CRL: the CA certificate lacks the CRL sign key usage")
	}
	if req.Number == nil || req.Number.Sign() <= 0 {
		return nil, errors.New("creating CRL: the CRL number must be positive")
	}
	if req.Validity <= 0 {
		return nil, fmt.Errorf("creating CRL: validity must be positive, got %s", req.Validity)
	}
	thisUpdate := req.Now.UTC().Truncate(time.Second)
	nextUpdate := thisUpdate.Add(req.Validity)
	if caNotAfter := ca.Certificate.NotAfter.UTC(); nextUpdate.After(caNotAfter) {
		nextUpdate = caNotAfter
	}
	entries := make([]x509.RevocationListEntry, 0, len(req.Revoked))
	for _, r := range req.Revoked {
		if r.Serial == nil || r.Serial.Sign() <= 0 {
			return nil, errors.New("creating CRL: an entry has no positive serial number")
		}
		if !ValidRevocationReason(r.Reason) {
			return nil, fmt.Errorf("creating CRL: reason %d of serial %x is not a reason a CRL entry may carry", r.Reason, r.Serial)
		}
		entry := x509.RevocationListEntry{SerialNumber: r.Serial, RevocationTime: r.RevokedAt.UTC().Truncate(time.Second)}
		if r.Reason != ReasonUnspecified {
			entry.ReasonCode = r.Reason
		}
		entries = append(entries, entry)
	}
	template := &x509.RevocationList{
		Number:                    req.Number,
		ThisUpdate:                thisUpdate,
		NextUpdate:                nextUpdate,
		RevokedCertificateEntries: entries,
	}
	der, err := x509.CreateRevocationList(rand.Reader, template, ca.Certificate, normalizeSigner(ca.Key))
	if err != nil {
		return nil, fmt.Errorf("creating CRL: %w", err)
	}
	return der, nil
}

// CRLRefreshTime is when a CRL valid from thisUpdate to nextUpdate is made
// again although nothing changed: two thirds into its validity, so that a
// client never holds one past its nextUpdate while certsmith runs.
func CRLRefreshTime(thisUpdate, nextUpdate time.Time) time.Time {
	return thisUpdate.Add(fractionOf(nextUpdate.Sub(thisUpdate), 2, 3))
}

// EncodeCRLPEM encodes a DER CRL as a PEM "X509 CRL" block.
func EncodeCRLPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// IsRevoked reports whether a CRL lists a certificate's serial number.
// The caller checks that the CRL is the certificate issuer's.
func IsRevoked(crl *x509.RevocationList, cert *x509.Certificate) bool {
	return slices.ContainsFunc(crl.RevokedCertificateEntries, func(e x509.RevocationListEntry) bool {
		return e.SerialNumber.Cmp(cert.SerialNumber) == 0
	})
}
