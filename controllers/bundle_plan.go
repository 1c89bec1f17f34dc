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

package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// maxBundleDataBytes bounds the data (keys and values) of a bundle
// ConfigMap. The API server refuses a ConfigMap whose data passes 1 MiB,
// and its metadata and the request need room too. The trust anchors always
// go in; the CRLs only while anchors and CRLs together fit.
const maxBundleDataBytes = 900 << 10

// The condition status.bundle.crlPublished, and its reasons besides
// certsmithv1alpha1.ReasonCRLTooLarge.
const (
	conditionCRLPublished = "CRLPublished"
	// reasonCRLPublished (True): the ConfigMaps carry the CRLs under ca.crl.
	reasonCRLPublished = "Published"
	// reasonNoCRL (False): the issuer has no CRL yet; ca.crl appears with its first.
	reasonNoCRL = "NoCRL"
	// reasonCRLRecordUnreadable (False): the revocation record does not
	// parse; ca.crl is left out until it does.
	reasonCRLRecordUnreadable = "RecordUnreadable"
	// reasonCRLKeyInUse (False): spec.bundle.configMap.key is ca.crl (set
	// before admission refused that), so the anchors hold that key.
	reasonCRLKeyInUse = "KeyInUse"
)

// bundleContent decides the data of an issuer's bundle ConfigMaps: the
// trust anchors under key and, when the issuer has CRLs and both fit in
// maxBundleDataBytes, the CRLs (exactly what the CRL server serves) under
// ca.crl. It returns the CRLPublished condition that says which, without
// generation or time.
func bundleContent(key string, anchors []byte, crls issuerCRLs) (map[string]string, metav1.Condition) {
	data := map[string]string{key: string(anchors)}
	condition := metav1.Condition{Type: conditionCRLPublished, Status: metav1.ConditionFalse}
	anchorBytes := len(key) + len(anchors)
	total := anchorBytes + len(certsmithv1alpha1.BundleCRLKey) + len(crls.pem)
	switch {
	case key == certsmithv1alpha1.BundleCRLKey:
		condition.Reason = reasonCRLKeyInUse
		condition.Message = fmt.Sprintf("spec.bundle.configMap.key is %s, so the trust anchors take that key and the bundle ConfigMaps carry no CRLs; "+
			"set another key (the default is %s)", certsmithv1alpha1.BundleCRLKey, defaultBundleKey)
	case crls.unreadable != "":
		condition.Reason = reasonCRLRecordUnreadable
		condition.Message = fmt.Sprintf("the revocation record %s does not parse (%s), so the bundle ConfigMaps carry no key %s until it does; "+
			"status.revocation.problem says more", crls.record, crls.unreadable, certsmithv1alpha1.BundleCRLKey)
	case len(crls.pem) == 0:
		condition.Reason = reasonNoCRL
		condition.Message = fmt.Sprintf("the issuer has no CRL yet (its revocation record %s holds none), so the bundle ConfigMaps carry no key %s; "+
			"it appears with the first CRL", crls.record, certsmithv1alpha1.BundleCRLKey)
	case total > maxBundleDataBytes:
		condition.Reason = certsmithv1alpha1.ReasonCRLTooLarge
		condition.Message = fmt.Sprintf("the issuer's %s (%d bytes of PEM) and trust anchors (%d bytes) would take %d bytes of each bundle ConfigMap, "+
			"more than the %d certsmith writes into one (a ConfigMap holds at most 1 MiB): the ConfigMaps carry no key %s, and the CRLs are served over HTTP only",
			countedCRLs(crls.numbers), len(crls.pem), anchorBytes, total, maxBundleDataBytes, certsmithv1alpha1.BundleCRLKey)
	default:
		data[certsmithv1alpha1.BundleCRLKey] = string(crls.pem)
		condition.Status, condition.Reason = metav1.ConditionTrue, reasonCRLPublished
		condition.Message = fmt.Sprintf("the bundle ConfigMaps carry the issuer's %s under %s (%d bytes of PEM, CRL numbers %s), next to the trust anchors under %s",
			countedCRLs(crls.numbers), certsmithv1alpha1.BundleCRLKey, len(crls.pem), namedList(crls.numbers, len(crls.numbers), 300), key)
	}
	return data, condition
}

// countedCRLs says "1 CRL" or "<n> CRLs".
func countedCRLs(numbers []string) string {
	if len(numbers) == 1 {
		return "1 CRL"
	}
	return fmt.Sprintf("%d CRLs", len(numbers))
}

// observedObject is what the bundle controller knows of an existing bundle
// object (a ConfigMap or a ClusterTrustBundle).
type observedObject struct {
	uid types.UID
	// claim is the object's certsmith.io/bundle-claim annotation.
	claim string
	// contentHash is the hash of its content; "" when only its metadata was read.
	contentHash string
	immutable   bool
	// labels are its certsmith labels; labelsSet says whether it has any label map.
	labels    map[string]string
	labelsSet bool
}

// bundleAction is what to do with one bundle object.
type bundleAction int

const (
	bundleUpToDate bundleAction = iota
	bundleCreate
	bundlePatch
	bundleConflict
	// bundleSkip: it could not be looked at (the error is reported).
	bundleSkip
)

// bundlePlan is the decision for one bundle object.
type bundlePlan struct {
	action bundleAction
	// entry is the record entry to keep (the intent before a create, the UID
	// of an object that is certsmith's); nil keeps none.
	entry *ownedObject
	// dropEntry removes the record entry: it named an object that is gone
	// and has been replaced by someone else's.
	dropEntry bool
	// why explains a conflict.
	why string
	// observedLabels are the labels to repair on a patch.
	observedLabels map[string]string
	labelsSet      bool
}

// planBundleObject decides, from the record entry (nil when certsmith never
// recorded one) and the object found (nil when there is none), what to do
// with one bundle object. Only an object whose UID is recorded, or that
// carries the claim token recorded before its create, is certsmith's.
func planBundleObject(entry *ownedObject, observed *observedObject, name, wantHash string, wantLabels map[string]string, freshToken string) bundlePlan {
	if observed == nil {
		token := freshToken
		if entry != nil && entry.UID == "" {
			// An intent whose create did not happen (or was undone): reuse it.
			token = entry.Token
		}
		return bundlePlan{action: bundleCreate, entry: &ownedObject{Name: name, Token: token}}
	}
	switch {
	case entry == nil:
		return bundlePlan{action: bundleConflict, why: "certsmith did not create it"}
	case entry.UID != "" && entry.UID != observed.uid:
		return bundlePlan{action: bundleConflict, dropEntry: true, why: "certsmith's was replaced by one it did not create"}
	case entry.UID == "" && observed.claim != entry.Token:
		return bundlePlan{action: bundleConflict, dropEntry: true, why: "certsmith did not create it"}
	}
	mine := &ownedObject{Name: name, UID: observed.uid}
	switch {
	case observed.contentHash == wantHash && hasLabels(observed.labels, wantLabels):
		return bundlePlan{action: bundleUpToDate, entry: mine}
	case observed.immutable:
		return bundlePlan{action: bundleConflict, entry: mine, why: "immutable"}
	}
	return bundlePlan{action: bundlePatch, entry: mine, observedLabels: observed.labels, labelsSet: observed.labelsSet}
}

// observe reads a bundle object: from the cache, which holds those with
// certsmith's label (without content); otherwise, for an object the record
// names, whole from the API server (to repair it), and for any other only
// its metadata. nil when there is none.
func (r *BundleReconciler) observe(ctx context.Context, obj client.Object, key types.NamespacedName, recorded bool) (*observedObject, error) {
	err := r.Get(ctx, key, obj)
	if err == nil {
		return observedFrom(obj), nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	if !recorded {
		partial := &metav1.PartialObjectMetadata{}
		gvk, err := r.GroupVersionKindFor(obj)
		if err != nil {
			return nil, err
		}
		partial.SetGroupVersionKind(gvk)
		obj = partial
	}
	if err := r.APIReader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	return observedFrom(obj), nil
}

// observedFrom describes an object read from the cache or the API server.
func observedFrom(obj client.Object) *observedObject {
	o := &observedObject{uid: obj.GetUID(), claim: obj.GetAnnotations()[annotationBundleClaim], labelsSet: obj.GetLabels() != nil, labels: map[string]string{}}
	for k, v := range obj.GetLabels() {
		if strings.HasPrefix(k, "certsmith.io/") || k == "app.kubernetes.io/managed-by" {
			o.labels[k] = v
		}
	}
	// Only the cache's stripped copies stand for their content by a hash;
	// an object read from the API server has all of it.
	stripped := obj.GetSelfLink() == strippedMarker //nolint:staticcheck // selfLink marks the cache's own copies
	switch t := obj.(type) {
	case *corev1.ConfigMap:
		o.immutable = t.Immutable != nil && *t.Immutable
		o.contentHash = configMapContentHash(t.Data, t.BinaryData)
	case *certificatesv1.ClusterTrustBundle:
		o.contentHash = clusterTrustBundleContentHash(t.Spec.SignerName, t.Spec.TrustBundle)
	}
	if stripped {
		o.contentHash = obj.GetAnnotations()[cachedContentHashAnnotation]
	}
	if _, partial := obj.(*metav1.PartialObjectMetadata); partial {
		o.contentHash = ""
	}
	return o
}

// rejection reports whether a write failed because the API server refused
// it for good (the object exists, is immutable, or a policy, quota or
// admission webhook rejects it), and why; other failures are transient.
func rejection(err error) (string, bool) {
	switch {
	case err == nil:
		return "", false
	case apierrors.IsAlreadyExists(err):
		return "certsmith did not create it", true
	case apierrors.IsInvalid(err) && strings.Contains(err.Error(), "immutable"):
		return "immutable", true
	case apierrors.IsInvalid(err), apierrors.IsForbidden(err), apierrors.IsBadRequest(err), apierrors.IsRequestEntityTooLargeError(err),
		apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err), apierrors.IsUnsupportedMediaType(err):
		return "rejected by the API server: " + truncate(err.Error(), 200), true
	}
	return "", false
}

// jsonPatchOp is one operation of an RFC 6902 JSON patch. certsmith writes
// bundle objects with JSON patches built from what it wants, never from a
// cached copy (which lacks the content), each guarded by a test of the UID.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

func encodePatch(ops []jsonPatchOp) []byte {
	raw, _ := json.Marshal(ops)
	return raw
}

// labelOps sets the wanted labels, leaving the others alone.
func labelOps(have map[string]string, set bool, want map[string]string) []jsonPatchOp {
	if !set {
		return []jsonPatchOp{{Op: "add", Path: "/metadata/labels", Value: want}}
	}
	var ops []jsonPatchOp
	for _, k := range sortedKeys(want) {
		if have[k] != want[k] {
			ops = append(ops, jsonPatchOp{Op: "add", Path: "/metadata/labels/" + jsonPointerEscape(k), Value: want[k]})
		}
	}
	return ops
}

func jsonPointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
