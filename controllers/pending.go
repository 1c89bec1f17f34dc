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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// csrPEM is the request, kept to create the CSR again under the same
	// name when the answer to its create was lost.
	csrPEM []byte
	// unanswered: the create of the CSR failed, and the CSR may still
	// exist (a lost answer); the next attempt creates it again under the
	// same name, so that it finds it instead of making a second one.
	unanswered bool
	// createdAt is when the CSR was made, on the reconciler's clock.
	createdAt time.Time
	// createdWall is the wall-clock time of creation, for the issuance
	// duration metric only.
	createdWall time.Time
}

// The in-memory state below is kept per ServiceCertificate and keyed by its
// UID as well as its name: a ServiceCertificate deleted and created again
// under the same name is a new object, and inherits nothing (no pending key,
// no expectation, no remembered status) from the old one.

// objectState is one ServiceCertificate's entry: the UID it belongs to and the value.
type objectState[T any] struct {
	uid   types.UID
	value T
}

// stateByObject maps ServiceCertificates, by name and UID, to a value.
type stateByObject[T any] struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]objectState[T]
}

// newStateByObject returns an empty map.
func newStateByObject[T any]() *stateByObject[T] {
	return &stateByObject[T]{entries: map[types.NamespacedName]objectState[T]{}}
}

// get returns the value kept for obj, if it was kept for this very object.
func (s *stateByObject[T]) get(obj metav1.Object) (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}]
	if !ok || e.uid != obj.GetUID() {
		var zero T
		return zero, false
	}
	return e.value, true
}

// put keeps value for obj, replacing whatever was kept under its name.
func (s *stateByObject[T]) put(obj metav1.Object, value T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}] = objectState[T]{uid: obj.GetUID(), value: value}
}

// forget drops whatever is kept under the object's name, for any UID.
func (s *stateByObject[T]) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, key)
}

// pendingKeys holds the private keys of CSRs in flight, in memory only.
//
// A pending key never leaves the operator process except into its Secret:
// it is not written to a "next key" Secret, a CSR, an annotation or a log.
// When the operator crashes or loses the lease the keys are gone. The signer
// signs only CSRs whose key is held here (issuanceHandoff), so a CSR left by
// an earlier leader is never signed: it is deleted, and a new key and CSR
// are made. This costs one unsigned CSR after a crash instead of two extra
// Secret writes on every issuance, and no issuance ever gets two
// certificates.
type pendingKeys struct {
	state *stateByObject[*pendingRequest]
}

// newPendingKeys returns an empty store of pending keys.
func newPendingKeys() *pendingKeys {
	return &pendingKeys{state: newStateByObject[*pendingRequest]()}
}

// get returns the issuance in flight for obj, nil if none.
func (p *pendingKeys) get(obj metav1.Object) *pendingRequest {
	request, _ := p.state.get(obj)
	return request
}

// put records the issuance in flight for obj.
func (p *pendingKeys) put(obj metav1.Object, request *pendingRequest) { p.state.put(obj, request) }

// holds reports whether the issuance in flight kept under owner, for any
// UID, is the CSR of that name. CSR names are unique, and each holds its
// own key (csrNameFor), so the name alone identifies it.
func (p *pendingKeys) holds(owner types.NamespacedName, csrName string) bool {
	p.state.mu.Lock()
	defer p.state.mu.Unlock()
	e, ok := p.state.entries[owner]
	return ok && e.value != nil && e.value.csrName == csrName
}

// forget drops the issuance in flight for obj, discarding its key.
func (p *pendingKeys) forget(obj metav1.Object) { p.forgetName(keyOf(obj)) }

// forgetName drops the issuance in flight kept under key, for any UID.
func (p *pendingKeys) forgetName(key types.NamespacedName) { p.state.forget(key) }

// keyOf returns the namespace and name of obj.
func keyOf(obj metav1.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// secretExpectations remembers the revision of each Secret that was just
// written, so that a reconcile working from a cache that has not seen the
// write yet waits instead of issuing a second certificate.
type secretExpectations struct {
	state *stateByObject[expectedRevision]
}

// expectedRevision is the Secret revision written, and until when to wait for it.
type expectedRevision struct {
	revision int64
	until    time.Time
}

// expectationTimeout bounds how long a reconcile waits for the cache.
const expectationTimeout = 30 * time.Second

// newSecretExpectations returns an empty set of expectations.
func newSecretExpectations() *secretExpectations {
	return &secretExpectations{state: newStateByObject[expectedRevision]()}
}

// expect records that revision of obj's Secret was written at now.
func (e *secretExpectations) expect(obj metav1.Object, revision int64, now time.Time) {
	e.state.put(obj, expectedRevision{revision: revision, until: now.Add(expectationTimeout)})
}

// satisfied reports whether the cache has caught up with the last write (or
// the wait timed out); it forgets the expectation once satisfied.
func (e *secretExpectations) satisfied(obj metav1.Object, cachedRevision int64, now time.Time) bool {
	exp, ok := e.state.get(obj)
	if !ok {
		return true
	}
	if cachedRevision >= exp.revision || now.After(exp.until) {
		e.state.forget(keyOf(obj))
		return true
	}
	return false
}

// forget drops the expectation kept under key, for any UID.
func (e *secretExpectations) forget(key types.NamespacedName) { e.state.forget(key) }

// writtenStatuses remembers the last status written for each
// ServiceCertificate, so that a reconcile working from a cache that has not
// seen that write does not write the same status again. An entry lives only
// until the cache holds the object that write made (seen): with 10,000
// certificates at rest, nothing is kept.
type writtenStatuses struct{ state *stateByObject[writtenStatus] }

// writtenStatus is a status written, with the generation it was written for
// and the resourceVersion the write gave the object.
type writtenStatus struct {
	generation      int64
	resourceVersion string
	status          *certsmithv1alpha1.ServiceCertificateStatus
}

// newWrittenStatuses returns an empty record of written statuses.
func newWrittenStatuses() *writtenStatuses {
	return &writtenStatuses{state: newStateByObject[writtenStatus]()}
}

// record remembers the status written for obj at generation; obj carries
// the resourceVersion the write returned.
func (w *writtenStatuses) record(obj metav1.Object, generation int64, status *certsmithv1alpha1.ServiceCertificateStatus) {
	w.state.put(obj, writtenStatus{generation: generation, resourceVersion: obj.GetResourceVersion(), status: status.DeepCopy()})
}

// seen forgets the status written for cached once the cache holds the very
// object that write returned: from then on the cached status is the written
// one (only certsmith writes it, and the cache never goes back), exactly as
// the API server serialised it.
func (w *writtenStatuses) seen(cached metav1.Object) {
	last, ok := w.state.get(cached)
	if ok && last.resourceVersion != "" && last.resourceVersion == cached.GetResourceVersion() {
		w.state.forget(keyOf(cached))
	}
}

// matches reports whether status is the last one written for obj at generation.
func (w *writtenStatuses) matches(obj metav1.Object, generation int64, status *certsmithv1alpha1.ServiceCertificateStatus) bool {
	last, ok := w.state.get(obj)
	return ok && last.generation == generation && equality.Semantic.DeepEqual(last.status, status)
}

// last returns a copy of the last status written for obj, or nil.
func (w *writtenStatuses) last(obj metav1.Object) *certsmithv1alpha1.ServiceCertificateStatus {
	if last, ok := w.state.get(obj); ok {
		return last.status.DeepCopy()
	}
	return nil
}

// forget drops the status kept under key, for any UID.
func (w *writtenStatuses) forget(key types.NamespacedName) { w.state.forget(key) }

// uidMemory remembers objects by UID for a while, in bounded memory: the
// CSRs this process signed, failed or denied in the last moments, until
// the cache has seen the write (newRecentlyFinished), and the objects a
// Warning was emitted about within the hour (newUIDMemory).
type uidMemory struct {
	mu    sync.Mutex
	clock clock.PassiveClock
	ttl   time.Duration
	uids  map[types.UID]time.Time
}

// recentTTL bounds how long a finished CSR is remembered.
const recentTTL = time.Minute

// maxRemembered bounds the record: past it, add remembers nothing new
// (whoever asks then acts as if it were not there).
const maxRemembered = 10000

// newRecentlyFinished returns an empty record on clock c.
func newRecentlyFinished(c clock.PassiveClock) *uidMemory {
	return newUIDMemory(c, recentTTL)
}

// newUIDMemory returns an empty record on clock c that forgets after ttl.
func newUIDMemory(c clock.PassiveClock, ttl time.Duration) *uidMemory {
	return &uidMemory{clock: c, ttl: ttl, uids: map[types.UID]time.Time{}}
}

// add records uid at now, and drops entries past the TTL.
func (f *uidMemory) add(uid types.UID, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for u, at := range f.uids {
		if now.Sub(at) > f.ttl {
			delete(f.uids, u)
		}
	}
	if _, ok := f.uids[uid]; ok || len(f.uids) < maxRemembered {
		f.uids[uid] = now
	}
}

// has reports whether uid was added within the TTL.
func (f *uidMemory) has(uid types.UID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	at, ok := f.uids[uid]
	return ok && f.clock.Now().Sub(at) <= f.ttl
}
