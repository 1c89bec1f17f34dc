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
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// revokedCondition is a Revoked condition as the revocation controller
// writes it.
func revokedCondition(status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{
		Type: certsmithv1alpha1.ConditionRevoked, Status: status, Reason: reason, Message: message,
		ObservedGeneration: 1, LastTransitionTime: metav1.NewTime(testNow),
	}
}

// runPluginInBackground runs the plugin in a goroutine; the result arrives
// on the channel.
func runPluginInBackground(args ...string) <-chan pluginResult {
	done := make(chan pluginResult, 1)
	go func() {
		defer GinkgoRecover()
		done <- runPlugin(args...)
	}()
	return done
}

var _ = Describe("revoke", func() {
	const (
		issuerName = "revoke-issuer"
		serial     = "5b0e913c447a102f"
	)
	var namespace string

	BeforeEach(func() {
		namespace = newNamespace("revoke")
	})

	// createIssued creates a ServiceCertificate with the status of one
	// whose Secret holds a certificate.
	createIssued := func(name string) *certsmithv1alpha1.ServiceCertificate {
		sc := &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuerName},
				DNSNames:  []string{"web.example.com"},
			},
		}
		Expect(k8sClient.Create(ctx, sc)).To(Succeed())
		sc.Status = certsmithv1alpha1.ServiceCertificateStatus{SecretName: name + "-tls", SerialNumber: serial, Revision: 1}
		Expect(k8sClient.Status().Update(ctx, sc)).To(Succeed())
		return sc
	}

	// revocations lists the CertificateRevocations of the namespace.
	revocations := func() []certsmithv1alpha1.CertificateRevocation {
		list := &certsmithv1alpha1.CertificateRevocationList{}
		Expect(k8sClient.List(ctx, list, client.InNamespace(namespace))).To(Succeed())
		return list.Items
	}

	// theRevocation waits for the one CertificateRevocation of the namespace.
	theRevocation := func() *certsmithv1alpha1.CertificateRevocation {
		var items []certsmithv1alpha1.CertificateRevocation
		Eventually(func() int {
			items = revocations()
			return len(items)
		}).WithTimeout(10 * time.Second).Should(Equal(1))
		return &items[0]
	}

	It("creates a CertificateRevocation of the ServiceCertificate's certificate", func() {
		createIssued("web")

		result := runPlugin("revoke", "web", "-n", namespace, "--reason", "keyCompromise")
		Expect(result.Err).NotTo(HaveOccurred())

		rev := theRevocation()
		Expect(rev.GenerateName).To(Equal("web-"))
		Expect(rev.Name).To(HavePrefix("web-"))
		Expect(rev.Spec).To(Equal(certsmithv1alpha1.CertificateRevocationSpec{
			ServiceCertificateName: "web", Reason: certsmithv1alpha1.RevocationKeyCompromise,
		}))
		Expect(result.Out).To(Equal(
			"certificaterevocation.certsmith.io/" + rev.Name + " created in namespace " + namespace + ": revocation of ServiceCertificate web (reason keyCompromise)\n" +
				"  certificate now in Secret web-tls: serial " + serial + ", ClusterIssuer " + issuerName + "; certsmith re-issues it with a new key\n" +
				"  follow it with \"kubectl get certificaterevocation " + rev.Name + " -n " + namespace + " -o wide\"\n"))
	})

	It("gives the reason unspecified unless told otherwise", func() {
		createIssued("web")
		Expect(runPlugin("revoke", "web", "-n", namespace).Err).NotTo(HaveOccurred())
		Expect(theRevocation().Spec.Reason).To(Equal(certsmithv1alpha1.RevocationUnspecified))
	})

	It("keeps the name of a revocation of a long-named ServiceCertificate within the limits", func() {
		name := strings.Repeat("long.name-", 12) + "web"
		createIssued(name)
		Expect(runPlugin("revoke", name, "-n", namespace).Err).NotTo(HaveOccurred())
		rev := theRevocation()
		Expect(len(rev.Name)).To(BeNumerically("<=", 63))
		Expect(name).To(HavePrefix(strings.TrimSuffix(rev.GenerateName, "-")))
		Expect(rev.Spec.ServiceCertificateName).To(Equal(name))
	})

	It("refuses a ServiceCertificate that does not exist", func() {
		result := runPlugin("revoke", "nope", "-n", namespace)
		Expect(result.Err).To(MatchError(`ServiceCertificate "nope" not found in namespace "` + namespace + `"`))
		Expect(revocations()).To(BeEmpty())
	})

	It("refuses a ServiceCertificate that has no certificate yet", func() {
		sc := &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "fresh", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuerName},
				DNSNames:  []string{"fresh.example.com"},
			},
		}
		Expect(k8sClient.Create(ctx, sc)).To(Succeed())
		result := runPlugin("revoke", "fresh", "-n", namespace)
		Expect(result.Err).To(MatchError(ContainSubstring("ServiceCertificate " + namespace + "/fresh has no certificate yet")))
		Expect(revocations()).To(BeEmpty())
	})

	It("checks the reason before sending anything", func() {
		createIssued("web")
		result := runPlugin("revoke", "web", "-n", namespace, "--reason", "compromised")
		Expect(result.Err).To(MatchError(ContainSubstring(`--reason "compromised" is not a revocation reason; use one of: unspecified, keyCompromise,`)))
		Expect(revocations()).To(BeEmpty())
	})

	It("waits with --wait until a CRL lists the certificate", func() {
		createIssued("web")
		done := runPluginInBackground("revoke", "web", "-n", namespace, "--reason", "superseded", "--wait=30s")
		rev := theRevocation()

		// Recorded is not yet published: the plugin keeps waiting.
		rev.Status = certsmithv1alpha1.CertificateRevocationStatus{
			ObservedGeneration: 1, IssuerName: issuerName, SerialNumber: serial,
			Conditions: []metav1.Condition{revokedCondition(metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationRecorded,
				"serial "+serial+" is recorded; the next CRL lists it")},
		}
		Expect(k8sClient.Status().Update(ctx, rev)).To(Succeed())
		Consistently(done).WithTimeout(2 * time.Second).ShouldNot(Receive())

		revokedAt := testNow.Add(-time.Minute)
		rev.Status.RevokedAt = &metav1.Time{Time: revokedAt}
		rev.Status.Conditions = []metav1.Condition{revokedCondition(metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationPublished,
			"serial "+serial+" is listed by CRL number 4 of ClusterIssuer "+issuerName)}
		Expect(k8sClient.Status().Update(ctx, rev)).To(Succeed())

		var result pluginResult
		Eventually(done).WithTimeout(10 * time.Second).Should(Receive(&result))
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.ErrOut).To(ContainSubstring("Waiting up to 30s for a CRL to list it...\n"))
		Expect(result.Out).To(ContainSubstring("certificaterevocation.certsmith.io/" + rev.Name + ": revoked (Published: serial " + serial +
			" is listed by CRL number 4 of ClusterIssuer " + issuerName + ")\n"))
		Expect(result.Out).To(ContainSubstring("  serial " + serial + ", ClusterIssuer " + issuerName + ", revoked at " + rfc3339(revokedAt) + " (60s ago)\n"))
	})

	It("fails at once with --wait when certsmith refuses the revocation", func() {
		createIssued("web")
		done := runPluginInBackground("revoke", "web", "-n", namespace, "--wait=2m")
		rev := theRevocation()

		message := "the certificate of ServiceCertificate " + namespace + "/web (serial " + serial + ") was not signed by a CA ClusterIssuer " + issuerName + " still has"
		rev.Status = certsmithv1alpha1.CertificateRevocationStatus{
			ObservedGeneration: 1,
			Conditions:         []metav1.Condition{revokedCondition(metav1.ConditionFalse, certsmithv1alpha1.ReasonRevocationNotIssuers, message)},
		}
		Expect(k8sClient.Status().Update(ctx, rev)).To(Succeed())

		var result pluginResult
		Eventually(done).WithTimeout(10 * time.Second).Should(Receive(&result))
		Expect(result.Err).To(MatchError("certificaterevocation.certsmith.io/" + rev.Name + ": refused (NotSignedByIssuer): " + message))
	})

	It("gives up after the --wait timeout", func() {
		createIssued("web")
		result := runPlugin("revoke", "web", "-n", namespace, "--wait=2s")
		Expect(result.Err).To(MatchError(HaveSuffix(": timed out after 2s; certsmith has not reported on it (is the operator running?)")))
		// The revocation stays: only the waiting ended.
		Expect(revocations()).To(HaveLen(1))
	})

	Context("by serial number", func() {
		var issuer string

		BeforeEach(func() {
			issuer = "revoke-ca-" + rand.String(5)
			createClusterIssuer(issuer, "", certsmithv1alpha1.ClusterIssuerStatus{})
		})

		// clusterRevocations lists the ClusterCertificateRevocations of issuer.
		clusterRevocations := func() []certsmithv1alpha1.ClusterCertificateRevocation {
			list := &certsmithv1alpha1.ClusterCertificateRevocationList{}
			Expect(k8sClient.List(ctx, list)).To(Succeed())
			var mine []certsmithv1alpha1.ClusterCertificateRevocation
			for _, rev := range list.Items {
				if rev.Spec.IssuerName == issuer {
					mine = append(mine, rev)
				}
			}
			return mine
		}

		theClusterRevocation := func() *certsmithv1alpha1.ClusterCertificateRevocation {
			var items []certsmithv1alpha1.ClusterCertificateRevocation
			Eventually(func() int {
				items = clusterRevocations()
				return len(items)
			}).WithTimeout(10 * time.Second).Should(Equal(1))
			return &items[0]
		}

		It("creates a ClusterCertificateRevocation with the serial number in lowercase hexadecimal", func() {
			result := runPlugin("revoke", "--issuer", issuer, "--serial", "5B:0E:91:3C:44:7A:10:2F", "--reason", "superseded")
			Expect(result.Err).NotTo(HaveOccurred())

			rev := theClusterRevocation()
			Expect(rev.GenerateName).To(Equal(issuer + "-"))
			Expect(rev.Spec).To(Equal(certsmithv1alpha1.ClusterCertificateRevocationSpec{
				IssuerName: issuer, SerialNumber: serial, Reason: certsmithv1alpha1.RevocationSuperseded,
			}))
			Expect(result.Out).To(Equal(
				"clustercertificaterevocation.certsmith.io/" + rev.Name + " created: revocation of serial " + serial + " of ClusterIssuer " + issuer + " (reason superseded)\n" +
					"  follow it with \"kubectl get clustercertificaterevocation " + rev.Name + " -o wide\"\n"))
		})

		It("takes the serial number from the first certificate of a PEM file, skipping the key", func() {
			ca := newRootCA("Revoke File CA")
			key := newKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
			leaf := signRequest(ca, key, leafNames, []string{pki.UsageDigitalSignature, pki.UsageClientAuth}, 24*time.Hour, false)
			path := filepath.Join(GinkgoT().TempDir(), "credentials.pem")
			Expect(os.WriteFile(path, append(pemKey(key), pki.EncodeCertificatesPEM(leaf, ca.Certificate)...), 0o600)).To(Succeed())

			result := runPlugin("revoke", "--issuer", issuer, "--certificate-file", path, "--reason", "keyCompromise")
			Expect(result.Err).NotTo(HaveOccurred())
			Expect(theClusterRevocation().Spec.SerialNumber).To(Equal(leaf.SerialNumber.Text(16)))
			Expect(result.Out + result.ErrOut).NotTo(ContainSubstring("PRIVATE KEY"))
		})

		It("waits with --wait until a CRL lists the serial", func() {
			done := runPluginInBackground("revoke", "--issuer", issuer, "--serial", serial, "--wait=30s")
			rev := theClusterRevocation()
			rev.Status = certsmithv1alpha1.CertificateRevocationStatus{
				ObservedGeneration: 1, IssuerName: issuer, SerialNumber: serial, RevokedAt: &metav1.Time{Time: testNow},
				Conditions: []metav1.Condition{revokedCondition(metav1.ConditionTrue, certsmithv1alpha1.ReasonRevocationPublished,
					"serial "+serial+" is listed by CRL number 2 of ClusterIssuer "+issuer)},
			}
			Expect(k8sClient.Status().Update(ctx, rev)).To(Succeed())

			var result pluginResult
			Eventually(done).WithTimeout(10 * time.Second).Should(Receive(&result))
			Expect(result.Err).NotTo(HaveOccurred())
			Expect(result.Out).To(ContainSubstring("clustercertificaterevocation.certsmith.io/" + rev.Name + ": revoked (Published: "))
		})

		It("refuses a ClusterIssuer that does not exist", func() {
			result := runPlugin("revoke", "--issuer", "no-such-issuer", "--serial", serial)
			Expect(result.Err).To(MatchError(`ClusterIssuer "no-such-issuer" not found`))
		})

		It("checks the serial number before sending anything", func() {
			for _, bad := range []string{"5B:0E:9", strings.Repeat("ab", 21), "0x5b0e", "00"} {
				result := runPlugin("revoke", "--issuer", issuer, "--serial", bad)
				Expect(result.Err).To(MatchError(ContainSubstring("--serial: ")), bad)
			}
			Expect(clusterRevocations()).To(BeEmpty())
		})
	})
})
