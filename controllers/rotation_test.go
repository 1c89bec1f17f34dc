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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// caSecretOf reads an issuer's CA Secret.
func caSecretOf(name string) *corev1.Secret {
	return getSecret(operatorNamespace, name+"-ca")
}

// bundleFingerprints lists the certificates of a PEM bundle.
func bundleFingerprints(pemBytes []byte) []string {
	certs, err := pki.ParseCertificatesPEM(pemBytes)
	Expect(err).NotTo(HaveOccurred())
	out := []string{}
	for _, c := range certs {
		out = append(out, pki.FingerprintSHA256(c))
	}
	return out
}

// waitRotationPhase waits for a rotation phase and returns the issuer.
func waitRotationPhase(name string, phase certsmithv1alpha1.RotationPhase) *certsmithv1alpha1.ClusterIssuer {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, issuer)).To(Succeed())
		g.Expect(issuer.Status.Rotation).NotTo(BeNil())
		g.Expect(issuer.Status.Rotation.Phase).To(Equal(phase), "rotation: %+v", issuer.Status.Rotation)
	}, timeout, interval).Should(Succeed())
	return issuer
}

func roles(issuer *certsmithv1alpha1.ClusterIssuer) map[string]string {
	out := map[string]string{}
	for _, t := range issuer.Status.TrustedCAs {
		out[t.FingerprintSHA256] = t.Role
	}
	return out
}

var _ = Describe("CA rotation", func() {
	It("publishes the next CA, switches after propagation, spreads re-issuance and retires the old CA", func() {
		issuer := bundleIssuer(&certsmithv1alpha1.BundleSpec{}, &certsmithv1alpha1.RotationSpec{
			PropagationDelay: &metav1.Duration{Duration: time.Minute},
			ReissueWindow:    &metav1.Duration{Duration: 10 * time.Minute},
		}, 30*time.Hour)
		oldFP := caFingerprint(issuer)
		namespace := newNamespace()
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "rotating", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name},
				DNSNames:  []string{"rotating." + namespace + ".svc"},
				Duration:  &metav1.Duration{Duration: 2 * time.Hour},
			},
		})).To(Succeed())
		waitRevision(namespace, "rotating", 1)
		firstLeaf := leafOf(namespace, "rotating-tls")
		Eventually(func() []string { return configMapBundle(namespace, issuer.Name+"-ca", "ca.crt") }, timeout, interval).Should(Equal([]string{oldFP}))

		By("a manual request starts the rotation: the next CA is published, the old one still signs")
		updateIssuer(issuer.Name, func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Annotations = map[string]string{certsmithv1alpha1.AnnotationRotateRequestedAt: "2026-11-30T10:00:00Z"}
		})
		publishing := waitRotationPhase(issuer.Name, certsmithv1alpha1.RotationPublishing)
		Expect(publishing.Status.Rotation.LastRequest).To(Equal("2026-11-30T10:00:00Z"))
		secret := caSecretOf(issuer.Name)
		Expect(secret.Data).To(HaveKey("next.crt"))
		nextFP := bundleFingerprints(secret.Data["next.crt"])[0]
		Expect(bundleFingerprints(secret.Data["ca.crt"])).To(ConsistOf(oldFP, nextFP))
		Expect(bundleFingerprints(secret.Data["tls.crt"])[0]).To(Equal(oldFP), "the old CA still signs while the next one propagates")
		Eventually(func() map[string]string {
			return roles(waitRotationPhase(issuer.Name, certsmithv1alpha1.RotationPublishing))
		}, timeout, interval).Should(Equal(map[string]string{oldFP: "Active", nextFP: "Next"}))

		By("every bundle carries both: the namespace ConfigMaps and the certificate's ca.crt")
		Eventually(func() []string { return configMapBundle(namespace, issuer.Name+"-ca", "ca.crt") }, timeout, interval).Should(ConsistOf(oldFP, nextFP))
		Eventually(func() []string { return bundleFingerprints(getSecret(namespace, "rotating-tls").Data["ca.crt"]) }, timeout, interval).
			Should(ConsistOf(oldFP, nextFP))
		Expect(leafOf(namespace, "rotating-tls").SerialNumber).To(Equal(firstLeaf.SerialNumber), "no re-issue while publishing")
		Eventually(func(g Gomega) {
			got := waitRotationPhase(issuer.Name, certsmithv1alpha1.RotationPublishing)
			g.Expect(got.Status.Rotation.PublishedAt).NotTo(BeNil())
		}, timeout, interval).Should(Succeed())

		By("no switch before the propagation delay has passed")
		Consistently(func() certsmithv1alpha1.RotationPhase {
			got := &certsmithv1alpha1.ClusterIssuer{}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Name: issuer.Name}, got)).To(Succeed())
			return got.Status.Rotation.Phase
		}, 3*time.Second, 200*time.Millisecond).Should(Equal(certsmithv1alpha1.RotationPublishing))

		By("after the delay, signing moves to the new CA and the old one is retiring")
		stepClock(time.Minute + time.Second)
		retiring := waitRotationPhase(issuer.Name, certsmithv1alpha1.RotationRetiring)
		Expect(roles(retiring)).To(Equal(map[string]string{nextFP: "Active", oldFP: "Retiring"}))
		secret = caSecretOf(issuer.Name)
		Expect(bundleFingerprints(secret.Data["tls.crt"])[0]).To(Equal(nextFP))
		Expect(bundleFingerprints(secret.Data["ca.crt"])).To(ConsistOf(oldFP, nextFP))
		Expect(secret.Data).NotTo(HaveKey("next.crt"))
		var retireAfter time.Time
		for _, t := range retiring.Status.TrustedCAs {
			if t.Role == "Retiring" {
				Expect(t.RetireAfter).NotTo(BeNil())
				retireAfter = t.RetireAfter.Time
			}
		}
		Expect(retireAfter).To(BeTemporally(">=", firstLeaf.NotAfter), "the old CA stays trusted until what it signed has expired")
		// One certificate at 20 a second needs no more than the spec's window.
		Expect(retiring.Status.Rotation.ReissueWindow).NotTo(BeNil(), "status.rotation.reissueWindow is set at the switch")
		Expect(retiring.Status.Rotation.ReissueWindow.Duration).To(Equal(10 * time.Minute))

		By("the certificate is re-issued within the re-issue window, not at once")
		share := pki.JitterFraction(namespace+"/rotating") / pki.MaxJitterFraction
		due := retiring.Status.Rotation.SwitchedAt.Add(time.Duration(share * float64(10*time.Minute)))
		if due.After(fakeClock.Now().Add(time.Second)) {
			nudge(namespace, "rotating")
			Consistently(func() int64 { return getCertificate(namespace, "rotating").Status.Revision }, 2*time.Second, 200*time.Millisecond).Should(Equal(int64(1)))
		}
		fakeClock.Step(10*time.Minute + time.Second)
		nudge(namespace, "rotating")
		waitRevision(namespace, "rotating", 2)
		newLeaf := leafOf(namespace, "rotating-tls")
		Expect(newLeaf.CheckSignatureFrom(issuerCAFromSecret(waitIssuerReady(issuer.Name))[0])).To(Succeed())
		Expect(bundleFingerprints(getSecret(namespace, "rotating-tls").Data["ca.crt"])).To(ConsistOf(oldFP, nextFP))

		By("once everything the old CA signed has expired, it leaves every bundle")
		fakeClock.SetTime(retireAfter.Add(time.Minute))
		nudgeIssuer(issuer.Name)
		complete := waitRotationPhase(issuer.Name, certsmithv1alpha1.RotationComplete)
		Expect(complete.Status.Rotation.CompletedAt).NotTo(BeNil())
		Expect(roles(complete)).To(Equal(map[string]string{nextFP: "Active"}))
		Expect(bundleFingerprints(caSecretOf(issuer.Name).Data["ca.crt"])).To(Equal([]string{nextFP}))
		Eventually(func() []string { return configMapBundle(namespace, issuer.Name+"-ca", "ca.crt") }, timeout, interval).Should(Equal([]string{nextFP}))
	})

	It("starts a rotation by itself at the CA's renewal time, and intermediates follow their root", func() {
		root := bundleIssuer(nil, &certsmithv1alpha1.RotationSpec{PropagationDelay: &metav1.Duration{Duration: time.Second}}, 30*time.Hour)
		child := uniqueName("follower")
		// The child renews late, so that only the root's switch re-signs it.
		createIssuer(child, certsmithv1alpha1.CASource{IssuerRef: &certsmithv1alpha1.IntermediateCA{Name: root.Name,
			GeneratedCA: certsmithv1alpha1.GeneratedCA{Duration: &metav1.Duration{Duration: 29 * time.Hour}, RenewBefore: &metav1.Duration{Duration: time.Minute}}}})
		waitIssuerReady(child)
		oldRoot := caFingerprint(root)
		oldChild := issuerCAFromSecret(waitIssuerReady(child))[0]

		stepClock(root.Status.CA.RenewalTime.Sub(fakeClock.Now()) + time.Minute)
		nudgeIssuer(root.Name)
		waitRotationPhase(root.Name, certsmithv1alpha1.RotationPublishing)
		fakeClock.Step(2 * time.Second)
		switched := waitRotationPhase(root.Name, certsmithv1alpha1.RotationRetiring)
		newRoot := caFingerprint(switched)
		Expect(newRoot).NotTo(Equal(oldRoot))

		By("the intermediate is re-signed by the new root, and trusts both roots while the old one retires")
		Eventually(func(g Gomega) {
			chain := issuerCAFromSecret(waitIssuerReady(child))
			g.Expect(chain[0].Equal(oldChild)).To(BeFalse())
			g.Expect(pki.FingerprintSHA256(chain[1])).To(Equal(newRoot))
			g.Expect(bundleFingerprints(caSecretOf(child).Data["ca.crt"])).To(ConsistOf(oldRoot, newRoot))
		}, timeout, interval).Should(Succeed())
		got := waitRotationPhase(child, certsmithv1alpha1.RotationRetiring)
		Expect(roles(got)).To(HaveKeyWithValue(pki.FingerprintSHA256(oldChild), "Retiring"))
	})
})

var _ = Describe("Imported CA rotation", func() {
	It("keeps signing with the old CA until a new one put into the Secret has propagated", func() {
		name := uniqueName("imported-rot")
		now := fakeClock.Now()
		oldKey := newKey(pki.KeyAlgorithmECDSA)
		oldCA := newRoot(oldKey, "Imported Old", now, 48*time.Hour)
		importSecret(name+"-src", oldKey, oldCA)
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certsmithv1alpha1.ClusterIssuerSpec{
				CA:       certsmithv1alpha1.CASource{SecretRef: &certsmithv1alpha1.SecretReference{Name: name + "-src"}},
				Bundle:   &certsmithv1alpha1.BundleSpec{},
				Rotation: &certsmithv1alpha1.RotationSpec{PropagationDelay: &metav1.Duration{Duration: 30 * time.Second}},
			},
		})).To(Succeed())
		waitIssuerReady(name)
		oldFP := pki.FingerprintSHA256(oldCA)
		Expect(bundleFingerprints(getSecret(operatorNamespace, name+"-imported-ca").Data["tls.crt"])[0]).To(Equal(oldFP), "certsmith signs from its own copy")
		_, oldChain := issueFor(name)
		Expect(oldChain[0].CheckSignatureFrom(oldCA)).To(Succeed())

		By("the user puts a new CA into the Secret")
		newKeyPair := newKey(pki.KeyAlgorithmECDSA)
		newCA := newRoot(newKeyPair, "Imported New", now, 96*time.Hour)
		keyPEM, err := pki.EncodePrivateKeyPEM(newKeyPair, pki.KeyEncodingPKCS8)
		Expect(err).NotTo(HaveOccurred())
		src := getSecret(operatorNamespace, name+"-src")
		src.Data[corev1.TLSCertKey] = pki.EncodeCertificatesPEM(newCA)
		src.Data[corev1.TLSPrivateKeyKey] = keyPEM
		Expect(k8sClient.Update(ctx, src)).To(Succeed())
		newFP := pki.FingerprintSHA256(newCA)

		waitRotationPhase(name, certsmithv1alpha1.RotationPublishing)
		secret := getSecret(operatorNamespace, name+"-imported-ca")
		Expect(bundleFingerprints(secret.Data["tls.crt"])[0]).To(Equal(oldFP), "still signing with the previous key")
		Expect(bundleFingerprints(secret.Data["ca.crt"])).To(ConsistOf(oldFP, newFP))

		By("after propagation, signing moves to the new CA and the old one retires")
		Eventually(func(g Gomega) {
			got := waitRotationPhase(name, certsmithv1alpha1.RotationPublishing)
			g.Expect(got.Status.Rotation.PublishedAt).NotTo(BeNil())
		}, timeout, interval).Should(Succeed())
		stepClock(31 * time.Second)
		retiring := waitRotationPhase(name, certsmithv1alpha1.RotationRetiring)
		Expect(roles(retiring)).To(Equal(map[string]string{newFP: "Active", oldFP: "Retiring"}))
		Expect(bundleFingerprints(getSecret(operatorNamespace, name+"-imported-ca").Data["tls.crt"])[0]).To(Equal(newFP))
		for _, t := range retiring.Status.TrustedCAs {
			if t.Role == "Retiring" {
				Expect(t.RetireAfter.Time).To(BeTemporally(">=", oldChain[0].NotAfter))
			}
		}
	})
})
