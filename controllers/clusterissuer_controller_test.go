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

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

var _ = Describe("ClusterIssuer", func() {
	It("generates a self-signed root CA and reports it in status", func() {
		issuer := newSelfSignedIssuer()
		Expect(issuer.Status.SignerName).To(Equal("clusterissuers.certsmith.io/" + issuer.Name))
		Expect(issuer.Status.ObservedGeneration).To(Equal(issuer.Generation))

		secret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: issuer.Name + "-ca"}, secret)).To(Succeed())
		Expect(secret.Labels).To(HaveKeyWithValue(certsmithv1alpha1.LabelManagedBy, certsmithv1alpha1.ManagedByValue))
		Expect(secret.Labels).To(HaveKeyWithValue(certsmithv1alpha1.LabelClusterIssuer, issuer.Name))
		certs := expectMatchingPair(secret)
		ca := certs[0]
		Expect(ca.IsCA).To(BeTrue())
		Expect(pki.IsSelfSigned(ca)).To(BeTrue())
		Expect(ca.Subject.CommonName).To(Equal(issuer.Name))
		spec, err := pki.KeySpecOf(ca.PublicKey)
		Expect(err).NotTo(HaveOccurred())
		Expect(spec).To(Equal(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 256}))

		Expect(issuer.Status.CA).NotTo(BeNil())
		Expect(issuer.Status.CA.FingerprintSHA256).To(Equal(pki.FingerprintSHA256(ca)))
		Expect(issuer.Status.CA.NotAfter.Time.Equal(ca.NotAfter)).To(BeTrue())
		Expect(issuer.Status.CA.SerialNumber).To(Equal(strings.ToLower(ca.SerialNumber.Text(16))))
		Expect(issuer.Status.CA.RenewalTime).NotTo(BeNil())
		Expect(issuer.Status.CA.RenewalTime.Time).To(BeTemporally("<", ca.NotAfter))
	})

	It("uses an explicit signerName, subject and key", func() {
		name := uniqueName("custom")
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certsmithv1alpha1.ClusterIssuerSpec{
				SignerName: "example.com/" + name,
				CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{
					Subject:    &certsmithv1alpha1.X509Subject{CommonName: "Custom Root", Organizations: []string{"Example"}},
					PrivateKey: &certsmithv1alpha1.PrivateKey{Algorithm: certsmithv1alpha1.ECDSAKeyAlgorithm, Size: 384},
				}},
			},
		})).To(Succeed())
		issuer := waitIssuerReady(name)
		Expect(issuer.Status.SignerName).To(Equal("example.com/" + name))
		ca := issuerCAFromSecret(issuer)[0]
		Expect(ca.Subject.CommonName).To(Equal("Custom Root"))
		Expect(ca.Subject.Organization).To(ConsistOf("Example"))
		spec, err := pki.KeySpecOf(ca.PublicKey)
		Expect(err).NotTo(HaveOccurred())
		Expect(spec.Size).To(Equal(384))
	})

	It("reports a tampered CA Secret instead of replacing the CA", func() {
		issuer := newSelfSignedIssuer()
		secret := &corev1.Secret{}
		key := types.NamespacedName{Namespace: operatorNamespace, Name: issuer.Name + "-ca"}
		Expect(k8sClient.Get(ctx, key, secret)).To(Succeed())
		original := string(secret.Data[corev1.TLSCertKey])
		secret.Data[corev1.TLSCertKey] = []byte("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())

		Eventually(func(g Gomega) {
			got := &certsmithv1alpha1.ClusterIssuer{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: issuer.Name}, got)).To(Succeed())
			g.Expect(isReady(got.Status.Conditions)).To(BeFalse())
			g.Expect(meta.FindStatusCondition(got.Status.Conditions, certsmithv1alpha1.ConditionReady).Reason).To(Equal(certsmithv1alpha1.ReasonCASecretInvalid))
		}, timeout, interval).Should(Succeed())
		Expect(k8sClient.Get(ctx, key, secret)).To(Succeed())
		Expect(string(secret.Data[corev1.TLSCertKey])).NotTo(Equal(original), "the CA must not be silently replaced")

		By("recovering when the user deletes the broken Secret")
		Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
		waitIssuerReady(issuer.Name)
	})
})
