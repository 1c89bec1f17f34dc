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

// Package node tests certsmith on a real node: hack/node.sh starts etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, containerd with
// runc and a kubelet on this machine; the suite deploys certsmith from
// config/default (the manager image built locally, imported with ctr), so
// the Deployment's probes, security context, resources and RBAC are the
// ones users run. Workloads are pods of the test workload
// (test/node/workload): a TLS server that mounts a ServiceCertificate's
// Secret, and clients that trust only the bundle, from its ConfigMap or
// from a clusterTrustBundle projected volume; and pods that get pod
// certificates from the kubelet (podCertificate projected volumes that
// certsmith's signer fills) and do mutual TLS by SPIFFE ID. The real
// garbage collector and namespace controller act on certsmith's objects.
//
// It needs root. Run it from the repository root ("make test-node"):
//
//	go test ./test/node/ -ginkgo.v -timeout 20m
//
// NODE_KEEP=1 leaves the node running after the suite, for a look at it
// with KUBECONFIG=bin/node-e2e/kubeconfig; the next run starts afresh.
package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certsmith/certsmith/test/internal/harness"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The suite's node has a directory and ports of its own; only one node runs
// on a machine at a time (hack/node.sh refuses a second). The ports are
// above the ephemeral range (32768-60999), as the e2e suite's.
const (
	nodeDirName = "bin/node-e2e"
	etcdPort    = 65379
	apiPort     = 65443

	operatorNamespace = "certsmith-system"
	managerDeployment = "certsmith-controller-manager"
	// managerReplicas is config/default's replica count: a leader and a
	// standby, both Ready.
	managerReplicas = "2"
	// managerPodSelector selects the manager's Pods, every replica.
	managerPodSelector = "app.kubernetes.io/name=certsmith,app.kubernetes.io/component=controller"
	managerImage       = "certsmith.local/manager:node"
	workloadImage      = "certsmith.local/workload:node"

	// issuer is the suite's ClusterIssuer: a generated root whose bundle
	// goes to every namespace and into a ClusterTrustBundle.
	issuer       = "node-root"
	issuerSigner = "clusterissuers.certsmith.io/" + issuer
	bundleName   = issuer + "-ca"
)

var (
	repoRoot string
	runner   harness.Runner
	// cluster is the node's control plane, for kubectl as its admin.
	cluster *harness.ControlPlane
	// quiet is cluster with kubectl not logged, for polling loops.
	quiet   *harness.ControlPlane
	nodeDir string
)

func TestNode(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "certsmith node suite")
}

// nodeScript runs hack/node.sh with the suite's directory and ports.
func nodeScript(ctx context.Context, action string, timeout time.Duration) error {
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "hack", "node.sh"), action)
	cmd.Env = append(os.Environ(), "NODE_DIR="+nodeDir,
		fmt.Sprintf("NODE_ETCD_PORT=%d", etcdPort), fmt.Sprintf("NODE_API_PORT=%d", apiPort))
	r := runner
	r.Timeout = timeout
	_, err := r.Run(cmd)
	return err
}

const issuerYAML = `apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: ` + issuer + `
spec:
  ca:
    selfSigned:
      subject:
        commonName: certsmith node suite root
      duration: 2h
  bundle: {}
  rotation:
    propagationDelay: 10s
    reissueWindow: 5s
`

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	repoRoot, err = harness.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Geteuid()).To(Equal(0), "the node suite needs root: containerd, the kubelet and a network bridge")
	runner = harness.Runner{Log: GinkgoWriter}
	nodeDir = filepath.Join(repoRoot, nodeDirName)
	cluster = &harness.ControlPlane{RepoRoot: repoRoot, Dir: nodeDir, EtcdPort: etcdPort, APIServerPort: apiPort, Runner: runner}
	q := *cluster
	q.Runner = harness.Runner{Timeout: 20 * time.Second}
	quiet = &q
	Expect(cluster.CheckBinaries()).To(Succeed())

	By("building the images: the manager and the test workload, as OCI archives")
	Expect(nodeScript(ctx, "images", 10*time.Minute)).To(Succeed())

	By("starting the node in " + nodeDirName + " (hack/node.sh up)")
	// down first: an interrupted earlier run may have left a node behind.
	Expect(nodeScript(ctx, "down", 2*time.Minute)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		if os.Getenv("NODE_KEEP") != "" {
			By("keeping the node running (NODE_KEEP is set): KUBECONFIG=" + cluster.Kubeconfig())
			return
		}
		By("stopping the node (hack/node.sh down)")
		Expect(nodeScript(ctx, "down", 2*time.Minute)).To(Succeed())
	})
	Expect(nodeScript(ctx, "up", 5*time.Minute)).To(Succeed(), func() string {
		return "the node did not come up; kubelet log:\n" + harness.LogTail(filepath.Join(nodeDir, "kubelet.log"), 40)
	})

	By("deploying certsmith from config/default with the image " + managerImage)
	deployManager()

	By("creating the ClusterIssuer " + issuer)
	_, err = cluster.KubectlWithInput(issuerYAML, "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
	_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "clusterissuer/"+issuer)
	Expect(err).NotTo(HaveOccurred(), managerLog)
})

// deployManager applies config/default with the manager image replaced,
// as "make deploy IMG=..." does, through a kustomization of its own (make
// deploy edits config/manager in place), and waits until the Deployment is
// Available: its readiness probe passed on the node.
func deployManager() {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	rel, err := filepath.Rel(dir, filepath.Join(repoRoot, "config", "default"))
	Expect(err).NotTo(HaveOccurred())
	name, tag, _ := strings.Cut(managerImage, ":")
	kustomization := fmt.Sprintf("resources:\n- %s\nimages:\n- name: certsmith/manager\n  newName: %s\n  newTag: %s\n", rel, name, tag)
	Expect(os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o644)).To(Succeed())
	_, err = cluster.Kubectl("apply", "--server-side", "-k", dir)
	Expect(err).NotTo(HaveOccurred())
	_, err = cluster.Kubectl("-n", operatorNamespace, "rollout", "status", "deployment/"+managerDeployment, "--timeout=120s")
	Expect(err).NotTo(HaveOccurred(), func() string {
		pods, _ := cluster.Kubectl("-n", operatorNamespace, "describe", "pods")
		return "the manager did not become Available:\n" + pods
	})
}

// managerPodsLogArgs make kubectl logs read every replica's whole log
// (with a selector, kubectl would keep only ten lines of each).
var managerPodsLogArgs = []string{"-l", managerPodSelector, "--tail=-1", "--max-log-requests=4"}

// managerLog is the manager pods' log (the last 60 lines of each replica,
// each line prefixed with its pod), read with kubectl logs through the
// kubelet.
func managerLog() string {
	out, err := quiet.Kubectl("-n", operatorNamespace, "logs", "-l", managerPodSelector, "--prefix", "--tail=60")
	if err != nil {
		return "no manager log: " + err.Error()
	}
	return "the manager's log ends with:\n" + out
}

// podLogs lists every pod outside the operator's namespace with the end
// of its log.
func podLogs() string {
	out, err := quiet.Kubectl("get", "pods", "-A", "-o", "wide")
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(out)
	names, _ := quiet.Kubectl("get", "pods", "-A", "-o", `jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}`)
	for _, pod := range strings.Fields(names) {
		ns, name, _ := strings.Cut(pod, "/")
		if ns == operatorNamespace {
			continue
		}
		logs, err := quiet.Kubectl("-n", ns, "logs", name, "--tail=15")
		if err != nil {
			logs = err.Error()
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", pod, logs)
	}
	return b.String()
}

var _ = AfterEach(func() {
	if CurrentSpecReport().Failed() {
		AddReportEntry("manager log", managerLog())
		AddReportEntry("kubelet log", harness.LogTail(filepath.Join(nodeDir, "kubelet.log"), 30))
		AddReportEntry("pods", podLogs())
	}
})

// adminClient is client-go as the node's admin, for watches.
func adminClient() *kubernetes.Clientset {
	GinkgoHelper()
	config, err := clientcmd.BuildConfigFromFlags("", cluster.Kubeconfig())
	Expect(err).NotTo(HaveOccurred())
	client, err := kubernetes.NewForConfig(config)
	Expect(err).NotTo(HaveOccurred())
	return client
}

// expectNoRestarts checks that the pods' containers never restarted: a
// restarted workload client starts counting from zero, and a restarted
// manager's earlier log is gone.
func expectNoRestarts(namespace string, pods ...string) {
	GinkgoHelper()
	for _, pod := range pods {
		Expect(jsonpath(namespace, "pod/"+pod, "{.status.containerStatuses[*].restartCount}")).To(Equal("0"), "pod %s/%s restarted", namespace, pod)
	}
}

// createNamespace creates a namespace for one spec and deletes it (without
// waiting) when the spec ends.
func createNamespace(name string) {
	GinkgoHelper()
	_, err := cluster.KubectlWithInput("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+name+"\n", "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		_, _ = cluster.Kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
	})
}

// apply applies YAML.
func apply(manifest string) {
	GinkgoHelper()
	_, err := cluster.KubectlWithInput(manifest, "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
}

// jsonpath returns a field of an object, or "" when it cannot be read.
func jsonpath(namespace, object, path string) string {
	args := []string{"get", object, "-o", "jsonpath=" + path}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	out, err := quiet.Kubectl(args...)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// waitForPod waits until the pod runs and is Ready and returns its IP.
func waitForPod(namespace, name string) string {
	GinkgoHelper()
	_, err := cluster.Kubectl("-n", namespace, "wait", "--for=condition=Ready", "--timeout=90s", "pod/"+name)
	Expect(err).NotTo(HaveOccurred(), func() string {
		out, _ := cluster.Kubectl("-n", namespace, "describe", "pod", name)
		return out
	})
	ip := jsonpath(namespace, "pod/"+name, "{.status.podIP}")
	Expect(ip).NotTo(BeEmpty())
	return ip
}

// workloadPodYAML is a pod of the test workload under the restricted Pod
// Security Standard: non-root (the image's 65532), no privilege
// escalation, no capabilities, a read-only root filesystem. It runs under
// serviceAccount ("" for the namespace's default) without its token, and
// mounts the volume source in volumes (YAML indented for "  - name:
// files") at /files.
func workloadPodYAML(namespace, name, serviceAccount, labels string, args []string, volumes string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	account := ""
	if serviceAccount != "" {
		account = "  serviceAccountName: " + serviceAccount + "\n"
	}
	return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: ` + namespace + `
  labels: {` + labels + `}
spec:
` + account + `  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: workload
    image: ` + workloadImage + `
    args: [` + strings.Join(quoted, ", ") + `]
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    volumeMounts:
    - {name: files, mountPath: /files, readOnly: true}
  volumes:
  - name: files
` + volumes
}

// clientStatus is what a workload client reports (workload.Status).
type clientStatus struct {
	Handshakes int64    `json:"handshakes"`
	Failures   int64    `json:"failures"`
	LastError  string   `json:"lastError"`
	PeerSerial string   `json:"peerSerial"`
	PeerIssuer string   `json:"peerIssuer"`
	PeerID     string   `json:"peerID"`
	PeerAnchor string   `json:"peerAnchor"`
	Anchors    []string `json:"anchors"`
}

// readStatus reads a workload's GET /status at host:port into st.
func readStatus(addr string, st any) error {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + "/status")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(st)
}

// readClientStatus reads a client pod's status over the pod network.
func readClientStatus(ip string) (clientStatus, error) {
	var st clientStatus
	err := readStatus(ip+":9000", &st)
	return st, err
}

// mustClientStatus is readClientStatus in a spec.
func mustClientStatus(ip string) clientStatus {
	GinkgoHelper()
	st, err := readClientStatus(ip)
	Expect(err).NotTo(HaveOccurred())
	return st
}
