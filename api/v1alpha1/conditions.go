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

// Condition types reported by certsmith's resources.
const (
	// ConditionReady is True when a ClusterIssuer can sign, or when a
	// ServiceCertificate's Secret holds a valid certificate for its spec.
	ConditionReady = "Ready"
	// ConditionIssuing is True while a ServiceCertificate is being (re-)issued;
	// its reason says why issuance was triggered.
	ConditionIssuing = "Issuing"
	// ConditionRotating is True while a ClusterIssuer's CA is being rotated;
	// its reason is the phase (Publishing, Retiring).
	ConditionRotating = "Rotating"
)

// Reasons used on ClusterIssuer conditions.
const (
	// ReasonCAReady means the issuer's CA is loaded and within its validity.
	ReasonCAReady = "CAReady"
	// ReasonCAGenerated means certsmith generated a new CA for the issuer.
	ReasonCAGenerated = "CAGenerated"
	// ReasonCASecretInvalid means the CA Secret is missing data, malformed,
	// not a CA, or its key does not match its certificate.
	ReasonCASecretInvalid = "CASecretInvalid"
	// ReasonCASecretNotFound means the Secret named by spec.ca.secretRef does not exist.
	ReasonCASecretNotFound = "CASecretNotFound"
	// ReasonCAExpired means the CA certificate is past its notAfter (or not yet valid).
	ReasonCAExpired = "CAExpired"
	// ReasonParentNotFound means the ClusterIssuer named by spec.ca.issuerRef does not exist.
	ReasonParentNotFound = "ParentIssuerNotFound"
	// ReasonParentNotReady means the parent ClusterIssuer is not Ready yet.
	ReasonParentNotReady = "ParentIssuerNotReady"
	// ReasonIssuerCycle means spec.ca.issuerRef forms a loop of issuers.
	ReasonIssuerCycle = "IssuerCycle"
	// ReasonNotRotating means no CA rotation is in progress.
	ReasonNotRotating = "NotRotating"
	// ReasonSignerNameConflict means another ClusterIssuer already serves this signerName.
	ReasonSignerNameConflict = "SignerNameConflict"
	// ReasonAutoApprovalInactive means the issuer can sign, but its
	// approval: Auto approves nothing because policy.autoApprove names no one.
	ReasonAutoApprovalInactive = "AutoApprovalInactive"
)

// Reasons used on ServiceCertificate conditions.
const (
	// ReasonIssued means the Secret holds a certificate that matches the spec.
	ReasonIssued = "Issued"
	// ReasonIssuerNotFound means spec.issuerRef names no ClusterIssuer.
	ReasonIssuerNotFound = "IssuerNotFound"
	// ReasonIssuerNotReady means the ClusterIssuer exists but is not Ready.
	ReasonIssuerNotReady = "IssuerNotReady"
	// ReasonServiceNotFound means spec.service names no Service in the namespace.
	ReasonServiceNotFound = "ServiceNotFound"
	// ReasonNotAllowedByPolicy means the requested names are not allowed by the issuer's policy.
	ReasonNotAllowedByPolicy = "NotAllowedByPolicy"
	// ReasonSecretConflict means the Secret exists and belongs to someone else.
	ReasonSecretConflict = "SecretConflict"
	// ReasonPending means a CertificateSigningRequest is waiting to be approved and signed.
	ReasonPending = "Pending"
	// ReasonFailed means the last CertificateSigningRequest was denied or failed.
	ReasonFailed = "Failed"
	// ReasonInvalidSpec means the spec cannot be turned into a certificate request.
	ReasonInvalidSpec = "InvalidSpec"

	// ReasonSecretMissing triggers issuance: the Secret does not exist.
	ReasonSecretMissing = "SecretMissing"
	// ReasonSecretInvalid triggers issuance: tls.crt or tls.key is missing or undecodable.
	ReasonSecretInvalid = "SecretInvalid"
	// ReasonKeyMismatch triggers issuance: tls.key does not belong to tls.crt.
	ReasonKeyMismatch = "KeyMismatch"
	// ReasonSpecChanged triggers issuance: the certificate does not match the spec.
	ReasonSpecChanged = "SpecChanged"
	// ReasonIssuerChanged triggers issuance: the certificate came from another issuer.
	ReasonIssuerChanged = "IssuerChanged"
	// ReasonNotChainedToIssuer triggers issuance: the certificate does not chain to the issuer's current CA.
	ReasonNotChainedToIssuer = "NotChainedToIssuer"
	// ReasonRenewing triggers issuance: the renewal time has been reached.
	ReasonRenewing = "Renewing"
	// ReasonManuallyTriggered triggers issuance: the certsmith.io/renew-requested-at annotation changed.
	ReasonManuallyTriggered = "ManuallyTriggered"
	// ReasonExpired triggers issuance: the certificate has expired.
	ReasonExpired = "Expired"
	// ReasonIssuanceRateLimited means the certificate was issued as often as
	// allowed in the last hour for the same spec, issuer CA and manual
	// trigger; issuance waits until the oldest of those is an hour old.
	ReasonIssuanceRateLimited = "IssuanceRateLimited"
	// ReasonSecretAdopted is the Event of a Secret that certsmith did not
	// create and took over, with its certificate, under spec.adoptExistingSecret.
	ReasonSecretAdopted = "SecretAdopted"
)

// Reasons certsmith sets on CertificateSigningRequest conditions.
const (
	// ReasonCSRApproved is set on CSRs that certsmith approved.
	ReasonCSRApproved = "CertsmithApproved"
	// ReasonCSRMalformed means the request is not a valid PEM-encoded, self-signed CSR.
	ReasonCSRMalformed = "MalformedRequest"
	// ReasonCSRUnsupportedKey means the request's public key type or size is not supported.
	ReasonCSRUnsupportedKey = "UnsupportedKey"
	// ReasonCSRNotAllowed means the issuer's policy does not allow what the CSR asks for.
	ReasonCSRNotAllowed = "NotAllowedByPolicy"
	// ReasonCSRIssuerNotReady means the issuer for the signerName cannot sign.
	ReasonCSRIssuerNotReady = "IssuerNotReady"
	// ReasonCSRSigningFailed means signing failed for another reason.
	ReasonCSRSigningFailed = "SigningFailed"
)
