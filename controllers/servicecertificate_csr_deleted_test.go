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
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// An envtest spec (it runs inside TestControllers): kube-controller-manager's
// CSR cleaner, or an admin, may delete a CSR at any stage of an issuance.
// Each stage is held deterministically by making the API server refuse the
// one write of the operator that would end it (a ValidatingAdmissionPolicy,
// as a cluster's own policy might): the CSR's approval (pending), the
// Secret (signed in memory, not stored, so the CSR has no certificate yet),
// the CSR's status.certificate (stored in the Secret, not yet in the CSR).
// The CSR is deleted while held; an issuance not yet stored restarts with
// exactly one new CSR, once the operator takes the old one as lost
// (lostRequestTimeout on its clock), and completes when the hold is lifted.

// refusalMessage is what the test's admission policies answer.
const refusalMessage = "refused by the test"

// refuseOperator makes the API server refuse the operator's requests that
// match rule and the CEL condition, and waits until probe (a dry run as the
// operator) is refused. It returns the function that lifts the refusal and
// waits until probe succeeds.
func refuseOperator(rule admissionregistrationv1.RuleWithOperations, condition string, probe func(operator client.Client) error) func() {
	name := uniqueName("certsmith-test-refuse")
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptrTo(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: rule,
			}}},
			MatchConditions: []admissionregistrationv1.MatchCondition{
				{Name: "operator", Expression: fmt.Sprintf("request.userInfo.username == %q", operatorUser)},
				{Name: "target", Expression: condition},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: refusalMessage}},
		},
	}
	Expect(k8sClient.Create(ctx, policy)).To(Succeed())
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
	}
	Expect(k8sClient.Create(ctx, binding)).To(Succeed())
	operator := asOperator()
	Eventually(func() string {
		if err := probe(operator); err != nil {
			return err.Error()
		}
		return ""
	}, timeout, interval).Should(ContainSubstring(refusalMessage))
	lifted := false
	lift := func() {
		if lifted {
			return
		}
		lifted = true
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, binding))).To(Succeed())
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, policy))).To(Succeed())
		Eventually(func() error { return probe(operator) }, timeout, interval).Should(Succeed())
	}
	DeferCleanup(lift)
	return lift
}

// ownedBy is the CEL condition "the object's certsmith.io/service-certificate
// annotation names namespace/name".
func ownedBy(namespace, name string) string {
	return fmt.Sprintf("has(object.metadata.annotations) && %q in object.metadata.annotations && object.metadata.annotations[%q] == %q",
		certsmithv1alpha1.AnnotationServiceCertificate, certsmithv1alpha1.AnnotationServiceCertificate, namespace+"/"+name)
}

// csrRefusal refuses the operator's writes to a CSR subresource
// ("approval" or "status") of the CSRs made for namespace/name. The probe is
// a CSR the admin makes with the same annotation for a signer no issuer
// serves (nothing acts on it; the operator may approve and sign for
// example.com/*), written as the operator in a dry run.
func csrRefusal(namespace, name, subresource string) func() {
	csrPEM, err := pki.BuildCSR(newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: []string{"probe.example.com"}})
	Expect(err).NotTo(HaveOccurred())
	probeCSR := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("probe"),
			Annotations: map[string]string{certsmithv1alpha1.AnnotationServiceCertificate: namespace + "/" + name}},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: csrPEM, SignerName: "example.com/certsmith-test-probe",
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}},
	}
	Expect(k8sClient.Create(ctx, probeCSR)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, probeCSR))).To(Succeed()) })
	rule := admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{APIGroups: []string{certificatesv1.GroupName}, APIVersions: []string{"*"},
			Resources: []string{"certificatesigningrequests/" + subresource}},
	}
	return refuseOperator(rule, ownedBy(namespace, name), func(operator client.Client) error {
		csr := &certificatesv1.CertificateSigningRequest{}
		if err := operator.Get(ctx, client.ObjectKeyFromObject(probeCSR), csr); err != nil {
			return err
		}
		if subresource == "approval" {
			csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Probe", Message: "dry run"})
		} else {
			csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue, Reason: "Probe", Message: "dry run"})
		}
		return operator.SubResource(subresource).Update(ctx, csr, client.DryRunAll)
	})
}

// secretRefusal refuses the operator's creation and updates of one Secret.
func secretRefusal(namespace, secretName string) func() {
	rule := admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"secrets"}},
	}
	condition := fmt.Sprintf("request.namespace == %q && object.metadata.name == %q", namespace, secretName)
	return refuseOperator(rule, condition, func(operator client.Client) error {
		return operator.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: secretName},
			Data: map[string][]byte{"probe": []byte("x")}}, client.DryRunAll)
	})
}

// watchCreatedCSRs records, from a watch that starts now, the name of every
// CSR that certsmith creates for namespace/name, in the order created, even
// one deleted a moment later. The returned function lists them; it fails the
// spec if the watch ended early (a lost event would undercount).
func watchCreatedCSRs(namespace, name string) func() []string {
	watcher, err := client.NewWithWatch(testEnv.Config, client.Options{Scheme: testScheme})
	Expect(err).NotTo(HaveOccurred())
	w, err := watcher.Watch(ctx, &certificatesv1.CertificateSigningRequestList{})
	Expect(err).NotTo(HaveOccurred())
	var (
		mu      sync.Mutex
		created []string
		ended   bool
		stopped bool
	)
	go func() {
		defer GinkgoRecover()
		for event := range w.ResultChan() {
			csr, ok := event.Object.(*certificatesv1.CertificateSigningRequest)
			if !ok || event.Type != watch.Added || csr.Spec.Username != operatorUser ||
				csr.Annotations[certsmithv1alpha1.AnnotationServiceCertificate] != namespace+"/"+name {
				continue
			}
			mu.Lock()
			if !slices.Contains(created, csr.Name) {
				created = append(created, csr.Name)
			}
			mu.Unlock()
		}
		mu.Lock()
		ended = true
		mu.Unlock()
	}()
	DeferCleanup(func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		w.Stop()
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		Expect(ended && !stopped).To(BeFalse(), "the CSR watch ended early")
		return slices.Clone(created)
	}
}

// liveCSRNames lists the CSRs that certsmith made for namespace/name and
// that exist, by name.
func liveCSRNames(namespace, name string) []string {
	var names []string
	for _, csr := range requestsFor(namespace, name) {
		if csr.Spec.Username == operatorUser {
			names = append(names, csr.Name)
		}
	}
	slices.Sort(names)
	return names
}

// deleteCSRAsSomeoneElse deletes a CSR as an admin (or the CSR cleaner)
// would, and waits until it is gone.
func deleteCSRAsSomeoneElse(name string) {
	csr := getCSR(name)
	Expect(k8sClient.Delete(ctx, csr, client.Preconditions{UID: &csr.UID})).To(Succeed())
	Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Name: name}, &certificatesv1.CertificateSigningRequest{}))
	}, timeout, interval).Should(BeTrue())
}

// nudgeCSR makes the controllers look at a CSR again at once (past any
// retry backoff a refused write left), without changing what they read.
func nudgeCSR(name string) {
	Expect(k8sClient.Patch(ctx, getCSR(name), client.RawPatch(types.MergePatchType,
		[]byte(fmt.Sprintf(`{"metadata":{"labels":{"certsmith-test/nudge":%q}}}`, time.Now().Format("150405.000000")))))).To(Succeed())
}

// eventsAbout returns the Events about a ServiceCertificate, or that name
// one of its CSRs, as "Type Reason: note".
func eventsAbout(namespace, name string, csrNames []string) []string {
	var events eventsv1.EventList
	Expect(k8sClient.List(ctx, &events)).To(Succeed())
	var out []string
	for _, e := range events.Items {
		about := e.Regarding.Kind == "ServiceCertificate" && e.Regarding.Namespace == namespace && e.Regarding.Name == name
		for _, ref := range []*corev1.ObjectReference{&e.Regarding, e.Related} {
			if ref != nil && ref.Kind == "CertificateSigningRequest" && slices.Contains(csrNames, ref.Name) {
				about = true
			}
		}
		if about {
			out = append(out, e.Type+" "+e.Reason+": "+e.Note)
		}
	}
	slices.Sort(out)
	return out
}

var _ = Describe("CSR deleted by someone else during an issuance", func() {
	var (
		issuer    *certsmithv1alpha1.ClusterIssuer
		namespace string
	)
	BeforeEach(func() {
		issuer = newSelfSignedIssuer()
		namespace = newNamespace()
	})

	// expectIssuedFrom checks that the certificate is Ready at revision 1
	// with a matching pair in its Secret whose certificate is the one the
	// CSR named received, and returns the ServiceCertificate.
	expectIssuedFrom := func(name, csrName string) *certsmithv1alpha1.ServiceCertificate {
		sc := waitRevision(namespace, name, 1)
		ready := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)
		Expect(ready.Reason).To(Equal(certsmithv1alpha1.ReasonIssued))
		Expect(sc.Status.CertificateSigningRequest).To(BeEmpty())
		Expect(sc.Status.FailedIssuanceAttempts).To(BeZero())
		secret := getSecret(namespace, name+"-tls")
		Expect(secret.Annotations[certsmithv1alpha1.AnnotationRevision]).To(Equal("1"))
		leaf := expectMatchingPair(secret)[0]
		Expect(sc.Status.SerialNumber).To(Equal(fmt.Sprintf("%x", leaf.SerialNumber)))
		// The signer writes the certificate into the CSR after the Secret.
		Eventually(func() []byte { return getCSR(csrName).Status.Certificate }, timeout, interval).ShouldNot(BeEmpty())
		signed, err := pki.ParseCertificatesPEM(getCSR(csrName).Status.Certificate)
		Expect(err).NotTo(HaveOccurred())
		Expect(signed[0].Equal(leaf)).To(BeTrue(), "the Secret holds the certificate of CSR %s", csrName)
		roots := issuerCAFromSecret(issuer)
		Expect(pki.VerifyChain(leaf, nil, roots, name+"."+namespace+".svc", fakeClock.Now())).To(Succeed())
		return sc
	}

	// expectSettled checks, over a short window, that nothing more happens:
	// no other CSR is created, only the issued one is kept (the history
	// limit is 1), and neither the Secret nor the status moves.
	expectSettled := func(name string, created func() []string, want []string, kept string) {
		secret := getSecret(namespace, name+"-tls")
		sc := getCertificate(namespace, name)
		Consistently(func(g Gomega) {
			g.Expect(created()).To(Equal(want))
			g.Expect(liveCSRNames(namespace, name)).To(Equal([]string{kept}))
			now := getSecret(namespace, name+"-tls")
			g.Expect(now.ResourceVersion).To(Equal(secret.ResourceVersion), "the Secret is not written again")
			got := getCertificate(namespace, name)
			g.Expect(got.Status.Revision).To(Equal(sc.Status.Revision))
			g.Expect(got.Status.SerialNumber).To(Equal(sc.Status.SerialNumber))
			g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeTrue())
		}, 3*time.Second, 200*time.Millisecond).Should(Succeed())
	}

	// expectOneIssuedEvent checks that the issuance was reported once, and
	// nothing was warned about the certificate or its CSRs.
	expectOneIssuedEvent := func(name string, csrNames []string) {
		issued := ContainElement(HavePrefix(corev1.EventTypeNormal + " " + certsmithv1alpha1.ReasonIssued + ":"))
		Eventually(eventsAbout, timeout, interval).WithArguments(namespace, name, csrNames).Should(issued)
		Consistently(func(g Gomega) {
			events := eventsAbout(namespace, name, csrNames)
			g.Expect(events).To(HaveLen(1), "exactly one Event, the issuance: %v", events)
			g.Expect(events).To(issued)
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	}

	// restartsOnce deletes the held CSR first, moves the operator's clock
	// past the time after which a CSR missing from its cache is taken as
	// lost, and waits for the one new CSR, which stays alone (held like the
	// first); it returns that CSR's name.
	restartsOnce := func(name, first string, created func() []string, held func(*certificatesv1.CertificateSigningRequest) bool) string {
		deleteCSRAsSomeoneElse(first)
		stepClock(lostRequestTimeout + time.Second)
		Eventually(created, timeout, interval).Should(HaveLen(2))
		second := created()[1]
		Eventually(func() bool { return held(getCSR(second)) }, timeout, interval).Should(BeTrue())
		Consistently(func(g Gomega) {
			g.Expect(created()).To(Equal([]string{first, second}), "exactly one new CSR, not a stream")
			g.Expect(liveCSRNames(namespace, name)).To(Equal([]string{second}))
			g.Expect(held(getCSR(second))).To(BeTrue())
		}, 3*time.Second, 200*time.Millisecond).Should(Succeed())
		return second
	}

	pending := func(csr *certificatesv1.CertificateSigningRequest) bool {
		return len(csr.Status.Conditions) == 0 && len(csr.Status.Certificate) == 0
	}
	approvedNotSigned := func(csr *certificatesv1.CertificateSigningRequest) bool {
		return csrApproved(csr) && csrFailure(csr) == nil && len(csr.Status.Certificate) == 0
	}

	It("makes one new CSR when the pending one is deleted, and is issued once that is approved", func() {
		created := watchCreatedCSRs(namespace, "pending")
		lift := csrRefusal(namespace, "pending", "approval")
		createCertificate(namespace, issuer.Name, "pending", nil)

		By("the first CSR waits for approval")
		Eventually(created, timeout, interval).Should(HaveLen(1))
		first := created()[0]
		Consistently(func() bool { return pending(getCSR(first)) }, time.Second, 100*time.Millisecond).Should(BeTrue())
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "pending-tls"}, &corev1.Secret{}))).To(BeTrue())

		By("deleted while pending: exactly one new CSR")
		second := restartsOnce("pending", first, created, pending)
		sc := getCertificate(namespace, "pending")
		Expect(meta.IsStatusConditionTrue(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeFalse())

		By("once the new CSR is approved, the certificate is issued from it")
		lift()
		nudgeCSR(second)
		expectIssuedFrom("pending", second)
		expectSettled("pending", created, []string{first, second}, second)
		expectOneIssuedEvent("pending", []string{first, second})
	})

	It("stores the certificate in the Secret before it is written into the CSR, and then writes the same one into the CSR", func() {
		created := watchCreatedCSRs(namespace, "approved")
		lift := csrRefusal(namespace, "approved", "status")
		createCertificate(namespace, issuer.Name, "approved", nil)

		By("the CSR is approved and signed, and its certificate is in the Secret while the CSR cannot get it")
		Eventually(created, timeout, interval).Should(HaveLen(1))
		first := created()[0]
		sc := waitRevision(namespace, "approved", 1)
		leaf := expectMatchingPair(getSecret(namespace, "approved-tls"))[0]
		Expect(sc.Status.SerialNumber).To(Equal(fmt.Sprintf("%x", leaf.SerialNumber)))
		Consistently(func(g Gomega) {
			g.Expect(approvedNotSigned(getCSR(first))).To(BeTrue(), "kept, open, while the signer may not write it")
			g.Expect(created()).To(Equal([]string{first}))
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		By("once the signer may write it, the CSR gets the very certificate of the Secret")
		lift()
		nudgeCSR(first)
		expectIssuedFrom("approved", first)
		expectSettled("approved", created, []string{first}, first)
		expectOneIssuedEvent("approved", []string{first})
	})

	It("changes nothing when a CSR whose certificate is in the Secret, but not yet in the CSR, is deleted", func() {
		created := watchCreatedCSRs(namespace, "handed")
		lift := csrRefusal(namespace, "handed", "status")
		DeferCleanup(lift)
		createCertificate(namespace, issuer.Name, "handed", nil)
		Eventually(created, timeout, interval).Should(HaveLen(1))
		first := created()[0]
		before := waitRevision(namespace, "handed", 1)
		secret := getSecret(namespace, "handed-tls")
		Expect(approvedNotSigned(getCSR(first))).To(BeTrue())

		By("deleted before the signer could write it: no new CSR, the Secret stays")
		deleteCSRAsSomeoneElse(first)
		stepClock(lostRequestTimeout + time.Second)
		nudge(namespace, "handed")
		Consistently(func(g Gomega) {
			g.Expect(created()).To(Equal([]string{first}), "no new CSR")
			g.Expect(liveCSRNames(namespace, "handed")).To(BeEmpty())
			g.Expect(getSecret(namespace, "handed-tls").ResourceVersion).To(Equal(secret.ResourceVersion), "the Secret is not written again")
			sc := getCertificate(namespace, "handed")
			g.Expect(sc.Status.Revision).To(Equal(int64(1)))
			g.Expect(sc.Status.SerialNumber).To(Equal(before.Status.SerialNumber))
			g.Expect(meta.IsStatusConditionTrue(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeTrue())
		}, 3*time.Second, 200*time.Millisecond).Should(Succeed())
		expectMatchingPair(getSecret(namespace, "handed-tls"))
		expectOneIssuedEvent("handed", []string{first})
	})

	It("makes one new CSR when the signed one is deleted before its certificate is stored, whose certificate no API object ever had", func() {
		created := watchCreatedCSRs(namespace, "signed")
		lift := secretRefusal(namespace, "signed-tls")
		createCertificate(namespace, issuer.Name, "signed", nil)

		By("the first CSR is approved and signed, but the Secret cannot be written, so the CSR does not get the certificate either")
		Eventually(created, timeout, interval).Should(HaveLen(1))
		first := created()[0]
		Eventually(func() bool { return approvedNotSigned(getCSR(first)) }, timeout, interval).Should(BeTrue())
		Consistently(func(g Gomega) {
			g.Expect(approvedNotSigned(getCSR(first))).To(BeTrue())
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "signed-tls"}, &corev1.Secret{}))).To(BeTrue())
		}, time.Second, 100*time.Millisecond).Should(Succeed())

		By("deleted while held: exactly one new CSR, held the same way")
		second := restartsOnce("signed", first, created, approvedNotSigned)

		By("once the Secret can be written, it holds the new CSR's certificate")
		lift()
		nudge(namespace, "signed")
		expectIssuedFrom("signed", second)
		expectSettled("signed", created, []string{first, second}, second)
		expectOneIssuedEvent("signed", []string{first, second})
	})

	It("changes nothing when the CSR of a certificate already stored is deleted", func() {
		created := watchCreatedCSRs(namespace, "stored")
		createCertificate(namespace, issuer.Name, "stored", nil)
		Eventually(created, timeout, interval).Should(HaveLen(1))
		first := created()[0]
		before := expectIssuedFrom("stored", first)
		secret := getSecret(namespace, "stored-tls")
		Expect(liveCSRNames(namespace, "stored")).To(Equal([]string{first}), "the issued CSR is kept as history")

		By("the history CSR is deleted, and the certificate looked at again, past the lost-request timeout")
		deleteCSRAsSomeoneElse(first)
		stepClock(lostRequestTimeout + time.Second)
		nudge(namespace, "stored")

		Consistently(func(g Gomega) {
			g.Expect(created()).To(Equal([]string{first}), "no new CSR")
			g.Expect(liveCSRNames(namespace, "stored")).To(BeEmpty())
			g.Expect(getSecret(namespace, "stored-tls").ResourceVersion).To(Equal(secret.ResourceVersion), "the Secret is not written again")
			sc := getCertificate(namespace, "stored")
			g.Expect(sc.Status.Revision).To(Equal(int64(1)))
			g.Expect(sc.Status.SerialNumber).To(Equal(before.Status.SerialNumber))
			ready := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(ready.Reason).To(Equal(certsmithv1alpha1.ReasonIssued))
			g.Expect(sc.Status.CertificateSigningRequest).To(BeEmpty())
		}, 4*time.Second, 200*time.Millisecond).Should(Succeed())
		expectMatchingPair(getSecret(namespace, "stored-tls"))
		expectOneIssuedEvent("stored", []string{first})
	})
})

var _ = Describe("A CSR of certsmith's own whose key this process does not hold", func() {
	It("is never approved or signed (left by an earlier leader), and the certificate is issued from a new CSR", func() {
		issuer := newSelfSignedIssuer()
		namespace := newNamespace()
		created := watchCreatedCSRs(namespace, "orphaned")

		By("the operator may not delete the CSR left behind, so the signer sees it next to a live ServiceCertificate")
		prefix := namespace + "-orphaned-left"
		probeCSR := &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: prefix + "probe"},
			Spec: certificatesv1.CertificateSigningRequestSpec{Request: mustCSR("probe.example.com"), SignerName: "example.com/certsmith-test-probe",
				Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}},
		}
		Expect(k8sClient.Create(ctx, probeCSR)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, probeCSR))).To(Succeed()) })
		lift := refuseOperator(admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Delete},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{certificatesv1.GroupName}, APIVersions: []string{"*"},
				Resources: []string{"certificatesigningrequests"}},
		}, fmt.Sprintf("oldObject.metadata.name.startsWith(%q)", prefix), func(operator client.Client) error {
			return operator.Delete(ctx, &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: probeCSR.Name}}, client.DryRunAll)
		})

		By("a CSR made by the operator's identity for the certificate, as a leader that died would have left it")
		left := &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: prefix + "0000000",
				Labels:      map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue},
				Annotations: map[string]string{certsmithv1alpha1.AnnotationServiceCertificate: namespace + "/orphaned"}},
			Spec: certificatesv1.CertificateSigningRequestSpec{Request: mustCSR("orphaned." + namespace + ".svc"), SignerName: issuer.EffectiveSignerName(),
				Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth}},
		}
		Expect(asOperator().Create(ctx, left)).To(Succeed())
		Expect(getCSR(left.Name).Spec.Username).To(Equal(operatorUser))
		createCertificate(namespace, issuer.Name, "orphaned", nil)
		Eventually(created, timeout, interval).Should(ContainElement(left.Name))

		By("looked at again and again, it is never approved, denied or signed")
		Consistently(func(g Gomega) {
			nudgeCSR(left.Name)
			csr := getCSR(left.Name)
			g.Expect(csr.Status.Conditions).To(BeEmpty())
			g.Expect(csr.Status.Certificate).To(BeEmpty())
		}, 3*time.Second, 300*time.Millisecond).Should(Succeed())

		By("once it can be deleted, it is, and the certificate comes from the one new CSR")
		lift()
		nudge(namespace, "orphaned") // past the backoff of the refused deletes
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Name: left.Name}, &certificatesv1.CertificateSigningRequest{}))
		}, timeout, interval).Should(BeTrue())
		Eventually(created, timeout, interval).Should(HaveLen(2))
		second := created()[1]
		sc := waitRevision(namespace, "orphaned", 1)
		Eventually(func() []byte { return getCSR(second).Status.Certificate }, timeout, interval).ShouldNot(BeEmpty())
		signed, err := pki.ParseCertificatesPEM(getCSR(second).Status.Certificate)
		Expect(err).NotTo(HaveOccurred())
		Expect(sc.Status.SerialNumber).To(Equal(fmt.Sprintf("%x", signed[0].SerialNumber)))
		Expect(expectMatchingPair(getSecret(namespace, "orphaned-tls"))[0].Equal(signed[0])).To(BeTrue())
	})
})

// mustCSR is a PEM request with a new ECDSA key for one DNS name.
func mustCSR(dnsName string) []byte {
	csrPEM, err := pki.BuildCSR(newKey(pki.KeyAlgorithmECDSA), pki.CSRRequest{DNSNames: []string{dnsName}})
	Expect(err).NotTo(HaveOccurred())
	return csrPEM
}
