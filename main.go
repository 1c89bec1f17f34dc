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

// Command manager runs the certsmith operator: its controllers (the
// ClusterIssuer, ServiceCertificate, CertificateSigningRequest, bundle and
// CA-injection controllers; see docs/architecture.md) in one process.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/controllers"
	"github.com/certsmith/certsmith/internal/crlserver"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(certsmithv1alpha1.AddToScheme(scheme))
}

// settings are the manager's flags.
type settings struct {
	metricsAddr, probeAddr, pprofAddr, crlAddr, namespace, clusterDomain string
	leaderElect, caInjection                                             bool
	qps                                                                  float64
	burst, workers                                                       int
	leaseDuration, renewDeadline, retryPeriod, gracefulShutdown          time.Duration
	maxRetryDelay                                                        time.Duration
}

func main() {
	var s settings
	defaultNamespace := os.Getenv("POD_NAMESPACE")
	if defaultNamespace == "" {
		defaultNamespace = "certsmith-system"
	}
	flag.StringVar(&s.metricsAddr, "metrics-bind-address", ":8080", "Address the metrics endpoint binds to; \"0\" disables it.")
	flag.StringVar(&s.probeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	flag.StringVar(&s.pprofAddr, "pprof-bind-address", "", "Address that serves the Go profiler (/debug/pprof/); empty (the default) turns it off.")
	flag.StringVar(&s.crlAddr, "crl-bind-address", ":8089", "Address that serves the issuers' CRLs over HTTP (/crl/), on every replica; \"0\" disables it.")
	flag.BoolVar(&s.leaderElect, "leader-elect", true, "Elect a leader, so that only one replica reconciles at a time.")
	// client-go's defaults: a standby takes over within LeaseDuration of a
	// leader's loss; a leader that cannot renew for RenewDeadline stops.
	flag.DurationVar(&s.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "How long a leader's Lease is valid without renewal: a standby takes over at most this long after the leader is lost.")
	flag.DurationVar(&s.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew its Lease before it stops leading (and exits); less than the lease duration.")
	flag.DurationVar(&s.retryPeriod, "leader-elect-retry-period", 2*time.Second, "How often replicas try to acquire or renew the Lease.")
	flag.DurationVar(&s.gracefulShutdown, "graceful-shutdown-timeout", 5*time.Second, "How long a stopping manager lets reconciles finish before it gives up the Lease and exits; keep it below the Pod's terminationGracePeriodSeconds, so that the Lease is released before the kubelet kills it.")
	flag.StringVar(&s.namespace, "namespace", defaultNamespace, "The operator's namespace, where CA Secrets are kept (default: $POD_NAMESPACE or certsmith-system).")
	flag.StringVar(&s.clusterDomain, "cluster-domain", "cluster.local", "The cluster's DNS domain, used for service names.")
	// Sized so that 1,000 certificates issued at once are limited by the
	// API server, not by the operator: measured in docs/benchmarks.md.
	flag.Float64Var(&s.qps, "kube-api-qps", 500, "Queries per second to the API server, per resource type.")
	flag.IntVar(&s.burst, "kube-api-burst", 1000, "Burst of queries to the API server, per resource type.")
	flag.DurationVar(&s.maxRetryDelay, "max-retry-delay", controllers.DefaultMaxRetryDelay,
		"The longest a failed reconcile waits before its next try: the back-off starts at 5ms and doubles per failure in a row, up to this; after an API outage every object is tried again within it.")
	flag.IntVar(&s.workers, "workers", 32, "Concurrent reconciles of the ServiceCertificate and CertificateSigningRequest controllers.")
	flag.BoolVar(&s.caInjection, "enable-ca-injection", false,
		"Keep the caBundle of webhook configurations, APIServices and CRDs annotated with certsmith.io/inject-ca-from; needs the ClusterRole in config/rbac-cainjector.")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	if err := s.validate(); err != nil {
		log.Error(err, "invalid flags")
		os.Exit(2)
	}
	if err := run(s); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

// validate checks the flags that depend on each other.
func (s settings) validate() error {
	if s.leaseDuration <= 0 || s.renewDeadline <= 0 || s.retryPeriod <= 0 {
		return fmt.Errorf("the leader-election durations must be positive")
	}
	if s.renewDeadline >= s.leaseDuration {
		return fmt.Errorf("--leader-elect-renew-deadline (%s) must be less than --leader-elect-lease-duration (%s)", s.renewDeadline, s.leaseDuration)
	}
	// client-go's own rule: the renewal must have room for a jittered retry.
	if float64(s.renewDeadline) <= leaderelection.JitterFactor*float64(s.retryPeriod) {
		return fmt.Errorf("--leader-elect-renew-deadline (%s) must be more than %.1f times --leader-elect-retry-period (%s)",
			s.renewDeadline, leaderelection.JitterFactor, s.retryPeriod)
	}
	if s.gracefulShutdown <= 0 {
		return fmt.Errorf("--graceful-shutdown-timeout must be positive")
	}
	if s.maxRetryDelay < time.Second {
		return fmt.Errorf("--max-retry-delay (%s) must be at least 1s", s.maxRetryDelay)
	}
	return nil
}

func run(s settings) error {
	log := ctrl.Log.WithName("setup")
	ctx := ctrl.SetupSignalHandler()
	if limit, err := setGoMemoryLimit(os.Getenv); err != nil {
		log.Error(err, "memory limit")
	} else if limit > 0 {
		log.Info("Go memory limit set from the container's", "bytes", limit)
	}
	config, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	config.QPS, config.Burst = float32(s.qps), s.burst

	// An API server that is not there yet (restarting with the manager) is
	// waited for with bounded back-off, not a crash loop; meanwhile the
	// probes say alive, not ready.
	stopProbes, err := startupProbes(s.probeAddr)
	if err != nil {
		return err
	}
	username, err := waitFor(ctx, log, "the operator's identity", func(ctx context.Context) (string, error) {
		return controllers.WhoAmI(ctx, config)
	})
	var clusterTrustBundles bool
	if err == nil {
		clusterTrustBundles, err = waitFor(ctx, log, "API discovery", func(context.Context) (bool, error) {
			return controllers.DiscoverClusterTrustBundles(config)
		})
	}
	stopProbes()
	if err != nil {
		return err
	}
	log.Info("starting", "username", username, "namespace", s.namespace, "clusterDomain", s.clusterDomain)

	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: s.metricsAddr},
		HealthProbeBindAddress:  s.probeAddr,
		PprofBindAddress:        s.pprofAddr,
		LeaderElection:          s.leaderElect,
		LeaderElectionID:        "certsmith.io",
		LeaderElectionNamespace: s.namespace,
		// A replica that stops (SIGTERM, a rollout) gives up the Lease at
		// once: the standby takes over without waiting for it to expire.
		LeaderElectionReleaseOnCancel: true,
		// Reconciles get this long to finish before the Lease is released:
		// less than the Pod's grace period, so the release comes before a
		// SIGKILL.
		GracefulShutdownTimeout: &s.gracefulShutdown,
		LeaseDuration:           &s.leaseDuration,
		RenewDeadline:           &s.renewDeadline,
		RetryPeriod:             &s.retryPeriod,
		Cache:                   controllers.CacheOptions(s.namespace),
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := controllers.SetupWithManager(mgr, controllers.Options{
		Namespace:     s.namespace,
		ClusterDomain: s.clusterDomain,
		Username:      username,
		Workers:       s.workers,
		MaxRetryDelay: s.maxRetryDelay,
		Clock:         clock.RealClock{},
		CAInjection:   s.caInjection,
		// Discovered while waiting for the API server, not guessed from
		// a mapper that cannot reach it.
		ClusterTrustBundles: &clusterTrustBundles,
	}); err != nil {
		return err
	}
	// CRLs are public: every replica serves them from its cache, not only the leader.
	if err := mgr.Add(crlserver.NewServer(s.crlAddr, crlserver.NewHandler(mgr.GetCache(), s.namespace, clock.RealClock{}))); err != nil {
		return fmt.Errorf("adding the CRL server: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	// Ready: the caches synced and the API server reachable. A standby is
	// Ready too, so that a rollout of two replicas finishes.
	if err := mgr.AddReadyzCheck("caches", cacheSynced(mgr.GetCache().WaitForCacheSync)); err != nil {
		return err
	}
	reachable, err := apiServerReachable(config)
	if err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("api-server", reachable); err != nil {
		return err
	}
	go reportLeadership(ctx, mgr.Elected())
	return mgr.Start(ctx)
}
