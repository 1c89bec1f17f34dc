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

// The act stage of the ServiceCertificate pipeline: it carries out what
// decide chose, with the API writes that takes, and leaves the status in sc
// for Reconcile's one status write. The Secret's assembly is in secret.go.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// act carries out decision d for sc.
func (r *ServiceCertificateReconciler) act(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, o *observed, d decision, now time.Time) (ctrl.Result, error) {
	switch d.action {
	case actionReport:
		return ctrl.Result{}, r.keepTrust(ctx, sc, o, d.problem)
	case actionWaitForCache:
		// Our own last write has not reached the cache yet; its event will.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	case actionKeep:
		return r.keep(ctx, sc, o, d, now)
	case actionRateLimited:
		r.rateLimited(sc, o.issued, d, now)
		return ctrl.Result{RequeueAfter: d.wait}, nil
	default:
		return r.issue(ctx, sc, o, d, now)
	}
}

// keepTrust keeps the ca.crt of a Secret that certsmith issued equal to the
// issuer's trust bundle while the certificate itself cannot be (re-)issued,
// then returns the problem to report. A transient failure to do so is
// returned instead, so the refresh is retried with backoff and the problem
// reported once it worked. A Secret that is missing, not certsmith's or
// without a matching pair is left alone.
func (r *ServiceCertificateReconciler) keepTrust(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, o *observed, problem error) error {
	issued := o.issued
	if issued == nil || issued.decodeErr != nil || !pki.KeyMatchesCertificate(issued.key, issued.leaf()) {
		return problem
	}
	if err := r.repairSecret(ctx, sc, issued, o.ca); err != nil {
		return err
	}
	sc.Status.CAFingerprintsSHA256 = fingerprints(o.ca.bundle)
	return problem
}

// keep keeps the certificate in the Secret until its renewal time: a key in
// flight is dropped, the Secret repaired, status set to Ready, and the CSRs
// no longer needed are deleted.
func (r *ServiceCertificateReconciler) keep(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, o *observed, d decision, now time.Time) (ctrl.Result, error) {
	r.keys.forget(sc)
	if !bytes.Equal(o.issued.secret.Data[caCertKey], o.ca.bundle) {
		// The issuer's trust bundle changed: refresh ca.crt at this
		// certificate's turn, so that the issuer's certificates do not all
		// write at once (trustRefreshPacer). Status waits with it.
		if wait := r.trustPacer.wait(client.ObjectKeyFromObject(sc), o.request.issuerName, maxReissueRate(o.issuer), now); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}
	if err := r.repairSecret(ctx, sc, o.issued, o.ca); err != nil {
		return ctrl.Result{}, err
	}
	r.trustPacer.forget(client.ObjectKeyFromObject(sc))
	reported := d.renewalTime
	if d.rotationTurn && sc.Status.RenewalTime != nil && sc.Status.SerialNumber == fmt.Sprintf("%x", o.issued.leaf().SerialNumber) {
		// A rotation's turn is not written into status: at the switch every
		// certificate of the issuer gets one, and writing them would be a
		// status write per certificate at once. The re-issue at the turn
		// writes the status anyway; until then it keeps the certificate's
		// own renewal time, and the controller wakes at the turn.
		reported = sc.Status.RenewalTime.Time
	}
	setIssued(sc, o.issued, reported, o.ca.bundle)
	if refusal := d.refusal; refusal != nil {
		// Issued before the policy (or certsmith) changed: it stays in
		// use, and is not renewed unless the policy allows it again.
		setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionIssuing, metav1.ConditionFalse, refusal.reason,
			fmt.Sprintf("the certificate in the Secret stays in use until %s but will not be renewed: %s",
				d.renewalTime.UTC().Format(time.RFC3339), refusal.message))
	}
	if err := r.deleteRequests(ctx, prunableRequests(sc, o.requests, "", o.storedUnsigned)); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: d.renewalTime.Sub(now)}, nil
}

// rateLimited reports that a certificate has used up its hourly issuances
// and when the next may be made. Ready stays True while the Secret holds a
// usable certificate; a Warning Event says what keeps triggering.
func (r *ServiceCertificateReconciler) rateLimited(sc *certsmithv1alpha1.ServiceCertificate, issued *issuedCertificate, d decision, now time.Time) {
	next := now.Add(d.wait).UTC().Format(time.RFC3339)
	what := "for the same spec, issuer CA and renew request"
	if d.limit == maxIssuancesPerHourInAll {
		what = "in all (the spec or the renew request changing each time)"
	}
	note := fmt.Sprintf("%d certificates were issued in the last hour %s; the next may be issued at %s. "+
		"It keeps being re-issued because %s (%s): fix what causes that (a spec that asks for renewal right after issuance, something that deletes or edits the Secret)",
		d.limit, what, next, d.message, d.reason)
	if d.reason == certsmithv1alpha1.ReasonRevoked {
		note = fmt.Sprintf("%d certificates were re-issued after a revocation in the last %s; the next may be issued at %s. %s",
			d.limit, revocationReissueWindow, next, d.message)
	}
	previous := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionIssuing)
	if usable(issued, now) && (previous == nil || previous.Reason != certsmithv1alpha1.ReasonIssuanceRateLimited) {
		r.Recorder.Eventf(sc, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonIssuanceRateLimited, "Issue", "%s", note)
	}
	setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionIssuing, metav1.ConditionFalse, certsmithv1alpha1.ReasonIssuanceRateLimited, note)
	if !usable(issued, now) || d.reason == certsmithv1alpha1.ReasonRevoked {
		// warnOnNewProblem emits the Event for this one.
		setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionReady, metav1.ConditionFalse, certsmithv1alpha1.ReasonIssuanceRateLimited, note)
	}
}

// issue takes the issuance step decided: store the signed certificate,
// record a failure, wait, or create a CSR. CSRs in flight whose key this
// process does not hold are deleted first.
func (r *ServiceCertificateReconciler) issue(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, o *observed, d decision, now time.Time) (ctrl.Result, error) {
	if d.adopt {
		adopted, err := r.adoptUnlabelled(ctx, sc, o, now)
		if err != nil {
			return ctrl.Result{}, err
		}
		if adopted {
			// The cache sees the Secret again shortly; look again then.
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
	}
	setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionIssuing, metav1.ConditionTrue, d.reason, d.message)
	step := d.step
	if step.forgetPending {
		r.keys.forget(sc)
	}
	if err := r.deleteRequests(ctx, step.stale); err != nil {
		return ctrl.Result{}, err
	}
	if step.pending != nil && step.pending.unanswered && step.csr != nil {
		// The create that got no answer made it after all.
		answered := *step.pending
		answered.unanswered = false
		r.keys.put(sc, &answered)
	}
	switch step.kind {
	case stepStore:
		return r.storeCertificate(ctx, sc, o, step.csr, step.chainPEM, step.pending, now)
	case stepFailed:
		r.keys.forget(sc)
		return recordFailure(sc, step.csr, now), nil
	case stepWaitSigning:
		setPending(sc, o.request, o.issued, step.csr.Name, now)
		// The CSR's events and the signer's hand-over wake this; the
		// requeue is in case a wake-up was lost.
		return ctrl.Result{RequeueAfter: waitSigningRecheck}, nil
	case stepWaitCache:
		return ctrl.Result{RequeueAfter: time.Second}, nil
	case stepBackoff:
		return ctrl.Result{RequeueAfter: step.wait}, nil
	default:
		return r.createRequest(ctx, sc, o, now)
	}
}

// createRequest generates a key and creates the CSR for it. The key stays
// in memory, held before the CSR exists: the signer signs only the CSRs
// whose key this process holds. A create whose answer was lost is made
// again with the same key and name, and finds the CSR already there.
func (r *ServiceCertificateReconciler) createRequest(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, o *observed, now time.Time) (ctrl.Result, error) {
	request := o.request
	pending := o.pending
	if pending != nil && !pending.unanswered && pending.requestHash == request.hash() {
		// Created, but missing from the cache for lostRequestTimeout: ask
		// the API server before taking it as deleted (a cache can lag far
		// behind a slow API server).
		err := r.APIReader.Get(ctx, types.NamespacedName{Name: pending.csrName}, &certificatesv1.CertificateSigningRequest{})
		switch {
		case err == nil:
			again := *pending
			again.createdAt = r.Clock.Now()
			r.keys.put(sc, &again)
			return ctrl.Result{RequeueAfter: time.Second}, nil
		case !apierrors.IsNotFound(err):
			return ctrl.Result{}, fmt.Errorf("reading CSR %s, missing from the cache: %w", pending.csrName, err)
		}
	}
	if pending == nil || !pending.unanswered || pending.requestHash != request.hash() {
		if pending != nil {
			logf.FromContext(ctx).Info("starting an issuance over with a new key", "csr", pending.csrName,
				"specChanged", pending.requestHash != request.hash(), "inFlightFor", r.Clock.Since(pending.createdAt).String())
		}
		var err error
		if pending, err = newPendingRequest(sc, request, o.issued, o.revoked); err != nil {
			return ctrl.Result{}, err
		}
	}
	pending.createdAt, pending.createdWall = r.Clock.Now(), time.Now()
	r.keys.put(sc, pending)
	csr := newCSR(sc, request, pending.csrPEM, pending.csrName)
	if err := r.Create(ctx, csr); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("creating CSR for %s: %w", client.ObjectKeyFromObject(sc), err)
		}
		if err := r.checkCreatedBefore(ctx, pending); err != nil {
			if errors.Is(err, errNotCreatedBefore) {
				r.keys.forget(sc)
			}
			return ctrl.Result{}, err
		}
	}
	answered := *pending
	answered.unanswered = false
	answered.createdAt = r.Clock.Now()
	r.keys.put(sc, &answered)
	logf.FromContext(ctx).V(1).Info("created CSR", "csr", pending.csrName, "signerName", request.signerName)
	setPending(sc, request, o.issued, pending.csrName, now)
	return ctrl.Result{}, nil
}

// newPendingRequest makes the key, the request and the CSR name of a new
// issuance; it is held unanswered until the API server has the CSR.
func newPendingRequest(sc *certsmithv1alpha1.ServiceCertificate, request *certificateRequest, issued *issuedCertificate, revoked bool) (*pendingRequest, error) {
	signer, err := keyFor(request, issued, revoked)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(signer, request.keyEncoding)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	csrPEM, err := pki.BuildCSR(signer, pki.CSRRequest{
		Subject:     request.subject,
		DNSNames:    request.dnsNames,
		IPAddresses: request.ipAddresses,
		URIs:        request.uris,
	})
	if err != nil {
		return nil, terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("building the certificate request: %v", err))
	}
	return &pendingRequest{csrName: csrNameFor(client.ObjectKeyFromObject(sc)), requestHash: request.hash(),
		key: signer, keyPEM: keyPEM, csrPEM: csrPEM, unanswered: true}, nil
}

// csrNameFor returns a new CSR name for the ServiceCertificate key: its
// namespace and name, and ten random characters, which nobody can guess
// before the CSR exists.
func csrNameFor(key types.NamespacedName) string {
	return csrNamePrefix(key) + strings.ToLower(rand.Text()[:10])
}

// checkCreatedBefore checks that the CSR found under the name of pending
// is the one an earlier, unanswered create made: certsmith's, for this key.
func (r *ServiceCertificateReconciler) checkCreatedBefore(ctx context.Context, pending *pendingRequest) error {
	existing := &certificatesv1.CertificateSigningRequest{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Name: pending.csrName}, existing); err != nil {
		return fmt.Errorf("reading CSR %s, which already exists: %w", pending.csrName, err)
	}
	if existing.Spec.Username == r.Username {
		if parsed, err := pki.ParseCSR(existing.Spec.Request); err == nil && pki.KeyMatchesRequest(pending.key, parsed) {
			return nil
		}
	}
	return fmt.Errorf("CSR %s: %w", pending.csrName, errNotCreatedBefore)
}

// errNotCreatedBefore: a CSR under the name certsmith chose is someone
// else's, or for another key.
var errNotCreatedBefore = errors.New("exists and is not the one certsmith created for this key; a new key and name will be made")

// waitSigningRecheck is how often an issuance waiting for its signer looks
// again by itself.
const waitSigningRecheck = time.Minute

// keyFor returns the key for a new certificate: the Secret's own key when
// rotationPolicy is Never and it still matches the spec, a new one otherwise
// (always after a revocation: the old key may be compromised).
func keyFor(request *certificateRequest, issued *issuedCertificate, revoked bool) (crypto.Signer, error) {
	if request.rotationPolicy == certsmithv1alpha1.RotationPolicyNever && !revoked && issued != nil && issued.key != nil {
		if spec, err := pki.KeySpecOf(issued.key.Public()); err == nil && spec.Algorithm == request.keySpec.Algorithm &&
			(request.keySpec.Size == 0 || spec.Size == request.keySpec.Size || spec.Algorithm == pki.KeyAlgorithmEd25519) {
			return issued.key, nil
		}
	}
	signer, err := pki.GenerateKey(request.keySpec)
	if err != nil {
		return nil, terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("spec.privateKey: %v", err))
	}
	return signer, nil
}

// newCSR is the CSR certsmith creates for sc's request, labelled and
// annotated back to sc and to the request and trigger it was made for.
func newCSR(sc *certsmithv1alpha1.ServiceCertificate, request *certificateRequest, csrPEM []byte, name string) *certificatesv1.CertificateSigningRequest {
	key := client.ObjectKeyFromObject(sc)
	usages := make([]certificatesv1.KeyUsage, 0, len(request.usages))
	for _, u := range request.usages {
		usages = append(usages, certificatesv1.KeyUsage(u))
	}
	expirationSeconds := int32(min(request.duration/time.Second, math.MaxInt32))
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue},
			Annotations: map[string]string{
				certsmithv1alpha1.AnnotationServiceCertificate: csrOwnerValue(key),
				certsmithv1alpha1.AnnotationCertificateHash:    request.hash(),
				certsmithv1alpha1.AnnotationRenewRequestedAt:   sc.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt],
			},
		},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           csrPEM,
			SignerName:        request.signerName,
			ExpirationSeconds: &expirationSeconds,
			Usages:            usages,
		},
	}
}

// storeCertificate writes the signed certificate, its key and the CA bundle
// into the Secret in one write, then updates status and prunes the CSRs. A
// certificate the signer of this process handed over is written into the
// CSR by the signer afterwards (issuanceHandoff).
func (r *ServiceCertificateReconciler) storeCertificate(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, o *observed,
	csr *certificatesv1.CertificateSigningRequest, chainPEM []byte, pending *pendingRequest, now time.Time) (ctrl.Result, error) {
	chain, err := pki.ParseCertificatesPEM(chainPEM)
	if err != nil || !pki.KeyMatchesCertificate(pending.key, chain[0]) {
		// A signer wrote something that is not a certificate for our key:
		// never store a pair that does not match.
		r.keys.forget(sc)
		if err := r.deleteRequests(ctx, []*certificatesv1.CertificateSigningRequest{csr}); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, terminal(certsmithv1alpha1.ReasonFailed, fmt.Sprintf(
			"CertificateSigningRequest %s holds a certificate that does not match its request; a new one will be made", csr.Name))
	}
	revision := max(sc.Status.Revision, o.issued.revision()) + 1
	material := &certificateMaterial{chain: chain, chainPEM: chainPEM, key: pending.key, keyPEM: pending.keyPEM}
	desired, err := r.storeSecret(ctx, sc, o.issued, material, o.ca.bundle, issuedAnnotations(sc, o.request, revision))
	if err != nil {
		return ctrl.Result{}, err
	}
	r.Handoff.markStored(csr, chainPEM)
	r.expectations.expect(sc, revision, r.Clock.Now())
	r.keys.forget(sc)
	observeIssuance(o.request.issuerName, time.Since(pending.createdWall))

	history := sc.Status.RecentIssuances
	sc.Status.RecentIssuances = recordIssuance(history, issuanceKey(sc, o.request, o.ca.CA), now)
	if history != nil {
		sc.Status.RecentIssuances.RevokedTimes = history.RevokedTimes
	}
	if o.revoked {
		sc.Status.RecentIssuances = recordRevocationReissue(sc.Status.RecentIssuances, now)
	}
	renewal := renewalTime(sc, o.request, chain[0])
	setIssued(sc, &issuedCertificate{secret: desired, chain: chain, key: pending.key}, renewal, o.ca.bundle)
	r.Recorder.Eventf(sc, csr, corev1.EventTypeNormal, certsmithv1alpha1.ReasonIssued, "Issue",
		"Issued certificate %x (revision %d) into Secret %s, valid until %s, renewal at %s", chain[0].SerialNumber, revision,
		sc.Status.SecretName, chain[0].NotAfter.UTC().Format(time.RFC3339), renewal.UTC().Format(time.RFC3339))
	if err := r.deleteRequests(ctx, prunableRequests(sc, o.requests, csr.Name, o.storedUnsigned)); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: renewal.Sub(now)}, nil
}

// deleteRequests deletes CSRs, each only if it is still the object listed
// (by UID). It is the only place certsmith deletes CSRs.
func (r *ServiceCertificateReconciler) deleteRequests(ctx context.Context, csrs []*certificatesv1.CertificateSigningRequest) error {
	for _, csr := range csrs {
		if err := r.Delete(ctx, csr, client.Preconditions{UID: &csr.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting CSR %s: %w", csr.Name, err)
		}
	}
	return nil
}

// requestPointers returns pointers to each CSR of list.
func requestPointers(list []certificatesv1.CertificateSigningRequest) []*certificatesv1.CertificateSigningRequest {
	out := make([]*certificatesv1.CertificateSigningRequest, 0, len(list))
	for i := range list {
		out = append(out, &list[i])
	}
	return out
}

// setIssued sets Ready and the certificate's times in status.
func setIssued(sc *certsmithv1alpha1.ServiceCertificate, issued *issuedCertificate, renewalTime time.Time, bundle []byte) {
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

// setPending records the CSR in flight. Ready turns False only when the
// Secret holds no usable certificate: a renewal in flight leaves it True.
func setPending(sc *certsmithv1alpha1.ServiceCertificate, request *certificateRequest, issued *issuedCertificate, csrName string, now time.Time) {
	sc.Status.CertificateSigningRequest = csrName
	if usable(issued, now) {
		return
	}
	setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionReady, metav1.ConditionFalse, certsmithv1alpha1.ReasonPending,
		fmt.Sprintf("waiting for CertificateSigningRequest %s to be approved and signed by %s", csrName, request.signerName))
}

// recordFailure notes a denied or failed CSR in status and schedules a retry with backoff.
func recordFailure(sc *certsmithv1alpha1.ServiceCertificate, csr *certificatesv1.CertificateSigningRequest, now time.Time) ctrl.Result {
	failure := csrFailure(csr)
	sc.Status.FailedIssuanceAttempts++
	sc.Status.LastFailureTime = &metav1.Time{Time: now}
	sc.Status.CertificateSigningRequest = ""
	backoff := failureBackoff(sc.Status.FailedIssuanceAttempts)
	setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionReady, metav1.ConditionFalse, certsmithv1alpha1.ReasonFailed,
		fmt.Sprintf("CertificateSigningRequest %s was %s (%s: %s); retrying in %s", csr.Name, strings.ToLower(string(failure.Type)),
			failure.Reason, failure.Message, backoff))
	return ctrl.Result{RequeueAfter: backoff}
}
