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

// ClusterIssuerSpec is the desired state of a ClusterIssuer.
// +kubebuilder:validation:XValidation:rule="has(oldSelf.signerName) == has(self.signerName)",message="signerName is immutable: it cannot be added or removed after creation"
// +kubebuilder:validation:XValidation:rule="!has(self.podCertificates) || !has(self.policy) || !has(self.policy.maxDuration) || duration(self.policy.maxDuration) >= duration('1h')",message="policy.maxDuration must be at least 1h when podCertificates is set: a pod certificate lives at least an hour"
// +kubebuilder:validation:XValidation:rule="!has(self.podCertificates) || !has(self.policy) || !has(self.policy.usages) || ['digital signature', 'server auth', 'client auth'].all(u, u in self.policy.usages)",message="policy.usages must allow digital signature, server auth and client auth when podCertificates is set: every pod certificate carries them"
// +kubebuilder:validation:XValidation:rule="!has(self.podCertificates) || !has(self.policy) || !has(self.policy.maxNames) || self.policy.maxNames > (has(self.podCertificates.dnsNames) ? size(self.podCertificates.dnsNames) : 0)",message="policy.maxNames must leave room for the SPIFFE ID and every name of podCertificates.dnsNames"
type ClusterIssuerSpec struct {
	// CA is where the issuer's certificate authority comes from: exactly one
	// of selfSigned, secretRef or issuerRef.
	CA CASource `json:"ca"`

	// SignerName is the certificates.k8s.io signerName this issuer signs for,
	// in "domain/path" form (for example "example.com/serving"). It defaults to
	// "clusterissuers.certsmith.io/<name>" and cannot be changed; the effective
	// value is in status.signerName.
	// +optional
	// +kubebuilder:validation:MaxLength=571
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="signerName is immutable"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('kubernetes.io/') && !self.split('/')[0].endsWith('.kubernetes.io')",message="signerName must not use the reserved kubernetes.io domain"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('clusterissuers.certsmith.io/')",message="signerName must not use clusterissuers.certsmith.io, the domain of default signer names; leave signerName unset to get one"
	SignerName string `json:"signerName,omitempty"`

	// Policy says what this issuer signs beyond the namespace-safe default.
	// A ServiceCertificate may always name its own namespace's service
	// domain (*.<ns>.svc, *.<ns>.svc.<clusterDomain>) and its own Services'
	// cluster IPs; anything else, and every name in a CSR that certsmith did
	// not create, must be allowed here.
	// +optional
	Policy *IssuerPolicy `json:"policy,omitempty"`

	// Approval decides CSRs of this signerName that certsmith did not create:
	// Manual (default) waits for a person ("kubectl certificate approve");
	// Auto approves what the policy allows and denies the rest, for the
	// requesters that spec.policy.autoApprove names (others wait for a
	// person, with a Warning Event on their CSR). CSRs that
	// certsmith creates for ServiceCertificates are always approved by
	// certsmith after checking them.
	// +optional
	// +kubebuilder:validation:Enum=Manual;Auto
	Approval ApprovalMode `json:"approval,omitempty"`

	// Bundle distributes the issuer's trust bundle (its root CAs, and during
	// a rotation the next or retiring ones): "bundle: {}" means a ConfigMap
	// "<issuer-name>-ca" with key "ca.crt" in every namespace, plus a
	// ClusterTrustBundle linked to the signerName.
	// +optional
	Bundle *BundleSpec `json:"bundle,omitempty"`

	// Rotation tunes how the CA of a generated issuer is replaced before it
	// expires (at status.ca.renewalTime, or on the annotation
	// certsmith.io/rotate-requested-at).
	// +optional
	Rotation *RotationSpec `json:"rotation,omitempty"`

	// PodCertificates makes the issuer sign PodCertificateRequests of its
	// signerName: pods that mount a podCertificate projected volume with
	// this signerName get a certificate whose key never leaves their node,
	// and no Secret. Unset (the default) means the issuer does not look at
	// PodCertificateRequests; "podCertificates: {}" signs for every pod
	// with a SPIFFE identity of its namespace and ServiceAccount.
	// +optional
	PodCertificates *PodCertificatePolicy `json:"podCertificates,omitempty"`

	// Revocation tunes the issuer's CRLs (every issuer keeps them):
	// revoking on deletion, a CRL distribution point in new certificates,
	// and how long a CRL is valid.
	// +optional
	Revocation *RevocationSpec `json:"revocation,omitempty"`
}

// PodCertificatePolicy says which pods get certificates from an issuer and
// what goes into them. Everything a pod certificate carries comes from what
// the API server verified of the pod (its namespace, ServiceAccount, name
// and node), never from what the pod asked for.
type PodCertificatePolicy struct {
	// TrustDomain is the SPIFFE trust domain of the identities issued:
	// every certificate carries the URI
	// spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>. Defaults to
	// the cluster's DNS domain (the operator's --cluster-domain).
	// +optional
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`
	TrustDomain string `json:"trustDomain,omitempty"`

	// MaxDuration caps the lifetime of pod certificates. A pod asks for a
	// lifetime (maxExpirationSeconds of its volume, default 24h) and gets
	// the shortest of that, this and spec.policy.maxDuration. Defaults to
	// 24h; at least 1h, as the API requires, and at most 2160h (90 days).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('2160h')",message="must be between 1h and 2160h"
	MaxDuration *metav1.Duration `json:"maxDuration,omitempty"`

	// KeyTypes are the key types the issuer signs, as the kubelet names
	// them in a podCertificate volume's keyType. A request for another
	// type is Denied with reason UnsupportedKeyType. Defaults to all of
	// them: ECDSAP256, ECDSAP384, ECDSAP521, ED25519, RSA3072, RSA4096.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=6
	KeyTypes []PodCertificateKeyType `json:"keyTypes,omitempty"`

	// NamespaceSelector limits the namespaces whose pods get certificates.
	// Unset means every namespace that spec.policy.namespaceSelector (when
	// set) serves; both must match.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// ServiceAccounts limits the ServiceAccounts whose pods get
	// certificates: entries "<namespace>/<name>", where either part may be
	// "*" (any). Unset means every ServiceAccount of the namespaces served.
	// This list, not a label on the ServiceAccount, decides: whoever may
	// edit a namespace's ServiceAccounts could set a label.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=317
	// +kubebuilder:validation:items:Pattern=`^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)/(\*|[a-z0-9]([-a-z0-9.]*[a-z0-9])?)$`
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`

	// DNSNames are DNS names to put into pod certificates, made from the
	// verified facts with the variables $(SERVICE_ACCOUNT), $(NAMESPACE),
	// $(POD_NAME) and $(CLUSTER_DOMAIN), for example
	// "$(SERVICE_ACCOUNT).$(NAMESPACE).svc". Unset means none. Every name
	// made passes the same checks as any other request (the namespace's
	// service domain or spec.policy.dnsNames, the API server's reserved
	// names, spec.policy.maxNames); a pod whose names fail is Denied.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="!self.contains('..')",message="must not contain an empty label (..)"
	// +kubebuilder:validation:items:XValidation:rule="self.replace('$(SERVICE_ACCOUNT)', 'a').replace('$(NAMESPACE)', 'a').replace('$(POD_NAME)', 'a').replace('$(CLUSTER_DOMAIN)', 'a').matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="must be a DNS name in which only $(SERVICE_ACCOUNT), $(NAMESPACE), $(POD_NAME) and $(CLUSTER_DOMAIN) are replaced"
	DNSNames []string `json:"dnsNames,omitempty"`
}

// PodCertificateKeyType is a key type of a podCertificate volume.
// +kubebuilder:validation:Enum=ECDSAP256;ECDSAP384;ECDSAP521;ED25519;RSA3072;RSA4096
type PodCertificateKeyType string

// The key types the kubelet generates for pod certificates.
const (
	PodCertificateKeyECDSAP256 PodCertificateKeyType = "ECDSAP256"
	PodCertificateKeyECDSAP384 PodCertificateKeyType = "ECDSAP384"
	PodCertificateKeyECDSAP521 PodCertificateKeyType = "ECDSAP521"
	PodCertificateKeyED25519   PodCertificateKeyType = "ED25519"
	PodCertificateKeyRSA3072   PodCertificateKeyType = "RSA3072"
	PodCertificateKeyRSA4096   PodCertificateKeyType = "RSA4096"
)

// BundleSpec says where an issuer's trust bundle goes.
type BundleSpec struct {
	// ConfigMap names the ConfigMap and key. Defaults to "<issuer-name>-ca" and "ca.crt".
	// +optional
	ConfigMap *ConfigMapTarget `json:"configMap,omitempty"`

	// NamespaceSelector picks the namespaces that get the ConfigMap. Unset
	// means every namespace. Namespaces that stop matching lose it.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// ClusterTrustBundle publishes the bundle as a ClusterTrustBundle linked
	// to the signerName, for clusterTrustBundle projected volumes. Defaults
	// to true; skipped (and logged once) where the API server does not serve
	// certificates.k8s.io/v1 ClusterTrustBundles.
	// +optional
	ClusterTrustBundle *bool `json:"clusterTrustBundle,omitempty"`
}

// ConfigMapTarget names a ConfigMap and a key in it.
type ConfigMapTarget struct {
	// Name of the ConfigMap. Defaults to "<issuer-name>-ca".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name,omitempty"`
	// Key in the ConfigMap. Defaults to "ca.crt". The key "ca.crl" holds
	// the issuer's CRLs.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:XValidation:rule="self != 'ca.crl'",message="the key ca.crl holds the issuer's CRLs"
	Key string `json:"key,omitempty"`
}

// RotationSpec tunes CA rotation.
type RotationSpec struct {
	// PropagationDelay is how long to wait, after the next CA is in every
	// bundle, before signing with it, so that clients reload their trust
	// (kubelet refreshes projected ConfigMaps within about a minute).
	// Defaults to 2m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('720h')",message="must be between 0s and 720h"
	PropagationDelay *metav1.Duration `json:"propagationDelay,omitempty"`

	// ReissueWindow spreads the re-issuance of the certificates signed by
	// the old CA over this long after the switch. Defaults to 5m. It is
	// stretched when the issuer has so many certificates that they would
	// be re-issued faster than maxReissueRate (status.rotation.reissueWindow).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('720h')",message="must be between 0s and 720h"
	ReissueWindow *metav1.Duration `json:"reissueWindow,omitempty"`

	// MaxReissueRate bounds how many certificates of the old CA are
	// re-issued per second, on average, after the switch: with N
	// certificates, the re-issuance is spread over at least N divided by
	// this many seconds, however short reissueWindow is. It also bounds
	// the refreshes of ca.crt in the certificates' Secrets when the trust
	// bundle changes (the next CA published, the old one retired), so that
	// a rotation never becomes a storm of writes to the API server; the
	// publishing phase lasts at least N divided by this many seconds.
	// Defaults to 20.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxReissueRate *int32 `json:"maxReissueRate,omitempty"`

	// PublishDeadline bounds how long, after a rotation starts, the switch
	// to the next CA waits for trust paths that certsmith cannot write or
	// cannot confirm: a ConfigMap or ClusterTrustBundle of that name that is
	// not certsmith's, immutable or rejected by the API server, a
	// certificate Secret whose ca.crt has not taken the next CA, an injected
	// caBundle that does not hold it. Past the deadline they no longer block
	// the switch; the Rotating condition names them. Paths that certsmith can
	// write but whose write failed for a transient reason keep blocking.
	// Defaults to 10m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('720h')",message="must be between 0s and 720h"
	PublishDeadline *metav1.Duration `json:"publishDeadline,omitempty"`
}

// ApprovalMode says how CSRs that certsmith did not create are approved.
type ApprovalMode string

// Approval modes.
const (
	// ApprovalManual leaves approval to a person.
	ApprovalManual ApprovalMode = "Manual"
	// ApprovalAuto approves what the policy allows and denies the rest, for
	// the requesters that the policy's autoApprove names.
	ApprovalAuto ApprovalMode = "Auto"
)

// IssuerPolicy lists what an issuer may sign beyond the namespace-safe default.
// +kubebuilder:validation:XValidation:rule="!has(self.maxDuration) || duration(self.maxDuration) >= duration('10m')",message="maxDuration must be at least 10m"
type IssuerPolicy struct {
	// DNSNames are allowed DNS name patterns. "*" stands for exactly one
	// label, anywhere in the pattern: "*.*.svc.cluster.local" allows
	// "my-svc.my-namespace.svc.cluster.local"; "*.example.com" allows
	// "a.example.com" but not "a.b.example.com". A requested wildcard name
	// ("*.example.com") is allowed only by a pattern that allows it literally
	// or by a "*" in the same place. The Kubernetes API server's names
	// (kubernetes, kubernetes.default, kubernetes.default.svc and
	// kubernetes.default.svc.<clusterDomain>) are allowed only by an entry
	// that is exactly that name, never by a wildcard or the namespace
	// default; the same holds for the cluster IPs of the "kubernetes"
	// Service in ipRanges (an exact /32 or /128).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?))*$`
	DNSNames []string `json:"dnsNames,omitempty"`

	// IPRanges are allowed IP address ranges in CIDR form.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=49
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self)",message="must be a CIDR such as 10.0.0.0/16"
	IPRanges []string `json:"ipRanges,omitempty"`

	// URIs are allowed URI patterns; "*" stands for one path segment or one
	// host label (for example "spiffe://cluster.local/ns/*/sa/*").
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=2048
	URIs []string `json:"uris,omitempty"`

	// Usages that may be requested. Defaults to "digital signature",
	// "key encipherment", "server auth" and "client auth".
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=24
	Usages []KeyUsage `json:"usages,omitempty"`

	// MaxDuration caps the lifetime of signed certificates; longer requests
	// are shortened, not refused. Unset means no cap beyond the CA's own
	// expiry for ServiceCertificates, and 2160h (90 days) for CSRs that
	// certsmith did not create.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	MaxDuration *metav1.Duration `json:"maxDuration,omitempty"`

	// NamespaceSelector limits which namespaces' ServiceCertificates this
	// issuer serves. Unset means every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// AllowCA lets CSRs that certsmith did not create ask for a CA
	// certificate (usage "cert sign"). Off by default. ServiceCertificates
	// never get a CA certificate. A CA certificate signed under this policy
	// carries name constraints derived from dnsNames, ipRanges and uris
	// (the domain after each pattern's last wildcard; a kind of name with no
	// entry is excluded) and a path length of 0, so the names it can sign
	// stay within this policy's subtrees; the subjects it signs are its own
	// choice, so allow CAs only to requesters trusted with that.
	// +optional
	AllowCA bool `json:"allowCA,omitempty"`

	// Subject restricts the subject attributes (other than the common name)
	// that certificates may carry. Unset allows any value except those that
	// Kubernetes gives meaning to: organizations and organizational units
	// starting with "system:" (such as system:masters or system:nodes) are
	// refused unless listed here exactly.
	// +optional
	Subject *SubjectPolicy `json:"subject,omitempty"`

	// AutoApprove names who may have CSRs approved by approval: Auto. A
	// hand-made CSR is approved automatically only when its requester — as
	// the API server recorded it in spec.username and spec.groups — is
	// listed here; other CSRs wait for a person. With approval: Auto and no
	// list, Auto approval approves nothing (the Ready condition says so).
	// +optional
	AutoApprove *AutoApprovePolicy `json:"autoApprove,omitempty"`

	// MaxNames caps the subject alternative names (DNS names, IPs and URIs
	// together) of one certificate. Defaults to 100.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxNames *int32 `json:"maxNames,omitempty"`
}

// SubjectPolicy lists the values each subject attribute may take. A list
// that is set allows exactly its values; "*" allows any value that is not
// reserved; an attribute whose list is unset allows none once subject is
// set. Reserved values ("system:…" organizations and organizational units)
// are allowed only when listed exactly, never by "*".
type SubjectPolicy struct {
	// Organizations (O) allowed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	Organizations []string `json:"organizations,omitempty"`
	// OrganizationalUnits (OU) allowed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	OrganizationalUnits []string `json:"organizationalUnits,omitempty"`
	// Countries (C) allowed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	Countries []string `json:"countries,omitempty"`
	// Provinces (ST) allowed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	Provinces []string `json:"provinces,omitempty"`
	// Localities (L) allowed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	Localities []string `json:"localities,omitempty"`
}

// AutoApprovePolicy names the requesters whose CSRs Auto approval approves.
type AutoApprovePolicy struct {
	// Users, matched against the CSR's spec.username.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Users []string `json:"users,omitempty"`
	// Groups, matched against the CSR's spec.groups.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Groups []string `json:"groups,omitempty"`
	// ServiceAccounts as "<namespace>/<name>", matched against the user
	// name the API server gives them (system:serviceaccount:<namespace>:<name>).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=317
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
}

// CASource says where a ClusterIssuer's CA comes from. Exactly one field is set.
// +kubebuilder:validation:XValidation:rule="(has(self.selfSigned) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) + (has(self.issuerRef) ? 1 : 0) == 1",message="exactly one of selfSigned, secretRef or issuerRef must be set"
type CASource struct {
	// SelfSigned makes certsmith generate and own a root CA. Its key and
	// certificate are kept in the Secret "<issuer-name>-ca" in the operator's
	// namespace.
	// +optional
	SelfSigned *GeneratedCA `json:"selfSigned,omitempty"`

	// SecretRef imports an existing CA from a kubernetes.io/tls Secret in the
	// operator's namespace: tls.crt holds the CA certificate followed by its
	// chain, tls.key its private key.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// IssuerRef makes this issuer an intermediate CA, generated by certsmith
	// and signed by another ClusterIssuer.
	// +optional
	IssuerRef *IntermediateCA `json:"issuerRef,omitempty"`
}

// GeneratedCA describes a CA certificate that certsmith generates.
// +kubebuilder:validation:XValidation:rule="!has(self.renewBefore) || duration(self.renewBefore) < duration(has(self.duration) ? self.duration : '43800h')",message="renewBefore must be shorter than duration (43800h when unset for an intermediate, so set duration to go beyond it)"
type GeneratedCA struct {
	// Subject of the CA certificate. Defaults to CN=<issuer name>.
	// +optional
	Subject *X509Subject `json:"subject,omitempty"`

	// Duration is the CA certificate's lifetime. Defaults to 87600h (10 years)
	// for a root and 43800h (5 years) for an intermediate.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10m')",message="duration must be at least 10m"
	Duration *metav1.Duration `json:"duration,omitempty"`

	// RenewBefore is how long before expiry the CA is rotated. When unset,
	// it is rotated at two thirds of its lifetime, moved up to a tenth of
	// the lifetime earlier by an offset derived from the issuer's name.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="renewBefore must be positive"
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`

	// PrivateKey of the CA. Defaults to ECDSA P-256.
	// +optional
	PrivateKey *PrivateKey `json:"privateKey,omitempty"`

	// MaxPathLength limits how many intermediate CAs may follow this one in a
	// chain. Unset means no limit; 0 means this CA signs only leaves.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxPathLength *int32 `json:"maxPathLength,omitempty"`
}

// IntermediateCA is a CA that certsmith generates and has signed by another ClusterIssuer.
type IntermediateCA struct {
	// Name of the parent ClusterIssuer.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// GeneratedCA describes the intermediate's own certificate.
	GeneratedCA `json:",inline"`
}

// SecretReference names a Secret in the operator's namespace.
type SecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// CAStatus describes a CA certificate.
type CAStatus struct {
	// Subject of the CA certificate, in RFC 2253 form.
	Subject string `json:"subject,omitempty"`
	// SerialNumber in hexadecimal.
	SerialNumber string `json:"serialNumber,omitempty"`
	// NotBefore is the start of the CA's validity.
	NotBefore *metav1.Time `json:"notBefore,omitempty"`
	// NotAfter is the end of the CA's validity.
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
	// RenewalTime is when the CA is due for renewal.
	// +optional
	RenewalTime *metav1.Time `json:"renewalTime,omitempty"`
	// FingerprintSHA256 is the SHA-256 fingerprint of the DER certificate,
	// colon-separated hex as printed by "openssl x509 -fingerprint -sha256".
	FingerprintSHA256 string `json:"fingerprintSHA256,omitempty"`
}

// ClusterIssuerStatus is the observed state of a ClusterIssuer.
type ClusterIssuerStatus struct {
	// Conditions: Ready, and Rotating for a CA that certsmith keeps.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// SignerName is the effective signerName this issuer signs for.
	// +optional
	SignerName string `json:"signerName,omitempty"`

	// CA is the active CA certificate.
	// +optional
	CA *CAStatus `json:"ca,omitempty"`

	// TrustedCAs are the certificates in the trust bundle: the active root
	// and, during a rotation, the next or the retiring one.
	// +optional
	// +listType=atomic
	TrustedCAs []TrustedCA `json:"trustedCAs,omitempty"`

	// Rotation describes a CA rotation in progress, or the last one.
	// +optional
	Rotation *RotationStatus `json:"rotation,omitempty"`

	// Bundle reports where the trust bundle has been distributed.
	// +optional
	Bundle *BundleStatus `json:"bundle,omitempty"`

	// Revocation reports the issuer's CRLs (written by the revocation
	// controller, their only writer).
	// +optional
	Revocation *RevocationStatus `json:"revocation,omitempty"`
}

// TrustedCA is one certificate of a trust bundle.
type TrustedCA struct {
	// Subject of the CA certificate.
	Subject string `json:"subject"`
	// FingerprintSHA256 of the certificate.
	FingerprintSHA256 string `json:"fingerprintSHA256"`
	// NotAfter of the certificate.
	NotAfter metav1.Time `json:"notAfter"`
	// Role: Active (signing), Next (published, not yet signing) or Retiring
	// (no longer signing, trusted until what it signed has expired).
	Role string `json:"role"`
	// RetireAfter is when a retiring CA leaves the bundle: the latest
	// notAfter of what it signed, plus the headroom of the signed-until mark
	// (a tenth of the certificate's lifetime, at least a minute, at most a
	// day), and no earlier than the time it stopped signing.
	// +optional
	RetireAfter *metav1.Time `json:"retireAfter,omitempty"`
}

// Roles of a trusted CA.
const (
	// TrustedCAActive signs.
	TrustedCAActive = "Active"
	// TrustedCANext is published in bundles but does not sign yet.
	TrustedCANext = "Next"
	// TrustedCARetiring no longer signs and stays trusted until RetireAfter.
	TrustedCARetiring = "Retiring"
)

// RotationPhase is a step of a CA rotation.
type RotationPhase string

// Rotation phases.
const (
	// RotationPublishing: the next CA is in the bundles; waiting for them to
	// reach every namespace and for the propagation delay.
	RotationPublishing RotationPhase = "Publishing"
	// RotationRetiring: the next CA signs; certificates from the old one are
	// re-issued, and the old CA stays trusted until they have expired.
	RotationRetiring RotationPhase = "Retiring"
	// RotationComplete: the old CA has left the bundles.
	RotationComplete RotationPhase = "Complete"
)

// RotationStatus describes a CA rotation.
type RotationStatus struct {
	// Phase of the rotation.
	Phase RotationPhase `json:"phase"`
	// StartedAt is when the next CA was made.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// PublishedAt is when the next CA was first in every bundle.
	// +optional
	PublishedAt *metav1.Time `json:"publishedAt,omitempty"`
	// SwitchedAt is when signing moved to the new CA.
	// +optional
	SwitchedAt *metav1.Time `json:"switchedAt,omitempty"`
	// CompletedAt is when the old CA left the bundles.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// LastRequest is the last value of certsmith.io/rotate-requested-at acted on.
	// +optional
	LastRequest string `json:"lastRequest,omitempty"`
	// PublishDeadline is when trust paths that certsmith cannot write or
	// confirm stop blocking the switch: startedAt plus
	// spec.rotation.publishDeadline.
	// +optional
	PublishDeadline *metav1.Time `json:"publishDeadline,omitempty"`
	// ReissueWindow is how long after switchedAt the certificates the old
	// CA signed are re-issued over: spec.rotation.reissueWindow, or longer
	// when the issuer's certificates at spec.rotation.maxReissueRate per
	// second need longer. Set at the switch, from the certificates then.
	// +optional
	ReissueWindow *metav1.Duration `json:"reissueWindow,omitempty"`
	// Unpublished counts the trust paths (bundle ConfigMaps, the
	// ClusterTrustBundle, ca.crt of certificate Secrets, injected caBundles,
	// of this issuer and of the issuers below it) that did not hold the next
	// CA at the last look while Publishing; after the switch, those skipped.
	// +optional
	Unpublished int32 `json:"unpublished,omitempty"`
	// Conflicts counts those of them that certsmith cannot write.
	// +optional
	Conflicts int32 `json:"conflicts,omitempty"`
	// UnpublishedPaths names up to 10 of them, as "Kind namespace/name".
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MaxLength=600
	UnpublishedPaths []string `json:"unpublishedPaths,omitempty"`
}

// BundleStatus reports the distribution of a trust bundle.
type BundleStatus struct {
	// FingerprintsSHA256 lists the certificates the distributed bundle holds.
	// +optional
	// +listType=atomic
	FingerprintsSHA256 []string `json:"fingerprintsSHA256,omitempty"`
	// Namespaces is how many namespaces should hold the ConfigMap.
	// +optional
	Namespaces int32 `json:"namespaces"`
	// UpToDate is how many of them hold the current bundle.
	// +optional
	UpToDate int32 `json:"upToDate"`
	// Conflicts is how many of them have a ConfigMap of that name that
	// certsmith cannot write: one it did not create (a user's, another
	// issuer's, whatever its labels say), one made immutable, or one whose
	// write the API server rejected. certsmith never writes or deletes what
	// it did not create; a CA rotation waits for these only until
	// spec.rotation.publishDeadline.
	// +optional
	Conflicts int32 `json:"conflicts,omitempty"`
	// ConflictNamespaces names up to 16 of those namespaces, alphabetically.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	ConflictNamespaces []string `json:"conflictNamespaces,omitempty"`
	// ClusterTrustBundle is the name of the signer-linked ClusterTrustBundle
	// certsmith keeps, when one is wanted and the API server serves them.
	// +optional
	ClusterTrustBundle string `json:"clusterTrustBundle,omitempty"`
	// ClusterTrustBundleUpToDate says whether it holds the current bundle.
	// +optional
	ClusterTrustBundleUpToDate bool `json:"clusterTrustBundleUpToDate,omitempty"`
	// ClusterTrustBundleConflict says why certsmith cannot write it: one of
	// that name that it did not create, or a write the API server rejected.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	ClusterTrustBundleConflict string `json:"clusterTrustBundleConflict,omitempty"`
	// CRLPublished says whether the bundle ConfigMaps carry the issuer's
	// CRLs under the key "ca.crl" (next to the trust anchors), and if not,
	// why: CRLs too large for a ConfigMap are served over HTTP only.
	// +optional
	CRLPublished *metav1.Condition `json:"crlPublished,omitempty"`
	// Injection reports the caBundle fields that the CA injector keeps for
	// this issuer (written by the injector, absent when it does not run).
	// +optional
	Injection *InjectionStatus `json:"injection,omitempty"`
}

// InjectionStatus reports the caBundle fields that name an issuer in their
// certsmith.io/inject-ca-from annotation.
type InjectionStatus struct {
	// FingerprintsSHA256 lists the certificates of the bundle the counts refer to.
	// +optional
	// +listType=atomic
	FingerprintsSHA256 []string `json:"fingerprintsSHA256,omitempty"`
	// Targets is how many objects ask for the issuer's bundle.
	Targets int32 `json:"targets"`
	// UpToDate is how many of them hold it in every caBundle field.
	UpToDate int32 `json:"upToDate"`
	// Rejected is how many of them the API server refused to take it
	// (an Event CABundleRejected on the object says why).
	// +optional
	Rejected int32 `json:"rejected,omitempty"`
	// NotUpToDate names up to 10 of the objects that do not hold it, as "Kind name".
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MaxLength=300
	NotUpToDate []string `json:"notUpToDate,omitempty"`
}

// ClusterIssuer is a certificate authority and the signer of every
// CertificateSigningRequest whose signerName is its own.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ci;cis,categories=certsmith
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Signer",type=string,JSONPath=`.status.signerName`
// +kubebuilder:printcolumn:name="CA NotAfter",type=string,JSONPath=`.status.ca.notAfter`
// +kubebuilder:printcolumn:name="Rotation",type=string,JSONPath=`.status.rotation.phase`,priority=1
// +kubebuilder:printcolumn:name="Bundle",type=string,JSONPath=`.status.bundle.upToDate`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterIssuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	Spec ClusterIssuerSpec `json:"spec"`
	// Status is the observed state.
	// +optional
	Status ClusterIssuerStatus `json:"status,omitempty"`
}

// ClusterIssuerList is a list of ClusterIssuers.
// +kubebuilder:object:root=true
type ClusterIssuerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the ClusterIssuers.
	Items []ClusterIssuer `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ClusterIssuer{}, &ClusterIssuerList{})
}
