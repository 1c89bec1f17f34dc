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
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// TestServiceCertificateDecide checks the order of decide: request problems, the cache, the policy, the chain, adoption.
func TestServiceCertificateDecide(t *testing.T) {
	f := newChainFixture(t)
	req := scTestRequest(t, f.sc)
	now := scTestNow.Add(time.Hour)
	renewal := renewalTime(f.sc, req, f.issued.leaf())
	refusal := &terminalError{reason: certsmithv1alpha1.ReasonNotAllowedByPolicy, message: "ClusterIssuer corp does not allow: web.shop.svc"}
	specProblem := terminal(certsmithv1alpha1.ReasonInvalidSpec, "spec.uris: bad")
	cases := []struct {
		name   string
		edit   func(o *observed)
		at     time.Time
		want   action
		check  func(t *testing.T, d decision)
		reason string
	}{
		{name: "up to date: kept until the renewal time", edit: func(*observed) {}, want: actionKeep,
			check: func(t *testing.T, d decision) {
				if !d.renewalTime.Equal(renewal) || d.refusal != nil {
					t.Fatalf("renewal %s refusal %v, want %s and none", d.renewalTime, d.refusal, renewal)
				}
			}},
		{name: "a request problem is reported, before anything else", edit: func(o *observed) {
			o.requestErr, o.cacheBehind, o.issued = specProblem, true, nil
		}, want: actionReport, check: func(t *testing.T, d decision) {
			if !errors.Is(d.problem, specProblem) {
				t.Fatalf("problem %v", d.problem)
			}
		}},
		{name: "our own write not in the cache yet: wait", edit: func(o *observed) { o.cacheBehind, o.issued = true, nil },
			want: actionWaitForCache},
		{name: "refused by the policy, still in use: kept, with the refusal", edit: func(o *observed) { o.refusal = refusal },
			want: actionKeep, check: func(t *testing.T, d decision) {
				if d.refusal != refusal || !d.renewalTime.Equal(renewal) {
					t.Fatalf("refusal %v renewal %s", d.refusal, d.renewalTime)
				}
			}},
		{name: "refused by the policy and due: reported", edit: func(o *observed) { o.refusal = refusal }, at: renewal,
			want: actionReport, check: func(t *testing.T, d decision) {
				if d.problem != error(refusal) {
					t.Fatalf("problem %v", d.problem)
				}
			}},
		{name: "refused by the policy with no Secret: reported", edit: func(o *observed) { o.refusal, o.issued = refusal, nil },
			want: actionReport},
		{name: "no Secret: issue, looking for an unlabelled one first", edit: func(o *observed) { o.issued = nil },
			want: actionIssue, reason: certsmithv1alpha1.ReasonSecretMissing, check: func(t *testing.T, d decision) {
				if !d.adopt || d.step.kind != stepCreate || d.message != "the Secret does not exist" {
					t.Fatalf("adopt=%v step=%v message=%q", d.adopt, d.step.kind, d.message)
				}
			}},
		{name: "no Secret, CSR in flight: no adoption", edit: func(o *observed) {
			o.issued = nil
			o.pending = &pendingRequest{csrName: "shop-web-1", requestHash: req.hash(), createdAt: now}
		}, want: actionIssue, reason: certsmithv1alpha1.ReasonSecretMissing, check: func(t *testing.T, d decision) {
			if d.adopt || d.step.kind != stepWaitCache {
				t.Fatalf("adopt=%v step=%v", d.adopt, d.step.kind)
			}
		}},
		{name: "renewal due: issue, the Secret exists", edit: func(*observed) {}, at: renewal, want: actionIssue,
			reason: certsmithv1alpha1.ReasonRenewing, check: func(t *testing.T, d decision) {
				if d.adopt {
					t.Fatal("looks for an unlabelled Secret although it has one")
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := scTestObserved(f.sc.DeepCopy(), scTestRequest(t, f.sc), f.ca, decodeSecret(f.issued.secret.DeepCopy()))
			tc.edit(o)
			at := now
			if !tc.at.IsZero() {
				at = tc.at
			}
			d := decide(o, at)
			if d.action != tc.want || d.reason != tc.reason {
				t.Fatalf("action %v reason %q, want %v %q", d.action, d.reason, tc.want, tc.reason)
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

// TestServiceCertificateDecideThroughARotation checks decide across a CA switch, with the rotation read from the issuer.
func TestServiceCertificateDecideThroughARotation(t *testing.T) {
	f := newRotationFixture(t)
	sc, req := f.sc.DeepCopy(), scTestRequest(t, f.sc)
	o := scTestObserved(sc, req, f.newCA, f.issued)
	o.ca.bundle = pki.EncodeCertificatesPEM(f.newCA.Certificate, f.ca.Certificate)
	o.issuer.Spec.Rotation = &certsmithv1alpha1.RotationSpec{ReissueWindow: &metav1.Duration{Duration: f.window}}
	o.issuer.Status.Rotation = &certsmithv1alpha1.RotationStatus{Phase: certsmithv1alpha1.RotationRetiring, SwitchedAt: &metav1.Time{Time: f.switchedAt}}

	d := decide(o, f.switchedAt)
	if d.action != actionKeep || !d.renewalTime.Equal(f.turn()) {
		t.Fatalf("at the switch: action %v, renewal %s; want kept until its turn %s", d.action, d.renewalTime, f.turn())
	}
	d = decide(o, f.turn())
	if d.action != actionIssue || d.reason != certsmithv1alpha1.ReasonNotChainedToIssuer {
		t.Fatalf("at its turn: action %v reason %q", d.action, d.reason)
	}
	o.issuer.Status.Rotation = nil
	if d := decide(o, f.switchedAt); d.action != actionIssue || d.reason != certsmithv1alpha1.ReasonNotChainedToIssuer {
		t.Fatalf("another CA with no switch recorded: action %v reason %q, want re-issued at once", d.action, d.reason)
	}
}

// TestServiceCertificateDecideRateLimit checks that decide limits new CSRs per hour, per issuance key and in all.
func TestServiceCertificateDecideRateLimit(t *testing.T) {
	f := newChainFixture(t)
	req := scTestRequest(t, f.sc)
	now := scTestNow.Add(time.Hour)
	fill := func(sc *certsmithv1alpha1.ServiceCertificate, n int, key func(i int) string) {
		for i := range n {
			sc.Status.RecentIssuances = recordIssuance(sc.Status.RecentIssuances, key(i), now.Add(-50*time.Minute+time.Duration(i)*time.Minute))
		}
	}
	sameKey := func(sc *certsmithv1alpha1.ServiceCertificate) func(int) string {
		return func(int) string { return issuanceKey(sc, req, f.ca) }
	}
	cases := []struct {
		name      string
		edit      func(o *observed)
		want      action
		wantLimit int
		wantWait  time.Duration
	}{
		{name: "four of the same: issued", edit: func(o *observed) { fill(o.sc, maxIssuancesPerHour-1, sameKey(o.sc)) }, want: actionIssue},
		{name: "five of the same: waits until the first is an hour old", edit: func(o *observed) { fill(o.sc, maxIssuancesPerHour, sameKey(o.sc)) },
			want: actionRateLimited, wantLimit: maxIssuancesPerHour, wantWait: 10 * time.Minute},
		{name: "five of the same, then a new manual trigger: issued", edit: func(o *observed) {
			fill(o.sc, maxIssuancesPerHour, sameKey(o.sc))
			o.sc.Annotations = map[string]string{certsmithv1alpha1.AnnotationRenewRequestedAt: "again"}
		}, want: actionIssue},
		{name: "five of the same with a CSR in flight: not limited", edit: func(o *observed) {
			fill(o.sc, maxIssuancesPerHour, sameKey(o.sc))
			o.pending = &pendingRequest{csrName: "shop-web-1", requestHash: req.hash(), createdAt: now}
		}, want: actionIssue},
		{name: "thirty of different keys: the limit in all", edit: func(o *observed) {
			fill(o.sc, maxIssuancesPerHourInAll, func(i int) string { return strings.Repeat("k", i+1) })
		}, want: actionRateLimited, wantLimit: maxIssuancesPerHourInAll, wantWait: 10 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := scTestObserved(f.sc.DeepCopy(), req, f.ca, nil)
			tc.edit(o)
			d := decide(o, now)
			if d.action != tc.want || d.limit != tc.wantLimit || d.wait != tc.wantWait {
				t.Fatalf("action %v limit %d wait %s, want %v %d %s", d.action, d.limit, d.wait, tc.want, tc.wantLimit, tc.wantWait)
			}
			if d.reason != certsmithv1alpha1.ReasonSecretMissing {
				t.Fatalf("reason %q, want the one that keeps triggering", d.reason)
			}
		})
	}
}

// TestServiceCertificateRateLimitedStatus checks the status and the one Warning Event of a rate-limited certificate.
func TestServiceCertificateRateLimitedStatus(t *testing.T) {
	f := newChainFixture(t)
	now := scTestNow.Add(time.Hour)
	d := decision{action: actionRateLimited, reason: certsmithv1alpha1.ReasonKeyMismatch, message: "tls.key does not belong",
		wait: 10 * time.Minute, limit: maxIssuancesPerHour}
	recorder := events.NewFakeRecorder(10)
	r := &ServiceCertificateReconciler{Recorder: recorder}

	sc := f.sc.DeepCopy()
	r.rateLimited(sc, f.issued, d, now)
	issuing := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionIssuing)
	if issuing == nil || issuing.Status != metav1.ConditionFalse || issuing.Reason != certsmithv1alpha1.ReasonIssuanceRateLimited ||
		!strings.Contains(issuing.Message, "5 certificates were issued in the last hour for the same spec") ||
		!strings.Contains(issuing.Message, now.Add(10*time.Minute).Format(time.RFC3339)) ||
		!strings.Contains(issuing.Message, "tls.key does not belong (KeyMismatch)") {
		t.Fatalf("Issuing: %+v", issuing)
	}
	if meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady) != nil {
		t.Fatal("Ready changed although the Secret holds a usable certificate")
	}
	if got := len(recorder.Events); got != 1 {
		t.Fatalf("%d Events, want one Warning", got)
	}
	if e := <-recorder.Events; !strings.HasPrefix(e, "Warning IssuanceRateLimited ") {
		t.Fatalf("Event %q", e)
	}
	r.rateLimited(sc, f.issued, d, now.Add(time.Minute))
	if got := len(recorder.Events); got != 0 {
		t.Fatalf("%d more Events while still rate limited, want none", got)
	}

	unusable := f.sc.DeepCopy()
	r.rateLimited(unusable, nil, decision{reason: "SecretMissing", message: "gone", wait: time.Minute, limit: maxIssuancesPerHourInAll}, now)
	ready := meta.FindStatusCondition(unusable.Status.Conditions, certsmithv1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != certsmithv1alpha1.ReasonIssuanceRateLimited ||
		!strings.Contains(ready.Message, "in all (the spec or the renew request changing each time)") {
		t.Fatalf("Ready with no usable certificate: %+v", ready)
	}
	if got := len(recorder.Events); got != 0 {
		t.Fatalf("%d Events: with Ready False, warnOnNewProblem emits the one Event", got)
	}
}

// stepNames returns the names of csrs.
func stepNames(csrs []*certificatesv1.CertificateSigningRequest) []string {
	var names []string
	for _, csr := range csrs {
		names = append(names, csr.Name)
	}
	return names
}

// TestServiceCertificateDecideRequest checks every issuance step decideRequest chooses from the CSRs and the key in flight.
func TestServiceCertificateDecideRequest(t *testing.T) {
	f := newChainFixture(t)
	req := scTestRequest(t, f.sc)
	now := scTestNow.Add(time.Hour)
	hash := req.hash()
	mine := func(name string) certificatesv1.CertificateSigningRequest {
		return scTestCSR(name, "shop/web", hash, now.Add(-time.Minute))
	}
	pendingFor := func(name string, age time.Duration) *pendingRequest {
		return &pendingRequest{csrName: name, requestHash: hash, createdAt: now.Add(-age)}
	}
	failedBefore := func(sc *certsmithv1alpha1.ServiceCertificate) {
		sc.Status.FailedIssuanceAttempts = 2
		sc.Status.LastFailureTime = &metav1.Time{Time: now.Add(-5 * time.Second)}
	}
	cases := []struct {
		name       string
		pending    *pendingRequest
		requests   []certificatesv1.CertificateSigningRequest
		handed     []byte
		stored     map[string]bool
		edit       func(sc *certsmithv1alpha1.ServiceCertificate)
		want       stepKind
		wantCSR    string
		wantStale  []string
		wantForget bool
		wantWait   time.Duration
	}{
		{name: "nothing in flight: create", want: stepCreate},
		{name: "signed: store", pending: pendingFor("a", time.Minute), requests: []certificatesv1.CertificateSigningRequest{scSigned(mine("a"))},
			want: stepStore, wantCSR: "a"},
		{name: "denied: record the failure", pending: pendingFor("a", time.Minute), requests: []certificatesv1.CertificateSigningRequest{scDenied(mine("a"))},
			want: stepFailed, wantCSR: "a"},
		{name: "in flight: wait for signing", pending: pendingFor("a", time.Minute), requests: []certificatesv1.CertificateSigningRequest{mine("a")},
			want: stepWaitSigning, wantCSR: "a"},
		{name: "signed in this process, not yet in the CSR: store the handed certificate", pending: pendingFor("a", time.Minute),
			requests: []certificatesv1.CertificateSigningRequest{mine("a")}, handed: []byte("handed"), want: stepStore, wantCSR: "a"},
		{name: "stored, waiting for the signer to write the CSR: not stale", requests: []certificatesv1.CertificateSigningRequest{mine("b")},
			stored: map[string]bool{"b": true}, want: stepCreate},
		{name: "created moments ago, not in the cache: wait", pending: pendingFor("a", lostRequestTimeout-time.Second), want: stepWaitCache},
		{name: "create unanswered, not in the cache: create again at once", want: stepCreate,
			pending: &pendingRequest{csrName: "a", requestHash: hash, createdAt: now, unanswered: true}},
		{name: "create unanswered, but it is in the cache: wait for signing", want: stepWaitSigning, wantCSR: "a",
			pending:  &pendingRequest{csrName: "a", requestHash: hash, createdAt: now, unanswered: true},
			requests: []certificatesv1.CertificateSigningRequest{mine("a")}},
		{name: "missing for longer: taken as deleted, create", pending: pendingFor("a", lostRequestTimeout), want: stepCreate},
		{name: "left by a crash: deleted, create", requests: []certificatesv1.CertificateSigningRequest{mine("b"), scSigned(mine("old"))},
			want: stepCreate, wantStale: []string{"b"}},
		{name: "the spec changed while in flight: start over", pending: &pendingRequest{csrName: "a", requestHash: "older", createdAt: now},
			requests: []certificatesv1.CertificateSigningRequest{mine("a")}, want: stepCreate, wantStale: []string{"a"}, wantForget: true},
		{name: "two failures: back off", requests: []certificatesv1.CertificateSigningRequest{scDenied(mine("a"))}, edit: failedBefore,
			want: stepBackoff, wantWait: 2*failureBackoffBase - 5*time.Second},
		{name: "two failures, then a new manual trigger: at once", requests: []certificatesv1.CertificateSigningRequest{scDenied(mine("a"))},
			edit: func(sc *certsmithv1alpha1.ServiceCertificate) {
				failedBefore(sc)
				sc.Annotations = map[string]string{certsmithv1alpha1.AnnotationRenewRequestedAt: "now"}
			}, want: stepCreate},
		{name: "two failures, then a changed spec: at once", requests: []certificatesv1.CertificateSigningRequest{scDenied(scTestCSR("a", "shop/web", "older", now))},
			edit: failedBefore, want: stepCreate},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := f.sc.DeepCopy()
			if tc.edit != nil {
				tc.edit(sc)
			}
			o := scTestObserved(sc, req, f.ca, f.issued)
			o.pending, o.requests, o.handed, o.storedUnsigned = tc.pending, tc.requests, tc.handed, tc.stored
			step := decideRequest(o, now)
			if tc.handed != nil && string(step.chainPEM) != string(tc.handed) {
				t.Fatalf("stores %q, want the handed certificate", step.chainPEM)
			}
			gotCSR := ""
			if step.csr != nil {
				gotCSR = step.csr.Name
			}
			if step.kind != tc.want || gotCSR != tc.wantCSR || step.forgetPending != tc.wantForget || step.wait != tc.wantWait {
				t.Fatalf("step %v csr %q forget %v wait %s, want %v %q %v %s", step.kind, gotCSR, step.forgetPending, step.wait,
					tc.want, tc.wantCSR, tc.wantForget, tc.wantWait)
			}
			if got := stepNames(step.stale); !slices.Equal(got, tc.wantStale) {
				t.Fatalf("stale %v, want %v", got, tc.wantStale)
			}
		})
	}
}

// TestServiceCertificatePrunableRequests checks which CSRs are pruned under revisionHistoryLimit.
func TestServiceCertificatePrunableRequests(t *testing.T) {
	at := scTestNow
	finished := func(name string) certificatesv1.CertificateSigningRequest {
		return scSigned(scTestCSR(name, "shop/web", "h", at))
	}
	inFlight := func(name string) certificatesv1.CertificateSigningRequest {
		return scTestCSR(name, "shop/web", "h", at)
	}
	// Newest first, as requestsOf lists them.
	requests := []certificatesv1.CertificateSigningRequest{inFlight("e"), finished("d"), scDenied(inFlight("c")), finished("b"), finished("a")}
	cases := []struct {
		name  string
		limit *int32
		keep  string
		want  []string
	}{
		{name: "default: the newest finished one stays", want: []string{"e", "c", "b", "a"}},
		{name: "keep counts towards the limit", keep: "b", want: []string{"e", "d", "c", "a"}},
		{name: "limit 0 keeps only keep", limit: ptr.To[int32](0), keep: "d", want: []string{"e", "c", "b", "a"}},
		{name: "limit 3", limit: ptr.To[int32](3), want: []string{"e", "a"}},
		{name: "a CSR in flight is never history", limit: ptr.To[int32](10), want: []string{"e"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := scTestCertificate(func(spec *certsmithv1alpha1.ServiceCertificateSpec) { spec.RevisionHistoryLimit = tc.limit })
			if got := stepNames(prunableRequests(sc, requests, tc.keep, nil)); !slices.Equal(got, tc.want) {
				t.Fatalf("pruned %v, want %v", got, tc.want)
			}
		})
	}
}

// TestServiceCertificateFailureBackoff checks the doubling, capped backoff after failed issuances.
func TestServiceCertificateFailureBackoff(t *testing.T) {
	for attempts, want := range map[int32]time.Duration{0: 0, 1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second, 20: time.Hour} {
		if got := failureBackoff(attempts); got != want {
			t.Errorf("after %d failures: %s, want %s", attempts, got, want)
		}
	}
}
