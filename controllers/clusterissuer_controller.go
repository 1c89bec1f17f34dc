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
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/ca"
	"github.com/certsmith/certsmith/internal/pki"
)

// ClusterIssuerControllerName names the controller that keeps each
// ClusterIssuer's CA.
const ClusterIssuerControllerName = "clusterissuer"

// Default lifetimes of generated CAs.
const (
	defaultRootCADuration         = 10 * 365 * 24 * time.Hour
	defaultIntermediateCADuration = 5 * 365 * 24 * time.Hour
	// maxIssuerDepth bounds how far spec.ca.issuerRef chains are followed.
	maxIssuerDepth = 16
)

// Field index names.
const (
	indexIssuerSignerName = "certsmith.signerName"
	indexIssuerParent     = "certsmith.parentIssuer"
)

// ClusterIssuerReconciler keeps each ClusterIssuer's CA: it generates
// self-signed roots and intermediates into Secrets in the operator's
// namespace, checks imported CAs, and reports the CA in status.
type ClusterIssuerReconciler struct {
	// MaxRetryDelay caps the back-off of a failed reconcile (0: DefaultMaxRetryDelay).
	MaxRetryDelay time.Duration
	client.Client
	// Clock is the source of time; a fake one in tests.
	Clock clock.PassiveClock
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Namespace is the operator's namespace, where CA Secrets live.
	Namespace string
	// APIReader reads past the cache: the signer's marks are read from the
	// API server itself before a CA leaves the trust bundle.
	APIReader client.Reader
}

// +kubebuilder:rbac:groups=certsmith.io,resources=clusterissuers,verbs=get;list;watch
// +kubebuilder:rbac:groups=certsmith.io,resources=clusterissuers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one ClusterIssuer's CA and status up to date.
func (r *ClusterIssuerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := r.Get(ctx, req.NamespacedName, issuer); err != nil {
		if apierrors.IsNotFound(err) {
			forgetIssuerMetrics(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	original := issuer.DeepCopy()
	issuer.Status.SignerName = issuer.EffectiveSignerName()
	issuer.Status.ObservedGeneration = issuer.Generation

	result, err := r.reconcileCA(ctx, issuer)
	if patchErr := r.patchStatus(ctx, original, issuer); patchErr != nil {
		return ctrl.Result{}, errors.Join(err, patchErr)
	}
	recordIssuerMetrics(issuer)
	return result, err
}

// reconcileCA runs the phases of an issuer and sets its Ready condition.
func (r *ClusterIssuerReconciler) reconcileCA(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer) (ctrl.Result, error) {
	if reason, message := r.signerNameConflict(ctx, issuer); reason != "" {
		return ctrl.Result{}, r.notReady(issuer, reason, message)
	}
	var (
		active  *pki.CA
		requeue time.Duration
		err     error
	)
	switch {
	case issuer.Spec.CA.SelfSigned != nil:
		active, requeue, err = r.reconcileKeptCA(ctx, issuer, caSource{kind: ca.KindRoot, params: issuer.Spec.CA.SelfSigned})
	case issuer.Spec.CA.IssuerRef != nil:
		var parent *ca.Parent
		if parent, err = r.parentCA(ctx, issuer); err == nil {
			active, requeue, err = r.reconcileKeptCA(ctx, issuer, caSource{kind: ca.KindIntermediate, params: &issuer.Spec.CA.IssuerRef.GeneratedCA, parent: parent})
		}
	case issuer.Spec.CA.SecretRef != nil:
		var imported *pki.CA
		if imported, err = r.importedCA(ctx, issuer); err == nil {
			active, requeue, err = r.reconcileKeptCA(ctx, issuer, caSource{kind: ca.KindImported, imported: imported})
		}
	default:
		err = terminal(certsmithv1alpha1.ReasonCASecretInvalid, "spec.ca sets no CA source")
	}
	if err != nil {
		var te *terminalError
		if errors.As(err, &te) {
			return ctrl.Result{}, r.notReady(issuer, te.reason, te.message)
		}
		return ctrl.Result{}, err
	}

	now := r.Clock.Now()
	issuer.Status.CA = caStatus(active.Certificate, issuer)
	if now.After(active.Certificate.NotAfter) || now.Before(active.Certificate.NotBefore) {
		// Keep the requeue: a generated CA past its time is rotating.
		return ctrl.Result{RequeueAfter: requeue}, r.notReady(issuer, certsmithv1alpha1.ReasonCAExpired, fmt.Sprintf(
			"the CA certificate is valid from %s to %s; replace it (or delete the CA Secret of a generated CA to make a new one)",
			active.Certificate.NotBefore.UTC().Format(time.RFC3339), active.Certificate.NotAfter.UTC().Format(time.RFC3339)))
	}
	reason, message := certsmithv1alpha1.ReasonCAReady, fmt.Sprintf("signing %s with CA %q", issuer.Status.SignerName, active.Certificate.Subject)
	if inactive := autoApprovalInactive(issuer); inactive != "" {
		// Ready (it signs), but not silently broken: say why nothing is approved.
		reason, message = certsmithv1alpha1.ReasonAutoApprovalInactive, message+"; "+inactive
	}
	setCondition(&issuer.Status.Conditions, issuer.Generation, certsmithv1alpha1.ConditionReady, metav1.ConditionTrue, reason, message)
	// Come back for the next rotation step, or when the CA expires, so Ready turns False on time.
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// signerNameConflict reports when an older issuer already serves the same signerName.
func (r *ClusterIssuerReconciler) signerNameConflict(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer) (string, string) {
	var issuers certsmithv1alpha1.ClusterIssuerList
	if err := r.List(ctx, &issuers, client.MatchingFields{indexIssuerSignerName: issuer.EffectiveSignerName()}); err != nil {
		return "", ""
	}
	for i := range issuers.Items {
		other := &issuers.Items[i]
		if other.Name != issuer.Name && olderThan(other, issuer) {
			return certsmithv1alpha1.ReasonSignerNameConflict, fmt.Sprintf(
				"ClusterIssuer %s already signs for %s; choose another spec.signerName", other.Name, issuer.EffectiveSignerName())
		}
	}
	return "", ""
}

func olderThan(a, b *certsmithv1alpha1.ClusterIssuer) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// parentCA returns the CA of the issuer's parent, or a terminal error that
// says why the parent cannot sign.
func (r *ClusterIssuerReconciler) parentCA(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer) (*ca.Parent, error) {
	// Walk up the chain first, so a loop is reported instead of waited on.
	seen := map[string]bool{issuer.Name: true}
	for current := issuer; current.Spec.CA.IssuerRef != nil; {
		parentName := current.Spec.CA.IssuerRef.Name
		if seen[parentName] || len(seen) > maxIssuerDepth {
			return nil, terminal(certsmithv1alpha1.ReasonIssuerCycle, fmt.Sprintf(
				"spec.ca.issuerRef of ClusterIssuer %s leads back to %s (or deeper than %d levels)", current.Name, parentName, maxIssuerDepth))
		}
		seen[parentName] = true
		next := &certsmithv1alpha1.ClusterIssuer{}
		if err := r.Get(ctx, types.NamespacedName{Name: parentName}, next); err != nil {
			if apierrors.IsNotFound(err) {
				if current == issuer {
					return nil, terminal(certsmithv1alpha1.ReasonParentNotFound, fmt.Sprintf("parent ClusterIssuer %s does not exist", parentName))
				}
				break
			}
			return nil, err
		}
		current = next
	}

	parent := &certsmithv1alpha1.ClusterIssuer{}
	if err := r.Get(ctx, types.NamespacedName{Name: issuer.Spec.CA.IssuerRef.Name}, parent); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, terminal(certsmithv1alpha1.ReasonParentNotFound, fmt.Sprintf("parent ClusterIssuer %s does not exist", issuer.Spec.CA.IssuerRef.Name))
		}
		return nil, err
	}
	parentCA, err := loadIssuerCA(ctx, r.Client, r.Namespace, parent)
	if err != nil {
		if errors.Is(err, errCANotReady) {
			return nil, terminal(certsmithv1alpha1.ReasonParentNotReady, fmt.Sprintf("waiting for parent ClusterIssuer %s to be Ready", parent.Name))
		}
		if apierrors.IsNotFound(err) {
			return nil, terminal(certsmithv1alpha1.ReasonParentNotReady, fmt.Sprintf("the CA Secret of parent ClusterIssuer %s is missing", parent.Name))
		}
		return nil, err
	}
	bundle, err := issuerBundle(ctx, r.Client, r.Namespace, parent)
	if err != nil {
		return nil, err
	}
	anchors, err := pki.ParseCertificatesPEM(bundle)
	if err != nil {
		return nil, terminal(certsmithv1alpha1.ReasonParentNotReady, fmt.Sprintf("the trust bundle of parent ClusterIssuer %s is unreadable: %v", parent.Name, err))
	}
	return &ca.Parent{CA: parentCA, Bundle: anchors}, nil
}

// importedCA loads and checks the CA named by spec.ca.secretRef.
func (r *ClusterIssuerReconciler) importedCA(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer) (*pki.CA, error) {
	key := importedSecretKey(issuer, r.Namespace)
	secret := &corev1.Secret{}
	if err := r.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, terminal(certsmithv1alpha1.ReasonCASecretNotFound, fmt.Sprintf(
				"Secret %s does not exist; create it with tls.crt (the CA certificate and its chain) and tls.key", key))
		}
		return nil, fmt.Errorf("reading CA Secret %s: %w", key, err)
	}
	ca, err := parseCASecret(secret)
	if err != nil {
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonCASecretInvalid, "LoadCA",
			"CA Secret %s is unusable: %v", key, err)
		return nil, terminal(certsmithv1alpha1.ReasonCASecretInvalid, err.Error())
	}
	return ca, nil
}

// notReady sets Ready=False; the error is nil because the user must act,
// and the watches bring the issuer back when something changes.
func (r *ClusterIssuerReconciler) notReady(issuer *certsmithv1alpha1.ClusterIssuer, reason, message string) error {
	setCondition(&issuer.Status.Conditions, issuer.Generation, certsmithv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	return nil
}

// caStatus describes a CA certificate for status.
func caStatus(cert *x509.Certificate, issuer *certsmithv1alpha1.ClusterIssuer) *certsmithv1alpha1.CAStatus {
	status := &certsmithv1alpha1.CAStatus{
		Subject:           cert.Subject.String(),
		SerialNumber:      fmt.Sprintf("%x", cert.SerialNumber),
		NotBefore:         &metav1.Time{Time: cert.NotBefore},
		NotAfter:          &metav1.Time{Time: cert.NotAfter},
		FingerprintSHA256: pki.FingerprintSHA256(cert),
	}
	if generatedCAParams(issuer) != nil {
		status.RenewalTime = &metav1.Time{Time: caRenewalTime(issuer, cert).Truncate(time.Second)}
	}
	return status
}

// generatedCAParams returns the parameters of a CA that certsmith generates, or nil for an imported one.
func generatedCAParams(issuer *certsmithv1alpha1.ClusterIssuer) *certsmithv1alpha1.GeneratedCA {
	switch {
	case issuer.Spec.CA.SelfSigned != nil:
		return issuer.Spec.CA.SelfSigned
	case issuer.Spec.CA.IssuerRef != nil:
		return &issuer.Spec.CA.IssuerRef.GeneratedCA
	}
	return nil
}

// patchStatus writes status once, and only when it changed.
func (r *ClusterIssuerReconciler) patchStatus(ctx context.Context, original, issuer *certsmithv1alpha1.ClusterIssuer) error {
	if equality.Semantic.DeepEqual(original.Status, issuer.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, issuer, client.MergeFrom(original)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching status of ClusterIssuer %s: %w", issuer.Name, err)
	}
	return nil
}

// SetupWithManager registers the controller and its indexes.
func (r *ClusterIssuerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(context.Background(), &certsmithv1alpha1.ClusterIssuer{}, indexIssuerSignerName,
		func(obj client.Object) []string {
			return []string{obj.(*certsmithv1alpha1.ClusterIssuer).EffectiveSignerName()}
		}); err != nil {
		return err
	}
	if err := indexer.IndexField(context.Background(), &certsmithv1alpha1.ClusterIssuer{}, indexIssuerParent,
		func(obj client.Object) []string {
			if ref := obj.(*certsmithv1alpha1.ClusterIssuer).Spec.CA.IssuerRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(ClusterIssuerControllerName).
		For(&certsmithv1alpha1.ClusterIssuer{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// A parent's status change (Ready, a new CA) reaches its intermediates.
		Watches(&certsmithv1alpha1.ClusterIssuer{}, handler.EnqueueRequestsFromMapFunc(r.childrenOf)).
		// CA Secrets: the generated ones and imported ones in the operator's namespace.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.issuersOfSecret)).
		WithOptions(controller.Options{RateLimiter: retryLimiter[reconcile.Request](r.MaxRetryDelay)}).
		Complete(r)
}

// childrenOf maps an issuer to the issuers that name it as parent, and to
// issuers that share its signerName (so a conflict clears when one goes).
func (r *ClusterIssuerReconciler) childrenOf(ctx context.Context, obj client.Object) []reconcile.Request {
	issuer := obj.(*certsmithv1alpha1.ClusterIssuer)
	var requests []reconcile.Request
	for _, index := range []struct{ field, value string }{
		{indexIssuerParent, issuer.Name},
		{indexIssuerSignerName, issuer.EffectiveSignerName()},
	} {
		var list certsmithv1alpha1.ClusterIssuerList
		if err := r.List(ctx, &list, client.MatchingFields{index.field: index.value}); err != nil {
			continue
		}
		for _, child := range list.Items {
			if child.Name != issuer.Name {
				requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Name: child.Name}})
			}
		}
	}
	return requests
}

// issuersOfSecret maps a Secret in the operator's namespace to the issuers whose CA it holds.
func (r *ClusterIssuerReconciler) issuersOfSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	if obj.GetNamespace() != r.Namespace {
		return nil
	}
	var requests []reconcile.Request
	for _, label := range []string{certsmithv1alpha1.LabelClusterIssuer, certsmithv1alpha1.LabelSignedUntil} {
		if name := obj.GetLabels()[label]; name != "" {
			requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
		}
	}
	var list certsmithv1alpha1.ClusterIssuerList
	if err := r.List(ctx, &list); err == nil {
		for _, issuer := range list.Items {
			if ref := issuer.Spec.CA.SecretRef; ref != nil && ref.Name == obj.GetName() {
				requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Name: issuer.Name}})
			}
		}
	}
	return requests
}
