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

// Event reasons of the CSR signer.
const (
	// ReasonAutoApprovalSkipped is the reason of the Event on a CSR that
	// auto approval leaves to a person, because spec.policy.autoApprove does
	// not name its requester.
	ReasonAutoApprovalSkipped = "AutoApprovalSkipped"
	// ReasonSignerPermissionMissing means the operator may not approve or
	// sign for a signer name (RBAC on certificates.k8s.io/signers).
	ReasonSignerPermissionMissing = "SignerPermissionMissing"
	// ReasonSignedUntilRecordConflict means a Secret of the name of an
	// issuer's signed-until record exists that is not the record: the
	// signer cannot record what it signs, so it releases nothing.
	ReasonSignedUntilRecordConflict = "SignedUntilRecordConflict"
)
