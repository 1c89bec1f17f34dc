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

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RevocationReason is an RFC 5280 reason code (section 5.3.1), by its
// name there. certificateHold is not offered: a certsmith revocation is
// final. caCompromise and aACompromise concern CAs, not the leaves that
// revocations name.
// +kubebuilder:validation:Enum=unspecified;keyCompromise;affiliationChanged;superseded;cessationOfOperation;privilegeWithdrawn
type RevocationReason string

// Revocation reasons.
const (
	RevocationUnspecified          RevocationReason = "unspecified"
	RevocationKeyCompromise        RevocationReason = "keyCompromise"
	RevocationAffiliationChanged   RevocationReason = "affiliationChanged"
	RevocationSuperseded           RevocationReason = "superseded"
	RevocationCessationOfOperation RevocationReason = "cessationOfOperation"
	RevocationPrivilegeWithdrawn   RevocationReason = "privilegeWithdrawn"
)

// RevocationReasonCodes maps each reason to its RFC 5280 code.
var RevocationReasonCodes = map[RevocationReason]int{
	RevocationUnspecified:          0,
	RevocationKeyCompromise:        1,
	RevocationAffiliationChanged:   3,
	RevocationSuperseded:           4,
	RevocationCessationOfOperation: 5,
	RevocationPrivilegeWithdrawn:   9,
}

// CertificateRevocationSpec names the ServiceCertificate whose current
// certificate is revoked.
type CertificateRevocationSpec struct {
	// ServiceCertificateName is the ServiceCertificate, in this namespace,
	// whose certificate is revoked: the one its Secret holds when certsmith
	// first sees this revocation. certsmith then re-issues it at once with
	// a new key.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ServiceCertificateName string `json:"serviceCertificateName"`

	// Reason is the RFC 5280 reason code the CRL gives.
	// +optional
	// +kubebuilder:default=unspecified
	Reason RevocationReason `json:"reason,omitempty"`
}

// ClusterCertificateRevocationSpec names a certificate by its issuer and
// serial number: any certificate an issuer signed, from a ServiceCertificate,
// a hand-made CSR or a PodCertificateRequest, also once the request is gone.
type ClusterCertificateRevocationSpec struct {
	// IssuerName is the ClusterIssuer that signed the certificate.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	IssuerName string `json:"issuerName"`

	// SerialNumber is the certificate's serial number in hexadecimal, as
	// "openssl x509 -serial" prints it (colons allowed): at most 20 octets.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=59
	// +kubebuilder:validation:Pattern=`^([0-9A-Fa-f]{1,40}|[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){0,19})$`
	SerialNumber string `json:"serialNumber"`

	// Reason is the RFC 5280 reason code the CRL gives.
	// +optional
	// +kubebuilder:default=unspecified
	Reason RevocationReason `json:"reason,omitempty"`
}

// CertificateRevocationStatus is what certsmith did with a revocation.
type CertificateRevocationStatus struct {
	// Conditions: Revoked.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=4
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// IssuerName is the ClusterIssuer whose CRL lists the certificate.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	IssuerName string `json:"issuerName,omitempty"`

	// SerialNumber of the revoked certificate, lowercase hexadecimal.
	// +optional
	// +kubebuilder:validation:MaxLength=40
	SerialNumber string `json:"serialNumber,omitempty"`

	// CAFingerprintsSHA256 are the CAs whose CRLs list it: the one that
	// signed it, or, for a serial certsmith cannot find, every CA the
	// issuer had when the revocation was recorded.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=95
	CAFingerprintsSHA256 []string `json:"caFingerprintsSHA256,omitempty"`

	// RevokedAt is the revocation time the CRL gives.
	// +optional
	RevokedAt *metav1.Time `json:"revokedAt,omitempty"`

	// NotAfter is the certificate's expiry, when certsmith knows the
	// certificate: its entry leaves the CRL after that. An entry of a
	// serial certsmith cannot find stays until the CA expires.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`

	// ServiceCertificate is "<namespace>/<name>" of the ServiceCertificate
	// the certificate was issued for, when certsmith knows it.
	// +optional
	// +kubebuilder:validation:MaxLength=317
	ServiceCertificate string `json:"serviceCertificate,omitempty"`
}

// CertificateRevocation revokes the current certificate of a
// ServiceCertificate in its namespace, which certsmith then re-issues with
// a new key. A revocation is final: deleting this object does not take the
// certificate off the CRL.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=crev;crevs,categories=certsmith
// +kubebuilder:printcolumn:name="Certificate",type=string,JSONPath=`.spec.serviceCertificateName`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`
// +kubebuilder:printcolumn:name="Revoked",type=string,JSONPath=`.status.conditions[?(@.type=="Revoked")].status`
// +kubebuilder:printcolumn:name="Serial",type=string,JSONPath=`.status.serialNumber`,priority=1
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.conditions[?(@.type=="Revoked")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type CertificateRevocation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: a revocation cannot be changed or undone"
	Spec   CertificateRevocationSpec   `json:"spec"`
	Status CertificateRevocationStatus `json:"status,omitempty"`
}

// CertificateRevocationList is a list of CertificateRevocations.
// +kubebuilder:object:root=true
type CertificateRevocationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CertificateRevocation `json:"items"`
}

// ClusterCertificateRevocation revokes any certificate an issuer signed, by
// serial number. It is cluster-scoped, for administrators. A revocation is
// final: deleting this object does not take the certificate off the CRL.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ccrev;ccrevs,categories=certsmith
// +kubebuilder:printcolumn:name="Issuer",type=string,JSONPath=`.spec.issuerName`
// +kubebuilder:printcolumn:name="Serial",type=string,JSONPath=`.spec.serialNumber`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`
// +kubebuilder:printcolumn:name="Revoked",type=string,JSONPath=`.status.conditions[?(@.type=="Revoked")].status`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.conditions[?(@.type=="Revoked")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterCertificateRevocation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: a revocation cannot be changed or undone"
	Spec   ClusterCertificateRevocationSpec `json:"spec"`
	Status CertificateRevocationStatus      `json:"status,omitempty"`
}

// ClusterCertificateRevocationList is a list of ClusterCertificateRevocations.
// +kubebuilder:object:root=true
type ClusterCertificateRevocationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterCertificateRevocation `json:"items"`
}

// RevocationSpec tunes an issuer's revocation. Every issuer keeps CRLs;
// these settings are optional.
type RevocationSpec struct {
	// RevokeOnDelete revokes the current certificate of a ServiceCertificate
	// of this issuer when the ServiceCertificate is deleted (reason
	// cessationOfOperation). Off by default.
	// +optional
	RevokeOnDelete bool `json:"revokeOnDelete,omitempty"`

	// CRLDistributionPoint is a URL that certificates issued from now on
	// name as their CRL distribution point; "$(CA_ID)" in it stands for the
	// signing CA's ID (the first 16 hex digits of its SHA-256 fingerprint),
	// so that each CA's certificates point at that CA's CRL, during a
	// rotation too. certsmith's CRL server serves
	// /crl/<issuer>/<CA_ID>.crl. Certificates issued before it was set keep
	// what they have.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +kubebuilder:validation:XValidation:rule="self.contains('$(CA_ID)')",message="the URL must contain $(CA_ID): each CA has its own CRL"
	CRLDistributionPoint string `json:"crlDistributionPoint,omitempty"`

	// CRLValidity is how long a CRL is valid (nextUpdate - thisUpdate).
	// certsmith makes a new one two thirds into that, and at most every
	// ten seconds after revocations. Defaults to 24h.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('720h')",message="crlValidity must be between 1h and 720h"
	CRLValidity *metav1.Duration `json:"crlValidity,omitempty"`
}

// RevocationStatus reports the CRLs an issuer keeps.
type RevocationStatus struct {
	// CRLs are the current CRL of each of the issuer's CAs.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	CRLs []CRLStatus `json:"crls,omitempty"`
	// Revoked is how many entries the issuer's CRLs list in all.
	// +optional
	Revoked int32 `json:"revoked"`
	// Problem says why a CRL could not be made, if one could not.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Problem string `json:"problem,omitempty"`
}

// CRLStatus describes one CA's current CRL.
type CRLStatus struct {
	// CAID is the CA's ID: the first 16 hex digits of its SHA-256
	// fingerprint, as in the CRL's URL path.
	// +kubebuilder:validation:MaxLength=16
	CAID string `json:"caID"`
	// CAFingerprintSHA256 of the CA that signs the CRL.
	// +kubebuilder:validation:MaxLength=95
	CAFingerprintSHA256 string `json:"caFingerprintSHA256"`
	// Number is the CRL number, in decimal.
	// +kubebuilder:validation:MaxLength=48
	Number string `json:"number"`
	// ThisUpdate and NextUpdate of the CRL.
	ThisUpdate metav1.Time `json:"thisUpdate"`
	NextUpdate metav1.Time `json:"nextUpdate"`
	// Revoked is how many entries it lists.
	Revoked int32 `json:"revoked"`
}

func init() {
	SchemeBuilder.Register(&CertificateRevocation{}, &CertificateRevocationList{},
		&ClusterCertificateRevocation{}, &ClusterCertificateRevocationList{})
}
