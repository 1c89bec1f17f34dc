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

package main

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

var _ = Describe("shell completion", func() {
	It("completes ServiceCertificate and TLS Secret names of the chosen namespace", func() {
		namespace := newNamespace("complete")
		for _, name := range []string{"web", "api", "worker"} {
			Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
				Spec: certsmithv1alpha1.ServiceCertificateSpec{
					IssuerRef: certsmithv1alpha1.IssuerReference{Name: "ca"},
					DNSNames:  []string{name + ".example.com"},
				},
			})).To(Succeed())
		}
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "web-tls", Namespace: namespace},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{corev1.TLSCertKey: []byte("x"), corev1.TLSPrivateKeyKey: []byte("y")},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "password", Namespace: namespace},
			Data:       map[string][]byte{"password": []byte("z")},
		})).To(Succeed())

		result := runPlugin("__complete", "status", "-n", namespace, "w")
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(Equal("web\nworker\n:4\n"))

		// renew takes several names and does not offer one twice.
		result = runPlugin("__complete", "renew", "-n", namespace, "web", "")
		Expect(result.Out).To(Equal("api\nworker\n:4\n"))

		result = runPlugin("__complete", "inspect", "secret", "-n", namespace, "")
		Expect(result.Out).To(Equal("web-tls\n:4\n"))

		// revoke takes one ServiceCertificate.
		result = runPlugin("__complete", "revoke", "-n", namespace, "w")
		Expect(result.Out).To(Equal("web\nworker\n:4\n"))
		result = runPlugin("__complete", "revoke", "-n", namespace, "web", "")
		Expect(result.Out).To(Equal(":4\n"))
		result = runPlugin("__complete", "revoke", "-n", namespace, "--issuer", "ca", "")
		Expect(result.Out).To(Equal(":4\n"))
	})

	It("completes the reasons and issuers of revoke", func() {
		result := runPlugin("__complete", "revoke", "web", "--reason", "")
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(Equal("unspecified\nkeyCompromise\naffiliationChanged\nsuperseded\ncessationOfOperation\nprivilegeWithdrawn\n:4\n"))
		result = runPlugin("__complete", "revoke", "web", "--reason", "s")
		Expect(result.Out).To(Equal("superseded\n:4\n"))

		createClusterIssuer("complete-revoke-ca", "", certsmithv1alpha1.ClusterIssuerStatus{})
		result = runPlugin("__complete", "revoke", "--issuer", "complete-revoke")
		Expect(result.Out).To(Equal("complete-revoke-ca\n:4\n"))
	})

	It("completes only undecided CSRs of certsmith signers", func() {
		issuer := "complete-issuer"
		createClusterIssuer(issuer, "", certsmithv1alpha1.ClusterIssuerStatus{})
		createCSR("complete-mine", certsmithv1alpha1.DefaultSignerDomain+"/"+issuer)
		createCSR("complete-decided", certsmithv1alpha1.DefaultSignerDomain+"/"+issuer)
		createCSR("complete-foreign", "example.org/other")
		Expect(runPlugin("deny", "complete-decided").Err).NotTo(HaveOccurred())

		result := runPlugin("__complete", "approve", "complete-")
		Expect(result.Out).To(Equal("complete-mine\n:4\n"))
	})
})
