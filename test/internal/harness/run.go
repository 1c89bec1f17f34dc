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
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// DefaultCommandTimeout bounds every external command a Runner runs unless
// it says otherwise, so that a hung kubectl or openssl fails one check
// instead of hanging the whole run.
const DefaultCommandTimeout = 3 * time.Minute

// waitDelay is how long Wait waits for a command's output pipes after it
// exited or was killed: a background child that kept them open must not
// hang the run.
const waitDelay = 10 * time.Second

// Runner runs external commands to completion. Its zero value bounds each
// command by DefaultCommandTimeout, runs it in the working directory and
// logs nothing.
type Runner struct {
	// Timeout bounds each command; zero means DefaultCommandTimeout.
	Timeout time.Duration
	// Dir is the working directory of commands that set none.
	Dir string
	// Log, if set, receives each command line ("$ kubectl get ...") before
	// the command runs. Only the command line: stdout may hold a private key.
	Log io.Writer
}

// Run runs cmd and returns its stdout. A failure's error has the command
// line, how it failed, and then its stdout and stderr, which is where
// kubectl puts the API server's rejection.
func (r Runner) Run(cmd *exec.Cmd) (string, error) {
	stdout, stderr, err := r.Output(cmd)
	if err != nil {
		return stdout, fmt.Errorf("%w\n%s%s", err, stdout, stderr)
	}
	return stdout, nil
}

// Output runs cmd and returns its stdout and stderr apart. A failure's error
// has the command line and how it failed (an *exec.ExitError, which
// errors.As finds, for a non-zero exit), not the output. A command without
// stdin reads an empty one, never the caller's.
func (r Runner) Output(cmd *exec.Cmd) (stdout, stderr string, err error) {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = DefaultCommandTimeout
	}
	if cmd.Dir == "" {
		cmd.Dir = r.Dir
	}
	if cmd.Stdin == nil {
		cmd.Stdin = strings.NewReader("")
	}
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = waitDelay
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	line := strings.Join(cmd.Args, " ")
	if r.Log != nil {
		fmt.Fprintf(r.Log, "$ %s\n", line)
	}
	if err := cmd.Start(); err != nil {
		return "", "", fmt.Errorf("%s: %w", line, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-done
		err = fmt.Errorf("timed out after %s", timeout)
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", line, err)
	}
	return out.String(), errOut.String(), err
}
