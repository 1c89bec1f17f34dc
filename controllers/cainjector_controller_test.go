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
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// injectionBundle is what the injector must write for an issuer: the ca.crt
// of its CA Secret, read independently of the code under test.
func injectionBundle(issuerName string) []byte {
	return getSecret(operatorNamespace, issuerName+"-ca").Data[corev1.ServiceAccountRootCAKey]
}

// unrelatedCAPEM is a CA certificate that belongs to no issuer.
func unrelatedCAPEM() []byte {
	key := newKey(pki.KeyAlgorithmECDSA)
	return pki.EncodeCertificatesPEM(newRoot(key, "unrelated", time.Now(), time.Hour))
}

// injectedWebhooks makes the webhooks of a test configuration: a Service
// that does not exist, failurePolicy Ignore and rules for a made-up group,
// so they never intercept the suite's own requests.
func injectedWebhooks(names ...string) ([]admissionregistrationv1.ValidatingWebhook, []admissionregistrationv1.MutatingWebhook) {
	var validating []admissionregistrationv1.ValidatingWebhook
	var mutating []admissionregistrationv1.MutatingWebhook
	for _, name := range names {
		clientConfig := admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
			Namespace: "default", Name: "no-such-webhook", Path: ptr.To("/" + name),
		}}
		rules := []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{"inject.certsmith.example"}, APIVersions: []string{"v1"}, Resources: []string{"widgets"},
			},
		}}
		validating = append(validating, admissionregistrationv1.ValidatingWebhook{
			Name: name, ClientConfig: clientConfig, Rules: rules,
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		})
		mutating = append(mutating, admissionregistrationv1.MutatingWebhook{
			Name: name, ClientConfig: clientConfig, Rules: rules,
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		})
	}
	return validating, mutating
}

// newInjectedVWC creates a ValidatingWebhookConfiguration with two webhooks
// that asks for the CA of an issuer, and deletes it after the spec.
func newInjectedVWC(issuerName string) *admissionregistrationv1.ValidatingWebhookConfiguration {
	name := uniqueName("inject-vwc")
	webhooks, _ := injectedWebhooks("one."+name+".certsmith.example", "two."+name+".certsmith.example")
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{certsmithv1alpha1.AnnotationInjectCABundleFrom: issuerName}},
		Webhooks:   webhooks,
	}
	Expect(k8sClient.Create(ctx, vwc)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, vwc))).To(Succeed()) })
	return vwc
}

// getVWC reads a ValidatingWebhookConfiguration with the admin client.
func getVWC(name string) *admissionregistrationv1.ValidatingWebhookConfiguration {
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, vwc)).To(Succeed())
	return vwc
}

// webhookCABundles returns the caBundle of every webhook of a configuration.
func webhookCABundles(name string) []string {
	var bundles []string
	for _, webhook := range getVWC(name).Webhooks {
		bundles = append(bundles, string(webhook.ClientConfig.CABundle))
	}
	return bundles
}

// createUnstructured creates an object from YAML with the admin client and
// deletes it after the spec.
func createUnstructured(manifest string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	Expect(utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096).Decode(&obj.Object)).To(Succeed())
	Expect(k8sClient.Create(ctx, obj)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed()) })
	return obj
}

// decodedField reads a base64 []byte field of an object with the admin client.
func decodedField(like *unstructured.Unstructured, path ...string) string {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(like.GroupVersionKind())
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: like.GetName()}, obj)).To(Succeed())
	encoded, _, err := unstructured.NestedString(obj.Object, path...)
	Expect(err).NotTo(HaveOccurred())
	decoded, err := base64.StdEncoding.DecodeString(encoded)
	Expect(err).NotTo(HaveOccurred())
	return string(decoded)
}

// ownedFields lists, per field manager, the leaf fields it owns on an
// object, as paths like "f:webhooks/k:{"name":"a"}/f:clientConfig/f:caBundle".
func ownedFields(obj metav1.Object) map[string][]string {
	owned := map[string][]string{}
	for _, entry := range obj.GetManagedFields() {
		if entry.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		Expect(json.Unmarshal(entry.FieldsV1.Raw, &fields)).To(Succeed())
		owned[entry.Manager] = append(owned[entry.Manager], leafFields("", fields)...)
		if entry.Manager == CAInjectorFieldManager {
			Expect(entry.Operation).To(Equal(metav1.ManagedFieldsOperationApply))
		}
	}
	return owned
}

func leafFields(prefix string, fields map[string]any) []string {
	var leaves []string
	for key, value := range fields {
		path := strings.TrimPrefix(prefix+"/"+key, "/")
		if child, _ := value.(map[string]any); len(child) > 0 {
			leaves = append(leaves, leafFields(path, child)...)
		} else {
			leaves = append(leaves, path)
		}
	}
	return leaves
}

// expectOnlyCABundlesOwned checks that the injector owns exactly the given
// caBundle fields (plus the keys of the list items they sit in) and that no
// other manager owns any caBundle.
func expectOnlyCABundlesOwned(obj metav1.Object, caBundlePaths ...string) {
	owned := ownedFields(obj)
	var injectorFields []string
	for _, path := range owned[CAInjectorFieldManager] {
		if strings.HasSuffix(path, "/.") || strings.HasSuffix(path, "}/f:name") {
			continue // a list item's identity
		}
		injectorFields = append(injectorFields, path)
	}
	Expect(injectorFields).To(ConsistOf(caBundlePaths), "fields owned by %s", CAInjectorFieldManager)
	for manager, paths := range owned {
		if manager == CAInjectorFieldManager {
			continue
		}
		for _, path := range paths {
			Expect(path).NotTo(HaveSuffix("f:caBundle"), "manager %s owns a caBundle", manager)
		}
	}
}

// webhookCABundlePath is the managed-fields path of one webhook's caBundle.
func webhookCABundlePath(webhook string) string {
	return fmt.Sprintf(`f:webhooks/k:{"name":%q}/f:clientConfig/f:caBundle`, webhook)
}

// injectorEvents returns the reasons of the Events about an object of a kind.
func injectorEvents(kind, name, eventType string) []string {
	var events eventsv1.EventList
	Expect(k8sClient.List(ctx, &events)).To(Succeed())
	var reasons []string
	for _, e := range events.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name && e.Type == eventType {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

var _ = Describe("CA injection", func() {
	var issuer *certsmithv1alpha1.ClusterIssuer

	BeforeEach(func() {
		issuer = newSelfSignedIssuer()
	})

	It("keeps every webhook's caBundle of a ValidatingWebhookConfiguration, owning nothing else, and repairs edits", func() {
		bundle := string(injectionBundle(issuer.Name))
		vwc := newInjectedVWC(issuer.Name)
		one, two := vwc.Webhooks[0].Name, vwc.Webhooks[1].Name
		Eventually(func() []string { return webhookCABundles(vwc.Name) }, timeout, interval).Should(Equal([]string{bundle, bundle}))
		expectOnlyCABundlesOwned(getVWC(vwc.Name), webhookCABundlePath(one), webhookCABundlePath(two))
		Eventually(func() []string {
			return injectorEvents("ValidatingWebhookConfiguration", vwc.Name, corev1.EventTypeNormal)
		}, timeout, interval).Should(ContainElement(reasonCABundleInjected))

		By("someone else's edit of a caBundle is undone, and the injector owns it again")
		Eventually(func() error {
			edited := getVWC(vwc.Name)
			edited.Webhooks[1].ClientConfig.CABundle = unrelatedCAPEM()
			return k8sClient.Update(ctx, edited)
		}, timeout, interval).Should(Succeed())
		Eventually(func() []string { return webhookCABundles(vwc.Name) }, timeout, interval).Should(Equal([]string{bundle, bundle}))
		expectOnlyCABundlesOwned(getVWC(vwc.Name), webhookCABundlePath(one), webhookCABundlePath(two))

		By("the other fields stay with their author")
		current := getVWC(vwc.Name)
		Expect(*current.Webhooks[0].FailurePolicy).To(Equal(admissionregistrationv1.Ignore))
		Expect(current.Webhooks[0].ClientConfig.Service.Name).To(Equal("no-such-webhook"))
	})

	It("keeps the caBundle of a MutatingWebhookConfiguration", func() {
		bundle := string(injectionBundle(issuer.Name))
		name := uniqueName("inject-mwc")
		_, webhooks := injectedWebhooks("only." + name + ".certsmith.example")
		mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{certsmithv1alpha1.AnnotationInjectCABundleFrom: issuer.Name}},
			Webhooks:   webhooks,
		}
		Expect(k8sClient.Create(ctx, mwc)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, mwc))).To(Succeed()) })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, mwc)).To(Succeed())
			g.Expect(string(mwc.Webhooks[0].ClientConfig.CABundle)).To(Equal(bundle))
		}, timeout, interval).Should(Succeed())
		expectOnlyCABundlesOwned(mwc, webhookCABundlePath(webhooks[0].Name))
	})

	It("keeps the caBundle of a CRD's conversion webhook", func() {
		bundle := string(injectionBundle(issuer.Name))
		group := uniqueName("inject") + ".certsmith.example"
		crd := createUnstructured(fmt.Sprintf(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.%[1]s
  annotations:
    %[2]s: %[3]s
spec:
  group: %[1]s
  scope: Namespaced
  names: {kind: Gadget, listKind: GadgetList, plural: gadgets, singular: gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  - name: v2
    served: true
    storage: false
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig:
        service: {namespace: default, name: no-such-converter, path: /convert}
`, group, certsmithv1alpha1.AnnotationInjectCABundleFrom, issuer.Name))
		caBundle := []string{"spec", "conversion", "webhook", "clientConfig", "caBundle"}
		Eventually(func() string { return decodedField(crd, caBundle...) }, timeout, interval).Should(Equal(bundle))
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: crd.GetName()}, crd)).To(Succeed())
		expectOnlyCABundlesOwned(crd, "f:spec/f:conversion/f:webhook/f:clientConfig/f:caBundle")
	})

	It("keeps the caBundle of an APIService", func() {
		bundle := string(injectionBundle(issuer.Name))
		group := uniqueName("inject") + ".certsmith.example"
		// The Service does not exist: the APIService is never Available, but
		// its caBundle is writable all the same.
		apiService := createUnstructured(fmt.Sprintf(`
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.%[1]s
  annotations:
    %[2]s: %[3]s
spec:
  group: %[1]s
  version: v1
  groupPriorityMinimum: 1000
  versionPriority: 15
  service: {namespace: default, name: no-such-apiserver, port: 443}
`, group, certsmithv1alpha1.AnnotationInjectCABundleFrom, issuer.Name))
		Eventually(func() string { return decodedField(apiService, "spec", "caBundle") }, timeout, interval).Should(Equal(bundle))
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: apiService.GetName()}, apiService)).To(Succeed())
		expectOnlyCABundlesOwned(apiService, "f:spec/f:caBundle")
	})

	It("warns about a missing issuer, leaves caBundle alone, and injects once the issuer exists", func() {
		missing := uniqueName("missing-issuer")
		preset := unrelatedCAPEM()
		vwc := newInjectedVWC(missing)
		Eventually(func() error {
			edited := getVWC(vwc.Name)
			for i := range edited.Webhooks {
				edited.Webhooks[i].ClientConfig.CABundle = preset
			}
			return k8sClient.Update(ctx, edited)
		}, timeout, interval).Should(Succeed())
		Eventually(func() []string {
			return injectorEvents("ValidatingWebhookConfiguration", vwc.Name, corev1.EventTypeWarning)
		}, timeout, interval).Should(ContainElement(certsmithv1alpha1.ReasonIssuerNotFound))
		Consistently(func() []string { return webhookCABundles(vwc.Name) }, 2*time.Second, 200*time.Millisecond).
			Should(Equal([]string{string(preset), string(preset)}))
		Expect(ownedFields(getVWC(vwc.Name))).NotTo(HaveKey(CAInjectorFieldManager))

		By("the issuer's appearance brings the object back")
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: missing},
			Spec:       certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}}},
		})).To(Succeed())
		waitIssuerReady(missing)
		Eventually(func() []string { return webhookCABundles(vwc.Name) }, timeout, interval).
			Should(Equal([]string{string(injectionBundle(missing)), string(injectionBundle(missing))}))
	})

	It("follows the issuer's bundle through a CA rotation", func() {
		vwc := newInjectedVWC(issuer.Name)
		before := string(injectionBundle(issuer.Name))
		Eventually(func() []string { return webhookCABundles(vwc.Name) }, timeout, interval).Should(Equal([]string{before, before}))

		Eventually(func() error {
			current := &certsmithv1alpha1.ClusterIssuer{}
			if err := k8sClient.Get(ctx, types.NamespacedName{Name: issuer.Name}, current); err != nil {
				return err
			}
			current.Annotations = map[string]string{certsmithv1alpha1.AnnotationRotateRequestedAt: "2026-12-01T00:00:00Z"}
			return k8sClient.Update(ctx, current)
		}, timeout, interval).Should(Succeed())
		Eventually(func(g Gomega) {
			certs, err := pki.ParseCertificatesPEM(injectionBundle(issuer.Name))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(certs).To(HaveLen(2), "the next CA joins the bundle")
		}, timeout, interval).Should(Succeed())
		after := string(injectionBundle(issuer.Name))
		Eventually(func() []string { return webhookCABundles(vwc.Name) }, timeout, interval).Should(Equal([]string{after, after}))
	})

	It("reports in status.bundle.injection which objects hold the bundle, counting one the API server rejects", func() {
		vwc := newInjectedVWC(issuer.Name)
		group := uniqueName("refused") + ".certsmith.example"
		// insecureSkipTLSVerify and a caBundle cannot go together: the API server refuses the bundle.
		apiService := createUnstructured(fmt.Sprintf(`
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.%[1]s
  annotations:
    %[2]s: %[3]s
spec:
  group: %[1]s
  version: v1
  groupPriorityMinimum: 1000
  versionPriority: 15
  insecureSkipTLSVerify: true
  service: {namespace: default, name: no-such-apiserver, port: 443}
`, group, certsmithv1alpha1.AnnotationInjectCABundleFrom, issuer.Name))
		Eventually(func(g Gomega) {
			got := &certsmithv1alpha1.ClusterIssuer{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: issuer.Name}, got)).To(Succeed())
			g.Expect(got.Status.Bundle).NotTo(BeNil())
			injection := got.Status.Bundle.Injection
			g.Expect(injection).NotTo(BeNil())
			g.Expect(injection.Targets).To(Equal(int32(2)))
			g.Expect(injection.UpToDate).To(Equal(int32(1)))
			g.Expect(injection.Rejected).To(Equal(int32(1)))
			g.Expect(injection.NotUpToDate).To(Equal([]string{"APIService " + apiService.GetName()}))
			g.Expect(injection.FingerprintsSHA256).To(Equal(bundleFingerprints(injectionBundle(issuer.Name))))
		}, timeout, interval).Should(Succeed())
		Expect(injectorEvents("APIService", apiService.GetName(), corev1.EventTypeWarning)).To(ContainElement(reasonCABundleRejected))

		By("objects that stop asking leave the count")
		Expect(k8sClient.Delete(ctx, apiService)).To(Succeed())
		Expect(k8sClient.Delete(ctx, vwc)).To(Succeed())
		Eventually(func() *certsmithv1alpha1.InjectionStatus {
			got := &certsmithv1alpha1.ClusterIssuer{}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Name: issuer.Name}, got)).To(Succeed())
			if got.Status.Bundle == nil {
				return nil
			}
			return got.Status.Bundle.Injection
		}, timeout, interval).Should(BeNil())
	})

	It("stops injecting when the annotation is removed, leaving caBundle as it is", func() {
		bundle := string(injectionBundle(issuer.Name))
		vwc := newInjectedVWC(issuer.Name)
		Eventually(func() []string { return webhookCABundles(vwc.Name) }, timeout, interval).Should(Equal([]string{bundle, bundle}))

		Eventually(func() error {
			edited := getVWC(vwc.Name)
			delete(edited.Annotations, certsmithv1alpha1.AnnotationInjectCABundleFrom)
			return k8sClient.Update(ctx, edited)
		}, timeout, interval).Should(Succeed())
		Consistently(func() []string { return webhookCABundles(vwc.Name) }, 2*time.Second, 200*time.Millisecond).
			Should(Equal([]string{bundle, bundle}))

		By("and an edit is no longer undone")
		replaced := unrelatedCAPEM()
		Eventually(func() error {
			edited := getVWC(vwc.Name)
			edited.Webhooks[0].ClientConfig.CABundle = replaced
			return k8sClient.Update(ctx, edited)
		}, timeout, interval).Should(Succeed())
		Consistently(func() []string { return webhookCABundles(vwc.Name) }, 2*time.Second, 200*time.Millisecond).
			Should(Equal([]string{string(replaced), bundle}))
	})
})

var _ = DescribeTable("the apply objects of the CA injector hold only identities and caBundles",
	func(kind string, manifest string, wantApply string, wantChanged bool) {
		obj := &unstructured.Unstructured{}
		Expect(utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096).Decode(&obj.Object)).To(Succeed())
		apply, changed := injectables[kind].inject(obj, "QlVORExF")
		Expect(changed).To(Equal(wantChanged))
		if wantApply == "" {
			Expect(apply).To(BeNil())
			return
		}
		want := map[string]any{}
		Expect(utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(wantApply), 4096).Decode(&want)).To(Succeed())
		Expect(apply.Object).To(Equal(want))
	},
	Entry("webhooks, one out of date", "ValidatingWebhookConfiguration", `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: hooks, annotations: {a: b}}
webhooks:
- {name: a.example.com, sideEffects: None, clientConfig: {caBundle: QlVORExF, url: "https://a.example.com"}}
- {name: b.example.com, sideEffects: None, clientConfig: {caBundle: T0xE}}
`, `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: hooks}
webhooks:
- {name: a.example.com, clientConfig: {caBundle: QlVORExF}}
- {name: b.example.com, clientConfig: {caBundle: QlVORExF}}
`, true),
	Entry("webhooks, all up to date", "MutatingWebhookConfiguration", `
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: hooks}
webhooks:
- {name: a.example.com, clientConfig: {caBundle: QlVORExF}}
`, `
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: hooks}
webhooks:
- {name: a.example.com, clientConfig: {caBundle: QlVORExF}}
`, false),
	Entry("no webhooks", "MutatingWebhookConfiguration", `
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: hooks}
`, "", false),
	Entry("an APIService", "APIService", `
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.example.com}
spec: {group: example.com, version: v1, service: {namespace: ns, name: api}}
`, `
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.example.com}
spec: {caBundle: QlVORExF}
`, true),
	Entry("a CRD converting through a webhook: the strategy is not claimed", "CustomResourceDefinition", `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec: {group: example.com, conversion: {strategy: Webhook, webhook: {conversionReviewVersions: [v1], clientConfig: {url: "https://c"}}}}
`, `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec: {conversion: {webhook: {clientConfig: {caBundle: QlVORExF}}}}
`, true),
	Entry("a CRD without conversion webhook", "CustomResourceDefinition", `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec: {group: example.com, conversion: {strategy: None}}
`, "", false),
)
