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
	"crypto/x509"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// Keys and annotations of a generated CA's Secret beyond tls.crt, tls.key
// and ca.crt (the trust bundle).
const (
	nextCertKey     = "next.crt"
	nextKeyKey      = "next.key"
	retiringCertKey = "retiring.crt"
	// annotationSignedUntil maps each CA's SHA-256 fingerprint to the latest
	// notAfter it may have signed (a high-water mark, written before the
	// certificate is released).
	annotationSignedUntil = "certsmith.io/signed-until"
	// annotationRetireAfter maps each retired CA's fingerprint to the
	// signed-until mark frozen when it stopped signing.
	annotationRetireAfter = "certsmith.io/retire-after"
	// annotationRotateHandled records the last rotation request acted on.
	annotationRotateHandled = "certsmith.io/rotate-request-handled"
	// retiringChainKey holds the chains of retiring CAs (intermediates and
	// anchors), so their trust anchors stay known after the switch.
	retiringChainKey = "retiring-chain.crt"
)

// Defaults of spec.rotation.
const (
	defaultPropagationDelay = 2 * time.Minute
	defaultReissueWindow    = 5 * time.Minute
	// publishingPoll is how often a rotation in its Publishing phase looks
	// at the bundle's coverage.
	publishingPoll = 2 * time.Second
)

// forever stands for "still in use": a CA that something still signs under.
var forever = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// caState is a generated CA as kept in its Secret: the active CA, the next
// one during a root rotation, the retired ones still trusted, and the
// signed-until marks.
type caState struct {
	secret   *corev1.Secret
	active   *pki.CA
	next     *pki.CA
	retiring []*x509.Certificate
	// retiringChains are the chain certificates of the retiring CAs.
	retiringChains []*x509.Certificate
	signedUntil    map[string]time.Time
	retireAfter    map[string]time.Time
	bundle         []byte
}

// loadCAState parses a generated CA's Secret.
func loadCAState(secret *corev1.Secret) (*caState, error) {
	active, err := parseCASecret(secret)
	if err != nil {
		return nil, err
	}
	state := &caState{secret: secret, active: active, bundle: secret.Data[caCertKey]}
	if certPEM, keyPEM := secret.Data[nextCertKey], secret.Data[nextKeyKey]; len(certPEM) > 0 && len(keyPEM) > 0 {
		certs, err := pki.ParseCertificatesPEM(certPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nextCertKey, err)
		}
		key, err := pki.ParsePrivateKeyPEM(keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nextKeyKey, err)
		}
		state.next = &pki.CA{Certificate: certs[0], Chain: certs[1:], Key: key}
	}
	if raw := secret.Data[retiringCertKey]; len(raw) > 0 {
		if state.retiring, err = pki.ParseCertificatesPEM(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", retiringCertKey, err)
		}
	}
	if raw := secret.Data[retiringChainKey]; len(raw) > 0 {
		if state.retiringChains, err = pki.ParseCertificatesPEM(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", retiringChainKey, err)
		}
	}
	state.signedUntil = parseTimes(secret.Annotations[annotationSignedUntil])
	state.retireAfter = parseTimes(secret.Annotations[annotationRetireAfter])
	return state, nil
}

func parseTimes(raw string) map[string]time.Time {
	out := map[string]time.Time{}
	if raw == "" {
		return out
	}
	var strs map[string]string
	if json.Unmarshal([]byte(raw), &strs) != nil {
		return out
	}
	for k, v := range strs {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			out[k] = t
		}
	}
	return out
}

func formatTimes(times map[string]time.Time) string {
	if len(times) == 0 {
		return ""
	}
	strs := map[string]string{}
	for k, v := range times {
		strs[k] = v.UTC().Format(time.RFC3339)
	}
	raw, _ := json.Marshal(strs)
	return string(raw)
}

// data renders the state as Secret data.
func (s *caState) data() (map[string][]byte, error) {
	keyPEM, err := pki.EncodePrivateKeyPEM(s.active.Key, pki.KeyEncodingPKCS8)
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{
		corev1.TLSCertKey:       pki.EncodeCertificatesPEM(append([]*x509.Certificate{s.active.Certificate}, s.active.Chain...)...),
		corev1.TLSPrivateKeyKey: keyPEM,
		caCertKey:               s.bundle,
	}
	if s.next != nil {
		nextKey, err := pki.EncodePrivateKeyPEM(s.next.Key, pki.KeyEncodingPKCS8)
		if err != nil {
			return nil, err
		}
		data[nextCertKey] = pki.EncodeCertificatesPEM(append([]*x509.Certificate{s.next.Certificate}, s.next.Chain...)...)
		data[nextKeyKey] = nextKey
	}
	if len(s.retiring) > 0 {
		data[retiringCertKey] = pki.EncodeCertificatesPEM(s.retiring...)
		if len(s.retiringChains) > 0 {
			data[retiringChainKey] = pki.EncodeCertificatesPEM(s.retiringChains...)
		}
	}
	return data, nil
}

// retire moves the active CA to the retiring list, freezing its mark.
func (s *caState) retire(now time.Time) {
	fp := pki.FingerprintSHA256(s.active.Certificate)
	until := s.signedUntil[fp]
	if until.Before(now) {
		until = now
	}
	s.retireAfter[fp] = until
	s.retiring = append(s.retiring, s.active.Certificate)
	for _, c := range append(s.active.Chain, trustAnchors(s.active)...) {
		if !containsCert(s.retiringChains, c) {
			s.retiringChains = append(s.retiringChains, c)
		}
	}
}

// anchors returns the trust anchors of the state: those of the active and
// next CAs, and, for each retiring CA, the anchor it chains to in the
// current bundle (itself when it is a root).
func (s *caState) anchors() []*x509.Certificate {
	var out []*x509.Certificate
	add := func(certs ...*x509.Certificate) {
		for _, c := range certs {
			if !containsCert(out, c) {
				out = append(out, c)
			}
		}
	}
	add(trustAnchors(s.active)...)
	if s.next != nil {
		add(trustAnchors(s.next)...)
	}
	previous, _ := pki.ParseCertificatesPEM(s.bundle)
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range append(previous, s.retiringChains...) {
		if pki.IsSelfSigned(c) || containsCert(previous, c) {
			roots.AddCert(c)
		} else {
			inter.AddCert(c)
		}
	}
	for _, old := range s.retiring {
		if pki.IsSelfSigned(old) {
			add(old)
			continue
		}
		// Keep whatever anchor the retiring CA chains to, however deep.
		chains, err := old.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			CurrentTime: old.NotBefore.Add(time.Second), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			continue
		}
		for _, chain := range chains {
			add(chain[len(chain)-1])
		}
	}
	return out
}

// parentCA is what an intermediate needs of its parent.
type parentCA struct {
	ca     *pki.CA
	bundle []byte
}

// reconcileKeptCA keeps the CA an issuer signs with, in its Secret
// "<issuer>-ca": creates it (generated, or copied from an imported Secret),
// rotates it — a root at its renewal time or on request, an imported CA
// when a new one appears in the user's Secret, both with an overlap
// (Publishing, then Retiring); an intermediate re-signed at once, since its
// trust anchors are its parent's — retires old CAs once nothing they signed
// is in use, and writes the Secret once when anything changed. It returns
// the active CA and when to look again.
func (r *ClusterIssuerReconciler) reconcileKeptCA(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, params *certsmithv1alpha1.GeneratedCA, parent *parentCA, imported *pki.CA) (*pki.CA, time.Duration, error) {
	now := r.Clock.Now()
	key := types.NamespacedName{Namespace: r.Namespace, Name: caSecretName(issuer)}
	secret := &corev1.Secret{}
	if err := r.Get(ctx, key, secret); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, 0, fmt.Errorf("reading CA Secret %s: %w", key, err)
		}
		return r.createKeptCA(ctx, issuer, params, parent, imported)
	}
	if owner := secret.Labels[certsmithv1alpha1.LabelClusterIssuer]; owner != issuer.Name {
		return nil, 0, terminal(certsmithv1alpha1.ReasonCASecretInvalid, fmt.Sprintf(
			"Secret %s exists but does not belong to this issuer (label %s=%q); remove it or rename the issuer",
			key, certsmithv1alpha1.LabelClusterIssuer, owner))
	}
	state, err := loadCAState(secret)
	if err != nil {
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonCASecretInvalid, "LoadCA",
			"CA Secret %s is unusable: %v; delete it to have a new CA generated", key, err)
		return nil, 0, terminal(certsmithv1alpha1.ReasonCASecretInvalid, fmt.Sprintf("%v; delete the Secret to have a new CA generated", err))
	}
	original := secret.DeepCopy()
	rotation := issuer.Status.Rotation.DeepCopy()
	requested := issuer.Annotations[certsmithv1alpha1.AnnotationRotateRequestedAt]
	// The request handled last is recorded in the Secret, in the same write
	// as the CA it made, so a stale cached status cannot fire it twice.
	handled := secret.Annotations[annotationRotateHandled]
	manual := requested != "" && requested != handled && (rotation == nil || rotation.LastRequest != requested)
	renewalDue := !now.Before(caRenewalTime(issuer, state.active.Certificate))
	makeNext := func() (*pki.CA, error) { return r.newCA(issuer, params, nil) }
	if imported != nil {
		// An imported CA is renewed by its owner: a different CA in the
		// user's Secret is the next one.
		fp := pki.FingerprintSHA256(imported.Certificate)
		isNext := state.next != nil && pki.FingerprintSHA256(state.next.Certificate) == fp
		manual = fp != pki.FingerprintSHA256(state.active.Certificate) && !isNext
		renewalDue = false
		if manual && state.next != nil {
			state.next = nil // superseded before it was used
		}
		makeNext = func() (*pki.CA, error) { return imported, nil }
	}
	requeue := state.active.Certificate.NotAfter.Sub(now) + time.Second

	// Retire what nothing uses any more.
	kept := state.retiring[:0]
	for _, cert := range state.retiring {
		until := r.inUseUntil(ctx, issuer.Name, state, cert, 0)
		if now.After(until) {
			fp := pki.FingerprintSHA256(cert)
			delete(state.retireAfter, fp)
			delete(state.signedUntil, fp)
			r.Recorder.Eventf(issuer, nil, corev1.EventTypeNormal, "CARetired", "Rotate",
				"CA %q (SHA-256 %s) left the trust bundle: everything it signed has expired", cert.Subject, fp)
			continue
		}
		kept = append(kept, cert)
		requeue = min(requeue, until.Sub(now)+time.Second)
	}
	state.retiring = kept
	if len(kept) == 0 {
		state.retiringChains = nil
	}

	if parent == nil {
		rotation, requeue, err = r.rotateRoot(ctx, issuer, makeNext, state, rotation, manual, renewalDue, requested, requeue)
		if err != nil {
			return nil, 0, err
		}
		state.bundle = pki.EncodeCertificatesPEM(state.anchors()...)
	} else {
		// Checked at the certificate's own start, so a clock that moves (or skews)
		// never makes a valid intermediate look foreign and re-made in a loop.
		if manual || renewalDue || !chainsTo(state.active.Certificate, parent.ca, state.active.Certificate.NotBefore.Add(time.Second)) {
			fresh, err := r.newCA(issuer, params, parent.ca)
			if err != nil {
				return nil, 0, err
			}
			state.retire(now)
			state.active = fresh
			rotation = &certsmithv1alpha1.RotationStatus{Phase: certsmithv1alpha1.RotationRetiring, StartedAt: &metav1.Time{Time: now},
				SwitchedAt: &metav1.Time{Time: now}, LastRequest: requested}
			r.Recorder.Eventf(issuer, nil, corev1.EventTypeNormal, "CASwitched", "Rotate",
				"Signing with new intermediate CA %q (SHA-256 %s) signed by the parent's current CA", fresh.Certificate.Subject,
				pki.FingerprintSHA256(fresh.Certificate))
		}
		state.bundle = parent.bundle
	}
	if rotation != nil && rotation.Phase == certsmithv1alpha1.RotationRetiring && len(state.retiring) == 0 {
		rotation.Phase, rotation.CompletedAt = certsmithv1alpha1.RotationComplete, &metav1.Time{Time: now}
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeNormal, "RotationComplete", "Rotate", "CA rotation complete")
	}
	if imported == nil {
		// A generated CA comes back at its own renewal time, by itself: in a
		// quiet cluster nothing else would wake it before it expires.
		if untilRenewal := caRenewalTime(issuer, state.active.Certificate).Sub(now); untilRenewal > 0 {
			requeue = min(requeue, untilRenewal+time.Second)
		}
	}
	issuer.Status.Rotation = rotation
	issuer.Status.TrustedCAs = trustedCAs(state)
	setRotatingCondition(issuer, rotation)

	data, err := state.data()
	if err != nil {
		return nil, 0, err
	}
	secret.Data = data
	if secret.Annotations == nil {
		secret.Annotations = map[string]string{}
	}
	if manual && rotation != nil && rotation.LastRequest == requested {
		secret.Annotations[annotationRotateHandled] = requested
	}
	for annotation, times := range map[string]map[string]time.Time{annotationSignedUntil: state.signedUntil, annotationRetireAfter: state.retireAfter} {
		if v := formatTimes(times); v != "" {
			secret.Annotations[annotation] = v
		} else {
			delete(secret.Annotations, annotation)
		}
	}
	if !secretUnchanged(original, secret) {
		if err := r.Patch(ctx, secret, client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})); err != nil {
			return nil, 0, fmt.Errorf("updating CA Secret %s: %w", key, err)
		}
	}
	return state.active, requeue, nil
}

// setRotatingCondition reports a rotation in progress as the Rotating
// condition, naming (bounded) the trust paths it waits for or skipped.
func setRotatingCondition(issuer *certsmithv1alpha1.ClusterIssuer, rotation *certsmithv1alpha1.RotationStatus) {
	if rotation == nil || rotation.Phase == certsmithv1alpha1.RotationComplete {
		setCondition(&issuer.Status.Conditions, issuer.Generation, certsmithv1alpha1.ConditionRotating, metav1.ConditionFalse,
			certsmithv1alpha1.ReasonNotRotating, "no CA rotation in progress")
		return
	}
	// The condition message holds MaxMessageBytes; the names get what the prose leaves.
	const room = MaxMessageBytes - 320
	var message string
	switch {
	case rotation.Phase == certsmithv1alpha1.RotationRetiring && rotation.Unpublished > 0:
		message = "signing with the new CA; the old CA stays trusted until everything it signed has expired. " +
			"The switch came at the publish deadline and skipped " + unpublishedSummary(rotation, room)
	case rotation.Phase == certsmithv1alpha1.RotationRetiring:
		message = "signing with the new CA; the old CA stays trusted until everything it signed has expired"
	case rotation.PublishedAt != nil && rotation.Unpublished > 0:
		message = "the publish deadline passed: the next CA signs after the propagation delay, skipping " + unpublishedSummary(rotation, room)
	case rotation.PublishedAt != nil:
		message = "the next CA is in every trust path; waiting until it has propagated before it signs"
	case rotation.Unpublished > 0:
		deadline := ""
		if rotation.PublishDeadline != nil {
			deadline = "; those certsmith cannot write stop blocking the switch at " + rotation.PublishDeadline.UTC().Format(time.RFC3339)
		}
		message = "the next CA is being published; the switch waits for " + unpublishedSummary(rotation, room) + deadline
	default:
		message = "the next CA is being published to every trust path; it signs once they all hold it and it has propagated"
	}
	setCondition(&issuer.Status.Conditions, issuer.Generation, certsmithv1alpha1.ConditionRotating, metav1.ConditionTrue, string(rotation.Phase), message)
}

// rotateRoot runs a root CA's rotation: make the next CA (published in the
// bundle), wait until the bundle is everywhere plus the propagation delay,
// then switch signing to it and retire the old one.
func (r *ClusterIssuerReconciler) rotateRoot(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, makeNext func() (*pki.CA, error), state *caState,
	rotation *certsmithv1alpha1.RotationStatus, manual, renewalDue bool, requested string, requeue time.Duration) (*certsmithv1alpha1.RotationStatus, time.Duration, error) {
	now := r.Clock.Now()
	if state.next == nil && (manual || renewalDue) {
		next, err := makeNext()
		if err != nil {
			return nil, 0, err
		}
		state.next = next
		rotation = &certsmithv1alpha1.RotationStatus{Phase: certsmithv1alpha1.RotationPublishing, StartedAt: &metav1.Time{Time: now}, LastRequest: requested}
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeNormal, "RotationStarted", "Rotate",
			"Started CA rotation: next CA %q (SHA-256 %s) is published in the trust bundle and will sign once it has propagated",
			next.Certificate.Subject, pki.FingerprintSHA256(next.Certificate))
		return rotation, publishingPoll, nil
	}
	if state.next == nil {
		return rotation, requeue, nil
	}
	if rotation == nil || rotation.Phase != certsmithv1alpha1.RotationPublishing {
		// A next CA whose status was lost (a crash between writes): carry on publishing it.
		last := ""
		if rotation != nil {
			last = rotation.LastRequest
		}
		rotation = &certsmithv1alpha1.RotationStatus{Phase: certsmithv1alpha1.RotationPublishing, StartedAt: &metav1.Time{Time: now}, LastRequest: last}
	}
	switchNow, wait, err := r.publishStep(ctx, issuer, state, rotation)
	if err != nil || !switchNow {
		return rotation, wait, err
	}
	old := state.active.Certificate
	state.retire(now)
	state.active, state.next = state.next, nil
	rotation.Phase, rotation.SwitchedAt = certsmithv1alpha1.RotationRetiring, &metav1.Time{Time: now}
	r.Recorder.Eventf(issuer, nil, corev1.EventTypeNormal, "CASwitched", "Rotate",
		"Signing with the new CA %q (SHA-256 %s); the old CA (SHA-256 %s) stays trusted until what it signed has expired or been replaced",
		state.active.Certificate.Subject, pki.FingerprintSHA256(state.active.Certificate), pki.FingerprintSHA256(old))
	return rotation, min(requeue, publishingPoll*5), nil
}

// publishStep runs one step of the Publishing phase: it counts the trust
// paths (of this issuer and those below it) that lack the next CA, records
// the count in status, and decides whether signing switches now.
func (r *ClusterIssuerReconciler) publishStep(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, state *caState,
	rotation *certsmithv1alpha1.RotationStatus) (bool, time.Duration, error) {
	now := r.Clock.Now()
	startedAt := now
	if rotation.StartedAt != nil {
		startedAt = rotation.StartedAt.Time
	}
	rotation.PublishDeadline = &metav1.Time{Time: startedAt.Add(publishDeadline(issuer)).Truncate(time.Second)}
	in := publishInput{now: now, startedAt: startedAt, deadline: publishDeadline(issuer), delay: propagationDelay(issuer)}
	if rotation.PublishedAt != nil {
		in.publishedAt = &rotation.PublishedAt.Time
	} else {
		if err := r.observeTrust(ctx, issuer, pki.FingerprintSHA256(state.next.Certificate), 0, map[string]bool{}, &in.coverage); err != nil {
			return false, 0, err
		}
		rotation.Unpublished, rotation.Conflicts = int32(in.coverage.unpublished), int32(in.coverage.conflicts)
		rotation.UnpublishedPaths = in.coverage.names
	}
	step := planPublish(in)
	if step.publish {
		rotation.PublishedAt = &metav1.Time{Time: now}
		if step.skipping {
			r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonTrustPathsSkipped, "Rotate",
				"The publish deadline (%s) passed: the next CA signs after the propagation delay (%s) although these do not hold it: %s",
				publishDeadline(issuer), propagationDelay(issuer), unpublishedSummary(rotation, MaxMessageBytes-200))
		} else {
			r.Recorder.Eventf(issuer, nil, corev1.EventTypeNormal, "BundlePublished", "Rotate",
				"The next CA is in every trust path; switching after the propagation delay (%s)", propagationDelay(issuer))
		}
	}
	return step.switchNow, step.requeue, nil
}

func propagationDelay(issuer *certsmithv1alpha1.ClusterIssuer) time.Duration {
	if r := issuer.Spec.Rotation; r != nil && r.PropagationDelay != nil {
		return r.PropagationDelay.Duration
	}
	return defaultPropagationDelay
}

func reissueWindow(issuer *certsmithv1alpha1.ClusterIssuer) time.Duration {
	if r := issuer.Spec.Rotation; r != nil && r.ReissueWindow != nil {
		return r.ReissueWindow.Duration
	}
	return defaultReissueWindow
}

// caRenewalTime is when a generated CA is due for rotation.
func caRenewalTime(issuer *certsmithv1alpha1.ClusterIssuer, cert *x509.Certificate) time.Time {
	var renewBefore time.Duration
	if params := generatedCAParams(issuer); params != nil && params.RenewBefore != nil {
		renewBefore = params.RenewBefore.Duration
	}
	// A renewBefore as long as the actual lifetime (a parent may have
	// shortened it) would rotate at once and forever: use the default then.
	if renewBefore >= cert.NotAfter.Sub(cert.NotBefore) {
		renewBefore = 0
	}
	return pki.RenewalTime(cert.NotBefore, cert.NotAfter, renewBefore, 0, issuer.Name)
}

// inUseUntil returns until when cert (one of this issuer's CAs) may still be
// needed: the latest notAfter it signed, and, for every child issuer, until
// when the intermediates cert signed are in use — forever while a child
// still signs with one of them.
func (r *ClusterIssuerReconciler) inUseUntil(ctx context.Context, issuerName string, state *caState, cert *x509.Certificate, depth int) time.Time {
	fp := pki.FingerprintSHA256(cert)
	until := state.retireAfter[fp]
	if t := state.signedUntil[fp]; t.After(until) {
		until = t
	}
	if depth > maxIssuerDepth {
		return forever
	}
	var children certsmithv1alpha1.ClusterIssuerList
	if err := r.List(ctx, &children, client.MatchingFields{indexIssuerParent: issuerName}); err != nil {
		return forever
	}
	for i := range children.Items {
		child := &children.Items[i]
		secret := &corev1.Secret{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: caSecretName(child)}, secret); err != nil {
			continue
		}
		childState, err := loadCAState(secret)
		if err != nil {
			continue
		}
		if childState.active.Certificate.CheckSignatureFrom(cert) == nil {
			return forever
		}
		for _, old := range childState.retiring {
			if old.CheckSignatureFrom(cert) == nil {
				if t := r.inUseUntil(ctx, child.Name, childState, old, depth+1); t.After(until) {
					until = t
				}
			}
		}
	}
	return until
}

// trustedCAs describes the CAs of a state for status.
func trustedCAs(state *caState) []certsmithv1alpha1.TrustedCA {
	describe := func(cert *x509.Certificate, role string) certsmithv1alpha1.TrustedCA {
		return certsmithv1alpha1.TrustedCA{Subject: cert.Subject.String(), FingerprintSHA256: pki.FingerprintSHA256(cert),
			NotAfter: metav1.Time{Time: cert.NotAfter}, Role: role}
	}
	out := []certsmithv1alpha1.TrustedCA{describe(state.active.Certificate, certsmithv1alpha1.TrustedCAActive)}
	if state.next != nil {
		out = append(out, describe(state.next.Certificate, certsmithv1alpha1.TrustedCANext))
	}
	for _, cert := range state.retiring {
		t := describe(cert, certsmithv1alpha1.TrustedCARetiring)
		if after, ok := state.retireAfter[pki.FingerprintSHA256(cert)]; ok {
			t.RetireAfter = &metav1.Time{Time: after}
		}
		out = append(out, t)
	}
	return out
}

// newCA makes a key and a CA certificate: self-signed, or signed by parent.
func (r *ClusterIssuerReconciler) newCA(issuer *certsmithv1alpha1.ClusterIssuer, params *certsmithv1alpha1.GeneratedCA, parent *pki.CA) (*pki.CA, error) {
	now := r.Clock.Now()
	signer, err := pki.GenerateKey(keySpecFrom(params.PrivateKey))
	if err != nil {
		return nil, terminal(certsmithv1alpha1.ReasonCASecretInvalid, fmt.Sprintf("generating CA key: %v", err))
	}
	maxPathLen := -1
	if params.MaxPathLength != nil {
		maxPathLen = int(*params.MaxPathLength)
	}
	duration := defaultRootCADuration
	if parent != nil {
		duration = defaultIntermediateCADuration
	}
	if params.Duration != nil {
		duration = params.Duration.Duration
	}
	subject := subjectFrom(params.Subject, issuer.Name)
	ca := &pki.CA{Key: signer}
	if parent == nil {
		ca.Certificate, err = pki.NewSelfSignedCA(signer, pki.CATemplate{Subject: subject, Duration: duration, MaxPathLen: maxPathLen}, now)
	} else {
		ca.Certificate, err = signIntermediate(parent, signer, subject, duration, maxPathLen, now)
		ca.Chain = append([]*x509.Certificate{parent.Certificate}, parent.Chain...)
	}
	if err != nil {
		return nil, terminal(certsmithv1alpha1.ReasonCASecretInvalid, fmt.Sprintf("creating CA certificate: %v", err))
	}
	return ca, nil
}

// createKeptCA makes a new CA (or takes the imported one) and stores it in
// a new Secret in one write.
func (r *ClusterIssuerReconciler) createKeptCA(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, params *certsmithv1alpha1.GeneratedCA, parent *parentCA, imported *pki.CA) (*pki.CA, time.Duration, error) {
	ca := imported
	if ca == nil {
		var parentCert *pki.CA
		if parent != nil {
			parentCert = parent.ca
		}
		var err error
		if ca, err = r.newCA(issuer, params, parentCert); err != nil {
			return nil, 0, err
		}
	}
	state := &caState{active: ca, signedUntil: map[string]time.Time{}, retireAfter: map[string]time.Time{}}
	if parent != nil {
		state.bundle = parent.bundle
	} else {
		state.bundle = pki.EncodeCertificatesPEM(trustAnchors(ca)...)
	}
	data, err := state.data()
	if err != nil {
		return nil, 0, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      caSecretName(issuer),
			Namespace: r.Namespace,
			Labels: map[string]string{
				certsmithv1alpha1.LabelManagedBy:     certsmithv1alpha1.ManagedByValue,
				certsmithv1alpha1.LabelClusterIssuer: issuer.Name,
			},
		},
		Type: corev1.SecretTypeTLS,
		Data: data,
	}
	if err := r.Create(ctx, secret); err != nil {
		// AlreadyExists: a cache that lags behind our own earlier create;
		// the retry reads what is there instead of making a second CA.
		return nil, 0, fmt.Errorf("creating CA Secret %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	issuer.Status.TrustedCAs = trustedCAs(state)
	if imported != nil {
		return ca, ca.Certificate.NotAfter.Sub(r.Clock.Now()) + time.Second, nil
	}
	logf.FromContext(ctx).Info("generated CA", "clusterIssuer", issuer.Name, "subject", ca.Certificate.Subject.String(),
		"notAfter", ca.Certificate.NotAfter, "fingerprintSHA256", pki.FingerprintSHA256(ca.Certificate))
	r.Recorder.Eventf(issuer, nil, corev1.EventTypeNormal, certsmithv1alpha1.ReasonCAGenerated, "GenerateCA",
		"Generated CA %q (SHA-256 %s), valid until %s", ca.Certificate.Subject, pki.FingerprintSHA256(ca.Certificate),
		ca.Certificate.NotAfter.UTC().Format(time.RFC3339))
	return ca, max(caRenewalTime(issuer, ca.Certificate).Sub(r.Clock.Now()), 0) + time.Second, nil
}

// signedMarks records, before a certificate is released, the latest
// notAfter each generated CA may have signed, so a retiring CA stays
// trusted until that has passed — hand-made CSRs included. To keep writes
// rare the mark is set with headroom: a tenth of the certificate's lifetime,
// at least a minute, at most a day.
type signedMarks struct {
	mu sync.Mutex
	// written remembers the marks this process wrote, so that a cache that
	// has not seen the last write does not cause a second, conflicting one.
	written map[string]time.Time
}

// record raises the mark for ca (the active CA of issuer) to cover notAfter.
func (m *signedMarks) record(ctx context.Context, c client.Client, reader client.Reader, namespace string, issuer *certsmithv1alpha1.ClusterIssuer, ca *x509.Certificate, notBefore, notAfter time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fp := pki.FingerprintSHA256(ca)
	if !notAfter.After(m.written[fp]) {
		return nil
	}
	key := types.NamespacedName{Namespace: namespace, Name: caSecretName(issuer)}
	first := true
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		secret := &corev1.Secret{}
		var err error
		if first {
			err = c.Get(ctx, key, secret)
		} else {
			err = reader.Get(ctx, key, secret)
		}
		first = false
		if err != nil {
			return err
		}
		marks := parseTimes(secret.Annotations[annotationSignedUntil])
		if !notAfter.After(marks[fp]) {
			return nil
		}
		headroom := min(max(notAfter.Sub(notBefore)/10, time.Minute), 24*time.Hour)
		mark := notAfter.Add(headroom)
		if mark.After(ca.NotAfter) {
			mark = ca.NotAfter
		}
		updated := secret.DeepCopy()
		marks[fp] = mark
		if updated.Annotations == nil {
			updated.Annotations = map[string]string{}
		}
		updated.Annotations[annotationSignedUntil] = formatTimes(marks)
		if err := c.Patch(ctx, updated, client.MergeFromWithOptions(secret, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		if m.written == nil {
			m.written = map[string]time.Time{}
		}
		m.written[fp] = mark
		return nil
	})
}
