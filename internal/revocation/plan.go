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

package revocation

import (
	"crypto/x509"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/certsmith/certsmith/internal/pki"
)

// CA is one CA of an issuer, as Plan sees it.
type CA struct {
	// Certificate is the CA certificate.
	Certificate *x509.Certificate
	// Signer signs its CRLs; nil when certsmith does not hold its key (a
	// retiring CA stored by a release before 0.3): its entries are kept,
	// but no CRL of it is made.
	Signer *pki.CA
}

// Result is what Plan did.
type Result struct {
	// Changed says that the record differs from the one passed in.
	Changed bool
	// Signed lists the IDs of the CAs whose CRL Plan signed.
	Signed []string
	// Next is when Plan is due again: the earliest refresh time of a CRL,
	// or the end of a MinInterval that held back revocations.
	Next time.Time
	// Failed says, by CA ID, why a CA's CRL could not be signed (a CA
	// without the cRLSign key usage, say). That CA keeps its last CRL, if
	// any; the entries and the other CAs' CRLs are still brought up to date.
	Failed map[string]error
}

// Plan brings the record up to date at now for the issuer's CAs: entries of
// CAs the issuer no longer has, and entries whose certificate has expired
// (an unknown certificate's once its CA has), leave; each CA with a
// Signer gets a new CRL when it has none, when its entries changed and the
// last CRL is at least MinInterval old, or two thirds into the last one's
// validity. A CRL number is larger than the last and at least the Unix
// time of its thisUpdate, so that it increases even across a lost record.
func Plan(rec *Record, cas []CA, now time.Time, validity time.Duration) (*Record, Result, error) {
	if validity <= 0 {
		validity = DefaultValidity
	}
	out := &Record{}
	res := Result{}
	byID := map[string]CA{}
	for _, ca := range cas {
		byID[CAID(ca.Certificate)] = ca
	}
	perCA := map[string][]Entry{}
	for _, e := range rec.Entries {
		ca, ok := byID[e.CA]
		if !ok {
			continue
		}
		expiry := e.NotAfter
		if expiry.IsZero() {
			expiry = ca.Certificate.NotAfter
		}
		if now.Before(expiry) {
			perCA[e.CA] = append(perCA[e.CA], e)
			out.Entries = append(out.Entries, e)
		}
	}
	res.Changed = len(out.Entries) != len(rec.Entries)
	for _, ca := range cas {
		id := CAID(ca.Certificate)
		if ca.Signer == nil || !now.Before(ca.Certificate.NotAfter) {
			continue
		}
		revoked := make([]pki.Revoked, 0, len(perCA[id]))
		for _, e := range perCA[id] {
			revoked = append(revoked, e.Revoked)
		}
		d := digest(revoked)
		last, had := rec.CRLOf(id)
		fp := pki.FingerprintSHA256(ca.Certificate)
		if had && last.Fingerprint == fp && len(last.DER) > 0 {
			refresh := pki.CRLRefreshTime(last.ThisUpdate, last.NextUpdate)
			due := !now.Before(refresh)
			if !due && last.Digest != d {
				if coalesced := last.ThisUpdate.Add(MinInterval); now.Before(coalesced) {
					res.Next = earliest(res.Next, coalesced)
				} else {
					due = true
				}
			}
			if !due {
				out.CRLs = append(out.CRLs, last)
				res.Next = earliest(res.Next, refresh)
				continue
			}
		}
		number := big.NewInt(now.Unix())
		if had {
			if prev, ok := new(big.Int).SetString(last.Number, 10); ok && prev.Cmp(number) >= 0 {
				number = prev.Add(prev, big.NewInt(1))
			}
		}
		der, err := ca.Signer.CreateCRL(pki.CRLRequest{Revoked: pki.KeepRevoked(revoked, ca.Certificate.NotAfter, now), Number: number, Now: now, Validity: validity})
		var parsed *x509.RevocationList
		if err == nil {
			if parsed, err = x509.ParseRevocationList(der); err != nil {
				err = fmt.Errorf("reading the CRL just made: %w", err)
			}
		}
		if err != nil {
			if res.Failed == nil {
				res.Failed = map[string]error{}
			}
			res.Failed[id] = err
			if had && last.Fingerprint == fp {
				out.CRLs = append(out.CRLs, last)
			}
			continue
		}
		crl := CRL{CA: id, Fingerprint: fp, Number: number.String(), ThisUpdate: parsed.ThisUpdate.UTC(), NextUpdate: parsed.NextUpdate.UTC(),
			Revoked: len(revoked), Digest: d, DER: der}
		out.CRLs = append(out.CRLs, crl)
		res.Changed = true
		res.Signed = append(res.Signed, id)
		res.Next = earliest(res.Next, pki.CRLRefreshTime(crl.ThisUpdate, crl.NextUpdate))
	}
	if len(out.CRLs) != len(rec.CRLs) {
		res.Changed = true
	}
	slices.SortFunc(out.CRLs, func(a, b CRL) int {
		if a.CA < b.CA {
			return -1
		}
		if a.CA > b.CA {
			return 1
		}
		return 0
	})
	return out, res, nil
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
