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

// Package e2e tests certsmith end to end: the built bin/manager runs as its
// own process against a local control plane (etcd and kube-apiserver started
// by hack/cluster.sh), authenticated as the operator's ServiceAccount and so
// bound only to the RBAC generated into config/rbac. The suite drives it with
// the real kubectl and the YAML in config/, and checks the results with
// openssl: certificate verification and a real TLS handshake. Requests made
// by hand, as in the Kubernetes documentation, use the real cfssl.
//
// Run it from the repository root after "make build k8s-binaries cfssl":
//
//	go test ./test/e2e/... -ginkgo.v -timeout 20m
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certsmith/certsmith/test/internal/harness"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The suite's control plane has a directory and ports of its own, so it runs
// next to "make cluster-up" (bin/cluster, 32379/36443) and "make demo"
// (bin/demo-cluster, 42379/46443) without touching them. The ports are
// above the ephemeral range (32768-60999): make test runs the suite next to
// others, whose connections could hold a port of that range.
const (
	clusterDirName = "bin/e2e-cluster"
	etcdPort       = 64379
	apiServerPort  = 64443

	operatorNamespace      = harness.OperatorNamespace
	operatorServiceAccount = harness.OperatorServiceAccount

	// managerReadyTimeout bounds every wait for the manager's /readyz.
	managerReadyTimeout = 60 * time.Second
)

var (
	// repoRoot is the directory that holds go.mod.
	repoRoot string
	// runner runs every external command for at most
	// harness.DefaultCommandTimeout, so that a hung kubectl or openssl fails
	// the spec instead of the whole run, and logs its command line.
	runner harness.Runner
	// cluster is the suite's control plane; cluster.Kubectl is kubectl as
	// its admin.
	cluster *harness.ControlPlane
	// quietCluster is cluster with kubectl bounded by 20 s and not logged:
	// the loops of the rotation spec call it several times a second.
	quietCluster *harness.ControlPlane
	// cfsslPath and cfssljsonPath are the pinned cfssl tools ("make cfssl").
	cfsslPath, cfssljsonPath string
	// importedCAFile is the CA certificate that the suite made with openssl
	// for the sample ClusterIssuer "imported" (Secret certsmith-system/imported-ca).
	importedCAFile string

	// manager is bin/manager as the operator's ServiceAccount. A spec that
	// kills it starts it again, with the same flags, probe address and log.
	manager *harness.Manager
)

// sampleIssuers are the ClusterIssuers in config/samples.
var sampleIssuers = []string{"selfsigned", "platform-root", "platform-intermediate", "imported", "serving"}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "certsmith end-to-end suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	repoRoot, err = harness.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	runner = harness.Runner{Log: GinkgoWriter}
	cluster = &harness.ControlPlane{
		RepoRoot: repoRoot, Dir: filepath.Join(repoRoot, clusterDirName),
		EtcdPort: etcdPort, APIServerPort: apiServerPort, Runner: runner,
	}
	quiet := *cluster
	quiet.Runner = harness.Runner{Timeout: 20 * time.Second}
	quietCluster = &quiet
	managerPath := filepath.Join(repoRoot, "bin", "manager")
	cfsslPath = filepath.Join(repoRoot, "bin", "cfssl")
	cfssljsonPath = filepath.Join(repoRoot, "bin", "cfssljson")

	_, err = os.Stat(managerPath)
	Expect(err).NotTo(HaveOccurred(), "%s is missing: run make build", managerPath)
	Expect(cluster.CheckBinaries()).To(Succeed())
	for _, binary := range []string{cfsslPath, cfssljsonPath} {
		_, err := os.Stat(binary)
		Expect(err).NotTo(HaveOccurred(), "%s is missing: run make cfssl", binary)
	}
	_, err = exec.LookPath("openssl")
	Expect(err).NotTo(HaveOccurred(), "openssl is not on PATH; the suite checks certificates with it")

	By("starting a local control plane in " + clusterDirName)
	// Start begins from nothing: an interrupted earlier run may have left
	// state, and a manager, behind.
	DeferCleanup(func() {
		By("stopping the local control plane")
		Expect(cluster.Stop()).To(Succeed())
	})
	Expect(cluster.Start(ctx)).To(Succeed())

	By("installing certsmith: kubectl apply -k config/default")
	Expect(cluster.InstallDefault(ctx)).To(Succeed())

	By("writing a kubeconfig for the ServiceAccount " + operatorNamespace + "/" + operatorServiceAccount)
	Expect(cluster.WriteOperatorKubeconfig(ctx)).To(Succeed())

	By("starting bin/manager as that ServiceAccount")
	manager = cluster.NewManager(managerPath)
	// The CRL server on a loopback port of its own, kept across restarts:
	// the default :8089 on every interface would collide with another
	// manager on this machine (make demo, the benchmark).
	crlAddress, err = harness.FreeLoopbackAddress()
	Expect(err).NotTo(HaveOccurred())
	manager.CRLAddress = crlAddress
	Expect(manager.Start()).To(Succeed())
	DeferCleanup(func() {
		By("stopping the manager")
		// A spec that killed the manager restarts it; killed only if that failed.
		Expect(manager.Killed()).To(BeFalse(), "the manager was killed and not restarted")
		Expect(manager.Stop()).To(Succeed())
	})
	waitForManagerReady()

	// The samples are shared by every Describe, and Ginkgo runs those in a
	// random order: they are installed here, once.
	By("making the CA for the sample ClusterIssuer imported with openssl, in Secret " + operatorNamespace + "/imported-ca")
	importedCAFile = createImportedCA(GinkgoT().TempDir())

	By("applying config/samples")
	_, err = cluster.Kubectl("apply", "-k", filepath.Join(repoRoot, "config", "samples"))
	Expect(err).NotTo(HaveOccurred())

	By("waiting for every sample ClusterIssuer to become Ready: " + strings.Join(sampleIssuers, ", "))
	args := []string{"wait", "--for=condition=Ready", "--timeout=120s"}
	for _, name := range sampleIssuers {
		args = append(args, "clusterissuer/"+name)
	}
	_, err = cluster.Kubectl(args...)
	Expect(err).NotTo(HaveOccurred(), func() string {
		issuers, _ := cluster.Kubectl("get", "clusterissuers", "-o",
			`custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,REASON:.status.conditions[?(@.type=="Ready")].reason,MESSAGE:.status.conditions[?(@.type=="Ready")].message`)
		return "not every sample ClusterIssuer became Ready:\n" + issuers + "\nthe manager's log ends with:\n" + manager.LogTail()
	})
})

// createImportedCA makes, with openssl, the CA that the sample ClusterIssuer
// "imported" imports (as the comment in clusterissuer-imported.yaml shows,
// with a subject key identifier asked for explicitly: -x509_strict wants
// one) and stores it with "kubectl create secret tls". It returns the path
// of the CA certificate in dir.
func createImportedCA(dir string) string {
	GinkgoHelper()
	certFile, keyFile := filepath.Join(dir, "imported-ca.crt"), filepath.Join(dir, "imported-ca.key")
	_, err := openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-days", "3650", "-subj", "/CN=Imported Root CA",
		"-addext", "basicConstraints=critical,CA:TRUE",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign",
		"-addext", "subjectKeyIdentifier=hash",
		"-keyout", keyFile, "-out", certFile)
	Expect(err).NotTo(HaveOccurred())
	_, err = cluster.Kubectl("-n", operatorNamespace, "create", "secret", "tls", "imported-ca", "--cert="+certFile, "--key="+keyFile)
	Expect(err).NotTo(HaveOccurred())
	return certFile
}

// Shows the manager's log after every failed spec: most failures here are
// the operator's, and its log is gone once the control plane is torn down.
var _ = AfterEach(func() {
	if CurrentSpecReport().Failed() {
		AddReportEntry("manager log (last lines)", manager.LogTail())
	}
})

// waitForManagerReady waits until the current manager answers /readyz.
func waitForManagerReady() {
	GinkgoHelper()
	Expect(manager.WaitReady(context.Background(), managerReadyTimeout)).To(Succeed())
}

// killManager kills the manager with SIGKILL (harness.Manager.Kill) and
// waits until the process is gone.
func killManager() {
	GinkgoHelper()
	Expect(manager.Kill()).To(Succeed())
	fmt.Fprintf(GinkgoWriter, "killed the manager (pid %d) with SIGKILL\n", manager.PID())
}

// restartManager starts the manager again after killManager, with the same
// kubeconfig, flags and probe address, its log continued, and waits until it
// is ready. It returns when it was started.
func restartManager() time.Time {
	GinkgoHelper()
	started := time.Now()
	Expect(manager.Start()).To(Succeed())
	waitForManagerReady()
	return started
}

// ensureManagerRunning restarts the manager if a spec killed it and failed
// before it restarted it, so that the specs after it find one running.
func ensureManagerRunning() {
	GinkgoHelper()
	if manager.Killed() {
		By("restarting the manager that a failed spec left killed")
		restartManager()
	}
}
