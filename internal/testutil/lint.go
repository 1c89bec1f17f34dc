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

package testutil

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// LintSources are the zlint lint sources that LintCertificate runs: the
// IETF profiles that apply to any X.509 certificate, whatever PKI it belongs
// to. WebPKI-specific sources (CA/Browser Forum, Mozilla, Apple, ...) are
// deliberately left out: certsmith issues certificates for private,
// in-cluster PKIs.
var LintSources = lint.SourceList{
	lint.RFC5280, // Internet X.509 certificate profile
	lint.RFC5480, // ECC SubjectPublicKeyInfo
	lint.RFC8813, // ECC key usage clarifications
}

// registry is the global zlint registry filtered to LintSources, built once.
var registry = sync.OnceValues(func() (lint.Registry, error) {
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: LintSources})
	if err != nil {
		return nil, fmt.Errorf("filtering the zlint registry: %w", err)
	}
	if len(reg.CertificateLints().Lints()) == 0 {
		// An empty registry would make every certificate "pass".
		return nil, fmt.Errorf("no zlint certificate lint has source %v", LintSources)
	}
	return reg, nil
})

// LintNames returns the sorted names of the certificate lints that
// LintCertificate runs. It panics if the zlint registry cannot be filtered,
// which is a programming error.
func LintNames() []string {
	reg, err := registry()
	if err != nil {
		panic(err)
	}
	var names []string
	for _, l := range reg.CertificateLints().Lints() {
		names = append(names, l.Name)
	}
	slices.Sort(names)
	return names
}

// LintCertificate runs zlint's RFC 5280, RFC 5480 and RFC 8813 certificate
// lints (see LintSources) on cert. It returns nil when no lint reports a
// warning, an error or a fatal result; results of NA (not applicable), NE
// (not yet effective), pass and info (notice) are accepted. Otherwise the
// returned error lists every failing lint, sorted by name, with its status,
// its details and the description of what it checks.
//
// The certificate is re-parsed from cert.Raw with zcrypto's x509 package,
// the parser zlint works on, so cert must come from x509.ParseCertificate
// or x509.CreateCertificate (a hand-built struct without Raw is an error).
func LintCertificate(cert *x509.Certificate) error {
	if cert == nil {
		return errors.New("lint: no certificate")
	}
	if len(cert.Raw) == 0 {
		return errors.New("lint: certificate has no DER encoding (Raw is empty)")
	}
	reg, err := registry()
	if err != nil {
		return fmt.Errorf("lint: %w", err)
	}
	zcert, err := zx509.ParseCertificate(cert.Raw)
	if err != nil {
		return fmt.Errorf("lint: zcrypto cannot parse the certificate: %w", err)
	}
	results := zlint.LintCertificateEx(zcert, reg)

	var failures []string
	for name, res := range results.Results {
		switch res.Status {
		case lint.Warn, lint.Error, lint.Fatal:
		default:
			continue
		}
		msg := fmt.Sprintf("%s: %s", name, res.Status)
		if res.Details != "" {
			msg += ": " + res.Details
		}
		if desc := res.LintMetadata.Description; desc != "" {
			msg += " (" + desc + ")"
		}
		failures = append(failures, msg)
	}
	if len(failures) == 0 {
		return nil
	}
	slices.Sort(failures)
	return fmt.Errorf("lint: certificate %q fails %d zlint lint(s):\n\t%s",
		cert.Subject.String(), len(failures), strings.Join(failures, "\n\t"))
}

// LintCRL runs zlint's RFC 5280 revocation-list lints (of LintSources) on a
// DER CRL, with the same verdicts as LintCertificate.
func LintCRL(der []byte) error {
	reg, err := registry()
	if err != nil {
		return fmt.Errorf("lint: %w", err)
	}
	if len(reg.RevocationListLints().Lints()) == 0 {
		return errors.New("lint: no zlint revocation-list lint has a source of LintSources")
	}
	crl, err := zx509.ParseRevocationList(der)
	if err != nil {
		return fmt.Errorf("lint: zcrypto cannot parse the CRL: %w", err)
	}
	var failures []string
	for name, res := range zlint.LintRevocationListEx(crl, reg).Results {
		if res.Status != lint.Warn && res.Status != lint.Error && res.Status != lint.Fatal {
			continue
		}
		failures = append(failures, fmt.Sprintf("%s: %s %s", name, res.Status, res.Details))
	}
	if len(failures) == 0 {
		return nil
	}
	slices.Sort(failures)
	return fmt.Errorf("lint: the CRL fails %d zlint lint(s):\n\t%s", len(failures), strings.Join(failures, "\n\t"))
}
