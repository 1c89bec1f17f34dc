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
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/ca"
	"github.com/certsmith/certsmith/internal/pki"
)

// The signed-until marks: before the CSR signer releases a certificate it
// records, per CA, the latest notAfter that CA may have signed, so that a
// retiring CA stays trusted until that has passed — hand-made CSRs
// included. They live in the Secret "<issuer>-signed-until" in the
// operator's namespace, which only the signer writes (the ClusterIssuer
// controller reads it, and writes only the CA Secret).

// signedUntilKey is where the signer keeps an issuer's marks.
func signedUntilKey(issuer *certsmithv1alpha1.ClusterIssuer, namespace string) types.NamespacedName {
	name := boundedName(issuer.Name, "-signed-until")
	if ref := issuer.Spec.CA.SecretRef; ref != nil && ref.Name == name {
		name = boundedName(issuer.Name, "-signed-until-copy")
	}
	return types.NamespacedName{Namespace: namespace, Name: name}
}

// isSignedUntilRecord reports whether secret is the signer's record for issuer.
func isSignedUntilRecord(secret *corev1.Secret, issuer string) bool {
	return secret.Labels[certsmithv1alpha1.LabelSignedUntil] == issuer
}

// readSignedUntil returns the signer's marks of an issuer (none when the
// record does not exist yet, or is not certsmith's).
func readSignedUntil(ctx context.Context, reader client.Reader, namespace string, issuer *certsmithv1alpha1.ClusterIssuer) (map[string]time.Time, error) {
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, signedUntilKey(issuer, namespace), secret); err != nil {
		if apierrors.IsNotFound(err) {
			return map[string]time.Time{}, nil
		}
		return nil, fmt.Errorf("reading the signed-until marks of ClusterIssuer %s: %w", issuer.Name, err)
	}
	if !isSignedUntilRecord(secret, issuer.Name) {
		return map[string]time.Time{}, nil
	}
	return ca.DecodeMarks(secret.Annotations[ca.AnnotationSignedUntil]), nil
}

// recordConflictError: a Secret has the record's name but is not the record.
type recordConflictError struct {
	key    types.NamespacedName
	issuer string
}

func (e *recordConflictError) Error() string {
	return fmt.Sprintf("secret %s exists but is not the signed-until record of ClusterIssuer %s (label %s=%s); remove or rename it",
		e.key, e.issuer, certsmithv1alpha1.LabelSignedUntil, e.issuer)
}

// signedMarks writes the marks, with headroom (ca.SignedUntilMark) so that
// most issuances need no write: about one write per CA per day.
type signedMarks struct {
	mu sync.Mutex
	// written remembers the marks this process wrote, so that a cache that
	// has not seen the last write does not cause a second, conflicting one.
	written map[string]time.Time
}

// record raises the mark of caCert (the active CA of issuer) to cover a
// certificate valid from notBefore to notAfter, before it is released, and
// says whether it wrote. Marks of CAs the issuer no longer has are dropped
// in the same write. What this process wrote before is trusted only while
// the record exists: a deleted record is made again.
func (m *signedMarks) record(ctx context.Context, c client.Client, reader client.Reader, namespace string, issuer *certsmithv1alpha1.ClusterIssuer, caCert *x509.Certificate, notBefore, notAfter time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fp := pki.FingerprintSHA256(caCert)
	var keep []string
	for _, t := range issuer.Status.TrustedCAs {
		keep = append(keep, t.FingerprintSHA256)
	}
	key := signedUntilKey(issuer, namespace)
	var from client.Reader = c
	wrote, fromCache := false, true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		secret := &corev1.Secret{}
		err := from.Get(ctx, key, secret)
		defer func() { from, fromCache = reader, false }() // after a conflict, read past the cache
		if apierrors.IsNotFound(err) && fromCache && len(m.written) > 0 {
			// This process made the record and the cache has not seen it
			// yet, or someone deleted it: ask the API server rather than
			// create it again into a conflict.
			secret, fromCache = &corev1.Secret{}, false
			err = reader.Get(ctx, key, secret)
		}
		if apierrors.IsNotFound(err) {
			wrote = true
			return m.create(ctx, c, key, issuer, fp, notBefore, notAfter, caCert.NotAfter)
		}
		if err != nil {
			return err
		}
		if !isSignedUntilRecord(secret, issuer.Name) {
			return &recordConflictError{key: key, issuer: issuer.Name}
		}
		stored := ca.DecodeMarks(secret.Annotations[ca.AnnotationSignedUntil])
		if !notAfter.After(stored[fp]) || (fromCache && !notAfter.After(m.written[fp])) {
			// Covered by the record, or by this process's own last write
			// that the cache has not seen yet.
			return nil
		}
		if len(keep) == 0 {
			keep = mapKeys(stored) // no status yet: drop nothing
		}
		marks, _ := ca.RaiseMark(stored, fp, notBefore, notAfter, caCert.NotAfter, keep)
		updated := secret.DeepCopy()
		setAnnotations(&updated.ObjectMeta, map[string]string{ca.AnnotationSignedUntil: ca.EncodeMarks(marks)})
		if err := c.Patch(ctx, updated, client.MergeFromWithOptions(secret, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		wrote = true
		m.remember(fp, marks[fp])
		return nil
	})
	return wrote, err
}

// stillTrusted reports, read from the API server, whether caCert is still
// one of the issuer's CAs (active, next or retiring) in its CA Secret. The
// signer asks after it raised a mark, before it releases the certificate:
// a signer whose cache still shows a CA that has since left the bundle
// must not release what it signed.
func stillTrusted(ctx context.Context, reader client.Reader, namespace string, issuer *certsmithv1alpha1.ClusterIssuer, caCert *x509.Certificate) (bool, error) {
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, caSecretKey(issuer, namespace), secret); err != nil {
		return false, fmt.Errorf("reading the CA Secret of ClusterIssuer %s: %w", issuer.Name, err)
	}
	for _, key := range []string{corev1.TLSCertKey, ca.KeyNextCertificate, ca.KeyRetiring} {
		certs, _ := pki.ParseCertificatesPEM(secret.Data[key])
		if key != ca.KeyRetiring && len(certs) > 1 {
			certs = certs[:1] // the rest is the chain above it
		}
		if pki.ContainsCertificate(certs, caCert) {
			return true, nil
		}
	}
	return false, nil
}

// create makes the record with its first mark. AlreadyExists is returned
// as a conflict, so the retry reads the record past the cache.
func (m *signedMarks) create(ctx context.Context, c client.Client, key types.NamespacedName, issuer *certsmithv1alpha1.ClusterIssuer, fp string, notBefore, notAfter, caNotAfter time.Time) error {
	marks, _ := ca.RaiseMark(nil, fp, notBefore, notAfter, caNotAfter, nil)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace,
			Labels: map[string]string{
				certsmithv1alpha1.LabelManagedBy:   certsmithv1alpha1.ManagedByValue,
				certsmithv1alpha1.LabelSignedUntil: issuer.Name,
			},
			Annotations: map[string]string{ca.AnnotationSignedUntil: ca.EncodeMarks(marks)}},
		Type: corev1.SecretTypeOpaque,
	}
	if err := c.Create(ctx, secret); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return apierrors.NewConflict(corev1.Resource("secrets"), key.Name, err)
		}
		return err
	}
	m.remember(fp, marks[fp])
	return nil
}

func (m *signedMarks) remember(fp string, mark time.Time) {
	if m.written == nil {
		m.written = map[string]time.Time{}
	}
	m.written[fp] = mark
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
