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
	"encoding/pem"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"software.sslmate.com/src/go-pkcs12"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// requestsFor lists the CSRs certsmith made for a ServiceCertificate.
func requestsFor(namespace, name string) []certificatesv1.CertificateSigningRequest {
	var csrs certificatesv1.CertificateSigningRequestList
	Expect(k8sClient.List(ctx, &csrs)).To(Succeed())
	var out []certificatesv1.CertificateSigningRequest
	for _, csr := range csrs.Items {
		if csr.Annotations[certsmithv1alpha1.AnnotationServiceCertificate] == namespace+"/"+name {
			out = append(out, csr)
		}
	}
	return out
}

// leafOf returns the certificate in a Secret.
func leafOf(namespace, secretName string) *x509.Certificate {
	return expectMatchingPair(getSecret(namespace, secretName))[0]
}

// waitRevision waits until the ServiceCertificate is Ready at a revision.
func waitRevision(namespace, name string, revision int64) *certsmithv1alpha1.ServiceCertificate {
	sc := &certsmithv1alpha1.ServiceCertificate{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sc)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeTrue(), "conditions: %+v", sc.Status.Conditions)
		g.Expect(sc.Status.Revision).To(Equal(revision))
	}, timeout, interval).Should(Succeed())
	return sc
}

// update changes a ServiceCertificate with a retry on conflicts.
func update(namespace, name string, mutate func(*certsmithv1alpha1.ServiceCertificate)) {
	Eventually(func() error {
		sc := &certsmithv1alpha1.ServiceCertificate{}
		if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sc); err != nil {
			return err
		}
		mutate(sc)
		return k8sClient.Update(ctx, sc)
	}, timeout, interval).Should(Succeed())
}

// requestRenewal sets the manual trigger annotation.
func requestRenewal(namespace, name, value string) {
	update(namespace, name, func(sc *certsmithv1alpha1.ServiceCertificate) {
		if sc.Annotations == nil {
			sc.Annotations = map[string]string{}
		}
		sc.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt] = value
	})
}

// nudge makes the controller look again without changing anything it reads.
func nudge(namespace, name string) {
	update(namespace, name, func(sc *certsmithv1alpha1.ServiceCertificate) {
		if sc.Labels == nil {
			sc.Labels = map[string]string{}
		}
		sc.Labels["certsmith-test/nudge"] = time.Now().Format("150405.000000")
	})
}

// stepClock moves the operator's clock forward for the rest of one spec.
func stepClock(d time.Duration) {
	original := fakeClock.Now()
	fakeClock.Step(d)
	DeferCleanup(func() { fakeClock.SetTime(original) })
}

var _ = Describe("ServiceCertificate lifecycle", func() {
	var (
		issuer    *certsmithv1alpha1.ClusterIssuer
		namespace string
	)
	BeforeEach(func() {
		issuer = newSelfSignedIssuer()
		namespace = newNamespace()
	})
	create := func(name string, mutate func(*certsmithv1alpha1.ServiceCertificateSpec)) {
		createCertificate(namespace, issuer.Name, name, mutate)
	}

	Context("spec fields", func() {
		It("puts the common name, subject and URIs into the certificate", func() {
			policyIssuer := newPolicyIssuer(&certsmithv1alpha1.IssuerPolicy{URIs: []string{"spiffe://cluster.local/ns/*/sa/*"}}, "", certsmithv1alpha1.GeneratedCA{})
			create("ident", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.IssuerRef.Name = policyIssuer.Name
				s.CommonName = "ident." + namespace + ".svc"
				s.Subject = &certsmithv1alpha1.X509Subject{Organizations: []string{"Example"}, OrganizationalUnits: []string{"Payments"}}
				s.URIs = []string{"spiffe://cluster.local/ns/" + namespace + "/sa/ident"}
				s.Usages = []certsmithv1alpha1.KeyUsage{"digital signature", "server auth", "client auth"}
			})
			waitCertificateReady(namespace, "ident")
			leaf := leafOf(namespace, "ident-tls")
			Expect(leaf.Subject.CommonName).To(Equal("ident." + namespace + ".svc"))
			Expect(leaf.Subject.Organization).To(ConsistOf("Example"))
			Expect(leaf.Subject.OrganizationalUnit).To(ConsistOf("Payments"))
			Expect(leaf.URIs).To(HaveLen(1))
			Expect(leaf.URIs[0].String()).To(Equal("spiffe://cluster.local/ns/" + namespace + "/sa/ident"))
			Expect(leaf.ExtKeyUsage).To(ConsistOf(x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth))
			lintAll(leaf)

			By("a URI that the issuer does not allow is refused")
			create("rogue-uri", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.URIs = []string{"spiffe://cluster.local/ns/" + namespace + "/sa/x"}
			})
			waitCertificateCondition(namespace, "rogue-uri", metav1.ConditionFalse, certsmithv1alpha1.ReasonNotAllowedByPolicy)
		})

		It("encodes keys as asked: PKCS1/SEC 1 by default, PKCS8 on request, Ed25519 always PKCS8", func() {
			create("sec1", nil)
			create("pkcs8", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.PrivateKey = &certsmithv1alpha1.PrivateKey{Encoding: certsmithv1alpha1.PKCS8}
			})
			create("rsa1", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.PrivateKey = &certsmithv1alpha1.PrivateKey{Algorithm: certsmithv1alpha1.RSAKeyAlgorithm, Size: 3072}
			})
			create("ed", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.PrivateKey = &certsmithv1alpha1.PrivateKey{Algorithm: certsmithv1alpha1.Ed25519KeyAlgorithm, Encoding: certsmithv1alpha1.PKCS1}
			})
			for name, header := range map[string]string{"sec1": "EC PRIVATE KEY", "pkcs8": "PRIVATE KEY", "rsa1": "RSA PRIVATE KEY", "ed": "PRIVATE KEY"} {
				waitCertificateReady(namespace, name)
				block, _ := pem.Decode(getSecret(namespace, name+"-tls").Data[corev1.TLSPrivateKeyKey])
				Expect(block).NotTo(BeNil())
				Expect(block.Type).To(Equal(header), name)
			}
			spec, err := pki.KeySpecOf(leafOf(namespace, "rsa1-tls").PublicKey)
			Expect(err).NotTo(HaveOccurred())
			Expect(spec.Size).To(Equal(3072))
			lintAll(leafOf(namespace, "ed-tls"))
		})

		It("rotates the key on re-issue by default and keeps it with rotationPolicy Never", func() {
			create("always", nil)
			create("never", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.PrivateKey = &certsmithv1alpha1.PrivateKey{RotationPolicy: certsmithv1alpha1.RotationPolicyNever}
			})
			waitCertificateReady(namespace, "always")
			waitCertificateReady(namespace, "never")
			alwaysKey := getSecret(namespace, "always-tls").Data[corev1.TLSPrivateKeyKey]
			neverKey := getSecret(namespace, "never-tls").Data[corev1.TLSPrivateKeyKey]
			neverSerial := leafOf(namespace, "never-tls").SerialNumber

			requestRenewal(namespace, "always", "1")
			requestRenewal(namespace, "never", "1")
			waitRevision(namespace, "always", 2)
			sc := waitRevision(namespace, "never", 2)
			Expect(sc.Status.LastRenewRequest).To(Equal("1"))
			Expect(getSecret(namespace, "always-tls").Data[corev1.TLSPrivateKeyKey]).NotTo(Equal(alwaysKey))
			Expect(getSecret(namespace, "never-tls").Data[corev1.TLSPrivateKeyKey]).To(Equal(neverKey))
			Expect(leafOf(namespace, "never-tls").SerialNumber).NotTo(Equal(neverSerial), "a new certificate for the same key")

			By("the trigger fires once per value, and certsmith leaves the annotation as written")
			Consistently(func(g Gomega) {
				got := &certsmithv1alpha1.ServiceCertificate{}
				g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "never"}, got)).To(Succeed())
				g.Expect(got.Status.Revision).To(Equal(int64(2)))
				g.Expect(got.Annotations).To(HaveKeyWithValue(certsmithv1alpha1.AnnotationRenewRequestedAt, "1"))
			}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
		})

		It("keeps secretTemplate labels and annotations in sync", func() {
			create("templated", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.SecretTemplate = &certsmithv1alpha1.SecretTemplate{
					Labels:      map[string]string{"team": "payments", "tier": "web"},
					Annotations: map[string]string{"reflector.example/allowed": "true"},
				}
			})
			waitCertificateReady(namespace, "templated")
			secret := getSecret(namespace, "templated-tls")
			Expect(secret.Labels).To(HaveKeyWithValue("team", "payments"))
			Expect(secret.Annotations).To(HaveKeyWithValue("reflector.example/allowed", "true"))

			By("repairing drift without re-issuing")
			patch := client.MergeFrom(secret.DeepCopy())
			secret.Labels["team"] = "someone-else"
			delete(secret.Annotations, "reflector.example/allowed")
			Expect(k8sClient.Patch(ctx, secret, patch)).To(Succeed())
			Eventually(func(g Gomega) {
				s := getSecret(namespace, "templated-tls")
				g.Expect(s.Labels).To(HaveKeyWithValue("team", "payments"))
				g.Expect(s.Annotations).To(HaveKeyWithValue("reflector.example/allowed", "true"))
			}, timeout, interval).Should(Succeed())

			By("removing what the template no longer has, and keeping foreign labels")
			secret = getSecret(namespace, "templated-tls")
			patch = client.MergeFrom(secret.DeepCopy())
			secret.Labels["added-by-someone"] = "yes"
			Expect(k8sClient.Patch(ctx, secret, patch)).To(Succeed())
			update(namespace, "templated", func(sc *certsmithv1alpha1.ServiceCertificate) {
				delete(sc.Spec.SecretTemplate.Labels, "tier")
			})
			Eventually(func(g Gomega) {
				s := getSecret(namespace, "templated-tls")
				g.Expect(s.Labels).NotTo(HaveKey("tier"))
				g.Expect(s.Labels).To(HaveKeyWithValue("added-by-someone", "yes"))
				g.Expect(s.Labels).To(HaveKeyWithValue("team", "payments"))
			}, timeout, interval).Should(Succeed())
			Expect(getSecret(namespace, "templated-tls").Annotations[certsmithv1alpha1.AnnotationRevision]).To(Equal("1"))
		})

		It("writes combined PEM, DER and PKCS#12 outputs, and removes them when no longer asked", func() {
			Expect(k8sClient.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: "p12-password", Namespace: namespace},
				Data:       map[string][]byte{"password": []byte("changeit")},
			})).To(Succeed())
			create("outputs", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.AdditionalOutputFormats = []certsmithv1alpha1.AdditionalOutputFormat{{Type: certsmithv1alpha1.CombinedPEMOutput}, {Type: certsmithv1alpha1.DEROutput}}
				s.Keystores = &certsmithv1alpha1.Keystores{PKCS12: &certsmithv1alpha1.PKCS12Keystore{
					PasswordSecretRef: certsmithv1alpha1.SecretKeySelector{Name: "p12-password", Key: "password"},
				}}
			})
			waitCertificateReady(namespace, "outputs")
			secret := getSecret(namespace, "outputs-tls")
			leaf := expectMatchingPair(secret)[0]
			Expect(string(secret.Data["tls-combined.pem"])).To(Equal(string(secret.Data[corev1.TLSPrivateKeyKey]) + string(secret.Data[corev1.TLSCertKey])))
			derKey, err := x509.ParsePKCS8PrivateKey(secret.Data["key.der"])
			Expect(err).NotTo(HaveOccurred())
			Expect(pki.PublicKeysEqual(derKey.(interface{ Public() crypto.PublicKey }).Public(), leaf.PublicKey)).To(BeTrue())
			p12Key, p12Cert, _, err := pkcs12.DecodeChain(secret.Data["keystore.p12"], "changeit")
			Expect(err).NotTo(HaveOccurred())
			Expect(p12Cert.Equal(leaf)).To(BeTrue())
			Expect(pki.PublicKeysEqual(p12Key.(interface{ Public() crypto.PublicKey }).Public(), leaf.PublicKey)).To(BeTrue())
			trusted, err := pkcs12.DecodeTrustStore(secret.Data["truststore.p12"], "changeit")
			Expect(err).NotTo(HaveOccurred())
			Expect(trusted).To(HaveLen(1))
			Expect(trusted[0].Equal(issuerCAFromSecret(issuer)[0])).To(BeTrue())

			By("leaving the keystore alone while its inputs are unchanged")
			keystore := secret.Data["keystore.p12"]
			nudge(namespace, "outputs")
			Consistently(func() []byte { return getSecret(namespace, "outputs-tls").Data["keystore.p12"] }, 2*time.Second, 200*time.Millisecond).Should(Equal(keystore))

			update(namespace, "outputs", func(sc *certsmithv1alpha1.ServiceCertificate) {
				sc.Spec.AdditionalOutputFormats = nil
				sc.Spec.Keystores = nil
			})
			Eventually(func(g Gomega) {
				s := getSecret(namespace, "outputs-tls")
				g.Expect(s.Data).NotTo(HaveKey("tls-combined.pem"))
				g.Expect(s.Data).NotTo(HaveKey("key.der"))
				g.Expect(s.Data).NotTo(HaveKey("keystore.p12"))
				g.Expect(s.Data).NotTo(HaveKey("truststore.p12"))
			}, timeout, interval).Should(Succeed())

			By("a missing password Secret is a clear condition")
			create("nopass", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.Keystores = &certsmithv1alpha1.Keystores{PKCS12: &certsmithv1alpha1.PKCS12Keystore{
					PasswordSecretRef: certsmithv1alpha1.SecretKeySelector{Name: "absent", Key: "password"},
				}}
			})
			sc := waitCertificateCondition(namespace, "nopass", metav1.ConditionFalse, certsmithv1alpha1.ReasonInvalidSpec)
			Expect(meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring("absent"))
		})

		It("keeps revisionHistoryLimit finished CSRs", func() {
			create("history", func(s *certsmithv1alpha1.ServiceCertificateSpec) { s.RevisionHistoryLimit = ptr.To(int32(2)) })
			waitRevision(namespace, "history", 1)
			for i, value := range []string{"a", "b", "c"} {
				requestRenewal(namespace, "history", value)
				waitRevision(namespace, "history", int64(i+2))
			}
			Eventually(func() int { return len(requestsFor(namespace, "history")) }, timeout, interval).Should(Equal(2))
		})

		It("retains the Secret without an owner reference when asked", func() {
			create("retained", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.SecretDeletionPolicy = certsmithv1alpha1.SecretDeletionPolicyRetain
			})
			waitCertificateReady(namespace, "retained")
			Expect(getSecret(namespace, "retained-tls").OwnerReferences).To(BeEmpty())
		})
	})

	Context("re-issue triggers", func() {
		It("re-issues a deleted Secret and undecodable data", func() {
			create("gone", nil)
			waitRevision(namespace, "gone", 1)
			Expect(k8sClient.Delete(ctx, getSecret(namespace, "gone-tls"))).To(Succeed())
			waitRevision(namespace, "gone", 2)
			expectMatchingPair(getSecret(namespace, "gone-tls"))

			secret := getSecret(namespace, "gone-tls")
			patch := client.MergeFrom(secret.DeepCopy())
			secret.Data[corev1.TLSCertKey] = []byte("garbage")
			Expect(k8sClient.Patch(ctx, secret, patch)).To(Succeed())
			waitRevision(namespace, "gone", 3)
			expectMatchingPair(getSecret(namespace, "gone-tls"))
		})

		It("re-issues when the issuer changes and when the issuer's CA changes", func() {
			create("moving", nil)
			waitRevision(namespace, "moving", 1)
			other := newSelfSignedIssuer()
			update(namespace, "moving", func(sc *certsmithv1alpha1.ServiceCertificate) { sc.Spec.IssuerRef.Name = other.Name })
			waitRevision(namespace, "moving", 2)
			leaf := leafOf(namespace, "moving-tls")
			Expect(leaf.CheckSignatureFrom(issuerCAFromSecret(other)[0])).To(Succeed())
			Expect(getSecret(namespace, "moving-tls").Annotations[certsmithv1alpha1.AnnotationIssuerName]).To(Equal(other.Name))

			By("replacing the issuer's CA (its Secret is deleted and a new CA generated)")
			old := issuerCAFromSecret(other)[0]
			Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: other.Name + "-ca"}})).To(Succeed())
			Eventually(func(g Gomega) {
				got := &certsmithv1alpha1.ClusterIssuer{}
				g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: other.Name}, got)).To(Succeed())
				g.Expect(got.Status.CA.FingerprintSHA256).NotTo(Equal(pki.FingerprintSHA256(old)))
			}, timeout, interval).Should(Succeed())
			waitRevision(namespace, "moving", 3)
			Expect(leafOf(namespace, "moving-tls").CheckSignatureFrom(issuerCAFromSecret(other)[0])).To(Succeed())
		})

		It("follows the Service's cluster IP", func() {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "follow", Namespace: namespace},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}},
			}
			Expect(k8sClient.Create(ctx, svc)).To(Succeed())
			create("follow", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.DNSNames = nil
				s.Service = &certsmithv1alpha1.ServiceReference{Name: "follow"}
			})
			waitRevision(namespace, "follow", 1)
			Expect(leafOf(namespace, "follow-tls").IPAddresses[0].String()).To(Equal(svc.Spec.ClusterIP))

			By("recreating the Service with another cluster IP")
			Expect(k8sClient.Delete(ctx, svc)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(svc), &corev1.Service{}))
			}, timeout, interval).Should(BeTrue())
			// The allocator may hand the freed IP straight back: take another until it differs.
			var again *corev1.Service
			for attempt := 0; attempt < 10; attempt++ {
				again = &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: "follow", Namespace: namespace},
					Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}},
				}
				Expect(k8sClient.Create(ctx, again)).To(Succeed())
				if again.Spec.ClusterIP != svc.Spec.ClusterIP {
					break
				}
				Expect(k8sClient.Delete(ctx, again)).To(Succeed())
				Eventually(func() bool {
					return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(again), &corev1.Service{}))
				}, timeout, interval).Should(BeTrue())
			}
			Expect(again.Spec.ClusterIP).NotTo(Equal(svc.Spec.ClusterIP))
			Eventually(func(g Gomega) {
				leaf := expectMatchingPair(getSecret(namespace, "follow-tls"))[0]
				g.Expect(leaf.IPAddresses).To(HaveLen(1))
				g.Expect(leaf.IPAddresses[0].String()).To(Equal(again.Spec.ClusterIP))
			}, timeout, interval).Should(Succeed())
		})

		It("renews at the renewal time and re-issues an expired certificate, by the clock", func() {
			create("clock", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.Duration = &metav1.Duration{Duration: 30 * time.Hour}
			})
			sc := waitRevision(namespace, "clock", 1)
			leaf := leafOf(namespace, "clock-tls")
			renewal := sc.Status.RenewalTime.Time
			Expect(renewal).To(BeTemporally("~", pki.RenewalTime(leaf.NotBefore, leaf.NotAfter, 0, 0, namespace+"/clock"), time.Second),
				"renewal is deterministic: two thirds of the lifetime minus the jitter for namespace/name")
			lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
			Expect(renewal).To(BeTemporally("<=", leaf.NotBefore.Add(lifetime*2/3)))
			Expect(renewal).To(BeTemporally(">=", leaf.NotBefore.Add(lifetime*2/3-lifetime/10)))

			By("nothing happens before the renewal time")
			stepClock(renewal.Sub(fakeClock.Now()) - time.Minute)
			nudge(namespace, "clock")
			Consistently(func() int64 {
				got := &certsmithv1alpha1.ServiceCertificate{}
				Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "clock"}, got)).To(Succeed())
				return got.Status.Revision
			}, 2*time.Second, 200*time.Millisecond).Should(Equal(int64(1)))

			By("it renews once the renewal time has passed")
			fakeClock.Step(2 * time.Minute)
			nudge(namespace, "clock")
			waitRevision(namespace, "clock", 2)
			issuing := meta.FindStatusCondition(getCertificate(namespace, "clock").Status.Conditions, certsmithv1alpha1.ConditionIssuing)
			Expect(issuing.Status).To(Equal(metav1.ConditionFalse))

			By("a certificate past its notAfter is re-issued as expired")
			fakeClock.Step(31 * time.Hour)
			nudge(namespace, "clock")
			waitRevision(namespace, "clock", 3)
			Expect(leafOf(namespace, "clock-tls").NotAfter).To(BeTemporally(">", fakeClock.Now()))
		})

		It("honours renewBefore and renewBeforePercentage exactly", func() {
			create("before", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.Duration = &metav1.Duration{Duration: 10 * time.Hour}
				s.RenewBefore = &metav1.Duration{Duration: 3 * time.Hour}
			})
			create("percent", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.Duration = &metav1.Duration{Duration: 10 * time.Hour}
				s.RenewBeforePercentage = ptr.To(int32(25))
			})
			before := waitCertificateReady(namespace, "before")
			Expect(before.Status.RenewalTime.Time).To(BeTemporally("==", before.Status.NotAfter.Add(-3*time.Hour)))
			percent := waitCertificateReady(namespace, "percent")
			lifetime := percent.Status.NotAfter.Sub(percent.Status.NotBefore.Time)
			Expect(percent.Status.RenewalTime.Time).To(BeTemporally("~", percent.Status.NotAfter.Add(-lifetime/4), time.Second))
		})

		It("spreads the renewal of certificates created together", func() {
			names := []string{"j1", "j2", "j3", "j4", "j5", "j6"}
			for _, n := range names {
				create(n, nil)
			}
			times := map[time.Time]bool{}
			for _, n := range names {
				sc := waitCertificateReady(namespace, n)
				times[sc.Status.RenewalTime.Time] = true
			}
			Expect(len(times)).To(BeNumerically(">=", 5), "renewal times should differ: %v", times)
		})
	})

	Context("failures and conflicts", func() {
		It("backs off after failed issuances, and a spec change or a manual trigger skips the wait", func() {
			// certsmith has no RBAC for example.org signers, so its CSRs stay
			// unapproved and the test can deny them as a person would.
			name := uniqueName("unapproved")
			Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ClusterIssuer{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: certsmithv1alpha1.ClusterIssuerSpec{
					SignerName: "example.org/" + name,
					CA:         certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}},
				},
			})).To(Succeed())
			waitIssuerReady(name)
			create("denied", func(s *certsmithv1alpha1.ServiceCertificateSpec) { s.IssuerRef.Name = name })

			deny := func(count int) {
				var csr certificatesv1.CertificateSigningRequest
				Eventually(func(g Gomega) {
					open := []certificatesv1.CertificateSigningRequest{}
					for _, c := range requestsFor(namespace, "denied") {
						if !csrFinished(&c) {
							open = append(open, c)
						}
					}
					g.Expect(open).To(HaveLen(1))
					csr = open[0]
				}, timeout, interval).Should(Succeed())
				csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
					Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "TestDenied", Message: "denied by the test",
				})
				Expect(k8sClient.SubResource("approval").Update(ctx, &csr)).To(Succeed())
				Eventually(func(g Gomega) {
					sc := getCertificate(namespace, "denied")
					g.Expect(sc.Status.FailedIssuanceAttempts).To(Equal(int32(count)))
					c := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)
					g.Expect(c.Reason).To(Equal(certsmithv1alpha1.ReasonFailed))
					g.Expect(c.Message).To(ContainSubstring("TestDenied"))
				}, timeout, interval).Should(Succeed())
			}
			openCount := func() int {
				n := 0
				for _, c := range requestsFor(namespace, "denied") {
					if !csrFinished(&c) {
						n++
					}
				}
				return n
			}

			deny(1)
			sc := getCertificate(namespace, "denied")
			Expect(sc.Status.LastFailureTime).NotTo(BeNil())
			By("no new CSR while the backoff lasts")
			nudge(namespace, "denied")
			Consistently(openCount, 2*time.Second, 200*time.Millisecond).Should(BeZero())

			By("a new attempt once the backoff has passed")
			stepClock(failureBackoff(1) + time.Second)
			nudge(namespace, "denied")
			deny(2)
			Expect(failureBackoff(2)).To(Equal(2 * failureBackoff(1)))
			nudge(namespace, "denied")
			Consistently(openCount, 2*time.Second, 200*time.Millisecond).Should(BeZero())

			By("a manual trigger goes at once")
			requestRenewal(namespace, "denied", "now")
			deny(3)

			By("and so does a spec change")
			update(namespace, "denied", func(sc *certsmithv1alpha1.ServiceCertificate) {
				sc.Spec.DNSNames = []string{"changed." + namespace + ".svc"}
			})
			Eventually(openCount, timeout, interval).Should(Equal(1))
		})

		It("never writes into a Secret that another ServiceCertificate owns", func() {
			create("first", func(s *certsmithv1alpha1.ServiceCertificateSpec) { s.SecretName = "shared" })
			waitCertificateReady(namespace, "first")
			create("second", func(s *certsmithv1alpha1.ServiceCertificateSpec) { s.SecretName = "shared" })
			sc := waitCertificateCondition(namespace, "second", metav1.ConditionFalse, certsmithv1alpha1.ReasonSecretConflict)
			Expect(meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring("first"))
			Expect(leafOf(namespace, "shared").DNSNames).To(ConsistOf("first." + namespace + ".svc"))
		})

		It("puts back its label when someone removes it, without re-issuing", func() {
			create("unlabelled", nil)
			waitRevision(namespace, "unlabelled", 1)
			secret := getSecret(namespace, "unlabelled-tls")
			patch := client.MergeFrom(secret.DeepCopy())
			delete(secret.Labels, certsmithv1alpha1.LabelManagedBy)
			Expect(k8sClient.Patch(ctx, secret, patch)).To(Succeed())
			nudge(namespace, "unlabelled")
			Eventually(func() map[string]string { return getSecret(namespace, "unlabelled-tls").Labels }, timeout, interval).
				Should(HaveKeyWithValue(certsmithv1alpha1.LabelManagedBy, certsmithv1alpha1.ManagedByValue))
			Consistently(func() string {
				return getSecret(namespace, "unlabelled-tls").Annotations[certsmithv1alpha1.AnnotationRevision]
			}, 2*time.Second, 200*time.Millisecond).Should(Equal("1"))
		})
	})
})

// getCertificate reads a ServiceCertificate.
func getCertificate(namespace, name string) *certsmithv1alpha1.ServiceCertificate {
	sc := &certsmithv1alpha1.ServiceCertificate{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sc)).To(Succeed())
	return sc
}
