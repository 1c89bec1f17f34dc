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
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/testenv"
)

// The integration suite runs the controllers in-process against a real
// kube-apiserver and etcd (envtest). The binaries are built from source by
// hack/build-k8s.sh into bin/k8s; setup-envtest cannot download them here.
// The manager runs as a non-admin user bound only to the ClusterRole and
// Role generated in config/rbac, so a missing permission fails these tests.

const (
	operatorNamespace = "certsmith-system"
	operatorUser      = "certsmith-operator"
	clusterDomain     = "cluster.local"
)

var (
	testEnv    *envtest.Environment
	k8sClient  client.Client // admin
	testScheme = runtime.NewScheme()
	fakeClock  *clocktesting.FakeClock
	testMapper meta.RESTMapper
	ctx        context.Context
	cancel     context.CancelFunc
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller integration suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	Expect(clientgoscheme.AddToScheme(testScheme)).To(Succeed())
	Expect(certsmithv1alpha1.AddToScheme(testScheme)).To(Succeed())

	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join("..", "bin", "k8s")
	}
	Expect(filepath.Join(assets, "kube-apiserver")).To(BeAnExistingFile(), "run 'make k8s-binaries' first")
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		// A loaded 2-core machine can take longer than the default 20 s.
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	adminConfig, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(adminConfig, client.Options{Scheme: testScheme})
	Expect(err).NotTo(HaveOccurred())

	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
	operatorConfig := operatorIdentity(adminConfig)

	fakeClock = clocktesting.NewFakeClock(time.Now())
	mgr, err := ctrl.NewManager(operatorConfig, ctrl.Options{
		Scheme:  testScheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   CacheOptions(operatorNamespace),
	})
	Expect(err).NotTo(HaveOccurred())
	testMapper = mgr.GetRESTMapper()
	username, err := WhoAmI(ctx, operatorConfig)
	Expect(err).NotTo(HaveOccurred())
	Expect(username).To(Equal(operatorUser))
	Expect(SetupWithManager(mgr, Options{
		Namespace:     operatorNamespace,
		ClusterDomain: clusterDomain,
		Username:      username,
		Workers:       2,
		Clock:         fakeClock,
		CAInjection:   true,
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

// operatorIdentity adds a non-admin user, binds it to the generated RBAC in
// config/rbac/role.yaml and to the CA injector's optional ClusterRole in
// config/rbac-cainjector/role.yaml, and returns its config.
func operatorIdentity(adminConfig *rest.Config) *rest.Config {
	user, err := testEnv.AddUser(envtest.User{Name: operatorUser}, adminConfig)
	Expect(err).NotTo(HaveOccurred())

	subject := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: operatorUser}
	Expect(testenv.BindRoles(ctx, k8sClient, subject,
		filepath.Join("..", "config", "rbac", "role.yaml"), filepath.Join("..", "config", "rbac-cainjector", "role.yaml"))).To(Succeed())
	// The test issuers with custom signer names use example.com/<name>: grant
	// them the way a user grants a custom domain (config/samples/custom-signer-rbac.yaml).
	Expect(k8sClient.Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "certsmith-test-example-com-signer"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"},
			ResourceNames: []string{"example.com/*"}, Verbs: []string{"approve", "sign", "attest"},
		}},
	})).To(Succeed())
	Expect(k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "certsmith-test-example-com-signer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "certsmith-test-example-com-signer"},
		Subjects:   []rbacv1.Subject{subject},
	})).To(Succeed())
	return user.Config()
}
