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
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

const (
	// servingSignerName is the signerName of the sample ClusterIssuer
	// "serving" (clusterissuer-serving.yaml), which custom-signer-rbac.yaml
	// lets the operator approve and sign for.
	servingSignerName = "example.com/serving"
	// operatorUser is the operator's identity as the API server sees it.
	operatorUser = "system:serviceaccount:" + operatorNamespace + ":" + operatorServiceAccount
)

// The procedure of the Kubernetes documentation's "Manage TLS Certificates in
// a Cluster": a person makes a key and a CSR with cfssl, submits it as a
// CertificateSigningRequest for a custom signer, approves it with kubectl,
// and a signer (here certsmith, for the ClusterIssuer "serving") issues the
// certificate. Each step needs the one before: the specs run in order and
// stop at the first failure.
var _ = Describe("The Kubernetes documentation's manual TLS procedure, signed by the ClusterIssuer serving", Ordered, func() {
	const (
		csrName      = "my-svc.my-namespace"
		outsideName  = "www.example.com"
		outsideCSR   = "outside-policy.my-namespace"
		signWaitTime = 30 * time.Second
	)
	var dir, csrFile, keyFile, certFile string

	BeforeAll(func() {
		dir = GinkgoT().TempDir()
	})

	It("runs the operator with the generated RBAC and the sample's signer role, and nothing else", func() {
		By("listing every binding whose subject is the operator's ServiceAccount")
		Expect(bindingsOf(operatorNamespace, operatorServiceAccount)).To(ConsistOf(
			"ClusterRoleBinding certsmith-manager-rolebinding -> ClusterRole certsmith-manager-role",
			"RoleBinding certsmith-system/certsmith-manager-rolebinding -> Role certsmith-manager-role",
			"ClusterRoleBinding certsmith-signer-example-com-serving -> ClusterRole certsmith-signer-example-com-serving",
		))
		Expect(canI("*", "*", "--all-namespaces", "--as="+operatorUser)).To(Equal("no"), "the operator must not be a cluster admin")

		By("asking the API server what the operator may do with signers")
		// Not with "kubectl auth can-i sign signers/example.com/serving":
		// signers are no API resource, only an authorization one, so kubectl
		// finds no "signers" in discovery and asks about the resource
		// "signers" (or "signers.certificates.k8s.io") in the core group,
		// which nothing grants: it answers "no" even for a signer that the
		// operator may use. A SelfSubjectAccessReview, made with the same
		// impersonation as can-i's --as, names the group.
		for _, verb := range []string{"approve", "sign", "attest"} {
			Expect(operatorMaySigner(verb, servingSignerName)).To(BeTrue(), "%s signers/%s", verb, servingSignerName)
			Expect(operatorMaySigner(verb, "example.org/other")).To(BeFalse(), "%s signers/example.org/other", verb)
		}
		// Its own signer names come from the generated ClusterRole; the API
		// server checks "<domain>/*" beside the exact name.
		for _, verb := range []string{"approve", "sign"} {
			Expect(operatorMaySigner(verb, "clusterissuers.certsmith.io/*")).To(BeTrue(), "%s signers/clusterissuers.certsmith.io/*", verb)
		}
		Expect(operatorMaySigner("sign", "example.com/*")).To(BeFalse(), "sign signers/example.com/*")
	})

	It("makes a key and a CSR with cfssl genkey | cfssljson -bare server", func() {
		csrFile, keyFile = cfsslGenkey(dir, "server", `{
  "hosts": [
    "my-svc.my-namespace.svc.cluster.local",
    "my-pod.my-namespace.pod.cluster.local",
    "192.0.2.24",
    "10.0.34.2"
  ],
  "CN": "my-pod.my-namespace.pod.cluster.local",
  "key": {
    "algo": "ecdsa",
    "size": 256
  }
}`)
		_, err := openssl("req", "-verify", "-noout", "-in", csrFile)
		Expect(err).NotTo(HaveOccurred())
	})

	It("submits the CertificateSigningRequest "+csrName+" for the signer "+servingSignerName, func() {
		request, err := os.ReadFile(csrFile)
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.KubectlWithInput(csrManifest(csrName, servingSignerName, request), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		Expect(cluster.Kubectl("get", "csr", csrName, "-o", "jsonpath={.spec.signerName}")).To(Equal(servingSignerName))
	})

	It("signs nothing before a person approves", func() {
		// The issuer's approval is Manual: certsmith neither approves nor signs.
		Consistently(func(g Gomega) {
			out, err := cluster.Kubectl("get", "csr", csrName, "-o", "jsonpath={.status.conditions[*].type}|{.status.certificate}")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(Equal("|"), "conditions|certificate")
		}).WithTimeout(5 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("issues the certificate after kubectl certificate approve, and it verifies against the serving CA", func() {
		_, err := cluster.Kubectl("certificate", "approve", csrName)
		Expect(err).NotTo(HaveOccurred())

		var encoded string
		Eventually(func(g Gomega) {
			encoded, err = cluster.Kubectl("get", "csr", csrName, "-o", "jsonpath={.status.certificate}")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(encoded).NotTo(BeEmpty(), "status.certificate")
		}).WithTimeout(signWaitTime).WithPolling(500*time.Millisecond).Should(Succeed(), func() string {
			out, _ := cluster.Kubectl("get", "csr", csrName, "-o", "jsonpath={.status.conditions}")
			return "conditions: " + out
		})
		certificate, err := base64.StdEncoding.DecodeString(encoded)
		Expect(err).NotTo(HaveOccurred())
		// A root CA signs it: status.certificate carries no intermediates.
		Expect(splitCertificates(certificate)).To(HaveLen(1))
		certFile = filepath.Join(dir, "server.crt")
		Expect(os.WriteFile(certFile, certificate, 0o600)).To(Succeed())

		By("verifying it against the CA in Secret " + operatorNamespace + "/serving-ca")
		caFile := getSecret(operatorNamespace, "serving-ca").writeKeyAs(dir, "tls.crt", "serving-ca.crt")
		expectVerified(certFile, "-CAfile", caFile)
	})

	It("names the service, the pod and both IP addresses", func() {
		out, err := openssl("x509", "-noout", "-ext", "subjectAltName", "-in", certFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(subjectAltNames(out)).To(ConsistOf(
			"DNS:my-svc.my-namespace.svc.cluster.local",
			"DNS:my-pod.my-namespace.pod.cluster.local",
			"IP Address:192.0.2.24",
			"IP Address:10.0.34.2",
		))
		out, err = openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", certFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal("subject=CN=my-pod.my-namespace.pod.cluster.local\n"))
	})

	It("belongs to the key in server-key.pem", func() {
		expectKeyMatchesCertificate(keyFile, certFile)
	})

	It("has the usages of an EC server key: digital signature without key encipherment, and server auth", func() {
		// The CSR asked for key encipherment too; it means nothing for an EC key (RFC 5480).
		Expect(certificateExtension(certFile, "keyUsage")).To(ConsistOf("Digital Signature"))
		Expect(certificateExtension(certFile, "extendedKeyUsage")).To(ConsistOf("TLS Web Server Authentication"))
	})

	It("refuses, even once approved, a CSR for a name outside the issuer's policy", func() {
		csrFile, _ := cfsslGenkey(dir, "outside", `{"hosts": ["`+outsideName+`"], "CN": "`+outsideName+`", "key": {"algo": "ecdsa", "size": 256}}`)
		request, err := os.ReadFile(csrFile)
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.KubectlWithInput(csrManifest(outsideCSR, servingSignerName, request), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.Kubectl("certificate", "approve", outsideCSR)
		Expect(err).NotTo(HaveOccurred())

		Eventually(func(g Gomega) {
			out, err := cluster.Kubectl("get", "csr", outsideCSR, "-o", `jsonpath={.status.conditions[?(@.type=="Failed")].reason}`)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(Equal("NotAllowedByPolicy"))
		}).WithTimeout(signWaitTime).WithPolling(500 * time.Millisecond).Should(Succeed())
		message, err := cluster.Kubectl("get", "csr", outsideCSR, "-o", `jsonpath={.status.conditions[?(@.type=="Failed")].message}`)
		Expect(err).NotTo(HaveOccurred())
		Expect(message).To(ContainSubstring(outsideName))
		Expect(cluster.Kubectl("get", "csr", outsideCSR, "-o", "jsonpath={.status.certificate}")).To(BeEmpty())
	})
})

// cfsslGenkey makes a key and a CSR as the Kubernetes documentation does,
// "cfssl genkey - | cfssljson -bare BASE" with the JSON request on stdin, in
// dir. It returns the paths of BASE.csr and BASE-key.pem.
func cfsslGenkey(dir, base, request string) (csrFile, keyFile string) {
	GinkgoHelper()
	genkey := exec.Command(cfsslPath, "genkey", "-")
	genkey.Stdin = strings.NewReader(request)
	out, err := runner.Run(genkey)
	Expect(err).NotTo(HaveOccurred())
	cfssljson := exec.Command(cfssljsonPath, "-bare", base)
	cfssljson.Dir = dir
	cfssljson.Stdin = strings.NewReader(out)
	_, err = runner.Run(cfssljson)
	Expect(err).NotTo(HaveOccurred())
	csrFile, keyFile = filepath.Join(dir, base+".csr"), filepath.Join(dir, base+"-key.pem")
	Expect(csrFile).To(BeAnExistingFile())
	Expect(keyFile).To(BeAnExistingFile())
	return csrFile, keyFile
}

// csrManifest returns a CertificateSigningRequest for a serving certificate,
// as in the Kubernetes documentation.
func csrManifest(name, signerName string, request []byte) string {
	return `apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: ` + name + `
spec:
  request: ` + base64.StdEncoding.EncodeToString(request) + `
  signerName: ` + signerName + `
  usages:
  - digital signature
  - key encipherment
  - server auth
`
}

// operatorMaySigner asks the API server whether the operator's
// ServiceAccount may do verb (approve, sign or attest) on the signer
// signerName: a SelfSubjectAccessReview created as the ServiceAccount, by
// impersonation like "kubectl auth can-i --as".
func operatorMaySigner(verb, signerName string) bool {
	GinkgoHelper()
	review := `apiVersion: authorization.k8s.io/v1
kind: SelfSubjectAccessReview
spec:
  resourceAttributes:
    group: certificates.k8s.io
    resource: signers
    name: "` + signerName + `"
    verb: ` + verb + "\n"
	// --validate=false: validation would list CRDs, as the ServiceAccount.
	out, err := cluster.KubectlWithInput(review, "create", "--as="+operatorUser, "--validate=false", "-f", "-",
		"-o", "jsonpath={.status.allowed}")
	Expect(err).NotTo(HaveOccurred())
	Expect(out).To(Or(Equal("true"), Equal("false")))
	return out == "true"
}

// canI runs "kubectl auth can-i" and returns its answer, "yes" or "no" (it
// exits 1 for "no").
func canI(args ...string) string {
	GinkgoHelper()
	out, err := cluster.Kubectl(append([]string{"auth", "can-i"}, args...)...)
	answer := strings.TrimSpace(out)
	if !(answer == "no" && exitedNonZero(err)) {
		Expect(err).NotTo(HaveOccurred())
	}
	return answer
}

// bindingsOf describes every ClusterRoleBinding and RoleBinding whose
// subjects include the ServiceAccount namespace/name, as
// "KIND [NAMESPACE/]NAME -> ROLEKIND ROLENAME".
func bindingsOf(namespace, name string) []string {
	GinkgoHelper()
	out, err := cluster.Kubectl("get", "clusterrolebindings,rolebindings", "--all-namespaces", "-o", "json")
	Expect(err).NotTo(HaveOccurred())
	var list struct {
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			RoleRef struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"roleRef"`
			Subjects []struct {
				Kind      string `json:"kind"`
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"subjects"`
		} `json:"items"`
	}
	Expect(json.Unmarshal([]byte(out), &list)).To(Succeed())
	var bindings []string
	for _, binding := range list.Items {
		for _, subject := range binding.Subjects {
			if subject.Kind == "ServiceAccount" && subject.Name == name && subject.Namespace == namespace {
				bindingName := binding.Metadata.Name
				if binding.Metadata.Namespace != "" {
					bindingName = binding.Metadata.Namespace + "/" + bindingName
				}
				bindings = append(bindings, binding.Kind+" "+bindingName+" -> "+binding.RoleRef.Kind+" "+binding.RoleRef.Name)
			}
		}
	}
	return bindings
}
