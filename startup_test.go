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

package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

func TestWaitForRetriesUntilSuccess(t *testing.T) {
	calls := 0
	start := time.Now()
	got, err := waitFor(context.Background(), logr.Discard(), "test", func(context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "", errors.New("connection refused")
		}
		return "alice", nil
	})
	if err != nil || got != "alice" || calls != 3 {
		t.Fatalf("waitFor = %q, %v after %d calls; want alice after 3", got, err, calls)
	}
	// Two waits: 1 s, then 2 s (the back-off doubles).
	if elapsed := time.Since(start); elapsed < 3*time.Second {
		t.Errorf("returned after %s, before the back-off of 1 s + 2 s", elapsed)
	}
}

func TestWaitForStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	calls := 0
	_, err := waitFor(ctx, logr.Discard(), "test", func(context.Context) (int, error) {
		calls++
		return 0, errors.New("connection refused")
	})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want the context's end and the last failure", err)
	}
	if calls != 1 {
		t.Errorf("%d calls within 100 ms, want 1 (no hot loop)", calls)
	}
}

func TestStartupBackoffIsBounded(t *testing.T) {
	var waits []time.Duration
	after := func(d time.Duration) <-chan time.Time {
		waits = append(waits, d)
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	calls := 0
	_, err := waitWith(context.Background(), logr.Discard(), "test", func(context.Context) (int, error) {
		calls++
		if calls <= 10 {
			return 0, errors.New("connection refused")
		}
		return 1, nil
	}, after)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	if !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v (1 s doubling, at most 30 s)", waits, want)
	}
}

func TestWaitForEndsOnPermanentErrors(t *testing.T) {
	for name, permanent := range map[string]error{
		"unauthorized": apierrors.NewUnauthorized("token expired"),
		"forbidden":    apierrors.NewForbidden(schema.GroupResource{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}, "", errors.New("no RBAC")),
	} {
		calls := 0
		_, err := waitWith(context.Background(), logr.Discard(), "identity", func(context.Context) (int, error) {
			calls++
			return 0, permanent
		}, func(time.Duration) <-chan time.Time { t.Fatalf("%s: waited", name); return nil })
		if err == nil || calls != 1 {
			t.Errorf("%s: err %v after %d calls, want the error at once", name, err, calls)
		}
	}
}

func TestStartupProbes(t *testing.T) {
	address := "127.0.0.1:0"
	listener, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	address = listener.Addr().String()
	_ = listener.Close()
	stop, err := startupProbes(address)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) int {
		resp, err := http.Get("http://" + address + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while waiting: %d, want 200 (alive)", code)
	}
	if code := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while waiting: %d, want 503 (not ready)", code)
	}
	stop()
	// The address is free again for the manager's own probe server.
	again, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatalf("the address is still taken after stop: %v", err)
	}
	_ = again.Close()
}

func TestAPIServerReachable(t *testing.T) {
	var healthy atomic.Bool
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !healthy.Load() {
			http.Error(w, "[-]etcd failed", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer server.Close()
	check, err := apiServerReachable(&rest.Config{Host: server.URL})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	if err := check(req); err == nil {
		t.Error("ready while the API server answers 500")
	}
	healthy.Store(true)
	if err := check(req); err != nil {
		t.Errorf("not ready while the API server answers ok: %v", err)
	}
	server.Close()
	if err := check(req); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("check with the API server gone = %v, want not reachable", err)
	}
}

func TestCacheSynced(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	if err := cacheSynced(func(context.Context) bool { return true })(req); err != nil {
		t.Errorf("synced caches: %v", err)
	}
	// A cache that never syncs: the check ends within its timeout.
	start := time.Now()
	err := cacheSynced(func(ctx context.Context) bool { <-ctx.Done(); return false })(req)
	if err == nil {
		t.Error("ready with caches that have not synced")
	}
	if elapsed := time.Since(start); elapsed > probeTimeout+time.Second {
		t.Errorf("the check took %s, more than its timeout %s", elapsed, probeTimeout)
	}
}

func TestReportLeadership(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	elected := make(chan struct{})
	done := make(chan struct{})
	leaderGauge.Set(1) // as a leader before a restart would have left it
	go func() { reportLeadership(ctx, elected); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(leaderGauge) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(leaderGauge); got != 0 {
		t.Fatalf("certsmith_leader = %v before the election, want 0", got)
	}
	close(elected)
	<-done
	if got := testutil.ToFloat64(leaderGauge); got != 1 {
		t.Errorf("certsmith_leader = %v once elected, want 1", got)
	}
}

func TestSettingsValidate(t *testing.T) {
	good := settings{leaseDuration: 15 * time.Second, renewDeadline: 10 * time.Second, retryPeriod: 2 * time.Second,
		gracefulShutdown: 5 * time.Second, maxRetryDelay: 30 * time.Second}
	if err := good.validate(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
	// Each bad case is the defaults with one thing changed, so that it is
	// rejected for that thing.
	for name, change := range map[string]func(*settings){
		"renew deadline not below the lease": func(s *settings) { s.leaseDuration, s.renewDeadline = 10*time.Second, 10*time.Second },
		"retry period not below the renewal": func(s *settings) { s.renewDeadline, s.retryPeriod = 2*time.Second, 2*time.Second },
		"no room for a jittered retry":       func(s *settings) { s.retryPeriod = 9 * time.Second },
		"no graceful shutdown":               func(s *settings) { s.gracefulShutdown = 0 },
		"no lease duration":                  func(s *settings) { s.leaseDuration = 0 },
		"a retry delay below a second":       func(s *settings) { s.maxRetryDelay = 500 * time.Millisecond },
		"no retry delay":                     func(s *settings) { s.maxRetryDelay = 0 },
	} {
		s := good
		change(&s)
		if err := s.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := (settings{}).validate(); err == nil {
		t.Error("zero settings: accepted")
	}
}
