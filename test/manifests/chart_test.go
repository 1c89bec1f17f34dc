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

package manifests

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/certsmith/certsmith/test/internal/harness"
)

const chartDir = "charts/certsmith"

// helm runs bin/helm (make helm) and returns its stdout.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	t.Logf("$ helm %s", strings.Join(args, " "))
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(repoRoot, "bin", "helm"), args...)
	cmd.Dir = repoRoot
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), &helmError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

type helmError struct {
	err    error
	stderr string
}

func (e *helmError) Error() string { return e.err.Error() + ": " + e.stderr }

func mustHelm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChartIsGenerated: charts/certsmith is exactly what hack/chart makes
// from config/ now, so that the chart cannot drift from the manifests.
func TestChartIsGenerated(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./hack/chart", "-kubectl", filepath.Join(repoRoot, "bin", "k8s", "kubectl"), "-out", out)
	cmd.Dir = repoRoot
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/chart: %v\n%s", err, output)
	}
	want, have := readChartTree(t, out), readChartTree(t, filepath.Join(repoRoot, chartDir))
	for name, data := range want {
		if have[name] != data {
			t.Errorf("%s/%s differs from what hack/chart makes from config/: run make chart", chartDir, name)
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			t.Errorf("%s/%s is not made by hack/chart: run make chart", chartDir, name)
		}
	}
}

func readChartTree(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files[rel] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// byIdentity indexes objects by kind, namespace and name.
func byIdentity(objects []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, obj := range objects {
		m[obj.GetKind()+"/"+obj.GetNamespace()+"/"+obj.GetName()] = obj
	}
	return m
}

// inNamespace is objects as config/ would make them for another namespace:
// metadata.namespace and bindings' subjects.
func inNamespace(objects []*unstructured.Unstructured, namespace string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, obj := range objects {
		obj = obj.DeepCopy()
		if obj.GetNamespace() != "" {
			obj.SetNamespace(namespace)
		}
		if subjects, ok, _ := unstructured.NestedSlice(obj.Object, "subjects"); ok {
			for _, s := range subjects {
				if s := s.(map[string]any); s["namespace"] != nil {
					s["namespace"] = namespace
				}
			}
			_ = unstructured.SetNestedSlice(obj.Object, subjects, "subjects")
		}
		out = append(out, obj)
	}
	return out
}

// chartExpectation is what the chart must render: config/default without
// its Namespace, the CRDs kept on uninstall, plus the optional pieces.
func chartExpectation(t *testing.T, namespace string, optional ...string) map[string]*unstructured.Unstructured {
	t.Helper()
	var want []*unstructured.Unstructured
	for _, obj := range decodeAll(t, kustomize(t, "config/default")) {
		switch obj.GetKind() {
		case "Namespace":
			continue
		case "CustomResourceDefinition":
			annotations := obj.GetAnnotations()
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations["helm.sh/resource-policy"] = "keep"
			obj.SetAnnotations(annotations)
		}
		want = append(want, obj)
	}
	for _, dir := range optional {
		want = append(want, decodeAll(t, kustomize(t, dir))...)
	}
	return byIdentity(inNamespace(want, namespace))
}

func compareRendered(t *testing.T, have, want map[string]*unstructured.Unstructured) {
	t.Helper()
	for id, w := range want {
		h, ok := have[id]
		if !ok {
			t.Errorf("the chart does not render %s", id)
			continue
		}
		if !reflect.DeepEqual(h.Object, w.Object) {
			t.Errorf("the chart renders %s differently from config/:\n have %s\n want %s", id, toYAML(t, h.Object), toYAML(t, w.Object))
		}
	}
	for id := range have {
		if _, ok := want[id]; !ok {
			t.Errorf("the chart renders %s, which config/ does not make", id)
		}
	}
}

// TestChartMatchesConfig: helm lint passes; with its default values the
// chart renders what config/default makes (less the Namespace, helm
// install --create-namespace's), the CRDs annotated to be kept on
// uninstall; with the options on, into another namespace, it adds the CA
// injector's RBAC and flag, the ServiceMonitor and the alerts, each as
// config/ makes them; the values schema refuses bad values; and the API
// server accepts what it renders (server-side dry run).
func TestChartMatchesConfig(t *testing.T) {
	mustHelm(t, "lint", "--strict", chartDir)

	rendered := mustHelm(t, "template", "certsmith", chartDir, "--namespace", operatorNamespace)
	compareRendered(t, byIdentity(decodeAll(t, rendered)), chartExpectation(t, operatorNamespace))

	const other = "platform-pki"
	all := mustHelm(t, "template", "certsmith", chartDir, "--namespace", other,
		"--set", "caInjection.enabled=true", "--set", "prometheus.serviceMonitor.enabled=true", "--set", "prometheus.prometheusRule.enabled=true")
	have := byIdentity(decodeAll(t, all))
	want := chartExpectation(t, other, "config/rbac-cainjector", "config/prometheus")
	// The injector's flag is the one difference in the Deployment.
	deployment := want["Deployment/"+other+"/"+managerDeployment]
	containers, _, _ := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	_ = unstructured.SetNestedStringSlice(containers[0].(map[string]any), append(args, "--enable-ca-injection"), "args")
	_ = unstructured.SetNestedSlice(deployment.Object, containers, "spec", "template", "spec", "containers")
	compareRendered(t, have, want)

	off := mustHelm(t, "template", "certsmith", chartDir, "--set", "crds.enabled=false", "--set", "networkPolicy.enabled=false", "--set", "podDisruptionBudget.enabled=false")
	for id := range byIdentity(decodeAll(t, off)) {
		if kind, _, _ := strings.Cut(id, "/"); kind == "CustomResourceDefinition" || kind == "NetworkPolicy" || kind == "PodDisruptionBudget" {
			t.Errorf("%s rendered with it turned off", id)
		}
	}
	custom := byIdentity(decodeAll(t, mustHelm(t, "template", "certsmith", chartDir, "--namespace", other,
		"--set", "replicaCount=3", "--set", "image.repository=registry.example/certsmith", "--set", "image.tag=v1.2.3",
		"--set", "extraArgs[0]=--workers=8", "--set", "nodeSelector.pool=system")))
	d := custom["Deployment/"+other+"/"+managerDeployment]
	if d == nil {
		t.Fatal("no Deployment rendered with custom values")
	}
	replicas, _, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "replicas")
	containers, _, _ = unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	c := containers[0].(map[string]any)
	args, _, _ = unstructured.NestedStringSlice(c, "args")
	pool, _, _ := unstructured.NestedString(d.Object, "spec", "template", "spec", "nodeSelector", "pool")
	if fmt.Sprint(replicas) != "3" || c["image"] != "registry.example/certsmith:v1.2.3" || args[len(args)-1] != "--workers=8" || pool != "system" {
		t.Errorf("custom values: replicas %v, image %v, args %v, nodeSelector.pool %q", replicas, c["image"], args, pool)
	}

	for _, bad := range [][]string{{"--set", "replicaCount=0"}, {"--set", "unknownValue=1"}, {"--set", "image.pullPolicy=Sometimes"}, {"--set", "extraArgs[0]=workers"}} {
		if _, err := helm(t, append([]string{"template", "certsmith", chartDir}, bad...)...); err == nil {
			t.Errorf("the values schema accepts %v", bad)
		}
	}

	requireCluster(t)
	mustKubectl(t, toYAML(t, oneOfKind(t, decodeAll(t, kustomize(t, "config/default")), "Namespace")), "apply", "--server-side", "-f", "-")
	if stdout, stderr, err := kubectl(t, rendered, "apply", "--dry-run=server", "-f", "-"); err != nil {
		t.Errorf("kubectl apply --dry-run=server of the chart: %v\n%s%s", err, stdout, stderr)
	}
}

// TestChartInstallUpgradeUninstall installs the chart with the real helm
// into a control plane of its own (the suite's has config/default installed
// by kubectl, which Helm would refuse to take over), upgrades it, and
// uninstalls it: the release's objects go, the CRDs stay, and so do the
// issuers and certificates in them; a second install takes the kept CRDs
// back. There is no kubelet here: the Deployment is stored, its pods do not
// run (the node suite runs the manager for real).
func TestChartInstallUpgradeUninstall(t *testing.T) {
	cp := &harness.ControlPlane{
		RepoRoot: repoRoot, Dir: filepath.Join(repoRoot, "bin", "manifests-helm-cluster"),
		EtcdPort: 62389, APIServerPort: 62453, Runner: harness.Runner{Dir: repoRoot},
	}
	ctx := context.Background()
	_ = cp.Stop() // a run interrupted before may have left it
	if err := cp.Start(ctx); err != nil {
		t.Fatalf("starting a control plane for helm: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	kube := func(args ...string) string {
		t.Helper()
		out, err := cp.Kubectl(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	h := func(args ...string) string {
		t.Helper()
		return mustHelm(t, append(args, "--kubeconfig", cp.Kubeconfig(), "--namespace", operatorNamespace)...)
	}
	const release = "certsmith"
	h("install", release, chartDir, "--create-namespace", "--set", "replicaCount=1")
	if err := cp.WaitForCRDs(ctx); err != nil {
		t.Fatalf("the CRDs after helm install: %v", err)
	}
	if got := kube("-n", operatorNamespace, "get", "deployment", managerDeployment, "-o", "jsonpath={.spec.replicas}"); got != "1" {
		t.Fatalf("replicas after install: %q", got)
	}

	h("upgrade", release, chartDir, "--reuse-values", "--set", "replicaCount=2", "--set", "caInjection.enabled=true")
	if got := kube("-n", operatorNamespace, "get", "deployment", managerDeployment, "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].args}"); !strings.HasPrefix(got, "2 ") || !strings.Contains(got, "--enable-ca-injection") {
		t.Fatalf("the Deployment after the upgrade: %q", got)
	}
	kube("get", "clusterrole", "certsmith-cainjector")
	if got := h("history", release, "-o", "json"); strings.Count(got, `"revision"`) != 2 {
		t.Fatalf("history after one upgrade: %s", got)
	}

	// What users made in the CRDs must outlive the release.
	kube("apply", "-f", filepath.Join(repoRoot, "config", "samples", "clusterissuer.yaml"))
	issuers := kube("get", "clusterissuers", "-o", "name")
	if strings.TrimSpace(issuers) == "" {
		t.Fatal("no ClusterIssuer was created")
	}
	h("uninstall", release)
	for _, crd := range harness.CRDs {
		kube("get", "crd", crd)
	}
	if got := kube("get", "clusterissuers", "-o", "name"); got != issuers {
		t.Fatalf("ClusterIssuers after helm uninstall: %q, want %q", got, issuers)
	}
	for _, gone := range [][]string{
		{"-n", operatorNamespace, "get", "deployment", managerDeployment},
		{"-n", operatorNamespace, "get", "serviceaccount", "certsmith-controller-manager"},
		{"get", "clusterrole", "certsmith-manager-role"},
		{"get", "clusterrole", "certsmith-cainjector"},
	} {
		if out, err := cp.Kubectl(gone...); err == nil || !strings.Contains(out+err.Error(), "NotFound") {
			t.Errorf("kubectl %s after helm uninstall: %v %s", strings.Join(gone, " "), err, out)
		}
	}

	// Installed again, the release takes the kept CRDs back.
	h("install", release, chartDir)
	kube("-n", operatorNamespace, "get", "deployment", managerDeployment)
	if got := kube("get", "crd", harness.CRDs[0], "-o", "jsonpath={.metadata.annotations.meta\\.helm\\.sh/release-name}"); got != release {
		t.Fatalf("the kept CRD after a second install belongs to %q", got)
	}
}
