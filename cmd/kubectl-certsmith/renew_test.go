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
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

var _ = Describe("renew", func() {
	const annotation = certsmithv1alpha1.AnnotationRenewRequestedAt
	var (
		nsA, nsB string
		// before holds every test certificate as created, by "ns/name".
		before map[string]certsmithv1alpha1.ServiceCertificate
	)

	createCertificate := func(namespace, name string, labels map[string]string) {
		sc := &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels,
				Annotations: map[string]string{"keep": "me"}},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef: certsmithv1alpha1.IssuerReference{Name: "ca"},
				DNSNames:  []string{name + ".example.com"},
			},
		}
		Expect(k8sClient.Create(ctx, sc)).To(Succeed())
		before[namespace+"/"+name] = *sc
	}

	// renewed returns the "ns/name" of the test certificates that carry the
	// renew annotation, checking on the way that nothing else changed.
	renewed := func() map[string]string {
		values := map[string]string{}
		for key, old := range before {
			sc := &certsmithv1alpha1.ServiceCertificate{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(&old), sc)).To(Succeed())
			Expect(sc.Generation).To(Equal(old.Generation), "%s: the spec must not change", key)
			Expect(sc.Spec).To(Equal(old.Spec), "%s: the spec must not change", key)
			Expect(sc.Labels).To(Equal(old.Labels), key)
			Expect(sc.Annotations).To(HaveKeyWithValue("keep", "me"), "%s: other annotations stay", key)
			if value, ok := sc.Annotations[annotation]; ok {
				values[key] = value
			}
		}
		return values
	}

	BeforeEach(func() {
		before = map[string]certsmithv1alpha1.ServiceCertificate{}
		nsA, nsB = newNamespace("renew-a"), newNamespace("renew-b")
		createCertificate(nsA, "a1", map[string]string{"team": "x"})
		createCertificate(nsA, "a2", map[string]string{"team": "y"})
		createCertificate(nsA, "a3", nil)
		createCertificate(nsB, "b1", map[string]string{"team": "x"})
		createCertificate(nsB, "b2", nil)
	})

	It("renews one certificate by name, leaving its spec alone", func() {
		result := runPlugin("renew", "a1", "-n", nsA)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(Equal("servicecertificate.certsmith.io/a1 in namespace " + nsA +
			": renewal requested (certsmith.io/renew-requested-at=" + rfc3339(testNow) + ")\n"))
		Expect(renewed()).To(Equal(map[string]string{nsA + "/a1": rfc3339(testNow)}))
	})

	It("renews several certificates by name", func() {
		result := runPlugin("renew", "a1", "a3", "-n", nsA)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("servicecertificate.certsmith.io/a1 in namespace " + nsA))
		Expect(result.Out).To(ContainSubstring("servicecertificate.certsmith.io/a3 in namespace " + nsA))
		Expect(renewed()).To(HaveLen(2))
		Expect(renewed()).To(HaveKey(nsA + "/a3"))
	})

	It("renews by label selector in one namespace", func() {
		result := runPlugin("renew", "-l", "team=x", "-n", nsA)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(ContainSubstring("servicecertificate.certsmith.io/a1 in namespace " + nsA))
		Expect(renewed()).To(Equal(map[string]string{nsA + "/a1": rfc3339(testNow)}))
	})

	It("renews by label selector in every namespace with -A", Serial, func() {
		result := runPlugin("renew", "--selector", "team=x", "-A")
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(renewed()).To(Equal(map[string]string{
			nsA + "/a1": rfc3339(testNow),
			nsB + "/b1": rfc3339(testNow),
		}))
		Expect(result.Out).To(ContainSubstring("servicecertificate.certsmith.io/b1 in namespace " + nsB))
	})

	It("renews everything in one namespace with --all", func() {
		result := runPlugin("renew", "--all", "-n", nsB)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(renewed()).To(Equal(map[string]string{
			nsB + "/b1": rfc3339(testNow),
			nsB + "/b2": rfc3339(testNow),
		}))
		Expect(result.Out).To(HaveLen(len("servicecertificate.certsmith.io/b1 in namespace "+nsB+
			": renewal requested (certsmith.io/renew-requested-at="+rfc3339(testNow)+")\n") * 2))
	})

	It("renews everything everywhere with --all -A", Serial, func() {
		result := runPlugin("renew", "--all", "--all-namespaces")
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(renewed()).To(HaveLen(5))
	})

	It("makes a second request in the same second differ from the first", func() {
		Expect(runPlugin("renew", "a1", "-n", nsA).Err).NotTo(HaveOccurred())
		Expect(runPlugin("renew", "a1", "-n", nsA).Err).NotTo(HaveOccurred())
		second := renewed()[nsA+"/a1"]
		Expect(second).NotTo(Equal(rfc3339(testNow)))
		Expect(second).To(Equal(testNow.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")))
	})

	It("uses the kubeconfig's namespace without -n", func() {
		createCertificate("default", "renew-default", nil)
		DeferCleanup(func() {
			Expect(k8sClient.Delete(ctx, &certsmithv1alpha1.ServiceCertificate{
				ObjectMeta: metav1.ObjectMeta{Name: "renew-default", Namespace: "default"}})).To(Succeed())
		})
		result := runPlugin("renew", "renew-default")
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(renewed()).To(Equal(map[string]string{"default/renew-default": rfc3339(testNow)}))
	})

	It("renews the certificates it finds and reports the ones it does not", func() {
		result := runPlugin("renew", "a1", "missing", "-n", nsA)
		Expect(result.Err).To(MatchError(`ServiceCertificate "missing" not found in namespace "` + nsA + `"`))
		Expect(result.Out).To(ContainSubstring("servicecertificate.certsmith.io/a1 in namespace " + nsA))
		Expect(renewed()).To(Equal(map[string]string{nsA + "/a1": rfc3339(testNow)}))
	})

	It("says so when a selector matches nothing", func() {
		result := runPlugin("renew", "-l", "team=nobody", "-n", nsA)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.ErrOut).To(ContainSubstring(`No ServiceCertificates found in namespace "` + nsA + `".`))
		Expect(result.Out).To(BeEmpty())
		Expect(renewed()).To(BeEmpty())
	})

	DescribeTable("refuses ambiguous or missing selections without touching anything",
		func(message string, args ...string) {
			result := runPlugin(append([]string{"renew"}, args...)...)
			Expect(result.Err).To(MatchError(ContainSubstring(message)))
			Expect(renewed()).To(BeEmpty())
		},
		Entry("nothing selected", "name the ServiceCertificates to renew, or use --selector or --all"),
		Entry("-A alone", "name the ServiceCertificates to renew", "-A"),
		Entry("names and a selector", "use only one of: names, --selector, --all", "a1", "-l", "team=x"),
		Entry("names and --all", "use only one of", "a1", "--all"),
		Entry("a selector and --all", "use only one of", "-l", "team=x", "--all"),
		Entry("names with -A", "--all-namespaces works with --selector or --all, not with names", "a1", "-A"),
		Entry("a bad selector", "parsing --selector", "-l", "team in (", "-A"),
	)
})
