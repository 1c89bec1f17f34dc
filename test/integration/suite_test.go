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

// The pod-certificate suite runs certsmith's controllers in-process against
// a real kube-apiserver and etcd (envtest) that authorize nodes as a
// cluster does: the Node authorizer and the NodeRestriction admission. The
// test acts as a kubelet with a node's own credentials, so every request
// it makes passes the API server's checks for nodes. Unlike the
// controllers' suite it runs on the real clock: the API server accepts a
// pod certificate only if its notBefore is within 5 minutes of its own
// clock. The manager runs as a non-admin user bound only to the generated
// RBAC in config/rbac.
package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/controllers"
	"github.com/certsmith/certsmith/internal/testenv"
)

const (
	operatorNamespace = "certsmith-system"
	operatorUser      = "certsmith-operator"
	clusterDomain     = "cluster.local"
	// nodeName is the node the test's kubelet identity speaks for, and
	// otherNodeName one whose pods it may not ask for.
	nodeName      = "node-a"
	otherNodeName = "node-b"
)

var (
	testEnv   *envtest.Environment
	k8sClient client.Client // admin
	// watchClient watches as admin.
	watchClient client.WithWatch
	nodeClient  client.Client // system:node:node-a, as a kubelet
	testScheme  = runtime.NewScheme()
	ctx         context.Context
	cancel      context.CancelFunc
)

func TestPodCertificates(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Pod certificate integration suite")
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
	apiServer := testEnv.ControlPlane.GetAPIServer()
	apiServer.Configure().Set("authorization-mode", "Node,RBAC").Set("enable-admission-plugins", "NodeRestriction")
	adminConfig, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(adminConfig, client.Options{Scheme: testScheme})
	Expect(err).NotTo(HaveOccurred())
	watchClient, err = client.NewWithWatch(adminConfig, client.Options{Scheme: testScheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())

	node, err := testEnv.AddUser(envtest.User{Name: "system:node:" + nodeName, Groups: []string{"system:nodes"}}, adminConfig)
	Expect(err).NotTo(HaveOccurred())
	nodeClient, err = client.New(node.Config(), client.Options{Scheme: testScheme})
	Expect(err).NotTo(HaveOccurred())
	for _, name := range []string{nodeName, otherNodeName} {
		Expect(k8sClient.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	}

	operatorConfig := operatorIdentity(adminConfig)
	mgr, err := ctrl.NewManager(operatorConfig, ctrl.Options{
		Scheme:  testScheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   controllers.CacheOptions(operatorNamespace),
	})
	Expect(err).NotTo(HaveOccurred())
	username, err := controllers.WhoAmI(ctx, operatorConfig)
	Expect(err).NotTo(HaveOccurred())
	Expect(controllers.SetupWithManager(mgr, controllers.Options{
		Namespace: operatorNamespace, ClusterDomain: clusterDomain, Username: username, Workers: 2, Clock: clock.RealClock{},
	})).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// operatorIdentity adds the operator's non-admin user, bound to the
// generated RBAC, and returns its config.
func operatorIdentity(adminConfig *rest.Config) *rest.Config {
	user, err := testEnv.AddUser(envtest.User{Name: operatorUser}, adminConfig)
	Expect(err).NotTo(HaveOccurred())
	subject := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: operatorUser}
	Expect(testenv.BindRoles(ctx, k8sClient, subject, filepath.Join("..", "..", "config", "rbac", "role.yaml"))).To(Succeed())
	return user.Config()
}

// watchedGauge returns certsmith_podcertificaterequests_watched of a
// signer by state, nil when the signer is not watched.
func watchedGauge(signer string) map[string]float64 {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	var out map[string]float64
	for _, family := range families {
		if family.GetName() != "certsmith_podcertificaterequests_watched" {
			continue
		}
		for _, metric := range family.GetMetric() {
			labels := map[string]string{}
			for _, label := range metric.GetLabel() {
				labels[label.GetName()] = label.GetValue()
			}
			if labels["signer"] == signer {
				if out == nil {
					out = map[string]float64{}
				}
				out[labels["state"]] = metric.GetGauge().GetValue()
			}
		}
	}
	return out
}
