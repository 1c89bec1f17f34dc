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
	"regexp"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Secret verbs: certsmith creates the Secrets of ServiceCertificates and
// CAs and changes them with patches. It never deletes one: a ServiceCertificate's
// Secret goes with it through its owner reference (the garbage collector
// deletes it), and a CA Secret holds a key that must outlive mistakes.
var (
	requiredSecretVerbs = sets.New("get", "list", "watch", "create", "patch")
	// allowedSecretVerbs may be granted but are not needed by every code path.
	allowedSecretVerbs = requiredSecretVerbs.Clone().Insert("update")
)

// Verbs that let a subject gain permissions it does not have; certsmith needs none.
var escalatingVerbs = sets.New("escalate", "bind", "impersonate")

// signerPattern is the only form of wildcard allowed: a signer domain's
// names ("clusterissuers.certsmith.io/*") in resourceNames of signers,
// which is how the CSR API grants a signer domain.
var signerPattern = regexp.MustCompile(`^[a-z0-9.-]+/\*$`)

// TestRolesHaveNoWildcards checks every role certsmith ships: the generated
// ones in config/rbac/role.yaml, what config/default makes of them, and the
// optional CA injection role.
func TestRolesHaveNoWildcards(t *testing.T) {
	sources := map[string][]*unstructured.Unstructured{
		"config/rbac/role.yaml":  readObjects(t, "config/rbac/role.yaml"),
		"config/default":         decodeAll(t, kustomize(t, "config/default")),
		"config/rbac-cainjector": decodeAll(t, kustomize(t, "config/rbac-cainjector")),
	}
	checked := 0
	for source, objects := range sources {
		for _, obj := range append(objectsOfKind(objects, "ClusterRole"), objectsOfKind(objects, "Role")...) {
			checked++
			for i, rule := range rulesOf(t, obj) {
				where := source + ": " + obj.GetKind() + " " + obj.GetName()
				for field, values := range map[string][]string{"verbs": rule.Verbs, "resources": rule.Resources, "apiGroups": rule.APIGroups} {
					for _, v := range values {
						if strings.Contains(v, "*") {
							t.Errorf("%s rule %d: wildcard %q in %s", where, i, v, field)
						}
					}
				}
				if len(rule.NonResourceURLs) > 0 {
					t.Errorf("%s rule %d: grants non-resource URLs %v", where, i, rule.NonResourceURLs)
				}
				for _, verb := range rule.Verbs {
					if escalatingVerbs.Has(verb) {
						t.Errorf("%s rule %d: grants %q", where, i, verb)
					}
				}
				for _, name := range rule.ResourceNames {
					if strings.Contains(name, "*") && (!slices.Equal(rule.Resources, []string{"signers"}) || !signerPattern.MatchString(name)) {
						t.Errorf("%s rule %d: wildcard resource name %q outside a signer domain", where, i, name)
					}
				}
			}
		}
	}
	if checked < 5 {
		t.Errorf("checked %d roles, want at least 5: were roles renamed or moved?", checked)
	}
}

// TestSecretPermissions checks that the manager may do exactly what it
// needs with Secrets, and never delete one outside its own namespace: the
// only Secrets it deletes are its records of bundle objects there. Its own
// namespace is the install namespace, where its ServiceAccount is: that of
// config/default, or of an overlay that installs into another namespace;
// the generated role.yaml names certsmith-system.
func TestSecretPermissions(t *testing.T) {
	for source, objects := range map[string][]*unstructured.Unstructured{
		"config/rbac/role.yaml":               readObjects(t, "config/rbac/role.yaml"),
		"config/default":                      decodeAll(t, kustomize(t, "config/default")),
		"config/default in " + otherNamespace: decodeAll(t, buildInNamespace(t, otherNamespace, otherPrefix)),
	} {
		installNamespace := operatorNamespace
		if accounts := objectsOfKind(objects, "ServiceAccount"); len(accounts) == 1 {
			installNamespace = accounts[0].GetNamespace()
		}
		verbs, clusterVerbs := sets.New[string](), sets.New[string]()
		for _, kind := range []string{"ClusterRole", "Role"} {
			for _, obj := range objectsOfKind(objects, kind) {
				for _, rule := range rulesOf(t, obj) {
					if !slices.Contains(rule.APIGroups, "") || !slices.Contains(rule.Resources, "secrets") {
						continue
					}
					verbs.Insert(rule.Verbs...)
					if kind == "ClusterRole" {
						clusterVerbs.Insert(rule.Verbs...)
					} else if slices.Contains(rule.Verbs, "delete") && obj.GetNamespace() != installNamespace {
						t.Errorf("%s: Role %s/%s may delete Secrets outside the install namespace %s", source, obj.GetNamespace(), obj.GetName(), installNamespace)
					}
				}
			}
		}
		if missing := requiredSecretVerbs.Difference(verbs); missing.Len() > 0 {
			t.Errorf("%s: the manager lacks Secret verbs %v", source, sets.List(missing))
		}
		if extra := clusterVerbs.Difference(allowedSecretVerbs); extra.Len() > 0 {
			t.Errorf("%s: the manager may %v Secrets in every namespace; it needs only %v", source, sets.List(extra), sets.List(allowedSecretVerbs))
		}
		if extra := verbs.Difference(allowedSecretVerbs.Clone().Insert("delete")); extra.Len() > 0 {
			t.Errorf("%s: the manager may %v Secrets", source, sets.List(extra))
		}
		t.Logf("%s: Secret verbs %v (in every namespace: %v)", source, sets.List(verbs), sets.List(clusterVerbs))
	}
}

// rulesOf returns the rules of a ClusterRole or Role.
func rulesOf(t *testing.T, obj *unstructured.Unstructured) []rbacv1.PolicyRule {
	t.Helper()
	role := &rbacv1.ClusterRole{}
	fromUnstructured(t, obj, role)
	return role.Rules
}
