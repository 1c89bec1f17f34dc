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
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// bundleIssuer creates a self-signed issuer with a bundle spec and waits until it is Ready.
func bundleIssuer(bundle *certsmithv1alpha1.BundleSpec, rotation *certsmithv1alpha1.RotationSpec, duration time.Duration) *certsmithv1alpha1.ClusterIssuer {
	return namedBundleIssuer(uniqueName("bundled"), bundle, rotation, duration)
}

// namedBundleIssuer is bundleIssuer with a name chosen by the spec.
func namedBundleIssuer(name string, bundle *certsmithv1alpha1.BundleSpec, rotation *certsmithv1alpha1.RotationSpec, duration time.Duration) *certsmithv1alpha1.ClusterIssuer {
	ca := &certsmithv1alpha1.GeneratedCA{}
	if duration > 0 {
		ca.Duration = &metav1.Duration{Duration: duration}
	}
	Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{
			CA: certsmithv1alpha1.CASource{SelfSigned: ca}, Bundle: bundle, Rotation: rotation,
		},
	})).To(Succeed())
	return waitIssuerReady(name)
}

// configMapBundle returns the certificates in a namespace's bundle ConfigMap, nil when it is absent.
func configMapBundle(namespace, name, key string) []string {
	cm := &corev1.ConfigMap{}
	if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, cm); err != nil {
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
		return nil
	}
	certs, err := pki.ParseCertificatesPEM([]byte(cm.Data[key]))
	if err != nil {
		// Polled while someone else's edit is in place: not a bundle (yet).
		return []string{"unparseable: " + err.Error()}
	}
	out := []string{}
	for _, c := range certs {
		out = append(out, pki.FingerprintSHA256(c))
	}
	return out
}

func caFingerprint(issuer *certsmithv1alpha1.ClusterIssuer) string {
	return pki.FingerprintSHA256(issuerCAFromSecret(issuer)[0])
}

var _ = Describe("Trust bundle distribution", func() {
	It("puts the bundle into every namespace and a signer-linked ClusterTrustBundle", func() {
		existing := newNamespace()
		issuer := bundleIssuer(&certsmithv1alpha1.BundleSpec{}, nil, 0)
		fp := caFingerprint(issuer)
		name := issuer.Name + "-ca"
		Eventually(func() []string { return configMapBundle(existing, name, "ca.crt") }, timeout, interval).Should(Equal([]string{fp}))
		Eventually(func() []string { return configMapBundle("default", name, "ca.crt") }, timeout, interval).Should(Equal([]string{fp}))

		By("a namespace created later gets it at once")
		later := newNamespace()
		Eventually(func() []string { return configMapBundle(later, name, "ca.crt") }, timeout, interval).Should(Equal([]string{fp}))

		By("a ClusterTrustBundle named after the signer carries the same roots")
		ctb := &certificatesv1.ClusterTrustBundle{}
		ctbName := "clusterissuers.certsmith.io:" + issuer.Name + ":bundle"
		Eventually(func() error { return k8sClient.Get(ctx, types.NamespacedName{Name: ctbName}, ctb) }, timeout, interval).Should(Succeed())
		Expect(ctb.Spec.SignerName).To(Equal(issuer.Status.SignerName))
		certs, err := pki.ParseCertificatesPEM([]byte(ctb.Spec.TrustBundle))
		Expect(err).NotTo(HaveOccurred())
		Expect(certs).To(HaveLen(1))
		Expect(pki.FingerprintSHA256(certs[0])).To(Equal(fp))

		By("status reports the coverage")
		Eventually(func(g Gomega) {
			got := &certsmithv1alpha1.ClusterIssuer{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: issuer.Name}, got)).To(Succeed())
			g.Expect(got.Status.Bundle).NotTo(BeNil())
			g.Expect(got.Status.Bundle.Namespaces).To(BeNumerically(">=", 3))
			g.Expect(got.Status.Bundle.UpToDate).To(Equal(got.Status.Bundle.Namespaces))
			g.Expect(got.Status.Bundle.ClusterTrustBundle).To(Equal(ctbName))
			g.Expect(got.Status.Bundle.FingerprintsSHA256).To(Equal([]string{fp}))
		}, timeout, interval).Should(Succeed())

		By("edits by others are repaired")
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: existing, Name: name}, cm)).To(Succeed())
		cm.Data["ca.crt"] = "tampered"
		cm.Data["extra"] = "x"
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cm), got)).To(Succeed())
			g.Expect(got.Data).To(HaveKey("ca.crt"))
			for key := range got.Data {
				// The anchors, and the CRLs once the issuer has some.
				g.Expect(key).To(BeElementOf("ca.crt", certsmithv1alpha1.BundleCRLKey))
			}
		}, timeout, interval).Should(Succeed())
		Expect(configMapBundle(existing, name, "ca.crt")).To(Equal([]string{fp}))

		By("even when the edit also removed certsmith's label")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		delete(cm.Labels, certsmithv1alpha1.LabelManagedBy)
		cm.Data["ca.crt"] = "tampered again"
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())
		nudgeIssuer(issuer.Name)
		Eventually(func() []string { return configMapBundle(existing, name, "ca.crt") }, timeout, interval).Should(Equal([]string{fp}))

		By("removing spec.bundle removes what was distributed")
		updateIssuer(issuer.Name, func(i *certsmithv1alpha1.ClusterIssuer) { i.Spec.Bundle = nil })
		Eventually(func() []string { return configMapBundle(existing, name, "ca.crt") }, timeout, interval).Should(BeNil())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Name: ctbName}, &certificatesv1.ClusterTrustBundle{}))
		}, timeout, interval).Should(BeTrue())
	})

	It("follows the namespace selector, with a custom name and key, and leaves foreign ConfigMaps alone", func() {
		selected, other := newNamespace(), newNamespace()
		setNamespaceLabel(selected, "certsmith-test/trust", "yes")
		Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "trust", Namespace: other},
			Data:       map[string]string{"roots.pem": "mine"},
		})).To(Succeed())
		issuer := bundleIssuer(&certsmithv1alpha1.BundleSpec{
			ConfigMap:          &certsmithv1alpha1.ConfigMapTarget{Name: "trust", Key: "roots.pem"},
			NamespaceSelector:  &metav1.LabelSelector{MatchLabels: map[string]string{"certsmith-test/trust": "yes"}},
			ClusterTrustBundle: ptr.To(false),
		}, nil, 0)
		fp := caFingerprint(issuer)
		Eventually(func() []string { return configMapBundle(selected, "trust", "roots.pem") }, timeout, interval).Should(Equal([]string{fp}))
		Consistently(func() map[string]string {
			cm := &corev1.ConfigMap{}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: other, Name: "trust"}, cm)).To(Succeed())
			return cm.Data
		}, 2*time.Second, 200*time.Millisecond).Should(Equal(map[string]string{"roots.pem": "mine"}))
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: "clusterissuers.certsmith.io:" + issuer.Name + ":bundle"}, &certificatesv1.ClusterTrustBundle{})).
			To(Satisfy(apierrors.IsNotFound))

		By("a namespace that starts matching gets it, one that stops matching loses it")
		third := newNamespace()
		setNamespaceLabel(third, "certsmith-test/trust", "yes")
		Eventually(func() []string { return configMapBundle(third, "trust", "roots.pem") }, timeout, interval).Should(Equal([]string{fp}))
		setNamespaceLabel(selected, "certsmith-test/trust", "no")
		Eventually(func() []string { return configMapBundle(selected, "trust", "roots.pem") }, timeout, interval).Should(BeNil())
	})

	It("keeps the ConfigMaps working where ClusterTrustBundles are not served", func() {
		Expect(ServesClusterTrustBundles(k8sManagerMapper())).To(BeTrue(), "the test API server serves them")
		bare := meta.NewDefaultRESTMapper(nil)
		bare.Add(schema.GroupVersionKind{Group: "certificates.k8s.io", Version: "v1", Kind: "CertificateSigningRequest"}, meta.RESTScopeRoot)
		Expect(ServesClusterTrustBundles(bare)).To(BeFalse())
		served, err := DiscoverClusterTrustBundles(testEnv.Config)
		Expect(err).NotTo(HaveOccurred())
		Expect(served).To(BeTrue(), "discovered from the test API server")
		unreachable := rest.CopyConfig(testEnv.Config)
		unreachable.Host, unreachable.Timeout = "https://127.0.0.1:1", 2*time.Second
		_, err = DiscoverClusterTrustBundles(unreachable)
		Expect(err).To(HaveOccurred(), "an API server that does not answer is an error to wait on, not \"not served\"")

		namespace := newNamespace()
		issuer := bundleIssuer(nil, nil, 0)
		updateIssuer(issuer.Name, func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Spec.Bundle = &certsmithv1alpha1.BundleSpec{
				ConfigMap:         &certsmithv1alpha1.ConfigMapTarget{Name: "fallback-" + issuer.Name},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}},
			}
		})
		// A reconciler as it runs against an API server without the API.
		fallback := &BundleReconciler{Client: k8sClient, APIReader: k8sClient, Recorder: noEvents{}, Namespace: operatorNamespace}
		// It shares the issuer's ownership record with the manager's reconciler
		// (two writers, as never in production): a lost race is retried.
		Eventually(func() error {
			_, err := fallback.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: issuer.Name}})
			return err
		}, timeout, interval).Should(Succeed())
		Expect(configMapBundle(namespace, "fallback-"+issuer.Name, "ca.crt")).To(Equal([]string{caFingerprint(issuer)}))
	})
})

// setNamespaceLabel sets one label on a namespace.
func setNamespaceLabel(namespace, key, value string) {
	Eventually(func() error {
		ns := &corev1.Namespace{}
		if err := k8sClient.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
			return err
		}
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[key] = value
		return k8sClient.Update(ctx, ns)
	}, timeout, interval).Should(Succeed())
}

// updateIssuer changes a ClusterIssuer with a retry on conflicts.
func updateIssuer(name string, mutate func(*certsmithv1alpha1.ClusterIssuer)) {
	Eventually(func() error {
		issuer := &certsmithv1alpha1.ClusterIssuer{}
		if err := k8sClient.Get(ctx, types.NamespacedName{Name: name}, issuer); err != nil {
			return err
		}
		mutate(issuer)
		return k8sClient.Update(ctx, issuer)
	}, timeout, interval).Should(Succeed())
}

// nudgeIssuer makes the issuer controllers look again.
func nudgeIssuer(name string) {
	updateIssuer(name, func(i *certsmithv1alpha1.ClusterIssuer) {
		if i.Annotations == nil {
			i.Annotations = map[string]string{}
		}
		i.Annotations["certsmith-test/nudge"] = time.Now().Format("150405.000000")
	})
}
