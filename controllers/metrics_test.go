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
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

var _ = Describe("Metrics", func() {
	It("exposes expiry, renewal, readiness and issuance of certificates and issuers", func() {
		issuer := newSelfSignedIssuer()
		namespace := newNamespace()
		signedBefore := testutil.ToFloat64(csrsSigned.WithLabelValues(issuer.Name))
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "measured", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name},
				DNSNames:  []string{"measured." + namespace + ".svc"},
			},
		})).To(Succeed())
		sc := waitCertificateReady(namespace, "measured")

		Eventually(func(g Gomega) {
			series := certificateSeries(namespace, "measured")
			g.Expect(series).To(HaveKeyWithValue("certsmith_certificate_expiration_timestamp_seconds/"+issuer.Name, float64(sc.Status.NotAfter.Unix())))
			g.Expect(series).To(HaveKeyWithValue("certsmith_certificate_renewal_timestamp_seconds/"+issuer.Name, float64(sc.Status.RenewalTime.Unix())))
			g.Expect(series).To(HaveKeyWithValue("certsmith_certificate_ready_status/"+issuer.Name+"/True", 1.0))
			g.Expect(series).To(HaveKeyWithValue("certsmith_certificate_ready_status/"+issuer.Name+"/False", 0.0))
		}, timeout, interval).Should(Succeed())
		Expect(testutil.ToFloat64(csrsSigned.WithLabelValues(issuer.Name)) - signedBefore).To(Equal(1.0))
		Expect(testutil.CollectAndCount(issuanceDuration)).To(BeNumerically(">=", 1))
		Expect(testutil.ToFloat64(issuerReady.WithLabelValues(issuer.Name, "True"))).To(Equal(1.0))
		Expect(testutil.ToFloat64(issuerCAExpiration.WithLabelValues(issuer.Name))).To(Equal(float64(issuer.Status.CA.NotAfter.Unix())))

		By("a refused certificate reads not Ready, and a deleted one disappears")
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "refused", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name},
				DNSNames:  []string{"elsewhere.kube-system.svc"},
			},
		})).To(Succeed())
		waitCertificateCondition(namespace, "refused", metav1.ConditionFalse, certsmithv1alpha1.ReasonNotAllowedByPolicy)
		Eventually(func() map[string]float64 {
			return certificateSeries(namespace, "refused")
		}, timeout, interval).Should(HaveKeyWithValue("certsmith_certificate_ready_status/"+issuer.Name+"/False", 1.0))
		Expect(k8sClient.Delete(ctx, sc)).To(Succeed())
		Eventually(func() bool {
			return hasSeries(namespace, "measured")
		}, 10*time.Second, interval).Should(BeFalse())
	})

	It("counts CSRs refused, by reason", func() {
		issuer := newPolicyIssuer(docPolicy, certsmithv1alpha1.ApprovalAuto, certsmithv1alpha1.GeneratedCA{})
		before := testutil.ToFloat64(csrsRefused.WithLabelValues(issuer.Name, certsmithv1alpha1.ReasonCSRNotAllowed))
		handMadeCSR(issuer.Status.SignerName, newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: []string{"www.example.com"}}, docUsages, nil)
		Eventually(func() float64 {
			return testutil.ToFloat64(csrsRefused.WithLabelValues(issuer.Name, certsmithv1alpha1.ReasonCSRNotAllowed)) - before
		}, timeout, interval).Should(Equal(1.0))
	})
})

// hasSeries reports whether any certificate series exists for namespace/name.
func hasSeries(namespace, name string) bool {
	return len(certificateSeries(namespace, name)) > 0
}

// certificateSeries gathers the manager's registry and returns the values of
// namespace/name's certificate series, by "metric/issuer[/condition]".
func certificateSeries(namespace, name string) map[string]float64 {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	series := map[string]float64{}
	for _, family := range families {
		if !strings.HasPrefix(family.GetName(), "certsmith_certificate_") {
			continue
		}
		for _, m := range family.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] != namespace || labels["name"] != name {
				continue
			}
			key := family.GetName() + "/" + labels["issuer"]
			if c, ok := labels["condition"]; ok {
				key += "/" + c
			}
			series[key] = m.GetGauge().GetValue()
		}
	}
	return series
}
