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
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// caBundleKey is the Secret key of the CA bundle that certsmith (and
// cert-manager) write next to tls.crt and tls.key.
const caBundleKey = "ca.crt"

func newInspectCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Decode certificate material stored in the cluster",
		Long:  `Decode certificate material stored in the cluster, such as TLS Secrets.`,
	}
	cmd.AddCommand(newInspectSecretCommand(o))
	return cmd
}

func newInspectSecretCommand(o *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "secret NAME",
		Short: "Decode a TLS Secret: certificates, key, CA bundle, chain and revocation",
		Long: `Decode a TLS Secret without printing any key material.

For every certificate in tls.crt (the leaf first, then its chain) it shows the
subject, issuer, serial number, validity, subject alternative names, key
usages, whether it is a CA, and its SHA-256 fingerprint. It then says what
kind of key tls.key holds and whether it matches the leaf, lists the subjects
in ca.crt, and checks that the leaf verifies against ca.crt through the chain.

It also says whether the leaf is revoked. It reads the CRLs in the key
` + certsmithv1alpha1.BundleCRLKey + ` of the certsmith bundle ConfigMaps in the Secret's namespace and
trusts only a CRL signed by the CA that signed the leaf (a CRL of another CA,
or one that CA did not sign, is ignored); of those, the one with the highest
CRL number decides. It then lists the CertificateRevocations of the namespace
that name the leaf's serial number, or the Secret's ServiceCertificate while
they are not resolved yet.

It works on any Secret with a tls.crt, not only those certsmith writes.`,
		Example: `  # Decode the Secret "web-tls" in the current namespace
  kubectl certsmith inspect secret web-tls

  # ... in the namespace "shop"
  kubectl certsmith inspect secret web-tls -n shop`,
		Args:              exactArgs(1, "give the name of one Secret"),
		ValidArgsFunction: completeNames(o, 1, listTLSSecrets),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.factory.Client()
			if err != nil {
				return err
			}
			namespace, err := o.factory.Namespace()
			if err != nil {
				return err
			}
			secret, err := getSecret(cmd.Context(), c, namespace, args[0])
			if err != nil {
				return err
			}
			evidence := lookUpRevocations(cmd.Context(), c, namespace)
			return describeTLSSecret(cmd.OutOrStdout(), secret, evidence, o.clock.Now())
		},
	}
}

func getSecret(ctx context.Context, c client.Client, namespace, name string) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("Secret %q not found in namespace %q", name, namespace)
		}
		return nil, fmt.Errorf("getting Secret %s/%s: %w", namespace, name, err)
	}
	return secret, nil
}

// describeTLSSecret prints what secret's tls.crt, tls.key and ca.crt hold
// and how they fit together, and whether evidence says the leaf is
// revoked, checked at now. Key material is never printed.
func describeTLSSecret(w io.Writer, secret *corev1.Secret, evidence revocationEvidence, now time.Time) error {
	certPEM, ok := secret.Data[corev1.TLSCertKey]
	if !ok || len(certPEM) == 0 {
		return fmt.Errorf("Secret %s/%s has no %s: it is not a TLS Secret", secret.Namespace, secret.Name, corev1.TLSCertKey)
	}
	certs, err := pki.ParseCertificatesPEM(certPEM)
	if err != nil {
		return fmt.Errorf("Secret %s/%s: decoding %s: %w", secret.Namespace, secret.Name, corev1.TLSCertKey, err)
	}

	t := newTable(w)
	fmt.Fprintf(t, "Secret:\t%s/%s\n", secret.Namespace, secret.Name)
	fmt.Fprintf(t, "Type:\t%s\n", secret.Type)
	// The operator writes the owner as an annotation (storeCertificate in
	// controllers/secret.go), whatever the constant's name says; a label of
	// that key is not certsmith's and is not shown.
	if owner := secret.Annotations[certsmithv1alpha1.AnnotationServiceCertificate]; owner != "" {
		fmt.Fprintf(t, "ServiceCertificate:\t%s\n", owner)
	}
	if issuer := secret.Annotations[certsmithv1alpha1.AnnotationIssuerName]; issuer != "" {
		fmt.Fprintf(t, "Issuer (annotation):\t%s\n", issuer)
	}
	if revision := secret.Annotations[certsmithv1alpha1.AnnotationRevision]; revision != "" {
		fmt.Fprintf(t, "Revision:\t%s\n", revision)
	}
	if err := t.Flush(); err != nil {
		return err
	}

	for i, cert := range certs {
		fmt.Fprintf(w, "\nCertificate %d of %d in %s (%s):\n", i+1, len(certs), corev1.TLSCertKey, certificateRole(i, cert))
		if err := printCertificate(w, cert, now); err != nil {
			return err
		}
	}

	leaf := certs[0]
	fmt.Fprintln(w)
	keyMatches := printPrivateKey(w, secret.Data[corev1.TLSPrivateKeyKey], leaf)

	caCerts, caErr := printCABundle(w, secret.Data[caBundleKey], now)

	fmt.Fprintln(w, "\nChecks:")
	fmt.Fprintf(w, "  key matches certificate: %s\n", keyMatches)
	fmt.Fprintf(w, "  chain verifies against %s: %s\n", caBundleKey, verifyAgainstBundle(leaf, certs[1:], caCerts, caErr, now))
	fmt.Fprintf(w, "  leaf valid now: %s\n", validNow(leaf, now))
	printRevocationChecks(w, secret, leaf, slices.Concat(certs[1:], caCerts), evidence, now)
	return nil
}

// certificateRole names the place of the i-th certificate of tls.crt.
func certificateRole(i int, cert *x509.Certificate) string {
	switch {
	case i == 0:
		return "leaf"
	case pki.IsSelfSigned(cert):
		return "root CA"
	case cert.IsCA:
		return "intermediate CA"
	default:
		return "chain, not a CA"
	}
}

// printCertificate prints the fields of one certificate.
func printCertificate(w io.Writer, cert *x509.Certificate, now time.Time) error {
	t := newTable(w)
	fmt.Fprintf(t, "  Subject:\t%s\n", orNone(cert.Subject.String()))
	fmt.Fprintf(t, "  Issuer:\t%s\n", orNone(cert.Issuer.String()))
	fmt.Fprintf(t, "  Serial number:\t%x\n", cert.SerialNumber)
	fmt.Fprintf(t, "  Not before:\t%s\n", absoluteAndRelative(cert.NotBefore, now))
	fmt.Fprintf(t, "  Not after:\t%s\n", absoluteAndRelative(cert.NotAfter, now))
	fmt.Fprintf(t, "  DNS names:\t%s\n", joinOrNone(cert.DNSNames))
	fmt.Fprintf(t, "  IP addresses:\t%s\n", joinOrNone(ipStrings(cert.IPAddresses)))
	fmt.Fprintf(t, "  URIs:\t%s\n", joinOrNone(uriStrings(cert.URIs)))
	if len(cert.EmailAddresses) > 0 {
		fmt.Fprintf(t, "  Email addresses:\t%s\n", joinOrNone(cert.EmailAddresses))
	}
	fmt.Fprintf(t, "  Key usages:\t%s\n", joinOrNone(keyUsageNames(cert.KeyUsage)))
	fmt.Fprintf(t, "  Extended key usages:\t%s\n", joinOrNone(extKeyUsageNames(cert)))
	fmt.Fprintf(t, "  Is CA:\t%s\n", isCADescription(cert))
	fmt.Fprintf(t, "  Public key:\t%s\n", publicKeyDescription(cert.PublicKey, cert.PublicKeyAlgorithm))
	fmt.Fprintf(t, "  Signature algorithm:\t%s\n", cert.SignatureAlgorithm)
	fmt.Fprintf(t, "  SHA-256 fingerprint:\t%s\n", pki.FingerprintSHA256(cert))
	return t.Flush()
}

// ipStrings prints IP addresses.
func ipStrings(addresses []net.IP) []string {
	ips := make([]string, 0, len(addresses))
	for _, ip := range addresses {
		ips = append(ips, ip.String())
	}
	return ips
}

// uriStrings prints URIs.
func uriStrings(values []*url.URL) []string {
	uris := make([]string, 0, len(values))
	for _, uri := range values {
		uris = append(uris, uri.String())
	}
	return uris
}

// keyUsageBits lists the key usages in the order RFC 5280 numbers them,
// spelled as in the certificates.k8s.io API.
var keyUsageBits = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, pki.UsageDigitalSignature},
	{x509.KeyUsageContentCommitment, pki.UsageContentCommitment},
	{x509.KeyUsageKeyEncipherment, pki.UsageKeyEncipherment},
	{x509.KeyUsageDataEncipherment, pki.UsageDataEncipherment},
	{x509.KeyUsageKeyAgreement, pki.UsageKeyAgreement},
	{x509.KeyUsageCertSign, pki.UsageCertSign},
	{x509.KeyUsageCRLSign, pki.UsageCRLSign},
	{x509.KeyUsageEncipherOnly, pki.UsageEncipherOnly},
	{x509.KeyUsageDecipherOnly, pki.UsageDecipherOnly},
}

// extKeyUsageWords spells extended key usages as in the certificates.k8s.io API.
var extKeyUsageWords = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:                        pki.UsageAny,
	x509.ExtKeyUsageServerAuth:                 pki.UsageServerAuth,
	x509.ExtKeyUsageClientAuth:                 pki.UsageClientAuth,
	x509.ExtKeyUsageCodeSigning:                pki.UsageCodeSigning,
	x509.ExtKeyUsageEmailProtection:            pki.UsageEmailProtection,
	x509.ExtKeyUsageIPSECEndSystem:             pki.UsageIPsecEndSystem,
	x509.ExtKeyUsageIPSECTunnel:                pki.UsageIPsecTunnel,
	x509.ExtKeyUsageIPSECUser:                  pki.UsageIPsecUser,
	x509.ExtKeyUsageTimeStamping:               pki.UsageTimestamping,
	x509.ExtKeyUsageOCSPSigning:                pki.UsageOCSPSigning,
	x509.ExtKeyUsageMicrosoftServerGatedCrypto: pki.UsageMicrosoftSGC,
	x509.ExtKeyUsageNetscapeServerGatedCrypto:  pki.UsageNetscapeSGC,
}

// keyUsageNames spells out the bits of usage.
func keyUsageNames(usage x509.KeyUsage) []string {
	var names []string
	for _, ku := range keyUsageBits {
		if usage&ku.bit != 0 {
			names = append(names, ku.name)
		}
	}
	return names
}

// extKeyUsageNames spells out cert's extended key usages; ones without a
// name appear as their object identifier.
func extKeyUsageNames(cert *x509.Certificate) []string {
	var names []string
	for _, eku := range cert.ExtKeyUsage {
		if name, ok := extKeyUsageWords[eku]; ok {
			names = append(names, name)
		} else {
			names = append(names, "extended key usage "+strconv.Itoa(int(eku)))
		}
	}
	for _, oid := range cert.UnknownExtKeyUsage {
		names = append(names, oid.String())
	}
	return names
}

// isCADescription says whether cert is a CA, with its path length limit.
func isCADescription(cert *x509.Certificate) string {
	switch {
	case !cert.BasicConstraintsValid:
		return "no (no basic constraints)"
	case !cert.IsCA:
		return "no"
	case cert.MaxPathLen > 0:
		return fmt.Sprintf("yes (max path length %d)", cert.MaxPathLen)
	case cert.MaxPathLen == 0 && cert.MaxPathLenZero:
		return "yes (max path length 0: signs only leaf certificates)"
	default:
		return "yes (no path length limit)"
	}
}

// publicKeyDescription names a key's algorithm and size, such as "ECDSA-256".
func publicKeyDescription(pub any, algorithm x509.PublicKeyAlgorithm) string {
	spec, err := pki.KeySpecOf(pub)
	if err != nil {
		return algorithm.String() + " (not supported by certsmith)"
	}
	return spec.String()
}

// printPrivateKey describes tls.key and returns whether it matches leaf:
// "yes", or "no" with the reason.
func printPrivateKey(w io.Writer, keyPEM []byte, leaf *x509.Certificate) string {
	if len(keyPEM) == 0 {
		fmt.Fprintf(w, "Private key (%s): %s\n", corev1.TLSPrivateKeyKey, noValue)
		return "no (no " + corev1.TLSPrivateKeyKey + ")"
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		// The parser's errors never contain key material.
		fmt.Fprintf(w, "Private key (%s): unreadable: %v\n", corev1.TLSPrivateKeyKey, err)
		return "no (" + corev1.TLSPrivateKeyKey + " is unreadable)"
	}
	fmt.Fprintf(w, "Private key (%s): %s\n", corev1.TLSPrivateKeyKey, publicKeyDescription(key.Public(), x509.UnknownPublicKeyAlgorithm))
	if !pki.KeyMatchesCertificate(key, leaf) {
		return "no (" + corev1.TLSPrivateKeyKey + " is not the key of the leaf certificate)"
	}
	return "yes"
}

// printCABundle lists the certificates of ca.crt and returns them.
func printCABundle(w io.Writer, bundle []byte, now time.Time) ([]*x509.Certificate, error) {
	if len(bundle) == 0 {
		fmt.Fprintf(w, "CA certificates (%s): %s\n", caBundleKey, noValue)
		return nil, nil
	}
	caCerts, err := pki.ParseCertificatesPEM(bundle)
	if err != nil {
		fmt.Fprintf(w, "CA certificates (%s): unreadable: %v\n", caBundleKey, err)
		return nil, err
	}
	fmt.Fprintf(w, "CA certificates (%s): %d\n", caBundleKey, len(caCerts))
	for _, ca := range caCerts {
		fmt.Fprintf(w, "  - %s; not after %s; SHA-256 %s\n",
			orNone(ca.Subject.String()), absoluteAndRelative(ca.NotAfter, now), pki.FingerprintSHA256(ca))
	}
	return caCerts, nil
}

// verifyAgainstBundle reports whether leaf chains to a certificate of
// ca.crt through intermediates: "yes", or "no" with the reason.
func verifyAgainstBundle(leaf *x509.Certificate, intermediates, caCerts []*x509.Certificate, caErr error, now time.Time) string {
	switch {
	case caErr != nil:
		return "no (" + caBundleKey + " is unreadable)"
	case len(caCerts) == 0:
		return "not checked (no " + caBundleKey + ")"
	}
	if err := pki.VerifyChain(leaf, intermediates, caCerts, "", now); err != nil {
		return "no (" + err.Error() + ")"
	}
	return "yes"
}

// validNow says whether leaf is within its validity at now.
func validNow(leaf *x509.Certificate, now time.Time) string {
	switch {
	case now.Before(leaf.NotBefore):
		return "no (not valid before " + absoluteAndRelative(leaf.NotBefore, now) + ")"
	case now.After(leaf.NotAfter):
		return "no (expired " + relativeTime(leaf.NotAfter, now) + ")"
	default:
		return "yes (expires " + relativeTime(leaf.NotAfter, now) + ")"
	}
}
