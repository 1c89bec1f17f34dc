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
	"strconv"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// TestHandoffWritesIntoTheApprovedCSR: when the cache has not seen the
// signer's approval yet, the certificate is written into the CSR the
// approval returned (its resourceVersion), not the stale cached one, which
// the API server would answer with a 409 (seen with one kubectl create -f
// of 1,000 certificates); a cache that has seen it, or another CSR of the
// name, is used as it is.
func TestHandoffWritesIntoTheApprovedCSR(t *testing.T) {
	h := newIssuanceHandoff(newPendingKeys())
	owner := types.NamespacedName{Namespace: "shop", Name: "web"}
	stale := &certificatesv1.CertificateSigningRequest{}
	stale.Name, stale.UID, stale.ResourceVersion = "shop-web-abc", "uid-1", "10"
	approved := stale.DeepCopy()
	approved.ResourceVersion = "11"
	approved.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	h.offer(owner, approved, []byte("chain"))
	approved.ResourceVersion = "changed after the offer"

	if got := h.freshest(stale); got.ResourceVersion != "11" || !csrApproved(got) {
		t.Fatalf("a stale cache gives resourceVersion %s, approved %v; want the approval's 11", got.ResourceVersion, csrApproved(got))
	}
	got := h.freshest(stale)
	got.Status.Certificate = []byte("written")
	if again := h.freshest(stale); len(again.Status.Certificate) != 0 {
		t.Fatal("the copy handed out is the handoff's own")
	}
	seen := approved.DeepCopy()
	seen.ResourceVersion = "12"
	if got := h.freshest(seen); got != seen {
		t.Fatal("a cache that has seen the approval is not used as it is")
	}
	other := stale.DeepCopy()
	other.UID = "uid-2"
	if got := h.freshest(other); got != other {
		t.Fatal("another CSR of the same name got the approved copy of the first")
	}
	var none *issuanceHandoff
	if got := none.freshest(stale); got != stale {
		t.Fatal("a nil handoff changed the CSR")
	}
}

// TestIssuanceHandoff checks the handoff between the signer and the
// ServiceCertificate controller: only a CSR whose key is held counts as
// held, a certificate is handed once per CSR (by UID), stored wakes the
// signer, and a nil handoff holds nothing.
func TestIssuanceHandoff(t *testing.T) {
	keys := newPendingKeys()
	h := newIssuanceHandoff(keys)
	sc := scTestCertificate(nil)
	owner := types.NamespacedName{Namespace: "shop", Name: "web"}
	csr := &certificatesv1.CertificateSigningRequest{}
	csr.Name, csr.UID = "shop-web-abc", "uid-1"

	if h.holds(owner, csr) {
		t.Fatal("holds a CSR whose key is not held")
	}
	keys.put(sc, &pendingRequest{csrName: "shop-web-other"})
	if h.holds(owner, csr) {
		t.Fatal("holds a CSR by its owner alone")
	}
	keys.put(sc, &pendingRequest{csrName: csr.Name})
	if !h.holds(owner, csr) {
		t.Fatal("does not hold the CSR of the key in flight")
	}

	h.offer(owner, csr, []byte("first"))
	h.offer(owner, csr, []byte("second"))
	if got := string(h.certificateFor(csr)); got != "first" {
		t.Fatalf("handed %q, want the first certificate: a CSR never gets two", got)
	}
	select {
	case e := <-h.wakeCertificates:
		if e.Object.GetNamespace() != "shop" || e.Object.GetName() != "web" {
			t.Fatalf("woke %s/%s", e.Object.GetNamespace(), e.Object.GetName())
		}
	default:
		t.Fatal("the ServiceCertificate controller was not woken")
	}
	other := csr.DeepCopy()
	other.UID = "uid-2" // the same name, another object
	if h.certificateFor(other) != nil {
		t.Fatal("a CSR made again under the same name inherits the certificate")
	}
	if h.storedOf(owner)[csr.Name] {
		t.Fatal("stored before markStored")
	}
	h.markStored(csr, []byte("second"))
	if h.storedOf(owner)[csr.Name] {
		t.Fatal("marked stored for a certificate that is not the one handed over")
	}
	h.markStored(csr, []byte("first"))
	if !h.storedOf(owner)[csr.Name] {
		t.Fatal("not stored after markStored")
	}
	select {
	case e := <-h.wakeSigner:
		if e.Object.GetName() != csr.Name {
			t.Fatalf("woke CSR %s", e.Object.GetName())
		}
	default:
		t.Fatal("the signer was not woken")
	}
	if chain, stored, ok := h.take(csr); !ok || !stored || string(chain) != "first" {
		t.Fatalf("take = %q %v %v", chain, stored, ok)
	}
	h.drop(csr.Name)
	if _, _, ok := h.take(csr); ok || len(h.signed) != 0 {
		t.Fatal("dropped, yet still handed")
	}

	var none *issuanceHandoff
	none.markStored(csr, nil)
	none.drop(csr.Name)
	if none.holds(owner, csr) || none.certificateFor(csr) != nil || none.storedOf(owner) != nil {
		t.Fatal("a nil handoff holds something")
	}
}

// TestIssuanceHandoffBounded checks that certificates left behind are
// dropped after handoffTTL once more than handoffSweepAbove are handed.
func TestIssuanceHandoffBounded(t *testing.T) {
	h := newIssuanceHandoff(newPendingKeys())
	now := time.Now()
	h.now = func() time.Time { return now }
	owner := types.NamespacedName{Namespace: "shop", Name: "web"}
	for i := range handoffSweepAbove + 1 {
		csr := &certificatesv1.CertificateSigningRequest{}
		csr.Name, csr.UID = "old-"+strconv.Itoa(i), types.UID(strconv.Itoa(i))
		h.offer(owner, csr, []byte("c"))
		<-h.wakeCertificates
	}
	keys := h.keys
	sc := scTestCertificate(nil)
	keys.put(sc, &pendingRequest{csrName: "old-7"}) // still waiting for its Secret
	now = now.Add(handoffTTL + time.Second)
	fresh := &certificatesv1.CertificateSigningRequest{}
	fresh.Name, fresh.UID = "fresh", "uid-fresh"
	h.offer(owner, fresh, []byte("c"))
	if got := len(h.signed); got != 2 {
		t.Fatalf("%d handed after the sweep, want the fresh one and the one whose key is held", got)
	}
	held := &certificatesv1.CertificateSigningRequest{}
	held.Name, held.UID = "old-7", "7"
	if h.certificateFor(held) == nil {
		t.Fatal("swept the certificate of a CSR whose key is held: it would be signed again")
	}
}

// TestCreateRequestRetriesUnderTheSameName checks that a CSR create whose
// answer was lost is made again with the same key and name, and that the
// CSR found already there is taken only when it is certsmith's, for that key.
func TestCreateRequestRetriesUnderTheSameName(t *testing.T) {
	f := newChainFixture(t)
	sc := f.sc.DeepCopy()
	req := scTestRequest(t, sc)
	lose := true
	c := scTestClient(t)
	lossy := interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
			if !ok {
				return cl.Create(ctx, obj, opts...)
			}
			csr.Spec.Username = scTestOperator // as the API server sets it
			err := cl.Create(ctx, obj, opts...)
			if err == nil && lose {
				lose = false
				return apierrors.NewTimeoutError("the answer was lost", 1)
			}
			return err
		},
	})
	r := &ServiceCertificateReconciler{Client: lossy, APIReader: lossy, Username: scTestOperator, Clock: clocktesting.NewFakeClock(scTestNow),
		Recorder: events.NewFakeRecorder(10), keys: newPendingKeys()}
	o := scTestObserved(sc, req, f.ca, nil)

	if _, err := r.createRequest(context.Background(), sc, o, scTestNow); err == nil {
		t.Fatal("the lost answer was not reported")
	}
	first := r.keys.get(sc)
	if first == nil || !first.unanswered {
		t.Fatalf("pending %+v: the key must stay held, unanswered", first)
	}
	if step := decideRequest(&observed{sc: sc, request: req, pending: first}, scTestNow); step.kind != stepCreate {
		t.Fatalf("step %v, want create again", step.kind)
	}
	o.pending = first
	if _, err := r.createRequest(context.Background(), sc, o, scTestNow); err != nil {
		t.Fatal(err)
	}
	again := r.keys.get(sc)
	if again.unanswered || again.csrName != first.csrName || again.key != first.key {
		t.Fatalf("retried as %q (unanswered %v), want %q with the same key", again.csrName, again.unanswered, first.csrName)
	}
	if got := csrNames(t, c); len(got) != 1 || got[0] != first.csrName {
		t.Fatalf("CSRs %v, want the one %s", got, first.csrName)
	}

	// A CSR under the name that is not certsmith's, or not for this key, is not taken.
	for _, squatter := range []struct{ name, username string }{{"other-user", "mallory"}, {"other-key", scTestOperator}} {
		squatted := scTestCSR(first.csrName+squatter.name, "shop/web", req.hash(), scTestNow)
		squatted.Spec.Username = squatter.username
		squatted.Spec.Request = mustTestCSR(t)
		if err := c.Create(context.Background(), &squatted); err != nil {
			t.Fatal(err)
		}
		pending := *first
		pending.csrName, pending.unanswered = squatted.Name, true
		if err := r.checkCreatedBefore(context.Background(), &pending); err == nil {
			t.Fatalf("%s: took a CSR that an earlier create of this key did not make", squatter.name)
		}
	}
	pending := *first
	if err := r.checkCreatedBefore(context.Background(), &pending); err != nil {
		t.Fatalf("the CSR the lost create made is not taken: %v", err)
	}
}

// mustTestCSR is a PEM request with a new key.
func mustTestCSR(t *testing.T) []byte {
	t.Helper()
	csrPEM, err := pki.BuildCSR(scTestKey(t), pki.CSRRequest{DNSNames: []string{"web.shop.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	return csrPEM
}

// TestSignerWaitsForTheSecret: a CSR of certsmith's own that the signer
// has signed, whose certificate is not in the Secret yet, is neither
// signed again nor written, however often it is reconciled; once stored,
// the very bytes handed over go into the CSR. The control at the end shows
// that the same CSR without a handed certificate would be written to.
func TestSignerWaitsForTheSecret(t *testing.T) {
	ctx := context.Background()
	sc := scTestCertificate(nil)
	owner := client.ObjectKeyFromObject(sc)
	issuer := scTestIssuer()
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-web-abc", UID: "uid-csr",
			Annotations: map[string]string{certsmithv1alpha1.AnnotationServiceCertificate: "shop/web"}},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			SignerName: issuer.EffectiveSignerName(), Username: scTestOperator, Request: mustTestCSR(t),
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
		},
		Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Approved"}}},
	}
	var writes []string
	c := fake.NewClientBuilder().WithScheme(scTestScheme(t)).WithObjects(sc, issuer, csr).
		WithStatusSubresource(&certificatesv1.CertificateSigningRequest{}).
		WithIndex(&certsmithv1alpha1.ClusterIssuer{}, indexIssuerSignerName, func(obj client.Object) []string {
			return []string{obj.(*certsmithv1alpha1.ClusterIssuer).EffectiveSignerName()}
		}).
		WithInterceptorFuncs(interceptor.Funcs{
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				writes = append(writes, "update "+obj.GetName())
				return c.Update(ctx, obj, opts...)
			},
			SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
				writes = append(writes, sub+" "+obj.GetName())
				return c.SubResource(sub).Update(ctx, obj, opts...)
			},
		}).Build()
	keys := newPendingKeys()
	keys.put(sc, &pendingRequest{csrName: csr.Name})
	handoff := newIssuanceHandoff(keys)
	clock := clocktesting.NewFakeClock(scTestNow)
	r := &CSRReconciler{Client: c, APIReader: c, Clock: clock, Recorder: events.NewFakeRecorder(16), Namespace: "certsmith-system",
		Username: scTestOperator, Handoff: handoff, recent: newRecentlyFinished(clock), skipWarned: newUIDMemory(clock, skipWarningTTL)}
	reconcileCSR := func() ctrl.Result {
		t.Helper()
		result, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: csr.Name}})
		if err != nil {
			t.Fatal(err)
		}
		return result
	}

	handoff.offer(owner, csr, []byte("first"))
	for range 3 {
		if result := reconcileCSR(); result.RequeueAfter != waitSigningRecheck {
			t.Fatalf("an unstored certificate: %+v, want a recheck after %s", result, waitSigningRecheck)
		}
	}
	if len(writes) != 0 {
		t.Fatalf("wrote %v before the certificate was in its Secret", writes)
	}
	if got := string(handoff.certificateFor(csr)); got != "first" {
		t.Fatalf("handed %q, want the first certificate", got)
	}

	handoff.markStored(csr, []byte("first"))
	reconcileCSR()
	var got certificatesv1.CertificateSigningRequest
	if err := c.Get(ctx, client.ObjectKeyFromObject(csr), &got); err != nil {
		t.Fatal(err)
	}
	if string(got.Status.Certificate) != "first" || len(writes) != 1 {
		t.Fatalf("stored: CSR holds %q after %v, want the handed bytes in one write", got.Status.Certificate, writes)
	}

	// The control: the same approved CSR, nothing handed over, its key
	// held. The signer acts on it (here: fails it, as the issuer has no CA).
	again := csr.DeepCopy()
	again.Name, again.UID, again.ResourceVersion = "shop-web-def", "uid-csr-2", ""
	if err := c.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	keys.put(sc, &pendingRequest{csrName: again.Name})
	writes = nil
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: again.Name}}); err != nil {
		t.Fatal(err)
	}
	if len(writes) == 0 {
		t.Fatal("the control CSR was not written to: the checks above prove nothing")
	}
}
