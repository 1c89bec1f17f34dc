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
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

const (
	// sampleHost is the name a client of the sample Service demo/web dials.
	sampleHost = "web.demo.svc.cluster.local"
	// sampleSignerName is the default signerName of the sample ClusterIssuer.
	sampleSignerName = "clusterissuers.certsmith.io/selfsigned"
)

// The specs share the samples that BeforeSuite applied (its ClusterIssuers
// are Ready by then); each checks one thing, so one failing does not stop
// the others (ContinueOnFailure).
var _ = Describe("The samples in config/samples", Ordered, ContinueOnFailure, func() {
	BeforeAll(func() {
		By("waiting for the sample ServiceCertificate to become Ready")
		_, err := cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=120s", "-n", "demo", "servicecertificate/web")
		Expect(err).NotTo(HaveOccurred())
	})

	It("issues a kubernetes.io/tls Secret that verifies against the issuer's CA", func() {
		secret := getSecret("demo", "web-tls")
		Expect(secret.Type).To(Equal("kubernetes.io/tls"))
		dir := GinkgoT().TempDir()
		certFile := secret.writeKey(dir, "tls.crt")

		By("reading the CA from its own Secret, not from the ca.crt that came with the certificate")
		caFile := getSecret(operatorNamespace, "selfsigned-ca").writeKeyAs(dir, "tls.crt", "issuer-ca.crt")

		out, err := openssl("verify", "-x509_strict", "-CAfile", caFile, certFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal(certFile + ": OK\n"))
	})

	It("keeps the certificate and its private key a matching pair", func() {
		dir := GinkgoT().TempDir()
		secret := getSecret("demo", "web-tls")
		certFile, keyFile := secret.writeKey(dir, "tls.crt"), secret.writeKey(dir, "tls.key")

		certPublicKey, err := openssl("x509", "-noout", "-pubkey", "-in", certFile)
		Expect(err).NotTo(HaveOccurred())
		keyPublicKey, err := openssl("pkey", "-pubout", "-in", keyFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(certPublicKey).To(HavePrefix("-----BEGIN PUBLIC KEY-----"))
		Expect(keyPublicKey).To(Equal(certPublicKey))
	})

	It("names the Service: its DNS names and its cluster IP", func() {
		clusterIP, err := cluster.Kubectl("get", "service", "web", "-n", "demo", "-o", "jsonpath={.spec.clusterIP}")
		Expect(err).NotTo(HaveOccurred())
		Expect(clusterIP).To(MatchRegexp(`^\d+\.\d+\.\d+\.\d+$`))

		certFile := getSecret("demo", "web-tls").writeKey(GinkgoT().TempDir(), "tls.crt")
		out, err := openssl("x509", "-noout", "-ext", "subjectAltName", "-in", certFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(subjectAltNames(out)).To(ContainElements(
			"DNS:web.demo.svc",
			"DNS:web.demo.svc.cluster.local",
			"IP Address:"+clusterIP,
		))
	})

	Context("in a real TLS handshake, with the Secret's ca.crt as the client's trust bundle", func() {
		var serverAddress, caFile string

		BeforeEach(func() {
			dir := GinkgoT().TempDir()
			secret := getSecret("demo", "web-tls")
			caFile = secret.writeKey(dir, "ca.crt")
			serverAddress = startTLSServer(secret.writeKey(dir, "tls.crt"), secret.writeKey(dir, "tls.key"))
		})

		It("verifies the server as "+sampleHost, func() {
			out, err := openssl("s_client", "-connect", serverAddress, "-servername", sampleHost,
				"-verify_return_error", "-verify_hostname", sampleHost, "-CAfile", caFile)
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(ContainSubstring("Verified peername: " + sampleHost))
			Expect(out).To(ContainSubstring("Verify return code: 0 (ok)"))
		})

		It("refuses the server as another Service's host name", func() {
			const otherHost = "web.other.svc.cluster.local"
			_, err := openssl("s_client", "-connect", serverAddress, "-servername", otherHost,
				"-verify_return_error", "-verify_hostname", otherHost, "-CAfile", caFile)
			Expect(exitedNonZero(err)).To(BeTrue(), "s_client accepted %s's certificate for %s", sampleHost, otherHost)
			Expect(err).To(MatchError(ContainSubstring("hostname mismatch")))
		})
	})

	It("shows readiness and the Secret in kubectl get servicecertificates", func() {
		out, err := cluster.Kubectl("get", "servicecertificates", "-A")
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Print(out)
		header, rows := parseTable(out)
		Expect(header).To(Equal([]string{"NAMESPACE", "NAME", "READY", "SECRET", "NOTAFTER", "RENEWALTIME", "AGE"}))
		Expect(rows).To(ContainElement(And(
			HaveKeyWithValue("NAMESPACE", "demo"),
			HaveKeyWithValue("NAME", "web"),
			HaveKeyWithValue("READY", "True"),
			HaveKeyWithValue("SECRET", "web-tls"),
		)))
	})

	It("shows readiness and the signer in kubectl get clusterissuers", func() {
		out, err := cluster.Kubectl("get", "clusterissuers")
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Print(out)
		header, rows := parseTable(out)
		Expect(header).To(Equal([]string{"NAME", "READY", "SIGNER", "CA NOTAFTER", "AGE"}))
		for _, name := range sampleIssuers {
			signerName := "clusterissuers.certsmith.io/" + name
			if name == "serving" {
				signerName = servingSignerName
			}
			Expect(rows).To(ContainElement(And(
				HaveKeyWithValue("NAME", name),
				HaveKeyWithValue("READY", "True"),
				HaveKeyWithValue("SIGNER", signerName),
			)))
		}
	})

	It("shows in kubectl get the times when the certificates expire and renew", func() {
		dir := GinkgoT().TempDir()
		leafNotAfter := certificateNotAfter(getSecret("demo", "web-tls").writeKey(dir, "tls.crt"))
		caNotAfter := certificateNotAfter(getSecret(operatorNamespace, "selfsigned-ca").writeKeyAs(dir, "tls.crt", "ca.crt"))

		out, err := cluster.Kubectl("get", "servicecertificate", "web", "-n", "demo")
		Expect(err).NotTo(HaveOccurred())
		_, rows := parseTable(out)
		Expect(rows).To(HaveLen(1))
		Expect(parseTimestamp(rows[0]["NOTAFTER"])).To(BeTemporally("==", leafNotAfter),
			"NOTAFTER should be the certificate's notAfter as a timestamp, got %q", rows[0]["NOTAFTER"])
		renewalTime := parseTimestamp(rows[0]["RENEWALTIME"])
		Expect(renewalTime).To(BeTemporally(">", time.Now()))
		Expect(renewalTime).To(BeTemporally("<", leafNotAfter))

		out, err = cluster.Kubectl("get", "clusterissuer", "selfsigned")
		Expect(err).NotTo(HaveOccurred())
		_, rows = parseTable(out)
		Expect(rows).To(HaveLen(1))
		Expect(parseTimestamp(rows[0]["CA NOTAFTER"])).To(BeTemporally("==", caNotAfter),
			"CA NOTAFTER should be the CA's notAfter as a timestamp, got %q", rows[0]["CA NOTAFTER"])
	})

	It("requests the certificate as the operator's ServiceAccount, not as an admin", func() {
		out, err := cluster.Kubectl("get", "certificatesigningrequests", "-l", "app.kubernetes.io/managed-by=certsmith", "-o", "json")
		Expect(err).NotTo(HaveOccurred())
		var list struct {
			Items []struct {
				Metadata struct {
					Name        string            `json:"name"`
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
				Spec struct {
					Username   string `json:"username"`
					SignerName string `json:"signerName"`
				} `json:"spec"`
			} `json:"items"`
		}
		Expect(json.Unmarshal([]byte(out), &list)).To(Succeed())

		var forSample []string
		for _, csr := range list.Items {
			if csr.Metadata.Annotations["certsmith.io/service-certificate"] != "demo/web" {
				continue
			}
			forSample = append(forSample, csr.Metadata.Name)
			Expect(csr.Spec.SignerName).To(Equal(sampleSignerName), "CSR %s", csr.Metadata.Name)
			Expect(csr.Spec.Username).To(Equal("system:serviceaccount:"+operatorNamespace+":"+operatorServiceAccount),
				"CSR %s", csr.Metadata.Name)
		}
		Expect(forSample).NotTo(BeEmpty(), "no CSR labelled app.kubernetes.io/managed-by=certsmith is annotated for demo/web")
	})
})

var _ = Describe("Admission", func() {
	const namespace = "e2e-admission"

	BeforeEach(func() {
		_, err := cluster.KubectlWithInput("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+namespace+"\n", "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
	})

	// rejects applies manifest from stdin and expects the API server to
	// refuse it with each of messages.
	rejects := func(manifest string, messages ...string) {
		DeferCleanup(func() {
			// Only does something when the manifest was wrongly accepted.
			_, err := cluster.KubectlWithInput(manifest, "delete", "--ignore-not-found", "-f", "-")
			Expect(err).NotTo(HaveOccurred())
		})
		_, err := cluster.KubectlWithInput(manifest, "apply", "-f", "-")
		Expect(exitedNonZero(err)).To(BeTrue(), "kubectl apply did not fail (%v) for:\n%s", err, manifest)
		for _, message := range messages {
			Expect(err).To(MatchError(ContainSubstring(message)))
		}
	}

	It("accepts the valid resources that the rejected ones below are variations of", func() {
		for _, manifest := range []string{
			clusterIssuer("e2e-valid", `
    selfSigned: {}`),
			serviceCertificate(namespace, "e2e-valid", `
  issuerRef: {name: selfsigned}
  dnsNames: [app.e2e-admission.svc]
  ipAddresses: [10.0.0.10, "fd00::10"]
  duration: 1h
  renewBefore: 20m`),
		} {
			_, err := cluster.KubectlWithInput(manifest, "apply", "--dry-run=server", "-f", "-")
			Expect(err).NotTo(HaveOccurred())
		}
	})

	It("rejects a ClusterIssuer with two CA sources", func() {
		rejects(clusterIssuer("e2e-two-sources", `
    selfSigned: {}
    secretRef: {name: imported-ca}`),
			"exactly one of selfSigned, secretRef or issuerRef")
	})

	DescribeTable("rejects an invalid ServiceCertificate",
		func(spec string, messages ...string) {
			rejects(serviceCertificate(namespace, "e2e-invalid", spec), messages...)
		},
		Entry("renewBefore as long as duration", `
  issuerRef: {name: selfsigned}
  dnsNames: [app.e2e-admission.svc]
  duration: 1h
  renewBefore: 1h`,
			"renewBefore must be shorter than duration"),
		Entry("a malformed DNS name", `
  issuerRef: {name: selfsigned}
  dnsNames: ["bad_name!.example"]`,
			"spec.dnsNames[0]", "should match"),
		Entry("a duration below the CSR API's minimum", `
  issuerRef: {name: selfsigned}
  dnsNames: [app.e2e-admission.svc]
  duration: 5m`,
			"spec.duration", "at least 10m"),
		Entry("an invalid IP address", `
  issuerRef: {name: selfsigned}
  ipAddresses: ["300.1.1.1"]`,
			"spec.ipAddresses[0]", "must be a valid IPv4 or IPv6 address"),
	)
})

// clusterIssuer returns a ClusterIssuer manifest whose spec.ca is ca, YAML
// indented by four spaces.
func clusterIssuer(name, ca string) string {
	return `apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: ` + name + `
spec:
  ca:` + ca + "\n"
}

// serviceCertificate returns a ServiceCertificate manifest whose spec is
// spec, YAML indented by two spaces.
func serviceCertificate(namespace, name, spec string) string {
	return `apiVersion: certsmith.io/v1alpha1
kind: ServiceCertificate
metadata:
  name: ` + name + `
  namespace: ` + namespace + `
spec:` + spec + "\n"
}

// secret is the part of a Secret the tests read.
type secret struct {
	Type string            `json:"type"`
	Data map[string][]byte `json:"data"`
}

// getSecret reads a Secret with kubectl.
func getSecret(namespace, name string) secret {
	GinkgoHelper()
	out, err := cluster.Kubectl("get", "secret", name, "-n", namespace, "-o", "json")
	Expect(err).NotTo(HaveOccurred())
	var s secret
	Expect(json.Unmarshal([]byte(out), &s)).To(Succeed())
	return s
}

// writeKey writes the Secret's data key into a file of the same name in dir
// and returns its path.
func (s secret) writeKey(dir, key string) string {
	GinkgoHelper()
	return s.writeKeyAs(dir, key, key)
}

// writeKeyAs writes the Secret's data key into the file dir/file and returns
// its path.
func (s secret) writeKeyAs(dir, key, file string) string {
	GinkgoHelper()
	Expect(s.Data).To(HaveKey(key))
	Expect(s.Data[key]).NotTo(BeEmpty(), "data key %s is empty", key)
	path := filepath.Join(dir, file)
	Expect(os.WriteFile(path, s.Data[key], 0o600)).To(Succeed())
	return path
}

// exitedNonZero says whether err is from a command that ran and exited with
// a non-zero status (and not, say, from one that could not start).
func exitedNonZero(err error) bool {
	var exitErr *exec.ExitError
	return errors.As(err, &exitErr)
}

// openssl runs the openssl command line tool and returns its stdout.
func openssl(args ...string) (string, error) {
	return runner.Run(exec.Command("openssl", args...))
}

// startTLSServer serves TLS with certFile and keyFile on a free loopback port
// (openssl s_server, with extraArgs such as "-cert_chain FILE") until the
// spec ends, and returns its address.
func startTLSServer(certFile, keyFile string, extraArgs ...string) string {
	GinkgoHelper()
	// Port 0: the kernel picks a free port, which s_server prints.
	args := append([]string{"s_server", "-accept", "127.0.0.1:0", "-cert", certFile, "-key", keyFile, "-www"}, extraArgs...)
	cmd := exec.Command("openssl", args...)
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { session.Terminate().Wait(10 * time.Second) })
	Eventually(session.Out).WithTimeout(10*time.Second).Should(gbytes.Say(`ACCEPT 127\.0\.0\.1:\d+`),
		"openssl s_server did not start listening")
	address := regexp.MustCompile(`ACCEPT (127\.0\.0\.1:\d+)`).FindSubmatch(session.Out.Contents())
	return string(address[1])
}

// subjectAltNames splits the output of "openssl x509 -ext subjectAltName"
// into names such as "DNS:web.demo.svc" and "IP Address:10.0.0.1".
func subjectAltNames(opensslOutput string) []string {
	_, names, found := strings.Cut(opensslOutput, "X509v3 Subject Alternative Name:")
	if !found {
		return nil
	}
	var result []string
	for _, name := range strings.Split(names, ",") {
		if name = strings.TrimSpace(name); name != "" {
			result = append(result, name)
		}
	}
	return result
}

// certificateNotAfter reads the end of a certificate's validity with openssl.
func certificateNotAfter(certFile string) time.Time {
	GinkgoHelper()
	out, err := openssl("x509", "-noout", "-enddate", "-in", certFile)
	Expect(err).NotTo(HaveOccurred())
	notAfter, err := time.Parse("Jan _2 15:04:05 2006 MST", strings.TrimSpace(strings.TrimPrefix(out, "notAfter=")))
	Expect(err).NotTo(HaveOccurred())
	return notAfter
}

// parseTimestamp parses a kubectl get column that should hold an RFC 3339 time.
func parseTimestamp(value string) time.Time {
	GinkgoHelper()
	timestamp, err := time.Parse(time.RFC3339, value)
	Expect(err).NotTo(HaveOccurred(), "%q is not an RFC 3339 timestamp", value)
	return timestamp
}

// columnSeparator separates the columns of kubectl get's table output: at
// least two spaces, as a header such as "CA NOTAFTER" holds one.
var columnSeparator = regexp.MustCompile(`\s{2,}`)

// parseTable splits kubectl get's table output into its header and one map
// per row from column name to value.
func parseTable(output string) (header []string, rows []map[string]string) {
	GinkgoHelper()
	lines := strings.Split(strings.TrimRight(output, "\n"), "\n")
	Expect(lines).NotTo(BeEmpty())
	header = columnSeparator.Split(strings.TrimSpace(lines[0]), -1)
	for _, line := range lines[1:] {
		values := columnSeparator.Split(strings.TrimSpace(line), -1)
		Expect(values).To(HaveLen(len(header)), "row %q does not fit the header %q", line, lines[0])
		row := make(map[string]string, len(header))
		for i, column := range header {
			row[column] = values[i]
		}
		rows = append(rows, row)
	}
	return header, rows
}

// splitCertificates splits PEM data into its certificates, each PEM-encoded.
func splitCertificates(data []byte) [][]byte {
	GinkgoHelper()
	var certificates [][]byte
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		Expect(block.Type).To(Equal("CERTIFICATE"))
		certificates = append(certificates, pem.EncodeToMemory(block))
	}
	Expect(strings.TrimSpace(string(data))).To(BeEmpty(), "trailing data after the PEM certificates")
	Expect(certificates).NotTo(BeEmpty(), "no PEM certificate")
	return certificates
}

// writeLeafAndChain writes the first certificate of PEM data (a leaf, or a
// CA's own certificate) into dir/name.crt and the ones after it, if any,
// into dir/name-chain.crt. chainFile is empty when there are none.
func writeLeafAndChain(dir, name string, data []byte) (leafFile, chainFile string) {
	GinkgoHelper()
	certificates := splitCertificates(data)
	leafFile = filepath.Join(dir, name+".crt")
	Expect(os.WriteFile(leafFile, certificates[0], 0o600)).To(Succeed())
	if len(certificates) > 1 {
		chainFile = filepath.Join(dir, name+"-chain.crt")
		Expect(os.WriteFile(chainFile, bytes.Join(certificates[1:], nil), 0o600)).To(Succeed())
	}
	return leafFile, chainFile
}

// expectVerified runs "openssl verify -x509_strict" with args (-CAfile,
// -untrusted) on the first certificate in certFile and expects it to pass.
func expectVerified(certFile string, args ...string) {
	GinkgoHelper()
	out, err := openssl(append(append([]string{"verify", "-x509_strict"}, args...), certFile)...)
	Expect(err).NotTo(HaveOccurred())
	Expect(out).To(Equal(certFile + ": OK\n"))
}

// expectKeyMatchesCertificate expects the private key in keyFile to belong to
// the certificate in certFile: openssl derives the same public key from both.
func expectKeyMatchesCertificate(keyFile, certFile string) {
	GinkgoHelper()
	certPublicKey, err := openssl("x509", "-noout", "-pubkey", "-in", certFile)
	Expect(err).NotTo(HaveOccurred())
	keyPublicKey, err := openssl("pkey", "-pubout", "-in", keyFile)
	Expect(err).NotTo(HaveOccurred())
	Expect(certPublicKey).To(HavePrefix("-----BEGIN PUBLIC KEY-----"))
	Expect(keyPublicKey).To(Equal(certPublicKey))
}

// certificateExtension returns the values of a certificate's extension as
// openssl names them ("openssl x509 -ext keyUsage": "Digital Signature",
// ...); none when the certificate does not have it.
func certificateExtension(certFile, extension string) []string {
	GinkgoHelper()
	out, err := openssl("x509", "-noout", "-ext", extension, "-in", certFile)
	Expect(err).NotTo(HaveOccurred())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return nil
	}
	var values []string
	for _, value := range strings.Split(strings.Join(lines[1:], ","), ",") {
		if value = strings.TrimSpace(value); value != "" {
			values = append(values, value)
		}
	}
	return values
}
