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

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

func TestParseSerialNumber(t *testing.T) {
	twentyOctets := strings.Repeat("ab", 20)
	twentyColonOctets := strings.TrimSuffix(strings.Repeat("ab:", 20), ":")
	for _, tc := range []struct {
		name, in string
		want     string // hexadecimal; "" means an error
		errWants string
	}{
		{name: "openssl form", in: "5B0E913C447A102F", want: "5b0e913c447a102f"},
		{name: "lowercase", in: "1a2b3c", want: "1a2b3c"},
		{name: "colons", in: "5B:0E:91:3C", want: "5b0e913c"},
		{name: "openssl output with its prefix", in: "serial=5B0E", want: "5b0e"},
		{name: "surrounding blanks", in: "  0a:0b \n", want: "a0b"},
		{name: "leading zero octets", in: "00:ff", want: "ff"},
		{name: "one digit", in: "7", want: "7"},
		{name: "twenty octets", in: twentyOctets, want: twentyOctets},
		{name: "twenty octets with colons", in: twentyColonOctets, want: twentyOctets},

		{name: "empty", in: "", errWants: "empty"},
		{name: "blank", in: "   ", errWants: "empty"},
		{name: "only the prefix", in: "serial=", errWants: "empty"},
		{name: "twenty-one octets", in: twentyOctets + "cd", errWants: "more than 20 octets"},
		{name: "twenty-one octets with colons", in: twentyColonOctets + ":cd", errWants: "more than 20 octets"},
		{name: "odd digits beyond twenty octets", in: twentyOctets + "c", errWants: "more than 20 octets"},
		{name: "not hexadecimal", in: "zz", errWants: "not hexadecimal"},
		{name: "0x prefix", in: "0x1a", errWants: "not hexadecimal"},
		{name: "negative", in: "-1a", errWants: "not hexadecimal"},
		{name: "plus sign", in: "+1a", errWants: "not hexadecimal"},
		{name: "underscores", in: "1a_2b", errWants: "not hexadecimal"},
		{name: "inner blank", in: "1a 2b", errWants: "not hexadecimal"},
		{name: "unicode digit", in: "１２", errWants: "not hexadecimal"},
		{name: "leading colon", in: ":ab", errWants: "two hexadecimal digits"},
		{name: "trailing colon", in: "ab:", errWants: "two hexadecimal digits"},
		{name: "double colon", in: "ab::cd", errWants: "two hexadecimal digits"},
		{name: "short octet", in: "a:bc", errWants: "two hexadecimal digits"},
		{name: "long octet", in: "abc:de", errWants: "two hexadecimal digits"},
		{name: "only a colon", in: ":", errWants: "two hexadecimal digits"},
		{name: "non-hex octet", in: "ab:zz", errWants: "not hexadecimal"},
		{name: "zero", in: "0", errWants: "serial number 0"},
		{name: "zero octets", in: "00:00", errWants: "serial number 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSerialNumber(tc.in)
			if tc.errWants != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errWants) {
					t.Fatalf("parseSerialNumber(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.errWants)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseSerialNumber(%q): %v", tc.in, err)
			}
			if got.Text(16) != tc.want {
				t.Errorf("parseSerialNumber(%q) = %s, want %s", tc.in, got.Text(16), tc.want)
			}
		})
	}
}

func TestParseSerialNumberBoundsItsMessage(t *testing.T) {
	for _, in := range []string{strings.Repeat("ab", 1<<20), strings.Repeat("ab:", 1<<20), strings.Repeat("z", 1<<20)} {
		_, err := parseSerialNumber(in)
		if err == nil {
			t.Fatalf("a %d-byte serial number was accepted", len(in))
		}
		if len(err.Error()) > 200 {
			t.Errorf("the error about a %d-byte input is %d bytes long: %.120s...", len(in), len(err.Error()), err)
		}
	}
}

func TestParseRevocationReason(t *testing.T) {
	for reason := range certsmithv1alpha1.RevocationReasonCodes {
		got, err := parseRevocationReason(string(reason))
		if err != nil || got != reason {
			t.Errorf("parseRevocationReason(%q) = %q, %v", reason, got, err)
		}
	}
	if got, want := joinReasons(), "unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn"; got != want {
		t.Errorf("joinReasons() = %q, want %q (RFC 5280 order)", got, want)
	}
	for _, tc := range []struct{ in, errWants string }{
		{"KeyCompromise", `(did you mean keyCompromise?)`},
		{"keycompromise", `(did you mean keyCompromise?)`},
		{"", "use one of: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn"},
		{"compromised", `--reason "compromised" is not a revocation reason; use one of: unspecified,`},
		// Reasons of RFC 5280 that the API does not offer for leaves.
		{"caCompromise", "use one of:"},
		{"certificateHold", "use one of:"},
		{"removeFromCRL", "use one of:"},
		{"1", "use one of:"},
		{strings.Repeat("x", 10000), "(10000 bytes)"},
	} {
		_, err := parseRevocationReason(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.errWants) {
			t.Errorf("parseRevocationReason(%.20q) = %v, want an error containing %q", tc.in, err, tc.errWants)
		}
	}
}

func TestRevokeOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     revokeOptions
		args     []string
		errWants string
	}{
		{name: "a ServiceCertificate", args: []string{"web"}},
		{name: "a ServiceCertificate, waiting", opts: revokeOptions{wait: time.Minute}, args: []string{"web"}},
		{name: "a serial", opts: revokeOptions{issuer: "ca", serial: "1a"}},
		{name: "a file", opts: revokeOptions{issuer: "ca", certificateFile: "cert.pem"}},

		{name: "nothing", errWants: "give the name of a ServiceCertificate, or --issuer with --serial or --certificate-file"},
		{name: "two names", args: []string{"web", "api"}, errWants: "give the name of one ServiceCertificate (got 2 arguments)"},
		{name: "a name and a serial", opts: revokeOptions{issuer: "ca", serial: "1a"}, args: []string{"web"}, errWants: "not both"},
		{name: "a name and an issuer", opts: revokeOptions{issuer: "ca"}, args: []string{"web"}, errWants: "not both"},
		{name: "a serial without issuer", opts: revokeOptions{serial: "1a"}, errWants: "need --issuer"},
		{name: "a file without issuer", opts: revokeOptions{certificateFile: "cert.pem"}, errWants: "need --issuer"},
		{name: "an issuer alone", opts: revokeOptions{issuer: "ca"}, errWants: "--issuer needs --serial or --certificate-file"},
		{name: "a serial and a file", opts: revokeOptions{issuer: "ca", serial: "1a", certificateFile: "cert.pem"}, errWants: "only one of --serial and --certificate-file"},
		{name: "a bad serial", opts: revokeOptions{issuer: "ca", serial: "xyz"}, errWants: "--serial: serial number \"xyz\" is not hexadecimal"},
		{name: "a bad reason", opts: revokeOptions{reason: "nope"}, args: []string{"web"}, errWants: "not a revocation reason"},
		{name: "a negative wait", opts: revokeOptions{wait: -time.Second}, args: []string{"web"}, errWants: "is negative"},
		{name: "--wait 30s", opts: revokeOptions{wait: defaultRevokeWait}, args: []string{"web", "30s"}, errWants: "write --wait=30s"},
		{name: "--wait 30s by serial", opts: revokeOptions{issuer: "ca", serial: "1a", wait: defaultRevokeWait}, args: []string{"30s"}, errWants: "write --wait=30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.reason == "" {
				tc.opts.reason = string(certsmithv1alpha1.RevocationUnspecified)
			}
			_, err := tc.opts.validate(tc.args)
			if tc.errWants == "" {
				if err != nil {
					t.Fatalf("validate(%v): %v", tc.args, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errWants) {
				t.Fatalf("validate(%v) = %v, want an error containing %q", tc.args, err, tc.errWants)
			}
		})
	}
	// A ServiceCertificate may be called "5m": only an argument too many
	// is taken for the value of --wait.
	opts := revokeOptions{reason: "unspecified", wait: defaultRevokeWait}
	if _, err := opts.validate([]string{"5m"}); err != nil {
		t.Errorf("validate([5m]) with --wait: %v", err)
	}
}

func TestGenerateNameFor(t *testing.T) {
	for _, base := range []string{
		"web",
		strings.Repeat("a", 57),
		strings.Repeat("a", 58),
		strings.Repeat("a", 253),
		// Cut at 57 characters, these end in "." and "-.": both are trimmed.
		strings.Repeat("a", 56) + ".bbbb",
		strings.Repeat("a", 55) + "-.bbbb",
		strings.Repeat("ab.", 80) + "c",
	} {
		name := generateNameFor(base)
		if len(name) > maxGenerateNameLength {
			t.Errorf("generateNameFor(%.20q...) is %d characters long", base, len(name))
		}
		if !strings.HasSuffix(name, "-") || !strings.HasPrefix(base, strings.TrimSuffix(name, "-")) {
			t.Errorf("generateNameFor(%.20q...) = %q, want a prefix of the name and a dash", base, name)
		}
		// The API server appends five random characters.
		if errs := validation.IsDNS1123Subdomain(name + "x7k2p"); len(errs) > 0 {
			t.Errorf("generateNameFor(%.20q...) = %q makes an invalid name: %v", base, name, errs)
		}
	}
	if got := generateNameFor("web"); got != "web-" {
		t.Errorf("generateNameFor(web) = %q, want web-", got)
	}
}

func TestRevocationOutcome(t *testing.T) {
	revoked := func(status metav1.ConditionStatus, reason string, generation int64) certsmithv1alpha1.CertificateRevocationStatus {
		return certsmithv1alpha1.CertificateRevocationStatus{Conditions: []metav1.Condition{{
			Type: certsmithv1alpha1.ConditionRevoked, Status: status, Reason: reason, Message: "serial 1a\nis listed", ObservedGeneration: generation,
		}}}
	}
	for _, tc := range []struct {
		name     string
		status   certsmithv1alpha1.CertificateRevocationStatus
		done     bool
		errWants string
	}{
		{name: "no status"},
		{name: "recorded", status: revoked(metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationRecorded, 1)},
		{name: "published", status: revoked(metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationPublished, 1), done: true},
		{name: "expired since", status: revoked(metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationEntryExpired, 1), done: true},
		{name: "published for an older generation", status: revoked(metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationPublished, 0)},
		{name: "unknown", status: revoked(metav1.ConditionUnknown, "Pending", 1)},
		{name: "refused", status: revoked(metav1.ConditionFalse, certsmithv1alpha1.ReasonRevocationNotIssuers, 1),
			errWants: "refused (NotSignedByIssuer): serial 1a is listed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, done, err := revocationOutcome(tc.status, 1)
			if done != tc.done {
				t.Errorf("done = %v, want %v", done, tc.done)
			}
			if tc.errWants == "" && err != nil || tc.errWants != "" && (err == nil || err.Error() != tc.errWants) {
				t.Errorf("err = %v, want %q", err, tc.errWants)
			}
		})
	}
}

func TestSerialFromCertificateFile(t *testing.T) {
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
	if err != nil {
		t.Fatal(err)
	}
	ca := unitCA(t, "File CA")
	leaf := unitLeaf(t, ca, key)
	keyPEM, err := pki.EncodePrivateKeyPEM(key, pki.KeyEncodingPKCS8)
	if err != nil {
		t.Fatal(err)
	}
	// A pod's credential bundle: the key first, then the chain.
	bundle := append(append([]byte{}, keyPEM...), pki.EncodeCertificatesPEM(leaf, ca.Certificate)...)
	path := filepath.Join(t.TempDir(), "credentials.pem")
	if err := os.WriteFile(path, bundle, 0o600); err != nil {
		t.Fatal(err)
	}

	opts := revokeOptions{certificateFile: path}
	serial, err := opts.serialNumber(nil)
	if err != nil || serial.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("serial from %s = %v, %v; want the leaf's %x", path, serial, err, leaf.SerialNumber)
	}
	opts.certificateFile = "-"
	serial, err = opts.serialNumber(bytes.NewReader(bundle))
	if err != nil || serial.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("serial from standard input = %v, %v; want the leaf's %x", serial, err, leaf.SerialNumber)
	}

	for _, tc := range []struct {
		name     string
		data     []byte
		errWants string
	}{
		{"only a key", keyPEM, "no CERTIFICATE PEM block"},
		{"not PEM", []byte("hello"), "no CERTIFICATE PEM block"},
		{"empty", nil, "no CERTIFICATE PEM block"},
		{"a damaged certificate", []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"), "malformed PEM"},
		{"larger than 1 MiB", bytes.Repeat([]byte("a"), maxCertificateFileSize+1), "larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := revokeOptions{certificateFile: "-"}
			_, err := opts.serialNumber(bytes.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.errWants) {
				t.Fatalf("err = %v, want one containing %q", err, tc.errWants)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("the error shows key material: %v", err)
			}
		})
	}

	missing := revokeOptions{certificateFile: filepath.Join(t.TempDir(), "missing.pem")}
	if _, err := missing.serialNumber(nil); err == nil || !strings.Contains(err.Error(), "--certificate-file: open ") {
		t.Errorf("a missing file: err = %v", err)
	}
}

func TestReasonTableWraps(t *testing.T) {
	table := reasonTable()
	for _, line := range strings.Split(table, "\n") {
		if len(line) > 80 {
			t.Errorf("help line is %d characters long: %q", len(line), line)
		}
	}
	for reason, code := range certsmithv1alpha1.RevocationReasonCodes {
		if !strings.Contains(table, string(reason)+" ("+strconv.Itoa(code)+")") {
			t.Errorf("reasonTable() lacks %s (%d): %q", reason, code, table)
		}
	}
}
