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
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

var _ = Describe("inspect secret", func() {
	var (
		namespace    string
		root         *pki.CA
		intermediate *pki.CA
		leafKey      = newKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmRSA, Size: 2048})
		leaf         *x509.Certificate
	)

	BeforeEach(func() {
		namespace = newNamespace("inspect")
		root = newRootCA("Inspect Root CA")
		intermediate = newIntermediateCA(root, "Inspect Intermediate CA")
		leaf = signRequest(intermediate, leafKey, leafNames,
			[]string{pki.UsageDigitalSignature, pki.UsageKeyEncipherment, pki.UsageServerAuth, pki.UsageClientAuth},
			90*24*time.Hour, false)
	})

	// createSecretWithMetadata stores a Secret with the given keys, labels
	// and annotations.
	createSecretWithMetadata := func(name string, secretType corev1.SecretType, data map[string][]byte, labels, annotations map[string]string) {
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels, Annotations: annotations},
			Type:       secretType,
			Data:       data,
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	}

	// createSecret stores a Secret with the given keys; a TLS Secret gets
	// the metadata the operator writes for the ServiceCertificate "web".
	createSecret := func(name string, secretType corev1.SecretType, data map[string][]byte) {
		var labels, annotations map[string]string
		if secretType == corev1.SecretTypeTLS {
			labels, annotations = operatorSecretMetadata("web", "inspect-issuer", 4)
		}
		createSecretWithMetadata(name, secretType, data, labels, annotations)
	}

	// goodData is a TLS Secret's data as certsmith writes it.
	goodData := func() map[string][]byte {
		return map[string][]byte{
			corev1.TLSCertKey:       pki.EncodeCertificatesPEM(leaf, intermediate.Certificate),
			corev1.TLSPrivateKeyKey: pemKey(leafKey),
			caBundleKey:             pki.EncodeCertificatesPEM(root.Certificate),
		}
	}

	It("decodes the leaf, the chain, the key and the CA bundle, and checks them", func() {
		createSecret("web-tls", corev1.SecretTypeTLS, goodData())

		result := runPlugin("inspect", "secret", "web-tls", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		out := result.Out

		Expect(out).To(MatchRegexp(`Secret:\s+` + namespace + `/web-tls\n`))
		Expect(out).To(MatchRegexp(`Type:\s+kubernetes.io/tls\n`))
		Expect(out).To(MatchRegexp(`ServiceCertificate:\s+web\n`))
		Expect(out).To(MatchRegexp(`Issuer \(annotation\):\s+inspect-issuer\n`))
		Expect(out).To(MatchRegexp(`Revision:\s+4\n`))

		// The leaf.
		Expect(out).To(ContainSubstring("Certificate 1 of 2 in tls.crt (leaf):"))
		Expect(out).To(MatchRegexp(`Subject:\s+CN=web\.shop\.svc,O=Shop\n`))
		Expect(out).To(MatchRegexp(`Issuer:\s+CN=Inspect Intermediate CA\n`))
		Expect(out).To(MatchRegexp(`Serial number:\s+` + leaf.SerialNumber.Text(16) + `\n`))
		Expect(out).To(MatchRegexp(`Not after:\s+` + rfc3339(leaf.NotAfter) + ` \(in 90d\)\n`))
		Expect(out).To(MatchRegexp(`DNS names:\s+web\.shop\.svc, web\.shop\.svc\.cluster\.local\n`))
		Expect(out).To(MatchRegexp(`IP addresses:\s+10\.96\.0\.10, 2001:db8::10\n`))
		Expect(out).To(MatchRegexp(`URIs:\s+spiffe://cluster\.local/ns/shop/sa/web\n`))
		Expect(out).To(MatchRegexp(`Key usages:\s+digital signature, key encipherment\n`))
		Expect(out).To(MatchRegexp(`Extended key usages:\s+server auth, client auth\n`))
		Expect(out).To(MatchRegexp(`Is CA:\s+no\n`))
		Expect(out).To(MatchRegexp(`Public key:\s+RSA-2048\n`))
		Expect(out).To(MatchRegexp(`SHA-256 fingerprint:\s+` + regexp.QuoteMeta(pki.FingerprintSHA256(leaf)) + `\n`))

		// The intermediate that follows it.
		Expect(out).To(ContainSubstring("Certificate 2 of 2 in tls.crt (intermediate CA):"))
		Expect(out).To(MatchRegexp(`Subject:\s+CN=Inspect Intermediate CA\n`))
		Expect(out).To(MatchRegexp(`Key usages:\s+digital signature, cert sign, crl sign\n`))
		Expect(out).To(MatchRegexp(`Is CA:\s+yes \(max path length 0: signs only leaf certificates\)\n`))
		Expect(out).To(MatchRegexp(`Public key:\s+ECDSA-256\n`))

		// Key, bundle and checks.
		Expect(out).To(ContainSubstring("Private key (tls.key): RSA-2048\n"))
		Expect(out).To(ContainSubstring("CA certificates (ca.crt): 1\n  - CN=Inspect Root CA; not after " + rfc3339(root.Certificate.NotAfter) +
			" (in 365d); SHA-256 " + pki.FingerprintSHA256(root.Certificate) + "\n"))
		Expect(out).To(ContainSubstring("key matches certificate: yes\n"))
		Expect(out).To(ContainSubstring("chain verifies against ca.crt: yes\n"))
		Expect(out).To(ContainSubstring("leaf valid now: yes (expires in 90d)\n"))
		Expect(out).To(ContainSubstring("  revocation (CRL): not checked (no certsmith bundle ConfigMap in the namespace)\n"))
		Expect(out).To(ContainSubstring("  CertificateRevocations: <none>\n"))

		// No key material, ever.
		Expect(out).NotTo(ContainSubstring("PRIVATE KEY"))
	})

	It("names the ServiceCertificate from the owner annotation, which the operator writes without a label", func() {
		_, annotations := operatorSecretMetadata("shop-web", "inspect-issuer", 1)
		createSecretWithMetadata("annotated-only", corev1.SecretTypeTLS, goodData(), nil, annotations)

		result := runPlugin("inspect", "secret", "annotated-only", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(MatchRegexp(`ServiceCertificate:\s+shop-web\n`))
		Expect(result.Out).To(MatchRegexp(`Issuer \(annotation\):\s+inspect-issuer\n`))
	})

	It("takes no owner from a label of the owner key, which the operator never writes", func() {
		createSecretWithMetadata("labelled-only", corev1.SecretTypeTLS, goodData(),
			map[string]string{certsmithv1alpha1.AnnotationServiceCertificate: "web"}, nil)

		result := runPlugin("inspect", "secret", "labelled-only", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).NotTo(ContainSubstring("ServiceCertificate:"))
		Expect(result.Out).To(ContainSubstring("key matches certificate: yes\n"))
	})

	It("says no when tls.key belongs to another certificate", func() {
		data := goodData()
		data[corev1.TLSPrivateKeyKey] = pemKey(newKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmRSA, Size: 2048}))
		createSecret("tampered-key", corev1.SecretTypeTLS, data)

		result := runPlugin("inspect", "secret", "tampered-key", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("key matches certificate: no (tls.key is not the key of the leaf certificate)\n"))
		Expect(result.Out).To(ContainSubstring("chain verifies against ca.crt: yes\n"))
	})

	It("says no when tls.key is unreadable", func() {
		data := goodData()
		data[corev1.TLSPrivateKeyKey] = []byte("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
		createSecret("garbled-key", corev1.SecretTypeTLS, data)

		result := runPlugin("inspect", "secret", "garbled-key", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("Private key (tls.key): unreadable: "))
		Expect(result.Out).To(ContainSubstring("key matches certificate: no (tls.key is unreadable)\n"))
	})

	It("says no when the leaf does not chain to ca.crt", func() {
		data := goodData()
		data[caBundleKey] = pki.EncodeCertificatesPEM(newRootCA("Some Other Root").Certificate)
		createSecret("foreign-ca", corev1.SecretTypeTLS, data)

		result := runPlugin("inspect", "secret", "foreign-ca", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("  - CN=Some Other Root"))
		Expect(result.Out).To(MatchRegexp(`chain verifies against ca\.crt: no \(verifying chain: x509: certificate signed by unknown authority.*\)\n`))
		Expect(result.Out).To(ContainSubstring("key matches certificate: yes\n"))
	})

	It("says no when tls.crt lacks the intermediate", func() {
		data := goodData()
		data[corev1.TLSCertKey] = pki.EncodeCertificatesPEM(leaf)
		createSecret("no-intermediate", corev1.SecretTypeTLS, data)

		result := runPlugin("inspect", "secret", "no-intermediate", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("Certificate 1 of 1 in tls.crt (leaf):"))
		Expect(result.Out).To(MatchRegexp(`chain verifies against ca\.crt: no \(.*unknown authority.*\)\n`))
	})

	It("works on a TLS Secret that certsmith did not write", func() {
		selfSignedKey := newKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmEd25519})
		selfSigned, err := pki.NewSelfSignedCA(selfSignedKey, pki.CATemplate{
			Subject: pkix.Name{CommonName: "hand-made"}, Duration: time.Hour, MaxPathLen: -1,
		}, testNow.Add(-2*time.Hour))
		Expect(err).NotTo(HaveOccurred())
		createSecret("hand-made", corev1.SecretTypeOpaque, map[string][]byte{
			corev1.TLSCertKey: pki.EncodeCertificatesPEM(selfSigned),
		})

		result := runPlugin("inspect", "secret", "hand-made", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(MatchRegexp(`Type:\s+Opaque\n`))
		Expect(result.Out).NotTo(ContainSubstring("ServiceCertificate:"))
		Expect(result.Out).To(MatchRegexp(`Subject:\s+CN=hand-made\n`))
		Expect(result.Out).To(MatchRegexp(`Public key:\s+Ed25519\n`))
		Expect(result.Out).To(MatchRegexp(`DNS names:\s+<none>\n`))
		Expect(result.Out).To(MatchRegexp(`Extended key usages:\s+<none>\n`))
		Expect(result.Out).To(MatchRegexp(`Is CA:\s+yes \(no path length limit\)\n`))
		Expect(result.Out).To(ContainSubstring("Private key (tls.key): <none>\n"))
		Expect(result.Out).To(ContainSubstring("CA certificates (ca.crt): <none>\n"))
		Expect(result.Out).To(ContainSubstring("key matches certificate: no (no tls.key)\n"))
		Expect(result.Out).To(ContainSubstring("chain verifies against ca.crt: not checked (no ca.crt)\n"))
		Expect(result.Out).To(ContainSubstring("leaf valid now: no (expired 60m ago)\n"))
	})

	It("refuses a Secret without tls.crt", func() {
		createSecret("not-tls", corev1.SecretTypeOpaque, map[string][]byte{"password": []byte("hunter2")})
		result := runPlugin("inspect", "secret", "not-tls", "-n", namespace)
		Expect(result.Err).To(MatchError("Secret " + namespace + "/not-tls has no tls.crt: it is not a TLS Secret"))
		Expect(result.Out).NotTo(ContainSubstring("hunter2"))
	})

	It("refuses a tls.crt that is not PEM", func() {
		createSecret("bad-crt", corev1.SecretTypeOpaque, map[string][]byte{corev1.TLSCertKey: []byte("not a certificate")})
		result := runPlugin("inspect", "secret", "bad-crt", "-n", namespace)
		Expect(result.Err).To(MatchError(ContainSubstring("Secret " + namespace + "/bad-crt: decoding tls.crt")))
	})

	Context("revocation", func() {
		// crlOf is a PEM CRL of ca with number, made at testNow, listing revoked.
		crlOf := func(ca *pki.CA, number int64, revoked ...*x509.Certificate) string {
			entries := make([]pki.Revoked, 0, len(revoked))
			for _, cert := range revoked {
				entries = append(entries, pki.Revoked{Serial: cert.SerialNumber, RevokedAt: testNow.Add(-time.Hour), Reason: pki.ReasonKeyCompromise, NotAfter: cert.NotAfter})
			}
			der, err := ca.CreateCRL(pki.CRLRequest{Revoked: entries, Number: big.NewInt(number), Now: testNow, Validity: 24 * time.Hour})
			Expect(err).NotTo(HaveOccurred())
			return string(pki.EncodeCRLPEM(der))
		}

		// createBundle stores the bundle ConfigMap of inspect-issuer, with
		// ca.crl when crl is not empty.
		createBundle := func(name, crl string) {
			data := map[string]string{"ca.crt": string(pki.EncodeCertificatesPEM(root.Certificate))}
			if crl != "" {
				data[certsmithv1alpha1.BundleCRLKey] = crl
			}
			Expect(k8sClient.Create(ctx, configMapWith(namespace, name, "inspect-issuer", data))).To(Succeed())
		}

		It("reports a certificate that the CRL in the bundle ConfigMap lists, and its CertificateRevocation", func() {
			createSecret("web-tls", corev1.SecretTypeTLS, goodData())
			createBundle("inspect-issuer-ca", crlOf(intermediate, 4, leaf))
			rev := &certsmithv1alpha1.CertificateRevocation{
				ObjectMeta: metav1.ObjectMeta{Name: "web-x7k2p", Namespace: namespace},
				Spec:       certsmithv1alpha1.CertificateRevocationSpec{ServiceCertificateName: "web", Reason: certsmithv1alpha1.RevocationKeyCompromise},
			}
			Expect(k8sClient.Create(ctx, rev)).To(Succeed())
			rev.Status = certsmithv1alpha1.CertificateRevocationStatus{
				ObservedGeneration: 1, IssuerName: "inspect-issuer", SerialNumber: leaf.SerialNumber.Text(16),
				Conditions: []metav1.Condition{revokedCondition(metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationPublished, "listed")},
			}
			Expect(k8sClient.Status().Update(ctx, rev)).To(Succeed())

			result := runPlugin("inspect", "secret", "web-tls", "-n", namespace)
			Expect(result.Err).NotTo(HaveOccurred())
			Expect(result.Out).To(ContainSubstring("  revocation (CRL): revoked at " + rfc3339(testNow.Add(-time.Hour)) +
				" (keyCompromise), CRL number 4 of ConfigMap " + namespace + "/inspect-issuer-ca\n"))
			Expect(result.Out).To(ContainSubstring("  CertificateRevocations: web-x7k2p (keyCompromise; Revoked True, Published)\n"))
		})

		It("reports a certificate that the CRL does not list", func() {
			createSecret("web-tls", corev1.SecretTypeTLS, goodData())
			other := signRequest(intermediate, newKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA}), leafNames, []string{pki.UsageDigitalSignature, pki.UsageServerAuth}, time.Hour, false)
			createBundle("inspect-issuer-ca", crlOf(intermediate, 3, other))

			result := runPlugin("inspect", "secret", "web-tls", "-n", namespace)
			Expect(result.Err).NotTo(HaveOccurred())
			Expect(result.Out).To(ContainSubstring("  revocation (CRL): not revoked (CRL number 3 of ConfigMap " + namespace +
				"/inspect-issuer-ca, next update " + rfc3339(testNow.Add(24*time.Hour)) + " (in 24h))\n"))
		})

		It("says so when the bundle ConfigMap has no CRL", func() {
			createSecret("web-tls", corev1.SecretTypeTLS, goodData())
			createBundle("inspect-issuer-ca", "")

			result := runPlugin("inspect", "secret", "web-tls", "-n", namespace)
			Expect(result.Err).NotTo(HaveOccurred())
			Expect(result.Out).To(ContainSubstring("  revocation (CRL): no CRL published (ConfigMap " + namespace + "/inspect-issuer-ca has no ca.crl; CRLs too large for a ConfigMap are served over HTTP only)\n"))
		})

		It("ignores a CRL in the issuer's name that its CA did not sign, also in a ConfigMap with certsmith's labels", func() {
			createSecret("web-tls", corev1.SecretTypeTLS, goodData())
			createBundle("inspect-issuer-ca", crlOf(intermediate, 3))
			// Anyone who writes ConfigMaps here can plant one that looks
			// like a bundle, with a CRL in the intermediate's name.
			forger := newRootCA("Inspect Intermediate CA")
			createBundle("planted", crlOf(forger, 99, leaf))

			result := runPlugin("inspect", "secret", "web-tls", "-n", namespace)
			Expect(result.Err).NotTo(HaveOccurred())
			Expect(result.Out).To(ContainSubstring("  revocation (CRL): not revoked (CRL number 3 of ConfigMap " + namespace + "/inspect-issuer-ca, "))
			Expect(result.Out).To(ContainSubstring("; ignored 1 CRL(s) in the name of the certificate's issuer that no known CA signed\n"))
		})
	})

	It("fails with a clear message when the Secret does not exist", func() {
		result := runPlugin("inspect", "secret", "nope", "-n", namespace)
		Expect(result.Err).To(MatchError(`Secret "nope" not found in namespace "` + namespace + `"`))
	})
})
