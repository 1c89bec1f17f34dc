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

package controllers

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// Unit tests of the signer's check of a CSR, (*CSRReconciler).check: what it
// approves and signs, and what it denies with which reason, for CSRs made
// by hand and for those certsmith makes for ServiceCertificates. The
// cluster it reads (namespaces, Services, the API server's Service) is a
// fake client.

// unitCSRKey is the key of most test CSRs (ECDSA P-256: fast).
var unitCSRKey = func() crypto.Signer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return key
}()

// unitCSR is a PEM CSR of template, signed by key.
func unitCSR(t *testing.T, key crypto.Signer, template *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, template, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pki.PEMTypeCertificateRequest, Bytes: der})
}

// unitHugeRSACSR is a CSR for an RSA key of bits bits with a signature of
// zeros: the check must refuse the key before it spends time on the
// signature (the standard library cannot make it, as it checks what it signs).
func unitHugeRSACSR(t *testing.T, bits int) []byte {
	t.Helper()
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	n.Add(n, big.NewInt(1))
	publicKey, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	subject, err := asn1.Marshal(pkix.Name{CommonName: "api.example.com"}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	type requestInfo struct {
		Version       int
		Subject       asn1.RawValue
		PublicKey     asn1.RawValue
		RawAttributes []asn1.RawValue `asn1:"tag:0"`
	}
	type request struct {
		Info      requestInfo
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}
	der, err := asn1.Marshal(request{
		Info:      requestInfo{Subject: asn1.RawValue{FullBytes: subject}, PublicKey: asn1.RawValue{FullBytes: publicKey}, RawAttributes: []asn1.RawValue{}},
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue},
		Signature: asn1.BitString{Bytes: make([]byte, bits/8), BitLength: bits},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pki.PEMTypeCertificateRequest, Bytes: der})
}

// unitCluster is the cluster the check reads: namespaces team-a (tier
// prod) and team-b with one Service each, and the API server's Service.
func unitCluster(t *testing.T) *CSRReconciler {
	t.Helper()
	service := func(namespace, name, ip string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip, ClusterIPs: []string{ip}}}
	}
	c := unitFakeClient(t,
		unitNamespace("team-a", map[string]string{"tier": "prod"}), unitNamespace("team-b", nil), unitNamespace("default", nil),
		service("team-a", "web", "10.0.0.10"), service("team-b", "db", "10.0.0.20"), service("default", "kubernetes", "10.0.0.1"))
	return &CSRReconciler{Client: c, ClusterDomain: "cluster.local", Clock: clocktesting.NewFakePassiveClock(unitNow)}
}

// unitCSRObject is a CSR object of the issuer's signer with the given usages
// (digital signature and server auth when none).
func unitCSRObject(request []byte, usages ...certificatesv1.KeyUsage) *certificatesv1.CertificateSigningRequest {
	if len(usages) == 0 {
		usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	}
	return &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "req", UID: "csr-uid"},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: request, SignerName: "clusterissuers.certsmith.io/web", Usages: usages, Username: "alice"}}
}

func unitPolicyIssuer(p *certsmithv1alpha1.IssuerPolicy) *certsmithv1alpha1.ClusterIssuer {
	return &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: certsmithv1alpha1.ClusterIssuerSpec{Policy: p}}
}

func unitServiceCertificate(namespace, issuer string) *certsmithv1alpha1.ServiceCertificate {
	return &certsmithv1alpha1.ServiceCertificate{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "web"},
		Spec: certsmithv1alpha1.ServiceCertificateSpec{IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer}}}
}

// csrCheckCase is one CSR put to the check.
type csrCheckCase struct {
	name    string
	request *x509.CertificateRequest
	// raw replaces the request when set.
	raw    []byte
	key    crypto.Signer
	usages []certificatesv1.KeyUsage
	policy *certsmithv1alpha1.IssuerPolicy
	// owner is the ServiceCertificate certsmith made it for; nil: by hand.
	owner *certsmithv1alpha1.ServiceCertificate
	// wantReason is the denial's reason, "" when the CSR is allowed.
	wantReason  string
	wantMessage string
}

func runCSRCheck(t *testing.T, tests []csrCheckCase) {
	t.Helper()
	r := unitCluster(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw
			if raw == nil {
				key := tt.key
				if key == nil {
					key = unitCSRKey
				}
				raw = unitCSR(t, key, tt.request)
			}
			checked, problem, err := r.check(context.Background(), unitCSRObject(raw, tt.usages...), tt.owner, unitPolicyIssuer(tt.policy))
			if err != nil {
				t.Fatalf("transient error %v; want a decision", err)
			}
			switch {
			case tt.wantReason == "" && problem != nil:
				t.Fatalf("denied (%s: %s), want allowed", problem.reason, problem.message)
			case tt.wantReason == "" && checked == nil:
				t.Fatal("allowed without the checked request")
			case tt.wantReason != "" && problem == nil:
				t.Fatalf("allowed, want denied with %s (%s)", tt.wantReason, tt.wantMessage)
			case tt.wantReason != "" && (problem.reason != tt.wantReason || !strings.Contains(problem.message, tt.wantMessage)):
				t.Fatalf("denied with %s: %q, want %s with %q", problem.reason, problem.message, tt.wantReason, tt.wantMessage)
			}
		})
	}
}

func mustURL(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	return u
}

func TestCSRCheckHandMade(t *testing.T) {
	examplePolicy := &certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.example.com"}}
	cn := func(name string) pkix.Name { return pkix.Name{CommonName: name} }
	twoCNs := pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidCommonName, Value: "evil.example.org"}, {Type: oidCommonName, Value: "api.example.com"}}}
	manyNames := make([]string, 101)
	for i := range manyNames {
		manyNames[i] = fmt.Sprintf("h%d.example.com", i)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tampered := unitCSR(t, unitCSRKey, &x509.CertificateRequest{Subject: cn("api.example.com"), DNSNames: []string{"api.example.com"}})
	block, _ := pem.Decode(tampered)
	block.Bytes[len(block.Bytes)-3] ^= 0xff
	tampered = pem.EncodeToMemory(block)

	runCSRCheck(t, []csrCheckCase{
		{name: "a name the policy allows", policy: examplePolicy,
			request: &x509.CertificateRequest{Subject: cn("api.example.com"), DNSNames: []string{"api.example.com"}}},
		{name: "no policy: no name at all", request: &x509.CertificateRequest{DNSNames: []string{"api.example.com"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: `"api.example.com" is not allowed by the issuer's policy`},
		{name: "no namespace default for a CSR made by hand", request: &x509.CertificateRequest{DNSNames: []string{"web.team-a.svc"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "is not allowed by the issuer's policy"},
		{name: "a common name the policy does not allow", policy: examplePolicy,
			request:    &x509.CertificateRequest{Subject: cn("evil.example.org"), DNSNames: []string{"api.example.com"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "(common name)"},
		{name: "two common names, the last one allowed", policy: examplePolicy,
			request:    &x509.CertificateRequest{Subject: twoCNs, DNSNames: []string{"api.example.com"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "more than one common name"},
		{name: "the API server's name under a wildcard rule", policy: &certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.default.svc"}},
			request:    &x509.CertificateRequest{DNSNames: []string{"kubernetes.default.svc"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "a name of the Kubernetes API server"},
		{name: "the API server's name listed exactly", policy: &certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"kubernetes.default.svc"}},
			request: &x509.CertificateRequest{DNSNames: []string{"kubernetes.default.svc"}}},
		{name: "a wildcard covering the API server's name, listed exactly", policy: &certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.default.svc"}},
			request: &x509.CertificateRequest{DNSNames: []string{"*.default.svc"}}},
		{name: "the API server's cluster IP inside an allowed range", policy: &certsmithv1alpha1.IssuerPolicy{IPRanges: []string{"10.0.0.0/8"}},
			request:    &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "cluster IP of the Kubernetes API server"},
		{name: "the API server's cluster IP listed exactly", policy: &certsmithv1alpha1.IssuerPolicy{IPRanges: []string{"10.0.0.1/32"}},
			request: &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}}},
		{name: "an IP in an allowed range", policy: &certsmithv1alpha1.IssuerPolicy{IPRanges: []string{"192.168.0.0/16"}},
			request: &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("192.168.1.1")}}},
		{name: "an IP outside the ranges", policy: &certsmithv1alpha1.IssuerPolicy{IPRanges: []string{"192.168.0.0/16"}},
			request:    &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("10.0.0.10")}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "is not in an IP range of the issuer's policy"},
		{name: "a URI the policy allows", policy: &certsmithv1alpha1.IssuerPolicy{URIs: []string{"spiffe://cluster.local/ns/*/sa/*"}},
			request: &x509.CertificateRequest{URIs: []*url.URL{mustURL("spiffe://cluster.local/ns/team-a/sa/web")}}},
		{name: "a URI it does not", policy: &certsmithv1alpha1.IssuerPolicy{URIs: []string{"spiffe://cluster.local/ns/*/sa/*"}},
			request:    &x509.CertificateRequest{URIs: []*url.URL{mustURL("spiffe://evil.org/ns/team-a/sa/web")}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "URI patterns"},
		{name: "an email address", policy: examplePolicy,
			request:    &x509.CertificateRequest{DNSNames: []string{"api.example.com"}, EmailAddresses: []string{"root@example.com"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "email addresses are not allowed"},
		{name: "a CA without allowCA", policy: examplePolicy, usages: []certificatesv1.KeyUsage{certificatesv1.UsageCertSign},
			request:    &x509.CertificateRequest{Subject: cn("Team CA")},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "which the issuer's policy does not allow (allowCA)"},
		{name: "a CA with allowCA, its common name a label", policy: &certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.example.com"}, AllowCA: true},
			usages: []certificatesv1.KeyUsage{certificatesv1.UsageCertSign, certificatesv1.UsageCRLSign}, request: &x509.CertificateRequest{Subject: cn("Team CA")}},
		{name: "a usage outside the defaults", policy: examplePolicy, usages: []certificatesv1.KeyUsage{certificatesv1.UsageCodeSigning},
			request:    &x509.CertificateRequest{DNSNames: []string{"api.example.com"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: `"code signing" is not an allowed usage`},
		{name: "a usage outside the policy's usages", policy: &certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.example.com"}, Usages: []certsmithv1alpha1.KeyUsage{"digital signature", "server auth"}},
			usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}, request: &x509.CertificateRequest{DNSNames: []string{"api.example.com"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: `"client auth" is not an allowed usage`},
		{name: "system:masters", policy: examplePolicy,
			request:    &x509.CertificateRequest{Subject: pkix.Name{Organization: []string{"system:masters"}}, DNSNames: []string{"api.example.com"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "has a meaning for Kubernetes"},
		{name: "system:masters, listed exactly", policy: &certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.example.com"},
			Subject: &certsmithv1alpha1.SubjectPolicy{Organizations: []string{"system:masters"}}},
			request: &x509.CertificateRequest{Subject: pkix.Name{Organization: []string{"system:masters"}}, DNSNames: []string{"api.example.com"}}},
		{name: "a subject attribute certsmith does not issue", policy: examplePolicy,
			request: &x509.CertificateRequest{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: []int{2, 5, 4, 5}, Value: "serial"}}},
				DNSNames: []string{"api.example.com"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "is a subject attribute certsmith does not issue"},
		{name: "more than 100 names, in a short message", policy: examplePolicy, request: &x509.CertificateRequest{DNSNames: manyNames},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "101 names\" are more than the 100"},
		{name: "more than policy.maxNames", policy: &certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.example.com"}, MaxNames: ptr.To[int32](2)},
			request:    &x509.CertificateRequest{DNSNames: manyNames[:3]},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "more than the 2"},
		{name: "a DNS name with an empty label", policy: examplePolicy, request: &x509.CertificateRequest{DNSNames: []string{"a..example.com"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed},
		{name: "an invalid policy denies everything", policy: &certsmithv1alpha1.IssuerPolicy{IPRanges: []string{"10.0.0.0/33"}},
			request:    &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("10.0.0.5")}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "ClusterIssuer web has an invalid policy"},
		{name: "more than 64 KiB, not parsed", raw: make([]byte, MaxCSRBytes+1),
			wantReason: certsmithv1alpha1.ReasonCSRMalformed, wantMessage: "larger than the 65536 bytes"},
		{name: "not a CSR", raw: []byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
			wantReason: certsmithv1alpha1.ReasonCSRMalformed},
		{name: "no PEM at all", raw: []byte("hello"), wantReason: certsmithv1alpha1.ReasonCSRMalformed},
		{name: "a signature that does not verify", raw: tampered, policy: examplePolicy, wantReason: certsmithv1alpha1.ReasonCSRMalformed},
		{name: "a P-224 key", key: p224, policy: examplePolicy, request: &x509.CertificateRequest{DNSNames: []string{"api.example.com"}},
			wantReason: certsmithv1alpha1.ReasonCSRUnsupportedKey},
		{name: "an RSA key over 4096 bits, refused before its signature is checked", raw: unitHugeRSACSR(t, 8192), policy: examplePolicy,
			wantReason: certsmithv1alpha1.ReasonCSRUnsupportedKey, wantMessage: "4096"},
	})
}

func TestCSRCheckServiceCertificate(t *testing.T) {
	mine := unitServiceCertificate("team-a", "web")
	runCSRCheck(t, []csrCheckCase{
		{name: "its own Service's names and cluster IP", owner: mine,
			request: &x509.CertificateRequest{Subject: pkix.Name{CommonName: "web.team-a.svc"},
				DNSNames: []string{"web.team-a.svc", "web.team-a.svc.cluster.local"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.10")}}},
		{name: "any name of its own namespace's service domain", owner: mine,
			request: &x509.CertificateRequest{DNSNames: []string{"other.team-a.svc"}}},
		{name: "another namespace's name", owner: mine, request: &x509.CertificateRequest{DNSNames: []string{"db.team-b.svc"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "is outside namespace team-a's service domain"},
		{name: "a short name", owner: mine, request: &x509.CertificateRequest{DNSNames: []string{"web"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed},
		{name: "another namespace's cluster IP", owner: mine, request: &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("10.0.0.20")}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "is not the cluster IP of a Service in namespace team-a"},
		{name: "a policy that widens the names", owner: mine, policy: &certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.example.com"}},
			request: &x509.CertificateRequest{DNSNames: []string{"web.team-a.svc", "www.example.com"}}},
		{name: "the API server's name from namespace default", owner: unitServiceCertificate("default", "web"),
			request:    &x509.CertificateRequest{DNSNames: []string{"kubernetes.default.svc"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "a name of the Kubernetes API server"},
		{name: "a wildcard of namespace default, which covers the API server's name", owner: unitServiceCertificate("default", "web"),
			request:    &x509.CertificateRequest{DNSNames: []string{"*.default.svc"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "is (or covers) kubernetes.default.svc"},
		{name: "the API server's cluster IP from namespace default", owner: unitServiceCertificate("default", "web"),
			request:    &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "cluster IP of the Kubernetes API server"},
		{name: "a ServiceCertificate of another issuer", owner: unitServiceCertificate("team-a", "other"),
			request:    &x509.CertificateRequest{DNSNames: []string{"web.team-a.svc"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "ServiceCertificate team-a/web uses ClusterIssuer other, not web"},
		{name: "a namespace the selector serves", owner: mine,
			policy:  &certsmithv1alpha1.IssuerPolicy{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}}},
			request: &x509.CertificateRequest{DNSNames: []string{"web.team-a.svc"}}},
		{name: "a namespace the selector does not serve", owner: mine,
			policy:     &certsmithv1alpha1.IssuerPolicy{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "dev"}}},
			request:    &x509.CertificateRequest{DNSNames: []string{"web.team-a.svc"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "does not serve namespace team-a"},
		{name: "an invalid namespace selector", owner: mine,
			policy: &certsmithv1alpha1.IssuerPolicy{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "tier", Operator: "Near"}}}},
			request:    &x509.CertificateRequest{DNSNames: []string{"web.team-a.svc"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "has an invalid namespaceSelector"},
		{name: "never a CA, whatever allowCA says", owner: mine, policy: &certsmithv1alpha1.IssuerPolicy{AllowCA: true},
			usages:     []certificatesv1.KeyUsage{certificatesv1.UsageCertSign},
			request:    &x509.CertificateRequest{DNSNames: []string{"web.team-a.svc"}},
			wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "(allowCA)"},
	})

	// A namespace that cannot be read is a transient failure, not a denial.
	r := unitCluster(t)
	raw := unitCSR(t, unitCSRKey, &x509.CertificateRequest{DNSNames: []string{"web.gone.svc"}})
	issuer := unitPolicyIssuer(&certsmithv1alpha1.IssuerPolicy{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}}})
	if _, problem, err := r.check(context.Background(), unitCSRObject(raw), unitServiceCertificate("gone", "web"), issuer); err == nil || problem != nil {
		t.Fatalf("a namespace that does not exist: problem %v err %v, want a transient error", problem, err)
	}
}

func TestCSRCheckOwnership(t *testing.T) {
	r := &CSRReconciler{Username: "system:serviceaccount:certsmith-system:certsmith"}
	annotated := func(username string) *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{
			Annotations: map[string]string{certsmithv1alpha1.AnnotationServiceCertificate: "team-a/web"},
			Labels:      map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue}},
			Spec: certificatesv1.CertificateSigningRequestSpec{Username: username}}
	}
	if !r.isOwn(annotated(r.Username)) {
		t.Fatal("certsmith's own CSR is not taken for its own")
	}
	if r.isOwn(annotated("alice")) {
		t.Fatal("a tenant's CSR annotated as a ServiceCertificate's is taken for certsmith's (and approved by the namespace default)")
	}
	if r.isOwn(&certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{Username: r.Username}}) {
		t.Fatal("a CSR of certsmith's identity without a ServiceCertificate is taken for a ServiceCertificate's")
	}
	if (&CSRReconciler{}).isOwn(annotated("")) {
		t.Fatal("without a known identity, an anonymous CSR is taken for certsmith's")
	}
}

func TestCSRCheckAutoApproval(t *testing.T) {
	policy := &certsmithv1alpha1.IssuerPolicy{AutoApprove: &certsmithv1alpha1.AutoApprovePolicy{
		Users: []string{"alice"}, Groups: []string{"team-a:deployers"}, ServiceAccounts: []string{"ci/builder", "malformed"}}}
	tests := []struct {
		name     string
		policy   *certsmithv1alpha1.IssuerPolicy
		username string
		groups   []string
		want     bool
	}{
		{name: "a named user", policy: policy, username: "alice", want: true},
		{name: "a member of a named group", policy: policy, username: "bob", groups: []string{"system:authenticated", "team-a:deployers"}, want: true},
		{name: "a named ServiceAccount", policy: policy, username: "system:serviceaccount:ci:builder", want: true},
		{name: "a ServiceAccount of the same name elsewhere", policy: policy, username: "system:serviceaccount:team-b:builder"},
		{name: "a ServiceAccount entry without a slash names nobody", policy: policy, username: "system:serviceaccount:malformed:"},
		{name: "someone else", policy: policy, username: "mallory", groups: []string{"system:authenticated"}},
		{name: "a group named like a user", policy: policy, username: "mallory", groups: []string{"alice"}},
		{name: "no autoApprove", policy: &certsmithv1alpha1.IssuerPolicy{}, username: "alice"},
		{name: "no policy", username: "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{Username: tt.username, Groups: tt.groups}}
			if got := autoApproves(unitPolicyIssuer(tt.policy), csr); got != tt.want {
				t.Fatalf("auto-approved %v, want %v", got, tt.want)
			}
		})
	}

	for _, tt := range []struct {
		name     string
		approval certsmithv1alpha1.ApprovalMode
		policy   *certsmithv1alpha1.IssuerPolicy
		inactive bool
	}{
		{name: "manual approval", approval: certsmithv1alpha1.ApprovalManual},
		{name: "auto with requesters", approval: certsmithv1alpha1.ApprovalAuto, policy: policy},
		{name: "auto without policy", approval: certsmithv1alpha1.ApprovalAuto, inactive: true},
		{name: "auto with an empty list", approval: certsmithv1alpha1.ApprovalAuto, policy: &certsmithv1alpha1.IssuerPolicy{AutoApprove: &certsmithv1alpha1.AutoApprovePolicy{}}, inactive: true},
	} {
		issuer := unitPolicyIssuer(tt.policy)
		issuer.Spec.Approval = tt.approval
		if message := autoApprovalInactive(issuer); (message != "") != tt.inactive || (tt.inactive && !strings.Contains(message, "spec.policy.autoApprove")) {
			t.Errorf("%s: inactive message %q, want inactive %v", tt.name, message, tt.inactive)
		}
	}
}

func TestCSRCheckDurationCap(t *testing.T) {
	day := 24 * time.Hour
	for _, tt := range []struct {
		name      string
		max       *metav1.Duration
		requested time.Duration
		want      time.Duration
	}{
		{name: "no cap", requested: 400 * day, want: 400 * day},
		{name: "under the cap", max: &metav1.Duration{Duration: 30 * day}, requested: 7 * day, want: 7 * day},
		{name: "over the cap", max: &metav1.Duration{Duration: 30 * day}, requested: 365 * day, want: 30 * day},
	} {
		issuer := unitPolicyIssuer(&certsmithv1alpha1.IssuerPolicy{MaxDuration: tt.max})
		if got := maxDuration(issuer, tt.requested); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	if got := maxDuration(unitPolicyIssuer(nil), 400*day); got != 400*day {
		t.Errorf("no policy: %s", got)
	}
}

// TestCSRCheckDecision puts the check's answer on the CSR: the approval
// condition's reason and message, and a Warning Event for a denial.
func TestCSRCheckDecision(t *testing.T) {
	allowed := unitCSR(t, unitCSRKey, &x509.CertificateRequest{DNSNames: []string{"web.team-a.svc"}})
	denied := unitCSR(t, unitCSRKey, &x509.CertificateRequest{DNSNames: []string{"db.team-b.svc"}})
	tests := []struct {
		name        string
		request     []byte
		owner       *certsmithv1alpha1.ServiceCertificate
		policy      *certsmithv1alpha1.IssuerPolicy
		wantType    certificatesv1.RequestConditionType
		wantReason  string
		wantMessage string
	}{
		{name: "a ServiceCertificate's", request: allowed, owner: unitServiceCertificate("team-a", "web"),
			wantType: certificatesv1.CertificateApproved, wantReason: certsmithv1alpha1.ReasonCSRApproved, wantMessage: "for ServiceCertificate team-a/web"},
		{name: "by policy", request: denied, policy: &certsmithv1alpha1.IssuerPolicy{DNSNames: []string{"*.team-b.svc"}},
			wantType: certificatesv1.CertificateApproved, wantReason: certsmithv1alpha1.ReasonCSRApproved, wantMessage: "allowed by the policy of ClusterIssuer web"},
		{name: "denied", request: denied, owner: unitServiceCertificate("team-a", "web"),
			wantType: certificatesv1.CertificateDenied, wantReason: certsmithv1alpha1.ReasonCSRNotAllowed, wantMessage: "outside namespace team-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := unitCluster(t)
			csr := unitCSRObject(tt.request)
			if err := r.Create(context.Background(), csr); err != nil {
				t.Fatal(err)
			}
			recorder := events.NewFakeRecorder(10)
			r.Recorder, r.recent = recorder, newRecentlyFinished(r.Clock)
			approved, err := r.decide(context.Background(), csr, tt.owner, unitPolicyIssuer(tt.policy))
			if err != nil {
				t.Fatal(err)
			}
			stored := &certificatesv1.CertificateSigningRequest{}
			if err := r.Get(context.Background(), client.ObjectKeyFromObject(csr), stored); err != nil {
				t.Fatal(err)
			}
			if len(stored.Status.Conditions) != 1 {
				t.Fatalf("conditions %+v", stored.Status.Conditions)
			}
			c := stored.Status.Conditions[0]
			if approved != (tt.wantType == certificatesv1.CertificateApproved) || c.Type != tt.wantType || c.Reason != tt.wantReason ||
				!strings.Contains(c.Message, tt.wantMessage) || !c.LastUpdateTime.Time.Equal(unitNow) {
				t.Fatalf("approved %v, condition %+v; want %s %s %q", approved, c, tt.wantType, tt.wantReason, tt.wantMessage)
			}
			evts := unitEvents(recorder)
			if denial := tt.wantType == certificatesv1.CertificateDenied; denial != (len(evts) == 1) ||
				denial && !strings.HasPrefix(evts[0], corev1.EventTypeWarning+" "+tt.wantReason+" ") {
				t.Fatalf("events %q", evts)
			}
			if tt.wantType == certificatesv1.CertificateDenied && !r.recent.has(csr.UID) {
				t.Fatal("a denied CSR is not remembered as finished")
			}
		})
	}
}

// A CSR that waits because auto approval does not name its requester is
// told so once an hour, not at every reconcile.
func TestAutoApprovalSkippedOncePerHour(t *testing.T) {
	r := unitCluster(t)
	clock := clocktesting.NewFakeClock(unitNow)
	r.Clock = clock
	recorder := events.NewFakeRecorder(10)
	r.Recorder, r.skipWarned = recorder, newUIDMemory(r.Clock, skipWarningTTL)
	csr := unitCSRObject(nil)
	issuer := unitPolicyIssuer(nil)
	for range 3 {
		r.warnAutoApprovalSkipped(csr, issuer)
	}
	if evts := unitEvents(recorder); len(evts) != 1 || !strings.HasPrefix(evts[0], corev1.EventTypeWarning+" "+certsmithv1alpha1.ReasonAutoApprovalSkipped+" ") {
		t.Fatalf("events %q, want one AutoApprovalSkipped", evts)
	}
	other := unitCSRObject(nil)
	other.UID = "other-uid"
	r.warnAutoApprovalSkipped(other, issuer)
	if evts := unitEvents(recorder); len(evts) != 1 {
		t.Fatalf("events %q: another CSR is told too", evts)
	}
	clock.Step(skipWarningTTL + time.Second)
	r.warnAutoApprovalSkipped(csr, issuer)
	if evts := unitEvents(recorder); len(evts) != 1 {
		t.Fatalf("events %q: told again after an hour", evts)
	}
}

// The record of told CSRs is bounded: past maxRemembered it remembers
// nothing new, so a flood of CSRs costs bounded memory.
func TestUIDMemoryBounded(t *testing.T) {
	m := newUIDMemory(clocktesting.NewFakePassiveClock(unitNow), time.Hour)
	for i := range maxRemembered + 50 {
		m.add(types.UID(fmt.Sprint(i)), unitNow)
	}
	if len(m.uids) != maxRemembered {
		t.Fatalf("%d remembered, want %d", len(m.uids), maxRemembered)
	}
	if m.has(types.UID(fmt.Sprint(maxRemembered + 10))) {
		t.Fatal("an entry past the bound is remembered")
	}
}
