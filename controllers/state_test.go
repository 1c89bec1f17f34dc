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
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// Plain unit tests of the controllers' in-memory state and bounds; they
// need no API server.

func certificateWithUID(uid string) *certsmithv1alpha1.ServiceCertificate {
	return &certsmithv1alpha1.ServiceCertificate{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: types.UID(uid)}}
}

func TestStateIsKeyedByUID(t *testing.T) {
	keys := newPendingKeys()
	old, recreated := certificateWithUID("old"), certificateWithUID("new")
	keys.put(old, &pendingRequest{csrName: "ns-web-abc"})
	if keys.get(old) == nil {
		t.Fatal("the pending key of the object itself is gone")
	}
	if got := keys.get(recreated); got != nil {
		t.Fatalf("a ServiceCertificate recreated under the same name inherited the pending key of CSR %s", got.csrName)
	}

	written := newWrittenStatuses()
	written.record(old, 1, &certsmithv1alpha1.ServiceCertificateStatus{Revision: 7})
	if written.last(recreated) != nil || written.matches(recreated, 1, &certsmithv1alpha1.ServiceCertificateStatus{Revision: 7}) {
		t.Fatal("a recreated ServiceCertificate inherited the status written for the old one")
	}

	expectations := newSecretExpectations()
	now := time.Now()
	expectations.expect(old, 3, now)
	if !expectations.satisfied(recreated, 0, now) {
		t.Fatal("a recreated ServiceCertificate waits for the old one's Secret revision")
	}
	if expectations.satisfied(old, 2, now) {
		t.Fatal("the object itself no longer waits for its own write")
	}
}

// TestWrittenStatusLivesUntilTheCacheHasTheWrite: the last status written is
// kept while the cache is older than the write (a reconcile then starts from
// it), and dropped once the cache holds the object the write returned, so
// that certificates at rest cost no memory here.
func TestWrittenStatusLivesUntilTheCacheHasTheWrite(t *testing.T) {
	written := newWrittenStatuses()
	afterWrite := certificateWithUID("uid")
	afterWrite.ResourceVersion = "42"
	written.record(afterWrite, 1, &certsmithv1alpha1.ServiceCertificateStatus{Revision: 7})

	stale := afterWrite.DeepCopy()
	stale.ResourceVersion = "41"
	written.seen(stale)
	if last := written.last(stale); last == nil || last.Revision != 7 {
		t.Fatalf("a cache older than the write lost the status written: %+v", last)
	}

	written.seen(afterWrite.DeepCopy())
	if last := written.last(afterWrite); last != nil {
		t.Fatalf("the status written is still kept once the cache holds it: %+v", last)
	}
	if n := len(written.state.entries); n != 0 {
		t.Fatalf("%d entries kept for certificates the cache is up to date with", n)
	}
}

func TestPendingHoldUsesTheInjectedClock(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	r := &ServiceCertificateReconciler{Clock: clock, keys: newPendingKeys()}
	sc := certificateWithUID("uid")
	r.keys.put(sc, &pendingRequest{createdAt: clock.Now(), createdWall: time.Now()})
	if !r.holdPendingStatus(sc) {
		t.Fatal("a fresh issuance is not held")
	}
	clock.Step(pendingStatusGrace + time.Second)
	if r.holdPendingStatus(sc) {
		t.Fatal("the hold outlived the grace period on the reconciler's clock")
	}
}

func TestLimitMessage(t *testing.T) {
	if got := limitMessage("short"); got != "short" {
		t.Fatalf("a short message changed: %q", got)
	}
	long := strings.Repeat("é", 4000) // two bytes each: cuts must fall between characters
	got := limitMessage(long)
	if len(got) > MaxMessageBytes {
		t.Fatalf("%d bytes, more than %d", len(got), MaxMessageBytes)
	}
	if !utf8.ValidString(got) {
		t.Fatal("cut inside a character")
	}
	if !strings.Contains(got, "… and ") || !strings.HasSuffix(got, " more bytes") {
		t.Fatalf("no count of what was left out: %q", got[len(got)-40:])
	}
}

func TestBoundedCSRInCache(t *testing.T) {
	huge := make([]byte, 10*MaxCSRBytes)
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "big", Annotations: map[string]string{
			"tenant/blob": strings.Repeat("x", 200<<10), certsmithv1alpha1.AnnotationCertificateHash: "abc",
		}},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: huge, Extra: map[string]certificatesv1.ExtraValue{"k": {strings.Repeat("y", 1<<20)}}},
	}
	out, err := boundedCSR(csr)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*certificatesv1.CertificateSigningRequest)
	if len(got.Spec.Request) != MaxCSRBytes+1 || got.Spec.Extra != nil {
		t.Fatalf("request of %d bytes and extra %d kept", len(got.Spec.Request), len(got.Spec.Extra))
	}
	if len(got.Annotations) != 1 || got.Annotations[certsmithv1alpha1.AnnotationCertificateHash] != "abc" {
		t.Fatalf("annotations kept: %d", len(got.Annotations))
	}
	again, _ := boundedCSR(got)
	if len(again.(*certificatesv1.CertificateSigningRequest).Spec.Request) != MaxCSRBytes+1 {
		t.Fatal("not idempotent")
	}

	// Finished: what was asked and by whom goes; what certsmith reads of a
	// finished CSR (requester name, signer, certificate, conditions) stays.
	for _, finish := range []func(*certificatesv1.CertificateSigningRequest){
		func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = []byte("chain") },
		func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Message: "no"}}
		},
	} {
		done := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: []byte("request"), Username: "u", Groups: []string{"g"}, UID: "uid", SignerName: "s",
		}}
		finish(done)
		out, _ := boundedCSR(done)
		got := out.(*certificatesv1.CertificateSigningRequest)
		if got.Spec.Request != nil || got.Spec.Groups != nil || got.Spec.UID != "" {
			t.Fatalf("a finished CSR keeps its request %q, groups %v, uid %q", got.Spec.Request, got.Spec.Groups, got.Spec.UID)
		}
		if got.Spec.Username != "u" || got.Spec.SignerName != "s" || !csrFinished(got) {
			t.Fatalf("a finished CSR lost what certsmith reads: %+v", got)
		}
	}
	pending := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{Request: []byte("request"), Groups: []string{"g"}}}
	out, _ = boundedCSR(pending)
	if got := out.(*certificatesv1.CertificateSigningRequest); string(got.Spec.Request) != "request" || len(got.Spec.Groups) != 1 {
		t.Fatalf("a pending CSR lost what its signer checks: %+v", got.Spec)
	}
}

// TestCachedLabelsAreShared: the cache keeps one labels map for every
// Secret and CSR certsmith manages, a tenant's other labels are dropped, a
// foreign value of the label is kept as it is, and a copy (what a cached
// read returns) owns its map, so that writing to it touches no other object.
func TestCachedLabelsAreShared(t *testing.T) {
	managed := map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue, "tenant": "x"}
	secret := cachedSecretMetadata(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "n", Labels: managed}})
	out, _ := boundedCSR(&certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "c", Labels: managed}})
	csr := out.(*certificatesv1.CertificateSigningRequest)
	if reflect.ValueOf(secret.Labels).Pointer() != reflect.ValueOf(csr.Labels).Pointer() {
		t.Fatal("the Secret and the CSR each hold their own labels map")
	}
	if len(secret.Labels) != 1 || secret.Labels[certsmithv1alpha1.LabelManagedBy] != certsmithv1alpha1.ManagedByValue {
		t.Fatalf("labels kept: %v", secret.Labels)
	}
	foreign := cachedSecretMetadata(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "n",
		Labels: map[string]string{certsmithv1alpha1.LabelManagedBy: "someone-else"}}})
	if foreign.Labels[certsmithv1alpha1.LabelManagedBy] != "someone-else" {
		t.Fatalf("a foreign value of the label was changed: %v", foreign.Labels)
	}
	copied := secret.DeepCopy()
	copied.Labels["written"] = "by a reconcile"
	if len(cachedManagedBy) != 1 || len(csr.Labels) != 1 {
		t.Fatalf("writing to a copy changed the shared map: %v", cachedManagedBy)
	}
}

func TestIssuanceRateLimits(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	var history *certsmithv1alpha1.IssuanceHistory
	for i := range maxIssuancesPerHour {
		if wait, _ := issuanceWait(history, "k", now); wait != 0 {
			t.Fatalf("issuance %d of the same key waits %s", i+1, wait)
		}
		history = recordIssuance(history, "k", now.Add(time.Duration(i)*time.Minute))
	}
	now = now.Add(10 * time.Minute)
	wait, limit := issuanceWait(history, "k", now)
	if limit != maxIssuancesPerHour || wait != 50*time.Minute {
		t.Fatalf("the sixth of the same key: wait %s (limit %d), want 50m until the first is an hour old", wait, limit)
	}
	if wait, _ := issuanceWait(history, "other", now); wait != 0 {
		t.Fatalf("a changed spec waits %s", wait)
	}

	// A new key each time: the limit in all still holds.
	history = nil
	for i := range maxIssuancesPerHourInAll {
		history = recordIssuance(history, fmt.Sprintf("k%d", i), now)
	}
	if len(history.Times) != 1 || len(history.AllTimes) != maxIssuancesPerHourInAll {
		t.Fatalf("kept %d times for the key and %d in all", len(history.Times), len(history.AllTimes))
	}
	wait, limit = issuanceWait(history, "fresh", now.Add(time.Minute))
	if limit != maxIssuancesPerHourInAll || wait != 59*time.Minute {
		t.Fatalf("issuance %d in all: wait %s (limit %d)", maxIssuancesPerHourInAll+1, wait, limit)
	}
	if wait, _ := issuanceWait(history, "fresh", now.Add(issuanceRateWindow)); wait != 0 {
		t.Fatalf("an hour later it still waits %s", wait)
	}
}
