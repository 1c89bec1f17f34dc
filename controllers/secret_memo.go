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
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// storedSecretsMax bounds the Secrets storedSecrets remembers: enough for
// the reconciles that follow a burst of issuances (each Secret is looked
// at once or twice within a second or so of its write; at 80 issuances a
// second an entry lives about 3 s), about 1 MiB. 1,024 kept 7 MiB more
// live heap after a burst of 1,000 (docs/benchmarks.md).
const storedSecretsMax = 256

// storedSecretMaxBytes bounds the data of a Secret that is remembered:
// certsmith's own keys take a few KiB (a keystore a few more), but a
// tenant may add keys of their own to the Secret, which a write keeps; a
// Secret larger than this is read again instead, so that 256 of them
// padded to 1 MiB cannot fill the manager's memory.
const storedSecretMaxBytes = 64 << 10

// dataSize is the bytes of a Secret's data and stringData.
func dataSize(secret *corev1.Secret) int {
	n := 0
	for k, v := range secret.Data {
		n += len(k) + len(v)
	}
	for k, v := range secret.StringData {
		n += len(k) + len(v)
	}
	return n
}

// storedSecrets remembers the certificate Secrets the ServiceCertificate
// controller wrote last, each as the API server returned it, with its
// UID and resourceVersion. The cache keeps certificate Secrets without
// their data (they are outside the operator's namespace), so every
// reconcile would read its Secret past the cache; one that finds in the
// cache the very UID and resourceVersion of a write it remembers knows
// the content is what it wrote, and reads nothing. Anyone else's write
// gives the Secret another resourceVersion, and it is read again. Bounded
// to storedSecretsMax, the oldest dropped first.
type storedSecrets struct {
	mu    sync.Mutex
	byKey map[types.NamespacedName]storedSecret
	// order is the keys in the order they were remembered, with the
	// sequence number of that write (a key written again is in it twice).
	order []storedKey
	seq   uint64
}

type storedSecret struct {
	secret *corev1.Secret
	seq    uint64
}

type storedKey struct {
	key types.NamespacedName
	seq uint64
}

func newStoredSecrets() *storedSecrets {
	return &storedSecrets{byKey: map[types.NamespacedName]storedSecret{}}
}

// remember keeps a copy of secret, which the API server has just
// returned for a write (its UID and resourceVersion set).
func (s *storedSecrets) remember(secret *corev1.Secret) {
	if s == nil || secret.UID == "" || secret.ResourceVersion == "" || dataSize(secret) > storedSecretMaxBytes {
		return
	}
	key := types.NamespacedName{Namespace: secret.Namespace, Name: secret.Name}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	kept := secret.DeepCopy()
	kept.ManagedFields = nil // not read, and a share of the size
	s.byKey[key] = storedSecret{secret: kept, seq: s.seq}
	s.order = append(s.order, storedKey{key: key, seq: s.seq})
	for len(s.byKey) > storedSecretsMax || len(s.order) > 2*storedSecretsMax {
		oldest := s.order[0]
		s.order = s.order[1:]
		if e, ok := s.byKey[oldest.key]; ok && e.seq == oldest.seq {
			delete(s.byKey, oldest.key)
		}
	}
}

// lookup returns a copy of the remembered Secret of key if it is the
// version cached (same UID and resourceVersion), else nil.
func (s *storedSecrets) lookup(cached *corev1.Secret) *corev1.Secret {
	if s == nil {
		return nil
	}
	key := types.NamespacedName{Namespace: cached.Namespace, Name: cached.Name}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byKey[key]
	if !ok || e.secret.UID != cached.UID || e.secret.ResourceVersion != cached.ResourceVersion {
		return nil
	}
	return e.secret.DeepCopy()
}

// len is how many Secrets are remembered.
func (s *storedSecrets) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKey)
}
