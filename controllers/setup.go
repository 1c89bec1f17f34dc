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

// Package controllers holds certsmith's controllers, one per concern: the
// ClusterIssuer controller keeps each CA (deciding through internal/ca),
// the ServiceCertificate controller issues and renews certificates into
// Secrets, the CertificateSigningRequest controller approves and signs
// CSRs, the bundle controller distributes trust bundles (ConfigMaps and
// ClusterTrustBundles), the revocation controller keeps each issuer's
// revoked serials and CRLs, and the CA injector fills caBundle fields
// (with a second controller reporting its progress). They coordinate through the
// API (status, Secrets and CSRs), not through calls; docs/architecture.md
// names the one controller that writes each object.
package controllers

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// Options configure the controllers.
type Options struct {
	// Namespace is the operator's namespace, where CA Secrets live.
	Namespace string
	// ClusterDomain is the cluster's DNS domain.
	ClusterDomain string
	// Username is the operator's identity (from a SelfSubjectReview).
	Username string
	// Workers is the number of concurrent reconciles per controller.
	Workers int
	// Clock is the source of time.
	Clock clock.PassiveClock
	// CAInjection runs the CA injector, which keeps the caBundle fields of
	// objects annotated with certsmith.io/inject-ca-from. It is off by
	// default: it needs the separate ClusterRole in config/rbac-cainjector.
	CAInjection bool
	// ClusterTrustBundles says whether the API server serves them, as
	// DiscoverClusterTrustBundles found at start-up; nil: looked up from
	// the manager's RESTMapper.
	ClusterTrustBundles *bool
	// MaxRetryDelay caps the back-off of a failed reconcile, per object
	// (0: DefaultMaxRetryDelay).
	MaxRetryDelay time.Duration
}

// FirstRetryDelay is the back-off after a reconcile's first failure; it
// doubles with each failure in a row, up to the MaxRetryDelay.
const FirstRetryDelay = 5 * time.Millisecond

// DefaultMaxRetryDelay caps the back-off of a failed reconcile.
// controller-runtime's own cap is 1000 s: after an API outage long enough
// for a dozen failures in a row, an object would wait minutes for its next
// try. This cap bounds how long after the API server returns every object
// is tried again, while an outage costs at most one try per object per
// this long.
const DefaultMaxRetryDelay = 30 * time.Second

// retryLimiter is the per-object back-off of every certsmith controller:
// exponential from FirstRetryDelay, at most maxDelay (0: the default). A
// RequeueAfter that a reconcile asks for is not limited by it.
func retryLimiter[T comparable](maxDelay time.Duration) workqueue.TypedRateLimiter[T] {
	if maxDelay <= 0 {
		maxDelay = DefaultMaxRetryDelay
	}
	return workqueue.NewTypedItemExponentialFailureRateLimiter[T](FirstRetryDelay, max(maxDelay, FirstRetryDelay))
}

// clusterTrustBundles is opts.ClusterTrustBundles, or what the manager's
// RESTMapper says when it is not set.
func clusterTrustBundles(opts Options, mgr ctrl.Manager) bool {
	if opts.ClusterTrustBundles != nil {
		return *opts.ClusterTrustBundles
	}
	return ServesClusterTrustBundles(mgr.GetRESTMapper())
}

// SetupWithManager adds every certsmith controller to the manager.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	recorder := newEventRecorder(mgr.GetClient(), mgr.GetScheme(), opts.Clock, "certsmith")
	if err := mgr.Add(recorder); err != nil {
		return fmt.Errorf("adding the event recorder: %w", err)
	}
	if err := (&ClusterIssuerReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: opts.Clock, Recorder: recorder, Namespace: opts.Namespace,
		MaxRetryDelay: opts.MaxRetryDelay,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the %s controller: %w", ClusterIssuerControllerName, err)
	}
	// The ServiceCertificate controller and the CSR signer hand each
	// issuance over in memory: certificate into the Secret, then into the CSR.
	handoff := newIssuanceHandoff(newPendingKeys())
	if err := (&ServiceCertificateReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: opts.Clock, Recorder: recorder,
		Namespace: opts.Namespace, ClusterDomain: opts.ClusterDomain, Username: opts.Username, MaxConcurrentReconciles: opts.Workers,
		Handoff: handoff, MaxRetryDelay: opts.MaxRetryDelay,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the %s controller: %w", ServiceCertificateControllerName, err)
	}
	if err := (&BundleReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Namespace: opts.Namespace,
		ClusterTrustBundles: clusterTrustBundles(opts, mgr), MaxRetryDelay: opts.MaxRetryDelay,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the %s controller: %w", BundleControllerName, err)
	}
	// The CSR and pod-certificate signers share the writer of the signed-until records.
	marks := &signedMarks{}
	if err := (&CSRReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: opts.Clock, Recorder: recorder, Namespace: opts.Namespace,
		ClusterDomain: opts.ClusterDomain, Username: opts.Username, MaxConcurrentReconciles: opts.Workers, Marks: marks,
		Handoff: handoff, MaxRetryDelay: opts.MaxRetryDelay,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the %s controller: %w", CSRControllerName, err)
	}
	if err := (&PodCertificateReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: opts.Clock, Recorder: recorder, Namespace: opts.Namespace,
		ClusterDomain: opts.ClusterDomain, MaxConcurrentReconciles: opts.Workers, Marks: marks, MaxRetryDelay: opts.MaxRetryDelay,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the %s controller: %w", PodCertificateControllerName, err)
	}
	if err := (&RevocationReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: opts.Clock, Recorder: recorder, Namespace: opts.Namespace, Username: opts.Username,
		MaxRetryDelay: opts.MaxRetryDelay,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the %s controller: %w", RevocationControllerName, err)
	}
	if opts.CAInjection {
		if err := (&CAInjectorReconciler{
			Client: mgr.GetClient(), Cache: mgr.GetCache(), Recorder: recorder, Namespace: opts.Namespace,
			MaxRetryDelay: opts.MaxRetryDelay,
		}).SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the %s controller: %w", CAInjectorControllerName, err)
		}
	}
	return nil
}

// CacheOptions caches only the Secrets certsmith manages (by label) plus
// those in its own namespace (CA Secrets, including imported ones), so the
// operator's memory does not grow with unrelated Secrets.
//
// Cached objects are kept without metadata.managedFields: no controller
// reads them (the CA injector writes with server-side apply, which needs no
// cached managedFields, and an update without managedFields keeps the
// server's), and they are a large share of each cached object: stripping
// them cuts the manager's peak memory (docs/benchmarks.md).
//
// The informers wait out an API server that is down with a short capped
// back-off of their own (informer_retry.go), so that a replica converges
// within seconds of the API server's return.
func CacheOptions(namespace string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue})
	return cache.Options{DefaultTransform: cache.TransformStripManagedFields(), NewInformer: newInformer, ByObject: map[client.Object]cache.ByObject{
		// Secrets: those of the operator's namespace whole (CA Secrets), and
		// elsewhere those with certsmith's label, which anyone can set, so
		// without their data: a tenant's labelled 1 MiB Secret costs only its
		// metadata, and certsmith reads its own past the cache (currentSecret).
		&corev1.Secret{}: {Namespaces: map[string]cache.Config{
			namespace:           {},
			cache.AllNamespaces: {LabelSelector: managed},
		}, Transform: stripSecretDataOutside(namespace)},
		// Services: only what names a certificate (name and cluster IPs); a
		// tenant's annotations and labels are not kept.
		&corev1.Service{}: {Transform: cachedServiceFields},
		// CSRs: every one is cached (certsmith signs for requesters it does
		// not know in advance), so none may cost more than a bounded size.
		&certificatesv1.CertificateSigningRequest{}: {Transform: boundedCSR},
		// Bundle ConfigMaps and ClusterTrustBundles: those with certsmith's
		// label, which anyone can set, so without their content (a hash of
		// it stands in): a tenant's labelled 1 MiB ConfigMap costs only its
		// bounded metadata (bundle_cache.go).
		&corev1.ConfigMap{}:                  {Label: managed, Transform: stripConfigMapContent},
		&certificatesv1.ClusterTrustBundle{}: {Label: managed, Transform: stripClusterTrustBundleContent},
	}}
}

// stripSecretDataOutside is the cache transform of Secrets: managed fields
// go, and a Secret outside the operator's namespace is kept only as the
// bounded metadata the ServiceCertificate controller decides ownership from
// (cachedSecretMetadata); certsmith reads its own Secrets past the cache.
func stripSecretDataOutside(namespace string) toolscache.TransformFunc {
	stripManagedFields := cache.TransformStripManagedFields()
	return func(obj any) (any, error) {
		if secret, ok := obj.(*corev1.Secret); ok && secret.Namespace != namespace {
			return cachedSecretMetadata(secret), nil
		}
		return stripManagedFields(obj)
	}
}

// maxCachedValue bounds the label and annotation values kept in the cache
// (certsmith's own are shorter; a renew trigger is a timestamp).
const maxCachedValue = 1024

// cachedSecretMetadata keeps of a Secret its identity, certsmith's label,
// the owner and revision annotations certsmith writes (if of a sane size)
// and its controller reference: at most a few hundred bytes, whatever a
// tenant put into it. It is idempotent, as client-go may apply it twice.
func cachedSecretMetadata(s *corev1.Secret) *corev1.Secret {
	out := &corev1.Secret{TypeMeta: s.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: s.Name, Namespace: s.Namespace, UID: s.UID, ResourceVersion: s.ResourceVersion,
		CreationTimestamp: s.CreationTimestamp, DeletionTimestamp: s.DeletionTimestamp,
	}}
	out.Labels = managedByLabel(s.Labels)
	out.Annotations = keepKeys(s.Annotations, certsmithv1alpha1.AnnotationServiceCertificate, certsmithv1alpha1.AnnotationRevision)
	if owner := metav1.GetControllerOfNoCopy(s); owner != nil {
		out.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return out
}

// boundedCSR bounds what the cache keeps of a CSR: spec.request beyond
// MaxCSRBytes (which certsmith refuses unread) is cut to one byte more than
// that, labels and annotations other than certsmith's own, and spec.extra,
// which certsmith does not read, are dropped, and so are the request and
// the requester's groups and UID once the CSR is finished. It is
// idempotent.
func boundedCSR(obj any) (any, error) {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return obj, nil
	}
	csr.ManagedFields = nil
	if len(csr.Spec.Request) > MaxCSRBytes+1 {
		// A copy: a slice of the request would keep all of it in memory.
		csr.Spec.Request = append([]byte(nil), csr.Spec.Request[:MaxCSRBytes+1]...)
	}
	csr.Spec.Extra = nil
	if csrFinished(csr) {
		// Signed, denied or failed: nothing reads what was asked or who
		// asked it (only the signer does, before it answers) — ~600 of
		// the ~3,000 bytes each cached CSR costs (docs/benchmarks.md).
		csr.Spec.Request, csr.Spec.Groups, csr.Spec.UID = nil, nil, ""
	}
	csr.Labels = managedByLabel(csr.Labels)
	csr.Annotations = keepKeys(csr.Annotations, certsmithv1alpha1.AnnotationServiceCertificate,
		certsmithv1alpha1.AnnotationCertificateHash, certsmithv1alpha1.AnnotationRenewRequestedAt)
	return csr, nil
}

// cachedManagedBy is the labels of every cached Secret and CSR that
// certsmith manages, shared: a map costs ~300 bytes, and each such object
// would hold its own identical one. Cached objects are never written to
// (reads copy them, and the few that do not only read), so sharing is safe;
// TestCachedLabelsAreShared checks that a copy is the caller's own.
var cachedManagedBy = map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue}

// managedByLabel keeps of labels certsmith's own label only.
func managedByLabel(labels map[string]string) map[string]string {
	if v, ok := labels[certsmithv1alpha1.LabelManagedBy]; ok && v == certsmithv1alpha1.ManagedByValue {
		return cachedManagedBy
	}
	return keepKeys(labels, certsmithv1alpha1.LabelManagedBy)
}

// keepKeys returns the entries of m with the given keys and values of at
// most maxCachedValue bytes, or nil.
func keepKeys(m map[string]string, keys ...string) map[string]string {
	var out map[string]string
	for _, key := range keys {
		if v, ok := m[key]; ok && len(v) <= maxCachedValue {
			if out == nil {
				out = map[string]string{}
			}
			out[key] = v
		}
	}
	return out
}

// cachedServiceFields keeps of a Service its identity and cluster IPs.
func cachedServiceFields(obj any) (any, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	return &corev1.Service{TypeMeta: svc.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: svc.Name, Namespace: svc.Namespace, UID: svc.UID, ResourceVersion: svc.ResourceVersion,
		CreationTimestamp: svc.CreationTimestamp, DeletionTimestamp: svc.DeletionTimestamp,
	}, Spec: corev1.ServiceSpec{ClusterIP: svc.Spec.ClusterIP, ClusterIPs: svc.Spec.ClusterIPs}}, nil
}

// WhoAmI asks the API server who the operator is (a SelfSubjectReview).
// CSRs whose spec.username equals this identity are certsmith's own.
func WhoAmI(ctx context.Context, config *rest.Config) (string, error) {
	c, err := client.New(config, client.Options{})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "", fmt.Errorf("asking the API server for the operator's identity (SelfSubjectReview): %w", err)
	}
	return review.Status.UserInfo.Username, nil
}
