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
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/ca"
	"github.com/certsmith/certsmith/internal/pki"
)

// This file is the thin controller around internal/ca: it observes what
// the CA lifecycle decides from, calls ca.Plan, and writes the CA Secret
// once and the issuer's status (in the deferred status write of Reconcile).

// Defaults of spec.rotation.
const (
	defaultPropagationDelay = 2 * time.Minute
	defaultReissueWindow    = 5 * time.Minute
	// defaultMaxReissueRate is the re-issues per second a rotation's
	// window is stretched to at most, on average.
	defaultMaxReissueRate  = 20
	defaultPublishDeadline = 10 * time.Minute
)

// caSource is where an issuer's CA comes from: generated (with params, and
// a parent for an intermediate) or imported.
type caSource struct {
	kind     ca.Kind
	params   *certsmithv1alpha1.GeneratedCA
	parent   *ca.Parent
	imported *pki.CA
}

// planEventReasons are the Event reasons of the core's actions.
var planEventReasons = map[ca.Action]string{
	ca.ActionGenerated:       certsmithv1alpha1.ReasonCAGenerated,
	ca.ActionRotationStarted: certsmithv1alpha1.ReasonRotationStarted,
	ca.ActionPublished:       certsmithv1alpha1.ReasonBundlePublished,
	ca.ActionPathsSkipped:    certsmithv1alpha1.ReasonTrustPathsSkipped,
	ca.ActionSwitched:        certsmithv1alpha1.ReasonCASwitched,
	ca.ActionRetired:         certsmithv1alpha1.ReasonCARetired,
	ca.ActionCompleted:       certsmithv1alpha1.ReasonRotationComplete,
}

// reconcileKeptCA keeps the CA an issuer signs with, in its Secret in the
// operator's namespace: observe, plan (internal/ca), write the Secret once
// when anything changed, report in status, emit the plan's Events. It
// returns the active CA and when to look again.
func (r *ClusterIssuerReconciler) reconcileKeptCA(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, src caSource) (*pki.CA, time.Duration, error) {
	secret, observed, err := r.observeCA(ctx, issuer, src, r.Client)
	if err != nil {
		return nil, 0, err
	}
	if err := r.pacePublishDeadline(ctx, issuer, observed); err != nil {
		return nil, 0, err
	}
	maker := func(parent *pki.CA) (*pki.CA, error) { return r.newCA(issuer, src.params, parent) }
	result, err := ca.Plan(*observed, maker)
	if err != nil {
		return nil, 0, err
	}
	if slices.Contains(result.Actions(), ca.ActionRetired) && r.APIReader != nil {
		// A CA leaves the bundle: decide on the signer's marks as the API
		// server has them, not as the cache may (a mark raised a moment ago
		// keeps it). The signer writes its marks before it releases a
		// certificate, so what it released is in what this reads.
		if secret, observed, err = r.observeCA(ctx, issuer, src, r.APIReader); err != nil {
			return nil, 0, err
		}
		if result, err = ca.Plan(*observed, maker); err != nil {
			return nil, 0, err
		}
	}
	if err := r.stretchReissueWindow(ctx, issuer, result.Rotation); err != nil {
		return nil, 0, err
	}
	if err := r.writeCASecret(ctx, issuer, secret, result); err != nil {
		return nil, 0, err
	}
	if result.Created && src.kind != ca.KindImported {
		cert := result.Set.Active.Certificate
		logf.FromContext(ctx).Info("generated CA", "clusterIssuer", issuer.Name, "subject", cert.Subject.String(),
			"notAfter", cert.NotAfter, "fingerprintSHA256", pki.FingerprintSHA256(cert))
	}
	for _, event := range result.Events {
		eventType, action := corev1.EventTypeNormal, "Rotate"
		if event.Warning {
			eventType = corev1.EventTypeWarning
		}
		if event.Action == ca.ActionGenerated {
			action = "GenerateCA"
		}
		r.Recorder.Eventf(issuer, nil, eventType, planEventReasons[event.Action], action, "%s", event.Message)
	}
	issuer.Status.Rotation = rotationStatus(result.Rotation)
	issuer.Status.TrustedCAs = trustedCAs(result.Set)
	setRotatingCondition(issuer, issuer.Status.Rotation)
	return result.Set.Active, result.Requeue, nil
}

// observeCA gathers what the plan decides from: the stored set (nil
// secret: none yet), the signer's marks, the rotation status, the trust
// paths lacking a next CA, and the CAs of the issuers below. The signer's
// marks (its own and its children's) are read through marks: the cache, or
// the API server before a CA retires.
func (r *ClusterIssuerReconciler) observeCA(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, src caSource, marks client.Reader) (*corev1.Secret, *ca.Observed, error) {
	observed := &ca.Observed{Now: r.Clock.Now(), Spec: caSpec(issuer, src.kind), Rotation: coreRotation(issuer.Status.Rotation),
		Parent: src.parent, Imported: src.imported}
	key := caSecretKey(issuer, r.Namespace)
	secret := &corev1.Secret{}
	if err := r.Get(ctx, key, secret); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("reading CA Secret %s: %w", key, err)
		}
		return nil, observed, nil
	}
	if owner := secret.Labels[certsmithv1alpha1.LabelClusterIssuer]; owner != issuer.Name {
		return nil, nil, terminal(certsmithv1alpha1.ReasonCASecretInvalid, fmt.Sprintf(
			"Secret %s exists but does not belong to this issuer (label %s=%q); remove it or rename the issuer",
			key, certsmithv1alpha1.LabelClusterIssuer, owner))
	}
	stored, err := ca.Decode(secret.Data, secret.Annotations)
	if err != nil {
		r.Recorder.Eventf(issuer, nil, corev1.EventTypeWarning, certsmithv1alpha1.ReasonCASecretInvalid, "LoadCA",
			"CA Secret %s is unusable: %v; delete it to have a new CA generated", key, err)
		return nil, nil, terminal(certsmithv1alpha1.ReasonCASecretInvalid, fmt.Sprintf("%v; delete the Secret to have a new CA generated", err))
	}
	observed.Stored = stored
	if observed.SignedUntil, err = readSignedUntil(ctx, marks, r.Namespace, issuer); err != nil {
		return nil, nil, err
	}
	if stored.Next != nil && (issuer.Status.Rotation == nil || issuer.Status.Rotation.PublishedAt == nil ||
		issuer.Status.Rotation.Phase != certsmithv1alpha1.RotationPublishing) {
		observed.Coverage = &ca.Coverage{}
		if err := r.observeTrust(ctx, issuer, nextAnchorFingerprint(stored.Next), 0, map[string]bool{}, observed.Coverage); err != nil {
			return nil, nil, err
		}
	}
	if len(stored.Retiring) > 0 {
		observed.Children = r.childCAs(ctx, issuer.Name, 0, marks)
	}
	return secret, observed, nil
}

// nextAnchorFingerprint is what a trust path must hold for the next CA:
// the fingerprint of its trust anchor. Bundles hold anchors, not the CAs
// below them: the next CA itself for a root, its root for an imported
// intermediate (often the root the paths already hold).
func nextAnchorFingerprint(next *pki.CA) string {
	return pki.FingerprintSHA256(pki.TrustAnchors(next)[0])
}

// caSpec is what the issuer's spec says about its CA, for the core.
func caSpec(issuer *certsmithv1alpha1.ClusterIssuer, kind ca.Kind) ca.Spec {
	spec := ca.Spec{Kind: kind, JitterSeed: issuer.Name, PublishDeadline: publishDeadline(issuer), PropagationDelay: propagationDelay(issuer)}
	if kind != ca.KindImported {
		spec.RotateRequest = issuer.Annotations[certsmithv1alpha1.AnnotationRotateRequestedAt]
	}
	if params := generatedCAParams(issuer); params != nil && params.RenewBefore != nil {
		spec.RenewBefore = params.RenewBefore.Duration
	}
	return spec
}

// writeCASecret stores the plan's set: a new Secret, or one merge patch
// (optimistic lock) when anything changed.
func (r *ClusterIssuerReconciler) writeCASecret(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, secret *corev1.Secret, result *ca.Result) error {
	data, annotations, err := result.Set.Encode()
	if err != nil {
		return err
	}
	key := caSecretKey(issuer, r.Namespace)
	if secret == nil {
		created := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: map[string]string{
				certsmithv1alpha1.LabelManagedBy:     certsmithv1alpha1.ManagedByValue,
				certsmithv1alpha1.LabelClusterIssuer: issuer.Name,
			}},
			Type: corev1.SecretTypeTLS,
			Data: data,
		}
		setAnnotations(&created.ObjectMeta, annotations)
		// AlreadyExists: a cache that lags behind our own earlier create;
		// the retry reads what is there instead of making a second CA.
		if err := r.Create(ctx, created); err != nil {
			return fmt.Errorf("creating CA Secret %s: %w", key, err)
		}
		return nil
	}
	updated := secret.DeepCopy()
	updated.Data = data
	setAnnotations(&updated.ObjectMeta, annotations)
	if secretUnchanged(secret, updated) {
		return nil
	}
	if err := r.Patch(ctx, updated, client.MergeFromWithOptions(secret, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("updating CA Secret %s: %w", key, err)
	}
	return nil
}

// setAnnotations sets each annotation, removing those whose value is empty.
func setAnnotations(meta *metav1.ObjectMeta, values map[string]string) {
	for k, v := range values {
		switch {
		case v != "":
			if meta.Annotations == nil {
				meta.Annotations = map[string]string{}
			}
			meta.Annotations[k] = v
		case meta.Annotations != nil:
			delete(meta.Annotations, k)
		}
	}
}

// childCAs returns the CA sets of the issuers below issuerName (bounded
// depth), as far as retirement needs them: certificates and marks only.
func (r *ClusterIssuerReconciler) childCAs(ctx context.Context, issuerName string, depth int, marksReader client.Reader) []ca.Child {
	if depth > maxIssuerDepth {
		return nil
	}
	var children certsmithv1alpha1.ClusterIssuerList
	if err := r.List(ctx, &children, client.MatchingFields{indexIssuerParent: issuerName}); err != nil {
		// Unknown children: keep every retiring CA, as if one were in use.
		return []ca.Child{{Unknown: true}}
	}
	var out []ca.Child
	for i := range children.Items {
		child := &children.Items[i]
		secret := &corev1.Secret{}
		if err := r.Get(ctx, caSecretKey(child, r.Namespace), secret); err != nil {
			if apierrors.IsNotFound(err) {
				continue // no CA yet: it signs under nothing
			}
			return []ca.Child{{Unknown: true}}
		}
		certs, err := pki.ParseCertificatesPEM(secret.Data[corev1.TLSCertKey])
		if err != nil {
			// What it signs under cannot be told: keep every retiring CA.
			return []ca.Child{{Unknown: true}}
		}
		retiring, _ := pki.ParseCertificatesPEM(secret.Data[ca.KeyRetiring])
		marks, err := readSignedUntil(ctx, marksReader, r.Namespace, child)
		if err != nil {
			// Unknown marks: keep every retiring CA, as if one were in use.
			return []ca.Child{{Unknown: true}}
		}
		for _, m := range []map[string]time.Time{ca.DecodeMarks(secret.Annotations[ca.AnnotationRetireAfter]),
			ca.DecodeMarks(secret.Annotations[ca.AnnotationSignedUntil])} {
			for fp, t := range m {
				if t.After(marks[fp]) {
					marks[fp] = t
				}
			}
		}
		entry := ca.Child{Active: certs[0], Retiring: retiring, Marks: marks}
		if len(retiring) > 0 {
			entry.Children = r.childCAs(ctx, child.Name, depth+1, marksReader)
		}
		out = append(out, entry)
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
	var made *pki.CA
	if parent == nil {
		made = &pki.CA{Key: signer}
		made.Certificate, err = pki.NewSelfSignedCA(signer, pki.CATemplate{Subject: subject, Duration: duration, MaxPathLen: maxPathLen}, now)
	} else {
		made, err = pki.NewIntermediateCA(parent, signer, pki.IntermediateTemplate{Subject: subject, Duration: duration, MaxPathLen: maxPathLen}, now)
	}
	if err != nil {
		return nil, terminal(certsmithv1alpha1.ReasonCASecretInvalid, fmt.Sprintf("creating CA certificate: %v", err))
	}
	return made, nil
}

// caRenewalTime is when a generated CA is due for rotation.
func caRenewalTime(issuer *certsmithv1alpha1.ClusterIssuer, cert *x509.Certificate) time.Time {
	return ca.RenewalTime(cert, caSpec(issuer, ca.KindRoot).RenewBefore, issuer.Name)
}

func propagationDelay(issuer *certsmithv1alpha1.ClusterIssuer) time.Duration {
	if r := issuer.Spec.Rotation; r != nil && r.PropagationDelay != nil {
		return r.PropagationDelay.Duration
	}
	return defaultPropagationDelay
}

// stretchReissueWindow sets, once a rotation has switched, how long its
// re-issuance is spread over: the issuer's reissueWindow, stretched to
// its certificates at maxReissueRate per second. The certificates are
// counted once, at the switch (or when a status from before this field
// is met), from the cache's index without copying them.
func (r *ClusterIssuerReconciler) stretchReissueWindow(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, rotation *ca.Rotation) error {
	if rotation == nil || rotation.Phase != ca.PhaseRetiring || rotation.SwitchedAt.IsZero() || rotation.ReissueWindow != 0 {
		return nil
	}
	leaves, err := r.countCertificates(ctx, issuer)
	if err != nil {
		return err
	}
	rotation.ReissueWindow = ca.StretchedReissueWindow(reissueWindow(issuer), leaves, maxReissueRate(issuer))
	return nil
}

// pacePublishDeadline stretches the publish deadline of a rotation that
// may start in this reconcile to what the ca.crt refreshes of the
// issuer's certificates take at maxReissueRate (trustRefreshPacer): twice
// that, and a minute. Past the deadline a ca.crt not refreshed yet would
// stop holding back the switch, and its workload would not trust peers
// re-issued by the new CA. Once publishing, the deadline is the one in
// status, set when the rotation started.
func (r *ClusterIssuerReconciler) pacePublishDeadline(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, observed *ca.Observed) error {
	if observed.Spec.Kind == ca.KindIntermediate || (observed.Stored != nil && observed.Stored.Next != nil) {
		return nil // an intermediate publishes nothing first; a rotation under way has its deadline
	}
	leaves, err := r.countCertificates(ctx, issuer)
	if err != nil {
		return err
	}
	paced := 2*ca.StretchedReissueWindow(0, leaves, maxReissueRate(issuer)) + time.Minute
	observed.Spec.PublishDeadline = max(observed.Spec.PublishDeadline, paced)
	return nil
}

// countCertificates counts the ServiceCertificates of an issuer, from the
// cache's index and without copying them.
func (r *ClusterIssuerReconciler) countCertificates(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer) (int, error) {
	var leaves certsmithv1alpha1.ServiceCertificateList
	if err := r.Client.List(ctx, &leaves, client.MatchingFields{indexCertificateIssuer: issuer.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return 0, fmt.Errorf("counting the certificates of ClusterIssuer %s: %w", issuer.Name, err)
	}
	return len(leaves.Items), nil
}

// maxReissueRate is spec.rotation.maxReissueRate or its default.
func maxReissueRate(issuer *certsmithv1alpha1.ClusterIssuer) int {
	if r := issuer.Spec.Rotation; r != nil && r.MaxReissueRate != nil {
		return int(*r.MaxReissueRate)
	}
	return defaultMaxReissueRate
}

func reissueWindow(issuer *certsmithv1alpha1.ClusterIssuer) time.Duration {
	if r := issuer.Spec.Rotation; r != nil && r.ReissueWindow != nil {
		return r.ReissueWindow.Duration
	}
	return defaultReissueWindow
}

// publishDeadline is spec.rotation.publishDeadline or its default.
func publishDeadline(issuer *certsmithv1alpha1.ClusterIssuer) time.Duration {
	if r := issuer.Spec.Rotation; r != nil && r.PublishDeadline != nil {
		return r.PublishDeadline.Duration
	}
	return defaultPublishDeadline
}

// trustedCAs describes the CAs of a set for status.
func trustedCAs(set *ca.Set) []certsmithv1alpha1.TrustedCA {
	var out []certsmithv1alpha1.TrustedCA
	for _, m := range set.Members() {
		t := certsmithv1alpha1.TrustedCA{Subject: m.Certificate.Subject.String(), FingerprintSHA256: pki.FingerprintSHA256(m.Certificate),
			NotAfter: metav1.Time{Time: m.Certificate.NotAfter}, Role: string(m.Role)}
		if !m.RetireAfter.IsZero() {
			t.RetireAfter = &metav1.Time{Time: m.RetireAfter}
		}
		out = append(out, t)
	}
	return out
}

// coreRotation converts status.rotation for the core.
func coreRotation(r *certsmithv1alpha1.RotationStatus) *ca.Rotation {
	if r == nil {
		return nil
	}
	return &ca.Rotation{Phase: ca.Phase(r.Phase), StartedAt: timeOf(r.StartedAt), PublishedAt: timeOf(r.PublishedAt),
		SwitchedAt: timeOf(r.SwitchedAt), CompletedAt: timeOf(r.CompletedAt), Deadline: timeOf(r.PublishDeadline),
		LastRequest: r.LastRequest, Unpublished: int(r.Unpublished), Conflicts: int(r.Conflicts),
		UnpublishedPaths: append([]string(nil), r.UnpublishedPaths...), ReissueWindow: durationOf(r.ReissueWindow)}
}

// rotationStatus converts the core's rotation for status.
func rotationStatus(r *ca.Rotation) *certsmithv1alpha1.RotationStatus {
	if r == nil {
		return nil
	}
	out := &certsmithv1alpha1.RotationStatus{Phase: certsmithv1alpha1.RotationPhase(r.Phase), StartedAt: metaTime(r.StartedAt),
		PublishedAt: metaTime(r.PublishedAt), SwitchedAt: metaTime(r.SwitchedAt), CompletedAt: metaTime(r.CompletedAt),
		PublishDeadline: metaTime(r.Deadline), LastRequest: r.LastRequest, Unpublished: int32(r.Unpublished), Conflicts: int32(r.Conflicts)}
	if r.ReissueWindow > 0 {
		out.ReissueWindow = &metav1.Duration{Duration: r.ReissueWindow}
	}
	if len(r.UnpublishedPaths) > 0 {
		out.UnpublishedPaths = append([]string(nil), r.UnpublishedPaths...)
	}
	return out
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &metav1.Time{Time: t}
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

// unpublishedSummary describes the unpublished paths of a rotation in at most room bytes.
func unpublishedSummary(rotation *certsmithv1alpha1.RotationStatus, room int) string {
	return ca.Summary(coreRotation(rotation), room)
}

// durationOf is d's duration, zero for nil.
func durationOf(d *metav1.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.Duration
}
