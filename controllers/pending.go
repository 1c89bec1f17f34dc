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
	"crypto"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// pendingRequest is an issuance in flight: the CSR that was created and the
// private key that belongs to it.
type pendingRequest struct {
	csrName     string
	requestHash string
	key         crypto.Signer
	keyPEM      []byte
	createdAt   time.Time
	// createdWall is the wall-clock time of creation; it only decides how
	// long the status write of a fresh issuance may be held back.
	createdWall time.Time
}

// pendingKeys holds the private keys of CSRs in flight, in memory only.
//
// A pending key never leaves the operator process except into its Secret:
// it is not written to a "next key" Secret, a CSR, an annotation or a log.
// When the operator crashes the keys are gone; on restart every in-flight CSR
// whose key is unknown is deleted and a new key and CSR are made. A
// certificate signed for a discarded key is harmless, since nobody holds the
// key. This costs one CSR after a crash instead of two extra Secret writes on
// every issuance.
type pendingKeys struct {
	mu       sync.Mutex
	requests map[types.NamespacedName]*pendingRequest
}

func newPendingKeys() *pendingKeys {
	return &pendingKeys{requests: map[types.NamespacedName]*pendingRequest{}}
}

func (p *pendingKeys) get(key types.NamespacedName) *pendingRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[key]
}

func (p *pendingKeys) put(key types.NamespacedName, request *pendingRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[key] = request
}

func (p *pendingKeys) forget(key types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.requests, key)
}

// secretExpectations remembers the revision of each Secret that was just
// written, so that a reconcile working from a cache that has not seen the
// write yet waits instead of issuing a second certificate.
type secretExpectations struct {
	mu       sync.Mutex
	expected map[types.NamespacedName]expectedRevision
}

type expectedRevision struct {
	revision int64
	until    time.Time
}

// expectationTimeout bounds how long a reconcile waits for the cache.
const expectationTimeout = 30 * time.Second

func newSecretExpectations() *secretExpectations {
	return &secretExpectations{expected: map[types.NamespacedName]expectedRevision{}}
}

func (e *secretExpectations) expect(key types.NamespacedName, revision int64, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expected[key] = expectedRevision{revision: revision, until: now.Add(expectationTimeout)}
}

// satisfied reports whether the cache has caught up with the last write (or
// the wait timed out); it forgets the expectation once satisfied.
func (e *secretExpectations) satisfied(key types.NamespacedName, cachedRevision int64, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp, ok := e.expected[key]
	if !ok {
		return true
	}
	if cachedRevision >= exp.revision || now.After(exp.until) {
		delete(e.expected, key)
		return true
	}
	return false
}

// writtenStatuses remembers the last status written for each
// ServiceCertificate, so that a reconcile working from a cache that has not
// seen that write does not write the same status again.
type writtenStatuses struct {
	mu       sync.Mutex
	statuses map[types.NamespacedName]writtenStatus
}

type writtenStatus struct {
	generation int64
	status     *certsmithv1alpha1.ServiceCertificateStatus
}

func newWrittenStatuses() *writtenStatuses {
	return &writtenStatuses{statuses: map[types.NamespacedName]writtenStatus{}}
}

func (w *writtenStatuses) record(key types.NamespacedName, generation int64, status *certsmithv1alpha1.ServiceCertificateStatus) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.statuses[key] = writtenStatus{generation: generation, status: status.DeepCopy()}
}

func (w *writtenStatuses) matches(key types.NamespacedName, generation int64, status *certsmithv1alpha1.ServiceCertificateStatus) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	last, ok := w.statuses[key]
	return ok && last.generation == generation && equality.Semantic.DeepEqual(last.status, status)
}

// last returns a copy of the last status written, or nil.
func (w *writtenStatuses) last(key types.NamespacedName) *certsmithv1alpha1.ServiceCertificateStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	if last, ok := w.statuses[key]; ok {
		return last.status.DeepCopy()
	}
	return nil
}

func (w *writtenStatuses) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.statuses, key)
}

// recentlyFinished remembers the CSRs this process signed, failed or denied
// in the last moments, until the cache has seen the write.
type recentlyFinished struct {
	mu    sync.Mutex
	clock clock.PassiveClock
	uids  map[types.UID]time.Time
}

// recentTTL bounds how long a finished CSR is remembered.
const recentTTL = time.Minute

func newRecentlyFinished(c clock.PassiveClock) *recentlyFinished {
	return &recentlyFinished{clock: c, uids: map[types.UID]time.Time{}}
}

func (f *recentlyFinished) add(uid types.UID, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for u, at := range f.uids {
		if now.Sub(at) > recentTTL {
			delete(f.uids, u)
		}
	}
	f.uids[uid] = now
}

func (f *recentlyFinished) has(uid types.UID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	at, ok := f.uids[uid]
	return ok && f.clock.Now().Sub(at) <= recentTTL
}
