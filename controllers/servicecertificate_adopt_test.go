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
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// foreignCopy is the fixture's Secret as another controller would have
// left it: the same certificate and key, none of certsmith's marks.
func foreignCopy(f *chainFixture) *corev1.Secret {
	secret := f.issued.secret.DeepCopy()
	secret.Labels = map[string]string{"app": "web"}
	secret.Annotations = map[string]string{certManagerCertificateAnnotation: "web"}
	secret.OwnerReferences = nil
	secret.UID = "foreign-uid"
	return secret
}

// TestAdoptionMismatch checks that only a valid certificate that chains to
// the issuer and matches the request in every field is adopted, and that
// each refusal says why.
func TestAdoptionMismatch(t *testing.T) {
	f := newChainFixture(t)
	leaf := f.issued.leaf()
	otherCA := scTestCA(t, "another root", scTestNow.Add(-time.Hour))
	cases := []struct {
		name string
		edit func(secret *corev1.Secret, req *certificateRequest, ca **pki.CA, now *time.Time)
		want string // "" when it may be adopted
	}{
		{name: "matches", edit: func(*corev1.Secret, *certificateRequest, **pki.CA, *time.Time) {}},
		{name: "no key", edit: func(s *corev1.Secret, _ *certificateRequest, _ **pki.CA, _ *time.Time) {
			delete(s.Data, corev1.TLSPrivateKeyKey)
		}, want: "no tls.key"},
		{name: "key of another certificate", edit: func(s *corev1.Secret, _ *certificateRequest, _ **pki.CA, _ *time.Time) {
			key, err := pki.EncodePrivateKeyPEM(scTestKey(t), pki.KeyEncodingPKCS1)
			if err != nil {
				t.Fatal(err)
			}
			s.Data[corev1.TLSPrivateKeyKey] = key
		}, want: "tls.key does not belong"},
		{name: "expired", edit: func(_ *corev1.Secret, _ *certificateRequest, _ **pki.CA, now *time.Time) { *now = leaf.NotAfter },
			want: "not valid now"},
		{name: "another CA", edit: func(_ *corev1.Secret, _ *certificateRequest, ca **pki.CA, _ *time.Time) { *ca = otherCA },
			want: "does not chain to the issuer's current CA"},
		{name: "other DNS names", edit: func(_ *corev1.Secret, req *certificateRequest, _ **pki.CA, _ *time.Time) {
			req.dnsNames = []string{"api.shop.svc"}
		}, want: "DNS names [web.shop.svc] differ from the wanted [api.shop.svc]"},
		{name: "other key algorithm", edit: func(_ *corev1.Secret, req *certificateRequest, _ **pki.CA, _ *time.Time) {
			req.keySpec = pki.KeySpec{Algorithm: pki.KeyAlgorithmRSA, Size: 2048}
		}, want: "key (ECDSA-256) differs from the wanted RSA-2048"},
		{name: "other organization", edit: func(_ *corev1.Secret, req *certificateRequest, _ **pki.CA, _ *time.Time) {
			req.subject.Organization = []string{"Shop Inc"}
		}, want: "subject"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret := foreignCopy(f)
			req := scTestRequest(t, f.sc)
			ca, now := f.ca, scTestNow.Add(time.Hour)
			tc.edit(secret, req, &ca, &now)
			got := adoptionMismatch(decodeSecret(secret), req, ca, now)
			if tc.want == "" && got != "" {
				t.Fatalf("refused a matching certificate: %s", got)
			}
			if !strings.Contains(got, tc.want) || (tc.want != "" && got == "") {
				t.Fatalf("got %q, want it to say %q", got, tc.want)
			}
		})
	}
}

// TestAdoptionBlocker checks that a Secret with a controller, a cert-manager
// owner, certsmith's label for another certificate, or another UID than
// the one certsmith recorded is never adopted.
func TestAdoptionBlocker(t *testing.T) {
	f := newChainFixture(t)
	cases := []struct {
		name string
		edit func(sc *certsmithv1alpha1.ServiceCertificate, s *corev1.Secret)
		want string
	}{
		{name: "free", edit: func(*certsmithv1alpha1.ServiceCertificate, *corev1.Secret) {}},
		{name: "a controller", edit: func(_ *certsmithv1alpha1.ServiceCertificate, s *corev1.Secret) {
			s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Database", Name: "db", UID: "1", Controller: ptr.To(true)}}
		}, want: "Database db (example.com/v1) controls it"},
		{name: "a cert-manager owner", edit: func(_ *certsmithv1alpha1.ServiceCertificate, s *corev1.Secret) {
			s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "cert-manager.io/v1", Kind: "Certificate", Name: "web", UID: "2"}}
		}, want: "cert-manager Certificate web owns it"},
		{name: "certsmith's for another certificate", edit: func(_ *certsmithv1alpha1.ServiceCertificate, s *corev1.Secret) {
			s.Labels[certsmithv1alpha1.LabelManagedBy] = certsmithv1alpha1.ManagedByValue
			s.Annotations[certsmithv1alpha1.AnnotationServiceCertificate] = "api"
		}, want: `for ServiceCertificate "api"`},
		{name: "another UID than recorded", edit: func(sc *certsmithv1alpha1.ServiceCertificate, s *corev1.Secret) {
			sc.Status.OwnedSecret = &certsmithv1alpha1.OwnedObject{Name: s.Name, UID: "recorded"}
		}, want: "UID recorded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc, secret := f.sc.DeepCopy(), foreignCopy(f)
			tc.edit(sc, secret)
			got := adoptionBlocker(sc, secret)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
