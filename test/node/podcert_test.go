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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Pods on the node get certificates from the kubelet, through a
// podCertificate projected volume that certsmith's signer fills, and trust
// only the issuer's ClusterTrustBundle, through a clusterTrustBundle
// source of the same volume. There is no Secret: the key is made by the
// kubelet and never leaves the node. Pods authenticate each other by the
// SPIFFE ID of their ServiceAccount, in both directions, then across a CA
// rotation, pods of the new CA with pods of the old one.
const (
	podCertNamespace = "node-podcert"
	podCertIssuer    = "pod-mtls"
	podCertSigner    = "clusterissuers.certsmith.io/" + podCertIssuer
	// The files of the projected volume, under /files.
	podCredentials = "/files/credentials.pem"
	podTrust       = "/files/trust.pem"
)

const podCertFixtureYAML = `apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: ` + podCertIssuer + `
spec:
  ca:
    selfSigned:
      subject:
        commonName: certsmith node suite pod certificates root
      duration: 2h
  podCertificates: {}
  bundle:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: ` + podCertNamespace + `
    clusterTrustBundle: true
  rotation:
    propagationDelay: 10s
    reissueWindow: 5s
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: server, namespace: ` + podCertNamespace + `}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: client, namespace: ` + podCertNamespace + `}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: intruder, namespace: ` + podCertNamespace + `}
`

// podCertVolume is the projected volume of every pod of the spec: its
// pod certificate as a kubelet credential bundle, and the issuer's
// ClusterTrustBundle, selected by signer name, as its only trust anchors.
const podCertVolume = `    projected:
      sources:
      - podCertificate:
          signerName: ` + podCertSigner + `
          keyType: ECDSAP256
          credentialBundlePath: credentials.pem
      - clusterTrustBundle:
          signerName: ` + podCertSigner + `
          labelSelector:
            matchLabels: {certsmith.io/bundle-issuer: ` + podCertIssuer + `}
          path: trust.pem
`

// serverStatus is what a workload server that verifies clients reports
// (workload.ServerStatus).
type serverStatus struct {
	Accepted      map[string]map[string]int64 `json:"accepted"`
	Rejected      int64                       `json:"rejected"`
	LastRejection string                      `json:"lastRejection"`
	Anchors       []string                    `json:"anchors"`
}

// mustServerStatus reads a server pod's status over the pod network.
func mustServerStatus(ip string) serverStatus {
	GinkgoHelper()
	var st serverStatus
	Expect(readStatus(ip+":9000", &st)).To(Succeed())
	return st
}

// podSPIFFEID is the identity certsmith issues to the pods of a
// ServiceAccount of the spec's namespace (the default trust domain, the
// cluster domain).
func podSPIFFEID(serviceAccount string) string {
	return "spiffe://cluster.local/ns/" + podCertNamespace + "/sa/" + serviceAccount
}

// mtlsServerPod serves mutual TLS with its pod certificate and accepts only
// the client ServiceAccount's identity.
func mtlsServerPod(name string) string {
	return workloadPodYAML(podCertNamespace, name, "server", "app: mtls-server",
		[]string{"serve", "-credential-bundle", podCredentials, "-ca", podTrust, "-peer-id", podSPIFFEID("client"), "-status", ":9000"},
		podCertVolume)
}

// mtlsClientArgs dials addr with the pod certificate and expects the
// server to be serverID.
func mtlsClientArgs(addr, serverID string) []string {
	return []string{"client", "-credential-bundle", podCredentials, "-ca", podTrust, "-peer-id", serverID, "-addr", addr}
}

// mtlsClientPod is a client pod under serviceAccount that expects the
// server to be serverID.
func mtlsClientPod(name, serviceAccount, addr, serverID string) string {
	return workloadPodYAML(podCertNamespace, name, serviceAccount, "app: mtls-client", mtlsClientArgs(addr, serverID), podCertVolume)
}

var _ = Describe("Pods with certsmith's pod certificates", Ordered, Label("podcert"), func() {
	var serverIP, clientIP string
	serverID, clientID := podSPIFFEID("server"), podSPIFFEID("client")
	// A pod expecting the server's ServiceAccount name in another
	// namespace: only an exact comparison of the whole ID refuses it.
	wrongServerID := "spiffe://cluster.local/ns/default/sa/server"

	BeforeAll(func() {
		createNamespace(podCertNamespace)
		DeferCleanup(func() {
			_, _ = cluster.Kubectl("delete", "clusterissuer", podCertIssuer, "--ignore-not-found", "--timeout=60s")
		})
		By("creating the ClusterIssuer " + podCertIssuer + " with podCertificates and a ClusterTrustBundle, and three ServiceAccounts")
		apply(podCertFixtureYAML)
		_, err := cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "clusterissuer/"+podCertIssuer)
		Expect(err).NotTo(HaveOccurred(), managerLog)
		Eventually(func() string {
			return jsonpath("", "clusterissuer/"+podCertIssuer, "{.status.bundle.clusterTrustBundleUpToDate}")
		}).WithTimeout(30*time.Second).WithPolling(time.Second).Should(Equal("true"), managerLog)

		By("starting the server pod (ServiceAccount server), which accepts only " + clientID)
		apply(mtlsServerPod("server"))
		serverIP = waitForPod(podCertNamespace, "server")
		addr := serverIP + ":8443"
		By("starting the client (ServiceAccount client), a client that expects " + wrongServerID + ", and one of ServiceAccount intruder")
		apply(mtlsClientPod("client", "client", addr, serverID))
		apply(mtlsClientPod("client-wrong-id", "client", addr, wrongServerID))
		apply(mtlsClientPod("intruder", "intruder", addr, serverID))
		clientIP = waitForPod(podCertNamespace, "client")
		waitForPod(podCertNamespace, "client-wrong-id")
		waitForPod(podCertNamespace, "intruder")
	})

	It("does mutual TLS between pods that check each other's SPIFFE ID against the ClusterTrustBundle", func() {
		activeCA := normalizeFingerprint(jsonpath("", "clusterissuer/"+podCertIssuer, "{.status.ca.fingerprintSHA256}"))
		Expect(activeCA).NotTo(BeEmpty())

		By("the kubelet holds what certsmith issued: the identity only, no root, signed by the active CA")
		for pod, id := range map[string]string{"server": serverID, "client": clientID, "intruder": podSPIFFEID("intruder")} {
			chain := podCertificateChain(pod)
			Expect(chain).To(HaveLen(1), "pod %s: the chain is the leaf and the intermediates, and a generated root has none", pod)
			leaf := chain[0]
			Expect(leaf.Subject.String()).To(BeEmpty(), "pod %s", pod)
			Expect(joinURIs(leaf)).To(Equal(id), "pod %s", pod)
			Expect(leaf.DNSNames).To(BeEmpty(), "pod %s", pod)
			Expect(leaf.IPAddresses).To(BeEmpty(), "pod %s", pod)
			Expect(leaf.ExtKeyUsage).To(ConsistOf(x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth), "pod %s", pod)
			Expect(leaf.IsCA).To(BeFalse(), "pod %s", pod)
			key, ok := leaf.PublicKey.(*ecdsa.PublicKey)
			Expect(ok && key.Curve == elliptic.P256()).To(BeTrue(), "pod %s: the volume asks for ECDSAP256, the leaf has a %T", pod, leaf.PublicKey)
			Expect(leaf.CheckSignatureFrom(trustBundleCertificate(podCertIssuer, activeCA))).To(Succeed(), "pod %s", pod)
		}

		By("the client: every handshake succeeds, with the server's identity, anchored at the active CA")
		Eventually(func(g Gomega) {
			st, err := readClientStatus(clientIP)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(st.Failures).To(BeZero(), "%d of %d handshakes failed, the last with %q", st.Failures, st.Handshakes, st.LastError)
			g.Expect(st.Handshakes).To(BeNumerically(">", 10))
			g.Expect(st.PeerID).To(Equal(serverID))
			g.Expect(st.PeerAnchor).To(Equal(activeCA))
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())
		Expect(mustClientStatus(clientIP).Anchors).To(Equal(issuerFingerprints(podCertIssuer)), "the client trusts exactly the ClusterTrustBundle")

		By("the server: the client accepted under the active CA, the intruder refused for its identity")
		Eventually(func(g Gomega) {
			var st serverStatus
			g.Expect(readStatus(serverIP+":9000", &st)).To(Succeed())
			g.Expect(st.Accepted).To(HaveKeyWithValue(clientID, HaveKeyWithValue(activeCA, BeNumerically(">", 10))))
			g.Expect(st.Accepted).To(HaveLen(1), "the server accepted another identity than %s", clientID)
			g.Expect(st.Rejected).To(BeNumerically(">", 3))
			g.Expect(st.LastRejection).To(ContainSubstring("peer ID " + podSPIFFEID("intruder") + ", want " + clientID))
		}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
		Expect(mustServerStatus(serverIP).Anchors).To(Equal(issuerFingerprints(podCertIssuer)), "the server trusts exactly the ClusterTrustBundle")

		By("the client that expects " + wrongServerID + " and the intruder never complete an exchange")
		for pod, reason := range map[string]string{
			"client-wrong-id": "peer ID " + serverID + ", want " + wrongServerID,
			// The server refuses the intruder's certificate: TLS 1.3 tells
			// the client when it reads the answer.
			"intruder": "bad certificate",
		} {
			ip := jsonpath(podCertNamespace, "pod/"+pod, "{.status.podIP}")
			Eventually(func(g Gomega) {
				st, err := readClientStatus(ip)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(st.Failures).To(BeNumerically(">", 3))
				g.Expect(st.Failures).To(Equal(st.Handshakes), "pod %s completed an exchange", pod)
				g.Expect(st.PeerSerial).To(BeEmpty(), "pod %s", pod)
				g.Expect(st.LastError).To(ContainSubstring(reason), "pod %s", pod)
			}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
		}
		expectNoRestarts(podCertNamespace, "server", "client", "client-wrong-id", "intruder")
		st := mustClientStatus(clientIP)
		By(fmt.Sprintf("client: %d handshakes, %d failed; server: %d refused", st.Handshakes, st.Failures, mustServerStatus(serverIP).Rejected))

		// The refusals are proven; from here on the server must refuse no one.
		_, err := cluster.Kubectl("-n", podCertNamespace, "delete", "pod", "client-wrong-id", "intruder", "--wait=true", "--timeout=60s")
		Expect(err).NotTo(HaveOccurred())
	})

	It("after a CA switch, issues new pods from the new CA, and they do mutual TLS with pods of the old CA both ways", func(ctx SpecContext) {
		oldCA := normalizeFingerprint(jsonpath("", "clusterissuer/"+podCertIssuer, "{.status.ca.fingerprintSHA256}"))
		Expect(oldCA).NotTo(BeEmpty())
		rejected := mustServerStatus(serverIP).Rejected

		By("asking for a rotation (certsmith.io/rotate-requested-at) and waiting for the switch")
		_, err := cluster.Kubectl("annotate", "--overwrite", "clusterissuer/"+podCertIssuer,
			"certsmith.io/rotate-requested-at="+time.Now().UTC().Format(time.RFC3339Nano))
		Expect(err).NotTo(HaveOccurred())
		var newCA string
		Eventually(func(g Gomega) {
			newCA = normalizeFingerprint(jsonpath("", "clusterissuer/"+podCertIssuer, "{.status.ca.fingerprintSHA256}"))
			g.Expect(newCA).NotTo(Equal(oldCA))
			g.Expect(jsonpath("", "clusterissuer/"+podCertIssuer, "{.status.rotation.phase}")).To(Equal("Retiring"))
		}).WithTimeout(3*time.Minute).WithPolling(time.Second).Should(Succeed(), managerLog)

		By("the ClusterTrustBundle holds the new CA and, while it retires, the old one")
		Expect(trustBundleFingerprints(podCertIssuer)).To(ConsistOf(newCA, oldCA))

		By("starting a new client and a new server: both get certificates of the new CA")
		apply(mtlsClientPod("client-new", "client", serverIP+":8443", serverID))
		apply(mtlsServerPod("server-new"))
		newClientIP := waitForPod(podCertNamespace, "client-new")
		newServerIP := waitForPod(podCertNamespace, "server-new")
		newCACert := trustBundleCertificate(podCertIssuer, newCA)
		for _, pod := range []string{"client-new", "server-new"} {
			chain := podCertificateChain(pod)
			Expect(chain).To(HaveLen(1), "pod %s", pod)
			Expect(chain[0].CheckSignatureFrom(newCACert)).To(Succeed(), "pod %s: its certificate is not of the new CA", pod)
		}

		By("the old client, whose certificate is of the old CA, dialling the new server from an ephemeral container of its pod")
		// The ephemeral container mounts the pod's volume: it presents the
		// pod's old-CA certificate to a server that did not exist when the
		// pod started.
		pods := adminClient().CoreV1().Pods(podCertNamespace)
		pod, err := pods.Get(ctx, "client", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name:         "to-new-server",
				Image:        workloadImage,
				Args:         append(mtlsClientArgs(newServerIP+":8443", serverID), "-status", ":9001"),
				VolumeMounts: []corev1.VolumeMount{{Name: "files", MountPath: "/files", ReadOnly: true}},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			},
		})
		_, err = pods.UpdateEphemeralContainers(ctx, "client", pod, metav1.UpdateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() string {
			return jsonpath(podCertNamespace, "pod/client", `{.status.ephemeralContainerStatuses[?(@.name=="to-new-server")].state.running.startedAt}`)
		}).WithTimeout(60*time.Second).WithPolling(time.Second).ShouldNot(BeEmpty(), func() string {
			out, _ := cluster.Kubectl("-n", podCertNamespace, "describe", "pod", "client")
			return out
		})

		By("new client → old server: no handshake fails; the server's certificate is anchored at the old CA, the client's at the new")
		Eventually(func(g Gomega) {
			st, err := readClientStatus(newClientIP)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(st.Failures).To(BeZero(), "%d of %d handshakes failed, the last with %q", st.Failures, st.Handshakes, st.LastError)
			g.Expect(st.Handshakes).To(BeNumerically(">", 10))
			g.Expect(st.PeerID).To(Equal(serverID))
			g.Expect(st.PeerAnchor).To(Equal(oldCA))
			g.Expect(st.Anchors).To(ConsistOf(newCA, oldCA))
			var server serverStatus
			g.Expect(readStatus(serverIP+":9000", &server)).To(Succeed())
			g.Expect(server.Accepted).To(HaveKeyWithValue(clientID, HaveKeyWithValue(newCA, BeNumerically(">", 10))))
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())

		By("old client → new server: no handshake fails; the server's certificate is anchored at the new CA, the client's at the old")
		Eventually(func(g Gomega) {
			var st clientStatus
			g.Expect(readStatus(clientIP+":9001", &st)).To(Succeed())
			g.Expect(st.Failures).To(BeZero(), "%d of %d handshakes failed, the last with %q", st.Failures, st.Handshakes, st.LastError)
			g.Expect(st.Handshakes).To(BeNumerically(">", 10))
			g.Expect(st.PeerID).To(Equal(serverID))
			g.Expect(st.PeerAnchor).To(Equal(newCA))
			var server serverStatus
			g.Expect(readStatus(newServerIP+":9000", &server)).To(Succeed())
			g.Expect(server.Accepted).To(HaveKeyWithValue(clientID, HaveKeyWithValue(oldCA, BeNumerically(">", 10))))
			g.Expect(server.Rejected).To(BeZero(), "the new server refused %q", server.LastRejection)
			g.Expect(server.Anchors).To(ConsistOf(newCA, oldCA))
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())

		By("the old pods: not one failure through the rotation, their trust now holds both CAs")
		st := mustClientStatus(clientIP)
		Expect(st.Failures).To(BeZero(), "%d of %d handshakes failed, the last with %q", st.Failures, st.Handshakes, st.LastError)
		Expect(st.PeerAnchor).To(Equal(oldCA), "the old server's certificate is still of the old CA")
		Expect(st.Anchors).To(ConsistOf(newCA, oldCA))
		server := mustServerStatus(serverIP)
		Expect(server.Rejected).To(Equal(rejected), "the old server refused a client during the rotation: %q", server.LastRejection)
		Expect(server.Anchors).To(ConsistOf(newCA, oldCA))
		expectNoRestarts(podCertNamespace, "server", "client", "client-new", "server-new")
		var late clientStatus
		Expect(readStatus(clientIP+":9001", &late)).To(Succeed())
		By(fmt.Sprintf("handshakes without a failure: old client %d, new client to old server %d, old client to new server %d",
			st.Handshakes, mustClientStatus(newClientIP).Handshakes, late.Handshakes))
	})
})

// podCertificateChain is the chain of a pod's issued
// PodCertificateRequest (the newest, should the kubelet have refreshed).
func podCertificateChain(pod string) []*x509.Certificate {
	GinkgoHelper()
	list, err := adminClient().CertificatesV1().PodCertificateRequests(podCertNamespace).List(GinkgoT().Context(), metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	var issued []certificatesv1.PodCertificateRequest
	for _, pcr := range list.Items {
		if pcr.Spec.PodName == pod && meta.IsStatusConditionTrue(pcr.Status.Conditions, certificatesv1.PodCertificateRequestConditionTypeIssued) {
			Expect(pcr.Spec.SignerName).To(Equal(podCertSigner))
			issued = append(issued, pcr)
		}
	}
	Expect(issued).NotTo(BeEmpty(), "pod %s has no issued PodCertificateRequest", pod)
	newest := slices.MaxFunc(issued, func(a, b certificatesv1.PodCertificateRequest) int {
		return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
	})
	var chain []*x509.Certificate
	for rest := []byte(newest.Status.CertificateChain); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
		chain = append(chain, cert)
	}
	return chain
}

// trustBundleCertificates are the certificates of an issuer's
// ClusterTrustBundle.
func trustBundleCertificates(issuerName string) []*x509.Certificate {
	GinkgoHelper()
	name := jsonpath("", "clusterissuer/"+issuerName, "{.status.bundle.clusterTrustBundle}")
	Expect(name).NotTo(BeEmpty(), "ClusterIssuer %s names no ClusterTrustBundle", issuerName)
	ctb, err := adminClient().CertificatesV1().ClusterTrustBundles().Get(GinkgoT().Context(), name, metav1.GetOptions{})
	Expect(err).NotTo(HaveOccurred())
	Expect(ctb.Spec.SignerName).To(Equal(jsonpath("", "clusterissuer/"+issuerName, "{.status.signerName}")))
	var certs []*x509.Certificate
	for rest := []byte(ctb.Spec.TrustBundle); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return certs
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
		certs = append(certs, cert)
	}
}

// trustBundleFingerprints are the fingerprints of an issuer's
// ClusterTrustBundle, in the workload's form.
func trustBundleFingerprints(issuerName string) []string {
	GinkgoHelper()
	var fps []string
	for _, cert := range trustBundleCertificates(issuerName) {
		fps = append(fps, fingerprint(cert))
	}
	return fps
}

// trustBundleCertificate is the certificate of the fingerprint in an
// issuer's ClusterTrustBundle.
func trustBundleCertificate(issuerName, fp string) *x509.Certificate {
	GinkgoHelper()
	for _, cert := range trustBundleCertificates(issuerName) {
		if fingerprint(cert) == normalizeFingerprint(fp) {
			return cert
		}
	}
	Fail(fmt.Sprintf("the ClusterTrustBundle of %s does not hold %s", issuerName, fp))
	return nil
}

// joinURIs is a certificate's URI SANs, comma-separated.
func joinURIs(cert *x509.Certificate) string {
	uris := make([]string, len(cert.URIs))
	for i, u := range cert.URIs {
		uris[i] = u.String()
	}
	return strings.Join(uris, ",")
}
