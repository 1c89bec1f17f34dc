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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// These specs check the OpenAPI and CEL rules of the CRDs: bad input is
// rejected at admission with a clear message.
var _ = Describe("Admission", func() {
	expectRejected := func(obj client.Object, message string) {
		err := k8sClient.Create(ctx, obj)
		Expect(err).To(HaveOccurred())
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(message))
	}
	issuer := func(ca certsmithv1alpha1.CASource) *certsmithv1alpha1.ClusterIssuer {
		return &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("bad")}, Spec: certsmithv1alpha1.ClusterIssuerSpec{CA: ca}}
	}
	certificate := func(mutate func(*certsmithv1alpha1.ServiceCertificateSpec)) *certsmithv1alpha1.ServiceCertificate {
		sc := &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName("bad"), Namespace: "default"},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: "any"},
				DNSNames:  []string{"ok.default.svc"},
			},
		}
		mutate(&sc.Spec)
		return sc
	}
	duration := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

	It("rejects a ClusterIssuer with two CA sources or none", func() {
		expectRejected(issuer(certsmithv1alpha1.CASource{
			SelfSigned: &certsmithv1alpha1.GeneratedCA{},
			SecretRef:  &certsmithv1alpha1.SecretReference{Name: "ca"},
		}), "exactly one of selfSigned, secretRef or issuerRef must be set")
		expectRejected(issuer(certsmithv1alpha1.CASource{}), "exactly one of selfSigned, secretRef or issuerRef must be set")
	})

	It("rejects bad CA durations", func() {
		expectRejected(issuer(certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{Duration: duration(5 * time.Minute)}}),
			"duration must be at least 10m")
		expectRejected(issuer(certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{
			Duration: duration(time.Hour), RenewBefore: duration(2 * time.Hour)}}), "renewBefore must be shorter than duration")
	})

	It("rejects a malformed or reserved signerName and keeps it immutable", func() {
		bad := issuer(certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}})
		bad.Spec.SignerName = "no-slash"
		expectRejected(bad, "spec.signerName")
		reserved := issuer(certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}})
		reserved.Spec.SignerName = "kubernetes.io/kube-apiserver-client"
		expectRejected(reserved, "reserved kubernetes.io domain")

		good := issuer(certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}})
		good.Spec.SignerName = "example.com/immutable-" + good.Name
		Expect(k8sClient.Create(ctx, good)).To(Succeed())
		// A patch without a resourceVersion: the controllers' status writes
		// cannot turn the rejection into a conflict.
		before := good.DeepCopy()
		good.Spec.SignerName = "example.com/changed"
		err := k8sClient.Patch(ctx, good, client.MergeFrom(before))
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("signerName is immutable"))

		unset := issuer(certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}})
		Expect(k8sClient.Create(ctx, unset)).To(Succeed())
		before = unset.DeepCopy()
		unset.Spec.SignerName = "example.com/added"
		err = k8sClient.Patch(ctx, unset, client.MergeFrom(before))
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("signerName is immutable"))
	})

	It("rejects ServiceCertificates with bad durations", func() {
		expectRejected(certificate(func(s *certsmithv1alpha1.ServiceCertificateSpec) { s.Duration = duration(5 * time.Minute) }),
			"duration must be at least 10m")
		expectRejected(certificate(func(s *certsmithv1alpha1.ServiceCertificateSpec) {
			s.Duration = duration(time.Hour)
			s.RenewBefore = duration(time.Hour)
		}), "renewBefore must be shorter than duration")
		expectRejected(certificate(func(s *certsmithv1alpha1.ServiceCertificateSpec) { s.RenewBefore = duration(2200 * time.Hour) }),
			"renewBefore must be shorter than duration")
	})

	It("rejects malformed names, IPs and usages", func() {
		expectRejected(certificate(func(s *certsmithv1alpha1.ServiceCertificateSpec) { s.DNSNames = []string{"bad_name!.example"} }),
			"spec.dnsNames[0]")
		expectRejected(certificate(func(s *certsmithv1alpha1.ServiceCertificateSpec) { s.IPAddresses = []string{"300.1.1.1"} }),
			"must be a valid IPv4 or IPv6 address")
		expectRejected(certificate(func(s *certsmithv1alpha1.ServiceCertificateSpec) {
			s.Usages = []certsmithv1alpha1.KeyUsage{"world domination"}
		}), "spec.usages[0]")
		expectRejected(certificate(func(s *certsmithv1alpha1.ServiceCertificateSpec) { s.DNSNames = nil }),
			"at least one of service, dnsNames, ipAddresses or uris must be set")
		expectRejected(certificate(func(s *certsmithv1alpha1.ServiceCertificateSpec) {
			s.PrivateKey = &certsmithv1alpha1.PrivateKey{Algorithm: certsmithv1alpha1.RSAKeyAlgorithm, Size: 1024}
		}), "RSA keys must be 2048, 3072 or 4096 bits")
	})

	It("accepts a valid ServiceCertificate and keeps the durations as written", func() {
		sc := certificate(func(s *certsmithv1alpha1.ServiceCertificateSpec) {
			s.Duration = duration(24 * time.Hour)
			s.RenewBefore = duration(8 * time.Hour)
		})
		Expect(k8sClient.Create(ctx, sc)).To(Succeed())
		got := &certsmithv1alpha1.ServiceCertificate{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sc), got)).To(Succeed())
		Expect(got.Spec.SecretName).To(BeEmpty(), "defaults live in status, not in the spec")
		Expect(got.Spec.Usages).To(BeEmpty())
	})
})
