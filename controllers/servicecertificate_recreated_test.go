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
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// An envtest spec (it runs inside TestControllers): the ServiceCertificate
// controller, the only one that deletes CSRs, deletes those of a deleted
// ServiceCertificate and never those of a new one of the same name.
var _ = Describe("CSRs of a ServiceCertificate deleted and created again", func() {
	It("deletes the old certificate's CSRs and keeps the new one's", func() {
		issuer := newSelfSignedIssuer()
		namespace := newNamespace()
		csrsOf := func() []string {
			var list certificatesv1.CertificateSigningRequestList
			Expect(k8sClient.List(ctx, &list)).To(Succeed())
			var names []string
			for _, csr := range list.Items {
				if csr.Annotations[certsmithv1alpha1.AnnotationServiceCertificate] == namespace+"/reborn" {
					names = append(names, csr.Name)
				}
			}
			slices.Sort(names)
			return names
		}
		// create makes the certificate for host; the Secret is retained, so
		// the next one of the name takes it over and re-issues into it.
		create := func(host string) types.UID {
			sc := createCertificate(namespace, issuer.Name, "reborn", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
				spec.DNSNames = []string{host + "." + namespace + ".svc"}
				spec.SecretDeletionPolicy = certsmithv1alpha1.SecretDeletionPolicyRetain
			})
			return sc.UID
		}
		// issuedFor waits until the Secret holds a certificate for host that
		// the status of the certificate with uid reports, and returns its CSRs.
		issuedFor := func(host string, uid types.UID) []string {
			Eventually(func(g Gomega) {
				secret := &corev1.Secret{}
				g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "reborn-tls"}, secret)).To(Succeed())
				chain, err := pki.ParseCertificatesPEM(secret.Data[corev1.TLSCertKey])
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(chain[0].DNSNames).To(ConsistOf(host + "." + namespace + ".svc"))
				sc := &certsmithv1alpha1.ServiceCertificate{}
				g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "reborn"}, sc)).To(Succeed())
				g.Expect(sc.UID).To(Equal(uid))
				g.Expect(meta.IsStatusConditionTrue(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeTrue())
				g.Expect(sc.Status.SerialNumber).To(Equal(fmt.Sprintf("%x", chain[0].SerialNumber)))
				g.Expect(csrsOf()).To(HaveLen(1))
			}, timeout, interval).Should(Succeed())
			return csrsOf()
		}
		deleteCertificate := func() {
			sc := &certsmithv1alpha1.ServiceCertificate{}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "reborn"}, sc)).To(Succeed())
			Expect(k8sClient.Delete(ctx, sc)).To(Succeed())
			Eventually(func() bool {
				return k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "reborn"}, sc) != nil
			}, timeout, interval).Should(BeTrue())
		}

		first := issuedFor("one", create("one"))

		By("deleted: its CSR goes")
		deleteCertificate()
		Eventually(csrsOf, timeout, interval).Should(BeEmpty())

		By("created again under the name: its own CSR stays")
		second := issuedFor("two", create("two"))
		Expect(second).NotTo(Equal(first))
		Consistently(csrsOf, 2*time.Second, 200*time.Millisecond).Should(Equal(second))

		By("deleted and created again at once: the old one's CSR goes whether or not the deletion was seen, the new one's stays")
		deleteCertificate()
		third := issuedFor("three", create("three"))
		Expect(third).NotTo(Equal(second))
		Consistently(csrsOf, 2*time.Second, 200*time.Millisecond).Should(Equal(third))
	})
})
