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
	"strings"
	"sync"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// BundleControllerName names the controller that distributes trust bundles.
const BundleControllerName = "bundle"

// defaultBundleKey is the ConfigMap key of a bundle.
const defaultBundleKey = "ca.crt"

// BundleReconciler distributes each ClusterIssuer's trust bundle: a
// ConfigMap in every selected namespace and a ClusterTrustBundle linked to
// the signerName. It repairs edits, follows new and relabelled namespaces,
// removes what is no longer wanted, and reports coverage in status.bundle.
type BundleReconciler struct {
	client.Client
	// APIReader reads ConfigMaps that lost certsmith's label (not cached).
	APIReader client.Reader
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Namespace is the operator's namespace, where CA Secrets live.
	Namespace string
	// ClusterTrustBundles says whether the API server serves certificates.k8s.io/v1 ClusterTrustBundles.
	ClusterTrustBundles bool

	warnOnce sync.Once
}

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=clustertrustbundles,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=signers,resourceNames=clusterissuers.certsmith.io/*,verbs=attest

// Reconcile distributes one issuer's bundle.
func (r *BundleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := r.Get(ctx, req.NamespacedName, issuer); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.removeAll(ctx, req.Name, "", nil)
		}
		return ctrl.Result{}, err
	}
	if issuer.Spec.Bundle == nil {
		return ctrl.Result{}, r.removeAll(ctx, issuer.Name, "", nil)
	}
	bundle, err := issuerBundle(ctx, r.Client, r.Namespace, issuer)
	if err != nil {
		// Nothing to distribute yet; the issuer's own status says why.
		return ctrl.Result{}, nil
	}
	// A namespace that fails (a quota, an admission policy) does not stop
	// the others; the coverage is written either way and the error retried.
	status, distributeErr := r.distribute(ctx, issuer, bundle)
	if status == nil || equality.Semantic.DeepEqual(issuer.Status.Bundle, status) {
		return ctrl.Result{}, distributeErr
	}
	patch := client.MergeFrom(issuer.DeepCopy())
	issuer.Status.Bundle = status
	if err := r.Status().Patch(ctx, issuer, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("patching bundle status of ClusterIssuer %s: %w", issuer.Name, err)
	}
	return ctrl.Result{}, distributeErr
}

// bundleTarget returns the ConfigMap name and key of an issuer's bundle.
func bundleTarget(issuer *certsmithv1alpha1.ClusterIssuer) (string, string) {
	name, key := issuer.Name+"-ca", defaultBundleKey
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

// distribute writes the bundle everywhere it belongs and returns the coverage.
func (r *BundleReconciler) distribute(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, bundle []byte) (*certsmithv1alpha1.BundleStatus, error) {
	name, key := bundleTarget(issuer)
	selector := labels.Everything()
	if s := issuer.Spec.Bundle.NamespaceSelector; s != nil {
		parsed, err := metav1.LabelSelectorAsSelector(s)
		if err != nil {
			return nil, fmt.Errorf("bundle.namespaceSelector of ClusterIssuer %s: %w", issuer.Name, err)
		}
		selector = parsed
	}
	var namespaces corev1.NamespaceList
	if err := r.List(ctx, &namespaces, client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, err
	}
	status := &certsmithv1alpha1.BundleStatus{FingerprintsSHA256: fingerprints(bundle)}
	wanted := map[string]bool{}
	var errs []error
	for i := range namespaces.Items {
		ns := &namespaces.Items[i]
		if ns.DeletionTimestamp != nil {
			continue
		}
		wanted[ns.Name] = true
		status.Namespaces++
		switch upToDate, err := r.ensureConfigMap(ctx, issuer, ns.Name, name, key, bundle); {
		case err != nil:
			errs = append(errs, err)
		case upToDate:
			status.UpToDate++
		default:
			status.Conflicts++
		}
	}
	if err := r.removeAll(ctx, issuer.Name, name, wanted); err != nil {
		errs = append(errs, err)
	}
	ctbName, err := r.ensureClusterTrustBundle(ctx, issuer, bundle)
	if err != nil {
		errs = append(errs, err)
	}
	status.ClusterTrustBundle = ctbName
	return status, errors.Join(errs...)
}

// ensureConfigMap makes one namespace's ConfigMap hold exactly the bundle
// and reports whether it does. A ConfigMap of the same name that is not this
// issuer's bundle (a user's, or another issuer's) is never overwritten.
func (r *BundleReconciler) ensureConfigMap(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, namespace, name, key string, bundle []byte) (bool, error) {
	want := map[string]string{key: string(bundle)}
	objectKey := types.NamespacedName{Namespace: namespace, Name: name}
	current := &corev1.ConfigMap{}
	err := r.Get(ctx, objectKey, current)
	if apierrors.IsNotFound(err) {
		// Not cached: absent, or present without certsmith's label.
		err = r.APIReader.Get(ctx, objectKey, current)
		if apierrors.IsNotFound(err) {
			cm := &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: bundleLabels(issuer.Name)},
				Data:       want,
			}
			if err := r.Create(ctx, cm); err != nil {
				return false, fmt.Errorf("creating ConfigMap %s: %w", objectKey, err)
			}
			return true, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("reading ConfigMap %s: %w", objectKey, err)
	}
	if current.Labels[certsmithv1alpha1.LabelBundleIssuer] != issuer.Name {
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, "BundleConflict", "Distribute",
			"ConfigMap %s exists and is not this issuer's bundle; certsmith leaves it alone, so the bundle does not reach namespace %s "+
				"(and a CA rotation waits for it): rename or delete it, or set spec.bundle.configMap.name", objectKey, namespace)
		return false, nil
	}
	if equality.Semantic.DeepEqual(current.Data, want) && len(current.BinaryData) == 0 && hasLabels(current.Labels, bundleLabels(issuer.Name)) {
		return true, nil
	}
	updated := current.DeepCopy()
	updated.Data, updated.BinaryData = want, nil
	for k, v := range bundleLabels(issuer.Name) {
		updated.Labels[k] = v
	}
	if err := r.Update(ctx, updated); err != nil {
		return false, fmt.Errorf("updating ConfigMap %s: %w", objectKey, err)
	}
	return true, nil
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

// removeAll deletes an issuer's bundle ConfigMaps outside keep (all when
// keep is nil or the name differs), and its ClusterTrustBundle when keep is nil.
func (r *BundleReconciler) removeAll(ctx context.Context, issuerName, name string, keep map[string]bool) error {
	var list corev1.ConfigMapList
	if err := r.List(ctx, &list, client.MatchingLabels{certsmithv1alpha1.LabelBundleIssuer: issuerName}); err != nil {
		return err
	}
	for i := range list.Items {
		cm := &list.Items[i]
		if keep != nil && keep[cm.Namespace] && cm.Name == name {
			continue
		}
		if err := r.Delete(ctx, cm, client.Preconditions{UID: &cm.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
	}
	if keep == nil && r.ClusterTrustBundles {
		var ctbs certificatesv1.ClusterTrustBundleList
		if err := r.List(ctx, &ctbs, client.MatchingLabels{certsmithv1alpha1.LabelBundleIssuer: issuerName}); err != nil {
			return err
		}
		for i := range ctbs.Items {
			if err := r.Delete(ctx, &ctbs.Items[i]); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting ClusterTrustBundle %s: %w", ctbs.Items[i].Name, err)
			}
		}
	}
	return nil
}

// ensureClusterTrustBundle publishes the signer-linked ClusterTrustBundle,
// or removes it when the issuer does not want one.
func (r *BundleReconciler) ensureClusterTrustBundle(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, bundle []byte) (string, error) {
	wanted := issuer.Spec.Bundle.ClusterTrustBundle == nil || *issuer.Spec.Bundle.ClusterTrustBundle
	if !r.ClusterTrustBundles {
		if wanted {
			r.warnOnce.Do(func() {
				logf.FromContext(ctx).Info("the API server does not serve certificates.k8s.io/v1 ClusterTrustBundles; trust bundles are distributed as ConfigMaps only")
			})
		}
		return "", nil
	}
	signerName := issuer.EffectiveSignerName()
	name := clusterTrustBundleName(signerName)
	var list certificatesv1.ClusterTrustBundleList
	if err := r.List(ctx, &list, client.MatchingLabels{certsmithv1alpha1.LabelBundleIssuer: issuer.Name}); err != nil {
		return "", err
	}
	for i := range list.Items {
		if !wanted || list.Items[i].Name != name {
			if err := r.Delete(ctx, &list.Items[i]); client.IgnoreNotFound(err) != nil {
				return "", err
			}
		}
	}
	if !wanted {
		return "", nil
	}
	current := &certificatesv1.ClusterTrustBundle{}
	err := r.Get(ctx, types.NamespacedName{Name: name}, current)
	switch {
	case apierrors.IsNotFound(err):
		ctb := &certificatesv1.ClusterTrustBundle{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: bundleLabels(issuer.Name)},
			Spec:       certificatesv1.ClusterTrustBundleSpec{SignerName: signerName, TrustBundle: string(bundle)},
		}
		if err := r.Create(ctx, ctb); err != nil {
			if apierrors.IsForbidden(err) {
				r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, "ClusterTrustBundleForbidden", "Distribute",
					"cannot publish ClusterTrustBundle %s: grant certsmith the attest verb on signers/%s (%v)", name, signerName, err)
				return "", nil
			}
			return "", fmt.Errorf("creating ClusterTrustBundle %s: %w", name, err)
		}
	case err != nil:
		return "", err
	case current.Spec.TrustBundle != string(bundle) || !hasLabels(current.Labels, bundleLabels(issuer.Name)):
		updated := current.DeepCopy()
		updated.Spec.TrustBundle = string(bundle)
		if updated.Labels == nil {
			updated.Labels = map[string]string{}
		}
		for k, v := range bundleLabels(issuer.Name) {
			updated.Labels[k] = v
		}
		if err := r.Update(ctx, updated); err != nil {
			return "", fmt.Errorf("updating ClusterTrustBundle %s: %w", name, err)
		}
	}
	return name, nil
}

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
	if bundle := secret.Data[caCertKey]; len(bundle) > 0 {
		if _, err := pki.ParseCertificatesPEM(bundle); err == nil {
			return normalizeBundle(bundle), nil
		}
	}
	ca, err := parseCASecret(secret)
	if err != nil {
		return nil, err
	}
	return pki.EncodeCertificatesPEM(trustAnchors(ca)...), nil
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
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.issuersOfCASecret))
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

// issuersOfCASecret maps a CA Secret to its issuers (a new bundle to distribute).
func (r *BundleReconciler) issuersOfCASecret(ctx context.Context, obj client.Object) []reconcile.Request {
	if obj.GetNamespace() != r.Namespace {
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

// ServesClusterTrustBundles reports whether the API server serves certificates.k8s.io/v1 ClusterTrustBundles.
func ServesClusterTrustBundles(mapper meta.RESTMapper) bool {
	_, err := mapper.RESTMapping(certificatesv1.SchemeGroupVersion.WithKind("ClusterTrustBundle").GroupKind(), "v1")
	return err == nil
}
