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
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// createEvent records an events.k8s.io Event about regarding, as the
// operator's event recorder would.
func createEvent(namespace string, regarding corev1.ObjectReference, eventType, reason, note string, at time.Time) {
	event := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{GenerateName: regarding.Name + "-", Namespace: namespace},
		EventTime:           metav1.NewMicroTime(at),
		ReportingController: "certsmith",
		ReportingInstance:   "certsmith-test",
		Action:              "Issue",
		Reason:              reason,
		Regarding:           regarding,
		Note:                note,
		Type:                eventType,
	}
	Expect(k8sClient.Create(ctx, event)).To(Succeed())
}

// referenceTo returns an event's regarding reference to sc.
func referenceTo(sc *certsmithv1alpha1.ServiceCertificate) corev1.ObjectReference {
	return corev1.ObjectReference{
		APIVersion: certsmithv1alpha1.GroupVersion.String(), Kind: "ServiceCertificate",
		Namespace: sc.Namespace, Name: sc.Name, UID: sc.UID,
	}
}

var _ = Describe("status", func() {
	var namespace string

	BeforeEach(func() {
		namespace = newNamespace("status")
	})

	It("shows conditions, Secret, issuer, times, the CSR in flight and the newest events", func() {
		issuerName := "status-issuer-" + namespace
		createClusterIssuer(issuerName, "", certsmithv1alpha1.ClusterIssuerStatus{
			SignerName: certsmithv1alpha1.DefaultSignerDomain + "/" + issuerName,
			Conditions: []metav1.Condition{readyCondition(metav1.ConditionTrue, certsmithv1alpha1.ReasonCAReady, "CA is valid", testNow.Add(-time.Hour))},
		})
		csrName := "status-web-" + namespace
		csr := createCSR(csrName, certsmithv1alpha1.DefaultSignerDomain+"/"+issuerName)
		csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue,
			Reason: certsmithv1alpha1.ReasonCSRApproved, Message: "Approved by certsmith after checking the request",
		}}
		Expect(k8sClient.SubResource("approval").Update(ctx, csr)).To(Succeed())

		sc := &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: namespace,
				Annotations: map[string]string{certsmithv1alpha1.AnnotationRenewRequestedAt: "2026-01-01T00:00:00Z"}},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuerName},
				DNSNames:  []string{"web.example.com"},
			},
		}
		Expect(k8sClient.Create(ctx, sc)).To(Succeed())
		sc.Status = certsmithv1alpha1.ServiceCertificateStatus{
			ObservedGeneration: sc.Generation,
			Conditions: []metav1.Condition{
				readyCondition(metav1.ConditionTrue, certsmithv1alpha1.ReasonIssued, "The certificate in Secret web-tls is up to date", testNow.Add(-30*24*time.Hour)),
				{
					Type: certsmithv1alpha1.ConditionIssuing, Status: metav1.ConditionTrue, Reason: certsmithv1alpha1.ReasonManuallyTriggered,
					Message:            "Renewal was requested\nwith the annotation",
					LastTransitionTime: metav1.NewTime(testNow.Add(-5 * time.Minute)),
				},
			},
			SecretName:                "web-tls",
			SerialNumber:              "1f2e3d",
			NotBefore:                 &metav1.Time{Time: testNow.Add(-30 * 24 * time.Hour)},
			NotAfter:                  &metav1.Time{Time: testNow.Add(60 * 24 * time.Hour)},
			RenewalTime:               &metav1.Time{Time: testNow.Add(59 * 24 * time.Hour)},
			Revision:                  3,
			CertificateSigningRequest: csrName,
			FailedIssuanceAttempts:    2,
			LastFailureTime:           &metav1.Time{Time: testNow.Add(-5 * time.Hour)},
			LastRenewRequest:          "2025-12-01T00:00:00Z",
		}
		Expect(k8sClient.Status().Update(ctx, sc)).To(Succeed())

		// Twelve events about the certificate, one minute apart, created
		// newest first so that the API's order is not the printed order.
		for i := 12; i >= 1; i-- {
			createEvent(namespace, referenceTo(sc), corev1.EventTypeNormal, fmt.Sprintf("Step%02d", i),
				fmt.Sprintf("step %d happened", i), testNow.Add(-time.Duration(13-i)*time.Minute))
		}
		// Events about another object, and about an earlier "web" with
		// another UID, are not this certificate's.
		other := referenceTo(sc)
		other.Name = "other"
		createEvent(namespace, other, corev1.EventTypeWarning, "OtherObject", "not about web", testNow)
		earlier := referenceTo(sc)
		earlier.UID = types.UID("00000000-0000-0000-0000-000000000000")
		createEvent(namespace, earlier, corev1.EventTypeWarning, "EarlierWeb", "about a deleted web", testNow)

		result := runPlugin("status", "web", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		out := result.Out

		Expect(out).To(MatchRegexp(`Name:\s+web\n`))
		Expect(out).To(MatchRegexp(`Namespace:\s+` + namespace + `\n`))
		Expect(out).To(MatchRegexp(`Secret:\s+web-tls\n`))
		Expect(out).To(MatchRegexp(`Issuer:\s+` + issuerName + ` \(Ready: True, signer: clusterissuers\.certsmith\.io/` + issuerName + `\)\n`))
		Expect(out).To(MatchRegexp(`Serial number:\s+1f2e3d\n`))
		Expect(out).To(MatchRegexp(`Not before:\s+` + rfc3339(testNow.Add(-30*24*time.Hour)) + ` \(30d ago\)\n`))
		Expect(out).To(MatchRegexp(`Not after:\s+` + rfc3339(testNow.Add(60*24*time.Hour)) + ` \(in 60d\)\n`))
		Expect(out).To(MatchRegexp(`Renewal time:\s+` + rfc3339(testNow.Add(59*24*time.Hour)) + ` \(in 59d\)\n`))
		Expect(out).To(MatchRegexp(`Revision:\s+3\n`))
		Expect(out).To(MatchRegexp(`Failed attempts:\s+2\n`))
		Expect(out).To(MatchRegexp(`Last failure:\s+` + rfc3339(testNow.Add(-5*time.Hour)) + ` \(5h ago\)\n`))
		Expect(out).To(MatchRegexp(`Renewal requested:\s+2026-01-01T00:00:00Z \(not handled yet\)\n`))
		Expect(out).NotTo(ContainSubstring("Observed generation"))

		// Conditions: type, status, reason, age and message on one line each.
		Expect(out).To(MatchRegexp(`Conditions:\n\s+TYPE\s+STATUS\s+REASON\s+AGE\s+MESSAGE\n`))
		Expect(out).To(MatchRegexp(`\n\s+Ready\s+True\s+Issued\s+30d\s+The certificate in Secret web-tls is up to date\n`))
		Expect(out).To(MatchRegexp(`\n\s+Issuing\s+True\s+ManuallyTriggered\s+5m\s+Renewal was requested with the annotation\n`))

		// The CSR in flight and its conditions.
		Expect(out).To(ContainSubstring("CertificateSigningRequest: " + csrName + " (signer clusterissuers.certsmith.io/" + issuerName))
		Expect(out).To(MatchRegexp(`\n\s+Approved\s+True\s+CertsmithApproved\s+\S+\s+Approved by certsmith after checking the request\n`))

		// The ten newest events about web, oldest first.
		Expect(out).To(ContainSubstring("Events (newest last, at most 10):"))
		Expect(out).NotTo(ContainSubstring("Step01"))
		Expect(out).NotTo(ContainSubstring("Step02"))
		Expect(out).NotTo(ContainSubstring("OtherObject"))
		Expect(out).NotTo(ContainSubstring("EarlierWeb"))
		previous := -1
		for i := 3; i <= 12; i++ {
			at := strings.Index(out, fmt.Sprintf("Step%02d", i))
			Expect(at).To(BeNumerically(">", previous), "Step%02d is missing or out of order", i)
			previous = at
		}
		Expect(out).To(MatchRegexp(`\n\s+60s\s+Normal\s+Step12\s+step 12 happened\n`))
		Expect(out).To(MatchRegexp(`\n\s+10m\s+Normal\s+Step03\s+step 3 happened\n`))
	})

	It("says what is missing: no CSR, no events, an unknown issuer, a stale status", func() {
		sc := &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "fresh", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: "no-such-issuer"},
				DNSNames:  []string{"fresh.example.com"},
			},
		}
		Expect(k8sClient.Create(ctx, sc)).To(Succeed())

		result := runPlugin("status", "fresh", "--namespace", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(MatchRegexp(`Issuer:\s+no-such-issuer \(ClusterIssuer not found\)\n`))
		Expect(result.Out).To(MatchRegexp(`Secret:\s+<none>\n`))
		Expect(result.Out).To(MatchRegexp(`Not after:\s+<none>\n`))
		Expect(result.Out).To(MatchRegexp(`Observed generation:\s+0 \(the spec is at generation 1`))
		Expect(result.Out).To(ContainSubstring("Conditions:\n  <none>\n"))
		Expect(result.Out).To(ContainSubstring("CertificateSigningRequest: <none> (none in flight)"))
		Expect(result.Out).To(ContainSubstring("Events: <none>"))
	})

	It("shows a CSR that is still pending, and one that is gone", func() {
		issuerName := "status-pending-" + namespace
		createClusterIssuer(issuerName, "", certsmithv1alpha1.ClusterIssuerStatus{
			Conditions: []metav1.Condition{readyCondition(metav1.ConditionFalse, certsmithv1alpha1.ReasonCASecretNotFound, "no CA", testNow)},
		})
		pendingCSR := "status-pending-" + namespace
		createCSR(pendingCSR, certsmithv1alpha1.DefaultSignerDomain+"/"+issuerName)
		for name, csrName := range map[string]string{"pending": pendingCSR, "gone": "deleted-csr-" + namespace} {
			sc := &certsmithv1alpha1.ServiceCertificate{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
				Spec: certsmithv1alpha1.ServiceCertificateSpec{
					IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuerName},
					DNSNames:  []string{name + ".example.com"},
				},
			}
			Expect(k8sClient.Create(ctx, sc)).To(Succeed())
			sc.Status.ObservedGeneration = sc.Generation
			sc.Status.CertificateSigningRequest = csrName
			Expect(k8sClient.Status().Update(ctx, sc)).To(Succeed())
		}

		result := runPlugin("status", "pending", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		// A not-ready issuer shows the reason.
		Expect(result.Out).To(MatchRegexp(`Issuer:\s+` + issuerName + ` \(Ready: False, CASecretNotFound, signer: clusterissuers\.certsmith\.io/` + issuerName + `\)`))
		Expect(result.Out).To(ContainSubstring("CertificateSigningRequest: " + pendingCSR + " (signer"))
		Expect(result.Out).To(ContainSubstring("Pending: no conditions yet (not approved or denied)"))

		result = runPlugin("status", "gone", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("CertificateSigningRequest: deleted-csr-" + namespace + " (not found)"))
	})

	It("fails with a clear message when the ServiceCertificate does not exist", func() {
		result := runPlugin("status", "nope", "-n", namespace)
		Expect(result.Err).To(MatchError(`ServiceCertificate "nope" not found in namespace "` + namespace + `"`))
		Expect(result.Out).To(BeEmpty())
	})

	It("wants exactly one name", func() {
		result := runPlugin("status")
		Expect(result.Err).To(MatchError(ContainSubstring("give the name of one ServiceCertificate")))
	})
})
