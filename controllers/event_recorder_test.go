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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// drain writes what the recorder has queued, as its writers would, each
// queue in order.
func drain(r *eventRecorder) {
	for _, queue := range r.queues {
		for done := false; !done; {
			select {
			case w := <-queue:
				r.write(context.Background(), w)
			default:
				done = true
			}
		}
	}
}

// queued is the number of writes waiting in all the queues.
func queued(r *eventRecorder) int {
	n := 0
	for _, queue := range r.queues {
		n += len(queue)
	}
	return n
}

func eventsIn(t *testing.T, c client.Client, namespace string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := c.List(context.Background(), &list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// TestEventRecorderWritesAndCountsRepeats: an Event carries what a user
// reads (type, reason, action, note, regarding and related objects, who
// reported it), a cluster-scoped object's goes to "default", and a repeat
// within the window is counted into the first Event's series, not written
// anew; after the window it is a new Event.
func TestEventRecorderWritesAndCountsRepeats(t *testing.T) {
	c := unitFakeClient(t)
	clk := clocktesting.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	r := newEventRecorder(c, unitScheme(t), clk, "certsmith")
	sc := &certsmithv1alpha1.ServiceCertificate{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "api", UID: "u1"}}
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "ca", UID: "u2"}}

	r.Eventf(sc, issuer, corev1.EventTypeNormal, "Issued", "Issue", "certificate %d issued", 1)
	r.Eventf(issuer, nil, corev1.EventTypeWarning, "NotReady", "Check", "%s", strings.Repeat("x", 5000))
	drain(r)
	got := eventsIn(t, c, "web")
	if len(got) != 1 {
		t.Fatalf("%d Events in web, want 1", len(got))
	}
	e := got[0]
	if e.Type != corev1.EventTypeNormal || e.Reason != "Issued" || e.Action != "Issue" || e.Note != "certificate 1 issued" ||
		e.Regarding.Name != "api" || e.Regarding.Kind != "ServiceCertificate" || e.Related == nil || e.Related.Name != "ca" ||
		e.ReportingController != "certsmith" || !strings.HasPrefix(e.ReportingInstance, "certsmith-") || e.EventTime.IsZero() || e.Series != nil {
		t.Fatalf("Event written: %+v", e)
	}
	cluster := eventsIn(t, c, metav1.NamespaceDefault)
	if len(cluster) != 1 || len(cluster[0].Note) > MaxMessageBytes {
		t.Fatalf("the cluster-scoped object's Event: %d in default, note of %d bytes", len(cluster), len(cluster[0].Note))
	}

	firstRepeat := clk.Now().Add(time.Minute)
	for range 3 {
		clk.Step(time.Minute)
		r.Eventf(sc, issuer, corev1.EventTypeNormal, "Issued", "Issue", "certificate issued again")
	}
	drain(r)
	got = eventsIn(t, c, "web")
	// The first repeat makes the series (one PATCH); the next two are only
	// counted, as client-go does.
	if len(got) != 1 || got[0].Series == nil || got[0].Series.Count != 2 || !got[0].Series.LastObservedTime.Time.Equal(firstRepeat) {
		t.Fatalf("after three repeats: %d Events, series %+v", len(got), got[0].Series)
	}
	if queued(r) != 0 {
		t.Fatal("writes left after draining")
	}
	// Repeats every five minutes keep the series open (the window runs from
	// the last one), and its count is written again once 30 minutes passed.
	for range 6 {
		clk.Step(5 * time.Minute)
		r.Eventf(sc, issuer, corev1.EventTypeNormal, "Issued", "Issue", "and again")
	}
	drain(r)
	got = eventsIn(t, c, "web")
	if len(got) != 1 || got[0].Series == nil || got[0].Series.Count != 10 || !got[0].Series.LastObservedTime.Time.Equal(clk.Now()) {
		t.Fatalf("after 30 minutes of repeats: %d Events, series %+v", len(got), got[0].Series)
	}

	clk.Step(eventSeriesWindow)
	r.Eventf(sc, issuer, corev1.EventTypeNormal, "Issued", "Issue", "much later")
	drain(r)
	if got = eventsIn(t, c, "web"); len(got) != 2 {
		t.Fatalf("a repeat after the window: %d Events, want a second one", len(got))
	}

	// The series' Event deleted (its TTL): the next repeat writes a new one.
	for i := range got {
		if got[i].Note == "much later" {
			if err := c.Delete(context.Background(), &got[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.Eventf(sc, issuer, corev1.EventTypeNormal, "Issued", "Issue", "repeat of a deleted one")
	drain(r)
	r.Eventf(sc, issuer, corev1.EventTypeNormal, "Issued", "Issue", "and again")
	drain(r)
	if got = eventsIn(t, c, "web"); len(got) != 2 {
		t.Fatalf("after the series' Event was deleted: %d Events, want the old one and a new one", len(got))
	}
}

// TestEventNamesAreUnique: a clock that stands still (the stepped-clock
// tests) or two Events in one nanosecond never give two Events one name.
func TestEventNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		name := eventName("same")
		if seen[name] {
			t.Fatalf("%s twice", name)
		}
		seen[name] = true
	}
	if long := eventName(strings.Repeat("a", 253)); len(long) > 253 || !strings.HasPrefix(long, "certsmith.") {
		t.Fatalf("an Event name for a 253-character object name: %q", long)
	}
}

// TestEventRecorderIsBounded: a storm of distinct Events keeps at most
// maxEventSeries remembered and maxQueuedEvents queued, drops and counts the
// rest, and Eventf never blocks, with no writer running at all.
func TestEventRecorderIsBounded(t *testing.T) {
	r := newEventRecorder(unitFakeClient(t), unitScheme(t), clocktesting.NewFakeClock(time.Now()), "certsmith")
	before := testutil.ToFloat64(eventsDropped)
	const n = maxQueuedEvents + 1000 // more than the queue and the series remembered
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			sc := &certsmithv1alpha1.ServiceCertificate{ObjectMeta: metav1.ObjectMeta{Namespace: "storm", Name: fmt.Sprintf("c-%d", i)}}
			r.Eventf(sc, nil, corev1.EventTypeNormal, "Issued", "Issue", "issued")
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Eventf blocked with the queue full")
	}
	if got := len(r.series); got != maxEventSeries || r.recent.Len() != maxEventSeries {
		t.Fatalf("%d series remembered, want the bound %d", got, maxEventSeries)
	}
	if got := queued(r); got > maxQueuedEvents || got < maxQueuedEvents*9/10 {
		t.Fatalf("%d queued, want the bound %d (each writer's share full, give or take the hash)", got, maxQueuedEvents)
	}
	if dropped := testutil.ToFloat64(eventsDropped) - before; int(dropped) != n-queued(r) {
		t.Fatalf("%v dropped, want every Event not queued (%d)", dropped, n-queued(r))
	}
	// An invalid type is not written at all.
	r2 := newEventRecorder(unitFakeClient(t), unitScheme(t), nil, "certsmith")
	r2.Eventf(&certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, nil, "Bogus", "R", "A", "n")
	if queued(r2) != 0 {
		t.Fatal("an Event of an invalid type was queued")
	}
}

// TestEventRecorderWritesInParallel: while the API server is slow to answer
// a create, the other writers go on: eventWriters creates are in flight at
// once (one writer alone fell behind a burst of 10,000 issuances and
// dropped Events), and once answered every Event is written.
func TestEventRecorderWritesInParallel(t *testing.T) {
	release := make(chan struct{})
	var inFlight, most atomic.Int32
	c := unitFakeClientBuilder(t).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			n := inFlight.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-release
			inFlight.Add(-1)
			return c.Create(ctx, obj, opts...)
		},
	}).Build()
	r := newEventRecorder(c, unitScheme(t), nil, "certsmith")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Start(ctx) }()
	const n = 200
	for i := range n {
		sc := &certsmithv1alpha1.ServiceCertificate{ObjectMeta: metav1.ObjectMeta{Namespace: "burst", Name: fmt.Sprintf("c-%d", i)}}
		r.Eventf(sc, nil, corev1.EventTypeNormal, "Issued", "Issue", "issued")
	}
	deadline := time.Now().Add(30 * time.Second)
	for most.Load() < eventWriters && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := most.Load(); got != eventWriters {
		t.Fatalf("%d creates in flight at most, want %d", got, eventWriters)
	}
	close(release)
	for time.Now().Before(deadline) {
		if len(eventsIn(t, c, "burst")) == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d of %d Events written", len(eventsIn(t, c, "burst")), n)
}
