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

// The observe stage of the ServiceCertificate pipeline: everything one
// reconcile looks at, read once, before anything is decided.

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/policy"
)

// observed is what one reconcile of a ServiceCertificate looks at. observe
// stops reading at the first observation that settles the outcome, so the
// later fields may be unset; decide reads them in the same order.
type observed struct {
	// sc is the ServiceCertificate, with the last status written.
	sc *certsmithv1alpha1.ServiceCertificate
	// issuer and ca are the ClusterIssuer and its CA with the trust bundle.
	issuer *certsmithv1alpha1.ClusterIssuer
	ca     *signingCA
	// request is what the spec and the Service ask for; namespaceIPs are
	// the cluster IPs of the namespace's Services, for the policy.
	request      *certificateRequest
	namespaceIPs []net.IP
	// requestErr is why no request can be made: a terminal problem of the
	// spec or the Service, or a transient failure to list the Services.
	// Nothing after issued is observed then.
	requestErr error
	// issued is what the Secret holds, nil when there is none (or, with a
	// requestErr, when it is not certsmith's).
	issued *issuedCertificate
	// cacheBehind: our own last Secret write has not reached the cache yet.
	// Nothing after it is observed then.
	cacheBehind bool
	// refusal is the issuer policy's refusal of the request, if any.
	refusal *terminalError
	// revoked: the issuer's revocation record lists the certificate in the Secret.
	revoked bool
	// pending is the key of the CSR in flight, held in memory.
	pending *pendingRequest
	// requests are the CSRs certsmith made for the certificate, newest first.
	requests []certificatesv1.CertificateSigningRequest
	// handed is the certificate the signer of this process made for the
	// CSR in flight and has not written into it yet (issuanceHandoff).
	handed []byte
	// storedUnsigned are the CSRs whose certificate is already in the
	// Secret and which wait for the signer to write it into them.
	storedUnsigned map[string]bool
}

// observe reads what sc depends on. It returns the errors that end the
// reconcile at once: a transient read failure, an issuer that cannot sign,
// a Secret that belongs to someone else.
func (r *ServiceCertificateReconciler) observe(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, now time.Time) (*observed, error) {
	issuer, ca, err := r.issuerCA(ctx, sc)
	if err != nil {
		return nil, err
	}
	o := &observed{sc: sc, issuer: issuer, ca: ca, pending: r.keys.get(sc)}
	o.request, o.namespaceIPs, o.requestErr = r.resolveRequest(ctx, sc, issuer)
	secret, err := r.currentSecret(ctx, sc)
	var conflict *terminalError
	if o.requestErr != nil && errors.As(err, &conflict) {
		// The request's problem is the one reported; a Secret that is not
		// certsmith's is left alone.
		secret, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	o.issued = decodeSecret(secret)
	if o.requestErr != nil {
		return o, nil
	}
	if o.cacheBehind = !r.expectations.satisfied(sc, o.issued.revision(), now); o.cacheBehind {
		return o, nil
	}
	if err := r.checkPolicy(ctx, sc, issuer, o.request, o.namespaceIPs); err != nil && !errors.As(err, &o.refusal) {
		return nil, err
	}
	if o.issued != nil && o.issued.decodeErr == nil {
		serials, err := r.revoked.of(ctx, r.Client, r.Namespace, issuer.Name)
		if err != nil {
			return nil, err
		}
		_, o.revoked = serials[o.issued.leaf().SerialNumber.Text(16)]
	}
	o.storedUnsigned = r.Handoff.storedOf(client.ObjectKeyFromObject(sc))
	if o.requests, err = r.requestsOf(ctx, client.ObjectKeyFromObject(sc)); err != nil {
		return nil, err
	}
	for i := range o.requests {
		if csr := &o.requests[i]; o.pending != nil && csr.Name == o.pending.csrName {
			o.handed = r.Handoff.certificateFor(csr)
		}
	}
	return o, nil
}

// signingCA is an issuer's CA with the trust bundle that goes into ca.crt.
type signingCA struct {
	*pki.CA
	bundle []byte
}

// issuerCA returns the issuer and its CA, or a terminal error when it cannot sign.
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

// resolveRequest resolves the spec, its defaults and the Service it names
// into a request (servicecertificate_request.go), and returns the cluster
// IPs of the namespace's Services for the policy.
func (r *ServiceCertificateReconciler) resolveRequest(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer) (*certificateRequest, []net.IP, error) {
	req, err := requestFromSpec(sc, issuer)
	if err != nil {
		return nil, nil, err
	}
	var services corev1.ServiceList
	if err := r.List(ctx, &services, client.InNamespace(sc.Namespace)); err != nil {
		return nil, nil, fmt.Errorf("listing Services in %s: %w", sc.Namespace, err)
	}
	namespaceIPs, err := req.addService(sc, services.Items, r.ClusterDomain)
	if err != nil {
		return nil, nil, err
	}
	if err := req.complete(sc); err != nil {
		return nil, nil, err
	}
	return req, namespaceIPs, nil
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

// currentSecret returns the certificate's Secret, nil when there is none,
// or a terminal error when it belongs to someone else. The cache holds
// Secrets outside the operator's namespace without their data (a tenant can
// label any Secret as certsmith's), so ownership is decided from the cached
// metadata and only a Secret of certsmith's own is read whole, past the cache.
func (r *ServiceCertificateReconciler) currentSecret(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: sc.Namespace, Name: sc.Status.SecretName}
	cached := &corev1.Secret{}
	err := r.Get(ctx, key, cached)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	reason := foreignSecret(sc, cached)
	if reason != "" && cached.Annotations[certsmithv1alpha1.AnnotationServiceCertificate] != sc.Name {
		return nil, terminal(certsmithv1alpha1.ReasonSecretConflict, reason)
	}
	secret := cached
	if cached.Data == nil {
		// Not cached whole (outside the operator's namespace): this
		// controller's own last write of it if that is what is cached,
		// else read it.
		if written := r.stored.lookup(cached); written != nil && reason == "" {
			return written, nil
		}
		secret = &corev1.Secret{}
		if err := r.APIReader.Get(ctx, key, secret); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("reading Secret %s: %w", key, err)
		}
		reason = foreignSecret(sc, secret)
	}
	if reason != "" {
		// A Secret with certsmith's marks but not the UID it recorded: its
		// own, made after the record (a crash came between creating the
		// Secret and recording it), only if it holds a certificate that
		// certsmith's own CSR for this certificate received.
		ours, err := r.holdsOwnCertificate(ctx, sc, secret)
		if err != nil {
			return nil, err
		}
		if !ours {
			return nil, terminal(certsmithv1alpha1.ReasonSecretConflict, reason)
		}
	}
	return secret, nil
}

// holdsOwnCertificate reports whether a Secret holds a matching pair whose
// certificate is the one a CSR that certsmith made for sc received: a
// Secret that only certsmith, which alone held that key, can have written.
func (r *ServiceCertificateReconciler) holdsOwnCertificate(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, secret *corev1.Secret) (bool, error) {
	issued := decodeSecret(secret)
	if issued.decodeErr != nil || !pki.KeyMatchesCertificate(issued.key, issued.leaf()) {
		return false, nil
	}
	requests, err := r.requestsOf(ctx, client.ObjectKeyFromObject(sc))
	if err != nil {
		return false, err
	}
	for i := range requests {
		if chain, err := pki.ParseCertificatesPEM(requests[i].Status.Certificate); err == nil && chain[0].Equal(issued.leaf()) {
			return true, nil
		}
	}
	return false, nil
}

// foreignSecret says why a Secret may not be written for sc, or "" when it
// may. Once certsmith has recorded the Secret it created (status.ownedSecret),
// only that Secret, by UID, is its own. Before — a Secret made by an earlier
// release, or a crash between creating the Secret and recording it — the
// marks certsmith puts on its Secrets are taken once, and the UID is
// recorded with the next status write.
func foreignSecret(sc *certsmithv1alpha1.ServiceCertificate, secret *corev1.Secret) string {
	if owned := sc.Status.OwnedSecret; owned != nil && owned.Name == secret.Name {
		if owned.UID == secret.UID {
			return ""
		}
		return fmt.Sprintf("Secret %s is not the one certsmith created for this certificate (UID %s, now %s): certsmith will not overwrite it, "+
			"whatever its labels or owner references say; delete it to have a new one issued, or choose another spec.secretName", secret.Name, owned.UID, secret.UID)
	}
	if owner := metav1.GetControllerOf(secret); owner != nil {
		if owner.UID == sc.UID {
			return ""
		}
		return fmt.Sprintf("Secret %s is managed by %s %s; choose another spec.secretName", secret.Name, owner.Kind, owner.Name)
	}
	if secret.Annotations[certsmithv1alpha1.AnnotationServiceCertificate] == sc.Name {
		// Ours, with the owner reference removed (or Retain); restored on the next write.
		return ""
	}
	if secret.Labels[certsmithv1alpha1.LabelManagedBy] == certsmithv1alpha1.ManagedByValue {
		return fmt.Sprintf("Secret %s is managed by certsmith for another certificate; choose another spec.secretName", secret.Name)
	}
	return fmt.Sprintf("Secret %s already exists and is not managed by certsmith; certsmith will not overwrite it: delete it or choose another spec.secretName", secret.Name)
}

// ownedByUID reports whether secret is the one certsmith recorded creating for sc.
func ownedByUID(sc *certsmithv1alpha1.ServiceCertificate, secret *corev1.Secret) bool {
	owned := sc.Status.OwnedSecret
	return owned != nil && owned.Name == secret.Name && owned.UID == secret.UID
}

// issuedCertificate is what the Secret holds, decoded.
type issuedCertificate struct {
	secret *corev1.Secret
	chain  []*x509.Certificate
	key    crypto.Signer
	// decodeErr is set when tls.crt or tls.key is missing or undecodable.
	decodeErr error
}

// leaf returns the certificate itself.
func (c *issuedCertificate) leaf() *x509.Certificate { return c.chain[0] }

// revision returns the revision annotation of the Secret, 0 when unknown.
func (c *issuedCertificate) revision() int64 {
	if c == nil || c.secret == nil {
		return 0
	}
	n, _ := strconv.ParseInt(c.secret.Annotations[certsmithv1alpha1.AnnotationRevision], 10, 64)
	return n
}

// decodeSecret reads a certificate Secret; a decoding problem is recorded, not returned.
func decodeSecret(secret *corev1.Secret) *issuedCertificate {
	if secret == nil {
		return nil
	}
	issued := &issuedCertificate{secret: secret}
	certPEM, keyPEM := secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		issued.decodeErr = fmt.Errorf("the Secret has no %s or no %s", corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
		return issued
	}
	chain, err := pki.ParseCertificatesPEM(certPEM)
	if err != nil {
		issued.decodeErr = fmt.Errorf("%s cannot be decoded: %w", corev1.TLSCertKey, err)
		return issued
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		issued.decodeErr = fmt.Errorf("%s cannot be decoded: %w", corev1.TLSPrivateKeyKey, err)
		return issued
	}
	issued.chain, issued.key = chain, key
	return issued
}
