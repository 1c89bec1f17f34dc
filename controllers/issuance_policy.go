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

// The re-issue policy chain of the decide stage: small pure functions, each
// saying whether a certificate needs (re-)issuing and why. The first one
// that fires becomes the Issuing condition's reason and message verbatim.

import (
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// issuanceInput is what the re-issue policies look at.
type issuanceInput struct {
	// renewRequest is the value of the manual trigger annotation, and
	// lastRenewRequest the last value acted on.
	renewRequest, lastRenewRequest string
	// revoked: a CRL of the issuer lists the certificate in the Secret.
	revoked  bool
	issued   *issuedCertificate
	request  *certificateRequest
	ca       *pki.CA
	rotation rotationInput
	now      time.Time
	// renewalTime of the certificate in the Secret, computed from the spec.
	// The rotation rule of the chain may move it (notChainedToIssuer):
	// read it once the chain has run.
	renewalTime time.Time
	// reissueAt is the turn in the re-issue window that notChainedToIssuer
	// gave a certificate of the old CA; zero when it gave none.
	reissueAt time.Time
}

// rotationInput is what the chain's rotation rule knows of the issuer's
// last CA switch.
type rotationInput struct {
	// switchedAt is when signing moved to the current CA; zero when the
	// issuer has not switched.
	switchedAt time.Time
	// reissueWindow is how long after the switch the certificates of the
	// old CA are re-issued over.
	reissueWindow time.Duration
	// anchors are the roots of the issuer's trust bundle: the current CA's,
	// and the old one's while it retires.
	anchors []*x509.Certificate
	// spreadSeed places the certificate in the window ("namespace/name").
	spreadSeed string
}

// issuancePolicy says whether a certificate needs (re-)issuing and why.
type issuancePolicy func(in *issuanceInput) (reason, message string, needed bool)

// issuancePolicies is the chain: the first policy that fires becomes the
// Issuing condition's reason and message. The policies after secretInvalid
// may assume a decoded certificate; rotationReissueDue follows
// notChainedToIssuer, which gives it the turn it waits for.
var issuancePolicies = []issuancePolicy{
	secretMissing,
	secretInvalid,
	keyMismatch,
	certificateRevoked,
	issuerChanged,
	specMismatch,
	notChainedToIssuer,
	rotationReissueDue,
	certificateExpired,
	manuallyTriggered,
	renewalDue,
}

// needsIssuance runs the policy chain. The rotation rule may move
// in.renewalTime, so callers read it afterwards.
func needsIssuance(in *issuanceInput) (reason, message string, needed bool) {
	for _, policy := range issuancePolicies {
		if reason, message, needed := policy(in); needed {
			return reason, message, true
		}
	}
	return "", "", false
}

// secretMissing fires when there is no Secret.
func secretMissing(in *issuanceInput) (string, string, bool) {
	if in.issued == nil {
		return certsmithv1alpha1.ReasonSecretMissing, "the Secret does not exist", true
	}
	return "", "", false
}

// secretInvalid fires when tls.crt or tls.key is missing or undecodable.
func secretInvalid(in *issuanceInput) (string, string, bool) {
	if in.issued.decodeErr != nil {
		return certsmithv1alpha1.ReasonSecretInvalid, in.issued.decodeErr.Error(), true
	}
	return "", "", false
}

// keyMismatch fires when tls.key does not belong to the certificate.
func keyMismatch(in *issuanceInput) (string, string, bool) {
	if !pki.KeyMatchesCertificate(in.issued.key, in.issued.leaf()) {
		return certsmithv1alpha1.ReasonKeyMismatch, "tls.key does not belong to the certificate in tls.crt", true
	}
	return "", "", false
}

// certificateRevoked fires when the issuer's revocation record lists the
// certificate: it is re-issued at once, with a new key.
func certificateRevoked(in *issuanceInput) (string, string, bool) {
	if in.revoked {
		return certsmithv1alpha1.ReasonRevoked, fmt.Sprintf("the certificate (serial %s) is revoked; it is re-issued with a new key", in.issued.leaf().SerialNumber.Text(16)), true
	}
	return "", "", false
}

// specMismatch fires when the certificate no longer matches the request:
// its names, common name, key, usages, or the request hash it was issued for.
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

// sameExtKeyUsages reports whether a and b hold the same extended key usages, in any order.
func sameExtKeyUsages(a, b []x509.ExtKeyUsage) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// issuerChanged fires when the Secret was issued by another issuer than the spec names.
func issuerChanged(in *issuanceInput) (string, string, bool) {
	if got := in.issued.secret.Annotations[certsmithv1alpha1.AnnotationIssuerName]; got != in.request.issuerName {
		return certsmithv1alpha1.ReasonIssuerChanged, fmt.Sprintf("the certificate was issued by %q, the spec names %q", got, in.request.issuerName), true
	}
	return "", "", false
}

// notChainedToIssuer fires for a certificate that does not chain to the
// issuer's current CA — unless it is the rotation's turn to wait for: the
// issuer switched CAs, and the certificate still chains to an anchor of the
// trust bundle, where the old CA stays while it retires. Then its renewal
// time becomes its point of the re-issue window, so the certificates of
// the old CA are not all re-issued at once, and rotationReissueDue fires
// there.
func notChainedToIssuer(in *issuanceInput) (string, string, bool) {
	leaf := in.issued.leaf()
	// Verify at the certificate's own start, so that an expired certificate
	// is reported as expired rather than as unchained.
	if pki.ChainsTo(leaf, in.ca, leaf.NotBefore.Add(time.Second)) {
		return "", "", false
	}
	if turn, ok := in.rotationTurn(); ok {
		if !turn.Before(leaf.NotAfter) && in.renewalTime.Before(turn) {
			// A turn at or past the certificate's expiry (a stretched window,
			// a short lifetime) would leave it expired until then: it keeps
			// its own renewal time, and the renewal rules act on it.
			return "", "", false
		}
		in.renewalTime, in.reissueAt = turn, turn
		return "", "", false
	}
	return certsmithv1alpha1.ReasonNotChainedToIssuer, notChainedMessage, true
}

// notChainedMessage is the Issuing message of NotChainedToIssuer.
const notChainedMessage = "the certificate does not chain to the issuer's current CA"

// rotationReissueDue fires once the turn that notChainedToIssuer gave a
// certificate of the old CA has come, with the reason and message of
// NotChainedToIssuer: the certificate is re-issued because it does not
// chain to the current CA.
func rotationReissueDue(in *issuanceInput) (string, string, bool) {
	if !in.reissueAt.IsZero() && !in.now.Before(in.reissueAt) {
		return certsmithv1alpha1.ReasonNotChainedToIssuer, notChainedMessage, true
	}
	return "", "", false
}

// rotationTurn returns when a certificate that no longer chains to the
// issuer's current CA is re-issued after a CA switch: at a point of the
// re-issue window after the switch, derived from its namespace and name.
// It returns false when there is nothing to wait for: the issuer has not
// switched, or no anchor of the trust bundle trusts the certificate any more.
func (in *issuanceInput) rotationTurn() (time.Time, bool) {
	rotation, leaf := in.rotation, in.issued.leaf()
	if rotation.switchedAt.IsZero() ||
		pki.VerifyChain(leaf, in.issued.chain[1:], rotation.anchors, "", leaf.NotBefore.Add(time.Second)) != nil {
		return time.Time{}, false
	}
	share := pki.JitterFraction(rotation.spreadSeed) / pki.MaxJitterFraction
	return rotation.switchedAt.Add(time.Duration(share * float64(rotation.reissueWindow))), true
}

// certificateExpired fires once the certificate has expired.
func certificateExpired(in *issuanceInput) (string, string, bool) {
	if leaf := in.issued.leaf(); !in.now.Before(leaf.NotAfter) {
		return certsmithv1alpha1.ReasonExpired, fmt.Sprintf("the certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339)), true
	}
	return "", "", false
}

// manuallyTriggered fires when the renew-requested-at annotation has a
// value that no issuance acted on yet.
func manuallyTriggered(in *issuanceInput) (string, string, bool) {
	if in.renewRequest != "" && in.renewRequest != in.lastRenewRequest {
		return certsmithv1alpha1.ReasonManuallyTriggered, fmt.Sprintf("re-issuance was requested (%s=%q)",
			certsmithv1alpha1.AnnotationRenewRequestedAt, in.renewRequest), true
	}
	return "", "", false
}

// renewalDue fires once the renewal time is reached.
func renewalDue(in *issuanceInput) (string, string, bool) {
	if !in.now.Before(in.renewalTime) {
		return certsmithv1alpha1.ReasonRenewing, fmt.Sprintf("the renewal time %s has been reached", in.renewalTime.UTC().Format(time.RFC3339)), true
	}
	return "", "", false
}
