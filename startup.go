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
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Start-up: the manager waits for the API server rather than exiting, so
// that an API server restarted or unreachable at the same time as the
// manager (an upgrade, a node reboot) costs a delay, not a crash loop.
const (
	startupFirstBackoff = time.Second
	startupMaxBackoff   = 30 * time.Second
)

// waitFor calls try until it succeeds or ctx ends, waiting between calls
// from startupFirstBackoff, doubling up to startupMaxBackoff. Each failure
// is logged with the wait before the next try. An error that waiting does
// not cure (401 Unauthorized: a bad token; 403 Forbidden: missing RBAC)
// ends it at once, so that the replica exits with it.
func waitFor[T any](ctx context.Context, log logr.Logger, what string, try func(context.Context) (T, error)) (T, error) {
	return waitWith(ctx, log, what, try, time.After)
}

// waitWith is waitFor with the timer as a parameter (tests step it).
func waitWith[T any](ctx context.Context, log logr.Logger, what string, try func(context.Context) (T, error), after func(time.Duration) <-chan time.Time) (T, error) {
	wait := startupFirstBackoff
	for attempt := 1; ; attempt++ {
		v, err := try(ctx)
		if err == nil {
			return v, nil
		}
		var zero T
		if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
			return zero, fmt.Errorf("%s: %w", what, err)
		}
		log.Info("waiting for the API server", "for", what, "attempt", attempt, "retryIn", wait.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("stopped while waiting for the API server (%s): %w", what, errors.Join(ctx.Err(), err))
		case <-after(wait):
		}
		wait = min(2*wait, startupMaxBackoff)
	}
}

// startupProbes answers the probes while the manager waits for the API
// server, before the manager's own probe server exists: /healthz ok (the
// process is alive: the kubelet must not restart it for waiting), /readyz
// not (it serves nothing yet). The returned stop frees the address for the
// manager.
func startupProbes(address string) (stop func(), err error) {
	if address == "" || address == "0" {
		return func() {}, nil
	}
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("listening on %s for the probes: %w", address, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "waiting for the API server", http.StatusServiceUnavailable)
	})
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { _ = server.Serve(listener); close(done) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
		<-done
	}, nil
}

// probeTimeout bounds each readiness check, below the probe's own timeout.
const probeTimeout = 2 * time.Second

// apiServerReachable is a readiness check: the API server answers its own
// /readyz (which anyone may read) within probeTimeout. A replica that
// cannot reach it leaves the Services until it can.
func apiServerReachable(config *rest.Config) (healthz.Checker, error) {
	cfg := rest.CopyConfig(config)
	cfg.Timeout = probeTimeout
	client, err := rest.UnversionedRESTClientFor(withNegotiatedSerializer(cfg))
	if err != nil {
		return nil, err
	}
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), probeTimeout)
		defer cancel()
		if err := client.Get().AbsPath("/readyz").Do(ctx).Error(); err != nil {
			return fmt.Errorf("the API server is not reachable: %w", err)
		}
		return nil
	}, nil
}

// withNegotiatedSerializer gives a REST config the serializer an
// unversioned client needs to read plain-text answers.
func withNegotiatedSerializer(cfg *rest.Config) *rest.Config {
	if cfg.NegotiatedSerializer == nil {
		cfg.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	}
	return cfg
}

// cacheSynced is a readiness check: every informer the manager has started
// has synced. A standby replica, which runs no controllers, has the
// informers of the CRL server only, and is Ready once those are.
func cacheSynced(wait func(context.Context) bool) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), probeTimeout)
		defer cancel()
		if !wait(ctx) {
			return errors.New("the caches have not synced")
		}
		return nil
	}
}

// leaderGauge says whether this replica holds the leader Lease (1) or is a
// standby (0); with --leader-elect=false, every replica leads. The sum over
// replicas is 1 while a leader runs.
var leaderGauge = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "certsmith_leader",
	Help: "1 while this replica is the leader (holds the leader-election Lease), 0 while it is a standby.",
})

func init() {
	metrics.Registry.MustRegister(leaderGauge)
}

// reportLeadership sets certsmith_leader to 0, then to 1 once elected is
// closed (the manager has won the election), until ctx ends.
func reportLeadership(ctx context.Context, elected <-chan struct{}) {
	leaderGauge.Set(0)
	select {
	case <-elected:
		leaderGauge.Set(1)
	case <-ctx.Done():
	}
}
