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
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
)

// refused is the error of a dial to an API server that is not listening.
var refused = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

// failingThenAnswering is a ListerWatcher that fails with err the first
// failures calls to List and to Watch, then answers.
type failingThenAnswering struct {
	err                 error
	failures            int
	lists, watches      int
	watchListUnsupports bool
}

func (f *failingThenAnswering) List(metav1.ListOptions) (runtime.Object, error) {
	f.lists++
	if f.lists <= f.failures {
		return nil, f.err
	}
	return &corev1.SecretList{}, nil
}

func (f *failingThenAnswering) Watch(metav1.ListOptions) (watch.Interface, error) {
	f.watches++
	if f.watches <= f.failures {
		return nil, f.err
	}
	return watch.NewFake(), nil
}

func (f *failingThenAnswering) IsWatchListSemanticsUnSupported() bool { return f.watchListUnsupports }

// waiter is waitingOutAPIDown over lw with the waits recorded, not slept.
func waiter(lw toolscache.ListerWatcher, waits *[]time.Duration) *apiDownWaiter {
	w := waitingOutAPIDown(lw)
	w.wait = func(ctx context.Context, d time.Duration) error {
		*waits = append(*waits, d)
		return ctx.Err()
	}
	return w
}

// TestInformersWaitOutAnAPIServerThatIsDown: List and Watch retry while
// the API server is down, from apiDownRetryFirst doubling to at most
// apiDownRetryMax (plus a fifth of jitter), however long it stays down,
// and answer as soon as it is back; every other error (a 429 above all)
// goes to the reflector at once, as does a cancelled context.
func TestInformersWaitOutAnAPIServerThatIsDown(t *testing.T) {
	gr := schema.GroupResource{Resource: "secrets"}
	down := []error{
		refused,
		fmt.Errorf("Get \"https://127.0.0.1:6443/api/v1/secrets\": %w", refused),
		&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)},
		io.EOF,
		io.ErrUnexpectedEOF,
		apierrors.NewServiceUnavailable("the server is shutting down"),
	}
	for _, err := range down {
		t.Run("down: "+err.Error(), func(t *testing.T) {
			const failures = 40 // far more than the back-off takes to reach its cap
			lw := &failingThenAnswering{err: err, failures: failures}
			var waits []time.Duration
			w := waiter(lw, &waits)
			if _, got := w.ListWithContext(context.Background(), metav1.ListOptions{}); got != nil {
				t.Fatalf("List: %v, want an answer once the API server is back", got)
			}
			if lw.lists != failures+1 || len(waits) != failures {
				t.Fatalf("List: %d calls and %d waits, want %d and %d", lw.lists, len(waits), failures+1, failures)
			}
			if waits[0] < apiDownRetryFirst || waits[0] > apiDownRetryFirst*6/5 {
				t.Errorf("first wait %s, want %s and at most a fifth more", waits[0], apiDownRetryFirst)
			}
			for i, d := range waits {
				if d > apiDownRetryMax*6/5+time.Millisecond {
					t.Fatalf("wait %d is %s, above the cap %s and its jitter", i, d, apiDownRetryMax)
				}
				if i > 0 && d < min(2*waits[i-1]*5/6, apiDownRetryMax) {
					t.Fatalf("wait %d is %s after %s: the back-off does not grow to its cap", i, d, waits[i-1])
				}
			}
			if last := waits[len(waits)-1]; last < apiDownRetryMax {
				t.Errorf("last wait %s, want the cap %s", last, apiDownRetryMax)
			}
			waits = nil
			if _, got := w.WatchWithContext(context.Background(), metav1.ListOptions{}); got != nil || lw.watches != failures+1 || len(waits) != failures {
				t.Fatalf("Watch: %v after %d calls and %d waits, want an answer after %d", got, lw.watches, len(waits), failures+1)
			}
		})
	}

	tooLarge := apierrors.NewTimeoutError("Too large resource version", 1)
	tooLarge.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	withCause := apierrors.NewServiceUnavailable("unavailable for a reason")
	withCause.ErrStatus.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "SomeCause"}}}
	notDown := []error{
		apierrors.NewTooManyRequests("slow down", 1),
		// Overloaded, not gone: the reflector's back-off and Retry-After apply.
		apierrors.NewTimeoutError("etcd", 1),
		apierrors.NewServerTimeout(gr, "list", 1),
		// The reflector must see this one: it lists anew from no resourceVersion.
		tooLarge,
		withCause,
		apierrors.NewForbidden(gr, "", errors.New("RBAC")),
		apierrors.NewResourceExpired("too old resource version"),
		apierrors.NewInternalError(errors.New("a bug")),
		errors.New("anything else"),
	}
	for _, err := range notDown {
		t.Run("passed on: "+err.Error(), func(t *testing.T) {
			lw := &failingThenAnswering{err: err, failures: 1}
			var waits []time.Duration
			w := waiter(lw, &waits)
			if _, got := w.ListWithContext(context.Background(), metav1.ListOptions{}); !errors.Is(got, err) {
				t.Fatalf("List: %v, want %v at once", got, err)
			}
			if _, got := w.WatchWithContext(context.Background(), metav1.ListOptions{}); !errors.Is(got, err) {
				t.Fatalf("Watch: %v, want %v at once", got, err)
			}
			if lw.lists != 1 || lw.watches != 1 || len(waits) != 0 {
				t.Fatalf("%d lists, %d watches, %d waits: want one call each and no wait", lw.lists, lw.watches, len(waits))
			}
		})
	}

	t.Run("a Retry-After of a 503 is honoured, up to a minute", func(t *testing.T) {
		for _, tc := range []struct {
			seconds int
			want    time.Duration
		}{{5, 5 * time.Second}, {3600, maxAskedDelaySeconds * time.Second}} {
			asked := apierrors.NewServiceUnavailable("starting")
			asked.ErrStatus.Details = &metav1.StatusDetails{RetryAfterSeconds: int32(tc.seconds)}
			lw := &failingThenAnswering{err: asked, failures: 1}
			var waits []time.Duration
			if _, err := waiter(lw, &waits).ListWithContext(context.Background(), metav1.ListOptions{}); err != nil || len(waits) != 1 || waits[0] != tc.want {
				t.Fatalf("Retry-After %d s: %v, waits %v; want one wait of %s", tc.seconds, err, waits, tc.want)
			}
		}
	})

	t.Run("a cancelled context ends the wait with the last error", func(t *testing.T) {
		lw := &failingThenAnswering{err: refused, failures: 1 << 30}
		ctx, cancel := context.WithCancel(context.Background())
		w := waitingOutAPIDown(lw)
		w.wait = func(ctx context.Context, d time.Duration) error {
			if lw.lists == 3 {
				cancel()
			}
			return sleepContext(ctx, time.Millisecond)
		}
		if _, got := w.ListWithContext(ctx, metav1.ListOptions{}); !errors.Is(got, refused) {
			t.Fatalf("List: %v, want the refused dial", got)
		}
		if lw.lists != 3 {
			t.Fatalf("%d lists, want 3: the cancel did not end the retries", lw.lists)
		}
		if err := sleepContext(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("sleepContext on a cancelled context: %v", err)
		}
	})

	t.Run("watch-list support is passed on to the reflector", func(t *testing.T) {
		for _, unsupported := range []bool{false, true} {
			if got := waitingOutAPIDown(&failingThenAnswering{watchListUnsupports: unsupported}).IsWatchListSemanticsUnSupported(); got != unsupported {
				t.Errorf("IsWatchListSemanticsUnSupported %v, want %v", got, unsupported)
			}
		}
	})

	t.Run("the cache's informers use it", func(t *testing.T) {
		if CacheOptions("certsmith-system").NewInformer == nil {
			t.Fatal("CacheOptions has no NewInformer: the informers back off up to a minute after an API server outage")
		}
		informer := newInformer(&failingThenAnswering{}, &corev1.Secret{}, 0, toolscache.Indexers{})
		if informer == nil {
			t.Fatal("newInformer returned nil")
		}
	})
}
