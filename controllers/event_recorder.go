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
	"container/list"
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/reference"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Bounds of the event recorder.
const (
	// maxQueuedEvents is how many Events wait to be written; past it a new
	// one is dropped and counted (certsmith_events_dropped_total). A queued
	// Event is ~700 bytes: 8,192 are ~6 MB, held only while the API server
	// is behind (a burst of 10,000 issuances queued up to ~1,500).
	maxQueuedEvents = 8192
	// maxEventSeries is how many recent Events are remembered to count
	// repeats into (the least recently repeated is forgotten first).
	maxEventSeries = 4096
	// eventSeriesWindow: an Event repeated within it of its last
	// occurrence is counted into the first one's series instead of written
	// anew (client-go's rule too).
	eventSeriesWindow = 6 * time.Minute
	// eventSeriesRefresh: a series' count is written on its first repeat,
	// then at most this often (client-go's refresh period).
	eventSeriesRefresh = 30 * time.Minute
	// maxEventTries bounds the writes of one Event when the API server
	// cannot be reached; Events are best effort.
	maxEventTries = 3
	// eventWriters write in parallel: one alone, at a write's latency under
	// load, fell behind a burst of 10,000 issuances and its queue overflowed
	// (~1,900 Issued Events dropped); eight with a queue of 1,024, ~1,500.
	eventWriters = 16
)

var eventsDropped = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "certsmith_events_dropped_total",
	Help: "Events not written: the queue was full, or the API server refused or could not be reached after retries.",
})

func init() { ctrlmetrics.Registry.MustRegister(eventsDropped) }

// eventRecorder writes the controllers' events.k8s.io/v1 Events in bounded
// memory and goroutines, where client-go's recorder keeps every Event of the
// last 6–12 minutes (10,000 issuances: ~11 MB) and starts a goroutine per
// Event. Notes are cut to MaxMessageBytes. An Event repeated within
// eventSeriesWindow (same type, reason, action, regarding and related
// object) becomes a series on the first one: a PATCH of its count on the
// first repeat and then at most every eventSeriesRefresh, as client-go
// does. eventWriters writers each empty a queue of their own
// (maxQueuedEvents in all); the writes of one Event, its create and its
// series counts, always go to the same writer, in order.
type eventRecorder struct {
	client     client.Client
	scheme     *runtime.Scheme
	clock      clock.PassiveClock
	controller string
	instance   string
	retryDelay time.Duration

	queues [eventWriters]chan eventWrite

	mu     sync.Mutex
	series map[eventSeriesKey]*list.Element // of *eventSeries
	recent *list.List                       // most recently repeated first
}

// eventSeriesKey is what makes two Events the same (client-go's key less
// the reporting controller and instance, which are this recorder's own).
type eventSeriesKey struct {
	eventType, reason, action string
	regarding, related        corev1.ObjectReference
}

// eventSeries is what is remembered of an Event written: where it is, how
// often it happened, when last, and when its count was last written.
type eventSeries struct {
	key             eventSeriesKey
	namespace, name string
	count           int32
	last, written   time.Time
}

// eventWrite is one write for the writer: a new Event, or a series count.
type eventWrite struct {
	event *eventsv1.Event
	// For a series: where it is and the count to write.
	namespace, name string
	count           int32
	observed        time.Time
}

// newEventRecorder returns a recorder that reports as controller; its
// writer runs once it is added to a manager (Start).
func newEventRecorder(c client.Client, scheme *runtime.Scheme, clk clock.PassiveClock, controller string) *eventRecorder {
	if clk == nil {
		clk = clock.RealClock{}
	}
	hostname, _ := os.Hostname()
	instance := controller + "-" + hostname
	if len(instance) > 128 {
		instance = instance[:128]
	}
	r := &eventRecorder{
		client: c, scheme: scheme, clock: clk, controller: controller, instance: instance, retryDelay: time.Second,
		series: map[eventSeriesKey]*list.Element{}, recent: list.New(),
	}
	for i := range r.queues {
		r.queues[i] = make(chan eventWrite, maxQueuedEvents/eventWriters)
	}
	return r
}

// Eventf implements events.EventRecorder. It never blocks.
func (r *eventRecorder) Eventf(regarding, related runtime.Object, eventType, reason, action, note string, args ...any) {
	if eventType != corev1.EventTypeNormal && eventType != corev1.EventTypeWarning {
		return
	}
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		return
	}
	key := eventSeriesKey{eventType: eventType, reason: reason, action: action, regarding: *ref}
	var relatedRef *corev1.ObjectReference
	if related != nil {
		if relatedRef, err = reference.GetReference(r.scheme, related); err == nil {
			key.related = *relatedRef
		}
	}
	now := r.clock.Now()

	// Queued under the lock, so that an Event's create and its series
	// counts reach its writer in the order they were made.
	r.mu.Lock()
	defer r.mu.Unlock()
	if element, ok := r.series[key]; ok {
		s := element.Value.(*eventSeries)
		if now.Sub(s.last) < eventSeriesWindow {
			s.count++
			s.last = now
			r.recent.MoveToFront(element)
			// As client-go: the first repeat makes the series, later ones
			// are counted and written at most every eventSeriesRefresh, so
			// a Warning repeated on every reconcile costs no write each.
			if s.count == 2 || now.Sub(s.written) >= eventSeriesRefresh {
				s.written = now
				r.enqueue(eventWrite{namespace: s.namespace, name: s.name, count: s.count, observed: now})
			}
			return
		}
		r.forgetLocked(element)
	}
	event := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: eventName(ref.Name), Namespace: ref.Namespace},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             relatedRef,
		Note:                limitMessage(fmt.Sprintf(note, args...)),
		Type:                eventType,
	}
	if event.Namespace == "" {
		event.Namespace = metav1.NamespaceDefault
	}
	if !r.enqueue(eventWrite{event: event}) {
		// Never written: a repeat must not count into it.
		return
	}
	r.series[key] = r.recent.PushFront(&eventSeries{key: key, namespace: event.Namespace, name: event.Name, count: 1, last: now, written: now})
	for r.recent.Len() > maxEventSeries {
		r.forgetLocked(r.recent.Back())
	}
}

// forgetLocked drops a remembered Event; r.mu is held.
func (r *eventRecorder) forgetLocked(element *list.Element) {
	delete(r.series, element.Value.(*eventSeries).key)
	r.recent.Remove(element)
}

// forget drops the series written to namespace/name, so that the next
// repeat writes a new Event (the Event is gone, or was never written).
func (r *eventRecorder) forget(namespace, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for element := r.recent.Front(); element != nil; element = element.Next() {
		if s := element.Value.(*eventSeries); s.namespace == namespace && s.name == name {
			r.forgetLocked(element)
			return
		}
	}
}

// enqueue hands a write to the writer of its Event, or drops it when that
// writer's queue is full; it reports whether the write was queued.
func (r *eventRecorder) enqueue(write eventWrite) bool {
	namespace, name := write.namespace, write.name
	if write.event != nil {
		namespace, name = write.event.Namespace, write.event.Name
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(namespace))
	_, _ = h.Write([]byte{'/'})
	_, _ = h.Write([]byte(name))
	select {
	case r.queues[h.Sum32()%eventWriters] <- write:
		return true
	default:
		eventsDropped.Inc()
		return false
	}
}

// lastEventNano makes every Event name of this process unique.
var lastEventNano atomic.Int64

// eventName is client-go's naming: the object's name and the wall time in
// hex nanoseconds, made unique in the process (the reconcilers' clock may
// stand still in tests, and two Events may come in the same nanosecond),
// or a fixed-length name when that would not be a valid name.
func eventName(objectName string) string {
	nano := time.Now().UnixNano()
	for {
		last := lastEventNano.Load()
		if nano <= last {
			nano = last + 1
		}
		if lastEventNano.CompareAndSwap(last, nano) {
			break
		}
	}
	name := fmt.Sprintf("%s.%x", objectName, nano)
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		name = fmt.Sprintf("certsmith.%x", nano)
	}
	return name
}

// Start implements manager.Runnable: the writers, until ctx ends.
func (r *eventRecorder) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, queue := range r.queues {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case write := <-queue:
					r.write(ctx, write)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: a standby
// writes the few Events it has too.
func (r *eventRecorder) NeedLeaderElection() bool { return false }

// write writes one Event or series count, retrying only what may succeed
// later, at most maxEventTries times.
func (r *eventRecorder) write(ctx context.Context, w eventWrite) {
	for try := 1; ; try++ {
		err := r.writeOnce(ctx, w)
		if err == nil {
			return
		}
		if apierrors.IsNotFound(err) && w.event == nil {
			// The Event of the series is gone (its TTL, or a user): the
			// next repeat writes a new one.
			r.forget(w.namespace, w.name)
			return
		}
		retry := !apierrors.IsAlreadyExists(err) && !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) &&
			!apierrors.IsBadRequest(err) && !apierrors.IsNotFound(err)
		if !retry || try >= maxEventTries || ctx.Err() != nil {
			eventsDropped.Inc()
			if w.event != nil {
				r.forget(w.event.Namespace, w.event.Name)
			}
			logf.FromContext(ctx).V(1).Info("dropped an Event", "error", err.Error())
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait.Jitter(r.retryDelay, 0.5)):
		}
	}
}

func (r *eventRecorder) writeOnce(ctx context.Context, w eventWrite) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if w.event != nil {
		return r.client.Create(ctx, w.event.DeepCopy())
	}
	event := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: w.name}}
	patch := fmt.Sprintf(`{"series":{"count":%d,"lastObservedTime":%q}}`, w.count, metav1.NewMicroTime(w.observed).UTC().Format(metav1.RFC3339Micro))
	return r.client.Patch(ctx, event, client.RawPatch("application/merge-patch+json", []byte(patch)))
}
