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
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// Revoke on delete: a ServiceCertificate of an issuer with
// spec.revocation.revokeOnDelete carries the finalizer
// certsmith.io/revoke-on-delete once it has a certificate. When it is
// deleted, this controller creates a ClusterCertificateRevocation of its
// current certificate (the serial in its status, which only certsmith
// writes), waits until the revocation controller has answered it, and
// removes the finalizer. The revocation is an object of its own: it is
// recorded, published and, once its certificate has expired, deleted by the
// revocation controller, whatever happens to the ServiceCertificate.

// revokeOnDeleteWait bounds how long a deletion waits, from its
// deletionTimestamp, for the revocation to be created and answered: past it
// the finalizer goes anyway (with a Warning when the revocation could not be
// created), and a revocation that exists is recorded when the revocation
// controller gets to it.
const revokeOnDeleteWait = 2 * time.Minute

// wantsRevokeOnDelete says whether a live ServiceCertificate should carry
// the finalizer: its issuer revokes on delete and it has a certificate.
func wantsRevokeOnDelete(sc *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer) bool {
	return issuer != nil && issuer.Spec.Revocation != nil && issuer.Spec.Revocation.RevokeOnDelete &&
		sc.Status.SerialNumber != "" && issuer.DeletionTimestamp.IsZero()
}

// syncRevokeOnDeleteFinalizer adds or removes the finalizer of a live
// ServiceCertificate as its issuer's revokeOnDelete says. It writes only
// when that changes: nothing for issuers that do not revoke on delete.
func (r *ServiceCertificateReconciler) syncRevokeOnDeleteFinalizer(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate) error {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := r.Get(ctx, types.NamespacedName{Name: sc.Spec.IssuerRef.Name}, issuer); err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		issuer = nil
	}
	want := wantsRevokeOnDelete(sc, issuer)
	if want == controllerutil.ContainsFinalizer(sc, certsmithv1alpha1.FinalizerRevokeOnDelete) {
		return nil
	}
	if !want && issuer == nil {
		// The issuer may be re-created; a missing one is no reason to
		// give up a promise made while it revoked on delete.
		return nil
	}
	return r.patchFinalizer(ctx, sc, want)
}

// patchFinalizer adds or removes certsmith's finalizer with a merge patch
// that carries the resourceVersion, so that another writer's finalizers
// are never lost.
func (r *ServiceCertificateReconciler) patchFinalizer(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, add bool) error {
	base := sc.DeepCopy()
	if add {
		controllerutil.AddFinalizer(sc, certsmithv1alpha1.FinalizerRevokeOnDelete)
	} else {
		controllerutil.RemoveFinalizer(sc, certsmithv1alpha1.FinalizerRevokeOnDelete)
	}
	if err := r.Patch(ctx, sc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("updating the finalizers of ServiceCertificate %s/%s: %w", sc.Namespace, sc.Name, err)
	}
	return nil
}

// revokeOnDeletion handles a ServiceCertificate being deleted that carries
// the finalizer: it makes sure the revocation of its certificate exists,
// and removes the finalizer once the revocation controller has answered it
// (or after revokeOnDeleteWait).
func (r *ServiceCertificateReconciler) revokeOnDeletion(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate) (reconcile.Result, error) {
	serial, ok := new(big.Int).SetString(sc.Status.SerialNumber, 16)
	if !ok || serial.Sign() <= 0 {
		// No certificate was ever issued: nothing to revoke.
		return reconcile.Result{}, r.patchFinalizer(ctx, sc, false)
	}
	issuerName := sc.Spec.IssuerRef.Name
	key := types.NamespacedName{Namespace: sc.Namespace, Name: sc.Name}
	// Past the deadline (counted from the deletion), the finalizer goes
	// whatever happened: a deletion, or a namespace's, never hangs on it.
	overdue := r.Clock.Since(sc.DeletionTimestamp.Time) > revokeOnDeleteWait
	giveUp := func(why error) (reconcile.Result, error) {
		if !overdue {
			return reconcile.Result{}, why
		}
		r.Recorder.Eventf(sc, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonRevocationRefused, actionRevoke,
			"Deleted without revoking serial %s: %s", serial.Text(16), boundMessage(why.Error()))
		return reconcile.Result{}, r.patchFinalizer(ctx, sc, false)
	}
	rev := &certsmithv1alpha1.ClusterCertificateRevocation{}
	name := revokedOnDeleteName(issuerName, serial)
	err := r.Get(ctx, types.NamespacedName{Name: name}, rev)
	switch {
	case apierrors.IsNotFound(err):
		annotations := map[string]string{certsmithv1alpha1.AnnotationServiceCertificate: key.String()}
		if leaf := r.currentLeaf(ctx, sc); leaf != nil && leaf.SerialNumber.Cmp(serial) == 0 {
			annotations[certsmithv1alpha1.AnnotationRevokedNotAfter] = leaf.NotAfter.UTC().Format(time.RFC3339)
			if len(leaf.AuthorityKeyId) > 0 {
				annotations[certsmithv1alpha1.AnnotationRevokedAuthorityKeyID] = hex.EncodeToString(leaf.AuthorityKeyId)
			}
		}
		rev = &certsmithv1alpha1.ClusterCertificateRevocation{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Labels:      map[string]string{certsmithv1alpha1.LabelRevokedOnDelete: "true", certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue},
				Annotations: annotations,
			},
			Spec: certsmithv1alpha1.ClusterCertificateRevocationSpec{
				IssuerName: issuerName, SerialNumber: serial.Text(16), Reason: certsmithv1alpha1.RevocationCessationOfOperation,
			},
		}
		if err := r.Create(ctx, rev); err != nil && !apierrors.IsAlreadyExists(err) {
			return giveUp(fmt.Errorf("creating the revocation of deleted ServiceCertificate %s: %w", key, err))
		}
		r.Recorder.Eventf(sc, nil, corev1.EventTypeNormal, certsmithv1alpha1.ReasonCertificateRevoked, actionRevoke,
			"Deleted with ClusterIssuer %s revoking on delete: ClusterCertificateRevocation %s revokes serial %s (cessationOfOperation)", issuerName, name, serial.Text(16))
		logf.FromContext(ctx).Info("revoking the certificate of a deleted ServiceCertificate", "clusterCertificateRevocation", name, "serialNumber", serial.Text(16))
		// Its status, when the revocation controller has answered, wakes this one.
		return reconcile.Result{RequeueAfter: revokeOnDeleteWait}, nil
	case err != nil:
		return giveUp(err)
	}
	if meta.FindStatusCondition(rev.Status.Conditions, certsmithv1alpha1.ConditionRevoked) == nil && !overdue {
		return reconcile.Result{RequeueAfter: revokeOnDeleteWait - r.Clock.Since(sc.DeletionTimestamp.Time) + time.Second}, nil
	}
	return reconcile.Result{}, r.patchFinalizer(ctx, sc, false)
}

// currentLeaf reads the certificate in a ServiceCertificate's Secret from
// the API server; nil when there is none.
func (r *ServiceCertificateReconciler) currentLeaf(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate) *x509.Certificate {
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: sc.Namespace, Name: sc.EffectiveSecretName()}, secret); err != nil {
		return nil
	}
	certs, err := pki.ParseCertificatesPEM(secret.Data[corev1.TLSCertKey])
	if err != nil || len(certs) == 0 {
		return nil
	}
	return certs[0]
}

// revokedOnDeleteName names the ClusterCertificateRevocation of a deleted
// ServiceCertificate's certificate: "<issuer>-<serial>", or, where that is
// not a valid name, a hash of both. The same certificate always gets the
// same name, so a retry never makes a second one.
func revokedOnDeleteName(issuer string, serial *big.Int) string {
	name := issuer + "-" + serial.Text(16)
	if len(validation.IsDNS1123Subdomain(name)) == 0 {
		return name
	}
	sum := sha256.Sum256([]byte(issuer + "/" + serial.Text(16)))
	return "revoked-on-delete-" + hex.EncodeToString(sum[:16])
}

// certificateOfRevocation maps a ClusterCertificateRevocation that
// certsmith made on a deletion to its ServiceCertificate.
func certificateOfRevocation(_ context.Context, obj client.Object) []reconcile.Request {
	if obj.GetLabels()[certsmithv1alpha1.LabelRevokedOnDelete] != "true" {
		return nil
	}
	if key, ok := csrOwnerKey(obj); ok {
		return []reconcile.Request{{NamespacedName: key}}
	}
	return nil
}

// revokedOnDeleteNamespace is the namespace a revocation made on a
// deletion counts against (empty for any other).
func revokedOnDeleteNamespace(rev *certsmithv1alpha1.ClusterCertificateRevocation) string {
	if rev.Labels[certsmithv1alpha1.LabelRevokedOnDelete] != "true" {
		return ""
	}
	ns, _, _ := strings.Cut(rev.Annotations[certsmithv1alpha1.AnnotationServiceCertificate], "/")
	return ns
}
