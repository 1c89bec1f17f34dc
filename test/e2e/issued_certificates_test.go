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
	"encoding/json"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Every certificate that certsmith issues in this run, CA or leaf, must pass
// "openssl verify -x509_strict" against the CA it should chain to: strict
// mode also checks what lenient clients let pass (critical basic
// constraints, key identifiers, key usage of CAs).
var _ = Describe("Every certificate certsmith issues", Ordered, ContinueOnFailure, func() {
	const (
		// chainedHost is the name in the certificate that platform-intermediate issues.
		chainedHost = "chained.demo.svc"
		// importedHost is the name in the certificate that imported issues.
		importedHost = "imported.demo.svc"
	)

	BeforeAll(func() {
		By("asking platform-intermediate and imported for a certificate each")
		_, err := cluster.KubectlWithInput(serviceCertificate("demo", "chained", `
  issuerRef: {name: platform-intermediate}
  dnsNames: [`+chainedHost+`]
  secretName: chained-tls`)+"---\n"+serviceCertificate("demo", "imported", `
  issuerRef: {name: imported}
  dnsNames: [`+importedHost+`]
  secretName: imported-tls`), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=120s", "-n", "demo",
			"servicecertificate/web", "servicecertificate/chained", "servicecertificate/imported")
		Expect(err).NotTo(HaveOccurred())
	})

	It("generates CA certificates that verify: every root against itself, the intermediate against its root", func() {
		dir := GinkgoT().TempDir()
		// The CA Secrets: those labelled with their issuer (the bundle
		// ownership records there carry certsmith's label, not this one).
		out, err := cluster.Kubectl("get", "secrets", "-n", operatorNamespace, "-l", "app.kubernetes.io/managed-by=certsmith,certsmith.io/cluster-issuer", "-o", "json")
		Expect(err).NotTo(HaveOccurred())
		var list struct {
			Items []struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Data map[string][]byte `json:"data"`
			} `json:"items"`
		}
		Expect(json.Unmarshal([]byte(out), &list)).To(Succeed())

		var names []string
		for _, item := range list.Items {
			name := item.Metadata.Name
			names = append(names, name)
			By("verifying the CA in Secret " + operatorNamespace + "/" + name)
			ca := secret{Data: item.Data}
			caFile := ca.writeKeyAs(dir, "ca.crt", name+"-ca.crt")
			// The trust anchor is a self-signed root: it verifies against itself.
			Expect(splitCertificates(item.Data["ca.crt"])).To(HaveLen(1), "ca.crt of %s", name)
			expectVerified(caFile, "-CAfile", caFile)

			// tls.crt is the CA's own certificate, then its chain up to the root.
			certFile, chainFile := writeLeafAndChain(dir, name, item.Data["tls.crt"])
			args := []string{"-CAfile", caFile}
			if chainFile != "" {
				args = append(args, "-untrusted", chainFile)
			}
			expectVerified(certFile, args...)
		}
		Expect(names).To(ContainElements("selfsigned-ca", "platform-root-ca", "platform-intermediate-ca", "serving-ca"))

		By("verifying platform-intermediate's certificate against the root in platform-root's own Secret")
		rootFile := getSecret(operatorNamespace, "platform-root-ca").writeKeyAs(dir, "tls.crt", "platform-root.crt")
		Expect(splitCertificates(readFile(rootFile))).To(HaveLen(1))
		intermediateFile, chainFile := writeLeafAndChain(dir, "platform-intermediate",
			getSecret(operatorNamespace, "platform-intermediate-ca").Data["tls.crt"])
		Expect(chainFile).NotTo(BeEmpty(), "tls.crt of platform-intermediate-ca holds no chain")
		Expect(readFile(chainFile)).To(Equal(readFile(rootFile)), "the chain in platform-intermediate-ca is not platform-root's CA")
		expectVerified(intermediateFile, "-CAfile", rootFile)
	})

	It("issues demo/web-tls from selfsigned: it verifies against the CA in selfsigned-ca", func() {
		dir := GinkgoT().TempDir()
		leafFile, chainFile := writeLeafAndChain(dir, "web", getSecret("demo", "web-tls").Data["tls.crt"])
		Expect(chainFile).To(BeEmpty(), "a root CA's certificate needs no intermediates")
		caFile := getSecret(operatorNamespace, "selfsigned-ca").writeKeyAs(dir, "tls.crt", "selfsigned.crt")
		expectVerified(leafFile, "-CAfile", caFile)
	})

	It("issues demo/imported-tls from imported: it verifies against the CA that the suite made with openssl", func() {
		dir := GinkgoT().TempDir()
		secret := getSecret("demo", "imported-tls")
		leafFile, chainFile := writeLeafAndChain(dir, "imported", secret.Data["tls.crt"])
		Expect(chainFile).To(BeEmpty(), "a root CA's certificate needs no intermediates")
		expectVerified(leafFile, "-CAfile", importedCAFile)
		expectVerified(leafFile, "-CAfile", secret.writeKey(dir, "ca.crt"))
		expectKeyMatchesCertificate(secret.writeKey(dir, "tls.key"), leafFile)
	})

	Context("demo/chained-tls, from platform-intermediate", func() {
		var leafFile, chainFile, keyFile, caFile string

		BeforeEach(func() {
			dir := GinkgoT().TempDir()
			secret := getSecret("demo", "chained-tls")
			leafFile, chainFile = writeLeafAndChain(dir, "chained", secret.Data["tls.crt"])
			keyFile, caFile = secret.writeKey(dir, "tls.key"), secret.writeKey(dir, "ca.crt")
		})

		It("carries the intermediate in tls.crt and only the root in ca.crt", func() {
			Expect(chainFile).NotTo(BeEmpty(), "tls.crt holds the leaf only")
			intermediate := splitCertificates(getSecret(operatorNamespace, "platform-intermediate-ca").Data["tls.crt"])[0]
			Expect(readFile(chainFile)).To(Equal(intermediate), "the certificate after the leaf is not platform-intermediate's CA")
			root := getSecret(operatorNamespace, "platform-root-ca").Data["tls.crt"]
			Expect(readFile(caFile)).To(Equal(root), "ca.crt is not platform-root's CA")
			expectKeyMatchesCertificate(keyFile, leafFile)
		})

		It("verifies against ca.crt with the intermediate from tls.crt, and not without it", func() {
			expectVerified(leafFile, "-CAfile", caFile, "-untrusted", chainFile)

			_, err := openssl("verify", "-x509_strict", "-CAfile", caFile, leafFile)
			Expect(exitedNonZero(err)).To(BeTrue(), "the leaf verified against the root alone (%v)", err)
			Expect(err).To(MatchError(ContainSubstring("unable to get local issuer certificate")))
		})

		It("passes a TLS handshake in which the server sends the chain and the client trusts only ca.crt", func() {
			serverAddress := startTLSServer(leafFile, keyFile, "-cert_chain", chainFile)
			out, err := openssl("s_client", "-connect", serverAddress, "-servername", chainedHost,
				"-verify_return_error", "-verify_hostname", chainedHost, "-CAfile", caFile)
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(ContainSubstring("Verified peername: " + chainedHost))
			Expect(out).To(ContainSubstring("Verify return code: 0 (ok)"))
		})

		It("fails the handshake when the server leaves the intermediate out", func() {
			serverAddress := startTLSServer(leafFile, keyFile)
			_, err := openssl("s_client", "-connect", serverAddress, "-servername", chainedHost,
				"-verify_return_error", "-verify_hostname", chainedHost, "-CAfile", caFile)
			Expect(exitedNonZero(err)).To(BeTrue(), "s_client accepted a chain without the intermediate")
			Expect(err).To(MatchError(ContainSubstring("unable to get local issuer certificate")))
		})
	})

	It("puts into every CSR a certificate that verifies against the CA of the signer's ClusterIssuer", func() {
		dir := GinkgoT().TempDir()
		out, err := cluster.Kubectl("get", "clusterissuers", "-o", "json")
		Expect(err).NotTo(HaveOccurred())
		var issuers struct {
			Items []struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Spec struct {
					SignerName string `json:"signerName"`
					CA         struct {
						SecretRef *struct {
							Name string `json:"name"`
						} `json:"secretRef"`
					} `json:"ca"`
				} `json:"spec"`
			} `json:"items"`
		}
		Expect(json.Unmarshal([]byte(out), &issuers)).To(Succeed())
		// signerName -> the Secret that holds its issuer's CA.
		caSecrets := map[string]string{}
		for _, issuer := range issuers.Items {
			signerName := issuer.Spec.SignerName
			if signerName == "" {
				signerName = "clusterissuers.certsmith.io/" + issuer.Metadata.Name
			}
			caSecrets[signerName] = issuer.Metadata.Name + "-ca"
			if ref := issuer.Spec.CA.SecretRef; ref != nil {
				caSecrets[signerName] = ref.Name
			}
		}

		out, err = cluster.Kubectl("get", "certificatesigningrequests", "-o", "json")
		Expect(err).NotTo(HaveOccurred())
		var csrs struct {
			Items []struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Spec struct {
					SignerName string `json:"signerName"`
				} `json:"spec"`
				Status struct {
					Certificate []byte `json:"certificate"`
				} `json:"status"`
			} `json:"items"`
		}
		Expect(json.Unmarshal([]byte(out), &csrs)).To(Succeed())

		var signers []string
		for _, csr := range csrs.Items {
			if len(csr.Status.Certificate) == 0 {
				continue
			}
			name, signerName := csr.Metadata.Name, csr.Spec.SignerName
			By("verifying the certificate of CSR " + name + " (" + signerName + ")")
			Expect(caSecrets).To(HaveKey(signerName), "CSR %s has a certificate, but no ClusterIssuer has its signerName", name)
			ca := getSecret(operatorNamespace, caSecrets[signerName])
			// An imported CA Secret may have no ca.crt: its tls.crt is the root.
			anchorKey := "ca.crt"
			if len(ca.Data[anchorKey]) == 0 {
				anchorKey = "tls.crt"
			}
			caFile := ca.writeKeyAs(dir, anchorKey, name+"-ca.crt")
			leafFile, chainFile := writeLeafAndChain(dir, name, csr.Status.Certificate)
			args := []string{"-CAfile", caFile}
			if chainFile != "" {
				args = append(args, "-untrusted", chainFile)
			}
			expectVerified(leafFile, args...)
			signers = append(signers, signerName)
		}
		Expect(signers).To(ContainElements(sampleSignerName,
			"clusterissuers.certsmith.io/platform-intermediate", "clusterissuers.certsmith.io/imported"))
	})
})

// readFile returns the content of a file the spec wrote.
func readFile(path string) []byte {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	return data
}
