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
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The suite runs every command in-process against a real kube-apiserver
// and etcd (envtest, binaries from bin/k8s) with the certsmith CRDs. No
// operator runs: each test creates the objects a command reads, status
// included, and checks what the command prints and changes.

var (
	testEnv        *envtest.Environment
	k8sClient      client.Client
	kubeconfigPath string
	// testNow is the plugin's "now" in every test: whole seconds, so the
	// annotation values are predictable.
	testNow time.Time
	ctx     context.Context
	cancel  context.CancelFunc
)

func TestKubectlCertsmith(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "kubectl certsmith suite")
}

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())
	testNow = time.Now().UTC().Truncate(time.Second)

	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join("..", "..", "bin", "k8s")
	}
	Expect(filepath.Join(assets, "kube-apiserver")).To(BeAnExistingFile(), "run 'make k8s-binaries' first")
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	adminConfig, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(adminConfig, client.Options{Scheme: newScheme()})
	Expect(err).NotTo(HaveOccurred())

	// The plugin reads a kubeconfig file like kubectl does, through the
	// same --kubeconfig flag a user would pass.
	user, err := testEnv.AddUser(envtest.User{Name: "plugin-user", Groups: []string{"system:masters"}}, adminConfig)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	kubeconfigPath = filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(kubeconfigPath, kubeconfig, 0o600)).To(Succeed())
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// pluginResult is what one run of the plugin printed and returned.
type pluginResult struct {
	Out    string
	ErrOut string
	Err    error
}

// runPlugin runs "kubectl certsmith ARGS" in-process against the test
// cluster at testNow.
func runPlugin(args ...string) pluginResult {
	return runPluginWith(kubeconfigPath, testNow, args...)
}

// runPluginWith runs "kubectl certsmith ARGS" with the given kubeconfig
// (another user) at now (a later moment).
func runPluginWith(kubeconfig string, now time.Time, args ...string) pluginResult {
	var out, errOut bytes.Buffer
	streams := ioStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := newRootCommand(streams, newKubeconfigFactory(&errOut), clocktesting.NewFakePassiveClock(now))
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig}, args...))
	err := cmd.ExecuteContext(ctx)
	GinkgoWriter.Printf("$ kubectl certsmith %s\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
	if err != nil {
		GinkgoWriter.Printf("error: %v\n", err)
	}
	return pluginResult{Out: out.String(), ErrOut: errOut.String(), Err: err}
}

// newNamespace creates a namespace with a generated name and returns it.
func newNamespace(prefix string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// rfc3339 formats t as the plugin's annotations do.
func rfc3339(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
