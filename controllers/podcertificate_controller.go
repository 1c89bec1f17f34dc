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
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/policy"
)

// PodCertificateControllerName names the controller that signs
// PodCertificateRequests of the issuers that set spec.podCertificates.
const PodCertificateControllerName = "podcertificaterequest"

// issuerNotReadyRecheck is how soon a request waiting for its issuer is
// looked at again. The issuer becoming Ready wakes it at once (syncSigner);
// this only backs that up.
const issuerNotReadyRecheck = 2 * time.Minute

// PodCertificateReconciler signs PodCertificateRequests: for each issuer
// with spec.podCertificates it watches the requests of the issuer's
// signerName, checks each against what the API server holds for the pod,
// its ServiceAccount and its node, and against the issuer's policy, and
// writes its status once: Issued with the certificate, or Denied or Failed
// with a reason. Trouble that passes (an issuer that is not Ready, a read
// that fails) is retried without a write: the API allows none but the
// final one.
type PodCertificateReconciler struct {
	// MaxRetryDelay caps the back-off of a failed reconcile (0: DefaultMaxRetryDelay).
	MaxRetryDelay time.Duration
	client.Client
	// APIReader reads the pod, ServiceAccount and node a request names from
	// the API server: certsmith caches none of them.
	APIReader client.Reader
	// Clock is the source of time. The API server accepts a certificate
	// only if its notBefore is within 5 minutes of its own clock.
	Clock clock.PassiveClock
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Namespace is the operator's namespace, where CA Secrets live.
	Namespace string
	// ClusterDomain is the cluster's DNS domain, the default trust domain.
	ClusterDomain string
	// MaxConcurrentReconciles is the number of workers.
	MaxConcurrentReconciles int
	// Marks records what each CA signed; shared with the CSR signer, so
	// that one writer keeps an issuer's signed-until record.
	Marks *signedMarks

	signers  *signerWatches
	recent   *uidMemory
	refusals *refusalDigest
	// warned remembers, by issuer UID and reason, the Warnings about an
	// issuer emitted within the hour.
	warned *uidMemory
}

// +kubebuilder:rbac:groups=certificates.k8s.io,resources=podcertificaterequests,verbs=get;list;watch
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=podcertificaterequests/status,verbs=update
// +kubebuilder:rbac:groups="",resources=pods;serviceaccounts;nodes,verbs=get

// Reconcile handles one work item: a signer (start or stop its watch, wake
// its open requests) or one of its requests.
func (r *PodCertificateReconciler) Reconcile(ctx context.Context, key podCertificateKey) (reconcile.Result, error) {
	if key.Name == "" {
		return reconcile.Result{}, r.syncSigner(ctx, key.Signer)
	}
	signerCache := r.signers.get(key.Signer)
	if signerCache == nil {
		return reconcile.Result{}, nil // its issuer opted out or went
	}
	pcr := &certificatesv1.PodCertificateRequest{}
	if err := signerCache.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: key.Name}, pcr); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if pcrFinished(pcr) || r.recent.has(pcr.UID) {
		return reconcile.Result{}, nil
	}
	issuer, err := r.issuerFor(ctx, key.Signer)
	if err != nil || issuer == nil {
		return reconcile.Result{}, err
	}
	ctx = logf.IntoContext(ctx, logf.FromContext(ctx).WithValues("podCertificateRequest", key.Namespace+"/"+key.Name, "clusterIssuer", issuer.Name))
	if problem := podCertificateConfigProblem(issuer, r.ClusterDomain); problem != "" {
		// The issuer's fault, not the pod's: a denial would be final for
		// every pod. Nothing is written until the issuer is fixed.
		r.warnIssuer(issuer, certsmithv1alpha1.ReasonPodCertificatePolicyInvalid,
			"No pod certificate is issued: %s; fix the ClusterIssuer, the waiting requests are then issued", problem)
		return reconcile.Result{RequeueAfter: terminalRecheck}, nil
	}
	// The cheap, cached look at the issuer comes before the reads of what
	// the request names.
	ca, err := loadIssuerCA(ctx, r.Client, r.Namespace, issuer)
	if err != nil {
		// Not Ready, or its CA Secret not there yet: it will be. The kubelet
		// replaces a request left unanswered for about ten minutes.
		logf.FromContext(ctx).V(1).Info("waiting for the issuer", "reason", err.Error())
		return reconcile.Result{RequeueAfter: issuerNotReadyRecheck}, nil
	}
	checked, refusal, err := r.check(ctx, pcr, issuer)
	if err != nil {
		return reconcile.Result{}, err
	}
	if refusal != nil {
		return r.permissionIsTerminal(issuer, pcr, r.refuse(ctx, pcr, issuer, refusal))
	}
	return r.permissionIsTerminal(issuer, pcr, r.issue(ctx, pcr, issuer, ca, checked))
}

// syncSigner runs the watch of a signer while an issuer of that signerName
// opts in, and wakes its open requests (the issuer may have become Ready
// or changed its policy).
func (r *PodCertificateReconciler) syncSigner(ctx context.Context, signerName string) error {
	issuer, err := r.issuerFor(ctx, signerName)
	if err != nil {
		return err
	}
	if issuer == nil {
		r.signers.stop(signerName)
		return nil
	}
	started, err := r.signers.ensure(signerName)
	if err != nil || started {
		// A new watch delivers every request it finds, open ones included.
		return err
	}
	signerCache := r.signers.get(signerName)
	if signerCache == nil {
		return nil // not synced yet: its handler then delivers every request
	}
	var list certificatesv1.PodCertificateRequestList
	if err := signerCache.List(ctx, &list); err != nil {
		return fmt.Errorf("listing the PodCertificateRequests of signer %s: %w", signerName, err)
	}
	for i := range list.Items {
		if pcr := &list.Items[i]; !pcrFinished(pcr) {
			r.signers.queue.Add(podCertificateKey{Signer: signerName, Namespace: pcr.Namespace, Name: pcr.Name})
		}
	}
	return nil
}

// issuerFor returns the issuer that signs pod certificates for a
// signerName: the oldest of that signerName, if it sets podCertificates
// and is not being deleted.
func (r *PodCertificateReconciler) issuerFor(ctx context.Context, signerName string) (*certsmithv1alpha1.ClusterIssuer, error) {
	issuer, err := issuerForSigner(ctx, r.Client, signerName)
	if err != nil || issuer == nil || issuer.Spec.PodCertificates == nil || !issuer.DeletionTimestamp.IsZero() {
		return nil, err
	}
	return issuer, nil
}

// checkedPodRequest is a request that may be issued: its key and the names
// its certificate carries.
type checkedPodRequest struct {
	csr   *x509.CertificateRequest
	names podCertificateNames
}

// check decides whether a request may be issued: what to issue, a refusal
// to write, or a transient error. The cheap checks of the request alone
// come first; the reads of what it names follow.
func (r *PodCertificateReconciler) check(ctx context.Context, pcr *certificatesv1.PodCertificateRequest, issuer *certsmithv1alpha1.ClusterIssuer) (*checkedPodRequest, *podCertificateRefusal, error) {
	podPolicy := issuer.Spec.PodCertificates
	if refusal := checkUserAnnotations(pcr); refusal != nil {
		return nil, refusal, nil
	}
	csr, refusal := parseStubRequest(pcr)
	if refusal != nil {
		return nil, refusal, nil
	}
	if refusal := checkKeyType(csr, podPolicy); refusal != nil {
		return nil, refusal, nil
	}
	facts, err := r.readFacts(ctx, pcr)
	if err != nil {
		return nil, nil, err
	}
	if refusal := checkPodFacts(pcr, facts); refusal != nil {
		return nil, refusal, nil
	}
	if refusal, err := r.checkServed(ctx, pcr, issuer, facts); refusal != nil || err != nil {
		return nil, refusal, err
	}
	names, refusal, err := r.checkNames(ctx, pcr, issuer)
	if refusal != nil || err != nil {
		return nil, refusal, err
	}
	return &checkedPodRequest{csr: csr, names: names}, nil, nil
}

// readFacts reads, past any cache (a quorum read, so a pod deleted and made
// again under the same name is seen), the pod, ServiceAccount and node a
// request names. Objects that do not exist are nil.
func (r *PodCertificateReconciler) readFacts(ctx context.Context, pcr *certificatesv1.PodCertificateRequest) (podFacts, error) {
	var facts podFacts
	pod := &corev1.Pod{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: pcr.Namespace, Name: pcr.Spec.PodName}, pod); err == nil {
		facts.pod = pod
	} else if !apierrors.IsNotFound(err) {
		return facts, fmt.Errorf("reading pod %s/%s: %w", pcr.Namespace, pcr.Spec.PodName, err)
	}
	sa, err := r.readMetadata(ctx, corev1.SchemeGroupVersion.WithKind("ServiceAccount"), types.NamespacedName{Namespace: pcr.Namespace, Name: pcr.Spec.ServiceAccountName})
	if err != nil {
		return facts, err
	}
	node, err := r.readMetadata(ctx, corev1.SchemeGroupVersion.WithKind("Node"), types.NamespacedName{Name: string(pcr.Spec.NodeName)})
	if err != nil {
		return facts, err
	}
	facts.serviceAccount, facts.node = sa, node
	return facts, nil
}

// readMetadata reads the metadata of an object, nil when it does not exist.
func (r *PodCertificateReconciler) readMetadata(ctx context.Context, gvk schema.GroupVersionKind, key types.NamespacedName) (*metav1.PartialObjectMetadata, error) {
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(gvk)
	if err := r.APIReader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s %s: %w", gvk.Kind, key, err)
	}
	return obj, nil
}

// checkServed refuses a pod whose namespace or ServiceAccount the issuer
// does not serve: spec.policy.namespaceSelector, then the
// podCertificates selectors.
func (r *PodCertificateReconciler) checkServed(ctx context.Context, pcr *certificatesv1.PodCertificateRequest, issuer *certsmithv1alpha1.ClusterIssuer, facts podFacts) (*podCertificateRefusal, error) {
	message, err := namespaceAllowed(ctx, r.Client, issuer, pcr.Namespace)
	if err != nil || message != "" {
		return notAllowed(message), err
	}
	podPolicy := issuer.Spec.PodCertificates
	if podPolicy.NamespaceSelector != nil {
		ns := &corev1.Namespace{}
		if err := r.Get(ctx, types.NamespacedName{Name: pcr.Namespace}, ns); err != nil {
			return nil, fmt.Errorf("reading namespace %s: %w", pcr.Namespace, err)
		}
		if refusal := selectorRefusal(podPolicy.NamespaceSelector, ns.Labels, issuer, "spec.podCertificates.namespaceSelector",
			"namespace "+pcr.Namespace); refusal != nil {
			return refusal, nil
		}
	}
	if len(podPolicy.ServiceAccounts) > 0 && !serviceAccountListed(podPolicy.ServiceAccounts, pcr.Namespace, pcr.Spec.ServiceAccountName) {
		return notAllowed(fmt.Sprintf("ClusterIssuer %s does not give pod certificates to ServiceAccount %s/%s (it is not in spec.podCertificates.serviceAccounts)",
			issuer.Name, pcr.Namespace, pcr.Spec.ServiceAccountName)), nil
	}
	return nil, nil
}

func notAllowed(message string) *podCertificateRefusal {
	if message == "" {
		return nil
	}
	return denied(certsmithv1alpha1.ReasonPodCertificateNotAllowed, "%s", message)
}

// selectorRefusal refuses what a label selector of the issuer does not match.
func selectorRefusal(selector *metav1.LabelSelector, set map[string]string, issuer *certsmithv1alpha1.ClusterIssuer, field, what string) *podCertificateRefusal {
	parsed, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return notAllowed(fmt.Sprintf("ClusterIssuer %s has an invalid %s: %v", issuer.Name, field, err))
	}
	if !parsed.Matches(labels.Set(set)) {
		return notAllowed(fmt.Sprintf("ClusterIssuer %s does not give pod certificates to %s (its %s does not match)", issuer.Name, what, field))
	}
	return nil
}

// podCertificateNames are the names a pod certificate carries.
type podCertificateNames struct {
	uri      *url.URL
	dnsNames []string
}

// checkNames makes the names of a pod certificate from the verified facts
// and checks them like any other request's: the SPIFFE ID is allowed by
// the opt-in itself, the DNS names by the namespace's service domain or
// spec.policy.dnsNames, never the API server's names unless listed.
func (r *PodCertificateReconciler) checkNames(ctx context.Context, pcr *certificatesv1.PodCertificateRequest, issuer *certsmithv1alpha1.ClusterIssuer) (podCertificateNames, *podCertificateRefusal, error) {
	podPolicy := issuer.Spec.PodCertificates
	names := podCertificateNames{
		uri:      spiffeID(trustDomainOf(podPolicy, r.ClusterDomain), pcr.Namespace, pcr.Spec.ServiceAccountName),
		dnsNames: podDNSNames(podPolicy, pcr, r.ClusterDomain),
	}
	rules, err := issuerRules(issuer)
	if err != nil {
		// podCertificateConfigProblem has looked at it: the issuer changed since.
		return names, nil, fmt.Errorf("ClusterIssuer %s has an invalid policy: %w", issuer.Name, err)
	}
	rules.AllowCA = false
	rules.URIs = append(rules.URIs, names.uri.String())
	policyCtx, err := policyContext(ctx, r.Client, issuer, rules, r.ClusterDomain, nil)
	if err != nil {
		return names, nil, err
	}
	for _, name := range names.dnsNames {
		if err := validPodDNSName(name); err != nil {
			return names, notAllowed(fmt.Sprintf("DNS name %q made from spec.podCertificates.dnsNames is invalid: %v", name, err)), nil
		}
	}
	request := policy.Request{Namespace: pcr.Namespace, DNSNames: names.dnsNames, URIs: []*url.URL{names.uri}, Usages: podCertificateUsages}
	if err := policy.Check(request, policyCtx); err != nil {
		return names, notAllowed(err.Error()), nil
	}
	return names, nil, nil
}

// issue signs a request and writes it Issued, in one status write after
// the CA's signed-until mark covers the certificate.
func (r *PodCertificateReconciler) issue(ctx context.Context, pcr *certificatesv1.PodCertificateRequest, issuer *certsmithv1alpha1.ClusterIssuer, ca *pki.CA, checked *checkedPodRequest) error {
	names := checked.names
	now := r.Clock.Now()
	lifetime := podCertificateLifetime(issuer, pcr)
	if left := ca.Certificate.NotAfter.Sub(now); left < minPodCertificateDuration+pki.Backdate {
		// Its successor signs once the rotation switches.
		return fmt.Errorf("the CA of ClusterIssuer %s expires in %s, too soon for a pod certificate of at least %s", issuer.Name, left.Round(time.Second), minPodCertificateDuration)
	}
	cert, err := ca.Sign(pki.SignRequest{
		CSR:      checked.csr,
		Usages:   podCertificateUsages,
		Duration: lifetime - pki.Backdate, // notAfter-notBefore is the lifetime, which the API caps
		Subject:  &pkix.Name{},
		SANs:     &pki.SubjectAltNames{DNSNames: names.dnsNames, URIs: []*url.URL{names.uri}},
		Now:      now,
		// The pod keeps its file until the kubelet refreshes it; a client
		// that checks the CRL refuses it as soon as it is revoked.
		CRLDistributionPoints: crlDistributionPoints(issuer, ca.Certificate),
	})
	if err != nil {
		// The CA's trouble, which fixing the issuer cures: not final for the pod.
		r.warnIssuer(issuer, certsmithv1alpha1.ReasonPodCertificateSigningFailed, "Cannot sign pod certificates (such as %s/%s): %v", pcr.Namespace, pcr.Name, err)
		return fmt.Errorf("signing PodCertificateRequest %s/%s: %w", pcr.Namespace, pcr.Name, err)
	}
	if got := cert.NotAfter.Sub(cert.NotBefore); got < minPodCertificateDuration {
		return fmt.Errorf("the CA of ClusterIssuer %s allows a lifetime of only %s", issuer.Name, got)
	}
	// Write-ahead: a retiring CA must stay trusted until this certificate expires.
	wrote, err := r.Marks.record(ctx, r.Client, r.APIReader, r.Namespace, issuer, ca.Certificate, cert.NotBefore, cert.NotAfter)
	if err != nil {
		if conflict := (*recordConflictError)(nil); errors.As(err, &conflict) {
			r.warnIssuer(issuer, certsmithv1alpha1.ReasonSignedUntilRecordConflict, "No certificate of ClusterIssuer %s is released: %s", issuer.Name, conflict.Error())
		}
		return fmt.Errorf("recording what CA %s signed: %w", issuer.Name, err)
	}
	if wrote {
		if trusted, err := stillTrusted(ctx, r.APIReader, r.Namespace, issuer, ca.Certificate); err != nil || !trusted {
			return errors.Join(fmt.Errorf("the CA of ClusterIssuer %s changed while signing %s/%s; signing again", issuer.Name, pcr.Namespace, pcr.Name), err)
		}
	}
	notBefore, notAfter := metav1.NewTime(cert.NotBefore), metav1.NewTime(cert.NotAfter)
	refresh := metav1.NewTime(pki.PodCertificateRefreshTime(cert.NotBefore, cert.NotAfter, string(pcr.UID)))
	pcr.Status = certificatesv1.PodCertificateRequestStatus{
		Conditions: []metav1.Condition{{
			Type: certificatesv1.PodCertificateRequestConditionTypeIssued, Status: metav1.ConditionTrue,
			Reason:             certsmithv1alpha1.ReasonPodCertificateIssued,
			Message:            fmt.Sprintf("issued by ClusterIssuer %s for %s", issuer.Name, names.uri),
			LastTransitionTime: metav1.NewTime(now), ObservedGeneration: pcr.Generation,
		}},
		CertificateChain: string(pki.EncodeCertificatesPEM(append([]*x509.Certificate{cert}, pki.Intermediates(ca)...)...)),
		NotBefore:        &notBefore,
		NotAfter:         &notAfter,
		BeginRefreshAt:   &refresh,
	}
	if err := r.Status().Update(ctx, pcr); err != nil {
		return fmt.Errorf("writing the certificate of PodCertificateRequest %s/%s: %w", pcr.Namespace, pcr.Name, err)
	}
	r.recent.add(pcr.UID, r.Clock.Now())
	podCertificatesIssued.WithLabelValues(issuer.Name).Inc()
	podCertificateIssuanceDuration.WithLabelValues(issuer.Name).Observe(max(r.Clock.Since(pcr.CreationTimestamp.Time), 0).Seconds())
	logf.FromContext(ctx).V(1).Info("issued pod certificate", "serial", fmt.Sprintf("%x", cert.SerialNumber), "beginRefreshAt", refresh.UTC())
	return nil
}

// refuse writes a Denied or Failed condition, the request's only status.
// No Event per request: the kubelet already tells the pod; the issuer gets
// a sampled one (refusalDigest).
func (r *PodCertificateReconciler) refuse(ctx context.Context, pcr *certificatesv1.PodCertificateRequest, issuer *certsmithv1alpha1.ClusterIssuer, refusal *podCertificateRefusal) error {
	if refusal == nil {
		return nil
	}
	pcr.Status = certificatesv1.PodCertificateRequestStatus{Conditions: []metav1.Condition{{
		Type: refusal.conditionType, Status: metav1.ConditionTrue, Reason: refusal.reason,
		Message:            limitMessage(refusal.message),
		LastTransitionTime: metav1.NewTime(r.Clock.Now()), ObservedGeneration: pcr.Generation,
	}}}
	if err := r.Status().Update(ctx, pcr); err != nil {
		return fmt.Errorf("writing %s to PodCertificateRequest %s/%s: %w", refusal.conditionType, pcr.Namespace, pcr.Name, err)
	}
	r.recent.add(pcr.UID, r.Clock.Now())
	podCertificatesRefused.WithLabelValues(issuer.Name, refusal.conditionType, refusal.reason).Inc()
	logf.FromContext(ctx).V(1).Info("refused pod certificate", "condition", refusal.conditionType, "reason", refusal.reason)
	if note, due := r.refusals.note(issuer.Name, refusal, pcr.Namespace+"/"+pcr.Name); due {
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonPodCertificatesRefused, "Sign", "%s", note)
	}
	return nil
}

// permissionIsTerminal turns a missing sign permission (a custom
// signerName nobody granted) into a Warning Event on the issuer, once an
// hour, and a slow retry.
func (r *PodCertificateReconciler) permissionIsTerminal(issuer *certsmithv1alpha1.ClusterIssuer, pcr *certificatesv1.PodCertificateRequest, err error) (reconcile.Result, error) {
	if !signPermissionMissing(err) {
		return reconcile.Result{}, err
	}
	r.warnIssuer(issuer, certsmithv1alpha1.ReasonSignerPermissionMissing,
		"certsmith may not sign PodCertificateRequests of signerName %s (such as %s/%s): grant it the sign verb on signers/%s "+
			"(see config/samples/custom-signer-rbac.yaml); retrying in %s", pcr.Spec.SignerName, pcr.Namespace, pcr.Name, pcr.Spec.SignerName, terminalRecheck)
	return reconcile.Result{RequeueAfter: terminalRecheck}, nil
}

// signPermissionMissing reports whether the API server refused a status
// write for want of the sign verb: the PodCertificateRequest strategy says
// so as an invalid spec.signerName (FieldValueForbidden), not as a 403.
func signPermissionMissing(err error) bool {
	if apierrors.IsForbidden(err) {
		return true
	}
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, cause := range status.Status().Details.Causes {
		if string(cause.Type) == string(field.ErrorTypeForbidden) && cause.Field == "spec.signerName" {
			return true
		}
	}
	return false
}

// warnIssuer emits a Warning about an issuer, once an hour per reason: a
// problem of the issuer shows on every request's reconcile.
func (r *PodCertificateReconciler) warnIssuer(issuer *certsmithv1alpha1.ClusterIssuer, reason, note string, args ...any) {
	key := types.UID(string(issuer.UID) + "/" + reason)
	if r.warned.has(key) {
		return
	}
	r.warned.add(key, r.Clock.Now())
	r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, reason, "Sign", note, args...)
}

// SetupWithManager registers the controller: the issuers decide which
// signers are watched; each watched signer's requests are work items.
func (r *PodCertificateReconciler) SetupWithManager(mgr manager.Manager) error {
	r.recent = newRecentlyFinished(r.Clock)
	r.warned = newUIDMemory(r.Clock, skipWarningTTL)
	r.refusals = newRefusalDigest(r.Clock)
	if r.Marks == nil {
		r.Marks = &signedMarks{}
	}
	base := cache.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient()}
	config := mgr.GetConfig()
	r.signers = &signerWatches{newCache: func(signerName string) (cache.Cache, error) {
		return cache.New(config, signerCacheOptions(base, signerName))
	}}
	workers := r.MaxConcurrentReconciles
	if workers == 0 {
		workers = 4
	}
	c, err := controller.NewTyped(PodCertificateControllerName, mgr, controller.TypedOptions[podCertificateKey]{
		Reconciler: r, MaxConcurrentReconciles: workers, RateLimiter: retryLimiter[podCertificateKey](r.MaxRetryDelay),
	})
	if err != nil {
		return err
	}
	if err := c.Watch(source.TypedFunc[podCertificateKey](r.signers.start)); err != nil {
		return err
	}
	watchedCollector.set(r.signers)
	return c.Watch(source.TypedKind(mgr.GetCache(), &certsmithv1alpha1.ClusterIssuer{},
		handler.TypedEnqueueRequestsFromMapFunc(func(_ context.Context, issuer *certsmithv1alpha1.ClusterIssuer) []podCertificateKey {
			return []podCertificateKey{{Signer: issuer.EffectiveSignerName()}}
		})))
}
