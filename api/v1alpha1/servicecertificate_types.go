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
	"k8s.io/apimachinery/pkg/types"
)

// ServiceCertificateSpec is the desired state of a ServiceCertificate.
// +kubebuilder:validation:XValidation:rule="has(self.service) || (has(self.dnsNames) && size(self.dnsNames) > 0) || (has(self.ipAddresses) && size(self.ipAddresses) > 0) || (has(self.uris) && size(self.uris) > 0)",message="at least one of service, dnsNames, ipAddresses or uris must be set"
// +kubebuilder:validation:XValidation:rule="!(has(self.renewBefore) && has(self.renewBeforePercentage))",message="set renewBefore or renewBeforePercentage, not both"
// +kubebuilder:validation:XValidation:rule="!has(self.renewBefore) || duration(self.renewBefore) < duration(has(self.duration) ? self.duration : '2160h')",message="renewBefore must be shorter than duration"
type ServiceCertificateSpec struct {
	// IssuerRef names the ClusterIssuer that signs this certificate.
	IssuerRef IssuerReference `json:"issuerRef"`

	// SecretName is the kubernetes.io/tls Secret, in this namespace, that
	// receives tls.crt (leaf and intermediates), tls.key and ca.crt.
	// Defaults to "<name>-tls".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	SecretName string `json:"secretName,omitempty"`

	// Service names a Service in this namespace. The certificate then carries
	// "<service>.<namespace>.svc", "<service>.<namespace>.svc.<clusterDomain>"
	// and the Service's cluster IPs, and follows them when they change.
	// +optional
	Service *ServiceReference `json:"service,omitempty"`

	// DNSNames are extra DNS subject alternative names. A leading "*." asks
	// for a wildcard.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	DNSNames []string `json:"dnsNames,omitempty"`

	// IPAddresses are extra IP subject alternative names (IPv4 or IPv6).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=45
	// +kubebuilder:validation:items:XValidation:rule="isIP(self)",message="must be a valid IPv4 or IPv6 address"
	IPAddresses []string `json:"ipAddresses,omitempty"`

	// URIs are URI subject alternative names, such as SPIFFE IDs
	// ("spiffe://cluster.local/ns/<ns>/sa/<sa>"). The issuer's policy must
	// allow them (spec.policy.uris).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=2048
	// +kubebuilder:validation:items:XValidation:rule="isURL(self) && url(self).getScheme() != ''",message="must be an absolute URI"
	URIs []string `json:"uris,omitempty"`

	// CommonName of the certificate's subject. It must be one of the
	// certificate's allowed names. Defaults to the first DNS name.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CommonName string `json:"commonName,omitempty"`

	// Subject holds further distinguished-name attributes (organizations,
	// organizational units, countries, provinces, localities). Its
	// commonName, if set, is ignored in favour of spec.commonName.
	// +optional
	Subject *X509Subject `json:"subject,omitempty"`

	// Duration is the requested lifetime of the certificate, at least 10m.
	// The issuer may cap it. Defaults to 2160h (90 days).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10m')",message="duration must be at least 10m (the CSR API's minimum)"
	Duration *metav1.Duration `json:"duration,omitempty"`

	// RenewBefore is how long before expiry the certificate is renewed. When
	// unset, it is renewed at two thirds of its actual lifetime, moved earlier
	// by up to a tenth of the lifetime (derived from its namespace and name) so
	// certificates created together do not renew together.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="renewBefore must be positive"
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`

	// RenewBeforePercentage renews when this share of the certificate's
	// actual lifetime remains (1-99). Exclusive with renewBefore.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=99
	RenewBeforePercentage *int32 `json:"renewBeforePercentage,omitempty"`

	// Usages of the certificate. Defaults to "digital signature" and
	// "server auth", plus "key encipherment" for RSA keys.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=24
	Usages []KeyUsage `json:"usages,omitempty"`

	// PrivateKey says how the key is generated. Defaults to ECDSA P-256.
	// +optional
	PrivateKey *PrivateKey `json:"privateKey,omitempty"`

	// SecretTemplate holds labels and annotations that certsmith keeps on
	// the Secret; drift is repaired, and keys removed here are removed there.
	// +optional
	SecretTemplate *SecretTemplate `json:"secretTemplate,omitempty"`

	// AdditionalOutputFormats adds more keys to the Secret: CombinedPEM
	// ("tls-combined.pem": key, then certificate chain) and DER ("key.der":
	// the private key in PKCS#8 DER).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=2
	AdditionalOutputFormats []AdditionalOutputFormat `json:"additionalOutputFormats,omitempty"`

	// Keystores adds PKCS#12 files to the Secret.
	// +optional
	Keystores *Keystores `json:"keystores,omitempty"`

	// RevisionHistoryLimit is how many finished CertificateSigningRequests
	// are kept per certificate (default 1); older ones are deleted.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// SecretDeletionPolicy says what happens to the Secret when the
	// ServiceCertificate is deleted: Delete (default; the Secret is owned by
	// the ServiceCertificate and the garbage collector removes it) or Retain
	// (no owner reference; the Secret stays).
	// +optional
	// +kubebuilder:validation:Enum=Delete;Retain
	SecretDeletionPolicy SecretDeletionPolicy `json:"secretDeletionPolicy,omitempty"`

	// AdoptExistingSecret lets certsmith take over a Secret named
	// secretName that it did not create (one that cert-manager filled, for
	// example) without issuing a new certificate, when that Secret has no
	// controller (no controlling owner reference, no live cert-manager
	// Certificate naming it), its tls.key belongs to its tls.crt, and the
	// certificate is valid, chains to the issuer's current CA, is not
	// revoked and matches this spec (names, subject, key, usages). Any of
	// these failing is a SecretConflict that says which, and the Secret is
	// left as it is. Off by default: without it, such a Secret is never
	// touched.
	// +optional
	AdoptExistingSecret bool `json:"adoptExistingSecret,omitempty"`
}

// SecretDeletionPolicy says what happens to a Secret when its ServiceCertificate is deleted.
type SecretDeletionPolicy string

// Secret deletion policies.
const (
	// SecretDeletionPolicyDelete makes the Secret owned by its ServiceCertificate.
	SecretDeletionPolicyDelete SecretDeletionPolicy = "Delete"
	// SecretDeletionPolicyRetain keeps the Secret.
	SecretDeletionPolicyRetain SecretDeletionPolicy = "Retain"
)

// SecretTemplate holds metadata for the certificate's Secret.
type SecretTemplate struct {
	// Labels to set on the Secret.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations to set on the Secret.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// AdditionalOutputFormatType names an extra output in the Secret.
// +kubebuilder:validation:Enum=CombinedPEM;DER
type AdditionalOutputFormatType string

// Additional output formats.
const (
	// CombinedPEMOutput writes "tls-combined.pem": the key, then the certificate chain.
	CombinedPEMOutput AdditionalOutputFormatType = "CombinedPEM"
	// DEROutput writes "key.der": the private key as PKCS#8 DER.
	DEROutput AdditionalOutputFormatType = "DER"
)

// AdditionalOutputFormat asks for an extra output in the Secret.
type AdditionalOutputFormat struct {
	// Type of the output.
	Type AdditionalOutputFormatType `json:"type"`
}

// Keystores describes keystore files written into the Secret.
type Keystores struct {
	// PKCS12 writes "keystore.p12" (key and chain) and "truststore.p12" (the
	// CA bundle), encrypted with a password read from a Secret in the same
	// namespace.
	// +optional
	PKCS12 *PKCS12Keystore `json:"pkcs12,omitempty"`
}

// PKCS12Keystore describes PKCS#12 output.
type PKCS12Keystore struct {
	// PasswordSecretRef names the Secret key that holds the password.
	PasswordSecretRef SecretKeySelector `json:"passwordSecretRef"`
}

// SecretKeySelector names a key of a Secret in the same namespace.
type SecretKeySelector struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// ServiceReference names a Service in the ServiceCertificate's namespace.
type ServiceReference struct {
	// Name of the Service.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
}

// ServiceCertificateStatus is the observed state of a ServiceCertificate.
type ServiceCertificateStatus struct {
	// Conditions: Ready and Issuing.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// SecretName is the Secret that holds the certificate.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// NotBefore is the start of the current certificate's validity.
	// +optional
	NotBefore *metav1.Time `json:"notBefore,omitempty"`

	// NotAfter is the end of the current certificate's validity.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`

	// RenewalTime is when the certificate will be renewed.
	// +optional
	RenewalTime *metav1.Time `json:"renewalTime,omitempty"`

	// SerialNumber of the current certificate, in hexadecimal.
	// +optional
	SerialNumber string `json:"serialNumber,omitempty"`

	// Revision counts the certificates issued for this resource.
	// +optional
	Revision int64 `json:"revision,omitempty"`

	// CertificateSigningRequest is the name of the CSR in flight, if any.
	// +optional
	CertificateSigningRequest string `json:"certificateSigningRequest,omitempty"`

	// LastFailureTime is when issuance last failed.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// FailedIssuanceAttempts counts consecutive failed issuances.
	// +optional
	FailedIssuanceAttempts int32 `json:"failedIssuanceAttempts,omitempty"`

	// LastRenewRequest is the last value of the certsmith.io/renew-requested-at
	// annotation that was acted on.
	// +optional
	LastRenewRequest string `json:"lastRenewRequest,omitempty"`

	// CAFingerprintsSHA256 lists the certificates in the ca.crt that
	// certsmith last wrote into the Secret (SHA-256 fingerprints). A CA
	// rotation waits until the next CA is listed here, for every
	// ServiceCertificate of the issuer whose Secret certsmith can write.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	CAFingerprintsSHA256 []string `json:"caFingerprintsSHA256,omitempty"`

	// OwnedSecret is the Secret certsmith created for this certificate,
	// by name and UID: the only Secret certsmith writes for it. A Secret of
	// that name with another UID (say, one a tenant made after deleting
	// certsmith's) is a conflict, whatever its labels, annotations or owner
	// references say.
	// +optional
	OwnedSecret *OwnedObject `json:"ownedSecret,omitempty"`

	// RecentIssuances records the issuances of the last hour: at most 5 for
	// the same spec, issuer CA and manual trigger, and at most 30 in all;
	// past a limit, issuance waits (condition reason IssuanceRateLimited).
	// +optional
	RecentIssuances *IssuanceHistory `json:"recentIssuances,omitempty"`
}

// OwnedObject names an object certsmith created, and its UID.
type OwnedObject struct {
	// Name of the object.
	Name string `json:"name"`
	// UID of the object, as the API server assigned it at creation.
	UID types.UID `json:"uid"`
}

// IssuanceHistory is the recent issuances of a ServiceCertificate for one
// spec, issuer CA and manual trigger.
type IssuanceHistory struct {
	// Key identifies the spec, the issuer's CA and the manual trigger the
	// issuances were made for; when any of them changes, the history starts over.
	Key string `json:"key"`
	// Times of the issuances for Key, oldest first.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Times []metav1.Time `json:"times"`
	// AllTimes are the times of every issuance of the last hour, whatever
	// it was for, oldest first: changing the spec or the trigger again and
	// again does not buy unlimited issuances either.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	AllTimes []metav1.Time `json:"allTimes,omitempty"`
	// RevokedTimes are the times of the re-issues after a revocation in the
	// last day, oldest first: they go past the limits above, within their
	// own (at most three a day), so that revoking in a loop does not
	// re-issue without end.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	RevokedTimes []metav1.Time `json:"revokedTimes,omitempty"`
}

// ServiceCertificate is a certificate that a workload needs, kept valid and
// renewed by certsmith in a kubernetes.io/tls Secret.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=scert;scerts,categories=certsmith
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.secretName`
// +kubebuilder:printcolumn:name="Issuer",type=string,JSONPath=`.spec.issuerRef.name`,priority=1
// +kubebuilder:printcolumn:name="NotAfter",type=string,JSONPath=`.status.notAfter`
// +kubebuilder:printcolumn:name="RenewalTime",type=string,JSONPath=`.status.renewalTime`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ServiceCertificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	Spec ServiceCertificateSpec `json:"spec"`
	// Status is the observed state.
	// +optional
	Status ServiceCertificateStatus `json:"status,omitempty"`
}

// ServiceCertificateList is a list of ServiceCertificates.
// +kubebuilder:object:root=true
type ServiceCertificateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the ServiceCertificates.
	Items []ServiceCertificate `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ServiceCertificate{}, &ServiceCertificateList{})
}
