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

// Package revocation is an issuer's revocation record as a pure core: the
// revoked serial numbers of each of its CAs, the CRL each CA last signed,
// how both are stored in the record Secret ("<issuer>-revocations" in the
// operator's namespace, written only by the revocation controller), and
// Plan, which drops what has expired and signs a new CRL where one is due:
// after revocations (at most every MinInterval), two thirds into a CRL's
// validity, or for a CA that has none yet.
//
// The package imports the standard library and internal/pki only and never
// reads the wall clock: the caller passes the time.
package revocation

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certsmith/certsmith/internal/pki"
)

// Keys of the record Secret.
const (
	// KeyEntries holds the revoked serial numbers, one entry a line.
	KeyEntries = "revoked"
	// KeyState holds what the record knows of each CRL (JSON).
	KeyState = "crls.json"
	// CRLKeySuffix ends the key of each CA's current CRL (DER):
	// "<CA ID>.crl".
	CRLKeySuffix = ".crl"
	// SecretType is the type of the record Secret.
	SecretType = "certsmith.io/revocations"
)

// Bounds of a record.
const (
	// MaxEntries is how many entries an issuer's record holds at most: its
	// CRLs then stay well below the size of a ConfigMap (~48 bytes an
	// entry), and the record below that of a Secret.
	MaxEntries = 5000
	// MaxEntriesPerNamespace is how many of them one namespace's
	// revocations may take, so that one tenant cannot fill the record.
	MaxEntriesPerNamespace = 500
	// ReservedForCluster is how many entries only cluster-scoped
	// revocations (an admin's ClusterCertificateRevocation) may take:
	// namespaces together cannot fill the record and lock admins out.
	ReservedForCluster = 500
	// MinInterval is how soon after a CRL the next one may be made because
	// of new revocations: revocations in between are coalesced.
	MinInterval = 10 * time.Second
	// DefaultValidity is how long a CRL is valid unless the issuer says.
	DefaultValidity = 24 * time.Hour
	// maxRecordBytes bounds the encoded record (a Secret holds 1 MiB).
	maxRecordBytes = 960 << 10
)

// ErrFull says that a revocation does not fit into the record.
var ErrFull = errors.New("the revocation record is full")

// CAID is the short ID of a CA: the first 16 hex digits of the SHA-256 of
// its certificate, as in the URL of its CRL.
func CAID(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:8])
}

// Entry is one revoked certificate of one CA.
type Entry struct {
	// CA is the ID of the CA whose CRL lists it.
	CA string
	pki.Revoked
	// Namespace is the namespace whose revocation made the entry (a
	// CertificateRevocation, or revoking on deletion), empty for one an
	// administrator made (a ClusterCertificateRevocation).
	Namespace string
}

// CRL is the current CRL of one CA.
type CRL struct {
	// CA is the CA's ID, Fingerprint its SHA-256 fingerprint.
	CA          string `json:"ca"`
	Fingerprint string `json:"fingerprint"`
	// Number is the CRL number, in decimal.
	Number string `json:"number"`
	// ThisUpdate and NextUpdate of the CRL.
	ThisUpdate time.Time `json:"thisUpdate"`
	NextUpdate time.Time `json:"nextUpdate"`
	// Revoked is how many entries it lists.
	Revoked int `json:"revoked"`
	// Digest identifies the entries it lists.
	Digest string `json:"digest"`
	// DER is the CRL (stored under its own key).
	DER []byte `json:"-"`
}

// Record is an issuer's revocation record.
type Record struct {
	Entries []Entry
	CRLs    []CRL
}

// Decode reads a record from the record Secret's data; no data is an empty
// record. An entry that does not parse is an error, never skipped: writing
// the record back would lose it.
func Decode(data map[string][]byte) (*Record, error) {
	rec := &Record{}
	for i, line := range strings.Split(string(data[KeyEntries]), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := parseEntry(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", KeyEntries, i+1, err)
		}
		rec.Entries = append(rec.Entries, e)
	}
	if raw := data[KeyState]; len(raw) > 0 {
		if err := json.Unmarshal(raw, &rec.CRLs); err != nil {
			return nil, fmt.Errorf("%s: %w", KeyState, err)
		}
	}
	for i := range rec.CRLs {
		rec.CRLs[i].DER = data[rec.CRLs[i].CA+CRLKeySuffix]
	}
	return rec, nil
}

// parseEntry reads "<ca> <serial hex> <revoked at> <reason> <not after> <namespace>",
// times in Unix seconds, a zero notAfter for an unknown certificate, "-"
// for no namespace.
func parseEntry(line string) (Entry, error) {
	f := strings.Fields(line)
	if len(f) != 6 {
		return Entry{}, fmt.Errorf("want 6 fields, got %d", len(f))
	}
	serial, ok := new(big.Int).SetString(f[1], 16)
	if !ok || serial.Sign() <= 0 {
		return Entry{}, fmt.Errorf("serial number %q is not positive hexadecimal", f[1])
	}
	revokedAt, err1 := strconv.ParseInt(f[2], 10, 64)
	reason, err2 := strconv.Atoi(f[3])
	notAfter, err3 := strconv.ParseInt(f[4], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Entry{}, err
	}
	if !pki.ValidRevocationReason(reason) {
		return Entry{}, fmt.Errorf("reason %d is not one a CRL entry may carry", reason)
	}
	e := Entry{CA: f[0], Revoked: pki.Revoked{Serial: serial, RevokedAt: time.Unix(revokedAt, 0).UTC(), Reason: reason}}
	if notAfter != 0 {
		e.NotAfter = time.Unix(notAfter, 0).UTC()
	}
	if f[5] != "-" {
		e.Namespace = f[5]
	}
	return e, nil
}

func formatEntry(e Entry) string {
	notAfter, ns := int64(0), e.Namespace
	if !e.NotAfter.IsZero() {
		notAfter = e.NotAfter.Unix()
	}
	if ns == "" {
		ns = "-"
	}
	return fmt.Sprintf("%s %s %d %d %d %s", e.CA, e.Serial.Text(16), e.RevokedAt.Unix(), e.Reason, notAfter, ns)
}

// Encode renders the record as the record Secret's data: entries sorted by
// CA and serial, so that the same record encodes the same.
func (r *Record) Encode() (map[string][]byte, error) {
	entries := slices.Clone(r.Entries)
	slices.SortFunc(entries, compareEntries)
	var buf bytes.Buffer
	for _, e := range entries {
		buf.WriteString(formatEntry(e))
		buf.WriteByte('\n')
	}
	state, err := json.Marshal(r.CRLs)
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{KeyEntries: buf.Bytes(), KeyState: state}
	size := buf.Len() + len(state)
	for _, c := range r.CRLs {
		data[c.CA+CRLKeySuffix] = c.DER
		size += len(c.DER)
	}
	if size > maxRecordBytes {
		return nil, fmt.Errorf("%w: %d bytes encoded, at most %d", ErrFull, size, maxRecordBytes)
	}
	return data, nil
}

func compareEntries(a, b Entry) int {
	if c := strings.Compare(a.CA, b.CA); c != 0 {
		return c
	}
	return a.Serial.Cmp(b.Serial)
}

// Lookup returns the entry of a CA's serial, if the record has one.
func (r *Record) Lookup(ca string, serial *big.Int) (Entry, bool) {
	for _, e := range r.Entries {
		if e.CA == ca && e.Serial.Cmp(serial) == 0 {
			return e, true
		}
	}
	return Entry{}, false
}

// Add records e unless the record has it already (same CA and serial: the
// first revocation stands) and says whether it added. It refuses, with
// ErrFull, an entry past MaxEntries, or, for a namespace's revocation, past
// MaxEntriesPerNamespace or into the ReservedForCluster entries.
func (r *Record) Add(e Entry) (bool, error) {
	if _, ok := r.Lookup(e.CA, e.Serial); ok {
		return false, nil
	}
	if len(r.Entries) >= MaxEntries {
		return false, fmt.Errorf("%w: it has %d entries, at most %d", ErrFull, len(r.Entries), MaxEntries)
	}
	if e.Namespace != "" {
		n, namespaced := 0, 0
		for _, x := range r.Entries {
			if x.Namespace == e.Namespace {
				n++
			}
			if x.Namespace != "" {
				namespaced++
			}
		}
		if n >= MaxEntriesPerNamespace {
			return false, fmt.Errorf("%w: namespace %s has %d entries, at most %d", ErrFull, e.Namespace, n, MaxEntriesPerNamespace)
		}
		if namespaced >= MaxEntries-ReservedForCluster {
			return false, fmt.Errorf("%w: namespaces have %d entries, at most %d (the other %d are kept for cluster-scoped revocations)",
				ErrFull, namespaced, MaxEntries-ReservedForCluster, ReservedForCluster)
		}
	}
	r.Entries = append(r.Entries, e)
	return true, nil
}

// CRLOf returns the current CRL of a CA, if the record has one.
func (r *Record) CRLOf(ca string) (CRL, bool) {
	for _, c := range r.CRLs {
		if c.CA == ca {
			return c, true
		}
	}
	return CRL{}, false
}

// Lists reports whether the current CRL of a CA lists the serial: what
// the signed CRL holds, whatever has been added to the record since (an
// entry added later does not make an earlier one look unpublished).
func (r *Record) Lists(ca string, serial *big.Int) bool {
	c, ok := r.CRLOf(ca)
	if !ok {
		return false
	}
	_, listed := listedSerials(c)[serial.Text(16)]
	return listed
}

// listedMemo keeps the serials of the last CRLs parsed, by CA, number and
// digest: a CRL is parsed once, not once per revocation that asks.
var listedMemo struct {
	sync.Mutex
	sets map[string]map[string]struct{}
}

// maxListedMemo bounds listedMemo (CRLs of a few issuers at once).
const maxListedMemo = 32

// listedSerials returns the serials (lowercase hex) a CRL lists; none when
// its DER does not parse.
func listedSerials(c CRL) map[string]struct{} {
	key := c.CA + "/" + c.Number + "/" + c.Digest
	listedMemo.Lock()
	defer listedMemo.Unlock()
	if set, ok := listedMemo.sets[key]; ok {
		return set
	}
	set := map[string]struct{}{}
	if crl, err := x509.ParseRevocationList(c.DER); err == nil {
		for _, e := range crl.RevokedCertificateEntries {
			set[e.SerialNumber.Text(16)] = struct{}{}
		}
	}
	if listedMemo.sets == nil || len(listedMemo.sets) >= maxListedMemo {
		listedMemo.sets = map[string]map[string]struct{}{}
	}
	listedMemo.sets[key] = set
	return set
}

// digest identifies a set of entries as a CRL lists them.
func digest(entries []pki.Revoked) string {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b pki.Revoked) int { return a.Serial.Cmp(b.Serial) })
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%s %d %d\n", e.Serial.Text(16), e.RevokedAt.Unix(), e.Reason)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// PEM is what the issuer publishes: its CAs' current CRLs, PEM-encoded, in
// the order of their CA IDs. The bundle ConfigMaps carry exactly this
// under "ca.crl", and the CRL server serves it as /crl/<issuer>.pem.
func (r *Record) PEM() []byte {
	var out []byte
	for _, c := range r.CRLs {
		if len(c.DER) > 0 {
			out = append(out, pki.EncodeCRLPEM(c.DER)...)
		}
	}
	return out
}

// SecretName is the name of an issuer's record Secret, "<issuer>-revocations",
// shortened with a hash of the issuer's name where that would pass 253
// characters.
func SecretName(issuer string) string {
	const suffix = "-revocations"
	if len(issuer)+len(suffix) <= 253 {
		return issuer + suffix
	}
	sum := sha256.Sum256([]byte(issuer))
	keep := 253 - len(suffix) - 17
	return strings.TrimRight(issuer[:keep], "-.") + "-" + hex.EncodeToString(sum[:8]) + suffix
}
