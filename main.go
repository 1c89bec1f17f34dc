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

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
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

func main() {
	var (
		metricsAddr, probeAddr, pprofAddr, crlAddr, namespace, clusterDomain string
		leaderElect, caInjection                                             bool
		qps                                                                  float64
		burst, workers                                                       int
	)
	defaultNamespace := os.Getenv("POD_NAMESPACE")
	if defaultNamespace == "" {
		defaultNamespace = "certsmith-system"
	}
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address the metrics endpoint binds to; \"0\" disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address that serves the Go profiler (/debug/pprof/); empty (the default) turns it off.")
	flag.StringVar(&crlAddr, "crl-bind-address", ":8089", "Address that serves the issuers' CRLs over HTTP (/crl/), on every replica; \"0\" disables it.")
	flag.BoolVar(&leaderElect, "leader-elect", true, "Elect a leader, so that only one replica reconciles at a time.")
	flag.StringVar(&namespace, "namespace", defaultNamespace, "The operator's namespace, where CA Secrets are kept (default: $POD_NAMESPACE or certsmith-system).")
	flag.StringVar(&clusterDomain, "cluster-domain", "cluster.local", "The cluster's DNS domain, used for service names.")
	// Sized so that 1,000 certificates issued at once are limited by the
	// API server, not by the operator: measured in docs/benchmarks.md.
	flag.Float64Var(&qps, "kube-api-qps", 500, "Queries per second to the API server, per resource type.")
	flag.IntVar(&burst, "kube-api-burst", 1000, "Burst of queries to the API server, per resource type.")
	flag.IntVar(&workers, "workers", 32, "Concurrent reconciles of the ServiceCertificate and CertificateSigningRequest controllers.")
	flag.BoolVar(&caInjection, "enable-ca-injection", false,
		"Keep the caBundle of webhook configurations, APIServices and CRDs annotated with certsmith.io/inject-ca-from; needs the ClusterRole in config/rbac-cainjector.")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	if err := run(metricsAddr, probeAddr, pprofAddr, crlAddr, namespace, clusterDomain, leaderElect, caInjection, float32(qps), burst, workers); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(metricsAddr, probeAddr, pprofAddr, crlAddr, namespace, clusterDomain string, leaderElect, caInjection bool, qps float32, burst, workers int) error {
	log := ctrl.Log.WithName("setup")
	config, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	config.QPS, config.Burst = qps, burst

	username, err := controllers.WhoAmI(context.Background(), config)
	if err != nil {
		return err
	}
	log.Info("starting", "username", username, "namespace", namespace, "clusterDomain", clusterDomain)

	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        pprofAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "certsmith.io",
		LeaderElectionNamespace: namespace,
		Cache:                   controllers.CacheOptions(namespace),
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := controllers.SetupWithManager(mgr, controllers.Options{
		Namespace:     namespace,
		ClusterDomain: clusterDomain,
		Username:      username,
		Workers:       workers,
		Clock:         clock.RealClock{},
		CAInjection:   caInjection,
	}); err != nil {
		return err
	}
	// CRLs are public: every replica serves them from its cache, not only the leader.
	if err := mgr.Add(crlserver.NewServer(crlAddr, crlserver.NewHandler(mgr.GetCache(), namespace, clock.RealClock{}))); err != nil {
		return fmt.Errorf("adding the CRL server: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}
