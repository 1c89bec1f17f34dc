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
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// asOperator is a client that acts as the operator's identity (for dry runs).
func asOperator() client.Client {
	config := rest.CopyConfig(testEnv.Config)
	config.Impersonate = rest.ImpersonationConfig{UserName: operatorUser}
	c, err := client.New(config, client.Options{Scheme: testScheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// freeze makes the API server refuse every update by the operator to the
// named objects (a ValidatingAdmissionPolicy, as a cluster's own policy
// might), and waits until it is in force. It returns the function that lifts it.
func freeze(group, resource string, like client.Object, names ...string) func() {
	rule := admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: []string{resource}},
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	condition := fmt.Sprintf("object.metadata.name in [%s]", strings.Join(quoted, ", "))
	return refuseOperator(rule, condition, func(operator client.Client) error {
		obj := like.DeepCopyObject().(client.Object)
		return operator.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"certsmith-test/probe":"x"}}}`)), client.DryRunAll)
	})
}

func ptrTo[T any](v T) *T { return &v }

// rotatingCondition returns an issuer's Rotating condition message.
func rotatingMessage(name string) string {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, issuer)).To(Succeed())
	if c := meta.FindStatusCondition(issuer.Status.Conditions, certsmithv1alpha1.ConditionRotating); c != nil {
		return c.Message
	}
	return ""
}

// requestRotation starts a rotation by annotation.
func requestRotation(name string) {
	updateIssuer(name, func(i *certsmithv1alpha1.ClusterIssuer) {
		if i.Annotations == nil {
			i.Annotations = map[string]string{}
		}
		i.Annotations[certsmithv1alpha1.AnnotationRotateRequestedAt] = time.Now().Format(time.RFC3339Nano)
	})
}

// nextFingerprint is the fingerprint of an issuer's next CA.
func nextFingerprint(name string) string {
	return bundleFingerprints(caSecretOf(name).Data["next.crt"])[0]
}

// stillPublishing checks that a rotation does not switch for a while.
func stillPublishing(name string) {
	Consistently(func(g Gomega) {
		got := &certsmithv1alpha1.ClusterIssuer{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, got)).To(Succeed())
		g.Expect(got.Status.Rotation.Phase).To(Equal(certsmithv1alpha1.RotationPublishing))
		g.Expect(got.Status.Rotation.PublishedAt).To(BeNil())
	}, 3*time.Second, 200*time.Millisecond).Should(Succeed())
}

// waitPublished waits until a rotation has recorded publishedAt.
func waitPublished(name string) *certsmithv1alpha1.ClusterIssuer {
	var got *certsmithv1alpha1.ClusterIssuer
	Eventually(func(g Gomega) {
		got = waitRotationPhase(name, certsmithv1alpha1.RotationPublishing)
		g.Expect(got.Status.Rotation.PublishedAt).NotTo(BeNil())
	}, timeout, interval).Should(Succeed())
	return got
}

// waitSwitched waits until a rotation has switched signing to the next CA
// (Retiring, or Complete when the old CA signed nothing still valid).
func waitSwitched(name string) *certsmithv1alpha1.ClusterIssuer {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, issuer)).To(Succeed())
		g.Expect(issuer.Status.Rotation).NotTo(BeNil())
		g.Expect(issuer.Status.Rotation.SwitchedAt).NotTo(BeNil(), "rotation: %+v", issuer.Status.Rotation)
	}, timeout, interval).Should(Succeed())
	return issuer
}

var _ = Describe("CA rotation and the trust paths it waits for", func() {
	It("counts an immutable squatting ConfigMap as a conflict, names it, and stops waiting for it at the publish deadline", func() {
		name, selector, issuerName := uniqueName("stall"), uniqueName("certsmith-test/stall"), uniqueName("stalled")
		squatted, clean := newNamespace(), newNamespace()
		tenantConfigMap(squatted, name, issuerName, map[string]string{"ca.crt": "frozen"}, true)
		setNamespaceLabel(squatted, selector, "yes")
		setNamespaceLabel(clean, selector, "yes")
		issuer := namedBundleIssuer(issuerName, selectedBundle(name, selector), &certsmithv1alpha1.RotationSpec{
			PropagationDelay: &metav1.Duration{Duration: time.Second},
			PublishDeadline:  &metav1.Duration{Duration: 5 * time.Minute},
		}, 0)
		oldFP := caFingerprint(issuer)
		// A certificate the old CA signed keeps the rotation in Retiring after the switch.
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: "user", Namespace: clean},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuerName},
				DNSNames: []string{"user." + clean + ".svc"}},
		})).To(Succeed())
		waitCertificateReady(clean, "user")
		Eventually(func() []string { return bundleStatusOf(issuerName).ConflictNamespaces }, timeout, interval).Should(Equal([]string{squatted}))
		Eventually(func() string {
			return strings.Join(issuerEventNotes(issuerName, certsmithv1alpha1.ReasonBundleConflict), "\n")
		}, timeout, interval).
			Should(ContainSubstring(squatted))

		requestRotation(issuerName)
		waitRotationPhase(issuerName, certsmithv1alpha1.RotationPublishing)
		nextFP := nextFingerprint(issuerName)
		Eventually(func() []string { return configMapBundle(clean, name, "ca.crt") }, timeout, interval).Should(ConsistOf(oldFP, nextFP))

		By("before the deadline, the conflict blocks the switch, counted and named")
		stillPublishing(issuerName)
		got := waitRotationPhase(issuerName, certsmithv1alpha1.RotationPublishing)
		Expect(got.Status.Rotation.Unpublished).To(Equal(int32(1)))
		Expect(got.Status.Rotation.Conflicts).To(Equal(int32(1)))
		Expect(got.Status.Rotation.PublishDeadline).NotTo(BeNil())
		Expect(rotatingMessage(issuerName)).To(ContainSubstring("ConfigMap " + squatted + "/" + name + " (conflict)"))
		Expect(getConfigMap(squatted, name).Data).To(Equal(map[string]string{"ca.crt": "frozen"}))

		By("past the deadline, it no longer blocks: published, then switched, and named as skipped")
		stepClock(5*time.Minute + time.Second)
		waitPublished(issuerName)
		Eventually(func() string {
			return strings.Join(issuerEventNotes(issuerName, certsmithv1alpha1.ReasonTrustPathsSkipped), "\n")
		}, timeout, interval).
			Should(ContainSubstring(squatted))
		stepClock(2 * time.Second)
		waitRotationPhase(issuerName, certsmithv1alpha1.RotationRetiring)
		message := rotatingMessage(issuerName)
		Expect(message).To(ContainSubstring("skipped"))
		Expect(message).To(ContainSubstring(squatted))
		Expect(len(message)).To(BeNumerically("<=", MaxMessageBytes))
	})

	It("waits for the ca.crt of every certificate Secret, of an issuer without spec.bundle and of the issuers below it, and refreshes those in error states", func() {
		root := bundleIssuer(nil, &certsmithv1alpha1.RotationSpec{
			PropagationDelay: &metav1.Duration{Duration: time.Second},
			PublishDeadline:  &metav1.Duration{Duration: time.Hour},
		}, 30*time.Hour)
		child := uniqueName("below")
		createIssuer(child, certsmithv1alpha1.CASource{IssuerRef: &certsmithv1alpha1.IntermediateCA{Name: root.Name,
			GeneratedCA: certsmithv1alpha1.GeneratedCA{Duration: &metav1.Duration{Duration: 29 * time.Hour}, RenewBefore: &metav1.Duration{Duration: time.Minute}}}})
		waitIssuerReady(child)
		namespace := newNamespace()
		certificate := func(name, issuer string, service string) {
			sc := &certsmithv1alpha1.ServiceCertificate{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
				Spec: certsmithv1alpha1.ServiceCertificateSpec{
					IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuer},
					DNSNames:  []string{name + "." + namespace + ".svc"},
				},
			}
			if service != "" {
				sc.Spec.DNSNames = nil
				sc.Spec.Service = &certsmithv1alpha1.ServiceReference{Name: service}
			}
			Expect(k8sClient.Create(ctx, sc)).To(Succeed())
			waitCertificateReady(namespace, name)
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "gone", Namespace: namespace},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}}}
		Expect(k8sClient.Create(ctx, svc)).To(Succeed())
		certificate("broken", root.Name, "gone")
		certificate("held", root.Name, "")
		certificate("held-below", child, "")
		Expect(k8sClient.Delete(ctx, svc)).To(Succeed())
		waitCertificateCondition(namespace, "broken", metav1.ConditionFalse, certsmithv1alpha1.ReasonServiceNotFound)

		held := getSecret(namespace, "held-tls")
		liftHeld := freeze("", "secrets", held, "held-tls")
		liftBelow := freeze("", "secrets", getSecret(namespace, "held-below-tls"), "held-below-tls")

		requestRotation(root.Name)
		waitRotationPhase(root.Name, certsmithv1alpha1.RotationPublishing)
		nextFP := nextFingerprint(root.Name)

		By("the certificate in an error state still gets the next CA in its ca.crt")
		Eventually(func() []string { return bundleFingerprints(getSecret(namespace, "broken-tls").Data["ca.crt"]) }, timeout, interval).Should(ContainElement(nextFP))

		By("the Secrets that cannot take it yet block the switch, named")
		stillPublishing(root.Name)
		Eventually(rotatingMessage, timeout, interval).WithArguments(root.Name).Should(And(
			ContainSubstring("ServiceCertificate "+namespace+"/held,"), ContainSubstring("ServiceCertificate "+namespace+"/held-below")))
		Expect(rotatingMessage(root.Name)).NotTo(ContainSubstring("/broken"))

		By("the root's own certificate takes it; the one below its intermediate still blocks")
		liftHeld()
		nudge(namespace, "held")
		Eventually(func() []string { return bundleFingerprints(getSecret(namespace, "held-tls").Data["ca.crt"]) }, timeout, interval).Should(ContainElement(nextFP))
		Eventually(rotatingMessage, timeout, interval).WithArguments(root.Name).ShouldNot(ContainSubstring(namespace + "/held,"))
		stillPublishing(root.Name)

		By("once every ca.crt holds it, the switch follows the propagation delay")
		liftBelow()
		nudge(namespace, "held-below")
		waitPublished(root.Name)
		stepClock(2 * time.Second)
		Expect(waitSwitched(root.Name).Status.Rotation.Unpublished).To(BeZero())
	})

	It("waits for an injected caBundle", func() {
		issuer := bundleIssuer(nil, &certsmithv1alpha1.RotationSpec{
			PropagationDelay: &metav1.Duration{Duration: time.Second},
			PublishDeadline:  &metav1.Duration{Duration: time.Hour},
		}, 30*time.Hour)
		group := uniqueName("waited") + ".certsmith.example"
		crd := createUnstructured(fmt.Sprintf(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.%[1]s
  annotations:
    %[2]s: %[3]s
spec:
  group: %[1]s
  scope: Namespaced
  names: {kind: Gizmo, listKind: GizmoList, plural: gizmos, singular: gizmo}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
  - {name: v2, served: true, storage: false, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig:
        service: {namespace: default, name: no-such-converter, path: /convert}
`, group, certsmithv1alpha1.AnnotationInjectCABundleFrom, issuer.Name))
		caBundle := []string{"spec", "conversion", "webhook", "clientConfig", "caBundle"}
		Eventually(func() string { return decodedField(crd, caBundle...) }, timeout, interval).Should(Equal(string(injectionBundle(issuer.Name))))
		Eventually(func() *certsmithv1alpha1.InjectionStatus { return bundleStatusOf(issuer.Name).Injection }, timeout, interval).Should(And(
			Not(BeNil()), HaveField("Targets", int32(1)), HaveField("UpToDate", int32(1))))
		lift := freeze("apiextensions.k8s.io", "customresourcedefinitions", crd, crd.GetName())

		requestRotation(issuer.Name)
		waitRotationPhase(issuer.Name, certsmithv1alpha1.RotationPublishing)
		stillPublishing(issuer.Name)
		Eventually(func() *certsmithv1alpha1.InjectionStatus { return bundleStatusOf(issuer.Name).Injection }, timeout, interval).Should(And(
			HaveField("UpToDate", int32(0)), HaveField("NotUpToDate", ConsistOf("CustomResourceDefinition "+crd.GetName()))))
		Expect(rotatingMessage(issuer.Name)).To(ContainSubstring("caBundle of CustomResourceDefinition " + crd.GetName()))

		lift()
		Eventually(func() error {
			current := crd.DeepCopy()
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(crd), current); err != nil {
				return err
			}
			annotations := current.GetAnnotations()
			annotations["certsmith-test/nudge"] = time.Now().Format(time.RFC3339Nano)
			current.SetAnnotations(annotations)
			return k8sClient.Update(ctx, current)
		}, timeout, interval).Should(Succeed())
		Eventually(func() string { return decodedField(crd, caBundle...) }, timeout, interval).Should(Equal(string(injectionBundle(issuer.Name))))
		waitPublished(issuer.Name)
		stepClock(2 * time.Second)
		waitSwitched(issuer.Name)
	})
})
