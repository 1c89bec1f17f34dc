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

// Command apidocs writes the API reference (docs/api-reference.md) from the
// CustomResourceDefinitions that controller-gen generates into
// config/crd/bases. For each kind and version it lists every field path of
// the OpenAPI schema with its type, whether it is required, its default, its
// validation (enum, pattern, length, item and numeric bounds, list types and
// CEL rules with their messages) and its description.
//
// The output depends only on the CRD files: properties are sorted, kinds
// are sorted, versions keep the CRD's order, so running it twice gives the
// same file. "make docs" runs it; "make verify" fails when the file in the
// repository is stale.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

func main() {
	crdDir := flag.String("crds", "config/crd/bases", "Directory of CustomResourceDefinition YAML files.")
	out := flag.String("out", "docs/api-reference.md", "File to write; \"-\" writes to standard output.")
	flag.Parse()

	crds, err := loadCRDs(*crdDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
	doc := render(crds, *crdDir)
	if *out == "-" {
		_, err = os.Stdout.Write(doc)
	} else {
		err = writeIfChanged(*out, doc)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
}

// crd is the part of a CustomResourceDefinition the reference needs.
type crd struct {
	Kind string `json:"kind"`
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind       string   `json:"kind"`
			Plural     string   `json:"plural"`
			Singular   string   `json:"singular"`
			ShortNames []string `json:"shortNames"`
			Categories []string `json:"categories"`
		} `json:"names"`
		Scope    string    `json:"scope"`
		Versions []version `json:"versions"`
	} `json:"spec"`
}

type version struct {
	Name               string   `json:"name"`
	Served             bool     `json:"served"`
	Storage            bool     `json:"storage"`
	Deprecated         bool     `json:"deprecated"`
	DeprecationWarning string   `json:"deprecationWarning"`
	Columns            []column `json:"additionalPrinterColumns"`
	Schema             struct {
		OpenAPIV3Schema *schema `json:"openAPIV3Schema"`
	} `json:"schema"`
	Subresources map[string]json.RawMessage `json:"subresources"`
}

type column struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	JSONPath string `json:"jsonPath"`
	Priority int    `json:"priority"`
}

// schema is a structural OpenAPI v3 schema as CRDs carry it.
type schema struct {
	Type                 string             `json:"type"`
	Format               string             `json:"format"`
	Description          string             `json:"description"`
	Properties           map[string]*schema `json:"properties"`
	Required             []string           `json:"required"`
	Items                *schema            `json:"items"`
	AdditionalProperties *schemaOrBool      `json:"additionalProperties"`
	Default              json.RawMessage    `json:"default"`
	Enum                 []json.RawMessage  `json:"enum"`
	Pattern              string             `json:"pattern"`
	MinLength            *int64             `json:"minLength"`
	MaxLength            *int64             `json:"maxLength"`
	MinItems             *int64             `json:"minItems"`
	MaxItems             *int64             `json:"maxItems"`
	MinProperties        *int64             `json:"minProperties"`
	MaxProperties        *int64             `json:"maxProperties"`
	Minimum              *json.Number       `json:"minimum"`
	Maximum              *json.Number       `json:"maximum"`
	ExclusiveMinimum     bool               `json:"exclusiveMinimum"`
	ExclusiveMaximum     bool               `json:"exclusiveMaximum"`
	MultipleOf           *json.Number       `json:"multipleOf"`
	UniqueItems          bool               `json:"uniqueItems"`
	Nullable             bool               `json:"nullable"`
	ListType             string             `json:"x-kubernetes-list-type"`
	ListMapKeys          []string           `json:"x-kubernetes-list-map-keys"`
	IntOrString          bool               `json:"x-kubernetes-int-or-string"`
	PreserveUnknown      *bool              `json:"x-kubernetes-preserve-unknown-fields"`
	EmbeddedResource     bool               `json:"x-kubernetes-embedded-resource"`
	Validations          []rule             `json:"x-kubernetes-validations"`
}

// schemaOrBool is additionalProperties: a schema, or true/false.
type schemaOrBool struct {
	Schema *schema
	Allows bool
}

func (s *schemaOrBool) UnmarshalJSON(data []byte) error {
	var b bool
	if err := json.Unmarshal(data, &b); err == nil {
		s.Allows = b
		return nil
	}
	s.Allows = true
	s.Schema = &schema{}
	return json.Unmarshal(data, s.Schema)
}

// rule is a CEL validation rule.
type rule struct {
	Rule              string `json:"rule"`
	Message           string `json:"message"`
	MessageExpression string `json:"messageExpression"`
	Reason            string `json:"reason"`
	FieldPath         string `json:"fieldPath"`
	OptionalOldSelf   *bool  `json:"optionalOldSelf"`
}

// loadCRDs reads every CustomResourceDefinition in the YAML files of dir,
// sorted by kind.
func loadCRDs(dir string) ([]*crd, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	more, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		return nil, err
	}
	files = append(files, more...)
	sort.Strings(files)
	var crds []*crd
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			c := &crd{}
			if err := decoder.Decode(c); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if c.Kind != "CustomResourceDefinition" {
				continue
			}
			for _, v := range c.Spec.Versions {
				if v.Schema.OpenAPIV3Schema == nil {
					return nil, fmt.Errorf("%s: %s %s has no openAPIV3Schema", file, c.Spec.Names.Kind, v.Name)
				}
			}
			crds = append(crds, c)
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CustomResourceDefinitions in %s", dir)
	}
	sort.SliceStable(crds, func(i, j int) bool {
		if crds[i].Spec.Names.Kind != crds[j].Spec.Names.Kind {
			return crds[i].Spec.Names.Kind < crds[j].Spec.Names.Kind
		}
		return crds[i].Spec.Group < crds[j].Spec.Group
	})
	return crds, nil
}

// writeIfChanged writes data to path unless the file already holds it.
func writeIfChanged(path string, data []byte) error {
	if current, err := os.ReadFile(path); err == nil && bytes.Equal(current, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".apidocs-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// standardFields are the top-level fields every Kubernetes object has; the
// reference leaves them out.
var standardFields = map[string]bool{"apiVersion": true, "kind": true, "metadata": true}

// render writes the whole reference.
func render(crds []*crd, crdDir string) []byte {
	var b strings.Builder
	b.WriteString("# API reference\n\n")
	b.WriteString("<!-- Code generated by hack/apidocs from " + filepath.ToSlash(crdDir) + ". DO NOT EDIT. -->\n")
	b.WriteString("<!-- Regenerate with \"make docs\"; \"make verify\" fails when this file is stale. -->\n\n")
	b.WriteString("Every field of every custom resource, as the API server validates it, generated from the\n")
	b.WriteString("CustomResourceDefinitions in `" + filepath.ToSlash(crdDir) + "`. How the fields work together is in the\n")
	b.WriteString("[user guide](user-guide.md).\n\n")
	b.WriteString("- **Field** is the path from the object's root; `[]` stands for every item of a list and\n")
	b.WriteString("  `{}` for every value of a map. `apiVersion`, `kind` and `metadata` are left out.\n")
	b.WriteString("- **Required** fields must be set when their parent is set.\n")
	b.WriteString("- **Validation** is what the API server checks on create and update: OpenAPI constraints, and\n")
	b.WriteString("  CEL rules (`x-kubernetes-validations`) with the message the server returns when a rule fails.\n")
	b.WriteString("  A rule on an object can compare its fields; a rule using `oldSelf` checks updates only.\n\n")

	b.WriteString("## Contents\n\n")
	for _, c := range crds {
		versions := make([]string, 0, len(c.Spec.Versions))
		for _, v := range c.Spec.Versions {
			versions = append(versions, fmt.Sprintf("[%s](#%s)", v.Name, anchor(c.Spec.Names.Kind, v.Name)))
		}
		fmt.Fprintf(&b, "- [%s](#%s) (`%s`): %s\n", c.Spec.Names.Kind, anchor(c.Spec.Names.Kind), c.Spec.Group, strings.Join(versions, ", "))
	}
	b.WriteString("\n")

	for _, c := range crds {
		renderCRD(&b, c)
	}
	return []byte(strings.TrimRight(b.String(), "\n") + "\n")
}

// anchor makes an explicit HTML anchor id from parts.
func anchor(parts ...string) string {
	id := strings.ToLower(strings.Join(parts, "-"))
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		}
		return '-'
	}, id)
}

func renderCRD(b *strings.Builder, c *crd) {
	names := c.Spec.Names
	fmt.Fprintf(b, "<a id=\"%s\"></a>\n\n## %s\n\n", anchor(names.Kind), names.Kind)
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(b, "| Group | `%s` |\n", c.Spec.Group)
	fmt.Fprintf(b, "| Scope | %s |\n", c.Spec.Scope)
	fmt.Fprintf(b, "| Resource | `%s` (singular `%s`) |\n", names.Plural, names.Singular)
	if len(names.ShortNames) > 0 {
		fmt.Fprintf(b, "| Short names | %s |\n", codeList(names.ShortNames))
	}
	if len(names.Categories) > 0 {
		fmt.Fprintf(b, "| Categories | %s |\n", codeList(names.Categories))
	}
	b.WriteString("\n")
	for _, v := range c.Spec.Versions {
		renderVersion(b, c, v)
	}
}

func renderVersion(b *strings.Builder, c *crd, v version) {
	root := v.Schema.OpenAPIV3Schema
	fmt.Fprintf(b, "<a id=\"%s\"></a>\n\n### %s `%s/%s`\n\n", anchor(c.Spec.Names.Kind, v.Name), c.Spec.Names.Kind, c.Spec.Group, v.Name)
	facts := []string{"served: " + yesNo(v.Served), "storage version: " + yesNo(v.Storage)}
	if v.Deprecated {
		facts = append(facts, "deprecated")
	}
	var sub []string
	for name := range v.Subresources {
		sub = append(sub, name)
	}
	sort.Strings(sub)
	if len(sub) > 0 {
		facts = append(facts, "subresources: "+codeList(sub))
	}
	b.WriteString(strings.Join(facts, " · ") + "\n\n")
	if v.DeprecationWarning != "" {
		b.WriteString("> " + escapeText(v.DeprecationWarning) + "\n\n")
	}
	if root.Description != "" {
		b.WriteString(paragraphs(root.Description) + "\n\n")
	}
	if len(v.Columns) > 0 {
		b.WriteString("Columns of `kubectl get` (“wide” ones only with `-o wide`):\n\n")
		b.WriteString("| Column | Type | JSONPath | Shown |\n|---|---|---|---|\n")
		for _, col := range v.Columns {
			shown := "always"
			if col.Priority > 0 {
				shown = "wide"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", escapeText(col.Name), col.Type, code(col.JSONPath), shown)
		}
		b.WriteString("\n")
	}
	if checks := validation(root); len(checks) > 0 {
		b.WriteString("Validation of the whole object: " + strings.Join(checks, "; ") + "\n\n")
	}

	var top []string
	for name := range root.Properties {
		if !standardFields[name] {
			top = append(top, name)
		}
	}
	sort.Strings(top)
	withDefaults := hasDefaults(root)
	for _, name := range top {
		field := root.Properties[name]
		fmt.Fprintf(b, "#### `%s`\n\n", name)
		var rows []row
		collect(&rows, name, field, contains(root.Required, name))
		b.WriteString("| Field | Type | Required | ")
		if withDefaults {
			b.WriteString("Default | ")
		}
		b.WriteString("Validation | Description |\n|---|---|---|")
		if withDefaults {
			b.WriteString("---|")
		}
		b.WriteString("---|---|\n")
		for _, r := range rows {
			fmt.Fprintf(b, "| %s | %s | %s | ", code(r.path), r.typ, r.required)
			if withDefaults {
				b.WriteString(r.def + " | ")
			}
			fmt.Fprintf(b, "%s | %s |\n", r.validation, r.description)
		}
		b.WriteString("\n")
	}
	if !withDefaults {
		b.WriteString("No field of this version has a schema default: the API server stores what you write, and a\n")
		b.WriteString("field's description says what applies when it is unset.\n\n")
	}
}

// row is one field of a table.
type row struct {
	path, typ, required, def, validation, description string
}

// collect appends the rows of s and its descendants, depth first, with
// properties in sorted order.
func collect(rows *[]row, path string, s *schema, required bool) {
	r := row{path: path, typ: typeOf(s), required: "optional", def: "", description: paragraphsInline(s.Description)}
	if required {
		r.required = "**required**"
	}
	if len(s.Default) > 0 {
		r.def = code(compactJSON(s.Default))
	}
	checks := validation(s)
	switch {
	case s.Items != nil:
		if item := validation(s.Items); len(item) > 0 {
			checks = append(checks, "each item: "+strings.Join(item, "; "))
		}
		if r.description == "" {
			r.description = paragraphsInline(s.Items.Description)
		}
	case s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil:
		if value := validation(s.AdditionalProperties.Schema); len(value) > 0 {
			checks = append(checks, "each value: "+strings.Join(value, "; "))
		}
	}
	r.validation = strings.Join(checks, "<br>")
	*rows = append(*rows, r)

	switch {
	case len(s.Properties) > 0:
		for _, name := range sortedKeys(s.Properties) {
			collect(rows, path+"."+name, s.Properties[name], contains(s.Required, name))
		}
	case s.Items != nil && len(s.Items.Properties) > 0:
		for _, name := range sortedKeys(s.Items.Properties) {
			collect(rows, path+"[]."+name, s.Items.Properties[name], contains(s.Items.Required, name))
		}
	case s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil && len(s.AdditionalProperties.Schema.Properties) > 0:
		value := s.AdditionalProperties.Schema
		for _, name := range sortedKeys(value.Properties) {
			collect(rows, path+".{}."+name, value.Properties[name], contains(value.Required, name))
		}
	}
}

// typeOf describes the type of a schema.
func typeOf(s *schema) string {
	switch {
	case s.IntOrString:
		return "integer or string"
	case s.Type == "array" && s.Items != nil:
		return "[]" + typeOf(s.Items)
	case s.Type == "array":
		return "[]any"
	case s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil:
		return "map[string]" + typeOf(s.AdditionalProperties.Schema)
	case s.AdditionalProperties != nil && s.AdditionalProperties.Allows && len(s.Properties) == 0:
		return "map[string]any"
	case s.Type == "":
		return "any"
	case s.Format != "":
		return s.Type + " (" + s.Format + ")"
	}
	return s.Type
}

// validation lists the checks of one schema node (not of its items).
func validation(s *schema) []string {
	var out []string
	if len(s.Enum) > 0 {
		values := make([]string, 0, len(s.Enum))
		for _, e := range s.Enum {
			var str string
			if json.Unmarshal(e, &str) == nil {
				values = append(values, code(str))
			} else {
				values = append(values, code(compactJSON(e)))
			}
		}
		out = append(out, "one of "+strings.Join(values, ", "))
	}
	if s.Pattern != "" {
		out = append(out, "pattern "+code(s.Pattern))
	}
	out = appendRange(out, "length", s.MinLength, s.MaxLength)
	out = appendRange(out, "items", s.MinItems, s.MaxItems)
	out = appendRange(out, "properties", s.MinProperties, s.MaxProperties)
	if s.Minimum != nil && s.Maximum != nil && !s.ExclusiveMinimum && !s.ExclusiveMaximum {
		out = append(out, "value "+s.Minimum.String()+"–"+s.Maximum.String())
	} else {
		out = appendBound(out, s.Minimum, s.ExclusiveMinimum, "≥", ">")
		out = appendBound(out, s.Maximum, s.ExclusiveMaximum, "≤", "<")
	}
	if s.MultipleOf != nil {
		out = append(out, "multiple of "+s.MultipleOf.String())
	}
	if s.UniqueItems {
		out = append(out, "unique items")
	}
	switch s.ListType {
	case "set":
		out = append(out, "a set: no duplicate items")
	case "map":
		out = append(out, "no two items with the same "+codeList(s.ListMapKeys))
	}
	if s.Nullable {
		out = append(out, "may be null")
	}
	if s.EmbeddedResource {
		out = append(out, "an embedded Kubernetes object")
	}
	if s.PreserveUnknown != nil && *s.PreserveUnknown {
		out = append(out, "unknown fields are kept")
	}
	for _, r := range s.Validations {
		out = append(out, describeRule(r))
	}
	return out
}

func appendBound(out []string, bound *json.Number, exclusive bool, inclusiveOp, exclusiveOp string) []string {
	if bound == nil {
		return out
	}
	op := inclusiveOp
	if exclusive {
		op = exclusiveOp
	}
	return append(out, "value "+op+" "+bound.String())
}

func appendRange(out []string, what string, lo, hi *int64) []string {
	switch {
	case lo != nil && hi != nil && *lo == *hi:
		return append(out, fmt.Sprintf("%s exactly %d", what, *lo))
	case lo != nil && hi != nil:
		return append(out, fmt.Sprintf("%s %d–%d", what, *lo, *hi))
	case lo != nil:
		return append(out, fmt.Sprintf("%s ≥ %d", what, *lo))
	case hi != nil:
		return append(out, fmt.Sprintf("%s ≤ %d", what, *hi))
	}
	return out
}

// describeRule renders a CEL rule and what the server says when it fails.
func describeRule(r rule) string {
	text := "rule " + code(r.Rule)
	switch {
	case r.Message != "":
		text += ": “" + escapeText(r.Message) + "”"
	case r.MessageExpression != "":
		text += ": message from " + code(r.MessageExpression)
	}
	var extra []string
	if r.Reason != "" {
		extra = append(extra, "reason "+r.Reason)
	}
	if r.FieldPath != "" {
		extra = append(extra, "reported at "+code(r.FieldPath))
	}
	if r.OptionalOldSelf != nil && *r.OptionalOldSelf {
		extra = append(extra, "also checked on create")
	}
	if len(extra) > 0 {
		text += " (" + strings.Join(extra, ", ") + ")"
	}
	return text
}

// hasDefaults reports whether any node under s has a default.
func hasDefaults(s *schema) bool {
	if s == nil {
		return false
	}
	if len(s.Default) > 0 {
		return true
	}
	for _, p := range s.Properties {
		if hasDefaults(p) {
			return true
		}
	}
	if hasDefaults(s.Items) {
		return true
	}
	return s.AdditionalProperties != nil && hasDefaults(s.AdditionalProperties.Schema)
}

func sortedKeys(m map[string]*schema) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func compactJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}

// code renders s as an inline code span that survives a table cell: "|"
// is escaped (GitHub tables split cells before parsing code spans) and the
// fence is longer than any run of backticks inside.
func code(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || fence != "`" {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

func codeList(items []string) string {
	out := make([]string, 0, len(items))
	for _, item := range items {
		out = append(out, code(item))
	}
	return strings.Join(out, ", ")
}

// escapeText makes plain text safe in Markdown, table cells included: no
// emphasis, links, HTML or cell breaks from characters in descriptions.
func escapeText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\\', '`', '*', '_', '[', ']', '|':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '#', '+', '-', '=':
			// Only at the start of a line do these make a heading or a list.
			if b.Len() == 0 {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// splitParagraphs splits a description into paragraphs, each with its
// wrapped lines joined.
func splitParagraphs(s string) []string {
	var out []string
	for _, p := range strings.Split(strings.TrimSpace(s), "\n\n") {
		lines := strings.Fields(strings.ReplaceAll(p, "\n", " "))
		if len(lines) > 0 {
			out = append(out, strings.Join(lines, " "))
		}
	}
	return out
}

// paragraphs renders a description as Markdown paragraphs.
func paragraphs(s string) string {
	ps := splitParagraphs(s)
	for i := range ps {
		ps[i] = escapeText(ps[i])
	}
	return strings.Join(ps, "\n\n")
}

// paragraphsInline renders a description for a table cell.
func paragraphsInline(s string) string {
	ps := splitParagraphs(s)
	for i := range ps {
		ps[i] = escapeText(ps[i])
	}
	return strings.Join(ps, "<br><br>")
}
