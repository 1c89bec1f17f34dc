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

// Package harness is the one place that starts and stops what the suites
// and tools under test/ run against: a local control plane (etcd and
// kube-apiserver, through hack/cluster.sh), kubectl as its admin, and
// bin/manager as the operator's ServiceAccount (through
// hack/e2e-operator-kubeconfig.sh). The end-to-end suite (test/e2e), the
// manifest suite (test/manifests) and the benchmark (test/bench) use it;
// "make demo" (hack/demo.sh) is the same steps in bash, on the same scripts.
//
// Nothing here knows about Ginkgo or testing.T: every helper returns an
// error that says what failed and, where it helps, what the manager logged.
package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The operator's namespace and ServiceAccount as config/default installs
// them; hack/e2e-operator-kubeconfig.sh authenticates as that ServiceAccount.
const (
	OperatorNamespace      = "certsmith-system"
	OperatorServiceAccount = "certsmith-controller-manager"
)

// RepoRoot walks up from the working directory (a package directory under
// go test, anywhere in the clone under go run) to the directory that holds
// go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return repoRootFrom(dir)
}

// repoRootFrom is RepoRoot starting at dir.
func repoRootFrom(dir string) (string, error) {
	for start := dir; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod in %s or any parent: run from the repository", start)
		}
		dir = parent
	}
}

// LogTail returns the last lines of a log file, or a note that it cannot be read.
func LogTail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log at %s: %v)", path, err)
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// FreeLoopbackAddress returns a 127.0.0.1 address with a port that was free
// a moment ago.
func FreeLoopbackAddress() (string, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer listener.Close()
	return listener.Addr().String(), nil
}

// Probe succeeds when url answers 200 OK within 2 s (and before ctx ends).
func Probe(ctx context.Context, url string) error {
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

// EnvironWithout returns this process's environment without the named
// variables.
func EnvironWithout(names ...string) []string {
	return environWithout(os.Environ(), names...)
}

// environWithout returns env without the named variables. A variable is
// named exactly: KUBECONFIG does not drop KUBECONFIG_EXTRA.
func environWithout(env []string, names ...string) []string {
	var kept []string
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); !slices.Contains(names, name) {
			kept = append(kept, kv)
		}
	}
	return kept
}

// errNotStarted is what the Manager's methods return before its first Start.
var errNotStarted = errors.New("the manager was not started")
