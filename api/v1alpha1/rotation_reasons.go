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

// Event reasons of trust distribution and CA rotation on a ClusterIssuer.
const (
	// ReasonBundleConflict means some namespaces have a ConfigMap of the
	// bundle's name that certsmith cannot write (not its own, immutable, or
	// rejected by the API server); the Event names them.
	ReasonBundleConflict = "BundleConflict"
	// ReasonClusterTrustBundleConflict means the signer-linked
	// ClusterTrustBundle cannot be written (not certsmith's, or rejected).
	ReasonClusterTrustBundleConflict = "ClusterTrustBundleConflict"
	// ReasonBundleAdopted means bundle ConfigMaps made by an earlier release
	// (labelled, holding exactly the issuer's bundle) were recorded as
	// certsmith's own, once, on upgrade.
	ReasonBundleAdopted = "BundleAdopted"
	// ReasonTrustPathsSkipped means a CA rotation switched to the next CA
	// past spec.rotation.publishDeadline although some trust paths did not
	// hold it; the Event and the Rotating condition name them.
	ReasonTrustPathsSkipped = "TrustPathsSkipped"
	// ReasonRotationStarted means a CA rotation began: the next CA is in
	// the trust bundle and signs once it has propagated.
	ReasonRotationStarted = "RotationStarted"
	// ReasonBundlePublished means every trust path holds the next CA; it
	// signs after the propagation delay.
	ReasonBundlePublished = "BundlePublished"
	// ReasonCASwitched means signing moved to the new CA; the old one stays
	// trusted until what it signed has expired.
	ReasonCASwitched = "CASwitched"
	// ReasonCARetired means a retired CA left the trust bundle: everything
	// it signed has expired.
	ReasonCARetired = "CARetired"
	// ReasonRotationComplete means the last retired CA of a rotation left
	// the trust bundle.
	ReasonRotationComplete = "RotationComplete"
)
