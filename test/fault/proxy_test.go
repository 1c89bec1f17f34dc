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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
)

// slowProxy sits between the managers and kube-apiserver: it delays every
// request, and, while throttling, answers a share of the requests that are
// not watches with 429 Too Many Requests and Retry-After, as API Priority
// and Fairness does when a priority level is full.
type slowProxy struct {
	server *httptest.Server
	delay  time.Duration
	// every is the share of throttled requests: one in every.
	every      int64
	throttling atomic.Bool
	requests   atomic.Int64
	throttled  atomic.Int64
	mu         sync.Mutex
	byVerb     map[string]int64
}

// startSlowProxy proxies to the API server of the kubeconfig at upstream,
// with a certificate of its own, and writes a kubeconfig like it (the same
// credentials) that points at the proxy to path.
func startSlowProxy(upstream, path string, delay time.Duration, every int64) *slowProxy {
	GinkgoHelper()
	cfg, err := clientcmd.LoadFromFile(upstream)
	Expect(err).NotTo(HaveOccurred())
	context := cfg.Contexts[cfg.CurrentContext]
	cluster := cfg.Clusters[context.Cluster]
	target, err := url.Parse(cluster.Server)
	Expect(err).NotTo(HaveOccurred())
	roots := x509.NewCertPool()
	Expect(roots.AppendCertsFromPEM(cluster.CertificateAuthorityData)).To(BeTrue(), "the kubeconfig embeds its CA")

	p := &slowProxy{delay: delay, every: every, byVerb: map[string]int64{}}
	reverse := httputil.NewSingleHostReverseProxy(target)
	reverse.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	reverse.FlushInterval = -1 // watches stream
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.requests.Add(1)
		watch := r.URL.Query().Get("watch") == "true"
		p.mu.Lock()
		p.byVerb[r.Method]++
		p.mu.Unlock()
		if !watch {
			time.Sleep(p.delay)
			if p.throttling.Load() && n%p.every == 0 {
				p.throttled.Add(1)
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too many requests (fault suite)","reason":"TooManyRequests","code":429}`))
				return
			}
		}
		reverse.ServeHTTP(w, r)
	})
	p.server = httptest.NewUnstartedServer(handler)
	certPEM, keyPEM := selfSignedServing()
	serving, err := tls.X509KeyPair(certPEM, keyPEM)
	Expect(err).NotTo(HaveOccurred())
	p.server.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	p.server.EnableHTTP2 = true
	p.server.StartTLS()

	cluster.Server = p.server.URL
	cluster.CertificateAuthority = ""
	cluster.CertificateAuthorityData = certPEM
	Expect(clientcmd.WriteToFile(*cfg, path)).To(Succeed())
	return p
}

// close ends the proxy, watches through it included.
func (p *slowProxy) close() {
	p.server.CloseClientConnections()
	p.server.Close()
}

// selfSignedServing makes a certificate for 127.0.0.1 that is its own CA.
func selfSignedServing() (certPEM, keyPEM []byte) {
	GinkgoHelper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fault suite proxy"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	Expect(err).NotTo(HaveOccurred())
	keyDER, err := x509.MarshalECPrivateKey(key)
	Expect(err).NotTo(HaveOccurred())
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// verbs says how many requests of each method went through.
func (p *slowProxy) verbs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	parts := []string{}
	for verb, n := range p.byVerb {
		parts = append(parts, verb+"="+itoa(n))
	}
	return strings.Join(parts, " ")
}

func itoa(n int64) string { return big.NewInt(n).String() }
