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

package ca

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certsmith/certsmith/internal/pki"
)

// The tests below drive Plan through whole lifecycles with a stepped clock.
// Every step stores its set through Encode and reads it back with Decode,
// exactly as the controller does through the CA Secret, so every step is
// also a restart: nothing survives between steps but what is stored, the
// rotation status and the signer's marks.

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	caLifetime  = 10 * time.Hour
	renewBefore = 3 * time.Hour
	deadline    = 10 * time.Minute
	delay       = 2 * time.Minute
)

// world is what the controller would observe, kept between steps.
type world struct {
	t        *testing.T
	now      time.Time
	spec     Spec
	stored   *Set
	rotation *Rotation
	marks    map[string]time.Time
	parent   *Parent
	imported *pki.CA
	// coverage is what the trust paths hold of a stored next CA; nil: all.
	coverage *Coverage
	children []Child
	made     []*pki.CA
	last     *Result
}

func newWorld(t *testing.T, kind Kind) *world {
	t.Helper()
	return &world{t: t, now: epoch, marks: map[string]time.Time{},
		spec: Spec{Kind: kind, RenewBefore: renewBefore, JitterSeed: "test", PublishDeadline: deadline, PropagationDelay: delay}}
}

// maker makes CAs at the world's time and remembers them.
func (w *world) maker(parent *pki.CA) (*pki.CA, error) {
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
	if err != nil {
		return nil, err
	}
	subject := pkix.Name{CommonName: fmt.Sprintf("ca-%d", len(w.made))}
	var made *pki.CA
	if parent == nil {
		cert, err := pki.NewSelfSignedCA(key, pki.CATemplate{Subject: subject, Duration: caLifetime, MaxPathLen: -1}, w.now)
		if err != nil {
			return nil, err
		}
		made = &pki.CA{Certificate: cert, Key: key}
	} else if made, err = pki.NewIntermediateCA(parent, key, pki.IntermediateTemplate{Subject: subject, Duration: caLifetime, MaxPathLen: -1}, w.now); err != nil {
		return nil, err
	}
	w.made = append(w.made, made)
	return made, nil
}

// step plans once at the world's time and stores the result.
func (w *world) step() *Result {
	w.t.Helper()
	in := Observed{Now: w.now, Spec: w.spec, Stored: w.stored, Rotation: w.rotation, SignedUntil: w.marks,
		Parent: w.parent, Imported: w.imported, Children: w.children}
	if w.stored != nil && w.stored.Next != nil {
		in.Coverage = &Coverage{}
		if w.coverage != nil {
			in.Coverage = w.coverage
		}
	}
	before := fmt.Sprintf("%+v", in.Rotation)
	result, err := Plan(in, w.maker)
	if err != nil {
		w.t.Fatalf("Plan at +%s: %v", w.now.Sub(epoch), err)
	}
	if after := fmt.Sprintf("%+v", in.Rotation); after != before {
		w.t.Fatalf("Plan changed its input rotation: %s → %s", before, after)
	}
	if result.Requeue <= 0 {
		w.t.Fatalf("Plan at +%s: requeue %s, want > 0", w.now.Sub(epoch), result.Requeue)
	}
	data, annotations, err := result.Set.Encode()
	if err != nil {
		w.t.Fatalf("Encode: %v", err)
	}
	if w.stored, err = Decode(data, annotations); err != nil {
		w.t.Fatalf("Decode: %v", err)
	}
	w.rotation, w.last = result.Rotation, result
	return result
}

// advance steps the clock by d.
func (w *world) advance(d time.Duration) { w.now = w.now.Add(d) }

// advanceTo sets the clock to t.
func (w *world) advanceTo(t time.Time) { w.now = t }

// sign records, as the signer would, a certificate of lifetime d signed now by the active CA.
func (w *world) sign(d time.Duration) time.Time {
	active := w.stored.Active.Certificate
	fp := pki.FingerprintSHA256(active)
	w.marks, _ = RaiseMark(w.marks, fp, w.now.Add(-time.Minute), w.now.Add(d), active.NotAfter, w.stored.Fingerprints())
	return w.marks[fp]
}

func fp(c *x509.Certificate) string { return pki.FingerprintSHA256(c) }

func fps(certs []*x509.Certificate) []string {
	var out []string
	for _, c := range certs {
		out = append(out, fp(c))
	}
	return out
}

func (w *world) expectActions(want ...Action) {
	w.t.Helper()
	if got := w.last.Actions(); !slices.Equal(got, want) {
		w.t.Fatalf("at +%s: actions %v, want %v", w.now.Sub(epoch), got, want)
	}
}

func (w *world) expectPhase(want Phase) {
	w.t.Helper()
	got := Phase("")
	if w.rotation != nil {
		got = w.rotation.Phase
	}
	if got != want {
		w.t.Fatalf("at +%s: phase %q, want %q", w.now.Sub(epoch), got, want)
	}
}

// expectBundle checks the trust bundle holds exactly these anchors.
func (w *world) expectBundle(want ...*x509.Certificate) {
	w.t.Helper()
	got, wantFPs := fps(w.stored.Bundle), fps(want)
	slices.Sort(got)
	slices.Sort(wantFPs)
	if !slices.Equal(got, wantFPs) {
		w.t.Fatalf("at +%s: bundle %v, want %v", w.now.Sub(epoch), got, wantFPs)
	}
}

func (w *world) expectRequeue(want time.Duration) {
	w.t.Helper()
	if w.last.Requeue != want {
		w.t.Fatalf("at +%s: requeue %s, want %s", w.now.Sub(epoch), w.last.Requeue, want)
	}
}

// renewalOf is when the world's spec renews cert.
func (w *world) renewalOf(cert *x509.Certificate) time.Time {
	return RenewalTime(cert, w.spec.RenewBefore, w.spec.JitterSeed)
}

// rotateNow requests a rotation and steps it, with every path holding the
// next CA, through publishing and the propagation delay to the switch.
func (w *world) rotateNow(request string) {
	w.t.Helper()
	w.spec.RotateRequest = request
	w.step()
	w.advance(PublishingPoll)
	w.step()
	w.advance(delay)
	w.step()
	w.expectActions(ActionSwitched)
}

// TestRootLifecycle walks a generated root through create, renewal time,
// Publishing, Retiring and Complete.
func TestRootLifecycle(t *testing.T) {
	w := newWorld(t, KindRoot)
	w.step()
	w.expectActions(ActionGenerated)
	first := w.stored.Active
	w.expectBundle(first.Certificate)
	renewal := w.renewalOf(first.Certificate)
	w.expectRequeue(renewal.Sub(w.now) + time.Second)

	// Quiet until the renewal time: nothing changes, it comes back then.
	w.advance(time.Hour)
	w.step()
	w.expectActions()
	w.expectPhase("")
	w.expectRequeue(renewal.Sub(w.now) + time.Second)

	// Renewal time: Publishing, both anchors in the bundle, the old CA signs.
	w.advanceTo(renewal)
	w.step()
	w.expectActions(ActionRotationStarted)
	w.expectPhase(PhasePublishing)
	next := w.stored.Next
	if next == nil || w.stored.Active.Certificate != first.Certificate && fp(w.stored.Active.Certificate) != fp(first.Certificate) {
		t.Fatalf("after start: active %v next %v", w.stored.Active, next)
	}
	w.expectBundle(first.Certificate, next.Certificate)
	w.expectRequeue(PublishingPoll)
	if w.rotation.Deadline != renewal.Add(deadline).Truncate(time.Second) {
		t.Fatalf("deadline %s", w.rotation.Deadline)
	}

	// The old CA signs until the switch.
	leafMark := w.sign(2 * time.Hour)

	// A trust path lacks the next CA: wait, and say which.
	w.coverage = &Coverage{}
	w.coverage.Add(1, "ConfigMap a/trust", false, true)
	w.advance(PublishingPoll)
	w.step()
	w.expectActions()
	if w.rotation.Unpublished != 1 || !slices.Equal(w.rotation.UnpublishedPaths, []string{"ConfigMap a/trust"}) {
		t.Fatalf("rotation %+v", w.rotation)
	}

	// Every path holds it: published, then the propagation delay.
	w.coverage = nil
	w.advance(PublishingPoll)
	w.step()
	w.expectActions(ActionPublished)
	publishedAt := w.now
	if w.rotation.PublishedAt != publishedAt || w.rotation.Unpublished != 0 {
		t.Fatalf("rotation %+v", w.rotation)
	}
	w.advance(delay - time.Second)
	w.step()
	w.expectActions()
	w.expectRequeue(time.Second)

	// Switch: the next CA signs, the old one retires with its mark frozen.
	w.advance(time.Second)
	w.step()
	w.expectActions(ActionSwitched)
	w.expectPhase(PhaseRetiring)
	if fp(w.stored.Active.Certificate) != fp(next.Certificate) || w.stored.Next != nil {
		t.Fatal("the next CA does not sign after the switch")
	}
	if got := fps(w.stored.Retiring); !slices.Equal(got, []string{fp(first.Certificate)}) {
		t.Fatalf("retiring %v", got)
	}
	if got := w.stored.RetireAfter[fp(first.Certificate)]; !got.Equal(leafMark) {
		t.Fatalf("retire-after %s, want the signed-until mark %s", got, leafMark)
	}
	w.expectBundle(first.Certificate, next.Certificate)
	// In the order it was published in: the same bytes, so the switch
	// rewrites no trust path (every certificate Secret's ca.crt among them).
	if got := fps(w.stored.Bundle); !slices.Equal(got, []string{fp(first.Certificate), fp(next.Certificate)}) {
		t.Fatalf("bundle after the switch %v, want the publishing order (old, then next)", got)
	}
	// The retiring CA keeps its key, stored and read back, to sign its CRL.
	data, annotations, err := w.stored.Encode()
	if err != nil {
		t.Fatal(err)
	}
	reread, err := Decode(data, annotations)
	if err != nil {
		t.Fatal(err)
	}
	if old := reread.RetiringCA(first.Certificate); old == nil || !pki.KeyMatchesCertificate(old.Key, first.Certificate) {
		t.Fatal("the retiring CA's key was not kept across encode and decode")
	}
	if reread.RetiringCA(next.Certificate) != nil {
		t.Fatal("a key filed under the wrong CA")
	}

	// Retiring until the mark has passed; then Complete, one anchor left.
	w.step()
	w.expectRequeue(leafMark.Sub(w.now) + time.Second)
	w.advanceTo(leafMark)
	w.step()
	w.expectActions()
	w.advance(time.Second)
	w.step()
	w.expectActions(ActionRetired, ActionCompleted)
	w.expectPhase(PhaseComplete)
	w.expectBundle(next.Certificate)
	if len(w.stored.RetiringChains) != 0 || len(w.stored.RetireAfter) != 0 || len(w.stored.RetiringKeys) != 0 {
		t.Fatalf("leftovers after retirement: %d chains, marks %v, %d keys", len(w.stored.RetiringChains), w.stored.RetireAfter, len(w.stored.RetiringKeys))
	}
	if data, _, _ := w.stored.Encode(); data[KeyRetiringKeys] != nil {
		t.Fatal("the retired CA's key is still stored")
	}
	// The new CA comes back at its own renewal time.
	w.expectRequeue(w.renewalOf(next.Certificate).Sub(w.now) + time.Second)
}

// TestManualTrigger: a request rotates once, a stale status cannot fire it
// twice, and a request during a rotation waits for the switch.
func TestManualTrigger(t *testing.T) {
	w := newWorld(t, KindRoot)
	w.spec.RotateRequest = "created-with-it"
	w.step()
	w.advance(time.Minute)
	w.step()
	w.expectActions() // a request present at creation is already handled

	w.spec.RotateRequest = "r1"
	w.step()
	w.expectActions(ActionRotationStarted)
	if w.rotation.LastRequest != "r1" || w.stored.RotateHandled != "r1" {
		t.Fatalf("rotation %+v handled %q", w.rotation, w.stored.RotateHandled)
	}
	// The status write was lost (crash): the stored set still knows r1 was handled.
	w.rotation = nil
	w.advance(PublishingPoll)
	w.step()
	w.expectActions(ActionPublished)
	if len(w.made) != 2 {
		t.Fatalf("%d CAs made, want 2: the request fired twice", len(w.made))
	}
	w.expectPhase(PhasePublishing)

	// r2 during Publishing: no second next CA; it runs after the switch.
	w.sign(time.Hour)
	w.spec.RotateRequest = "r2"
	w.advance(delay)
	w.step()
	w.expectActions(ActionSwitched)
	if len(w.made) != 2 {
		t.Fatalf("%d CAs made during the first rotation", len(w.made))
	}
	w.advance(time.Second)
	w.step()
	w.expectActions(ActionRotationStarted)
	if w.rotation.LastRequest != "r2" || len(w.stored.Retiring) != 1 || w.stored.Next == nil {
		t.Fatalf("second rotation: %+v, %d retiring", w.rotation, len(w.stored.Retiring))
	}
	w.expectBundle(w.made[0].Certificate, w.made[1].Certificate, w.made[2].Certificate)
}

// TestImportedReplacedTwice: a new CA in the user's Secret is published
// first; one that replaces it before the switch supersedes it, and the
// superseded one never signs.
func TestImportedReplacedTwice(t *testing.T) {
	w := newWorld(t, KindImported)
	a, _ := w.maker(nil)
	w.imported = a
	w.step()
	w.expectActions()
	if w.last.Requeue != a.Certificate.NotAfter.Sub(w.now)+time.Second {
		t.Fatalf("requeue %s: an imported CA comes back at its expiry", w.last.Requeue)
	}
	// No renewal of its own at the renewal time.
	w.advanceTo(w.renewalOf(a.Certificate))
	w.step()
	w.expectActions()

	b, _ := w.maker(nil)
	w.imported = b
	w.step()
	w.expectActions(ActionRotationStarted)
	w.expectBundle(a.Certificate, b.Certificate)
	startedB := w.rotation.StartedAt

	c, _ := w.maker(nil)
	w.imported = c
	w.advance(time.Minute)
	w.step()
	w.expectActions(ActionRotationStarted)
	if fp(w.stored.Next.Certificate) != fp(c.Certificate) || !w.rotation.StartedAt.After(startedB) {
		t.Fatalf("C did not supersede B: next %s, started %s", w.stored.Next.Certificate.Subject, w.rotation.StartedAt)
	}
	w.expectBundle(a.Certificate, c.Certificate)

	w.advance(PublishingPoll)
	w.step()
	w.expectActions(ActionPublished)
	w.advance(delay)
	w.step()
	w.expectActions(ActionSwitched)
	if fp(w.stored.Active.Certificate) != fp(c.Certificate) {
		t.Fatal("C does not sign")
	}
	if slices.Contains(fps(w.stored.Retiring), fp(b.Certificate)) || slices.Contains(fps(w.stored.Bundle), fp(b.Certificate)) {
		t.Fatal("the superseded CA B is still trusted")
	}
}

// TestIntermediateUnderRotatingRoot: the root's old CA stays while a child
// signs under an intermediate it signed; the child re-signs at once when
// its parent switches; the old root leaves when the child's old
// intermediate's mark has passed.
func TestIntermediateUnderRotatingRoot(t *testing.T) {
	root := newWorld(t, KindRoot)
	root.step()
	oldRoot := root.stored.Active

	child := newWorld(t, KindIntermediate)
	child.parent = &Parent{CA: oldRoot, Bundle: root.stored.Bundle}
	child.step()
	child.expectActions(ActionGenerated)
	oldInter := child.stored.Active
	if !pki.ChainsTo(oldInter.Certificate, oldRoot, child.now) {
		t.Fatal("the intermediate does not chain to the root")
	}
	child.expectBundle(oldRoot.Certificate)

	// Root rotates; its switch happens while the child still signs under the old root.
	root.rotateNow("now")
	root.children = []Child{{Active: oldInter.Certificate}}
	root.advance(time.Hour)
	root.step()
	root.expectActions()
	// Kept for good: the plan wakes only for the new CA's renewal.
	root.expectRequeue(root.renewalOf(root.stored.Active.Certificate).Sub(root.now) + time.Second)
	if len(root.stored.Retiring) != 1 {
		t.Fatal("the old root retired while a child signs under it")
	}

	// The child re-signs under the new root at once (no Publishing).
	child.now = root.now
	child.parent = &Parent{CA: root.stored.Active, Bundle: root.stored.Bundle}
	child.step()
	child.expectActions(ActionSwitched)
	child.expectPhase(PhaseRetiring)
	newInter := child.stored.Active
	if !pki.ChainsTo(newInter.Certificate, root.stored.Active, child.now) {
		t.Fatal("the new intermediate does not chain to the new root")
	}
	child.expectBundle(oldRoot.Certificate, root.stored.Active.Certificate)
	childMark := child.now.Add(90 * time.Minute)

	// The old root stays until the old intermediate's mark has passed.
	root.children = []Child{{Active: newInter.Certificate, Retiring: []*x509.Certificate{oldInter.Certificate},
		Marks: map[string]time.Time{fp(oldInter.Certificate): childMark}}}
	root.step()
	root.expectActions()
	root.expectRequeue(childMark.Sub(root.now) + time.Second)
	root.advanceTo(childMark.Add(time.Second))
	root.step()
	root.expectActions(ActionRetired, ActionCompleted)
	root.expectBundle(root.stored.Active.Certificate)

	// Children that cannot be listed keep every retiring CA.
	if until := inUseUntil(oldRoot.Certificate, time.Time{}, time.Time{}, []Child{{Unknown: true}}, 0); until != Forever {
		t.Fatalf("unknown children: in use until %s, want forever", until)
	}
}

// TestIntermediateResigns: due, requested, or no longer chained to the
// parent's CA, an intermediate is re-made; otherwise left alone.
func TestIntermediateResigns(t *testing.T) {
	root := newWorld(t, KindRoot)
	root.step()
	for _, tc := range []struct {
		name   string
		change func(w *world)
		resign bool
	}{
		{"chained, not due", func(w *world) { w.advance(time.Hour) }, false},
		{"renewal time", func(w *world) { w.advanceTo(w.renewalOf(w.stored.Active.Certificate)) }, true},
		{"requested", func(w *world) { w.spec.RotateRequest = "please" }, true},
		{"parent's CA replaced", func(w *world) {
			other, _ := w.maker(nil)
			w.parent = &Parent{CA: other, Bundle: []*x509.Certificate{other.Certificate}}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, KindIntermediate)
			w.parent = &Parent{CA: root.stored.Active, Bundle: root.stored.Bundle}
			w.step()
			before := w.stored.Active
			tc.change(w)
			w.step()
			if resigned := fp(w.stored.Active.Certificate) != fp(before.Certificate); resigned != tc.resign {
				t.Fatalf("re-signed %v, want %v", resigned, tc.resign)
			}
			if !pki.ChainsTo(w.stored.Active.Certificate, w.parent.CA, w.now) {
				t.Fatal("the active intermediate does not chain to the parent's CA")
			}
			// The parent's anchors, and the old intermediate's while it
			// retires (its old parent's root, when that was replaced).
			for _, anchor := range w.parent.Bundle {
				if !slices.Contains(fps(w.stored.Bundle), fp(anchor)) {
					t.Fatalf("bundle %v lacks the parent's anchor %s", fps(w.stored.Bundle), fp(anchor))
				}
			}
			if tc.resign && !slices.Contains(fps(w.stored.Bundle), fp(root.stored.Active.Certificate)) {
				t.Fatal("the retiring intermediate's anchor left the bundle")
			}
			if tc.resign {
				w.expectActions(ActionSwitched)
				// And only once: the next plan retires the old one (it
				// signed nothing) and makes no other.
				made := len(w.made)
				w.advance(time.Second)
				w.step()
				w.expectActions(ActionRetired, ActionCompleted)
				if len(w.made) != made {
					t.Fatal("re-signed twice")
				}
			}
		})
	}
}

// TestSignedUntilExtendsRetirement: a certificate the signer released with
// the old CA after the switch (a hand-made CSR signed from a stale cache)
// keeps that CA trusted until it expires.
func TestSignedUntilExtendsRetirement(t *testing.T) {
	w := newWorld(t, KindRoot)
	w.step()
	old := w.stored.Active.Certificate
	w.sign(time.Hour)
	w.rotateNow("go")
	frozen := w.stored.RetireAfter[fp(old)]

	// Late: the signer signed a 3h certificate with the old CA.
	late, _ := RaiseMark(w.marks, fp(old), w.now.Add(-time.Minute), w.now.Add(3*time.Hour), old.NotAfter, nil)
	w.marks = late
	w.advanceTo(frozen.Add(time.Second))
	w.step()
	w.expectActions()
	if !slices.Contains(fps(w.stored.Bundle), fp(old)) {
		t.Fatal("the old CA left the bundle while a certificate it signed is valid")
	}
	w.advanceTo(w.marks[fp(old)].Add(time.Second))
	w.step()
	w.expectActions(ActionRetired, ActionCompleted)

	// Marks an earlier release kept on the CA Secret count too (upgrade).
	w.rotateNow("again")
	retired := w.stored.Retiring[0]
	legacy := w.now.Add(5 * time.Hour)
	w.stored.LegacySignedUntil[fp(retired)] = legacy
	w.advance(4 * time.Hour)
	w.step()
	w.expectActions()
	w.advanceTo(legacy.Add(time.Second))
	w.step()
	w.expectActions(ActionRetired, ActionCompleted)
	if len(w.stored.LegacySignedUntil) != 0 {
		t.Fatalf("legacy marks of gone CAs stay: %v", w.stored.LegacySignedUntil)
	}
}

// TestPartiallyCoveredBundle: before the deadline any missing path blocks;
// past it only paths certsmith can write and failed to keep blocking.
func TestPartiallyCoveredBundle(t *testing.T) {
	w := newWorld(t, KindRoot)
	w.step()
	w.spec.RotateRequest = "go"
	w.step()
	w.coverage = &Coverage{}
	w.coverage.Add(3, "ConfigMap x/trust (conflict)", true, false)
	w.coverage.Add(1, "ClusterTrustBundle t (write failed, retrying)", false, true)
	for w.now.Before(epoch.Add(deadline + time.Minute)) {
		w.advance(PublishingPoll * 30)
		w.step()
		w.expectActions()
		w.expectPhase(PhasePublishing)
	}
	// The failing write succeeds; the conflicts remain: skipped, with a Warning.
	w.coverage = &Coverage{}
	w.coverage.Add(3, "ConfigMap x/trust (conflict)", true, false)
	w.step()
	w.expectActions(ActionPathsSkipped)
	if !w.last.Events[0].Warning || w.rotation.Unpublished != 3 || w.rotation.Conflicts != 3 {
		t.Fatalf("event %+v rotation %+v", w.last.Events[0], w.rotation)
	}
	w.advance(delay)
	w.step()
	w.expectActions(ActionSwitched)
}

// TestRestartInEveryPhase: a plan from the stored set read back equals the
// plan from the set in memory, in every phase; and a next CA whose
// rotation status was lost carries on publishing.
func TestRestartInEveryPhase(t *testing.T) {
	w := newWorld(t, KindRoot)
	w.step()
	steps := []time.Duration{0, PublishingPoll, delay, time.Minute, caLifetime}
	w.spec.RotateRequest = "go"
	for i, d := range steps {
		w.advance(d)
		in := Observed{Now: w.now, Spec: w.spec, Stored: w.stored, Rotation: w.rotation, SignedUntil: w.marks}
		if w.stored.Next != nil {
			in.Coverage = &Coverage{}
		}
		data, annotations, err := w.stored.Encode()
		if err != nil {
			t.Fatal(err)
		}
		reread, err := Decode(data, annotations)
		if err != nil {
			t.Fatal(err)
		}
		noMake := func(*pki.CA) (*pki.CA, error) { return nil, fmt.Errorf("no CA expected") }
		fromStore, errA := Plan(Observed{Now: in.Now, Spec: in.Spec, Stored: reread, Rotation: in.Rotation, SignedUntil: in.SignedUntil, Coverage: in.Coverage}, noMake)
		inMemory, errB := Plan(in, noMake)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("step %d: errors differ: %v / %v", i, errA, errB)
		}
		if errA == nil && (fmt.Sprint(fromStore.Actions(), fromStore.Rotation, fromStore.Requeue, fps(fromStore.Set.Bundle)) !=
			fmt.Sprint(inMemory.Actions(), inMemory.Rotation, inMemory.Requeue, fps(inMemory.Set.Bundle))) {
			t.Fatalf("step %d: the plan from the store differs from the plan in memory", i)
		}
		w.step()
	}
	// Lost status with a retiring CA stored: Retiring is reported, and
	// Complete once it leaves.
	w3 := newWorld(t, KindRoot)
	w3.step()
	w3.sign(time.Hour)
	w3.rotateNow("go")
	w3.rotation = nil
	w3.step()
	w3.expectPhase(PhaseRetiring)
	w3.advance(2 * time.Hour)
	w3.step()
	w3.expectActions(ActionRetired, ActionCompleted)
	w3.expectPhase(PhaseComplete)

	// Lost status with a next CA stored: Publishing again, from now.
	w2 := newWorld(t, KindRoot)
	w2.step()
	w2.spec.RotateRequest = "go"
	w2.step()
	w2.rotation = &Rotation{Phase: PhaseComplete, LastRequest: "older"}
	w2.coverage = &Coverage{Unpublished: 1, Blocking: 1}
	w2.advance(time.Minute)
	w2.step()
	w2.expectPhase(PhasePublishing)
	if w2.rotation.StartedAt != w2.now || w2.rotation.LastRequest != "older" || len(w2.made) != 2 {
		t.Fatalf("recovered rotation %+v, %d CAs made", w2.rotation, len(w2.made))
	}
}

// TestDecodeRejects: a stored set that cannot be read says which key.
func TestDecodeRejects(t *testing.T) {
	w := newWorld(t, KindRoot)
	w.step()
	data, annotations, _ := w.stored.Encode()
	for key, want := range map[string]string{KeyCertificate: "certificate", KeyPrivateKey: "key", KeyRetiring: KeyRetiring} {
		broken := map[string][]byte{}
		for k, v := range data {
			broken[k] = v
		}
		broken[key] = []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
		_, err := Decode(broken, annotations)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("broken %s: error %v, want one naming %q", key, err, want)
		}
	}
}

// TestSignedUntilMark: headroom of a tenth, at least a minute, at most a
// day, never past the CA; marks only go up, and gone CAs are dropped.
func TestSignedUntilMark(t *testing.T) {
	caEnd := epoch.Add(1000 * time.Hour)
	for _, tc := range []struct {
		lifetime, want time.Duration
	}{
		{5 * time.Minute, 5*time.Minute + time.Minute},
		{10 * time.Hour, 11 * time.Hour},
		{90 * 24 * time.Hour, 91 * 24 * time.Hour},
	} {
		if got := SignedUntilMark(epoch, epoch.Add(tc.lifetime), epoch.Add(10000*time.Hour)); got.Sub(epoch) != tc.want {
			t.Errorf("lifetime %s: mark +%s, want +%s", tc.lifetime, got.Sub(epoch), tc.want)
		}
	}
	if got := SignedUntilMark(epoch, caEnd.Add(-time.Minute), caEnd); !got.Equal(caEnd) {
		t.Errorf("mark %s past the CA's notAfter %s", got, caEnd)
	}
	marks, changed := RaiseMark(map[string]time.Time{"a": epoch.Add(time.Hour), "gone": epoch}, "a", epoch, epoch.Add(30*time.Minute), caEnd, []string{"a"})
	if !changed || !marks["a"].Equal(epoch.Add(time.Hour)) || len(marks) != 1 {
		t.Errorf("RaiseMark lowered a mark or kept a gone CA: %v (changed %v)", marks, changed)
	}
	if _, changed := RaiseMark(marks, "a", epoch, epoch.Add(30*time.Minute), caEnd, []string{"a"}); changed {
		t.Error("RaiseMark wrote a mark that already covered the certificate")
	}
}

// TestRenewalTimeAndMembers: a renewBefore as long as the lifetime falls
// back to the default (no rotation at once and forever); status lists every
// CA with its role and frozen mark; unreadable marks count as none.
func TestRenewalTimeAndMembers(t *testing.T) {
	w := newWorld(t, KindRoot)
	w.step()
	cert := w.stored.Active.Certificate
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	if got, want := RenewalTime(cert, lifetime, "x"), RenewalTime(cert, 0, "x"); !got.Equal(want) {
		t.Fatalf("renewBefore = lifetime: %s, want the default %s", got, want)
	}
	if got := RenewalTime(cert, time.Hour, "x"); !got.Equal(cert.NotAfter.Add(-time.Hour)) {
		t.Fatalf("renewBefore 1h: %s", got)
	}
	w.sign(time.Hour)
	w.spec.RotateRequest = "go"
	w.step()
	if got := len(w.stored.Fingerprints()); got != 2 {
		t.Fatalf("%d fingerprints while publishing, want 2", got)
	}
	w.advance(PublishingPoll)
	w.step()
	w.advance(delay)
	w.step()
	w.spec.RotateRequest = "again"
	w.advance(time.Second)
	w.step()
	members := w.stored.Members()
	var roles []Role
	for _, m := range members {
		roles = append(roles, m.Role)
		if (m.Role == RoleRetiring) == m.RetireAfter.IsZero() {
			t.Fatalf("member %s: retireAfter %s", m.Role, m.RetireAfter)
		}
	}
	if !slices.Equal(roles, []Role{RoleActive, RoleNext, RoleRetiring}) {
		t.Fatalf("roles %v", roles)
	}
	for _, raw := range []string{"not json", `{"a":"not a time"}`, `[1,2]`} {
		if got := DecodeMarks(raw); len(got) != 0 {
			t.Fatalf("DecodeMarks(%q) = %v", raw, got)
		}
	}
	if EncodeMarks(nil) != "" {
		t.Fatal("no marks encode as something")
	}
}

// TestInUseDepthBound: a loop or an endless chain of child issuers cannot
// make retirement recurse without end; past the bound a CA stays.
func TestInUseDepthBound(t *testing.T) {
	w := newWorld(t, KindRoot)
	w.step()
	root := w.stored.Active
	// A chain of child issuers, each retiring an intermediate its parent's
	// CA signed, deeper than the bound.
	chain := []*pki.CA{root}
	for i := 0; i < maxDepth+3; i++ {
		next, err := w.maker(chain[len(chain)-1])
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, next)
	}
	var child Child
	for i := len(chain) - 1; i >= 1; i-- {
		c := Child{Retiring: []*x509.Certificate{chain[i].Certificate}, Marks: map[string]time.Time{fp(chain[i].Certificate): epoch}}
		if i < len(chain)-1 {
			c.Children = []Child{child}
		}
		child = c
	}
	// Within the bound, the marks decide.
	if got := inUseUntil(root.Certificate, time.Time{}, time.Time{}, child.Children[0].Children[:0], 0); !got.IsZero() {
		t.Fatalf("no children: in use until %s", got)
	}
	if got := inUseUntil(root.Certificate, time.Time{}, time.Time{}, []Child{child}, 0); got != Forever {
		t.Fatalf("past the depth bound: in use until %s, want forever", got)
	}
}

// TestDecodeTolerates: what the plan can rebuild or start over does not
// stop the issuer: an unreadable bundle is rebuilt, a next CA that is not
// whole (garbage, no key, a key that does not match) is dropped and the
// rotation starts over with a new one.
func TestDecodeTolerates(t *testing.T) {
	w := newWorld(t, KindRoot)
	w.step()
	w.spec.RotateRequest = "go"
	w.step()
	w.expectPhase(PhasePublishing)
	data, annotations, _ := w.stored.Encode()
	other, _ := w.maker(nil)
	otherKey, _ := pki.EncodePrivateKeyPEM(other.Key, pki.KeyEncodingPKCS8)
	for name, change := range map[string]func(map[string][]byte){
		"garbage bundle": func(d map[string][]byte) {
			d[KeyBundle] = []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
		},
		"next without key":  func(d map[string][]byte) { delete(d, KeyNextPrivateKey) },
		"next key mismatch": func(d map[string][]byte) { d[KeyNextPrivateKey] = otherKey },
		"garbage next":      func(d map[string][]byte) { d[KeyNextCertificate] = []byte("junk") },
	} {
		t.Run(name, func(t *testing.T) {
			broken := map[string][]byte{}
			for k, v := range data {
				broken[k] = v
			}
			change(broken)
			stored, err := Decode(broken, annotations)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			made := len(w.made)
			result, err := Plan(Observed{Now: w.now, Spec: w.spec, Stored: stored, Rotation: w.rotation, Coverage: &Coverage{}}, w.maker)
			if err != nil {
				t.Fatal(err)
			}
			if result.Set.Next == nil || len(result.Set.Bundle) != 2 {
				t.Fatalf("next %v, bundle of %d: the rotation did not carry on", result.Set.Next, len(result.Set.Bundle))
			}
			if name != "garbage bundle" && len(w.made) != made+1 {
				t.Fatalf("a dropped next CA was not replaced (%d made)", len(w.made)-made)
			}
			if !pki.KeyMatchesCertificate(result.Set.Next.Key, result.Set.Next.Certificate) {
				t.Fatal("the next CA's key does not match it")
			}
		})
	}
}

// TestBecomingAnIntermediateKeepsTheOldAnchor: when spec.ca changes from a
// root to an intermediate, the old root stays in the bundle while it
// retires; certificates it signed keep verifying.
func TestBecomingAnIntermediateKeepsTheOldAnchor(t *testing.T) {
	w := newWorld(t, KindRoot)
	w.step()
	oldRoot := w.stored.Active.Certificate
	w.sign(time.Hour)
	parent, _ := w.maker(nil)
	w.spec.Kind = KindIntermediate
	w.parent = &Parent{CA: parent, Bundle: []*x509.Certificate{parent.Certificate}}
	w.step()
	w.expectActions(ActionSwitched)
	w.expectBundle(parent.Certificate, oldRoot)
	w.advance(2 * time.Hour)
	w.step()
	w.expectActions(ActionRetired, ActionCompleted)
	w.expectBundle(parent.Certificate)
}

// TestExpiredImportedCAIsNotPolled: an expired imported CA waits for its
// owner (a watch brings the new one) instead of a wake-up every second.
func TestExpiredImportedCAIsNotPolled(t *testing.T) {
	w := newWorld(t, KindImported)
	a, _ := w.maker(nil)
	w.imported = a
	w.step()
	w.advanceTo(a.Certificate.NotAfter.Add(time.Minute))
	w.step()
	if w.last.Requeue < time.Hour {
		t.Fatalf("requeue %s for an expired imported CA", w.last.Requeue)
	}
}

// TestStaleStatusAfterTheSwitch: the reconcile after a switch may read the
// status from before it (Publishing, published) while the stored set has
// no next CA any more: nothing starts again.
func TestStaleStatusAfterTheSwitch(t *testing.T) {
	w := newWorld(t, KindRoot)
	w.step()
	w.sign(time.Hour)
	w.spec.RotateRequest = "go"
	w.step()
	w.advance(PublishingPoll)
	w.step()
	stale := *w.rotation
	w.advance(delay)
	w.step()
	w.expectActions(ActionSwitched)
	made := len(w.made)
	w.rotation = &stale
	w.advance(time.Second)
	w.step()
	if len(w.made) != made || w.stored.Next != nil {
		t.Fatalf("a stale Publishing status started another rotation (%v)", w.last.Actions())
	}
}

// TestPodCertificatesRefreshBeforeRetire: pods refresh their certificates
// at the signer's beginRefreshAt with whichever CA is active; across a
// rotation, the old CA stays in the trust bundle while any pod certificate
// it signed is valid, and leaves once the last one has expired. The clock
// steps from one event (a refresh, a plan's requeue) to the next.
func TestPodCertificatesRefreshBeforeRetire(t *testing.T) {
	const podLifetime = 2 * time.Hour
	w := newWorld(t, KindRoot)
	w.step()
	type podCert struct {
		ca                  string
		notAfter, refreshAt time.Time
	}
	pods := make([]podCert, 5)
	issue := func(i int) {
		notBefore := w.now.Add(-time.Minute).Truncate(time.Second)
		notAfter := notBefore.Add(podLifetime)
		w.sign(podLifetime - time.Minute)
		pods[i] = podCert{ca: fp(w.stored.Active.Certificate), notAfter: notAfter,
			refreshAt: pki.PodCertificateRefreshTime(notBefore, notAfter, fmt.Sprintf("pod-%d-%s", i, w.now))}
	}
	for i := range pods {
		issue(i)
		w.advance(7 * time.Minute)
	}
	oldCA := fp(w.stored.Active.Certificate)
	switched, retired := false, false
	lastOldExpiry := time.Time{}
	for end := w.now.Add(24 * time.Hour); w.now.Before(end); {
		// The next event: a pod's refresh, or the plan's requeue.
		next := w.now.Add(w.last.Requeue)
		for _, p := range pods {
			if p.refreshAt.After(w.now) && p.refreshAt.Before(next) {
				next = p.refreshAt
			}
		}
		w.advanceTo(next)
		for i, p := range pods {
			if !w.now.Before(p.refreshAt) {
				issue(i)
			}
		}
		if !switched && w.now.Sub(epoch) > 3*time.Hour {
			w.rotateNow("rotate")
			switched = true
		}
		w.step()
		bundle := fps(w.stored.Bundle)
		for i, p := range pods {
			if w.now.Before(p.notAfter) && !slices.Contains(bundle, p.ca) {
				t.Fatalf("at +%s: pod %d holds a valid certificate of a CA that left the bundle", w.now.Sub(epoch), i)
			}
			if p.ca == oldCA && p.notAfter.After(lastOldExpiry) {
				lastOldExpiry = p.notAfter
			}
		}
		if switched && !slices.Contains(bundle, oldCA) && !retired {
			retired = true
			if w.now.Before(lastOldExpiry) {
				t.Fatalf("the old CA retired at +%s, before its last pod certificate expired at +%s", w.now.Sub(epoch), lastOldExpiry.Sub(epoch))
			}
		}
	}
	if !switched || !retired {
		t.Fatalf("switched %v, retired %v: the rotation did not finish in a day", switched, retired)
	}
	for i, p := range pods {
		if p.ca == oldCA {
			t.Errorf("pod %d still holds an old-CA certificate a day later", i)
		}
	}
}

// TestStretchedReissueWindow: the window is the spec's unless the leaves
// at maxRate per second need longer; no rate bounds nothing.
func TestStretchedReissueWindow(t *testing.T) {
	for _, tc := range []struct {
		window          time.Duration
		leaves, maxRate int
		want            time.Duration
	}{
		{5 * time.Minute, 100, 20, 5 * time.Minute},
		{5 * time.Minute, 10000, 20, 500 * time.Second},
		{0, 10000, 20, 500 * time.Second},
		{0, 1, 20, 50 * time.Millisecond},
		{time.Minute, 0, 20, time.Minute},
		{time.Minute, 10000, 0, time.Minute},
		{time.Second, 3, 1, 3 * time.Second},
	} {
		if got := StretchedReissueWindow(tc.window, tc.leaves, tc.maxRate); got != tc.want {
			t.Errorf("StretchedReissueWindow(%s, %d, %d) = %s, want %s", tc.window, tc.leaves, tc.maxRate, got, tc.want)
		}
	}
}
