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
	"strconv"
	"sync"
	"syscall"
	"time"
)

// RestartMarker begins the line that Start writes into the log before the
// output of a restarted manager; what follows the last one is the current
// process's.
const RestartMarker = "----- harness: restarting the manager"

const (
	// logTailLines is how much of the manager's log an error shows.
	logTailLines = 40
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 15 * time.Second
	// killWait is how long Kill waits for the process to be gone.
	killWait = 10 * time.Second
	// readyPoll is how often WaitReady asks /readyz.
	readyPoll = 100 * time.Millisecond
)

// Manager is the manager binary running in the background, outside the
// cluster, as the ServiceAccount of Kubeconfig, with leader election off
// unless LeaderElect says otherwise. Its methods may be called from
// several goroutines (a test and a supervisor that restarts it).
// ControlPlane.NewManager fills in the paths; set the other fields before
// the first Start. One Manager may be started again after it was stopped or
// killed: the same flags, the same probe address, the log continued.
type Manager struct {
	// Path is the manager binary (bin/manager).
	Path string
	// Kubeconfig authenticates it: the operator's ServiceAccount.
	Kubeconfig string
	// LogPath receives its stdout and stderr.
	LogPath string
	// PIDPath, if set, records its process id, so that "hack/cluster.sh
	// down" stops a manager that an interrupted run left behind.
	PIDPath string
	// Namespace is its --namespace; empty means OperatorNamespace.
	Namespace string
	// ProbeAddress serves /healthz and /readyz; empty means a free loopback
	// port, chosen by the first Start and kept for restarts.
	ProbeAddress string
	// MetricsAddress is its --metrics-bind-address; empty means "0", off.
	MetricsAddress string
	// CRLAddress is its --crl-bind-address; empty means "0", off (the
	// manager's default, :8089 on every interface, would collide with
	// another manager on this machine).
	CRLAddress string
	// LeaderElect runs it with leader election (--leader-elect=true, its
	// Lease in Namespace), for tests of several replicas; off by default
	// (one process, no Lease to wait for).
	LeaderElect bool
	// Args are more flags, after the harness's own.
	Args []string
	// Env is added to the harness's environment, after DropEnv is taken
	// out of it (KUBECONFIG always is).
	Env, DropEnv []string
	// KillWithHarness makes the kernel kill the manager when the harness
	// process dies, so that not even a SIGKILL of the harness leaves it
	// running (Linux only; elsewhere it does nothing).
	KillWithHarness bool

	// startMu makes Starts one at a time (a test's and a supervisor's);
	// mu guards the fields below, which Start replaces while other
	// goroutines look at them.
	startMu sync.Mutex
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	starts  int
	killed  bool
}

// current returns the process Start started last and its exit channel.
func (m *Manager) current() (*exec.Cmd, chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd, m.exited
}

// Start starts the manager in the background. The first Start begins a new
// log; a later one, once the previous process has exited, continues it
// after a line that begins with RestartMarker.
func (m *Manager) Start() error {
	m.startMu.Lock()
	defer m.startMu.Unlock()
	if m.Running() {
		return fmt.Errorf("the manager (pid %d) is still running", m.PID())
	}
	if m.ProbeAddress == "" {
		address, err := FreeLoopbackAddress()
		if err != nil {
			return err
		}
		m.ProbeAddress = address
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if m.starts > 0 {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	logFile, err := os.OpenFile(m.LogPath, flags, 0o644)
	if err != nil {
		return err
	}
	if m.starts > 0 {
		fmt.Fprintf(logFile, "%s at %s -----\n", RestartMarker, time.Now().UTC().Format(time.RFC3339Nano))
	}
	cmd := exec.Command(m.Path, m.args()...)
	cmd.Env = m.environ(os.Environ())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if m.KillWithHarness {
		setParentDeathSignal(cmd)
	}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting %s: %w", m.Path, err)
	}
	if m.PIDPath != "" {
		if err := os.WriteFile(m.PIDPath, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = logFile.Close()
			return err
		}
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(exited)
	}()
	m.mu.Lock()
	m.cmd, m.exited, m.killed = cmd, exited, false
	m.starts++
	m.mu.Unlock()
	return nil
}

// args are the manager's flags: leader election as LeaderElect says
// (off by default), the metrics, CRL and probe addresses, the namespace, the
// cluster domain, then Args.
func (m *Manager) args() []string {
	namespace, metrics, crl := m.Namespace, m.MetricsAddress, m.CRLAddress
	if namespace == "" {
		namespace = OperatorNamespace
	}
	if metrics == "" {
		metrics = "0"
	}
	if crl == "" {
		crl = "0"
	}
	return append([]string{
		"--leader-elect=" + strconv.FormatBool(m.LeaderElect),
		"--metrics-bind-address=" + metrics,
		"--crl-bind-address=" + crl,
		"--health-probe-bind-address=" + m.ProbeAddress,
		"--namespace=" + namespace,
		"--cluster-domain=cluster.local",
	}, m.Args...)
}

// environ is env without KUBECONFIG and DropEnv, then KUBECONFIG=Kubeconfig
// and Env.
func (m *Manager) environ(env []string) []string {
	env = environWithout(env, append([]string{"KUBECONFIG"}, m.DropEnv...)...)
	env = append(env, "KUBECONFIG="+m.Kubeconfig)
	return append(env, m.Env...)
}

// Running says whether the process that Start started still runs.
func (m *Manager) Running() bool {
	_, exited := m.current()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// Exited is closed when the current process has exited. Call it after Start.
func (m *Manager) Exited() <-chan struct{} {
	_, exited := m.current()
	return exited
}

// Killed says whether Kill ended the last process and Start has not run since.
func (m *Manager) Killed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.killed
}

// PID is the process id of the current (or last) process; 0 before Start.
func (m *Manager) PID() int {
	cmd, _ := m.current()
	if cmd == nil {
		return 0
	}
	return cmd.Process.Pid
}

// exitError says that the manager is not running, how it ended, and what it
// logged last.
func (m *Manager) exitError() error {
	cmd, _ := m.current()
	if cmd == nil {
		return errNotStarted
	}
	return fmt.Errorf("the manager had already exited (%s); its log ends with:\n%s", cmd.ProcessState, m.LogTail())
}

// WaitReady waits until the manager answers /readyz, for at most timeout.
// It fails at once when the manager exits.
func (m *Manager) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if !m.Running() {
			return m.exitError()
		}
		if Probe(ctx, "http://"+m.ProbeAddress+"/readyz") == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the manager did not become ready in %s; its log ends with:\n%s", timeout, m.LogTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPoll):
		}
	}
}

// Stop stops the manager with SIGTERM, and SIGKILL if it has not exited
// after 15 s. It fails if the manager had exited already: a manager should
// run until it is stopped.
func (m *Manager) Stop() error {
	cmd, exited := m.current()
	if !m.Running() {
		return m.exitError()
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopGrace):
		_ = cmd.Process.Kill()
		<-exited
	}
	return nil
}

// Kill kills the manager with SIGKILL, as a crash or the OOM killer would:
// no signal handler runs, nothing is flushed or cleaned up. It returns once
// the process is gone, and fails if it had exited already or ended
// otherwise than by the SIGKILL.
func (m *Manager) Kill() error {
	cmd, exited := m.current()
	if !m.Running() {
		return m.exitError()
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-exited:
	case <-time.After(killWait):
		return fmt.Errorf("the manager (pid %d) was still running %s after SIGKILL", cmd.Process.Pid, killWait)
	}
	m.mu.Lock()
	if m.cmd == cmd {
		m.killed = true
	}
	m.mu.Unlock()
	if status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && status.Signal() != syscall.SIGKILL {
		return fmt.Errorf("the manager ended with %s, not by SIGKILL", cmd.ProcessState)
	}
	return nil
}

// LogTail returns the last lines of the manager's log.
func (m *Manager) LogTail() string { return LogTail(m.LogPath, logTailLines) }
