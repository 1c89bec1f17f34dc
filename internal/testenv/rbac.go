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

package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// BindRoles creates every ClusterRole and Role in the given YAML files
// (config/rbac/role.yaml and the like) and binds each to subject, so that
// a suite runs the operator with exactly the permissions it ships.
func BindRoles(ctx context.Context, c client.Client, subject rbacv1.Subject, files ...string) error {
	var raw []byte
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		raw = append(append(raw, "\n---\n"...), data...)
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var doc map[string]any
		if err := decoder.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decoding %v: %w", files, err)
		}
		if doc == nil {
			continue
		}
		if err := bindRole(ctx, c, subject, doc); err != nil {
			return err
		}
	}
}

// bindRole creates one ClusterRole or Role and its binding to subject.
func bindRole(ctx context.Context, c client.Client, subject rbacv1.Subject, doc map[string]any) error {
	switch doc["kind"] {
	case "ClusterRole":
		role := &rbacv1.ClusterRole{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(doc, role); err != nil {
			return err
		}
		if err := c.Create(ctx, role); err != nil {
			return err
		}
		return c.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{subject},
		})
	case "Role":
		role := &rbacv1.Role{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(doc, role); err != nil {
			return err
		}
		if err := c.Create(ctx, role); err != nil {
			return err
		}
		return c.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: role.Namespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   []rbacv1.Subject{subject},
		})
	}
	return nil
}
