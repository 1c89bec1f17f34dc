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

// The certificate Secret, as the act stage of the ServiceCertificate
// pipeline writes it: what it should hold (desiredSecret, applyOutputs,
// applyTemplate) and how it is written (in one write, only when changed).

import (
	"time"

	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// Keys of the certificate Secret beyond tls.crt and tls.key.
const (
	caCertKey           = "ca.crt"
	combinedPEMKey      = "tls-combined.pem"
	derKeyKey           = "key.der"
	keystorePKCS12Key   = "keystore.p12"
	truststorePKCS12Key = "truststore.p12"
	// annotationKeystoreHash records what the PKCS#12 files were made from
	// (an HMAC keyed with the private key, so it reveals nothing about the
	// password): PKCS#12 encoding is randomised, so the files are rewritten
	// only when their inputs change.
	annotationKeystoreHash = "certsmith.io/keystore-hash"
)

// optionalOutputKeys are the data keys that certsmith writes only when asked
// to, and removes when no longer asked.
var optionalOutputKeys = []string{combinedPEMKey, derKeyKey, keystorePKCS12Key, truststorePKCS12Key}

// certificateMaterial is a certificate chain and its key, as they go into the Secret.
type certificateMaterial struct {
	chain    []*x509.Certificate
	chainPEM []byte
	key      crypto.Signer
	keyPEM   []byte
}

// desiredSecret returns the Secret as it should be: base (the existing
// Secret, or a new one) with the certificate, key, CA bundle, extra outputs,
// template metadata, annotations and owner reference applied.
func (r *ServiceCertificateReconciler) desiredSecret(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, base *corev1.Secret,
	material *certificateMaterial, bundle []byte, annotations map[string]string) (*corev1.Secret, error) {
	secret := base.DeepCopy()
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	if secret.Labels == nil {
		secret.Labels = map[string]string{}
	}
	if secret.Annotations == nil {
		secret.Annotations = map[string]string{}
	}
	caPEM := bundle
	anchors, err := pki.ParseCertificatesPEM(bundle)
	if err != nil {
		return nil, fmt.Errorf("parsing the issuer's trust bundle: %w", err)
	}
	secret.Data[corev1.TLSCertKey] = material.chainPEM
	secret.Data[corev1.TLSPrivateKeyKey] = material.keyPEM
	secret.Data[caCertKey] = caPEM
	for k, v := range annotations {
		secret.Annotations[k] = v
	}
	secret.Labels[certsmithv1alpha1.LabelManagedBy] = certsmithv1alpha1.ManagedByValue

	if err := r.applyOutputs(ctx, sc, secret, material, anchors, caPEM); err != nil {
		return nil, err
	}
	applyTemplate(sc, secret)
	if sc.Spec.SecretDeletionPolicy == certsmithv1alpha1.SecretDeletionPolicyRetain {
		secret.OwnerReferences = slices.DeleteFunc(secret.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == sc.UID })
	} else if err := controllerutil.SetControllerReference(sc, secret, r.Scheme()); err != nil {
		return nil, err
	}
	return secret, nil
}

// applyOutputs writes the extra output formats and keystores that the spec
// asks for and removes those it no longer asks for.
func (r *ServiceCertificateReconciler) applyOutputs(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, secret *corev1.Secret,
	material *certificateMaterial, anchors []*x509.Certificate, caPEM []byte) error {
	wanted := map[string]bool{}
	for _, f := range sc.Spec.AdditionalOutputFormats {
		switch f.Type {
		case certsmithv1alpha1.CombinedPEMOutput:
			wanted[combinedPEMKey] = true
			secret.Data[combinedPEMKey] = append(append([]byte{}, material.keyPEM...), material.chainPEM...)
		case certsmithv1alpha1.DEROutput:
			der, err := pki.EncodePrivateKeyDER(material.key)
			if err != nil {
				return terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("additionalOutputFormats DER: %v", err))
			}
			wanted[derKeyKey] = true
			secret.Data[derKeyKey] = der
		}
	}
	if ks := sc.Spec.Keystores; ks != nil && ks.PKCS12 != nil {
		wanted[keystorePKCS12Key], wanted[truststorePKCS12Key] = true, true
		password, err := readPassword(ctx, r.APIReader, sc.Namespace, ks.PKCS12.PasswordSecretRef)
		if err != nil {
			return err
		}
		der, err := pki.EncodePrivateKeyDER(material.key)
		if err != nil {
			return terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("keystores.pkcs12: %v", err))
		}
		mac := hmac.New(sha256.New, der)
		mac.Write(material.chainPEM)
		mac.Write(caPEM)
		mac.Write([]byte(password))
		inputs := hex.EncodeToString(mac.Sum(nil))
		if secret.Annotations[annotationKeystoreHash] != inputs || len(secret.Data[keystorePKCS12Key]) == 0 || len(secret.Data[truststorePKCS12Key]) == 0 {
			keystore, err := pki.EncodePKCS12Keystore(material.key, material.chain, password)
			if err != nil {
				return terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("keystores.pkcs12: %v", err))
			}
			truststore, err := pki.EncodePKCS12Truststore(anchors, password)
			if err != nil {
				return terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("keystores.pkcs12: %v", err))
			}
			secret.Data[keystorePKCS12Key], secret.Data[truststorePKCS12Key] = keystore, truststore
			secret.Annotations[annotationKeystoreHash] = inputs
		}
	} else {
		delete(secret.Annotations, annotationKeystoreHash)
	}
	for _, key := range optionalOutputKeys {
		if !wanted[key] {
			delete(secret.Data, key)
		}
	}
	return nil
}

// readPassword reads a keystore password with the direct reader: the
// Secret is not certsmith's, so it is not in the cache.
func readPassword(ctx context.Context, reader client.Reader, namespace string, ref certsmithv1alpha1.SecretKeySelector) (string, error) {
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf(
				"keystores.pkcs12.passwordSecretRef: Secret %s/%s does not exist", namespace, ref.Name))
		}
		return "", fmt.Errorf("reading keystore password Secret %s/%s: %w", namespace, ref.Name, err)
	}
	password, ok := secret.Data[ref.Key]
	if !ok {
		return "", terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf(
			"keystores.pkcs12.passwordSecretRef: Secret %s/%s has no key %q", namespace, ref.Name, ref.Key))
	}
	return string(password), nil
}

// applyTemplate sets the template's labels and annotations and removes
// those that an earlier template set and this one no longer has.
func applyTemplate(sc *certsmithv1alpha1.ServiceCertificate, secret *corev1.Secret) {
	var labels, annotations map[string]string
	if t := sc.Spec.SecretTemplate; t != nil {
		labels, annotations = t.Labels, t.Annotations
	}
	for _, key := range strings.Split(secret.Annotations[certsmithv1alpha1.AnnotationSecretTemplateKeys], ",") {
		kind, name, ok := strings.Cut(key, ":")
		switch {
		case !ok || isCertsmithKey(name):
		case kind == "label":
			if _, keep := labels[name]; !keep {
				delete(secret.Labels, name)
			}
		case kind == "annotation":
			if _, keep := annotations[name]; !keep {
				delete(secret.Annotations, name)
			}
		}
	}
	var keys []string
	for k, v := range labels {
		if !isCertsmithKey(k) {
			secret.Labels[k] = v
			keys = append(keys, "label:"+k)
		}
	}
	for k, v := range annotations {
		if !isCertsmithKey(k) {
			secret.Annotations[k] = v
			keys = append(keys, "annotation:"+k)
		}
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		secret.Annotations[certsmithv1alpha1.AnnotationSecretTemplateKeys] = strings.Join(keys, ",")
	} else {
		delete(secret.Annotations, certsmithv1alpha1.AnnotationSecretTemplateKeys)
	}
}

// isCertsmithKey reports whether a label or annotation key is certsmith's
// own; a template cannot override those.
func isCertsmithKey(key string) bool {
	return strings.HasPrefix(key, "certsmith.io/") || key == certsmithv1alpha1.LabelManagedBy
}

// issuedAnnotations are the annotations a Secret gets with a new
// certificate: its ServiceCertificate, issuer, names, revision, the request
// hash, and the manual trigger it was issued for.
func issuedAnnotations(sc *certsmithv1alpha1.ServiceCertificate, request *certificateRequest, revision int64) map[string]string {
	annotations := map[string]string{
		certsmithv1alpha1.AnnotationServiceCertificate: sc.Name,
		certsmithv1alpha1.AnnotationIssuerName:         request.issuerName,
		certsmithv1alpha1.AnnotationDNSNames:           strings.Join(request.dnsNames, ","),
		certsmithv1alpha1.AnnotationIPAddresses:        joinIPs(request.ipAddresses),
		certsmithv1alpha1.AnnotationRevision:           strconv.FormatInt(revision, 10),
		certsmithv1alpha1.AnnotationCertificateHash:    request.hash(),
	}
	if trigger := sc.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt]; trigger != "" {
		annotations[certsmithv1alpha1.AnnotationRenewRequestedAt] = trigger
	}
	return annotations
}

// storeSecret writes a newly issued certificate and its key into the
// Secret and returns what it wrote. With no Secret in the cache it creates
// one straight away, without reading past the cache first: the create is
// itself the check, since it fails when a Secret of that name exists (one
// without certsmith's label, which the cache does not hold), and only then
// is that Secret read and, unless it belongs to someone else, written over.
// adoptUnlabelled has looked for such a Secret before the CSR was made, so
// the fallback is for one made since.
func (r *ServiceCertificateReconciler) storeSecret(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, issued *issuedCertificate,
	material *certificateMaterial, bundle []byte, annotations map[string]string) (*corev1.Secret, error) {
	if issued == nil {
		fresh := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: sc.Status.SecretName, Namespace: sc.Namespace},
			Type:       corev1.SecretTypeTLS,
		}
		desired, err := r.desiredSecret(ctx, sc, fresh, material, bundle, annotations)
		if err != nil {
			return nil, err
		}
		err = r.Create(ctx, desired)
		if err == nil {
			r.stored.remember(desired)
			return desired, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating Secret %s/%s: %w", desired.Namespace, desired.Name, err)
		}
	}
	base, err := r.secretBase(ctx, sc, issued)
	if err != nil {
		return nil, err
	}
	desired, err := r.desiredSecret(ctx, sc, base, material, bundle, annotations)
	if err != nil {
		return nil, err
	}
	if err := r.writeSecret(ctx, base, desired); err != nil {
		return nil, err
	}
	return desired, nil
}

// secretBase returns the Secret to build on: the cached one, one that exists
// without certsmith's label (found with the direct reader), or a new one.
func (r *ServiceCertificateReconciler) secretBase(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, issued *issuedCertificate) (*corev1.Secret, error) {
	if issued != nil {
		return issued.secret, nil
	}
	found := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: sc.Namespace, Name: sc.Status.SecretName}, found)
	switch {
	case err == nil:
		if reason := foreignSecret(sc, found); reason != "" {
			return nil, terminal(certsmithv1alpha1.ReasonSecretConflict, reason)
		}
		return found, nil
	case apierrors.IsNotFound(err):
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: sc.Status.SecretName, Namespace: sc.Namespace},
			Type:       corev1.SecretTypeTLS,
		}, nil
	default:
		return nil, fmt.Errorf("reading Secret %s/%s: %w", sc.Namespace, sc.Status.SecretName, err)
	}
}

// writeSecret creates the Secret or patches it in one write, so tls.crt and
// tls.key always change together. Nothing is written when nothing changed.
func (r *ServiceCertificateReconciler) writeSecret(ctx context.Context, base, desired *corev1.Secret) error {
	if base.ResourceVersion == "" {
		if err := r.Create(ctx, desired); err != nil {
			return fmt.Errorf("creating Secret %s/%s: %w", desired.Namespace, desired.Name, err)
		}
		r.stored.remember(desired)
		return nil
	}
	if secretUnchanged(base, desired) {
		return nil
	}
	// The optimistic lock makes a concurrent edit fail the write instead of
	// mixing its tls.key with our tls.crt.
	if err := r.Patch(ctx, desired, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			// Made immutable, or refused by an admission policy: retrying
			// changes nothing until someone acts.
			return terminal(certsmithv1alpha1.ReasonSecretConflict, fmt.Sprintf(
				"Secret %s cannot be updated (%v); certsmith leaves it as it is: delete it to have a new one issued", base.Name, err))
		}
		return fmt.Errorf("updating Secret %s/%s: %w", base.Namespace, base.Name, err)
	}
	r.stored.remember(desired)
	return nil
}

// secretUnchanged reports whether writing b over a would change nothing
// that certsmith writes.
func secretUnchanged(a, b *corev1.Secret) bool {
	return equality.Semantic.DeepEqual(a.Data, b.Data) && maps.Equal(a.Labels, b.Labels) &&
		maps.Equal(a.Annotations, b.Annotations) && equality.Semantic.DeepEqual(a.OwnerReferences, b.OwnerReferences)
}

// repairSecret puts back what the Secret should carry besides its
// certificate and key — the CA bundle, extra outputs, template labels and
// annotations, the owner reference — without re-issuing.
func (r *ServiceCertificateReconciler) repairSecret(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, issued *issuedCertificate, ca *signingCA) error {
	material := &certificateMaterial{
		chain: issued.chain, chainPEM: issued.secret.Data[corev1.TLSCertKey],
		key: issued.key, keyPEM: issued.secret.Data[corev1.TLSPrivateKeyKey],
	}
	desired, err := r.desiredSecret(ctx, sc, issued.secret, material, ca.bundle, nil)
	if err != nil {
		return err
	}
	return r.writeSecret(ctx, issued.secret, desired)
}

// adoptUnlabelled looks, past the cache, for a Secret of ours that lost
// certsmith's label, and puts the label back, so the cache sees it again
// and no certificate is issued for nothing. A Secret that certsmith did
// not create is taken over with its certificate when the spec asks for
// that (adoptForeign); otherwise, or when it belongs to someone else, it
// returns a terminal error.
func (r *ServiceCertificateReconciler) adoptUnlabelled(ctx context.Context, sc *certsmithv1alpha1.ServiceCertificate, o *observed, now time.Time) (bool, error) {
	found := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: sc.Namespace, Name: sc.Status.SecretName}, found)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading Secret %s/%s: %w", sc.Namespace, sc.Status.SecretName, err)
	}
	if reason := foreignSecret(sc, found); reason != "" {
		if !sc.Spec.AdoptExistingSecret {
			return false, terminal(certsmithv1alpha1.ReasonSecretConflict, reason)
		}
		if err := r.adoptForeign(ctx, sc, o, found, now); err != nil {
			return false, err
		}
		return true, nil
	}
	if found.Annotations[certsmithv1alpha1.AnnotationServiceCertificate] != sc.Name && !ownedByUID(sc, found) {
		// An empty Secret made for us by someone (or a leftover): issue into it.
		return false, nil
	}
	labelled := found.DeepCopy()
	if labelled.Labels == nil {
		labelled.Labels = map[string]string{}
	}
	labelled.Labels[certsmithv1alpha1.LabelManagedBy] = certsmithv1alpha1.ManagedByValue
	if err := r.Patch(ctx, labelled, client.MergeFromWithOptions(found, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("restoring the label of Secret %s/%s: %w", found.Namespace, found.Name, err)
	}
	return true, nil
}
