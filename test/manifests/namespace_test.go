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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// An install into a namespace of the user's choosing, as docs/install.md
// describes it: an overlay of config/default (and config/rbac-cainjector)
// that sets kustomize's namespace. The overlay also sets a name prefix, so
// that its cluster-scoped objects (ClusterRoles and bindings) do not replace
// those of config/default, which other tests install into the same control
// plane; the CRDs, which kustomize does not prefix, are the same.
const (
	otherNamespace = "other-ns"
	otherPrefix    = "other-"
)

// buildInNamespace builds config/default and config/rbac-cainjector through
// an overlay with "namespace: namespace" and "namePrefix: prefix".
func buildInNamespace(t *testing.T, namespace, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	var resources []string
	for _, base := range []string{"config/default", "config/rbac-cainjector"} {
		// kustomize takes only relative paths to other kustomizations.
		rel, err := filepath.Rel(dir, filepath.Join(repoRoot, base))
		if err != nil {
			t.Fatal(err)
		}
		resources = append(resources, "- "+filepath.ToSlash(rel))
	}
	overlay := fmt.Sprintf("namespace: %s\nnamePrefix: %s\nresources:\n%s\n", namespace, prefix, strings.Join(resources, "\n"))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(overlay), 0o644); err != nil {
		t.Fatal(err)
	}
	return mustKubectl(t, "", "kustomize", dir)
}

// TestInstallIntoAnotherNamespace applies config/default for real through
// an overlay that installs it into other-ns, and checks that everything
// namespaced follows: the API server stores every namespaced object in
// other-ns, every binding names the ServiceAccount there, the leader-election
// Role and its binding are there, and the Deployment tells the manager its
// namespace only through POD_NAMESPACE (metadata.namespace), which the manager
// uses for --namespace and so for its Lease, its CA Secrets and its cache.
// The API server then confirms, by SubjectAccessReview, that this
// ServiceAccount may take its Lease and delete its records in other-ns, and
// neither in certsmith-system.
func TestInstallIntoAnotherNamespace(t *testing.T) {
	requireCluster(t)
	built := buildInNamespace(t, otherNamespace, otherPrefix)
	objects := decodeAll(t, built)

	for i, line := range strings.Split(built, "\n") {
		if strings.Contains(line, operatorNamespace) {
			t.Errorf("line %d of the build for %s still names %s: %s", i+1, otherNamespace, operatorNamespace, strings.TrimSpace(line))
		}
	}
	if namespace := oneOfKind(t, objects, "Namespace"); namespace.GetName() != otherNamespace {
		t.Errorf("the build creates namespace %s, want %s", namespace.GetName(), otherNamespace)
	}

	// What the API server stored: it, not the manifest, says which kinds
	// are namespaced, and puts a namespaced object without a namespace into
	// kubectl's default one.
	out := mustKubectl(t, built, "apply", "--server-side", "-f", "-", "-o", "json")
	var applied struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &applied); err != nil {
		t.Fatalf("decoding kubectl apply -o json: %v", err)
	}
	if len(applied.Items) != len(objects) {
		t.Errorf("kubectl apply returned %d objects, the build has %d", len(applied.Items), len(objects))
	}
	stored := map[string]string{}
	for _, item := range applied.Items {
		obj := unstructured.Unstructured{Object: item}
		stored[obj.GetKind()+" "+obj.GetName()] = obj.GetNamespace()
		if ns := obj.GetNamespace(); ns != "" && ns != otherNamespace {
			t.Errorf("%s %s is stored in namespace %s, want %s", obj.GetKind(), obj.GetName(), ns, otherNamespace)
		}
	}
	for _, kind := range []string{"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "NetworkPolicy"} {
		found := false
		for key, ns := range stored {
			if strings.HasPrefix(key, kind+" ") {
				found = true
				if ns != otherNamespace {
					t.Errorf("%s is stored in namespace %q, want %s", key, ns, otherNamespace)
				}
			}
		}
		if !found {
			t.Errorf("the build has no %s", kind)
		}
	}

	serviceAccount := oneOfKind(t, objects, "ServiceAccount")
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, obj := range objectsOfKind(objects, kind) {
			binding := &rbacv1.RoleBinding{}
			fromUnstructured(t, obj, binding)
			for _, s := range binding.Subjects {
				if s.Kind != rbacv1.ServiceAccountKind || s.Namespace != otherNamespace || s.Name != serviceAccount.GetName() {
					t.Errorf("%s %s binds %s %s/%s, want the ServiceAccount %s/%s", kind, obj.GetName(), s.Kind, s.Namespace, s.Name, otherNamespace, serviceAccount.GetName())
				}
			}
		}
	}

	// The leader-election Role: leases, in the install namespace, bound
	// there to the manager's ServiceAccount.
	leaseRoles := 0
	for _, obj := range objectsOfKind(objects, "Role") {
		grantsLeases := false
		for _, rule := range rulesOf(t, obj) {
			if slices.Contains(rule.APIGroups, "coordination.k8s.io") && slices.Contains(rule.Resources, "leases") {
				grantsLeases = true
			}
		}
		if !grantsLeases {
			continue
		}
		leaseRoles++
		if obj.GetNamespace() != otherNamespace {
			t.Errorf("the leader-election Role %s is in namespace %q, want %s", obj.GetName(), obj.GetNamespace(), otherNamespace)
		}
		bound := false
		for _, b := range objectsOfKind(objects, "RoleBinding") {
			binding := &rbacv1.RoleBinding{}
			fromUnstructured(t, b, binding)
			bound = bound || (binding.Namespace == otherNamespace && binding.RoleRef.Kind == "Role" && binding.RoleRef.Name == obj.GetName())
		}
		if !bound {
			t.Errorf("no RoleBinding in %s binds the leader-election Role %s", otherNamespace, obj.GetName())
		}
	}
	if leaseRoles != 1 {
		t.Errorf("%d Roles grant Leases, want one: the leader-election Role", leaseRoles)
	}

	deployment := &appsv1.Deployment{}
	fromUnstructured(t, oneOfKind(t, objects, "Deployment"), deployment)
	container := managerContainer(t, deployment)
	if deployment.Namespace != otherNamespace || deployment.Spec.Template.Spec.ServiceAccountName != serviceAccount.GetName() {
		t.Errorf("the Deployment is %s/%s running as %s, want it in %s as %s", deployment.Namespace, deployment.Name,
			deployment.Spec.Template.Spec.ServiceAccountName, otherNamespace, serviceAccount.GetName())
	}
	if !slices.Contains(container.Args, "--leader-elect=true") {
		t.Errorf("the manager's args %v lack --leader-elect=true", container.Args)
	}
	for _, arg := range container.Args {
		if strings.HasPrefix(arg, "--namespace") || strings.HasPrefix(arg, "--leader-election-namespace") {
			t.Errorf("the manager's arg %s fixes a namespace; the manager must take its own from POD_NAMESPACE", arg)
		}
	}
	if env := findEnv(container.Env, "POD_NAMESPACE"); env == nil || env.ValueFrom == nil || env.ValueFrom.FieldRef == nil || env.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE must come from metadata.namespace, have %+v", env)
	}

	user := "system:serviceaccount:" + otherNamespace + ":" + serviceAccount.GetName()
	for _, check := range []struct {
		verb, resource, namespace string
		allowed                   bool
	}{
		{"create", "leases.coordination.k8s.io", otherNamespace, true},
		{"get", "leases.coordination.k8s.io", otherNamespace, true},
		{"update", "leases.coordination.k8s.io", otherNamespace, true},
		{"create", "leases.coordination.k8s.io", operatorNamespace, false},
		{"delete", "secrets", otherNamespace, true},
		{"delete", "secrets", operatorNamespace, false},
		{"delete", "secrets", "default", false},
	} {
		// "auth can-i" prints yes or no, and exits non-zero for no.
		stdout, stderr, err := kubectl(t, "", "auth", "can-i", check.verb, check.resource, "-n", check.namespace, "--as", user)
		answer := strings.TrimSpace(stdout)
		if answer != "yes" && answer != "no" {
			t.Fatalf("kubectl auth can-i: %v\n%s%s", err, stdout, stderr)
		}
		if (answer == "yes") != check.allowed {
			t.Errorf("%s may %s %s in %s: %s, want %v", user, check.verb, check.resource, check.namespace, answer, check.allowed)
		}
	}
}
