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
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests need no control plane: they cover what the harness decides
// (paths, flags, environment) and how it runs and stops processes, with sh
// standing in for kubectl and the manager.

func TestRepoRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(root, "test", "e2e")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, deep} {
		if got, err := repoRootFrom(dir); err != nil || got != root {
			t.Errorf("repoRootFrom(%s) = %q, %v; want %q", dir, got, err, root)
		}
	}

	// This package's own working directory is inside the clone.
	got, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(got, "hack", "cluster.sh")); err != nil {
		t.Errorf("RepoRoot() = %s, which has no hack/cluster.sh", got)
	}
}

func TestRepoRootWithoutGoMod(t *testing.T) {
	// The temporary directory's parents have no go.mod on a sane machine;
	// skip rather than fail where one does.
	dir := t.TempDir()
	if _, err := repoRootFrom(filepath.Dir(dir)); err == nil {
		t.Skip("a parent of the temporary directory holds a go.mod")
	}
	_, err := repoRootFrom(dir)
	if err == nil || !strings.Contains(err.Error(), "no go.mod in "+dir) {
		t.Errorf("repoRootFrom(%s) error = %v, want one naming the directory", dir, err)
	}
}

func TestEnvironWithout(t *testing.T) {
	env := []string{"PATH=/bin", "KUBECONFIG=/admin", "KUBECONFIG_EXTRA=1", "GOGC=50", "EMPTY=", "GOGC=off"}
	got := environWithout(env, "KUBECONFIG", "GOGC", "MISSING")
	want := []string{"PATH=/bin", "KUBECONFIG_EXTRA=1", "EMPTY="}
	if !slices.Equal(got, want) {
		t.Errorf("environWithout = %v, want %v", got, want)
	}
	if got := environWithout(env); !slices.Equal(got, env) {
		t.Errorf("environWithout with no names = %v, want the input", got)
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "manager.log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\nfour\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for lines, want := range map[int]string{1: "four", 2: "three\nfour", 4: "one\ntwo\nthree\nfour", 10: "one\ntwo\nthree\nfour"} {
		if got := LogTail(path, lines); got != want {
			t.Errorf("LogTail(%d) = %q, want %q", lines, got, want)
		}
	}
	if got := LogTail(filepath.Join(t.TempDir(), "missing.log"), 5); !strings.HasPrefix(got, "(no log at ") {
		t.Errorf("LogTail of a missing file = %q, want a note", got)
	}
}

func TestProbe(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer server.Close()
	if err := Probe(context.Background(), server.URL+"/readyz"); err != nil {
		t.Errorf("Probe(/readyz) = %v, want nil", err)
	}
	if err := Probe(context.Background(), server.URL+"/healthz"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Probe(/healthz) = %v, want a 503", err)
	}
	address, err := FreeLoopbackAddress()
	if err != nil {
		t.Fatal(err)
	}
	if err := Probe(context.Background(), "http://"+address+"/readyz"); err == nil {
		t.Error("Probe of a closed port succeeded")
	}
}

func TestRunner(t *testing.T) {
	var log bytes.Buffer
	dir := t.TempDir()
	runner := Runner{Dir: dir, Log: &log}

	stdout, stderr, err := runner.Output(exec.Command("sh", "-c", `pwd; cat; echo oops >&2`))
	if err != nil {
		t.Fatal(err)
	}
	if resolved, _ := filepath.EvalSymlinks(dir); strings.TrimSpace(stdout) != dir && strings.TrimSpace(stdout) != resolved {
		t.Errorf("the command ran in %q, want the Runner's Dir %s (and an empty stdin)", stdout, dir)
	}
	if stderr != "oops\n" {
		t.Errorf("stderr = %q, want oops", stderr)
	}
	if want := "$ sh -c pwd; cat; echo oops >&2\n"; log.String() != want {
		t.Errorf("log = %q, want %q", log.String(), want)
	}

	cmd := exec.Command("sh", "-c", `cat; echo to-stderr >&2; exit 3`)
	cmd.Stdin = strings.NewReader("the input")
	stdout, err = runner.Run(cmd)
	var exitErr *exec.ExitError
	switch {
	case !errors.As(err, &exitErr) || exitErr.ExitCode() != 3:
		t.Errorf("Run error = %v, want exit status 3", err)
	case stdout != "the input":
		t.Errorf("stdout = %q, want the input", stdout)
	case !strings.HasPrefix(err.Error(), "sh -c cat;") || !strings.Contains(err.Error(), "\nthe inputto-stderr\n"):
		t.Errorf("Run error = %q, want the command line, then stdout and stderr", err)
	}

	_, stderr, err = runner.Output(exec.Command("sh", "-c", `echo detail >&2; exit 1`))
	if err == nil || strings.Contains(err.Error(), "\n") || stderr != "detail\n" {
		t.Errorf("Output = %q, %v; want stderr apart from the error", stderr, err)
	}

	started := time.Now()
	_, err = Runner{Timeout: 200 * time.Millisecond}.Run(exec.Command("sleep", "30"))
	if err == nil || !strings.Contains(err.Error(), "timed out after 200ms") {
		t.Errorf("Run of sleep 30 with a 200ms timeout = %v, want a timeout", err)
	}
	if elapsed := time.Since(started); elapsed > 10*time.Second {
		t.Errorf("the timeout took %s", elapsed)
	}
}

func TestControlPlanePaths(t *testing.T) {
	c := &ControlPlane{RepoRoot: "/repo", Dir: "/repo/bin/e2e-cluster", EtcdPort: 52379, APIServerPort: 56443}
	want := []string{"CLUSTER_DIR=/repo/bin/e2e-cluster", "CLUSTER_ETCD_PORT=52379", "CLUSTER_API_PORT=56443"}
	if got := c.scriptEnv(); !slices.Equal(got, want) {
		t.Errorf("scriptEnv = %v, want %v", got, want)
	}
	if c.Kubeconfig() != "/repo/bin/e2e-cluster/kubeconfig" || c.OperatorKubeconfig() != "/repo/bin/e2e-cluster/operator.kubeconfig" ||
		c.KubectlPath() != "/repo/bin/k8s/kubectl" {
		t.Errorf("paths: %s %s %s", c.Kubeconfig(), c.OperatorKubeconfig(), c.KubectlPath())
	}
	t.Setenv("KUBECONFIG", "/home/someone/.kube/config")
	cmd := c.KubectlCommand(context.Background(), "get", "pods")
	if kubeconfigs := filterPrefix(cmd.Env, "KUBECONFIG="); !slices.Equal(kubeconfigs, []string{"KUBECONFIG=/repo/bin/e2e-cluster/kubeconfig"}) {
		t.Errorf("kubectl's KUBECONFIG = %v, want only the admin's", kubeconfigs)
	}
	m := c.NewManager("/repo/bin/manager")
	if m.Kubeconfig != c.OperatorKubeconfig() || m.LogPath != "/repo/bin/e2e-cluster/manager.log" || m.PIDPath != "/repo/bin/e2e-cluster/manager.pid" {
		t.Errorf("NewManager = %+v", m)
	}
	if err := (&ControlPlane{RepoRoot: t.TempDir()}).CheckBinaries(); err == nil || !strings.Contains(err.Error(), "run make k8s-binaries") {
		t.Errorf("CheckBinaries without bin/k8s = %v, want a hint", err)
	}
}

func TestManagerFlagsAndEnvironment(t *testing.T) {
	m := &Manager{Kubeconfig: "/op.kubeconfig", ProbeAddress: "127.0.0.1:9", Args: []string{"--workers=8"},
		Env: []string{"GOMEMLIMIT=48MiB"}, DropEnv: []string{"GOGC", "GOMEMLIMIT"}}
	want := []string{"--leader-elect=false", "--metrics-bind-address=0", "--crl-bind-address=0", "--health-probe-bind-address=127.0.0.1:9",
		"--namespace=certsmith-system", "--cluster-domain=cluster.local", "--workers=8"}
	if got := m.args(); !slices.Equal(got, want) {
		t.Errorf("args = %v\nwant %v", got, want)
	}
	m.Namespace, m.MetricsAddress, m.CRLAddress = "other-ns", "127.0.0.1:8", "127.0.0.1:7"
	if got := m.args(); got[1] != "--metrics-bind-address=127.0.0.1:8" || got[2] != "--crl-bind-address=127.0.0.1:7" || got[4] != "--namespace=other-ns" {
		t.Errorf("args = %v, want the metrics and CRL addresses and the namespace set", got)
	}
	env := m.environ([]string{"PATH=/bin", "KUBECONFIG=/admin", "GOGC=off", "GOMEMLIMIT=1GiB"})
	if want := []string{"PATH=/bin", "KUBECONFIG=/op.kubeconfig", "GOMEMLIMIT=48MiB"}; !slices.Equal(env, want) {
		t.Errorf("environ = %v, want %v", env, want)
	}
}

// fakeManager writes a script that logs its arguments and then waits, as a
// manager would, or runs body instead.
func fakeManager(t *testing.T, body string) *Manager {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs sh")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "manager")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Manager{Path: path, Kubeconfig: filepath.Join(dir, "kubeconfig"),
		LogPath: filepath.Join(dir, "manager.log"), PIDPath: filepath.Join(dir, "manager.pid")}
}

func TestManagerLifecycle(t *testing.T) {
	m := fakeManager(t, `trap 'echo terminated; exit 0' TERM; echo "started $KUBECONFIG $*"; while :; do sleep 0.1; done`)
	if m.Running() || m.PID() != 0 {
		t.Fatal("a Manager that was not started runs")
	}
	if err := m.Stop(); !errors.Is(err, errNotStarted) {
		t.Errorf("Stop before Start = %v", err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop() })
	if !m.Running() || m.ProbeAddress == "" {
		t.Fatalf("after Start: running %v, probe address %q", m.Running(), m.ProbeAddress)
	}
	if err := m.Start(); err == nil {
		t.Error("a second Start while running succeeded")
	}
	if data, err := os.ReadFile(m.PIDPath); err != nil || string(data) != strconv.Itoa(m.PID()) {
		t.Errorf("pid file = %q, %v; want %d", data, err, m.PID())
	}
	waitForLog(t, m, "started "+m.Kubeconfig+" --leader-elect=false")
	probeAddress := m.ProbeAddress

	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	if m.Running() || !m.Killed() {
		t.Errorf("after Kill: running %v, killed %v", m.Running(), m.Killed())
	}
	if err := m.Kill(); err == nil || !strings.Contains(err.Error(), "already exited") {
		t.Errorf("a second Kill = %v, want already exited", err)
	}

	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if m.Killed() || m.ProbeAddress != probeAddress {
		t.Errorf("after the restart: killed %v, probe address %s (was %s)", m.Killed(), m.ProbeAddress, probeAddress)
	}
	waitForLog(t, m, RestartMarker+" at ")
	waitForLog(t, m, RestartMarker+" at "+"*started ")
	log, _ := os.ReadFile(m.LogPath)
	if strings.Count(string(log), "started ") != 2 || strings.Index(string(log), RestartMarker) > strings.LastIndex(string(log), "started ") {
		t.Errorf("the restarted manager's log does not continue the first after the marker:\n%s", log)
	}

	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, m, "terminated")
	if err := m.Stop(); err == nil || !strings.Contains(err.Error(), "already exited") {
		t.Errorf("Stop of a stopped manager = %v, want already exited", err)
	}
}

func TestManagerWaitReady(t *testing.T) {
	m := fakeManager(t, `echo "cannot start: bad flag" >&2; exit 3`)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	<-m.Exited()
	err := m.WaitReady(context.Background(), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "cannot start: bad flag") {
		t.Errorf("WaitReady of an exited manager = %v, want its exit and log", err)
	}
	if err := m.Stop(); err == nil {
		t.Error("Stop of a manager that exited by itself succeeded")
	}

	// A manager that runs but never answers /readyz.
	m = fakeManager(t, `exec sleep 30`)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Stop() }()
	if err := m.WaitReady(context.Background(), 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not become ready") {
		t.Errorf("WaitReady = %v, want not ready", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.WaitReady(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitReady with a cancelled context = %v", err)
	}
}

// waitForLog waits until the manager's log contains text; "a*b" is a, later
// followed by b.
func waitForLog(t *testing.T, m *Manager, text string) {
	t.Helper()
	first, then, _ := strings.Cut(text, "*")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(m.LogPath)
		if _, after, found := strings.Cut(string(data), first); found && strings.Contains(after, then) {
			return
		}
	}
	t.Fatalf("the log never showed %q:\n%s", text, m.LogTail())
}

func filterPrefix(values []string, prefix string) []string {
	var found []string
	for _, v := range values {
		if strings.HasPrefix(v, prefix) {
			found = append(found, v)
		}
	}
	return found
}
