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

// The CSRs certsmith makes for ServiceCertificates: how they name their
// owner and how far they got. Shared by the ServiceCertificate controller,
// which creates and deletes them, and the CSR controller, which approves
// and signs them.

import (
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

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

// csrNamePrefix makes a generateName prefix from the certificate's namespace and name.
func csrNamePrefix(key types.NamespacedName) string {
	prefix := key.Namespace + "-" + key.Name
	if len(prefix) > 200 {
		prefix = prefix[:200]
	}
	return prefix + "-"
}
