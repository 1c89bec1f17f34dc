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
	"net/url"
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
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/policy"
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
// each ServiceCertificate: it decides whether issuance is needed, makes a
// key and a CertificateSigningRequest, and writes the signed certificate,
// its key and the CA bundle into the Secret in one write.
type ServiceCertificateReconciler struct {
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

	keys         *pendingKeys
	expectations *secretExpectations
	written      *writtenStatuses
}

// +kubebuilder:rbac:groups=certsmith.io,resources=servicecertificates,verbs=get;list;watch
// +kubebuilder:rbac:groups=certsmith.io,resources=servicecertificates/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=certsmith.io,resources=servicecertificates/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests,verbs=get;list;watch;create;delete

// Reconcile brings one ServiceCertificate's Secret and status up to date.
func (r *ServiceCertificateReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sc := &certsmithv1alpha1.ServiceCertificate{}
	if err := r.Get(ctx, req.NamespacedName, sc); err != nil {
		if apierrors.IsNotFound(err) {
			r.keys.forgetName(req.NamespacedName)
			r.written.forget(req.NamespacedName)
			r.expectations.forget(req.NamespacedName)
			forgetCertificateMetrics(req.NamespacedName)
			return ctrl.Result{}, r.deleteRequests(ctx, req.NamespacedName, nil)
		}
		return ctrl.Result{}, err
	}
	original := sc.DeepCopy()
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
	if patchErr := r.patchStatus(ctx, original, sc); patchErr != nil {
		return ctrl.Result{}, errors.Join(err, patchErr)
	}
	recordCertificateMetrics(sc)
	return result, err
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

// reconcileCertificate runs the phases: issuer, request, Secret, the
// re-issue policies, the issuer's policy, then either "ready until renewal"
// or one step of issuance.
func (r *ServiceCertificateReconciler) reconcileCertificate(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate) (ctrl.Result, error) {
	issuer, ca, err := r.issuerCA(ctx, sc)
	if err != nil {
		return ctrl.Result{}, err
	}
	request, namespaceIPs, err := r.certificateRequest(ctx, sc, issuer)
	if err != nil {
		// The certificate cannot be issued, but the Secret it already has
		// keeps trusting the issuer's current bundle: a CA rotation waits
		// for every ca.crt certsmith can write.
		return ctrl.Result{}, r.keepTrust(ctx, sc, ca, err)
	}
	secret, err := r.currentSecret(ctx, sc)
	if err != nil {
		return ctrl.Result{}, err
	}
	issued := decodeSecret(secret)
	now := r.Clock.Now()
	if !r.expectations.satisfied(sc, issued.revision(), now) {
		// Our own last write has not reached the cache yet; its event will.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}

	input := &issuanceInput{issued: issued, request: request, ca: ca.CA, now: now,
		renewRequest: sc.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt]}
	if issued != nil {
		// The Secret records the trigger it was issued for, in the same write
		// as the certificate, so a stale cached status cannot fire it twice.
		input.lastRenewRequest = issued.secret.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt]
	}
	if issued != nil && issued.decodeErr == nil {
		input.renewalTime = r.renewalTime(sc, request, issued.leaf())
	}
	reason, message, needed := needsIssuance(input)
	if needed && reason == certsmithv1alpha1.ReasonNotChainedToIssuer {
		if due, spread := r.rotationReissueTime(sc, issuer, issued, ca); spread && now.Before(due) {
			// The issuer switched CAs; the old one stays trusted, so this
			// certificate's turn comes later, spread over the re-issue window.
			needed = false
			input.renewalTime = due
		}
	}
	policyErr := r.checkPolicy(ctx, sc, issuer, request, namespaceIPs)
	var refusal *terminalError
	if policyErr != nil && !errors.As(policyErr, &refusal) {
		return ctrl.Result{}, policyErr
	}
	if policyErr != nil && (needed || !usable(issued, now)) {
		return ctrl.Result{}, r.keepTrust(ctx, sc, ca, policyErr)
	}
	if !needed {
		r.keys.forget(sc)
		if err := r.repairSecret(ctx, sc, issued, ca); err != nil {
			return ctrl.Result{}, err
		}
		r.setIssued(sc, issued, input.renewalTime, ca.bundle)
		if refusal != nil {
			// Issued before the policy (or certsmith) changed: it stays in
			// use, and is not renewed unless the policy allows it again.
			setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionIssuing, metav1.ConditionFalse, refusal.reason,
				fmt.Sprintf("the certificate in the Secret stays in use until %s but will not be renewed: %s",
					input.renewalTime.UTC().Format(time.RFC3339), refusal.message))
		}
		if err := r.pruneRequests(ctx, sc, ""); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: input.renewalTime.Sub(now)}, nil
	}
	if r.keys.get(sc) == nil {
		// Defence in depth against any loop the re-issue policies may still
		// have: a new CSR only while the hourly budget lasts.
		if wait, limit := issuanceWait(sc.Status.RecentIssuances, issuanceKey(sc, request, ca.CA), now); wait > 0 {
			return r.rateLimited(sc, issued, reason, message, wait, limit)
		}
	}
	if issued == nil && r.keys.get(sc) == nil {
		// Not in the cache: it may exist without certsmith's label.
		adopted, err := r.adoptUnlabelled(ctx, sc)
		if err != nil {
			return ctrl.Result{}, err
		}
		if adopted {
			// The cache sees the Secret again shortly; look again then.
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
	}
	setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionIssuing, metav1.ConditionTrue, reason, message)
	return r.issue(ctx, sc, request, ca, issued)
}

// rateLimited reports that a certificate has used up its hourly issuances
// and schedules the next attempt. Ready stays True while the Secret holds a
// usable certificate; a Warning Event says what keeps triggering.
func (r *ServiceCertificateReconciler) rateLimited(sc *certsmithv1alpha1.ServiceCertificate, issued *issuedCertificate, reason, message string, wait time.Duration, limit int) (ctrl.Result, error) {
	next := r.Clock.Now().Add(wait).UTC().Format(time.RFC3339)
	what := "for the same spec, issuer CA and renew request"
	if limit == maxIssuancesPerHourInAll {
		what = "in all (the spec or the renew request changing each time)"
	}
	note := fmt.Sprintf("%d certificates were issued in the last hour %s; the next may be issued at %s. "+
		"It keeps being re-issued because %s (%s): fix what causes that (a spec that asks for renewal right after issuance, something that deletes or edits the Secret)",
		limit, what, next, message, reason)
	previous := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionIssuing)
	if usable(issued, r.Clock.Now()) && (previous == nil || previous.Reason != certsmithv1alpha1.ReasonIssuanceRateLimited) {
		r.Recorder.Eventf(sc, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonIssuanceRateLimited, "Issue", "%s", note)
	}
	setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionIssuing, metav1.ConditionFalse, certsmithv1alpha1.ReasonIssuanceRateLimited, note)
	if !usable(issued, r.Clock.Now()) {
		// warnOnNewProblem emits the Event for this one.
		setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionReady, metav1.ConditionFalse, certsmithv1alpha1.ReasonIssuanceRateLimited, note)
	}
	return ctrl.Result{RequeueAfter: wait}, nil
}

// keepTrust refreshes the Secret's ca.crt (refreshTrust) before a problem
// is reported; a transient failure to do so is returned instead, so the
// refresh is retried with backoff and the problem reported once it worked.
func (r *ServiceCertificateReconciler) keepTrust(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, ca *signingCA, problem error) error {
	if err := r.refreshTrust(ctx, sc, ca); err != nil {
		return err
	}
	return problem
}

// refreshTrust keeps the ca.crt of a Secret that certsmith issued equal to
// the issuer's trust bundle while the certificate itself cannot be
// (re-)issued. A Secret that is missing, not certsmith's or unreadable is
// left alone.
func (r *ServiceCertificateReconciler) refreshTrust(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, ca *signingCA) error {
	secret, err := r.currentSecret(ctx, sc)
	if err != nil || secret == nil {
		var te *terminalError
		if errors.As(err, &te) {
			return nil
		}
		return err
	}
	issued := decodeSecret(secret)
	if issued.decodeErr != nil || !pki.KeyMatchesCertificate(issued.key, issued.leaf()) {
		return nil
	}
	if err := r.repairSecret(ctx, sc, issued, ca); err != nil {
		return err
	}
	sc.Status.CAFingerprintsSHA256 = fingerprints(ca.bundle)
	return nil
}

// issuerCA returns the issuer and its CA, or a terminal error when it cannot sign.
// signingCA is an issuer's CA with the trust bundle that goes into ca.crt.
type signingCA struct {
	*pki.CA
	bundle []byte
}

func (r *ServiceCertificateReconciler) issuerCA(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate) (*certsmithv1alpha1.ClusterIssuer, *signingCA, error) {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := r.Get(ctx, types.NamespacedName{Name: sc.Spec.IssuerRef.Name}, issuer); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, terminal(certsmithv1alpha1.ReasonIssuerNotFound, fmt.Sprintf(
				"ClusterIssuer %s does not exist; create it or fix spec.issuerRef.name", sc.Spec.IssuerRef.Name))
		}
		return nil, nil, err
	}
	ca, err := loadIssuerCA(ctx, r.Client, r.Namespace, issuer)
	if err != nil {
		if errors.Is(err, errCANotReady) || apierrors.IsNotFound(err) {
			msg := "ClusterIssuer " + issuer.Name + " is not Ready"
			if c := meta.FindStatusCondition(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady); c != nil {
				msg += ": " + c.Reason + ": " + c.Message
			}
			return nil, nil, terminal(certsmithv1alpha1.ReasonIssuerNotReady, msg)
		}
		return nil, nil, terminal(certsmithv1alpha1.ReasonIssuerNotReady, fmt.Sprintf("ClusterIssuer %s: %v", issuer.Name, err))
	}
	bundle, err := issuerBundle(ctx, r.Client, r.Namespace, issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the trust bundle of ClusterIssuer %s: %w", issuer.Name, err)
	}
	return issuer, &signingCA{CA: ca, bundle: bundle}, nil
}

// rotationReissueTime spreads re-issuance after a CA switch: a certificate
// that still chains to a CA in the issuer's trust bundle is re-issued at a
// point of the re-issue window derived from its namespace and name.
func (r *ServiceCertificateReconciler) rotationReissueTime(sc *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer, issued *issuedCertificate, ca *signingCA) (time.Time, bool) {
	rotation := issuer.Status.Rotation
	if rotation == nil || rotation.SwitchedAt == nil || issued == nil || issued.decodeErr != nil {
		return time.Time{}, false
	}
	anchors, err := pki.ParseCertificatesPEM(ca.bundle)
	if err != nil || pki.VerifyChain(issued.leaf(), issued.chain[1:], anchors, "", issued.leaf().NotBefore.Add(time.Second)) != nil {
		return time.Time{}, false
	}
	share := pki.JitterFraction(sc.Namespace+"/"+sc.Name) / pki.MaxJitterFraction
	return rotation.SwitchedAt.Add(time.Duration(share * float64(reissueWindow(issuer)))), true
}

// checkPolicy refuses, before any CSR is made, what the issuer would refuse.
func (r *ServiceCertificateReconciler) checkPolicy(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer, request *certificateRequest, ips []net.IP) error {
	message, err := namespaceAllowed(ctx, r.Client, issuer, sc.Namespace)
	if err != nil {
		return err
	}
	if message != "" {
		return terminal(certsmithv1alpha1.ReasonNotAllowedByPolicy, message)
	}
	rules, err := issuerRules(issuer)
	if err != nil {
		return terminal(certsmithv1alpha1.ReasonIssuerNotReady, fmt.Sprintf("ClusterIssuer %s has an invalid policy: %v", issuer.Name, err))
	}
	// allowCA is for hand-made CSRs only: a workload's certificate is never a CA.
	rules.AllowCA = false
	policyCtx, err := policyContext(ctx, r.Client, issuer, rules, r.ClusterDomain, ips)
	if err != nil {
		return err
	}
	if err := policy.Check(policy.Request{Namespace: sc.Namespace, Subject: subjectOfName(request.subject), DNSNames: request.dnsNames,
		IPAddresses: request.ipAddresses, URIs: request.uris, Usages: request.usages}, policyCtx); err != nil {
		return terminal(certsmithv1alpha1.ReasonNotAllowedByPolicy, fmt.Sprintf("ClusterIssuer %s does not allow: %v", issuer.Name, err))
	}
	return nil
}

// certificateRequest resolves defaults and the Service into a request, and
// returns the cluster IPs of the namespace's Services for the policy.
func (r *ServiceCertificateReconciler) certificateRequest(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer) (*certificateRequest, []net.IP, error) {
	req := &certificateRequest{
		issuerName:     issuer.Name,
		signerName:     issuer.EffectiveSignerName(),
		keySpec:        keySpecFrom(sc.Spec.PrivateKey),
		keyEncoding:    pki.KeyEncodingPKCS1,
		rotationPolicy: certsmithv1alpha1.RotationPolicyAlways,
		duration:       defaultCertificateDuration,
	}
	if k := sc.Spec.PrivateKey; k != nil {
		if k.Encoding != "" {
			req.keyEncoding = pki.KeyEncoding(k.Encoding)
		}
		if k.RotationPolicy != "" {
			req.rotationPolicy = k.RotationPolicy
		}
	}
	if sc.Spec.Duration != nil {
		req.duration = sc.Spec.Duration.Duration
	}
	if sc.Spec.RenewBefore != nil {
		req.renewBefore = sc.Spec.RenewBefore.Duration
	}
	if sc.Spec.RenewBeforePercentage != nil {
		req.renewBeforePercentage = *sc.Spec.RenewBeforePercentage
	}
	for _, raw := range sc.Spec.URIs {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" {
			return nil, nil, terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("spec.uris: %q is not an absolute URI", raw))
		}
		req.uris = append(req.uris, u)
	}
	dnsNames := append([]string(nil), sc.Spec.DNSNames...)
	var ips []net.IP
	for _, s := range sc.Spec.IPAddresses {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, nil, terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("spec.ipAddresses: %q is not an IP address", s))
		}
		ips = append(ips, ip)
	}
	var services corev1.ServiceList
	if err := r.List(ctx, &services, client.InNamespace(sc.Namespace)); err != nil {
		return nil, nil, fmt.Errorf("listing Services in %s: %w", sc.Namespace, err)
	}
	var namespaceIPs []net.IP
	found := false
	for i := range services.Items {
		svc := &services.Items[i]
		namespaceIPs = append(namespaceIPs, clusterIPs(svc)...)
		if sc.Spec.Service != nil && svc.Name == sc.Spec.Service.Name {
			found = true
			dnsNames = append(dnsNames, serviceNames(svc.Name, sc.Namespace, r.ClusterDomain)...)
			ips = append(ips, clusterIPs(svc)...)
		}
	}
	if sc.Spec.Service != nil && !found {
		return nil, nil, terminal(certsmithv1alpha1.ReasonServiceNotFound, fmt.Sprintf(
			"Service %s/%s does not exist; the certificate is issued once it does", sc.Namespace, sc.Spec.Service.Name))
	}
	req.dnsNames = uniqueSortedNames(dnsNames)
	req.ipAddresses = uniqueSortedIPs(ips)
	commonName := sc.Spec.CommonName
	if commonName == "" && len(req.dnsNames) > 0 {
		commonName = req.dnsNames[0]
	}
	req.subject = subjectFrom(sc.Spec.Subject, "")
	req.subject.CommonName = commonName
	if len(sc.Spec.Usages) > 0 {
		for _, u := range sc.Spec.Usages {
			req.usages = append(req.usages, string(u))
		}
		req.usages = uniqueSortedNames(req.usages)
	} else {
		req.usages = defaultUsages(req.keySpec.Algorithm)
	}
	if _, _, err := pki.ParseUsages(req.usages); err != nil {
		return nil, nil, terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("spec.usages: %v", err))
	}
	if len(req.dnsNames) == 0 && len(req.ipAddresses) == 0 && len(req.uris) == 0 {
		return nil, nil, terminal(certsmithv1alpha1.ReasonInvalidSpec, "the certificate would carry no name: the Service has no cluster IP and no dnsNames or ipAddresses are set")
	}
	return req, namespaceIPs, nil
}

// renewalTime computes when the certificate in the Secret is due for renewal.
// A renewBefore as long as the certificate's actual lifetime (the issuer may
// have shortened it) would renew at once and forever, so it then falls back
// to the default of two thirds of the lifetime.
func (r *ServiceCertificateReconciler) renewalTime(sc *certsmithv1alpha1.ServiceCertificate, req *certificateRequest, leaf *x509.Certificate) time.Time {
	renewBefore := req.renewBefore
	if renewBefore >= leaf.NotAfter.Sub(leaf.NotBefore) {
		renewBefore = 0
	}
	return pki.RenewalTime(leaf.NotBefore, leaf.NotAfter, renewBefore, req.renewBeforePercentage, sc.Namespace+"/"+sc.Name)
}

// setIssued sets Ready and the certificate's times in status.
func (r *ServiceCertificateReconciler) setIssued(sc *certsmithv1alpha1.ServiceCertificate, issued *issuedCertificate, renewalTime time.Time, bundle []byte) {
	leaf := issued.leaf()
	sc.Status.NotBefore = &metav1.Time{Time: leaf.NotBefore}
	sc.Status.NotAfter = &metav1.Time{Time: leaf.NotAfter}
	sc.Status.RenewalTime = &metav1.Time{Time: renewalTime.Truncate(time.Second)}
	sc.Status.SerialNumber = fmt.Sprintf("%x", leaf.SerialNumber)
	sc.Status.Revision = issued.revision()
	sc.Status.LastRenewRequest = issued.secret.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt]
	sc.Status.CertificateSigningRequest = ""
	sc.Status.FailedIssuanceAttempts = 0
	sc.Status.LastFailureTime = nil
	sc.Status.CAFingerprintsSHA256 = fingerprints(bundle)
	if uid := issued.secret.UID; uid != "" {
		sc.Status.OwnedSecret = &certsmithv1alpha1.OwnedObject{Name: issued.secret.Name, UID: uid}
	}
	setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionReady, metav1.ConditionTrue, certsmithv1alpha1.ReasonIssued,
		fmt.Sprintf("Secret %s holds a certificate valid until %s", sc.Status.SecretName, leaf.NotAfter.UTC().Format(time.RFC3339)))
	setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionIssuing, metav1.ConditionFalse, certsmithv1alpha1.ReasonIssued,
		fmt.Sprintf("up to date; renewal at %s", renewalTime.UTC().Format(time.RFC3339)))
}

// warnOnNewProblem emits a Warning Event when Ready turns False with a new reason.
func (r *ServiceCertificateReconciler) warnOnNewProblem(original, sc *certsmithv1alpha1.ServiceCertificate) {
	now := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)
	if now == nil || now.Status != metav1.ConditionFalse || now.Reason == certsmithv1alpha1.ReasonPending {
		return
	}
	if before := meta.FindStatusCondition(original.Status.Conditions, certsmithv1alpha1.ConditionReady); before != nil &&
		before.Status == now.Status && before.Reason == now.Reason && before.Message == now.Message {
		return
	}
	r.Recorder.Eventf(sc, nil, corev1.EventTypeWarning, now.Reason, "Issue", "%s", now.Message)
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
	r.keys = newPendingKeys()
	r.expectations = newSecretExpectations()
	r.written = newWrittenStatuses()
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
	if err := indexer.IndexField(ctx, &certificatesv1.CertificateSigningRequest{}, indexCSROwner, func(obj client.Object) []string {
		if owner := obj.GetAnnotations()[certsmithv1alpha1.AnnotationServiceCertificate]; owner != "" {
			return []string{owner}
		}
		return nil
	}); err != nil {
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
		Watches(&certificatesv1.CertificateSigningRequest{}, handler.EnqueueRequestsFromMapFunc(csrOwner)).
		Watches(&certsmithv1alpha1.ClusterIssuer{}, handler.EnqueueRequestsFromMapFunc(r.certificatesOfIssuer)).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.certificatesOfService)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
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

// certificatesOfIssuer maps an issuer to the certificates that use it.
func (r *ServiceCertificateReconciler) certificatesOfIssuer(ctx context.Context, obj client.Object) []reconcile.Request {
	var list certsmithv1alpha1.ServiceCertificateList
	if err := r.List(ctx, &list, client.MatchingFields{indexCertificateIssuer: obj.GetName()}); err != nil {
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for _, sc := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&sc)})
	}
	return requests
}

// certificatesOfService maps a Service to the certificates in its namespace
// that name it; any Service change matters to the namespace's IP policy only
// through the certificates that ask for IPs, which are re-checked on their own changes.
func (r *ServiceCertificateReconciler) certificatesOfService(ctx context.Context, obj client.Object) []reconcile.Request {
	var list certsmithv1alpha1.ServiceCertificateList
	if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{indexCertificateService: obj.GetName()}); err != nil {
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for _, sc := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&sc)})
	}
	return requests
}
