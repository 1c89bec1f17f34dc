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
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certsmith/certsmith/test/internal/harness"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The suite's control plane has a directory and ports of its own, so it runs
// next to "make cluster-up" (bin/cluster, 32379/36443) and "make demo"
// (bin/demo-cluster, 42379/46443) without touching them.
const (
	clusterDirName = "bin/e2e-cluster"
	etcdPort       = "52379"
	apiServerPort  = "56443"

	operatorNamespace      = "certsmith-system"
	operatorServiceAccount = "certsmith-controller-manager"

	// commandTimeout bounds every external command, so that a hung kubectl
	// or openssl fails the spec instead of the whole run.
	commandTimeout = 3 * time.Minute
)

var (
	// repoRoot is the directory that holds go.mod.
	repoRoot string
	// clusterDir holds the control plane's state, kubeconfigs and the manager log.
	clusterDir string
	// adminKubeconfig is the cluster admin's kubeconfig, written by hack/cluster.sh.
	adminKubeconfig string
	// kubectlPath is the kubectl built for the pinned Kubernetes version.
	kubectlPath string
	// managerLogPath receives the manager's stdout and stderr.
	managerLogPath string
	// managerPIDPath records the manager's process id, so that a run that was
	// killed before its cleanup does not leave the manager behind for good.
	managerPIDPath string
	// cfsslPath and cfssljsonPath are the pinned cfssl tools ("make cfssl").
	cfsslPath, cfssljsonPath string
	// importedCAFile is the CA certificate that the suite made with openssl
	// for the sample ClusterIssuer "imported" (Secret certsmith-system/imported-ca).
	importedCAFile string

	// managerPath is bin/manager.
	managerPath string
	// operatorKubeconfig authenticates the manager as its ServiceAccount.
	operatorKubeconfig string
	// managerProbeAddress is where the manager serves /healthz and /readyz;
	// every start of the manager uses the same one.
	managerProbeAddress string
	// manager is the manager that runs now; nil between a kill and a restart.
	manager *managerProcess
)

// sampleIssuers are the ClusterIssuers in config/samples.
var sampleIssuers = []string{"selfsigned", "platform-root", "platform-intermediate", "imported", "serving"}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "certsmith end-to-end suite")
}

var _ = BeforeSuite(func() {
	var err error
	repoRoot, err = findRepoRoot()
	Expect(err).NotTo(HaveOccurred())
	clusterDir = filepath.Join(repoRoot, clusterDirName)
	adminKubeconfig = filepath.Join(clusterDir, "kubeconfig")
	kubectlPath = filepath.Join(repoRoot, "bin", "k8s", "kubectl")
	managerLogPath = filepath.Join(clusterDir, "manager.log")
	managerPIDPath = filepath.Join(clusterDir, "manager.pid")
	managerPath = filepath.Join(repoRoot, "bin", "manager")
	cfsslPath = filepath.Join(repoRoot, "bin", "cfssl")
	cfssljsonPath = filepath.Join(repoRoot, "bin", "cfssljson")

	for _, binary := range []string{
		managerPath, kubectlPath,
		filepath.Join(repoRoot, "bin", "k8s", "kube-apiserver"), filepath.Join(repoRoot, "bin", "k8s", "etcd"),
	} {
		_, err := os.Stat(binary)
		Expect(err).NotTo(HaveOccurred(), "%s is missing: run make build k8s-binaries", binary)
	}
	for _, binary := range []string{cfsslPath, cfssljsonPath} {
		_, err := os.Stat(binary)
		Expect(err).NotTo(HaveOccurred(), "%s is missing: run make cfssl", binary)
	}
	_, err = exec.LookPath("openssl")
	Expect(err).NotTo(HaveOccurred(), "openssl is not on PATH; the suite checks certificates with it")

	By("starting a local control plane in " + clusterDirName)
	// Begin from nothing: an interrupted earlier run may have left state.
	stopLeftoverManager(managerPath)
	_, err = cluster("down")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		By("stopping the local control plane")
		_, err := cluster("down")
		Expect(err).NotTo(HaveOccurred())
	})
	_, err = cluster("up")
	Expect(err).NotTo(HaveOccurred())

	By("installing certsmith: kubectl apply -k config/default")
	_, err = kubectl("apply", "-k", filepath.Join(repoRoot, "config", "default"))
	Expect(err).NotTo(HaveOccurred())
	_, err = kubectl("wait", "--for=condition=Established", "--timeout=60s",
		"crd/clusterissuers.certsmith.io", "crd/servicecertificates.certsmith.io")
	Expect(err).NotTo(HaveOccurred())

	By("writing a kubeconfig for the ServiceAccount " + operatorNamespace + "/" + operatorServiceAccount)
	operatorKubeconfig = filepath.Join(clusterDir, "operator.kubeconfig")
	_, err = run(exec.Command(filepath.Join(repoRoot, "hack", "e2e-operator-kubeconfig.sh"), adminKubeconfig, operatorKubeconfig))
	Expect(err).NotTo(HaveOccurred())

	By("starting bin/manager as that ServiceAccount")
	managerProbeAddress, err = harness.FreeLoopbackAddress()
	Expect(err).NotTo(HaveOccurred())
	Expect(startManager(false)).To(Succeed())
	DeferCleanup(func() {
		By("stopping the manager")
		// A spec that killed the manager restarts it; nil only if that failed.
		Expect(manager).NotTo(BeNil(), "the manager was killed and not restarted")
		Expect(manager.stop()).To(Succeed())
	})
	waitForManagerReady()

	// The samples are shared by every Describe, and Ginkgo runs those in a
	// random order: they are installed here, once.
	By("making the CA for the sample ClusterIssuer imported with openssl, in Secret " + operatorNamespace + "/imported-ca")
	importedCAFile = createImportedCA(GinkgoT().TempDir())

	By("applying config/samples")
	_, err = kubectl("apply", "-k", filepath.Join(repoRoot, "config", "samples"))
	Expect(err).NotTo(HaveOccurred())

	By("waiting for every sample ClusterIssuer to become Ready: " + strings.Join(sampleIssuers, ", "))
	args := []string{"wait", "--for=condition=Ready", "--timeout=120s"}
	for _, name := range sampleIssuers {
		args = append(args, "clusterissuer/"+name)
	}
	_, err = kubectl(args...)
	Expect(err).NotTo(HaveOccurred(), func() string {
		issuers, _ := kubectl("get", "clusterissuers", "-o",
			`custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,REASON:.status.conditions[?(@.type=="Ready")].reason,MESSAGE:.status.conditions[?(@.type=="Ready")].message`)
		return "not every sample ClusterIssuer became Ready:\n" + issuers + "\nthe manager's log ends with:\n" + managerLogTail()
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
	_, err = kubectl("-n", operatorNamespace, "create", "secret", "tls", "imported-ca", "--cert="+certFile, "--key="+keyFile)
	Expect(err).NotTo(HaveOccurred())
	return certFile
}

// Shows the manager's log after every failed spec: most failures here are
// the operator's, and its log is gone once the control plane is torn down.
var _ = AfterEach(func() {
	if CurrentSpecReport().Failed() {
		AddReportEntry("manager log (last lines)", managerLogTail())
	}
})

// findRepoRoot walks up from the working directory (test/e2e under go test)
// to the directory that holds go.mod.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or any parent")
		}
		dir = parent
	}
}

// cluster runs hack/cluster.sh with the suite's directory and ports.
func cluster(action string) (string, error) {
	cmd := exec.Command(filepath.Join(repoRoot, "hack", "cluster.sh"), action)
	cmd.Env = append(os.Environ(),
		"CLUSTER_DIR="+clusterDir,
		"CLUSTER_ETCD_PORT="+etcdPort,
		"CLUSTER_API_PORT="+apiServerPort,
	)
	return run(cmd)
}

// kubectl runs the pinned kubectl as the cluster admin and returns its
// stdout. On failure the error carries the exit status and stderr, which is
// where the API server's rejection messages are.
func kubectl(args ...string) (string, error) {
	return kubectlWithInput("", args...)
}

// kubectlWithInput is kubectl with input on stdin, for "apply -f -".
func kubectlWithInput(input string, args ...string) (string, error) {
	cmd := exec.Command(kubectlPath, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+adminKubeconfig)
	cmd.Stdin = strings.NewReader(input)
	return run(cmd)
}

// run runs cmd to completion, for at most commandTimeout, and returns its
// stdout. A failure's error includes the command line, stdout and stderr.
func run(cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if cmd.Stdin == nil {
		cmd.Stdin = strings.NewReader("")
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(commandTimeout):
		_ = cmd.Process.Kill()
		<-done
		err = fmt.Errorf("timed out after %s", commandTimeout)
	}
	// Only the command line is logged: stdout may hold a Secret's private key.
	fmt.Fprintf(GinkgoWriter, "$ %s\n", strings.Join(cmd.Args, " "))
	if err != nil {
		return stdout.String(), fmt.Errorf("%s: %w\n%s%s", strings.Join(cmd.Args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// managerProcess is bin/manager running in the background.
type managerProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startManager starts bin/manager in the background as the operator's
// ServiceAccount (operatorKubeconfig), serving its probes on
// managerProbeAddress, and makes it the current manager. Its stdout and
// stderr go to managerLogPath: a new log, or with appendLog the existing one
// continued, after a line that marks the restart.
func startManager(appendLog bool) error {
	if manager != nil && manager.running() {
		return fmt.Errorf("the manager (pid %d) is still running", manager.cmd.Process.Pid)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendLog {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	logFile, err := os.OpenFile(managerLogPath, flags, 0o644)
	if err != nil {
		return err
	}
	if appendLog {
		fmt.Fprintf(logFile, "%s at %s -----\n", restartMarker, time.Now().UTC().Format(time.RFC3339Nano))
	}
	cmd := exec.Command(managerPath,
		"--leader-elect=false",
		"--metrics-bind-address=0",
		"--health-probe-bind-address="+managerProbeAddress,
		"--namespace="+operatorNamespace,
		"--cluster-domain=cluster.local",
	)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+operatorKubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting %s: %w", managerPath, err)
	}
	if err := os.WriteFile(managerPIDPath, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	started := &managerProcess{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(started.exited)
	}()
	manager = started
	return nil
}

// restartMarker begins the line that startManager writes into the log
// before the output of a restarted manager.
const restartMarker = "----- e2e: restarting the manager"

// waitForManagerReady waits until the current manager answers /readyz.
func waitForManagerReady() {
	GinkgoHelper()
	Expect(manager).NotTo(BeNil(), "no manager runs")
	current := manager
	Eventually(func() error {
		if !current.running() {
			return StopTrying("the manager exited")
		}
		return probe("http://" + managerProbeAddress + "/readyz")
	}).WithTimeout(60*time.Second).WithPolling(200*time.Millisecond).Should(Succeed(), func() string {
		return "the manager did not become ready; its log ends with:\n" + managerLogTail()
	})
}

// killManager kills the current manager with SIGKILL, as a crash or the
// OOM killer would: no signal handler runs, nothing is flushed or cleaned
// up. It waits until the process is gone and leaves no current manager.
func killManager() {
	GinkgoHelper()
	Expect(manager).NotTo(BeNil(), "no manager runs")
	killed := manager
	Expect(killed.running()).To(BeTrue(), func() string {
		return fmt.Sprintf("the manager had already exited (%s); its log ends with:\n%s", killed.cmd.ProcessState, managerLogTail())
	})
	Expect(killed.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
	Eventually(killed.exited).WithTimeout(10 * time.Second).Should(BeClosed())
	manager = nil
	Expect(killed.cmd.ProcessState.Sys().(syscall.WaitStatus).Signal()).To(Equal(syscall.SIGKILL),
		"the manager ended with %s, not by SIGKILL", killed.cmd.ProcessState)
	fmt.Fprintf(GinkgoWriter, "killed the manager (pid %d) with SIGKILL\n", killed.cmd.Process.Pid)
}

// restartManager starts the manager again after killManager, with the same
// kubeconfig, flags and probe address, its log continued, and waits until it
// is ready. It returns when it was started.
func restartManager() time.Time {
	GinkgoHelper()
	started := time.Now()
	Expect(startManager(true)).To(Succeed())
	waitForManagerReady()
	return started
}

// ensureManagerRunning restarts the manager if a spec killed it and failed
// before it restarted it, so that the specs after it find one running.
func ensureManagerRunning() {
	GinkgoHelper()
	if manager == nil {
		By("restarting the manager that a failed spec left killed")
		restartManager()
	}
}

// running says whether the manager is still running.
func (m *managerProcess) running() bool {
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// stop stops the manager with SIGTERM (SIGKILL if it does not exit in
// time). It fails if the manager had exited on its own: it should run until
// the suite ends.
func (m *managerProcess) stop() error {
	if !m.running() {
		return fmt.Errorf("the manager had already exited (%s); its log ends with:\n%s", m.cmd.ProcessState, managerLogTail())
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	return nil
}

// stopLeftoverManager kills the manager that an interrupted earlier run
// recorded in managerPIDPath, if that process still runs managerPath. The
// check reads /proc, so elsewhere than on Linux it does nothing.
func stopLeftoverManager(managerPath string) {
	data, err := os.ReadFile(managerPIDPath)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return
	}
	executable, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return
	}
	if resolved, err := filepath.EvalSymlinks(managerPath); err == nil {
		managerPath = resolved
	}
	// A binary rebuilt since it started reads "<path> (deleted)".
	if !strings.HasPrefix(executable, managerPath) {
		return
	}
	if process, err := os.FindProcess(pid); err == nil {
		fmt.Fprintf(GinkgoWriter, "killing the manager (pid %d) that an earlier run left behind\n", pid)
		_ = process.Kill()
	}
}

// managerLogTail returns the last lines of the manager's log.
func managerLogTail() string { return harness.LogTail(managerLogPath, 40) }

// probe succeeds when url answers 200 OK.
func probe(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}
