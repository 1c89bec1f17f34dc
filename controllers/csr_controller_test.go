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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// The documentation's manual procedure: a CSR for a Service and a Pod.
var (
	docDNSNames = []string{"my-svc.my-namespace.svc.cluster.local", "my-pod.my-namespace.pod.cluster.local"}
	docIPs      = []net.IP{net.ParseIP("192.0.2.24"), net.ParseIP("10.0.34.2")}
	docUsages   = []certificatesv1.KeyUsage{"digital signature", "key encipherment", "server auth"}
	docPolicy   = &certsmithv1alpha1.IssuerPolicy{
		DNSNames: []string{"*.*.svc.cluster.local", "*.*.pod.cluster.local"},
		IPRanges: []string{"192.0.2.0/24", "10.0.0.0/16"},
		// The suite's admin, who makes the hand-made CSRs, is in system:masters.
		AutoApprove: &certsmithv1alpha1.AutoApprovePolicy{Groups: []string{"system:masters"}},
	}
)

// handMadeCSR builds and creates a CSR as the admin user (not certsmith).
func handMadeCSR(signerName string, key crypto.Signer, req pki.CSRRequest, usages []certificatesv1.KeyUsage, expiration *int32) *certificatesv1.CertificateSigningRequest {
	csrPEM, err := pki.BuildCSR(key, req)
	Expect(err).NotTo(HaveOccurred())
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("hand")},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: csrPEM, SignerName: signerName, Usages: usages, ExpirationSeconds: expiration,
		},
	}
	Expect(k8sClient.Create(ctx, csr)).To(Succeed())
	return csr
}

func approve(csr *certificatesv1.CertificateSigningRequest) {
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(csr), csr)).To(Succeed())
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "TestApproved", Message: "approved by the test",
	})
	Expect(k8sClient.SubResource("approval").Update(ctx, csr)).To(Succeed())
}

func getCSR(name string) *certificatesv1.CertificateSigningRequest {
	csr := &certificatesv1.CertificateSigningRequest{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, csr)).To(Succeed())
	return csr
}

// waitSigned waits for status.certificate and returns the chain.
func waitSigned(name string) []*x509.Certificate {
	var chain []*x509.Certificate
	Eventually(func(g Gomega) {
		csr := getCSR(name)
		g.Expect(csr.Status.Certificate).NotTo(BeEmpty(), "conditions: %+v", csr.Status.Conditions)
		var err error
		chain, err = pki.ParseCertificatesPEM(csr.Status.Certificate)
		g.Expect(err).NotTo(HaveOccurred())
	}, timeout, interval).Should(Succeed())
	return chain
}

// waitCondition waits for a CSR condition of a type and returns it.
func waitCondition(name string, conditionType certificatesv1.RequestConditionType) certificatesv1.CertificateSigningRequestCondition {
	var found certificatesv1.CertificateSigningRequestCondition
	Eventually(func(g Gomega) {
		csr := getCSR(name)
		ok := false
		for _, c := range csr.Status.Conditions {
			if c.Type == conditionType {
				found, ok = c, true
			}
		}
		g.Expect(ok).To(BeTrue(), "conditions: %+v", csr.Status.Conditions)
	}, timeout, interval).Should(Succeed())
	return found
}

func newPolicyIssuer(policy *certsmithv1alpha1.IssuerPolicy, approval certsmithv1alpha1.ApprovalMode, ca certsmithv1alpha1.GeneratedCA) *certsmithv1alpha1.ClusterIssuer {
	name := uniqueName("signer")
	Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{
			SignerName: "example.com/" + name,
			CA:         certsmithv1alpha1.CASource{SelfSigned: &ca},
			Policy:     policy,
			Approval:   approval,
		},
	})).To(Succeed())
	return waitIssuerReady(name)
}

var _ = Describe("Signing CSRs that certsmith did not create", func() {
	It("signs the documentation's CSR only after a person approves it", func() {
		issuer := newPolicyIssuer(docPolicy, "", certsmithv1alpha1.GeneratedCA{})
		key := newKey(pki.KeyAlgorithmECDSA)
		csr := handMadeCSR(issuer.Status.SignerName, key, pki.CSRRequest{
			Subject: pkix.Name{CommonName: docDNSNames[1]}, DNSNames: docDNSNames, IPAddresses: docIPs,
		}, docUsages, ptr.To(int32(3600)))

		Consistently(func(g Gomega) {
			got := getCSR(csr.Name)
			g.Expect(got.Status.Certificate).To(BeEmpty())
			g.Expect(got.Status.Conditions).To(BeEmpty(), "nothing is approved or signed before a person approves")
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		approve(csr)
		chain := waitSigned(csr.Name)
		leaf := chain[0]
		Expect(pki.KeyMatchesCertificate(key, leaf)).To(BeTrue())
		Expect(leaf.DNSNames).To(ConsistOf(docDNSNames))
		Expect(leaf.IPAddresses).To(HaveLen(2))
		Expect(leaf.Subject.CommonName).To(Equal(docDNSNames[1]))
		Expect(leaf.NotAfter.Sub(leaf.NotBefore)).To(BeNumerically("<=", time.Hour+time.Minute), "expirationSeconds is honoured")
		Expect(leaf.KeyUsage&x509.KeyUsageKeyEncipherment).To(BeZero(), "key encipherment is left out for EC keys")
		Expect(leaf.ExtKeyUsage).To(ConsistOf(x509.ExtKeyUsageServerAuth))
		roots := issuerCAFromSecret(issuer)
		Expect(pki.VerifyChain(leaf, chain[1:], roots, docDNSNames[0], fakeClock.Now())).To(Succeed())
		lintAll(chain...)
	})

	It("signs RSA keys with key encipherment and caps the lifetime at the policy and the CA", func() {
		policy := docPolicy.DeepCopy()
		policy.MaxDuration = &metav1.Duration{Duration: 2 * time.Hour}
		issuer := newPolicyIssuer(policy, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		csr := handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmRSA), pki.CSRRequest{DNSNames: docDNSNames[:1]},
			docUsages, ptr.To(int32(10*3600)))
		leaf := waitSigned(csr.Name)[0]
		Expect(leaf.KeyUsage & x509.KeyUsageKeyEncipherment).NotTo(BeZero())
		Expect(leaf.NotAfter.Sub(leaf.NotBefore)).To(BeNumerically("<=", 2*time.Hour+time.Minute))

		shortCA := newPolicyIssuer(docPolicy, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{Duration: &metav1.Duration{Duration: time.Hour}})
		ca := issuerCAFromSecret(shortCA)[0]
		csr = handMadeCSR(shortCA.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: docDNSNames[:1]},
			docUsages, ptr.To(int32(10*3600)))
		leaf = waitSigned(csr.Name)[0]
		Expect(leaf.NotAfter).To(BeTemporally("<=", ca.NotAfter), "a leaf never outlives its CA")
	})

	It("approves by policy with Auto approval, and denies what the policy forbids", func() {
		issuer := newPolicyIssuer(docPolicy, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		ok := handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: docDNSNames, IPAddresses: docIPs}, docUsages, nil)
		approved := waitCondition(ok.Name, certificatesv1.CertificateApproved)
		Expect(approved.Reason).To(Equal(certsmithv1alpha1.ReasonCSRApproved))
		waitSigned(ok.Name)

		bad := handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: []string{"www.example.com"}}, docUsages, nil)
		denied := waitCondition(bad.Name, certificatesv1.CertificateDenied)
		Expect(denied.Reason).To(Equal(certsmithv1alpha1.ReasonCSRNotAllowed))
		Expect(denied.Message).To(ContainSubstring("www.example.com"))
		Expect(getCSR(bad.Name).Status.Certificate).To(BeEmpty())
	})

	DescribeTable("refuses an approved CSR with a Failed condition and a reason",
		func(makeCSR func(issuer *certsmithv1alpha1.ClusterIssuer) *certificatesv1.CertificateSigningRequest, policy *certsmithv1alpha1.IssuerPolicy, reason string) {
			issuer := newPolicyIssuer(policy, "", certsmithv1alpha1.GeneratedCA{})
			csr := makeCSR(issuer)
			approve(csr)
			failed := waitCondition(csr.Name, certificatesv1.CertificateFailed)
			Expect(failed.Reason).To(Equal(reason))
			Expect(failed.Message).NotTo(BeEmpty())
			Expect(getCSR(csr.Name).Status.Certificate).To(BeEmpty())
		},
		Entry("a name outside the policy", func(issuer *certsmithv1alpha1.ClusterIssuer) *certificatesv1.CertificateSigningRequest {
			return handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: []string{"evil.example.com"}}, docUsages, nil)
		}, docPolicy, certsmithv1alpha1.ReasonCSRNotAllowed),
		Entry("any name when the issuer has no policy (the default allows none)", func(issuer *certsmithv1alpha1.ClusterIssuer) *certificatesv1.CertificateSigningRequest {
			return handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: docDNSNames}, docUsages, nil)
		}, nil, certsmithv1alpha1.ReasonCSRNotAllowed),
		Entry("an IP outside the ranges", func(issuer *certsmithv1alpha1.ClusterIssuer) *certificatesv1.CertificateSigningRequest {
			return handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{IPAddresses: []net.IP{net.ParseIP("203.0.113.9")}}, docUsages, nil)
		}, docPolicy, certsmithv1alpha1.ReasonCSRNotAllowed),
		Entry("a usage outside the policy", func(issuer *certsmithv1alpha1.ClusterIssuer) *certificatesv1.CertificateSigningRequest {
			return handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: docDNSNames}, []certificatesv1.KeyUsage{"code signing"}, nil)
		}, docPolicy, certsmithv1alpha1.ReasonCSRNotAllowed),
		Entry("a CA request", func(issuer *certsmithv1alpha1.ClusterIssuer) *certificatesv1.CertificateSigningRequest {
			return handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{Subject: pkix.Name{CommonName: "sub CA"}}, []certificatesv1.KeyUsage{"cert sign", "crl sign"}, nil)
		}, docPolicy, certsmithv1alpha1.ReasonCSRNotAllowed),
		Entry("an unsupported key (P-224)", func(issuer *certsmithv1alpha1.ClusterIssuer) *certificatesv1.CertificateSigningRequest {
			key, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
			Expect(err).NotTo(HaveOccurred())
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: docDNSNames}, key)
			Expect(err).NotTo(HaveOccurred())
			csr := &certificatesv1.CertificateSigningRequest{
				ObjectMeta: metav1.ObjectMeta{Name: uniqueName("p224")},
				Spec: certificatesv1.CertificateSigningRequestSpec{
					Request: pemBlock("CERTIFICATE REQUEST", der), SignerName: issuer.Status.SignerName, Usages: docUsages,
				},
			}
			Expect(k8sClient.Create(ctx, csr)).To(Succeed())
			return csr
		}, docPolicy, certsmithv1alpha1.ReasonCSRUnsupportedKey),
	)

	It("signs a CA request when the policy allows it", func() {
		policy := docPolicy.DeepCopy()
		policy.AllowCA = true
		issuer := newPolicyIssuer(policy, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		csr := handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{Subject: pkix.Name{CommonName: "Team CA"}},
			[]certificatesv1.KeyUsage{"cert sign", "crl sign", "digital signature"}, nil)
		chain := waitSigned(csr.Name)
		Expect(chain[0].IsCA).To(BeTrue())
		Expect(chain[0].MaxPathLenZero).To(BeTrue())
		lintAll(chain...)
	})

	It("refuses to sign for an issuer that is not Ready", func() {
		name := uniqueName("unready")
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certsmithv1alpha1.ClusterIssuerSpec{
				CA:     certsmithv1alpha1.CASource{SecretRef: &certsmithv1alpha1.SecretReference{Name: "does-not-exist"}},
				Policy: docPolicy,
			},
		})).To(Succeed())
		waitIssuerReason(name, metav1.ConditionFalse, certsmithv1alpha1.ReasonCASecretNotFound)
		csr := handMadeCSR("clusterissuers.certsmith.io/"+name, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: docDNSNames}, docUsages, nil)
		approve(csr)
		failed := waitCondition(csr.Name, certificatesv1.CertificateFailed)
		Expect(failed.Reason).To(Equal(certsmithv1alpha1.ReasonCSRIssuerNotReady))
	})

	It("ignores CSRs of signer names it does not own", func() {
		csr := handMadeCSR("example.org/not-certsmith", newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: docDNSNames}, docUsages, nil)
		approve(csr)
		Consistently(func(g Gomega) {
			got := getCSR(csr.Name)
			g.Expect(got.Status.Certificate).To(BeEmpty())
			g.Expect(got.Status.Conditions).To(HaveLen(1))
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("does not take a CSR for its own because of its annotations", func() {
		issuer := newSelfSignedIssuer()
		namespace := newNamespace()
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "victim", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name}, DNSNames: []string{"victim." + namespace + ".svc"},
			},
		})).To(Succeed())
		waitCertificateReady(namespace, "victim")

		csrPEM, err := pki.BuildCSR(newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: []string{"victim." + namespace + ".svc"}})
		Expect(err).NotTo(HaveOccurred())
		forged := &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{
				Name:        uniqueName("forged"),
				Labels:      map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue},
				Annotations: map[string]string{certsmithv1alpha1.AnnotationServiceCertificate: namespace + "/victim"},
			},
			Spec: certificatesv1.CertificateSigningRequestSpec{Request: csrPEM, SignerName: issuer.Status.SignerName, Usages: docUsages},
		}
		Expect(k8sClient.Create(ctx, forged)).To(Succeed())
		Consistently(func(g Gomega) {
			got := getCSR(forged.Name)
			g.Expect(got.Status.Conditions).To(BeEmpty(), "a CSR from another user waits for manual approval")
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	})
})

var _ = Describe("Issuer policy for ServiceCertificates", func() {
	It("serves only the namespaces its selector matches", func() {
		issuer := newPolicyIssuer(&certsmithv1alpha1.IssuerPolicy{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"certsmith-test/team": "a"}},
		}, "", certsmithv1alpha1.GeneratedCA{})
		other := newNamespace()
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "outsider", Namespace: other},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name}, DNSNames: []string{"outsider." + other + ".svc"},
			},
		})).To(Succeed())
		waitCertificateCondition(other, "outsider", metav1.ConditionFalse, certsmithv1alpha1.ReasonNotAllowedByPolicy)

		ns := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: other}, ns)).To(Succeed())
		ns.Labels = map[string]string{"certsmith-test/team": "a"}
		Expect(k8sClient.Update(ctx, ns)).To(Succeed())
		// A label change on a namespace is picked up on the next reconcile; nudge it.
		sc := &certsmithv1alpha1.ServiceCertificate{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: other, Name: "outsider"}, sc)).To(Succeed())
		sc.Annotations = map[string]string{"nudge": "1"}
		Expect(k8sClient.Update(ctx, sc)).To(Succeed())
		waitCertificateReady(other, "outsider")
	})

	It("lets a policy widen what a ServiceCertificate may name", func() {
		issuer := newPolicyIssuer(&certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.shared.example"}}, "", certsmithv1alpha1.GeneratedCA{})
		namespace := newNamespace()
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "wide", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name}, DNSNames: []string{"api.shared.example", "wide." + namespace + ".svc"},
			},
		})).To(Succeed())
		waitCertificateReady(namespace, "wide")
		leaf := expectMatchingPair(getSecret(namespace, "wide-tls"))[0]
		Expect(leaf.DNSNames).To(ContainElement("api.shared.example"))
	})
})
