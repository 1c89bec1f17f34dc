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
	"io"
	"math/rand/v2"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
)

// An informer's reflector that cannot list or watch backs off on its own:
// from 0.8 s, doubling, up to 30 s with a jitter of up to as much again,
// and it keeps that back-off until it has gone two minutes without a
// failure. A replica whose caches ran through an API server restart may
// so sleep up to a minute after the API server is back before it relists
// one kind, and it cannot sign the CSRs it creates while the CSR informer
// sleeps. certsmith's informers therefore wait out an API server that is
// not there (the connection refused, reset or cut, or a 503 that says
// nothing more) themselves, with a short capped back-off: at most
// apiDownRetryMax after the API server answers again, one request per
// informer per apiDownRetryMax at most while it does not, longer when a
// 503 asks for it (Retry-After). Any other answer goes to the reflector as
// before: a 429 from API Priority and Fairness, whose back-off client-go
// and the reflector already honour, and a 504 or a 500 ServerTimeout,
// which mean an API server that is there but overloaded, or (a 504 with
// the cause ResourceVersionTooLarge) one that has not seen the
// resourceVersion asked for, which the reflector answers by listing anew.
const (
	apiDownRetryFirst = 200 * time.Millisecond
	apiDownRetryMax   = 2 * time.Second
)

// newInformer is the cache's informer constructor: client-go's, over a
// ListerWatcher that waits out an API server that is down.
func newInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	return toolscache.NewSharedIndexInformer(waitingOutAPIDown(lw), obj, resync, indexers)
}

// apiDownWaiter is a ListerWatcher whose List and Watch retry, with
// backoff from first to max, while the API server is down, until it
// answers or the context ends.
type apiDownWaiter struct {
	inner toolscache.ListerWatcherWithContext
	// watchListUnsupported is the inner ListerWatcher's answer, passed on
	// to the reflector (watchlist.DoesClientNotSupportWatchListSemantics).
	watchListUnsupported bool
	first, max           time.Duration
	// wait sleeps for d or until ctx ends (tests make it instant).
	wait func(ctx context.Context, d time.Duration) error
}

func waitingOutAPIDown(lw toolscache.ListerWatcher) *apiDownWaiter {
	return &apiDownWaiter{
		inner:                toolscache.ToListerWatcherWithContext(lw),
		watchListUnsupported: watchlist.DoesClientNotSupportWatchListSemantics(lw),
		first:                apiDownRetryFirst,
		max:                  apiDownRetryMax,
		wait:                 sleepContext,
	}
}

// List implements toolscache.Lister.
func (w *apiDownWaiter) List(options metav1.ListOptions) (runtime.Object, error) {
	return w.ListWithContext(context.Background(), options)
}

// Watch implements toolscache.Watcher.
func (w *apiDownWaiter) Watch(options metav1.ListOptions) (watch.Interface, error) {
	return w.WatchWithContext(context.Background(), options)
}

// ListWithContext implements toolscache.ListerWithContext.
func (w *apiDownWaiter) ListWithContext(ctx context.Context, options metav1.ListOptions) (runtime.Object, error) {
	return retryWhileAPIDown(ctx, w, func() (runtime.Object, error) { return w.inner.ListWithContext(ctx, options) })
}

// WatchWithContext implements toolscache.WatcherWithContext.
func (w *apiDownWaiter) WatchWithContext(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
	return retryWhileAPIDown(ctx, w, func() (watch.Interface, error) { return w.inner.WatchWithContext(ctx, options) })
}

// IsWatchListSemanticsUnSupported passes the inner ListerWatcher's answer on.
func (w *apiDownWaiter) IsWatchListSemanticsUnSupported() bool {
	return w.watchListUnsupported
}

// retryWhileAPIDown calls do until it returns anything but an error of an
// API server that is down, or ctx ends (then the last error).
func retryWhileAPIDown[T any](ctx context.Context, w *apiDownWaiter, do func() (T, error)) (T, error) {
	delay := w.first
	for {
		result, err := do()
		if err == nil || !apiServerDown(err) || ctx.Err() != nil {
			return result, err
		}
		// A jitter of up to a fifth keeps the informers from knocking together.
		next := delay + rand.N(delay/5+1)
		if seconds, asked := apierrors.SuggestsClientDelay(err); asked {
			next = max(next, time.Duration(min(seconds, maxAskedDelaySeconds))*time.Second)
		}
		if w.wait(ctx, next) != nil {
			return result, err
		}
		delay = min(2*delay, w.max)
	}
}

// maxAskedDelaySeconds bounds how long a Retry-After makes an informer wait.
const maxAskedDelaySeconds = 60

// apiServerDown reports whether err says that the API server is not
// there to answer: the connection refused, reset or cut short, or a 503
// (the API server starting or stopping, or a proxy before it) that gives
// no cause of its own.
func apiServerDown(err error) bool {
	switch {
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case apierrors.IsServiceUnavailable(err):
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			if details := status.Status().Details; details != nil && len(details.Causes) > 0 {
				return false
			}
		}
		return true
	}
	return false
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
