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
	"testing"
	"time"
	"unicode/utf8"

	certificatesv1 "k8s.io/api/certificates/v1"
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
