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
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// setImage is the script "make deploy IMG=..." runs to write the image into
// config/manager/kustomization.yaml.
const setImage = "hack/set-image.sh"

// TestDeployImageReferences runs hack/set-image.sh, as "make deploy" does,
// on a copy of config/manager, one image reference after the other (so that
// a tag replaces a digest and back), and checks the image of the Deployment
// that kustomize then builds. A ':' before a '/' is a registry's port, not a
// tag. References that are not images fail and leave the file as it was.
func TestDeployImageReferences(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dir := copyDir(t, "config/manager")
	kustomization := filepath.Join(dir, "kustomization.yaml")
	for _, c := range []struct{ image, want string }{
		{"certsmith", "certsmith:latest"},
		{"certsmith:v1", "certsmith:v1"},
		{"registry:5000/certsmith", "registry:5000/certsmith:latest"},
		{"registry:5000/certsmith:v1.2.3", "registry:5000/certsmith:v1.2.3"},
		{"registry.example.com/a/b/c@" + digest, "registry.example.com/a/b/c@" + digest},
		{"localhost:5000/team/certsmith:v2-rc.1", "localhost:5000/team/certsmith:v2-rc.1"},
		{"registry:5000/certsmith:v1@" + digest, "registry:5000/certsmith@" + digest},
		{"certsmith/manager:latest", "certsmith/manager:latest"},
	} {
		if stdout, stderr, err := cluster.Runner.Output(exec.Command(filepath.Join(repoRoot, setImage), c.image, kustomization)); err != nil {
			t.Errorf("%s %s: %v\n%s%s", setImage, c.image, err, stdout, stderr)
			continue
		}
		deployment := &appsv1.Deployment{}
		fromUnstructured(t, oneOfKind(t, decodeAll(t, mustKubectl(t, "", "kustomize", dir)), "Deployment"), deployment)
		if got := managerContainer(t, deployment).Image; got != c.want {
			t.Errorf("IMG=%s: the Deployment runs %s, want %s", c.image, got, c.want)
		}
	}

	before, err := os.ReadFile(kustomization)
	if err != nil {
		t.Fatal(err)
	}
	for _, image := range []string{"", "certsmith:", "certsmith:v1:v2", "registry:port/certsmith", "/certsmith", "registry:5000/",
		"a b", "certsmith@sha256:short", "certsmith|x", "certsmith:v1&x"} {
		if _, _, err := cluster.Runner.Output(exec.Command(filepath.Join(repoRoot, setImage), image, kustomization)); err == nil {
			t.Errorf("%s %q succeeded, want a refusal", setImage, image)
		}
	}
	if after, err := os.ReadFile(kustomization); err != nil || string(after) != string(before) {
		t.Errorf("a refused reference changed the kustomization:\n%s", after)
	}
}

// TestDeployUsesSetImage checks that "make deploy" writes the image with
// hack/set-image.sh (which TestDeployImageReferences covers) into
// config/manager, without running it (make -n).
func TestDeployUsesSetImage(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	stdout, stderr, err := cluster.Runner.Output(exec.Command("make", "-n", "deploy", "IMG=registry:5000/certsmith:v1"))
	if err != nil {
		t.Fatalf("make -n deploy: %v\n%s%s", err, stdout, stderr)
	}
	want := setImage + " 'registry:5000/certsmith:v1' config/manager/kustomization.yaml"
	if !strings.Contains(stdout, want) {
		t.Errorf("make -n deploy does not run %q:\n%s", want, stdout)
	}
}

// copyDir copies the files of a directory relative to the repository root
// into a temporary directory and returns it.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(filepath.Join(repoRoot, dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		if entry.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(repoRoot, dir, entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, entry.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}
