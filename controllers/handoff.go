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
	"bytes"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// issuanceHandoff is how the signer and the ServiceCertificate controller,
// both in this process, hand each other one issuance of certsmith's own, so
// that a certificate exists outside the process only together with its key:
//
//  1. The ServiceCertificate controller holds the key of the CSR in flight
//     (pendingKeys) before it creates the CSR.
//  2. The signer signs only a CSR whose key this process holds (holds); one
//     left by an earlier leader, whose key died with it, is never approved
//     or signed: the ServiceCertificate controller deletes it and starts over
//     with a new key. Its certificate is kept here (offer), not yet written
//     into the CSR, and the ServiceCertificate controller is woken.
//  3. The ServiceCertificate controller writes key and certificate into the
//     Secret, then marks it stored, which wakes the signer.
//  4. The signer writes the certificate, the very same bytes, into the CSR.
//
// A crash before 3 loses a key and a certificate that nobody else ever saw;
// a crash between 3 and 4 leaves a Secret that already holds the issuance
// and a CSR that is deleted unsigned. Either way no issuance has two
// certificates, and the API writes are the same as signing first. A nil
// handoff (a controller run alone, in unit tests) holds nothing: the signer
// then writes certificates straight into CSRs.
type issuanceHandoff struct {
	keys *pendingKeys

	mu     sync.Mutex
	signed map[string]*handedCertificate // by CSR name
	// wakeCertificates and wakeSigner enqueue a ServiceCertificate and a CSR.
	wakeCertificates chan event.GenericEvent
	wakeSigner       chan event.GenericEvent
	now              func() time.Time
}

// handedCertificate is a certificate the signer made for a CSR of certsmith's own.
type handedCertificate struct {
	csrUID   types.UID
	owner    types.NamespacedName
	chainPEM []byte
	// stored: the ServiceCertificate controller has written it into the Secret.
	stored bool
	at     time.Time
	// approved is the CSR as the signer left it when it signed: approved,
	// with the resourceVersion of that write. The certificate is written
	// into it when the cache has not seen the approval yet, which would
	// otherwise cost a 409 and a retry.
	approved *certificatesv1.CertificateSigningRequest
}

const (
	// handoffWakeBuffer is the room in each wake-up channel; a full one is
	// waited on by a goroutine for at most handoffWakeWait.
	handoffWakeBuffer = 1024
	handoffWakeWait   = time.Minute
	// handoffSweepAbove is the count of handed certificates above which
	// those older than handoffTTL are dropped. An entry lives from signing
	// until the signer sees its certificate in the CSR, or the CSR gone:
	// seconds. One left behind (a CSR whose events were missed) only costs
	// an unsigned CSR, which the ServiceCertificate controller deletes.
	handoffSweepAbove = 1024
	handoffTTL        = 10 * time.Minute
)

// newIssuanceHandoff returns an empty handoff for the pending keys.
func newIssuanceHandoff(keys *pendingKeys) *issuanceHandoff {
	return &issuanceHandoff{
		keys:             keys,
		signed:           map[string]*handedCertificate{},
		wakeCertificates: make(chan event.GenericEvent, handoffWakeBuffer),
		wakeSigner:       make(chan event.GenericEvent, handoffWakeBuffer),
		now:              time.Now,
	}
}

// holds reports whether this process holds the key of csr, a CSR of
// certsmith's own made for the ServiceCertificate owner.
func (h *issuanceHandoff) holds(owner types.NamespacedName, csr *certificatesv1.CertificateSigningRequest) bool {
	if h == nil {
		return false
	}
	return h.keys.holds(owner, csr.Name)
}

// offer keeps the certificate the signer made for csr and wakes its
// ServiceCertificate. A CSR already offered keeps its first certificate.
func (h *issuanceHandoff) offer(owner types.NamespacedName, csr *certificatesv1.CertificateSigningRequest, chainPEM []byte) {
	h.mu.Lock()
	if len(h.signed) > handoffSweepAbove {
		for name, e := range h.signed {
			// One whose key is still held waits for its Secret: dropping it
			// would have the CSR signed again.
			if h.now().Sub(e.at) > handoffTTL && !h.keys.holds(e.owner, name) {
				delete(h.signed, name)
			}
		}
	}
	if e, ok := h.signed[csr.Name]; !ok || e.csrUID != csr.UID {
		approved := csr.DeepCopy()
		// Not needed for the write (an update without them keeps them),
		// and the largest part of the object.
		approved.ManagedFields = nil
		h.signed[csr.Name] = &handedCertificate{csrUID: csr.UID, owner: owner, chainPEM: chainPEM, at: h.now(), approved: approved}
	}
	h.mu.Unlock()
	wake(h.wakeCertificates, &certsmithv1alpha1.ServiceCertificate{ObjectMeta: metav1.ObjectMeta{Namespace: owner.Namespace, Name: owner.Name}})
}

// certificateFor returns the certificate the signer made for csr, nil if none.
func (h *issuanceHandoff) certificateFor(csr *certificatesv1.CertificateSigningRequest) []byte {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.signed[csr.Name]; ok && e.csrUID == csr.UID {
		return e.chainPEM
	}
	return nil
}

// markStored records that chainPEM, the certificate of csr, is in its
// Secret, and wakes the signer to write it into the CSR. Only the very
// certificate handed over is marked.
func (h *issuanceHandoff) markStored(csr *certificatesv1.CertificateSigningRequest, chainPEM []byte) {
	if h == nil {
		return
	}
	h.mu.Lock()
	e, ok := h.signed[csr.Name]
	ok = ok && e.csrUID == csr.UID && bytes.Equal(e.chainPEM, chainPEM)
	if ok {
		e.stored = true
	}
	h.mu.Unlock()
	if ok {
		wake(h.wakeSigner, &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: csr.Name}})
	}
}

// storedOf returns the CSRs of owner whose certificate is in the Secret
// and which wait for the signer to write it into them. It is read before
// the CSRs are listed: one the signer finishes in between is then still
// known as stored, and not taken for one left open.
func (h *issuanceHandoff) storedOf(owner types.NamespacedName) map[string]bool {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var stored map[string]bool
	for name, e := range h.signed {
		if e.stored && e.owner == owner {
			if stored == nil {
				stored = map[string]bool{}
			}
			stored[name] = true
		}
	}
	return stored
}

// take returns what was handed for csr: its certificate and whether it is stored.
func (h *issuanceHandoff) take(csr *certificatesv1.CertificateSigningRequest) (chainPEM []byte, stored, ok bool) {
	if h == nil {
		return nil, false, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.signed[csr.Name]
	if !ok || e.csrUID != csr.UID {
		return nil, false, false
	}
	return e.chainPEM, e.stored, true
}

// freshest returns the CSR to write the handed certificate into: cached
// when the cache has seen it approved, else a copy of the one the signer
// approved (the cache is behind that write).
func (h *issuanceHandoff) freshest(cached *certificatesv1.CertificateSigningRequest) *certificatesv1.CertificateSigningRequest {
	if h == nil || csrApproved(cached) {
		return cached
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.signed[cached.Name]; ok && e.csrUID == cached.UID && e.approved != nil && csrApproved(e.approved) {
		return e.approved.DeepCopy()
	}
	return cached
}

// drop forgets what was handed for the CSR of that name: it is finished or gone.
func (h *issuanceHandoff) drop(name string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.signed, name)
}

// wake enqueues obj into a controller through its channel, without blocking
// the caller: when the channel is full, a goroutine waits a bounded time.
func wake(ch chan event.GenericEvent, obj client.Object) {
	select {
	case ch <- event.GenericEvent{Object: obj}:
	default:
		go func() {
			select {
			case ch <- event.GenericEvent{Object: obj}:
			case <-time.After(handoffWakeWait):
			}
		}()
	}
}
