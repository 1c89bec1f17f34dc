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

// Package manifests tests what certsmith ships to a cluster rather than
// what it does there: the kustomize configuration in config/, the OLM
// bundle in bundle/ and the Dockerfile. Manifests are checked by a real
// kube-apiserver (server-side dry-run and server-side apply against a local
// control plane started by hack/cluster.sh), the bundle by the Operator
// Framework's own validators, and the generated files by regenerating them.
//
// No operator runs here: the e2e suite (test/e2e) runs it. Run this suite
// from the repository root after "make k8s-binaries":
//
//	go test ./test/manifests/... -v
package manifests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/certsmith/certsmith/test/internal/harness"
)

// The suite's control plane has a directory and ports of its own, so it runs
// next to "make cluster-up" (32379/36443), "make demo" (42379/46443), the
// e2e suite (64379/64443) and the benchmark (61379/61443).
const (
	clusterDirName = "bin/manifests-cluster"
	etcdPort       = 62379
	apiServerPort  = 62443

	operatorNamespace = harness.OperatorNamespace
)

var (
	// repoRoot is the directory that holds go.mod.
	repoRoot string
	// cluster is the suite's local control plane, started by the first test
	// that needs it (requireCluster) and stopped by TestMain. Its kubectl
	// works before that for what needs no cluster (kustomize); every
	// command runs in the repository root.
	cluster *harness.ControlPlane
)

// clusterStart records starting the control plane, once per run.
var clusterStart struct {
	once    sync.Once
	started bool
	err     error
}

func TestMain(m *testing.M) {
	var err error
	if repoRoot, err = harness.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cluster = &harness.ControlPlane{
		RepoRoot: repoRoot, Dir: filepath.Join(repoRoot, clusterDirName),
		EtcdPort: etcdPort, APIServerPort: apiServerPort,
		Runner: harness.Runner{Dir: repoRoot},
	}
	code := m.Run()
	if clusterStart.started {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}
	os.Exit(code)
}

// requireCluster starts the suite's control plane the first time it is
// called (from a clean state: an interrupted run may have left one behind)
// and fails the test if it cannot.
func requireCluster(t *testing.T) {
	t.Helper()
	clusterStart.once.Do(func() {
		clusterStart.started = true
		clusterStart.err = cluster.Start(context.Background())
	})
	if clusterStart.err != nil {
		t.Fatalf("starting the local control plane: %v", clusterStart.err)
	}
}

// kubectl runs the suite's kubectl as the cluster admin with stdin as its
// input, shows the command line in the test's log, and returns stdout and
// stderr apart (stderr has the API server's warnings).
func kubectl(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Logf("$ kubectl %s", strings.Join(args, " "))
	cmd := cluster.KubectlCommand(context.Background(), args...)
	cmd.Stdin = strings.NewReader(stdin)
	return cluster.Runner.Output(cmd)
}

// mustKubectl is kubectl that fails the test on an error.
func mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	stdout, stderr, err := kubectl(t, stdin, args...)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, stdout, stderr)
	}
	return stdout
}

// serverWarnings returns the warnings in kubectl's stderr, without the one
// kubectl prints itself when a client-side apply meets an object that was
// created with server-side apply (installDefault's, in this suite).
func serverWarnings(stderr string) []string {
	var warnings []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "Warning") && !strings.Contains(line, "kubectl.kubernetes.io/last-applied-configuration") {
			warnings = append(warnings, line)
		}
	}
	return warnings
}

// kustomize builds a kustomization (a directory relative to the repository
// root) and returns its YAML.
func kustomize(t *testing.T, dir string) string {
	t.Helper()
	return mustKubectl(t, "", "kustomize", filepath.Join(repoRoot, dir))
}

// decodeAll decodes every object of a multi-document YAML stream.
func decodeAll(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	decoder := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var objects []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objects
			}
			t.Fatalf("decoding YAML: %v", err)
		}
		if len(obj.Object) > 0 {
			objects = append(objects, obj)
		}
	}
}

// readObjects decodes the objects of a YAML file relative to the repository root.
func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, string(data))
}

// objectsOfKind returns the objects of one kind.
func objectsOfKind(objects []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var found []*unstructured.Unstructured
	for _, obj := range objects {
		if obj.GetKind() == kind {
			found = append(found, obj)
		}
	}
	return found
}

// oneOfKind returns the only object of a kind, failing the test otherwise.
func oneOfKind(t *testing.T, objects []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	found := objectsOfKind(objects, kind)
	if len(found) != 1 {
		t.Fatalf("want exactly one %s, have %d", kind, len(found))
	}
	return found[0]
}

// defaultInstall records applying config/default for real, once per run.
var defaultInstall struct {
	once    sync.Once
	failure string
}

// installDefault applies config/default for real, once per run: the CRDs,
// the namespace, RBAC, the Deployment (whose Pods never run: there is no
// kubelet) and the rest. Tests that need certsmith's objects to exist call it.
func installDefault(t *testing.T) {
	t.Helper()
	requireCluster(t)
	defaultInstall.once.Do(func() {
		stdout, stderr, err := kubectl(t, kustomize(t, "config/default"), "apply", "--server-side", "-f", "-")
		if err != nil {
			defaultInstall.failure = fmt.Sprintf("applying config/default: %v\n%s%s", err, stdout, stderr)
			return
		}
		if err := cluster.WaitForCRDs(context.Background()); err != nil {
			defaultInstall.failure = fmt.Sprintf("waiting for the CRDs: %v", err)
		}
	})
	if defaultInstall.failure != "" {
		t.Fatal(defaultInstall.failure)
	}
}
