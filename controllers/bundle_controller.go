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
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/ca"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/revocation"
)

// BundleControllerName names the controller that distributes trust bundles.
const BundleControllerName = "bundle"

// defaultBundleKey is the ConfigMap key of a bundle.
const defaultBundleKey = "ca.crt"

// maxConflictNamespaces bounds status.bundle.conflictNamespaces.
const maxConflictNamespaces = 16

// maxClusterTrustBundleConflict bounds status.bundle.clusterTrustBundleConflict.
const maxClusterTrustBundleConflict = 1024

// reasonClusterTrustBundleForbidden is the reason of the Warning Event when
// certsmith may not publish an issuer's ClusterTrustBundle (it lacks the
// attest verb on the signer); the API's ReasonClusterTrustBundleConflict
// covers every other refusal.
const reasonClusterTrustBundleForbidden = "ClusterTrustBundleForbidden"

// actionDistribute is the action of the bundle controller's Events.
const actionDistribute = "Distribute"

// BundleReconciler distributes each ClusterIssuer's trust bundle: a
// ConfigMap in every selected namespace, which also carries the issuer's
// CRLs under ca.crl when they fit, and a ClusterTrustBundle linked to the
// signerName (certificates only). It repairs edits, follows new and
// relabelled namespaces and new CRLs, removes what is no longer wanted, and
// reports coverage in status.bundle.
//
// It writes and deletes only objects whose UID it recorded when it created
// them (bundle_record.go); any other object of the bundle's name is a
// conflict, reported and left alone.
type BundleReconciler struct {
	// MaxRetryDelay caps the back-off of a failed reconcile (0: DefaultMaxRetryDelay).
	MaxRetryDelay time.Duration
	client.Client
	// APIReader reads bundle objects that are not cached (without
	// certsmith's label), one at a time.
	APIReader client.Reader
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Namespace is the operator's namespace, where CA Secrets and the
	// ownership records live.
	Namespace string
	// ClusterTrustBundles says whether the API server serves certificates.k8s.io/v1 ClusterTrustBundles.
	ClusterTrustBundles bool

	warnOnce sync.Once
	records  bundleRecords
	crls     parsedCRLs
}

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",namespace=certsmith-system,resources=secrets,verbs=delete
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=clustertrustbundles,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=signers,resourceNames=clusterissuers.certsmith.io/*,verbs=attest

// Reconcile distributes one issuer's bundle.
func (r *BundleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	record, err := loadBundleRecord(ctx, r.Client, &r.records, r.Namespace, req.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := r.Get(ctx, req.NamespacedName, issuer); err != nil {
		if apierrors.IsNotFound(err) {
			r.crls.forget(req.Name)
			return ctrl.Result{}, r.forget(ctx, record)
		}
		return ctrl.Result{}, err
	}
	if issuer.Spec.Bundle == nil {
		r.crls.forget(issuer.Name)
		err := r.withdraw(ctx, record, func(string, ownedObject) bool { return true })
		return ctrl.Result{}, errors.Join(err, record.save(ctx, r.Client, &r.records), r.patchStatus(ctx, issuer, nil))
	}
	bundle, err := issuerBundle(ctx, r.Client, r.Namespace, issuer)
	if err != nil {
		// Nothing to distribute yet; the issuer's own status says why.
		return ctrl.Result{}, nil
	}
	// A namespace that fails (a quota, an admission policy) does not stop
	// the others; the coverage is written either way and the error retried.
	d := &distribution{r: r, issuer: issuer, record: record, bundle: bundle}
	status, distributeErr := d.run(ctx)
	if status == nil {
		return ctrl.Result{}, distributeErr
	}
	r.reportConflicts(issuer, status, d.conflicts, d.ctbForbidden)
	r.reportCRLTooLarge(issuer, status)
	return ctrl.Result{}, errors.Join(distributeErr, r.patchStatus(ctx, issuer, status))
}

// patchStatus writes the bundle controller's part of status.bundle (all but
// injection, which the CA injector writes) when it changed.
func (r *BundleReconciler) patchStatus(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, status *certsmithv1alpha1.BundleStatus) error {
	status = bundleStatusToWrite(issuer.Status.Bundle, status)
	if equality.Semantic.DeepEqual(issuer.Status.Bundle, status) {
		return nil
	}
	patch := client.MergeFrom(issuer.DeepCopy())
	issuer.Status.Bundle = status
	if err := r.Status().Patch(ctx, issuer, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching bundle status of ClusterIssuer %s: %w", issuer.Name, err)
	}
	return nil
}

// bundleStatusToWrite is the status.bundle to write when the bundle
// controller computed status (nil: the issuer distributes nothing): status
// with the injection part kept from current, which only the CA injector
// writes, and an empty status rather than nil while that part is set.
func bundleStatusToWrite(current, status *certsmithv1alpha1.BundleStatus) *certsmithv1alpha1.BundleStatus {
	var injection *certsmithv1alpha1.InjectionStatus
	if current != nil {
		injection = current.Injection
	}
	if status == nil && injection != nil {
		status = &certsmithv1alpha1.BundleStatus{}
	}
	if status != nil {
		status.Injection = injection
	}
	return status
}

// reportConflicts emits one Warning Event when the set of objects certsmith
// cannot write changed, naming them (bounded).
func (r *BundleReconciler) reportConflicts(issuer *certsmithv1alpha1.ClusterIssuer, status *certsmithv1alpha1.BundleStatus, conflicts []string, ctbForbidden bool) {
	before := issuer.Status.Bundle
	if before == nil {
		before = &certsmithv1alpha1.BundleStatus{}
	}
	name, _ := bundleTarget(issuer)
	if status.Conflicts > 0 && (status.Conflicts != before.Conflicts || !equality.Semantic.DeepEqual(status.ConflictNamespaces, before.ConflictNamespaces)) {
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonBundleConflict, actionDistribute,
			"%d namespaces have a ConfigMap %s that certsmith cannot write, so the bundle does not reach them (a CA rotation waits for them only until "+
				"spec.rotation.publishDeadline): %s. certsmith never writes or deletes a ConfigMap it did not create: rename or delete them, or set spec.bundle.configMap.name",
			status.Conflicts, name, namedList(conflicts, int(status.Conflicts), 640))
	}
	if status.ClusterTrustBundleConflict != "" && status.ClusterTrustBundleConflict != before.ClusterTrustBundleConflict {
		reason := certsmithv1alpha1.ReasonClusterTrustBundleConflict
		if ctbForbidden {
			reason = reasonClusterTrustBundleForbidden
		}
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, reason, actionDistribute,
			"cannot publish ClusterTrustBundle %s: %s", status.ClusterTrustBundle, status.ClusterTrustBundleConflict)
	}
}

// reportCRLTooLarge emits one Warning Event when an issuer's CRLs stop
// fitting into its bundle ConfigMaps: on the change, not on every pass (nor
// every new CRL) while they do not fit.
func (r *BundleReconciler) reportCRLTooLarge(issuer *certsmithv1alpha1.ClusterIssuer, status *certsmithv1alpha1.BundleStatus) {
	if status.CRLPublished == nil || status.CRLPublished.Reason != certsmithv1alpha1.ReasonCRLTooLarge {
		return
	}
	if before := issuer.Status.Bundle; before != nil && before.CRLPublished != nil && before.CRLPublished.Reason == certsmithv1alpha1.ReasonCRLTooLarge {
		return
	}
	r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonCRLTooLarge, actionDistribute,
		"%s. Clients that check revocation must fetch the CRLs from the CRL server (the certificates' CRL distribution point, spec.revocation.crlDistributionPoint); "+
			"entries leave the CRLs as the revoked certificates expire, and ca.crl returns once the CRLs fit", status.CRLPublished.Message)
}

// crlPublished is the condition status.bundle.crlPublished: next, with its
// lastTransitionTime kept from previous unless the status changed.
func crlPublished(previous *certsmithv1alpha1.BundleStatus, next metav1.Condition, generation int64) *metav1.Condition {
	var conditions []metav1.Condition
	if previous != nil && previous.CRLPublished != nil {
		conditions = append(conditions, *previous.CRLPublished)
	}
	setCondition(&conditions, generation, next.Type, next.Status, next.Reason, next.Message)
	return &conditions[0]
}

// bundleTarget returns the ConfigMap name and key of an issuer's bundle.
func bundleTarget(issuer *certsmithv1alpha1.ClusterIssuer) (string, string) {
	name, key := issuer.Name+"-ca", defaultBundleKey
	if issuer.Spec.Bundle == nil {
		return name, key
	}
	if t := issuer.Spec.Bundle.ConfigMap; t != nil {
		if t.Name != "" {
			name = t.Name
		}
		if t.Key != "" {
			key = t.Key
		}
	}
	return name, key
}

// clusterTrustBundleName is the name of the ClusterTrustBundle linked to a
// signer: the signerName with "/" as ":", as that API requires, and a suffix.
func clusterTrustBundleName(signerName string) string {
	return strings.ReplaceAll(signerName, "/", ":") + ":bundle"
}

// distribution is one pass of distributing an issuer's bundle.
type distribution struct {
	r      *BundleReconciler
	issuer *certsmithv1alpha1.ClusterIssuer
	record *bundleRecord
	// bundle holds the trust anchors (PEM).
	bundle []byte
	// name and key of the ConfigMaps, their wanted data and its hash.
	name, key string
	data      map[string]string
	wantHash  string
	// crlPublished says whether data carries the CRLs (no generation or time).
	crlPublished metav1.Condition
	// conflicts describes each conflicting namespace, "namespace (why)".
	conflicts []string
	// ctbForbidden: certsmith may not publish the ClusterTrustBundle (no attest).
	ctbForbidden bool
}

// bundleOutcome is what one write left behind.
type bundleOutcome int

const (
	outcomeUpToDate bundleOutcome = iota
	outcomePending
	outcomeConflict
)

// run writes the bundle everywhere it belongs and returns the coverage.
func (d *distribution) run(ctx context.Context) (*certsmithv1alpha1.BundleStatus, error) {
	d.name, d.key = bundleTarget(d.issuer)
	crls, err := d.r.crls.of(ctx, d.r.Client, d.r.Namespace, d.issuer.Name)
	if err != nil {
		return nil, err
	}
	d.data, d.crlPublished = bundleContent(d.key, d.bundle, crls)
	d.wantHash = configMapContentHash(d.data, nil)
	wanted, err := d.r.wantedNamespaces(ctx, d.issuer)
	if err != nil {
		return nil, err
	}
	if !d.record.migrated() {
		if err := d.adoptPrevious(ctx, wanted); err != nil {
			return nil, err
		}
	}
	// Removals first, so that a renamed ConfigMap's old copy goes before the new one is made.
	errs := []error{d.r.withdraw(ctx, d.record, unwantedConfigMap(wanted, d.name))}

	plans := make([]bundlePlan, len(wanted))
	for i, ns := range wanted {
		plans[i], err = d.plan(ctx, ns)
		if err != nil {
			errs = append(errs, err)
			plans[i] = bundlePlan{action: bundleSkip}
			continue
		}
		if plans[i].action == bundleCreate {
			// The intent is recorded before the create (crash safety).
			d.record.set(ns, *plans[i].entry)
		}
	}
	if err := d.record.save(ctx, d.r.Client, &d.r.records); err != nil {
		return nil, err
	}

	results := make([]bundleNamespaceResult, len(wanted))
	for i, ns := range wanted {
		results[i].namespace = ns
		results[i].outcome, results[i].why, err = d.act(ctx, ns, plans[i])
		if err != nil {
			errs = append(errs, err)
		}
	}
	var status *certsmithv1alpha1.BundleStatus
	status, d.conflicts = bundleCoverage(d.bundle, results)
	status.CRLPublished = crlPublished(d.issuer.Status.Bundle, d.crlPublished, d.issuer.Generation)
	if err := d.ensureClusterTrustBundle(ctx, status); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, d.record.save(ctx, d.r.Client, &d.r.records))
	return status, errors.Join(errs...)
}

// bundleNamespaceResult is what distributing to one namespace left behind.
type bundleNamespaceResult struct {
	namespace string
	outcome   bundleOutcome
	// why explains a conflict.
	why string
}

// bundleCoverage is the part of status.bundle that the ConfigMaps make, from
// the result in each wanted namespace: the bundle's fingerprints, how many
// namespaces want it, how many hold it, and how many hold an object
// certsmith may not write, named (sorted, at most maxConflictNamespaces).
// It also returns each conflict as "namespace (why)", for the Event.
func bundleCoverage(bundle []byte, results []bundleNamespaceResult) (*certsmithv1alpha1.BundleStatus, []string) {
	status := &certsmithv1alpha1.BundleStatus{FingerprintsSHA256: fingerprints(bundle), Namespaces: int32(len(results))}
	var conflictNamespaces, conflicts []string
	for _, result := range results {
		switch result.outcome {
		case outcomeUpToDate:
			status.UpToDate++
		case outcomeConflict:
			status.Conflicts++
			conflictNamespaces = append(conflictNamespaces, result.namespace)
			conflicts = append(conflicts, result.namespace+" ("+result.why+")")
		}
	}
	sort.Strings(conflictNamespaces)
	status.ConflictNamespaces = conflictNamespaces[:min(len(conflictNamespaces), maxConflictNamespaces)]
	return status, conflicts
}

// unwantedConfigMap matches the record entries of the ConfigMaps to
// remove: those in a namespace that no longer wants the bundle, and those
// of another name (spec.bundle.configMap.name changed).
func unwantedConfigMap(wanted []string, name string) func(key string, entry ownedObject) bool {
	isWanted := make(map[string]bool, len(wanted))
	for _, ns := range wanted {
		isWanted[ns] = true
	}
	return func(key string, entry ownedObject) bool {
		return key != recordKeyClusterTrustBundle && (!isWanted[key] || entry.Name != name)
	}
}

// unwantedClusterTrustBundle matches the record entry of the
// ClusterTrustBundle to remove: when none is wanted, or one of another name
// (the signerName changed).
func unwantedClusterTrustBundle(wanted bool, name string) func(key string, entry ownedObject) bool {
	return func(key string, entry ownedObject) bool {
		return key == recordKeyClusterTrustBundle && (!wanted || entry.Name != name)
	}
}

// wantedNamespaces lists the namespaces that should hold the bundle, sorted.
func (r *BundleReconciler) wantedNamespaces(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer) ([]string, error) {
	selector, err := bundleNamespaceSelector(issuer)
	if err != nil {
		return nil, err
	}
	var namespaces corev1.NamespaceList
	if err := r.List(ctx, &namespaces, client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, err
	}
	return bundleNamespaces(selector, namespaces.Items), nil
}

// bundleNamespaceSelector is spec.bundle.namespaceSelector as a selector:
// every namespace when it is unset.
func bundleNamespaceSelector(issuer *certsmithv1alpha1.ClusterIssuer) (labels.Selector, error) {
	s := issuer.Spec.Bundle.NamespaceSelector
	if s == nil {
		return labels.Everything(), nil
	}
	selector, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return nil, fmt.Errorf("bundle.namespaceSelector of ClusterIssuer %s: %w", issuer.Name, err)
	}
	return selector, nil
}

// bundleNamespaces names the namespaces that should hold the bundle: those
// the selector matches that are not being deleted, sorted.
func bundleNamespaces(selector labels.Selector, namespaces []corev1.Namespace) []string {
	var out []string
	for i := range namespaces {
		if namespaces[i].DeletionTimestamp == nil && selector.Matches(labels.Set(namespaces[i].Labels)) {
			out = append(out, namespaces[i].Name)
		}
	}
	sort.Strings(out)
	return out
}

// plan observes one namespace's ConfigMap and decides what to do.
func (d *distribution) plan(ctx context.Context, namespace string) (bundlePlan, error) {
	var entry *ownedObject
	if e, ok := d.record.get(namespace); ok {
		entry = &e
	}
	observed, err := d.r.observe(ctx, &corev1.ConfigMap{}, types.NamespacedName{Namespace: namespace, Name: d.name}, entry != nil)
	if err != nil {
		return bundlePlan{}, err
	}
	return planBundleObject(entry, observed, d.name, d.wantHash, bundleLabels(d.issuer.Name), newClaimToken()), nil
}

// act carries out one namespace's plan and records what it learnt.
func (d *distribution) act(ctx context.Context, namespace string, plan bundlePlan) (bundleOutcome, string, error) {
	key := types.NamespacedName{Namespace: namespace, Name: d.name}
	if plan.dropEntry {
		d.record.drop(namespace)
	}
	switch plan.action {
	case bundleSkip:
		return outcomePending, "", nil
	case bundleConflict:
		if plan.entry != nil {
			d.record.set(namespace, *plan.entry)
		}
		return outcomeConflict, plan.why, nil
	case bundleUpToDate:
		d.record.set(namespace, *plan.entry)
		return outcomeUpToDate, "", nil
	case bundleCreate:
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: d.name, Namespace: namespace, Labels: bundleLabels(d.issuer.Name),
				Annotations: map[string]string{annotationBundleClaim: plan.entry.Token}},
			// A copy: the response is decoded into it.
			Data: maps.Clone(d.data),
		}
		err := d.r.Create(ctx, cm)
		outcome, why, retry := bundleWriteOutcome(bundleCreate, err)
		switch {
		case err == nil:
			d.record.set(namespace, ownedObject{Name: d.name, UID: cm.UID})
		case outcome == outcomeConflict:
			// Nothing was made: someone else's object came first, or the API server refused.
			d.record.drop(namespace)
		}
		if retry {
			return outcome, "", fmt.Errorf("creating ConfigMap %s: %w", key, err)
		}
		return outcome, why, nil
	}
	// bundlePatch
	d.record.set(namespace, *plan.entry)
	ops := []jsonPatchOp{
		{Op: "test", Path: "/metadata/uid", Value: plan.entry.UID},
		{Op: "add", Path: "/data", Value: d.data},
		{Op: "add", Path: "/binaryData", Value: map[string]string{}},
	}
	err := d.r.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: d.name, Namespace: namespace}},
		client.RawPatch(types.JSONPatchType, encodePatch(append(ops, labelOps(plan.observedLabels, plan.labelsSet, bundleLabels(d.issuer.Name))...))))
	if outcome, why, retry := bundleWriteOutcome(bundlePatch, err); !retry {
		return outcome, why, nil
	}
	return outcomePending, "", fmt.Errorf("updating ConfigMap %s: %w", key, err)
}

// bundleWriteOutcome judges the result of creating or patching a bundle
// ConfigMap: written, refused for good (a conflict, and why), gone meanwhile
// (pending: its delete event brings the issuer back to recreate it), or a
// transient failure to retry.
func bundleWriteOutcome(action bundleAction, err error) (outcome bundleOutcome, why string, retry bool) {
	if err == nil {
		return outcomeUpToDate, "", false
	}
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		// The namespace is being deleted: the update that says so, seen
		// next, takes it out of the bundle's namespaces. Neither a conflict
		// nor worth a retry.
		return outcomePending, "", false
	}
	if why, rejected := rejection(err); rejected {
		return outcomeConflict, why, false
	}
	if action == bundlePatch && apierrors.IsNotFound(err) {
		return outcomePending, "", false
	}
	return outcomePending, "", true
}

// ensureClusterTrustBundle keeps the signer-linked ClusterTrustBundle, or
// removes certsmith's when the issuer does not want one, and reports it.
func (d *distribution) ensureClusterTrustBundle(ctx context.Context, status *certsmithv1alpha1.BundleStatus) error {
	wanted := wantsClusterTrustBundle(d.issuer)
	if !d.r.ClusterTrustBundles {
		if wanted {
			d.r.warnOnce.Do(func() {
				logf.FromContext(ctx).Info("the API server does not serve certificates.k8s.io/v1 ClusterTrustBundles; trust bundles are distributed as ConfigMaps only")
			})
		}
		return nil
	}
	signerName := d.issuer.EffectiveSignerName()
	name := clusterTrustBundleName(signerName)
	if err := d.r.withdraw(ctx, d.record, unwantedClusterTrustBundle(wanted, name)); err != nil || !wanted {
		return err
	}
	status.ClusterTrustBundle = name
	plan, err := d.planClusterTrustBundle(ctx, name, signerName)
	if err != nil {
		return err
	}
	var writeErr error
	switch plan.action {
	case bundleUpToDate, bundleConflict:
		// Nothing to write.
	case bundleCreate:
		if err := d.record.save(ctx, d.r.Client, &d.r.records); err != nil {
			return err
		}
		writeErr = d.createClusterTrustBundle(ctx, name, signerName, plan.entry.Token)
	default:
		writeErr = d.patchClusterTrustBundle(ctx, name, plan)
	}
	result := clusterTrustBundleOutcome(plan, writeErr, signerName)
	if result.dropIntent {
		d.record.drop(recordKeyClusterTrustBundle)
	}
	d.ctbForbidden = result.forbidden
	status.ClusterTrustBundleUpToDate, status.ClusterTrustBundleConflict = result.upToDate, result.conflict
	if result.retry {
		return fmt.Errorf("writing ClusterTrustBundle %s: %w", name, writeErr)
	}
	return nil
}

// wantsClusterTrustBundle reports whether an issuer wants its bundle
// published as a ClusterTrustBundle: unless spec.bundle.clusterTrustBundle is false.
func wantsClusterTrustBundle(issuer *certsmithv1alpha1.ClusterIssuer) bool {
	return issuer.Spec.Bundle.ClusterTrustBundle == nil || *issuer.Spec.Bundle.ClusterTrustBundle
}

// planClusterTrustBundle observes the ClusterTrustBundle, decides what to
// do with it and updates the record accordingly.
func (d *distribution) planClusterTrustBundle(ctx context.Context, name, signerName string) (bundlePlan, error) {
	var entry *ownedObject
	if e, ok := d.record.get(recordKeyClusterTrustBundle); ok {
		entry = &e
	}
	observed, err := d.r.observe(ctx, &certificatesv1.ClusterTrustBundle{}, types.NamespacedName{Name: name}, entry != nil)
	if err != nil {
		return bundlePlan{}, err
	}
	plan := planBundleObject(entry, observed, name, clusterTrustBundleContentHash(signerName, string(d.bundle)), bundleLabels(d.issuer.Name), newClaimToken())
	if plan.dropEntry {
		d.record.drop(recordKeyClusterTrustBundle)
	}
	if plan.entry != nil {
		d.record.set(recordKeyClusterTrustBundle, *plan.entry)
	}
	return plan, nil
}

// createClusterTrustBundle creates the ClusterTrustBundle with the claim
// token recorded before, and records its UID.
func (d *distribution) createClusterTrustBundle(ctx context.Context, name, signerName, token string) error {
	ctb := &certificatesv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: bundleLabels(d.issuer.Name), Annotations: map[string]string{annotationBundleClaim: token}},
		Spec:       certificatesv1.ClusterTrustBundleSpec{SignerName: signerName, TrustBundle: string(d.bundle)},
	}
	if err := d.r.Create(ctx, ctb); err != nil {
		return err
	}
	d.record.set(recordKeyClusterTrustBundle, ownedObject{Name: name, UID: ctb.UID})
	return nil
}

// patchClusterTrustBundle repairs certsmith's ClusterTrustBundle.
func (d *distribution) patchClusterTrustBundle(ctx context.Context, name string, plan bundlePlan) error {
	ops := []jsonPatchOp{
		{Op: "test", Path: "/metadata/uid", Value: plan.entry.UID},
		{Op: "add", Path: "/spec/trustBundle", Value: string(d.bundle)},
	}
	return d.r.Patch(ctx, &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name}},
		client.RawPatch(types.JSONPatchType, encodePatch(append(ops, labelOps(plan.observedLabels, plan.labelsSet, bundleLabels(d.issuer.Name))...))))
}

// clusterTrustBundleResult is what the ClusterTrustBundle adds to status.bundle.
type clusterTrustBundleResult struct {
	upToDate bool
	// conflict says why certsmith cannot publish it ("" when it can).
	conflict string
	// forbidden: certsmith lacks the attest verb on the signer.
	forbidden bool
	// dropIntent: a create was refused, so the recorded intent goes.
	dropIntent bool
	// retry: the write failed for a transient reason.
	retry bool
}

// clusterTrustBundleOutcome judges a ClusterTrustBundle's plan and the
// result of carrying it out (writeErr, nil when nothing was written).
func clusterTrustBundleOutcome(plan bundlePlan, writeErr error, signerName string) clusterTrustBundleResult {
	switch plan.action {
	case bundleUpToDate:
		return clusterTrustBundleResult{upToDate: true}
	case bundleConflict:
		return clusterTrustBundleResult{conflict: "a ClusterTrustBundle of that name exists that certsmith did not create (" + plan.why + "); delete it"}
	}
	if why, rejected := rejection(writeErr); rejected {
		result := clusterTrustBundleResult{dropIntent: plan.action == bundleCreate}
		if apierrors.IsForbidden(writeErr) {
			result.forbidden = true
			why = fmt.Sprintf("grant certsmith the attest verb on signers/%s (%s)", signerName, why)
		}
		result.conflict = truncate(why, maxClusterTrustBundleConflict)
		return result
	}
	if writeErr != nil && !apierrors.IsNotFound(writeErr) {
		return clusterTrustBundleResult{retry: true}
	}
	return clusterTrustBundleResult{upToDate: writeErr == nil}
}

// withdraw deletes the recorded objects that match, and drops their
// entries. It never deletes an object whose UID is not the recorded one.
func (r *BundleReconciler) withdraw(ctx context.Context, record *bundleRecord, match func(key string, entry ownedObject) bool) error {
	var errs []error
	for _, key := range record.keys() {
		entry, _ := record.get(key)
		if !match(key, entry) {
			continue
		}
		var obj client.Object = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key, Name: entry.Name}}
		if key == recordKeyClusterTrustBundle {
			obj = &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: entry.Name}}
		}
		uid := entry.UID
		if uid == "" {
			// Only intended: the object is certsmith's if it carries the token.
			observed, err := r.observe(ctx, obj.DeepCopyObject().(client.Object), client.ObjectKeyFromObject(obj), false)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if observed == nil || observed.claim != entry.Token {
				record.drop(key)
				continue
			}
			uid = observed.uid
		}
		// A UID precondition that fails (409) means the object is no longer ours.
		if err := r.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, client.ObjectKeyFromObject(obj), err))
			continue
		}
		record.drop(key)
	}
	return errors.Join(errs...)
}

// forget removes everything an issuer that no longer exists had
// distributed, then its record.
func (r *BundleReconciler) forget(ctx context.Context, record *bundleRecord) error {
	if !record.exists() {
		return nil
	}
	if err := r.withdraw(ctx, record, func(string, ownedObject) bool { return true }); err != nil {
		return errors.Join(err, record.save(ctx, r.Client, &r.records))
	}
	return record.remove(ctx, r.Client, &r.records)
}

// adoptPrevious runs once per issuer, on the first pass after an upgrade
// from a release without ownership records: it records as certsmith's own
// the bundle objects that release made, recognised by all of: certsmith's
// labels for this issuer, the bundle's name, not immutable, and content
// that is exactly one key holding certificates of the issuer's current
// bundle (what certsmith wrote, and keeps writing until a CA retires). A
// labelled object that differs in any way is not adopted: it is a conflict,
// and the Event says to delete it so that certsmith recreates it. An issuer
// without status.bundle.fingerprintsSHA256 never distributed anything, so
// nothing is adopted for it.
func (d *distribution) adoptPrevious(ctx context.Context, wanted []string) error {
	d.record.markMigrated()
	if d.issuer.Status.Bundle == nil || len(d.issuer.Status.Bundle.FingerprintsSHA256) == 0 {
		return nil
	}
	anchors := map[string]bool{}
	for _, fp := range fingerprints(d.bundle) {
		anchors[fp] = true
	}
	adopted := 0
	for _, ns := range wanted {
		if _, ok := d.record.get(ns); ok {
			continue
		}
		cm := &corev1.ConfigMap{}
		key := types.NamespacedName{Namespace: ns, Name: d.name}
		if err := d.r.Get(ctx, key, cm); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		if !hasLabels(cm.Labels, bundleLabels(d.issuer.Name)) || (cm.Immutable != nil && *cm.Immutable) {
			continue
		}
		// The cache holds no content: read this one whole, once.
		full := &corev1.ConfigMap{}
		if err := d.r.APIReader.Get(ctx, key, full); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		if adoptableConfigMap(full, d.issuer.Name, d.key, anchors) {
			d.record.set(ns, ownedObject{Name: d.name, UID: full.UID})
			adopted++
		}
	}
	if adopted > 0 {
		d.r.Recorder.Eventf(d.issuer, nil, corev1.EventTypeNormal, certsmithv1alpha1.ReasonBundleAdopted, actionDistribute,
			"Recorded %d bundle ConfigMaps %s made by an earlier release of certsmith as its own (labelled, holding exactly this issuer's bundle)", adopted, d.name)
	}
	if d.r.ClusterTrustBundles && d.issuer.Status.Bundle.ClusterTrustBundle != "" {
		name := clusterTrustBundleName(d.issuer.EffectiveSignerName())
		ctb := &certificatesv1.ClusterTrustBundle{}
		err := d.r.APIReader.Get(ctx, types.NamespacedName{Name: name}, ctb)
		switch {
		case err == nil && d.issuer.Status.Bundle.ClusterTrustBundle == name && adoptableClusterTrustBundle(ctb, d.issuer, anchors):
			d.record.set(recordKeyClusterTrustBundle, ownedObject{Name: name, UID: ctb.UID})
		case err != nil && !apierrors.IsNotFound(err):
			return err
		}
	}
	return nil
}

// adoptableConfigMap reports whether a ConfigMap is exactly what an earlier
// release wrote for an issuer.
func adoptableConfigMap(cm *corev1.ConfigMap, issuer, key string, anchors map[string]bool) bool {
	if !hasLabels(cm.Labels, bundleLabels(issuer)) || (cm.Immutable != nil && *cm.Immutable) || len(cm.BinaryData) > 0 || len(cm.Data) != 1 {
		return false
	}
	content, ok := cm.Data[key]
	return ok && onlyAnchors([]byte(content), anchors)
}

// adoptableClusterTrustBundle reports whether a ClusterTrustBundle is
// exactly what an earlier release wrote for an issuer.
func adoptableClusterTrustBundle(ctb *certificatesv1.ClusterTrustBundle, issuer *certsmithv1alpha1.ClusterIssuer, anchors map[string]bool) bool {
	return hasLabels(ctb.Labels, bundleLabels(issuer.Name)) && ctb.Spec.SignerName == issuer.EffectiveSignerName() &&
		onlyAnchors([]byte(ctb.Spec.TrustBundle), anchors)
}

// onlyAnchors reports whether a PEM bundle holds certificates, all of them in anchors.
func onlyAnchors(bundle []byte, anchors map[string]bool) bool {
	certs, err := pki.ParseCertificatesPEM(bundle)
	if err != nil || len(certs) == 0 {
		return false
	}
	for _, c := range certs {
		if !anchors[pki.FingerprintSHA256(c)] {
			return false
		}
	}
	return true
}

func bundleLabels(issuer string) map[string]string {
	return map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue, certsmithv1alpha1.LabelBundleIssuer: issuer}
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// namedList joins names to fit in room bytes, ending in "… and N more"
// for the rest of total (ca.NamedList, shared with the rotation messages).
func namedList(names []string, total, room int) string { return ca.NamedList(names, total, room) }

// fingerprints lists the SHA-256 fingerprints of the certificates in a PEM bundle.
func fingerprints(bundle []byte) []string {
	certs, err := pki.ParseCertificatesPEM(bundle)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(certs))
	for _, c := range certs {
		out = append(out, pki.FingerprintSHA256(c))
	}
	return out
}

// issuerBundle returns an issuer's trust bundle (PEM): the ca.crt of its CA
// Secret, which lists every root trusted for it (active, next and retiring
// during a rotation), or the anchors of its chain when there is no ca.crt.
func issuerBundle(ctx context.Context, reader client.Reader, namespace string, issuer *certsmithv1alpha1.ClusterIssuer) ([]byte, error) {
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, caSecretKey(issuer, namespace), secret); err != nil {
		return nil, err
	}
	return bundleOfCASecret(secret)
}

// bundleOfCASecret is the trust bundle a CA Secret stands for: its ca.crt
// (every root trusted for the issuer, in the order stored) re-encoded, or,
// when ca.crt is missing or holds no certificate, the trust anchors of the
// CA in tls.crt.
func bundleOfCASecret(secret *corev1.Secret) ([]byte, error) {
	if bundle := secret.Data[caCertKey]; len(bundle) > 0 {
		if _, err := pki.ParseCertificatesPEM(bundle); err == nil {
			return normalizeBundle(bundle), nil
		}
	}
	ca, err := parseCASecret(secret)
	if err != nil {
		return nil, err
	}
	return pki.EncodeCertificatesPEM(pki.TrustAnchors(ca)...), nil
}

// normalizeBundle re-encodes a PEM bundle so byte comparisons are stable.
func normalizeBundle(bundle []byte) []byte {
	certs, err := pki.ParseCertificatesPEM(bundle)
	if err != nil {
		return bytes.TrimSpace(bundle)
	}
	return pki.EncodeCertificatesPEM(certs...)
}

// SetupWithManager registers the controller and its watches.
func (r *BundleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named(BundleControllerName).
		For(&certsmithv1alpha1.ClusterIssuer{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.issuersWithBundles)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(bundleOwner)).
		// CA Secrets, ownership records and revocation records (new CRLs).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.issuersOfCASecret)).
		WithOptions(controller.Options{RateLimiter: retryLimiter[reconcile.Request](r.MaxRetryDelay)})
	if r.ClusterTrustBundles {
		b = b.Watches(&certificatesv1.ClusterTrustBundle{}, handler.EnqueueRequestsFromMapFunc(bundleOwner))
	}
	return b.Complete(r)
}

// issuersWithBundles maps a namespace event to every issuer that distributes a bundle.
func (r *BundleReconciler) issuersWithBundles(ctx context.Context, _ client.Object) []reconcile.Request {
	var list certsmithv1alpha1.ClusterIssuerList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	var requests []reconcile.Request
	for _, issuer := range list.Items {
		if issuer.Spec.Bundle != nil {
			requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Name: issuer.Name}})
		}
	}
	return requests
}

// bundleOwner maps a ConfigMap or ClusterTrustBundle to the issuer whose bundle it carries.
func bundleOwner(_ context.Context, obj client.Object) []reconcile.Request {
	if name := obj.GetLabels()[certsmithv1alpha1.LabelBundleIssuer]; name != "" {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
	}
	return nil
}

// issuersOfCASecret maps a CA Secret to its issuers (a new bundle to
// distribute), an issuer's revocation record to it (new CRLs to
// distribute), and the ownership record of an issuer that no longer exists
// to that issuer, so that what it distributed is removed (also after a
// restart, when the cache lists the record again).
func (r *BundleReconciler) issuersOfCASecret(ctx context.Context, obj client.Object) []reconcile.Request {
	if obj.GetNamespace() != r.Namespace {
		return nil
	}
	if name := revocationRecordIssuer(obj); name != "" {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
	}
	if name := recordIssuer(obj); name != "" {
		// Its own writes need no pass; a record that is gone (deleted by
		// hand) or whose issuer is gone does.
		issuerErr := r.Get(ctx, types.NamespacedName{Name: name}, &certsmithv1alpha1.ClusterIssuer{})
		recordErr := r.Get(ctx, client.ObjectKeyFromObject(obj), &corev1.Secret{})
		if apierrors.IsNotFound(recordErr) {
			// Deleted: this process's copy of it is stale now.
			r.records.forget(name, r.Namespace)
		}
		if apierrors.IsNotFound(issuerErr) || apierrors.IsNotFound(recordErr) {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
		}
		return nil
	}
	var list certsmithv1alpha1.ClusterIssuerList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	var requests []reconcile.Request
	for _, issuer := range list.Items {
		if issuer.Spec.Bundle != nil && caSecretKey(&issuer, r.Namespace).Name == obj.GetName() {
			requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Name: issuer.Name}})
		}
	}
	return requests
}

// revocationRecordIssuer returns the issuer whose revocation record a
// Secret is, or "": it must have the record's type and label, and its
// certsmith.io/issuer-name annotation must be a ClusterIssuer name whose
// record has the Secret's name.
func revocationRecordIssuer(obj client.Object) string {
	secret, ok := obj.(*corev1.Secret)
	if !ok || secret.Type != revocation.SecretType || secret.Labels[certsmithv1alpha1.LabelRevocations] != "true" {
		return ""
	}
	name := secret.Annotations[certsmithv1alpha1.AnnotationIssuerName]
	if len(validation.IsDNS1123Subdomain(name)) > 0 || revocation.SecretName(name) != secret.Name {
		return ""
	}
	return name
}

// DiscoverClusterTrustBundles asks the API server whether it serves
// certificates.k8s.io/v1 ClusterTrustBundles. Unlike
// ServesClusterTrustBundles it tells "not served" from "no answer": an API
// server that does not answer is an error, for the caller to wait on,
// not a cluster without ClusterTrustBundles for the process's lifetime.
func DiscoverClusterTrustBundles(config *rest.Config) (bool, error) {
	client, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return false, err
	}
	resources, err := client.ServerResourcesForGroupVersion(certificatesv1.SchemeGroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovering %s: %w", certificatesv1.SchemeGroupVersion, err)
	}
	for _, r := range resources.APIResources {
		if r.Kind == "ClusterTrustBundle" {
			return true, nil
		}
	}
	return false, nil
}

// ServesClusterTrustBundles reports whether the API server serves certificates.k8s.io/v1 ClusterTrustBundles.
func ServesClusterTrustBundles(mapper meta.RESTMapper) bool {
	_, err := mapper.RESTMapping(certificatesv1.SchemeGroupVersion.WithKind("ClusterTrustBundle").GroupKind(), "v1")
	return err == nil
}
