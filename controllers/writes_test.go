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
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// countedResources are the resources an issuance writes.
var countedResources = map[string]bool{
	"certificatesigningrequests": true, "secrets": true, "servicecertificates": true, "events": true, "clusterissuers": true,
}

// mutatingRequests reads the API server's request counters and returns the
// mutating requests per "VERB resource/subresource code".
func mutatingRequests() map[string]float64 {
	clientset, err := kubernetes.NewForConfig(testEnv.Config)
	Expect(err).NotTo(HaveOccurred())
	raw, err := clientset.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	Expect(err).NotTo(HaveOccurred())
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	Expect(err).NotTo(HaveOccurred())
	counts := map[string]float64{}
	family, ok := families["apiserver_request_total"]
	Expect(ok).To(BeTrue())
	for _, m := range family.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		switch labels["verb"] {
		case "POST", "PUT", "PATCH", "DELETE", "APPLY":
		default:
			continue
		}
		if !countedResources[labels["resource"]] {
			continue
		}
		key := fmt.Sprintf("%s %s/%s %s", labels["verb"], labels["resource"], labels["subresource"], labels["code"])
		counts[key] += m.GetCounter().GetValue()
	}
	return counts
}

func diffCounts(before, after map[string]float64) (map[string]int, int) {
	delta := map[string]int{}
	total := 0
	for k, v := range after {
		if d := int(v - before[k]); d > 0 {
			delta[k] = d
			total += d
		}
	}
	return delta, total
}

func describeCounts(delta map[string]int) string {
	keys := make([]string, 0, len(delta))
	for k := range delta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d\n", k, delta[k])
	}
	return b.String()
}

var _ = Describe("API writes per issuance", Serial, func() {
	It("costs the CSR API's five writes plus one Event, with no conflicts", func() {
		issuer := newSelfSignedIssuer()
		namespace := newNamespace()
		// A warm-up issuance: the first certificate of the day from a CA
		// also records the CA's signed-until mark (one write per CA per day).
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "warmup", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name},
				DNSNames:  []string{"warmup." + namespace + ".svc"},
			},
		})).To(Succeed())
		waitCertificateReady(namespace, "warmup")
		time.Sleep(2 * time.Second) // let the warm-up's writes finish
		before := mutatingRequests()

		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "counted", Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer.Name},
				DNSNames:  []string{"counted." + namespace + ".svc"},
			},
		})).To(Succeed())
		waitCertificateReady(namespace, "counted")
		time.Sleep(3 * time.Second) // settle: anything written after Ready counts too

		delta, total := diffCounts(before, mutatingRequests())
		total-- // the test's own create of the ServiceCertificate
		GinkgoWriter.Printf("mutating requests for one issuance (%d besides the test's create):\n%s", total, describeCounts(delta))
		AddReportEntry("writes per issuance", describeCounts(delta))
		for k := range delta {
			Expect(k).NotTo(HaveSuffix(" 409"), "no conflicts on the steady path")
		}
		Expect(delta).To(HaveKeyWithValue("POST certificatesigningrequests/ 201", 1))
		Expect(delta).To(HaveKeyWithValue("PUT certificatesigningrequests/approval 200", 1))
		Expect(delta).To(HaveKeyWithValue("PUT certificatesigningrequests/status 200", 1))
		Expect(delta).To(HaveKeyWithValue("POST secrets/ 201", 1))
		Expect(total).To(BeNumerically("<=", 6), describeCounts(delta))
	})
})
