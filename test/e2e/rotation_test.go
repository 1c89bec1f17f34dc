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
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The acceptance test of CA rotation with overlap: a client that trusts only
// the issuer's published bundle (the ConfigMap <issuer>-ca, re-read every
// second) handshakes once a second with a server that reloads its Secret
// (refreshed every second, as kubelet refreshes a Secret volume), through a
// whole rotation — the next CA published, signing switched, the certificate
// re-issued — and not one handshake may fail.
const (
	rotationNamespace   = "rotation"
	rotationIssuer      = "rotating"
	rotationCertificate = "server"
	rotationSecret      = rotationCertificate + "-tls"
	rotationBundle      = rotationIssuer + "-ca"
	rotationBundleKey   = "ca.crt"
	rotationHost        = rotationCertificate + "." + rotationNamespace + ".svc"
	rotationSigner      = "clusterissuers.certsmith.io/" + rotationIssuer
	rotateAnnotation    = "certsmith.io/rotate-requested-at"

	rotationPropagationDelay = 5 * time.Second
	rotationReissueWindow    = 10 * time.Second
	// rotationLeafDuration is the CSR API's minimum: the old CA's signed-until
	// mark (notAfter plus a tenth of the lifetime, at least a minute) lies
	// more than 11 minutes ahead, too far to wait for its retirement here.
	rotationLeafDuration = 10 * time.Minute
	// certificateBackdate is how far before its issuance a certificate's
	// notBefore lies (pki.Backdate).
	certificateBackdate = time.Minute
	// statusSlack allows for the second precision of times in status.
	statusSlack = time.Second
)

// deleteIssuerFixture deletes what a rotation spec made: its
// ServiceCertificate, the CSRs of its signer, the ClusterIssuer and its CA
// Secret, then any objects named as "<kind>/<name>" in the namespace.
func deleteIssuerFixture(namespace, certificate, signer, issuer string, objects ...string) {
	for _, args := range [][]string{
		{"delete", "servicecertificate", certificate, "-n", namespace, "--ignore-not-found"},
		{"delete", "certificatesigningrequests", "--field-selector", "spec.signerName=" + signer},
		{"delete", "clusterissuer", issuer, "--ignore-not-found"},
		{"delete", "secret", issuer + "-ca", "-n", operatorNamespace, "--ignore-not-found"},
	} {
		_, err := cluster.Kubectl(append(args, "--timeout=60s")...)
		Expect(err).NotTo(HaveOccurred())
	}
	for _, object := range objects {
		_, err := cluster.Kubectl("delete", object, "-n", namespace, "--ignore-not-found", "--timeout=60s")
		Expect(err).NotTo(HaveOccurred())
	}
}

// rotationIssuerManifest is the ClusterIssuer under test: a generated root
// whose bundle goes only to the test's namespace, and a rotation tuned to
// run in seconds.
const rotationIssuerManifest = `apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: ` + rotationIssuer + `
spec:
  ca:
    selfSigned:
      duration: 1h
  bundle:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: ` + rotationNamespace + `
  rotation:
    propagationDelay: 5s
    reissueWindow: 10s
`

var _ = Describe("CA rotation under a live TLS client", Label("rotation"), func() {
	It("rotates the CA of "+rotationIssuer+" without a single failed handshake", func() {
		dir := GinkgoT().TempDir()

		By("creating the namespace " + rotationNamespace + ", the ClusterIssuer " + rotationIssuer + " and the ServiceCertificate " + rotationCertificate)
		_, err := cluster.KubectlWithInput("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+rotationNamespace+"\n", "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			// The namespace stays (no namespace controller runs here to
			// finish deleting it). The CSRs go too, or the spec that checks
			// every CSR against its issuer finds them without an issuer; and
			// the CA Secret, which no garbage collector removes here, or the
			// spec that checks every CA Secret finds two roots in its ca.crt.
			By("deleting the ServiceCertificate, its CSRs, the ClusterIssuer " + rotationIssuer + " and its CA Secret")
			deleteIssuerFixture(rotationNamespace, rotationCertificate, rotationSigner, rotationIssuer)
		})
		_, err = cluster.KubectlWithInput(rotationIssuerManifest, "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "clusterissuer/"+rotationIssuer)
		Expect(err).NotTo(HaveOccurred(), manager.LogTail)
		_, err = cluster.KubectlWithInput(serviceCertificate(rotationNamespace, rotationCertificate, `
  issuerRef: {name: `+rotationIssuer+`}
  dnsNames: [`+rotationHost+`]
  duration: `+rotationLeafDuration.String()), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", rotationNamespace, "servicecertificate/"+rotationCertificate)
		Expect(err).NotTo(HaveOccurred(), manager.LogTail)

		By("reading the old CA from status.trustedCAs and the bundle ConfigMap " + rotationNamespace + "/" + rotationBundle)
		var oldCA *x509.Certificate
		Eventually(func(g Gomega) {
			issuer, err := getRotatingIssuer()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(issuer.Status.TrustedCAs).To(HaveLen(1))
			g.Expect(issuer.Status.TrustedCAs[0].Role).To(Equal("Active"))
			bundle, err := readBundle()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(bundle).To(HaveLen(1))
			g.Expect(fingerprint(bundle[0])).To(Equal(issuer.Status.TrustedCAs[0].FingerprintSHA256))
			oldCA = bundle[0]
		}).WithTimeout(30*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), manager.LogTail)
		oldFP := fingerprint(oldCA)

		By("reading the old certificate from the Secret " + rotationNamespace + "/" + rotationSecret)
		oldLeaf, oldKeyPEM := secretLeaf(rotationNamespace, rotationSecret)
		Expect(oldLeaf.CheckSignatureFrom(oldCA)).To(Succeed(), "the first certificate is not signed by the issuer's CA")
		oldSerial := serialHex(oldLeaf)

		By("mounting the Secret into a volume refreshed every second, and serving TLS from it, reloaded at every handshake")
		volume := &secretVolume{dir: filepath.Join(dir, "volume"), namespace: rotationNamespace, name: rotationSecret}
		Expect(os.Mkdir(volume.dir, 0o700)).To(Succeed())
		Expect(volume.refresh()).To(Succeed())
		server, err := startReloadingServer(volume.dir)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(server.stop)
		stopVolume := every(time.Second, func() { _ = volume.refresh() })
		DeferCleanup(stopVolume)

		By("handshaking once a second, trusting only the bundle in the ConfigMap, re-read before every handshake")
		client := &bundleClient{address: server.address(), host: rotationHost, namespace: rotationNamespace, configMap: rotationBundle}
		stopClient := every(time.Second, client.handshake)
		DeferCleanup(stopClient)

		By("watching the issuer's rotation status twice a second")
		watch := &issuerWatch{issuer: rotationIssuer, firstSeen: map[string]time.Time{}}
		stopWatch := every(500*time.Millisecond, watch.poll)
		DeferCleanup(stopWatch)

		Eventually(func(g Gomega) {
			results := client.snapshot()
			g.Expect(failed(results)).To(BeEmpty())
			g.Expect(successesWith(results, oldSerial)).To(BeNumerically(">=", 5))
		}).WithTimeout(60*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), func() string {
			return "the client does not handshake with the first certificate:\n" + describeResults(client.snapshot(), 20)
		})

		By("requesting a rotation: " + rotateAnnotation + "=<now>")
		requestedAt := time.Now()
		request := requestedAt.UTC().Format(time.RFC3339Nano)
		_, err = cluster.Kubectl("annotate", "clusterissuer", rotationIssuer, rotateAnnotation+"="+request, "--overwrite")
		Expect(err).NotTo(HaveOccurred())

		By("waiting for the next CA: Publishing, listed as Next in status.trustedCAs, and in the ConfigMap")
		var newCA *x509.Certificate
		var nextPublishedSeen time.Time
		Eventually(func(g Gomega) {
			issuer, err := getRotatingIssuer()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(issuer.Status.Rotation).NotTo(BeNil())
			g.Expect(issuer.Status.Rotation.LastRequest).To(Equal(request))
			next := issuer.trusted("Next")
			g.Expect(next).NotTo(BeNil(), "no Next CA in status.trustedCAs: %+v", issuer.Status.TrustedCAs)
			g.Expect(issuer.trusted("Active")).NotTo(BeNil())
			g.Expect(issuer.trusted("Active").FingerprintSHA256).To(Equal(oldFP), "the old CA should still sign")
			bundle, err := readBundle()
			g.Expect(err).NotTo(HaveOccurred())
			for _, cert := range bundle {
				if fingerprint(cert) == next.FingerprintSHA256 {
					newCA = cert
				}
			}
			g.Expect(newCA).NotTo(BeNil(), "the ConfigMap does not hold the Next CA yet")
			nextPublishedSeen = time.Now()
		}).WithTimeout(30*time.Second).WithPolling(100*time.Millisecond).Should(Succeed(), manager.LogTail)
		newFP := fingerprint(newCA)
		Expect(newFP).NotTo(Equal(oldFP))

		By("negative control: a client trusting only the NEW CA fails against the server's OLD certificate, before the switch")
		controlAt := time.Now()
		presented, controlErr := handshakeOnce(server.address(), rotationHost, poolOf(newCA))
		issuerAfterControl, err := getRotatingIssuer()
		Expect(err).NotTo(HaveOccurred())
		Expect(issuerAfterControl.Status.Rotation).NotTo(BeNil())
		Expect(issuerAfterControl.Status.Rotation.Phase).To(Equal("Publishing"),
			"the switch came before the negative control could run (control at %s)", controlAt.Format(time.RFC3339Nano))
		expectUnknownAuthority(controlErr, "trusting only the new CA, against the old certificate")
		Expect(presented).NotTo(BeNil())
		Expect(serialHex(presented)).To(Equal(oldSerial), "the server presented another certificate than the old one")
		Expect(presented.CheckSignatureFrom(oldCA)).To(Succeed())

		By("waiting for the switch: Retiring, the new CA Active and the old one Retiring in status.trustedCAs")
		var switched *rotatingIssuerObject
		Eventually(func(g Gomega) {
			issuer, err := getRotatingIssuer()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(issuer.Status.Rotation).NotTo(BeNil())
			g.Expect(issuer.Status.Rotation.Phase).To(Equal("Retiring"), "rotation phase")
			switched = issuer
		}).WithTimeout(60*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), manager.LogTail)
		rotation := switched.Status.Rotation
		Expect(rotation.StartedAt).NotTo(BeNil())
		Expect(rotation.PublishedAt).NotTo(BeNil())
		Expect(rotation.SwitchedAt).NotTo(BeNil())
		Expect(switched.trusted("Active")).NotTo(BeNil())
		Expect(switched.trusted("Active").FingerprintSHA256).To(Equal(newFP), "the Active CA after the switch")
		retiring := switched.trusted("Retiring")
		Expect(retiring).NotTo(BeNil(), "no Retiring CA in status.trustedCAs: %+v", switched.Status.TrustedCAs)
		Expect(retiring.FingerprintSHA256).To(Equal(oldFP))
		Expect(switched.trusted("Next")).To(BeNil())
		Expect(rotation.SwitchedAt.Sub(*rotation.PublishedAt)).To(BeNumerically(">=", rotationPropagationDelay-statusSlack),
			"the switch came sooner than propagationDelay after the bundle was published")
		Expect(controlAt).To(BeTemporally("<", rotation.SwitchedAt.Add(statusSlack)), "the negative control ran after the switch")

		By("checking that the ConfigMap holds both CAs during Retiring")
		bundle, err := readBundle()
		Expect(err).NotTo(HaveOccurred())
		Expect(fingerprints(bundle)).To(ConsistOf(oldFP, newFP))

		By("checking that the old CA is to retire only after the old certificate has expired")
		Expect(retiring.RetireAfter).NotTo(BeNil(), "the Retiring CA has no retireAfter")
		Expect(*retiring.RetireAfter).To(BeTemporally(">=", oldLeaf.NotAfter.Truncate(time.Second)),
			"retireAfter is before the old certificate's notAfter %s", oldLeaf.NotAfter.UTC().Format(time.RFC3339))

		By("waiting for the Secret to hold a certificate signed by the new CA")
		var newLeaf *x509.Certificate
		var newKeyPEM []byte
		Eventually(func(g Gomega) {
			leaf, keyPEM, err := readSecretLeaf(rotationNamespace, rotationSecret)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(serialHex(leaf)).NotTo(Equal(oldSerial), "still the old certificate")
			g.Expect(leaf.CheckSignatureFrom(newCA)).To(Succeed(), "the certificate %s is not signed by the new CA", serialHex(leaf))
			newLeaf, newKeyPEM = leaf, keyPEM
		}).WithTimeout(rotationReissueWindow+90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), manager.LogTail)
		newSerial := serialHex(newLeaf)
		Expect(newKeyPEM).NotTo(Equal(oldKeyPEM), "the key was not replaced")
		Expect(newLeaf.AuthorityKeyId).To(Equal(newCA.SubjectKeyId), "authority key identifier of the new certificate")
		// Both CAs are "CN=rotating": only the key identifiers and the signature tell them apart.
		Expect(newLeaf.Issuer.String()).To(Equal(switched.trusted("Active").Subject), "issuer of the new certificate")
		Expect(newLeaf.NotBefore).To(BeTemporally(">=", rotation.SwitchedAt.Add(-2*time.Minute)))

		By("waiting for at least 5 handshakes with the new certificate")
		Eventually(func(g Gomega) {
			g.Expect(successesWith(client.snapshot(), newSerial)).To(BeNumerically(">=", 5))
		}).WithTimeout(60*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), func() string {
			return "the client does not handshake with the new certificate:\n" + describeResults(client.snapshot(), 20)
		})

		By("stopping the client, the volume refresher, the status watch and the server")
		stopClient()
		stopWatch()
		stopVolume()
		endedAt := time.Now()
		results := client.snapshot()
		changes := volume.snapshot()
		phases, phaseOrder, watchErrors := watch.snapshot()

		By("positive control: a client trusting only the new CA accepts the new certificate; one trusting only the old CA refuses it")
		presented, err = handshakeOnce(server.address(), rotationHost, poolOf(newCA))
		Expect(err).NotTo(HaveOccurred())
		Expect(serialHex(presented)).To(Equal(newSerial))
		presented, err = handshakeOnce(server.address(), rotationHost, poolOf(oldCA))
		expectUnknownAuthority(err, "trusting only the old CA, against the new certificate")
		Expect(serialHex(presented)).To(Equal(newSerial))
		server.stop()
		served, loadErrors, serverHandshakeErrors := server.snapshot()

		By("reporting the timeline")
		firstNew := slices.IndexFunc(results, func(r handshakeResult) bool { return r.err == nil && r.serial == newSerial })
		lastOld := -1
		for i, r := range results {
			if r.err == nil && r.serial == oldSerial {
				lastOld = i
			}
		}
		var bundleErrors, twoCAsAfterSwitch, otherAfterSwitch int
		for _, r := range results {
			if r.bundleErr != "" {
				bundleErrors++
			}
			if r.at.After(rotation.SwitchedAt.Add(statusSlack)) {
				if slices.Equal(sorted(r.bundle), sorted([]string{oldFP, newFP})) {
					twoCAsAfterSwitch++
				} else {
					otherAfterSwitch++
				}
			}
		}
		at := func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return fmt.Sprintf("%s (T%+.1fs)", t.UTC().Format("15:04:05.000"), t.Sub(requestedAt).Seconds())
		}
		var timeline strings.Builder
		fmt.Fprintf(&timeline, "rotation requested (T0)         %s\n", at(requestedAt))
		fmt.Fprintf(&timeline, "status startedAt                %s\n", at(*rotation.StartedAt))
		fmt.Fprintf(&timeline, "phase Publishing first seen     %s\n", at(phases["Publishing"]))
		fmt.Fprintf(&timeline, "next CA seen in the ConfigMap   %s\n", at(nextPublishedSeen))
		fmt.Fprintf(&timeline, "negative control (new CA only)  %s: %v\n", at(controlAt), controlErr)
		fmt.Fprintf(&timeline, "status publishedAt              %s\n", at(*rotation.PublishedAt))
		fmt.Fprintf(&timeline, "status switchedAt               %s (%.0fs after publishedAt; propagationDelay %s)\n",
			at(*rotation.SwitchedAt), rotation.SwitchedAt.Sub(*rotation.PublishedAt).Seconds(), rotationPropagationDelay)
		fmt.Fprintf(&timeline, "phase Retiring first seen       %s\n", at(phases["Retiring"]))
		fmt.Fprintf(&timeline, "new certificate issued          %s (notBefore + the 1m backdate)\n", at(newLeaf.NotBefore.Add(certificateBackdate)))
		for _, c := range changes {
			fmt.Fprintf(&timeline, "volume refreshed                %s: serial %s, ca.crt with %d CA(s)\n", at(c.at), c.serial, c.caCount)
		}
		if lastOld >= 0 {
			fmt.Fprintf(&timeline, "last handshake, old certificate %s\n", at(results[lastOld].at))
		}
		if firstNew >= 0 {
			fmt.Fprintf(&timeline, "first handshake, new certificate %s\n", at(results[firstNew].at))
		}
		fmt.Fprintf(&timeline, "client stopped                  %s\n", at(endedAt))
		fmt.Fprintf(&timeline, "handshakes: %d, failed: %d; old certificate %s (CA %s): %d (%d before the request); new certificate %s (CA %s): %d\n",
			len(results), len(failed(results)), oldSerial, short(oldFP), successesWith(results, oldSerial),
			successesBefore(results, oldSerial, requestedAt), newSerial, short(newFP), successesWith(results, newSerial))
		fmt.Fprintf(&timeline, "handshakes after the switch trusting both CAs: %d, trusting another set: %d; ConfigMap reads that failed (last bundle kept): %d\n",
			twoCAsAfterSwitch, otherAfterSwitch, bundleErrors)
		fmt.Fprintf(&timeline, "server: certificates served %v, load errors %d, server-side handshake errors %d (controls included); status reads that failed: %d\n",
			served, len(loadErrors), len(serverHandshakeErrors), watchErrors)
		fmt.Fprintf(&timeline, "old certificate notAfter %s; old CA retireAfter %s (+%s); phases seen in order: %v\n",
			oldLeaf.NotAfter.UTC().Format(time.RFC3339), retiring.RetireAfter.UTC().Format(time.RFC3339),
			retiring.RetireAfter.Sub(oldLeaf.NotAfter.Truncate(time.Second)), phaseOrder)
		report("CA rotation timeline", timeline.String())

		By("checking: zero failed handshakes")
		Expect(failed(results)).To(BeEmpty(), func() string { return describeResults(results, len(results)) })
		Expect(loadErrors).To(BeEmpty(), "the server could not load the Secret's certificate")
		// The server saw a handshake fail only for the two negative controls.
		Expect(serverHandshakeErrors).To(HaveLen(2), "handshakes that failed on the server's side")

		By("checking: old certificate before the request, at least 5 handshakes with the new one, never the old one after it")
		Expect(successesBefore(results, oldSerial, requestedAt)).To(BeNumerically(">=", 1))
		Expect(successesWith(results, newSerial)).To(BeNumerically(">=", 5))
		Expect(firstNew).To(BeNumerically(">", lastOld), "the old certificate came back after the new one:\n%s", describeResults(results, len(results)))
		for _, r := range results {
			Expect(r.serial).To(Or(Equal(oldSerial), Equal(newSerial)), "a third certificate was served at %s", r.at.Format(time.RFC3339Nano))
			if r.serial == oldSerial {
				Expect(r.root).To(Equal(oldFP), "the old certificate verified through another CA")
			} else {
				Expect(r.root).To(Equal(newFP), "the new certificate verified through another CA")
			}
		}
		serials := []string{}
		for _, c := range changes {
			if len(serials) == 0 || serials[len(serials)-1] != c.serial {
				serials = append(serials, c.serial)
			}
		}
		Expect(serials).To(Equal([]string{oldSerial, newSerial}), "the certificates the Secret held, in order")

		By("checking: the phases went Publishing then Retiring; the ConfigMap held both CAs after the switch")
		Expect(phaseOrder).To(Equal([]string{"Publishing", "Retiring"}), "the phases seen, in order")
		Expect(phases["Publishing"]).To(BeTemporally("<", phases["Retiring"]))
		Expect(twoCAsAfterSwitch).To(BeNumerically(">=", 5))
		Expect(otherAfterSwitch).To(BeZero(), "a handshake after the switch trusted a bundle without both CAs")

		By("checking that the overlap holds at the end: still Retiring, both CAs in the ConfigMap and in the Secret's ca.crt")
		final, err := getRotatingIssuer()
		Expect(err).NotTo(HaveOccurred())
		Expect(final.Status.Rotation.Phase).To(Equal("Retiring"))
		Expect(final.trusted("Retiring")).NotTo(BeNil())
		Expect(final.trusted("Retiring").FingerprintSHA256).To(Equal(oldFP))
		bundle, err = readBundle()
		Expect(err).NotTo(HaveOccurred())
		Expect(fingerprints(bundle)).To(ConsistOf(oldFP, newFP))
		s, err := readSecret(rotationNamespace, rotationSecret)
		Expect(err).NotTo(HaveOccurred())
		secretCAs, err := parseCertificates(s.Data["ca.crt"])
		Expect(err).NotTo(HaveOccurred())
		Expect(fingerprints(secretCAs)).To(ConsistOf(oldFP, newFP), "ca.crt of the Secret %s", rotationSecret)

		By("checking the ServiceCertificate: Ready, revision 2, the new serial")
		sc, err := getServiceCertificate(rotationNamespace, rotationCertificate)
		Expect(err).NotTo(HaveOccurred())
		Expect(sc.ready()).To(BeTrue(), sc.readyMessage())
		Expect(sc.Status.SerialNumber).To(Equal(newSerial))
		Expect(sc.Status.Revision).To(Equal(int64(2)))
	})
})

// rotatingIssuerObject is the part of a ClusterIssuer that the rotation specs read.
type rotatingIssuerObject struct {
	Status struct {
		// CA is the active CA.
		CA *struct {
			SerialNumber      string     `json:"serialNumber"`
			NotBefore         *time.Time `json:"notBefore"`
			NotAfter          *time.Time `json:"notAfter"`
			RenewalTime       *time.Time `json:"renewalTime"`
			FingerprintSHA256 string     `json:"fingerprintSHA256"`
		} `json:"ca"`
		TrustedCAs []trustedCAObject `json:"trustedCAs"`
		Rotation   *struct {
			Phase       string     `json:"phase"`
			StartedAt   *time.Time `json:"startedAt"`
			PublishedAt *time.Time `json:"publishedAt"`
			SwitchedAt  *time.Time `json:"switchedAt"`
			CompletedAt *time.Time `json:"completedAt"`
			LastRequest string     `json:"lastRequest"`
		} `json:"rotation"`
	} `json:"status"`
}

// trustedCAObject is one entry of status.trustedCAs.
type trustedCAObject struct {
	Subject           string     `json:"subject"`
	FingerprintSHA256 string     `json:"fingerprintSHA256"`
	NotAfter          time.Time  `json:"notAfter"`
	Role              string     `json:"role"`
	RetireAfter       *time.Time `json:"retireAfter"`
}

// trusted returns the trusted CA with a role, or nil.
func (i *rotatingIssuerObject) trusted(role string) *trustedCAObject {
	for k := range i.Status.TrustedCAs {
		if i.Status.TrustedCAs[k].Role == role {
			return &i.Status.TrustedCAs[k]
		}
	}
	return nil
}

// getRotatingIssuer reads the ClusterIssuer under test.
func getRotatingIssuer() (*rotatingIssuerObject, error) {
	return getIssuer(rotationIssuer)
}

// getIssuer reads a ClusterIssuer's rotation status.
func getIssuer(name string) (*rotatingIssuerObject, error) {
	out, err := quietCluster.Kubectl("get", "clusterissuer", name, "-o", "json")
	if err != nil {
		return nil, err
	}
	var issuer rotatingIssuerObject
	if err := json.Unmarshal([]byte(out), &issuer); err != nil {
		return nil, err
	}
	return &issuer, nil
}

// readBundle reads the certificates of the trust bundle ConfigMap in the
// test's namespace.
func readBundle() ([]*x509.Certificate, error) {
	return readBundleIn(rotationNamespace, rotationBundle)
}

// readBundleIn reads the certificates of a trust bundle ConfigMap.
func readBundleIn(namespace, configMap string) ([]*x509.Certificate, error) {
	out, err := quietCluster.Kubectl("get", "configmap", configMap, "-n", namespace, "-o", "json")
	if err != nil {
		return nil, err
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &cm); err != nil {
		return nil, err
	}
	return parseCertificates([]byte(cm.Data[rotationBundleKey]))
}

// readSecret reads a Secret.
func readSecret(namespace, name string) (*secretObject, error) {
	out, err := quietCluster.Kubectl("get", "secret", name, "-n", namespace, "-o", "json")
	if err != nil {
		return nil, err
	}
	var s secretObject
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// readSecretLeaf reads the leaf certificate and the key of a TLS Secret.
func readSecretLeaf(namespace, name string) (*x509.Certificate, []byte, error) {
	s, err := readSecret(namespace, name)
	if err != nil {
		return nil, nil, err
	}
	chain, err := parseCertificates(s.Data["tls.crt"])
	if err != nil {
		return nil, nil, fmt.Errorf("Secret %s/%s, tls.crt: %w", namespace, name, err)
	}
	return chain[0], s.Data["tls.key"], nil
}

// secretLeaf is readSecretLeaf for the spec's own goroutine.
func secretLeaf(namespace, name string) (*x509.Certificate, []byte) {
	GinkgoHelper()
	leaf, key, err := readSecretLeaf(namespace, name)
	Expect(err).NotTo(HaveOccurred())
	return leaf, key
}

// fingerprint is the SHA-256 fingerprint of a certificate as status shows
// it: colon-separated upper-case hex, as "openssl x509 -fingerprint -sha256".
func fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func fingerprints(certs []*x509.Certificate) []string {
	out := make([]string, 0, len(certs))
	for _, c := range certs {
		out = append(out, fingerprint(c))
	}
	return out
}

// short abbreviates a fingerprint for the timeline.
func short(fp string) string {
	if len(fp) > 11 {
		return fp[:11]
	}
	return fp
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// serialHex is a certificate's serial number as status.serialNumber shows it.
func serialHex(cert *x509.Certificate) string {
	return fmt.Sprintf("%x", cert.SerialNumber)
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

// every calls f now and then every interval in a goroutine, until the
// returned stop is called; stop waits for a call in progress to finish and
// may be called more than once.
func every(interval time.Duration, f func()) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(finished)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			f()
			select {
			case <-done:
				return
			case <-ticker.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-finished
	}
}

// secretVolume stands in for kubelet's Secret volume: the Secret's keys as
// files in a directory, replaced atomically when the Secret changes (a new
// timestamped directory, then the "..data" symlink swapped to it).
type secretVolume struct {
	dir             string
	namespace, name string

	mu      sync.Mutex
	version int
	current map[string][]byte
	changes []volumeChange
	errors  []string
}

// volumeChange records one update of the volume.
type volumeChange struct {
	at      time.Time
	serial  string
	caCount int
}

var volumeKeys = []string{"tls.crt", "tls.key", "ca.crt"}

// refresh reads the Secret and updates the volume if it changed.
func (v *secretVolume) refresh() error {
	s, err := readSecret(v.namespace, v.name)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.errors = append(v.errors, err.Error())
		return err
	}
	chain, err := parseCertificates(s.Data["tls.crt"])
	if err != nil {
		v.errors = append(v.errors, err.Error())
		return err
	}
	changed := false
	for _, key := range volumeKeys {
		if !bytes.Equal(v.current[key], s.Data[key]) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	v.version++
	version := fmt.Sprintf("..%04d", v.version)
	if err := os.Mkdir(filepath.Join(v.dir, version), 0o700); err != nil {
		return err
	}
	for _, key := range volumeKeys {
		if err := os.WriteFile(filepath.Join(v.dir, version, key), s.Data[key], 0o600); err != nil {
			return err
		}
	}
	tmp := filepath.Join(v.dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(version, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		return err
	}
	if v.version == 1 {
		for _, key := range volumeKeys {
			if err := os.Symlink(filepath.Join("..data", key), filepath.Join(v.dir, key)); err != nil {
				return err
			}
		}
	}
	// The one before stays for a reader that resolved "..data" just before the swap.
	if v.version > 2 {
		_ = os.RemoveAll(filepath.Join(v.dir, fmt.Sprintf("..%04d", v.version-2)))
	}
	cas, _ := parseCertificates(s.Data["ca.crt"])
	v.current = map[string][]byte{}
	for _, key := range volumeKeys {
		v.current[key] = s.Data[key]
	}
	v.changes = append(v.changes, volumeChange{at: time.Now(), serial: serialHex(chain[0]), caCount: len(cas)})
	return nil
}

func (v *secretVolume) snapshot() []volumeChange {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.changes)
}

// reloadingServer is a TLS server that loads its certificate and key from a
// secretVolume at every handshake, and answers "ok" on every connection.
type reloadingServer struct {
	listener net.Listener
	volume   string
	wg       sync.WaitGroup
	stopOnce sync.Once

	mu              sync.Mutex
	served          map[string]int
	loadErrors      []string
	handshakeErrors []string
}

func startReloadingServer(volume string) (*reloadingServer, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &reloadingServer{listener: listener, volume: volume, served: map[string]int{}}
	config := &tls.Config{GetCertificate: s.certificate}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go s.serve(tls.Server(conn, config))
		}
	}()
	return s, nil
}

func (s *reloadingServer) address() string {
	return s.listener.Addr().String()
}

// certificate reads the key pair from the volume, both files from the same
// version of it.
func (s *reloadingServer) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	keyPair, err := func() (*tls.Certificate, error) {
		version, err := os.Readlink(filepath.Join(s.volume, "..data"))
		if err != nil {
			return nil, err
		}
		certPEM, err := os.ReadFile(filepath.Join(s.volume, version, "tls.crt"))
		if err != nil {
			return nil, err
		}
		keyPEM, err := os.ReadFile(filepath.Join(s.volume, version, "tls.key"))
		if err != nil {
			return nil, err
		}
		keyPair, err := tls.X509KeyPair(certPEM, keyPEM)
		return &keyPair, err
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.loadErrors = append(s.loadErrors, time.Now().Format(time.RFC3339Nano)+": "+err.Error())
		return nil, err
	}
	s.served[serialHex(keyPair.Leaf)]++
	return keyPair, nil
}

func (s *reloadingServer) serve(conn *tls.Conn) {
	defer s.wg.Done()
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := conn.Handshake(); err != nil {
		s.mu.Lock()
		s.handshakeErrors = append(s.handshakeErrors, time.Now().Format(time.RFC3339Nano)+": "+err.Error())
		s.mu.Unlock()
		return
	}
	_, _ = io.WriteString(conn, "ok\n")
}

// stop closes the listener and waits for the connections; it may be called
// more than once.
func (s *reloadingServer) stop() {
	s.stopOnce.Do(func() {
		_ = s.listener.Close()
		s.wg.Wait()
	})
}

func (s *reloadingServer) snapshot() (map[string]int, []string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	served := map[string]int{}
	for k, v := range s.served {
		served[k] = v
	}
	return served, slices.Clone(s.loadErrors), slices.Clone(s.handshakeErrors)
}

// handshakeResult is one handshake of the bundleClient.
type handshakeResult struct {
	at time.Time
	// bundle lists the fingerprints of the CAs the client trusted.
	bundle []string
	// bundleErr is set when reading the ConfigMap failed; the client then
	// trusted the last bundle it read.
	bundleErr string
	// serial is the serial number of the certificate the server presented.
	serial string
	// root is the fingerprint of the CA the chain was verified to.
	root string
	err  error
}

// bundleClient handshakes with a server, trusting only the bundle in the
// ConfigMap namespace/configMap, which it re-reads before every handshake.
type bundleClient struct {
	address, host        string
	namespace, configMap string

	mu      sync.Mutex
	bundle  []*x509.Certificate
	results []handshakeResult
}

func (c *bundleClient) handshake() {
	var r handshakeResult
	bundle, err := readBundleIn(c.namespace, c.configMap)
	c.mu.Lock()
	if err != nil {
		r.bundleErr = err.Error()
		bundle = c.bundle
	} else {
		c.bundle = bundle
	}
	c.mu.Unlock()
	r.bundle = fingerprints(bundle)
	r.at = time.Now()
	if len(bundle) == 0 {
		r.err = fmt.Errorf("no trust bundle: %s", r.bundleErr)
	} else {
		var presented *x509.Certificate
		var state *tls.ConnectionState
		presented, state, r.err = handshake(c.address, c.host, poolOf(bundle...))
		if presented != nil {
			r.serial = serialHex(presented)
		}
		if state != nil && len(state.VerifiedChains) > 0 {
			chain := state.VerifiedChains[0]
			r.root = fingerprint(chain[len(chain)-1])
		}
	}
	c.mu.Lock()
	c.results = append(c.results, r)
	c.mu.Unlock()
}

func (c *bundleClient) snapshot() []handshakeResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.results)
}

// handshake makes one connection to address, verifying the server as host
// against roots (a full handshake: no session is resumed), and reads the
// server's answer. It returns the certificate the server presented, also
// when verification failed.
func handshake(address, host string, roots *x509.CertPool) (*x509.Certificate, *tls.ConnectionState, error) {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", address, &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12})
	if err != nil {
		var verification *tls.CertificateVerificationError
		if errors.As(err, &verification) && len(verification.UnverifiedCertificates) > 0 {
			return verification.UnverifiedCertificates[0], nil, err
		}
		return nil, nil, err
	}
	defer conn.Close()
	state := conn.ConnectionState()
	presented := state.PeerCertificates[0]
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	answer, err := io.ReadAll(conn)
	if err != nil {
		return presented, &state, fmt.Errorf("reading the server's answer: %w", err)
	}
	if string(answer) != "ok\n" {
		return presented, &state, fmt.Errorf("the server answered %q", answer)
	}
	return presented, &state, nil
}

// handshakeOnce is handshake for the controls.
func handshakeOnce(address, host string, roots *x509.CertPool) (*x509.Certificate, error) {
	presented, _, err := handshake(address, host, roots)
	return presented, err
}

// expectUnknownAuthority expects a handshake to have failed because the
// server's certificate does not chain to a trusted CA.
func expectUnknownAuthority(err error, what string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "a client %s completed the handshake", what)
	var verification *tls.CertificateVerificationError
	Expect(errors.As(err, &verification)).To(BeTrue(), "a client %s failed for another reason: %v", what, err)
	var unknown x509.UnknownAuthorityError
	Expect(errors.As(verification.Err, &unknown)).To(BeTrue(), "a client %s failed verification for another reason: %v", what, err)
}

func failed(results []handshakeResult) []string {
	var out []string
	for _, r := range results {
		if r.err != nil {
			out = append(out, fmt.Sprintf("%s: %v", r.at.Format(time.RFC3339Nano), r.err))
		}
	}
	return out
}

func successesWith(results []handshakeResult, serial string) int {
	n := 0
	for _, r := range results {
		if r.err == nil && r.serial == serial {
			n++
		}
	}
	return n
}

func successesBefore(results []handshakeResult, serial string, before time.Time) int {
	n := 0
	for _, r := range results {
		if r.err == nil && r.serial == serial && r.at.Before(before) {
			n++
		}
	}
	return n
}

// describeResults lists the last n handshakes.
func describeResults(results []handshakeResult, n int) string {
	var b strings.Builder
	for _, r := range results[max(0, len(results)-n):] {
		status := "ok"
		if r.err != nil {
			status = "FAILED: " + r.err.Error()
		}
		cas := make([]string, 0, len(r.bundle))
		for _, fp := range r.bundle {
			cas = append(cas, short(fp))
		}
		fmt.Fprintf(&b, "%s serial %s root %s trusting %v: %s", r.at.Format("15:04:05.000"), r.serial, short(r.root), cas, status)
		if r.bundleErr != "" {
			fmt.Fprintf(&b, " (ConfigMap read failed: %s)", r.bundleErr)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// issuerWatch records when each rotation phase of a ClusterIssuer was first seen.
type issuerWatch struct {
	issuer string

	mu        sync.Mutex
	firstSeen map[string]time.Time
	order     []string
	errors    int
}

func (w *issuerWatch) poll() {
	issuer, err := getIssuer(w.issuer)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.errors++
		return
	}
	if issuer.Status.Rotation == nil {
		return
	}
	phase := issuer.Status.Rotation.Phase
	if _, seen := w.firstSeen[phase]; !seen {
		w.firstSeen[phase] = time.Now()
		w.order = append(w.order, phase)
	}
}

func (w *issuerWatch) snapshot() (map[string]time.Time, []string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]time.Time{}
	for k, v := range w.firstSeen {
		out[k] = v
	}
	return out, slices.Clone(w.order), w.errors
}
