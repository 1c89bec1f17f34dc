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
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/policy"
)

// CSRControllerName names the controller that approves and signs
// CertificateSigningRequests of certsmith's signer names.
const CSRControllerName = "certificatesigningrequest"

// Limits on CSRs that certsmith did not create.
const (
	// defaultCSRDuration is the lifetime of a certificate whose CSR sets no
	// expirationSeconds, and the longest a hand-made CSR gets unless the
	// issuer's policy.maxDuration says otherwise.
	defaultCSRDuration = 90 * 24 * time.Hour
	// MaxCSRBytes bounds spec.request: a PEM CSR with 100 names is a few KiB.
	MaxCSRBytes = 64 << 10
)

// CSRReconciler approves the CSRs that certsmith makes for
// ServiceCertificates, after checking them against the ServiceCertificate
// and the issuer's policy, and signs every approved CSR whose signerName
// belongs to a ClusterIssuer, within that issuer's policy.
type CSRReconciler struct {
	// MaxRetryDelay caps the back-off of a failed reconcile (0: DefaultMaxRetryDelay).
	MaxRetryDelay time.Duration
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

	// APIReader reads past the cache after a write conflict.
	APIReader client.Reader

	recent *uidMemory
	// skipWarned remembers the waiting CSRs told AutoApprovalSkipped.
	skipWarned *uidMemory
	// Marks records what each CA signed; shared with the pod-certificate
	// signer, so that one writer keeps an issuer's signed-until record.
	Marks *signedMarks
	// Handoff is shared with the ServiceCertificate controller: the
	// certificates of certsmith's own CSRs go into their Secret before they
	// go into the CSR (issuanceHandoff). Nil: straight into the CSR.
	Handoff *issuanceHandoff
}

// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests,verbs=get;list;watch
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests/approval,verbs=update
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests/status,verbs=update
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=signers,resourceNames=clusterissuers.certsmith.io/*,verbs=approve;sign
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=selfsubjectreviews,verbs=create
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=certsmith-system,resources=leases,verbs=get;list;watch;create;update;patch;delete
// The leader election's own Events ("... became leader") are core Events in the operator's namespace.
// +kubebuilder:rbac:groups="",namespace=certsmith-system,resources=events,verbs=create;patch

// Reconcile approves and signs one CSR. It never creates or deletes CSRs:
// the ServiceCertificate controller does, also for a ServiceCertificate
// that no longer exists.
func (r *CSRReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := r.Get(ctx, req.NamespacedName, csr); err != nil {
		if apierrors.IsNotFound(err) {
			r.Handoff.drop(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var owner *certsmithv1alpha1.ServiceCertificate
	if r.isOwn(csr) {
		var err error
		if owner, err = r.ownerOf(ctx, csr); err != nil {
			return ctrl.Result{}, err
		}
		if owner == nil {
			// Its ServiceCertificate is gone: nothing can use it, and it is
			// not signed. The ServiceCertificate controller, the one that
			// deletes certsmith's CSRs, deletes it.
			r.Handoff.drop(csr.Name)
			return ctrl.Result{}, nil
		}
	}
	if csrFinished(csr) {
		r.Handoff.drop(csr.Name)
		return ctrl.Result{}, nil
	}
	if r.recent.has(csr.UID) {
		// Finished by this process moments ago and the cache has not seen
		// it yet: writing again would only conflict.
		return ctrl.Result{}, nil
	}
	if owner != nil && r.Handoff != nil {
		if chainPEM, stored, ok := r.Handoff.take(csr); ok {
			if !stored {
				// Signed; the ServiceCertificate controller stores it in the
				// Secret first, then wakes this controller (the requeue is
				// in case that wake-up was lost).
				return ctrl.Result{RequeueAfter: waitSigningRecheck}, nil
			}
			return r.writeStored(ctx, r.Handoff.freshest(csr), owner, chainPEM)
		}
	}
	issuer, err := r.issuerFor(ctx, csr.Spec.SignerName)
	if err != nil || issuer == nil {
		return ctrl.Result{}, err
	}
	if owner != nil && r.Handoff != nil {
		if !r.Handoff.holds(client.ObjectKeyFromObject(owner), csr) {
			// Made by certsmith, but its key is not in this process: left by
			// an earlier leader or a crash, it can never be used. It is
			// neither approved nor signed; the ServiceCertificate controller
			// deletes it and makes a new one.
			logf.FromContext(ctx).V(1).Info("not signing a CSR whose key this process does not hold", "csr", csr.Name)
			return ctrl.Result{}, nil
		}
	}
	if !csrApproved(csr) {
		switch approvalRouteOf(csr, owner != nil, issuer) {
		case routeSkipAutoApproval:
			// Auto approval approves only the requesters the policy names;
			// the rest wait for a person.
			r.warnAutoApprovalSkipped(csr, issuer)
			return ctrl.Result{}, nil
		case routeDecide:
			approved, err := r.decide(ctx, csr, owner, issuer)
			if err != nil || !approved {
				return r.forbiddenIsTerminal(issuer, csr, "approve", err)
			}
		case routeWaitForPerson:
			// Manual approval: a person runs "kubectl certificate approve".
			return ctrl.Result{}, nil
		}
	}
	return r.forbiddenIsTerminal(issuer, csr, "sign", r.sign(ctx, csr, owner, issuer))
}

// approvalRoute is what the signer does with a CSR that is not approved yet.
type approvalRoute int

const (
	// routeDecide: certsmith checks it and approves or denies it.
	routeDecide approvalRoute = iota
	// routeSkipAutoApproval: auto approval does not name its requester; a
	// person decides, and a Warning Event says how to name it.
	routeSkipAutoApproval
	// routeWaitForPerson: the issuer's approval is Manual.
	routeWaitForPerson
)

// approvalRouteOf decides who approves a CSR: certsmith for its own CSRs
// (ownedByCertificate) and, under Auto approval, for the requesters
// spec.policy.autoApprove names; a person otherwise.
func approvalRouteOf(csr *certificatesv1.CertificateSigningRequest, ownedByCertificate bool, issuer *certsmithv1alpha1.ClusterIssuer) approvalRoute {
	switch {
	case ownedByCertificate:
		return routeDecide
	case issuer.Spec.Approval != certsmithv1alpha1.ApprovalAuto:
		return routeWaitForPerson
	case !autoApproves(issuer, csr):
		return routeSkipAutoApproval
	}
	return routeDecide
}

// forbiddenIsTerminal turns a missing signer permission into a Warning
// Event that says what to grant, and a slow retry instead of a hot one.
func (r *CSRReconciler) forbiddenIsTerminal(issuer *certsmithv1alpha1.ClusterIssuer, csr *certificatesv1.CertificateSigningRequest, verb string, err error) (ctrl.Result, error) {
	if !apierrors.IsForbidden(err) {
		return ctrl.Result{}, err
	}
	r.Recorder.Eventf(issuer, csr, corev1.EventTypeWarning, certsmithv1alpha1.ReasonSignerPermissionMissing, "Sign",
		"certsmith may not %s CSRs of signerName %s: grant it the approve and sign verbs on signers/%s "+
			"(see config/samples/custom-signer-rbac.yaml); retrying in %s", verb, csr.Spec.SignerName, csr.Spec.SignerName, terminalRecheck)
	return ctrl.Result{RequeueAfter: terminalRecheck}, nil
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
	return issuerForSigner(ctx, r.Client, signerName)
}

// issuerForSigner returns the ClusterIssuer that serves a signerName: the
// oldest of those that name it; nil if none does.
func issuerForSigner(ctx context.Context, reader client.Reader, signerName string) (*certsmithv1alpha1.ClusterIssuer, error) {
	var list certsmithv1alpha1.ClusterIssuerList
	if err := reader.List(ctx, &list, client.MatchingFields{indexIssuerSignerName: signerName}); err != nil {
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

// decide approves or denies a CSR: one that certsmith made, after checking
// it against its ServiceCertificate and the issuer's policy, or, for an
// issuer with Auto approval, any CSR by the policy alone. A denial carries
// the reason.
func (r *CSRReconciler) decide(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, owner *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer) (bool, error) {
	reason, message := certsmithv1alpha1.ReasonCSRApproved, fmt.Sprintf("approved by certsmith: allowed by the policy of ClusterIssuer %s", issuer.Name)
	if owner != nil {
		message = fmt.Sprintf("approved by certsmith for ServiceCertificate %s/%s", owner.Namespace, owner.Name)
	}
	_, problem, err := r.check(ctx, csr, owner, issuer)
	if err != nil {
		return false, err
	}
	approved := problem == nil
	conditionType := certificatesv1.CertificateApproved
	if !approved {
		conditionType, reason, message = certificatesv1.CertificateDenied, problem.reason, problem.message
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type:           conditionType,
		Status:         corev1.ConditionTrue,
		Reason:         reason,
		Message:        limitMessage(message),
		LastUpdateTime: metav1.NewTime(r.Clock.Now()),
	})
	if err := r.SubResource("approval").Update(ctx, csr); err != nil {
		return false, fmt.Errorf("updating approval of CSR %s: %w", csr.Name, err)
	}
	logf.FromContext(ctx).V(1).Info("decided CSR", "csr", csr.Name, "approved", approved, "reason", reason)
	if !approved {
		r.recent.add(csr.UID, r.Clock.Now())
		csrsRefused.WithLabelValues(issuer.Name, reason).Inc()
		r.Recorder.Eventf(issuer, csr, corev1.EventTypeWarning, reason, "Approve", "Denied CSR %s: %s", csr.Name, message)
	}
	return approved, nil
}

// check parses a CSR and checks it against the issuer's policy: with the
// namespace default when certsmith made it for a ServiceCertificate, with
// the explicit rules alone otherwise. A refusal is returned as a
// terminalError; err is for transient failures.
func (r *CSRReconciler) check(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, owner *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer) (*checkedRequest, *terminalError, error) {
	if len(csr.Spec.Request) > MaxCSRBytes {
		// The cache keeps one byte more than this of a request (boundedCSR).
		return nil, &terminalError{certsmithv1alpha1.ReasonCSRMalformed, fmt.Sprintf("the request is larger than the %d bytes certsmith reads", MaxCSRBytes)}, nil
	}
	request, err := pki.ParseCSR(csr.Spec.Request)
	if err != nil {
		reason := certsmithv1alpha1.ReasonCSRMalformed
		if errors.Is(err, pki.ErrUnsupportedKey) {
			reason = certsmithv1alpha1.ReasonCSRUnsupportedKey
		}
		return nil, &terminalError{reason, err.Error()}, nil
	}
	rules, err := issuerRules(issuer)
	if err != nil {
		return nil, &terminalError{certsmithv1alpha1.ReasonCSRNotAllowed, fmt.Sprintf("ClusterIssuer %s has an invalid policy: %v", issuer.Name, err)}, nil
	}
	namespace := ""
	var ips []net.IP
	if owner != nil {
		if owner.Spec.IssuerRef.Name != issuer.Name {
			return nil, &terminalError{certsmithv1alpha1.ReasonCSRNotAllowed, fmt.Sprintf(
				"ServiceCertificate %s/%s uses ClusterIssuer %s, not %s", owner.Namespace, owner.Name, owner.Spec.IssuerRef.Name, issuer.Name)}, nil
		}
		message, err := namespaceAllowed(ctx, r.Client, issuer, owner.Namespace)
		if err != nil {
			return nil, nil, err
		}
		if message != "" {
			return nil, &terminalError{certsmithv1alpha1.ReasonCSRNotAllowed, message}, nil
		}
		namespace = owner.Namespace
		rules.AllowCA = false // a ServiceCertificate never gets a CA certificate
		if ips, err = namespaceIPs(ctx, r.Client, namespace); err != nil {
			return nil, nil, err
		}
	}
	policyCtx, err := policyContext(ctx, r.Client, issuer, rules, r.ClusterDomain, ips)
	if err != nil {
		return nil, nil, err
	}
	if err := policy.Check(policyRequest(namespace, request, csrUsages(csr)), policyCtx); err != nil {
		return nil, &terminalError{certsmithv1alpha1.ReasonCSRNotAllowed, err.Error()}, nil
	}
	return &checkedRequest{csr: request, policy: policyCtx}, nil, nil
}

// checkedRequest is a CSR that the policy allows, and what it was checked against.
type checkedRequest struct {
	csr    *x509.CertificateRequest
	policy policy.Context
}

// csrUsages returns a CSR's usages as strings.
func csrUsages(csr *certificatesv1.CertificateSigningRequest) []string {
	usages := make([]string, 0, len(csr.Spec.Usages))
	for _, u := range csr.Spec.Usages {
		usages = append(usages, string(u))
	}
	return usages
}

// sign signs an approved CSR with the issuer's CA, or marks it Failed with
// a reason. The policy is checked again: approval may have come from a
// person, and the signer never signs what the policy forbids.
func (r *CSRReconciler) sign(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, owner *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer) error {
	request, problem, err := r.check(ctx, csr, owner, issuer)
	if err != nil {
		return err
	}
	if problem != nil {
		return r.fail(ctx, csr, issuer, problem.reason, problem.message)
	}
	ca, err := loadIssuerCA(ctx, r.Client, r.Namespace, issuer)
	if err != nil {
		if errors.Is(err, errCANotReady) || apierrors.IsNotFound(err) {
			return r.fail(ctx, csr, issuer, certsmithv1alpha1.ReasonCSRIssuerNotReady, fmt.Sprintf("ClusterIssuer %s is not Ready", issuer.Name))
		}
		return r.fail(ctx, csr, issuer, certsmithv1alpha1.ReasonCSRIssuerNotReady, err.Error())
	}
	duration := csrLifetime(issuer, owner != nil, csr.Spec.ExpirationSeconds)
	usages := csrUsages(csr)
	signRequest := pki.SignRequest{
		CSR:      request.csr,
		Usages:   usages,
		Duration: duration,
		IsCA:     policy.IsCARequest(usages),
		// What was checked is what is issued: one CN, and only the
		// attributes the policy looked at, in certsmith's own encoding.
		Subject:               ptr.To(subjectFromPolicy(subjectOf(request.csr.Subject))),
		CRLDistributionPoints: crlDistributionPoints(issuer, ca.Certificate),
		Now:                   r.Clock.Now(),
	}
	if signRequest.IsCA {
		// A CA the policy allows can sign no other names than the issuer would.
		signRequest.MaxPathLen = 0
		signRequest.NameConstraints = policy.NameConstraintsFor(request.policy.Rules, request.policy.Reserved)
	}
	cert, err := ca.Sign(signRequest)
	if err != nil {
		reason := certsmithv1alpha1.ReasonCSRSigningFailed
		if errors.Is(err, pki.ErrUnsupportedKey) {
			reason = certsmithv1alpha1.ReasonCSRUnsupportedKey
		}
		return r.fail(ctx, csr, issuer, reason, err.Error())
	}
	// Write-ahead: a retiring CA must stay trusted until this certificate expires.
	wrote, err := r.Marks.record(ctx, r.Client, r.APIReader, r.Namespace, issuer, ca.Certificate, cert.NotBefore, cert.NotAfter)
	if err != nil {
		r.warnRecordConflict(issuer, err)
		return fmt.Errorf("recording what CA %s signed: %w", issuer.Name, err)
	}
	if wrote {
		// A new mark: the CA may be one that has just left the bundle and
		// is still in this cache. Release only what a trusted CA signed.
		if trusted, err := stillTrusted(ctx, r.APIReader, r.Namespace, issuer, ca.Certificate); err != nil || !trusted {
			return errors.Join(fmt.Errorf("the CA of ClusterIssuer %s changed while signing CSR %s; signing again", issuer.Name, csr.Name), err)
		}
	}
	chainPEM := pki.EncodeCertificatesPEM(append([]*x509.Certificate{cert}, pki.Intermediates(ca)...)...)
	csrsSigned.WithLabelValues(issuer.Name).Inc()
	logf.FromContext(ctx).V(1).Info("signed CSR", "csr", csr.Name, "clusterIssuer", issuer.Name, "serial", fmt.Sprintf("%x", cert.SerialNumber))
	if owner != nil && r.Handoff != nil {
		// Into the Secret first, with its key; into the CSR after that.
		r.Handoff.offer(client.ObjectKeyFromObject(owner), csr, chainPEM)
		return nil
	}
	return r.writeCertificate(ctx, csr, chainPEM)
}

// writeStored writes the certificate already stored in the Secret of
// owner into its CSR. When the API server refuses (the signer's sign
// permission taken away, an admission policy), a Warning Event says so and
// the write is tried again slowly; the CSR stays open, kept as the record
// of the certificate in use, until its hand-over is swept (handoffTTL).
func (r *CSRReconciler) writeStored(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, owner *certsmithv1alpha1.ServiceCertificate, chainPEM []byte) (ctrl.Result, error) {
	err := r.writeCertificate(ctx, csr, chainPEM)
	if !apierrors.IsForbidden(err) {
		return ctrl.Result{}, err
	}
	r.Recorder.Eventf(owner, csr, corev1.EventTypeWarning, certsmithv1alpha1.ReasonSignerPermissionMissing, "Sign",
		"the certificate is in Secret %s, but the API server refused it for CSR %s (retrying in %s): %s",
		owner.Status.SecretName, csr.Name, terminalRecheck, limitMessage(err.Error()))
	return ctrl.Result{RequeueAfter: terminalRecheck}, nil
}

// writeCertificate writes a signed certificate into its CSR.
func (r *CSRReconciler) writeCertificate(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, chainPEM []byte) error {
	csr.Status.Certificate = chainPEM
	if err := r.Status().Update(ctx, csr); err != nil {
		return fmt.Errorf("writing certificate of CSR %s: %w", csr.Name, err)
	}
	r.recent.add(csr.UID, r.Clock.Now())
	return nil
}

// csrLifetime is the lifetime the signer gives a CSR: spec.expirationSeconds
// (default defaultCSRDuration) capped by the issuer's policy.maxDuration; a
// hand-made CSR gets at most defaultCSRDuration unless the policy sets
// maxDuration.
func csrLifetime(issuer *certsmithv1alpha1.ClusterIssuer, ownedByCertificate bool, expirationSeconds *int32) time.Duration {
	duration := defaultCSRDuration
	if expirationSeconds != nil {
		duration = time.Duration(*expirationSeconds) * time.Second
	}
	duration = maxDuration(issuer, duration)
	if !ownedByCertificate && (issuer.Spec.Policy == nil || issuer.Spec.Policy.MaxDuration == nil) {
		duration = min(duration, defaultCSRDuration)
	}
	return duration
}

// fail marks a CSR Failed; the signer will not look at it again.
func (r *CSRReconciler) fail(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, issuer *certsmithv1alpha1.ClusterIssuer, reason, message string) error {
	now := metav1.NewTime(r.Clock.Now())
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type:               certificatesv1.CertificateFailed,
		Status:             corev1.ConditionTrue,
		Reason:             reason,
		Message:            limitMessage(message),
		LastUpdateTime:     now,
		LastTransitionTime: now,
	})
	if err := r.Status().Update(ctx, csr); err != nil {
		return fmt.Errorf("marking CSR %s failed: %w", csr.Name, err)
	}
	r.recent.add(csr.UID, r.Clock.Now())
	csrsRefused.WithLabelValues(issuer.Name, reason).Inc()
	r.Recorder.Eventf(issuer, csr, corev1.EventTypeWarning, reason, "Sign", "Refused to sign CSR %s: %s", csr.Name, message)
	return nil
}

// skipWarningTTL is how often a CSR that waits because auto approval does
// not name its requester is told so again: every reconcile of it (each
// change to it or its issuer, each resync) would otherwise write an Event.
const skipWarningTTL = time.Hour

// warnAutoApprovalSkipped emits the Warning AutoApprovalSkipped on a CSR
// that waits for a person, once per skipWarningTTL.
func (r *CSRReconciler) warnAutoApprovalSkipped(csr *certificatesv1.CertificateSigningRequest, issuer *certsmithv1alpha1.ClusterIssuer) {
	if !r.dueWarning(csr.UID) {
		return
	}
	r.Recorder.Eventf(csr, issuer, corev1.EventTypeWarning, certsmithv1alpha1.ReasonAutoApprovalSkipped, "Approve",
		"CSR %s waits for manual approval: its requester %q (groups %s) is not named in spec.policy.autoApprove of ClusterIssuer %s; "+
			"add the user, one of its groups or its ServiceAccount (<namespace>/<name>) there to approve such CSRs automatically",
		csr.Name, csr.Spec.Username, strings.Join(csr.Spec.Groups, ", "), issuer.Name)
}

// dueWarning says whether a Warning about the object with uid is due (none
// was emitted within skipWarningTTL), and records that one is.
func (r *CSRReconciler) dueWarning(uid types.UID) bool {
	if r.skipWarned == nil {
		return true
	}
	if r.skipWarned.has(uid) {
		return false
	}
	r.skipWarned.add(uid, r.Clock.Now())
	return true
}

// warnRecordConflict tells, on the issuer and once per skipWarningTTL, that
// a Secret squats its signed-until record's name: nothing it signs can be
// released until that Secret is removed.
func (r *CSRReconciler) warnRecordConflict(issuer *certsmithv1alpha1.ClusterIssuer, err error) {
	var conflict *recordConflictError
	if !errors.As(err, &conflict) || !r.dueWarning(issuer.UID) {
		return
	}
	r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonSignedUntilRecordConflict, "Sign",
		"No certificate of ClusterIssuer %s is released: %s", issuer.Name, conflict.Error())
}

// SetupWithManager registers the controller.
func (r *CSRReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.recent = newRecentlyFinished(r.Clock)
	r.skipWarned = newUIDMemory(r.Clock, skipWarningTTL)
	if r.Marks == nil {
		r.Marks = &signedMarks{}
	}
	workers := r.MaxConcurrentReconciles
	if workers == 0 {
		workers = 4
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &certificatesv1.CertificateSigningRequest{}, indexCSRSigner,
		func(obj client.Object) []string {
			return []string{obj.(*certificatesv1.CertificateSigningRequest).Spec.SignerName}
		}); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(CSRControllerName).
		For(&certificatesv1.CertificateSigningRequest{}).
		// An issuer that becomes Ready (or changes policy or approval) looks
		// again at the CSRs of its signerName that are still open.
		Watches(&certsmithv1alpha1.ClusterIssuer{}, handler.EnqueueRequestsFromMapFunc(r.openRequestsOf)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: retryLimiter[reconcile.Request](r.MaxRetryDelay)})
	if r.Handoff != nil {
		// A certificate handed over is in its Secret now.
		b = b.WatchesRawSource(source.Channel(r.Handoff.wakeSigner, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

// indexCSRSigner indexes CSRs by signerName.
const indexCSRSigner = "certsmith.csrSignerName"

// openRequestsOf maps an issuer to the unfinished CSRs of its signerName.
func (r *CSRReconciler) openRequestsOf(ctx context.Context, obj client.Object) []reconcile.Request {
	issuer := obj.(*certsmithv1alpha1.ClusterIssuer)
	var list certificatesv1.CertificateSigningRequestList
	if err := r.List(ctx, &list, client.MatchingFields{indexCSRSigner: issuer.EffectiveSignerName()}); err != nil {
		return nil
	}
	var requests []reconcile.Request
	for i := range list.Items {
		if !csrFinished(&list.Items[i]) {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return requests
}
