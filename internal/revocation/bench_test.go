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
	"crypto/rand"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/certsmith/certsmith/internal/pki"
)

// BenchmarkPlanFullRecord is what the revocation controller does on a new
// revocation into a full record (MaxEntries, 128-bit serials, a reason and
// a notAfter each, nine namespaces and the cluster-scoped reserve): add it, re-sign the CA's CRL, and
// encode the record Secret. It reports the sizes (docs/benchmarks.md).
func BenchmarkPlanFullRecord(b *testing.B) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 256})
	if err != nil {
		b.Fatal(err)
	}
	cert, err := pki.NewSelfSignedCA(key, pki.CATemplate{Subject: pkix.Name{CommonName: "benchmark"}, Duration: 10 * 365 * 24 * time.Hour}, now)
	if err != nil {
		b.Fatal(err)
	}
	ca := &pki.CA{Certificate: cert, Key: key}
	base := &Record{}
	for i := range MaxEntries - 1 {
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			b.Fatal(err)
		}
		namespace := "" // the reserve of cluster-scoped revocations
		if i < MaxEntries-ReservedForCluster {
			namespace = fmt.Sprintf("team-%d", i/MaxEntriesPerNamespace)
		}
		base.Entries = append(base.Entries, Entry{CA: CAID(cert), Namespace: namespace,
			Revoked: pki.Revoked{Serial: serial.SetBit(serial, 127, 1), RevokedAt: now.Add(-time.Hour), Reason: pki.ReasonKeyCompromise, NotAfter: now.Add(90 * 24 * time.Hour)}})
	}
	cas := []CA{{Certificate: cert, Signer: ca}}
	first, _, err := Plan(base, cas, now.Add(-time.Hour), DefaultValidity)
	if err != nil {
		b.Fatal(err)
	}
	var crlBytes, recordBytes int
	b.ResetTimer()
	for b.Loop() {
		rec := &Record{Entries: append([]Entry(nil), first.Entries...), CRLs: first.CRLs}
		if _, err := rec.Add(Entry{CA: CAID(cert),
			Revoked: pki.Revoked{Serial: big.NewInt(42), RevokedAt: now, Reason: pki.ReasonSuperseded, NotAfter: now.Add(time.Hour)}}); err != nil {
			b.Fatal(err)
		}
		planned, res, err := Plan(rec, cas, now, DefaultValidity)
		if err != nil || len(res.Signed) != 1 {
			b.Fatalf("plan: %v, signed %v", err, res.Signed)
		}
		data, err := planned.Encode()
		if err != nil {
			b.Fatal(err)
		}
		crlBytes, recordBytes = len(planned.CRLs[0].DER), 0
		for _, v := range data {
			recordBytes += len(v)
		}
	}
	b.ReportMetric(float64(crlBytes), "CRL-bytes")
	b.ReportMetric(float64(recordBytes), "record-bytes")
}
