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
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// eventReasons lists the reasons of the Events about one object.
func eventReasons(namespace, name string) []string {
	var events eventsv1.EventList
	Expect(k8sClient.List(ctx, &events, client.InNamespace(namespace))).To(Succeed())
	var reasons []string
	for _, e := range events.Items {
		if e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

var _ = Describe("Renewal can never loop", func() {
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

	It("renews a 10m certificate asking for renewal at 95% no sooner than the floor after issuance", func() {
		create("eager", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
			s.Duration = &metav1.Duration{Duration: 10 * time.Minute}
			s.RenewBeforePercentage = ptr.To(int32(95))
		})
		sc := waitRevision(namespace, "eager", 1)
		issued := sc.Status.NotBefore.Add(pki.Backdate)
		// A tenth of the 11-minute lifetime (the minute of back-dating
		// included) is longer than the one-minute minimum.
		Expect(sc.Status.RenewalTime.Time).To(BeTemporally(">=", issued.Add(66*time.Second-time.Second)), "renewalTime vs issuance")

		By("nothing is re-issued before the floor, however often it is looked at")
		for range 3 {
			nudge(namespace, "eager")
		}
		Consistently(func(g Gomega) {
			g.Expect(getCertificate(namespace, "eager").Status.Revision).To(Equal(int64(1)))
			g.Expect(requestsFor(namespace, "eager")).To(HaveLen(1))
		}, 3*time.Second, 200*time.Millisecond).Should(Succeed())

		By("at the floor it renews once")
		stepClock(sc.Status.RenewalTime.Sub(fakeClock.Now()) + time.Second)
		nudge(namespace, "eager")
		waitRevision(namespace, "eager", 2)
		Consistently(func(g Gomega) {
			g.Expect(getCertificate(namespace, "eager").Status.Revision).To(Equal(int64(2)))
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("issues at most 5 times an hour for the same spec and CA, then waits with a condition and an Event", func() {
		create("churn", nil)
		waitRevision(namespace, "churn", 1)
		deleteSecret := func() {
			Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "churn-tls"}})).To(Succeed())
		}
		By("a Secret deleted again and again is re-issued four more times")
		for revision := int64(2); revision <= maxIssuancesPerHour; revision++ {
			deleteSecret()
			waitRevision(namespace, "churn", revision)
		}
		Expect(getCertificate(namespace, "churn").Status.RecentIssuances.Times).To(HaveLen(maxIssuancesPerHour))

		By("the sixth deletion is not re-issued: Ready False, IssuanceRateLimited, and an Event")
		csrNames := func() []string {
			var names []string
			for _, csr := range requestsFor(namespace, "churn") {
				names = append(names, csr.Name)
			}
			return names
		}
		before := csrNames()
		deleteSecret()
		sc := waitCertificateCondition(namespace, "churn", metav1.ConditionFalse, certsmithv1alpha1.ReasonIssuanceRateLimited)
		Expect(meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring(string(certsmithv1alpha1.ReasonSecretMissing)))
		Eventually(func() []string { return eventReasons(namespace, "churn") }, timeout, interval).Should(ContainElement(certsmithv1alpha1.ReasonIssuanceRateLimited))
		Consistently(func(g Gomega) {
			g.Expect(csrNames()).To(Equal(before), "no new CSR while rate limited")
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		By("an hour later it is issued again")
		stepClock(time.Hour)
		nudge(namespace, "churn")
		waitRevision(namespace, "churn", maxIssuancesPerHour+1)
	})

	It("lets a changed spec through at once, even past the limit", func() {
		create("edited", nil)
		waitRevision(namespace, "edited", 1)
		for revision := int64(2); revision <= maxIssuancesPerHour; revision++ {
			Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "edited-tls"}})).To(Succeed())
			waitRevision(namespace, "edited", revision)
		}
		update(namespace, "edited", func(sc *certsmithv1alpha1.ServiceCertificate) {
			sc.Spec.DNSNames = append(sc.Spec.DNSNames, "also."+namespace+".svc")
		})
		waitRevision(namespace, "edited", maxIssuancesPerHour+1)
	})
})

// rawCSR creates a CSR from a template the test builds itself (several
// common names, huge name lists, odd keys), as the admin.
func rawCSR(signerName string, template *x509.CertificateRequest, key crypto.Signer, usages []certificatesv1.KeyUsage, expiration *int32) *certificatesv1.CertificateSigningRequest {
	der, err := x509.CreateCertificateRequest(rand.Reader, template, key)
	Expect(err).NotTo(HaveOccurred())
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("hostile")},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: pemBlock("CERTIFICATE REQUEST", der), SignerName: signerName, Usages: usages, ExpirationSeconds: expiration,
		},
	}
	Expect(k8sClient.Create(ctx, csr)).To(Succeed())
	return csr
}

// csrEventReasons lists the reasons of the Events about a CSR.
func csrEventReasons(name string) []string {
	var events eventsv1.EventList
	Expect(k8sClient.List(ctx, &events)).To(Succeed())
	var reasons []string
	for _, e := range events.Items {
		if e.Regarding.Kind == "CertificateSigningRequest" && e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// apiServerClusterIP is the cluster IP of default/kubernetes.
func apiServerClusterIP() string {
	svc := &corev1.Service{}
	Expect(k8sClient.Get(ctx, apiServerService, svc)).To(Succeed())
	return svc.Spec.ClusterIP
}

var _ = Describe("Names and subjects a tenant asks for", func() {
	examplePolicy := func() *certsmithv1alpha1.IssuerPolicy {
		return &certsmithv1alpha1.IssuerPolicy{
			DNSNames:    []string{"*.example.com"},
			AutoApprove: &certsmithv1alpha1.AutoApprovePolicy{Groups: []string{"system:masters"}},
		}
	}
	serverAuth := []certificatesv1.KeyUsage{"digital signature", "server auth"}

	It("denies a CSR with two common names, however allowed the last one is", func() {
		issuer := newPolicyIssuer(examplePolicy(), certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		csr := rawCSR(issuer.Status.SignerName, &x509.CertificateRequest{
			Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
				{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "kubernetes.default.svc"},
				{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "ok.example.com"},
			}},
		}, newKey(pki.KeyAlgorithmECDSA), serverAuth, nil)
		denied := waitCondition(csr.Name, certificatesv1.CertificateDenied)
		Expect(denied.Reason).To(Equal(certsmithv1alpha1.ReasonCSRNotAllowed))
		Expect(denied.Message).To(ContainSubstring("more than one common name"))
		Expect(getCSR(csr.Name).Status.Certificate).To(BeEmpty())
	})

	It("checks the common name of a leaf that asks for crl sign under allowCA", func() {
		p := examplePolicy()
		p.AllowCA = true
		issuer := newPolicyIssuer(p, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		csr := rawCSR(issuer.Status.SignerName, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "kubernetes.default.svc"}},
			newKey(pki.KeyAlgorithmECDSA), []certificatesv1.KeyUsage{"crl sign", "digital signature"}, nil)
		denied := waitCondition(csr.Name, certificatesv1.CertificateDenied)
		Expect(denied.Message).To(ContainSubstring("kubernetes.default.svc"))
	})

	It("issues only the subject it checked: system: organizations need an exact policy entry", func() {
		issuer := newPolicyIssuer(examplePolicy(), certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		masters := rawCSR(issuer.Status.SignerName, &x509.CertificateRequest{
			Subject: pkix.Name{CommonName: "a.example.com", Organization: []string{"system:masters"}}, DNSNames: []string{"a.example.com"},
		}, newKey(pki.KeyAlgorithmECDSA), serverAuth, nil)
		Expect(waitCondition(masters.Name, certificatesv1.CertificateDenied).Message).To(ContainSubstring("system:masters"))

		By("an attribute type certsmith does not issue (UID) is refused, not copied")
		uid := rawCSR(issuer.Status.SignerName, &x509.CertificateRequest{
			Subject: pkix.Name{CommonName: "a.example.com", ExtraNames: []pkix.AttributeTypeAndValue{
				{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: "root"}}},
			DNSNames: []string{"a.example.com"},
		}, newKey(pki.KeyAlgorithmECDSA), serverAuth, nil)
		Expect(waitCondition(uid.Name, certificatesv1.CertificateDenied).Message).To(ContainSubstring("0.9.2342.19200300.100.1.1"))

		By("a ServiceCertificate asking for system:masters is refused before any CSR")
		namespace := newNamespace()
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "admin", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: newSelfSignedIssuer().Name},
				DNSNames:  []string{"admin." + namespace + ".svc"},
				Subject:   &certsmithv1alpha1.X509Subject{Organizations: []string{"system:masters"}},
			},
		})).To(Succeed())
		sc := waitCertificateCondition(namespace, "admin", metav1.ConditionFalse, certsmithv1alpha1.ReasonNotAllowedByPolicy)
		Expect(meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring("system:masters"))
		Expect(requestsFor(namespace, "admin")).To(BeEmpty())
	})

	It("never issues the API server's names to a tenant of default, whichever way they are asked for", func() {
		issuer := newSelfSignedIssuer()
		ip := apiServerClusterIP()
		specs := map[string]func(*certsmithv1alpha1.ServiceCertificateSpec){
			"by-service": func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.Service = &certsmithv1alpha1.ServiceReference{Name: "kubernetes"}
			},
			"by-dnsnames": func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.DNSNames = []string{"kubernetes.default.svc.cluster.local"}
			},
			"by-wildcard": func(s *certsmithv1alpha1.ServiceCertificateSpec) { s.DNSNames = []string{"*.default.svc"} },
			"by-ip": func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.DNSNames = []string{"web.default.svc"}
				s.IPAddresses = []string{ip}
			},
			"by-cn": func(s *certsmithv1alpha1.ServiceCertificateSpec) {
				s.DNSNames = []string{"web.default.svc"}
				s.CommonName = "kubernetes.default.svc"
			},
		}
		for name, mutate := range specs {
			sc := &certsmithv1alpha1.ServiceCertificate{
				ObjectMeta: metav1.ObjectMeta{Name: uniqueName("reserved-" + name), Namespace: metav1.NamespaceDefault},
				Spec:       certsmithv1alpha1.ServiceCertificateSpec{IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name}},
			}
			mutate(&sc.Spec)
			Expect(k8sClient.Create(ctx, sc)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, sc))).To(Succeed()) })
		}
		var list certsmithv1alpha1.ServiceCertificateList
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(metav1.NamespaceDefault))).To(Succeed())
			seen := 0
			for _, sc := range list.Items {
				if sc.Spec.IssuerRef.Name != issuer.Name {
					continue
				}
				seen++
				c := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)
				g.Expect(c).NotTo(BeNil(), sc.Name)
				g.Expect(c.Reason).To(Equal(certsmithv1alpha1.ReasonNotAllowedByPolicy), "%s: %+v", sc.Name, c)
				g.Expect(c.Message).To(ContainSubstring("Kubernetes API server"), sc.Name)
			}
			g.Expect(seen).To(Equal(len(specs)))
		}, timeout, interval).Should(Succeed())

		By("an issuer whose policy lists them exactly issues them")
		exact := newPolicyIssuer(&certsmithv1alpha1.IssuerPolicy{
			DNSNames: []string{"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPRanges: []string{ip + "/32"},
		}, "", certsmithv1alpha1.GeneratedCA{})
		allowed := &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName("reserved-allowed"), Namespace: metav1.NamespaceDefault},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: exact.Name},
				Service:   &certsmithv1alpha1.ServiceReference{Name: "kubernetes"},
			},
		}
		Expect(k8sClient.Create(ctx, allowed)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, allowed))).To(Succeed()) })
		waitCertificateReady(metav1.NamespaceDefault, allowed.Name)
		leaf := leafOf(metav1.NamespaceDefault, allowed.Name+"-tls")
		Expect(leaf.DNSNames).To(ContainElement("kubernetes.default.svc"))

		By("a hand-made CSR for them under a wildcard policy is denied")
		wide := newPolicyIssuer(&certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.*.svc"},
			AutoApprove: &certsmithv1alpha1.AutoApprovePolicy{Groups: []string{"system:masters"}}}, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		csr := handMadeCSR(wide.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: []string{"kubernetes.default.svc"}}, serverAuth, nil)
		Expect(waitCondition(csr.Name, certificatesv1.CertificateDenied).Message).To(ContainSubstring("Kubernetes API server"))
	})

	It("constrains a CA certificate that the policy allows to the policy's names, with path length 0", func() {
		p := examplePolicy()
		p.AllowCA = true
		issuer := newPolicyIssuer(p, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		subKey := newKey(pki.KeyAlgorithmECDSA)
		csr := handMadeCSR(issuer.Status.SignerName, subKey, pki.CSRRequest{Subject: pkix.Name{CommonName: "Team CA"}},
			[]certificatesv1.KeyUsage{"cert sign", "crl sign", "digital signature"}, nil)
		chain := waitSigned(csr.Name)
		subCA := chain[0]
		Expect(subCA.IsCA).To(BeTrue())
		Expect(subCA.MaxPathLen).To(Equal(0))
		Expect(subCA.MaxPathLenZero).To(BeTrue())
		Expect(subCA.PermittedDNSDomainsCritical).To(BeTrue())
		Expect(subCA.PermittedDNSDomains).To(ConsistOf("example.com"))
		Expect(subCA.ExcludedDNSDomains).To(ContainElement("kubernetes.default.svc"))
		Expect(subCA.ExcludedEmailAddresses).To(ConsistOf(""))
		lintAll(subCA)

		By("what the sub-CA signs outside the policy does not verify")
		roots := issuerCAFromSecret(issuer)
		sub := &pki.CA{Certificate: subCA, Key: subKey}
		for name, wantOK := range map[string]bool{"a.example.com": true, "evil.org": false, "kubernetes.default.svc": false} {
			leafKey := newKey(pki.KeyAlgorithmECDSA)
			leafCSR, err := pki.BuildCSR(leafKey, pki.CSRRequest{DNSNames: []string{name}})
			Expect(err).NotTo(HaveOccurred())
			parsed, err := pki.ParseCSR(leafCSR)
			Expect(err).NotTo(HaveOccurred())
			leaf, err := sub.Sign(pki.SignRequest{CSR: parsed, Usages: []string{"server auth"}, Duration: time.Hour, Now: time.Now()})
			Expect(err).NotTo(HaveOccurred())
			err = pki.VerifyChain(leaf, []*x509.Certificate{subCA}, roots, "", time.Now())
			if wantOK {
				Expect(err).NotTo(HaveOccurred(), name)
			} else {
				Expect(err).To(HaveOccurred(), name)
			}
		}
	})
})

var _ = Describe("Auto approval knows who is asking", func() {
	It("approves nothing without policy.autoApprove, says so, and approves the requesters it names", func() {
		p := &certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.example.com"}}
		issuer := newPolicyIssuer(p, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		issuer = waitIssuerReason(issuer.Name, metav1.ConditionTrue, certsmithv1alpha1.ReasonAutoApprovalInactive)
		Expect(meta.FindStatusCondition(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring("autoApprove"))

		csr := handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: []string{"a.example.com"}},
			[]certificatesv1.KeyUsage{"digital signature", "server auth"}, nil)
		Eventually(func() []string { return csrEventReasons(csr.Name) }, timeout, interval).Should(ContainElement(certsmithv1alpha1.ReasonAutoApprovalSkipped))
		Consistently(func(g Gomega) {
			g.Expect(getCSR(csr.Name).Status.Conditions).To(BeEmpty(), "not approved, not denied: it waits for a person")
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		By("a list that names someone else still approves nothing")
		setAutoApprove := func(list *certsmithv1alpha1.AutoApprovePolicy) {
			Eventually(func() error {
				current := &certsmithv1alpha1.ClusterIssuer{}
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(issuer), current); err != nil {
					return err
				}
				current.Spec.Policy.AutoApprove = list
				return k8sClient.Update(ctx, current)
			}, timeout, interval).Should(Succeed())
		}
		setAutoApprove(&certsmithv1alpha1.AutoApprovePolicy{Users: []string{"someone-else"}, ServiceAccounts: []string{"ns/sa"}})
		waitIssuerReason(issuer.Name, metav1.ConditionTrue, certsmithv1alpha1.ReasonCAReady)
		Consistently(func(g Gomega) {
			g.Expect(getCSR(csr.Name).Status.Conditions).To(BeEmpty())
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		By("naming the requester's group approves its CSR")
		setAutoApprove(&certsmithv1alpha1.AutoApprovePolicy{Groups: []string{"system:masters"}})
		approved := waitCondition(csr.Name, certificatesv1.CertificateApproved)
		Expect(approved.Reason).To(Equal(certsmithv1alpha1.ReasonCSRApproved))
		waitSigned(csr.Name)
	})

	It("caps hand-made CSRs at 90 days unless policy.maxDuration says otherwise", func() {
		issuer := newPolicyIssuer(docPolicy, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		csr := handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: docDNSNames[:1]},
			docUsages, ptr.To(int32(10*365*24*3600)))
		leaf := waitSigned(csr.Name)[0]
		Expect(leaf.NotAfter.Sub(leaf.NotBefore)).To(BeNumerically("<=", defaultCSRDuration+pki.Backdate))

		longer := docPolicy.DeepCopy()
		longer.MaxDuration = &metav1.Duration{Duration: 200 * 24 * time.Hour}
		issuer = newPolicyIssuer(longer, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		csr = handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: docDNSNames[:1]},
			docUsages, ptr.To(int32(10*365*24*3600)))
		leaf = waitSigned(csr.Name)[0]
		Expect(leaf.NotAfter.Sub(leaf.NotBefore)).To(BeNumerically("~", 200*24*time.Hour+pki.Backdate, time.Minute))
	})
})

var _ = Describe("Bounded input, bounded output", func() {
	serverAuth := []certificatesv1.KeyUsage{"digital signature", "server auth"}
	var issuer *certsmithv1alpha1.ClusterIssuer
	BeforeEach(func() {
		issuer = newPolicyIssuer(&certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.example.com"},
			AutoApprove: &certsmithv1alpha1.AutoApprovePolicy{Groups: []string{"system:masters"}}}, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
	})
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("n%d.example.com", i)
		}
		return out
	}

	It("denies more than 100 names with a short message", func() {
		csr := rawCSR(issuer.Status.SignerName, &x509.CertificateRequest{DNSNames: names(150)}, newKey(pki.KeyAlgorithmECDSA), serverAuth, nil)
		denied := waitCondition(csr.Name, certificatesv1.CertificateDenied)
		Expect(denied.Message).To(ContainSubstring("150 names"))
		Expect(len(denied.Message)).To(BeNumerically("<=", MaxMessageBytes))
	})

	It("denies a CSR of more than 64 KiB without parsing it", func() {
		csr := rawCSR(issuer.Status.SignerName, &x509.CertificateRequest{DNSNames: names(4000)}, newKey(pki.KeyAlgorithmECDSA), serverAuth, nil)
		Expect(len(csr.Spec.Request)).To(BeNumerically(">", MaxCSRBytes))
		denied := waitCondition(csr.Name, certificatesv1.CertificateDenied)
		Expect(denied.Reason).To(Equal(certsmithv1alpha1.ReasonCSRMalformed))
		Expect(len(denied.Message)).To(BeNumerically("<=", MaxMessageBytes))
	})

	It("denies RSA keys larger than 4096 bits", func() {
		big, err := rsa.GenerateKey(rand.Reader, 4160)
		Expect(err).NotTo(HaveOccurred())
		csr := rawCSR(issuer.Status.SignerName, &x509.CertificateRequest{DNSNames: []string{"a.example.com"}}, big, serverAuth, nil)
		denied := waitCondition(csr.Name, certificatesv1.CertificateDenied)
		Expect(denied.Reason).To(Equal(certsmithv1alpha1.ReasonCSRUnsupportedKey))
		Expect(denied.Message).To(ContainSubstring("4096"))
	})

	It("denies DNS names with a NUL byte or an empty label", func() {
		for _, name := range []string{"a\x00.example.com", "a..example.com"} {
			csr := rawCSR(issuer.Status.SignerName, &x509.CertificateRequest{DNSNames: []string{name}}, newKey(pki.KeyAlgorithmECDSA), serverAuth, nil)
			Expect(waitCondition(csr.Name, certificatesv1.CertificateDenied).Reason).To(Equal(certsmithv1alpha1.ReasonCSRNotAllowed), "%q", name)
		}
	})
})

var _ = Describe("Upgrading: a certificate a new rule refuses", func() {
	It("stays Ready until its renewal, says which rule, and is then refused, not revoked", func() {
		issuer := newPolicyIssuer(&certsmithv1alpha1.IssuerPolicy{}, "", certsmithv1alpha1.GeneratedCA{})
		namespace := newNamespace()
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name},
				DNSNames:  []string{"legacy." + namespace + ".svc"},
				Subject:   &certsmithv1alpha1.X509Subject{Organizations: []string{"Payments"}},
			},
		})).To(Succeed())
		sc := waitRevision(namespace, "legacy", 1)

		By("the issuer's policy starts restricting organizations")
		Eventually(func() error {
			current := &certsmithv1alpha1.ClusterIssuer{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(issuer), current); err != nil {
				return err
			}
			current.Spec.Policy.Subject = &certsmithv1alpha1.SubjectPolicy{Organizations: []string{"Platform"}}
			return k8sClient.Update(ctx, current)
		}, timeout, interval).Should(Succeed())
		Eventually(func(g Gomega) {
			got := getCertificate(namespace, "legacy")
			g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeTrue())
			issuing := meta.FindStatusCondition(got.Status.Conditions, certsmithv1alpha1.ConditionIssuing)
			g.Expect(issuing).NotTo(BeNil())
			g.Expect(issuing.Reason).To(Equal(certsmithv1alpha1.ReasonNotAllowedByPolicy))
			g.Expect(issuing.Message).To(And(ContainSubstring("stays in use"), ContainSubstring("Payments")))
		}, timeout, interval).Should(Succeed())
		Expect(getSecret(namespace, "legacy-tls").Data).To(HaveKey(corev1.TLSCertKey), "the Secret stays")

		By("at its renewal time it is refused")
		stepClock(sc.Status.RenewalTime.Sub(fakeClock.Now()) + time.Second)
		nudge(namespace, "legacy")
		waitCertificateCondition(namespace, "legacy", metav1.ConditionFalse, certsmithv1alpha1.ReasonNotAllowedByPolicy)
		Expect(getSecret(namespace, "legacy-tls").Data).To(HaveKey(corev1.TLSCertKey), "never deleted by the upgrade")
	})
})

var _ = Describe("Secrets: ownership is proved, not claimed, and foreign data is not cached", func() {
	var (
		issuer    *certsmithv1alpha1.ClusterIssuer
		namespace string
	)
	BeforeEach(func() {
		issuer = newSelfSignedIssuer()
		namespace = newNamespace()
	})
	create := func(name string) { createCertificate(namespace, issuer.Name, name, nil) }
	// replaceSecret deletes certsmith's Secret and creates another under
	// the same name, with every mark certsmith puts on its own.
	replaceSecret := func(name string, data map[string][]byte) *corev1.Secret {
		original := getSecret(namespace, name+"-tls")
		Expect(k8sClient.Delete(ctx, original)).To(Succeed())
		forged := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: original.Name, Namespace: namespace, Labels: original.Labels,
				Annotations: original.Annotations, OwnerReferences: original.OwnerReferences},
			Type: corev1.SecretTypeTLS,
			Data: data,
		}
		Eventually(func() error { return k8sClient.Create(ctx, forged) }, timeout, interval).Should(Succeed())
		return forged
	}

	It("records the UID of the Secret it created", func() {
		create("owned")
		sc := waitRevision(namespace, "owned", 1)
		Expect(sc.Status.OwnedSecret).NotTo(BeNil())
		Expect(sc.Status.OwnedSecret.Name).To(Equal("owned-tls"))
		Expect(sc.Status.OwnedSecret.UID).To(Equal(getSecret(namespace, "owned-tls").UID))
	})

	It("never overwrites a Secret a tenant put in place of its own, whatever marks it carries", func() {
		create("squatted")
		waitRevision(namespace, "squatted", 1)
		key := newKey(pki.KeyAlgorithmECDSA)
		keyPEM, err := pki.EncodePrivateKeyPEM(key, pki.KeyEncodingPKCS1)
		Expect(err).NotTo(HaveOccurred())
		forged := replaceSecret("squatted", map[string][]byte{corev1.TLSCertKey: []byte("tenant data"), corev1.TLSPrivateKeyKey: keyPEM})
		sc := waitCertificateCondition(namespace, "squatted", metav1.ConditionFalse, certsmithv1alpha1.ReasonSecretConflict)
		Expect(meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring("not the one certsmith created"))
		Consistently(func(g Gomega) {
			current := getSecret(namespace, "squatted-tls")
			g.Expect(current.UID).To(Equal(forged.UID))
			g.Expect(current.Data[corev1.TLSCertKey]).To(Equal([]byte("tenant data")))
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		By("once the tenant's Secret is gone, certsmith issues its own again")
		Expect(k8sClient.Delete(ctx, forged)).To(Succeed())
		waitRevision(namespace, "squatted", 2)
	})

	It("takes back a Secret that holds exactly the certificate its own CSR received (a crash between creating and recording)", func() {
		create("copied")
		waitRevision(namespace, "copied", 1)
		original := getSecret(namespace, "copied-tls")
		copied := replaceSecret("copied", original.Data)
		Eventually(func(g Gomega) {
			sc := getCertificate(namespace, "copied")
			g.Expect(sc.Status.OwnedSecret).NotTo(BeNil())
			g.Expect(sc.Status.OwnedSecret.UID).To(Equal(copied.UID))
			g.Expect(meta.IsStatusConditionTrue(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeTrue())
		}, timeout, interval).Should(Succeed())
		Expect(getCertificate(namespace, "copied").Status.Revision).To(Equal(int64(1)), "not re-issued")
	})

	It("reports a Secret made immutable as a conflict, whose old ca.crt a rotation waits for only until its publishDeadline", func() {
		create("frozen")
		sc := waitRevision(namespace, "frozen", 1)
		Expect(sc.Status.CAFingerprintsSHA256).NotTo(BeEmpty())
		secret := getSecret(namespace, "frozen-tls")
		secret.Immutable = ptr.To(true)
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		update(namespace, "frozen", func(sc *certsmithv1alpha1.ServiceCertificate) {
			sc.Spec.AdditionalOutputFormats = []certsmithv1alpha1.AdditionalOutputFormat{{Type: certsmithv1alpha1.CombinedPEMOutput}}
		})
		sc = waitCertificateCondition(namespace, "frozen", metav1.ConditionFalse, certsmithv1alpha1.ReasonSecretConflict)
		Expect(meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring("cannot be updated"))
		// Still the bundle the Secret really holds: the next CA is missing
		// from it, so a rotation counts it as a trust path it cannot write.
		Expect(sc.Status.CAFingerprintsSHA256).To(Equal(fingerprints(getSecret(namespace, "frozen-tls").Data[caCertKey])))
	})

	It("caches a tenant's Secrets labelled as certsmith's without their data", func() {
		big := make([]byte, 512<<10)
		for i := range 4 {
			Expect(k8sClient.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bait-%d", i), Namespace: namespace,
					Labels:      map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue},
					Annotations: map[string]string{"tenant/blob": string(make([]byte, 200<<10)), certsmithv1alpha1.AnnotationServiceCertificate: "cached"}},
				Data: map[string][]byte{"blob": big},
			})).To(Succeed())
		}
		create("cached")
		waitRevision(namespace, "cached", 1)

		// A cache with the manager's options, as the operator builds it.
		opts := CacheOptions(operatorNamespace)
		opts.Scheme = testScheme
		informers, err := cache.New(testEnv.Config, opts)
		Expect(err).NotTo(HaveOccurred())
		cacheCtx, stop := context.WithCancel(ctx)
		DeferCleanup(stop)
		go func() { _ = informers.Start(cacheCtx) }()
		By("a tenant's Service with huge annotations is cached without them")
		Expect(k8sClient.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "fat", Namespace: namespace, Annotations: map[string]string{"tenant/blob": string(make([]byte, 200<<10))}},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}},
		})).To(Succeed())
		fat := &corev1.Service{}
		Eventually(func() error {
			return informers.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "fat"}, fat)
		}, timeout, interval).Should(Succeed())
		Expect(fat.Annotations).To(BeEmpty())
		Expect(fat.Spec.ClusterIP).NotTo(BeEmpty())

		for _, name := range []string{"bait-0", "bait-3", "cached-tls"} {
			cached := &corev1.Secret{}
			Eventually(func() error {
				return informers.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, cached)
			}, timeout, interval).Should(Succeed())
			Expect(cached.Data).To(BeNil(), name)
			encoded, err := json.Marshal(cached)
			Expect(err).NotTo(HaveOccurred())
			Expect(len(encoded)).To(BeNumerically("<", 1024), "%s cached: %d bytes", name, len(encoded))
		}
		By("the CA Secrets of the operator's namespace stay whole")
		ca := &corev1.Secret{}
		Eventually(func() error {
			return informers.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: issuer.Name + "-ca"}, ca)
		}, timeout, interval).Should(Succeed())
		Expect(ca.Data).To(HaveKey(corev1.TLSCertKey))
	})
})
