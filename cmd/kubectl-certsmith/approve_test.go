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

package main

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

var _ = Describe("approve and deny", func() {
	var (
		suffix        string
		defaultIssuer string // serves clusterissuers.certsmith.io/<name>, no status yet
		customIssuer  string // serves example.com/<name>
		defaultSigner string
		customSigner  string
	)

	BeforeEach(func() {
		suffix = rand.String(5)
		defaultIssuer = "approve-default-" + suffix
		customIssuer = "approve-custom-" + suffix
		defaultSigner = certsmithv1alpha1.DefaultSignerDomain + "/" + defaultIssuer
		customSigner = "example.com/" + customIssuer
		createClusterIssuer(defaultIssuer, "", certsmithv1alpha1.ClusterIssuerStatus{})
		createClusterIssuer(customIssuer, customSigner, certsmithv1alpha1.ClusterIssuerStatus{SignerName: customSigner})
	})

	conditionsOf := func(name string) []certificatesv1.CertificateSigningRequestCondition {
		csr := &certificatesv1.CertificateSigningRequest{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, csr)).To(Succeed())
		return csr.Status.Conditions
	}

	It("approves a CSR of an issuer's default signer, with the default reason", func() {
		name := "approve-me-" + suffix
		createCSR(name, defaultSigner)

		result := runPlugin("approve", name)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("certificatesigningrequest.certificates.k8s.io/" + name +
			" approved (signer " + defaultSigner + ", ClusterIssuer " + defaultIssuer + ")\n"))
		// The person deciding sees what was asked for.
		Expect(result.Out).To(MatchRegexp(`requested by \S+: subject CN=` + name + `\.example\.com; DNS ` + name + `\.example\.com; usages digital signature, server auth\n`))
		Expect(conditionsOf(name)).To(ConsistOf(MatchFields(IgnoreExtras, Fields{
			"Type":    Equal(certificatesv1.CertificateApproved),
			"Status":  Equal(corev1.ConditionTrue),
			"Reason":  Equal("KubectlCertsmithApprove"),
			"Message": Equal("This CSR was approved by kubectl certsmith approve."),
		})))
	})

	It("denies a CSR of an issuer's custom signer, with the given reason and message", func() {
		name := "deny-me-" + suffix
		createCSR(name, customSigner)

		result := runPlugin("deny", name, "--reason", "NotOurService", "--message", "Ticket OPS-1: not ours")
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("certificatesigningrequest.certificates.k8s.io/" + name +
			" denied (signer " + customSigner + ", ClusterIssuer " + customIssuer + ")\n"))
		Expect(conditionsOf(name)).To(ConsistOf(MatchFields(IgnoreExtras, Fields{
			"Type":    Equal(certificatesv1.CertificateDenied),
			"Status":  Equal(corev1.ConditionTrue),
			"Reason":  Equal("NotOurService"),
			"Message": Equal("Ticket OPS-1: not ours"),
		})))
	})

	It("approves several CSRs at once", func() {
		first, second := "approve-first-"+suffix, "approve-second-"+suffix
		createCSR(first, defaultSigner)
		createCSR(second, customSigner)
		result := runPlugin("approve", first, second)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(conditionsOf(first)).To(HaveLen(1))
		Expect(conditionsOf(second)).To(HaveLen(1))
	})

	It("refuses a CSR whose signer no certsmith ClusterIssuer serves", func() {
		foreign := "foreign-" + suffix
		createCSR(foreign, "example.org/someone-else")
		// The default form alone is not enough: the issuer must exist.
		orphan := "orphan-" + suffix
		createCSR(orphan, certsmithv1alpha1.DefaultSignerDomain+"/no-such-issuer-"+suffix)

		for _, verb := range []string{"approve", "deny"} {
			result := runPlugin(verb, foreign)
			Expect(result.Err).To(MatchError(`CertificateSigningRequest "` + foreign + `" is for signer "example.org/someone-else", which no certsmith ClusterIssuer serves; refusing to ` +
				verb + ` it (use "kubectl certificate ` + verb + `" for other signers)`))
			Expect(result.Out).To(BeEmpty())

			result = runPlugin(verb, orphan)
			Expect(result.Err).To(MatchError(ContainSubstring("which no certsmith ClusterIssuer serves")))
		}
		Expect(conditionsOf(foreign)).To(BeEmpty())
		Expect(conditionsOf(orphan)).To(BeEmpty())
	})

	It("refuses a CSR that is already approved or denied", func() {
		approved, denied := "approved-"+suffix, "denied-"+suffix
		createCSR(approved, defaultSigner)
		createCSR(denied, defaultSigner)
		Expect(runPlugin("approve", approved).Err).NotTo(HaveOccurred())
		Expect(runPlugin("deny", denied).Err).NotTo(HaveOccurred())

		Expect(runPlugin("approve", approved).Err).To(MatchError(`CertificateSigningRequest "` + approved + `" is already approved; refusing to approve it`))
		Expect(runPlugin("deny", approved).Err).To(MatchError(`CertificateSigningRequest "` + approved + `" is already approved; refusing to deny it`))
		Expect(runPlugin("approve", denied).Err).To(MatchError(`CertificateSigningRequest "` + denied + `" is already denied; refusing to approve it`))
		Expect(conditionsOf(approved)).To(HaveLen(1))
		Expect(conditionsOf(denied)).To(HaveLen(1))
	})

	It("decides the CSRs it may and reports the others", func() {
		good, foreign := "mixed-good-"+suffix, "mixed-foreign-"+suffix
		createCSR(good, defaultSigner)
		createCSR(foreign, "example.org/someone-else")
		result := runPlugin("approve", foreign, good)
		Expect(result.Err).To(MatchError(ContainSubstring(foreign)))
		Expect(result.Out).To(ContainSubstring("certificatesigningrequest.certificates.k8s.io/" + good + " approved"))
		Expect(conditionsOf(good)).To(HaveLen(1))
	})

	It("fails with a clear message when the CSR does not exist", func() {
		Expect(runPlugin("approve", "nope-"+suffix).Err).To(MatchError(`CertificateSigningRequest "nope-` + suffix + `" not found`))
	})

	It("wants a CSR name", func() {
		Expect(runPlugin("deny").Err).To(MatchError(ContainSubstring("requires at least 1 arg")))
	})
})
