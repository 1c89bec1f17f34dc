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

// The revocation controller: the only writer of each issuer's revocation
// record (the Secret "<issuer>-revocations"), of the status of
// CertificateRevocations and ClusterCertificateRevocations, and of
// status.revocation of ClusterIssuers. It works per issuer: one reconcile
// resolves the issuer's new revocations to serial numbers, records them,
// drops expired entries, signs the CRLs that are due (internal/revocation)
// and reports. The bundle controller publishes the CRLs, the CRL server
// serves them, and the ServiceCertificate controller re-issues a
// certificate the record lists.

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/ca"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/revocation"
)

// RevocationControllerName names the revocation controller.
const RevocationControllerName = "revocation"

const (
	actionRevoke = "Revoke"
	// indexRevocationCertificate indexes CertificateRevocations by the
	// ServiceCertificate they name.
	indexRevocationCertificate = "spec.serviceCertificateName"
	// indexRevocationIssuer indexes ClusterCertificateRevocations by issuer.
	indexRevocationIssuer = "spec.issuerName"
	// revocationRetry is how soon a revocation waiting for its certificate
	// (or for room in the record) is looked at again, besides the watches.
	revocationRetry = 5 * time.Minute
)

// +kubebuilder:rbac:groups=certsmith.io,resources=certificaterevocations;clustercertificaterevocations,verbs=get;list;watch
// +kubebuilder:rbac:groups=certsmith.io,resources=clustercertificaterevocations,verbs=delete
// +kubebuilder:rbac:groups=certsmith.io,resources=certificaterevocations/status;clustercertificaterevocations/status,verbs=get;update;patch

// RevocationReconciler keeps the revocation record and CRLs of each issuer.
type RevocationReconciler struct {
	// MaxRetryDelay caps the back-off of a failed reconcile (0: DefaultMaxRetryDelay).
	MaxRetryDelay time.Duration
	client.Client
	// APIReader reads certificate Secrets, which the cache keeps without
	// their data outside the operator's namespace.
	APIReader client.Reader
	Clock     clock.PassiveClock
	Recorder  events.EventRecorder
	// Namespace is the operator's namespace, where records live.
	Namespace string
	// Username is the operator's identity: only CSRs it made name their
	// ServiceCertificate credibly.
	Username string
}

// SetupWithManager registers the controller. Work items are issuer names
// (an empty namespace) and, for a CertificateRevocation whose issuer is
// not known, the revocation itself.
func (r *RevocationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	ctx := context.Background()
	if err := indexer.IndexField(ctx, &certsmithv1alpha1.CertificateRevocation{}, indexRevocationCertificate, func(obj client.Object) []string {
		return []string{obj.(*certsmithv1alpha1.CertificateRevocation).Spec.ServiceCertificateName}
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &certsmithv1alpha1.ClusterCertificateRevocation{}, indexRevocationIssuer, func(obj client.Object) []string {
		return []string{obj.(*certsmithv1alpha1.ClusterCertificateRevocation).Spec.IssuerName}
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(RevocationControllerName).
		For(&certsmithv1alpha1.ClusterIssuer{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, caStatusChanged()))).
		Watches(&certsmithv1alpha1.CertificateRevocation{}, handler.EnqueueRequestsFromMapFunc(r.issuerOfRevocation)).
		Watches(&certsmithv1alpha1.ClusterCertificateRevocation{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: obj.(*certsmithv1alpha1.ClusterCertificateRevocation).Spec.IssuerName}}}
		})).
		// A ServiceCertificate that gets its first certificate, or whose
		// revocation waits: the issuer of revocations that name it.
		Watches(&certsmithv1alpha1.ServiceCertificate{}, handler.EnqueueRequestsFromMapFunc(r.issuerOfNamedCertificate)).
		// The record and CA Secrets of the operator's namespace.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.issuerOfSecret)).
		// Issuers are independent (each has its own record), so one with
		// much to do does not hold up another's CRL refresh.
		WithOptions(controller.Options{MaxConcurrentReconciles: revocationWorkers, RateLimiter: retryLimiter[reconcile.Request](r.MaxRetryDelay)}).
		Complete(r)
}

// revocationWorkers is how many issuers are reconciled at once.
const revocationWorkers = 4

// maxResolvesPerReconcile bounds how many revocations not resolved yet one
// reconcile of an issuer looks up (each may read a Secret or scan requests):
// new ones first, then those refused longest ago; the rest wait for the
// next reconcile, which comes at once.
const maxResolvesPerReconcile = 100

// resolveOrder sorts unresolved revocations for resolving: never answered
// first (oldest first), then refused ones by how long ago.
func resolveOrder(targets []*revocationTarget) []*revocationTarget {
	var open []*revocationTarget
	for _, t := range targets {
		if !t.resolved() {
			open = append(open, t)
		}
	}
	when := func(t *revocationTarget) (bool, time.Time) {
		if c := meta.FindStatusCondition(t.currentStatus().Conditions, certsmithv1alpha1.ConditionRevoked); c != nil {
			return true, c.LastTransitionTime.Time
		}
		return false, t.object().GetCreationTimestamp().Time
	}
	slices.SortStableFunc(open, func(a, b *revocationTarget) int {
		aAnswered, aTime := when(a)
		bAnswered, bTime := when(b)
		if aAnswered != bAnswered {
			if !aAnswered {
				return -1
			}
			return 1
		}
		return aTime.Compare(bTime)
	})
	return open
}

// caStatusChanged lets through issuer updates that change its CAs.
func caStatusChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		old, okOld := e.ObjectOld.(*certsmithv1alpha1.ClusterIssuer)
		cur, okNew := e.ObjectNew.(*certsmithv1alpha1.ClusterIssuer)
		return !okOld || !okNew || !equality.Semantic.DeepEqual(old.Status.TrustedCAs, cur.Status.TrustedCAs) ||
			isReady(old.Status.Conditions) != isReady(cur.Status.Conditions)
	}}
}

// issuerOfRevocation maps a CertificateRevocation to the issuer it was
// recorded with, or to its ServiceCertificate's issuer, or to itself
// when neither is known.
func (r *RevocationReconciler) issuerOfRevocation(ctx context.Context, obj client.Object) []reconcile.Request {
	rev := obj.(*certsmithv1alpha1.CertificateRevocation)
	if rev.Status.IssuerName != "" {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: rev.Status.IssuerName}}}
	}
	sc := &certsmithv1alpha1.ServiceCertificate{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: rev.Namespace, Name: rev.Spec.ServiceCertificateName}, sc); err == nil {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: sc.Spec.IssuerRef.Name}}}
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(rev)}}
}

// issuerOfNamedCertificate maps a ServiceCertificate to its issuer when a
// CertificateRevocation names it.
func (r *RevocationReconciler) issuerOfNamedCertificate(ctx context.Context, obj client.Object) []reconcile.Request {
	var list certsmithv1alpha1.CertificateRevocationList
	if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{indexRevocationCertificate: obj.GetName()}); err != nil || len(list.Items) == 0 {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: obj.(*certsmithv1alpha1.ServiceCertificate).Spec.IssuerRef.Name}}}
}

// issuerOfSecret maps a record or CA Secret of the operator's namespace to its issuer.
func (r *RevocationReconciler) issuerOfSecret(_ context.Context, obj client.Object) []reconcile.Request {
	if obj.GetNamespace() != r.Namespace {
		return nil
	}
	issuer := obj.GetLabels()[certsmithv1alpha1.LabelClusterIssuer]
	if obj.GetLabels()[certsmithv1alpha1.LabelRevocations] == "true" {
		issuer = obj.GetAnnotations()[certsmithv1alpha1.AnnotationIssuerName]
	}
	if issuer == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: issuer}}}
}

// Reconcile brings one issuer's record, CRLs and revocations up to date.
func (r *RevocationReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if req.Namespace != "" {
		return reconcile.Result{}, r.reportUnknownIssuer(ctx, req.NamespacedName)
	}
	ctx = logf.IntoContext(ctx, logf.FromContext(ctx).WithValues("clusterIssuer", req.Name))
	now := r.Clock.Now()
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := r.Get(ctx, req.NamespacedName, issuer); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		issuer = nil
	}
	w, err := r.gather(ctx, req.Name, issuer)
	if err != nil {
		return reconcile.Result{}, err
	}
	if w.cas == nil {
		// No issuer, or no CA yet: nothing can be revoked or signed.
		return reconcile.Result{}, r.refuseAll(ctx, w, certsmithv1alpha1.ReasonRevocationIssuerNotFound,
			fmt.Sprintf("ClusterIssuer %s does not exist or has no CA yet", req.Name))
	}
	if w.conflict != "" {
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonCRLFailed, actionRevoke, "%s", w.conflict)
		return reconcile.Result{RequeueAfter: terminalRecheck}, r.writeIssuerStatus(ctx, issuer, w.rec, w.conflict)
	}
	open := resolveOrder(w.targets)
	more := len(open) > maxResolvesPerReconcile
	for i, t := range open {
		if i == maxResolvesPerReconcile {
			break
		}
		r.resolve(ctx, w, t, now)
	}
	for _, t := range w.targets {
		if t.status == nil && t.resolved() {
			t.status = t.currentStatus().DeepCopy() // resolved before: as resolve leaves it
		}
	}
	// Revocations resolved before (their status holds what was revoked)
	// are recorded again should the record have lost them.
	for _, t := range w.targets {
		if t.resolved() && t.refusal == "" && !t.firstRecorded {
			for _, e := range t.entries(now) {
				if stillListed(e, w.cas, now) {
					if added, _ := w.rec.Add(e); added {
						w.added = true
					}
				}
			}
		}
	}
	// What was revoked goes into the revocations' status before the record
	// is written: should certsmith stop in between, the status brings the
	// entry back, and the ServiceCertificate, re-issued in the meantime, does
	// not lose its new certificate to the same revocation a second time.
	for _, t := range w.targets {
		if t.firstRecorded {
			if err := r.writeRevocationStatus(ctx, t, w.rec); err != nil {
				return reconcile.Result{}, err
			}
		}
	}
	validity := revocation.DefaultValidity
	if rs := issuer.Spec.Revocation; rs != nil && rs.CRLValidity != nil {
		validity = rs.CRLValidity.Duration
	}
	started := time.Now()
	planned, res, err := revocation.Plan(w.rec, w.cas, now, validity)
	if err != nil {
		problem := fmt.Sprintf("signing a CRL: %v", err)
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonCRLFailed, actionRevoke, "%s", problem)
		return reconcile.Result{RequeueAfter: time.Minute}, r.writeIssuerStatus(ctx, issuer, w.rec, problem)
	}
	// A CA that cannot sign its CRL keeps its last one; the record and the
	// other CAs' CRLs go on, and the issuer says which CA failed.
	problem := ""
	if len(res.Failed) > 0 {
		ids := slices.Sorted(maps.Keys(res.Failed))
		parts := make([]string, 0, len(ids))
		for _, id := range ids {
			parts = append(parts, fmt.Sprintf("CA %s: %v", id, res.Failed[id]))
		}
		problem = boundMessage("signing a CRL: " + strings.Join(parts, "; "))
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonCRLFailed, actionRevoke, "%s", problem)
	}
	if len(res.Signed) > 0 {
		crlSigningDuration.WithLabelValues(issuer.Name).Observe(time.Since(started).Seconds())
		crlsSigned.WithLabelValues(issuer.Name).Add(float64(len(res.Signed)))
	}
	if res.Changed || w.added {
		if err := r.writeRecord(ctx, issuer.Name, w.secret, planned); err != nil {
			if errors.Is(err, revocation.ErrFull) {
				return reconcile.Result{RequeueAfter: revocationRetry}, r.writeIssuerStatus(ctx, issuer, w.rec, err.Error())
			}
			return reconcile.Result{}, err
		}
	}
	for _, t := range w.targets {
		if err := r.writeRevocationStatus(ctx, t, planned); err != nil {
			return reconcile.Result{}, err
		}
		if err := r.deleteExpiredOnDelete(ctx, t); err != nil {
			return reconcile.Result{}, err
		}
	}
	if err := r.writeIssuerStatus(ctx, issuer, planned, problem); err != nil {
		return reconcile.Result{}, err
	}
	recordCRLMetrics(issuer.Name, planned)
	result := reconcile.Result{}
	if problem != "" {
		result.RequeueAfter = time.Minute
	}
	if next := max(res.Next.Sub(now), 0) + time.Second; !res.Next.IsZero() && (result.RequeueAfter == 0 || next < result.RequeueAfter) {
		result.RequeueAfter = next
	}
	for _, t := range w.targets {
		if t.refusal != "" && t.retry && (result.RequeueAfter == 0 || result.RequeueAfter > revocationRetry) {
			result.RequeueAfter = revocationRetry
		}
	}
	if more {
		result.RequeueAfter = time.Second // the revocations this one left
	}
	return result, nil
}

// work is what one issuer's reconcile looks at.
type work struct {
	issuer *certsmithv1alpha1.ClusterIssuer
	// set is the issuer's stored CA set, cas the CAs as the record sees them.
	set *ca.Set
	cas []revocation.CA
	// rec is the record (changed in place as revocations are added), secret
	// the Secret it was read from (nil when there is none yet); conflict
	// says why a Secret of the record's name is not the record.
	rec      *revocation.Record
	secret   *corev1.Secret
	conflict string
	// added: a revocation was added to rec.
	added   bool
	targets []*revocationTarget
}

// gather reads the issuer's CAs, record and revocations.
func (r *RevocationReconciler) gather(ctx context.Context, name string, issuer *certsmithv1alpha1.ClusterIssuer) (*work, error) {
	w := &work{issuer: issuer, rec: &revocation.Record{}}
	var clusterList certsmithv1alpha1.ClusterCertificateRevocationList
	if err := r.List(ctx, &clusterList, client.MatchingFields{indexRevocationIssuer: name}); err != nil {
		return nil, err
	}
	for i := range clusterList.Items {
		w.targets = append(w.targets, &revocationTarget{cluster: &clusterList.Items[i], issuer: name})
	}
	var list certsmithv1alpha1.CertificateRevocationList
	if err := r.List(ctx, &list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		rev := &list.Items[i]
		if refusedForGood(rev) {
			continue
		}
		if rev.Status.IssuerName == "" {
			sc := &certsmithv1alpha1.ServiceCertificate{}
			if err := r.Get(ctx, types.NamespacedName{Namespace: rev.Namespace, Name: rev.Spec.ServiceCertificateName}, sc); err != nil || sc.Spec.IssuerRef.Name != name {
				continue
			}
		} else if rev.Status.IssuerName != name {
			continue
		}
		w.targets = append(w.targets, &revocationTarget{namespaced: rev, issuer: name})
	}
	if issuer == nil || !issuer.DeletionTimestamp.IsZero() {
		return w, nil
	}
	caSecret := &corev1.Secret{}
	if err := r.Get(ctx, caSecretKey(issuer, r.Namespace), caSecret); err != nil {
		if apierrors.IsNotFound(err) {
			return w, nil
		}
		return nil, err
	}
	set, err := ca.Decode(caSecret.Data, caSecret.Annotations)
	if err != nil {
		return w, nil // the ClusterIssuer controller reports it
	}
	w.set = set
	w.cas = []revocation.CA{{Certificate: set.Active.Certificate, Signer: set.Active}}
	for _, old := range set.Retiring {
		w.cas = append(w.cas, revocation.CA{Certificate: old, Signer: set.RetiringCA(old)})
	}
	secret := &corev1.Secret{}
	switch err := r.Get(ctx, revocationRecordKey(name, r.Namespace), secret); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, err
	case !isRevocationRecord(secret, name):
		w.conflict = fmt.Sprintf("Secret %s/%s exists but is not the revocation record of ClusterIssuer %s (type %s, label %s=true, annotation %s=%s); remove or rename it",
			secret.Namespace, secret.Name, name, revocation.SecretType, certsmithv1alpha1.LabelRevocations, certsmithv1alpha1.AnnotationIssuerName, name)
	default:
		rec, err := revocation.Decode(secret.Data)
		if err != nil {
			w.conflict = fmt.Sprintf("the revocation record %s/%s is unreadable, and is left as it is: %v", secret.Namespace, secret.Name, err)
		} else {
			w.rec, w.secret = rec, secret
		}
	}
	return w, nil
}

// refusedForGood says whether a CertificateRevocation was refused because
// its ServiceCertificate did not exist: that is final (its spec cannot
// change), so a ServiceCertificate of that name created later is not
// revoked by it.
func refusedForGood(rev *certsmithv1alpha1.CertificateRevocation) bool {
	c := meta.FindStatusCondition(rev.Status.Conditions, certsmithv1alpha1.ConditionRevoked)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == certsmithv1alpha1.ReasonRevocationServiceCertificateNotFound &&
		c.ObservedGeneration == rev.Generation && rev.Status.SerialNumber == ""
}

// revocationTarget is one revocation of the issuer and what it resolved to.
type revocationTarget struct {
	// issuer is the ClusterIssuer whose reconcile looks at it ("" for a
	// CertificateRevocation of a ServiceCertificate that does not exist).
	issuer     string
	namespaced *certsmithv1alpha1.CertificateRevocation
	cluster    *certsmithv1alpha1.ClusterCertificateRevocation
	// status is the status to write (a copy, set by resolve).
	status *certsmithv1alpha1.CertificateRevocationStatus
	// refusal and message, when set, say why it is not recorded; retry
	// says whether that may pass without a change of the revocation.
	refusal, message string
	retry            bool
	// firstRecorded: this reconcile recorded it.
	firstRecorded bool
}

func (t *revocationTarget) object() client.Object {
	if t.cluster != nil {
		return t.cluster
	}
	return t.namespaced
}

func (t *revocationTarget) currentStatus() *certsmithv1alpha1.CertificateRevocationStatus {
	if t.cluster != nil {
		return &t.cluster.Status
	}
	return &t.namespaced.Status
}

func (t *revocationTarget) reason() certsmithv1alpha1.RevocationReason {
	if t.cluster != nil {
		return t.cluster.Spec.Reason
	}
	return t.namespaced.Spec.Reason
}

// resolved reports whether the status says what was revoked.
func (t *revocationTarget) resolved() bool {
	s := t.status
	if s == nil {
		s = t.currentStatus()
	}
	return s.SerialNumber != "" && len(s.CAFingerprintsSHA256) > 0 && s.RevokedAt != nil
}

// entries are the record entries of a resolved revocation.
func (t *revocationTarget) entries(now time.Time) []revocation.Entry {
	s := t.status
	if s == nil {
		s = t.currentStatus()
	}
	serial, ok := new(big.Int).SetString(s.SerialNumber, 16)
	if !ok {
		return nil
	}
	namespace := ""
	if t.namespaced != nil {
		namespace = t.namespaced.Namespace
	} else {
		// Made when a ServiceCertificate was deleted: its namespace's share.
		namespace = revokedOnDeleteNamespace(t.cluster)
	}
	var out []revocation.Entry
	for _, fp := range s.CAFingerprintsSHA256 {
		e := revocation.Entry{CA: caIDOfFingerprint(fp), Namespace: namespace,
			Revoked: pki.Revoked{Serial: serial, RevokedAt: s.RevokedAt.Time, Reason: certsmithv1alpha1.RevocationReasonCodes[t.reason()]}}
		if s.NotAfter != nil {
			e.NotAfter = s.NotAfter.Time
		}
		out = append(out, e)
	}
	return out
}

// stillListed reports whether a CRL issued at now still lists e: its CA
// is one of the issuer's, and neither its certificate (when known) nor
// that CA has expired.
func stillListed(e revocation.Entry, cas []revocation.CA, now time.Time) bool {
	for _, c := range cas {
		if revocation.CAID(c.Certificate) == e.CA {
			expiry := e.NotAfter
			if expiry.IsZero() {
				expiry = c.Certificate.NotAfter
			}
			return now.Before(expiry)
		}
	}
	return false
}

// caIDOfFingerprint turns "AB:CD:…" into the CA ID (16 lowercase hex digits).
func caIDOfFingerprint(fp string) string {
	id := strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	return id[:min(len(id), 16)]
}

// resolve finds what a revocation not resolved yet revokes and records it,
// or says why it cannot.
func (r *RevocationReconciler) resolve(ctx context.Context, w *work, t *revocationTarget, now time.Time) {
	t.status = t.currentStatus().DeepCopy()
	if t.resolved() {
		return
	}
	found, err := r.find(ctx, w, t)
	if err != nil {
		t.refusal, t.message, t.retry = certsmithv1alpha1.ReasonRevocationNoCertificate, err.Error(), true
		var refusal *terminalError
		if errors.As(err, &refusal) {
			t.refusal, t.message = refusal.reason, refusal.message
			t.retry = refusal.reason != certsmithv1alpha1.ReasonRevocationServiceCertificateNotFound
		}
		return
	}
	if found.notAfter != nil && !now.Before(*found.notAfter) {
		t.refusal, t.message = certsmithv1alpha1.ReasonRevocationExpired,
			fmt.Sprintf("certificate %s expired at %s; no CRL needs to list it", found.serial.Text(16), found.notAfter.UTC().Format(time.RFC3339))
		return
	}
	s := t.status
	s.IssuerName = w.issuer.Name
	s.SerialNumber = found.serial.Text(16)
	s.CAFingerprintsSHA256 = found.cas
	s.RevokedAt = &metav1.Time{Time: now.Truncate(time.Second)}
	s.ServiceCertificate = found.serviceCertificate
	s.NotAfter = nil
	if found.notAfter != nil {
		s.NotAfter = &metav1.Time{Time: found.notAfter.Truncate(time.Second)}
	}
	trial := &revocation.Record{Entries: slices.Clone(w.rec.Entries), CRLs: w.rec.CRLs}
	for _, e := range t.entries(now) {
		if _, err := trial.Add(e); err != nil {
			t.status = t.currentStatus().DeepCopy()
			t.refusal, t.message, t.retry = certsmithv1alpha1.ReasonTooManyRevocations, err.Error(), true
			return
		}
	}
	w.rec.Entries, w.added, t.firstRecorded = trial.Entries, true, true
}

// found is what a revocation names.
type found struct {
	serial             *big.Int
	cas                []string
	notAfter           *time.Time
	serviceCertificate string
}

// find resolves a revocation against the issuer's CAs.
func (r *RevocationReconciler) find(ctx context.Context, w *work, t *revocationTarget) (*found, error) {
	if t.namespaced != nil {
		return r.findServiceCertificate(ctx, w, t.namespaced)
	}
	serial, ok := new(big.Int).SetString(strings.ReplaceAll(t.cluster.Spec.SerialNumber, ":", ""), 16)
	if !ok || serial.Sign() <= 0 {
		return nil, terminal(certsmithv1alpha1.ReasonRevocationNoCertificate, fmt.Sprintf("serial number %q is not positive hexadecimal", t.cluster.Spec.SerialNumber))
	}
	cert, owner := r.findSigned(ctx, w.issuer, serial)
	if cert == nil && w.issuer.Spec.PodCertificates != nil {
		cert = r.findSignedPod(ctx, w.issuer, serial)
	}
	if cert != nil {
		if fps := revokingCAs(w, cert); len(fps) > 0 {
			notAfter := cert.NotAfter
			return &found{serial: serial, cas: fps, notAfter: &notAfter, serviceCertificate: owner}, nil
		}
	}
	if f := fromDeletion(w, t.cluster, serial); f != nil {
		return f, nil
	}
	// Unknown (its request is gone, or a pod certificate): every CA of the
	// issuer that can sign a CRL lists it, until that CA expires.
	out := &found{serial: serial}
	for _, c := range w.cas {
		if c.Signer != nil {
			out.cas = append(out.cas, pki.FingerprintSHA256(c.Certificate))
		}
	}
	return out, nil
}

// findServiceCertificate resolves a CertificateRevocation: the certificate
// in the ServiceCertificate's Secret, which must be the one certsmith
// recorded in its status (the serial) and signed by one of the issuer's
// CAs — a tenant's Secret may hold any certificate, even another's.
func (r *RevocationReconciler) findServiceCertificate(ctx context.Context, w *work, rev *certsmithv1alpha1.CertificateRevocation) (*found, error) {
	sc := &certsmithv1alpha1.ServiceCertificate{}
	key := types.NamespacedName{Namespace: rev.Namespace, Name: rev.Spec.ServiceCertificateName}
	if err := r.Get(ctx, key, sc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, terminal(certsmithv1alpha1.ReasonRevocationServiceCertificateNotFound, fmt.Sprintf("ServiceCertificate %s does not exist", key))
		}
		return nil, err
	}
	if sc.Status.SerialNumber == "" || sc.Status.SecretName == "" {
		return nil, terminal(certsmithv1alpha1.ReasonRevocationNoCertificate, fmt.Sprintf("ServiceCertificate %s has no certificate yet", key))
	}
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: sc.Namespace, Name: sc.Status.SecretName}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, terminal(certsmithv1alpha1.ReasonRevocationNoCertificate, fmt.Sprintf("the Secret %s of ServiceCertificate %s does not exist", sc.Status.SecretName, key))
		}
		return nil, err
	}
	certs, err := pki.ParseCertificatesPEM(secret.Data[corev1.TLSCertKey])
	if err != nil || len(certs) == 0 {
		return nil, terminal(certsmithv1alpha1.ReasonRevocationNoCertificate, fmt.Sprintf("the Secret %s holds no readable certificate", sc.Status.SecretName))
	}
	leaf := certs[0]
	if want, ok := new(big.Int).SetString(sc.Status.SerialNumber, 16); !ok || want.Cmp(leaf.SerialNumber) != 0 {
		// The Secret was changed by someone else: what is revoked is still
		// the certificate certsmith issued for it, found by its serial among
		// the issuer's requests, never what the Secret now holds.
		if ok && want.Sign() > 0 {
			if cert, owner := r.findSigned(ctx, w.issuer, want); cert != nil && owner == key.String() {
				if fps := revokingCAs(w, cert); len(fps) > 0 {
					notAfter := cert.NotAfter
					return &found{serial: cert.SerialNumber, cas: fps, notAfter: &notAfter, serviceCertificate: owner}, nil
				}
			}
		}
		return nil, terminal(certsmithv1alpha1.ReasonRevocationNoCertificate, fmt.Sprintf(
			"the certificate in Secret %s (serial %s) is not the one certsmith issued (serial %s); certsmith looks again once they agree",
			sc.Status.SecretName, leaf.SerialNumber.Text(16), sc.Status.SerialNumber))
	}
	fps := revokingCAs(w, leaf)
	if len(fps) == 0 {
		return nil, terminal(certsmithv1alpha1.ReasonRevocationNotIssuers, fmt.Sprintf(
			"the certificate of ServiceCertificate %s (serial %s) was not signed by a CA ClusterIssuer %s still has", key, leaf.SerialNumber.Text(16), w.issuer.Name))
	}
	notAfter := leaf.NotAfter
	return &found{serial: leaf.SerialNumber, cas: fps, notAfter: &notAfter, serviceCertificate: key.String()}, nil
}

// revokingCAs returns the fingerprints of the issuer's CAs, with a CRL
// signer, whose key verifies cert's signature: more than one when a CA was
// renewed with the same key, and then each of their CRLs lists it (a
// client may hold either).
func revokingCAs(w *work, cert *x509.Certificate) []string {
	var out []string
	for _, c := range w.cas {
		if c.Signer != nil && cert.CheckSignatureFrom(c.Certificate) == nil {
			out = append(out, pki.FingerprintSHA256(c.Certificate))
		}
	}
	return out
}

// fromDeletion resolves a ClusterCertificateRevocation that certsmith made
// when a ServiceCertificate was deleted from what it recorded then (its
// certificate's notAfter and authority key identifier): the CAs of the
// issuer with that subject key identifier. Only certsmith and cluster
// admins create ClusterCertificateRevocations.
func fromDeletion(w *work, rev *certsmithv1alpha1.ClusterCertificateRevocation, serial *big.Int) *found {
	if rev == nil || rev.Labels[certsmithv1alpha1.LabelRevokedOnDelete] != "true" {
		return nil
	}
	notAfter, err := time.Parse(time.RFC3339, rev.Annotations[certsmithv1alpha1.AnnotationRevokedNotAfter])
	if err != nil {
		return nil
	}
	aki, err := hex.DecodeString(rev.Annotations[certsmithv1alpha1.AnnotationRevokedAuthorityKeyID])
	if err != nil || len(aki) == 0 {
		return nil
	}
	out := &found{serial: serial, notAfter: &notAfter, serviceCertificate: rev.Annotations[certsmithv1alpha1.AnnotationServiceCertificate]}
	for _, c := range w.cas {
		if c.Signer != nil && bytes.Equal(c.Certificate.SubjectKeyId, aki) {
			out.cas = append(out.cas, pki.FingerprintSHA256(c.Certificate))
		}
	}
	if len(out.cas) == 0 {
		return nil
	}
	return out
}

// findSigned looks for a certificate of the issuer with the serial among
// the CSRs of its signerName in the cache, and says whose it is when the
// CSR is one certsmith made for a ServiceCertificate.
func (r *RevocationReconciler) findSigned(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, serial *big.Int) (*x509.Certificate, string) {
	var list certificatesv1.CertificateSigningRequestList
	if err := r.List(ctx, &list); err != nil {
		logf.FromContext(ctx).Error(err, "listing CSRs to find a revoked serial")
		return nil, ""
	}
	signer := issuer.EffectiveSignerName()
	for i := range list.Items {
		csr := &list.Items[i]
		if csr.Spec.SignerName != signer || len(csr.Status.Certificate) == 0 {
			continue
		}
		certs, err := pki.ParseCertificatesPEM(csr.Status.Certificate)
		if err != nil || len(certs) == 0 || certs[0].SerialNumber.Cmp(serial) != 0 {
			continue
		}
		owner := ""
		if key, ok := csrOwnerKey(csr); ok && csr.Spec.Username == r.Username {
			owner = key.String()
		}
		return certs[0], owner
	}
	return nil, ""
}

// Bounds of the search for a pod certificate among the issuer's
// PodCertificateRequests: pages of a list from the API server (finished
// requests keep no chain in the cache).
const (
	podRequestPageSize = 250
	podRequestMaxPages = 40
)

// findSignedPod looks for a pod certificate of the issuer with the serial
// among the PodCertificateRequests of its signerName, read from the API
// server a page at a time, at most podRequestMaxPages pages. A request is
// kept until the kube-controller-manager cleans it up; a certificate whose
// request is gone is unknown, and every CA lists it.
func (r *RevocationReconciler) findSignedPod(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, serial *big.Int) *x509.Certificate {
	selector := fields.OneTermEqualSelector("spec.signerName", issuer.EffectiveSignerName())
	continueToken := ""
	for range podRequestMaxPages {
		var list certificatesv1.PodCertificateRequestList
		if err := r.APIReader.List(ctx, &list, client.MatchingFieldsSelector{Selector: selector},
			client.Limit(podRequestPageSize), client.Continue(continueToken)); err != nil {
			logf.FromContext(ctx).Info("cannot list PodCertificateRequests to find a revoked serial", "error", err.Error())
			return nil
		}
		for i := range list.Items {
			chain := list.Items[i].Status.CertificateChain
			if chain == "" {
				continue
			}
			certs, err := pki.ParseCertificatesPEM([]byte(chain))
			if err == nil && len(certs) > 0 && certs[0].SerialNumber.Cmp(serial) == 0 {
				return certs[0]
			}
		}
		if continueToken = list.Continue; continueToken == "" {
			return nil
		}
	}
	return nil
}

// writeRecord stores the record: created, or updated with the
// resourceVersion it was read at, so that a stale cache costs a retry,
// never an entry.
func (r *RevocationReconciler) writeRecord(ctx context.Context, issuer string, secret *corev1.Secret, rec *revocation.Record) error {
	data, err := rec.Encode()
	if err != nil {
		return err
	}
	if secret == nil {
		created := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: revocationRecordKey(issuer, r.Namespace).Name, Namespace: r.Namespace,
				Labels: map[string]string{
					certsmithv1alpha1.LabelManagedBy:   certsmithv1alpha1.ManagedByValue,
					certsmithv1alpha1.LabelRevocations: "true",
				},
				Annotations: map[string]string{certsmithv1alpha1.AnnotationIssuerName: issuer}},
			Type: revocation.SecretType,
			Data: data,
		}
		if err := r.Create(ctx, created); err != nil {
			return fmt.Errorf("creating the revocation record of ClusterIssuer %s: %w", issuer, err)
		}
		return nil
	}
	updated := secret.DeepCopy()
	updated.Data = data
	if equality.Semantic.DeepEqual(secret.Data, updated.Data) {
		return nil
	}
	// A merge patch with the resourceVersion it was read at: the manager
	// may patch Secrets, not update them, and a stale read costs a retry.
	if err := r.Patch(ctx, updated, client.MergeFromWithOptions(secret, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("updating the revocation record of ClusterIssuer %s: %w", issuer, err)
	}
	return nil
}

// deleteExpiredOnDelete deletes a ClusterCertificateRevocation that
// certsmith made when a ServiceCertificate was deleted, once its
// certificate has expired and no CRL lists it: nobody else would, and they
// would pile up with every deletion.
func (r *RevocationReconciler) deleteExpiredOnDelete(ctx context.Context, t *revocationTarget) error {
	if t.cluster == nil || t.cluster.Labels[certsmithv1alpha1.LabelRevokedOnDelete] != "true" {
		return nil
	}
	c := meta.FindStatusCondition(t.cluster.Status.Conditions, certsmithv1alpha1.ConditionRevoked)
	if c == nil || c.Reason != certsmithv1alpha1.ReasonRevocationEntryExpired {
		return nil
	}
	if err := r.Delete(ctx, t.cluster, client.Preconditions{UID: &t.cluster.UID}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the expired ClusterCertificateRevocation %s: %w", t.cluster.Name, err)
	}
	return nil
}

// writeRevocationStatus reports a revocation: refused, recorded, or listed
// by a CRL. Events go out when the state changes.
func (r *RevocationReconciler) writeRevocationStatus(ctx context.Context, t *revocationTarget, rec *revocation.Record) error {
	status := t.status
	if status == nil {
		status = t.currentStatus().DeepCopy()
	}
	obj := t.object()
	cond := metav1.Condition{Type: certsmithv1alpha1.ConditionRevoked, ObservedGeneration: obj.GetGeneration()}
	switch {
	case t.refusal != "":
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, t.refusal, boundMessage(t.message)
	case t.resolved() && status.NotAfter != nil && !r.Clock.Now().Before(status.NotAfter.Time):
		cond.Status, cond.Reason = metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationEntryExpired
		cond.Message = fmt.Sprintf("serial %s expired at %s; CRLs no longer list it (RFC 5280 drops expired entries)",
			status.SerialNumber, status.NotAfter.UTC().Format(time.RFC3339))
	case t.resolved():
		cond.Status, cond.Reason = metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationRecorded
		cond.Message = fmt.Sprintf("serial %s is recorded; the next CRL lists it", status.SerialNumber)
		if numbers, ok := listedBy(rec, t, status); ok {
			cond.Reason = certsmithv1alpha1.ReasonRevocationPublished
			cond.Message = fmt.Sprintf("serial %s is listed by CRL number %s of ClusterIssuer %s", status.SerialNumber, strings.Join(numbers, ", "), status.IssuerName)
		}
	default:
		return nil
	}
	before := meta.FindStatusCondition(t.currentStatus().Conditions, certsmithv1alpha1.ConditionRevoked)
	meta.SetStatusCondition(&status.Conditions, cond)
	status.ObservedGeneration = obj.GetGeneration()
	if equality.Semantic.DeepEqual(*t.currentStatus(), *status) {
		return nil
	}
	kind := "CertificateRevocation"
	if t.cluster != nil {
		kind = "ClusterCertificateRevocation"
		updated := t.cluster.DeepCopy()
		updated.Status = *status
		if err := r.Status().Update(ctx, updated); err != nil {
			return fmt.Errorf("updating the status of %s %s: %w", kind, obj.GetName(), err)
		}
		t.cluster = updated
	} else {
		updated := t.namespaced.DeepCopy()
		updated.Status = *status
		if err := r.Status().Update(ctx, updated); err != nil {
			return fmt.Errorf("updating the status of %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
		}
		t.namespaced = updated
	}
	t.status = nil
	changed := before == nil || before.Reason != cond.Reason
	first := t.firstRecorded
	t.firstRecorded = false
	switch {
	case changed && cond.Status == metav1.ConditionFalse:
		revocationsRefused.WithLabelValues(t.issuer, cond.Reason).Inc()
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonRevocationRefused, actionRevoke, "%s", cond.Message)
	case first:
		revocationsRecorded.WithLabelValues(status.IssuerName, kind).Inc()
		r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, certsmithv1alpha1.ReasonCertificateRevoked, actionRevoke,
			"Revoked serial %s (%s) of ClusterIssuer %s", status.SerialNumber, t.reason(), status.IssuerName)
		if t.namespaced != nil && status.ServiceCertificate != "" {
			sc := &certsmithv1alpha1.ServiceCertificate{ObjectMeta: metav1.ObjectMeta{Namespace: t.namespaced.Namespace, Name: t.namespaced.Spec.ServiceCertificateName}}
			if err := r.Get(ctx, client.ObjectKeyFromObject(sc), sc); err == nil {
				r.Recorder.Eventf(sc, nil, corev1.EventTypeNormal, certsmithv1alpha1.ReasonCertificateRevoked, actionRevoke,
					"Certificate serial %s was revoked by CertificateRevocation %s (%s); it is re-issued with a new key", status.SerialNumber, obj.GetName(), t.reason())
			}
		}
	}
	return nil
}

// listedBy returns the numbers of the CRLs that list a resolved
// revocation, when every CA it names has one that does.
func listedBy(rec *revocation.Record, t *revocationTarget, status *certsmithv1alpha1.CertificateRevocationStatus) ([]string, bool) {
	serial, ok := new(big.Int).SetString(status.SerialNumber, 16)
	if !ok {
		return nil, false
	}
	var numbers []string
	for _, fp := range status.CAFingerprintsSHA256 {
		id := caIDOfFingerprint(fp)
		if !rec.Lists(id, serial) {
			return nil, false
		}
		c, _ := rec.CRLOf(id)
		numbers = append(numbers, c.Number)
	}
	return numbers, len(numbers) > 0
}

// boundMessage keeps a condition message within the API's 32 KiB, and
// well below.
func boundMessage(m string) string {
	const limit = 1024
	if len(m) <= limit {
		return m
	}
	cut := limit - 3
	for cut > 0 && !utf8.RuneStart(m[cut]) {
		cut-- // never half a character
	}
	return m[:cut] + "..."
}

// refuseAll reports every unresolved revocation of an issuer that cannot
// revoke; resolved ones keep their status (their CRL stays as stored).
func (r *RevocationReconciler) refuseAll(ctx context.Context, w *work, reason, message string) error {
	for _, t := range w.targets {
		t.status = t.currentStatus().DeepCopy()
		if t.resolved() {
			continue
		}
		t.refusal, t.message, t.retry = reason, message, true
		if err := r.writeRevocationStatus(ctx, t, w.rec); err != nil {
			return err
		}
	}
	return nil
}

// reportUnknownIssuer reports a CertificateRevocation whose
// ServiceCertificate does not exist (so that no issuer is known).
func (r *RevocationReconciler) reportUnknownIssuer(ctx context.Context, key types.NamespacedName) error {
	rev := &certsmithv1alpha1.CertificateRevocation{}
	if err := r.Get(ctx, key, rev); err != nil {
		return client.IgnoreNotFound(err)
	}
	if rev.Status.IssuerName != "" {
		return nil
	}
	sc := &certsmithv1alpha1.ServiceCertificate{}
	err := r.Get(ctx, types.NamespacedName{Namespace: rev.Namespace, Name: rev.Spec.ServiceCertificateName}, sc)
	if err == nil {
		return nil // its issuer's reconcile takes it
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	t := &revocationTarget{namespaced: rev, refusal: certsmithv1alpha1.ReasonRevocationServiceCertificateNotFound,
		message: fmt.Sprintf("ServiceCertificate %s/%s does not exist", rev.Namespace, rev.Spec.ServiceCertificateName)}
	return r.writeRevocationStatus(ctx, t, &revocation.Record{})
}

// writeIssuerStatus sets status.revocation of the issuer, this
// controller's part of its status, with a merge patch of that field alone.
func (r *RevocationReconciler) writeIssuerStatus(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, rec *revocation.Record, problem string) error {
	if issuer == nil {
		return nil
	}
	want := &certsmithv1alpha1.RevocationStatus{Problem: boundMessage(problem)}
	for _, c := range rec.CRLs {
		want.CRLs = append(want.CRLs, certsmithv1alpha1.CRLStatus{CAID: c.CA, CAFingerprintSHA256: c.Fingerprint, Number: c.Number,
			ThisUpdate: metav1.Time{Time: c.ThisUpdate}, NextUpdate: metav1.Time{Time: c.NextUpdate}, Revoked: int32(c.Revoked)})
	}
	if len(want.CRLs) > 8 {
		want.CRLs = want.CRLs[:8]
	}
	want.Revoked = int32(len(rec.Entries))
	if equality.Semantic.DeepEqual(issuer.Status.Revocation, want) {
		return nil
	}
	raw, err := json.Marshal(map[string]any{"status": map[string]any{"revocation": want}})
	if err != nil {
		return err
	}
	if err := r.Status().Patch(ctx, issuer, client.RawPatch(types.MergePatchType, raw)); err != nil {
		return fmt.Errorf("updating status.revocation of ClusterIssuer %s: %w", issuer.Name, err)
	}
	return nil
}
