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

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// A spec that the API accepts must not make the operator re-issue in a
// loop. duration 10m with renewBeforePercentage 95 asks for the renewal
// 95 % of the lifetime before expiry: with the minute of backdate that is
// half a minute after notBefore, before the certificate was even issued.
// Without the renewal floor this re-issued 1,745 times in 60 s.
var _ = Describe("A valid spec never re-issues in a loop", func() {
	const (
		namespace = "e2e-renewal-floor"
		name      = "eager"
		dnsName   = name + "." + namespace + ".svc"
		owner     = namespace + "/" + name
		// quietPeriod is how long the certificate is watched after it is Ready.
		quietPeriod = 20 * time.Second
	)

	It("renews duration 10m, renewBeforePercentage 95 no sooner than the floor after issuance, and issues it once", func() {
		_, err := cluster.KubectlWithInput("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+namespace+"\n", "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			By("deleting the ServiceCertificate, its Secret and its CSRs")
			_, err := cluster.Kubectl("delete", "servicecertificate", name, "-n", namespace, "--ignore-not-found", "--timeout=60s")
			Expect(err).NotTo(HaveOccurred())
			_, err = cluster.Kubectl("delete", "secret", name+"-tls", "-n", namespace, "--ignore-not-found", "--timeout=60s")
			Expect(err).NotTo(HaveOccurred())
			csrs, err := csrNamesOf(owner)
			Expect(err).NotTo(HaveOccurred())
			if len(csrs) > 0 {
				_, err = cluster.Kubectl(append([]string{"delete", "certificatesigningrequests", "--ignore-not-found", "--timeout=60s"}, csrs...)...)
				Expect(err).NotTo(HaveOccurred())
			}
		})

		By("asking for a 10m certificate renewed when 95 % of its lifetime remains")
		_, err = cluster.KubectlWithInput(serviceCertificate(namespace, name, `
  issuerRef: {name: selfsigned}
  dnsNames: [`+dnsName+`]
  duration: 10m
  renewBeforePercentage: 95`), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", namespace, "servicecertificate/"+name)
		Expect(err).NotTo(HaveOccurred(), manager.LogTail)

		By("reading the certificate's times from status")
		var first *serviceCertificateObject
		Eventually(func(g Gomega) {
			first, err = getServiceCertificate(namespace, name)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(first.Status.RenewalTime).NotTo(BeNil())
			g.Expect(first.Status.NotBefore).NotTo(BeNil())
			g.Expect(first.Status.NotAfter).NotTo(BeNil())
		}).WithTimeout(10 * time.Second).Should(Succeed())
		notBefore, notAfter, renewalTime := *first.Status.NotBefore, *first.Status.NotAfter, *first.Status.RenewalTime
		issued := notBefore.Add(certificateBackdate)
		asked := notAfter.Add(-notAfter.Sub(notBefore) * 95 / 100)
		firstCSRs, err := csrNamesOf(owner)
		Expect(err).NotTo(HaveOccurred())

		By(fmt.Sprintf("watching revision, serial and CSRs for %s, touching nothing", quietPeriod))
		seenCSRs := slices.Clone(firstCSRs)
		var seenRevisions []int64
		var seenSerials []string
		polls := 0
		Consistently(func(g Gomega) {
			polls++
			sc, err := getServiceCertificate(namespace, name)
			g.Expect(err).NotTo(HaveOccurred())
			if !slices.Contains(seenRevisions, sc.Status.Revision) {
				seenRevisions = append(seenRevisions, sc.Status.Revision)
			}
			if !slices.Contains(seenSerials, sc.Status.SerialNumber) {
				seenSerials = append(seenSerials, sc.Status.SerialNumber)
			}
			csrs, err := csrNamesOf(owner)
			g.Expect(err).NotTo(HaveOccurred())
			for _, csr := range csrs {
				if !slices.Contains(seenCSRs, csr) {
					seenCSRs = append(seenCSRs, csr)
				}
			}
			g.Expect(sc.Status.Revision).To(Equal(int64(1)), "status.revision")
			g.Expect(sc.Status.SerialNumber).To(Equal(first.Status.SerialNumber), "status.serialNumber")
			g.Expect(sc.ready()).To(BeTrue(), sc.readyMessage())
			g.Expect(csrs).To(HaveLen(1), "CSRs annotated %s=%s", serviceCertificateAnnotation, owner)
		}).WithTimeout(quietPeriod).WithPolling(time.Second).Should(Succeed(), manager.LogTail)

		report("renewal floor", fmt.Sprintf(
			"notBefore %s, issued (notBefore + 1m) %s, notAfter %s; 95 %% before expiry would be %s (%s before the issuance); status.renewalTime %s (%s after the issuance); over %s (%d polls): revisions %v, serials %d, CSRs %v",
			notBefore.Format(time.RFC3339), issued.Format(time.RFC3339), notAfter.Format(time.RFC3339),
			asked.Format(time.RFC3339), issued.Sub(asked), renewalTime.Format(time.RFC3339), renewalTime.Sub(issued),
			quietPeriod, polls, seenRevisions, len(seenSerials), strings.Join(seenCSRs, ", ")))

		By("checking: the renewal time keeps the floor, a minute after issuance, though the percentage asks for earlier")
		Expect(first.Status.Revision).To(Equal(int64(1)))
		Expect(renewalTime).To(BeTemporally(">=", issued.Add(renewalFloor).Add(-statusSlack)),
			"status.renewalTime vs notBefore + 1m backdate + 1m floor")
		Expect(renewalTime).To(BeTemporally("<", notAfter))
		Expect(asked).To(BeTemporally("<", issued), "the spec should ask for a renewal before the issuance, or it tests nothing")
		Expect(firstCSRs).To(HaveLen(1))
		Expect(seenCSRs).To(Equal(firstCSRs), "CSRs made for %s", owner)
	})
})

// csrNamesOf lists the CSRs made for a ServiceCertificate ("namespace/name"),
// sorted by name.
func csrNamesOf(owner string) ([]string, error) {
	namespace, _, _ := strings.Cut(owner, "/")
	byOwner, err := listCSRsOf(namespace)
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, csr := range byOwner[owner] {
		names = append(names, csr.Metadata.Name)
	}
	slices.Sort(names)
	return names, nil
}
