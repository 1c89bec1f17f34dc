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

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const widgetCRD = `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    plural: widgets
    singular: widget
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        description: Widget is a <thing> with *stars*.
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            required: [size]
            x-kubernetes-validations:
            - rule: "self.size > 1 || has(self.mode)"
              message: size or mode
            properties:
              size:
                type: integer
                format: int32
                minimum: 1
                maximum: 9
                default: 3
                description: |-
                  Size of the widget.

                  Second paragraph.
              mode:
                type: string
                enum: [A, B]
              port:
                x-kubernetes-int-or-string: true
                anyOf: [{type: integer}, {type: string}]
              parts:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string, pattern: "^(a|b)$"}
              labels:
                type: object
                additionalProperties: {type: string, maxLength: 8}
`

func TestRender(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "widgets.yaml"), []byte(widgetCRD), 0o644); err != nil {
		t.Fatal(err)
	}
	crds, err := loadCRDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(render(crds, "crds"))
	for _, want := range []string{
		"| Field | Type | Required | Default | Validation | Description |",
		"| `spec` | object | optional |  | rule `self.size > 1 \\|\\| has(self.mode)`: “size or mode” |",
		"| `spec.size` | integer (int32) | **required** | `3` | value 1–9 | Size of the widget.<br><br>Second paragraph. |",
		"| `spec.mode` | string | optional |  | one of `A`, `B` |",
		"| `spec.port` | integer or string | optional |",
		"| `spec.parts` | []object | optional |  | no two items with the same `name` |",
		"| `spec.parts[].name` | string | **required** |  | pattern `^(a\\|b)$` |",
		"| `spec.labels` | map[string]string | optional |  | each value: length ≤ 8 |",
		"Widget is a &lt;thing&gt; with \\*stars\\*.",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("output lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "`apiVersion`  |") || strings.Contains(doc, "| `metadata`") {
		t.Errorf("standard fields are listed:\n%s", doc)
	}
	if again := render(crds, "crds"); !bytes.Equal(again, []byte(doc)) {
		t.Error("two renderings differ")
	}
}

func TestCode(t *testing.T) {
	for in, want := range map[string]string{
		"a|b":   "`a\\|b`",
		"x`y":   "`` x`y ``",
		"plain": "`plain`",
	} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
}
