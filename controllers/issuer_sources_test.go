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
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// waitIssuerReason waits until an issuer's Ready condition has the given status and reason.
func waitIssuerReason(name string, status metav1.ConditionStatus, reason string) *certsmithv1alpha1.ClusterIssuer {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, issuer)).To(Succeed())
		c := meta.FindStatusCondition(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(status), "condition: %+v", c)
		g.Expect(c.Reason).To(Equal(reason), "condition: %+v", c)
	}, timeout, interval).Should(Succeed())
	return issuer
}

// createIssuer creates a ClusterIssuer with the given CA source.
func createIssuer(name string, source certsmithv1alpha1.CASource) {
	Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       certsmithv1alpha1.ClusterIssuerSpec{CA: source},
	})).To(Succeed())
}

// importSecret stores a certificate chain and key as a kubernetes.io/tls Secret in the operator's namespace.
func importSecret(name string, key crypto.Signer, certs ...*x509.Certificate) {
	keyPEM, err := pki.EncodePrivateKeyPEM(key, pki.KeyEncodingPKCS8)
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: operatorNamespace},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: pki.EncodeCertificatesPEM(certs...), corev1.TLSPrivateKeyKey: keyPEM},
	})).To(Succeed())
}

func newKey(alg pki.KeyAlgorithm) crypto.Signer {
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: alg})
	Expect(err).NotTo(HaveOccurred())
	return key
}

func newRoot(key crypto.Signer, cn string, now time.Time, lifetime time.Duration) *x509.Certificate {
	cert, err := pki.NewSelfSignedCA(key, pki.CATemplate{Subject: pkix.Name{CommonName: cn}, Duration: lifetime, MaxPathLen: -1}, now)
	Expect(err).NotTo(HaveOccurred())
	return cert
}

// issueFor makes a certificate for the given names through a ServiceCertificate and returns its Secret's chain.
func issueFor(issuerName string) (*corev1.Secret, []*x509.Certificate) {
	namespace := newNamespace()
	Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
		ObjectMeta: metav1.ObjectMeta{Name: "leaf", Namespace: namespace},
		Spec: certsmithv1alpha1.ServiceCertificateSpec{
			IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuerName},
			DNSNames:  []string{"leaf." + namespace + ".svc"},
		},
	})).To(Succeed())
	waitCertificateReady(namespace, "leaf")
	secret := getSecret(namespace, "leaf-tls")
	return secret, expectMatchingPair(secret)
}

var _ = Describe("ClusterIssuer CA sources", func() {
	DescribeTable("generates self-signed roots with each key algorithm",
		func(key certsmithv1alpha1.PrivateKey, want pki.KeySpec) {
			name := uniqueName("alg")
			maxPath := int32(1)
			createIssuer(name, certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{
				PrivateKey: &key, MaxPathLength: &maxPath, Duration: &metav1.Duration{Duration: 24 * time.Hour},
			}})
			issuer := waitIssuerReady(name)
			ca := issuerCAFromSecret(issuer)[0]
			spec, err := pki.KeySpecOf(ca.PublicKey)
			Expect(err).NotTo(HaveOccurred())
			Expect(spec).To(Equal(want))
			Expect(ca.MaxPathLen).To(Equal(1))
			Expect(ca.NotAfter.Sub(ca.NotBefore)).To(BeNumerically("~", 24*time.Hour, 2*time.Minute))
			lintAll(ca)

			By("and signing leaves with it")
			_, chain := issueFor(name)
			lintAll(chain...)
			Expect(pki.VerifyChain(chain[0], chain[1:], []*x509.Certificate{ca}, chain[0].DNSNames[0], fakeClock.Now())).To(Succeed())
		},
		Entry("RSA 2048", certsmithv1alpha1.PrivateKey{Algorithm: certsmithv1alpha1.RSAKeyAlgorithm}, pki.KeySpec{Algorithm: pki.KeyAlgorithmRSA, Size: 2048}),
		Entry("RSA 3072", certsmithv1alpha1.PrivateKey{Algorithm: certsmithv1alpha1.RSAKeyAlgorithm, Size: 3072}, pki.KeySpec{Algorithm: pki.KeyAlgorithmRSA, Size: 3072}),
		Entry("ECDSA P-384", certsmithv1alpha1.PrivateKey{Algorithm: certsmithv1alpha1.ECDSAKeyAlgorithm, Size: 384}, pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 384}),
		Entry("Ed25519", certsmithv1alpha1.PrivateKey{Algorithm: certsmithv1alpha1.Ed25519KeyAlgorithm}, pki.KeySpec{Algorithm: pki.KeyAlgorithmEd25519}),
	)

	It("builds a three-level chain: root → intermediate → intermediate → leaf", func() {
		root, mid, leafIssuer := uniqueName("chain-root"), uniqueName("chain-mid"), uniqueName("chain-leaf")

		By("an intermediate waits for a parent that does not exist yet")
		createIssuer(mid, certsmithv1alpha1.CASource{IssuerRef: &certsmithv1alpha1.IntermediateCA{Name: root}})
		waitIssuerReason(mid, metav1.ConditionFalse, certsmithv1alpha1.ReasonParentNotFound)
		createIssuer(leafIssuer, certsmithv1alpha1.CASource{IssuerRef: &certsmithv1alpha1.IntermediateCA{
			Name: mid, GeneratedCA: certsmithv1alpha1.GeneratedCA{Subject: &certsmithv1alpha1.X509Subject{CommonName: "Serving CA"}},
		}})
		createIssuer(root, certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}})
		rootIssuer := waitIssuerReady(root)
		waitIssuerReady(mid)
		servingIssuer := waitIssuerReady(leafIssuer)

		rootCert := issuerCAFromSecret(rootIssuer)[0]
		servingChain := issuerCAFromSecret(servingIssuer)
		Expect(servingChain).To(HaveLen(3), "serving CA, its parent, and the root")
		Expect(servingChain[0].Subject.CommonName).To(Equal("Serving CA"))
		Expect(servingChain[2].Equal(rootCert)).To(BeTrue())
		lintAll(servingChain...)

		By("a leaf from the deepest issuer carries both intermediates and verifies against the root alone")
		secret, chain := issueFor(leafIssuer)
		Expect(chain).To(HaveLen(3), "leaf + two intermediates, no root")
		roots := x509.NewCertPool()
		roots.AddCert(rootCert)
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: chain[0].DNSNames[0], CurrentTime: fakeClock.Now()})
		Expect(err).NotTo(HaveOccurred())
		anchors, err := pki.ParseCertificatesPEM(secret.Data["ca.crt"])
		Expect(err).NotTo(HaveOccurred())
		Expect(anchors).To(HaveLen(1))
		Expect(anchors[0].Equal(rootCert)).To(BeTrue(), "ca.crt holds the trust anchor only")
		lintAll(chain...)
	})

	It("reports a loop of issuers", func() {
		a, b := uniqueName("loop-a"), uniqueName("loop-b")
		createIssuer(a, certsmithv1alpha1.CASource{IssuerRef: &certsmithv1alpha1.IntermediateCA{Name: b}})
		createIssuer(b, certsmithv1alpha1.CASource{IssuerRef: &certsmithv1alpha1.IntermediateCA{Name: a}})
		waitIssuerReason(a, metav1.ConditionFalse, certsmithv1alpha1.ReasonIssuerCycle)
		waitIssuerReason(b, metav1.ConditionFalse, certsmithv1alpha1.ReasonIssuerCycle)
	})

	It("imports a CA from a Secret and signs with it", func() {
		name := uniqueName("imported")
		key := newKey(pki.KeyAlgorithmECDSA)
		caCert := newRoot(key, "Imported Root", fakeClock.Now(), 48*time.Hour)
		importSecret(name+"-src", key, caCert)
		createIssuer(name, certsmithv1alpha1.CASource{SecretRef: &certsmithv1alpha1.SecretReference{Name: name + "-src"}})
		issuer := waitIssuerReady(name)
		Expect(issuer.Status.CA.FingerprintSHA256).To(Equal(pki.FingerprintSHA256(caCert)))
		Expect(issuer.Status.CA.RenewalTime).To(BeNil(), "an imported CA is renewed by its owner")

		_, chain := issueFor(name)
		Expect(chain).To(HaveLen(1))
		Expect(chain[0].CheckSignatureFrom(caCert)).To(Succeed())
		Expect(chain[0].NotAfter).To(BeTemporally("<=", caCert.NotAfter), "a leaf never outlives its CA")
	})

	It("imports an intermediate with its chain and hands the chain out", func() {
		name := uniqueName("imported-int")
		rootKey := newKey(pki.KeyAlgorithmECDSA)
		rootCert := newRoot(rootKey, "Offline Root", fakeClock.Now(), 72*time.Hour)
		intKey := newKey(pki.KeyAlgorithmECDSA)
		csrPEM, err := pki.BuildCSR(intKey, pki.CSRRequest{Subject: pkix.Name{CommonName: "Online Intermediate"}})
		Expect(err).NotTo(HaveOccurred())
		csr, err := pki.ParseCSR(csrPEM)
		Expect(err).NotTo(HaveOccurred())
		intCert, err := (&pki.CA{Certificate: rootCert, Key: rootKey}).Sign(pki.SignRequest{CSR: csr, Duration: 48 * time.Hour, IsCA: true, MaxPathLen: 0, Now: fakeClock.Now()})
		Expect(err).NotTo(HaveOccurred())
		importSecret(name+"-src", intKey, intCert, rootCert)
		createIssuer(name, certsmithv1alpha1.CASource{SecretRef: &certsmithv1alpha1.SecretReference{Name: name + "-src"}})
		waitIssuerReady(name)

		secret, chain := issueFor(name)
		Expect(chain).To(HaveLen(2))
		Expect(chain[1].Equal(intCert)).To(BeTrue())
		anchors, err := pki.ParseCertificatesPEM(secret.Data["ca.crt"])
		Expect(err).NotTo(HaveOccurred())
		Expect(anchors).To(HaveLen(1))
		Expect(anchors[0].Equal(rootCert)).To(BeTrue())
	})

	It("explains each problem with an imported CA", func() {
		now := fakeClock.Now()

		By("a missing Secret")
		missing := uniqueName("missing")
		createIssuer(missing, certsmithv1alpha1.CASource{SecretRef: &certsmithv1alpha1.SecretReference{Name: missing}})
		waitIssuerReason(missing, metav1.ConditionFalse, certsmithv1alpha1.ReasonCASecretNotFound)
		By("which becomes Ready once the Secret appears")
		key := newKey(pki.KeyAlgorithmECDSA)
		importSecret(missing, key, newRoot(key, "Late Root", now, time.Hour))
		waitIssuerReady(missing)

		By("a certificate that is not a CA")
		notCA := uniqueName("notca")
		caKey := newKey(pki.KeyAlgorithmECDSA)
		leafKey := newKey(pki.KeyAlgorithmECDSA)
		csrPEM, err := pki.BuildCSR(leafKey, pki.CSRRequest{DNSNames: []string{"leaf.example"}})
		Expect(err).NotTo(HaveOccurred())
		csr, err := pki.ParseCSR(csrPEM)
		Expect(err).NotTo(HaveOccurred())
		leaf, err := (&pki.CA{Certificate: newRoot(caKey, "Root", now, time.Hour), Key: caKey}).Sign(pki.SignRequest{
			CSR: csr, Usages: []string{"digital signature", "server auth"}, Duration: time.Hour, Now: now})
		Expect(err).NotTo(HaveOccurred())
		importSecret(notCA, leafKey, leaf)
		createIssuer(notCA, certsmithv1alpha1.CASource{SecretRef: &certsmithv1alpha1.SecretReference{Name: notCA}})
		issuer := waitIssuerReason(notCA, metav1.ConditionFalse, certsmithv1alpha1.ReasonCASecretInvalid)
		Expect(meta.FindStatusCondition(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring("is not a CA"))

		By("a key that does not match the certificate")
		mismatch := uniqueName("mismatch")
		importSecret(mismatch, newKey(pki.KeyAlgorithmECDSA), newRoot(newKey(pki.KeyAlgorithmECDSA), "Root", now, time.Hour))
		createIssuer(mismatch, certsmithv1alpha1.CASource{SecretRef: &certsmithv1alpha1.SecretReference{Name: mismatch}})
		issuer = waitIssuerReason(mismatch, metav1.ConditionFalse, certsmithv1alpha1.ReasonCASecretInvalid)
		Expect(meta.FindStatusCondition(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring("does not match"))

		By("an expired CA")
		expired := uniqueName("expired")
		oldKey := newKey(pki.KeyAlgorithmECDSA)
		importSecret(expired, oldKey, newRoot(oldKey, "Old Root", now.Add(-3*time.Hour), time.Hour))
		createIssuer(expired, certsmithv1alpha1.CASource{SecretRef: &certsmithv1alpha1.SecretReference{Name: expired}})
		waitIssuerReason(expired, metav1.ConditionFalse, certsmithv1alpha1.ReasonCAExpired)

		By("garbage in tls.crt")
		garbage := uniqueName("garbage")
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: garbage, Namespace: operatorNamespace},
			Data:       map[string][]byte{corev1.TLSCertKey: []byte("not PEM"), corev1.TLSPrivateKeyKey: []byte("not PEM either")},
		})).To(Succeed())
		createIssuer(garbage, certsmithv1alpha1.CASource{SecretRef: &certsmithv1alpha1.SecretReference{Name: garbage}})
		waitIssuerReason(garbage, metav1.ConditionFalse, certsmithv1alpha1.ReasonCASecretInvalid)
	})

	It("keeps the CA Secret of a deleted issuer and shows the loss on its certificates", func() {
		issuer := newSelfSignedIssuer()
		fingerprint := issuer.Status.CA.FingerprintSHA256
		namespace := newNamespace()
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name},
				DNSNames:  []string{"orphan." + namespace + ".svc"},
			},
		})).To(Succeed())
		waitCertificateReady(namespace, "orphan")

		Expect(k8sClient.Delete(ctx, issuer)).To(Succeed())
		waitCertificateCondition(namespace, "orphan", metav1.ConditionFalse, certsmithv1alpha1.ReasonIssuerNotFound)
		secret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: issuer.Name + "-ca"}, secret)).To(Succeed())
		Expect(secret.OwnerReferences).To(BeEmpty(), "the CA key is never garbage collected with its issuer")

		By("re-creating the issuer adopts the same CA, and the certificate is Ready again without re-issuing")
		before := getSecret(namespace, "orphan-tls").Annotations[certsmithv1alpha1.AnnotationRevision]
		createIssuer(issuer.Name, certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}})
		again := waitIssuerReady(issuer.Name)
		Expect(again.Status.CA.FingerprintSHA256).To(Equal(fingerprint))
		waitCertificateReady(namespace, "orphan")
		Expect(getSecret(namespace, "orphan-tls").Annotations[certsmithv1alpha1.AnnotationRevision]).To(Equal(before))
	})
})
