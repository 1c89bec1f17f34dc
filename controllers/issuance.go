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
	"crypto"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// Backoff after failed issuances: doubling from the base, capped.
const (
	failureBackoffBase = 10 * time.Second
	failureBackoffMax  = time.Hour
	// lostRequestTimeout is how long a CSR we created may be missing from
	// the cache before it is taken as deleted by someone else.
	lostRequestTimeout = 10 * time.Second
	// defaultRevisionHistoryLimit is how many finished CSRs are kept per certificate.
	defaultRevisionHistoryLimit = 1
)

// historyLimit returns how many finished CSRs to keep for sc.
func historyLimit(sc *certsmithv1alpha1.ServiceCertificate) int {
	if sc.Spec.RevisionHistoryLimit != nil {
		return int(*sc.Spec.RevisionHistoryLimit)
	}
	return defaultRevisionHistoryLimit
}

// failureBackoff returns how long to wait after the given number of consecutive failures.
func failureBackoff(attempts int32) time.Duration {
	if attempts <= 0 {
		return 0
	}
	backoff := float64(failureBackoffBase) * math.Pow(2, float64(attempts-1))
	if backoff > float64(failureBackoffMax) {
		return failureBackoffMax
	}
	return time.Duration(backoff)
}

// csrOwnerValue is the annotation value that ties a CSR to its ServiceCertificate.
func csrOwnerValue(key types.NamespacedName) string { return key.Namespace + "/" + key.Name }

// csrOwnerKey returns the ServiceCertificate a CSR was made for.
func csrOwnerKey(obj client.Object) (types.NamespacedName, bool) {
	ns, name, ok := strings.Cut(obj.GetAnnotations()[certsmithv1alpha1.AnnotationServiceCertificate], "/")
	if !ok || ns == "" || name == "" {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: ns, Name: name}, true
}

// csrFinished reports whether a CSR is signed, denied or failed.
func csrFinished(csr *certificatesv1.CertificateSigningRequest) bool {
	return len(csr.Status.Certificate) > 0 || csrFailure(csr) != nil
}

// csrFailure returns the Denied or Failed condition of a CSR, if any.
func csrFailure(csr *certificatesv1.CertificateSigningRequest) *certificatesv1.CertificateSigningRequestCondition {
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		if (c.Type == certificatesv1.CertificateDenied || c.Type == certificatesv1.CertificateFailed) && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// requestsOf lists the CSRs made for a ServiceCertificate, newest first.
func (r *ServiceCertificateReconciler) requestsOf(ctx context.Context, key types.NamespacedName) ([]certificatesv1.CertificateSigningRequest, error) {
	var list certificatesv1.CertificateSigningRequestList
	if err := r.List(ctx, &list, client.MatchingFields{indexCSROwner: csrOwnerValue(key)}); err != nil {
		return nil, fmt.Errorf("listing CSRs of %s: %w", key, err)
	}
	// Only CSRs that certsmith itself made count: the annotation can be
	// written by anyone, spec.username only by the API server.
	list.Items = slices.DeleteFunc(list.Items, func(csr certificatesv1.CertificateSigningRequest) bool {
		return csr.Spec.Username != r.Username
	})
	sort.Slice(list.Items, func(i, j int) bool {
		a, b := list.Items[i].CreationTimestamp, list.Items[j].CreationTimestamp
		if !a.Equal(&b) {
			return b.Before(&a)
		}
		return list.Items[i].Name > list.Items[j].Name
	})
	return list.Items, nil
}

// issue takes one step of issuance: create a CSR, wait for it, or store
// the signed certificate.
func (r *ServiceCertificateReconciler) issue(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, request *certificateRequest, ca *signingCA, issued *issuedCertificate) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(sc)
	now := r.Clock.Now()
	requests, err := r.requestsOf(ctx, key)
	if err != nil {
		return ctrl.Result{}, err
	}
	pending := r.keys.get(sc)
	if pending != nil && pending.requestHash != request.hash() {
		// The spec changed while a CSR was in flight: start over.
		r.keys.forget(sc)
		pending = nil
	}

	var current *certificatesv1.CertificateSigningRequest
	for i := range requests {
		csr := &requests[i]
		if pending != nil && csr.Name == pending.csrName {
			current = csr
		}
	}
	// In-flight CSRs whose key this process does not hold (left by a crash,
	// or made for an older spec) can never be used: delete them.
	if err := r.deleteRequests(ctx, key, func(csr *certificatesv1.CertificateSigningRequest) bool {
		return !csrFinished(csr) && (pending == nil || csr.Name != pending.csrName)
	}); err != nil {
		return ctrl.Result{}, err
	}

	switch {
	case current != nil && len(current.Status.Certificate) > 0:
		return r.storeCertificate(ctx, sc, request, ca, issued, current, pending)
	case current != nil && csrFailure(current) != nil:
		r.keys.forget(sc)
		return r.recordFailure(sc, current, now)
	case current != nil:
		r.setPending(sc, request, issued, current.Name)
		return ctrl.Result{}, nil
	case pending != nil && now.Sub(pending.createdAt) < lostRequestTimeout:
		// Created moments ago; the cache has not seen it yet.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}

	// Back off after failures, unless the request changed since the last one.
	if wait := r.backoffRemaining(sc, requests, request, now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	return r.createRequest(ctx, sc, request, issued)
}

// keyFor returns the key for a new certificate: the Secret's own key when
// rotationPolicy is Never and it still matches the spec, a new one otherwise.
func (r *ServiceCertificateReconciler) keyFor(request *certificateRequest, issued *issuedCertificate) (crypto.Signer, error) {
	if request.rotationPolicy == certsmithv1alpha1.RotationPolicyNever && issued != nil && issued.key != nil {
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

// backoffRemaining returns how long to wait before the next attempt.
func (r *ServiceCertificateReconciler) backoffRemaining(sc *certsmithv1alpha1.ServiceCertificate, requests []certificatesv1.CertificateSigningRequest, request *certificateRequest, now time.Time) time.Duration {
	if sc.Status.FailedIssuanceAttempts == 0 || sc.Status.LastFailureTime == nil {
		return 0
	}
	if len(requests) > 0 {
		last := requests[0].Annotations
		// A changed spec, or a manual trigger newer than the failed attempt, goes at once.
		if last[certsmithv1alpha1.AnnotationCertificateHash] != request.hash() ||
			last[certsmithv1alpha1.AnnotationRenewRequestedAt] != sc.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt] {
			return 0
		}
	}
	return sc.Status.LastFailureTime.Add(failureBackoff(sc.Status.FailedIssuanceAttempts)).Sub(now)
}

// recordFailure notes a denied or failed CSR in status and schedules a retry with backoff.
func (r *ServiceCertificateReconciler) recordFailure(sc *certsmithv1alpha1.ServiceCertificate, csr *certificatesv1.CertificateSigningRequest, now time.Time) (ctrl.Result, error) {
	failure := csrFailure(csr)
	sc.Status.FailedIssuanceAttempts++
	sc.Status.LastFailureTime = &metav1.Time{Time: now}
	sc.Status.CertificateSigningRequest = ""
	backoff := failureBackoff(sc.Status.FailedIssuanceAttempts)
	setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionReady, metav1.ConditionFalse, certsmithv1alpha1.ReasonFailed,
		fmt.Sprintf("CertificateSigningRequest %s was %s (%s: %s); retrying in %s", csr.Name, strings.ToLower(string(failure.Type)),
			failure.Reason, failure.Message, backoff))
	return ctrl.Result{RequeueAfter: backoff}, nil
}

// createRequest generates a key and creates the CSR for it. The key stays in memory.
func (r *ServiceCertificateReconciler) createRequest(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, request *certificateRequest, issued *issuedCertificate) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(sc)
	signer, err := r.keyFor(request, issued)
	if err != nil {
		return ctrl.Result{}, err
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(signer, request.keyEncoding)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("encoding private key: %w", err)
	}
	csrPEM, err := pki.BuildCSR(signer, pki.CSRRequest{
		Subject:     request.subject,
		DNSNames:    request.dnsNames,
		IPAddresses: request.ipAddresses,
		URIs:        request.uris,
	})
	if err != nil {
		return ctrl.Result{}, terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("building the certificate request: %v", err))
	}
	usages := make([]certificatesv1.KeyUsage, 0, len(request.usages))
	for _, u := range request.usages {
		usages = append(usages, certificatesv1.KeyUsage(u))
	}
	expirationSeconds := int32(min(request.duration/time.Second, math.MaxInt32))
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: csrNamePrefix(key),
			Labels:       map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue},
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
	if err := r.Create(ctx, csr); err != nil {
		return ctrl.Result{}, fmt.Errorf("creating CSR for %s: %w", key, err)
	}
	r.keys.put(sc, &pendingRequest{csrName: csr.Name, requestHash: request.hash(), key: signer, keyPEM: keyPEM,
		createdAt: r.Clock.Now(), createdWall: time.Now()})
	logf.FromContext(ctx).V(1).Info("created CSR", "csr", csr.Name, "signerName", request.signerName)
	r.setPending(sc, request, issued, csr.Name)
	return ctrl.Result{}, nil
}

// setPending records the CSR in flight. Ready turns False only when the
// Secret holds no usable certificate: a renewal in flight leaves it True.
func (r *ServiceCertificateReconciler) setPending(sc *certsmithv1alpha1.ServiceCertificate, request *certificateRequest, issued *issuedCertificate, csrName string) {
	sc.Status.CertificateSigningRequest = csrName
	if usable(issued, r.Clock.Now()) {
		return
	}
	setCondition(&sc.Status.Conditions, sc.Generation, certsmithv1alpha1.ConditionReady, metav1.ConditionFalse, certsmithv1alpha1.ReasonPending,
		fmt.Sprintf("waiting for CertificateSigningRequest %s to be approved and signed by %s", csrName, request.signerName))
}

// usable reports whether a Secret holds a matching, unexpired pair.
func usable(issued *issuedCertificate, now time.Time) bool {
	return issued != nil && issued.decodeErr == nil && pki.KeyMatchesCertificate(issued.key, issued.leaf()) && now.Before(issued.leaf().NotAfter)
}

// csrNamePrefix makes a generateName prefix from the certificate's namespace and name.
func csrNamePrefix(key types.NamespacedName) string {
	prefix := key.Namespace + "-" + key.Name
	if len(prefix) > 200 {
		prefix = prefix[:200]
	}
	return prefix + "-"
}

// deleteRequests deletes the CSRs of a ServiceCertificate that match (all when match is nil).
func (r *ServiceCertificateReconciler) deleteRequests(ctx context.Context, key types.NamespacedName, match func(*certificatesv1.CertificateSigningRequest) bool) error {
	requests, err := r.requestsOf(ctx, key)
	if err != nil {
		return err
	}
	for i := range requests {
		csr := &requests[i]
		if match != nil && !match(csr) {
			continue
		}
		if err := r.Delete(ctx, csr, client.Preconditions{UID: &csr.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting CSR %s: %w", csr.Name, err)
		}
	}
	return nil
}

// pruneRequests keeps the newest finished CSRs up to the history limit
// (always keeping keep) and deletes the rest, and every CSR still in
// flight: it is called once the Secret is up to date.
func (r *ServiceCertificateReconciler) pruneRequests(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, keep string) error {
	kept := 0
	if keep != "" {
		kept = 1
	}
	return r.deleteRequests(ctx, client.ObjectKeyFromObject(sc), func(csr *certificatesv1.CertificateSigningRequest) bool {
		if csr.Name == keep {
			return false
		}
		if !csrFinished(csr) {
			return true
		}
		if kept < historyLimit(sc) {
			kept++
			return false
		}
		return true
	})
}
