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
	"crypto/x509/pkix"
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// The upgrade specs start from the CA Secret exactly as releases before
// the signer's own record stored it: the signed-until marks in the
// annotation certsmith.io/signed-until of "<issuer>-ca", written by the
// signer. The keys and annotation names are spelled out here on purpose,
// not taken from internal/ca.

// oldFormatCA makes a root CA at the fake clock's time.
func oldFormatCA(cn string) *pki.CA {
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
	Expect(err).NotTo(HaveOccurred())
	cert, err := pki.NewSelfSignedCA(key, pki.CATemplate{Subject: pkix.Name{CommonName: cn}, Duration: 30 * 24 * time.Hour, MaxPathLen: -1}, fakeClock.Now())
	Expect(err).NotTo(HaveOccurred())
	return &pki.CA{Certificate: cert, Key: key}
}

func pemOf(ca *pki.CA) (certPEM, keyPEM []byte) {
	keyPEM, err := pki.EncodePrivateKeyPEM(ca.Key, pki.KeyEncodingPKCS8)
	Expect(err).NotTo(HaveOccurred())
	return pki.EncodeCertificatesPEM(ca.Certificate), keyPEM
}

func marksJSON(marks map[string]time.Time) string {
	strs := map[string]string{}
	for k, v := range marks {
		strs[k] = v.UTC().Format(time.RFC3339)
	}
	raw, err := json.Marshal(strs)
	Expect(err).NotTo(HaveOccurred())
	return string(raw)
}

// createOldFormatIssuer stores an old-format CA Secret and then creates the
// self-signed issuer it belongs to.
func createOldFormatIssuer(name string, data map[string][]byte, annotations map[string]string) {
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-ca", Namespace: operatorNamespace, Annotations: annotations, Labels: map[string]string{
			certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue, certsmithv1alpha1.LabelClusterIssuer: name}},
		Type: corev1.SecretTypeTLS, Data: data,
	})).To(Succeed())
	Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}},
			Rotation: &certsmithv1alpha1.RotationSpec{PropagationDelay: &metav1.Duration{Duration: time.Minute}}},
	})).To(Succeed())
}

func trustedRoles(name string) map[string]string {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, issuer)).To(Succeed())
	return roles(issuer)
}

var _ = Describe("Upgrading from signed-until marks on the CA Secret", Serial, func() {
	It("keeps a retiring CA while its old mark is in the future, then retires it", func() {
		name := uniqueName("upgrade-retiring")
		old, current := oldFormatCA("old"), oldFormatCA("current")
		oldFP := pki.FingerprintSHA256(old.Certificate)
		oldCert, _ := pemOf(old)
		certPEM, keyPEM := pemOf(current)
		now := fakeClock.Now()
		createOldFormatIssuer(name, map[string][]byte{
			"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": append(append([]byte{}, certPEM...), oldCert...),
			"retiring.crt": oldCert, "retiring-chain.crt": oldCert,
		}, map[string]string{
			// Frozen at the switch a minute ago; the signer raised the mark afterwards.
			"certsmith.io/retire-after": marksJSON(map[string]time.Time{oldFP: now.Add(-time.Minute)}),
			"certsmith.io/signed-until": marksJSON(map[string]time.Time{oldFP: now.Add(time.Hour)}),
		})
		waitIssuerReady(name)
		waitRotationPhase(name, certsmithv1alpha1.RotationRetiring) // reported, although no status was stored
		Consistently(func() string { return trustedRoles(name)[oldFP] }, 3*time.Second, 200*time.Millisecond).Should(Equal(certsmithv1alpha1.TrustedCARetiring),
			"the old CA must stay trusted until the mark written by the previous release has passed")
		Expect(bundleFingerprints(caSecretOf(name).Data["ca.crt"])).To(ContainElement(oldFP))

		stepClock(time.Hour + time.Minute)
		nudgeIssuer(name)
		Eventually(func() map[string]string { return trustedRoles(name) }, timeout, interval).ShouldNot(HaveKey(oldFP))
		waitRotationPhase(name, certsmithv1alpha1.RotationComplete)
		secret := caSecretOf(name)
		Expect(bundleFingerprints(secret.Data["ca.crt"])).To(ConsistOf(pki.FingerprintSHA256(current.Certificate)))
		Expect(secret.Annotations).NotTo(HaveKey("certsmith.io/signed-until"), "the old marks leave with their CA")
	})

	It("carries on publishing a next CA stored without status, and switches", func() {
		name := uniqueName("upgrade-publishing")
		active, next := oldFormatCA("active"), oldFormatCA("next")
		certPEM, keyPEM := pemOf(active)
		nextCert, nextKey := pemOf(next)
		createOldFormatIssuer(name, map[string][]byte{
			"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": append(append([]byte{}, certPEM...), nextCert...),
			"next.crt": nextCert, "next.key": nextKey,
		}, nil)
		waitPublished(name)
		stepClock(time.Minute + time.Second)
		nudgeIssuer(name)
		switched := waitSwitched(name)
		Expect(roles(switched)).To(HaveKeyWithValue(pki.FingerprintSHA256(next.Certificate), certsmithv1alpha1.TrustedCAActive))
	})

	It("records new marks in the signer's own Secret and leaves the CA Secret alone", func() {
		name := uniqueName("upgrade-marks")
		active := oldFormatCA("active")
		certPEM, keyPEM := pemOf(active)
		fp := pki.FingerprintSHA256(active.Certificate)
		legacy := fakeClock.Now().Add(time.Minute)
		createOldFormatIssuer(name, map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": certPEM},
			map[string]string{"certsmith.io/signed-until": marksJSON(map[string]time.Time{fp: legacy})})
		waitIssuerReady(name)
		before := caSecretOf(name).ResourceVersion

		namespace := newNamespace()
		createCertificate(namespace, name, "leaf", nil)
		waitCertificateReady(namespace, "leaf")
		leaf := expectMatchingPair(getSecret(namespace, "leaf-tls"))[0]

		record := getSecret(operatorNamespace, name+"-signed-until")
		Expect(record.Labels).To(HaveKeyWithValue(certsmithv1alpha1.LabelSignedUntil, name))
		Expect(record.Labels).NotTo(HaveKey(certsmithv1alpha1.LabelClusterIssuer), "it holds no CA")
		var marks map[string]string
		Expect(json.Unmarshal([]byte(record.Annotations["certsmith.io/signed-until"]), &marks)).To(Succeed())
		mark, err := time.Parse(time.RFC3339, marks[fp])
		Expect(err).NotTo(HaveOccurred())
		Expect(mark).To(BeTemporally(">=", leaf.NotAfter.Truncate(time.Second)), "the mark covers the certificate before it is released")
		Expect(caSecretOf(name).ResourceVersion).To(Equal(before), "the signer no longer writes the CA Secret")
	})
})
