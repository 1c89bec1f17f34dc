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
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/certsmith/certsmith/internal/pki"
)

const (
	rotationIssuer    = "fault-rotate"
	rotationNamespace = "fault-rotate"
	rotationHost      = "server." + rotationNamespace + ".svc"
	// trafficInterval is how often the server reloads its Secret and the
	// client re-reads the bundle and handshakes.
	trafficInterval = 300 * time.Millisecond
)

// A CA rotation, with the leader killed in each of its phases, under live
// TLS traffic: a client that trusts only the issuer's bundle ConfigMap
// handshakes with a server that reloads its Secret, and not one handshake
// may fail. A spec of the Faults container.
func rotationWithKills() {
	_, err := cluster.KubectlWithInput(fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[2]s
---
apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: %[1]s
spec:
  bundle:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: %[2]s
  rotation:
    propagationDelay: 5s
    reissueWindow: 5s
  ca:
    selfSigned:
      subject:
        commonName: certsmith fault rotation CA
---
apiVersion: certsmith.io/v1alpha1
kind: ServiceCertificate
metadata:
  name: server
  namespace: %[2]s
spec:
  issuerRef:
    name: %[1]s
  dnsNames:
  - %[3]s
  duration: 10m
`, rotationIssuer, rotationNamespace, rotationHost), "apply", "--server-side", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		_, _ = quiet.Kubectl("delete", "namespace", rotationNamespace, "--wait=false")
		_, _ = quiet.Kubectl("delete", "clusterissuer", rotationIssuer, "--wait=false")
	})
	_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", rotationNamespace, "servicecertificate/server")
	Expect(err).NotTo(HaveOccurred())
	oldSerial := currentSerial()

	By("serving the Secret's certificate and handshaking with a client that trusts only the bundle ConfigMap")
	traffic := startTraffic()
	DeferCleanup(func() { traffic.stop() })
	Eventually(func() int { return traffic.successes() }, time.Minute, trafficInterval).Should(BeNumerically(">=", 3))

	By("requesting a rotation; killing the leader while the next CA is published")
	_, err = cluster.Kubectl("annotate", "clusterissuer", rotationIssuer, "--overwrite",
		"certsmith.io/rotate-requested-at="+time.Now().UTC().Format(time.RFC3339))
	Expect(err).NotTo(HaveOccurred())
	waitPhase("Publishing")
	first := leaderIndex()
	killReplica(first)
	Expect(rotationPhase()).To(Equal("Publishing"), "the kill came in another phase")
	startReplica(first)

	By("killing the new leader once signing has switched to the new CA (Retiring)")
	waitPhase("Retiring")
	second := leaderIndex()
	killReplica(second)
	Expect(rotationPhase()).To(Equal("Retiring"), "the kill came in another phase")
	startReplica(second)

	By("the certificate re-issued by the new CA, and the client still handshaking")
	Eventually(func() bool { s := currentSerial(); return s != "" && s != oldSerial }, 2*time.Minute, time.Second).Should(BeTrue())
	newSerial := currentSerial()
	Eventually(func() int { return traffic.successesWith(newSerial) }, time.Minute, trafficInterval).Should(BeNumerically(">=", 3))
	results := traffic.stop()
	AddReportEntry("rotation with the leader killed twice", fmt.Sprintf("handshakes %d, failed %d; with the old certificate %d, the new %d",
		results.total, len(results.failures), results.bySerial[oldSerial], results.bySerial[newSerial]))
	Expect(results.failures).To(BeEmpty(), "failed handshakes")
	Expect(results.bySerial[oldSerial]).To(BeNumerically(">=", 3))
}

// currentSerial is the serial of the certificate in the server's Secret.
func currentSerial() string {
	leaf, _ := readServerSecret()
	if leaf == nil {
		return ""
	}
	return leaf.Leaf.SerialNumber.Text(16)
}

// readServerSecret reads the server's Secret as a TLS certificate.
func readServerSecret() (*tls.Certificate, error) {
	out, err := quiet.Kubectl("get", "secret", "server-tls", "-n", rotationNamespace, "-o", "json")
	if err != nil {
		return nil, err
	}
	var s struct {
		Data map[string][]byte `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

// rotationPhase is the issuer's rotation phase ("" while unknown).
func rotationPhase() string {
	out, _ := quiet.Kubectl("get", "clusterissuer", rotationIssuer, "-o", "jsonpath={.status.rotation.phase}")
	return out
}

// waitPhase waits for the issuer's rotation to reach a phase.
func waitPhase(phase string) {
	GinkgoHelper()
	Eventually(rotationPhase, 2*time.Minute, 200*time.Millisecond).Should(Equal(phase))
}

// traffic is a TLS server that reloads the Secret and a client that
// handshakes with it, trusting only the bundle ConfigMap.
type traffic struct {
	listener net.Listener
	current  atomic.Pointer[tls.Certificate]
	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu       sync.Mutex
	total    int
	failures []string
	bySerial map[string]int
}

func startTraffic() *traffic {
	GinkgoHelper()
	t := &traffic{done: make(chan struct{}), bySerial: map[string]int{}}
	cert, err := readServerSecret()
	Expect(err).NotTo(HaveOccurred())
	t.current.Store(cert)
	t.listener, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return t.current.Load(), nil },
		MinVersion:     tls.VersionTLS12,
	})
	Expect(err).NotTo(HaveOccurred())
	t.wg.Add(3)
	go func() { // the server
		defer t.wg.Done()
		for {
			conn, err := t.listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = conn.Close() }()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				_ = conn.(*tls.Conn).Handshake()
			}()
		}
	}()
	go func() { // the kubelet's refresh of a Secret volume
		defer t.wg.Done()
		for t.wait() {
			if cert, err := readServerSecret(); err == nil {
				t.current.Store(cert)
			}
		}
	}()
	go func() { // the client
		defer t.wg.Done()
		var roots *x509.CertPool
		for t.wait() {
			if pool := readBundlePool(); pool != nil {
				roots = pool // a failed read keeps the last bundle, as a mounted file would
			}
			if roots == nil {
				continue
			}
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", t.listener.Addr().String(),
				&tls.Config{RootCAs: roots, ServerName: rotationHost, MinVersion: tls.VersionTLS12})
			t.mu.Lock()
			t.total++
			if err != nil {
				t.failures = append(t.failures, fmt.Sprintf("%s: %v", time.Now().UTC().Format(time.RFC3339Nano), err))
			} else {
				t.bySerial[conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)]++
				_ = conn.Close()
			}
			t.mu.Unlock()
		}
	}()
	return t
}

// wait waits one interval and says whether to go on.
func (t *traffic) wait() bool {
	select {
	case <-t.done:
		return false
	case <-time.After(trafficInterval):
		return true
	}
}

func (t *traffic) successes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.bySerial {
		n += c
	}
	return n
}

func (t *traffic) successesWith(serial string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bySerial[serial]
}

// trafficResults is what the client saw.
type trafficResults struct {
	total    int
	failures []string
	bySerial map[string]int
}

func (t *traffic) stop() trafficResults {
	t.stopOnce.Do(func() {
		close(t.done)
		_ = t.listener.Close()
	})
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	return trafficResults{total: t.total, failures: append([]string(nil), t.failures...), bySerial: t.bySerial}
}

// readBundlePool reads the bundle ConfigMap's ca.crt; nil when it cannot.
func readBundlePool() *x509.CertPool {
	out, err := quiet.Kubectl("get", "configmap", rotationIssuer+"-ca", "-n", rotationNamespace, "-o", "json")
	if err != nil {
		return nil
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if json.Unmarshal([]byte(out), &cm) != nil {
		return nil
	}
	certs, err := pki.ParseCertificatesPEM([]byte(cm.Data["ca.crt"]))
	if err != nil || len(certs) == 0 {
		return nil
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}
