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

// KeyUsage is a key usage or extended key usage of a certificate, spelled as
// in the certificates.k8s.io API.
// +kubebuilder:validation:Enum="signing";"digital signature";"content commitment";"key encipherment";"key agreement";"data encipherment";"cert sign";"crl sign";"encipher only";"decipher only";"any";"server auth";"client auth";"code signing";"email protection";"s/mime";"ipsec end system";"ipsec tunnel";"ipsec user";"timestamping";"ocsp signing";"microsoft sgc";"netscape sgc"
type KeyUsage string

// Key usages certsmith uses by default.
const (
	// UsageDigitalSignature is the "digital signature" key usage.
	UsageDigitalSignature KeyUsage = "digital signature"
	// UsageKeyEncipherment is the "key encipherment" key usage (RSA keys only).
	UsageKeyEncipherment KeyUsage = "key encipherment"
	// UsageServerAuth is the "server auth" extended key usage.
	UsageServerAuth KeyUsage = "server auth"
	// UsageClientAuth is the "client auth" extended key usage.
	UsageClientAuth KeyUsage = "client auth"
	// UsageCertSign is the "cert sign" key usage, which marks a CA request.
	UsageCertSign KeyUsage = "cert sign"
)

// PrivateKeyAlgorithm is the algorithm of a generated private key.
// +kubebuilder:validation:Enum=ECDSA;RSA;Ed25519
type PrivateKeyAlgorithm string

// Private key algorithms.
const (
	// ECDSAKeyAlgorithm is an ECDSA key on a NIST curve (P-256 by default).
	ECDSAKeyAlgorithm PrivateKeyAlgorithm = "ECDSA"
	// RSAKeyAlgorithm is an RSA key (2048 bits by default).
	RSAKeyAlgorithm PrivateKeyAlgorithm = "RSA"
	// Ed25519KeyAlgorithm is an Ed25519 key.
	Ed25519KeyAlgorithm PrivateKeyAlgorithm = "Ed25519"
)

// PrivateKey describes how a private key is generated.
// +kubebuilder:validation:XValidation:rule="!has(self.size) || !has(self.algorithm) || self.algorithm != 'RSA' || self.size in [2048, 3072, 4096]",message="RSA keys must be 2048, 3072 or 4096 bits"
// +kubebuilder:validation:XValidation:rule="!has(self.size) || (has(self.algorithm) && self.algorithm != 'ECDSA') || self.size in [256, 384, 521]",message="ECDSA keys must use a 256, 384 or 521 bit curve"
// +kubebuilder:validation:XValidation:rule="!has(self.size) || !has(self.algorithm) || self.algorithm != 'Ed25519'",message="Ed25519 keys have no size"
type PrivateKey struct {
	// Algorithm of the key: ECDSA (default), RSA or Ed25519.
	// +optional
	Algorithm PrivateKeyAlgorithm `json:"algorithm,omitempty"`

	// Size of the key: bits for RSA (2048, 3072, 4096; default 2048), the
	// curve for ECDSA (256, 384, 521; default 256). Not set for Ed25519.
	// +optional
	Size int32 `json:"size,omitempty"`

	// Encoding of tls.key: PKCS1 (default; PKCS#1 for RSA, SEC 1 for ECDSA)
	// or PKCS8. Ed25519 keys are always PKCS#8.
	// +optional
	// +kubebuilder:validation:Enum=PKCS1;PKCS8
	Encoding PrivateKeyEncoding `json:"encoding,omitempty"`

	// RotationPolicy says whether a re-issued certificate gets a new key:
	// Always (default) or Never (keep the key in the Secret while it still
	// matches algorithm and size). Only ServiceCertificates use it.
	// +optional
	// +kubebuilder:validation:Enum=Always;Never
	RotationPolicy RotationPolicy `json:"rotationPolicy,omitempty"`
}

// PrivateKeyEncoding is the encoding of a private key in a Secret.
type PrivateKeyEncoding string

// Private key encodings.
const (
	// PKCS1 is PKCS#1 for RSA keys and SEC 1 for ECDSA keys.
	PKCS1 PrivateKeyEncoding = "PKCS1"
	// PKCS8 is PKCS#8 for every key type.
	PKCS8 PrivateKeyEncoding = "PKCS8"
)

// RotationPolicy says when a private key is replaced.
type RotationPolicy string

// Rotation policies.
const (
	// RotationPolicyAlways makes a new key for every certificate.
	RotationPolicyAlways RotationPolicy = "Always"
	// RotationPolicyNever keeps the key while it matches the spec.
	RotationPolicyNever RotationPolicy = "Never"
)

// X509Subject is the distinguished name of a certificate.
type X509Subject struct {
	// CommonName (CN).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CommonName string `json:"commonName,omitempty"`
	// Organizations (O).
	// +optional
	// +listType=atomic
	Organizations []string `json:"organizations,omitempty"`
	// OrganizationalUnits (OU).
	// +optional
	// +listType=atomic
	OrganizationalUnits []string `json:"organizationalUnits,omitempty"`
	// Countries (C).
	// +optional
	// +listType=atomic
	Countries []string `json:"countries,omitempty"`
	// Provinces (ST).
	// +optional
	// +listType=atomic
	Provinces []string `json:"provinces,omitempty"`
	// Localities (L).
	// +optional
	// +listType=atomic
	Localities []string `json:"localities,omitempty"`
}

// IssuerReference names a ClusterIssuer.
type IssuerReference struct {
	// Name of the ClusterIssuer.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}
