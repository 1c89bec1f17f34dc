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

package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CRDs are the CustomResourceDefinitions config/default installs.
var CRDs = []string{"clusterissuers.certsmith.io", "servicecertificates.certsmith.io",
	"certificaterevocations.certsmith.io", "clustercertificaterevocations.certsmith.io"}

// stopTimeout bounds "hack/cluster.sh down", which Stop runs without the
// caller's context so that it works after a cancellation too.
const stopTimeout = time.Minute

// ControlPlane is etcd and kube-apiserver from bin/k8s, started by
// hack/cluster.sh in a directory and on ports of its own, so that every
// user runs next to the others without touching them: "make cluster-up"
// (bin/cluster, 32379/36443), "make demo" (bin/demo-cluster, 42379/46443),
// test/e2e (bin/e2e-cluster, 64379/64443), test/bench (bin/bench-cluster,
// 61379/61443), test/manifests (bin/manifests-cluster, 62379/62443, and
// bin/manifests-helm-cluster, 62389/62453, for the Helm chart) and
// test/fault (bin/fault-cluster, 63379/63443).
//
// There is no kubelet, scheduler or controller-manager: objects are stored
// and served, Pods never run, and no garbage collector deletes dependents.
type ControlPlane struct {
	// RepoRoot is the clone: hack/, bin/k8s and config/ are found there.
	RepoRoot string
	// Dir holds the control plane's state, its kubeconfigs and the
	// manager's log and pid (CLUSTER_DIR); Stop removes it.
	Dir string
	// EtcdPort is etcd's client port (its peer port is the next one);
	// APIServerPort is kube-apiserver's secure port.
	EtcdPort, APIServerPort int
	// Runner runs hack/cluster.sh, the kubeconfig script and kubectl.
	Runner Runner
	// APIServerFlags are more kube-apiserver flags, word-split
	// (CLUSTER_APISERVER_FLAGS), also when it is started again.
	APIServerFlags string
}

// Kubeconfig is the cluster admin's kubeconfig (user admin, group
// system:masters), written by hack/cluster.sh.
func (c *ControlPlane) Kubeconfig() string { return filepath.Join(c.Dir, "kubeconfig") }

// OperatorKubeconfig is the kubeconfig of the operator's ServiceAccount,
// written by WriteOperatorKubeconfig.
func (c *ControlPlane) OperatorKubeconfig() string {
	return filepath.Join(c.Dir, "operator.kubeconfig")
}

// KubectlPath is the kubectl built for the pinned Kubernetes version.
func (c *ControlPlane) KubectlPath() string { return c.binary("kubectl") }

func (c *ControlPlane) binary(name string) string {
	return filepath.Join(c.RepoRoot, "bin", "k8s", name)
}

// CheckBinaries fails when etcd, kube-apiserver or kubectl is not built.
func (c *ControlPlane) CheckBinaries() error {
	for _, name := range []string{"kubectl", "kube-apiserver", "etcd"} {
		if _, err := os.Stat(c.binary(name)); err != nil {
			return fmt.Errorf("%s is missing: run make k8s-binaries", c.binary(name))
		}
	}
	return nil
}

// Start starts a fresh control plane and waits until kube-apiserver is
// ready. It begins from nothing: "down" first removes what an interrupted
// earlier run left in Dir, a manager recorded in Dir/manager.pid included.
// Whoever calls Start calls Stop, also when Start fails.
func (c *ControlPlane) Start(ctx context.Context) error {
	if err := c.CheckBinaries(); err != nil {
		return err
	}
	if err := c.script(ctx, "down"); err != nil {
		return err
	}
	return c.script(ctx, "up")
}

// Stop stops the control plane (and a manager recorded in Dir/manager.pid
// that still runs) and removes Dir. It needs no context: it runs after a
// cancellation too, bounded by its own timeout.
func (c *ControlPlane) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	return c.script(ctx, "down")
}

// Components of the control plane that fault tests stop and start.
const (
	APIServer = "apiserver"
	Etcd      = "etcd"
)

// StopComponent stops kube-apiserver (APIServer) or etcd (Etcd), keeping
// its state: SIGTERM, then SIGKILL after 10 s.
func (c *ControlPlane) StopComponent(ctx context.Context, component string) error {
	if component != APIServer && component != Etcd {
		return fmt.Errorf("no component %q", component)
	}
	return c.script(ctx, "stop-"+component)
}

// StartComponent starts a component that StopComponent stopped; for the
// API server it waits until /readyz is ok.
func (c *ControlPlane) StartComponent(ctx context.Context, component string) error {
	if component != APIServer && component != Etcd {
		return fmt.Errorf("no component %q", component)
	}
	return c.script(ctx, "start-"+component)
}

// script runs hack/cluster.sh with the control plane's directory and ports.
func (c *ControlPlane) script(ctx context.Context, action string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.RepoRoot, "hack", "cluster.sh"), action)
	cmd.Env = append(os.Environ(), c.scriptEnv()...)
	_, err := c.Runner.Run(cmd)
	return err
}

// scriptEnv is what hack/cluster.sh reads: the directory and the ports.
func (c *ControlPlane) scriptEnv() []string {
	env := []string{
		"CLUSTER_DIR=" + c.Dir,
		"CLUSTER_ETCD_PORT=" + strconv.Itoa(c.EtcdPort),
		"CLUSTER_API_PORT=" + strconv.Itoa(c.APIServerPort),
	}
	if c.APIServerFlags != "" {
		env = append(env, "CLUSTER_APISERVER_FLAGS="+c.APIServerFlags)
	}
	return env
}

// InstallDefault installs certsmith as a user would, "kubectl apply -k
// config/default" (CRDs, namespace, ServiceAccount, generated RBAC, the
// Deployment, whose Pods never run here), and waits until the CRDs are
// established.
func (c *ControlPlane) InstallDefault(ctx context.Context) error {
	if _, err := c.Runner.Run(c.KubectlCommand(ctx, "apply", "-k", filepath.Join(c.RepoRoot, "config", "default"))); err != nil {
		return err
	}
	return c.WaitForCRDs(ctx)
}

// WaitForCRDs waits up to a minute until certsmith's CRDs are established.
func (c *ControlPlane) WaitForCRDs(ctx context.Context) error {
	args := []string{"wait", "--for=condition=Established", "--timeout=60s"}
	for _, name := range CRDs {
		args = append(args, "crd/"+name)
	}
	_, err := c.Runner.Run(c.KubectlCommand(ctx, args...))
	return err
}

// WriteOperatorKubeconfig writes OperatorKubeconfig with
// hack/e2e-operator-kubeconfig.sh: the API server and its CA from the
// admin's kubeconfig and a token of the ServiceAccount that config/default
// creates, so that a manager using it has exactly the generated RBAC.
// InstallDefault must have run.
func (c *ControlPlane) WriteOperatorKubeconfig(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.RepoRoot, "hack", "e2e-operator-kubeconfig.sh"),
		c.Kubeconfig(), c.OperatorKubeconfig())
	_, err := c.Runner.Run(cmd)
	return err
}

// PID returns the process id of a component hack/cluster.sh started:
// "etcd" or "kube-apiserver".
func (c *ControlPlane) PID(component string) (int, error) {
	data, err := os.ReadFile(filepath.Join(c.Dir, component+".pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

// KubectlCommand returns kubectl as the cluster admin, ready for a Runner.
// Subcommands that need no cluster (kustomize) work before Start too.
func (c *ControlPlane) KubectlCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.KubectlPath(), args...)
	cmd.Env = append(EnvironWithout("KUBECONFIG"), "KUBECONFIG="+c.Kubeconfig())
	return cmd
}

// Kubectl runs kubectl as the cluster admin with the Runner and returns its
// stdout; an error carries stdout and stderr.
func (c *ControlPlane) Kubectl(args ...string) (string, error) {
	return c.KubectlWithInput("", args...)
}

// KubectlWithInput is Kubectl with input on stdin, for "apply -f -".
func (c *ControlPlane) KubectlWithInput(input string, args ...string) (string, error) {
	cmd := c.KubectlCommand(context.Background(), args...)
	cmd.Stdin = strings.NewReader(input)
	return c.Runner.Run(cmd)
}

// NewManager returns, not started, the manager binary at path as the
// operator's ServiceAccount (OperatorKubeconfig) with its log and pid in
// Dir, where "hack/cluster.sh down" finds a manager left running.
func (c *ControlPlane) NewManager(path string) *Manager {
	return &Manager{
		Path:       path,
		Kubeconfig: c.OperatorKubeconfig(),
		LogPath:    filepath.Join(c.Dir, "manager.log"),
		PIDPath:    filepath.Join(c.Dir, "manager.pid"),
	}
}
