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
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// CAInjectorControllerName names the controller that keeps caBundle fields
// equal to an issuer's trust bundle.
const CAInjectorControllerName = "cainjector"

// CAInjectorFieldManager is the server-side apply field manager of the CA
// injector. It owns the caBundle fields it writes and nothing else, so GitOps
// tools can be told to leave exactly its fields alone.
const CAInjectorFieldManager = "certsmith-cainjector"

// indexInjectCAFrom indexes injection targets by the issuer their
// certsmith.io/inject-ca-from annotation names.
const indexInjectCAFrom = "certsmith.injectCAFrom"

// Event reasons of the CA injector (IssuerNotFound and IssuerNotReady come from the API).
const (
	reasonCABundleInjected = "CABundleInjected"
	reasonCABundleRejected = "CABundleRejected"
)

// actionInjectCABundle is the action of the CA injector's Events.
const actionInjectCABundle = "InjectCABundle"

// injectable is a kind whose caBundle fields the injector keeps.
type injectable struct {
	gvk schema.GroupVersionKind
	// resource is the kind's API resource, for the access check.
	resource string
	// inject returns the apply object that sets every caBundle field of obj
	// to caBundle (base64, as in JSON) and whether any of them differs now.
	// The apply object holds the object's identity, the keys of the list
	// items it touches and caBundle, nothing else; it is nil when obj has no
	// caBundle field to keep.
	inject func(obj *unstructured.Unstructured, caBundle string) (apply *unstructured.Unstructured, changed bool)
}

// injectables are the kinds the injector keeps, by kind. They are handled as
// unstructured objects so that the operator needs neither the
// apiextensions nor the kube-aggregator Go types.
var injectables = map[string]injectable{
	"ValidatingWebhookConfiguration": {
		gvk:      schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingWebhookConfiguration"},
		resource: "validatingwebhookconfigurations",
		inject:   injectWebhooks,
	},
	"MutatingWebhookConfiguration": {
		gvk:      schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "MutatingWebhookConfiguration"},
		resource: "mutatingwebhookconfigurations",
		inject:   injectWebhooks,
	},
	"APIService": {
		gvk:      schema.GroupVersionKind{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"},
		resource: "apiservices",
		inject:   injectAPIService,
	},
	"CustomResourceDefinition": {
		gvk:      schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"},
		resource: "customresourcedefinitions",
		inject:   injectConversionWebhook,
	},
}

// injectionTarget identifies one object whose caBundle fields the injector
// keeps. All the kinds are cluster-scoped.
type injectionTarget struct {
	Kind string
	Name string
}

// CAInjectorReconciler keeps the caBundle fields of webhook configurations,
// APIServices and CRD conversion webhooks annotated with
// certsmith.io/inject-ca-from equal to the named ClusterIssuer's trust
// bundle. It writes only those fields, by server-side apply under its own
// field manager, and only when they differ.
//
// It has no RBAC markers on purpose: patching these objects is a powerful
// permission, granted separately by config/rbac-cainjector.
type CAInjectorReconciler struct {
	// MaxRetryDelay caps the back-off of a failed reconcile (0: DefaultMaxRetryDelay).
	MaxRetryDelay time.Duration
	client.Client
	// Cache reads the injection targets. They are unstructured, which the
	// manager's client would read from the API server, not the cache.
	Cache client.Reader
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Namespace is the operator's namespace, where CA Secrets live.
	Namespace string

	// rejected remembers the targets whose caBundle the API server refused,
	// for the coverage the status reconciler reports.
	rejected rejectedTargets
	// pokes asks the status reconciler to look at an issuer again.
	pokes chan event.GenericEvent
}

// Reconcile brings one object's caBundle fields up to date.
func (r *CAInjectorReconciler) Reconcile(ctx context.Context, target injectionTarget) (ctrl.Result, error) {
	kind, ok := injectables[target.Kind]
	if !ok {
		return ctrl.Result{}, nil
	}
	log := logf.FromContext(ctx).WithValues("kind", target.Kind, "name", target.Name)
	obj := newUnstructured(kind.gvk)
	if err := r.Cache.Get(ctx, types.NamespacedName{Name: target.Name}, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	issuerName := injectionRequested(obj)
	if issuerName == "" {
		// No longer asked for: caBundle keeps its last value.
		return ctrl.Result{}, nil
	}
	bundle, err := r.bundleFor(ctx, obj, issuerName)
	if err != nil || bundle == nil {
		return ctrl.Result{}, err
	}
	encoded := base64.StdEncoding.EncodeToString(bundle)
	apply, changed := kind.inject(obj, encoded)
	if apply == nil || !changed {
		r.noteRejected(target, issuerName, "")
		return ctrl.Result{}, nil
	}
	err = r.Apply(ctx, client.ApplyConfigurationFromUnstructured(apply), client.FieldOwner(CAInjectorFieldManager), client.ForceOwnership)
	switch {
	case apierrors.IsInvalid(err):
		// The object's own spec forbids a caBundle (say, insecureSkipTLSVerify
		// on an APIService): the user must fix it; the next edit brings it back.
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, reasonCABundleRejected, actionInjectCABundle,
			"the API server rejected the CA bundle of ClusterIssuer %s: %v; fix the object or remove the %s annotation",
			issuerName, err, certsmithv1alpha1.AnnotationInjectCABundleFrom)
		r.noteRejected(target, issuerName, encoded)
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("applying caBundle to %s %s: %w", target.Kind, target.Name, err)
	}
	r.noteRejected(target, issuerName, "")
	log.Info("injected CA bundle", "clusterIssuer", issuerName)
	r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, reasonCABundleInjected, actionInjectCABundle,
		"caBundle set to the trust bundle of ClusterIssuer %s", issuerName)
	return ctrl.Result{}, nil
}

// bundleFor returns the trust bundle of the issuer an object names, or nil
// after a Warning event when the issuer is missing or not Ready: caBundle is
// then left as is, and the issuer's watch brings the object back.
func (r *CAInjectorReconciler) bundleFor(ctx context.Context, obj *unstructured.Unstructured, issuerName string) ([]byte, error) {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := r.Get(ctx, types.NamespacedName{Name: issuerName}, issuer); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
		issuer = nil
	}
	if reason, note := injectionRefusal(issuerName, issuer); reason != "" {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, reason, actionInjectCABundle, "%s", note)
		return nil, nil
	}
	bundle, err := issuerBundle(ctx, r.Client, r.Namespace, issuer)
	if err != nil {
		// A Ready issuer has its CA Secret; not seeing it is a lagging cache.
		return nil, fmt.Errorf("reading the trust bundle of ClusterIssuer %s: %w", issuerName, err)
	}
	return bundle, nil
}

// injectionRequested returns the issuer whose bundle an object asks for
// (annotation certsmith.io/inject-ca-from), or "" when it asks for none or
// is being deleted.
func injectionRequested(obj *unstructured.Unstructured) string {
	if obj.GetDeletionTimestamp() != nil {
		return ""
	}
	return obj.GetAnnotations()[certsmithv1alpha1.AnnotationInjectCABundleFrom]
}

// injectionRefusal says why the injector does not inject the bundle of the
// issuer an object names (issuer is nil when it does not exist): the Event
// reason and note, or "" when the issuer is Ready and its bundle may go in.
func injectionRefusal(issuerName string, issuer *certsmithv1alpha1.ClusterIssuer) (reason, note string) {
	if issuer == nil {
		return certsmithv1alpha1.ReasonIssuerNotFound, fmt.Sprintf(
			"ClusterIssuer %s named by annotation %s does not exist; caBundle left unchanged until it does (or fix the annotation)",
			issuerName, certsmithv1alpha1.AnnotationInjectCABundleFrom)
	}
	if meta.IsStatusConditionTrue(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady) {
		return "", ""
	}
	why := "it has no Ready condition yet"
	if ready := meta.FindStatusCondition(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady); ready != nil {
		why = ready.Reason + ": " + ready.Message
	}
	return certsmithv1alpha1.ReasonIssuerNotReady, fmt.Sprintf("ClusterIssuer %s is not Ready (%s); caBundle left unchanged until it is", issuerName, why)
}

// injectWebhooks sets webhooks[].clientConfig.caBundle of a
// Validating- or MutatingWebhookConfiguration. Webhooks are a list keyed by
// name, so the apply object names each webhook.
func injectWebhooks(obj *unstructured.Unstructured, caBundle string) (*unstructured.Unstructured, bool) {
	webhooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
	entries := make([]any, 0, len(webhooks))
	changed := false
	for _, item := range webhooks {
		webhook, ok := item.(map[string]any)
		if !ok {
			continue
		}
		name, _, _ := unstructured.NestedString(webhook, "name")
		current, _, _ := unstructured.NestedString(webhook, "clientConfig", "caBundle")
		changed = changed || current != caBundle
		entries = append(entries, map[string]any{"name": name, "clientConfig": map[string]any{"caBundle": caBundle}})
	}
	if len(entries) == 0 {
		return nil, false
	}
	apply := applyObjectFor(obj)
	apply.Object["webhooks"] = entries
	return apply, changed
}

// injectAPIService sets spec.caBundle of an APIService.
func injectAPIService(obj *unstructured.Unstructured, caBundle string) (*unstructured.Unstructured, bool) {
	return injectField(obj, caBundle, "spec", "caBundle")
}

// injectConversionWebhook sets spec.conversion.webhook.clientConfig.caBundle
// of a CRD whose conversion strategy is Webhook; other CRDs have no caBundle.
// The strategy is not in the apply object: owning it would make the
// injector a party to the CRD author's later switch away from Webhook.
func injectConversionWebhook(obj *unstructured.Unstructured, caBundle string) (*unstructured.Unstructured, bool) {
	if strategy, _, _ := unstructured.NestedString(obj.Object, "spec", "conversion", "strategy"); strategy != "Webhook" {
		return nil, false
	}
	return injectField(obj, caBundle, "spec", "conversion", "webhook", "clientConfig", "caBundle")
}

// injectField sets the caBundle at one path.
func injectField(obj *unstructured.Unstructured, caBundle string, path ...string) (*unstructured.Unstructured, bool) {
	current, _, _ := unstructured.NestedString(obj.Object, path...)
	apply := applyObjectFor(obj)
	if err := unstructured.SetNestedField(apply.Object, caBundle, path...); err != nil {
		return nil, false
	}
	return apply, current != caBundle
}

// applyObjectFor starts an apply object with just the identity of obj.
func applyObjectFor(obj *unstructured.Unstructured) *unstructured.Unstructured {
	apply := newUnstructured(obj.GroupVersionKind())
	apply.SetName(obj.GetName())
	return apply
}

func newUnstructured(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	return obj
}

// SetupWithManager registers the controller, its index and watches. It
// fails when the operator lacks the permissions of config/rbac-cainjector,
// rather than starting informers that can never sync.
func (r *CAInjectorReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := checkInjectorAccess(mgr.GetClient()); err != nil {
		return err
	}
	r.pokes = make(chan event.GenericEvent, 256)
	if err := r.setupStatusReporter(mgr); err != nil {
		return err
	}
	b := builder.TypedControllerManagedBy[injectionTarget](mgr).
		Named(CAInjectorControllerName).
		Watches(&certsmithv1alpha1.ClusterIssuer{}, handler.TypedEnqueueRequestsFromMapFunc(r.targetsOfIssuer)).
		Watches(&corev1.Secret{}, handler.TypedEnqueueRequestsFromMapFunc(r.targetsOfCASecret)).
		WithOptions(controller.TypedOptions[injectionTarget]{RateLimiter: retryLimiter[injectionTarget](r.MaxRetryDelay)})
	for kindName, kind := range injectables {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), newUnstructured(kind.gvk), indexInjectCAFrom, injectCAFrom); err != nil {
			return fmt.Errorf("indexing %s by issuer: %w", kindName, err)
		}
		b = b.Watches(newUnstructured(kind.gvk), handler.TypedEnqueueRequestsFromMapFunc(annotatedTarget(kindName)))
	}
	return b.Complete(r)
}

// injectCAFrom is the index function: the issuer an object names.
func injectCAFrom(obj client.Object) []string {
	if name := obj.GetAnnotations()[certsmithv1alpha1.AnnotationInjectCABundleFrom]; name != "" {
		return []string{name}
	}
	return nil
}

// annotatedTarget maps an object of one kind to itself when it carries the
// annotation (an update that removes it maps through the old object, and
// Reconcile then leaves caBundle alone).
func annotatedTarget(kind string) func(context.Context, client.Object) []injectionTarget {
	return func(_ context.Context, obj client.Object) []injectionTarget {
		if len(injectCAFrom(obj)) == 0 {
			return nil
		}
		return []injectionTarget{{Kind: kind, Name: obj.GetName()}}
	}
}

// targetsOfIssuer maps an issuer (its readiness or its bundle changed) to
// every object that names it.
func (r *CAInjectorReconciler) targetsOfIssuer(ctx context.Context, issuer client.Object) []injectionTarget {
	var targets []injectionTarget
	for kindName, kind := range injectables {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(kind.gvk.GroupVersion().WithKind(kind.gvk.Kind + "List"))
		if err := r.Cache.List(ctx, list, client.MatchingFields{indexInjectCAFrom: issuer.GetName()}); err != nil {
			logf.FromContext(ctx).Error(err, "listing injection targets", "kind", kindName, "clusterIssuer", issuer.GetName())
			continue
		}
		for _, item := range list.Items {
			targets = append(targets, injectionTarget{Kind: kindName, Name: item.GetName()})
		}
	}
	return targets
}

// targetsOfCASecret maps a CA Secret (a new bundle, as during a rotation) to
// the objects that name its issuers.
func (r *CAInjectorReconciler) targetsOfCASecret(ctx context.Context, secret client.Object) []injectionTarget {
	if secret.GetNamespace() != r.Namespace {
		return nil
	}
	var issuers certsmithv1alpha1.ClusterIssuerList
	if err := r.List(ctx, &issuers); err != nil {
		return nil
	}
	var targets []injectionTarget
	for i := range issuers.Items {
		if caSecretKey(&issuers.Items[i], r.Namespace).Name == secret.GetName() {
			targets = append(targets, r.targetsOfIssuer(ctx, &issuers.Items[i])...)
		}
	}
	return targets
}

// injectorVerbs are what the injector needs on every kind it keeps.
var injectorVerbs = []string{"get", "list", "watch", "patch"}

// checkInjectorAccess asks the API server (SelfSubjectAccessReviews) whether
// the operator holds the permissions of config/rbac-cainjector.
func checkInjectorAccess(c client.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var missing []string
	for _, kind := range injectables {
		for _, verb := range injectorVerbs {
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Group: kind.gvk.Group, Resource: kind.resource, Verb: verb},
			}}
			if err := c.Create(ctx, review); err != nil {
				return fmt.Errorf("checking the CA injector's permissions (SelfSubjectAccessReview): %w", err)
			}
			if !review.Status.Allowed {
				missing = append(missing, verb+" "+kind.resource+"."+kind.gvk.Group)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("--enable-ca-injection needs the ClusterRole in config/rbac-cainjector bound to the operator; it may not: %s",
			strings.Join(missing, ", "))
	}
	return nil
}

// CAInjectorStatusControllerName names the controller that reports, in each
// issuer's status.bundle.injection, how many injected caBundles hold its
// trust bundle (a CA rotation waits for them).
const CAInjectorStatusControllerName = "cainjector-status"

// maxNamedTargets bounds status.bundle.injection.notUpToDate.
const maxNamedTargets = 10

// rejectedTargets remembers, per target, the caBundle (base64) the API
// server refused. It is in memory only: after a restart the injector's first
// pass over every target finds the rejections again.
type rejectedTargets struct {
	mu       sync.Mutex
	byTarget map[injectionTarget]string
}

// noteRejected records (caBundle != "") or clears a rejection, and has the
// status reconciler look at the issuer again when that changed anything.
func (r *CAInjectorReconciler) noteRejected(target injectionTarget, issuerName, caBundle string) {
	r.rejected.mu.Lock()
	before := r.rejected.byTarget[target]
	if caBundle == "" {
		delete(r.rejected.byTarget, target)
	} else {
		if r.rejected.byTarget == nil {
			r.rejected.byTarget = map[injectionTarget]string{}
		}
		r.rejected.byTarget[target] = caBundle
	}
	r.rejected.mu.Unlock()
	if before == caBundle || r.pokes == nil {
		return
	}
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	issuer.SetName(issuerName)
	select {
	case r.pokes <- event.GenericEvent{Object: issuer}:
	default:
		// Full: the status reconciler is behind and will look at every issuer anyway.
	}
}

func (r *CAInjectorReconciler) rejectedWith(target injectionTarget) string {
	r.rejected.mu.Lock()
	defer r.rejected.mu.Unlock()
	return r.rejected.byTarget[target]
}

// injectionStatusReconciler writes status.bundle.injection of each issuer:
// the one writer of that field. It reconciles per issuer, so a burst of
// target changes makes one status write.
type injectionStatusReconciler struct {
	injector *CAInjectorReconciler
	// written remembers the last status written per issuer, since the
	// cache may not have seen it yet.
	mu      sync.Mutex
	written map[string]*certsmithv1alpha1.InjectionStatus
}

// Reconcile reports one issuer's injection coverage.
func (s *injectionStatusReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r := s.injector
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := r.Get(ctx, req.NamespacedName, issuer); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	targets := r.targetsOfIssuer(ctx, issuer)
	var status *certsmithv1alpha1.InjectionStatus
	if len(targets) > 0 {
		bundle, err := issuerBundle(ctx, r.Client, r.Namespace, issuer)
		if err != nil {
			// No bundle yet: nothing to compare with; the CA Secret's watch brings the issuer back.
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		if status, err = r.coverage(ctx, targets, bundle); err != nil {
			return ctrl.Result{}, err
		}
	}
	var current *certsmithv1alpha1.InjectionStatus
	if issuer.Status.Bundle != nil {
		current = issuer.Status.Bundle.Injection
	}
	s.mu.Lock()
	last, wrote := s.written[issuer.Name]
	s.mu.Unlock()
	if injectionStatusUnchanged(current, last, wrote, status) {
		return ctrl.Result{}, nil
	}
	raw, err := json.Marshal(map[string]any{"status": map[string]any{"bundle": map[string]any{"injection": status}}})
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Status().Patch(ctx, issuer, client.RawPatch(types.MergePatchType, raw)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s.mu.Lock()
	if s.written == nil {
		s.written = map[string]*certsmithv1alpha1.InjectionStatus{}
	}
	s.written[issuer.Name] = status
	s.mu.Unlock()
	return ctrl.Result{}, nil
}

// injectionStatusUnchanged reports whether status.bundle.injection needs no
// write: status is what the issuer shows (current), or what this process
// wrote last (the cache may not have seen it yet).
func injectionStatusUnchanged(current, last *certsmithv1alpha1.InjectionStatus, wrote bool, status *certsmithv1alpha1.InjectionStatus) bool {
	if equality.Semantic.DeepEqual(current, status) || (wrote && equality.Semantic.DeepEqual(last, status)) {
		return true
	}
	return current == nil && status == nil
}

// coverage compares every target's caBundle fields with the bundle.
func (r *CAInjectorReconciler) coverage(ctx context.Context, targets []injectionTarget, bundle []byte) (*certsmithv1alpha1.InjectionStatus, error) {
	tally := newInjectionTally(bundle)
	slices.SortFunc(targets, func(a, b injectionTarget) int { return strings.Compare(a.Kind+"/"+a.Name, b.Kind+"/"+b.Name) })
	for _, target := range targets {
		obj := newUnstructured(injectables[target.Kind].gvk)
		if err := r.Cache.Get(ctx, types.NamespacedName{Name: target.Name}, obj); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		tally.add(target, obj, r.rejectedWith(target))
	}
	return tally.result(), nil
}

// injectionTally counts, for status.bundle.injection, an issuer's targets
// and how many of them hold its bundle.
type injectionTally struct {
	status  certsmithv1alpha1.InjectionStatus
	encoded string
}

func newInjectionTally(bundle []byte) *injectionTally {
	return &injectionTally{
		status:  certsmithv1alpha1.InjectionStatus{FingerprintsSHA256: fingerprints(bundle)},
		encoded: base64.StdEncoding.EncodeToString(bundle),
	}
}

// add counts one target, given the caBundle the API server last refused for
// it ("" for none). An object being deleted, or with no caBundle field to
// keep (a CRD without a conversion webhook), is not a target. The first
// maxNamedTargets that do not hold the bundle are named.
func (t *injectionTally) add(target injectionTarget, obj *unstructured.Unstructured, rejected string) {
	kind, ok := injectables[target.Kind]
	if !ok || obj.GetDeletionTimestamp() != nil {
		return
	}
	apply, changed := kind.inject(obj, t.encoded)
	if apply == nil {
		return
	}
	t.status.Targets++
	if !changed {
		t.status.UpToDate++
		return
	}
	if rejected == t.encoded {
		t.status.Rejected++
	}
	if len(t.status.NotUpToDate) < maxNamedTargets {
		t.status.NotUpToDate = append(t.status.NotUpToDate, truncate(target.Kind+" "+target.Name, 300))
	}
}

// result is the injection status to report: nil when there is no target.
func (t *injectionTally) result() *certsmithv1alpha1.InjectionStatus {
	if t.status.Targets == 0 {
		return nil
	}
	status := t.status
	return &status
}

// setupStatusReporter registers the injection status reconciler.
func (r *CAInjectorReconciler) setupStatusReporter(mgr ctrl.Manager) error {
	reporter := &injectionStatusReconciler{injector: r}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(CAInjectorStatusControllerName).
		For(&certsmithv1alpha1.ClusterIssuer{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.issuersOfCASecret)).
		WatchesRawSource(source.Channel(r.pokes, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{RateLimiter: retryLimiter[reconcile.Request](r.MaxRetryDelay)})
	for _, kind := range injectables {
		b = b.Watches(newUnstructured(kind.gvk), handler.EnqueueRequestsFromMapFunc(issuerOfTarget))
	}
	return b.Complete(reporter)
}

// issuerOfTarget maps an injection target to the issuer it names (an
// update that changes the annotation maps through both objects).
func issuerOfTarget(_ context.Context, obj client.Object) []reconcile.Request {
	if names := injectCAFrom(obj); len(names) > 0 {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: names[0]}}}
	}
	return nil
}

// issuersOfCASecret maps a CA Secret (a new bundle) to its issuers.
func (r *CAInjectorReconciler) issuersOfCASecret(ctx context.Context, secret client.Object) []reconcile.Request {
	if secret.GetNamespace() != r.Namespace {
		return nil
	}
	var issuers certsmithv1alpha1.ClusterIssuerList
	if err := r.List(ctx, &issuers); err != nil {
		return nil
	}
	var requests []reconcile.Request
	for i := range issuers.Items {
		if caSecretKey(&issuers.Items[i], r.Namespace).Name == secret.GetName() {
			requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Name: issuers.Items[i].Name}})
		}
	}
	return requests
}
