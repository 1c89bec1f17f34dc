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
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// envtest runs no namespace controller: a deleted namespace stays
// Terminating, as it does on a cluster while the namespace controller
// deletes its contents, in an order of its own (here: the Secret first).
var _ = Describe("A ServiceCertificate in a terminating namespace", func() {
	It("writes nothing there: no new CSR, no Secret, no status churn", func() {
		issuer := newSelfSignedIssuer()
		namespace := newNamespace()
		createCertificate(namespace, issuer.Name, "leaving", nil)
		key := types.NamespacedName{Namespace: namespace, Name: "leaving"}
		waitCertificateReady(namespace, "leaving")
		csrsOf := func() int { return len(requestsFor(namespace, "leaving")) }
		csrs := csrsOf()

		By("deleting the namespace; it stays Terminating")
		ns := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: namespace}, ns)).To(Succeed())
		Expect(k8sClient.Delete(ctx, ns)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: namespace}, ns)).To(Succeed())
			g.Expect(ns.Status.Phase).To(Equal(corev1.NamespaceTerminating))
		}, timeout, interval).Should(Succeed())

		By("deleting the Secret, as the namespace controller would")
		secret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "leaving-tls"}, secret)).To(Succeed())
		before := &certsmithv1alpha1.ServiceCertificate{}
		Expect(k8sClient.Get(ctx, key, before)).To(Succeed())
		Expect(k8sClient.Delete(ctx, secret)).To(Succeed())

		Consistently(func(g Gomega) {
			err := k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "leaving-tls"}, &corev1.Secret{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the Secret came back: %v", err)
			g.Expect(csrsOf()).To(Equal(csrs), "a CSR was made for a namespace that is going away")
			sc := &certsmithv1alpha1.ServiceCertificate{}
			g.Expect(k8sClient.Get(ctx, key, sc)).To(Succeed())
			g.Expect(sc.ResourceVersion).To(Equal(before.ResourceVersion), "the status was written")
		}, 3*time.Second, 200*time.Millisecond).Should(Succeed())
	})
})
