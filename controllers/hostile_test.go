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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// eventReasons lists the reasons of the Events about one object.
func eventReasons(namespace, name string) []string {
	var events eventsv1.EventList
	Expect(k8sClient.List(ctx, &events, client.InNamespace(namespace))).To(Succeed())
	var reasons []string
	for _, e := range events.Items {
		if e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

var _ = Describe("Renewal can never loop", func() {
	var (
		issuer    *certsmithv1alpha1.ClusterIssuer
		namespace string
	)
	BeforeEach(func() {
		issuer = newSelfSignedIssuer()
		namespace = newNamespace()
	})
	create := func(name string, mutate func(*certsmithv1alpha1.ServiceCertificateSpec)) {
		sc := &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name},
				DNSNames:  []string{name + "." + namespace + ".svc"},
			},
		}
		if mutate != nil {
			mutate(&sc.Spec)
		}
		Expect(k8sClient.Create(ctx, sc)).To(Succeed())
	}

	It("renews a 10m certificate asking for renewal at 95% no sooner than the floor after issuance", func() {
		create("eager", func(s *certsmithv1alpha1.ServiceCertificateSpec) {
			s.Duration = &metav1.Duration{Duration: 10 * time.Minute}
			s.RenewBeforePercentage = ptr.To(int32(95))
		})
		sc := waitRevision(namespace, "eager", 1)
		issued := sc.Status.NotBefore.Add(pki.Backdate)
		// A tenth of the 11-minute lifetime (the minute of back-dating
		// included) is longer than the one-minute minimum.
		Expect(sc.Status.RenewalTime.Time).To(BeTemporally(">=", issued.Add(66*time.Second-time.Second)), "renewalTime vs issuance")

		By("nothing is re-issued before the floor, however often it is looked at")
		for range 3 {
			nudge(namespace, "eager")
		}
		Consistently(func(g Gomega) {
			g.Expect(getCertificate(namespace, "eager").Status.Revision).To(Equal(int64(1)))
			g.Expect(requestsFor(namespace, "eager")).To(HaveLen(1))
		}, 3*time.Second, 200*time.Millisecond).Should(Succeed())

		By("at the floor it renews once")
		stepClock(sc.Status.RenewalTime.Sub(fakeClock.Now()) + time.Second)
		nudge(namespace, "eager")
		waitRevision(namespace, "eager", 2)
		Consistently(func(g Gomega) {
			g.Expect(getCertificate(namespace, "eager").Status.Revision).To(Equal(int64(2)))
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("issues at most 5 times an hour for the same spec and CA, then waits with a condition and an Event", func() {
		create("churn", nil)
		waitRevision(namespace, "churn", 1)
		deleteSecret := func() {
			Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "churn-tls"}})).To(Succeed())
		}
		By("a Secret deleted again and again is re-issued four more times")
		for revision := int64(2); revision <= maxIssuancesPerHour; revision++ {
			deleteSecret()
			waitRevision(namespace, "churn", revision)
		}
		Expect(getCertificate(namespace, "churn").Status.RecentIssuances.Times).To(HaveLen(maxIssuancesPerHour))

		By("the sixth deletion is not re-issued: Ready False, IssuanceRateLimited, and an Event")
		csrNames := func() []string {
			var names []string
			for _, csr := range requestsFor(namespace, "churn") {
				names = append(names, csr.Name)
			}
			return names
		}
		before := csrNames()
		deleteSecret()
		sc := waitCertificateCondition(namespace, "churn", metav1.ConditionFalse, certsmithv1alpha1.ReasonIssuanceRateLimited)
		Expect(meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady).Message).To(ContainSubstring(string(certsmithv1alpha1.ReasonSecretMissing)))
		Eventually(func() []string { return eventReasons(namespace, "churn") }, timeout, interval).Should(ContainElement(certsmithv1alpha1.ReasonIssuanceRateLimited))
		Consistently(func(g Gomega) {
			g.Expect(csrNames()).To(Equal(before), "no new CSR while rate limited")
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		By("an hour later it is issued again")
		stepClock(time.Hour)
		nudge(namespace, "churn")
		waitRevision(namespace, "churn", maxIssuancesPerHour+1)
	})

	It("lets a changed spec through at once, even past the limit", func() {
		create("edited", nil)
		waitRevision(namespace, "edited", 1)
		for revision := int64(2); revision <= maxIssuancesPerHour; revision++ {
			Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "edited-tls"}})).To(Succeed())
			waitRevision(namespace, "edited", revision)
		}
		update(namespace, "edited", func(sc *certsmithv1alpha1.ServiceCertificate) {
			sc.Spec.DNSNames = append(sc.Spec.DNSNames, "also."+namespace+".svc")
		})
		waitRevision(namespace, "edited", maxIssuancesPerHour+1)
	})
})
