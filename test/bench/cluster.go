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
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/certsmith/certsmith/test/internal/harness"
)

const (
	operatorNamespace = "certsmith-system"
	// commandTimeout bounds every external command.
	commandTimeout = 3 * time.Minute
)

// controlPlane is etcd and kube-apiserver started by hack/cluster.sh in a
// directory and on ports of the benchmark's own, so it runs next to
// "make cluster-up", "make demo" and the e2e suite without touching them.
type controlPlane struct {
	repoRoot, dir     string
	etcdPort, apiPort int
}

func (c *controlPlane) kubeconfig() string { return filepath.Join(c.dir, "kubeconfig") }

func (c *controlPlane) operatorKubeconfig() string {
	return filepath.Join(c.dir, "operator.kubeconfig")
}

// script runs hack/cluster.sh with the benchmark's directory and ports.
func (c *controlPlane) script(ctx context.Context, action string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.repoRoot, "hack", "cluster.sh"), action)
	cmd.Env = append(os.Environ(),
		"CLUSTER_DIR="+c.dir,
		"CLUSTER_ETCD_PORT="+strconv.Itoa(c.etcdPort),
		"CLUSTER_API_PORT="+strconv.Itoa(c.apiPort),
	)
	_, err := run(cmd)
	return err
}

// up starts a fresh control plane, installs certsmith from config/default
// and writes the operator's ServiceAccount kubeconfig.
func (c *controlPlane) up(ctx context.Context) error {
	// Begin from nothing: an interrupted earlier run may have left state.
	if err := c.down(); err != nil {
		return err
	}
	if err := c.script(ctx, "up"); err != nil {
		return err
	}
	if _, err := c.kubectl(ctx, "apply", "-k", filepath.Join(c.repoRoot, "config", "default")); err != nil {
		return err
	}
	if _, err := c.kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/clusterissuers.certsmith.io", "crd/servicecertificates.certsmith.io"); err != nil {
		return err
	}
	_, err := run(exec.CommandContext(ctx, filepath.Join(c.repoRoot, "hack", "e2e-operator-kubeconfig.sh"),
		c.kubeconfig(), c.operatorKubeconfig()))
	return err
}

// down stops the control plane and removes its directory. It runs without
// the run's context, so that it works after a cancellation too.
func (c *controlPlane) down() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.script(ctx, "down")
}

// pid returns the process id of "etcd" or "kube-apiserver".
func (c *controlPlane) pid(name string) (int, error) {
	data, err := os.ReadFile(filepath.Join(c.dir, name+".pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

// kubectl runs the pinned kubectl as the cluster admin.
func (c *controlPlane) kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.repoRoot, "bin", "k8s", "kubectl"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig())
	return run(cmd)
}

// run runs cmd for at most commandTimeout and returns its stdout; an error
// carries the command line, stdout and stderr.
func run(cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
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
	if err != nil {
		return stdout.String(), fmt.Errorf("%s: %w\n%s%s", strings.Join(cmd.Args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// managerProcess is bin/manager running as the operator's ServiceAccount.
type managerProcess struct {
	cmd       *exec.Cmd
	exited    chan struct{}
	logPath   string
	probeAddr string
	pprofAddr string
}

// startManager starts the manager with leader election off and its metrics
// server on a loopback port; pprof is served when profile is set. GOGC,
// GOMEMLIMIT and GODEBUG are not passed on, so the manager runs with the Go
// runtime's defaults as in its Deployment, unless extraEnv sets them.
func startManager(cp *controlPlane, managerPath, metricsAddr string, extraArgs, extraEnv []string, profile bool) (*managerProcess, error) {
	probeAddr, err := harness.FreeLoopbackAddress()
	if err != nil {
		return nil, err
	}
	m := &managerProcess{exited: make(chan struct{}), logPath: filepath.Join(cp.dir, "manager.log"), probeAddr: probeAddr}
	args := []string{
		"--leader-elect=false",
		"--metrics-bind-address=" + metricsAddr,
		"--health-probe-bind-address=" + probeAddr,
		"--namespace=" + operatorNamespace,
		"--cluster-domain=cluster.local",
	}
	if profile {
		if m.pprofAddr, err = harness.FreeLoopbackAddress(); err != nil {
			return nil, err
		}
		args = append(args, "--pprof-bind-address="+m.pprofAddr)
	}
	args = append(args, extraArgs...)
	logFile, err := os.Create(m.logPath)
	if err != nil {
		return nil, err
	}
	m.cmd = exec.Command(managerPath, args...)
	m.cmd.Env = append(environWithout("KUBECONFIG", "GOGC", "GOMEMLIMIT", "GODEBUG"), "KUBECONFIG="+cp.operatorKubeconfig())
	m.cmd.Env = append(m.cmd.Env, extraEnv...)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	setParentDeathSignal(m.cmd)
	if err := m.cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", managerPath, err)
	}
	go func() {
		_ = m.cmd.Wait()
		_ = logFile.Close()
		close(m.exited)
	}()
	return m, nil
}

// environWithout returns the environment without the named variables.
func environWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || name == n
		}
		if !drop {
			env = append(env, kv)
		}
	}
	return env
}

func (m *managerProcess) pid() int { return m.cmd.Process.Pid }

func (m *managerProcess) running() bool {
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// waitReady waits until the manager answers /readyz.
func (m *managerProcess) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if !m.running() {
			return fmt.Errorf("the manager exited; its log ends with:\n%s", m.logTail())
		}
		if probe(ctx, "http://"+m.probeAddr+"/readyz") == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the manager did not become ready; its log ends with:\n%s", m.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop stops the manager with SIGTERM, then SIGKILL if it does not exit in time.
func (m *managerProcess) stop() {
	if !m.running() {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

// logTail returns the last lines of the manager's log.
func (m *managerProcess) logTail() string { return harness.LogTail(m.logPath, 30) }

// probe succeeds when url answers 200 OK.
func probe(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
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
