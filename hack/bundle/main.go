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

// Command bundle generates certsmith's OLM bundle (registry+v1) from the
// kustomize configuration, so that the bundle deploys exactly what
// "kubectl apply -k config/default" deploys:
//
//   - manifests/: the CRDs, the ClusterServiceVersion (the hand-written
//     hack/bundle/certsmith.clusterserviceversion.yaml, completed with the
//     manager Deployment, the generated RBAC, alm-examples from
//     config/samples and the icon), the Services and the PodDisruptionBudget;
//   - metadata/annotations.yaml: media type, package and channels;
//   - tests/scorecard/config.yaml: the scorecard's basic and olm suites;
//   - bundle.Dockerfile (optional): the bundle image with the same labels.
//
// The output depends only on its inputs: no timestamps, sorted keys, so
// running it twice gives the same files. "make bundle" runs it from the
// repository root:
//
//	go run ./hack/bundle -out bundle -dockerfile bundle.Dockerfile
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Package and channel of the bundle in a catalog.
const (
	packageName    = "certsmith"
	channels       = "alpha"
	defaultChannel = "alpha"
)

// options are the command-line flags.
type options struct {
	kubectl        string
	config         string
	base           string
	icon           string
	samples        []string
	image          string
	scorecardImage string
	out            string
	dockerfile     string
}

func main() {
	var opts options
	var samples string
	flag.StringVar(&opts.kubectl, "kubectl", "bin/k8s/kubectl", "kubectl that runs kustomize.")
	flag.StringVar(&opts.config, "config", "config/default", "The kustomization to take the CRDs, RBAC, Deployment and Service from.")
	flag.StringVar(&opts.base, "base", "hack/bundle/certsmith.clusterserviceversion.yaml", "The hand-written part of the ClusterServiceVersion.")
	flag.StringVar(&opts.icon, "icon", "hack/bundle/icon.svg", "The operator's icon (SVG); empty for none.")
	flag.StringVar(&samples, "samples", "config/samples/clusterissuer.yaml,config/samples/servicecertificate.yaml,config/samples/revocation/certificaterevocation.yaml,config/samples/revocation/clustercertificaterevocation.yaml", "Comma-separated sample files for the alm-examples annotation.")
	flag.StringVar(&opts.image, "image", "", "The manager image the CSV deploys (default certsmith/manager:v<version>).")
	flag.StringVar(&opts.scorecardImage, "scorecard-image", "quay.io/operator-framework/scorecard-test:v1.42.0", "The image of the scorecard's built-in tests.")
	flag.StringVar(&opts.out, "out", "bundle", "The bundle directory; its manifests, metadata and tests/scorecard are replaced.")
	flag.StringVar(&opts.dockerfile, "dockerfile", "", "Where to write the bundle image's Dockerfile (bundle.Dockerfile; it copies from "+bundleDir+"/); empty for none.")
	flag.Parse()
	opts.samples = strings.Split(samples, ",")

	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
}

// run builds every file of the bundle in memory and writes them only when
// all of them could be made.
func run(opts options) error {
	objects, err := kustomize(opts.kubectl, opts.config)
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	var crds []*unstructured.Unstructured
	var deployment, clusterRole, role *unstructured.Unstructured
	for _, obj := range objects {
		switch obj.GetKind() {
		case "CustomResourceDefinition":
			crds = append(crds, obj)
		case "Deployment":
			deployment, err = only(deployment, obj)
		case "ClusterRole":
			clusterRole, err = only(clusterRole, obj)
		case "Role":
			role, err = only(role, obj)
		case "Service":
			// Services are bundle objects of their own; OLM creates them in
			// the install namespace.
			unstructured.RemoveNestedField(obj.Object, "metadata", "namespace")
			files[filepath.Join("manifests", obj.GetName()+"_v1_service.yaml")], err = marshal(obj.Object)
		case "PodDisruptionBudget":
			// So is the manager's PodDisruptionBudget (OLM supports
			// policy/v1 PodDisruptionBudgets as bundle objects).
			unstructured.RemoveNestedField(obj.Object, "metadata", "namespace")
			files[filepath.Join("manifests", obj.GetName()+"_policy_v1_poddisruptionbudget.yaml")], err = marshal(obj.Object)
		}
		if err != nil {
			return err
		}
	}
	if deployment == nil || clusterRole == nil || role == nil || len(crds) == 0 {
		return fmt.Errorf("%s must hold the CRDs, one Deployment, one ClusterRole and one Role", opts.config)
	}
	for _, crd := range crds {
		// The bundle's CRDs are cluster-scoped objects without a namespace.
		unstructured.RemoveNestedField(crd.Object, "metadata", "namespace")
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		if files[filepath.Join("manifests", group+"_"+plural+".yaml")], err = marshal(crd.Object); err != nil {
			return err
		}
	}

	csv, err := clusterServiceVersion(opts, crds, deployment, clusterRole, role)
	if err != nil {
		return err
	}
	if files[filepath.Join("manifests", packageName+".clusterserviceversion.yaml")], err = marshal(csv); err != nil {
		return err
	}
	if files[filepath.Join("metadata", "annotations.yaml")], err = marshal(map[string]any{"annotations": bundleAnnotations()}); err != nil {
		return err
	}
	if files[filepath.Join("tests", "scorecard", "config.yaml")], err = marshal(scorecardConfig(opts.scorecardImage)); err != nil {
		return err
	}
	return write(opts, files)
}

// only returns obj if have is nil: the configuration must hold one object of its kind.
func only(have, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if have != nil {
		return nil, fmt.Errorf("more than one %s: %s and %s", obj.GetKind(), have.GetName(), obj.GetName())
	}
	return obj, nil
}

// kustomize builds a kustomization with kubectl and decodes its objects.
func kustomize(kubectl, dir string) ([]*unstructured.Unstructured, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kubectl kustomize %s: %w\n%s", dir, err, stderr.String())
	}
	return decodeAll(&stdout)
}

// decodeAll decodes every object of a multi-document YAML stream.
func decodeAll(r io.Reader) ([]*unstructured.Unstructured, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var objects []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, err
		}
		if len(obj.Object) > 0 {
			objects = append(objects, obj)
		}
	}
}

// clusterServiceVersion completes the hand-written base into the CSV.
func clusterServiceVersion(opts options, crds []*unstructured.Unstructured, deployment, clusterRole, role *unstructured.Unstructured) (map[string]any, error) {
	data, err := os.ReadFile(opts.base)
	if err != nil {
		return nil, err
	}
	csv := map[string]any{}
	if err := yaml.UnmarshalStrict(data, &csv); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.base, err)
	}
	version, _, _ := unstructured.NestedString(csv, "spec", "version")
	if version == "" {
		return nil, fmt.Errorf("%s: spec.version is not set", opts.base)
	}
	image := opts.image
	if image == "" {
		image = "certsmith/manager:v" + version
	}
	name := packageName + ".v" + version

	if err := unstructured.SetNestedField(csv, name, "metadata", "name"); err != nil {
		return nil, err
	}
	examples, err := almExamples(opts.samples)
	if err != nil {
		return nil, err
	}
	annotations, _, _ := unstructured.NestedStringMap(csv, "metadata", "annotations")
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations["alm-examples"] = examples
	annotations["containerImage"] = image
	if err := unstructured.SetNestedStringMap(csv, annotations, "metadata", "annotations"); err != nil {
		return nil, err
	}

	if err := completeOwnedCRDs(csv, crds); err != nil {
		return nil, err
	}
	install, err := installStrategy(deployment, clusterRole, role, image)
	if err != nil {
		return nil, err
	}
	if err := unstructured.SetNestedField(csv, install, "spec", "install"); err != nil {
		return nil, err
	}
	if err := unstructured.SetNestedSlice(csv, []any{map[string]any{"name": "manager", "image": image}}, "spec", "relatedImages"); err != nil {
		return nil, err
	}
	if opts.icon != "" {
		svg, err := os.ReadFile(opts.icon)
		if err != nil {
			return nil, err
		}
		icon := map[string]any{"base64data": base64.StdEncoding.EncodeToString(svg), "mediatype": "image/svg+xml"}
		if err := unstructured.SetNestedSlice(csv, []any{icon}, "spec", "icon"); err != nil {
			return nil, err
		}
	}

	// A field misspelled in the base would be dropped silently by OLM:
	// decode strictly into the real type to catch it here.
	out, err := yaml.Marshal(csv)
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(out, &operatorsv1alpha1.ClusterServiceVersion{}); err != nil {
		return nil, fmt.Errorf("the generated ClusterServiceVersion does not decode strictly (check %s): %w", opts.base, err)
	}
	return csv, nil
}

// almExamples returns the alm-examples annotation: the sample objects as a
// JSON array, without namespaces (the console creates them where the user is).
func almExamples(paths []string) (string, error) {
	var examples []any
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		objects, err := decodeAll(bytes.NewReader(data))
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		for _, obj := range objects {
			unstructured.RemoveNestedField(obj.Object, "metadata", "namespace")
			examples = append(examples, obj.Object)
		}
	}
	data, err := json.MarshalIndent(examples, "", "  ")
	return string(data), err
}

// completeOwnedCRDs fills the name and version of each owned CRD from the
// CRD of the same kind, requires every CRD to be described, and checks that
// every descriptor path exists in the CRD's schema.
func completeOwnedCRDs(csv map[string]any, crds []*unstructured.Unstructured) error {
	owned, _, err := unstructured.NestedSlice(csv, "spec", "customresourcedefinitions", "owned")
	if err != nil {
		return err
	}
	byKind := map[string]*unstructured.Unstructured{}
	for _, crd := range crds {
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		byKind[kind] = crd
	}
	described := map[string]bool{}
	for _, item := range owned {
		description := item.(map[string]any)
		kind, _ := description["kind"].(string)
		crd, ok := byKind[kind]
		if !ok {
			return fmt.Errorf("the CSV describes kind %q, which no CRD defines", kind)
		}
		described[kind] = true
		version, schema, err := storageVersion(crd)
		if err != nil {
			return err
		}
		description["name"] = crd.GetName()
		description["version"] = version
		for _, field := range []string{"spec", "status"} {
			descriptors, _ := description[field+"Descriptors"].([]any)
			for _, d := range descriptors {
				path, _ := d.(map[string]any)["path"].(string)
				if !schemaHasPath(schema, append([]string{field}, strings.Split(path, ".")...)) {
					return fmt.Errorf("%s %sDescriptor %q: no such field in the CRD %s", kind, field, path, crd.GetName())
				}
			}
		}
	}
	for kind, crd := range byKind {
		if !described[kind] {
			return fmt.Errorf("CRD %s has no entry in spec.customresourcedefinitions.owned", crd.GetName())
		}
	}
	slices.SortFunc(owned, func(a, b any) int {
		return strings.Compare(a.(map[string]any)["name"].(string), b.(map[string]any)["name"].(string))
	})
	return unstructured.SetNestedSlice(csv, owned, "spec", "customresourcedefinitions", "owned")
}

// storageVersion returns the name and OpenAPI schema of a CRD's storage version.
func storageVersion(crd *unstructured.Unstructured) (string, map[string]any, error) {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		version := v.(map[string]any)
		if storage, _ := version["storage"].(bool); storage {
			schema, _, _ := unstructured.NestedMap(version, "schema", "openAPIV3Schema")
			return version["name"].(string), schema, nil
		}
	}
	return "", nil, fmt.Errorf("CRD %s has no storage version", crd.GetName())
}

// schemaHasPath says whether an OpenAPI schema has the field at path;
// array items are stepped through.
func schemaHasPath(schema map[string]any, path []string) bool {
	for _, field := range path {
		for schema["type"] == "array" {
			schema, _ = schema["items"].(map[string]any)
		}
		properties, _ := schema["properties"].(map[string]any)
		next, ok := properties[field].(map[string]any)
		if !ok {
			return false
		}
		schema = next
	}
	return true
}

// installStrategy is the CSV's deployment install strategy: the manager
// Deployment's spec with the bundle's image, and the generated ClusterRole
// and Role as the ServiceAccount's cluster and namespace permissions.
func installStrategy(deployment, clusterRole, role *unstructured.Unstructured, image string) (map[string]any, error) {
	spec, _, _ := unstructured.NestedMap(deployment.Object, "spec")
	containers, _, _ := unstructured.NestedSlice(spec, "template", "spec", "containers")
	replaced := false
	for _, c := range containers {
		if container := c.(map[string]any); container["name"] == "manager" {
			container["image"] = image
			replaced = true
		}
	}
	if !replaced {
		return nil, fmt.Errorf("Deployment %s has no container named manager", deployment.GetName())
	}
	if err := unstructured.SetNestedSlice(spec, containers, "template", "spec", "containers"); err != nil {
		return nil, err
	}
	serviceAccount, _, _ := unstructured.NestedString(spec, "template", "spec", "serviceAccountName")
	if serviceAccount == "" {
		return nil, fmt.Errorf("Deployment %s names no ServiceAccount", deployment.GetName())
	}
	clusterRules, _, _ := unstructured.NestedSlice(clusterRole.Object, "rules")
	namespaceRules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	labels := map[string]any{}
	for k, v := range deployment.GetLabels() {
		labels[k] = v
	}
	return map[string]any{
		"strategy": "deployment",
		"spec": map[string]any{
			"deployments": []any{map[string]any{
				"name":  deployment.GetName(),
				"label": labels,
				"spec":  spec,
			}},
			"clusterPermissions": []any{map[string]any{"serviceAccountName": serviceAccount, "rules": clusterRules}},
			"permissions":        []any{map[string]any{"serviceAccountName": serviceAccount, "rules": namespaceRules}},
		},
	}, nil
}

// bundleAnnotations are the registry+v1 annotations, in metadata/annotations.yaml
// and as labels of the bundle image.
func bundleAnnotations() map[string]string {
	return map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1":       "registry+v1",
		"operators.operatorframework.io.bundle.manifests.v1":       "manifests/",
		"operators.operatorframework.io.bundle.metadata.v1":        "metadata/",
		"operators.operatorframework.io.bundle.package.v1":         packageName,
		"operators.operatorframework.io.bundle.channels.v1":        channels,
		"operators.operatorframework.io.bundle.channel.default.v1": defaultChannel,
		"operators.operatorframework.io.test.mediatype.v1":         "scorecard+v1",
		"operators.operatorframework.io.test.config.v1":            "tests/scorecard/",
	}
}

// scorecardConfig runs the scorecard's basic and olm suites, one test a
// entry, labelled so that "operator-sdk scorecard --selector=suite=olm"
// picks a suite.
func scorecardConfig(image string) map[string]any {
	var tests []any
	add := func(suite, test string) {
		tests = append(tests, map[string]any{
			"entrypoint": []any{"scorecard-test", test},
			"image":      image,
			"labels":     map[string]any{"suite": suite, "test": test + "-test"},
		})
	}
	add("basic", "basic-check-spec")
	for _, test := range []string{
		"olm-bundle-validation", "olm-crds-have-validation", "olm-crds-have-resources",
		"olm-spec-descriptors", "olm-status-descriptors",
	} {
		add("olm", test)
	}
	return map[string]any{
		"apiVersion": "scorecard.operatorframework.io/v1alpha3",
		"kind":       "Configuration",
		"metadata":   map[string]any{"name": "config"},
		"stages":     []any{map[string]any{"parallel": true, "tests": tests}},
		"storage":    map[string]any{"spec": map[string]any{"mountPath": map[string]any{}}},
	}
}

// bundleDir is where the bundle is committed, relative to the repository
// root: the bundle Dockerfile's build context.
const bundleDir = "bundle"

// bundleDockerfile builds the bundle image from the repository root.
func bundleDockerfile() []byte {
	var b strings.Builder
	b.WriteString(generatedHeader)
	b.WriteString("# Build the bundle image from the repository root:\n")
	b.WriteString("#   docker build -f bundle.Dockerfile -t <registry>/certsmith-bundle:v<version> .\n")
	b.WriteString("FROM scratch\n\n")
	annotations := bundleAnnotations()
	for _, key := range slices.Sorted(maps.Keys(annotations)) {
		fmt.Fprintf(&b, "LABEL %s=%s\n", key, annotations[key])
	}
	fmt.Fprintf(&b, "\nCOPY %s/manifests /manifests/\n", bundleDir)
	fmt.Fprintf(&b, "COPY %s/metadata /metadata/\n", bundleDir)
	fmt.Fprintf(&b, "COPY %s/tests/scorecard /tests/scorecard/\n", bundleDir)
	return []byte(b.String())
}

// generatedHeader opens every generated file.
const generatedHeader = "# Generated by \"make bundle\" (hack/bundle). DO NOT EDIT.\n"

// marshal renders obj as YAML with sorted keys, after the generated header.
func marshal(obj any) ([]byte, error) {
	data, err := yaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return append([]byte(generatedHeader), data...), nil
}

// write replaces the bundle's generated directories with files, and writes
// the bundle Dockerfile if asked to.
func write(opts options, files map[string][]byte) error {
	for _, dir := range []string{"manifests", "metadata", filepath.Join("tests", "scorecard")} {
		if err := os.RemoveAll(filepath.Join(opts.out, dir)); err != nil {
			return err
		}
	}
	for name, data := range files {
		path := filepath.Join(opts.out, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	if opts.dockerfile != "" {
		return os.WriteFile(opts.dockerfile, bundleDockerfile(), 0o644)
	}
	return nil
}
