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
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// A pod certificate that the kubelet got from certsmith is revoked by its
// serial number with a ClusterCertificateRevocation, as an administrator
// does when a node's key store leaks: certsmith finds the certificate among
// the issuer's PodCertificateRequests, its CRL lists it, the bundle
// ConfigMap and the CRL server publish that CRL, and openssl refuses the
// certificate the pod holds while its sibling's passes. The pod keeps the
// revoked file until the kubelet's refresh time: revocation is for the
// relying parties that check the CRL.
//
// The spec has an issuer and namespace of its own: the podcert specs'
// issuer goes away with their Ordered container, which may run before
// this one, and rotates its CA.
const (
	revocationNamespace = "node-podcert-revoke"
	revocationIssuer    = "pod-revoke"
	revocationSigner    = "clusterissuers.certsmith.io/" + revocationIssuer
	// revocationBundle is the issuer's bundle ConfigMap in the namespace:
	// ca.crt and, next to it, the CRLs as ca.crl.
	revocationBundle = revocationIssuer + "-ca"
	// podRevocation is the ClusterCertificateRevocation of the spec.
	podRevocation = "pod-revoke-key-compromise"
	// crlService is the manager's CRL Service (config/manager/crl_service.yaml).
	crlService = managerDeployment + "-crl"
	// revocationWait bounds each wait for a CRL: certsmith signs at most one
	// per issuer every 10 s, and the bundle controller publishes it after.
	revocationWait = 45 * time.Second
)

const revocationFixtureYAML = `apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: ` + revocationIssuer + `
spec:
  ca:
    selfSigned:
      subject:
        commonName: certsmith node suite revoked pod certificates root
      duration: 2h
  podCertificates: {}
  bundle:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: ` + revocationNamespace + `
`

// revocationPod is a pod that only holds a pod certificate of the issuer,
// under the namespace's default ServiceAccount.
func revocationPod(name string) string {
	return workloadPodYAML(revocationNamespace, name, "", "app: revocation", []string{"pause"}, `    projected:
      sources:
      - podCertificate:
          signerName: `+revocationSigner+`
          keyType: ECDSAP256
          credentialBundlePath: credentials.pem
`)
}

var _ = Describe("A pod certificate revoked by serial number", Label("podcert", "revocation"), func() {
	It("is listed by the issuer's CRL in the bundle ConfigMap and over HTTP; openssl refuses it, its sibling passes; the pod keeps the file", func() {
		_, err := exec.LookPath("openssl")
		Expect(err).NotTo(HaveOccurred(), "openssl is not on PATH; the spec verifies with it")
		dir := GinkgoT().TempDir()

		createNamespace(revocationNamespace)
		DeferCleanup(func() {
			_, _ = cluster.Kubectl("delete", "clustercertificaterevocation", podRevocation, "--ignore-not-found", "--timeout=60s")
			_, _ = cluster.Kubectl("delete", "clusterissuer", revocationIssuer, "--ignore-not-found", "--timeout=60s")
		})
		By("creating the ClusterIssuer " + revocationIssuer + " with podCertificates and a bundle in " + revocationNamespace)
		apply(revocationFixtureYAML)
		_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "clusterissuer/"+revocationIssuer)
		Expect(err).NotTo(HaveOccurred(), managerLog)
		activeCA := normalizeFingerprint(jsonpath("", "clusterissuer/"+revocationIssuer, "{.status.ca.fingerprintSHA256}"))
		Expect(activeCA).NotTo(BeEmpty())
		var ca *x509.Certificate
		Eventually(func(g Gomega) {
			ca = bundleCertificate(g, revocationNamespace, revocationBundle, activeCA)
		}).WithTimeout(30*time.Second).WithPolling(time.Second).Should(Succeed(), managerLog)
		caFile := filepath.Join(dir, "ca.pem")
		Expect(os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o600)).To(Succeed())

		By("starting the pods revoked and sibling, whose kubelet gets each a pod certificate")
		// The ServiceAccount admission refuses pods until the namespace's
		// default ServiceAccount exists.
		Eventually(func() string {
			return jsonpath(revocationNamespace, "serviceaccount/default", "{.metadata.name}")
		}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Equal("default"))
		apply(revocationPod("revoked"))
		apply(revocationPod("sibling"))
		waitForPod(revocationNamespace, "revoked")
		waitForPod(revocationNamespace, "sibling")

		By("reading both certificates from the kubelet's volume directory on the node, as the pods read them")
		leaf, leafFile := kubeletPodCertificate(dir, "revoked")
		sibling, siblingFile := kubeletPodCertificate(dir, "sibling")
		Expect(leaf.CheckSignatureFrom(ca)).To(Succeed())
		Expect(sibling.CheckSignatureFrom(ca)).To(Succeed())
		Expect(sibling.SerialNumber).NotTo(Equal(leaf.SerialNumber))
		request := issuedPodRequest("revoked")
		Expect(request.Status.CertificateChain).To(HavePrefix(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))),
			"the kubelet holds another certificate than the PodCertificateRequest carries")
		serial := leaf.SerialNumber.Text(16)

		By("revoking serial " + serial + " with the ClusterCertificateRevocation " + podRevocation + " (keyCompromise)")
		applied := time.Now()
		apply(`apiVersion: certsmith.io/v1alpha1
kind: ClusterCertificateRevocation
metadata:
  name: ` + podRevocation + `
spec:
  issuerName: ` + revocationIssuer + `
  serialNumber: "` + serial + `"
  reason: ` + string(certsmithv1alpha1.RevocationKeyCompromise) + "\n")
		var rev certsmithv1alpha1.ClusterCertificateRevocation
		Eventually(func(g Gomega) {
			out, err := quiet.Kubectl("get", "clustercertificaterevocation", podRevocation, "-o", "json")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(json.Unmarshal([]byte(out), &rev)).To(Succeed())
			cond := meta.FindStatusCondition(rev.Status.Conditions, certsmithv1alpha1.ConditionRevoked)
			g.Expect(cond).NotTo(BeNil(), "no Revoked condition")
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), "%s: %s", cond.Reason, cond.Message)
			g.Expect(cond.Reason).To(Equal(certsmithv1alpha1.ReasonRevocationPublished), cond.Message)
		}).WithTimeout(revocationWait).WithPolling(500*time.Millisecond).Should(Succeed(), managerLog)
		By(fmt.Sprintf("Published %s after the apply", time.Since(applied).Round(time.Millisecond)))

		By("its status: the serial, the issuer, the CA that signed it and the certificate's notAfter, which only the PodCertificateRequest tells")
		Expect(rev.Status.SerialNumber).To(Equal(serial))
		Expect(rev.Status.IssuerName).To(Equal(revocationIssuer))
		Expect(rev.Status.CAFingerprintsSHA256).To(HaveLen(1))
		Expect(normalizeFingerprint(rev.Status.CAFingerprintsSHA256[0])).To(Equal(activeCA))
		// A serial certsmith does not find is revoked too, with no notAfter:
		// this is what says the pod certificate was found.
		Expect(rev.Status.NotAfter).NotTo(BeNil(), "certsmith did not find the pod certificate among the PodCertificateRequests")
		Expect(rev.Status.NotAfter.Time).To(BeTemporally("==", leaf.NotAfter.Truncate(time.Second)))
		Expect(rev.Status.ServiceCertificate).To(BeEmpty())
		Expect(rev.Status.RevokedAt).NotTo(BeNil())

		By("reading ca.crl of the bundle ConfigMap " + revocationNamespace + "/" + revocationBundle + ": a CRL of the CA that lists the serial for keyCompromise")
		crlFile := filepath.Join(dir, "crl.pem")
		var crlPEM string
		Eventually(func(g Gomega) {
			crlPEM = jsonpath(revocationNamespace, "configmap/"+revocationBundle, `{.data.ca\.crl}`)
			crl, err := crlOf([]byte(crlPEM), ca)
			g.Expect(err).NotTo(HaveOccurred())
			entry := revokedEntry(crl, leaf.SerialNumber)
			g.Expect(entry).NotTo(BeNil(), "CRL number %s does not list serial %s", crl.Number, serial)
			g.Expect(entry.ReasonCode).To(Equal(certsmithv1alpha1.RevocationReasonCodes[certsmithv1alpha1.RevocationKeyCompromise]))
			g.Expect(entry.RevocationTime).To(BeTemporally("==", rev.Status.RevokedAt.Time))
			g.Expect(revokedEntry(crl, sibling.SerialNumber)).To(BeNil(), "the CRL lists the sibling")
		}).WithTimeout(revocationWait).WithPolling(500*time.Millisecond).Should(Succeed(), managerLog)
		Expect(os.WriteFile(crlFile, []byte(crlPEM), 0o600)).To(Succeed())

		By("openssl verify -crl_check: the revoked certificate is refused as revoked, the sibling's verifies")
		_, err = runner.Run(exec.Command("openssl", "verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", caFile, leafFile))
		Expect(err).To(MatchError(ContainSubstring("certificate revoked")))
		out, err := runner.Run(exec.Command("openssl", "verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", caFile, siblingFile))
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal(siblingFile + ": OK\n"))

		By("the CRL server behind the Service " + crlService + " serves the same CRLs (its EndpointSlice's address: the node has no kube-proxy)")
		for _, base := range crlServiceURLs(2) {
			url := base + "/crl/" + revocationIssuer + ".pem"
			Eventually(func(g Gomega) {
				body, err := httpBody(url)
				g.Expect(err).NotTo(HaveOccurred())
				// jsonpath trims the ConfigMap's value; the server's ends with a newline.
				g.Expect(strings.TrimSpace(string(body))).To(Equal(crlPEM))
			}).WithTimeout(revocationWait).WithPolling(time.Second).Should(Succeed(), managerLog)
		}

		By("the pod still holds the revoked certificate: the kubelet replaces it only from beginRefreshAt on")
		now := time.Now()
		held, _ := kubeletPodCertificate(dir, "revoked")
		Expect(held.Raw).To(Equal(leaf.Raw), "the pod's certificate changed after the revocation")
		request = issuedPodRequest("revoked")
		Expect(request.Status.BeginRefreshAt).NotTo(BeNil())
		Expect(request.Status.BeginRefreshAt.Time).To(BeTemporally(">", now), "the kubelet's refresh time has come: the file may have changed for that")
		expectNoRestarts(revocationNamespace, "revoked", "sibling")
	})
})

// kubeletCredentialsPath is where the kubelet wrote a pod's credential
// bundle (PKCS#8 key, then the chain) on the node: the projected volume
// "files" under its root directory (hack/node.sh's --root-dir), which the
// container sees as /files.
func kubeletCredentialsPath(pod string) string {
	GinkgoHelper()
	uid := jsonpath(revocationNamespace, "pod/"+pod, "{.metadata.uid}")
	Expect(uid).NotTo(BeEmpty(), "pod %s has no UID", pod)
	return filepath.Join(nodeDir, "kubelet", "pods", uid, "volumes", "kubernetes.io~projected", "files", "credentials.pem")
}

// mustReadKubeletCredentials reads a pod's credential bundle on the node.
func mustReadKubeletCredentials(pod string) []byte {
	GinkgoHelper()
	data, err := os.ReadFile(kubeletCredentialsPath(pod))
	Expect(err).NotTo(HaveOccurred())
	return data
}

// kubeletPodCertificate parses the leaf of a pod's credential bundle on
// the node and writes it, without the key, into dir/<pod>.pem for openssl.
func kubeletPodCertificate(dir, pod string) (*x509.Certificate, string) {
	GinkgoHelper()
	var leaf *x509.Certificate
	for rest := mustReadKubeletCredentials(pod); leaf == nil; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		Expect(block).NotTo(BeNil(), "the credential bundle of pod %s holds no certificate", pod)
		if block.Type != "CERTIFICATE" {
			continue
		}
		var err error
		leaf, err = x509.ParseCertificate(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
	}
	path := filepath.Join(dir, pod+".pem")
	Expect(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o600)).To(Succeed())
	return leaf, path
}

// issuedPodRequest is the pod's only PodCertificateRequest, issued by the
// spec's issuer: the kubelet has not refreshed.
func issuedPodRequest(pod string) certificatesv1.PodCertificateRequest {
	GinkgoHelper()
	list, err := adminClient().CertificatesV1().PodCertificateRequests(revocationNamespace).List(GinkgoT().Context(), metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	var requests []certificatesv1.PodCertificateRequest
	for _, pcr := range list.Items {
		if pcr.Spec.PodName == pod {
			requests = append(requests, pcr)
		}
	}
	Expect(requests).To(HaveLen(1), "pod %s has %d PodCertificateRequests", pod, len(requests))
	Expect(requests[0].Spec.SignerName).To(Equal(revocationSigner))
	Expect(meta.IsStatusConditionTrue(requests[0].Status.Conditions, certificatesv1.PodCertificateRequestConditionTypeIssued)).To(BeTrue(),
		"the PodCertificateRequest of pod %s is not Issued", pod)
	return requests[0]
}

// crlOf returns the CRL among PEM CRLs that the CA signed, or an error
// that says why there is none.
func crlOf(data []byte, ca *x509.Certificate) (*x509.RevocationList, error) {
	var problems []error
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.Join(append([]error{fmt.Errorf("no CRL signed by %s", ca.Subject)}, problems...)...)
		}
		if block.Type != "X509 CRL" {
			problems = append(problems, fmt.Errorf("a PEM block %q among the CRLs", block.Type))
			continue
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if crl.CheckSignatureFrom(ca) == nil {
			return crl, nil
		}
	}
}

// revokedEntry is a CRL's entry for a serial number, or nil.
func revokedEntry(crl *x509.RevocationList, serial *big.Int) *x509.RevocationListEntry {
	for i := range crl.RevokedCertificateEntries {
		if crl.RevokedCertificateEntries[i].SerialNumber.Cmp(serial) == 0 {
			return &crl.RevokedCertificateEntries[i]
		}
	}
	return nil
}

// crlServiceURLs waits for want ready endpoints of the CRL Service (each
// manager replica serves CRLs) and returns their base URLs, read from its
// EndpointSlice: the node has no kube-proxy, so the Service's address goes
// nowhere.
func crlServiceURLs(want int) []string {
	GinkgoHelper()
	var urls []string
	Eventually(func(g Gomega) {
		out, err := quiet.Kubectl("-n", operatorNamespace, "get", "endpointslices", "-l", "kubernetes.io/service-name="+crlService,
			"-o", `jsonpath={.items[0].ports[0].port}{" "}{.items[0].endpoints[?(@.conditions.ready==true)].addresses[0]}`)
		g.Expect(err).NotTo(HaveOccurred())
		fields := strings.Fields(out)
		g.Expect(fields).To(HaveLen(1+want), "the EndpointSlice of %s has not a port and %d ready addresses (every replica serves CRLs, the standby too): %q", crlService, want, out)
		urls = nil
		for _, address := range fields[1:] {
			urls = append(urls, "http://"+net.JoinHostPort(address, fields[0]))
		}
	}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
	return urls
}

// httpBody GETs url; a status other than 200 is an error.
func httpBody(url string) ([]byte, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}
