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

// Condition reasons certsmith writes on PodCertificateRequests. The API
// allows one condition, Issued, Denied or Failed, written once: a pod whose
// request is Denied or Failed gets no certificate from that request, and
// the kubelet does not ask again for the pod's lifetime, so certsmith
// writes a denial only for what this pod may not get. Trouble of the
// issuer's, or trouble that passes, is retried without a write; certsmith
// writes no Failed condition.
const (
	// ReasonPodCertificateIssued is the reason of the Issued condition.
	ReasonPodCertificateIssued = "Issued"
	// ReasonPodCertificateUnsupportedKeyType (Denied): the issuer's
	// podCertificates.keyTypes do not include the pod's key type. The
	// message lists the supported ones. The value is the one the API names.
	ReasonPodCertificateUnsupportedKeyType = "UnsupportedKeyType"
	// ReasonPodCertificateInvalidUserAnnotations (Denied): the request
	// carries unverifiedUserAnnotations, none of which certsmith reads.
	// The value is the one the API names.
	ReasonPodCertificateInvalidUserAnnotations = "InvalidUnverifiedUserAnnotations"
	// ReasonPodIdentityMismatch (Denied): the pod, ServiceAccount or node
	// the request names does not exist with the UIDs it gives, or they do
	// not belong together (the pod runs elsewhere, under another
	// ServiceAccount, has finished, or mounts no podCertificate volume of
	// this signer).
	ReasonPodIdentityMismatch = "PodIdentityMismatch"
	// ReasonPodCertificateNotAllowed (Denied): the issuer's policy does not
	// serve the pod's namespace or ServiceAccount, or refuses the names or
	// usages a pod certificate would carry.
	ReasonPodCertificateNotAllowed = "NotAllowed"
	// ReasonPodCertificateMalformed (Denied): the stub PKCS#10 request does
	// not parse or its signature does not verify.
	ReasonPodCertificateMalformed = "MalformedRequest"
)

// Event reasons of the pod-certificate signer. It writes no Event per
// request: refusals are summed up on the ClusterIssuer.
const (
	// ReasonPodCertificatesRefused is the reason of the Warning Event on a
	// ClusterIssuer that sums up the PodCertificateRequests it denied or
	// failed, at most one per condition reason every few minutes.
	ReasonPodCertificatesRefused = "PodCertificatesRefused"
	// ReasonPodCertificatePolicyInvalid is the reason of the Warning Event
	// on a ClusterIssuer whose settings keep every pod certificate from
	// being issued (an empty trust domain, a policy that does not parse or
	// refuses what every pod certificate carries). Requests then wait,
	// unanswered, instead of being denied: a denial is final for the pod.
	ReasonPodCertificatePolicyInvalid = "PodCertificatePolicyInvalid"
	// ReasonPodCertificateSigningFailed is the reason of the Warning Event
	// on a ClusterIssuer whose CA cannot sign a pod certificate; the
	// request is retried, not failed.
	ReasonPodCertificateSigningFailed = "PodCertificateSigningFailed"
)
