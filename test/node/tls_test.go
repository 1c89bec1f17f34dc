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

package node

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Pods on the node talk TLS with certsmith's certificate and bundle: the
// server mounts the ServiceCertificate's Secret, one client trusts only
// the bundle ConfigMap, the other only the ClusterTrustBundle, through a
// projected volume selected by signer name. The kubelet refreshes all
// three files; renewal and a CA rotation happen under the clients.
const (
	tlsNamespace = "node-tls"
	tlsIssuer    = "pods-root"
	tlsSigner    = "clusterissuers.certsmith.io/" + tlsIssuer
	tlsCert      = "web"
	tlsSecret    = "web-tls"
	tlsHost      = tlsCert + "." + tlsNamespace + ".svc"
)

const tlsFixtureYAML = `apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: ` + tlsIssuer + `
spec:
  ca:
    selfSigned:
      subject:
        commonName: certsmith node suite pods root
      duration: 2h
  bundle:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: ` + tlsNamespace + `
  rotation:
    propagationDelay: 10s
    reissueWindow: 5s
---
apiVersion: v1
kind: Service
metadata:
  name: ` + tlsCert + `
  namespace: ` + tlsNamespace + `
spec:
  selector: {app: web}
  ports:
  - {name: https, port: 8443}
---
apiVersion: certsmith.io/v1alpha1
kind: ServiceCertificate
metadata:
  name: ` + tlsCert + `
  namespace: ` + tlsNamespace + `
spec:
  issuerRef: {name: ` + tlsIssuer + `}
  service: {name: ` + tlsCert + `}
  secretName: ` + tlsSecret + `
  duration: 1h
`

// podYAML is a pod of the test workload in the TLS spec's namespace, under
// its default ServiceAccount (workloadPodYAML).
func podYAML(name, labels string, args []string, volumes string) string {
	return workloadPodYAML(tlsNamespace, name, "", labels, args, volumes)
}

var _ = Describe("Pods that consume certsmith's certificate and bundles", Ordered, Label("tls"), func() {
	var serverIP, configMapClient, trustBundleClient string

	BeforeAll(func() {
		createNamespace(tlsNamespace)
		DeferCleanup(func() {
			_, _ = cluster.Kubectl("delete", "clusterissuer", tlsIssuer, "--ignore-not-found", "--timeout=60s")
		})
		By("creating the ClusterIssuer " + tlsIssuer + ", the Service " + tlsCert + " and its ServiceCertificate")
		apply(tlsFixtureYAML)
		_, err := cluster.Kubectl("-n", tlsNamespace, "wait", "--for=condition=Ready", "--timeout=60s", "servicecertificate/"+tlsCert)
		Expect(err).NotTo(HaveOccurred(), managerLog)

		By("starting the server pod, which mounts the Secret " + tlsSecret)
		apply(podYAML("server", "app: web", []string{"serve", "-cert", "/files/tls.crt", "-key", "/files/tls.key"},
			`    secret: {secretName: `+tlsSecret+`}
`))
		serverIP = waitForPod(tlsNamespace, "server")
		addr := serverIP + ":8443"

		By("starting a client that trusts only the ConfigMap " + tlsIssuer + "-ca")
		apply(podYAML("client-configmap", "app: client", []string{"client", "-ca", "/files/ca.crt", "-server-name", tlsHost, "-addr", addr},
			`    configMap: {name: `+tlsIssuer+`-ca}
`))
		By("starting a client that trusts only the ClusterTrustBundle of signer " + tlsSigner + " (projected volume)")
		apply(podYAML("client-trustbundle", "app: client", []string{"client", "-ca", "/files/ca.crt", "-server-name", tlsHost, "-addr", addr},
			`    projected:
      sources:
      - clusterTrustBundle:
          signerName: `+tlsSigner+`
          labelSelector:
            matchLabels: {certsmith.io/bundle-issuer: `+tlsIssuer+`}
          path: ca.crt
`))
		configMapClient = waitForPod(tlsNamespace, "client-configmap")
		trustBundleClient = waitForPod(tlsNamespace, "client-trustbundle")
	})

	// clients checks both clients: each has made more than min handshakes
	// since the start, none failed, and each saw the server present serial.
	clients := func(min int64, serial string) {
		GinkgoHelper()
		expectNoRestarts(tlsNamespace, "server", "client-configmap", "client-trustbundle")
		for _, ip := range []string{configMapClient, trustBundleClient} {
			Eventually(func(g Gomega) {
				st, err := readClientStatus(ip)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(st.Failures).To(BeZero(), "client %s: %d of %d handshakes failed, the last with %q", ip, st.Failures, st.Handshakes, st.LastError)
				g.Expect(st.Handshakes).To(BeNumerically(">", min))
				g.Expect(st.PeerSerial).To(Equal(serial), "client %s: the server presents another certificate", ip)
			}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())
			st := mustClientStatus(ip)
			By(fmt.Sprintf("client %s: %d handshakes, %d failed, server serial %s", ip, st.Handshakes, st.Failures, st.PeerSerial))
		}
		expectNoRestarts(tlsNamespace, "server", "client-configmap", "client-trustbundle")
	}

	It("serves TLS with the mounted Secret to clients that trust only the bundle and check the host name", func() {
		leaf := secretLeaf(tlsNamespace, tlsSecret)
		Expect(leaf.DNSNames).To(ContainElement(tlsHost))
		clients(10, serialOf(leaf))

		By("both clients trust exactly the issuer's published bundle")
		want := issuerFingerprints(tlsIssuer)
		for _, ip := range []string{configMapClient, trustBundleClient} {
			Expect(mustClientStatus(ip).Anchors).To(Equal(want), "client %s", ip)
		}
	})

	It("renews the certificate under the running pods: the kubelet refreshes the Secret, the server reloads it, no handshake fails", func() {
		before := serialOf(secretLeaf(tlsNamespace, tlsSecret))
		start := min(mustClientStatus(configMapClient).Handshakes, mustClientStatus(trustBundleClient).Handshakes)
		By("asking for a renewal (certsmith.io/renew-requested-at)")
		_, err := cluster.Kubectl("-n", tlsNamespace, "annotate", "--overwrite", "servicecertificate/"+tlsCert,
			"certsmith.io/renew-requested-at="+time.Now().UTC().Format(time.RFC3339Nano))
		Expect(err).NotTo(HaveOccurred())
		var after string
		Eventually(func() string {
			after = serialOf(secretLeaf(tlsNamespace, tlsSecret))
			return after
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).ShouldNot(Equal(before))
		By("the server presents serial " + after + " to both clients")
		clients(start, after)
	})

	It("rotates the CA under the running pods: the projected bundle follows, no handshake fails", func() {
		oldCA := jsonpath("", "clusterissuer/"+tlsIssuer, "{.status.ca.fingerprintSHA256}")
		Expect(oldCA).NotTo(BeEmpty())
		start := min(mustClientStatus(configMapClient).Handshakes, mustClientStatus(trustBundleClient).Handshakes)
		By("asking for a rotation (certsmith.io/rotate-requested-at)")
		_, err := cluster.Kubectl("annotate", "--overwrite", "clusterissuer/"+tlsIssuer,
			"certsmith.io/rotate-requested-at="+time.Now().UTC().Format(time.RFC3339Nano))
		Expect(err).NotTo(HaveOccurred())

		By("waiting for the switch to the next CA and the re-issued certificate")
		var newCA string
		Eventually(func(g Gomega) {
			newCA = jsonpath("", "clusterissuer/"+tlsIssuer, "{.status.ca.fingerprintSHA256}")
			g.Expect(newCA).NotTo(Equal(oldCA))
			g.Expect(jsonpath("", "clusterissuer/"+tlsIssuer, "{.status.rotation.phase}")).To(Equal("Retiring"))
			ca := bundleCertificate(g, tlsNamespace, tlsIssuer+"-ca", newCA)
			g.Expect(secretLeaf(tlsNamespace, tlsSecret).CheckSignatureFrom(ca)).To(Succeed(), "the certificate is not yet signed by the new CA")
		}).WithTimeout(3 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())
		leaf := secretLeaf(tlsNamespace, tlsSecret)
		By("the server presents the certificate of the new CA to both clients")
		clients(start, serialOf(leaf))

		By("both clients' trust holds the new CA and, while it retires, the old one")
		for _, ip := range []string{configMapClient, trustBundleClient} {
			anchors := mustClientStatus(ip).Anchors
			Expect(anchors).To(ContainElements(normalizeFingerprint(newCA), normalizeFingerprint(oldCA)), "client %s", ip)
		}
	})
})

// secretLeaf parses the leaf certificate in a kubernetes.io/tls Secret.
func secretLeaf(namespace, name string) *x509.Certificate {
	GinkgoHelper()
	data := jsonpath(namespace, "secret/"+name, `{.data.tls\.crt}`)
	Expect(data).NotTo(BeEmpty(), "secret %s/%s has no tls.crt", namespace, name)
	raw, err := base64.StdEncoding.DecodeString(data)
	Expect(err).NotTo(HaveOccurred())
	block, _ := pem.Decode(raw)
	Expect(block).NotTo(BeNil())
	cert, err := x509.ParseCertificate(block.Bytes)
	Expect(err).NotTo(HaveOccurred())
	return cert
}

// bundleCertificate returns the certificate of the given fingerprint in a
// bundle ConfigMap's ca.crt.
func bundleCertificate(g Gomega, namespace, configMap, fp string) *x509.Certificate {
	data := jsonpath(namespace, "configmap/"+configMap, `{.data.ca\.crt}`)
	for rest := []byte(data); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		g.Expect(err).NotTo(HaveOccurred())
		if fingerprint(cert) == normalizeFingerprint(fp) {
			return cert
		}
	}
	g.Expect(fp).To(BeEmpty(), "the bundle %s/%s does not hold %s", namespace, configMap, fp)
	return nil
}

// serialOf is the serial as the workload reports it (hexadecimal).
func serialOf(cert *x509.Certificate) string { return cert.SerialNumber.Text(16) }

// issuerFingerprints are the SHA-256 fingerprints of an issuer's bundle
// (status.bundle.fingerprintsSHA256), in the workload's form, sorted.
func issuerFingerprints(name string) []string {
	GinkgoHelper()
	out := jsonpath("", "clusterissuer/"+name, `{.status.bundle.fingerprintsSHA256[*]}`)
	Expect(out).NotTo(BeEmpty())
	var fps []string
	for _, f := range strings.Fields(out) {
		fps = append(fps, normalizeFingerprint(f))
	}
	slices.Sort(fps)
	return fps
}

// normalizeFingerprint turns "AB:CD:..." or "abcd..." into lower-case hex.
func normalizeFingerprint(f string) string {
	return strings.ToLower(strings.ReplaceAll(f, ":", ""))
}

// fingerprint is a certificate's SHA-256 fingerprint in the workload's form.
func fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}
