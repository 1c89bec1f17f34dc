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

package fault

import (
	"bufio"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/certsmith/certsmith/internal/pki"
)

// batch is how many certificates each fault interrupts.
const batch = 200

// convergeTimeout bounds the wait, after a fault ends, for every
// certificate of a batch to be Ready.
const convergeTimeout = 3 * time.Minute

// applyBatch creates a namespace and, in one kubectl apply in the
// background, batch ServiceCertificates with RSA-2048 keys (slow enough
// to generate that a fault lands in the middle of the issuance), each
// keeping its last 10 CSRs so that every signed one can be counted. The
// channel gets the apply's error.
func applyBatch(namespace string) <-chan error {
	GinkgoHelper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", namespace)
	for i := range batch {
		fmt.Fprintf(&b, `---
apiVersion: certsmith.io/v1alpha1
kind: ServiceCertificate
metadata:
  name: cert-%03d
  namespace: %s
spec:
  issuerRef:
    name: %s
  dnsNames:
  - cert-%03d.%s.svc
  privateKey:
    algorithm: RSA
    size: 2048
  revisionHistoryLimit: 10
`, i, namespace, issuerName, i, namespace)
	}
	done := make(chan error, 1)
	go func() {
		_, err := quiet.KubectlWithInput(b.String(), "apply", "--server-side", "-f", "-")
		done <- err
	}()
	DeferCleanup(func() {
		_, _ = quiet.Kubectl("delete", "namespace", namespace, "--wait=false")
	})
	return done
}

// certificate is what the specs read of a ServiceCertificate.
type certificate struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Status struct {
		Revision     int64  `json:"revision"`
		SerialNumber string `json:"serialNumber"`
		Conditions   []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

func (c certificate) ready() bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == "Ready" {
			return cond.Status == "True"
		}
	}
	return false
}

// certificates lists the ServiceCertificates of a namespace; nil while
// the API server does not answer.
func certificates(namespace string) []certificate {
	out, err := quiet.Kubectl("get", "servicecertificates", "-n", namespace, "-o", "json")
	if err != nil {
		return nil
	}
	var list struct {
		Items []certificate `json:"items"`
	}
	if json.Unmarshal([]byte(out), &list) != nil {
		return nil
	}
	return list.Items
}

// readyCount is how many certificates of a namespace are Ready.
func readyCount(namespace string) int {
	n := 0
	for _, c := range certificates(namespace) {
		if c.ready() {
			n++
		}
	}
	return n
}

// waitSomeReady waits until at least one certificate of the namespace is
// Ready, and returns how many are: a fault injected then lands in the
// middle of the issuance.
func waitSomeReady(namespace string) int {
	GinkgoHelper()
	n := 0
	Eventually(func() int { n = readyCount(namespace); return n }, 2*time.Minute, 100*time.Millisecond).Should(BeNumerically(">=", 1))
	return n
}

// converged is what expectConverged found of a batch after a fault.
type converged struct {
	// restarted is how many certificates had more than one CSR created:
	// an issuance in flight whose key went with a lost leader starts over.
	restarted int
	// mostCreated is the most CSRs created for one certificate.
	mostCreated int
	// storedFirst is how many certificates are in their Secret while no
	// CSR ever got their certificate: a leader lost between the Secret
	// write and the CSR's.
	storedFirst int
}

// String is the figures, for the report.
func (c converged) String() string {
	return fmt.Sprintf("issuances started over with a new key %d (at most %d CSRs created for one); certificates in their Secret but in no CSR (the leader lost between the two writes) %d; CSRs of one issuance with two different certificates 0 (checked)",
		c.restarted, c.mostCreated, c.storedFirst)
}

// expectConverged waits until every certificate of the batch is Ready and
// then checks what a fault must not leave behind: each issued exactly once
// (revision 1); a Secret whose key matches its certificate, signed by the
// issuer's CA; no certificate ever written into more than one CSR, nor
// into a CSR with another certificate than the Secret's (from the API
// server's audit log, which also has the CSRs deleted since: no issuance
// was signed twice); no CSR still open, and none of a certificate that
// does not exist.
func expectConverged(namespace string) converged {
	GinkgoHelper()
	Eventually(func() int { return readyCount(namespace) }, convergeTimeout, time.Second).Should(Equal(batch))

	certs := certificates(namespace)
	Expect(certs).To(HaveLen(batch))
	names := map[string]bool{}
	for _, c := range certs {
		Expect(c.Status.Revision).To(Equal(int64(1)), "certificate %s was issued %d times", c.Metadata.Name, c.Status.Revision)
		names[namespace+"/"+c.Metadata.Name] = true
	}

	roots := issuerRoots()
	out, err := quiet.Kubectl("get", "secrets", "-n", namespace, "-o", "json")
	Expect(err).NotTo(HaveOccurred())
	var secrets struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Data map[string][]byte `json:"data"`
		} `json:"items"`
	}
	Expect(json.Unmarshal([]byte(out), &secrets)).To(Succeed())
	leafSerial := map[string]string{}
	for _, s := range secrets.Items {
		if !strings.HasSuffix(s.Metadata.Name, "-tls") {
			continue
		}
		chain, err := pki.ParseCertificatesPEM(s.Data["tls.crt"])
		Expect(err).NotTo(HaveOccurred(), "Secret %s", s.Metadata.Name)
		key, err := pki.ParsePrivateKeyPEM(s.Data["tls.key"])
		Expect(err).NotTo(HaveOccurred(), "Secret %s", s.Metadata.Name)
		Expect(pki.PublicKeysEqual(chain[0].PublicKey, key.Public())).To(BeTrue(), "Secret %s: the key does not match the certificate", s.Metadata.Name)
		_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		Expect(err).NotTo(HaveOccurred(), "Secret %s", s.Metadata.Name)
		leafSerial[namespace+"/"+strings.TrimSuffix(s.Metadata.Name, "-tls")] = chain[0].SerialNumber.Text(16)
	}
	Expect(leafSerial).To(HaveLen(batch))

	By("no CSR is left open: those whose key went with a leader are deleted, unsigned")
	Eventually(func(g Gomega) {
		for _, csr := range csrsOf(g, namespace) {
			g.Expect(names).To(HaveKey(csr.owner), "CSR %s of a certificate that does not exist", csr.name)
			g.Expect(csr.certificate).NotTo(BeEmpty(), "CSR %s of %s is still open", csr.name, csr.owner)
		}
	}, 30*time.Second, time.Second).Should(Succeed())

	By("each certificate was written into at most one CSR, and that is the Secret's (audit log)")
	signed, created := auditedCSRs(namespace)
	var c converged
	for owner := range names {
		serials := signed[owner]
		Expect(len(serials)).To(BeNumerically("<=", 1), "%s: CSRs got %d different certificates for one issuance: %v", owner, len(serials), serials)
		if len(serials) == 0 {
			c.storedFirst++
		}
		for serial := range serials {
			Expect(serial).To(Equal(leafSerial[owner]), "%s: a CSR got a certificate that is not the Secret's", owner)
		}
		Expect(created[owner]).To(BeNumerically(">=", 1), "%s: no CSR create in the audit log", owner)
		if created[owner] > 1 {
			c.restarted++
		}
		c.mostCreated = max(c.mostCreated, created[owner])
	}
	for owner := range signed {
		Expect(names).To(HaveKey(owner), "a certificate was signed for %s, which does not exist", owner)
	}
	return c
}

// listedCSR is what the specs read of a CSR.
type listedCSR struct {
	name, owner string
	certificate []byte
}

// csrsOf lists the CSRs that certsmith made for the certificates of a namespace.
func csrsOf(g Gomega, namespace string) []listedCSR {
	out, err := quiet.Kubectl("get", "csr", "-o", "json")
	g.Expect(err).NotTo(HaveOccurred())
	var csrs struct {
		Items []struct {
			Metadata struct {
				Name        string            `json:"name"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			Status struct {
				Certificate []byte `json:"certificate"`
			} `json:"status"`
		} `json:"items"`
	}
	g.Expect(json.Unmarshal([]byte(out), &csrs)).To(Succeed())
	var listed []listedCSR
	for _, csr := range csrs.Items {
		if owner := csr.Metadata.Annotations["certsmith.io/service-certificate"]; strings.HasPrefix(owner, namespace+"/") {
			listed = append(listed, listedCSR{name: csr.Metadata.Name, owner: owner, certificate: csr.Status.Certificate})
		}
	}
	return listed
}

// auditedCSRs reads kube-apiserver's audit log: for each certificate of
// the namespace, the serials written into its CSRs by a status update the
// API server accepted, and how many CSRs were created for it (a CSR is
// named "<namespace>-<name>-" and ten characters).
func auditedCSRs(namespace string) (signed map[string]map[string]bool, created map[string]int) {
	GinkgoHelper()
	file, err := os.Open(auditLog)
	Expect(err).NotTo(HaveOccurred())
	defer file.Close()
	signed, created = map[string]map[string]bool{}, map[string]int{}
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for scanner.Scan() {
		var e struct {
			Stage     string `json:"stage"`
			Verb      string `json:"verb"`
			ObjectRef struct {
				Resource    string `json:"resource"`
				Subresource string `json:"subresource"`
				Name        string `json:"name"`
			} `json:"objectRef"`
			ResponseStatus struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
			RequestObject struct {
				Metadata struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
				Status struct {
					Certificate []byte `json:"certificate"`
				} `json:"status"`
			} `json:"requestObject"`
		}
		Expect(json.Unmarshal(scanner.Bytes(), &e)).To(Succeed())
		if e.Stage != "ResponseComplete" || e.ObjectRef.Resource != "certificatesigningrequests" || e.ResponseStatus.Code/100 != 2 {
			continue
		}
		switch {
		case e.Verb == "create":
			name := e.ObjectRef.Name
			if prefix := namespace + "-"; strings.HasPrefix(name, prefix) && len(name) > len(prefix)+11 {
				created[namespace+"/"+name[len(prefix):len(name)-11]]++
			}
		case e.ObjectRef.Subresource == "status" && len(e.RequestObject.Status.Certificate) > 0:
			owner := e.RequestObject.Metadata.Annotations["certsmith.io/service-certificate"]
			if !strings.HasPrefix(owner, namespace+"/") {
				continue
			}
			chain, err := pki.ParseCertificatesPEM(e.RequestObject.Status.Certificate)
			Expect(err).NotTo(HaveOccurred(), "the certificate written into CSR %s", e.ObjectRef.Name)
			if signed[owner] == nil {
				signed[owner] = map[string]bool{}
			}
			signed[owner][chain[0].SerialNumber.Text(16)] = true
		}
	}
	Expect(scanner.Err()).NotTo(HaveOccurred())
	return signed, created
}

// issuerRoots is the issuer's CA, from its Secret.
func issuerRoots() *x509.CertPool {
	GinkgoHelper()
	out, err := quiet.Kubectl("get", "secret", issuerName+"-ca", "-n", operatorNamespace, "-o", "jsonpath={.data.ca\\.crt}")
	Expect(err).NotTo(HaveOccurred())
	var pemBytes []byte
	Expect(json.Unmarshal([]byte(`"`+out+`"`), &pemBytes)).To(Succeed())
	certs, err := pki.ParseCertificatesPEM(pemBytes)
	Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}
