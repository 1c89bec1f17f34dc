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
	"encoding/hex"
	"math/big"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/revocation"
	"github.com/certsmith/certsmith/internal/testutil"
)

// revokeCertificate creates a CertificateRevocation of a ServiceCertificate.
func revokeCertificate(namespace, scName string, reason certsmithv1alpha1.RevocationReason) string {
	rev := &certsmithv1alpha1.CertificateRevocation{
		ObjectMeta: metav1.ObjectMeta{GenerateName: scName + "-", Namespace: namespace},
		Spec:       certsmithv1alpha1.CertificateRevocationSpec{ServiceCertificateName: scName, Reason: reason},
	}
	Expect(k8sClient.Create(ctx, rev)).To(Succeed())
	return rev.Name
}

// waitRevoked waits until a CertificateRevocation's Revoked condition has
// the status and reason, and returns it.
func waitRevoked(namespace, name string, status metav1.ConditionStatus, reason string) *certsmithv1alpha1.CertificateRevocation {
	rev := &certsmithv1alpha1.CertificateRevocation{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, rev)).To(Succeed())
		c := meta.FindStatusCondition(rev.Status.Conditions, certsmithv1alpha1.ConditionRevoked)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(status), "condition %+v", c)
		g.Expect(c.Reason).To(Equal(reason), "condition %+v", c)
	}, timeout, interval).Should(Succeed())
	return rev
}

// publishedCRLs returns the CRLs of an issuer's record, by CA ID, each
// linted and checked against the CA that signed it.
func publishedCRLs(issuer string, cas ...*x509.Certificate) map[string]*x509.RevocationList {
	secret := getSecret(operatorNamespace, revocation.SecretName(issuer))
	rec, err := revocation.Decode(secret.Data)
	Expect(err).NotTo(HaveOccurred())
	out := map[string]*x509.RevocationList{}
	for _, c := range rec.CRLs {
		crl, err := x509.ParseRevocationList(c.DER)
		Expect(err).NotTo(HaveOccurred())
		Expect(testutil.LintCRL(c.DER)).To(Succeed(), "zlint's RFC 5280 CRL lints")
		for _, ca := range cas {
			if revocation.CAID(ca) == c.CA {
				Expect(crl.CheckSignatureFrom(ca)).To(Succeed(), "the CRL of CA %s is signed by it", c.CA)
			}
		}
		out[c.CA] = crl
	}
	return out
}

// crlEntry returns a CRL's entry of a serial, or nil.
func crlEntry(crl *x509.RevocationList, serial *big.Int) *x509.RevocationListEntry {
	if crl == nil {
		return nil
	}
	for i := range crl.RevokedCertificateEntries {
		if e := &crl.RevokedCertificateEntries[i]; e.SerialNumber.Cmp(serial) == 0 {
			return e
		}
	}
	return nil
}

// passCoalescing moves the clock past the ten seconds within which a CRL
// is not made again, and wakes the issuer.
func passCoalescing(issuer string) {
	stepClock(revocation.MinInterval + time.Second)
	nudgeIssuer(issuer)
}

var _ = Describe("Revocation", func() {
	It("revokes a ServiceCertificate's certificate into its CA's CRL and re-issues it with a new key", func() {
		issuer := newSelfSignedIssuer()
		caCert := issuerCAFromSecret(issuer)[0]
		namespace := newNamespace()
		createCertificate(namespace, issuer.Name, "leaked", nil)
		createCertificate(namespace, issuer.Name, "sibling", nil)
		waitRevision(namespace, "leaked", 1)
		waitRevision(namespace, "sibling", 1)
		old := expectMatchingPair(getSecret(namespace, "leaked-tls"))[0]
		oldKey := getSecret(namespace, "leaked-tls").Data[corev1.TLSPrivateKeyKey]
		sibling := leafOf(namespace, "sibling-tls")

		By("every issuer keeps a CRL, empty before any revocation")
		Eventually(func(g Gomega) {
			got := &certsmithv1alpha1.ClusterIssuer{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: issuer.Name}, got)).To(Succeed())
			g.Expect(got.Status.Revocation).NotTo(BeNil())
			g.Expect(got.Status.Revocation.CRLs).To(HaveLen(1))
			g.Expect(got.Status.Revocation.CRLs[0].CAID).To(Equal(revocation.CAID(caCert)))
		}, timeout, interval).Should(Succeed())

		By("a CertificateRevocation records the serial at once and the CRL lists it after the coalescing interval")
		name := revokeCertificate(namespace, "leaked", certsmithv1alpha1.RevocationKeyCompromise)
		rev := waitRevoked(namespace, name, metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationRecorded)
		Expect(rev.Status.SerialNumber).To(Equal(old.SerialNumber.Text(16)))
		Expect(rev.Status.IssuerName).To(Equal(issuer.Name))
		Expect(rev.Status.CAFingerprintsSHA256).To(Equal([]string{pki.FingerprintSHA256(caCert)}))
		Expect(rev.Status.NotAfter.Time).To(BeTemporally("~", old.NotAfter, time.Second))
		Expect(rev.Status.ServiceCertificate).To(Equal(namespace + "/leaked"))
		passCoalescing(issuer.Name)
		waitRevoked(namespace, name, metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationPublished)
		crl := publishedCRLs(issuer.Name, caCert)[revocation.CAID(caCert)]
		entry := crlEntry(crl, old.SerialNumber)
		Expect(entry).NotTo(BeNil(), "the CRL lists the revoked serial")
		Expect(entry.ReasonCode).To(Equal(pki.ReasonKeyCompromise))
		Expect(crlEntry(crl, sibling.SerialNumber)).To(BeNil(), "the sibling is not revoked")
		Expect(crl.NextUpdate.Sub(crl.ThisUpdate)).To(Equal(revocation.DefaultValidity))

		By("the ServiceCertificate is re-issued at once, with a new key, past the hourly limit's key")
		sc := waitRevision(namespace, "leaked", 2)
		fresh := expectMatchingPair(getSecret(namespace, "leaked-tls"))[0]
		Expect(fresh.SerialNumber).NotTo(Equal(old.SerialNumber))
		Expect(getSecret(namespace, "leaked-tls").Data[corev1.TLSPrivateKeyKey]).NotTo(Equal(oldKey))
		Expect(sc.Status.RecentIssuances.RevokedTimes).To(HaveLen(1))
		Expect(crlEntry(publishedCRLs(issuer.Name, caCert)[revocation.CAID(caCert)], fresh.SerialNumber)).To(BeNil())
		Expect(leafOf(namespace, "sibling-tls").SerialNumber).To(Equal(sibling.SerialNumber), "the sibling is not re-issued")

		By("a revocation is final: its spec cannot change")
		rev = waitRevoked(namespace, name, metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationPublished)
		rev.Spec.Reason = certsmithv1alpha1.RevocationSuperseded
		err := k8sClient.Update(ctx, rev)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("immutable"))

		By("the issuer's status counts the entries")
		Eventually(func(g Gomega) {
			got := &certsmithv1alpha1.ClusterIssuer{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: issuer.Name}, got)).To(Succeed())
			g.Expect(got.Status.Revocation.Revoked).To(Equal(int32(1)))
			g.Expect(got.Status.Revocation.CRLs[0].Revoked).To(Equal(int32(1)))
		}, timeout, interval).Should(Succeed())

		By("a record lost (deleted) is made again from the revocations' status")
		secret := getSecret(operatorNamespace, revocation.SecretName(issuer.Name))
		Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
		Eventually(func(g Gomega) {
			again := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: revocation.SecretName(issuer.Name)}, again)).To(Succeed())
			g.Expect(again.UID).NotTo(Equal(secret.UID))
			rec, err := revocation.Decode(again.Data)
			g.Expect(err).NotTo(HaveOccurred())
			_, ok := rec.Lookup(revocation.CAID(caCert), old.SerialNumber)
			g.Expect(ok).To(BeTrue(), "the entry is back")
		}, timeout, interval).Should(Succeed())
	})

	It("bounds re-issues after revocations: a fourth within a day waits", func() {
		issuer := newSelfSignedIssuer()
		namespace := newNamespace()
		createCertificate(namespace, issuer.Name, "looped", nil)
		waitRevision(namespace, "looped", 1)
		for round := int64(1); round <= maxRevocationReissues; round++ {
			revokeCertificate(namespace, "looped", certsmithv1alpha1.RevocationUnspecified)
			waitRevision(namespace, "looped", round+1)
		}
		last := leafOf(namespace, "looped-tls")
		name := revokeCertificate(namespace, "looped", certsmithv1alpha1.RevocationUnspecified)
		rev := waitRevoked(namespace, name, metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationRecorded)
		Expect(rev.Status.SerialNumber).To(Equal(last.SerialNumber.Text(16)), "the revocation itself is never refused")
		Eventually(func(g Gomega) {
			sc := getCertificate(namespace, "looped")
			issuing := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionIssuing)
			g.Expect(issuing).NotTo(BeNil())
			g.Expect(issuing.Reason).To(Equal(certsmithv1alpha1.ReasonIssuanceRateLimited))
			g.Expect(issuing.Message).To(ContainSubstring("re-issued after a revocation"))
			ready := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse), "a revoked certificate is not Ready")
		}, timeout, interval).Should(Succeed())
		Consistently(func() int64 { return getCertificate(namespace, "looped").Status.Revision }, 2*time.Second, 200*time.Millisecond).
			Should(Equal(int64(maxRevocationReissues + 1)))
	})

	It("refuses what a tenant cannot revoke, and never revokes what it points at", func() {
		issuer := newSelfSignedIssuer()
		namespace := newNamespace()

		By("a ServiceCertificate that does not exist")
		missing := revokeCertificate(namespace, "nothing-here", certsmithv1alpha1.RevocationUnspecified)
		waitRevoked(namespace, missing, metav1.ConditionFalse, certsmithv1alpha1.ReasonRevocationServiceCertificateNotFound)
		By("that refusal is final: a ServiceCertificate of that name created later is not revoked by it")
		createCertificate(namespace, issuer.Name, "nothing-here", nil)
		waitRevision(namespace, "nothing-here", 1)
		nudgeIssuer(issuer.Name)
		Consistently(func() string {
			rev := &certsmithv1alpha1.CertificateRevocation{}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: missing}, rev)).To(Succeed())
			return meta.FindStatusCondition(rev.Status.Conditions, certsmithv1alpha1.ConditionRevoked).Reason + "/" + rev.Status.SerialNumber
		}, 2*time.Second, 200*time.Millisecond).Should(Equal(certsmithv1alpha1.ReasonRevocationServiceCertificateNotFound + "/"))
		Expect(getCertificate(namespace, "nothing-here").Status.Revision).To(Equal(int64(1)))

		By("a Secret holding another namespace's certificate: what is revoked is the certificate certsmith issued for it, never the victim's")
		victimNS := newNamespace()
		createCertificate(victimNS, issuer.Name, "victim", nil)
		createCertificate(namespace, issuer.Name, "mine", nil)
		waitRevision(victimNS, "victim", 1)
		waitRevision(namespace, "mine", 1)
		victim := getSecret(victimNS, "victim-tls")
		victimLeaf := leafOf(victimNS, "victim-tls")
		mineLeaf := leafOf(namespace, "mine-tls")
		mine := getSecret(namespace, "mine-tls")
		mine.Data[corev1.TLSCertKey] = victim.Data[corev1.TLSCertKey]
		Expect(k8sClient.Update(ctx, mine)).To(Succeed())
		name := revokeCertificate(namespace, "mine", certsmithv1alpha1.RevocationKeyCompromise)
		rev := waitRevoked(namespace, name, metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationRecorded)
		Expect(rev.Status.SerialNumber).NotTo(Equal(victimLeaf.SerialNumber.Text(16)), "the victim's certificate is never revoked")
		Expect(rev.Status.ServiceCertificate).To(Equal(namespace + "/mine"))
		// Either the certificate certsmith issued before the Secret was
		// changed, or (when the ServiceCertificate healed first) its successor.
		if rev.Status.SerialNumber != mineLeaf.SerialNumber.Text(16) {
			Expect(getCertificate(namespace, "mine").Status.Revision).To(BeNumerically(">", 1))
		}
		passCoalescing(issuer.Name)
		waitRevoked(namespace, name, metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationPublished)
		secret := getSecret(operatorNamespace, revocation.SecretName(issuer.Name))
		rec, err := revocation.Decode(secret.Data)
		Expect(err).NotTo(HaveOccurred())
		Expect(rec.Entries).To(HaveLen(1))
		_, listed := rec.Lookup(revocation.CAID(issuerCAFromSecret(issuer)[0]), victimLeaf.SerialNumber)
		Expect(listed).To(BeFalse(), "the victim's serial is not in the record")
		Consistently(func() string { return leafOf(victimNS, "victim-tls").SerialNumber.Text(16) }, 2*time.Second, 200*time.Millisecond).
			Should(Equal(victimLeaf.SerialNumber.Text(16)), "the victim is not re-issued")
	})

	It("revokes any serial of an issuer with a ClusterCertificateRevocation, known or not", func() {
		issuer := newSelfSignedIssuer()
		caCert := issuerCAFromSecret(issuer)[0]
		namespace := newNamespace()
		createCertificate(namespace, issuer.Name, "by-serial", nil)
		waitRevision(namespace, "by-serial", 1)
		leaf := leafOf(namespace, "by-serial-tls")

		By("a serial certsmith knows (its CSR is kept): that CA, until the certificate expires; the ServiceCertificate heals")
		colons := strings.ToUpper(strings.Join(splitPairs(leaf.SerialNumber.Text(16)), ":"))
		known := &certsmithv1alpha1.ClusterCertificateRevocation{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "known-"},
			Spec:       certsmithv1alpha1.ClusterCertificateRevocationSpec{IssuerName: issuer.Name, SerialNumber: colons, Reason: certsmithv1alpha1.RevocationSuperseded},
		}
		Expect(k8sClient.Create(ctx, known)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, known) })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: known.Name}, known)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(known.Status.Conditions, certsmithv1alpha1.ConditionRevoked)).To(BeTrue())
		}, timeout, interval).Should(Succeed())
		Expect(known.Status.NotAfter).NotTo(BeNil())
		Expect(known.Status.ServiceCertificate).To(Equal(namespace + "/by-serial"))
		waitRevision(namespace, "by-serial", 2)

		By("a serial certsmith does not know: every CA of the issuer lists it, until the CA expires")
		unknown := &certsmithv1alpha1.ClusterCertificateRevocation{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "unknown-"},
			Spec:       certsmithv1alpha1.ClusterCertificateRevocationSpec{IssuerName: issuer.Name, SerialNumber: "0123456789abcdef"},
		}
		Expect(k8sClient.Create(ctx, unknown)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, unknown) })
		passCoalescing(issuer.Name)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: unknown.Name}, unknown)).To(Succeed())
			c := meta.FindStatusCondition(unknown.Status.Conditions, certsmithv1alpha1.ConditionRevoked)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(certsmithv1alpha1.ReasonRevocationPublished))
		}, timeout, interval).Should(Succeed())
		Expect(unknown.Status.NotAfter).To(BeNil())
		crl := publishedCRLs(issuer.Name, caCert)[revocation.CAID(caCert)]
		Expect(crlEntry(crl, big.NewInt(0x0123456789abcdef))).NotTo(BeNil())
		Expect(crlEntry(crl, leaf.SerialNumber)).NotTo(BeNil())
		Expect(crlEntry(crl, leaf.SerialNumber).ReasonCode).To(Equal(pki.ReasonSuperseded))
	})

	It("drops an entry once its certificate has expired (stepped clock)", func() {
		issuer := newSelfSignedIssuer()
		caCert := issuerCAFromSecret(issuer)[0]
		namespace := newNamespace()
		createCertificate(namespace, issuer.Name, "short", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
			s.Duration = &metav1.Duration{Duration: time.Hour}
		})
		waitRevision(namespace, "short", 1)
		leaf := leafOf(namespace, "short-tls")
		name := revokeCertificate(namespace, "short", certsmithv1alpha1.RevocationCessationOfOperation)
		passCoalescing(issuer.Name)
		waitRevoked(namespace, name, metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationPublished)
		Expect(crlEntry(publishedCRLs(issuer.Name, caCert)[revocation.CAID(caCert)], leaf.SerialNumber)).NotTo(BeNil())

		stepClock(leaf.NotAfter.Sub(fakeClock.Now()) + time.Minute)
		nudgeIssuer(issuer.Name)
		waitRevoked(namespace, name, metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationEntryExpired)
		Eventually(func() *x509.RevocationListEntry {
			return crlEntry(publishedCRLs(issuer.Name, caCert)[revocation.CAID(caCert)], leaf.SerialNumber)
		}, timeout, interval).Should(BeNil(), "the expired entry has left the CRL")
	})

	It("puts a revocation during a CA rotation into the CRL of the CA that signed the certificate", func() {
		issuer := bundleIssuer(nil, &certsmithv1alpha1.RotationSpec{
			PropagationDelay: &metav1.Duration{Duration: time.Minute},
			ReissueWindow:    &metav1.Duration{Duration: 10 * time.Hour},
		}, 30*time.Hour)
		oldCA := issuerCAFromSecret(issuer)[0]
		namespace := newNamespace()
		createCertificate(namespace, issuer.Name, "during", nil)
		waitRevision(namespace, "during", 1)
		leaf := leafOf(namespace, "during-tls")

		updateIssuer(issuer.Name, func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Annotations = map[string]string{certsmithv1alpha1.AnnotationRotateRequestedAt: "2026-12-02T10:00:00Z"}
		})
		Eventually(func(g Gomega) {
			got := waitRotationPhase(issuer.Name, certsmithv1alpha1.RotationPublishing)
			g.Expect(got.Status.Rotation.PublishedAt).NotTo(BeNil())
		}, timeout, interval).Should(Succeed())
		stepClock(time.Minute + time.Second)
		retiring := waitRotationPhase(issuer.Name, certsmithv1alpha1.RotationRetiring)
		newCA := issuerCAFromSecret(retiring)[0]
		Expect(pki.FingerprintSHA256(newCA)).NotTo(Equal(pki.FingerprintSHA256(oldCA)))
		Expect(caSecretOf(issuer.Name).Data).To(HaveKey("retiring.key"), "the retiring CA keeps its key for its CRL")

		// The last CRL is more than ten seconds old (the clock moved a
		// minute), so this revocation may be published at once.
		name := revokeCertificate(namespace, "during", certsmithv1alpha1.RevocationKeyCompromise)
		passCoalescing(issuer.Name)
		rev := waitRevoked(namespace, name, metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationPublished)
		Expect(rev.Status.CAFingerprintsSHA256).To(Equal([]string{pki.FingerprintSHA256(oldCA)}))
		crls := publishedCRLs(issuer.Name, oldCA, newCA)
		Expect(crls).To(HaveKey(revocation.CAID(oldCA)))
		Expect(crls).To(HaveKey(revocation.CAID(newCA)))
		Expect(crlEntry(crls[revocation.CAID(oldCA)], leaf.SerialNumber)).NotTo(BeNil(), "the retiring CA's CRL lists it")
		Expect(crlEntry(crls[revocation.CAID(newCA)], leaf.SerialNumber)).To(BeNil(), "the new CA's CRL does not")

		By("the re-issued certificate comes from the new CA")
		waitRevision(namespace, "during", 2)
		Expect(leafOf(namespace, "during-tls").CheckSignatureFrom(newCA)).To(Succeed())
	})
})

var _ = Describe("Revoke on delete", func() {
	It("revokes a deleted ServiceCertificate's certificate when its issuer says so, lets the deletion finish, and cleans up after expiry", func() {
		issuer := newSelfSignedIssuer()
		caCert := issuerCAFromSecret(issuer)[0]
		namespace := newNamespace()
		createCertificate(namespace, issuer.Name, "kept", nil)
		createCertificate(namespace, issuer.Name, "gone", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
			s.Duration = &metav1.Duration{Duration: 2 * time.Hour}
		})
		waitRevision(namespace, "kept", 1)
		waitRevision(namespace, "gone", 1)
		Expect(getCertificate(namespace, "gone").Finalizers).To(BeEmpty(), "off by default: no finalizer")

		By("revokeOnDelete puts the finalizer on the issuer's certificates")
		updateIssuer(issuer.Name, func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Spec.Revocation = &certsmithv1alpha1.RevocationSpec{RevokeOnDelete: true}
		})
		for _, name := range []string{"kept", "gone"} {
			Eventually(func() []string { return getCertificate(namespace, name).Finalizers }, timeout, interval).
				Should(ConsistOf(certsmithv1alpha1.FinalizerRevokeOnDelete))
		}
		leaf := leafOf(namespace, "gone-tls")

		By("deleting one creates its revocation (cessationOfOperation), which is recorded, and the deletion completes")
		Expect(k8sClient.Delete(ctx, getCertificate(namespace, "gone"))).To(Succeed())
		Eventually(func() bool {
			err := k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "gone"}, &certsmithv1alpha1.ServiceCertificate{})
			return apierrors.IsNotFound(err)
		}, timeout, interval).Should(BeTrue())
		rev := &certsmithv1alpha1.ClusterCertificateRevocation{}
		revName := issuer.Name + "-" + leaf.SerialNumber.Text(16)
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: revName}, rev)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, rev) })
		Expect(rev.Labels).To(HaveKeyWithValue(certsmithv1alpha1.LabelRevokedOnDelete, "true"))
		Expect(rev.Annotations).To(HaveKeyWithValue(certsmithv1alpha1.AnnotationServiceCertificate, namespace+"/gone"))
		// Read from the Secret at the deletion: the CSR may be gone (after an hour) when it is resolved.
		Expect(rev.Annotations).To(HaveKeyWithValue(certsmithv1alpha1.AnnotationRevokedNotAfter, leaf.NotAfter.UTC().Format(time.RFC3339)))
		Expect(rev.Annotations).To(HaveKeyWithValue(certsmithv1alpha1.AnnotationRevokedAuthorityKeyID, hex.EncodeToString(caCert.SubjectKeyId)))
		Expect(rev.Spec.Reason).To(Equal(certsmithv1alpha1.RevocationCessationOfOperation))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: revName}, rev)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(rev.Status.Conditions, certsmithv1alpha1.ConditionRevoked)).To(BeTrue())
		}, timeout, interval).Should(Succeed())
		Expect(rev.Status.SerialNumber).To(Equal(leaf.SerialNumber.Text(16)))
		Expect(rev.Status.NotAfter).NotTo(BeNil(), "known: through its CSR, or from what was recorded at the deletion")
		Expect(rev.Status.NotAfter.Time).To(BeTemporally("==", leaf.NotAfter.Truncate(time.Second)))
		Expect(rev.Status.CAFingerprintsSHA256).To(Equal([]string{pki.FingerprintSHA256(caCert)}))
		passCoalescing(issuer.Name)
		Eventually(func() *x509.RevocationListEntry {
			return crlEntry(publishedCRLs(issuer.Name, caCert)[revocation.CAID(caCert)], leaf.SerialNumber)
		}, timeout, interval).ShouldNot(BeNil())
		secret := getSecret(operatorNamespace, revocation.SecretName(issuer.Name))
		rec, err := revocation.Decode(secret.Data)
		Expect(err).NotTo(HaveOccurred())
		entry, ok := rec.Lookup(revocation.CAID(caCert), leaf.SerialNumber)
		Expect(ok).To(BeTrue())
		Expect(entry.Namespace).To(Equal(namespace), "the entry counts against the namespace of the ServiceCertificate")
		Expect(entry.Reason).To(Equal(pki.ReasonCessationOfOperation))

		By("turning revokeOnDelete off removes the finalizer; deleting then revokes nothing")
		updateIssuer(issuer.Name, func(i *certsmithv1alpha1.ClusterIssuer) { i.Spec.Revocation = nil })
		Eventually(func() []string { return getCertificate(namespace, "kept").Finalizers }, timeout, interval).Should(BeEmpty())
		keptSerial := leafOf(namespace, "kept-tls").SerialNumber
		Expect(k8sClient.Delete(ctx, getCertificate(namespace, "kept"))).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "kept"}, &certsmithv1alpha1.ServiceCertificate{}))
		}, timeout, interval).Should(BeTrue())
		err = k8sClient.Get(ctx, types.NamespacedName{Name: issuer.Name + "-" + keptSerial.Text(16)}, &certsmithv1alpha1.ClusterCertificateRevocation{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no revocation without revokeOnDelete: %v", err)

		By("once the certificate has expired, its entry and the revocation certsmith made go")
		stepClock(leaf.NotAfter.Sub(fakeClock.Now()) + time.Minute)
		nudgeIssuer(issuer.Name)
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Name: revName}, &certsmithv1alpha1.ClusterCertificateRevocation{}))
		}, timeout, interval).Should(BeTrue())
		Eventually(func() *x509.RevocationListEntry {
			return crlEntry(publishedCRLs(issuer.Name, caCert)[revocation.CAID(caCert)], leaf.SerialNumber)
		}, timeout, interval).Should(BeNil())
	})

	It("never holds a deletion of a certificate that was never issued", func() {
		issuer := &certsmithv1alpha1.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName("ondelete")},
			Spec: certsmithv1alpha1.ClusterIssuerSpec{
				CA:         certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}},
				Revocation: &certsmithv1alpha1.RevocationSpec{RevokeOnDelete: true},
			},
		}
		Expect(k8sClient.Create(ctx, issuer)).To(Succeed())
		waitIssuerReady(issuer.Name)
		namespace := newNamespace()
		// A name the issuer's policy refuses: it is never issued.
		createCertificate(namespace, issuer.Name, "refused", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
			s.DNSNames = []string{"kubernetes.default.svc"}
		})
		Eventually(func() *metav1.Condition {
			return meta.FindStatusCondition(getCertificate(namespace, "refused").Status.Conditions, certsmithv1alpha1.ConditionReady)
		}, timeout, interval).ShouldNot(BeNil())
		Expect(getCertificate(namespace, "refused").Finalizers).To(BeEmpty())
		Expect(k8sClient.Delete(ctx, getCertificate(namespace, "refused"))).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "refused"}, &certsmithv1alpha1.ServiceCertificate{}))
		}, timeout, interval).Should(BeTrue())
	})
})

// splitPairs splits hex into pairs of digits, padding to an even length.
func splitPairs(hex string) []string {
	if len(hex)%2 == 1 {
		hex = "0" + hex
	}
	var out []string
	for i := 0; i < len(hex); i += 2 {
		out = append(out, hex[i:i+2])
	}
	return out
}
