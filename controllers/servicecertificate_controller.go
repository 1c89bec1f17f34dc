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
	"errors"
	"fmt"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// ServiceCertificateControllerName names the controller that issues and
// renews ServiceCertificates.
const ServiceCertificateControllerName = "servicecertificate"

// Field index names.
const (
	indexCertificateIssuer  = "certsmith.issuerRef"
	indexCertificateService = "certsmith.service"
	indexCSROwner           = "certsmith.serviceCertificate"
)

// ServiceCertificateReconciler issues, stores and renews the certificate of
// each ServiceCertificate. One reconcile is a pipeline, and the code is
// grouped by its stages:
//
//   - observe (servicecertificate_observe.go): the issuer with its CA and
//     trust bundle, the request that the spec and the Service resolve to,
//     the Secret, the issuer policy's verdict, the CSRs and the key in flight;
//   - decide (servicecertificate_decide.go, and the re-issue policy chain in
//     issuance_policy.go): pure functions of what was observed and the time;
//   - act (servicecertificate_act.go, and the Secret's assembly in
//     secret.go): keep the certificate (repairing the Secret), request a
//     CSR, store a signed certificate with its key and CA bundle in one
//     write, or report a problem;
//   - then Reconcile writes status once.
//
// It is the only controller that deletes certsmith's CSRs.
type ServiceCertificateReconciler struct {
	// MaxRetryDelay caps the back-off of a failed reconcile (0: DefaultMaxRetryDelay).
	MaxRetryDelay time.Duration
	client.Client
	// APIReader reads objects that are not cached (Secrets certsmith does not manage).
	APIReader client.Reader
	// Clock is the source of time; a fake one in tests.
	Clock clock.PassiveClock
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Namespace is the operator's namespace, where CA Secrets live.
	Namespace string
	// ClusterDomain is the cluster's DNS domain, such as "cluster.local".
	ClusterDomain string
	// Username is the operator's own identity; only CSRs with this
	// spec.username are taken as certsmith's own.
	Username string
	// MaxConcurrentReconciles is the number of workers.
	MaxConcurrentReconciles int

	// Handoff is shared with the signer (issuanceHandoff); SetupWithManager
	// makes one when it is nil.
	Handoff *issuanceHandoff

	keys         *pendingKeys
	expectations *secretExpectations
	written      *writtenStatuses
	// stored remembers the Secrets this controller wrote last, so that the
	// reconciles right after a write need not read them again.
	stored  *storedSecrets
	revoked *revokedSerials
	// trustPacer paces the ca.crt refreshes of an issuer's certificates.
	trustPacer *trustRefreshPacer
}

// +kubebuilder:rbac:groups=certsmith.io,resources=servicecertificates,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=certsmith.io,resources=clustercertificaterevocations,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=certsmith.io,resources=servicecertificates/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=certsmith.io,resources=servicecertificates/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests,verbs=get;list;watch;create;delete

// Reconcile brings one ServiceCertificate's Secret and status up to date:
// get → gone returns → the pipeline (reconcileCertificate) → one status write.
func (r *ServiceCertificateReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sc := &certsmithv1alpha1.ServiceCertificate{}
	if err := r.Get(ctx, req.NamespacedName, sc); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.forgetDeleted(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, err
	}
	if !sc.DeletionTimestamp.IsZero() && controllerutil.ContainsFinalizer(sc, certsmithv1alpha1.FinalizerRevokeOnDelete) {
		// Deleted while its issuer revokes on delete: revoke, then let go
		// (also in a terminating namespace; the revocation is cluster-scoped).
		return r.revokeOnDeletion(ctx, sc)
	}
	if terminating, err := r.namespaceTerminating(ctx, sc.Namespace); err != nil || terminating {
		// The namespace controller is deleting everything in the
		// namespace, this ServiceCertificate too: nothing can be created
		// there any more, so nothing is written (forgetDeleted cleans up
		// once it is gone).
		return ctrl.Result{}, err
	}
	if sc.DeletionTimestamp.IsZero() {
		if err := r.syncRevokeOnDeleteFinalizer(ctx, sc); err != nil {
			return ctrl.Result{}, err
		}
	}
	original := sc.DeepCopy()
	r.written.seen(sc)
	if last := r.written.last(sc); last != nil {
		// Only certsmith writes this status: the last one written is newer
		// than or equal to the cached one, and keeps condition times stable.
		sc.Status = *last
	}
	sc.Status.ObservedGeneration = sc.Generation
	sc.Status.SecretName = sc.EffectiveSecretName()

	result, err := r.reconcileCertificate(ctx, sc)
	var te *terminalError
	if errors.As(err, &te) {
		setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionReady, metav1.ConditionFalse, te.reason, te.message)
		meta.RemoveStatusCondition(&sc.Status.Conditions, certsmithv1alpha1.ConditionIssuing)
		// Not a hot loop: a slow recheck, for fixes no watch sees (a
		// conflicting Secret deleted, a namespace relabelled, a password
		// Secret created).
		result, err = ctrl.Result{RequeueAfter: terminalRecheck}, nil
	}
	r.warnOnNewProblem(original, sc)
	if err == nil && te == nil && r.holdPendingStatus(sc) {
		// A fresh CSR is usually signed within milliseconds; its outcome is
		// written in one status write instead of "pending" then "issued".
		// If it is still pending after the grace period, pending is written.
		if result.RequeueAfter == 0 || result.RequeueAfter > pendingStatusGrace {
			result.RequeueAfter = pendingStatusGrace
		}
		return result, nil
	}
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		// The namespace began terminating after it was read: the same as
		// above, only seen by the API server first.
		return ctrl.Result{}, nil
	}
	if patchErr := r.patchStatus(ctx, original, sc); patchErr != nil {
		return ctrl.Result{}, errors.Join(err, patchErr)
	}
	return result, err
}

// namespaceTerminating says whether a namespace is being deleted (from the
// cache, which holds every namespace for the bundle controller). One the
// cache does not hold yet, just created, is not.
func (r *ServiceCertificateReconciler) namespaceTerminating(ctx context.Context, name string) (bool, error) {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, types.NamespacedName{Name: name}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating, nil
}

// reconcileCertificate is the pipeline of one ServiceCertificate: observe
// what it depends on (the issuer and its CA, the Service, the Secret, the
// CSR in flight), decide with no client call what it needs, and act on
// that decision. Reconcile writes the status it leaves in sc.
func (r *ServiceCertificateReconciler) reconcileCertificate(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate) (ctrl.Result, error) {
	now := r.Clock.Now()
	o, err := r.observe(ctx, sc, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	return r.act(ctx, sc, o, decide(o, now), now)
}

// forgetDeleted handles a ServiceCertificate that is gone: its in-memory
// state and metrics are dropped, and its CSRs are deleted. This controller
// is the only one that deletes certsmith's CSRs. A CSR records its owner by
// namespace and name only, and no ServiceCertificate of that name exists,
// so every CSR certsmith made under the name goes; one made for a new
// ServiceCertificate of the same name can only be created after this
// controller has seen it, and then the name is found again.
func (r *ServiceCertificateReconciler) forgetDeleted(ctx context.Context, key types.NamespacedName) error {
	r.keys.forgetName(key)
	r.written.forget(key)
	r.expectations.forget(key)
	r.trustPacer.forget(key)
	requests, err := r.requestsOf(ctx, key)
	if err != nil {
		return err
	}
	return r.deleteRequests(ctx, requestPointers(requests))
}

// terminalRecheck is how often a certificate with a problem the user must
// fix looks again by itself.
const terminalRecheck = 5 * time.Minute

// pendingStatusGrace is how long the status write of a fresh issuance may be held back.
const pendingStatusGrace = 5 * time.Second

// holdPendingStatus reports whether an issuance is in flight and younger than the grace period.
func (r *ServiceCertificateReconciler) holdPendingStatus(sc *certsmithv1alpha1.ServiceCertificate) bool {
	pending := r.keys.get(sc)
	return pending != nil && r.Clock.Since(pending.createdAt) < pendingStatusGrace
}

// warnOnNewProblem emits a Warning Event when Ready turns False with a new reason.
func (r *ServiceCertificateReconciler) warnOnNewProblem(original, sc *certsmithv1alpha1.ServiceCertificate) {
	if problem := newProblem(original, sc); problem != nil {
		r.Recorder.Eventf(sc, nil, corev1.EventTypeWarning, problem.Reason, "Issue", "%s", problem.Message)
	}
}

// newProblem returns the Ready condition of sc when it is False, other
// than Pending, and differs from the one in original; nil otherwise.
func newProblem(original, sc *certsmithv1alpha1.ServiceCertificate) *metav1.Condition {
	now := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)
	if now == nil || now.Status != metav1.ConditionFalse || now.Reason == certsmithv1alpha1.ReasonPending {
		return nil
	}
	if before := meta.FindStatusCondition(original.Status.Conditions, certsmithv1alpha1.ConditionReady); before != nil &&
		before.Status == now.Status && before.Reason == now.Reason && before.Message == now.Message {
		return nil
	}
	return now
}

// patchStatus writes status once, and only when it changed: compared with
// the cached object and with the last status written, since the cache may
// not have seen that write yet.
func (r *ServiceCertificateReconciler) patchStatus(ctx context.Context, original, sc *certsmithv1alpha1.ServiceCertificate) error {
	if equality.Semantic.DeepEqual(original.Status, sc.Status) || r.written.matches(sc, sc.Generation, &sc.Status) {
		return nil
	}
	patch := client.MergeFrom(original)
	if data, err := patch.Data(sc); err == nil && string(data) == "{}" {
		// Equal once serialised (times are kept to the second).
		return nil
	}
	if err := r.Status().Patch(ctx, sc, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching status of ServiceCertificate %s/%s: %w", sc.Namespace, sc.Name, err)
	}
	r.written.record(sc, sc.Generation, &sc.Status)
	return nil
}

// SetupWithManager registers the controller, its indexes and its watches.
func (r *ServiceCertificateReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Handoff == nil {
		r.Handoff = newIssuanceHandoff(newPendingKeys())
	}
	r.keys = r.Handoff.keys
	r.expectations = newSecretExpectations()
	r.written = newWrittenStatuses()
	r.stored = newStoredSecrets()
	r.trustPacer = newTrustRefreshPacer()
	r.revoked = &revokedSerials{}
	certificatesCollector.set(mgr.GetCache(), mgr.Elected())
	indexer := mgr.GetFieldIndexer()
	ctx := context.Background()
	if err := indexer.IndexField(ctx, &certsmithv1alpha1.ServiceCertificate{}, indexCertificateIssuer, func(obj client.Object) []string {
		return []string{obj.(*certsmithv1alpha1.ServiceCertificate).Spec.IssuerRef.Name}
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &certsmithv1alpha1.ServiceCertificate{}, indexCertificateService, func(obj client.Object) []string {
		if svc := obj.(*certsmithv1alpha1.ServiceCertificate).Spec.Service; svc != nil {
			return []string{svc.Name}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &certificatesv1.CertificateSigningRequest{}, indexCSROwner, csrOwnerIndex); err != nil {
		return err
	}
	workers := r.MaxConcurrentReconciles
	if workers == 0 {
		workers = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(ServiceCertificateControllerName).
		For(&certsmithv1alpha1.ServiceCertificate{}).
		// Secrets are mapped by owner reference or by certsmith's annotation,
		// so Secrets without an owner reference (Retain) are watched too.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(secretOwner)).
		// A revocation record: the certificates of its issuer that it lists.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.certificatesRevokedBy)).
		Watches(&certificatesv1.CertificateSigningRequest{}, handler.EnqueueRequestsFromMapFunc(csrOwner)).
		// The revocation of a deleted certificate, answered: its finalizer goes.
		Watches(&certsmithv1alpha1.ClusterCertificateRevocation{}, handler.EnqueueRequestsFromMapFunc(certificateOfRevocation)).
		Watches(&certsmithv1alpha1.ClusterIssuer{}, handler.EnqueueRequestsFromMapFunc(certificatesOfIssuer(r.Client)),
			builder.WithPredicates(issuerChangedForCertificates())).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(certificatesOfService(r.Client))).
		// The signer of this process has a certificate for the CSR in flight.
		WatchesRawSource(source.Channel(r.Handoff.wakeCertificates, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: retryLimiter[reconcile.Request](r.MaxRetryDelay)}).
		Complete(r)
}

// issuerChangedForCertificates passes an issuer's events except updates
// that change only the status parts no ServiceCertificate reads: its CRLs
// (status.revocation) and its bundle's distribution (status.bundle). Those
// change with every CRL, and would otherwise wake every certificate of the
// issuer each time.
func issuerChangedForCertificates() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*certsmithv1alpha1.ClusterIssuer)
		after, ok2 := e.ObjectNew.(*certsmithv1alpha1.ClusterIssuer)
		if !ok1 || !ok2 {
			return true
		}
		a, b := before.DeepCopy(), after.DeepCopy()
		for _, issuer := range []*certsmithv1alpha1.ClusterIssuer{a, b} {
			issuer.Status.Revocation, issuer.Status.Bundle = nil, nil
			issuer.ResourceVersion, issuer.ManagedFields = "", nil
			// A rotation's progress while publishing (written every poll,
			// as the paced ca.crt refreshes advance) and the Rotating
			// condition that reports it: no certificate reads them, and
			// each write would wake every certificate of the issuer.
			if rotation := issuer.Status.Rotation; rotation != nil {
				rotation.Unpublished, rotation.Conflicts, rotation.UnpublishedPaths = 0, 0, nil
			}
			meta.RemoveStatusCondition(&issuer.Status.Conditions, certsmithv1alpha1.ConditionRotating)
		}
		return !equality.Semantic.DeepEqual(a, b)
	}}
}

// certificatesRevokedBy maps an issuer's revocation record to the
// ServiceCertificates of the issuer whose current certificate it lists.
func (r *ServiceCertificateReconciler) certificatesRevokedBy(ctx context.Context, obj client.Object) []reconcile.Request {
	issuer := obj.GetAnnotations()[certsmithv1alpha1.AnnotationIssuerName]
	if obj.GetNamespace() != r.Namespace || obj.GetLabels()[certsmithv1alpha1.LabelRevocations] != "true" || issuer == "" {
		return nil
	}
	serials, err := r.revoked.of(ctx, r.Client, r.Namespace, issuer)
	if err != nil || len(serials) == 0 {
		return nil
	}
	var list certsmithv1alpha1.ServiceCertificateList
	if err := r.List(ctx, &list, client.MatchingFields{indexCertificateIssuer: issuer}); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		sc := &list.Items[i]
		if _, ok := serials[strings.ToLower(sc.Status.SerialNumber)]; ok {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(sc)})
		}
	}
	return out
}

// secretOwner maps a certificate Secret to its ServiceCertificate.
func secretOwner(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetAnnotations()[certsmithv1alpha1.AnnotationServiceCertificate]
	if owner := metav1.GetControllerOfNoCopy(obj); owner != nil && owner.Kind == "ServiceCertificate" {
		name = owner.Name
	}
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

// csrOwner maps a CSR to the ServiceCertificate it was made for.
func csrOwner(_ context.Context, obj client.Object) []reconcile.Request {
	if key, ok := csrOwnerKey(obj); ok {
		return []reconcile.Request{{NamespacedName: key}}
	}
	return nil
}

// csrOwnerIndex indexes a CSR by the ServiceCertificate ("namespace/name")
// its annotation names; requestsOf keeps only those certsmith made.
func csrOwnerIndex(obj client.Object) []string {
	if owner := obj.GetAnnotations()[certsmithv1alpha1.AnnotationServiceCertificate]; owner != "" {
		return []string{owner}
	}
	return nil
}

// certificatesOfIssuer maps an issuer to the certificates that use it.
func certificatesOfIssuer(reader client.Reader) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		return certificatesListed(ctx, reader, client.MatchingFields{indexCertificateIssuer: obj.GetName()})
	}
}

// certificatesOfService maps a Service to the certificates in its namespace
// that name it; any Service change matters to the namespace's IP policy only
// through the certificates that ask for IPs, which are re-checked on their own changes.
func certificatesOfService(reader client.Reader) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		return certificatesListed(ctx, reader, client.InNamespace(obj.GetNamespace()), client.MatchingFields{indexCertificateService: obj.GetName()})
	}
}

// certificatesListed returns a request for each ServiceCertificate the list options select.
func certificatesListed(ctx context.Context, reader client.Reader, opts ...client.ListOption) []reconcile.Request {
	var list certsmithv1alpha1.ServiceCertificateList
	if err := reader.List(ctx, &list, opts...); err != nil {
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for _, sc := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&sc)})
	}
	return requests
}
