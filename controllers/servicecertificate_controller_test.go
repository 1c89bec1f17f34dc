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
	"crypto/x509"
	"encoding/json"
	"net"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

var _ = Describe("ServiceCertificate", func() {
	var (
		issuer    *certsmithv1alpha1.ClusterIssuer
		namespace string
	)

	BeforeEach(func() {
		issuer = newSelfSignedIssuer()
		namespace = newNamespace()
	})

	newService := func(name string) *corev1.Service {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443}}},
		}
		Expect(k8sClient.Create(ctx, svc)).To(Succeed())
		Expect(svc.Spec.ClusterIP).NotTo(BeEmpty())
		return svc
	}

	newCertificate := func(name string, mutate func(*certsmithv1alpha1.ServiceCertificateSpec)) *certsmithv1alpha1.ServiceCertificate {
		sc := &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec:       certsmithv1alpha1.ServiceCertificateSpec{IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name}},
		}
		if mutate != nil {
			mutate(&sc.Spec)
		}
		Expect(k8sClient.Create(ctx, sc)).To(Succeed())
		return sc
	}

	It("issues a certificate for a Service that verifies against the issuer's CA", func() {
		svc := newService("web")
		newCertificate("web", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.Service = &certsmithv1alpha1.ServiceReference{Name: "web"}
			spec.DNSNames = []string{"api.web." + namespace + ".svc"}
		})
		sc := waitCertificateReady(namespace, "web")

		By("writing a kubernetes.io/tls Secret with a matching pair under the default name")
		Expect(sc.Status.SecretName).To(Equal("web-tls"))
		secret := getSecret(namespace, "web-tls")
		chain := expectMatchingPair(secret)
		leaf := chain[0]

		By("carrying the Service's names and cluster IP")
		Expect(leaf.DNSNames).To(ConsistOf("web."+namespace+".svc", "web."+namespace+".svc.cluster.local", "api.web."+namespace+".svc"))
		Expect(leaf.IPAddresses).To(HaveLen(1))
		Expect(leaf.IPAddresses[0].Equal(net.ParseIP(svc.Spec.ClusterIP))).To(BeTrue())
		Expect(leaf.ExtKeyUsage).To(ConsistOf(x509.ExtKeyUsageServerAuth))
		Expect(leaf.KeyUsage&x509.KeyUsageKeyEncipherment).To(BeZero(), "ECDSA keys must not carry key encipherment")
		spec, err := pki.KeySpecOf(leaf.PublicKey)
		Expect(err).NotTo(HaveOccurred())
		Expect(spec).To(Equal(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 256}))

		By("verifying, for every requested name, against the CA read from the issuer's CA Secret")
		roots := issuerCAFromSecret(issuer)
		for _, name := range leaf.DNSNames {
			Expect(pki.VerifyChain(leaf, chain[1:], roots, name, fakeClock.Now())).To(Succeed(), name)
		}
		Expect(pki.VerifyChain(leaf, chain[1:], roots, "web.other.svc", fakeClock.Now())).NotTo(Succeed())

		By("putting the issuer's root into ca.crt")
		caCerts, err := pki.ParseCertificatesPEM(secret.Data["ca.crt"])
		Expect(err).NotTo(HaveOccurred())
		Expect(caCerts).To(HaveLen(1))
		Expect(caCerts[0].Equal(roots[0])).To(BeTrue())

		By("reporting the times in status, with renewal at about two thirds of the lifetime")
		Expect(sc.Status.NotAfter.Time.Equal(leaf.NotAfter)).To(BeTrue())
		Expect(sc.Status.NotBefore.Time.Equal(leaf.NotBefore)).To(BeTrue())
		lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
		Expect(lifetime).To(BeNumerically("~", 90*24*time.Hour, 2*time.Minute))
		twoThirds := leaf.NotBefore.Add(lifetime * 2 / 3)
		Expect(sc.Status.RenewalTime.Time).To(BeTemporally("<=", twoThirds))
		Expect(sc.Status.RenewalTime.Time).To(BeTemporally(">=", twoThirds.Add(-lifetime/10)))
		Expect(sc.Status.Revision).To(Equal(int64(1)))
		Expect(sc.Status.ObservedGeneration).To(Equal(sc.Generation))

		By("owning the Secret, so the garbage collector removes it with the certificate")
		owner := metav1.GetControllerOf(secret)
		Expect(owner).NotTo(BeNil())
		Expect(owner.UID).To(Equal(sc.UID))
	})

	It("uses the requested duration, usages and key algorithm", func() {
		newCertificate("rsa", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.DNSNames = []string{"rsa." + namespace + ".svc"}
			spec.Duration = &metav1.Duration{Duration: 48 * time.Hour}
			spec.PrivateKey = &certsmithv1alpha1.PrivateKey{Algorithm: certsmithv1alpha1.RSAKeyAlgorithm}
			spec.Usages = []certsmithv1alpha1.KeyUsage{"digital signature", "key encipherment", "server auth", "client auth"}
		})
		waitCertificateReady(namespace, "rsa")
		chain := expectMatchingPair(getSecret(namespace, "rsa-tls"))
		leaf := chain[0]
		Expect(leaf.NotAfter.Sub(leaf.NotBefore)).To(BeNumerically("~", 48*time.Hour, 2*time.Minute))
		Expect(leaf.ExtKeyUsage).To(ConsistOf(x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth))
		Expect(leaf.KeyUsage & x509.KeyUsageKeyEncipherment).NotTo(BeZero())
		spec, err := pki.KeySpecOf(leaf.PublicKey)
		Expect(err).NotTo(HaveOccurred())
		Expect(spec).To(Equal(pki.KeySpec{Algorithm: pki.KeyAlgorithmRSA, Size: 2048}))
	})

	It("never lets the private key leave the Secret", func() {
		newCertificate("secretive", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.DNSNames = []string{"secretive." + namespace + ".svc"}
		})
		sc := waitCertificateReady(namespace, "secretive")
		secret := getSecret(namespace, "secretive-tls")
		Expect(containsPrivateKey(string(secret.Data[corev1.TLSPrivateKeyKey]))).To(BeTrue())

		var csrs certificatesv1.CertificateSigningRequestList
		Expect(k8sClient.List(ctx, &csrs)).To(Succeed())
		found := 0
		for _, csr := range csrs.Items {
			raw, err := json.Marshal(csr)
			Expect(err).NotTo(HaveOccurred())
			Expect(containsPrivateKey(string(raw))).To(BeFalse(), "CSR %s carries key material", csr.Name)
			if csr.Annotations[certsmithv1alpha1.AnnotationServiceCertificate] == namespace+"/secretive" {
				found++
			}
		}
		Expect(found).To(Equal(1), "one CSR is kept as history")

		raw, err := json.Marshal(sc)
		Expect(err).NotTo(HaveOccurred())
		Expect(containsPrivateKey(string(raw))).To(BeFalse())
		for k, v := range secret.Annotations {
			Expect(containsPrivateKey(v)).To(BeFalse(), "annotation %s", k)
		}
		var events eventsv1.EventList
		Expect(k8sClient.List(ctx, &events, client.InNamespace(namespace))).To(Succeed())
		for _, e := range events.Items {
			Expect(containsPrivateKey(e.Note)).To(BeFalse())
		}
	})

	It("refuses names of another namespace by default, without creating a CSR", func() {
		newCertificate("intruder", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.DNSNames = []string{"db.kube-system.svc.cluster.local", "intruder." + namespace + ".svc"}
		})
		sc := waitCertificateCondition(namespace, "intruder", metav1.ConditionFalse, certsmithv1alpha1.ReasonNotAllowedByPolicy)
		Expect(meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring("db.kube-system.svc.cluster.local"))
		Consistently(func(g Gomega) {
			var csrs certificatesv1.CertificateSigningRequestList
			g.Expect(k8sClient.List(ctx, &csrs)).To(Succeed())
			for _, csr := range csrs.Items {
				g.Expect(csr.Annotations[certsmithv1alpha1.AnnotationServiceCertificate]).NotTo(Equal(namespace + "/intruder"))
			}
			secret := &corev1.Secret{}
			err := k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "intruder-tls"}, secret)
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		By("a short name is refused too")
		newCertificate("short", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.DNSNames = []string{"web"}
		})
		waitCertificateCondition(namespace, "short", metav1.ConditionFalse, certsmithv1alpha1.ReasonNotAllowedByPolicy)

		By("an IP that is not a Service of the namespace is refused")
		newCertificate("foreign-ip", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.IPAddresses = []string{"192.0.2.10"}
		})
		waitCertificateCondition(namespace, "foreign-ip", metav1.ConditionFalse, certsmithv1alpha1.ReasonNotAllowedByPolicy)

		By("and the refusal is an Event a user sees")
		Eventually(func(g Gomega) {
			var events eventsv1.EventList
			g.Expect(k8sClient.List(ctx, &events, client.InNamespace(namespace))).To(Succeed())
			reasons := []string{}
			for _, e := range events.Items {
				if e.Regarding.Name == "intruder" {
					reasons = append(reasons, e.Reason)
				}
			}
			g.Expect(reasons).To(ContainElement(certsmithv1alpha1.ReasonNotAllowedByPolicy))
		}, timeout, interval).Should(Succeed())
	})

	It("waits for a missing issuer and a missing Service, then issues", func() {
		newCertificate("late", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.IssuerRef.Name = "late-issuer-" + namespace
			spec.Service = &certsmithv1alpha1.ServiceReference{Name: "late"}
		})
		waitCertificateCondition(namespace, "late", metav1.ConditionFalse, certsmithv1alpha1.ReasonIssuerNotFound)

		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: "late-issuer-" + namespace},
			Spec:       certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}}},
		})).To(Succeed())
		waitCertificateCondition(namespace, "late", metav1.ConditionFalse, certsmithv1alpha1.ReasonServiceNotFound)

		newService("late")
		waitCertificateReady(namespace, "late")
		expectMatchingPair(getSecret(namespace, "late-tls"))
	})

	It("never overwrites a Secret that it does not manage", func() {
		foreign := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "taken", Namespace: namespace},
			Data:       map[string][]byte{"password": []byte("hunter2")},
		}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		newCertificate("conflict", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.SecretName = "taken"
			spec.DNSNames = []string{"conflict." + namespace + ".svc"}
		})
		sc := waitCertificateCondition(namespace, "conflict", metav1.ConditionFalse, certsmithv1alpha1.ReasonSecretConflict)
		Expect(meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring("not managed by certsmith"))
		Consistently(func(g Gomega) {
			secret := getSecret(namespace, "taken")
			g.Expect(secret.Data).To(Equal(map[string][]byte{"password": []byte("hunter2")}))
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("re-issues when tls.key is replaced by a key that does not match", func() {
		newCertificate("tampered", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.DNSNames = []string{"tampered." + namespace + ".svc"}
		})
		waitCertificateReady(namespace, "tampered")
		secret := getSecret(namespace, "tampered-tls")
		before := expectMatchingPair(secret)[0]

		otherKey, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
		Expect(err).NotTo(HaveOccurred())
		otherPEM, err := pki.EncodePrivateKeyPEM(otherKey, pki.KeyEncodingPKCS8)
		Expect(err).NotTo(HaveOccurred())
		patch := client.MergeFrom(secret.DeepCopy())
		secret.Data[corev1.TLSPrivateKeyKey] = otherPEM
		Expect(k8sClient.Patch(ctx, secret, patch)).To(Succeed())

		Eventually(func(g Gomega) {
			after := getSecret(namespace, "tampered-tls")
			chain, err := pki.ParseCertificatesPEM(after.Data[corev1.TLSCertKey])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(chain[0].SerialNumber).NotTo(Equal(before.SerialNumber))
			key, err := pki.ParsePrivateKeyPEM(after.Data[corev1.TLSPrivateKeyKey])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pki.KeyMatchesCertificate(key, chain[0])).To(BeTrue())
		}, timeout, interval).Should(Succeed())
		// Ready stays True throughout (the old pair was usable until the
		// tampering): wait for the status of the new revision.
		Eventually(func() int64 { return waitCertificateReady(namespace, "tampered").Status.Revision }, timeout, interval).Should(Equal(int64(2)))
	})

	It("re-issues when the spec's names change", func() {
		sc := newCertificate("renamed", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.DNSNames = []string{"one." + namespace + ".svc"}
		})
		waitCertificateReady(namespace, "renamed")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sc), sc)).To(Succeed())
		patch := client.MergeFrom(sc.DeepCopy())
		sc.Spec.DNSNames = []string{"two." + namespace + ".svc"}
		Expect(k8sClient.Patch(ctx, sc, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			chain, err := pki.ParseCertificatesPEM(getSecret(namespace, "renamed-tls").Data[corev1.TLSCertKey])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(chain[0].DNSNames).To(ConsistOf("two." + namespace + ".svc"))
		}, timeout, interval).Should(Succeed())
		expectMatchingPair(getSecret(namespace, "renamed-tls"))
	})

	It("deletes its CSRs when the ServiceCertificate is deleted", func() {
		sc := newCertificate("doomed", func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.DNSNames = []string{"doomed." + namespace + ".svc"}
		})
		waitCertificateReady(namespace, "doomed")
		countCSRs := func() int {
			var csrs certificatesv1.CertificateSigningRequestList
			Expect(k8sClient.List(ctx, &csrs)).To(Succeed())
			n := 0
			for _, csr := range csrs.Items {
				if csr.Annotations[certsmithv1alpha1.AnnotationServiceCertificate] == namespace+"/doomed" {
					n++
				}
			}
			return n
		}
		Expect(countCSRs()).To(Equal(1))
		Expect(k8sClient.Delete(ctx, sc)).To(Succeed())
		Eventually(countCSRs, timeout, interval).Should(BeZero())
	})
})
