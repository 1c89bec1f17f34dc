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

package main

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// unitCA makes a self-signed root CA valid around unitNow.
func unitCA(t *testing.T, commonName string) *pki.CA {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.NewSelfSignedCA(key, pki.CATemplate{Subject: pkix.Name{CommonName: commonName}, Duration: 365 * 24 * time.Hour, MaxPathLen: -1}, unitNow)
	if err != nil {
		t.Fatal(err)
	}
	return &pki.CA{Certificate: cert, Key: key}
}

// unitSign signs a certificate for key with ca.
func unitSign(t *testing.T, ca *pki.CA, key crypto.Signer, commonName string, isCA bool) *x509.Certificate {
	t.Helper()
	names := pki.CSRRequest{Subject: pkix.Name{CommonName: commonName}}
	if !isCA {
		names.DNSNames = []string{commonName}
	}
	csrPEM, err := pki.BuildCSR(key, names)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	req := pki.SignRequest{CSR: csr, Duration: 30 * 24 * time.Hour, Now: unitNow}
	if isCA {
		req.IsCA, req.MaxPathLen = true, 0
	} else {
		req.Usages = []string{pki.UsageDigitalSignature, pki.UsageServerAuth}
	}
	cert, err := ca.Sign(req)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// unitLeaf signs a leaf for key (a fresh one if nil) with ca.
func unitLeaf(t *testing.T, ca *pki.CA, key crypto.Signer) *x509.Certificate {
	t.Helper()
	if key == nil {
		var err error
		if key, err = pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA}); err != nil {
			t.Fatal(err)
		}
	}
	return unitSign(t, ca, key, "web.shop.svc", false)
}

// unitIntermediate makes a CA signed by parent.
func unitIntermediate(t *testing.T, parent *pki.CA, commonName string) *pki.CA {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
	if err != nil {
		t.Fatal(err)
	}
	return &pki.CA{Certificate: unitSign(t, parent, key, commonName, true), Chain: []*x509.Certificate{parent.Certificate}, Key: key}
}

// unitCRL is a PEM CRL of ca with number, made at unitNow for 24h,
// listing revoked.
func unitCRL(t *testing.T, ca *pki.CA, number int64, revoked ...pki.Revoked) []byte {
	t.Helper()
	der, err := ca.CreateCRL(pki.CRLRequest{Revoked: revoked, Number: big.NewInt(number), Now: unitNow, Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return pki.EncodeCRLPEM(der)
}

// revokedEntry lists cert as revoked an hour before unitNow.
func revokedEntry(cert *x509.Certificate, reason int) pki.Revoked {
	return pki.Revoked{Serial: cert.SerialNumber, RevokedAt: unitNow.Add(-time.Hour), Reason: reason, NotAfter: cert.NotAfter}
}

// withCRLs is a bundle ConfigMap of issuer holding cas and, in ca.crl, crls.
func withCRLs(name, issuer string, cas []*x509.Certificate, crls ...[]byte) bundleCRLs {
	b := bundleCRLs{name: "shop/" + name, issuer: issuer, caPEM: pki.EncodeCertificatesPEM(cas...), hasCRL: true}
	for _, crl := range crls {
		b.crlPEM = append(b.crlPEM, crl...)
	}
	return b
}

func TestCheckRevocation(t *testing.T) {
	root := unitCA(t, "Unit Root CA")
	leaf := unitLeaf(t, root, nil)
	sibling := unitLeaf(t, root, nil)
	// forger has the root's name and its own key.
	forger := unitCA(t, "Unit Root CA")
	other := unitCA(t, "Other CA")
	// next is the root's successor in a rotation: same name, new key.
	next := unitCA(t, "Unit Root CA")
	intermediate := unitIntermediate(t, root, "Unit Intermediate CA")
	subLeaf := unitLeaf(t, intermediate, nil)

	roots := []*x509.Certificate{root.Certificate}
	revokedAt := rfc3339(unitNow.Add(-time.Hour))
	nextUpdate := rfc3339(unitNow.Add(24 * time.Hour))
	listsLeaf := unitCRL(t, root, 4, revokedEntry(leaf, pki.ReasonKeyCompromise))
	listsSibling := unitCRL(t, root, 3, revokedEntry(sibling, pki.ReasonSuperseded))
	garbage := []byte("-----BEGIN X509 CRL-----\nZ2FyYmFnZQ==\n-----END X509 CRL-----\n")

	for _, tc := range []struct {
		name       string
		leaf       *x509.Certificate
		known      []*x509.Certificate
		issuerName string
		bundles    []bundleCRLs
		now        time.Time
		state      crlState
		want       string
	}{
		{
			name:    "the CRL lists the certificate",
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", roots, listsLeaf)},
			state:   crlRevoked,
			want:    "revoked at " + revokedAt + " (keyCompromise), CRL number 4 of ConfigMap shop/internal-ca-ca",
		},
		{
			name:    "the CRL lists other certificates",
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", roots, listsSibling)},
			state:   crlNotRevoked,
			want:    "not revoked (CRL number 3 of ConfigMap shop/internal-ca-ca, next update " + nextUpdate + " (in 24h))",
		},
		{
			name:    "the CRL is past its next update",
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", roots, listsSibling)},
			now:     unitNow.Add(48 * time.Hour),
			state:   crlNotRevoked,
			want:    "not revoked (CRL number 3 of ConfigMap shop/internal-ca-ca, next update " + nextUpdate + " (24h ago), stale)",
		},
		{
			name:    "an entry without a reason is unspecified",
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", roots, unitCRL(t, root, 9, revokedEntry(leaf, pki.ReasonUnspecified)))},
			state:   crlRevoked,
			want:    "revoked at " + revokedAt + " (unspecified), CRL number 9 of ConfigMap shop/internal-ca-ca",
		},
		{
			name:    "no ca.crl in the issuer's ConfigMap",
			bundles: []bundleCRLs{{name: "shop/internal-ca-ca", issuer: "internal-ca", caPEM: pki.EncodeCertificatesPEM(root.Certificate)}},
			state:   crlNotPublished,
			want:    "no CRL published (ConfigMap shop/internal-ca-ca has no ca.crl; CRLs too large for a ConfigMap are served over HTTP only)",
		},
		{
			name:    "an empty ca.crl",
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", roots, []byte("\n"))},
			state:   crlNotPublished,
			want:    "no CRL published (ConfigMap shop/internal-ca-ca has no ca.crl; CRLs too large for a ConfigMap are served over HTTP only)",
		},
		{
			name: "a forged CRL, newer and listing the certificate, is ignored",
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", roots,
				unitCRL(t, forger, 99, revokedEntry(leaf, pki.ReasonKeyCompromise)), listsSibling)},
			state: crlNotRevoked,
			want: "not revoked (CRL number 3 of ConfigMap shop/internal-ca-ca, next update " + nextUpdate + " (in 24h))" +
				"; ignored 1 CRL(s) in the name of the certificate's issuer that no known CA signed",
		},
		{
			name:    "a forged CRL alone decides nothing",
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", roots, unitCRL(t, forger, 99, revokedEntry(leaf, pki.ReasonKeyCompromise)))},
			state:   crlNotChecked,
			want: "not checked (ca.crl of ConfigMap shop/internal-ca-ca holds no CRL of the CA that signed the certificate)" +
				"; ignored 1 CRL(s) in the name of the certificate's issuer that no known CA signed",
		},
		{
			// Anyone who writes ConfigMaps in the namespace can add one
			// with certsmith's labels, the forger's certificate and CRL.
			name: "a forged CRL with its CA in a ConfigMap of its own is ignored",
			bundles: []bundleCRLs{
				withCRLs("internal-ca-ca", "internal-ca", roots, listsSibling),
				withCRLs("planted", "internal-ca", []*x509.Certificate{forger.Certificate},
					unitCRL(t, forger, 100, revokedEntry(leaf, pki.ReasonKeyCompromise))),
			},
			state: crlNotRevoked,
			want:  "not revoked (CRL number 3 of ConfigMap shop/internal-ca-ca, next update " + nextUpdate + " (in 24h))",
		},
		{
			name: "another CA's CRL that lists the same serial number is ignored",
			bundles: []bundleCRLs{
				withCRLs("internal-ca-ca", "internal-ca", roots, listsSibling),
				withCRLs("other-ca", "other", []*x509.Certificate{other.Certificate},
					unitCRL(t, other, 50, revokedEntry(leaf, pki.ReasonKeyCompromise))),
			},
			state: crlNotRevoked,
			want:  "not revoked (CRL number 3 of ConfigMap shop/internal-ca-ca, next update " + nextUpdate + " (in 24h))",
		},
		{
			name:    "only another CA's CRL in the issuer's ConfigMap",
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", roots, unitCRL(t, other, 50, revokedEntry(leaf, pki.ReasonKeyCompromise)))},
			state:   crlNotChecked,
			want:    "not checked (ca.crl of ConfigMap shop/internal-ca-ca holds no CRL of the CA that signed the certificate)",
		},
		{
			name: "an older CRL put beside the newest hides nothing",
			bundles: []bundleCRLs{
				withCRLs("planted", "internal-ca", roots, unitCRL(t, root, 2)),
				withCRLs("internal-ca-ca", "internal-ca", roots, listsLeaf),
			},
			state: crlRevoked,
			want:  "revoked at " + revokedAt + " (keyCompromise), CRL number 4 of ConfigMap shop/internal-ca-ca",
		},
		{
			name:    "the newest CRL decides, in whatever order",
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", roots, unitCRL(t, root, 6), listsLeaf)},
			state:   crlNotRevoked,
			want:    "not revoked (CRL number 6 of ConfigMap shop/internal-ca-ca, next update " + nextUpdate + " (in 24h))",
		},
		{
			name:    "unreadable blocks are skipped",
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", roots, garbage, []byte("not PEM at all\n"), listsLeaf)},
			state:   crlRevoked,
			want:    "revoked at " + revokedAt + " (keyCompromise), CRL number 4 of ConfigMap shop/internal-ca-ca",
		},
		{
			// During a rotation the bundle holds both CAs, of one name, and
			// both CRLs; the next CA's is not a forgery.
			name: "the CRL of the next CA of a rotation is neither used nor called forged",
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", []*x509.Certificate{root.Certificate, next.Certificate},
				listsLeaf, unitCRL(t, next, 7))},
			state: crlRevoked,
			want:  "revoked at " + revokedAt + " (keyCompromise), CRL number 4 of ConfigMap shop/internal-ca-ca",
		},
		{
			name:       "a leaf of an intermediate CA, whose bundle holds the root",
			leaf:       subLeaf,
			known:      []*x509.Certificate{intermediate.Certificate},
			issuerName: "sub-ca",
			bundles: []bundleCRLs{withCRLs("sub-ca-ca", "sub-ca", roots,
				unitCRL(t, intermediate, 12, revokedEntry(subLeaf, pki.ReasonCessationOfOperation)), unitCRL(t, root, 5))},
			state: crlRevoked,
			want:  "revoked at " + revokedAt + " (cessationOfOperation), CRL number 12 of ConfigMap shop/sub-ca-ca",
		},
		{
			name:       "an intermediate CA's ConfigMap, found by its label, without ca.crl",
			leaf:       subLeaf,
			known:      []*x509.Certificate{intermediate.Certificate},
			issuerName: "sub-ca",
			bundles:    []bundleCRLs{{name: "shop/sub-ca-ca", issuer: "sub-ca", caPEM: pki.EncodeCertificatesPEM(root.Certificate)}},
			state:      crlNotPublished,
			want:       "no CRL published (ConfigMap shop/sub-ca-ca has no ca.crl; CRLs too large for a ConfigMap are served over HTTP only)",
		},
		{
			name:  "no bundle ConfigMap",
			known: roots,
			state: crlNotChecked,
			want:  "not checked (no certsmith bundle ConfigMap in the namespace)",
		},
		{
			name:    "no bundle ConfigMap of the certificate's issuer",
			known:   roots,
			bundles: []bundleCRLs{withCRLs("other-ca", "other", []*x509.Certificate{other.Certificate}, unitCRL(t, other, 1))},
			state:   crlNotChecked,
			want:    "not checked (no bundle ConfigMap in the namespace is of the certificate's issuer (1 looked at))",
		},
		{
			name:    "the CA that signed the certificate is nowhere",
			bundles: []bundleCRLs{withCRLs("other-ca", "other", []*x509.Certificate{other.Certificate}, unitCRL(t, other, 1))},
			state:   crlNotChecked,
			want:    "not checked (the CA that signed the certificate (CN=Unit Root CA) is in neither tls.crt, ca.crt nor a bundle ConfigMap, so no CRL can be verified)",
		},
		{
			name:    "the forger's CA does not count as the certificate's",
			bundles: []bundleCRLs{withCRLs("planted", "internal-ca", []*x509.Certificate{forger.Certificate}, unitCRL(t, forger, 1, revokedEntry(leaf, 1)))},
			state:   crlNotChecked,
			want:    "not checked (the CA that signed the certificate (CN=Unit Root CA) is in neither tls.crt, ca.crt nor a bundle ConfigMap, so no CRL can be verified)",
		},
		{
			name:    "a self-signed certificate",
			leaf:    root.Certificate,
			bundles: []bundleCRLs{withCRLs("internal-ca-ca", "internal-ca", roots, listsLeaf)},
			state:   crlNotChecked,
			want:    "not checked (the certificate is self-signed: no CA's CRL lists it)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.leaf == nil {
				tc.leaf = leaf
			}
			if tc.now.IsZero() {
				tc.now = unitNow
			}
			finding := checkRevocation(tc.leaf, tc.known, tc.issuerName, tc.bundles)
			if finding.state != tc.state {
				t.Errorf("state = %d, want %d", finding.state, tc.state)
			}
			if got := describeCRLFinding(finding, tc.now); got != tc.want {
				t.Errorf("describeCRLFinding:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCRLReasonName(t *testing.T) {
	for code, want := range map[int]string{
		0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged", 4: "superseded",
		5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise",
		7: "reason code 7", 77: "reason code 77",
	} {
		if got := crlReasonName(code); got != want {
			t.Errorf("crlReasonName(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestRevocationsOfCertificate(t *testing.T) {
	serial := big.NewInt(0x1a2b)
	revocation := func(name, sc, statusSerial string, reason certsmithv1alpha1.RevocationReason, conditions ...metav1.Condition) certsmithv1alpha1.CertificateRevocation {
		return certsmithv1alpha1.CertificateRevocation{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       certsmithv1alpha1.CertificateRevocationSpec{ServiceCertificateName: sc, Reason: reason},
			Status:     certsmithv1alpha1.CertificateRevocationStatus{SerialNumber: statusSerial, Conditions: conditions},
		}
	}
	published := metav1.Condition{Type: certsmithv1alpha1.ConditionRevoked, Status: metav1.ConditionTrue, Reason: certsmithv1alpha1.ReasonRevocationPublished}
	noCertificate := metav1.Condition{Type: certsmithv1alpha1.ConditionRevoked, Status: metav1.ConditionFalse, Reason: certsmithv1alpha1.ReasonRevocationNoCertificate}

	revocations := []certsmithv1alpha1.CertificateRevocation{
		revocation("web-b", "web", "1a2b", certsmithv1alpha1.RevocationKeyCompromise, published),
		revocation("web-a", "web", "1A2B", ""),
		revocation("web-pending", "web", "", certsmithv1alpha1.RevocationSuperseded),
		revocation("web-refused", "web", "", "", noCertificate),
		revocation("web-older", "web", "ffff", certsmithv1alpha1.RevocationKeyCompromise, published),
		revocation("api-x", "api", "", ""),
		revocation("api-damaged", "api", "not hex", ""),
	}
	want := "web-a (unspecified; no status), web-b (keyCompromise; Revoked True, Published), " +
		"web-pending (superseded; not resolved to a serial yet), web-refused (unspecified; not resolved to a serial yet; Revoked False, NoCertificate)"
	if got := revocationsOfCertificate(revocations, serial, "web"); got != want {
		t.Errorf("revocationsOfCertificate:\n got %s\nwant %s", got, want)
	}
	// Without an owner, only the serial counts.
	if got, want := revocationsOfCertificate(revocations, serial, ""), "web-a (unspecified; no status), web-b (keyCompromise; Revoked True, Published)"; got != want {
		t.Errorf("without an owner:\n got %s\nwant %s", got, want)
	}
	if got := revocationsOfCertificate(revocations, big.NewInt(7), "db"); got != noValue {
		t.Errorf("no match: %q", got)
	}

	var many []certsmithv1alpha1.CertificateRevocation
	for i := range 8 {
		many = append(many, revocation("web-"+string(rune('a'+i)), "web", "1a2b", ""))
	}
	got := revocationsOfCertificate(many, serial, "web")
	if !strings.HasSuffix(got, " and 3 more") || strings.Count(got, "web-") != maxRevocationsShown {
		t.Errorf("eight matches: %q", got)
	}
}

func TestBundleFromConfigMap(t *testing.T) {
	root := unitCA(t, "Unit Root CA")
	crl := unitCRL(t, root, 1)
	cm := bundleFromConfigMap(configMapWith("shop", "custom", "internal-ca", map[string]string{
		"trust.pem":                    string(pki.EncodeCertificatesPEM(root.Certificate)),
		certsmithv1alpha1.BundleCRLKey: string(crl),
	}))
	if cm.name != "shop/custom" || cm.issuer != "internal-ca" || !cm.hasCRL || string(cm.crlPEM) != string(crl) {
		t.Errorf("bundleFromConfigMap = %+v", cm)
	}
	if certs, err := pki.ParseCertificatesPEM(cm.caPEM); err != nil || len(certs) != 1 || !certs[0].Equal(root.Certificate) {
		t.Errorf("the CA certificates under a custom key: %v, %v", certs, err)
	}
	if b := bundleFromConfigMap(configMapWith("shop", "internal-ca-ca", "internal-ca", map[string]string{"ca.crt": "x"})); b.hasCRL {
		t.Errorf("a ConfigMap without ca.crl: %+v", b)
	}
}

func TestPrintRevocationChecksReportsListErrors(t *testing.T) {
	root := unitCA(t, "Unit Root CA")
	leaf := unitLeaf(t, root, nil)
	var out bytes.Buffer
	printRevocationChecks(&out, &corev1.Secret{}, leaf, nil, revocationEvidence{
		bundlesErr:     errors.New("listing the bundle ConfigMaps of namespace shop: configmaps is forbidden"),
		revocationsErr: errors.New(strings.Repeat("long\nline ", 100)),
	}, unitNow)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two lines, got %q", out.String())
	}
	if want := "  revocation (CRL): not checked (listing the bundle ConfigMaps of namespace shop: configmaps is forbidden)"; lines[0] != want {
		t.Errorf("got %q, want %q", lines[0], want)
	}
	if !strings.HasPrefix(lines[1], "  CertificateRevocations: not checked (long line long line") || len(lines[1]) > 360 {
		t.Errorf("an error of 1000 bytes with line breaks: %q", lines[1])
	}
}
