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

	"k8s.io/apimachinery/pkg/types"
)

// pendingRequest is an issuance in flight: the CSR that was created and the
// private key that belongs to it.
type pendingRequest struct {
	csrName     string
	requestHash string
	key         crypto.Signer
	keyPEM      []byte
	createdAt   time.Time
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
