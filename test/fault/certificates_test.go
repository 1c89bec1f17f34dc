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
	"crypto/x509"
	"encoding/json"
	"fmt"
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

// expectConverged waits until every certificate of the batch is Ready and
// then checks what a fault must not leave behind: each issued exactly once
// (revision 1: no double issuance), a Secret whose key matches its
// certificate, signed by the issuer's CA, and which is the certificate of
// its newest signed CSR; no CSR still open, none of a certificate that does
// not exist, and at most maxSigned signed CSRs per certificate (one more
// than the changes of leader: a lost leader's pending keys went with it, so
// an issuance in flight starts over with a new key); maxSigned 0 bounds
// nothing. It returns how many had more than one, and the most any had.
func expectConverged(namespace string, maxSigned int) (more, most int) {
	GinkgoHelper()
	Eventually(func() int { return readyCount(namespace) }, convergeTimeout, time.Second).Should(Equal(batch))

	certs := certificates(namespace)
	Expect(certs).To(HaveLen(batch))
	for _, c := range certs {
		Expect(c.Status.Revision).To(Equal(int64(1)), "certificate %s was issued %d times", c.Metadata.Name, c.Status.Revision)
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
	tlsSecrets := 0
	leafSerial := map[string]string{}
	for _, s := range secrets.Items {
		if !strings.HasSuffix(s.Metadata.Name, "-tls") {
			continue
		}
		tlsSecrets++
		chain, err := pki.ParseCertificatesPEM(s.Data["tls.crt"])
		Expect(err).NotTo(HaveOccurred(), "Secret %s", s.Metadata.Name)
		key, err := pki.ParsePrivateKeyPEM(s.Data["tls.key"])
		Expect(err).NotTo(HaveOccurred(), "Secret %s", s.Metadata.Name)
		Expect(pki.PublicKeysEqual(chain[0].PublicKey, key.Public())).To(BeTrue(), "Secret %s: the key does not match the certificate", s.Metadata.Name)
		_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		Expect(err).NotTo(HaveOccurred(), "Secret %s", s.Metadata.Name)
		leafSerial[namespace+"/"+strings.TrimSuffix(s.Metadata.Name, "-tls")] = chain[0].SerialNumber.Text(16)
	}
	Expect(tlsSecrets).To(Equal(batch))

	out, err = quiet.Kubectl("get", "csr", "-o", "json")
	Expect(err).NotTo(HaveOccurred())
	var csrs struct {
		Items []struct {
			Metadata struct {
				Name              string            `json:"name"`
				Annotations       map[string]string `json:"annotations"`
				CreationTimestamp time.Time         `json:"creationTimestamp"`
			} `json:"metadata"`
			Status struct {
				Certificate []byte `json:"certificate"`
			} `json:"status"`
		} `json:"items"`
	}
	Expect(json.Unmarshal([]byte(out), &csrs)).To(Succeed())
	signed := map[string]int{}
	newest := map[string]time.Time{}
	newestSerial := map[string]string{}
	names := map[string]bool{}
	for _, c := range certs {
		names[namespace+"/"+c.Metadata.Name] = true
	}
	for _, csr := range csrs.Items {
		owner := csr.Metadata.Annotations["certsmith.io/service-certificate"]
		if !strings.HasPrefix(owner, namespace+"/") {
			continue
		}
		Expect(names).To(HaveKey(owner), "CSR %s of a certificate that does not exist", csr.Metadata.Name)
		Expect(csr.Status.Certificate).NotTo(BeEmpty(), "CSR %s of %s is still open", csr.Metadata.Name, owner)
		signed[owner]++
		if t := csr.Metadata.CreationTimestamp; !t.Before(newest[owner]) {
			issued, err := pki.ParseCertificatesPEM(csr.Status.Certificate)
			Expect(err).NotTo(HaveOccurred(), "CSR %s", csr.Metadata.Name)
			newest[owner], newestSerial[owner] = t, issued[0].SerialNumber.Text(16)
		}
	}
	Expect(signed).To(HaveLen(batch), "every certificate has its signed CSR")
	for owner, n := range signed {
		if maxSigned > 0 {
			Expect(n).To(BeNumerically("<=", maxSigned), "%s has %d signed CSRs for one issuance", owner, n)
		}
		if n > 1 {
			more++
		}
		most = max(most, n)
		Expect(leafSerial[owner]).To(Equal(newestSerial[owner]), "%s: the Secret does not hold the certificate of its newest CSR", owner)
	}
	return more, most
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
