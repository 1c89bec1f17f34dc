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

// The decide stage of the ServiceCertificate pipeline: pure functions of
// what was observed and the time, with no client call. The re-issue policy
// chain itself is in issuance_policy.go.

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// action is what the act stage does with a ServiceCertificate.
type action int

const (
	// actionReport reports a problem (decision.problem), after keeping the
	// ca.crt of the Secret it already has up to date with the trust bundle.
	actionReport action = iota
	// actionWaitForCache looks again in a second: our own last Secret
	// write has not reached the cache yet.
	actionWaitForCache
	// actionKeep keeps the certificate in the Secret until its renewal
	// time, repairing what the Secret carries besides it.
	actionKeep
	// actionRateLimited waits: the certificate was issued too often.
	actionRateLimited
	// actionIssue takes one step of issuance (decision.step).
	actionIssue
)

// decision is the outcome of decide.
type decision struct {
	action action
	// problem is reported by actionReport.
	problem error
	// reason and message say why the certificate is (re-)issued, for
	// actionIssue and actionRateLimited.
	reason, message string
	// renewalTime is when the certificate in the Secret is renewed (actionKeep).
	renewalTime time.Time
	// rotationTurn, for actionKeep, says that renewalTime is the
	// certificate's turn in a CA rotation's re-issue window.
	rotationTurn bool
	// refusal, for actionKeep, is the policy's refusal of a certificate
	// that stays in use until its renewal time but is not renewed.
	refusal *terminalError
	// wait and limit are how long, and because of which hourly limit, a
	// rate-limited issuance waits.
	wait  time.Duration
	limit int
	// adopt asks actionIssue to look first for a Secret of ours that lost
	// certsmith's label (not in the cache).
	adopt bool
	// step is the issuance step of actionIssue.
	step requestStep
}

// decide says what a ServiceCertificate needs, from what was observed.
func decide(o *observed, now time.Time) decision {
	if o.requestErr != nil {
		// The certificate cannot be issued, but the Secret it already has
		// keeps trusting the issuer's current bundle: a CA rotation waits
		// for every ca.crt certsmith can write.
		return decision{action: actionReport, problem: o.requestErr}
	}
	if o.cacheBehind {
		return decision{action: actionWaitForCache}
	}
	in := issuanceInputOf(o, now)
	reason, message, needed := needsIssuance(in)
	if o.refusal != nil && (needed || !usable(o.issued, now)) {
		return decision{action: actionReport, problem: o.refusal}
	}
	if !needed {
		return decision{action: actionKeep, renewalTime: in.renewalTime, rotationTurn: !in.reissueAt.IsZero(), refusal: o.refusal}
	}
	d := decision{action: actionIssue, reason: reason, message: message}
	if o.pending == nil {
		// Defence in depth against any loop the re-issue policies may still
		// have: a new CSR only while the hourly budget lasts. A revoked
		// certificate goes past it, within a budget of its own, so that
		// revoking in a loop does not re-issue without end either.
		wait, limit := issuanceWait(o.sc.Status.RecentIssuances, issuanceKey(o.sc, o.request, o.ca.CA), now)
		if reason == certsmithv1alpha1.ReasonRevoked {
			wait, limit = revocationReissueWait(o.sc.Status.RecentIssuances, now)
		}
		if wait > 0 {
			return decision{action: actionRateLimited, reason: reason, message: message, wait: wait, limit: limit}
		}
		// Not in the cache: it may exist without certsmith's label.
		d.adopt = o.issued == nil
	}
	d.step = decideRequest(o, now)
	return d
}

// issuanceInputOf gathers what the re-issue policies look at.
func issuanceInputOf(o *observed, now time.Time) *issuanceInput {
	sc := o.sc
	in := &issuanceInput{issued: o.issued, request: o.request, ca: o.ca.CA, now: now, revoked: o.revoked,
		renewRequest: sc.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt],
		rotation:     rotationOf(o.issuer, o.ca.bundle, sc.Namespace+"/"+sc.Name)}
	if o.issued != nil {
		// The Secret records the trigger it was issued for, in the same write
		// as the certificate, so a stale cached status cannot fire it twice.
		in.lastRenewRequest = o.issued.secret.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt]
		if o.issued.decodeErr == nil {
			in.renewalTime = renewalTime(sc, o.request, o.issued.leaf())
		}
	}
	return in
}

// rotationOf is what the chain's rotation rule knows of an issuer's last
// CA switch; bundle is its trust bundle (an unreadable one trusts nothing).
func rotationOf(issuer *certsmithv1alpha1.ClusterIssuer, bundle []byte, spreadSeed string) rotationInput {
	in := rotationInput{reissueWindow: reissueWindow(issuer), spreadSeed: spreadSeed}
	if rotation := issuer.Status.Rotation; rotation != nil && rotation.SwitchedAt != nil {
		in.switchedAt = rotation.SwitchedAt.Time
		if rotation.ReissueWindow != nil {
			// Stretched at the switch to the issuer's certificates at
			// spec.rotation.maxReissueRate per second.
			in.reissueWindow = max(in.reissueWindow, rotation.ReissueWindow.Duration)
		}
	}
	if anchors, err := pki.ParseCertificatesPEM(bundle); err == nil {
		in.anchors = anchors
	}
	return in
}

// renewalTime computes when the certificate in the Secret is due for renewal.
// A renewBefore as long as the certificate's actual lifetime (the issuer may
// have shortened it) would renew at once and forever, so it then falls back
// to the default of two thirds of the lifetime.
func renewalTime(sc *certsmithv1alpha1.ServiceCertificate, req *certificateRequest, leaf *x509.Certificate) time.Time {
	renewBefore := req.renewBefore
	if renewBefore >= leaf.NotAfter.Sub(leaf.NotBefore) {
		renewBefore = 0
	}
	return pki.RenewalTime(leaf.NotBefore, leaf.NotAfter, renewBefore, req.renewBeforePercentage, sc.Namespace+"/"+sc.Name)
}

// usable reports whether a Secret holds a matching, unexpired pair.
func usable(issued *issuedCertificate, now time.Time) bool {
	return issued != nil && issued.decodeErr == nil && pki.KeyMatchesCertificate(issued.key, issued.leaf()) && now.Before(issued.leaf().NotAfter)
}

// stepKind is one step of issuance.
type stepKind int

const (
	// stepCreate makes a key and a CSR.
	stepCreate stepKind = iota
	// stepStore stores the certificate the CSR in flight received.
	stepStore
	// stepFailed records that the CSR in flight was denied or failed.
	stepFailed
	// stepWaitSigning waits for the CSR in flight to be approved and signed.
	stepWaitSigning
	// stepWaitCache waits for a CSR created moments ago to reach the cache.
	stepWaitCache
	// stepBackoff waits after failed issuances (requestStep.wait).
	stepBackoff
)

// requestStep is the issuance step decideRequest chooses.
type requestStep struct {
	kind stepKind
	// pending is the key in flight that still belongs to the request, and
	// csr its CSR once the cache has it.
	pending *pendingRequest
	csr     *certificatesv1.CertificateSigningRequest
	// chainPEM is the certificate to store, with stepStore: the one the
	// signer handed over, or, from a signer elsewhere, the CSR's.
	chainPEM []byte
	// forgetPending: the request changed while a CSR was in flight, whose
	// key is dropped.
	forgetPending bool
	// stale are the CSRs in flight whose key this process does not hold:
	// left by a crash, or made for an older spec, they can never be used.
	stale []*certificatesv1.CertificateSigningRequest
	// wait is how long stepBackoff waits.
	wait time.Duration
}

// decideRequest chooses the issuance step from the CSRs and the key in flight.
func decideRequest(o *observed, now time.Time) requestStep {
	step := requestStep{pending: o.pending}
	if step.pending != nil && step.pending.requestHash != o.request.hash() {
		// The spec changed while a CSR was in flight: start over.
		step.pending, step.forgetPending = nil, true
	}
	for i := range o.requests {
		switch csr := &o.requests[i]; {
		case step.pending != nil && csr.Name == step.pending.csrName:
			step.csr = csr
		case !csrFinished(csr) && !o.storedUnsigned[csr.Name]:
			step.stale = append(step.stale, csr)
		}
	}
	switch {
	case step.csr != nil && (len(step.csr.Status.Certificate) > 0 || len(o.handed) > 0):
		step.kind = stepStore
		step.chainPEM = o.handed
		if len(step.chainPEM) == 0 {
			step.chainPEM = step.csr.Status.Certificate
		}
	case step.csr != nil && csrFailure(step.csr) != nil:
		step.kind = stepFailed
	case step.csr != nil:
		step.kind = stepWaitSigning
	case step.pending != nil && !step.pending.unanswered && now.Sub(step.pending.createdAt) < lostRequestTimeout:
		// Created moments ago; the cache has not seen it yet. (A create
		// that got no answer is made again at once, under the same name.)
		step.kind = stepWaitCache
	default:
		// Back off after failures, unless the request changed since the last one.
		if step.wait = backoffRemaining(o.sc, o.requests, o.request, now); step.wait > 0 {
			step.kind = stepBackoff
		}
	}
	return step
}

// Backoff after failed issuances: doubling from the base, capped.
const (
	failureBackoffBase = 10 * time.Second
	failureBackoffMax  = time.Hour
	// lostRequestTimeout is how long a CSR we created may be missing from
	// the cache before it is taken as deleted by someone else.
	lostRequestTimeout = 10 * time.Second
	// defaultRevisionHistoryLimit is how many finished CSRs are kept per certificate.
	defaultRevisionHistoryLimit = 1
)

// failureBackoff returns how long to wait after the given number of consecutive failures.
func failureBackoff(attempts int32) time.Duration {
	if attempts <= 0 {
		return 0
	}
	backoff := float64(failureBackoffBase) * math.Pow(2, float64(attempts-1))
	if backoff > float64(failureBackoffMax) {
		return failureBackoffMax
	}
	return time.Duration(backoff)
}

// backoffRemaining returns how long to wait before the next attempt.
func backoffRemaining(sc *certsmithv1alpha1.ServiceCertificate, requests []certificatesv1.CertificateSigningRequest, request *certificateRequest, now time.Time) time.Duration {
	if sc.Status.FailedIssuanceAttempts == 0 || sc.Status.LastFailureTime == nil {
		return 0
	}
	if len(requests) > 0 {
		last := requests[0].Annotations
		// A changed spec, or a manual trigger newer than the failed attempt, goes at once.
		if last[certsmithv1alpha1.AnnotationCertificateHash] != request.hash() ||
			last[certsmithv1alpha1.AnnotationRenewRequestedAt] != sc.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt] {
			return 0
		}
	}
	return sc.Status.LastFailureTime.Add(failureBackoff(sc.Status.FailedIssuanceAttempts)).Sub(now)
}

// historyLimit returns how many finished CSRs to keep for sc.
func historyLimit(sc *certsmithv1alpha1.ServiceCertificate) int {
	if sc.Spec.RevisionHistoryLimit != nil {
		return int(*sc.Spec.RevisionHistoryLimit)
	}
	return defaultRevisionHistoryLimit
}

// prunableRequests returns the CSRs to delete once the Secret is up to
// date: every CSR still in flight, and the finished ones beyond the newest
// up to the history limit (always keeping keep, which counts towards it).
// requests are newest first. The CSRs in storedUnsigned, whose certificate
// is in the Secret and which wait for the signer to write it into them, are
// kept and not counted.
func prunableRequests(sc *certsmithv1alpha1.ServiceCertificate, requests []certificatesv1.CertificateSigningRequest, keep string,
	storedUnsigned map[string]bool) []*certificatesv1.CertificateSigningRequest {
	kept := 0
	if keep != "" {
		kept = 1
	}
	var prune []*certificatesv1.CertificateSigningRequest
	for i := range requests {
		csr := &requests[i]
		switch {
		case csr.Name == keep, storedUnsigned[csr.Name]:
		case !csrFinished(csr):
			prune = append(prune, csr)
		case kept < historyLimit(sc):
			kept++
		default:
			prune = append(prune, csr)
		}
	}
	return prune
}

// Issuance rate limit: at most maxIssuancesPerHour issuances within
// issuanceRateWindow for the same issuance key.
// Beyond that, at most maxIssuancesPerHourInAll whatever they were for: a
// tenant who changes the spec or the trigger in a loop does not get to spend
// the operator's CPU on keys without end.
const (
	maxIssuancesPerHour      = 5
	maxIssuancesPerHourInAll = 30
	issuanceRateWindow       = time.Hour
)

// issuanceKey identifies what a certificate is issued for — the request
// (spec, Service names and IPs), the issuer's signing CA and the manual
// trigger — so that a change of any of them resets the rate limit.
func issuanceKey(sc *certsmithv1alpha1.ServiceCertificate, request *certificateRequest, ca *pki.CA) string {
	h := sha256.New()
	fmt.Fprintf(h, "request=%s\nca=%s\ntrigger=%s\n", request.hash(), pki.FingerprintSHA256(ca.Certificate),
		sc.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt])
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// withinWindow returns the times that are less than issuanceRateWindow old at now.
func withinWindow(times []metav1.Time, now time.Time) []metav1.Time {
	var recent []metav1.Time
	for _, t := range times {
		if now.Sub(t.Time) < issuanceRateWindow {
			recent = append(recent, t)
		}
	}
	return recent
}

// recentIssuances returns the times of history that count at now: those for
// key, and all of them.
func recentIssuances(history *certsmithv1alpha1.IssuanceHistory, key string, now time.Time) (forKey, all []metav1.Time) {
	if history == nil {
		return nil, nil
	}
	if history.Key == key {
		forKey = withinWindow(history.Times, now)
	}
	return forKey, withinWindow(history.AllTimes, now)
}

// issuanceWait returns how long a new issuance for key must wait, and the
// limit that makes it wait: zero while fewer than maxIssuancesPerHour were
// made for key and fewer than maxIssuancesPerHourInAll in all in the last
// hour, otherwise until enough of them are an hour old (at most an hour).
func issuanceWait(history *certsmithv1alpha1.IssuanceHistory, key string, now time.Time) (time.Duration, int) {
	forKey, all := recentIssuances(history, key, now)
	var wait time.Duration
	limit := 0
	for _, l := range []struct {
		times []metav1.Time
		max   int
	}{{forKey, maxIssuancesPerHour}, {all, maxIssuancesPerHourInAll}} {
		if len(l.times) < l.max {
			continue
		}
		if w := l.times[len(l.times)-l.max].Add(issuanceRateWindow).Sub(now); w > wait {
			wait, limit = w, l.max
		}
	}
	return wait, limit
}

// recordIssuance adds an issuance at now to the history for key, starting
// the per-key count over when the key changed, and keeps only the times
// that still count.
func recordIssuance(history *certsmithv1alpha1.IssuanceHistory, key string, now time.Time) *certsmithv1alpha1.IssuanceHistory {
	at := metav1.Time{Time: now.Truncate(time.Second)}
	forKey, all := recentIssuances(history, key, now)
	last := func(times []metav1.Time, n int) []metav1.Time { return times[max(len(times)-n, 0):] }
	return &certsmithv1alpha1.IssuanceHistory{Key: key,
		Times: last(append(forKey, at), maxIssuancesPerHour), AllTimes: last(append(all, at), maxIssuancesPerHourInAll)}
}

// Re-issues after a revocation: at most maxRevocationReissues within
// revocationReissueWindow, past the hourly limits.
const (
	maxRevocationReissues   = 3
	revocationReissueWindow = 24 * time.Hour
)

// revocationReissueWait returns how long a re-issue after a revocation
// must wait, and the limit that makes it wait.
func revocationReissueWait(history *certsmithv1alpha1.IssuanceHistory, now time.Time) (time.Duration, int) {
	if history == nil {
		return 0, 0
	}
	recent := recentRevocationReissues(history.RevokedTimes, now)
	if len(recent) < maxRevocationReissues {
		return 0, 0
	}
	return recent[len(recent)-maxRevocationReissues].Add(revocationReissueWindow).Sub(now), maxRevocationReissues
}

// recentRevocationReissues returns the times less than a window old.
func recentRevocationReissues(times []metav1.Time, now time.Time) []metav1.Time {
	var recent []metav1.Time
	for _, t := range times {
		if now.Sub(t.Time) < revocationReissueWindow {
			recent = append(recent, t)
		}
	}
	return recent
}

// recordRevocationReissue adds a re-issue after a revocation at now.
func recordRevocationReissue(history *certsmithv1alpha1.IssuanceHistory, now time.Time) *certsmithv1alpha1.IssuanceHistory {
	recent := append(recentRevocationReissues(history.RevokedTimes, now), metav1.Time{Time: now.Truncate(time.Second)})
	history.RevokedTimes = recent[max(len(recent)-maxRevocationReissues, 0):]
	return history
}
