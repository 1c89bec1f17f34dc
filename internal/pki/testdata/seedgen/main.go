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

// Command seedgen writes the checked-in seed corpora of the fuzz targets of
// internal/pki and internal/policy (testdata/fuzz/<target>/ of each): the
// hostile inputs a tenant can send, such as two common names, 4,000 names,
// NUL bytes and empty labels, an RSA-7680 key and huge PEM. It uses only the
// standard library, so the seeds do not depend on the code they test. Keys
// are fresh on every run, so a run rewrites every file that holds one:
//
//	go run ./internal/pki/testdata/seedgen .
package main

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// root is the repository to write into.
var root = os.Args[1]

func write(pkg, target, name string, args ...any) {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		default:
			log.Fatalf("type %T", a)
		}
	}
	dir := filepath.Join(root, "internal", pkg, "testdata", "fuzz", target)
	must(os.MkdirAll(dir, 0o755))
	must(os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func csr(key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	must(err)
	return pemOf("CERTIFICATE REQUEST", der)
}

func ecKey(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	must(err)
	return k
}

func rsaKey(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	must(err)
	return k
}

var (
	now    = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	serial = int64(1)
	oidCN  = asn1.ObjectIdentifier{2, 5, 4, 3}
)

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func issue(parent *ca, pub crypto.PublicKey, tmpl *x509.Certificate) *x509.Certificate {
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(90*24*time.Hour)
	}
	signerCert, signerKey := tmpl, crypto.Signer(nil)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	if signerKey == nil {
		log.Fatal("no signer")
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, pub, signerKey)
	must(err)
	cert, err := x509.ParseCertificate(der)
	must(err)
	return cert
}

func newRoot(name string) *ca {
	key := ecKey(elliptic.P256())
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour)}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	must(err)
	cert, err := x509.ParseCertificate(der)
	must(err)
	return &ca{cert, key}
}

func leaf(parent *ca, pub crypto.PublicKey, dnsNames ...string) *x509.Certificate {
	cn := ""
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	return issue(parent, pub, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: dnsNames,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
}

func pkcs1(k *rsa.PrivateKey) []byte { return pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k)) }
func sec1(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	must(err)
	return pemOf("EC PRIVATE KEY", der)
}
func pkcs8(k any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	must(err)
	return pemOf("PRIVATE KEY", der)
}
func certsPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pemOf("CERTIFICATE", c.Raw)...)
	}
	return out
}

func main() {
	log.Print("generating RSA-7680 (slow)")
	rsa7680 := rsaKey(7680)
	rsa2048 := rsaKey(2048)
	p256 := ecKey(elliptic.P256())
	p224 := ecKey(elliptic.P224())
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	must(err)
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	must(err)

	rootCA := newRoot("fuzz root")
	interKey := ecKey(elliptic.P256())
	inter := &ca{issue(rootCA, interKey.Public(), &x509.Certificate{Subject: pkix.Name{CommonName: "fuzz intermediate"}, IsCA: true,
		BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign}), interKey}

	// --- FuzzParseCSR ---
	const t1 = "FuzzParseCSR"
	write("pki", t1, "two-common-names", csr(p256, &x509.CertificateRequest{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: oidCN, Value: "web.a.svc"}, {Type: oidCN, Value: "evil.example"}}}, DNSNames: []string{"web.a.svc"}}))
	many := make([]string, 4000)
	for i := range many {
		many[i] = fmt.Sprintf("n%d.a.svc", i)
	}
	write("pki", t1, "four-thousand-names", csr(p256, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "n0.a.svc"}, DNSNames: many}))
	write("pki", t1, "nul-in-dns-name", csr(p256, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "evil.example\x00.a.svc"},
		DNSNames: []string{"evil.example\x00.a.svc"}}))
	write("pki", t1, "empty-labels", csr(p256, &x509.CertificateRequest{DNSNames: []string{"a..b.a.svc", ".a.svc", "web.a.svc."}}))
	write("pki", t1, "rsa-7680-key", csr(rsa7680, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "big.a.svc"}, DNSNames: []string{"big.a.svc"}}))
	write("pki", t1, "ed25519-key-with-uri-ip-email", csr(ed, &x509.CertificateRequest{DNSNames: []string{"web.a.svc"},
		IPAddresses: []net.IP{net.ParseIP("10.96.0.10"), net.ParseIP("fd00::10")},
		URIs:        []*url.URL{{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/a/sa/web"}}, EmailAddresses: []string{"root@example.com"}}))
	write("pki", t1, "p224-key-unsupported", csr(p224, &x509.CertificateRequest{DNSNames: []string{"web.a.svc"}}))
	legacy := csr(rsa2048, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "legacy.a.svc"}})
	write("pki", t1, "legacy-block-type", bytes.ReplaceAll(legacy, []byte("CERTIFICATE REQUEST"), []byte("NEW CERTIFICATE REQUEST")))
	good := csr(p256, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "web.a.svc"}, DNSNames: []string{"web.a.svc"}})
	write("pki", t1, "after-a-certificate-block", append(certsPEM(rootCA.cert), good...))
	block, _ := pem.Decode(good)
	tampered := bytes.Clone(block.Bytes)
	copy(tampered[bytes.Index(tampered, []byte("web.a.svc")):], "web.b.svc")
	write("pki", t1, "tampered-name-bad-signature", pemOf("CERTIFICATE REQUEST", tampered))
	write("pki", t1, "certificate-not-a-request", pemOf("CERTIFICATE REQUEST", rootCA.cert.Raw))

	// --- FuzzParseCertificatesPEM ---
	const t2 = "FuzzParseCertificatesPEM"
	leafCert := leaf(inter, p256.Public(), "web.a.svc", "web.a.svc.cluster.local")
	write("pki", t2, "leaf-intermediate-root", certsPEM(leafCert, inter.cert, rootCA.cert))
	var huge []byte
	for len(huge) < 150_000 {
		huge = append(huge, certsPEM(leafCert)...)
	}
	write("pki", t2, "huge-pem-many-certificates", huge)
	write("pki", t2, "huge-pem-one-garbage-block", pemOf("CERTIFICATE", bytes.Repeat([]byte{0x30, 0x82, 0xff, 0xff}, 24_000)))
	write("pki", t2, "key-block-before-certificate", append(sec1(p256), certsPEM(leaf(inter, p256.Public(), "web.a.svc"))...))
	write("pki", t2, "nul-in-dns-name", certsPEM(leaf(inter, p256.Public(), "evil.example\x00.a.svc")))
	write("pki", t2, "trailing-data-in-block", pemOf("CERTIFICATE", append(bytes.Clone(leafCert.Raw), 0, 0)))
	write("pki", t2, "block-with-headers", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"Note": "x"}, Bytes: leafCert.Raw}))
	write("pki", t2, "second-block-broken", append(certsPEM(leafCert), pemOf("CERTIFICATE", leafCert.Raw[:len(leafCert.Raw)/2])...))
	write("pki", t2, "rsa-7680-leaf", certsPEM(leaf(inter, rsa7680.Public(), "big.a.svc")))

	// --- FuzzParsePrivateKeyPEM ---
	const t3 = "FuzzParsePrivateKeyPEM"
	write("pki", t3, "rsa-7680-pkcs1", pkcs1(rsa7680))
	write("pki", t3, "rsa-2048-pkcs8", pkcs8(rsa2048))
	params, err := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	must(err)
	write("pki", t3, "ec-parameters-then-sec1", append(pemOf("EC PARAMETERS", params), sec1(p256)...))
	write("pki", t3, "ec-p224-unsupported-curve", sec1(p224))
	write("pki", t3, "ed25519-pkcs8", pkcs8(ed))
	write("pki", t3, "x25519-pkcs8-not-a-signer", pkcs8(x25519))
	write("pki", t3, "legacy-encrypted", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: bytes.Repeat([]byte{0x42}, 64)}))
	write("pki", t3, "pkcs8-encrypted-block", pemOf("ENCRYPTED PRIVATE KEY", bytes.Repeat([]byte{0x30}, 32)))
	write("pki", t3, "certificate-then-key", append(certsPEM(leafCert), sec1(p256)...))
	write("pki", t3, "pkcs1-label-pkcs8-body", pemOf("RSA PRIVATE KEY", mustPKCS8DER(rsa2048)))
	write("pki", t3, "huge-garbage-key-block", pemOf("PRIVATE KEY", bytes.Repeat([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff}, 16_000)))

	// --- FuzzSecretKeyPair: tls.crt, tls.key ---
	const t4 = "FuzzSecretKeyPair"
	edLeaf := leaf(inter, ed.Public(), "ed.a.svc")
	rsaLeaf := leaf(inter, rsa2048.Public(), "rsa.a.svc")
	write("pki", t4, "ecdsa-matching-with-chain", certsPEM(leafCert, inter.cert), sec1(p256))
	write("pki", t4, "rsa-matching-pkcs1", certsPEM(rsaLeaf, inter.cert), pkcs1(rsa2048))
	write("pki", t4, "ed25519-matching", certsPEM(edLeaf), pkcs8(ed))
	write("pki", t4, "rsa-7680-matching", certsPEM(leaf(inter, rsa7680.Public(), "big.a.svc")), pkcs1(rsa7680))
	write("pki", t4, "key-of-the-intermediate", certsPEM(leafCert, inter.cert), sec1(interKey))
	write("pki", t4, "mismatched-algorithms", certsPEM(rsaLeaf), sec1(p256))
	write("pki", t4, "swapped-fields", sec1(p256), certsPEM(leafCert))
	combined := append(certsPEM(leafCert, inter.cert), sec1(p256)...)
	write("pki", t4, "combined-pem-in-both", combined, combined)
	write("pki", t4, "p224-pair-unsupported-curve", certsPEM(leaf(inter, p224.Public(), "p224.a.svc")), sec1(p224))
	write("pki", t4, "huge-chain", huge[:bytes.LastIndex(huge[:60_000], []byte("-----BEGIN"))], sec1(p256))

	// --- policy ---
	const m = "FuzzMatchDNSPattern"
	for name, args := range map[string][2]string{
		"wildcard-one-label":         {"*.a.svc", "web.a.svc"},
		"case-and-trailing-dot":      {"web.a.svc.cluster.local", "WEB.A.SVC.Cluster.Local."},
		"wildcard-name-literal":      {"*.a.svc", "*.a.svc"},
		"wildcard-name-vs-label":     {"web.a.svc", "*.a.svc"},
		"empty-label-under-wildcard": {"*.*.svc.cluster.local", "web..svc.cluster.local"},
		"nul-under-wildcard":         {"*.example.com", "evil.com\x00.example.com"},
		"nul-in-both":                {"a\x00b.example.com", "a\x00b.example.com"},
		"empty":                      {"", ""},
		"dots-only":                  {"..", ".."},
		"double-trailing-dot":        {"*.com", "x.com.."},
		"label-count":                {"*.*.svc.cluster.local", "a.b.c.svc.cluster.local"},
		"long-name":                  {strings.Repeat("*.", 126) + "com", strings.Repeat("a.", 126) + "com"},
		"non-ascii-fold":             {"ſ.example.com", "s.example.com"},
		"dotless-i":                  {"i\u0307.example.com", "\u0130.example.com"},
	} {
		write("policy", m, name, args[0], args[1])
	}
	const u = "FuzzMatchURI"
	for name, args := range map[string][2]string{
		"spiffe-wildcards":          {"spiffe://cluster.local/ns/*/sa/*", "spiffe://cluster.local/ns/a/sa/web"},
		"spiffe-extra-segment":      {"spiffe://cluster.local/ns/*/sa/*", "spiffe://cluster.local/ns/a/sa/web/extra"},
		"empty-segment":             {"spiffe://cluster.local/ns/*/sa/*", "spiffe://cluster.local/ns//sa/web"},
		"dot-dot-segment":           {"spiffe://cluster.local/ns/*/sa/*", "spiffe://cluster.local/ns/../sa/web"},
		"encoded-slash":             {"spiffe://cluster.local/ns/*/sa/*", "spiffe://cluster.local/ns/a%2Fsa%2Fx/sa/web"},
		"scheme-case":               {"SPIFFE://cluster.local/ns/a", "spiffe://Cluster.Local/ns/a"},
		"userinfo":                  {"https://example.com/x", "https://admin@example.com/x"},
		"query-and-fragment":        {"https://example.com/x?a=1#f", "https://example.com/x?a=1#g"},
		"opaque":                    {"urn:example:a", "urn:example:a"},
		"empty-host":                {"spiffe:///ns/a", "spiffe:///ns/a"},
		"port":                      {"https://*.example.com:8443/", "https://api.example.com:8443/"},
		"wildcard-host-empty-label": {"https://*.example.com/", "https://.example.com/"},
		"nul-in-host":               {"https://*.example.com/", "https://a%00b.example.com/"},
		"not-a-uri":                 {"spiffe://cluster.local/*", "%zz"},
	} {
		write("policy", u, name, args[0], args[1])
	}
	const d = "FuzzInNamespaceDomain"
	for name, args := range map[string][3]string{
		"service":                  {"web.a.svc", "a", "cluster.local"},
		"service-fqdn":             {"web.a.svc.cluster.local.", "a", "cluster.local"},
		"bare-namespace-domain":    {"a.svc", "a", "cluster.local"},
		"namespace-suffix-trick":   {"web.xa.svc", "a", "cluster.local"},
		"other-namespace-inside":   {"web.b.svc.a.svc", "a", "cluster.local"},
		"empty-label":              {"web..a.svc", "a", "cluster.local"},
		"nul-byte":                 {"evil.example\x00.a.svc", "a", "cluster.local"},
		"dotted-namespace":         {"web.x.b.svc", "x.b", "cluster.local"},
		"empty-namespace":          {"web..svc", "", ""},
		"uppercase-namespace":      {"web.a.svc", "A", "Cluster.Local."},
		"other-cluster-domain":     {"web.a.svc.evil.example", "a", "cluster.local"},
		"cluster-domain-with-dots": {"web.a.svc.cluster.local", "a", "cluster.local."},
	} {
		write("policy", d, name, args[0], args[1], args[2])
	}
	const c = "FuzzCheck"
	for name, args := range map[string][6]string{
		// namespace, common names and DNS names (comma-separated), IP, URI, organization
		"service-names":            {"a", "web.a.svc", "web.a.svc,web.a.svc.cluster.local", "10.96.0.10", "spiffe://cluster.local/ns/a/sa/web", "shop"},
		"other-namespace":          {"a", "", "web.b.svc,*.b.svc.cluster.local", "10.96.0.11", "", ""},
		"nul-in-common-name":       {"a", "evil.example\x00.a.svc", "web.a.svc", "", "", ""},
		"nul-in-dns-name":          {"a", "", "evil.example\x00.a.svc", "", "", ""},
		"empty-labels":             {"a", "a..b.a.svc", "a..b.a.svc,x..a.svc,.a.svc,web.a.svc..", "", "", ""},
		"two-common-names":         {"a", "web.a.svc,evil.example", "web.a.svc", "", "", ""},
		"two-allowed-common-names": {"a", "web.a.svc,api.a.svc", "web.a.svc,api.a.svc", "", "", ""},
		"namespace-called-com":     {"com", "google.com", "google.com", "", "", ""},
		"nested-service-domain":    {"a", "", "web.b.svc.a.svc,web.a.svc.b.svc", "", "", ""},
		"foreign-request":          {"", "web.a.svc", "web.a.svc", "10.96.0.10", "spiffe://cluster.local/ns/a/sa/web", ""},
		"ipv4-mapped-cluster-ip":   {"a", "::ffff:10.96.0.10", "", "::ffff:10.96.0.10", "", ""},
		"ip-as-common-name":        {"a", "10.96.0.10", "", "10.96.0.10", "", ""},
		"api-server-names":         {"default", "kubernetes.default.svc", "kubernetes.default.svc,*.default.svc,Kubernetes.Default.Svc.Cluster.Local.", "10.96.0.1", "", ""},
		"api-server-ip-mapped":     {"default", "::ffff:10.96.0.1", "", "::ffff:10.96.0.1", "", ""},
		"system-masters":           {"a", "web.a.svc", "web.a.svc", "", "", "system:masters"},
		"system-nodes-spaced":      {"a", "", "web.a.svc", "", "", " System:Nodes"},
		"rule-domain-with-nul":     {"", "", "evil\x00.example.com", "", "", ""},
		"rule-uri-dot-dot":         {"", "", "", "", "spiffe://cluster.local/ns/../sa/web", ""},
		"four-thousand-names":      {"a", "n0.a.svc", strings.Join(many, ","), "", "", ""},
		"mixed-case-namespace":     {"A", "", "web.A.svc", "", "", ""},
		"long-namespace":           {strings.Repeat("n", 63), strings.Repeat("c", 65), "web." + strings.Repeat("n", 63) + ".svc", "", "", ""},
	} {
		write("policy", c, name, args[0], args[1], args[2], args[3], args[4], args[5])
	}
}

func mustPKCS8DER(k any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	must(err)
	return der
}
