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

// Adoption (spec.adoptExistingSecret): taking over a Secret that certsmith
// did not create, with the certificate it holds, instead of issuing a new
// one. It is how certificates come over from cert-manager without a new
// issuance. Every check is made on the Secret as read from the API server,
// past the cache, and a failed check leaves the Secret untouched.

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// certManagerCertificateAnnotation is the annotation cert-manager puts on
// the Secrets it fills: the name of their Certificate.
const certManagerCertificateAnnotation = "cert-manager.io/certificate-name"

// certManagerCertificate is the kind whose live object still manages a Secret.
var certManagerCertificate = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get

// adoptForeign takes over secret, which certsmith did not create, for sc:
// one write gives it certsmith's label and annotations, the CA bundle, the
// spec's outputs and the owner reference, and keeps its certificate and
// key. It returns a SecretConflict saying why when the Secret may not or
// cannot be adopted.
func (r *ServiceCertificateReconciler) adoptForeign(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, o *observed, secret *corev1.Secret, now time.Time) error {
	refuse := func(why string) error {
		return terminal(certsmithv1alpha1.ReasonSecretConflict, fmt.Sprintf(
			"Secret %s was not adopted (spec.adoptExistingSecret): %s; it is left as it is", secret.Name, why))
	}
	if why := adoptionBlocker(sc, secret); why != "" {
		return refuse(why)
	}
	if name, err := r.liveCertManagerCertificate(ctx, secret); err != nil {
		return err
	} else if name != "" {
		return refuse(fmt.Sprintf("cert-manager Certificate %s still manages it: delete that Certificate first (cert-manager leaves the Secret in place)", name))
	}
	issued := decodeSecret(secret)
	if why := adoptionMismatch(issued, o.request, o.ca.CA, now); why != "" {
		return refuse(why + "; fix the spec to match it, or delete the Secret to have a new certificate issued")
	}
	serials, err := r.revoked.of(ctx, r.Client, r.Namespace, o.issuer.Name)
	if err != nil {
		return err
	}
	leaf := issued.leaf()
	if _, revoked := serials[leaf.SerialNumber.Text(16)]; revoked {
		return refuse(fmt.Sprintf("its certificate (serial %s) is revoked", leaf.SerialNumber.Text(16)))
	}
	annotations := issuedAnnotations(sc, o.request, max(sc.Status.Revision, 0)+1)
	// Adopting is not acting on a renew request: one pending still renews.
	delete(annotations, certsmithv1alpha1.AnnotationRenewRequestedAt)
	material := &certificateMaterial{
		chain: issued.chain, chainPEM: secret.Data[corev1.TLSCertKey],
		key: issued.key, keyPEM: secret.Data[corev1.TLSPrivateKeyKey],
	}
	desired, err := r.desiredSecret(ctx, sc, secret, material, o.ca.bundle, annotations)
	if err != nil {
		return err
	}
	if err := r.writeSecret(ctx, secret, desired); err != nil {
		return err
	}
	r.Recorder.Eventf(sc, nil, corev1.EventTypeNormal, certsmithv1alpha1.ReasonSecretAdopted, "Adopt",
		"took over Secret %s and its certificate without issuing a new one: serial %s, valid until %s, chains to ClusterIssuer %s",
		secret.Name, leaf.SerialNumber.Text(16), leaf.NotAfter.UTC().Format(time.RFC3339), o.issuer.Name)
	return nil
}

// adoptionBlocker says why a Secret belongs to someone and may not be
// adopted, or "" when nothing claims it: certsmith recorded another Secret
// of that name, a controller (or cert-manager) owns it, or certsmith
// manages it for another certificate.
func adoptionBlocker(sc *certsmithv1alpha1.ServiceCertificate, secret *corev1.Secret) string {
	if owned := sc.Status.OwnedSecret; owned != nil && owned.Name == secret.Name && owned.UID != secret.UID {
		return fmt.Sprintf("certsmith recorded creating a Secret of that name with UID %s, this one has UID %s", owned.UID, secret.UID)
	}
	for _, owner := range secret.OwnerReferences {
		switch {
		case owner.Controller != nil && *owner.Controller:
			return fmt.Sprintf("%s %s (%s) controls it", owner.Kind, owner.Name, owner.APIVersion)
		case strings.HasPrefix(owner.APIVersion, certManagerCertificate.Group+"/"):
			return fmt.Sprintf("cert-manager %s %s owns it", owner.Kind, owner.Name)
		}
	}
	if secret.Labels[certsmithv1alpha1.LabelManagedBy] == certsmithv1alpha1.ManagedByValue {
		return fmt.Sprintf("certsmith manages it for ServiceCertificate %q", secret.Annotations[certsmithv1alpha1.AnnotationServiceCertificate])
	}
	return ""
}

// liveCertManagerCertificate returns the name of the cert-manager
// Certificate that the Secret names and that still exists, or "". Without
// cert-manager's API in the cluster there is none.
func (r *ServiceCertificateReconciler) liveCertManagerCertificate(ctx context.Context, secret *corev1.Secret) (string, error) {
	name := secret.Annotations[certManagerCertificateAnnotation]
	if name == "" {
		return "", nil
	}
	certificate := &unstructured.Unstructured{}
	certificate.SetGroupVersionKind(certManagerCertificate)
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: secret.Namespace, Name: name}, certificate)
	switch {
	case err == nil:
		return name, nil
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return "", nil
	case apierrors.IsForbidden(err):
		return "", terminal(certsmithv1alpha1.ReasonSecretConflict, fmt.Sprintf(
			"Secret %s was not adopted (spec.adoptExistingSecret): it names cert-manager Certificate %s, and certsmith may not read Certificates to see whether it still exists: %v",
			secret.Name, name, err))
	default:
		return "", fmt.Errorf("looking for cert-manager Certificate %s/%s: %w", secret.Namespace, name, err)
	}
}

// adoptionMismatch says why the certificate in a Secret cannot be adopted
// for request, or "" when it can: it must decode with a key that belongs
// to it, be valid now, chain to the issuer's current CA and match the
// request as the re-issue policies see it (names, common name, key,
// usages) and in its whole subject.
func adoptionMismatch(issued *issuedCertificate, request *certificateRequest, ca *pki.CA, now time.Time) string {
	if issued.decodeErr != nil {
		return issued.decodeErr.Error()
	}
	leaf := issued.leaf()
	if !pki.KeyMatchesCertificate(issued.key, leaf) {
		return "its tls.key does not belong to the certificate in tls.crt"
	}
	if now.Before(leaf.NotBefore) || !now.Before(leaf.NotAfter) {
		return fmt.Sprintf("its certificate is not valid now (valid from %s until %s)",
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if !pki.ChainsTo(leaf, ca, now) {
		return fmt.Sprintf("its certificate (issued by %q) does not chain to the issuer's current CA %q", leaf.Issuer.String(), ca.Certificate.Subject.String())
	}
	// The request hash is what certsmith records when it issues; the
	// adopted certificate is compared field by field instead.
	marked := issued.secret.DeepCopy()
	if marked.Annotations == nil {
		marked.Annotations = map[string]string{}
	}
	marked.Annotations[certsmithv1alpha1.AnnotationCertificateHash] = request.hash()
	if _, message, mismatch := specMismatch(&issuanceInput{issued: &issuedCertificate{secret: marked, chain: issued.chain, key: issued.key}, request: request}); mismatch {
		return message
	}
	if got, want := comparableSubject(leaf.Subject), comparableSubject(request.subject); got != want {
		return fmt.Sprintf("the certificate's subject %q differs from the wanted %q", got, want)
	}
	return ""
}

// comparableSubject renders a subject with each attribute's values sorted,
// so two subjects compare equal whatever the order of their values.
func comparableSubject(name pkix.Name) string {
	sorted := func(values []string) []string {
		values = slices.Clone(values)
		slices.Sort(values)
		return values
	}
	return pkix.Name{
		CommonName: name.CommonName, SerialNumber: name.SerialNumber,
		Country: sorted(name.Country), Organization: sorted(name.Organization), OrganizationalUnit: sorted(name.OrganizationalUnit),
		Locality: sorted(name.Locality), Province: sorted(name.Province), StreetAddress: sorted(name.StreetAddress), PostalCode: sorted(name.PostalCode),
	}.String()
}
