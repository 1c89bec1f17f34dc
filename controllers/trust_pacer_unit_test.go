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
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// TestTrustRefreshPacer: when an issuer's bundle changes, its
// certificates refresh ca.crt at no more than the rate per second (after
// a first second's burst), each at a turn it keeps until it comes back;
// another issuer's certificates do not wait for them.
func TestTrustRefreshPacer(t *testing.T) {
	const certificates, perSecond = 1000, 20
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	p := newTrustRefreshPacer()
	key := func(i int) types.NamespacedName {
		return types.NamespacedName{Namespace: "shop", Name: fmt.Sprintf("cert-%04d", i)}
	}
	bySecond := map[int]int{}
	turns := map[int]time.Duration{}
	for i := range certificates {
		wait := p.wait(key(i), "corp", perSecond, now)
		turns[i] = wait
		bySecond[int(wait/time.Second)]++
	}
	if bySecond[0] > 2*perSecond {
		t.Fatalf("%d refreshes in the first second, want at most %d", bySecond[0], 2*perSecond)
	}
	for second, n := range bySecond {
		if second > 0 && n > perSecond {
			t.Fatalf("%d refreshes in second %d, want at most %d", n, second, perSecond)
		}
	}
	last := turns[certificates-1]
	if want := time.Duration(certificates-perSecond) * time.Second / perSecond; last < want-time.Second || last > want+time.Second {
		t.Fatalf("the last turn is %s after the change, want about %s", last, want)
	}
	if other := p.wait(types.NamespacedName{Namespace: "shop", Name: "other"}, "another-issuer", perSecond, now); other != 0 {
		t.Fatalf("a certificate of another issuer waits %s", other)
	}

	// Coming back early: the rest of its turn, not a new one at the end.
	i := certificates / 2
	if got := p.wait(key(i), "corp", perSecond, now.Add(turns[i]/2)); got != turns[i]-turns[i]/2 {
		t.Fatalf("back halfway to its turn: wait %s, want %s", got, turns[i]-turns[i]/2)
	}
	// At its turn: it goes; a write that failed goes again at once, not
	// at the end of the queue; done, the turn is given up.
	for try := range 2 {
		if got := p.wait(key(i), "corp", perSecond, now.Add(turns[i])); got != 0 {
			t.Fatalf("at its turn (try %d): wait %s", try+1, got)
		}
	}
	p.forget(key(i))
	if _, held := p.turns[key(i)]; held {
		t.Fatal("a used turn is still held")
	}
	p.forget(key(certificates - 1))
	if _, held := p.turns[key(certificates-1)]; held {
		t.Fatal("a deleted certificate's turn is still held")
	}

	var none *trustRefreshPacer
	if none.wait(key(0), "corp", perSecond, now) != 0 || p.wait(key(0), "corp", 0, now) != 0 {
		t.Fatal("a nil pacer or no rate paces")
	}
}

// TestKeepPacesTrustRefreshes drives keep: when the issuer's bundle
// changes, its certificates refresh ca.crt (a Secret write, and status) a
// second's worth at once and the rest at their turns, each writing
// nothing before it.
func TestKeepPacesTrustRefreshes(t *testing.T) {
	const certificates = 50
	ctx := context.Background()
	ca := scTestCA(t, "corp root", scTestNow.Add(-time.Hour))
	next := scTestCA(t, "corp root 2", scTestNow.Add(-time.Hour))
	patches := 0
	builder := fake.NewClientBuilder().WithScheme(scTestScheme(t)).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if _, ok := obj.(*corev1.Secret); ok {
				patches++
			}
			return c.Patch(ctx, obj, patch, opts...)
		}})
	type one struct {
		sc *certsmithv1alpha1.ServiceCertificate
		o  *observed
	}
	var all []one
	builds := &ServiceCertificateReconciler{Client: fake.NewClientBuilder().WithScheme(scTestScheme(t)).Build()}
	for i := range certificates {
		sc := scTestCertificate(nil)
		sc.Name, sc.UID = fmt.Sprintf("web-%02d", i), types.UID(fmt.Sprintf("uid-web-%02d", i))
		sc.Status.SecretName = sc.Name + "-tls"
		req := scTestRequest(t, sc)
		issued := scTestIssued(t, sc, req, ca, scTestNow, 90*24*time.Hour)
		o := scTestObserved(sc, req, ca, issued)
		stored, err := builds.desiredSecret(ctx, sc, issued.secret,
			&certificateMaterial{chain: issued.chain, chainPEM: issued.secret.Data[corev1.TLSCertKey], key: issued.key, keyPEM: issued.secret.Data[corev1.TLSPrivateKeyKey]},
			o.ca.bundle, nil)
		if err != nil {
			t.Fatal(err)
		}
		stored.ResourceVersion = ""
		builder = builder.WithObjects(stored)
		o.issued = decodeSecret(stored)
		// The issuer's bundle now holds the next CA too.
		o.ca = &signingCA{CA: ca, bundle: pki.EncodeCertificatesPEM(ca.Certificate, next.Certificate)}
		sc.Status.CAFingerprintsSHA256 = fingerprints(pki.EncodeCertificatesPEM(ca.Certificate))
		all = append(all, one{sc, o})
	}
	c := builder.Build()
	r := &ServiceCertificateReconciler{Client: c, APIReader: c, keys: newPendingKeys(), trustPacer: newTrustRefreshPacer()}
	d := decision{action: actionKeep, renewalTime: scTestNow.Add(30 * 24 * time.Hour)}
	refreshed, latest := 0, time.Duration(0)
	for _, x := range all {
		// The cached Secret as read before this reconcile: its resourceVersion.
		current := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: x.sc.Namespace, Name: x.sc.Status.SecretName}, current); err != nil {
			t.Fatal(err)
		}
		x.o.issued = decodeSecret(current)
		before := patches
		res, err := r.keep(ctx, x.sc, x.o, d, scTestNow)
		if err != nil {
			t.Fatal(err)
		}
		if res.RequeueAfter < time.Hour {
			// Waiting for its turn: nothing written, status unchanged.
			if patches != before || len(x.sc.Status.CAFingerprintsSHA256) != 1 {
				t.Fatalf("%s waits %s but wrote %d Secrets, status fingerprints %v", x.sc.Name, res.RequeueAfter, patches-before, x.sc.Status.CAFingerprintsSHA256)
			}
			latest = max(latest, res.RequeueAfter)
			continue
		}
		if patches != before+1 || len(x.sc.Status.CAFingerprintsSHA256) != 2 {
			t.Fatalf("%s refreshed with %d Secret writes, status fingerprints %v", x.sc.Name, patches-before, x.sc.Status.CAFingerprintsSHA256)
		}
		refreshed++
	}
	if refreshed != defaultMaxReissueRate {
		t.Fatalf("%d refreshed at once, want a second's worth, %d", refreshed, defaultMaxReissueRate)
	}
	if want := time.Duration(certificates-defaultMaxReissueRate) * time.Second / defaultMaxReissueRate; latest < want-time.Second || latest > want+time.Second {
		t.Fatalf("the last turn is in %s, want about %s", latest, want)
	}
}

// TestIssuerChangesThatWakeCertificates: a rotation's publishing progress
// (its counters and the Rotating condition, written every poll) does not
// wake the issuer's certificates; what they read of the issuer does.
func TestIssuerChangesThatWakeCertificates(t *testing.T) {
	base := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "corp", ResourceVersion: "1"},
		Status: certsmithv1alpha1.ClusterIssuerStatus{Rotation: &certsmithv1alpha1.RotationStatus{Phase: certsmithv1alpha1.RotationPublishing, Unpublished: 900}}}
	wakes := func(edit func(*certsmithv1alpha1.ClusterIssuer)) bool {
		after := base.DeepCopy()
		after.ResourceVersion = "2"
		edit(after)
		return issuerChangedForCertificates().Update(event.UpdateEvent{ObjectOld: base, ObjectNew: after})
	}
	for name, edit := range map[string]func(*certsmithv1alpha1.ClusterIssuer){
		"fewer paths unpublished": func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Status.Rotation.Unpublished, i.Status.Rotation.UnpublishedPaths = 880, []string{"Secret shop/web-tls"}
		},
		"the Rotating condition's message": func(i *certsmithv1alpha1.ClusterIssuer) {
			meta.SetStatusCondition(&i.Status.Conditions, metav1.Condition{Type: certsmithv1alpha1.ConditionRotating, Status: metav1.ConditionTrue, Reason: "Publishing", Message: "880 paths"})
		},
	} {
		if wakes(edit) {
			t.Errorf("%s wakes every certificate of the issuer", name)
		}
	}
	now := metav1.Now()
	for name, edit := range map[string]func(*certsmithv1alpha1.ClusterIssuer){
		"the switch": func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Status.Rotation.Phase, i.Status.Rotation.SwitchedAt = certsmithv1alpha1.RotationRetiring, &now
		},
		"the re-issue window": func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Status.Rotation.ReissueWindow = &metav1.Duration{Duration: time.Minute}
		},
		"the Ready condition": func(i *certsmithv1alpha1.ClusterIssuer) {
			meta.SetStatusCondition(&i.Status.Conditions, metav1.Condition{Type: certsmithv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "X"})
		},
		"the spec": func(i *certsmithv1alpha1.ClusterIssuer) { i.Generation++ },
	} {
		if !wakes(edit) {
			t.Errorf("%s does not wake the issuer's certificates", name)
		}
	}
}
