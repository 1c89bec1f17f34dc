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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The integration tests step a fake clock; here the running manager, on the
// real clock, must renew a certificate when its renewalTime comes, with
// nobody touching it: only the requeue it asked for at issuance can wake it
// (the cache's resync is hours away).
var _ = Describe("Renewal on the real clock", func() {
	const (
		namespace = "e2e-renewal"
		name      = "short-lived"
		dnsName   = name + "." + namespace + ".svc"
		// A 10m certificate renewed 8m50s before it expires is renewed
		// 70 s after it was issued: just past the renewal floor (a minute,
		// or a tenth of the back-dated 11m lifetime, 66 s), so the explicit
		// renewBefore is what sets the time, and is honoured exactly.
		duration    = 10 * time.Minute
		renewBefore = 8*time.Minute + 50*time.Second
		// backdate is how far before its issuance a certificate's notBefore
		// lies (pki.Backdate).
		backdate = time.Minute
		// slack allows for the second precision of the times in status and
		// in certificates.
		slack = 2 * time.Second
	)

	BeforeEach(func() {
		_, err := cluster.KubectlWithInput("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+namespace+"\n", "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
	})

	It("renews a certificate at its renewalTime, about 70 s after issuance, with nobody touching it", func() {
		DeferCleanup(func() {
			// Or it renews every 70 s for the rest of the suite.
			_, err := cluster.Kubectl("delete", "servicecertificate", name, "-n", namespace, "--ignore-not-found", "--timeout=60s")
			Expect(err).NotTo(HaveOccurred())
		})
		_, err := cluster.KubectlWithInput(serviceCertificate(namespace, name, `
  issuerRef: {name: selfsigned}
  dnsNames: [`+dnsName+`]
  duration: 10m
  renewBefore: `+renewBefore.String()), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", namespace, "servicecertificate/"+name)
		Expect(err).NotTo(HaveOccurred())

		By("reading the first certificate's times from status")
		var first *serviceCertificateObject
		Eventually(func(g Gomega) {
			first, err = getServiceCertificate(namespace, name)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(first.Status.RenewalTime).NotTo(BeNil())
			g.Expect(first.Status.NotBefore).NotTo(BeNil())
			g.Expect(first.Status.NotAfter).NotTo(BeNil())
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(first.Status.Revision).To(Equal(int64(1)))
		renewalTime, notBefore, notAfter := *first.Status.RenewalTime, *first.Status.NotBefore, *first.Status.NotAfter
		issued := notBefore.Add(backdate)
		fmt.Fprintf(GinkgoWriter, "revision 1: serial %s, notBefore %s, notAfter %s, renewalTime %s\n",
			first.Status.SerialNumber, notBefore.Format(time.RFC3339), notAfter.Format(time.RFC3339), renewalTime.Format(time.RFC3339))
		Expect(notAfter.Sub(issued)).To(BeNumerically("~", duration, slack), "notAfter - (notBefore + backdate)")
		// renewalTime is kept to the second in status.
		Expect(renewalTime).To(BeTemporally("~", notAfter.Add(-renewBefore), time.Second), "renewalTime vs notAfter - renewBefore")
		Expect(renewalTime).To(BeTemporally(">", time.Now()), "the renewal time passed before the certificate was even seen Ready")

		dir := GinkgoT().TempDir()
		firstSecret := getSecret(namespace, name+"-tls")
		firstLeaf, err := parseCertificates(firstSecret.Data["tls.crt"])
		Expect(err).NotTo(HaveOccurred())
		Expect(fmt.Sprintf("%x", firstLeaf[0].SerialNumber)).To(Equal(first.Status.SerialNumber))

		By("waiting, without touching it, for revision 2")
		var second *serviceCertificateObject
		var renewedSeen time.Time
		var notReadySeen []string
		Eventually(func(g Gomega) {
			sc, err := getServiceCertificate(namespace, name)
			g.Expect(err).NotTo(HaveOccurred())
			if !sc.ready() {
				notReadySeen = append(notReadySeen, time.Now().Format(time.RFC3339Nano)+": "+sc.readyMessage())
			}
			g.Expect(sc.Status.Revision).To(BeNumerically(">=", 2))
			second, renewedSeen = sc, time.Now()
		}).WithTimeout(time.Until(renewalTime)+60*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), func() string {
			return fmt.Sprintf("no renewal, %s after renewalTime %s; the manager's log ends with:\n%s",
				time.Since(renewalTime).Round(time.Second), renewalTime.Format(time.RFC3339), manager.LogTail())
		})
		Expect(second.Status.Revision).To(Equal(int64(2)))
		Expect(second.Status.NotBefore).NotTo(BeNil())
		reissued := second.Status.NotBefore.Add(backdate)
		lag := reissued.Sub(renewalTime)
		report("requeue at renewalTime", fmt.Sprintf(
			"first issued %s, renewalTime %s (%s later); renewed (notBefore + 1m) at %s: %s after renewalTime; revision 2 seen at %s",
			issued.Format(time.RFC3339), renewalTime.Format(time.RFC3339), renewalTime.Sub(issued), reissued.Format(time.RFC3339), lag,
			renewedSeen.Format(time.RFC3339Nano)))

		By("checking that it renewed when renewalTime came, not before")
		Expect(reissued).To(BeTemporally(">=", renewalTime.Add(-slack)), "the second certificate's issuance (notBefore + 1m)")
		Expect(renewedSeen).To(BeTemporally(">=", renewalTime), "when revision 2 was observed")
		Expect(notReadySeen).To(BeEmpty(), "a renewal should leave the certificate Ready")

		By("checking the new certificate: a new serial, and it matches its key")
		secondSecret := getSecret(namespace, name+"-tls")
		secondLeaf, err := parseCertificates(secondSecret.Data["tls.crt"])
		Expect(err).NotTo(HaveOccurred())
		Expect(secondLeaf[0].SerialNumber.Cmp(firstLeaf[0].SerialNumber)).NotTo(BeZero(), "the serial did not change")
		Expect(fmt.Sprintf("%x", secondLeaf[0].SerialNumber)).To(Equal(second.Status.SerialNumber))
		Expect(secondLeaf[0].NotBefore).To(BeTemporally("==", *second.Status.NotBefore))
		Expect(secondSecret.Data["tls.key"]).NotTo(Equal(firstSecret.Data["tls.key"]), "the key was not rotated")
		certFile := secondSecret.writeKeyAs(dir, "tls.crt", "second.crt")
		expectKeyMatchesCertificate(secondSecret.writeKeyAs(dir, "tls.key", "second.key"), certFile)
		expectVerified(certFile, "-CAfile", getSecret(operatorNamespace, "selfsigned-ca").writeKeyAs(dir, "tls.crt", "ca.crt"),
			"-verify_hostname", dnsName)

		By("checking that the next renewal is scheduled likewise")
		Expect(second.Status.RenewalTime).NotTo(BeNil())
		Expect(*second.Status.RenewalTime).To(BeTemporally("~", second.Status.NotAfter.Add(-renewBefore), time.Second))
		Expect(*second.Status.RenewalTime).To(BeTemporally(">", renewalTime))
	})
})
