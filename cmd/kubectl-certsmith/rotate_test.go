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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

var _ = Describe("rotate", func() {
	It("sets the rotate annotation on the ClusterIssuer and leaves its spec alone", func() {
		name := "rotate-" + rand.String(5)
		issuer := createClusterIssuer(name, "", certsmithv1alpha1.ClusterIssuerStatus{
			CA: &certsmithv1alpha1.CAStatus{
				Subject: "CN=" + name, SerialNumber: "abc123",
				NotAfter: &metav1.Time{Time: testNow.Add(3650 * 24 * time.Hour)},
			},
		})

		result := runPlugin("rotate", name)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("clusterissuer.certsmith.io/" + name + ": CA rotation requested (certsmith.io/rotate-requested-at=" + rfc3339(testNow) + ")\n"))
		Expect(result.Out).To(ContainSubstring("  current CA: CN=" + name + ", serial abc123, not after "))

		after := &certsmithv1alpha1.ClusterIssuer{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, after)).To(Succeed())
		Expect(after.Annotations).To(HaveKeyWithValue(certsmithv1alpha1.AnnotationRotateRequestedAt, rfc3339(testNow)))
		Expect(after.Generation).To(Equal(issuer.Generation))
		Expect(after.Spec).To(Equal(issuer.Spec))

		// Asking again in the same second still changes the value.
		Expect(runPlugin("rotate", name).Err).NotTo(HaveOccurred())
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, after)).To(Succeed())
		Expect(after.Annotations[certsmithv1alpha1.AnnotationRotateRequestedAt]).NotTo(Equal(rfc3339(testNow)))
	})

	It("reports a rotation that is under way", func() {
		name := "rotate-busy-" + rand.String(5)
		createClusterIssuer(name, "", certsmithv1alpha1.ClusterIssuerStatus{
			Rotation: &certsmithv1alpha1.RotationStatus{
				Phase:     certsmithv1alpha1.RotationPublishing,
				StartedAt: &metav1.Time{Time: testNow.Add(-2 * 24 * time.Hour)},
			},
		})
		result := runPlugin("rotate", name)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("  previous rotation: in progress (phase Publishing, started " +
			rfc3339(testNow.Add(-2*24*time.Hour)) + " (2d ago))\n"))
	})

	It("refuses an issuer with an imported CA, which certsmith does not rotate", func() {
		name := "rotate-imported-" + rand.String(5)
		issuer := &certsmithv1alpha1.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certsmithv1alpha1.ClusterIssuerSpec{
				CA: certsmithv1alpha1.CASource{SecretRef: &certsmithv1alpha1.SecretReference{Name: "corp-ca"}},
			},
		}
		Expect(k8sClient.Create(ctx, issuer)).To(Succeed())
		result := runPlugin("rotate", name)
		Expect(result.Err).To(MatchError(ContainSubstring(`ClusterIssuer "` + name + `" imports its CA from Secret "corp-ca" (spec.ca.secretRef), which certsmith does not rotate`)))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(issuer), issuer)).To(Succeed())
		Expect(issuer.Annotations).NotTo(HaveKey(certsmithv1alpha1.AnnotationRotateRequestedAt))
	})

	It("fails with a clear message when the ClusterIssuer does not exist", func() {
		Expect(runPlugin("rotate", "no-such-issuer").Err).To(MatchError(`ClusterIssuer "no-such-issuer" not found`))
	})
})
