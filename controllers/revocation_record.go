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
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/revocation"
)

// The revocation record of an issuer lives in the Secret
// "<issuer>-revocations" in the operator's namespace; the revocation
// controller is its only writer, the bundle controller, the
// ServiceCertificate controller and the CRL server read it.

// revocationRecordKey is where an issuer's revocation record lives.
func revocationRecordKey(issuer, namespace string) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: revocation.SecretName(issuer)}
}

// isRevocationRecord reports whether secret is the revocation record of issuer.
func isRevocationRecord(secret *corev1.Secret, issuer string) bool {
	return secret.Type == revocation.SecretType && secret.Labels[certsmithv1alpha1.LabelRevocations] == "true" &&
		secret.Annotations[certsmithv1alpha1.AnnotationIssuerName] == issuer
}

// readRevocationRecord returns an issuer's revocation record and the Secret
// it was read from: an empty record and a nil Secret when there is none
// yet, or when a Secret of that name is not the record (the revocation
// controller reports that conflict).
func readRevocationRecord(ctx context.Context, reader client.Reader, namespace, issuer string) (*revocation.Record, *corev1.Secret, error) {
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, revocationRecordKey(issuer, namespace), secret); err != nil {
		if apierrors.IsNotFound(err) {
			return &revocation.Record{}, nil, nil
		}
		return nil, nil, fmt.Errorf("reading the revocation record of ClusterIssuer %s: %w", issuer, err)
	}
	if !isRevocationRecord(secret, issuer) {
		return &revocation.Record{}, nil, nil
	}
	rec, err := revocation.Decode(secret.Data)
	if err != nil {
		return nil, secret, fmt.Errorf("the revocation record %s/%s of ClusterIssuer %s is unreadable: %w", secret.Namespace, secret.Name, issuer, err)
	}
	return rec, secret, nil
}

// revokedSerials remembers, per issuer, the serial numbers its record
// lists, parsed once per resourceVersion of the record: the
// ServiceCertificate controller asks for every certificate it looks at.
type revokedSerials struct {
	mu     sync.Mutex
	byName map[string]revokedSet
}

type revokedSet struct {
	resourceVersion string
	serials         map[string]struct{}
}

// maxRevokedIssuers bounds the memo; past it, it starts over.
const maxRevokedIssuers = 4096

// of returns the set of revoked serials (lowercase hex) of an issuer, read
// through reader (the cache); an unreadable record lists nothing, and the
// revocation controller reports it.
func (m *revokedSerials) of(ctx context.Context, reader client.Reader, namespace, issuer string) (map[string]struct{}, error) {
	secret := &corev1.Secret{}
	// The cached object, not a copy of up to a MiB for every certificate
	// reconciled: it is only read.
	if err := reader.Get(ctx, revocationRecordKey(issuer, namespace), secret, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading the revocation record of ClusterIssuer %s: %w", issuer, err)
	}
	if !isRevocationRecord(secret, issuer) {
		return nil, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.byName[issuer]; ok && s.resourceVersion == secret.ResourceVersion {
		return s.serials, nil
	}
	rec, err := revocation.Decode(secret.Data)
	if err != nil {
		return nil, nil
	}
	serials := make(map[string]struct{}, len(rec.Entries))
	for _, e := range rec.Entries {
		serials[e.Serial.Text(16)] = struct{}{}
	}
	if m.byName == nil || len(m.byName) >= maxRevokedIssuers {
		m.byName = map[string]revokedSet{}
	}
	m.byName[issuer] = revokedSet{resourceVersion: secret.ResourceVersion, serials: serials}
	return serials, nil
}

// crlDistributionPoints are the CRL URLs a certificate signed by caCert
// names: the issuer's spec.revocation.crlDistributionPoint with $(CA_ID)
// replaced, or none.
func crlDistributionPoints(issuer *certsmithv1alpha1.ClusterIssuer, caCert *x509.Certificate) []string {
	if issuer.Spec.Revocation == nil || issuer.Spec.Revocation.CRLDistributionPoint == "" {
		return nil
	}
	return []string{strings.ReplaceAll(issuer.Spec.Revocation.CRLDistributionPoint, "$(CA_ID)", revocation.CAID(caCert))}
}
