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
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

const (
	// defaultRevokeWait is how long --wait without a value waits. certsmith
	// publishes a recorded revocation within about ten seconds.
	defaultRevokeWait = 2 * time.Minute
	// revokeWaitInterval is how often --wait reads the revocation again.
	revokeWaitInterval = time.Second
	// maxCertificateFileSize bounds what --certificate-file reads: a
	// certificate, its chain and a key fit many times over.
	maxCertificateFileSize = 1 << 20
	// maxSerialOctets is RFC 5280's bound on a serial number (section
	// 4.1.2.2), which spec.serialNumber enforces too.
	maxSerialOctets = 20
	// maxGenerateNameLength is the longest generateName the API server
	// keeps whole: it truncates longer ones to 58 characters before adding
	// its five random ones, which may leave a name that ends in "." or "-."
	// and is rejected.
	maxGenerateNameLength = 58
)

// revocationReasons are the reasons a revocation may give, in the order of
// their RFC 5280 codes.
var revocationReasons = func() []certsmithv1alpha1.RevocationReason {
	reasons := make([]certsmithv1alpha1.RevocationReason, 0, len(certsmithv1alpha1.RevocationReasonCodes))
	for reason := range certsmithv1alpha1.RevocationReasonCodes {
		reasons = append(reasons, reason)
	}
	slices.SortFunc(reasons, func(a, b certsmithv1alpha1.RevocationReason) int {
		return certsmithv1alpha1.RevocationReasonCodes[a] - certsmithv1alpha1.RevocationReasonCodes[b]
	})
	return reasons
}()

// revokeOptions are the flags of "revoke".
type revokeOptions struct {
	reason          string
	issuer          string
	serial          string
	certificateFile string
	wait            time.Duration
}

func newRevokeCommand(o *rootOptions) *cobra.Command {
	opts := &revokeOptions{reason: string(certsmithv1alpha1.RevocationUnspecified)}
	cmd := &cobra.Command{
		Use:   "revoke (SERVICECERTIFICATE | --issuer ISSUER (--serial SERIAL | --certificate-file FILE)) [--reason REASON] [--wait[=TIMEOUT]]",
		Short: "Revoke a certificate: put it on its issuer's CRL",
		Long: `Revoke a certificate: certsmith lists it on the CRL of the CA that signed it,
which the issuer publishes in the key ` + certsmithv1alpha1.BundleCRLKey + ` of its bundle ConfigMaps and over HTTP.
A revocation is final: deleting the object does not take the certificate off
the CRL.

With the name of a ServiceCertificate, revoke creates a CertificateRevocation
in its namespace for the certificate its Secret holds now; certsmith then
re-issues the ServiceCertificate at once with a new key. This needs "create"
on certificaterevocations in the namespace.

With --issuer and --serial, revoke creates a ClusterCertificateRevocation for
any certificate that ClusterIssuer signed: one of a hand-made CSR, a pod
certificate, or one whose request is gone. The serial number is hexadecimal,
as "openssl x509 -noout -serial" prints it, with or without colons between
the octets. --certificate-file takes it from a PEM certificate instead (the
first certificate in the file; a pod's credential bundle will do, and its
key is not read). This needs "create" on clustercertificaterevocations.

--reason gives the RFC 5280 reason (code) that the CRL records:
` + reasonTable() + `

--wait waits until a CRL lists the certificate (condition Revoked, reason
` + certsmithv1alpha1.ReasonRevocationPublished + `), ` + defaultRevokeWait.String() + ` unless a timeout is given after an equals sign
(--wait=30s); it fails when certsmith refuses the revocation.`,
		Example: `  # Revoke the certificate of the ServiceCertificate "web" in the namespace "shop"
  kubectl certsmith revoke web -n shop --reason keyCompromise

  # ... and wait until the CRL lists it
  kubectl certsmith revoke web -n shop --reason keyCompromise --wait

  # Revoke a certificate of the ClusterIssuer "internal-ca" by serial number
  kubectl certsmith revoke --issuer internal-ca --serial 5B:0E:91:3C:44:7A:10:2F --reason superseded

  # Revoke a pod certificate, taking the serial number from its credential bundle
  kubectl exec -n shop web-0 -- cat /var/run/certs/credentials.pem > web-0.pem
  kubectl certsmith revoke --issuer internal-ca --certificate-file web-0.pem --wait=1m`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			// By serial number, revoke takes no argument.
			if opts.issuer != "" || opts.serial != "" || opts.certificateFile != "" {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeNames(o, 1, listServiceCertificates)(cmd, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			reason, err := opts.validate(args)
			if err != nil {
				return fmt.Errorf("%w; see '%s --help'", err, cmd.CommandPath())
			}
			c, err := o.factory.Client()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				namespace, err := o.factory.Namespace()
				if err != nil {
					return err
				}
				return opts.revokeServiceCertificate(cmd.Context(), c, cmd.OutOrStdout(), o.streams.ErrOut, namespace, args[0], reason, o.clock.Now())
			}
			serial, err := opts.serialNumber(o.streams.In)
			if err != nil {
				return err
			}
			return opts.revokeSerial(cmd.Context(), c, cmd.OutOrStdout(), o.streams.ErrOut, serial, reason, o.clock.Now())
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&opts.reason, "reason", opts.reason, "RFC 5280 reason the CRL records: "+joinReasons()+".")
	flags.StringVar(&opts.issuer, "issuer", "", "ClusterIssuer that signed the certificate, with --serial or --certificate-file.")
	flags.StringVar(&opts.serial, "serial", "", "Serial number of the certificate in hexadecimal, colons allowed (as \"openssl x509 -noout -serial\" prints it).")
	flags.StringVar(&opts.certificateFile, "certificate-file", "", "PEM file whose first certificate is the one to revoke (\"-\" reads standard input).")
	flags.DurationVar(&opts.wait, "wait", 0, "Wait until a CRL lists the certificate, at most this long (--wait alone waits "+defaultRevokeWait.String()+").")
	flags.Lookup("wait").NoOptDefVal = defaultRevokeWait.String()
	// Registration only fails for a flag that does not exist.
	_ = cmd.RegisterFlagCompletionFunc("reason", completeReasons)
	_ = cmd.RegisterFlagCompletionFunc("issuer", completeNames(o, 0, listClusterIssuers))
	_ = cmd.RegisterFlagCompletionFunc("serial", cobra.NoFileCompletions)
	return cmd
}

// joinReasons lists the revocation reasons for help and error messages.
func joinReasons() string {
	names := make([]string, 0, len(revocationReasons))
	for _, reason := range revocationReasons {
		names = append(names, string(reason))
	}
	return strings.Join(names, ", ")
}

// reasonTable lists the revocation reasons with their RFC 5280 codes,
// wrapped for help text.
func reasonTable() string {
	var lines []string
	line := " "
	for i, reason := range revocationReasons {
		item := fmt.Sprintf(" %s (%d)", reason, certsmithv1alpha1.RevocationReasonCodes[reason])
		if i < len(revocationReasons)-1 {
			item += ","
		}
		if len(line)+len(item) > 78 {
			lines = append(lines, line)
			line = " "
		}
		line += item
	}
	return strings.Join(append(lines, line), "\n")
}

// completeReasons completes --reason.
func completeReasons(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var matches []string
	for _, reason := range revocationReasons {
		if strings.HasPrefix(string(reason), toComplete) {
			matches = append(matches, string(reason))
		}
	}
	return matches, cobra.ShellCompDirectiveNoFileComp
}

// validate checks the flags against the arguments and returns the reason.
func (opts *revokeOptions) validate(args []string) (certsmithv1alpha1.RevocationReason, error) {
	reason, err := parseRevocationReason(opts.reason)
	if err != nil {
		return "", err
	}
	if opts.wait < 0 {
		return "", fmt.Errorf("--wait %s is negative", opts.wait)
	}
	bySerial := opts.issuer != "" || opts.serial != "" || opts.certificateFile != ""
	// "--wait 30s" leaves 30s as an argument too many: --wait takes its
	// value only after an equals sign, as it may be given alone.
	if extra := len(args) > 1 || (bySerial && len(args) == 1); extra && opts.wait > 0 {
		if d, err := time.ParseDuration(args[len(args)-1]); err == nil {
			return "", fmt.Errorf("write --wait=%s: a timeout for --wait follows an equals sign", d)
		}
	}
	switch {
	case len(args) > 1:
		return "", fmt.Errorf("give the name of one ServiceCertificate (got %d arguments)", len(args))
	case len(args) == 1 && bySerial:
		return "", errors.New("give either the name of a ServiceCertificate or --issuer with --serial or --certificate-file, not both")
	case len(args) == 1:
		return reason, nil
	case !bySerial:
		return "", errors.New("give the name of a ServiceCertificate, or --issuer with --serial or --certificate-file")
	case opts.issuer == "":
		return "", errors.New("--serial and --certificate-file need --issuer: the ClusterIssuer that signed the certificate")
	case opts.serial != "" && opts.certificateFile != "":
		return "", errors.New("use only one of --serial and --certificate-file")
	case opts.serial == "" && opts.certificateFile == "":
		return "", errors.New("--issuer needs --serial or --certificate-file")
	}
	if opts.serial != "" {
		if _, err := parseSerialNumber(opts.serial); err != nil {
			return "", fmt.Errorf("--serial: %w", err)
		}
	}
	return reason, nil
}

// parseRevocationReason accepts the RFC 5280 names that the API takes.
func parseRevocationReason(s string) (certsmithv1alpha1.RevocationReason, error) {
	for _, reason := range revocationReasons {
		if s == string(reason) {
			return reason, nil
		}
	}
	for _, reason := range revocationReasons {
		if strings.EqualFold(s, string(reason)) {
			return "", fmt.Errorf("--reason %s is not a revocation reason (did you mean %s?)", quoteShort(s), reason)
		}
	}
	return "", fmt.Errorf("--reason %s is not a revocation reason; use one of: %s", quoteShort(s), joinReasons())
}

// parseSerialNumber reads a serial number in hexadecimal: "1A2B3C", as
// "openssl x509 -noout -serial" prints it (also with its "serial="), or
// with colons between the octets, "1a:2b:3c". It accepts what
// ClusterCertificateRevocation's spec.serialNumber accepts: at most 20
// octets, and never zero.
func parseSerialNumber(s string) (*big.Int, error) {
	digits := strings.TrimPrefix(strings.TrimSpace(s), "serial=")
	if digits == "" {
		return nil, errors.New("the serial number is empty")
	}
	if strings.Contains(digits, ":") {
		octets := strings.Split(digits, ":")
		if len(octets) > maxSerialOctets {
			return nil, fmt.Errorf("serial number %s has more than %d octets", quoteShort(s), maxSerialOctets)
		}
		for _, octet := range octets {
			if len(octet) != 2 {
				return nil, fmt.Errorf("serial number %s: with colons, every octet is two hexadecimal digits (as in 0a:1b:2c)", quoteShort(s))
			}
		}
		digits = strings.Join(octets, "")
	}
	if len(digits) > 2*maxSerialOctets {
		return nil, fmt.Errorf("serial number %s has more than %d octets (%d hexadecimal digits)", quoteShort(s), maxSerialOctets, 2*maxSerialOctets)
	}
	for i, r := range digits {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return nil, fmt.Errorf("serial number %s is not hexadecimal (%q at position %d)", quoteShort(s), r, i+1)
		}
	}
	serial, ok := new(big.Int).SetString(digits, 16)
	if !ok {
		return nil, fmt.Errorf("serial number %s is not hexadecimal", quoteShort(s))
	}
	if serial.Sign() == 0 {
		return nil, errors.New("serial number 0 is not one a CA issues")
	}
	return serial, nil
}

// quoteShort quotes user input for an error message, cut to a length that
// fits on a line.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		return fmt.Sprintf("%q... (%d bytes)", s[:limit], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// serialNumber returns the serial of --serial or --certificate-file.
func (opts *revokeOptions) serialNumber(stdin io.Reader) (*big.Int, error) {
	if opts.serial != "" {
		return parseSerialNumber(opts.serial)
	}
	data, err := readCertificateFile(opts.certificateFile, stdin)
	if err != nil {
		return nil, err
	}
	return serialFromPEM(data, opts.certificateFile)
}

// readCertificateFile reads at most maxCertificateFileSize bytes of name,
// or of stdin for "-".
func readCertificateFile(name string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("--certificate-file: %w", err)
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxCertificateFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("--certificate-file: reading %s: %w", name, err)
	}
	if len(data) > maxCertificateFileSize {
		return nil, fmt.Errorf("--certificate-file: %s is larger than %d bytes: not a certificate file", name, maxCertificateFileSize)
	}
	return data, nil
}

// serialFromPEM returns the serial number of the first certificate in
// data. Other blocks, a private key among them, are skipped unread.
func serialFromPEM(data []byte, name string) (*big.Int, error) {
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("--certificate-file: %s: %w", name, err)
	}
	if certs[0].SerialNumber == nil || certs[0].SerialNumber.Sign() <= 0 {
		return nil, fmt.Errorf("--certificate-file: the certificate in %s has no positive serial number", name)
	}
	if len(certs[0].SerialNumber.Bytes()) > maxSerialOctets {
		return nil, fmt.Errorf("--certificate-file: the serial number of the certificate in %s has more than %d octets", name, maxSerialOctets)
	}
	return certs[0].SerialNumber, nil
}

// generateNameFor is the generateName of a revocation named after base:
// "<base>-", cut so that the API server keeps it whole and the name it
// makes is valid.
func generateNameFor(base string) string {
	if len(base) > maxGenerateNameLength-1 {
		base = strings.TrimRight(base[:maxGenerateNameLength-1], "-.")
	}
	return base + "-"
}

// revokeServiceCertificate creates a CertificateRevocation for the
// ServiceCertificate name, after checking that it has a certificate.
func (opts *revokeOptions) revokeServiceCertificate(ctx context.Context, c client.Client, out, errOut io.Writer, namespace, name string, reason certsmithv1alpha1.RevocationReason, now time.Time) error {
	sc := &certsmithv1alpha1.ServiceCertificate{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sc); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("ServiceCertificate %q not found in namespace %q", name, namespace)
		}
		return fmt.Errorf("getting ServiceCertificate %s/%s: %w", namespace, name, err)
	}
	// A revocation made now would revoke the first certificate certsmith
	// issues later, which is not what anyone asking now means.
	if sc.Status.SerialNumber == "" {
		return fmt.Errorf("ServiceCertificate %s/%s has no certificate yet (status.serialNumber is empty): there is nothing to revoke", namespace, name)
	}
	rev := &certsmithv1alpha1.CertificateRevocation{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: generateNameFor(name)},
		Spec:       certsmithv1alpha1.CertificateRevocationSpec{ServiceCertificateName: name, Reason: reason},
	}
	if err := c.Create(ctx, rev); err != nil {
		return fmt.Errorf("creating a CertificateRevocation of ServiceCertificate %s/%s: %w", namespace, name, err)
	}
	ref := "certificaterevocation.certsmith.io/" + rev.Name
	fmt.Fprintf(out, "%s created in namespace %s: revocation of ServiceCertificate %s (reason %s)\n", ref, namespace, name, reason)
	fmt.Fprintf(out, "  certificate now in Secret %s: serial %s, ClusterIssuer %s; certsmith re-issues it with a new key\n",
		orNone(sc.Status.SecretName), sc.Status.SerialNumber, sc.Spec.IssuerRef.Name)
	if opts.wait == 0 {
		fmt.Fprintf(out, "  follow it with \"kubectl get certificaterevocation %s -n %s -o wide\"\n", rev.Name, namespace)
		return nil
	}
	return waitAndReport(ctx, c, out, errOut, ref, rev, &rev.Status, opts.wait, now)
}

// revokeSerial creates a ClusterCertificateRevocation of serial, after
// checking that the ClusterIssuer exists.
func (opts *revokeOptions) revokeSerial(ctx context.Context, c client.Client, out, errOut io.Writer, serial *big.Int, reason certsmithv1alpha1.RevocationReason, now time.Time) error {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := c.Get(ctx, client.ObjectKey{Name: opts.issuer}, issuer); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("ClusterIssuer %q not found", opts.issuer)
		}
		return fmt.Errorf("getting ClusterIssuer %s: %w", opts.issuer, err)
	}
	rev := &certsmithv1alpha1.ClusterCertificateRevocation{
		ObjectMeta: metav1.ObjectMeta{GenerateName: generateNameFor(opts.issuer)},
		Spec: certsmithv1alpha1.ClusterCertificateRevocationSpec{
			IssuerName:   opts.issuer,
			SerialNumber: serial.Text(16),
			Reason:       reason,
		},
	}
	if err := c.Create(ctx, rev); err != nil {
		return fmt.Errorf("creating a ClusterCertificateRevocation of serial %x of ClusterIssuer %s: %w", serial, opts.issuer, err)
	}
	ref := "clustercertificaterevocation.certsmith.io/" + rev.Name
	fmt.Fprintf(out, "%s created: revocation of serial %s of ClusterIssuer %s (reason %s)\n", ref, rev.Spec.SerialNumber, opts.issuer, reason)
	if opts.wait == 0 {
		fmt.Fprintf(out, "  follow it with \"kubectl get clustercertificaterevocation %s -o wide\"\n", rev.Name)
		return nil
	}
	return waitAndReport(ctx, c, out, errOut, ref, rev, &rev.Status, opts.wait, now)
}

// waitAndReport waits for the revocation obj, whose status is status, and
// prints the outcome.
func waitAndReport(ctx context.Context, c client.Client, out, errOut io.Writer, ref string, obj client.Object, status *certsmithv1alpha1.CertificateRevocationStatus, timeout time.Duration, now time.Time) error {
	fmt.Fprintf(errOut, "Waiting up to %s for a CRL to list it...\n", timeout)
	cond, err := waitForRevocation(ctx, c, obj, status, timeout)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	fmt.Fprintf(out, "%s: revoked (%s: %s)\n", ref, cond.Reason, oneLine(cond.Message))
	fmt.Fprintf(out, "  serial %s, ClusterIssuer %s, revoked at %s\n",
		orNone(status.SerialNumber), orNone(status.IssuerName), metaTime(status.RevokedAt, now))
	return nil
}

// waitForRevocation reads obj every revokeWaitInterval until
// revocationOutcome says it is done, and at most timeout long.
func waitForRevocation(ctx context.Context, c client.Client, obj client.Object, status *certsmithv1alpha1.CertificateRevocationStatus, timeout time.Duration) (*metav1.Condition, error) {
	var (
		cond    *metav1.Condition
		lastErr error
	)
	key := client.ObjectKeyFromObject(obj)
	err := wait.PollUntilContextTimeout(ctx, revokeWaitInterval, timeout, false, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, obj); err != nil {
			if apierrors.IsNotFound(err) {
				return false, errors.New("deleted while waiting for it")
			}
			// Another read may succeed; the last error is reported on
			// timeout, unless it is only the deadline cutting a read short
			// (client-go's rate limiter refuses a wait that would pass it).
			if ctx.Err() == nil && !strings.Contains(err.Error(), "would exceed context deadline") {
				lastErr = err
			}
			return false, nil
		}
		lastErr = nil
		var done bool
		var refused error
		cond, done, refused = revocationOutcome(*status, obj.GetGeneration())
		return done, refused
	})
	switch {
	case err == nil:
		return cond, nil
	case !wait.Interrupted(err):
		return nil, err
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case lastErr != nil:
		return nil, fmt.Errorf("timed out after %s; the last read failed: %w", timeout, lastErr)
	case cond != nil:
		return nil, fmt.Errorf("timed out after %s; condition %s is %s (%s: %s)", timeout, certsmithv1alpha1.ConditionRevoked, cond.Status, cond.Reason, oneLine(cond.Message))
	default:
		return nil, fmt.Errorf("timed out after %s; certsmith has not reported on it (is the operator running?)", timeout)
	}
}

// revocationOutcome reads a revocation's status: done once a CRL lists
// the certificate (Published) or no longer needs to (Expired), an error
// once certsmith has refused it (Revoked=False). The condition is
// returned when it describes generation.
func revocationOutcome(status certsmithv1alpha1.CertificateRevocationStatus, generation int64) (*metav1.Condition, bool, error) {
	cond := meta.FindStatusCondition(status.Conditions, certsmithv1alpha1.ConditionRevoked)
	if cond == nil || cond.ObservedGeneration < generation {
		return nil, false, nil
	}
	switch {
	case cond.Status == metav1.ConditionFalse:
		return cond, false, fmt.Errorf("refused (%s): %s", cond.Reason, oneLine(cond.Message))
	case cond.Status != metav1.ConditionTrue:
		return cond, false, nil
	case cond.Reason == certsmithv1alpha1.ReasonRevocationPublished, cond.Reason == certsmithv1alpha1.ReasonRevocationEntryExpired:
		return cond, true, nil
	default:
		return cond, false, nil
	}
}
