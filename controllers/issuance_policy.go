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

package controllers

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// defaultCertificateDuration is the lifetime of a ServiceCertificate when spec.duration is unset.
const defaultCertificateDuration = 90 * 24 * time.Hour

// certificateRequest is what a ServiceCertificate asks for once defaults,
// the Service's names and its cluster IPs are resolved.
type certificateRequest struct {
	issuerName            string
	signerName            string
	subject               pkix.Name
	dnsNames              []string
	ipAddresses           []net.IP
	uris                  []*url.URL
	usages                []string
	keySpec               pki.KeySpec
	keyEncoding           pki.KeyEncoding
	rotationPolicy        certsmithv1alpha1.RotationPolicy
	duration              time.Duration
	renewBefore           time.Duration
	renewBeforePercentage int32
}

// hash identifies the request: a CSR or Secret made for a different hash no
// longer matches the spec.
func (c *certificateRequest) hash() string {
	h := sha256.New()
	fmt.Fprintf(h, "issuer=%s\nsigner=%s\nkey=%s\nduration=%s\n", c.issuerName, c.signerName, c.keySpec, c.duration)
	fmt.Fprintf(h, "dns=%s\nip=%s\nusages=%s\n", strings.Join(c.dnsNames, ","), joinIPs(c.ipAddresses), strings.Join(c.usages, ","))
	fmt.Fprintf(h, "uris=%s\nsubject=%s\nencoding=%s\n", joinURIs(c.uris), c.subject.String(), c.keyEncoding)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func joinIPs(ips []net.IP) string {
	parts := make([]string, 0, len(ips))
	for _, ip := range ips {
		parts = append(parts, ip.String())
	}
	return strings.Join(parts, ",")
}

func joinURIs(uris []*url.URL) string {
	parts := make([]string, 0, len(uris))
	for _, u := range uris {
		parts = append(parts, u.String())
	}
	return strings.Join(parts, ",")
}

// defaultUsages are the usages of a serving certificate for a key algorithm:
// key encipherment only for RSA (RFC 5480, RFC 8813).
func defaultUsages(alg pki.KeyAlgorithm) []string {
	usages := []string{string(certsmithv1alpha1.UsageDigitalSignature), string(certsmithv1alpha1.UsageServerAuth)}
	if alg == pki.KeyAlgorithmRSA {
		usages = append(usages, string(certsmithv1alpha1.UsageKeyEncipherment))
	}
	sort.Strings(usages)
	return usages
}

// serviceNames returns the DNS names of a Service.
func serviceNames(service, namespace, clusterDomain string) []string {
	names := []string{service + "." + namespace + ".svc"}
	if clusterDomain != "" {
		names = append(names, service+"."+namespace+".svc."+clusterDomain)
	}
	return names
}

// clusterIPs returns the cluster IPs of a Service (none for headless ones).
func clusterIPs(svc *corev1.Service) []net.IP {
	var ips []net.IP
	for _, s := range svc.Spec.ClusterIPs {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		}
	}
	if len(ips) == 0 {
		if ip := net.ParseIP(svc.Spec.ClusterIP); ip != nil {
			ips = append(ips, ip)
		}
	}
	return ips
}

// uniqueSortedNames removes duplicates and sorts.
func uniqueSortedNames(names []string) []string {
	out := slices.Clone(names)
	for i := range out {
		out[i] = strings.ToLower(out[i])
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// uniqueSortedIPs removes duplicates and sorts.
func uniqueSortedIPs(ips []net.IP) []net.IP {
	out := slices.Clone(ips)
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return slices.CompactFunc(out, func(a, b net.IP) bool { return a.Equal(b) })
}

// Issuance rate limit: at most maxIssuancesPerHour issuances within
// issuanceRateWindow for the same issuance key.
// Beyond that, at most maxIssuancesPerHourInAll whatever they were for: a
// tenant who changes the spec or the trigger in a loop does not get to spend
// the operator's CPU on keys without end.
const (
	maxIssuancesPerHour      = 5
	maxIssuancesPerHourInAll = 30
	issuanceRateWindow       = time.Hour
)

// issuanceKey identifies what a certificate is issued for — the request
// (spec, Service names and IPs), the issuer's signing CA and the manual
// trigger — so that a change of any of them resets the rate limit.
func issuanceKey(sc *certsmithv1alpha1.ServiceCertificate, request *certificateRequest, ca *pki.CA) string {
	h := sha256.New()
	fmt.Fprintf(h, "request=%s\nca=%s\ntrigger=%s\n", request.hash(), pki.FingerprintSHA256(ca.Certificate),
		sc.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt])
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// withinWindow returns the times that are less than issuanceRateWindow old at now.
func withinWindow(times []metav1.Time, now time.Time) []metav1.Time {
	var recent []metav1.Time
	for _, t := range times {
		if now.Sub(t.Time) < issuanceRateWindow {
			recent = append(recent, t)
		}
	}
	return recent
}

// recentIssuances returns the times of history that count at now: those for
// key, and all of them.
func recentIssuances(history *certsmithv1alpha1.IssuanceHistory, key string, now time.Time) (forKey, all []metav1.Time) {
	if history == nil {
		return nil, nil
	}
	if history.Key == key {
		forKey = withinWindow(history.Times, now)
	}
	return forKey, withinWindow(history.AllTimes, now)
}

// issuanceWait returns how long a new issuance for key must wait, and the
// limit that makes it wait: zero while fewer than maxIssuancesPerHour were
// made for key and fewer than maxIssuancesPerHourInAll in all in the last
// hour, otherwise until enough of them are an hour old (at most an hour).
func issuanceWait(history *certsmithv1alpha1.IssuanceHistory, key string, now time.Time) (time.Duration, int) {
	forKey, all := recentIssuances(history, key, now)
	var wait time.Duration
	limit := 0
	for _, l := range []struct {
		times []metav1.Time
		max   int
	}{{forKey, maxIssuancesPerHour}, {all, maxIssuancesPerHourInAll}} {
		if len(l.times) < l.max {
			continue
		}
		if w := l.times[len(l.times)-l.max].Add(issuanceRateWindow).Sub(now); w > wait {
			wait, limit = w, l.max
		}
	}
	return wait, limit
}

// recordIssuance adds an issuance at now to the history for key, starting
// the per-key count over when the key changed, and keeps only the times
// that still count.
func recordIssuance(history *certsmithv1alpha1.IssuanceHistory, key string, now time.Time) *certsmithv1alpha1.IssuanceHistory {
	at := metav1.Time{Time: now.Truncate(time.Second)}
	forKey, all := recentIssuances(history, key, now)
	last := func(times []metav1.Time, n int) []metav1.Time { return times[max(len(times)-n, 0):] }
	return &certsmithv1alpha1.IssuanceHistory{Key: key,
		Times: last(append(forKey, at), maxIssuancesPerHour), AllTimes: last(append(all, at), maxIssuancesPerHourInAll)}
}

// issuedCertificate is what the Secret holds, decoded.
type issuedCertificate struct {
	secret *corev1.Secret
	chain  []*x509.Certificate
	key    crypto.Signer
	// decodeErr is set when tls.crt or tls.key is missing or undecodable.
	decodeErr error
}

// leaf returns the certificate itself.
func (c *issuedCertificate) leaf() *x509.Certificate { return c.chain[0] }

// revision returns the revision annotation of the Secret, 0 when unknown.
func (c *issuedCertificate) revision() int64 {
	if c == nil || c.secret == nil {
		return 0
	}
	n, _ := strconv.ParseInt(c.secret.Annotations[certsmithv1alpha1.AnnotationRevision], 10, 64)
	return n
}

// decodeSecret reads a certificate Secret; a decoding problem is recorded, not returned.
func decodeSecret(secret *corev1.Secret) *issuedCertificate {
	if secret == nil {
		return nil
	}
	issued := &issuedCertificate{secret: secret}
	certPEM, keyPEM := secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		issued.decodeErr = fmt.Errorf("the Secret has no %s or no %s", corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
		return issued
	}
	chain, err := pki.ParseCertificatesPEM(certPEM)
	if err != nil {
		issued.decodeErr = fmt.Errorf("%s cannot be decoded: %w", corev1.TLSCertKey, err)
		return issued
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		issued.decodeErr = fmt.Errorf("%s cannot be decoded: %w", corev1.TLSPrivateKeyKey, err)
		return issued
	}
	issued.chain, issued.key = chain, key
	return issued
}

// issuanceInput is what the re-issue policies look at.
type issuanceInput struct {
	// renewRequest is the value of the manual trigger annotation, and
	// lastRenewRequest the last value acted on.
	renewRequest, lastRenewRequest string
	issued                         *issuedCertificate
	request                        *certificateRequest
	ca                             *pki.CA
	now                            time.Time
	// renewalTime of the certificate in the Secret, computed from the spec.
	renewalTime time.Time
}

// issuancePolicy says whether a certificate needs (re-)issuing and why.
type issuancePolicy func(in *issuanceInput) (reason, message string, needed bool)

// issuancePolicies is the chain: the first policy that fires becomes the
// Issuing condition's reason and message.
var issuancePolicies = []issuancePolicy{
	secretMissing,
	secretInvalid,
	keyMismatch,
	issuerChanged,
	specMismatch,
	notChainedToIssuer,
	certificateExpired,
	manuallyTriggered,
	renewalDue,
}

// needsIssuance runs the policy chain.
func needsIssuance(in *issuanceInput) (reason, message string, needed bool) {
	for _, policy := range issuancePolicies {
		if reason, message, needed := policy(in); needed {
			return reason, message, true
		}
	}
	return "", "", false
}

func secretMissing(in *issuanceInput) (string, string, bool) {
	if in.issued == nil {
		return certsmithv1alpha1.ReasonSecretMissing, "the Secret does not exist", true
	}
	return "", "", false
}

func secretInvalid(in *issuanceInput) (string, string, bool) {
	if in.issued.decodeErr != nil {
		return certsmithv1alpha1.ReasonSecretInvalid, in.issued.decodeErr.Error(), true
	}
	return "", "", false
}

func keyMismatch(in *issuanceInput) (string, string, bool) {
	if !pki.KeyMatchesCertificate(in.issued.key, in.issued.leaf()) {
		return certsmithv1alpha1.ReasonKeyMismatch, "tls.key does not belong to the certificate in tls.crt", true
	}
	return "", "", false
}

func specMismatch(in *issuanceInput) (string, string, bool) {
	leaf, req := in.issued.leaf(), in.request
	if got, want := uniqueSortedNames(leaf.DNSNames), req.dnsNames; !slices.Equal(got, want) {
		return certsmithv1alpha1.ReasonSpecChanged, fmt.Sprintf("the certificate's DNS names %v differ from the wanted %v", got, want), true
	}
	if got, want := joinURIs(leaf.URIs), joinURIs(req.uris); got != want {
		return certsmithv1alpha1.ReasonSpecChanged, fmt.Sprintf("the certificate's URIs [%s] differ from the wanted [%s]", got, want), true
	}
	if got, want := leaf.Subject.CommonName, req.subject.CommonName; got != want {
		return certsmithv1alpha1.ReasonSpecChanged, fmt.Sprintf("the certificate's common name %q differs from the wanted %q", got, want), true
	}
	if got, want := joinIPs(uniqueSortedIPs(leaf.IPAddresses)), joinIPs(req.ipAddresses); got != want {
		return certsmithv1alpha1.ReasonSpecChanged, fmt.Sprintf("the certificate's IP addresses [%s] differ from the wanted [%s]", got, want), true
	}
	spec, err := pki.KeySpecOf(leaf.PublicKey)
	if err != nil || spec.Algorithm != req.keySpec.Algorithm || (req.keySpec.Size != 0 && spec.Size != req.keySpec.Size) {
		return certsmithv1alpha1.ReasonSpecChanged, fmt.Sprintf("the certificate's key (%s) differs from the wanted %s", spec, req.keySpec), true
	}
	_, wantExt, err := pki.ParseUsages(req.usages)
	if err == nil && !sameExtKeyUsages(leaf.ExtKeyUsage, wantExt) {
		return certsmithv1alpha1.ReasonSpecChanged, fmt.Sprintf("the certificate's usages differ from the wanted %v", req.usages), true
	}
	if got := in.issued.secret.Annotations[certsmithv1alpha1.AnnotationCertificateHash]; got != req.hash() {
		return certsmithv1alpha1.ReasonSpecChanged, "the spec changed since the certificate was issued", true
	}
	return "", "", false
}

func sameExtKeyUsages(a, b []x509.ExtKeyUsage) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func issuerChanged(in *issuanceInput) (string, string, bool) {
	if got := in.issued.secret.Annotations[certsmithv1alpha1.AnnotationIssuerName]; got != in.request.issuerName {
		return certsmithv1alpha1.ReasonIssuerChanged, fmt.Sprintf("the certificate was issued by %q, the spec names %q", got, in.request.issuerName), true
	}
	return "", "", false
}

func notChainedToIssuer(in *issuanceInput) (string, string, bool) {
	leaf := in.issued.leaf()
	// Verify at the certificate's own start, so that an expired certificate
	// is reported as expired rather than as unchained.
	if !chainsTo(leaf, in.ca, leaf.NotBefore.Add(time.Second)) {
		return certsmithv1alpha1.ReasonNotChainedToIssuer, "the certificate does not chain to the issuer's current CA", true
	}
	return "", "", false
}

func certificateExpired(in *issuanceInput) (string, string, bool) {
	if leaf := in.issued.leaf(); !in.now.Before(leaf.NotAfter) {
		return certsmithv1alpha1.ReasonExpired, fmt.Sprintf("the certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339)), true
	}
	return "", "", false
}

func manuallyTriggered(in *issuanceInput) (string, string, bool) {
	if in.renewRequest != "" && in.renewRequest != in.lastRenewRequest {
		return certsmithv1alpha1.ReasonManuallyTriggered, fmt.Sprintf("re-issuance was requested (%s=%q)",
			certsmithv1alpha1.AnnotationRenewRequestedAt, in.renewRequest), true
	}
	return "", "", false
}

func renewalDue(in *issuanceInput) (string, string, bool) {
	if !in.now.Before(in.renewalTime) {
		return certsmithv1alpha1.ReasonRenewing, fmt.Sprintf("the renewal time %s has been reached", in.renewalTime.UTC().Format(time.RFC3339)), true
	}
	return "", "", false
}
