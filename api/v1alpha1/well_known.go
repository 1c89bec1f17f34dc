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

package v1alpha1

import "strings"

// Labels and annotations that certsmith puts on the objects it manages.
const (
	// LabelManagedBy marks Secrets and CSRs that certsmith manages. Only
	// Secrets with this label (and those in the operator's namespace) are
	// cached by the operator.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "certsmith"

	// AnnotationServiceCertificate names the ServiceCertificate that a Secret
	// (its name) or a CSR ("<namespace>/<name>") belongs to. It is an
	// annotation, which anyone may write: certsmith takes a CSR as its own only
	// by spec.username, and a Secret only by the UID in status.ownedSecret.
	AnnotationServiceCertificate = "certsmith.io/service-certificate"
	// LabelClusterIssuer names the ClusterIssuer whose CA a Secret holds.
	LabelClusterIssuer = "certsmith.io/cluster-issuer"
	// LabelSignedUntil names the ClusterIssuer on the Secret
	// "<issuer>-signed-until" in the operator's namespace, where the CSR
	// signer (its only writer) records the latest notAfter each of the
	// issuer's CAs may have signed. That Secret holds no CA, so it does not
	// carry LabelClusterIssuer.
	LabelSignedUntil = "certsmith.io/signed-until-record"
	// LabelRevocations ("true") marks the Secret "<issuer>-revocations" in
	// the operator's namespace, where the revocation controller (its only
	// writer) keeps an issuer's revoked serial numbers and its current
	// CRLs; its annotation certsmith.io/issuer-name names the issuer.
	LabelRevocations = "certsmith.io/revocations-record"

	// FinalizerRevokeOnDelete holds a ServiceCertificate of an issuer with
	// spec.revocation.revokeOnDelete until its current certificate is
	// revoked: certsmith creates a ClusterCertificateRevocation for it
	// (labelled LabelRevokedOnDelete), then removes the finalizer.
	FinalizerRevokeOnDelete = "certsmith.io/revoke-on-delete"
	// LabelRevokedOnDelete ("true") marks a ClusterCertificateRevocation
	// that certsmith created when a ServiceCertificate was deleted; its
	// annotation certsmith.io/service-certificate names it
	// ("<namespace>/<name>"). certsmith deletes it once its entry expired.
	LabelRevokedOnDelete = "certsmith.io/revoked-on-delete"
	// AnnotationRevokedNotAfter and AnnotationRevokedAuthorityKeyID, on a
	// ClusterCertificateRevocation made on a deletion, record the revoked
	// certificate's notAfter (RFC 3339) and authority key identifier (hex),
	// read from its Secret at the deletion: its CSR may be gone by the time
	// the revocation is resolved (kube-controller-manager deletes issued
	// CSRs after an hour), and without them the serial would be unknown.
	AnnotationRevokedNotAfter       = "certsmith.io/not-after"
	AnnotationRevokedAuthorityKeyID = "certsmith.io/authority-key-id"

	// AnnotationIssuerName records the ClusterIssuer that signed a Secret's certificate.
	AnnotationIssuerName = "certsmith.io/issuer-name"
	// AnnotationDNSNames records the DNS names of a Secret's certificate, comma-separated.
	AnnotationDNSNames = "certsmith.io/dns-names"
	// AnnotationIPAddresses records the IP addresses of a Secret's certificate, comma-separated.
	AnnotationIPAddresses = "certsmith.io/ip-addresses"
	// AnnotationRevision records the revision of the certificate in a Secret.
	AnnotationRevision = "certsmith.io/revision"
	// AnnotationCertificateHash records a hash of the certificate request a CSR was made for.
	AnnotationCertificateHash = "certsmith.io/request-hash"

	// AnnotationRenewRequestedAt on a ServiceCertificate forces re-issuance
	// when its value differs from status.lastRenewRequest. certsmith never
	// edits or clears it (no GitOps drift); any new value works, a timestamp
	// is customary ("kubectl certsmith renew" writes one).
	AnnotationRenewRequestedAt = "certsmith.io/renew-requested-at"
	// AnnotationSecretTemplateKeys records, on a Secret, the label and
	// annotation keys that came from spec.secretTemplate, so that keys removed
	// from the template can be removed from the Secret.
	AnnotationSecretTemplateKeys = "certsmith.io/secret-template-keys"

	// AnnotationRotateRequestedAt on a ClusterIssuer starts a CA rotation
	// when its value differs from status.rotation.lastRequest.
	AnnotationRotateRequestedAt = "certsmith.io/rotate-requested-at"
	// AnnotationInjectCABundleFrom on a webhook configuration, APIService or
	// CustomResourceDefinition names the ClusterIssuer whose trust bundle
	// certsmith keeps in its caBundle fields.
	AnnotationInjectCABundleFrom = "certsmith.io/inject-ca-from"
	// LabelBundleIssuer names the ClusterIssuer whose bundle a ConfigMap or
	// ClusterTrustBundle carries.
	LabelBundleIssuer = "certsmith.io/bundle-issuer"

	// DefaultSignerDomain is the domain of default signer names,
	// "clusterissuers.certsmith.io/<issuer-name>".
	DefaultSignerDomain = "clusterissuers.certsmith.io"
)

// EffectiveSignerName returns spec.signerName, or the default
// "clusterissuers.certsmith.io/<name>" when it is not set.
func (in *ClusterIssuer) EffectiveSignerName() string {
	if in.Spec.SignerName != "" {
		return in.Spec.SignerName
	}
	return DefaultSignerDomain + "/" + in.Name
}

// IssuerNameFromDefaultSigner returns the issuer name encoded in a default
// signer name, and whether the signer name has the default form.
func IssuerNameFromDefaultSigner(signerName string) (string, bool) {
	name, ok := strings.CutPrefix(signerName, DefaultSignerDomain+"/")
	return name, ok && name != ""
}

// EffectiveSecretName returns spec.secretName, or "<name>-tls".
func (in *ServiceCertificate) EffectiveSecretName() string {
	if in.Spec.SecretName != "" {
		return in.Spec.SecretName
	}
	return in.Name + "-tls"
}

// BundleCRLKey is the key of a bundle ConfigMap that holds the issuer's
// current CRLs (PEM), next to the trust anchors.
const BundleCRLKey = "ca.crl"
