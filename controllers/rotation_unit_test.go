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
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/ca"
	"github.com/certsmith/certsmith/internal/pki"
)

// TestRotationRetiresOnLiveMarks: before a CA leaves the bundle the
// controller reads the signer's marks from the API server, so a mark the
// cache has not seen yet (a certificate the signer released a moment ago)
// keeps the CA; with the cache alone it would have retired.
func TestRotationRetiresOnLiveMarks(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	old, current := unitRootCA(t, "old"), unitRootCA(t, "current")
	oldFP := pki.FingerprintSHA256(old.Certificate)
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "live"},
		Spec:   certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}}},
		Status: certsmithv1alpha1.ClusterIssuerStatus{Rotation: &certsmithv1alpha1.RotationStatus{Phase: certsmithv1alpha1.RotationRetiring}}}
	set := &ca.Set{Active: current, Retiring: []*x509.Certificate{old.Certificate}, RetiringChains: []*x509.Certificate{old.Certificate},
		Bundle: []*x509.Certificate{current.Certificate, old.Certificate}, RetireAfter: map[string]time.Time{oldFP: now.Add(-time.Hour)}}
	data, annotations, err := set.Encode()
	if err != nil {
		t.Fatal(err)
	}
	caSecret := func() *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "live-ca", Namespace: unitOperatorNamespace,
			Labels: map[string]string{certsmithv1alpha1.LabelClusterIssuer: "live"}}, Type: corev1.SecretTypeTLS, Data: data}
		setAnnotations(&s.ObjectMeta, annotations)
		return s
	}
	record := func(mark time.Time) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "live-signed-until", Namespace: unitOperatorNamespace,
			Labels:      map[string]string{certsmithv1alpha1.LabelSignedUntil: "live"},
			Annotations: map[string]string{ca.AnnotationSignedUntil: ca.EncodeMarks(map[string]time.Time{oldFP: mark})}}}
	}
	withIndex := func(objects ...client.Object) client.Client {
		return unitFakeClientBuilder(t, objects...).WithIndex(&certsmithv1alpha1.ClusterIssuer{}, indexIssuerParent, func(obj client.Object) []string {
			if ref := obj.(*certsmithv1alpha1.ClusterIssuer).Spec.CA.IssuerRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		}).WithIndex(&certsmithv1alpha1.ServiceCertificate{}, indexCertificateIssuer, func(obj client.Object) []string {
			return []string{obj.(*certsmithv1alpha1.ServiceCertificate).Spec.IssuerRef.Name}
		}).Build()
	}
	for _, tc := range []struct {
		name       string
		live       bool
		wantKeeps  bool
		wantEvents int
	}{
		{"cache only: the stale mark retires it", false, false, 2},
		{"marks read live: the new mark keeps it", true, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cached := withIndex(caSecret(), record(now.Add(-time.Minute)), issuer.DeepCopy())
			r := &ClusterIssuerReconciler{Client: cached, Clock: clocktesting.NewFakeClock(now), Recorder: events.NewFakeRecorder(10), Namespace: unitOperatorNamespace}
			if tc.live {
				r.APIReader = withIndex(caSecret(), record(now.Add(time.Hour)), issuer.DeepCopy())
			}
			got := issuer.DeepCopy()
			if _, _, err := r.reconcileKeptCA(ctx, got, caSource{kind: ca.KindRoot, params: got.Spec.CA.SelfSigned}); err != nil {
				t.Fatal(err)
			}
			stored := &corev1.Secret{}
			if err := cached.Get(ctx, caSecretKey(got, unitOperatorNamespace), stored); err != nil {
				t.Fatal(err)
			}
			bundle := fingerprints(stored.Data[ca.KeyBundle])
			keeps := len(bundle) == 2 && len(got.Status.TrustedCAs) == 2
			if keeps != tc.wantKeeps {
				t.Fatalf("old CA kept: %v (bundle %v, trusted %d), want %v", keeps, bundle, len(got.Status.TrustedCAs), tc.wantKeeps)
			}
			if n := len(r.Recorder.(*events.FakeRecorder).Events); n != tc.wantEvents {
				t.Fatalf("%d Events, want %d (CARetired, RotationComplete)", n, tc.wantEvents)
			}
		})
	}
}

// TestRotationCoverageByAnchor: trust paths hold anchors, so an imported
// intermediate renewed under the same root is in every path already; a new
// root is in none until distributed.
func TestRotationCoverageByAnchor(t *testing.T) {
	root := unitRootCA(t, "corp-root")
	next := unitIntermediateCA(t, root, "corp-issuing-2")
	newRoot := unitRootCA(t, "corp-root-2")
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "imp"},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{Bundle: &certsmithv1alpha1.BundleSpec{}},
		Status: certsmithv1alpha1.ClusterIssuerStatus{Bundle: &certsmithv1alpha1.BundleStatus{
			FingerprintsSHA256: []string{pki.FingerprintSHA256(root.Certificate)}, Namespaces: 5, UpToDate: 5}}}
	for _, tc := range []struct {
		name        string
		next        *pki.CA
		unpublished int
	}{
		{"an intermediate under the distributed root", next, 0},
		{"a new root", newRoot, 5},
	} {
		var c ca.Coverage
		observeBundleStatus(issuer, issuer.Status.Bundle, nextAnchorFingerprint(tc.next), &c)
		if c.Unpublished != tc.unpublished {
			t.Errorf("%s: %d unpublished paths (%+v), want %d", tc.name, c.Unpublished, c, tc.unpublished)
		}
	}
}

// TestRotationStretchesReissueWindow: at the switch the issuer's
// certificates are counted once and the re-issue window stretched so
// that at most maxReissueRate are re-issued per second on average; the
// turns the certificates then get never crowd one second far above that
// rate (a rotation of 10,000 certificates is not a storm of writes).
func TestRotationStretchesReissueWindow(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	const leaves = 10000
	objects := []client.Object{}
	for i := range leaves + 50 {
		issuerName := "big"
		if i >= leaves {
			issuerName = "other" // not counted
		}
		objects = append(objects, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%d", i%10), Name: fmt.Sprintf("cert-%05d", i)},
			Spec:       certsmithv1alpha1.ServiceCertificateSpec{IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuerName}}})
	}
	lists := 0
	c := fake.NewClientBuilder().WithScheme(unitScheme(t)).WithObjects(objects...).
		WithIndex(&certsmithv1alpha1.ServiceCertificate{}, indexCertificateIssuer, func(obj client.Object) []string {
			return []string{obj.(*certsmithv1alpha1.ServiceCertificate).Spec.IssuerRef.Name}
		}).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			lists++
			return c.List(ctx, list, opts...)
		}}).Build()
	r := &ClusterIssuerReconciler{Client: c, Clock: clocktesting.NewFakeClock(now), Namespace: unitOperatorNamespace}
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "big"},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{Rotation: &certsmithv1alpha1.RotationSpec{ReissueWindow: &metav1.Duration{Duration: time.Minute}}}}

	publishing := &ca.Rotation{Phase: ca.PhasePublishing, StartedAt: now}
	if err := r.stretchReissueWindow(ctx, issuer, publishing); err != nil || publishing.ReissueWindow != 0 || lists != 0 {
		t.Fatalf("before the switch: %v, window %s, %d lists; want nothing done", err, publishing.ReissueWindow, lists)
	}
	switched := &ca.Rotation{Phase: ca.PhaseRetiring, StartedAt: now.Add(-time.Hour), SwitchedAt: now}
	if err := r.stretchReissueWindow(ctx, issuer, switched); err != nil {
		t.Fatal(err)
	}
	// 10,000 at the default 20 per second: 500 s, not the spec's 1m.
	if want := leaves * time.Second / defaultMaxReissueRate; switched.ReissueWindow != want {
		t.Fatalf("stretched window %s, want %s", switched.ReissueWindow, want)
	}
	if err := r.stretchReissueWindow(ctx, issuer, switched); err != nil || lists != 1 {
		t.Fatalf("%v; %d lists: the certificates are counted once per switch", err, lists)
	}
	status := rotationStatus(switched)
	if status.ReissueWindow == nil || status.ReissueWindow.Duration != switched.ReissueWindow || coreRotation(status).ReissueWindow != switched.ReissueWindow {
		t.Fatalf("status.rotation.reissueWindow %v does not carry %s", status.ReissueWindow, switched.ReissueWindow)
	}

	// The turns the certificates get from the recorded window.
	issuer.Status.Rotation = status
	perSecond := map[int64]int{}
	for i := range leaves {
		in := rotationOf(issuer, nil, fmt.Sprintf("ns-%d/cert-%05d", i%10, i))
		share := pki.JitterFraction(in.spreadSeed) / pki.MaxJitterFraction
		turn := in.switchedAt.Add(time.Duration(share * float64(in.reissueWindow)))
		perSecond[turn.Unix()]++
	}
	busiest := 0
	for _, n := range perSecond {
		busiest = max(busiest, n)
	}
	// A hash spreads the turns like a uniform draw: 20 a second on average,
	// and the busiest of 500 seconds well under twice that.
	if busiest > 2*defaultMaxReissueRate {
		t.Fatalf("%d re-issues due in one second, want at most %d", busiest, 2*defaultMaxReissueRate)
	}
	t.Logf("10,000 certificates over %s: %d seconds with a turn, the busiest with %d", switched.ReissueWindow, len(perSecond), busiest)

	issuer.Spec.Rotation.MaxReissueRate = ptr.To[int32](1000)
	fast := &ca.Rotation{Phase: ca.PhaseRetiring, SwitchedAt: now}
	if err := r.stretchReissueWindow(ctx, issuer, fast); err != nil || fast.ReissueWindow != time.Minute {
		t.Fatalf("%v; window %s: 10,000 at 1,000 a second fit in the spec's 1m", err, fast.ReissueWindow)
	}
}

// TestRotationPublishDeadlineCoversPacedRefreshes: a rotation that may
// start gets a publish deadline long enough for the ca.crt refreshes of
// the issuer's certificates at maxReissueRate (twice that, and a minute),
// never shorter than the spec's; one under way keeps its own.
func TestRotationPublishDeadlineCoversPacedRefreshes(t *testing.T) {
	ctx := context.Background()
	objects := []client.Object{}
	for i := range 3000 {
		objects = append(objects, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("cert-%04d", i)},
			Spec:       certsmithv1alpha1.ServiceCertificateSpec{IssuerRef: certsmithv1alpha1.IssuerReference{Name: "big"}}})
	}
	c := fake.NewClientBuilder().WithScheme(unitScheme(t)).WithObjects(objects...).
		WithIndex(&certsmithv1alpha1.ServiceCertificate{}, indexCertificateIssuer, func(obj client.Object) []string {
			return []string{obj.(*certsmithv1alpha1.ServiceCertificate).Spec.IssuerRef.Name}
		}).Build()
	r := &ClusterIssuerReconciler{Client: c}
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "big"}}
	quiet := &ca.Observed{Spec: ca.Spec{Kind: ca.KindRoot, PublishDeadline: 10 * time.Minute}, Stored: &ca.Set{}}
	if err := r.pacePublishDeadline(ctx, issuer, quiet); err != nil {
		t.Fatal(err)
	}
	// 3,000 at 20 a second: 150 s, twice that and a minute.
	if want := 2*150*time.Second + time.Minute; quiet.Spec.PublishDeadline != 10*time.Minute || want > 10*time.Minute {
		t.Fatalf("deadline %s: the spec's 10m already covers %s", quiet.Spec.PublishDeadline, want)
	}
	issuer.Spec.Rotation = &certsmithv1alpha1.RotationSpec{MaxReissueRate: ptr.To[int32](2)}
	if err := r.pacePublishDeadline(ctx, issuer, quiet); err != nil {
		t.Fatal(err)
	}
	// At 2 a second: 1,500 s; twice that and a minute.
	if want := 2*1500*time.Second + time.Minute; quiet.Spec.PublishDeadline != want {
		t.Fatalf("deadline %s, want %s", quiet.Spec.PublishDeadline, want)
	}
	publishing := &ca.Observed{Spec: ca.Spec{Kind: ca.KindRoot, PublishDeadline: 10 * time.Minute}, Stored: &ca.Set{Next: &pki.CA{}}}
	if err := r.pacePublishDeadline(ctx, issuer, publishing); err != nil || publishing.Spec.PublishDeadline != 10*time.Minute {
		t.Fatalf("%v; deadline %s: a rotation under way keeps the deadline it started with", err, publishing.Spec.PublishDeadline)
	}
}
