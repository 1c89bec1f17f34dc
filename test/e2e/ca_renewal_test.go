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
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// A generated CA must start its own rotation when its renewal time comes,
// in a cluster where nothing else happens: no annotation, no edit, no other
// event. Only the requeue the issuer asked for at its CA's renewal time can
// wake it. The rotation then runs as the requested one does, under a client
// that trusts only the published bundle, and not one handshake may fail.
const (
	caRenewalNamespace   = "ca-renewal"
	caRenewalIssuer      = "self-rotating"
	caRenewalCertificate = "server"
	caRenewalSecret      = caRenewalCertificate + "-tls"
	caRenewalBundle      = caRenewalIssuer + "-ca"
	caRenewalHost        = caRenewalCertificate + "." + caRenewalNamespace + ".svc"
	caRenewalSigner      = "clusterissuers.certsmith.io/" + caRenewalIssuer

	// A 10m CA (the CRD's minimum) renewed 9m before it expires would be
	// renewed a minute after it was made; the renewal floor (a minute, or a
	// tenth of the lifetime when longer: 66 s of the back-dated 11m) keeps
	// it a little later. So the CA rotates about a minute after it is made,
	// and so does the next one: the spec cleans up as soon as it has seen
	// the first rotation through.
	caRenewalCADuration    = 10 * time.Minute
	caRenewalCARenewBefore = 9 * time.Minute
	// renewalFloor is pki.MinRenewalDelay: no certificate, CA or leaf, is
	// renewed sooner than this after its issuance.
	renewalFloor = time.Minute
	// rotationStartSlack allows for the second precision of the times in
	// status, and for the requeue's extra second: startedAt may read up to
	// this much before status.ca.renewalTime.
	rotationStartSlack = 2 * time.Second
	// maxRotationStartLag is how long after the CA's renewal time the
	// rotation may start at the latest: the requeue is for that time, plus a
	// second, and a reconcile takes well under a second here.
	maxRotationStartLag = 30 * time.Second
)

// caRenewalIssuerManifest is the ClusterIssuer under test: a short generated
// root whose bundle goes only to the test's namespace, and a rotation tuned
// to run in seconds.
var caRenewalIssuerManifest = `apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: ` + caRenewalIssuer + `
spec:
  ca:
    selfSigned:
      duration: ` + caRenewalCADuration.String() + `
      renewBefore: ` + caRenewalCARenewBefore.String() + `
  bundle:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: ` + caRenewalNamespace + `
  rotation:
    propagationDelay: ` + rotationPropagationDelay.String() + `
    reissueWindow: ` + rotationReissueWindow.String() + `
`

var _ = Describe("A CA rotates by itself at its renewal time", Label("rotation"), func() {
	It("starts the rotation of "+caRenewalIssuer+" at status.ca.renewalTime, with nobody touching it, and no handshake fails", func() {
		dir := GinkgoT().TempDir()

		By("creating the namespace " + caRenewalNamespace + " and the ClusterIssuer " + caRenewalIssuer + " (selfSigned, 10m, renewBefore 9m)")
		_, err := cluster.KubectlWithInput("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+caRenewalNamespace+"\n", "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			// Promptly: the next CA rotates about a minute after it was made.
			// The namespace stays (no namespace controller runs here), as in
			// the rotation spec; the rest goes, or the specs that check every
			// CSR and every CA Secret find leftovers without an issuer.
			By("deleting the ServiceCertificate, its Secret, its CSRs, the ClusterIssuer " + caRenewalIssuer + ", its CA Secret and its bundle")
			deleteIssuerFixture(caRenewalNamespace, caRenewalCertificate, caRenewalSigner, caRenewalIssuer,
				"secret/"+caRenewalSecret, "configmap/"+caRenewalBundle)
		})
		_, err = cluster.KubectlWithInput(caRenewalIssuerManifest, "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "clusterissuer/"+caRenewalIssuer)
		Expect(err).NotTo(HaveOccurred(), manager.LogTail)

		By("reading the first CA and its renewal time from status.ca, and the CA from the bundle ConfigMap " + caRenewalNamespace + "/" + caRenewalBundle)
		var oldCA *x509.Certificate
		var firstRenewal, firstNotBefore time.Time
		Eventually(func(g Gomega) {
			issuer, err := getIssuer(caRenewalIssuer)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(issuer.Status.CA).NotTo(BeNil(), "no status.ca")
			g.Expect(issuer.Status.CA.RenewalTime).NotTo(BeNil(), "no status.ca.renewalTime")
			g.Expect(issuer.Status.CA.NotBefore).NotTo(BeNil(), "no status.ca.notBefore")
			g.Expect(issuer.Status.Rotation).To(BeNil(), "a rotation began before the spec could read the first CA")
			bundle, err := readBundleIn(caRenewalNamespace, caRenewalBundle)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(bundle).To(HaveLen(1))
			g.Expect(fingerprint(bundle[0])).To(Equal(issuer.Status.CA.FingerprintSHA256))
			oldCA, firstRenewal, firstNotBefore = bundle[0], *issuer.Status.CA.RenewalTime, *issuer.Status.CA.NotBefore
		}).WithTimeout(30*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), manager.LogTail)
		oldFP := fingerprint(oldCA)
		firstIssued := firstNotBefore.Add(certificateBackdate)
		fmt.Fprintf(GinkgoWriter, "first CA %s: notBefore %s, renewalTime %s (%s after issuance)\n", short(oldFP),
			firstNotBefore.Format(time.RFC3339), firstRenewal.Format(time.RFC3339), firstRenewal.Sub(firstIssued))
		Expect(firstRenewal).To(BeTemporally(">=", firstIssued.Add(renewalFloor).Add(-statusSlack)),
			"the CA's renewal time lies within the renewal floor of its issuance (notBefore + 1m)")
		Expect(firstRenewal).To(BeTemporally("<", oldCA.NotAfter), "the CA's renewal time is past its expiry")

		By("asking for the ServiceCertificate " + caRenewalCertificate)
		_, err = cluster.KubectlWithInput(serviceCertificate(caRenewalNamespace, caRenewalCertificate, `
  issuerRef: {name: `+caRenewalIssuer+`}
  dnsNames: [`+caRenewalHost+`]
  duration: `+rotationLeafDuration.String()), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", caRenewalNamespace, "servicecertificate/"+caRenewalCertificate)
		Expect(err).NotTo(HaveOccurred(), manager.LogTail)
		oldLeaf, oldKeyPEM := secretLeaf(caRenewalNamespace, caRenewalSecret)
		Expect(oldLeaf.CheckSignatureFrom(oldCA)).To(Succeed(), "the first certificate is not signed by the first CA")
		oldSerial := serialHex(oldLeaf)

		By("serving TLS from a refreshed Secret volume; handshaking every second, trusting only the bundle ConfigMap; watching the rotation status")
		volume := &secretVolume{dir: filepath.Join(dir, "volume"), namespace: caRenewalNamespace, name: caRenewalSecret}
		Expect(os.Mkdir(volume.dir, 0o700)).To(Succeed())
		Expect(volume.refresh()).To(Succeed())
		server, err := startReloadingServer(volume.dir)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(server.stop)
		stopVolume := every(time.Second, func() { _ = volume.refresh() })
		DeferCleanup(stopVolume)
		client := &bundleClient{address: server.address(), host: caRenewalHost, namespace: caRenewalNamespace, configMap: caRenewalBundle}
		stopClient := every(time.Second, client.handshake)
		DeferCleanup(stopClient)
		watch := &issuerWatch{issuer: caRenewalIssuer, firstSeen: map[string]time.Time{}}
		stopWatch := every(500*time.Millisecond, watch.poll)
		DeferCleanup(stopWatch)

		By(fmt.Sprintf("waiting, touching nothing, for the switch to the next CA (renewal time %s, %s from now)",
			firstRenewal.Format(time.RFC3339), time.Until(firstRenewal).Round(time.Second)))
		// The timeout only keeps a broken operator from hanging the suite;
		// what is asserted are the times in status.
		var switched *rotatingIssuerObject
		var newCA *x509.Certificate
		Eventually(func(g Gomega) {
			issuer, err := getIssuer(caRenewalIssuer)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(issuer.Status.Rotation).NotTo(BeNil(), "no rotation has started")
			g.Expect(issuer.Status.Rotation.Phase).To(Equal("Retiring"), "rotation phase")
			active := issuer.trusted("Active")
			g.Expect(active).NotTo(BeNil())
			bundle, err := readBundleIn(caRenewalNamespace, caRenewalBundle)
			g.Expect(err).NotTo(HaveOccurred())
			newCA = nil
			for _, cert := range bundle {
				if fingerprint(cert) == active.FingerprintSHA256 {
					newCA = cert
				}
			}
			g.Expect(newCA).NotTo(BeNil(), "the ConfigMap does not hold the Active CA")
			switched = issuer
		}).WithTimeout(time.Until(firstRenewal)+maxRotationStartLag+90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), func() string {
			issuer, _ := cluster.Kubectl("get", "clusterissuer", caRenewalIssuer, "-o", "yaml")
			return fmt.Sprintf("no switch to a new CA, %s after the renewal time %s; the issuer:\n%s\nthe manager's log ends with:\n%s",
				time.Since(firstRenewal).Round(time.Second), firstRenewal.Format(time.RFC3339), issuer, manager.LogTail())
		})
		rotation := switched.Status.Rotation
		Expect(rotation.StartedAt).NotTo(BeNil())
		Expect(rotation.PublishedAt).NotTo(BeNil())
		Expect(rotation.SwitchedAt).NotTo(BeNil())
		Expect(rotation.LastRequest).To(BeEmpty(), "the rotation was requested; nothing should have asked for it")
		startedAt := *rotation.StartedAt
		newFP := fingerprint(newCA)
		Expect(newFP).NotTo(Equal(oldFP))
		Expect(switched.Status.CA).NotTo(BeNil())
		Expect(switched.Status.CA.FingerprintSHA256).To(Equal(newFP), "status.ca after the switch")
		Expect(switched.Status.CA.RenewalTime).NotTo(BeNil())
		nextRenewal := *switched.Status.CA.RenewalTime

		By("waiting for the Secret to hold a certificate signed by the new CA")
		var newLeaf *x509.Certificate
		var newKeyPEM []byte
		Eventually(func(g Gomega) {
			leaf, keyPEM, err := readSecretLeaf(caRenewalNamespace, caRenewalSecret)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(serialHex(leaf)).NotTo(Equal(oldSerial), "still the first certificate")
			g.Expect(leaf.CheckSignatureFrom(newCA)).To(Succeed(), "the certificate %s is not signed by the new CA", serialHex(leaf))
			newLeaf, newKeyPEM = leaf, keyPEM
		}).WithTimeout(rotationReissueWindow+90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), manager.LogTail)
		newSerial := serialHex(newLeaf)

		By("waiting for at least 5 handshakes with the new certificate")
		Eventually(func(g Gomega) {
			g.Expect(successesWith(client.snapshot(), newSerial)).To(BeNumerically(">=", 5))
		}).WithTimeout(60*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), func() string {
			return "the client does not handshake with the new certificate:\n" + describeResults(client.snapshot(), 20)
		})

		By("stopping the client, the volume refresher and the status watch")
		stopClient()
		stopWatch()
		stopVolume()
		results := client.snapshot()
		changes := volume.snapshot()
		phases, phaseOrder, watchErrors := watch.snapshot()
		final, err := getIssuer(caRenewalIssuer)
		Expect(err).NotTo(HaveOccurred())
		sc, err := getServiceCertificate(caRenewalNamespace, caRenewalCertificate)
		Expect(err).NotTo(HaveOccurred())

		By("controls: a client trusting only the new CA accepts the new certificate; one trusting only the first CA refuses it")
		presented, err := handshakeOnce(server.address(), caRenewalHost, poolOf(newCA))
		Expect(err).NotTo(HaveOccurred())
		Expect(serialHex(presented)).To(Equal(newSerial))
		presented, controlErr := handshakeOnce(server.address(), caRenewalHost, poolOf(oldCA))
		expectUnknownAuthority(controlErr, "trusting only the first CA, against the new certificate")
		Expect(serialHex(presented)).To(Equal(newSerial))
		server.stop()
		served, loadErrors, serverHandshakeErrors := server.snapshot()

		By("reporting the timeline")
		at := func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return fmt.Sprintf("%s (R%+.1fs)", t.UTC().Format("15:04:05.000"), t.Sub(firstRenewal).Seconds())
		}
		var timeline strings.Builder
		fmt.Fprintf(&timeline, "first CA issued (notBefore + 1m)    %s\n", at(firstIssued))
		fmt.Fprintf(&timeline, "first CA status.ca.renewalTime (R0) %s (%s after issuance)\n", at(firstRenewal), firstRenewal.Sub(firstIssued))
		fmt.Fprintf(&timeline, "status.rotation.startedAt           %s\n", at(startedAt))
		fmt.Fprintf(&timeline, "phase Publishing first seen         %s\n", at(phases["Publishing"]))
		fmt.Fprintf(&timeline, "status.rotation.publishedAt         %s\n", at(*rotation.PublishedAt))
		fmt.Fprintf(&timeline, "status.rotation.switchedAt          %s (%.0fs after publishedAt; propagationDelay %s)\n",
			at(*rotation.SwitchedAt), rotation.SwitchedAt.Sub(*rotation.PublishedAt).Seconds(), rotationPropagationDelay)
		fmt.Fprintf(&timeline, "phase Retiring first seen           %s\n", at(phases["Retiring"]))
		fmt.Fprintf(&timeline, "new certificate issued              %s (notBefore + 1m)\n", at(newLeaf.NotBefore.Add(certificateBackdate)))
		for _, c := range changes {
			fmt.Fprintf(&timeline, "volume refreshed                    %s: serial %s, ca.crt with %d CA(s)\n", at(c.at), c.serial, c.caCount)
		}
		fmt.Fprintf(&timeline, "new CA status.ca.renewalTime        %s (%s after startedAt)\n", at(nextRenewal), nextRenewal.Sub(startedAt))
		fmt.Fprintf(&timeline, "handshakes: %d, failed: %d; first certificate %s (CA %s): %d (%d before startedAt); new certificate %s (CA %s): %d\n",
			len(results), len(failed(results)), oldSerial, short(oldFP), successesWith(results, oldSerial),
			successesBefore(results, oldSerial, startedAt), newSerial, short(newFP), successesWith(results, newSerial))
		fmt.Fprintf(&timeline, "server: certificates served %v, load errors %d, server-side handshake errors %d (the control included); status reads that failed: %d; phases seen in order: %v\n",
			served, len(loadErrors), len(serverHandshakeErrors), watchErrors, phaseOrder)
		report("CA rotation at its renewal time", timeline.String())

		By("checking: the rotation started at the first CA's renewal time, by itself")
		Expect(startedAt).To(BeTemporally(">=", firstRenewal.Add(-rotationStartSlack)), "status.rotation.startedAt vs the first CA's status.ca.renewalTime")
		Expect(startedAt).To(BeTemporally("<=", firstRenewal.Add(maxRotationStartLag)), "status.rotation.startedAt vs the first CA's status.ca.renewalTime")

		By("checking: Publishing, then Retiring, switched no sooner than propagationDelay after publishing")
		Expect(phaseOrder).To(Equal([]string{"Publishing", "Retiring"}), "the phases seen, in order")
		Expect(*rotation.PublishedAt).To(BeTemporally(">=", startedAt))
		Expect(rotation.SwitchedAt.Sub(*rotation.PublishedAt)).To(BeNumerically(">=", rotationPropagationDelay-statusSlack),
			"the switch came sooner than propagationDelay after the bundle was published")
		Expect(final.Status.Rotation).NotTo(BeNil())
		Expect(final.Status.Rotation.StartedAt).NotTo(BeNil())
		Expect(*final.Status.Rotation.StartedAt).To(BeTemporally("==", startedAt), "another rotation began before the spec ended")
		Expect(final.Status.Rotation.Phase).To(Equal("Retiring"))
		Expect(final.trusted("Retiring")).NotTo(BeNil(), "the first CA left the trust bundle already")
		Expect(final.trusted("Retiring").FingerprintSHA256).To(Equal(oldFP))
		bundle, err := readBundleIn(caRenewalNamespace, caRenewalBundle)
		Expect(err).NotTo(HaveOccurred())
		Expect(fingerprints(bundle)).To(ConsistOf(oldFP, newFP), "the bundle during Retiring")

		By("checking: the new CA's own renewal time keeps the floor")
		Expect(nextRenewal).To(BeTemporally(">=", startedAt.Add(renewalFloor).Add(-statusSlack)),
			"the new CA's renewal time lies within a minute of its issuance")

		By("checking: the ServiceCertificate was re-issued by the new CA: new serial, new key, revision 2, and it verifies against the new CA alone")
		Expect(newKeyPEM).NotTo(Equal(oldKeyPEM), "the key was not replaced")
		Expect(newLeaf.AuthorityKeyId).To(Equal(newCA.SubjectKeyId), "authority key identifier of the new certificate")
		_, err = newLeaf.Verify(x509.VerifyOptions{Roots: poolOf(newCA), DNSName: caRenewalHost, CurrentTime: time.Now()})
		Expect(err).NotTo(HaveOccurred(), "the new certificate does not chain to the new CA")
		leafFile, newCAFile := filepath.Join(dir, "new.crt"), filepath.Join(dir, "new-ca.crt")
		Expect(os.WriteFile(leafFile, pemCertificate(newLeaf), 0o600)).To(Succeed())
		Expect(os.WriteFile(newCAFile, pemCertificate(newCA), 0o600)).To(Succeed())
		expectVerified(leafFile, "-CAfile", newCAFile, "-verify_hostname", caRenewalHost)
		Expect(sc.ready()).To(BeTrue(), sc.readyMessage())
		Expect(sc.Status.SerialNumber).To(Equal(newSerial))
		Expect(sc.Status.Revision).To(Equal(int64(2)))

		By("checking: not one handshake failed; the first certificate served before the rotation started, the new one after")
		Expect(failed(results)).To(BeEmpty(), func() string { return describeResults(results, len(results)) })
		Expect(loadErrors).To(BeEmpty(), "the server could not load the Secret's certificate")
		Expect(serverHandshakeErrors).To(HaveLen(1), "handshakes that failed on the server's side (the one control expected)")
		Expect(successesBefore(results, oldSerial, startedAt)).To(BeNumerically(">=", 3),
			"the client did not handshake with the first certificate before the rotation started:\n%s", describeResults(results, len(results)))
		Expect(successesWith(results, newSerial)).To(BeNumerically(">=", 5))
		firstNew := slices.IndexFunc(results, func(r handshakeResult) bool { return r.serial == newSerial })
		for i, r := range results {
			Expect(r.serial).To(Or(Equal(oldSerial), Equal(newSerial)), "a third certificate was served at %s", r.at.Format(time.RFC3339Nano))
			if r.serial == oldSerial {
				Expect(r.root).To(Equal(oldFP), "the first certificate verified through another CA")
				Expect(i).To(BeNumerically("<", firstNew), "the first certificate came back after the new one")
			} else {
				Expect(r.root).To(Equal(newFP), "the new certificate verified through another CA")
			}
		}
	})
})

// pemCertificate encodes a certificate as PEM, for openssl.
func pemCertificate(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}
