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

// Package steppedclock is the stepped-clock suite: replicas of the
// manager, in this process, with leader election against a real
// kube-apiserver and etcd (envtest), all reading one fake clock. The
// clock steps forward across renewal times and a CA's renewal point
// while the leader is lost, and a new leader takes over from what the API
// server holds. Leader election itself runs on real time, as it does in
// production; only certsmith's own decisions read the stepped clock.
package steppedclock

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/controllers"
	"github.com/certsmith/certsmith/internal/testenv"
)

const (
	operatorNamespace = "certsmith-system"
	operatorUser      = "certsmith-operator"
	clusterDomain     = "cluster.local"
	// leaseName is the manager's Lease, as main.go names it.
	leaseName = "certsmith.io"

	// Short leader-election timings (the defaults' relations, 15s/10s/2s),
	// so that a lost leader is replaced in seconds.
	leaseDuration = 3 * time.Second
	renewDeadline = 2 * time.Second
	retryPeriod   = 250 * time.Millisecond
)

var (
	testEnv   *envtest.Environment
	k8sClient client.Client // admin
	// watchClient watches CSRs as admin.
	watchClient    client.WithWatch
	testScheme     = runtime.NewScheme()
	operatorConfig *rest.Config
	username       string
	trustBundles   bool
	// fakeClock is every replica's clock.
	fakeClock *clocktesting.FakeClock
	ctx       context.Context
	cancel    context.CancelFunc
)

func TestSteppedClock(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Stepped clock suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	Expect(clientgoscheme.AddToScheme(testScheme)).To(Succeed())
	Expect(certsmithv1alpha1.AddToScheme(testScheme)).To(Succeed())

	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join("..", "..", "bin", "k8s")
	}
	Expect(filepath.Join(assets, "kube-apiserver")).To(BeAnExistingFile(), "run 'make k8s-binaries' first")
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	adminConfig, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(adminConfig, client.Options{Scheme: testScheme})
	Expect(err).NotTo(HaveOccurred())
	watchClient, err = client.NewWithWatch(adminConfig, client.Options{Scheme: testScheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())

	// The operator runs as a non-admin user bound only to the generated
	// RBAC, as in the controllers' suite.
	user, err := testEnv.AddUser(envtest.User{Name: operatorUser}, adminConfig)
	Expect(err).NotTo(HaveOccurred())
	subject := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: operatorUser}
	Expect(testenv.BindRoles(ctx, k8sClient, subject, filepath.Join("..", "..", "config", "rbac", "role.yaml"))).To(Succeed())
	operatorConfig = user.Config()
	username, err = controllers.WhoAmI(ctx, operatorConfig)
	Expect(err).NotTo(HaveOccurred())
	Expect(username).To(Equal(operatorUser))
	trustBundles, err = controllers.DiscoverClusterTrustBundles(operatorConfig)
	Expect(err).NotTo(HaveOccurred())

	// Whole seconds, as the API's timestamps are: a time read back from a
	// status is the clock's time.
	fakeClock = clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// replica is one manager, as one Pod of the Deployment would run it.
type replica struct {
	name   string
	mgr    ctrl.Manager
	cancel context.CancelFunc
	done   chan error
	// exited is set once the manager has returned, stopped or by itself
	// (as on losing the Lease).
	exited atomic.Bool
}

// startReplica starts a manager with leader election and every
// controller, on the shared fake clock. It does not give up the Lease
// when it stops: stop is a crash, and the next leader waits for the
// Lease to expire.
func startReplica(name string) *replica {
	GinkgoHelper()
	mgr, err := ctrl.NewManager(operatorConfig, ctrl.Options{
		Scheme:                  testScheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		Cache:                   controllers.CacheOptions(operatorNamespace),
		LeaderElection:          true,
		LeaderElectionID:        leaseName,
		LeaderElectionNamespace: operatorNamespace,
		LeaseDuration:           ptr.To(leaseDuration),
		RenewDeadline:           ptr.To(renewDeadline),
		RetryPeriod:             ptr.To(retryPeriod),
		// Several managers in one process name the same controllers.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(controllers.SetupWithManager(mgr, controllers.Options{
		Namespace: operatorNamespace, ClusterDomain: clusterDomain, Username: username, Workers: 2,
		Clock: fakeClock, ClusterTrustBundles: ptr.To(trustBundles),
	})).To(Succeed())
	runCtx, stop := context.WithCancel(ctx)
	r := &replica{name: name, mgr: mgr, cancel: stop, done: make(chan error, 1)}
	go func() {
		defer GinkgoRecover()
		err := mgr.Start(runCtx)
		r.exited.Store(true)
		r.done <- err
	}()
	DeferCleanup(r.stop)
	return r
}

// stop ends the replica and waits until its controllers have returned.
// It may be called more than once.
func (r *replica) stop() {
	GinkgoHelper()
	r.cancel()
	if r.done == nil {
		return
	}
	Eventually(r.done, time.Minute).Should(Receive(Not(HaveOccurred())), "replica %s did not stop cleanly", r.name)
	r.done = nil
}

// leads says whether the replica has been elected and still runs.
func (r *replica) leads() bool {
	select {
	case <-r.mgr.Elected():
		return !r.exited.Load()
	default:
		return false
	}
}

// leaderOf waits until exactly one of the replicas leads and returns it.
func leaderOf(replicas ...*replica) *replica {
	GinkgoHelper()
	var leader *replica
	Eventually(func(g Gomega) {
		leaders := []*replica{}
		for _, r := range replicas {
			if r.leads() {
				leaders = append(leaders, r)
			}
		}
		g.Expect(leaders).To(HaveLen(1), "exactly one leader")
		leader = leaders[0]
	}, time.Minute, 50*time.Millisecond).Should(Succeed())
	return leader
}

// lease reads the manager's Lease.
func lease() *coordinationv1.Lease {
	GinkgoHelper()
	l := &coordinationv1.Lease{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: leaseName}, l)).To(Succeed())
	return l
}
