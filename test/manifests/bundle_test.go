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
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/manifests"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"github.com/operator-framework/api/pkg/validation"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// bundleDir is the committed OLM bundle, relative to the repository root.
const bundleDir = "bundle"

// loadBundle loads bundle/ as OLM's tools do.
func loadBundle(t *testing.T) *manifests.Bundle {
	t.Helper()
	bundle, err := manifests.GetBundleFromDir(filepath.Join(repoRoot, bundleDir))
	if err != nil {
		t.Fatalf("loading %s: %v", bundleDir, err)
	}
	return bundle
}

// TestBundlePassesOperatorFrameworkValidators runs the Operator Framework's
// validators over the bundle, as "operator-sdk bundle validate" does with
// its default, operatorhub and good-practices suites. Errors fail the test;
// warnings are logged.
func TestBundlePassesOperatorFrameworkValidators(t *testing.T) {
	bundle := loadBundle(t)
	validators := validation.DefaultBundleValidators.WithValidators(
		validation.OperatorHubV2Validator,
		validation.StandardCapabilitiesValidator,
		validation.StandardCategoriesValidator,
		validation.GoodPracticesValidator,
		validation.ObjectValidator,
		validation.AlphaDeprecatedAPIsValidator,
	)
	objects := append(bundle.ObjectsToValidate(), map[string]string{"k8s-version": kubernetesMinorVersion(t)})
	results := validators.Validate(objects...)
	if len(results) == 0 {
		t.Fatal("the validators returned no results")
	}
	for _, result := range results {
		for _, warning := range result.Warnings {
			t.Logf("validator warning (%s): %v", result.Name, warning)
		}
		for _, err := range result.Errors {
			t.Errorf("validator error (%s): %v", result.Name, err)
		}
	}
}

// TestBundleContents checks that the bundle deploys what config/default
// deploys and describes what the issue asks for.
func TestBundleContents(t *testing.T) {
	bundle := loadBundle(t)
	csv := bundle.CSV

	version := csv.Spec.Version.String()
	if csv.Name != "certsmith.v"+version || !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(version) {
		t.Errorf("CSV %s with version %s, want certsmith.v<MAJOR.MINOR.PATCH>", csv.Name, version)
	}
	if want := kubernetesMinorVersion(t) + ".0"; csv.Spec.MinKubeVersion != want {
		t.Errorf("minKubeVersion %q, want %q (the Kubernetes version certsmith is built and tested against)", csv.Spec.MinKubeVersion, want)
	}
	wantModes := map[operatorsv1alpha1.InstallModeType]bool{
		operatorsv1alpha1.InstallModeTypeOwnNamespace:    false,
		operatorsv1alpha1.InstallModeTypeSingleNamespace: false,
		operatorsv1alpha1.InstallModeTypeMultiNamespace:  false,
		operatorsv1alpha1.InstallModeTypeAllNamespaces:   true,
	}
	haveModes := map[operatorsv1alpha1.InstallModeType]bool{}
	for _, mode := range csv.Spec.InstallModes {
		haveModes[mode.Type] = mode.Supported
	}
	if fmt.Sprint(haveModes) != fmt.Sprint(wantModes) {
		t.Errorf("install modes %v, want %v (certsmith is cluster-wide)", haveModes, wantModes)
	}
	for field, empty := range map[string]bool{
		"description": csv.Spec.Description == "", "displayName": csv.Spec.DisplayName == "", "keywords": len(csv.Spec.Keywords) == 0,
		"maintainers": len(csv.Spec.Maintainers) == 0, "provider": csv.Spec.Provider.Name == "", "links": len(csv.Spec.Links) == 0,
	} {
		if empty {
			t.Errorf("the CSV has no %s", field)
		}
	}

	// Owned CRDs: the bundle's CRDs, each described with descriptors.
	var crdNames, ownedNames []string
	for _, crd := range bundle.V1CRDs {
		crdNames = append(crdNames, crd.Name)
	}
	for _, owned := range csv.Spec.CustomResourceDefinitions.Owned {
		ownedNames = append(ownedNames, owned.Name)
		if owned.DisplayName == "" || owned.Description == "" || len(owned.SpecDescriptors) == 0 || len(owned.StatusDescriptors) == 0 {
			t.Errorf("owned CRD %s needs a displayName, a description, spec and status descriptors", owned.Name)
		}
	}
	slices.Sort(crdNames)
	slices.Sort(ownedNames)
	wantCRDs := []string{"certificaterevocations.certsmith.io", "clustercertificaterevocations.certsmith.io", "clusterissuers.certsmith.io", "servicecertificates.certsmith.io"}
	if !slices.Equal(crdNames, wantCRDs) || !slices.Equal(ownedNames, wantCRDs) {
		t.Errorf("bundle CRDs %v and owned CRDs %v, want %v", crdNames, ownedNames, wantCRDs)
	}

	// alm-examples: the sample ClusterIssuer, ServiceCertificate and revocations.
	var examples []map[string]any
	if err := json.Unmarshal([]byte(csv.Annotations["alm-examples"]), &examples); err != nil {
		t.Fatalf("alm-examples: %v", err)
	}
	var wantExamples []map[string]any
	for _, path := range []string{"config/samples/clusterissuer.yaml", "config/samples/servicecertificate.yaml",
		"config/samples/revocation/certificaterevocation.yaml", "config/samples/revocation/clustercertificaterevocation.yaml"} {
		for _, obj := range readObjects(t, path) {
			unstructured.RemoveNestedField(obj.Object, "metadata", "namespace")
			wantExamples = append(wantExamples, obj.Object)
		}
	}
	if !equality.Semantic.DeepEqual(examples, wantExamples) {
		t.Errorf("alm-examples\n %v\nwant the samples\n %v", examples, wantExamples)
	}

	// The install strategy is config/default's Deployment and generated RBAC.
	objects := decodeAll(t, kustomize(t, "config/default"))
	strategy := csv.Spec.InstallStrategy
	if strategy.StrategyName != "deployment" || len(strategy.StrategySpec.DeploymentSpecs) != 1 {
		t.Fatalf("install strategy %q with %d deployments, want one deployment", strategy.StrategyName, len(strategy.StrategySpec.DeploymentSpecs))
	}
	bundled := strategy.StrategySpec.DeploymentSpecs[0]
	deployment := managerDeploymentOf(t, objects)
	if bundled.Name != deployment.Name {
		t.Errorf("the CSV deploys %s, config/default %s", bundled.Name, deployment.Name)
	}
	image := managerContainerOfSpec(t, bundled.Spec).Image
	if !slices.ContainsFunc(csv.Spec.RelatedImages, func(r operatorsv1alpha1.RelatedImage) bool { return r.Image == image }) || csv.Annotations["containerImage"] != image {
		t.Errorf("the manager image %s must be in relatedImages %v and the containerImage annotation %q", image, csv.Spec.RelatedImages, csv.Annotations["containerImage"])
	}
	withImage := deployment.Spec.DeepCopy()
	for i := range withImage.Template.Spec.Containers {
		if withImage.Template.Spec.Containers[i].Name == "manager" {
			withImage.Template.Spec.Containers[i].Image = image
		}
	}
	if !equality.Semantic.DeepEqual(bundled.Spec, *withImage) {
		t.Errorf("the CSV's Deployment spec differs from config/default's (run make bundle):\n%s", toYAML(t, bundled.Spec))
	}

	serviceAccount := deployment.Spec.Template.Spec.ServiceAccountName
	for name, permissions := range map[string][]operatorsv1alpha1.StrategyDeploymentPermissions{
		"ClusterRole": strategy.StrategySpec.ClusterPermissions,
		"Role":        strategy.StrategySpec.Permissions,
	} {
		generated := rulesOf(t, generatedRole(t, name))
		if len(permissions) != 1 || permissions[0].ServiceAccountName != serviceAccount || !equality.Semantic.DeepEqual(permissions[0].Rules, generated) {
			t.Errorf("the CSV's %s permissions must be the generated %s of config/rbac/role.yaml for ServiceAccount %s, have %+v", strings.ToLower(name[:1])+name[1:], name, serviceAccount, permissions)
		}
	}

	// metadata/annotations.yaml and the bundle image's labels.
	var annotations struct {
		Annotations map[string]string `json:"annotations"`
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, bundleDir, "metadata", "annotations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, &annotations); err != nil {
		t.Fatalf("metadata/annotations.yaml: %v", err)
	}
	for key, want := range map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1":       "registry+v1",
		"operators.operatorframework.io.bundle.manifests.v1":       "manifests/",
		"operators.operatorframework.io.bundle.metadata.v1":        "metadata/",
		"operators.operatorframework.io.bundle.package.v1":         "certsmith",
		"operators.operatorframework.io.bundle.channels.v1":        "alpha",
		"operators.operatorframework.io.bundle.channel.default.v1": "alpha",
	} {
		if annotations.Annotations[key] != want {
			t.Errorf("metadata/annotations.yaml: %s is %q, want %q", key, annotations.Annotations[key], want)
		}
	}
	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "bundle.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range annotations.Annotations {
		if !strings.Contains(string(dockerfile), "LABEL "+key+"="+value+"\n") {
			t.Errorf("bundle.Dockerfile lacks the label %s=%s", key, value)
		}
	}

	// The scorecard runs the basic and olm suites.
	var scorecard struct {
		Stages []struct {
			Tests []struct {
				Entrypoint []string          `json:"entrypoint"`
				Labels     map[string]string `json:"labels"`
			} `json:"tests"`
		} `json:"stages"`
	}
	data, err = os.ReadFile(filepath.Join(repoRoot, bundleDir, "tests", "scorecard", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &scorecard); err != nil {
		t.Fatalf("tests/scorecard/config.yaml: %v", err)
	}
	suites := map[string]int{}
	for _, stage := range scorecard.Stages {
		for _, test := range stage.Tests {
			suites[test.Labels["suite"]]++
		}
	}
	if suites["basic"] == 0 || suites["olm"] == 0 {
		t.Errorf("the scorecard runs suites %v, want basic and olm", suites)
	}
}

// TestBundleObjectsPassServerDryRun sends every Kubernetes object of the
// bundle to the API server with a server-side dry-run: the CRDs and the
// metrics Service as they are, and what OLM makes from the CSV (the manager
// Deployment, its ServiceAccount, ClusterRole and Role) rebuilt as objects.
// The ClusterServiceVersion itself is an OLM kind, not served here; the
// Operator Framework's validators check it.
func TestBundleObjectsPassServerDryRun(t *testing.T) {
	installDefault(t)
	bundle := loadBundle(t)

	entries, err := os.ReadDir(filepath.Join(repoRoot, bundleDir, "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, entry := range entries {
		path := filepath.Join(repoRoot, bundleDir, "manifests", entry.Name())
		objects := readObjects(t, filepath.Join(bundleDir, "manifests", entry.Name()))
		for _, obj := range objects {
			kinds[obj.GetKind()]++
		}
		if len(objects) == 1 && objects[0].GetKind() == operatorsv1alpha1.ClusterServiceVersionKind {
			continue
		}
		stdout, stderr, err := kubectl(t, "", "apply", "--dry-run=server", "--validate=strict", "-n", operatorNamespace, "-f", path)
		if err != nil || len(serverWarnings(stderr)) > 0 {
			t.Errorf("server-side dry-run of %s: %v\n%s%s", entry.Name(), err, stdout, stderr)
		}
	}

	// The bundle objects OLM creates next to the CSV: both Services and
	// the PodDisruptionBudget of config/default.
	if kinds["Service"] != 2 || kinds["PodDisruptionBudget"] != 1 {
		t.Errorf("bundle objects by kind %v, want 2 Services and 1 PodDisruptionBudget", kinds)
	}

	strategy := bundle.CSV.Spec.InstallStrategy.StrategySpec
	var olmObjects []any
	for _, d := range strategy.DeploymentSpecs {
		olmObjects = append(olmObjects, &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: operatorNamespace, Labels: d.Label},
			Spec:       d.Spec,
		})
	}
	for i, p := range strategy.ClusterPermissions {
		olmObjects = append(olmObjects,
			&corev1.ServiceAccount{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
				ObjectMeta: metav1.ObjectMeta{Name: p.ServiceAccountName, Namespace: operatorNamespace},
			},
			&rbacv1.ClusterRole{
				TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bundle-dry-run-cluster-permissions-%d", i)},
				Rules:      p.Rules,
			})
	}
	for i, p := range strategy.Permissions {
		olmObjects = append(olmObjects, &rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bundle-dry-run-permissions-%d", i), Namespace: operatorNamespace},
			Rules:      p.Rules,
		})
	}
	stdout, stderr, err := kubectl(t, toYAML(t, olmObjects...), "apply", "--dry-run=server", "--validate=strict", "-f", "-")
	if err != nil || len(serverWarnings(stderr)) > 0 {
		t.Errorf("server-side dry-run of the CSV's Deployment and permissions: %v\n%s%s", err, stdout, stderr)
	}
	t.Logf("server dry-run of what OLM creates from the CSV:\n%s", stdout)
}

// TestBundleIsGeneratedAndDeterministic runs the bundle generator twice
// into temporary directories, as "make bundle" runs it: both runs must give
// the same files (no timestamps or map order in the output), and the same
// files as the committed bundle/ and bundle.Dockerfile (no one edited them
// by hand or forgot to run "make bundle" after changing config/).
func TestBundleIsGeneratedAndDeterministic(t *testing.T) {
	if _, err := os.Stat(cluster.KubectlPath()); err != nil {
		t.Fatalf("%s is missing: run make k8s-binaries", cluster.KubectlPath())
	}
	tmp := t.TempDir()
	generator := filepath.Join(tmp, "bundle-generator")
	build := exec.Command("go", "build", "-o", generator, "./hack/bundle")
	if stdout, stderr, err := cluster.Runner.Output(build); err != nil {
		t.Fatalf("building hack/bundle: %v\n%s%s", err, stdout, stderr)
	}
	generate := func(out string) map[string][]byte {
		t.Helper()
		cmd := exec.Command(generator, "-kubectl", cluster.KubectlPath(), "-image", "", "-out", out, "-dockerfile", filepath.Join(out, "bundle.Dockerfile"))
		if stdout, stderr, err := cluster.Runner.Output(cmd); err != nil {
			t.Fatalf("hack/bundle: %v\n%s%s", err, stdout, stderr)
		}
		return readTree(t, out)
	}
	first, second := generate(filepath.Join(tmp, "first")), generate(filepath.Join(tmp, "second"))
	if diff := diffTrees(first, second); diff != "" {
		t.Errorf("two runs of the generator differ:\n%s", diff)
	}

	committed := readTree(t, filepath.Join(repoRoot, bundleDir))
	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "bundle.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	committed["bundle.Dockerfile"] = dockerfile
	if diff := diffTrees(first, committed); diff != "" {
		t.Errorf("bundle/ or bundle.Dockerfile is not what make bundle generates (run make bundle):\n%s", diff)
	}
}

// readTree reads every file below dir, by slash-separated relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// diffTrees names the files that only one tree has or that differ.
func diffTrees(a, b map[string][]byte) string {
	var diffs []string
	for name, data := range a {
		other, ok := b[name]
		switch {
		case !ok:
			diffs = append(diffs, "only in the first: "+name)
		case !bytes.Equal(data, other):
			diffs = append(diffs, "differs: "+name)
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			diffs = append(diffs, "only in the second: "+name)
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "\n")
}

// generatedRole returns the ClusterRole or Role that controller-gen wrote
// into config/rbac/role.yaml.
func generatedRole(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	return oneOfKind(t, readObjects(t, "config/rbac/role.yaml"), kind)
}

// managerContainerOfSpec returns the manager container of a Deployment spec.
func managerContainerOfSpec(t *testing.T, spec appsv1.DeploymentSpec) corev1.Container {
	t.Helper()
	return managerContainer(t, &appsv1.Deployment{Spec: spec})
}

// kubernetesMinorVersion returns "1.N" for the k8s.io/api v0.N.x that go.mod
// pins, the Kubernetes version certsmith is built and tested against.
func kubernetesMinorVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	match := regexp.MustCompile(`(?m)^\s*k8s\.io/api v0\.(\d+)\.\d+`).FindSubmatch(data)
	if match == nil {
		t.Fatal("go.mod does not require k8s.io/api")
	}
	return "1." + string(match[1])
}
