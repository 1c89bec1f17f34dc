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
	"net"
	"slices"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/policy"
)

// CSRControllerName names the controller that approves and signs
// CertificateSigningRequests of certsmith's signer names.
const CSRControllerName = "certificatesigningrequest"

// defaultCSRDuration is the lifetime of a certificate whose CSR sets no expirationSeconds.
const defaultCSRDuration = 90 * 24 * time.Hour

// CSRReconciler approves the CSRs that certsmith makes for
// ServiceCertificates, after checking them against the ServiceCertificate
// and the issuer's policy, and signs every approved CSR whose signerName
// belongs to a ClusterIssuer, within that issuer's policy.
type CSRReconciler struct {
	client.Client
	// Clock is the source of time; a fake one in tests.
	Clock clock.PassiveClock
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Namespace is the operator's namespace, where CA Secrets live.
	Namespace string
	// ClusterDomain is the cluster's DNS domain, such as "cluster.local".
	ClusterDomain string
	// Username is the operator's own identity as the API server sees it. A
	// CSR is certsmith's own only when its spec.username, which the API
	// server sets from the requester, equals it; labels and annotations can
	// be written by anyone and prove nothing.
	Username string
	// MaxConcurrentReconciles is the number of workers.
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests/approval,verbs=update
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests/status,verbs=update;patch
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=signers,resourceNames=clusterissuers.certsmith.io/*,verbs=approve;sign
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=selfsubjectreviews,verbs=create
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=certsmith-system,resources=leases,verbs=get;list;watch;create;update;patch;delete

// Reconcile approves and signs one CSR, or deletes it when it belongs to a
// ServiceCertificate that no longer exists.
func (r *CSRReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := r.Get(ctx, req.NamespacedName, csr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var owner *certsmithv1alpha1.ServiceCertificate
	if r.isOwn(csr) {
		var err error
		if owner, err = r.ownerOf(ctx, csr); err != nil {
			return ctrl.Result{}, err
		}
		if owner == nil {
			// Its ServiceCertificate is gone: nothing can use it.
			return ctrl.Result{}, client.IgnoreNotFound(r.Delete(ctx, csr, client.Preconditions{UID: &csr.UID}))
		}
	}
	if csrFinished(csr) {
		return ctrl.Result{}, nil
	}
	issuer, err := r.issuerFor(ctx, csr.Spec.SignerName)
	if err != nil || issuer == nil {
		return ctrl.Result{}, err
	}
	if !csrApproved(csr) {
		if owner == nil {
			// Manual approval: a person runs "kubectl certificate approve".
			return ctrl.Result{}, nil
		}
		approved, err := r.approveOwn(ctx, csr, owner, issuer)
		if err != nil || !approved {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, r.sign(ctx, csr, owner, issuer)
}

// isOwn reports whether certsmith itself created the CSR for a ServiceCertificate.
func (r *CSRReconciler) isOwn(csr *certificatesv1.CertificateSigningRequest) bool {
	_, ok := csrOwnerKey(csr)
	return ok && r.Username != "" && csr.Spec.Username == r.Username
}

// ownerOf returns the ServiceCertificate a CSR of certsmith's was made for, nil if it is gone.
func (r *CSRReconciler) ownerOf(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) (*certsmithv1alpha1.ServiceCertificate, error) {
	key, _ := csrOwnerKey(csr)
	sc := &certsmithv1alpha1.ServiceCertificate{}
	if err := r.Get(ctx, key, sc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return sc, nil
}

// issuerFor returns the ClusterIssuer that serves a signerName, nil if none does.
func (r *CSRReconciler) issuerFor(ctx context.Context, signerName string) (*certsmithv1alpha1.ClusterIssuer, error) {
	var list certsmithv1alpha1.ClusterIssuerList
	if err := r.List(ctx, &list, client.MatchingFields{indexIssuerSignerName: signerName}); err != nil {
		return nil, err
	}
	var chosen *certsmithv1alpha1.ClusterIssuer
	for i := range list.Items {
		if chosen == nil || olderThan(&list.Items[i], chosen) {
			chosen = &list.Items[i]
		}
	}
	return chosen, nil
}

func csrApproved(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// approveOwn approves a CSR that certsmith made, after checking that it asks
// for what its ServiceCertificate wants from this issuer and nothing the
// policy forbids; otherwise it denies it with the reason.
func (r *CSRReconciler) approveOwn(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, owner *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer) (bool, error) {
	reason, message := certsmithv1alpha1.ReasonCSRApproved, fmt.Sprintf("approved by certsmith for ServiceCertificate %s/%s", owner.Namespace, owner.Name)
	approved := true
	if problem := r.checkOwn(ctx, csr, owner, issuer); problem != nil {
		reason, message, approved = problem.reason, problem.message, false
	}
	conditionType := certificatesv1.CertificateApproved
	if !approved {
		conditionType = certificatesv1.CertificateDenied
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type:           conditionType,
		Status:         corev1.ConditionTrue,
		Reason:         reason,
		Message:        message,
		LastUpdateTime: metav1.NewTime(r.Clock.Now()),
	})
	if err := r.SubResource("approval").Update(ctx, csr); err != nil {
		return false, fmt.Errorf("updating approval of CSR %s: %w", csr.Name, err)
	}
	logf.FromContext(ctx).V(1).Info("decided CSR", "csr", csr.Name, "approved", approved, "reason", reason)
	return approved, nil
}

// checkOwn compares a CSR with its ServiceCertificate and the issuer's policy.
func (r *CSRReconciler) checkOwn(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, owner *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer) *terminalError {
	if owner.Spec.IssuerRef.Name != issuer.Name {
		return &terminalError{certsmithv1alpha1.ReasonCSRNotAllowed, fmt.Sprintf(
			"ServiceCertificate %s/%s uses ClusterIssuer %s, not %s", owner.Namespace, owner.Name, owner.Spec.IssuerRef.Name, issuer.Name)}
	}
	request, err := pki.ParseCSR(csr.Spec.Request)
	if err != nil {
		return &terminalError{certsmithv1alpha1.ReasonCSRMalformed, err.Error()}
	}
	return r.checkNamespacePolicy(ctx, owner.Namespace, request)
}

// checkNamespacePolicy applies the namespace-safe default to a request made for a namespace.
func (r *CSRReconciler) checkNamespacePolicy(ctx context.Context, namespace string, request *x509.CertificateRequest) *terminalError {
	var services corev1.ServiceList
	if err := r.List(ctx, &services, client.InNamespace(namespace)); err != nil {
		return &terminalError{certsmithv1alpha1.ReasonCSRSigningFailed, fmt.Sprintf("listing Services: %v", err)}
	}
	var ips []net.IP
	for i := range services.Items {
		ips = append(ips, clusterIPs(&services.Items[i])...)
	}
	if len(request.URIs) > 0 || len(request.EmailAddresses) > 0 {
		return &terminalError{certsmithv1alpha1.ReasonCSRNotAllowed, "URI and email names are not allowed"}
	}
	if err := policy.CheckNamespaceNames(policy.Request{Namespace: namespace, DNSNames: request.DNSNames, IPAddresses: request.IPAddresses},
		policy.Context{ClusterDomain: r.ClusterDomain, NamespaceIPs: ips}); err != nil {
		return &terminalError{certsmithv1alpha1.ReasonCSRNotAllowed, err.Error()}
	}
	return nil
}

// sign signs an approved CSR with the issuer's CA, or marks it Failed with a reason.
func (r *CSRReconciler) sign(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, owner *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer) error {
	request, err := pki.ParseCSR(csr.Spec.Request)
	if err != nil {
		reason := certsmithv1alpha1.ReasonCSRMalformed
		if errors.Is(err, pki.ErrUnsupportedKey) {
			reason = certsmithv1alpha1.ReasonCSRUnsupportedKey
		}
		return r.fail(ctx, csr, issuer, reason, err.Error())
	}
	usages := make([]string, 0, len(csr.Spec.Usages))
	for _, u := range csr.Spec.Usages {
		usages = append(usages, string(u))
	}
	if slices.Contains(usages, string(certsmithv1alpha1.UsageCertSign)) {
		return r.fail(ctx, csr, issuer, certsmithv1alpha1.ReasonCSRNotAllowed, "CA certificates (usage \"cert sign\") are not allowed by this issuer")
	}
	if owner == nil {
		return r.fail(ctx, csr, issuer, certsmithv1alpha1.ReasonCSRNotAllowed, fmt.Sprintf(
			"ClusterIssuer %s signs only CSRs that certsmith made for ServiceCertificates", issuer.Name))
	}
	if problem := r.checkNamespacePolicy(ctx, owner.Namespace, request); problem != nil {
		return r.fail(ctx, csr, issuer, problem.reason, problem.message)
	}
	ca, err := loadIssuerCA(ctx, r.Client, r.Namespace, issuer)
	if err != nil {
		if errors.Is(err, errCANotReady) || apierrors.IsNotFound(err) {
			return r.fail(ctx, csr, issuer, certsmithv1alpha1.ReasonCSRIssuerNotReady, fmt.Sprintf("ClusterIssuer %s is not Ready", issuer.Name))
		}
		return r.fail(ctx, csr, issuer, certsmithv1alpha1.ReasonCSRIssuerNotReady, err.Error())
	}
	duration := defaultCSRDuration
	if csr.Spec.ExpirationSeconds != nil {
		duration = time.Duration(*csr.Spec.ExpirationSeconds) * time.Second
	}
	cert, err := ca.Sign(pki.SignRequest{CSR: request, Usages: usages, Duration: duration, Now: r.Clock.Now()})
	if err != nil {
		reason := certsmithv1alpha1.ReasonCSRSigningFailed
		if errors.Is(err, pki.ErrUnsupportedKey) {
			reason = certsmithv1alpha1.ReasonCSRUnsupportedKey
		}
		return r.fail(ctx, csr, issuer, reason, err.Error())
	}
	csr.Status.Certificate = pki.EncodeCertificatesPEM(append([]*x509.Certificate{cert}, intermediates(ca)...)...)
	if err := r.Status().Update(ctx, csr); err != nil {
		return fmt.Errorf("writing certificate of CSR %s: %w", csr.Name, err)
	}
	logf.FromContext(ctx).V(1).Info("signed CSR", "csr", csr.Name, "clusterIssuer", issuer.Name, "serial", fmt.Sprintf("%x", cert.SerialNumber))
	return nil
}

// fail marks a CSR Failed; the signer will not look at it again.
func (r *CSRReconciler) fail(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, issuer *certsmithv1alpha1.ClusterIssuer, reason, message string) error {
	now := metav1.NewTime(r.Clock.Now())
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type:               certificatesv1.CertificateFailed,
		Status:             corev1.ConditionTrue,
		Reason:             reason,
		Message:            message,
		LastUpdateTime:     now,
		LastTransitionTime: now,
	})
	if err := r.Status().Update(ctx, csr); err != nil {
		return fmt.Errorf("marking CSR %s failed: %w", csr.Name, err)
	}
	r.Recorder.Eventf(issuer, csr, corev1.EventTypeWarning, reason, "Sign", "Refused to sign CSR %s: %s", csr.Name, message)
	return nil
}

// SetupWithManager registers the controller.
func (r *CSRReconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := r.MaxConcurrentReconciles
	if workers == 0 {
		workers = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(CSRControllerName).
		For(&certificatesv1.CertificateSigningRequest{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}
