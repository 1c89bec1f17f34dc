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

// The condition of CertificateRevocations and ClusterCertificateRevocations.
const (
	// ConditionRevoked is True once the revocation controller has recorded
	// the revocation; its reason says whether a CRL lists it yet.
	ConditionRevoked = "Revoked"
)

// Reasons of the Revoked condition.
const (
	// ReasonRevocationPublished (True): the issuer's current CRL lists the
	// certificate, in the bundle ConfigMaps and over HTTP.
	ReasonRevocationPublished = "Published"
	// ReasonRevocationRecorded (True): the revocation is recorded; the next
	// CRL, made within about ten seconds, lists it.
	ReasonRevocationRecorded = "Recorded"
	// ReasonRevocationEntryExpired (True): the revoked certificate has
	// expired since, and its entry has left the CRLs.
	ReasonRevocationEntryExpired = "Expired"
	// ReasonRevocationServiceCertificateNotFound (False): no
	// ServiceCertificate of that name in the namespace. Creating it does not
	// revoke anything: a revocation names a certificate that exists.
	ReasonRevocationServiceCertificateNotFound = "ServiceCertificateNotFound"
	// ReasonRevocationNoCertificate (False): the ServiceCertificate has no
	// certificate of certsmith's in its Secret (yet); certsmith looks again
	// when it has one.
	ReasonRevocationNoCertificate = "NoCertificate"
	// ReasonRevocationIssuerNotFound (False): the ClusterIssuer does not
	// exist, or has no CA yet.
	ReasonRevocationIssuerNotFound = "IssuerNotFound"
	// ReasonRevocationExpired (False): the certificate has expired; no
	// CRL needs to list it (RFC 5280 drops expired entries).
	ReasonRevocationExpired = "CertificateExpired"
	// ReasonRevocationNotIssuers (False): the certificate in the Secret was
	// not signed by a CA the issuer still has, so no CRL of it can list it.
	ReasonRevocationNotIssuers = "NotSignedByIssuer"
	// ReasonTooManyRevocations (False): the issuer's record is full
	// (5,000 entries), or the namespace has 500 entries in it; entries
	// leave as their certificates expire.
	ReasonTooManyRevocations = "TooManyRevocations"
)

// Event reasons of revocation.
const (
	// ReasonCertificateRevoked (Normal) is emitted on the revocation and,
	// for a ServiceCertificate's certificate, on the ServiceCertificate.
	ReasonCertificateRevoked = "CertificateRevoked"
	// ReasonRevocationRefused (Warning) is emitted on a revocation that
	// cannot be recorded (the reasons above with status False).
	ReasonRevocationRefused = "RevocationRefused"
	// ReasonCRLFailed (Warning) is emitted on a ClusterIssuer whose CRL
	// could not be made or stored; status.revocation.problem says why.
	ReasonCRLFailed = "CRLFailed"
	// ReasonCRLTooLarge (Warning) is emitted on a ClusterIssuer whose CRLs
	// do not fit into its bundle ConfigMaps; they are served over HTTP only.
	ReasonCRLTooLarge = "CRLTooLarge"
	// ReasonRevoked is the Issuing reason of a ServiceCertificate whose
	// certificate a CRL of its issuer lists: it is re-issued with a new key.
	ReasonRevoked = "Revoked"
)
