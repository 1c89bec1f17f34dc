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
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// TestCertificateMetricsExactSeries: a ServiceCertificate's series follow
// its issuer and status, are gone once it is forgotten, and recording or
// forgetting one certificate never touches another's.
func TestCertificateMetricsExactSeries(t *testing.T) {
	now := metav1.NewTime(time.Unix(1_900_000_000, 0))
	sc := func(name, issuer string, issued bool) *certsmithv1alpha1.ServiceCertificate {
		c := &certsmithv1alpha1.ServiceCertificate{ObjectMeta: metav1.ObjectMeta{Namespace: "metrics-unit", Name: name}}
		c.Spec.IssuerRef.Name = issuer
		c.Status.Conditions = []metav1.Condition{{Type: certsmithv1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
		if issued {
			c.Status.NotAfter, c.Status.RenewalTime = &now, &now
		}
		return c
	}
	count := func() int {
		return testutil.CollectAndCount(certificateReady) + testutil.CollectAndCount(certificateExpiration) + testutil.CollectAndCount(certificateRenewal)
	}
	base := count()

	recordCertificateMetrics(sc("other", "a", true))
	recordCertificateMetrics(sc("web", "a", true))
	if got := count() - base; got != 2*5 {
		t.Fatalf("%d series for two issued certificates, want 10", got)
	}
	recordCertificateMetrics(sc("web", "b", true)) // moved to another issuer
	if got := count() - base; got != 2*5 {
		t.Fatalf("%d series after an issuer change, want 10 (the old label's gone)", got)
	}
	for _, v := range conditionValues {
		if certificateReady.DeleteLabelValues("metrics-unit", "web", "a", string(v)) {
			t.Fatalf("the series of the old issuer (%s) is still there", v)
		}
	}
	if got := testutil.ToFloat64(certificateReady.WithLabelValues("metrics-unit", "web", "b", "True")); got != 1 {
		t.Fatalf("Ready True under the new issuer = %v", got)
	}
	recordCertificateMetrics(sc("web", "b", false)) // no certificate any more
	if got := count() - base; got != 5+3 {
		t.Fatalf("%d series with one certificate not issued, want 8", got)
	}
	forgetCertificateMetrics(certificateKey("metrics-unit", "web"))
	if got := count() - base; got != 5 {
		t.Fatalf("%d series after forgetting one, want the other's 5", got)
	}
	if got := testutil.ToFloat64(certificateExpiration.WithLabelValues("metrics-unit", "other", "a")); got != float64(now.Unix()) {
		t.Fatalf("the other certificate's expiration = %v", got)
	}
	forgetCertificateMetrics(certificateKey("metrics-unit", "other"))
	forgetCertificateMetrics(certificateKey("metrics-unit", "never-recorded"))
	if got := count() - base; got != 0 {
		t.Fatalf("%d series left", got)
	}
	certificateIssuers.Lock()
	defer certificateIssuers.Unlock()
	for key := range certificateIssuers.of {
		if key.Namespace == "metrics-unit" {
			t.Fatalf("%s is still remembered", key)
		}
	}
}

// BenchmarkRecordCertificateMetrics records one certificate's metrics
// among n others: the cost must not grow with n.
func BenchmarkRecordCertificateMetrics(b *testing.B) {
	now := metav1.NewTime(time.Unix(1_900_000_000, 0))
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := &certsmithv1alpha1.ServiceCertificate{ObjectMeta: metav1.ObjectMeta{Namespace: "metrics-bench"}}
			c.Spec.IssuerRef.Name = "a"
			c.Status.NotAfter, c.Status.RenewalTime = &now, &now
			for i := range n {
				c.Name = fmt.Sprintf("cert-%05d", i)
				recordCertificateMetrics(c)
			}
			b.Cleanup(func() {
				for i := range n {
					forgetCertificateMetrics(certificateKey("metrics-bench", fmt.Sprintf("cert-%05d", i)))
				}
			})
			c.Name = "cert-00000"
			b.ResetTimer()
			for b.Loop() {
				recordCertificateMetrics(c)
			}
		})
	}
}
