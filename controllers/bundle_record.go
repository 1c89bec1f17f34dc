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
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// The ownership record of an issuer's bundle objects.
//
// Labels, owner references and managedFields can be written by anyone who
// can write the object, so none of them proves that certsmith made a
// ConfigMap or ClusterTrustBundle. The proof is a record, kept in Secrets in
// the operator's namespace (which only certsmith writes, and which tenants
// cannot read), of the UID of every bundle object certsmith created:
//
//   - before creating an object, certsmith records the intent: a random
//     claim token, which it then puts on the object (annotation
//     certsmith.io/bundle-claim);
//   - after the create, it records the object's UID in place of the token.
//
// A crash between the two leaves a token whose object carries it: that
// object is certsmith's and its UID is recorded on the next pass. A token
// is only ever seen on an object certsmith created, so a tenant cannot
// claim a name in advance. Objects whose UID is not recorded are never
// written, deleted or cached whole.
//
// The record is split over bundleRecordShards Secrets by a hash of the
// namespace, so that an issuer distributing to tens of thousands of
// namespaces stays far below the size limit of one object (an entry is at
// most 63+1+36+1+253 bytes; a Secret's data holds 1 MiB).
const (
	bundleRecordShards = 4
	// recordKeyClusterTrustBundle is the record key of the ClusterTrustBundle;
	// no namespace can be called that (namespaces have no "_").
	recordKeyClusterTrustBundle = "_clustertrustbundle"
	// recordKeyMigrated, in shard 0, says that the one-time adoption of the
	// objects an earlier release made has run for the issuer.
	recordKeyMigrated = "_migrated"
	// annotationBundleRecordOf names the issuer a record Secret belongs to.
	annotationBundleRecordOf = "certsmith.io/bundle-record-of"
	// labelBundleRecord marks record Secrets.
	labelBundleRecord = "certsmith.io/bundle-record"
	// annotationBundleClaim carries, on a bundle object, the claim token
	// certsmith recorded before creating it.
	annotationBundleClaim = "certsmith.io/bundle-claim"
	// claimTokenLength is the length of a claim token (hex).
	claimTokenLength = 32
)

// ownedObject is one entry of the record: an object certsmith created (UID
// set) or is about to create (Token set).
type ownedObject struct {
	Name  string
	UID   types.UID
	Token string
}

// encode renders an entry as "<uid>/<name>" or "?<token>/<name>".
func (o ownedObject) encode() string {
	if o.UID != "" {
		return string(o.UID) + "/" + o.Name
	}
	return "?" + o.Token + "/" + o.Name
}

// decodeOwned parses an entry; false for anything malformed.
func decodeOwned(raw string) (ownedObject, bool) {
	id, name, ok := strings.Cut(raw, "/")
	if !ok || name == "" || id == "" {
		return ownedObject{}, false
	}
	if token, pending := strings.CutPrefix(id, "?"); pending {
		return ownedObject{Name: name, Token: token}, token != ""
	}
	return ownedObject{Name: name, UID: types.UID(id)}, true
}

// newClaimToken returns a fresh random claim token.
func newClaimToken() string {
	b := make([]byte, claimTokenLength/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// bundleRecord is the ownership record of one issuer, loaded from its shards.
type bundleRecord struct {
	issuer    string
	namespace string
	shards    [bundleRecordShards]*corev1.Secret // nil: the shard does not exist yet
	entries   [bundleRecordShards]map[string]ownedObject
	dirty     [bundleRecordShards]bool
}

// bundleRecords remembers the record Secrets this process wrote last, so
// that a cache that has not seen a write yet does not make the next one
// fail on its stale resourceVersion. A cached copy that is neither the one
// written from nor the one written is someone else's later change (or a
// deletion), and wins; a failed write forgets the issuer's copies.
type bundleRecords struct {
	mu      sync.Mutex
	written map[types.NamespacedName]writtenRecord
}

// writtenRecord is a record Secret as written, and the resourceVersion it
// was written from ("" for a create).
type writtenRecord struct {
	secret *corev1.Secret
	from   string
}

// pick returns the freshest copy of a shard: ours while the cache shows the
// state before our write, else the cache's (nil when it has none).
func (w *bundleRecords) pick(key types.NamespacedName, cached *corev1.Secret) *corev1.Secret {
	w.mu.Lock()
	defer w.mu.Unlock()
	mine, ok := w.written[key]
	switch {
	case !ok:
		return cached
	case cached == nil && mine.from == "", cached != nil && cached.ResourceVersion == mine.from:
		return mine.secret
	}
	delete(w.written, key)
	return cached
}

func (w *bundleRecords) put(secret *corev1.Secret, from string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.written == nil {
		w.written = map[types.NamespacedName]writtenRecord{}
	}
	w.written[client.ObjectKeyFromObject(secret)] = writtenRecord{secret: secret.DeepCopy(), from: from}
}

func (w *bundleRecords) forget(issuer, namespace string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range bundleRecordShards {
		delete(w.written, types.NamespacedName{Namespace: namespace, Name: bundleRecordName(issuer, i)})
	}
}

// bundleRecordName is the Secret of one shard: "<issuer>-bundle-owners-<i>",
// with the issuer's name shortened and hashed when that would be too long.
func bundleRecordName(issuer string, shard int) string {
	return boundedName(issuer, fmt.Sprintf("-bundle-owners-%d", shard))
}

// boundedName is base+suffix when that fits an object name (253
// characters), else base shortened and followed by a hash of all of it, so
// that two long bases stay apart.
func boundedName(base, suffix string) string {
	if len(base)+len(suffix) <= 253 {
		return base + suffix
	}
	sum := sha256.Sum256([]byte(base))
	keep := 253 - len(suffix) - 17
	return strings.TrimRight(base[:keep], "-.") + "-" + hex.EncodeToString(sum[:8]) + suffix
}

// shardOf is the shard that holds a record key.
func shardOf(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % bundleRecordShards)
}

// loadBundleRecord reads an issuer's record (from the cache, or from this
// process's last write when that is newer).
func loadBundleRecord(ctx context.Context, reader client.Reader, written *bundleRecords, namespace, issuer string) (*bundleRecord, error) {
	record := &bundleRecord{issuer: issuer, namespace: namespace}
	for i := range bundleRecordShards {
		record.entries[i] = map[string]ownedObject{}
		key := types.NamespacedName{Namespace: namespace, Name: bundleRecordName(issuer, i)}
		cached := &corev1.Secret{}
		if err := reader.Get(ctx, key, cached); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading bundle record %s: %w", key, err)
			}
			cached = nil
		}
		secret := written.pick(key, cached)
		if secret == nil {
			continue
		}
		if secret.Annotations[annotationBundleRecordOf] != issuer {
			return nil, fmt.Errorf("secret %s is not certsmith's bundle record of ClusterIssuer %s (annotation %s); remove it", key, issuer, annotationBundleRecordOf)
		}
		record.shards[i] = secret
		for k, v := range secret.Data {
			if strings.HasPrefix(k, "_") && k != recordKeyClusterTrustBundle {
				continue
			}
			if entry, ok := decodeOwned(string(v)); ok {
				record.entries[i][k] = entry
			}
		}
	}
	return record, nil
}

// exists reports whether any shard of the record exists.
func (b *bundleRecord) exists() bool {
	for _, s := range b.shards {
		if s != nil {
			return true
		}
	}
	return false
}

// migrated reports whether the one-time adoption has run.
func (b *bundleRecord) migrated() bool {
	return b.shards[0] != nil && len(b.shards[0].Data[recordKeyMigrated]) > 0
}

// markMigrated records that the one-time adoption has run.
func (b *bundleRecord) markMigrated() {
	b.dirty[0] = true
}

func (b *bundleRecord) get(key string) (ownedObject, bool) {
	entry, ok := b.entries[shardOf(key)][key]
	return entry, ok
}

func (b *bundleRecord) set(key string, entry ownedObject) {
	shard := shardOf(key)
	if current, ok := b.entries[shard][key]; ok && current == entry {
		return
	}
	b.entries[shard][key] = entry
	b.dirty[shard] = true
}

func (b *bundleRecord) drop(key string) {
	shard := shardOf(key)
	if _, ok := b.entries[shard][key]; ok {
		delete(b.entries[shard], key)
		b.dirty[shard] = true
	}
}

// keys lists the record's keys in a stable order.
func (b *bundleRecord) keys() []string {
	var out []string
	for i := range b.entries {
		for k := range b.entries[i] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// save writes the shards that changed, each in one write.
func (b *bundleRecord) save(ctx context.Context, c client.Client, written *bundleRecords) error {
	// Shard 0, which holds the migration mark, is written last, so the mark
	// never lands before what the adoption recorded in the other shards.
	for i := bundleRecordShards - 1; i >= 0; i-- {
		if !b.dirty[i] {
			continue
		}
		data := map[string][]byte{}
		for k, v := range b.entries[i] {
			data[k] = []byte(v.encode())
		}
		if i == 0 {
			data[recordKeyMigrated] = []byte("true")
		}
		if err := b.writeShard(ctx, c, written, i, data); err != nil {
			written.forget(b.issuer, b.namespace)
			return err
		}
		b.dirty[i] = false
	}
	return nil
}

func (b *bundleRecord) writeShard(ctx context.Context, c client.Client, written *bundleRecords, i int, data map[string][]byte) error {
	current := b.shards[i]
	if current == nil {
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: bundleRecordName(b.issuer, i), Namespace: b.namespace,
				Labels:      map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue, labelBundleRecord: "true"},
				Annotations: map[string]string{annotationBundleRecordOf: b.issuer},
			},
			Type: corev1.SecretTypeOpaque,
			Data: data,
		}
		if err := c.Create(ctx, secret); err != nil {
			return fmt.Errorf("creating bundle record %s/%s: %w", secret.Namespace, secret.Name, err)
		}
		b.shards[i] = secret
		written.put(secret, "")
		return nil
	}
	updated := current.DeepCopy()
	updated.Data = data
	if err := c.Patch(ctx, updated, client.MergeFromWithOptions(current, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("updating bundle record %s/%s: %w", current.Namespace, current.Name, err)
	}
	b.shards[i] = updated
	written.put(updated, current.ResourceVersion)
	return nil
}

// remove deletes every shard of the record (once nothing it lists exists).
func (b *bundleRecord) remove(ctx context.Context, c client.Client, written *bundleRecords) error {
	written.forget(b.issuer, b.namespace)
	for i, secret := range b.shards {
		if secret == nil {
			continue
		}
		if err := c.Delete(ctx, secret, client.Preconditions{UID: &secret.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting bundle record %s/%s: %w", secret.Namespace, secret.Name, err)
		}
		b.shards[i] = nil
	}
	return nil
}

// recordIssuer returns the issuer a record Secret belongs to, or "".
func recordIssuer(obj client.Object) string {
	if obj.GetLabels()[labelBundleRecord] != "true" {
		return ""
	}
	return obj.GetAnnotations()[annotationBundleRecordOf]
}
