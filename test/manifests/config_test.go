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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// Names of the objects config/default makes (after its namePrefix).
const (
	managerDeployment = "certsmith-controller-manager"
	metricsService    = "certsmith-controller-manager-metrics"
	metricsPort       = 8080
	metricsPolicy     = "certsmith-allow-metrics-traffic"
	crlService        = "certsmith-controller-manager-crl"
	crlPolicy         = "certsmith-allow-crl-traffic"
	crlPort           = 8089
)

// TestDefaultConfigPassesServerDryRun applies everything in config/default
// with a server-side dry-run: the API server validates each object against
// its schema and runs admission (Pod Security included) without storing it.
// The CRDs and the namespace are applied for real first, as in a real
// install: a dry-run does not create them, and the namespaced objects need
// their namespace to exist.
func TestDefaultConfigPassesServerDryRun(t *testing.T) {
	requireCluster(t)
	built := kustomize(t, "config/default")
	objects := decodeAll(t, built)

	wantKinds := []string{
		"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment", "Namespace",
		"NetworkPolicy", "PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount",
	}
	var kinds []string
	for _, obj := range objects {
		kinds = append(kinds, obj.GetKind())
		if obj.GetAPIVersion() == "monitoring.coreos.com/v1" {
			t.Errorf("%s %s is in config/default, but the Prometheus Operator's CRDs are optional: keep it in config/prometheus", obj.GetKind(), obj.GetName())
		}
	}
	slices.Sort(kinds)
	if got := slices.Compact(kinds); !slices.Equal(got, wantKinds) {
		t.Errorf("config/default makes kinds %v, want %v", got, wantKinds)
	}

	prerequisites := append(objectsOfKind(objects, "CustomResourceDefinition"), objectsOfKind(objects, "Namespace")...)
	mustKubectl(t, toYAML(t, anySlice(prerequisites)...), "apply", "--server-side", "-f", "-")
	mustKubectl(t, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/clusterissuers.certsmith.io", "crd/servicecertificates.certsmith.io",
		"crd/certificaterevocations.certsmith.io", "crd/clustercertificaterevocations.certsmith.io")

	// Both ways a GitOps tool or a person applies: client-side and server-side apply.
	for _, apply := range [][]string{
		{"apply", "--dry-run=server", "--validate=strict", "-f", "-"},
		{"apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", "-"},
	} {
		stdout, stderr, err := kubectl(t, built, apply...)
		if err != nil {
			t.Fatalf("kubectl %s of config/default: %v\n%s%s", strings.Join(apply, " "), err, stdout, stderr)
		}
		if n := strings.Count(stdout, "(server dry run)"); n != len(objects) {
			t.Errorf("kubectl %s reported %d objects, config/default has %d:\n%s", strings.Join(apply, " "), n, len(objects), stdout)
		}
		// Warnings include Pod Security "would violate" messages for the
		// Deployment (the namespace warns at the restricted level) and
		// unknown or duplicate fields.
		if warnings := serverWarnings(stderr); len(warnings) > 0 {
			t.Errorf("kubectl %s printed warnings:\n%s", strings.Join(apply, " "), strings.Join(warnings, "\n"))
		}
	}
}

// TestManagerPodMeetsRestrictedPodSecurity creates, with a server-side
// dry-run, a Pod from the manager Deployment's template in the operator's
// namespace, which enforces the restricted Pod Security Standard: the
// Deployment's Pods would be admitted. A Pod without the security settings
// is rejected there, which shows that the check is real.
func TestManagerPodMeetsRestrictedPodSecurity(t *testing.T) {
	installDefault(t)
	objects := decodeAll(t, kustomize(t, "config/default"))
	namespace := oneOfKind(t, objects, "Namespace")
	for _, mode := range []string{"enforce", "warn", "audit"} {
		if got := namespace.GetLabels()["pod-security.kubernetes.io/"+mode]; got != "restricted" {
			t.Errorf("namespace %s: pod-security.kubernetes.io/%s is %q, want restricted", namespace.GetName(), mode, got)
		}
	}

	deployment := managerDeploymentOf(t, objects)
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "manager-pod-security-check", Namespace: operatorNamespace, Labels: deployment.Spec.Template.Labels},
		Spec:       deployment.Spec.Template.Spec,
	}
	stdout, stderr, err := kubectl(t, toYAML(t, pod), "create", "--dry-run=server", "-f", "-")
	if err != nil {
		t.Fatalf("a Pod from the manager's template is not admitted in %s: %v\n%s%s", operatorNamespace, err, stdout, stderr)
	}
	if warnings := serverWarnings(stderr); len(warnings) > 0 {
		t.Errorf("creating a Pod from the manager's template printed warnings:\n%s", strings.Join(warnings, "\n"))
	}

	insecure := pod.DeepCopy()
	insecure.Name = "insecure-pod-security-check"
	insecure.Spec.SecurityContext = nil
	for i := range insecure.Spec.Containers {
		insecure.Spec.Containers[i].SecurityContext = nil
	}
	_, stderr, err = kubectl(t, toYAML(t, insecure), "create", "--dry-run=server", "-f", "-")
	if err == nil || !strings.Contains(stderr, "violates PodSecurity") {
		t.Errorf("a Pod without security settings was not rejected by Pod Security admission in %s (err %v):\n%s", operatorNamespace, err, stderr)
	}
}

// TestManagerDeployment checks the production settings of the manager
// Deployment that a dry-run cannot judge: leader election, probes,
// resources and the container's security settings.
func TestManagerDeployment(t *testing.T) {
	objects := decodeAll(t, kustomize(t, "config/default"))
	deployment := managerDeploymentOf(t, objects)
	podSpec := deployment.Spec.Template.Spec
	container := managerContainer(t, deployment)

	for _, arg := range []string{"--leader-elect=true", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081"} {
		if !slices.Contains(container.Args, arg) {
			t.Errorf("the manager's args %v lack %s", container.Args, arg)
		}
	}
	if env := findEnv(container.Env, "POD_NAMESPACE"); env == nil || env.ValueFrom == nil || env.ValueFrom.FieldRef == nil || env.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE must come from metadata.namespace (the manager keeps CA Secrets and its lease there), have %+v", env)
	}
	// The Go runtime's memory settings are explicit: its soft limit comes
	// from this container's memory limit, which must be set.
	if env := findEnv(container.Env, "CERTSMITH_MEMORY_LIMIT"); env == nil || env.ValueFrom == nil || env.ValueFrom.ResourceFieldRef == nil ||
		env.ValueFrom.ResourceFieldRef.Resource != "limits.memory" || env.ValueFrom.ResourceFieldRef.ContainerName != container.Name {
		t.Errorf("CERTSMITH_MEMORY_LIMIT must come from this container's limits.memory, have %+v", env)
	}
	if container.Resources.Limits.Memory().IsZero() {
		t.Error("the manager has no memory limit: its Go memory limit would be the node's memory")
	}
	if env := findEnv(container.Env, "GOGC"); env == nil || env.Value != "50" {
		t.Errorf("GOGC must be 50 (docs/benchmarks.md, Memory), have %+v", env)
	}

	ports := map[string]int32{}
	for _, p := range container.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != metricsPort || ports["probes"] != 8081 {
		t.Errorf("container ports %v, want metrics=%d and probes=8081", ports, metricsPort)
	}
	for name, probe := range map[string]*corev1.Probe{"liveness": container.LivenessProbe, "readiness": container.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("the manager has no HTTP %s probe", name)
			continue
		}
		if probe.HTTPGet.Port.String() != "probes" {
			t.Errorf("the %s probe uses port %s, want the named port probes", name, probe.HTTPGet.Port.String())
		}
	}
	if p := container.LivenessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe path %q, want /healthz", p.HTTPGet.Path)
	}
	if p := container.ReadinessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe path %q, want /readyz", p.HTTPGet.Path)
	}

	for _, resource := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := container.Resources.Requests[resource]; !ok {
			t.Errorf("the manager requests no %s", resource)
		}
		if _, ok := container.Resources.Limits[resource]; !ok {
			t.Errorf("the manager has no %s limit", resource)
		}
	}

	if podSpec.AutomountServiceAccountToken == nil || !*podSpec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken must be true: the manager authenticates with its ServiceAccount token")
	}
	if podSpec.SecurityContext == nil || podSpec.SecurityContext.RunAsNonRoot == nil || !*podSpec.SecurityContext.RunAsNonRoot {
		t.Error("the pod must set runAsNonRoot: true")
	}
	if podSpec.SecurityContext == nil || podSpec.SecurityContext.SeccompProfile == nil || podSpec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("the pod must use the RuntimeDefault seccomp profile")
	}
	sc := container.SecurityContext
	switch {
	case sc == nil:
		t.Error("the manager container has no securityContext")
	default:
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("the manager container must set allowPrivilegeEscalation: false")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("the manager container must set readOnlyRootFilesystem: true")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("the manager container must drop ALL capabilities and add none, has %+v", sc.Capabilities)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("the manager container must not be privileged")
		}
	}

	serviceAccount := oneOfKind(t, objects, "ServiceAccount")
	if podSpec.ServiceAccountName != serviceAccount.GetName() {
		t.Errorf("the Deployment runs as ServiceAccount %q, config/default creates %q", podSpec.ServiceAccountName, serviceAccount.GetName())
	}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, binding := range objectsOfKind(objects, kind) {
			subjects, _, _ := unstructured.NestedSlice(binding.Object, "subjects")
			for _, s := range subjects {
				subject := s.(map[string]any)
				if subject["name"] != serviceAccount.GetName() || subject["namespace"] != operatorNamespace {
					t.Errorf("%s %s binds %v/%v, want the manager's ServiceAccount %s/%s",
						kind, binding.GetName(), subject["namespace"], subject["name"], operatorNamespace, serviceAccount.GetName())
				}
			}
		}
	}
}

// TestMetricsServiceAndNetworkPolicy checks that the metrics Service selects
// the manager's Pods on their metrics port, and that the NetworkPolicy lets
// only namespaces labelled metrics=enabled reach that port and nothing else.
func TestMetricsServiceAndNetworkPolicy(t *testing.T) {
	objects := decodeAll(t, kustomize(t, "config/default"))
	deployment := managerDeploymentOf(t, objects)
	podLabels := labels.Set(deployment.Spec.Template.Labels)

	service := &corev1.Service{}
	fromUnstructured(t, objectNamed(t, objects, "Service", metricsService), service)
	if service.Namespace != operatorNamespace {
		t.Errorf("Service %s is in namespace %q, want %s", service.Name, service.Namespace, operatorNamespace)
	}
	if len(service.Spec.Selector) == 0 || !labels.SelectorFromSet(service.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service %s selects %v, which does not match the manager's Pod labels %v", service.Name, service.Spec.Selector, podLabels)
	}
	if len(service.Spec.Ports) != 1 {
		t.Fatalf("Service %s has %d ports, want one (metrics)", service.Name, len(service.Spec.Ports))
	}
	port := service.Spec.Ports[0]
	if port.Name != "metrics" || port.Port != metricsPort || port.TargetPort.String() != "metrics" {
		t.Errorf("Service %s port is %s %d -> %s, want metrics %d -> the container port named metrics", service.Name, port.Name, port.Port, port.TargetPort.String(), metricsPort)
	}

	policy := &networkingv1.NetworkPolicy{}
	fromUnstructured(t, objectNamed(t, objects, "NetworkPolicy", metricsPolicy), policy)
	selector, err := metav1.LabelSelectorAsSelector(&policy.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if selector.Empty() || !selector.Matches(podLabels) {
		t.Errorf("NetworkPolicy %s selects Pods %v, which does not match the manager's Pod labels %v", policy.Name, selector, podLabels)
	}
	if !slices.Equal(policy.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("NetworkPolicy %s has policy types %v, want only Ingress (egress to the API server stays open)", policy.Name, policy.Spec.PolicyTypes)
	}
	if len(policy.Spec.Ingress) != 1 {
		t.Fatalf("NetworkPolicy %s has %d ingress rules, want one", policy.Name, len(policy.Spec.Ingress))
	}
	rule := policy.Spec.Ingress[0]
	if len(rule.From) != 1 || rule.From[0].PodSelector != nil || rule.From[0].IPBlock != nil || rule.From[0].NamespaceSelector == nil ||
		!equalLabelSelector(*rule.From[0].NamespaceSelector, metav1.LabelSelector{MatchLabels: map[string]string{"metrics": "enabled"}}) {
		t.Errorf("NetworkPolicy %s admits %+v, want only namespaces labelled metrics=enabled", policy.Name, rule.From)
	}
	if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.IntValue() != metricsPort ||
		rule.Ports[0].Protocol == nil || *rule.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("NetworkPolicy %s opens ports %+v, want only %d/TCP", policy.Name, rule.Ports, metricsPort)
	}
}

// TestHighAvailability checks the settings that keep certsmith running
// through the loss of a replica or a node drain: two replicas, spread over
// nodes where there are several (preferred, so one node still works), a
// PodDisruptionBudget that keeps one, and leader-election timings that the
// manager accepts (renew deadline below the lease, retry below the renew).
func TestHighAvailability(t *testing.T) {
	objects := decodeAll(t, kustomize(t, "config/default"))
	deployment := managerDeploymentOf(t, objects)
	podLabels := labels.Set(deployment.Spec.Template.Labels)
	if deployment.Spec.Replicas == nil || *deployment.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2 (a leader and a warm standby)", deployment.Spec.Replicas)
	}
	affinity := deployment.Spec.Template.Spec.Affinity
	if affinity == nil || affinity.PodAntiAffinity == nil {
		t.Fatal("the manager has no pod anti-affinity")
	}
	if len(affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
		t.Error("required anti-affinity would leave the second replica Pending on a one-node cluster")
	}
	preferred := affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	if len(preferred) != 1 || preferred[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
		t.Fatalf("preferred anti-affinity %+v, want one term over kubernetes.io/hostname", preferred)
	}
	selector, err := metav1.LabelSelectorAsSelector(preferred[0].PodAffinityTerm.LabelSelector)
	if err != nil || !selector.Matches(podLabels) {
		t.Errorf("the anti-affinity selects %v, not the manager's Pods %v (%v)", selector, podLabels, err)
	}

	pdb := &policyv1.PodDisruptionBudget{}
	fromUnstructured(t, objectNamed(t, objects, "PodDisruptionBudget", managerDeployment), pdb)
	if pdb.Namespace != operatorNamespace {
		t.Errorf("PodDisruptionBudget in %q, want %s", pdb.Namespace, operatorNamespace)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget minAvailable %v maxUnavailable %v, want maxUnavailable 1 (a single replica can still be drained)", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}
	if pdb.Spec.UnhealthyPodEvictionPolicy == nil || *pdb.Spec.UnhealthyPodEvictionPolicy != policyv1.AlwaysAllow {
		t.Errorf("PodDisruptionBudget unhealthyPodEvictionPolicy %v, want AlwaysAllow (replicas not Ready during an API outage must not block a drain)", pdb.Spec.UnhealthyPodEvictionPolicy)
	}
	if pdbSelector, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || pdbSelector.Empty() || !pdbSelector.Matches(podLabels) {
		t.Errorf("the PodDisruptionBudget selects %v, not the manager's Pods %v (%v)", pdbSelector, podLabels, err)
	}

	var grace time.Duration
	if p := deployment.Spec.Template.Spec.TerminationGracePeriodSeconds; p != nil {
		grace = time.Duration(*p) * time.Second
	}
	durations := map[string]time.Duration{}
	for _, arg := range managerContainer(t, deployment).Args {
		for _, flag := range []string{"--leader-elect-lease-duration=", "--leader-elect-renew-deadline=", "--leader-elect-retry-period=", "--graceful-shutdown-timeout="} {
			if value, ok := strings.CutPrefix(arg, flag); ok {
				d, err := time.ParseDuration(value)
				if err != nil {
					t.Errorf("%s: %v", arg, err)
				}
				durations[flag] = d
			}
		}
	}
	lease, renew, retry := durations["--leader-elect-lease-duration="], durations["--leader-elect-renew-deadline="], durations["--leader-elect-retry-period="]
	if lease == 0 || renew == 0 || retry == 0 || !(float64(renew) > 1.2*float64(retry) && renew < lease) {
		t.Errorf("leader election lease %s, renew deadline %s, retry period %s: want all set, 1.2 × retry < renew < lease", lease, renew, retry)
	}
	if shutdown := durations["--graceful-shutdown-timeout="]; shutdown <= 0 || shutdown >= grace {
		t.Errorf("graceful shutdown %s, termination grace period %s: want it set and below, so that the Lease is released before a SIGKILL", shutdown, grace)
	}
}

// TestCRLServiceAndNetworkPolicy checks that the CRL Service reaches every
// manager Pod's CRL port on port 80, that the manager listens there, and that
// its NetworkPolicy admits every namespace to that port and to no other.
func TestCRLServiceAndNetworkPolicy(t *testing.T) {
	objects := decodeAll(t, kustomize(t, "config/default"))
	deployment := managerDeploymentOf(t, objects)
	podLabels := labels.Set(deployment.Spec.Template.Labels)

	container := deployment.Spec.Template.Spec.Containers[0]
	if !slices.Contains(container.Args, fmt.Sprintf("--crl-bind-address=:%d", crlPort)) {
		t.Errorf("the manager's args %v do not bind the CRL server to :%d", container.Args, crlPort)
	}
	named := false
	for _, p := range container.Ports {
		if p.Name == "crl" && p.ContainerPort == crlPort && p.Protocol == corev1.ProtocolTCP {
			named = true
		}
	}
	if !named {
		t.Errorf("the manager's container ports %+v have no port named crl on %d/TCP", container.Ports, crlPort)
	}

	service := &corev1.Service{}
	fromUnstructured(t, objectNamed(t, objects, "Service", crlService), service)
	if service.Namespace != operatorNamespace {
		t.Errorf("Service %s is in namespace %q, want %s", service.Name, service.Namespace, operatorNamespace)
	}
	if len(service.Spec.Selector) == 0 || !labels.SelectorFromSet(service.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service %s selects %v, which does not match the manager's Pod labels %v", service.Name, service.Spec.Selector, podLabels)
	}
	if !service.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s routes to Ready replicas only: during an API server outage none is, and the cached CRLs would not be served", service.Name)
	}
	if len(service.Spec.Ports) != 1 || service.Spec.Ports[0].Port != 80 || service.Spec.Ports[0].TargetPort.String() != "crl" {
		t.Errorf("Service %s ports are %+v, want one: 80 -> the container port named crl", service.Name, service.Spec.Ports)
	}

	policy := &networkingv1.NetworkPolicy{}
	fromUnstructured(t, objectNamed(t, objects, "NetworkPolicy", crlPolicy), policy)
	selector, err := metav1.LabelSelectorAsSelector(&policy.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if selector.Empty() || !selector.Matches(podLabels) {
		t.Errorf("NetworkPolicy %s selects Pods %v, which does not match the manager's Pod labels %v", policy.Name, selector, podLabels)
	}
	if !slices.Equal(policy.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("NetworkPolicy %s has policy types %v, want only Ingress", policy.Name, policy.Spec.PolicyTypes)
	}
	if len(policy.Spec.Ingress) != 1 {
		t.Fatalf("NetworkPolicy %s has %d ingress rules, want one", policy.Name, len(policy.Spec.Ingress))
	}
	rule := policy.Spec.Ingress[0]
	if len(rule.From) != 1 || rule.From[0].NamespaceSelector == nil || !equalLabelSelector(*rule.From[0].NamespaceSelector, metav1.LabelSelector{}) ||
		rule.From[0].PodSelector != nil || rule.From[0].IPBlock != nil {
		t.Errorf("NetworkPolicy %s admits %+v, want every namespace", policy.Name, rule.From)
	}
	if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.IntValue() != crlPort {
		t.Errorf("NetworkPolicy %s opens ports %+v, want only %d (never the metrics port)", policy.Name, rule.Ports, crlPort)
	}
	if len(objectsOfKind(objects, "NetworkPolicy")) != 2 {
		t.Errorf("config/default has %d NetworkPolicies, want two (metrics and CRLs)", len(objectsOfKind(objects, "NetworkPolicy")))
	}
}

// The Prometheus Operator's kinds, as far as config/prometheus uses them.
// Decoding strictly into these catches a misspelled or misplaced field; a
// field that the Prometheus Operator does have can be added here.
type (
	serviceMonitor struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            struct {
			Selector          metav1.LabelSelector `json:"selector"`
			NamespaceSelector *struct {
				Any        bool     `json:"any,omitempty"`
				MatchNames []string `json:"matchNames,omitempty"`
			} `json:"namespaceSelector,omitempty"`
			Endpoints []struct {
				Port          string `json:"port"`
				Path          string `json:"path,omitempty"`
				Scheme        string `json:"scheme,omitempty"`
				Interval      string `json:"interval,omitempty"`
				ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	prometheusRule struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            struct {
			Groups []struct {
				Name     string `json:"name"`
				Interval string `json:"interval,omitempty"`
				Rules    []struct {
					Alert       string            `json:"alert,omitempty"`
					Record      string            `json:"record,omitempty"`
					Expr        string            `json:"expr"`
					For         string            `json:"for,omitempty"`
					Labels      map[string]string `json:"labels,omitempty"`
					Annotations map[string]string `json:"annotations,omitempty"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
)

// TestPrometheusConfig checks config/prometheus. Its kinds need the
// Prometheus Operator's CRDs, which this cluster does not have, so the
// objects cannot be validated against their real schemas here. Instead:
//   - each object decodes strictly into the fields it uses (above);
//   - the ServiceMonitor finds the metrics Service and its port;
//   - the alerts are the agreed ones, on the metric names the manager serves;
//   - kubectl apply --dry-run=client and --dry-run=server accept the objects
//     once stand-in CRDs (no schema, only the kinds) make the kinds known.
func TestPrometheusConfig(t *testing.T) {
	built := kustomize(t, "config/prometheus")
	objects := decodeAll(t, built)
	if len(objects) != 2 {
		t.Fatalf("config/prometheus makes %d objects, want a ServiceMonitor and a PrometheusRule", len(objects))
	}
	for _, obj := range objects {
		if obj.GetNamespace() != operatorNamespace {
			t.Errorf("%s %s is in namespace %q, want %s", obj.GetKind(), obj.GetName(), obj.GetNamespace(), operatorNamespace)
		}
		if obj.GetAPIVersion() != "monitoring.coreos.com/v1" {
			t.Errorf("%s %s has apiVersion %s, want monitoring.coreos.com/v1", obj.GetKind(), obj.GetName(), obj.GetAPIVersion())
		}
	}

	var monitor serviceMonitor
	strictDecode(t, oneOfKind(t, objects, "ServiceMonitor"), &monitor)
	defaults := decodeAll(t, kustomize(t, "config/default"))
	service := objectNamed(t, defaults, "Service", metricsService)
	selector, err := metav1.LabelSelectorAsSelector(&monitor.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if selector.Empty() || !selector.Matches(labels.Set(service.GetLabels())) {
		t.Errorf("ServiceMonitor %s selects Services %v, which does not match the metrics Service's labels %v", monitor.Metadata.Name, selector, service.GetLabels())
	}
	if len(monitor.Spec.Endpoints) != 1 || monitor.Spec.Endpoints[0].Port != "metrics" || monitor.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor %s endpoints %+v, want one: port metrics, path /metrics", monitor.Metadata.Name, monitor.Spec.Endpoints)
	}

	var rule prometheusRule
	strictDecode(t, oneOfKind(t, objects, "PrometheusRule"), &rule)
	// The alerts and the metric names they use; the manager's metrics
	// (controllers/metrics.go, docs/metrics.md) are the other side of this.
	wantAlerts := map[string]string{
		"CertsmithCertificateExpiringSoon":   `certsmith_certificate_expiration_timestamp_seconds - time() < 7*24*3600`,
		"CertsmithCertificateNotReady":       `certsmith_certificate_ready_status{condition="False"} == 1`,
		"CertsmithIssuerNotReady":            `certsmith_issuer_ready_status{condition="False"} == 1`,
		"CertsmithCAExpiringSoon":            `certsmith_issuer_ca_expiration_timestamp_seconds - time() < 30*24*3600`,
		"CertsmithNoLeader":                  `(sum by (namespace) (certsmith_leader) != 1) or absent(certsmith_leader)`,
		"CertsmithCertificateRenewalOverdue": `time() - certsmith_certificate_renewal_timestamp_seconds > 3600`,
		"CertsmithCSRsRefused":               `sum by (issuer, reason) (increase(certsmith_csr_refused_total[15m])) > 0`,
		"CertsmithRotationStalled": `(certsmith_issuer_rotation_phase{phase="Publishing"} == 1) and on (name) (time() > certsmith_issuer_rotation_publish_deadline_timestamp_seconds)` +
			` and on (name) (certsmith_issuer_rotation_unpublished_paths > 0)`,
		"CertsmithBundleConflicts": `certsmith_bundle_conflicts > 0`,
	}
	haveAlerts, haveFor := map[string]string{}, map[string]string{}
	for _, group := range rule.Spec.Groups {
		for _, r := range group.Rules {
			if r.Alert == "" {
				t.Errorf("group %s has a rule that is not an alert: %q", group.Name, r.Expr)
				continue
			}
			haveAlerts[r.Alert], haveFor[r.Alert] = r.Expr, r.For
			if d, err := time.ParseDuration(r.For); err != nil || d <= 0 {
				t.Errorf("alert %s: for %q is not a positive duration", r.Alert, r.For)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a severity label and summary and description annotations", r.Alert)
			}
		}
	}
	if fmt.Sprint(haveAlerts) != fmt.Sprint(wantAlerts) {
		t.Errorf("alerts:\n have %v\n want %v", haveAlerts, wantAlerts)
	}
	if haveFor["CertsmithCertificateNotReady"] != "10m" {
		t.Errorf("CertsmithCertificateNotReady fires after %q, want 10m", haveFor["CertsmithCertificateNotReady"])
	}

	requireCluster(t)
	mustKubectl(t, standInCRD("servicemonitors", "ServiceMonitor")+"---\n"+standInCRD("prometheusrules", "PrometheusRule"), "apply", "--server-side", "-f", "-")
	mustKubectl(t, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
	mustKubectl(t, toYAML(t, oneOfKind(t, defaults, "Namespace")), "apply", "--server-side", "-f", "-")
	for _, mode := range []string{"--dry-run=client", "--dry-run=server"} {
		stdout, stderr, err := kubectl(t, built, "apply", mode, "-f", "-")
		if err != nil {
			t.Errorf("kubectl apply %s of config/prometheus: %v\n%s%s", mode, err, stdout, stderr)
		}
	}
}

// standInCRD is a CustomResourceDefinition for a Prometheus Operator kind
// that accepts any spec: it only makes the kind known to the API server.
func standInCRD(plural, kind string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[1]s.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names:
    plural: %[1]s
    kind: %[2]s
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`, plural, kind)
}

// managerDeploymentOf returns the manager Deployment of config/default.
func managerDeploymentOf(t *testing.T, objects []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	deployment := &appsv1.Deployment{}
	fromUnstructured(t, objectNamed(t, objects, "Deployment", managerDeployment), deployment)
	return deployment
}

// managerContainer returns the container named manager.
func managerContainer(t *testing.T, deployment *appsv1.Deployment) corev1.Container {
	t.Helper()
	for _, c := range deployment.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			return c
		}
	}
	t.Fatalf("Deployment %s has no container named manager", deployment.Name)
	return corev1.Container{}
}

// objectNamed returns the object of a kind with a name, failing the test if there is none.
func objectNamed(t *testing.T, objects []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, obj := range objectsOfKind(objects, kind) {
		if obj.GetName() == name {
			return obj
		}
	}
	t.Fatalf("no %s named %s", kind, name)
	return nil
}

// findEnv returns the environment variable with a name, or nil.
func findEnv(env []corev1.EnvVar, name string) *corev1.EnvVar {
	for i := range env {
		if env[i].Name == name {
			return &env[i]
		}
	}
	return nil
}

// equalLabelSelector compares two label selectors.
func equalLabelSelector(a, b metav1.LabelSelector) bool {
	return fmt.Sprint(a.MatchLabels) == fmt.Sprint(b.MatchLabels) && len(a.MatchExpressions) == 0 && len(b.MatchExpressions) == 0
}

// fromUnstructured converts an object into a typed one, rejecting unknown fields.
func fromUnstructured(t *testing.T, obj *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// strictDecode decodes an object into a typed one, failing on any field the
// type does not have.
func strictDecode(t *testing.T, obj *unstructured.Unstructured, into any) {
	t.Helper()
	data, err := yaml.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Errorf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// anySlice converts objects for toYAML.
func anySlice(objects []*unstructured.Unstructured) []any {
	converted := make([]any, len(objects))
	for i, obj := range objects {
		converted[i] = obj
	}
	return converted
}

// toYAML renders objects as one multi-document YAML stream.
func toYAML(t *testing.T, objects ...any) string {
	t.Helper()
	var docs []string
	for _, obj := range objects {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			obj = u.Object
		}
		data, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(data))
	}
	return strings.Join(docs, "---\n")
}

// TestPrometheusAlerts runs promtool (Debian's prometheus package; make
// promtool installs it) on the PrometheusRule's groups: promtool check
// rules, then the unit tests of config/prometheus/tests/alerts_test.yaml,
// which feed each alert the series the manager serves and check when it
// fires, with which labels and with which rendered annotations.
func TestPrometheusAlerts(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is needed (make promtool installs Debian's prometheus package): ", err)
	}
	groups, found, err := unstructured.NestedSlice(oneOfKind(t, decodeAll(t, kustomize(t, "config/prometheus")), "PrometheusRule").Object, "spec", "groups")
	if err != nil || !found {
		t.Fatalf("the PrometheusRule's spec.groups: found %v, %v", found, err)
	}
	rules, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests, err := os.ReadFile(filepath.Join(repoRoot, "config", "prometheus", "tests", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"rules.yaml": rules, "alerts_test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
