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
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// What "inspect secret" reads to say whether a certificate is revoked: the
// CRLs in the bundle ConfigMaps of the Secret's namespace (which a tenant
// can read, unlike the issuer's record), and the CertificateRevocations
// there. Anyone who can write ConfigMaps in the namespace can put a
// ConfigMap with certsmith's labels there, so a CRL counts only when the
// CA that signed the certificate signed it too.

const (
	// maxBundleConfigMaps bounds the bundle ConfigMaps read: one per
	// ClusterIssuer that distributes into the namespace.
	maxBundleConfigMaps = 32
	// maxCRLsPerBundle bounds the CRLs read from one ca.crl: an issuer
	// has at most eight CAs, each with one CRL.
	maxCRLsPerBundle = 16
	// maxNamespaceRevocations bounds the CertificateRevocations read; the
	// operator records at most 500 entries of one namespace.
	maxNamespaceRevocations = 500
	// maxRevocationsShown bounds the CertificateRevocations printed.
	maxRevocationsShown = 5
	// pemTypeCRL is the PEM block type of a CRL.
	pemTypeCRL = "X509 CRL"
)

// revocationEvidence is what the namespace of a Secret says about
// revocations; an error stands for a list that could not be read.
type revocationEvidence struct {
	bundles        []bundleCRLs
	bundlesErr     error
	revocations    []certsmithv1alpha1.CertificateRevocation
	revocationsErr error
}

// bundleCRLs is what one bundle ConfigMap offers.
type bundleCRLs struct {
	// name is "<namespace>/<name>" of the ConfigMap.
	name string
	// issuer is its bundle-issuer label.
	issuer string
	// caPEM holds the trust anchors: every key but ca.crl, as the key of
	// the CA certificates may be set per issuer.
	caPEM []byte
	// crlPEM is ca.crl; hasCRL says whether the key is there at all.
	crlPEM []byte
	hasCRL bool
}

// lookUpRevocations lists the bundle ConfigMaps and CertificateRevocations
// of namespace.
func lookUpRevocations(ctx context.Context, c client.Client, namespace string) revocationEvidence {
	var evidence revocationEvidence
	configMaps := &corev1.ConfigMapList{}
	if err := c.List(ctx, configMaps, client.InNamespace(namespace),
		client.MatchingLabels{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue},
		client.HasLabels{certsmithv1alpha1.LabelBundleIssuer},
		client.Limit(maxBundleConfigMaps)); err != nil {
		evidence.bundlesErr = fmt.Errorf("listing the bundle ConfigMaps of namespace %s: %w", namespace, err)
	}
	for i := range configMaps.Items {
		evidence.bundles = append(evidence.bundles, bundleFromConfigMap(&configMaps.Items[i]))
	}
	revocations := &certsmithv1alpha1.CertificateRevocationList{}
	if err := c.List(ctx, revocations, client.InNamespace(namespace), client.Limit(maxNamespaceRevocations)); err != nil {
		if meta.IsNoMatchError(err) {
			err = errors.New("the cluster does not serve CertificateRevocations: its certsmith predates revocation")
		}
		evidence.revocationsErr = fmt.Errorf("listing the CertificateRevocations of namespace %s: %w", namespace, err)
	}
	evidence.revocations = revocations.Items
	return evidence
}

// bundleFromConfigMap takes what the revocation check needs from cm.
func bundleFromConfigMap(cm *corev1.ConfigMap) bundleCRLs {
	b := bundleCRLs{name: cm.Namespace + "/" + cm.Name, issuer: cm.Labels[certsmithv1alpha1.LabelBundleIssuer]}
	keys := make([]string, 0, len(cm.Data))
	for key := range cm.Data {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if key == certsmithv1alpha1.BundleCRLKey {
			b.crlPEM, b.hasCRL = []byte(cm.Data[key]), true
			continue
		}
		b.caPEM = append(b.caPEM, cm.Data[key]...)
		b.caPEM = append(b.caPEM, '\n')
	}
	return b
}

// crlState is what the CRLs say about a certificate.
type crlState int

const (
	// crlNotChecked: no CRL could be checked; crlFinding.why says why.
	crlNotChecked crlState = iota
	// crlNotPublished: the bundle ConfigMap of the certificate's issuer
	// has no ca.crl.
	crlNotPublished
	// crlNotRevoked: the newest CRL of the certificate's CA does not list it.
	crlNotRevoked
	// crlRevoked: the newest CRL of the certificate's CA lists it.
	crlRevoked
)

// crlFinding is the outcome of checkRevocation.
type crlFinding struct {
	state crlState
	// why explains crlNotChecked.
	why string
	// configMap holds the CRL, or lacks ca.crl for crlNotPublished.
	configMap string
	// crl is the CRL that decided, and entry its entry of the certificate.
	crl   *x509.RevocationList
	entry *x509.RevocationListEntry
	// forged counts CRLs in the name of the certificate's issuer that no
	// known CA signed.
	forged int
}

// checkRevocation says whether the CRLs of bundles list leaf. A CRL counts
// only when its issuer is the leaf's issuer and its signature verifies
// with the key of a CA that signed leaf, so a CRL of another CA or a
// forged one changes nothing; of those, the one with the highest CRL
// number decides, so an older CRL put next to it hides nothing. known are
// CA certificates from the Secret (its chain and ca.crt); issuerName is the
// ClusterIssuer the Secret names, if any.
func checkRevocation(leaf *x509.Certificate, known []*x509.Certificate, issuerName string, bundles []bundleCRLs) crlFinding {
	if pki.IsSelfSigned(leaf) {
		return crlFinding{why: "the certificate is self-signed: no CA's CRL lists it"}
	}
	cas := slices.Clone(known)
	for _, b := range bundles {
		if certs, err := pki.ParseCertificatesPEM(b.caPEM); err == nil {
			cas = append(cas, certs...)
		}
	}
	var signers []*x509.Certificate
	for _, ca := range cas {
		if bytes.Equal(ca.RawSubject, leaf.RawIssuer) && leaf.CheckSignatureFrom(ca) == nil &&
			!slices.ContainsFunc(signers, func(s *x509.Certificate) bool { return s.Equal(ca) }) {
			signers = append(signers, ca)
		}
	}
	if len(signers) == 0 {
		return crlFinding{why: fmt.Sprintf("the CA that signed the certificate (%s) is in neither tls.crt, ca.crt nor a bundle ConfigMap, so no CRL can be verified",
			orNone(leaf.Issuer.String()))}
	}
	if len(bundles) == 0 {
		return crlFinding{why: "no certsmith bundle ConfigMap in the namespace"}
	}

	var (
		best      *x509.RevocationList
		bestFrom  string
		forged    int
		ownBundle *bundleCRLs
	)
	for i := range bundles {
		b := &bundles[i]
		own := (issuerName != "" && b.issuer == issuerName) || holdsAny(b.caPEM, signers)
		if own && (ownBundle == nil || !ownBundle.hasCRL) {
			ownBundle = b
		}
		for _, crl := range parseCRLs(b.crlPEM) {
			if !bytes.Equal(crl.RawIssuer, leaf.RawIssuer) {
				continue // another CA's
			}
			switch {
			case signedByAny(crl, signers):
				if best == nil || newerCRL(crl, best) {
					best, bestFrom = crl, b.name
				}
			case signedByAny(crl, cas):
				// A CA of the same name with another key: the next or the
				// retiring CA of a rotation.
			default:
				forged++
			}
		}
	}
	switch {
	case best != nil:
	case ownBundle != nil && (!ownBundle.hasCRL || len(bytes.TrimSpace(ownBundle.crlPEM)) == 0):
		return crlFinding{state: crlNotPublished, configMap: ownBundle.name, forged: forged}
	case ownBundle != nil:
		return crlFinding{why: fmt.Sprintf("%s of ConfigMap %s holds no CRL of the CA that signed the certificate", certsmithv1alpha1.BundleCRLKey, ownBundle.name), forged: forged}
	default:
		return crlFinding{why: fmt.Sprintf("no bundle ConfigMap in the namespace is of the certificate's issuer (%d looked at)", len(bundles)), forged: forged}
	}
	finding := crlFinding{state: crlNotRevoked, configMap: bestFrom, crl: best, forged: forged}
	for i := range best.RevokedCertificateEntries {
		if entry := &best.RevokedCertificateEntries[i]; entry.SerialNumber != nil && entry.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			finding.state, finding.entry = crlRevoked, entry
			break
		}
	}
	return finding
}

// parseCRLs parses the first maxCRLsPerBundle "X509 CRL" blocks of data,
// skipping what does not parse.
func parseCRLs(data []byte) []*x509.RevocationList {
	var crls []*x509.RevocationList
	for rest := data; len(crls) < maxCRLsPerBundle; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != pemTypeCRL {
			continue
		}
		if crl, err := x509.ParseRevocationList(block.Bytes); err == nil {
			crls = append(crls, crl)
		}
	}
	return crls
}

// holdsAny reports whether the PEM certificates in data include one of cas.
func holdsAny(data []byte, cas []*x509.Certificate) bool {
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(certs, func(cert *x509.Certificate) bool {
		return slices.ContainsFunc(cas, cert.Equal)
	})
}

// signedByAny reports whether one of cas, of the CRL's issuer name, signed crl.
func signedByAny(crl *x509.RevocationList, cas []*x509.Certificate) bool {
	return slices.ContainsFunc(cas, func(ca *x509.Certificate) bool {
		return bytes.Equal(ca.RawSubject, crl.RawIssuer) && crl.CheckSignatureFrom(ca) == nil
	})
}

// newerCRL reports whether a is newer than b: a higher CRL number, or the
// same number and a later thisUpdate.
func newerCRL(a, b *x509.RevocationList) bool {
	an, bn := crlNumber(a), crlNumber(b)
	if c := an.Cmp(bn); c != 0 {
		return c > 0
	}
	return a.ThisUpdate.After(b.ThisUpdate)
}

// crlNumber is the CRL number, -1 for a CRL without one.
func crlNumber(crl *x509.RevocationList) *big.Int {
	if crl.Number == nil {
		return big.NewInt(-1)
	}
	return crl.Number
}

// describeCRLFinding prints a finding on one line, with times relative to now.
func describeCRLFinding(f crlFinding, now time.Time) string {
	var s string
	switch f.state {
	case crlRevoked:
		s = fmt.Sprintf("revoked at %s (%s), CRL number %s of ConfigMap %s",
			f.entry.RevocationTime.UTC().Format(time.RFC3339), crlReasonName(f.entry.ReasonCode), crlNumberText(f.crl), f.configMap)
	case crlNotRevoked:
		next := absoluteAndRelative(f.crl.NextUpdate, now)
		if !f.crl.NextUpdate.IsZero() && now.After(f.crl.NextUpdate) {
			next += ", stale"
		}
		s = fmt.Sprintf("not revoked (CRL number %s of ConfigMap %s, next update %s)", crlNumberText(f.crl), f.configMap, next)
	case crlNotPublished:
		// The issuer has no CRL yet, or one too large for the ConfigMap.
		s = fmt.Sprintf("no CRL published (ConfigMap %s has no %s; CRLs too large for a ConfigMap are served over HTTP only)",
			f.configMap, certsmithv1alpha1.BundleCRLKey)
	default:
		s = "not checked (" + f.why + ")"
	}
	if f.forged > 0 {
		s += fmt.Sprintf("; ignored %d CRL(s) in the name of the certificate's issuer that no known CA signed", f.forged)
	}
	return s
}

// crlNumberText prints a CRL number in decimal, as status.revocation does.
func crlNumberText(crl *x509.RevocationList) string {
	if crl.Number == nil {
		return noValue
	}
	return crl.Number.String()
}

// crlReasonNames names the RFC 5280 reason codes a CRL entry may carry.
var crlReasonNames = func() map[int]string {
	names := map[int]string{
		pki.ReasonCACompromise:    "cACompromise",
		pki.ReasonCertificateHold: "certificateHold",
		pki.ReasonRemoveFromCRL:   "removeFromCRL",
		pki.ReasonAACompromise:    "aACompromise",
	}
	for reason, code := range certsmithv1alpha1.RevocationReasonCodes {
		names[code] = string(reason)
	}
	return names
}()

// crlReasonName names a reason code; an entry without one is unspecified.
func crlReasonName(code int) string {
	if name, ok := crlReasonNames[code]; ok {
		return name
	}
	return fmt.Sprintf("reason code %d", code)
}

// revocationsOfCertificate describes the CertificateRevocations that
// resolved to serial, and those of the ServiceCertificate owner that are
// not resolved yet, at most maxRevocationsShown of them.
func revocationsOfCertificate(revocations []certsmithv1alpha1.CertificateRevocation, serial *big.Int, owner string) string {
	var found []string
	for i := range revocations {
		rev := &revocations[i]
		var state string
		switch {
		case rev.Status.SerialNumber != "":
			listed, ok := new(big.Int).SetString(rev.Status.SerialNumber, 16)
			if !ok || listed.Cmp(serial) != 0 {
				continue
			}
			state = "no status"
			if cond := meta.FindStatusCondition(rev.Status.Conditions, certsmithv1alpha1.ConditionRevoked); cond != nil {
				state = fmt.Sprintf("%s %s, %s", certsmithv1alpha1.ConditionRevoked, cond.Status, cond.Reason)
			}
		case owner != "" && rev.Spec.ServiceCertificateName == owner:
			state = "not resolved to a serial yet"
			if cond := meta.FindStatusCondition(rev.Status.Conditions, certsmithv1alpha1.ConditionRevoked); cond != nil {
				state += fmt.Sprintf("; %s %s, %s", certsmithv1alpha1.ConditionRevoked, cond.Status, cond.Reason)
			}
		default:
			continue
		}
		reason := rev.Spec.Reason
		if reason == "" {
			reason = certsmithv1alpha1.RevocationUnspecified
		}
		found = append(found, fmt.Sprintf("%s (%s; %s)", rev.Name, reason, state))
	}
	if len(found) == 0 {
		return noValue
	}
	slices.Sort(found)
	if len(found) > maxRevocationsShown {
		return strings.Join(found[:maxRevocationsShown], ", ") + fmt.Sprintf(" and %d more", len(found)-maxRevocationsShown)
	}
	return strings.Join(found, ", ")
}

// printRevocationChecks prints the revocation lines of the checks of a
// Secret whose leaf is signed by a CA among known.
func printRevocationChecks(w io.Writer, secret *corev1.Secret, leaf *x509.Certificate, known []*x509.Certificate, evidence revocationEvidence, now time.Time) {
	var finding string
	if evidence.bundlesErr != nil {
		finding = notChecked(evidence.bundlesErr)
	} else {
		finding = describeCRLFinding(checkRevocation(leaf, known, secret.Annotations[certsmithv1alpha1.AnnotationIssuerName], evidence.bundles), now)
	}
	fmt.Fprintf(w, "  revocation (CRL): %s\n", finding)

	var listed string
	if evidence.revocationsErr != nil {
		listed = notChecked(evidence.revocationsErr)
	} else {
		listed = revocationsOfCertificate(evidence.revocations, leaf.SerialNumber, secret.Annotations[certsmithv1alpha1.AnnotationServiceCertificate])
	}
	fmt.Fprintf(w, "  CertificateRevocations: %s\n", listed)
}

// notChecked says that a check could not be made because of err, on one
// line of bounded length.
func notChecked(err error) string {
	const limit = 300
	s := oneLine(err.Error())
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return "not checked (" + s + ")"
}
