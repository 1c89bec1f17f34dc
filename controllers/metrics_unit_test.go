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
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// TestCertificateMetricsFromTheCache: each ServiceCertificate's series are
// made at scrape time from what the cache holds: they follow its issuer and
// status, a certificate not issued has no expiry or renewal, a deleted one
// has none at all, and a standby (not elected) serves none.
func TestCertificateMetricsFromTheCache(t *testing.T) {
	now := metav1.NewTime(time.Unix(1_900_000_000, 0))
	sc := func(name, issuer string, issued bool, ready metav1.ConditionStatus) *certsmithv1alpha1.ServiceCertificate {
		c := &certsmithv1alpha1.ServiceCertificate{ObjectMeta: metav1.ObjectMeta{Namespace: "metrics-unit", Name: name}}
		c.Spec.IssuerRef.Name = issuer
		c.Status.Conditions = []metav1.Condition{{Type: certsmithv1alpha1.ConditionReady, Status: ready}}
		if issued {
			c.Status.NotAfter, c.Status.RenewalTime = &now, &now
		}
		return c
	}
	web, other := sc("web", "a", true, metav1.ConditionTrue), sc("other", "b", false, metav1.ConditionFalse)
	c := fake.NewClientBuilder().WithScheme(unitScheme(t)).WithObjects(web, other).Build()
	elected := make(chan struct{})
	collector := &certificateCollector{}
	collector.set(c, elected)

	if n := testutil.CollectAndCount(collector); n != 0 {
		t.Fatalf("a standby serves %d certificate series", n)
	}
	close(elected)
	// web: Ready ×3, expiration, renewal; other (not issued): Ready ×3.
	if n := testutil.CollectAndCount(collector); n != 5+3 {
		t.Fatalf("%d series, want 8", n)
	}
	want := `
# HELP certsmith_certificate_expiration_timestamp_seconds The notAfter of the certificate in a ServiceCertificate's Secret, as a Unix timestamp.
# TYPE certsmith_certificate_expiration_timestamp_seconds gauge
certsmith_certificate_expiration_timestamp_seconds{issuer="a",name="web",namespace="metrics-unit"} 1.9e+09
# HELP certsmith_certificate_ready_status The Ready condition of a ServiceCertificate: 1 for the current status (True, False or Unknown), 0 for the others.
# TYPE certsmith_certificate_ready_status gauge
certsmith_certificate_ready_status{condition="False",issuer="a",name="web",namespace="metrics-unit"} 0
certsmith_certificate_ready_status{condition="False",issuer="b",name="other",namespace="metrics-unit"} 1
certsmith_certificate_ready_status{condition="True",issuer="a",name="web",namespace="metrics-unit"} 1
certsmith_certificate_ready_status{condition="True",issuer="b",name="other",namespace="metrics-unit"} 0
certsmith_certificate_ready_status{condition="Unknown",issuer="a",name="web",namespace="metrics-unit"} 0
certsmith_certificate_ready_status{condition="Unknown",issuer="b",name="other",namespace="metrics-unit"} 0
# HELP certsmith_certificate_renewal_timestamp_seconds When a ServiceCertificate is due for renewal, as a Unix timestamp.
# TYPE certsmith_certificate_renewal_timestamp_seconds gauge
certsmith_certificate_renewal_timestamp_seconds{issuer="a",name="web",namespace="metrics-unit"} 1.9e+09
`
	if err := testutil.CollectAndCompare(collector, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}

	// Moved to another issuer: the old label is gone with no bookkeeping.
	web.Spec.IssuerRef.Name = "c"
	if err := c.Update(context.Background(), web); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(collector, strings.NewReader(`
# HELP certsmith_certificate_expiration_timestamp_seconds The notAfter of the certificate in a ServiceCertificate's Secret, as a Unix timestamp.
# TYPE certsmith_certificate_expiration_timestamp_seconds gauge
certsmith_certificate_expiration_timestamp_seconds{issuer="c",name="web",namespace="metrics-unit"} 1.9e+09
`), "certsmith_certificate_expiration_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(collector, "certsmith_certificate_ready_status"); n != 3 {
		t.Fatalf("%d Ready series after one of two certificates was deleted, want 3", n)
	}
}

// BenchmarkCollectCertificateMetrics makes the series of n cached
// certificates, as one scrape does (the cost moved from every reconcile to
// the scrape; the cache's List without copies adds a slice of n structs).
func BenchmarkCollectCertificateMetrics(b *testing.B) {
	now := metav1.NewTime(time.Unix(1_900_000_000, 0))
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			list := make([]certsmithv1alpha1.ServiceCertificate, n)
			for i := range list {
				list[i].Namespace, list[i].Name = "metrics-bench", fmt.Sprintf("cert-%05d", i)
				list[i].Spec.IssuerRef.Name = "a"
				list[i].Status.NotAfter, list[i].Status.RenewalTime = &now, &now
				list[i].Status.Conditions = []metav1.Condition{{Type: certsmithv1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
			}
			ch := make(chan prometheus.Metric, 1024)
			done := make(chan struct{})
			go func() {
				for range ch {
				}
				close(done)
			}()
			for b.Loop() {
				for i := range list {
					collectCertificate(ch, &list[i])
				}
			}
			b.StopTimer()
			close(ch)
			<-done
		})
	}
}

// TestIssuerRotationAndBundleMetrics: a ClusterIssuer's rotation phase,
// start, deadline and unpublished paths (in Publishing only) and its bundle
// coverage come from its cached status; an issuer never rotated and without
// a bundle has none of these series.
func TestIssuerRotationAndBundleMetrics(t *testing.T) {
	started, deadline := metav1.NewTime(time.Unix(1_900_000_000, 0)), metav1.NewTime(time.Unix(1_900_003_600, 0))
	rotating := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "rotating"}}
	rotating.Status.Rotation = &certsmithv1alpha1.RotationStatus{Phase: certsmithv1alpha1.RotationPublishing, StartedAt: &started, PublishDeadline: &deadline, Unpublished: 3}
	rotating.Status.Bundle = &certsmithv1alpha1.BundleStatus{Namespaces: 5, UpToDate: 4, Conflicts: 1}
	quiet := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "quiet"}}
	c := fake.NewClientBuilder().WithScheme(unitScheme(t)).WithObjects(rotating, quiet).Build()
	elected := make(chan struct{})
	close(elected)
	collector := &certificateCollector{}
	collector.set(c, elected)
	want := `
# HELP certsmith_bundle_conflicts Namespaces where a ConfigMap of the bundle's name is not certsmith's, so the bundle cannot be written there.
# TYPE certsmith_bundle_conflicts gauge
certsmith_bundle_conflicts{issuer="rotating"} 1
# HELP certsmith_bundle_namespaces Namespaces a ClusterIssuer's bundle ConfigMap should be in.
# TYPE certsmith_bundle_namespaces gauge
certsmith_bundle_namespaces{issuer="rotating"} 5
# HELP certsmith_bundle_up_to_date_namespaces Namespaces whose bundle ConfigMap holds the ClusterIssuer's current bundle.
# TYPE certsmith_bundle_up_to_date_namespaces gauge
certsmith_bundle_up_to_date_namespaces{issuer="rotating"} 4
# HELP certsmith_issuer_rotation_phase The phase of a ClusterIssuer's last CA rotation: 1 for the current one (Publishing, Retiring or Complete), 0 for the others; none before a first rotation.
# TYPE certsmith_issuer_rotation_phase gauge
certsmith_issuer_rotation_phase{name="rotating",phase="Complete"} 0
certsmith_issuer_rotation_phase{name="rotating",phase="Publishing"} 1
certsmith_issuer_rotation_phase{name="rotating",phase="Retiring"} 0
# HELP certsmith_issuer_rotation_publish_deadline_timestamp_seconds Until when a rotation in Publishing waits for every trust path to hold the new CA, as a Unix timestamp.
# TYPE certsmith_issuer_rotation_publish_deadline_timestamp_seconds gauge
certsmith_issuer_rotation_publish_deadline_timestamp_seconds{name="rotating"} 1.9000036e+09
# HELP certsmith_issuer_rotation_started_timestamp_seconds When a ClusterIssuer's last CA rotation started, as a Unix timestamp.
# TYPE certsmith_issuer_rotation_started_timestamp_seconds gauge
certsmith_issuer_rotation_started_timestamp_seconds{name="rotating"} 1.9e+09
# HELP certsmith_issuer_rotation_unpublished_paths Trust paths (bundle ConfigMaps, ClusterTrustBundle, Secrets' ca.crt, injection targets) that do not hold the new CA yet, during a rotation in Publishing.
# TYPE certsmith_issuer_rotation_unpublished_paths gauge
certsmith_issuer_rotation_unpublished_paths{name="rotating"} 3
`
	if err := testutil.CollectAndCompare(collector, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	rotating.Status.Rotation.Phase = certsmithv1alpha1.RotationRetiring
	if err := c.Update(context.Background(), rotating); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(collector, "certsmith_issuer_rotation_unpublished_paths", "certsmith_issuer_rotation_publish_deadline_timestamp_seconds"); n != 0 {
		t.Fatalf("%d Publishing-only series in Retiring", n)
	}
}
