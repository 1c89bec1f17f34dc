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
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The end-to-end test of revocation: a CertificateRevocation applied with
// kubectl revokes a ServiceCertificate's certificate, which certsmith
// re-issues with a new key; the issuer's CRL, from the bundle ConfigMap and
// over HTTP, makes openssl and a Go TLS client refuse the old certificate
// and accept its sibling and its successor; the CRL outlives a restart of
// the manager; a ClusterCertificateRevocation revokes a serial nobody knows.
const (
	revocationNamespace = "revocation"
	revocationIssuer    = "revoking"
	revocationSigner    = "clusterissuers.certsmith.io/" + revocationIssuer
	// revocationBundle is the issuer's bundle ConfigMap in the namespace.
	revocationBundle = revocationIssuer + "-ca"
	// revocationRecord is the issuer's revocation record Secret in the
	// operator's namespace, which holds its current CRLs as "<caID>.crl".
	revocationRecord = revocationIssuer + "-revocations"
	// bundleCRLKey is the key of the issuer's CRLs (PEM) in its bundle ConfigMaps.
	bundleCRLKey = "ca.crl"

	// revokedCertificate is the ServiceCertificate whose certificate is
	// revoked; siblingCertificate is another of the same issuer, which stays.
	revokedCertificate = "revoked"
	siblingCertificate = "sibling"
	revokedSecret      = revokedCertificate + "-tls"
	siblingSecret      = siblingCertificate + "-tls"
	revokedHost        = revokedCertificate + "." + revocationNamespace + ".svc"
	siblingHost        = siblingCertificate + "." + revocationNamespace + ".svc"

	// certificateRevocation revokes revokedCertificate for keyCompromise.
	certificateRevocation = "revoked-key-compromise"
	// clusterRevocation revokes unknownSerial, which certsmith never issued.
	clusterRevocation = "revoking-unknown-serial"
	unknownSerial     = "0123456789abcdef"

	// keyCompromiseCode is the RFC 5280 reason code of keyCompromise.
	keyCompromiseCode = 1
	// revocationWait bounds each wait for a CRL: the revocation controller
	// signs at most one per issuer every 10 s.
	revocationWait = 30 * time.Second
	// revocationPoll is how often a wait asks again.
	revocationPoll = 250 * time.Millisecond
)

// crlAddress is where the suite's manager serves CRLs (its
// --crl-bind-address, a loopback address BeforeSuite picks).
var crlAddress string

// revocationIssuerManifest is the ClusterIssuer under test: a generated
// root whose bundle goes only to the test's namespace, and whose
// certificates name their CRL on the manager's CRL server.
func revocationIssuerManifest() string {
	return `apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: ` + revocationIssuer + `
spec:
  ca:
    selfSigned: {}
  bundle:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: ` + revocationNamespace + `
  revocation:
    crlDistributionPoint: "http://` + crlAddress + `/crl/` + revocationIssuer + `/$(CA_ID).crl"
`
}

// certificateRevocationManifest revokes the certificate of a ServiceCertificate.
func certificateRevocationManifest(name, serviceCertificate, reason string) string {
	return `apiVersion: certsmith.io/v1alpha1
kind: CertificateRevocation
metadata:
  name: ` + name + `
  namespace: ` + revocationNamespace + `
spec:
  serviceCertificateName: ` + serviceCertificate + `
  reason: ` + reason + "\n"
}

// The steps share what the first made and run in order; each checks one
// part, so that a part that does not work yet (the bundle's CRL, the CRL
// server) fails its own specs and lets the others run (ContinueOnFailure).
var _ = Describe("Revocation", Label("revocation"), Ordered, ContinueOnFailure, func() {
	var (
		dir string
		// ca is the issuer's CA, caID its ID in CRL names.
		ca   *x509.Certificate
		caID string
		// caFile is ca.crt of the bundle ConfigMap, which clients trust.
		caFile string
		// oldLeaf is the certificate that is revoked, read with its key
		// (oldKeyPEM) before the revocation and written into oldCertFile
		// and oldKeyFile; the sibling's are in siblingLeaf, siblingCertFile
		// and siblingKeyFile.
		oldLeaf, siblingLeaf               *x509.Certificate
		oldKeyPEM, oldCertFile, oldKeyFile string
		siblingCertFile, siblingKeyFile    string
		// newLeaf and newCertFile are the revoked ServiceCertificate's
		// certificate after its re-issue.
		newLeaf     *x509.Certificate
		newCertFile string
		// emptyCRLNumber is the number of the issuer's first CRL, before any
		// revocation; revokedCRLNumber of the first that lists oldLeaf.
		emptyCRLNumber, revokedCRLNumber *big.Int
	)

	BeforeAll(func() {
		dir = GinkgoT().TempDir()
		Expect(crlAddress).NotTo(BeEmpty(), "the suite's manager has no --crl-bind-address")

		By("checking that config/default installed the revocation CRDs")
		_, err := cluster.Kubectl("wait", "--for=condition=Established", "--timeout=30s",
			"crd/certificaterevocations.certsmith.io", "crd/clustercertificaterevocations.certsmith.io")
		Expect(err).NotTo(HaveOccurred())

		By("creating the namespace " + revocationNamespace + ", the ClusterIssuer " + revocationIssuer +
			" and the ServiceCertificates " + revokedCertificate + " and " + siblingCertificate)
		_, err = cluster.KubectlWithInput("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+revocationNamespace+"\n", "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			// The namespace stays (no namespace controller runs here). The
			// rest goes: the specs that check every CSR and every CA Secret
			// would find leftovers without an issuer.
			By("deleting the revocations, the ServiceCertificates, their CSRs and Secrets, the ClusterIssuer " + revocationIssuer + ", its CA Secret, record and bundle")
			for _, args := range [][]string{
				{"delete", "clustercertificaterevocation", clusterRevocation, "--ignore-not-found"},
				{"delete", "certificaterevocations", "--all", "-n", revocationNamespace},
				{"delete", "secret", revokedSecret, siblingSecret, "-n", revocationNamespace, "--ignore-not-found"},
				{"delete", "configmap", revocationBundle, "-n", revocationNamespace, "--ignore-not-found"},
				{"delete", "secret", revocationRecord, "-n", operatorNamespace, "--ignore-not-found"},
			} {
				_, err := cluster.Kubectl(append(args, "--timeout=60s")...)
				Expect(err).NotTo(HaveOccurred())
			}
			deleteIssuerFixture(revocationNamespace, revokedCertificate, revocationSigner, revocationIssuer,
				"servicecertificate/"+siblingCertificate)
		})
		_, err = cluster.KubectlWithInput(revocationIssuerManifest(), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "clusterissuer/"+revocationIssuer)
		Expect(err).NotTo(HaveOccurred(), manager.LogTail)
		_, err = cluster.KubectlWithInput(serviceCertificate(revocationNamespace, revokedCertificate, `
  issuerRef: {name: `+revocationIssuer+`}
  dnsNames: [`+revokedHost+`]
  secretName: `+revokedSecret+`
  duration: 1h`)+"---\n"+serviceCertificate(revocationNamespace, siblingCertificate, `
  issuerRef: {name: `+revocationIssuer+`}
  dnsNames: [`+siblingHost+`]
  secretName: `+siblingSecret+`
  duration: 1h`), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", revocationNamespace,
			"servicecertificate/"+revokedCertificate, "servicecertificate/"+siblingCertificate)
		Expect(err).NotTo(HaveOccurred(), manager.LogTail)

		By("reading the CA from the issuer's Secret " + operatorNamespace + "/" + revocationIssuer + "-ca")
		caSecret := getSecret(operatorNamespace, revocationIssuer+"-ca")
		cas, err := parseCertificates(caSecret.Data["tls.crt"])
		Expect(err).NotTo(HaveOccurred())
		ca, caID = cas[0], crlCAID(cas[0])

		By("reading the trust anchor that clients get: ca.crt of the bundle ConfigMap " + revocationNamespace + "/" + revocationBundle)
		caFile = filepath.Join(dir, "bundle-ca.crt")
		Eventually(func(g Gomega) {
			bundle, err := readBundleIn(revocationNamespace, revocationBundle)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(fingerprints(bundle)).To(ConsistOf(fingerprint(ca)))
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)
		Expect(os.WriteFile(caFile, pemCertificate(ca), 0o600)).To(Succeed())

		By("reading both certificates and their keys before anything is revoked")
		var keyPEM []byte
		oldLeaf, keyPEM = secretLeaf(revocationNamespace, revokedSecret)
		oldKeyPEM = string(keyPEM)
		Expect(oldLeaf.CheckSignatureFrom(ca)).To(Succeed())
		secret := getSecret(revocationNamespace, revokedSecret)
		oldCertFile, _ = writeLeafAndChain(dir, "old", secret.Data["tls.crt"])
		oldKeyFile = secret.writeKeyAs(dir, "tls.key", "old.key")
		siblingLeaf, _ = secretLeaf(revocationNamespace, siblingSecret)
		Expect(siblingLeaf.CheckSignatureFrom(ca)).To(Succeed())
		secret = getSecret(revocationNamespace, siblingSecret)
		siblingCertFile, _ = writeLeafAndChain(dir, "sibling", secret.Data["tls.crt"])
		siblingKeyFile = secret.writeKeyAs(dir, "tls.key", "sibling.key")
	})

	It("keeps a first, empty CRL for the issuer: in status.revocation and in the record Secret, signed by its CA", func() {
		Eventually(func(g Gomega) {
			status, err := issuerRevocation(revocationIssuer)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).NotTo(BeNil(), "no status.revocation")
			g.Expect(status.Problem).To(BeEmpty())
			g.Expect(status.CRLs).To(HaveLen(1))
			g.Expect(status.CRLs[0].CAID).To(Equal(caID), "the CRL's CA ID is not the first 16 hex digits of the CA's SHA-256 fingerprint")
			g.Expect(status.CRLs[0].CAFingerprintSHA256).To(Equal(fingerprint(ca)))
			g.Expect(status.CRLs[0].Revoked).To(BeZero())
			g.Expect(status.Revoked).To(BeZero())

			crl, err := recordCRL(caID, ca)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(crl.RevokedCertificateEntries).To(BeEmpty())
			g.Expect(crl.Number.String()).To(Equal(status.CRLs[0].Number), "status.revocation shows another CRL than the record holds")
			g.Expect(crl.NextUpdate).To(BeTemporally("~", status.CRLs[0].NextUpdate, time.Second))
			emptyCRLNumber = crl.Number
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)
		fmt.Fprintf(GinkgoWriter, "first CRL of %s (CA %s): number %s\n", revocationIssuer, caID, emptyCRLNumber)
	})

	It("names the CA's CRL on the CRL server in the certificates it issues (spec.revocation.crlDistributionPoint)", func() {
		want := "URI:http://" + crlAddress + "/crl/" + revocationIssuer + "/" + caID + ".crl"
		for _, certFile := range []string{oldCertFile, siblingCertFile} {
			Expect(certificateExtension(certFile, "crlDistributionPoints")).To(ConsistOf("Full Name:", want), certFile)
		}
	})

	It("publishes the empty CRL in the bundle ConfigMap: both certificates verify with openssl verify -crl_check", func() {
		By("reading " + bundleCRLKey + " of the ConfigMap " + revocationNamespace + "/" + revocationBundle)
		crlFile := filepath.Join(dir, "empty.crl")
		Eventually(func(g Gomega) {
			crls, err := readBundleCRLs(revocationNamespace, revocationBundle)
			g.Expect(err).NotTo(HaveOccurred())
			crl := crlSignedBy(crls.parsed, ca)
			g.Expect(crl).NotTo(BeNil(), "no CRL signed by the issuer's CA in %s", bundleCRLKey)
			g.Expect(emptyCRLNumber).NotTo(BeNil(), "the first CRL was not read")
			g.Expect(crl.Number.String()).To(Equal(emptyCRLNumber.String()))
			g.Expect(os.WriteFile(crlFile, crls.raw, 0o600)).To(Succeed())
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)

		// The control for the refusal below: with a CRL that lists nothing,
		// the certificate that will be revoked verifies.
		expectVerified(oldCertFile, "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile)
		expectVerified(siblingCertFile, "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile)
	})

	It("revokes "+revokedCertificate+"'s certificate with a CertificateRevocation (kubectl apply): Revoked=True, then Published", func() {
		applied := time.Now()
		_, err := cluster.KubectlWithInput(certificateRevocationManifest(certificateRevocation, revokedCertificate, "keyCompromise"), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())

		var rev *revocationObject
		Eventually(func(g Gomega) {
			rev, err = getRevocation("certificaterevocation", revocationNamespace, certificateRevocation)
			g.Expect(err).NotTo(HaveOccurred())
			cond := rev.condition("Revoked")
			g.Expect(cond).NotTo(BeNil(), "no Revoked condition")
			g.Expect(cond.Status).To(Equal("True"), "%s: %s", cond.Reason, cond.Message)
			g.Expect(cond.Reason).To(Equal("Published"), cond.Message)
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)
		fmt.Fprintf(GinkgoWriter, "Published %s after the apply\n", time.Since(applied).Round(time.Millisecond))

		By("reading what it revoked from its status: the old serial in lowercase hex, the issuer, the CA, the ServiceCertificate")
		Expect(rev.Status.SerialNumber).To(Equal(oldLeaf.SerialNumber.Text(16)))
		Expect(rev.Status.SerialNumber).To(Equal(strings.ToLower(rev.Status.SerialNumber)))
		Expect(rev.Status.IssuerName).To(Equal(revocationIssuer))
		Expect(rev.Status.CAFingerprintsSHA256).To(ConsistOf(fingerprint(ca)))
		Expect(rev.Status.ServiceCertificate).To(Equal(revocationNamespace + "/" + revokedCertificate))
		Expect(rev.Status.NotAfter).NotTo(BeNil())
		Expect(*rev.Status.NotAfter).To(BeTemporally("~", oldLeaf.NotAfter, time.Second))
		Expect(rev.condition("Revoked").Message).To(ContainSubstring(rev.Status.SerialNumber))

		By("reading the CRL in the record Secret " + operatorNamespace + "/" + revocationRecord + ": a newer one that lists the serial for keyCompromise, and only it")
		crl, err := recordCRL(caID, ca)
		Expect(err).NotTo(HaveOccurred())
		Expect(crl.Number.Cmp(emptyCRLNumber)).To(Equal(1), "CRL number %s is not above the first CRL's %s", crl.Number, emptyCRLNumber)
		entry := crlEntry(crl, oldLeaf.SerialNumber)
		Expect(entry).NotTo(BeNil(), "CRL number %s does not list serial %x", crl.Number, oldLeaf.SerialNumber)
		Expect(entry.ReasonCode).To(Equal(keyCompromiseCode))
		Expect(rev.Status.RevokedAt).NotTo(BeNil())
		Expect(entry.RevocationTime).To(BeTemporally("~", *rev.Status.RevokedAt, time.Second))
		Expect(crlEntry(crl, siblingLeaf.SerialNumber)).To(BeNil(), "the sibling's certificate is listed too")
		Expect(crl.RevokedCertificateEntries).To(HaveLen(1))
		revokedCRLNumber = crl.Number

		status, err := issuerRevocation(revocationIssuer)
		Expect(err).NotTo(HaveOccurred())
		Expect(status.Revoked).To(BeEquivalentTo(1))
		Expect(status.CRLs).To(HaveLen(1))
		Expect(status.CRLs[0].Number).To(Equal(crl.Number.String()))
		Expect(status.CRLs[0].Revoked).To(BeEquivalentTo(1))

		out, err := cluster.Kubectl("get", "certificaterevocation", certificateRevocation, "-n", revocationNamespace)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Print(out)
		_, rows := parseTable(out)
		Expect(rows).To(ConsistOf(And(
			HaveKeyWithValue("CERTIFICATE", revokedCertificate),
			HaveKeyWithValue("REASON", "keyCompromise"),
			HaveKeyWithValue("REVOKED", "True"),
		)))
	})

	It("re-issues "+revokedCertificate+" at once with a new key, and leaves "+siblingCertificate+" alone", func() {
		Eventually(func(g Gomega) {
			sc, err := getServiceCertificate(revocationNamespace, revokedCertificate)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sc.Status.SerialNumber).NotTo(Equal(oldLeaf.SerialNumber.Text(16)), "not re-issued yet")
			g.Expect(sc.ready()).To(BeTrue(), sc.readyMessage())
			leaf, key, err := readSecretLeaf(revocationNamespace, revokedSecret)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(leaf.SerialNumber.Text(16)).To(Equal(sc.Status.SerialNumber))
			newLeaf = leaf
			g.Expect(string(key)).NotTo(Equal(oldKeyPEM), "the re-issued certificate came with the revoked key")
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)
		Expect(newLeaf.RawSubjectPublicKeyInfo).NotTo(Equal(oldLeaf.RawSubjectPublicKeyInfo), "the new certificate is for the revoked key")
		Expect(newLeaf.CheckSignatureFrom(ca)).To(Succeed())
		secret := getSecret(revocationNamespace, revokedSecret)
		newCertFile, _ = writeLeafAndChain(dir, "new", secret.Data["tls.crt"])
		expectKeyMatchesCertificate(secret.writeKeyAs(dir, "tls.key", "new.key"), newCertFile)

		By("reading the re-issue in status.recentIssuances.revokedTimes and in a CertificateRevoked Event on the ServiceCertificate")
		Expect(revokedTimes(revocationNamespace, revokedCertificate)).To(Equal(1))
		Eventually(func(g Gomega) {
			events, err := quietCluster.Kubectl("get", "events", "-n", revocationNamespace, "--field-selector",
				"reason=CertificateRevoked,involvedObject.kind=ServiceCertificate,involvedObject.name="+revokedCertificate,
				"-o", `jsonpath={range .items[*]}{.type} {.reason}: {.message}{"\n"}{end}`)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(events).To(ContainSubstring("Normal CertificateRevoked: Certificate serial " + oldLeaf.SerialNumber.Text(16)))
		}).WithTimeout(10 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		sibling, err := getServiceCertificate(revocationNamespace, siblingCertificate)
		Expect(err).NotTo(HaveOccurred())
		Expect(sibling.Status.SerialNumber).To(Equal(siblingLeaf.SerialNumber.Text(16)), "the sibling was re-issued")
		Expect(sibling.ready()).To(BeTrue(), sibling.readyMessage())
	})

	It("refuses the revoked certificate with openssl verify -crl_check and the bundle ConfigMap's CRL; the sibling and the new certificate verify", func() {
		crlFile := waitForBundleCRLListing(dir, "revoked.crl", ca, oldLeaf.SerialNumber)

		out, err := openssl("verify", "-x509_strict", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, oldCertFile)
		Expect(exitedNonZero(err)).To(BeTrue(), "openssl verify accepted the revoked certificate (%v):\n%s", err, out)
		Expect(err).To(MatchError(ContainSubstring("certificate revoked")))

		expectVerified(siblingCertFile, "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile)
		expectVerified(newCertFile, "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile)
	})

	It("refuses the revoked certificate in a real TLS handshake with a client that checks the bundle's CRL; the sibling's server passes", func() {
		crlFile := waitForBundleCRLListing(dir, "handshake.crl", ca, oldLeaf.SerialNumber)
		crls, err := parseCRLsPEM(readFile(crlFile))
		Expect(err).NotTo(HaveOccurred())
		revokedServer := startTLSServer(oldCertFile, oldKeyFile)
		siblingServer := startTLSServer(siblingCertFile, siblingKeyFile)

		By("connecting with openssl s_client -crl_check -verify_return_error")
		sClient := func(address, host string) (string, error) {
			return openssl("s_client", "-connect", address, "-servername", host,
				"-verify_return_error", "-verify_hostname", host, "-CAfile", caFile, "-CRL", crlFile, "-crl_check")
		}
		out, err := sClient(revokedServer, revokedHost)
		Expect(exitedNonZero(err)).To(BeTrue(), "s_client accepted the revoked certificate (%v):\n%s", err, out)
		Expect(err).To(MatchError(ContainSubstring("certificate revoked")))
		out, err = sClient(siblingServer, siblingHost)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("Verified peername: " + siblingHost))
		Expect(out).To(ContainSubstring("Verify return code: 0 (ok)"))

		By("connecting with a Go crypto/tls client that checks the CRL's signature and lists after verifying the chain")
		presented, err := handshakeCheckingCRL(revokedServer, revokedHost, ca, crls)
		var revoked *revokedCertificateError
		Expect(errors.As(err, &revoked)).To(BeTrue(), "the Go client did not refuse the revoked certificate as revoked: %v", err)
		Expect(revoked.serial.Text(16)).To(Equal(oldLeaf.SerialNumber.Text(16)))
		Expect(presented.SerialNumber.Text(16)).To(Equal(oldLeaf.SerialNumber.Text(16)))
		presented, err = handshakeCheckingCRL(siblingServer, siblingHost, ca, crls)
		Expect(err).NotTo(HaveOccurred())
		Expect(presented.SerialNumber.Text(16)).To(Equal(siblingLeaf.SerialNumber.Text(16)))
	})

	It("serves /crl/"+revocationIssuer+"/<CA ID>.crl as DER: signed by the CA, listing the serial; openssl finds it from the certificate's distribution point", func() {
		Expect(revokedCRLNumber).NotTo(BeNil(), "no CRL listing the revoked serial was read")
		url := "http://" + crlAddress + "/crl/" + revocationIssuer + "/" + caID + ".crl"
		Eventually(func(g Gomega) {
			body, contentType, err := httpGet(url)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(contentType).To(Equal("application/pkix-crl"))
			crl, err := x509.ParseRevocationList(body)
			g.Expect(err).NotTo(HaveOccurred(), "the body is no DER CRL")
			g.Expect(checkCRL(crl, ca, time.Now())).To(Succeed())
			g.Expect(crlEntry(crl, oldLeaf.SerialNumber)).NotTo(BeNil(), "CRL number %s does not list serial %x", crl.Number, oldLeaf.SerialNumber)
			g.Expect(crl.Number.Cmp(revokedCRLNumber)).To(BeNumerically(">=", 0))
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)

		By("running openssl verify -crl_check -crl_download: the CRL comes from the URL in each certificate")
		out, err := openssl("verify", "-crl_check", "-crl_download", "-CAfile", caFile, oldCertFile)
		Expect(exitedNonZero(err)).To(BeTrue(), "openssl verify accepted the revoked certificate (%v):\n%s", err, out)
		Expect(err).To(MatchError(ContainSubstring("certificate revoked")))
		expectVerified(siblingCertFile, "-crl_check", "-crl_download", "-CAfile", caFile)

		By("asking for a CA the issuer does not have, and an issuer that does not exist: 404")
		for _, path := range []string{"/crl/" + revocationIssuer + "/0000000000000000.crl", "/crl/no-such-issuer.pem"} {
			_, _, err := httpGet("http://" + crlAddress + path)
			Expect(err).To(MatchError(ContainSubstring("404")), path)
		}
	})

	It("serves /crl/"+revocationIssuer+".pem byte for byte as the bundle ConfigMap's "+bundleCRLKey, func() {
		Eventually(func(g Gomega) {
			crls, err := readBundleCRLs(revocationNamespace, revocationBundle)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(crlSignedBy(crls.parsed, ca)).NotTo(BeNil())
			body, _, err := httpGet("http://" + crlAddress + "/crl/" + revocationIssuer + ".pem")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(body)).To(Equal(string(crls.raw)))
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)
	})

	It("keeps the CRL across a manager restart: the same or a higher number, the serial still listed, the re-issued certificate kept", func() {
		before, err := issuerRevocation(revocationIssuer)
		Expect(err).NotTo(HaveOccurred())
		Expect(before.CRLs).To(HaveLen(1))
		numberBefore, ok := new(big.Int).SetString(before.CRLs[0].Number, 10)
		Expect(ok).To(BeTrue(), "CRL number %q is not decimal", before.CRLs[0].Number)

		DeferCleanup(ensureManagerRunning)
		killManager()
		restartManager()

		By("reading the record and status.revocation again")
		Eventually(func(g Gomega) {
			crl, err := recordCRL(caID, ca)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(crl.Number.Cmp(numberBefore)).To(BeNumerically(">=", 0), "CRL number %s is below %s", crl.Number, numberBefore)
			g.Expect(crlEntry(crl, oldLeaf.SerialNumber)).NotTo(BeNil(), "CRL number %s lost serial %x", crl.Number, oldLeaf.SerialNumber)
			status, err := issuerRevocation(revocationIssuer)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status.CRLs).To(HaveLen(1))
			g.Expect(status.CRLs[0].Number).To(Equal(crl.Number.String()))
			g.Expect(status.Revoked).To(BeEquivalentTo(1))
			rev, err := getRevocation("certificaterevocation", revocationNamespace, certificateRevocation)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(rev.condition("Revoked")).To(HaveField("Reason", "Published"))
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)

		By("checking that the restarted manager does not re-issue " + revokedCertificate + " for the same revocation again")
		Consistently(func(g Gomega) {
			sc, err := getServiceCertificate(revocationNamespace, revokedCertificate)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sc.Status.SerialNumber).To(Equal(newLeaf.SerialNumber.Text(16)))
		}).WithTimeout(3 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(revokedTimes(revocationNamespace, revokedCertificate)).To(Equal(1))

		By("asking the restarted manager's CRL server")
		Eventually(func(g Gomega) {
			body, _, err := httpGet("http://" + crlAddress + "/crl/" + revocationIssuer + "/" + caID + ".crl")
			g.Expect(err).NotTo(HaveOccurred())
			crl, err := x509.ParseRevocationList(body)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(checkCRL(crl, ca, time.Now())).To(Succeed())
			g.Expect(crl.Number.Cmp(numberBefore)).To(BeNumerically(">=", 0))
			g.Expect(crlEntry(crl, oldLeaf.SerialNumber)).NotTo(BeNil())
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)
	})

	It("is final: the API server refuses a changed spec, and deleting the CertificateRevocation does not take the serial off", func() {
		_, err := cluster.KubectlWithInput(certificateRevocationManifest(certificateRevocation, revokedCertificate, "superseded"), "apply", "-f", "-")
		Expect(exitedNonZero(err)).To(BeTrue(), "kubectl apply changed the spec of a revocation (%v)", err)
		Expect(err).To(MatchError(ContainSubstring("spec is immutable")))
		Expect(cluster.Kubectl("get", "certificaterevocation", certificateRevocation, "-n", revocationNamespace,
			"-o", "jsonpath={.spec.reason}")).To(Equal("keyCompromise"))

		// The next spec's CRL, signed after this deletion, still lists it.
		_, err = cluster.Kubectl("delete", "certificaterevocation", certificateRevocation, "-n", revocationNamespace, "--timeout=60s")
		Expect(err).NotTo(HaveOccurred())
	})

	It("revokes a serial certsmith never issued with a ClusterCertificateRevocation: the next CRL lists it, and still the first", func() {
		before, err := recordCRL(caID, ca)
		Expect(err).NotTo(HaveOccurred())
		serial, _ := new(big.Int).SetString(unknownSerial, 16)

		applied := time.Now()
		_, err = cluster.KubectlWithInput(`apiVersion: certsmith.io/v1alpha1
kind: ClusterCertificateRevocation
metadata:
  name: `+clusterRevocation+`
spec:
  issuerName: `+revocationIssuer+`
  serialNumber: "`+unknownSerial+`"
  reason: cessationOfOperation
`, "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		var rev *revocationObject
		Eventually(func(g Gomega) {
			rev, err = getRevocation("clustercertificaterevocation", "", clusterRevocation)
			g.Expect(err).NotTo(HaveOccurred())
			cond := rev.condition("Revoked")
			g.Expect(cond).NotTo(BeNil(), "no Revoked condition")
			g.Expect(cond.Status).To(Equal("True"), "%s: %s", cond.Reason, cond.Message)
			g.Expect(cond.Reason).To(Equal("Published"), cond.Message)
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)
		fmt.Fprintf(GinkgoWriter, "Published %s after the apply\n", time.Since(applied).Round(time.Millisecond))
		Expect(rev.Status.SerialNumber).To(Equal(serial.Text(16)))
		Expect(rev.Status.IssuerName).To(Equal(revocationIssuer))
		Expect(rev.Status.CAFingerprintsSHA256).To(ConsistOf(fingerprint(ca)))
		Expect(rev.Status.ServiceCertificate).To(BeEmpty())

		By("reading the record's CRL: a higher number, both serials")
		crl, err := recordCRL(caID, ca)
		Expect(err).NotTo(HaveOccurred())
		Expect(crl.Number.Cmp(before.Number)).To(Equal(1), "CRL number %s is not above %s", crl.Number, before.Number)
		entry := crlEntry(crl, serial)
		Expect(entry).NotTo(BeNil(), "CRL number %s does not list serial %s", crl.Number, unknownSerial)
		Expect(entry.ReasonCode).To(Equal(5), "cessationOfOperation")
		Expect(crlEntry(crl, oldLeaf.SerialNumber)).NotTo(BeNil(), "deleting the CertificateRevocation took serial %x off the CRL", oldLeaf.SerialNumber)
		Expect(crl.RevokedCertificateEntries).To(HaveLen(2))
		status, err := issuerRevocation(revocationIssuer)
		Expect(err).NotTo(HaveOccurred())
		Expect(status.Revoked).To(BeEquivalentTo(2))

		By("reading the same CRL from the bundle ConfigMap and from the CRL server")
		Eventually(func(g Gomega) {
			crls, err := readBundleCRLs(revocationNamespace, revocationBundle)
			g.Expect(err).NotTo(HaveOccurred())
			published := crlSignedBy(crls.parsed, ca)
			g.Expect(published).NotTo(BeNil())
			g.Expect(published.Number.String()).To(Equal(crl.Number.String()))
			body, _, err := httpGet("http://" + crlAddress + "/crl/" + revocationIssuer + "/" + caID + ".crl")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(body).To(Equal(crl.Raw))
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)
	})

	It("refuses to revoke a ServiceCertificate that does not exist: Revoked=False, ServiceCertificateNotFound", func() {
		const missing = "does-not-exist"
		_, err := cluster.KubectlWithInput(certificateRevocationManifest("revokes-nothing", missing, "keyCompromise"), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			rev, err := getRevocation("certificaterevocation", revocationNamespace, "revokes-nothing")
			g.Expect(err).NotTo(HaveOccurred())
			cond := rev.condition("Revoked")
			g.Expect(cond).NotTo(BeNil(), "no Revoked condition")
			g.Expect(cond.Status).To(Equal("False"))
			g.Expect(cond.Reason).To(Equal("ServiceCertificateNotFound"))
			g.Expect(cond.Message).To(ContainSubstring(revocationNamespace + "/" + missing))
			g.Expect(rev.Status.SerialNumber).To(BeEmpty())
		}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)
	})
})

// revocationObject is the part of a CertificateRevocation or
// ClusterCertificateRevocation the specs read.
type revocationObject struct {
	Status struct {
		Conditions           []conditionObject `json:"conditions"`
		IssuerName           string            `json:"issuerName"`
		SerialNumber         string            `json:"serialNumber"`
		CAFingerprintsSHA256 []string          `json:"caFingerprintsSHA256"`
		RevokedAt            *time.Time        `json:"revokedAt"`
		NotAfter             *time.Time        `json:"notAfter"`
		ServiceCertificate   string            `json:"serviceCertificate"`
	} `json:"status"`
}

// conditionObject is a status condition.
type conditionObject struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// condition returns the condition of a type, or nil.
func (r *revocationObject) condition(conditionType string) *conditionObject {
	for i := range r.Status.Conditions {
		if r.Status.Conditions[i].Type == conditionType {
			return &r.Status.Conditions[i]
		}
	}
	return nil
}

// getRevocation reads a CertificateRevocation (namespace set) or a
// ClusterCertificateRevocation (namespace empty).
func getRevocation(kind, namespace, name string) (*revocationObject, error) {
	args := []string{"get", kind, name, "-o", "json"}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	out, err := quietCluster.Kubectl(args...)
	if err != nil {
		return nil, err
	}
	var rev revocationObject
	if err := json.Unmarshal([]byte(out), &rev); err != nil {
		return nil, err
	}
	return &rev, nil
}

// issuerRevocationStatus is status.revocation of a ClusterIssuer.
type issuerRevocationStatus struct {
	CRLs []struct {
		CAID                string    `json:"caID"`
		CAFingerprintSHA256 string    `json:"caFingerprintSHA256"`
		Number              string    `json:"number"`
		ThisUpdate          time.Time `json:"thisUpdate"`
		NextUpdate          time.Time `json:"nextUpdate"`
		Revoked             int32     `json:"revoked"`
	} `json:"crls"`
	Revoked int32  `json:"revoked"`
	Problem string `json:"problem"`
}

// issuerRevocation reads status.revocation of a ClusterIssuer, nil when it has none.
func issuerRevocation(issuer string) (*issuerRevocationStatus, error) {
	out, err := quietCluster.Kubectl("get", "clusterissuer", issuer, "-o", "json")
	if err != nil {
		return nil, err
	}
	var object struct {
		Status struct {
			Revocation *issuerRevocationStatus `json:"revocation"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &object); err != nil {
		return nil, err
	}
	return object.Status.Revocation, nil
}

// revokedTimes is how many re-issues after a revocation a
// ServiceCertificate's status.recentIssuances.revokedTimes records.
func revokedTimes(namespace, name string) int {
	GinkgoHelper()
	out, err := cluster.Kubectl("get", "servicecertificate", name, "-n", namespace, "-o", "json")
	Expect(err).NotTo(HaveOccurred())
	var sc struct {
		Status struct {
			RecentIssuances *struct {
				RevokedTimes []time.Time `json:"revokedTimes"`
			} `json:"recentIssuances"`
		} `json:"status"`
	}
	Expect(json.Unmarshal([]byte(out), &sc)).To(Succeed())
	if sc.Status.RecentIssuances == nil {
		return 0
	}
	return len(sc.Status.RecentIssuances.RevokedTimes)
}

// crlCAID is a CA's ID in CRL names and paths: the first 16 hex digits of
// its SHA-256 fingerprint, in lowercase.
func crlCAID(ca *x509.Certificate) string {
	sum := sha256.Sum256(ca.Raw)
	return hex.EncodeToString(sum[:8])
}

// recordCRL reads the current CRL of a CA from the issuer's record Secret
// and checks it (checkCRL).
func recordCRL(caID string, ca *x509.Certificate) (*x509.RevocationList, error) {
	record, err := readSecret(operatorNamespace, revocationRecord)
	if err != nil {
		return nil, err
	}
	der, ok := record.Data[caID+".crl"]
	if !ok {
		return nil, fmt.Errorf("the record Secret %s/%s has no key %s.crl", operatorNamespace, revocationRecord, caID)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("the record's %s.crl: %w", caID, err)
	}
	return crl, checkCRL(crl, ca, time.Now())
}

// checkCRL checks what a relying party checks of a CRL: the CA signed it,
// it names the CA as its issuer (name and key identifier), and it is
// current.
func checkCRL(crl *x509.RevocationList, ca *x509.Certificate, now time.Time) error {
	if err := crl.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("CRL number %s is not signed by the CA: %w", crl.Number, err)
	}
	if !bytes.Equal(crl.RawIssuer, ca.RawSubject) {
		return fmt.Errorf("CRL number %s names the issuer %s, not the CA %s", crl.Number, crl.Issuer, ca.Subject)
	}
	if !bytes.Equal(crl.AuthorityKeyId, ca.SubjectKeyId) {
		return fmt.Errorf("CRL number %s has the authority key ID %x, not the CA's %x", crl.Number, crl.AuthorityKeyId, ca.SubjectKeyId)
	}
	if crl.Number == nil {
		return errors.New("the CRL has no number")
	}
	if now.Before(crl.ThisUpdate.Add(-time.Minute)) || !now.Before(crl.NextUpdate) {
		return fmt.Errorf("CRL number %s is not current: thisUpdate %s, nextUpdate %s", crl.Number, crl.ThisUpdate, crl.NextUpdate)
	}
	return nil
}

// crlEntry returns the entry of a CRL for a serial number, or nil.
func crlEntry(crl *x509.RevocationList, serial *big.Int) *x509.RevocationListEntry {
	for i := range crl.RevokedCertificateEntries {
		if crl.RevokedCertificateEntries[i].SerialNumber.Cmp(serial) == 0 {
			return &crl.RevokedCertificateEntries[i]
		}
	}
	return nil
}

// bundleCRLs are the CRLs of a bundle ConfigMap: the PEM as stored, and parsed.
type bundleCRLs struct {
	raw    []byte
	parsed []*x509.RevocationList
}

// readBundleCRLs reads the CRLs (key ca.crl) of a bundle ConfigMap.
func readBundleCRLs(namespace, configMap string) (*bundleCRLs, error) {
	out, err := quietCluster.Kubectl("get", "configmap", configMap, "-n", namespace, "-o", "json")
	if err != nil {
		return nil, err
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &cm); err != nil {
		return nil, err
	}
	raw, ok := cm.Data[bundleCRLKey]
	if !ok {
		return nil, fmt.Errorf("the ConfigMap %s/%s has no key %s", namespace, configMap, bundleCRLKey)
	}
	parsed, err := parseCRLsPEM([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("%s of ConfigMap %s/%s: %w", bundleCRLKey, namespace, configMap, err)
	}
	return &bundleCRLs{raw: []byte(raw), parsed: parsed}, nil
}

// parseCRLsPEM parses PEM CRLs ("X509 CRL" blocks), at least one, and
// nothing else.
func parseCRLsPEM(data []byte) ([]*x509.RevocationList, error) {
	var crls []*x509.RevocationList
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("a PEM block of type %q among the CRLs", block.Type)
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, err
		}
		crls = append(crls, crl)
	}
	if strings.TrimSpace(string(data)) != "" {
		return nil, errors.New("trailing data after the PEM CRLs")
	}
	if len(crls) == 0 {
		return nil, errors.New("no PEM CRL")
	}
	return crls, nil
}

// crlSignedBy returns the CRL among crls that passes checkCRL for ca, or nil.
func crlSignedBy(crls []*x509.RevocationList, ca *x509.Certificate) *x509.RevocationList {
	for _, crl := range crls {
		if checkCRL(crl, ca, time.Now()) == nil {
			return crl
		}
	}
	return nil
}

// waitForBundleCRLListing waits until the bundle ConfigMap's ca.crl holds
// a CRL of ca that lists serial, writes it (all of ca.crl, as a client
// would use it) into dir/name and returns the path.
func waitForBundleCRLListing(dir, name string, ca *x509.Certificate, serial *big.Int) string {
	GinkgoHelper()
	path := filepath.Join(dir, name)
	Eventually(func(g Gomega) {
		crls, err := readBundleCRLs(revocationNamespace, revocationBundle)
		g.Expect(err).NotTo(HaveOccurred())
		crl := crlSignedBy(crls.parsed, ca)
		g.Expect(crl).NotTo(BeNil(), "no current CRL signed by the issuer's CA in %s", bundleCRLKey)
		g.Expect(crlEntry(crl, serial)).NotTo(BeNil(), "the bundle's CRL number %s does not list serial %x", crl.Number, serial)
		g.Expect(os.WriteFile(path, crls.raw, 0o600)).To(Succeed())
	}).WithTimeout(revocationWait).WithPolling(revocationPoll).Should(Succeed(), manager.LogTail)
	return path
}

// httpGet fetches url and returns the body and its Content-Type; a status
// other than 200 is an error that names it.
func httpGet(url string) ([]byte, string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// revokedCertificateError is how handshakeCheckingCRL refuses a server
// whose certificate the CA's CRL lists.
type revokedCertificateError struct{ serial *big.Int }

func (e *revokedCertificateError) Error() string {
	return fmt.Sprintf("the server's certificate (serial %x) is revoked", e.serial)
}

// handshakeCheckingCRL handshakes with address as host, trusting only ca,
// and, once the chain has verified, checks the server's certificate
// against the CA's CRL among crls as a client that fails closed does: no
// current CRL signed by the CA, or one that lists the certificate, refuses
// the server. It returns the certificate the server presented.
func handshakeCheckingCRL(address, host string, ca *x509.Certificate, crls []*x509.RevocationList) (*x509.Certificate, error) {
	var presented *x509.Certificate
	config := &tls.Config{
		RootCAs: poolOf(ca), ServerName: host, MinVersion: tls.VersionTLS12,
		VerifyConnection: func(state tls.ConnectionState) error {
			presented = state.PeerCertificates[0]
			chain := state.VerifiedChains[0]
			if len(chain) < 2 {
				return errors.New("the verified chain has no issuer")
			}
			leaf, issuer := chain[0], chain[1]
			crl := crlSignedBy(crls, issuer)
			if crl == nil {
				return fmt.Errorf("no current CRL of %s", issuer.Subject)
			}
			if crlEntry(crl, leaf.SerialNumber) != nil {
				return &revokedCertificateError{serial: leaf.SerialNumber}
			}
			return nil
		},
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", address, config)
	if err != nil {
		return presented, err
	}
	return presented, conn.Close()
}
