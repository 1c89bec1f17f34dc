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
	"fmt"

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
