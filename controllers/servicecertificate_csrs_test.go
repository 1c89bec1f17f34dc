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
	"slices"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// csrNames lists the names of the CSRs c holds.
func csrNames(t *testing.T, c client.Client) []string {
	t.Helper()
	var list certificatesv1.CertificateSigningRequestList
	if err := c.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, csr := range list.Items {
		names = append(names, csr.Name)
	}
	slices.Sort(names)
	return names
}

// csrObject returns csr as an object for the fake client.
func csrObject(csr certificatesv1.CertificateSigningRequest) *certificatesv1.CertificateSigningRequest {
	return &csr
}

// TestServiceCertificateGoneDeletesItsCSRs checks that a reconcile that finds the ServiceCertificate gone deletes every CSR certsmith made under its name, and only those, and drops its key.
func TestServiceCertificateGoneDeletesItsCSRs(t *testing.T) {
	foreign := scTestCSR("shop-web-forged", "shop/web", "h", scTestNow)
	foreign.Spec.Username = "mallory"
	c := scTestClient(t,
		csrObject(scTestCSR("shop-web-inflight", "shop/web", "h", scTestNow)),
		csrObject(scSigned(scTestCSR("shop-web-history", "shop/web", "h", scTestNow))),
		csrObject(foreign),
		csrObject(scTestCSR("shop-api-1", "shop/api", "h", scTestNow)))
	r := &ServiceCertificateReconciler{Client: c, Username: scTestOperator,
		keys: newPendingKeys(), expectations: newSecretExpectations(), written: newWrittenStatuses()}
	old := scTestCertificate(nil)
	r.keys.put(old, &pendingRequest{csrName: "shop-web-inflight"})

	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: "web"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := csrNames(t, c), []string{"shop-api-1", "shop-web-forged"}; !slices.Equal(got, want) {
		t.Fatalf("CSRs left %v, want %v: every CSR certsmith made for the deleted certificate goes, and only those", got, want)
	}
	if r.keys.get(old) != nil {
		t.Fatal("the deleted certificate's key is still held")
	}
}

// TestServiceCertificateAliveKeepsItsCSRs checks that the CSR of a live ServiceCertificate is not taken for an orphan.
func TestServiceCertificateAliveKeepsItsCSRs(t *testing.T) {
	sc := scTestCertificate(nil)
	sc.UID = "uid-new"
	scheme := scTestScheme(t)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(sc, csrObject(scTestCSR("shop-web-new", "shop/web", "h", scTestNow))).
		WithStatusSubresource(sc).WithIndex(&certificatesv1.CertificateSigningRequest{}, indexCSROwner, csrOwnerIndex).Build()
	r := &ServiceCertificateReconciler{Client: c, APIReader: c, Username: scTestOperator, Clock: clocktesting.NewFakeClock(scTestNow),
		Recorder: events.NewFakeRecorder(10), keys: newPendingKeys(), expectations: newSecretExpectations(), written: newWrittenStatuses()}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sc)}); err != nil {
		t.Fatal(err)
	}
	if got := csrNames(t, c); !slices.Equal(got, []string{"shop-web-new"}) {
		t.Fatalf("CSRs left %v: the CSR of a live certificate of that name was deleted", got)
	}
	got := &certsmithv1alpha1.ServiceCertificate{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(sc), got); err != nil {
		t.Fatal(err)
	}
	if ready := meta.FindStatusCondition(got.Status.Conditions, certsmithv1alpha1.ConditionReady); ready == nil ||
		ready.Reason != certsmithv1alpha1.ReasonIssuerNotFound {
		t.Fatalf("Ready %+v, want IssuerNotFound (the issuer corp does not exist)", ready)
	}
}

// TestServiceCertificateCSRControllerLeavesOrphansToTheCertificateController checks that the CSR controller no longer deletes CSRs: the ServiceCertificate controller alone does.
func TestServiceCertificateCSRControllerLeavesOrphansToTheCertificateController(t *testing.T) {
	orphan := csrObject(scTestCSR("shop-web-inflight", "shop/web", "h", scTestNow))
	c := scTestClient(t, orphan)
	r := &CSRReconciler{Client: c, APIReader: c, Username: scTestOperator, Clock: clocktesting.NewFakeClock(scTestNow),
		Recorder: events.NewFakeRecorder(10)}
	result, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(orphan)})
	if err != nil || !result.IsZero() {
		t.Fatalf("result %+v, error %v", result, err)
	}
	if got := csrNames(t, c); !slices.Equal(got, []string{"shop-web-inflight"}) {
		t.Fatalf("CSRs left %v: the CSR controller deleted a CSR; only the ServiceCertificate controller does", got)
	}
}
