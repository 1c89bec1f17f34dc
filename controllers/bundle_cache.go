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
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/revocation"
)

// cachedContentHashAnnotation holds, on the cached copy of a ConfigMap or
// ClusterTrustBundle only, the SHA-256 of the content the cache dropped. It
// is computed by the cache transform (whatever an object's author wrote
// under that key is replaced) and never written to the API server: the
// bundle controller writes with JSON patches built from scratch.
const cachedContentHashAnnotation = "certsmith.io/cached-content-sha256"

// Bundle ConfigMaps and ClusterTrustBundles are cached by certsmith's label,
// which anyone can set. So that a tenant's labelled objects cost only a few
// hundred bytes whatever their size, the cache keeps none of their content
// (certsmith's own objects neither): the name, UID, resourceVersion, the two
// certsmith labels, the claim annotation, immutability, and a hash of the
// content, which is all the bundle controller compares.

// strippedMarker marks, in the deprecated metadata.selfLink that API servers
// no longer fill in, an object this transform already stripped: client-go
// may apply a transform twice (a watch-list's temporary store, then the
// queue), so it must be idempotent, and an object read from the API server
// can never look stripped.
const strippedMarker = "certsmith:stripped"

// stripConfigMapContent is the cache transform of ConfigMaps.
func stripConfigMapContent(in any) (any, error) {
	cm, ok := in.(*corev1.ConfigMap)
	if !ok || cm.SelfLink == strippedMarker { //nolint:staticcheck // selfLink marks the cache's own copies
		return in, nil
	}
	out := &corev1.ConfigMap{TypeMeta: cm.TypeMeta, ObjectMeta: cachedMetadata(&cm.ObjectMeta), Immutable: cm.Immutable}
	out.Annotations[cachedContentHashAnnotation] = configMapContentHash(cm.Data, cm.BinaryData)
	return out, nil
}

// stripClusterTrustBundleContent is the cache transform of ClusterTrustBundles.
func stripClusterTrustBundleContent(in any) (any, error) {
	ctb, ok := in.(*certificatesv1.ClusterTrustBundle)
	if !ok || ctb.SelfLink == strippedMarker { //nolint:staticcheck // selfLink marks the cache's own copies
		return in, nil
	}
	out := &certificatesv1.ClusterTrustBundle{TypeMeta: ctb.TypeMeta, ObjectMeta: cachedMetadata(&ctb.ObjectMeta)}
	out.Spec.SignerName = truncate(ctb.Spec.SignerName, 600)
	out.Annotations[cachedContentHashAnnotation] = clusterTrustBundleContentHash(ctb.Spec.SignerName, ctb.Spec.TrustBundle)
	return out, nil
}

// cachedMetadata keeps what the bundle controller reads: identity, the
// certsmith labels and the claim annotation, each of bounded size.
func cachedMetadata(m *metav1.ObjectMeta) metav1.ObjectMeta {
	out := metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion, Generation: m.Generation,
		CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp,
		Labels: map[string]string{}, Annotations: map[string]string{},
		SelfLink: strippedMarker,
	}
	for _, key := range []string{certsmithv1alpha1.LabelManagedBy, certsmithv1alpha1.LabelBundleIssuer} {
		if v, ok := m.Labels[key]; ok {
			out.Labels[key] = v
		}
	}
	if claim := m.Annotations[annotationBundleClaim]; len(claim) == claimTokenLength {
		out.Annotations[annotationBundleClaim] = claim
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// configMapContentHash is a hash of a ConfigMap's data and binaryData.
func configMapContentHash(data map[string]string, binary map[string][]byte) string {
	h := sha256.New()
	for _, k := range sortedKeys(data) {
		h.Write([]byte("d\x00" + k + "\x00" + data[k] + "\x00"))
	}
	binaryKeys := make([]string, 0, len(binary))
	for k := range binary {
		binaryKeys = append(binaryKeys, k)
	}
	sort.Strings(binaryKeys)
	for _, k := range binaryKeys {
		h.Write([]byte("b\x00" + k + "\x00"))
		h.Write(binary[k])
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// clusterTrustBundleContentHash is a hash of a ClusterTrustBundle's spec.
func clusterTrustBundleContentHash(signerName, trustBundle string) string {
	sum := sha256.Sum256([]byte(signerName + "\x00" + trustBundle))
	return hex.EncodeToString(sum[:])
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// issuerCRLs is what an issuer's revocation record gives its bundle
// ConfigMaps.
type issuerCRLs struct {
	// record is the record Secret.
	record types.NamespacedName
	// resourceVersion is the record's; "" when there is none.
	resourceVersion string
	// pem is the record's PEM(): every current CRL, what the CRL server
	// serves; empty when there is none.
	pem []byte
	// numbers are the CRL numbers, in the order of pem.
	numbers []string
	// unreadable says why the record does not parse ("" when it does).
	unreadable string
}

// maxParsedCRLIssuers bounds parsedCRLs; past it, it starts over.
const maxParsedCRLIssuers = 4096

// parsedCRLs remembers, per issuer, what its revocation record publishes,
// parsed once per resourceVersion of the record: the bundle controller
// passes over every issuer on each namespace event, and a full record lists
// 5,000 entries. The record itself comes from the cache, which holds the
// operator's namespace whole.
type parsedCRLs struct {
	mu       sync.Mutex
	byIssuer map[string]issuerCRLs
}

// of returns what an issuer's record publishes, read through reader. A
// Secret of the record's name that is not the record publishes nothing
// (the revocation controller reports it); one that does not parse says why.
func (p *parsedCRLs) of(ctx context.Context, reader client.Reader, namespace, issuer string) (issuerCRLs, error) {
	key := revocationRecordKey(issuer, namespace)
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return issuerCRLs{record: key}, nil
		}
		return issuerCRLs{}, fmt.Errorf("reading the revocation record of ClusterIssuer %s: %w", issuer, err)
	}
	if !isRevocationRecord(secret, issuer) {
		return issuerCRLs{record: key}, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if parsed, ok := p.byIssuer[issuer]; ok && parsed.resourceVersion == secret.ResourceVersion {
		return parsed, nil
	}
	parsed := issuerCRLs{record: key, resourceVersion: secret.ResourceVersion}
	if rec, err := revocation.Decode(secret.Data); err != nil {
		parsed.unreadable = truncate(err.Error(), 300)
	} else {
		parsed.pem = rec.PEM()
		for _, crl := range rec.CRLs {
			// As PEM() lists them: those with a CRL stored.
			if len(crl.DER) > 0 {
				parsed.numbers = append(parsed.numbers, truncate(crl.Number, 40))
			}
		}
	}
	if p.byIssuer == nil || len(p.byIssuer) >= maxParsedCRLIssuers {
		p.byIssuer = map[string]issuerCRLs{}
	}
	p.byIssuer[issuer] = parsed
	return parsed, nil
}

// forget drops what is remembered of an issuer.
func (p *parsedCRLs) forget(issuer string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.byIssuer, issuer)
}
