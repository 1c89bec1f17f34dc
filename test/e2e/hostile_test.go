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
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The trust rules (DESIGN.md invariants 4, 11 and 12) as a tenant meets
// them: requests made with openssl and submitted with kubectl, against the
// running bin/manager, checked with openssl. controllers/hostile_test.go
// covers the same rules at the API level; here the real tools build the
// hostile input and judge the result.
var _ = Describe("A tenant attacking the trust rules with openssl and kubectl", Ordered, ContinueOnFailure, func() {
	const (
		// tenantIssuer signs *.example.com and approves automatically what the
		// suite's admin asks for.
		tenantIssuer = "hostile-tenant"
		// othersIssuer approves automatically only for requesters who are not
		// the suite's admin.
		othersIssuer = "hostile-others"
		// subCAIssuer signs CA certificates (allowCA) for *.example.com.
		subCAIssuer = "hostile-subca"

		// decideWaitTime bounds how long certsmith may take to decide a CSR.
		decideWaitTime = 30 * time.Second
		// pendingPeriod is how long a CSR that Auto approval must skip is
		// watched for a decision that should not come.
		pendingPeriod = 5 * time.Second
		// handMadeCSRMaxDuration is the longest certificate that a CSR which
		// certsmith did not create gets from an issuer without maxDuration.
		handMadeCSRMaxDuration = 90 * 24 * time.Hour
	)
	issuers := []string{tenantIssuer, othersIssuer, subCAIssuer}
	signerOf := func(issuer string) string { return "clusterissuers.certsmith.io/" + issuer }

	var (
		dir string
		// admin is the user name the API server records in spec.username of
		// the CSRs that the suite's kubectl creates.
		admin string
	)

	BeforeAll(func() {
		dir = GinkgoT().TempDir()

		By("asking the API server who the suite's kubectl is: kubectl auth whoami")
		var err error
		admin, err = cluster.Kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		Expect(err).NotTo(HaveOccurred())
		Expect(admin).NotTo(BeEmpty())
		groups, err := cluster.Kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}")
		Expect(err).NotTo(HaveOccurred())
		fmt.Fprintf(GinkgoWriter, "the suite's kubectl is user %q, groups %s\n", admin, groups)

		DeferCleanup(func() {
			By("deleting the ServiceCertificate, the CSRs, the ClusterIssuers and their CA Secrets")
			_, err := cluster.Kubectl("delete", "servicecertificate", "api-server", "-n", "default", "--ignore-not-found", "--timeout=60s")
			Expect(err).NotTo(HaveOccurred())
			// Only there if certsmith wrongly issued it.
			_, err = cluster.Kubectl("delete", "secret", "api-server-tls", "-n", "default", "--ignore-not-found", "--timeout=60s")
			Expect(err).NotTo(HaveOccurred())
			for _, issuer := range issuers {
				_, err = cluster.Kubectl("delete", "certificatesigningrequests", "--field-selector", "spec.signerName="+signerOf(issuer), "--timeout=60s")
				Expect(err).NotTo(HaveOccurred())
			}
			for _, issuer := range issuers {
				_, err = cluster.Kubectl("delete", "clusterissuer", issuer, "--ignore-not-found", "--timeout=60s")
				Expect(err).NotTo(HaveOccurred())
				_, err = cluster.Kubectl("delete", "secret", issuer+"-ca", "-n", operatorNamespace, "--ignore-not-found", "--timeout=60s")
				Expect(err).NotTo(HaveOccurred())
			}
		})

		By("creating the ClusterIssuers " + strings.Join(issuers, ", "))
		_, err = cluster.KubectlWithInput(`apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: `+tenantIssuer+`
spec:
  ca:
    selfSigned: {}
  approval: Auto
  policy:
    dnsNames: ["*.example.com"]
    autoApprove:
      users: ["`+admin+`"]
---
apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: `+othersIssuer+`
spec:
  ca:
    selfSigned: {}
  approval: Auto
  policy:
    dnsNames: ["*.example.com"]
    autoApprove:
      users: ["someone-else"]
      groups: ["e2e-other-team"]
      serviceAccounts: ["other-team/robot"]
---
apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: `+subCAIssuer+`
spec:
  ca:
    selfSigned: {}
  approval: Auto
  policy:
    dnsNames: ["*.example.com"]
    allowCA: true
    autoApprove:
      users: ["`+admin+`"]
`, "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		args := []string{"wait", "--for=condition=Ready", "--timeout=60s"}
		for _, issuer := range issuers {
			args = append(args, "clusterissuer/"+issuer)
		}
		_, err = cluster.Kubectl(args...)
		Expect(err).NotTo(HaveOccurred(), manager.LogTail)
	})

	It("denies a CSR with two common names, one of them the API server's, although Auto approval names its requester", func() {
		const name = "hostile-two-cns"
		csrFile := opensslCSR(dir, name, "/CN=kubernetes.default.svc/CN=ok.example.com")
		out, err := openssl("req", "-noout", "-subject", "-nameopt", "RFC2253", "-in", csrFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal("subject=CN=ok.example.com,CN=kubernetes.default.svc\n"), "openssl did not make a subject with two CNs")

		submitCSR(name, signerOf(tenantIssuer), csrFile, 0, "digital signature", "key encipherment", "server auth")
		Expect(cluster.Kubectl("get", "csr", name, "-o", "jsonpath={.spec.username}")).To(Equal(admin))

		reason, message := waitCSRCondition(name, "Denied", decideWaitTime)
		report("Denied condition of CSR "+name, reason+": "+message)
		Expect(reason).To(Equal("NotAllowedByPolicy"))
		Expect(message).To(ContainSubstring("more than one common name"))
		Expect(cluster.Kubectl("get", "csr", name, "-o", `jsonpath={.status.conditions[?(@.type=="Approved")].type}`)).To(BeEmpty())
		Expect(cluster.Kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}")).To(BeEmpty())
	})

	It("denies a CSR whose subject claims the organization system:masters", func() {
		const name = "hostile-system-masters"
		csrFile := opensslCSR(dir, name, "/O=system:masters/CN=ok.example.com", "-addext", "subjectAltName=DNS:ok.example.com")
		submitCSR(name, signerOf(tenantIssuer), csrFile, 0, "digital signature", "client auth")

		reason, message := waitCSRCondition(name, "Denied", decideWaitTime)
		report("Denied condition of CSR "+name, reason+": "+message)
		Expect(reason).To(Equal("NotAllowedByPolicy"))
		Expect(message).To(ContainSubstring("system:masters"))
		Expect(cluster.Kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}")).To(BeEmpty())
	})

	It("refuses a ServiceCertificate for the Service default/kubernetes before any CSR, and writes no Secret", func() {
		const name, secretName = "api-server", "api-server-tls"
		clusterIP, err := cluster.Kubectl("get", "service", "kubernetes", "-n", "default", "-o", "jsonpath={.spec.clusterIP}")
		Expect(err).NotTo(HaveOccurred())
		Expect(clusterIP).NotTo(BeEmpty(), "the API server made no Service default/kubernetes")

		_, err = cluster.KubectlWithInput(serviceCertificate("default", name, `
  issuerRef: {name: `+tenantIssuer+`}
  secretName: `+secretName+`
  service: {name: kubernetes}`), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())

		var status, reason, message string
		Eventually(func(g Gomega) {
			out, err := cluster.Kubectl("get", "servicecertificate", name, "-n", "default", "-o",
				`jsonpath={.status.conditions[?(@.type=="Ready")].status}|{.status.conditions[?(@.type=="Ready")].reason}|{.status.conditions[?(@.type=="Ready")].message}`)
			g.Expect(err).NotTo(HaveOccurred())
			fields := strings.SplitN(out, "|", 3)
			g.Expect(fields).To(HaveLen(3))
			status, reason, message = fields[0], fields[1], fields[2]
			g.Expect(reason).NotTo(BeEmpty(), "no Ready condition yet")
		}).WithTimeout(decideWaitTime).WithPolling(500 * time.Millisecond).Should(Succeed())
		report("Ready condition of ServiceCertificate default/"+name, status+" "+reason+": "+message)
		Expect(status).To(Equal("False"))
		Expect(reason).To(Equal("NotAllowedByPolicy"))
		Expect(message).To(ContainSubstring("Kubernetes API server"))
		Expect(message).To(ContainSubstring(`"` + clusterIP + `" is a cluster IP of the Kubernetes API server`))

		By("finding neither a Secret " + secretName + " nor a CSR for default/" + name)
		_, err = cluster.Kubectl("get", "secret", secretName, "-n", "default")
		Expect(err).To(MatchError(ContainSubstring("NotFound")))
		Expect(cluster.Kubectl("get", "csr", "--field-selector", "spec.signerName="+signerOf(tenantIssuer), "-o",
			`jsonpath={range .items[*]}{.metadata.annotations.certsmith\.io/service-certificate}{"\n"}{end}`)).
			NotTo(ContainSubstring("default/"+name), "certsmith made a CSR for a ServiceCertificate its policy refuses")
	})

	It("leaves a CSR from a requester that autoApprove does not name pending, says so, and approves it once it is named", func() {
		const name = "hostile-not-listed"
		readyReason := func() string {
			out, err := cluster.Kubectl("get", "clusterissuer", othersIssuer, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`)
			Expect(err).NotTo(HaveOccurred())
			return out
		}
		Expect(readyReason()).To(Equal("CAReady"), "autoApprove names requesters: Auto approval is active")

		csrFile := opensslCSR(dir, name, "/CN=a.example.com", "-addext", "subjectAltName=DNS:a.example.com")
		submitCSR(name, signerOf(othersIssuer), csrFile, 0, "digital signature", "server auth")

		By("watching the CSR stay without Approved or Denied for " + pendingPeriod.String())
		Consistently(func(g Gomega) {
			out, err := cluster.Kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions[*].type}|{.status.certificate}")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(Equal("|"), "conditions|certificate")
		}).WithTimeout(pendingPeriod).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("reading the Warning AutoApprovalSkipped in kubectl describe csr " + name)
		// The Event regards the waiting CSR, where its requester looks, and
		// names the ClusterIssuer as the related object.
		Eventually(func(g Gomega) {
			described, err := cluster.Kubectl("describe", "csr", name)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(described).To(MatchRegexp(`Warning\s+AutoApprovalSkipped`))
		}).WithTimeout(decideWaitTime).WithPolling(time.Second).Should(Succeed())
		events, err := cluster.Kubectl("get", "events", "-A", "--field-selector",
			"reason=AutoApprovalSkipped,involvedObject.kind=CertificateSigningRequest,involvedObject.name="+name,
			"-o", `jsonpath={range .items[*]}{.type} {.reason} (related {.related.kind} {.related.name}): {.message}{"\n"}{end}`)
		Expect(err).NotTo(HaveOccurred())
		report("AutoApprovalSkipped Events of CSR "+name, events)
		Expect(events).To(HavePrefix("Warning AutoApprovalSkipped (related ClusterIssuer " + othersIssuer + "): CSR " + name + " waits for manual approval"))
		Expect(events).To(ContainSubstring(`its requester "` + admin + `"`))

		By("emptying spec.policy.autoApprove: the issuer stays Ready, with reason AutoApprovalInactive")
		_, err = cluster.Kubectl("patch", "clusterissuer", othersIssuer, "--type=merge", "-p", `{"spec":{"policy":{"autoApprove":null}}}`)
		Expect(err).NotTo(HaveOccurred())
		Eventually(readyReason).WithTimeout(decideWaitTime).WithPolling(500 * time.Millisecond).Should(Equal("AutoApprovalInactive"))
		Expect(cluster.Kubectl("get", "clusterissuer", othersIssuer, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)).To(Equal("True"))
		Expect(cluster.Kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions[*].type}")).To(BeEmpty())

		By("naming the suite's admin in spec.policy.autoApprove: the waiting CSR is approved and signed")
		_, err = cluster.Kubectl("patch", "clusterissuer", othersIssuer, "--type=merge", "-p", `{"spec":{"policy":{"autoApprove":{"users":["`+admin+`"]}}}}`)
		Expect(err).NotTo(HaveOccurred())
		Eventually(readyReason).WithTimeout(decideWaitTime).WithPolling(500 * time.Millisecond).Should(Equal("CAReady"))
		reason, _ := waitCSRCondition(name, "Approved", decideWaitTime)
		Expect(reason).To(Equal("CertsmithApproved"))
		certFile := filepath.Join(dir, name+".crt")
		Expect(os.WriteFile(certFile, waitCSRCertificate(name, decideWaitTime), 0o600)).To(Succeed())
		caFile := getSecret(operatorNamespace, othersIssuer+"-ca").writeKeyAs(dir, "ca.crt", othersIssuer+"-ca.crt")
		expectVerified(certFile, "-CAfile", caFile, "-verify_hostname", "a.example.com")
	})

	It("signs a sub-CA under allowCA only with name constraints and path length 0, which openssl enforces", func() {
		const name = "hostile-team-ca"
		subCAKey := filepath.Join(dir, name+".key")
		csrFile := opensslCSR(dir, name, "/CN=Team CA",
			"-addext", "basicConstraints=critical,CA:TRUE",
			"-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
		// Ten years asked for; a hand-made CSR gets at most 90 days here.
		submitCSR(name, signerOf(subCAIssuer), csrFile, 10*365*24*time.Hour, "cert sign", "crl sign", "digital signature")

		reason, _ := waitCSRCondition(name, "Approved", decideWaitTime)
		Expect(reason).To(Equal("CertsmithApproved"))
		subCAFile, chainFile := writeLeafAndChain(dir, name, waitCSRCertificate(name, decideWaitTime))
		Expect(chainFile).To(BeEmpty(), "a root signed the sub-CA: no intermediates")
		rootFile := getSecret(operatorNamespace, subCAIssuer+"-ca").writeKeyAs(dir, "ca.crt", subCAIssuer+"-ca.crt")

		By("reading the sub-CA with openssl x509 -text")
		text, err := openssl("x509", "-noout", "-text", "-in", subCAFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(text).To(ContainSubstring("X509v3 Name Constraints: critical\n"))
		permitted, excluded := nameConstraints(text)
		report("name constraints of the sub-CA "+name, "permitted: "+strings.Join(permitted, " ")+"\nexcluded: "+strings.Join(excluded, " "))
		Expect(permitted).To(ContainElement("DNS:example.com"))
		Expect(permitted).NotTo(ContainElement(And(HavePrefix("DNS:"), Not(Equal("DNS:example.com")))), "DNS names other than example.com are permitted")
		Expect(excluded).To(ContainElements("DNS:kubernetes", "DNS:kubernetes.default.svc"), "the API server's names are excluded")
		Expect(text).To(MatchRegexp(`X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0\n`))
		expectVerified(subCAFile, "-CAfile", rootFile)
		Expect(certificateNotAfter(subCAFile)).To(BeTemporally("<=", time.Now().Add(handMadeCSRMaxDuration)),
			"the sub-CA outlives the 90 days a hand-made CSR may ask for")

		By("signing leaves with the sub-CA's key, as its holder would: openssl x509 -req")
		leafFor := func(host string) string {
			GinkgoHelper()
			leafCSR := opensslCSR(dir, host, "/CN="+host)
			return signWithOpenSSL(dir, host, leafCSR, subCAFile, subCAKey,
				"basicConstraints=critical,CA:FALSE",
				"keyUsage=critical,digitalSignature",
				"extendedKeyUsage=serverAuth",
				"subjectAltName=DNS:"+host)
		}
		inside, outside := leafFor("a.example.com"), leafFor("evil.org")

		By("verifying them: openssl verify -CAfile root -untrusted sub-CA")
		expectVerified(inside, "-CAfile", rootFile, "-untrusted", subCAFile)
		out, err := openssl("verify", "-x509_strict", "-CAfile", rootFile, "-untrusted", subCAFile, outside)
		report("openssl verify of the evil.org leaf", out+errorText(err))
		Expect(exitedNonZero(err)).To(BeTrue(), "openssl verify accepted a leaf for evil.org from a sub-CA constrained to example.com")
		Expect(err).To(MatchError(ContainSubstring("permitted subtree violation")))

		By("signing a second-level CA with the sub-CA, and a leaf for b.example.com with that: path length 0 refuses the chain")
		deeperCSR := opensslCSR(dir, "deeper-ca", "/CN=Deeper CA")
		deeperCA := signWithOpenSSL(dir, "deeper-ca", deeperCSR, subCAFile, subCAKey,
			"basicConstraints=critical,CA:TRUE",
			"keyUsage=critical,keyCertSign,cRLSign")
		deeperLeafCSR := opensslCSR(dir, "deeper-leaf", "/CN=b.example.com")
		deeperLeaf := signWithOpenSSL(dir, "deeper-leaf", deeperLeafCSR, deeperCA, filepath.Join(dir, "deeper-ca.key"),
			"basicConstraints=critical,CA:FALSE",
			"keyUsage=critical,digitalSignature",
			"extendedKeyUsage=serverAuth",
			"subjectAltName=DNS:b.example.com")
		untrusted := filepath.Join(dir, "sub-and-deeper.crt")
		Expect(os.WriteFile(untrusted, append(readFile(subCAFile), readFile(deeperCA)...), 0o600)).To(Succeed())
		out, err = openssl("verify", "-x509_strict", "-CAfile", rootFile, "-untrusted", untrusted, deeperLeaf)
		report("openssl verify of a leaf under a CA that the sub-CA signed", out+errorText(err))
		Expect(exitedNonZero(err)).To(BeTrue(), "openssl verify accepted a chain longer than the sub-CA's path length 0 allows")
		Expect(err).To(MatchError(ContainSubstring("path length constraint exceeded")))
	})
})

// opensslCSR makes an EC P-256 key and a CSR for subject with "openssl req
// -new", and any extraArgs (such as "-addext ..."), in dir. The key is
// dir/base.key; it returns the path of dir/base.csr.
func opensslCSR(dir, base, subject string, extraArgs ...string) string {
	GinkgoHelper()
	csrFile := filepath.Join(dir, base+".csr")
	args := append([]string{"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-subj", subject, "-keyout", filepath.Join(dir, base+".key"), "-out", csrFile}, extraArgs...)
	_, err := openssl(args...)
	Expect(err).NotTo(HaveOccurred())
	return csrFile
}

// signWithOpenSSL signs the CSR in csrFile with the CA in caFile and
// caKeyFile for a day ("openssl x509 -req"), with the extensions in
// extensions plus key identifiers, and returns the path of dir/base.crt.
func signWithOpenSSL(dir, base, csrFile, caFile, caKeyFile string, extensions ...string) string {
	GinkgoHelper()
	extFile := filepath.Join(dir, base+".ext")
	extensions = append(extensions, "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid")
	Expect(os.WriteFile(extFile, []byte(strings.Join(extensions, "\n")+"\n"), 0o600)).To(Succeed())
	certFile := filepath.Join(dir, base+".crt")
	_, err := openssl("x509", "-req", "-in", csrFile, "-CA", caFile, "-CAkey", caKeyFile,
		"-CAcreateserial", "-CAserial", filepath.Join(dir, base+".srl"), "-days", "1",
		"-extfile", extFile, "-out", certFile)
	Expect(err).NotTo(HaveOccurred())
	return certFile
}

// submitCSR creates, with kubectl, the CertificateSigningRequest name for
// signerName with the PEM request in csrFile and usages, and with
// spec.expirationSeconds unless expiration is 0.
func submitCSR(name, signerName, csrFile string, expiration time.Duration, usages ...string) {
	GinkgoHelper()
	request, err := os.ReadFile(csrFile)
	Expect(err).NotTo(HaveOccurred())
	manifest := `apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: ` + name + `
spec:
  request: ` + base64.StdEncoding.EncodeToString(request) + `
  signerName: ` + signerName + `
`
	if expiration != 0 {
		manifest += fmt.Sprintf("  expirationSeconds: %d\n", int64(expiration/time.Second))
	}
	manifest += "  usages:\n"
	for _, usage := range usages {
		manifest += "  - " + usage + "\n"
	}
	_, err = cluster.KubectlWithInput(manifest, "create", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
}

// waitCSRCondition waits for the CSR's condition of type conditionType
// (Approved, Denied or Failed) and returns its reason and message.
func waitCSRCondition(name, conditionType string, timeout time.Duration) (reason, message string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		out, err := cluster.Kubectl("get", "csr", name, "-o",
			`jsonpath={.status.conditions[?(@.type=="`+conditionType+`")].reason}|{.status.conditions[?(@.type=="`+conditionType+`")].message}`)
		g.Expect(err).NotTo(HaveOccurred())
		reason, message, _ = strings.Cut(out, "|")
		g.Expect(reason).NotTo(BeEmpty(), "no %s condition", conditionType)
	}).WithTimeout(timeout).WithPolling(250*time.Millisecond).Should(Succeed(), func() string {
		out, _ := cluster.Kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions}")
		return "conditions: " + out
	})
	return reason, message
}

// waitCSRCertificate waits for the CSR's status.certificate and returns it, PEM.
func waitCSRCertificate(name string, timeout time.Duration) []byte {
	GinkgoHelper()
	var encoded string
	Eventually(func(g Gomega) {
		var err error
		encoded, err = cluster.Kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(encoded).NotTo(BeEmpty(), "status.certificate")
	}).WithTimeout(timeout).WithPolling(250*time.Millisecond).Should(Succeed(), func() string {
		out, _ := cluster.Kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions}")
		return "conditions: " + out
	})
	certificate, err := base64.StdEncoding.DecodeString(encoded)
	Expect(err).NotTo(HaveOccurred())
	return certificate
}

// nameConstraints reads the permitted and excluded subtrees ("DNS:example.com",
// "IP:10.0.0.0/255.0.0.0", ...) from the "X509v3 Name Constraints" extension
// in the output of "openssl x509 -text".
func nameConstraints(opensslText string) (permitted, excluded []string) {
	GinkgoHelper()
	_, rest, found := strings.Cut(opensslText, "X509v3 Name Constraints:")
	Expect(found).To(BeTrue(), "no name constraints in:\n%s", opensslText)
	lines := strings.Split(rest, "\n")[1:]
	var current *[]string
	for _, line := range lines {
		// The extension's lines are indented deeper than the next extension's name.
		if !strings.HasPrefix(line, strings.Repeat(" ", 16)) {
			break
		}
		switch value := strings.TrimSpace(line); value {
		case "Permitted:":
			current = &permitted
		case "Excluded:":
			current = &excluded
		default:
			Expect(current).NotTo(BeNil(), "a subtree before Permitted: or Excluded: in %q", line)
			*current = append(*current, value)
		}
	}
	return permitted, excluded
}

// errorText is err's text, or "" for nil.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
