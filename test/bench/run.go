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
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/test/internal/harness"
)

const (
	benchNamespace     = "bench"
	unrelatedNamespace = "unrelated"
	// tenantNamespace holds a tenant's objects that carry certsmith's labels.
	tenantNamespace = "tenant"
	issuerName      = "bench"
	// maxObjectData is the most data the API server takes in one Secret or ConfigMap.
	maxObjectData = 1 << 20
	// managedByLabel and bundleIssuerLabel are the labels of the tenant's
	// objects: the bundle ConfigMaps claim the benchmark's own issuer, so
	// that each one maps to a reconcile that really happens.
	managedByLabel    = certsmithv1alpha1.LabelManagedBy + "=" + certsmithv1alpha1.ManagedByValue
	bundleIssuerLabel = certsmithv1alpha1.LabelBundleIssuer + "=" + issuerName
)

// runResult is what one run measured.
type runResult struct {
	spec runSpec
	// created is from the first create until the last create returned.
	created time.Duration
	// allReady is from the first create until the watch saw the last certificate Ready.
	allReady time.Duration
	// start is the first create; lastReadyServer the latest Ready
	// condition's lastTransitionTime (the API server's clock, whole seconds).
	start, lastReadyServer time.Time
	// latencies, sorted, are each certificate's create-to-Ready times.
	latencies []time.Duration
	// untilReady and settled are the API writes from the first create until
	// all were Ready, and until the settle time after that.
	untilReady, settled writeSummary
	// cpuReady and cpuSettled are the CPU used in the same windows.
	cpuReady, cpuSettled cpuDelta
	// managerMemory is the manager's resident memory after settling (VmHWM: its peak).
	managerMemory memoryInfo
	// renewalShares are each certificate's (renewalTime - notBefore) / lifetime.
	renewalShares []float64
	// secrets counts the certificate Secrets found after settling.
	secrets int
	// managerMetrics summarises the manager's own metrics after settling.
	managerMetrics managerMetrics
	// profileTop is the top of the CPU profiles, if taken.
	profileTop string
	// watchRestarts counts how often the harness's watch had to be re-opened.
	watchRestarts int
	// touched says which of the objects created before the manager it
	// changed or deleted, which it must never do.
	touched []string
	// reads are the GET and LIST requests until settled, by resource.
	reads map[requestKey]int
	// rest is the cost at rest, of a resync and of a rotation (-idle-n).
	rest *restResult
}

// commands runs go test and go tool pprof, each for at most
// harness.DefaultCommandTimeout.
var commands harness.Runner

var scheme = runtime.NewScheme()

func init() {
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := certsmithv1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}
}

// runOne measures one runSpec on a fresh control plane with a fresh manager.
func runOne(ctx context.Context, cfg *config, spec runSpec) (result *runResult, err error) {
	cp := newControlPlane(cfg)
	defer func() {
		if stopErr := cp.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()
	cluster, err := startCluster(ctx, cp, benchNamespace, unrelatedNamespace, tenantNamespace)
	if err != nil {
		return nil, err
	}
	c, clientset := cluster.c, cluster.clientset
	fillers := spec.fillers(cfg)
	for _, f := range fillers {
		started := time.Now()
		if err := f.create(ctx, c, cfg.concurrency); err != nil {
			return nil, err
		}
		fmt.Printf("    created %s in %.1fs\n", f, time.Since(started).Seconds())
	}

	run, err := startManager(ctx, cfg, cluster, spec.profile)
	// A manager that exited by itself is reported below, from its log.
	defer run.stop()
	if err != nil {
		return nil, err
	}
	mgr, metricsAddr, pprofAddr, pids, snapshot := run.mgr, run.metricsAddr, run.pprofAddr, run.pids, run.snapshot
	if err := createIssuer(ctx, c, false); err != nil {
		return nil, fmt.Errorf("%w; the manager's log ends with:\n%s", err, mgr.LogTail())
	}
	// Let the issuer's own writes (CA Secret, status, Event) finish.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return nil, err
	}

	result = &runResult{spec: spec}
	tracker := newReadyTracker(spec.n, certificateName)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchErr := make(chan error, 1)
	go func() { watchErr <- tracker.watch(watchCtx, c, &result.watchRestarts) }()
	if err := tracker.waitWatching(ctx, watchErr); err != nil {
		return nil, err
	}

	counts0, cpu0, err := snapshot()
	if err != nil {
		return nil, err
	}
	var profiles *profileSet
	if spec.profile {
		profiles = startProfiles(ctx, cfg, spec, pprofAddr, clientset.RESTClient())
	}

	// Create them all at once.
	start := time.Now()
	result.start = start
	tracker.setStart(start)
	if cfg.createWith == createWithKubectl {
		if err := createCertificatesWithKubectl(ctx, cfg, cp.Kubeconfig(), spec, tracker); err != nil {
			return nil, err
		}
	} else if err := createCertificates(ctx, c, spec, cfg.concurrency, tracker); err != nil {
		return nil, err
	}
	result.created = time.Since(start)
	fmt.Printf("    created %d ServiceCertificates in %.2fs (%s)\n", spec.n, result.created.Seconds(), createdWith(cfg))

	timeout := time.NewTimer(cfg.runTimeout)
	defer timeout.Stop()
	select {
	case <-tracker.done:
	case err := <-watchErr:
		return nil, fmt.Errorf("watching ServiceCertificates: %w", err)
	case <-mgr.Exited():
		return nil, fmt.Errorf("the manager exited; its log ends with:\n%s", mgr.LogTail())
	case <-timeout.C:
		return nil, fmt.Errorf("only %d of %d certificates were Ready after %s; the manager's log ends with:\n%s",
			tracker.readyCount(), spec.n, cfg.runTimeout, mgr.LogTail())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	counts1, cpu1, err := snapshot()
	if err != nil {
		return nil, err
	}
	result.allReady, result.latencies = tracker.results()

	if err := sleep(ctx, cfg.settle); err != nil {
		return nil, err
	}
	counts2, cpu2, err := snapshot()
	if err != nil {
		return nil, err
	}
	stopWatch()
	if result.managerMemory, err = procMemory(pids["manager"]); err != nil {
		return nil, err
	}
	result.reads = summarizeReads(counts0.delta(counts2))
	result.untilReady = summarizeWrites(counts0.delta(counts1), spec.n)
	result.settled = summarizeWrites(counts0.delta(counts2), spec.n)
	result.cpuReady, result.cpuSettled = cpu0.to(cpu1), cpu0.to(cpu2)
	if result.managerMetrics, err = scrapeManagerMetrics(ctx, metricsAddr); err != nil {
		return nil, err
	}
	if err := result.inspect(ctx, c); err != nil {
		return nil, err
	}
	for _, f := range fillers {
		touched, err := f.touched(ctx, c)
		if err != nil {
			return nil, err
		}
		if touched != "" {
			// A finding about the manager, not a failed measurement: the
			// figures stand, and the report shows it.
			result.touched = append(result.touched, touched)
			fmt.Printf("    WARNING: %s\n", touched)
		}
	}
	if profiles != nil {
		result.profileTop = profiles.wait()
		result.profileTop += "\n" + heapProfile(ctx, cfg, spec, pprofAddr)
	}
	if spec.rest {
		rest, fresh, err := measureRest(ctx, cfg, cluster, run, spec.n)
		defer fresh.stop()
		if err != nil {
			return nil, err
		}
		result.rest = rest
		mgr = fresh.mgr
	}
	if cfg.profileDir != "" {
		// Keep the manager's log (the cluster directory is removed).
		if data, err := os.ReadFile(mgr.LogPath); err == nil {
			_ = os.WriteFile(filepath.Join(cfg.profileDir, strings.ToLower(fmt.Sprintf("manager-%s-%d-%d-%d.log", spec.key, spec.n, spec.secrets, spec.rep))), data, 0o644)
		}
	}
	if !mgr.Running() {
		return nil, fmt.Errorf("the manager exited during the run; its log ends with:\n%s", mgr.LogTail())
	}
	return result, nil
}

// newControlPlane describes the run's control plane, not started.
func newControlPlane(cfg *config) *harness.ControlPlane {
	return &harness.ControlPlane{RepoRoot: cfg.repoRoot, Dir: cfg.clusterDir, EtcdPort: cfg.etcdPort, APIServerPort: cfg.apiPort}
}

// benchCluster is a started control plane and the admin's clients.
type benchCluster struct {
	cp        *harness.ControlPlane
	c         client.WithWatch
	clientset *kubernetes.Clientset
}

// startCluster starts cp, installs config/default, writes the operator's
// kubeconfig and creates the namespaces. The caller stops cp, also when
// this fails.
func startCluster(ctx context.Context, cp *harness.ControlPlane, namespaces ...string) (*benchCluster, error) {
	if err := cp.Start(ctx); err != nil {
		return nil, err
	}
	if err := cp.InstallDefault(ctx); err != nil {
		return nil, err
	}
	if err := cp.WriteOperatorKubeconfig(ctx); err != nil {
		return nil, err
	}
	restConfig, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig())
	if err != nil {
		return nil, err
	}
	// Every run has a new cluster CA at the same path: load the files, so
	// that client-go's transport cache (keyed by the CA file's path when it
	// may reload it) does not hand out the previous run's transport.
	if err := embedTLSFiles(&restConfig.TLSClientConfig); err != nil {
		return nil, err
	}
	// The harness is the cluster admin (exempt from API Priority and
	// Fairness) with no client-side rate limit, so it is not the bottleneck.
	restConfig.QPS, restConfig.Burst = -1, 0
	c, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	clientset, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, err
	}
	for _, ns := range namespaces {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, err
		}
	}
	return &benchCluster{cp: cp, c: c, clientset: clientset}, nil
}

// managerRun is a started manager and what measures it.
type managerRun struct {
	mgr *harness.Manager
	// metricsAddr serves its /metrics; pprofAddr its profiler, when on.
	metricsAddr, pprofAddr string
	// pids are the measured processes: manager, kube-apiserver, etcd, harness.
	pids map[string]string
	// snapshot reads the API server's request counters and every
	// measured process's CPU time.
	snapshot func() (requestCounts, cpuSnapshot, error)
}

// stop stops the manager if it was started; an error here is not the
// run's (a manager that exited by itself is reported from its log).
func (r *managerRun) stop() {
	if r != nil && r.mgr != nil {
		_ = r.mgr.Stop()
	}
}

// startManager starts a fresh manager (see newManager) and waits until it
// is ready. The caller calls stop on what it returns, also on an error.
func startManager(ctx context.Context, cfg *config, cluster *benchCluster, pprof bool) (*managerRun, error) {
	run := &managerRun{}
	var err error
	if run.metricsAddr, err = harness.FreeLoopbackAddress(); err != nil {
		return run, err
	}
	mgr, pprofAddr, err := newManager(cluster.cp, cfg, run.metricsAddr, pprof)
	if err != nil {
		return run, err
	}
	run.pprofAddr = pprofAddr
	if err := mgr.Start(); err != nil {
		return run, err
	}
	run.mgr = mgr
	if err := mgr.WaitReady(ctx, 60*time.Second); err != nil {
		return run, err
	}
	run.pids = map[string]string{"manager": strconv.Itoa(mgr.PID()), "harness": strconv.Itoa(os.Getpid())}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		pid, err := cluster.cp.PID(name)
		if err != nil {
			return run, err
		}
		run.pids[name] = strconv.Itoa(pid)
	}
	pids := run.pids
	run.snapshot = func() (requestCounts, cpuSnapshot, error) {
		raw, err := cluster.clientset.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			return nil, cpuSnapshot{}, fmt.Errorf("reading the API server's metrics: %w", err)
		}
		counts, err := parseRequestCounts(raw)
		if err != nil {
			return nil, cpuSnapshot{}, err
		}
		s := cpuSnapshot{at: time.Now()}
		for name, target := range map[string]*time.Duration{"manager": &s.manager, "kube-apiserver": &s.apiserver, "etcd": &s.etcd, "harness": &s.harness} {
			if *target, err = procCPU(pids[name]); err != nil {
				return nil, cpuSnapshot{}, fmt.Errorf("CPU time of %s: %w", name, err)
			}
		}
		if s.all, s.steal, err = machineBusy(); err != nil {
			return nil, cpuSnapshot{}, err
		}
		return counts, s, nil
	}
	return run, nil
}

// newManager returns the manager, not started, with leader election off
// and its metrics server on metricsAddr; with profile, pprof is served on a
// free loopback port, which it returns. GOGC, GOMEMLIMIT and GODEBUG are not
// passed on, so the manager runs with the Go runtime's defaults as in its
// Deployment, unless -manager-env sets them. It dies with the benchmark.
func newManager(cp *harness.ControlPlane, cfg *config, metricsAddr string, profile bool) (mgr *harness.Manager, pprofAddr string, err error) {
	mgr = cp.NewManager(cfg.managerPath)
	mgr.MetricsAddress = metricsAddr
	if profile {
		if pprofAddr, err = harness.FreeLoopbackAddress(); err != nil {
			return nil, "", err
		}
		mgr.Args = append(mgr.Args, "--pprof-bind-address="+pprofAddr)
	}
	mgr.Args = append(mgr.Args, cfg.managerArgs...)
	mgr.Env = cfg.managerEnv
	mgr.DropEnv = []string{"GOGC", "GOMEMLIMIT", "GODEBUG"}
	mgr.KillWithHarness = true
	return mgr, pprofAddr, nil
}

// embedTLSFiles replaces the CA, certificate and key files of a client
// configuration by their contents.
func embedTLSFiles(tls *rest.TLSClientConfig) error {
	for _, f := range []struct {
		path *string
		data *[]byte
	}{{&tls.CAFile, &tls.CAData}, {&tls.CertFile, &tls.CertData}, {&tls.KeyFile, &tls.KeyData}} {
		if *f.path == "" {
			continue
		}
		data, err := os.ReadFile(*f.path)
		if err != nil {
			return err
		}
		*f.data, *f.path = data, ""
	}
	return nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// createIssuer creates the ClusterIssuer "bench" (a generated ECDSA P-256
// root, the CA issuer of the reference measurement), with
// "podCertificates: {}" when podCertificates is set, and waits until it is
// Ready.
func createIssuer(ctx context.Context, c client.Client, podCertificates bool) error {
	issuer := &certsmithv1alpha1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: issuerName},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{
			SelfSigned: &certsmithv1alpha1.GeneratedCA{},
		}},
	}
	if podCertificates {
		issuer.Spec.PodCertificates = &certsmithv1alpha1.PodCertificatePolicy{}
	}
	if err := c.Create(ctx, issuer); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := c.Get(ctx, client.ObjectKeyFromObject(issuer), issuer); err != nil {
			return err
		}
		if meta.IsStatusConditionTrue(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ClusterIssuer %s did not become Ready: %+v", issuerName, issuer.Status.Conditions)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// certificateName is the name of the i-th ServiceCertificate.
func certificateName(i int) string { return fmt.Sprintf("cert-%05d", i) }

// createCertificates creates spec.n ServiceCertificates from concurrency goroutines.
func createCertificates(ctx context.Context, c client.Client, spec runSpec, concurrency int, tracker *readyTracker) error {
	return parallel(ctx, spec.n, concurrency, func(ctx context.Context, i int) error {
		sc := newBenchCertificate(spec, i)
		tracker.sent(i, time.Now())
		if err := c.Create(ctx, sc); err != nil {
			return fmt.Errorf("creating ServiceCertificate %s: %w", sc.Name, err)
		}
		return nil
	})
}

// newBenchCertificate is the i-th ServiceCertificate of a run.
func newBenchCertificate(spec runSpec, i int) *certsmithv1alpha1.ServiceCertificate {
	name := certificateName(i)
	sc := &certsmithv1alpha1.ServiceCertificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: certsmithv1alpha1.GroupVersion.String(), Kind: "ServiceCertificate"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: benchNamespace},
		Spec: certsmithv1alpha1.ServiceCertificateSpec{
			IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuerName},
			DNSNames:  []string{name + "." + benchNamespace + ".svc"},
		},
	}
	if spec.key == keyRSA {
		sc.Spec.PrivateKey = &certsmithv1alpha1.PrivateKey{Algorithm: certsmithv1alpha1.RSAKeyAlgorithm, Size: 2048}
	}
	return sc
}

// How the ServiceCertificates are created (-create).
const (
	createWithClients = "clients"
	createWithKubectl = "kubectl"
)

// createdWith describes -create for the output.
func createdWith(cfg *config) string {
	if cfg.createWith == createWithKubectl {
		return "one kubectl create -f"
	}
	return fmt.Sprintf("%d concurrent clients", cfg.concurrency)
}

// certificateList is the List of spec.n ServiceCertificates that
// createCertificates would create, as a file for kubectl.
func certificateList(spec runSpec) ([]byte, error) {
	items := make([]any, 0, spec.n)
	for i := range spec.n {
		items = append(items, newBenchCertificate(spec, i))
	}
	return json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
}

// createCertificatesWithKubectl creates spec.n ServiceCertificates with one
// kubectl create -f, which sends them one after another. Each certificate's
// latency is counted from the start, when the file is handed to kubectl.
func createCertificatesWithKubectl(ctx context.Context, cfg *config, kubeconfig string, spec runSpec, tracker *readyTracker) error {
	data, err := certificateList(spec)
	if err != nil {
		return err
	}
	file, err := os.CreateTemp("", "certsmith-bench-*.json")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(file.Name()) }()
	if _, err := file.Write(data); err != nil {
		_ = file.Close()
		return err
	}
	if err := file.Close(); err != nil {
		return err
	}
	now := time.Now()
	for i := range spec.n {
		tracker.sent(i, now)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.repoRoot, "bin", "k8s", "kubectl"), "--kubeconfig", kubeconfig, "create", "-f", file.Name(), "-o", "name")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tail := out
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("kubectl create -f: %w: %s", err, tail)
	}
	if created := bytes.Count(out, []byte("\n")); created != spec.n {
		return fmt.Errorf("kubectl create -f created %d of %d ServiceCertificates", created, spec.n)
	}
	return nil
}

// filler is a set of objects created before the manager starts that
// certsmith must neither pay for nor touch: unrelated Secrets, or a
// tenant's Secrets and ConfigMaps that carry certsmith's labels (which
// anyone can set) but belong to no certificate and no bundle.
type filler struct {
	// kind is "Secret" or "ConfigMap".
	kind              string
	description       string
	namespace, prefix string
	labels            map[string]string
	n, size           int
	// resourceVersions are those the API server returned on create, by index.
	resourceVersions []string
}

// fillers lists the objects a run creates before the manager starts.
func (s runSpec) fillers(cfg *config) []*filler {
	managed := map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue}
	bundle := map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue, certsmithv1alpha1.LabelBundleIssuer: issuerName}
	var out []*filler
	for _, f := range []*filler{
		{kind: "Secret", description: "unrelated Secrets", namespace: unrelatedNamespace, prefix: "unrelated", n: s.secrets, size: cfg.secretSize},
		{kind: "Secret", description: "labelled Secrets", namespace: tenantNamespace, prefix: "labelled", labels: managed, n: s.labelledSecrets, size: cfg.labelledSecretSize},
		{kind: "ConfigMap", description: "labelled ConfigMaps", namespace: tenantNamespace, prefix: "labelled", labels: bundle, n: s.labelledConfigMaps, size: cfg.labelledConfigMapSize},
	} {
		if f.n > 0 {
			out = append(out, f)
		}
	}
	return out
}

func (f *filler) String() string {
	return fmt.Sprintf("%d %s of %d bytes in namespace %s", f.n, f.description, f.size, f.namespace)
}

func (f *filler) name(i int) string { return fmt.Sprintf("%s-%05d", f.prefix, i) }

// create creates the objects from concurrency goroutines, each with the
// same random content of f.size bytes (text in a ConfigMap), and keeps
// their resourceVersions.
func (f *filler) create(ctx context.Context, c client.Client, concurrency int) error {
	random := make([]byte, f.size)
	if _, err := rand.Read(random); err != nil {
		return err
	}
	text := base64.StdEncoding.EncodeToString(random)[:f.size]
	f.resourceVersions = make([]string, f.n)
	return parallel(ctx, f.n, concurrency, func(ctx context.Context, i int) error {
		// Each object its own labels: the client decodes the answer into them.
		objectMeta := metav1.ObjectMeta{Name: f.name(i), Namespace: f.namespace, Labels: maps.Clone(f.labels)}
		var obj client.Object
		switch f.kind {
		case "Secret":
			obj = &corev1.Secret{ObjectMeta: objectMeta, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"data": random}}
		case "ConfigMap":
			obj = &corev1.ConfigMap{ObjectMeta: objectMeta, Data: map[string]string{"data": text}}
		default:
			return fmt.Errorf("filler of unknown kind %q", f.kind)
		}
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s %s/%s: %w", f.kind, f.namespace, obj.GetName(), err)
		}
		f.resourceVersions[i] = obj.GetResourceVersion()
		return nil
	})
}

// touched checks, by their metadata only, that the objects are all there
// with the resourceVersions they were created with, and otherwise says how
// many the manager changed or deleted.
func (f *filler) touched(ctx context.Context, c client.Client) (string, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(f.kind + "List"))
	if err := c.List(ctx, list, client.InNamespace(f.namespace)); err != nil {
		return "", err
	}
	found := make(map[string]string, len(list.Items))
	for _, item := range list.Items {
		found[item.Name] = item.ResourceVersion
	}
	var changed, deleted int
	for i, created := range f.resourceVersions {
		switch now, ok := found[f.name(i)]; {
		case !ok:
			deleted++
		case now != created:
			changed++
		}
	}
	if changed == 0 && deleted == 0 {
		return "", nil
	}
	return fmt.Sprintf("of the %d %s, the manager changed %d and deleted %d", f.n, f.description, changed, deleted), nil
}

// parallel runs do(0..n-1) on concurrency goroutines and returns the first error.
func parallel(ctx context.Context, n, concurrency int, do func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	indexes := make(chan int)
	errs := make(chan error, concurrency)
	var wg sync.WaitGroup
	for range min(concurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range indexes {
				if err := do(ctx, i); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case indexes <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(indexes)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// readyTracker records when each object (a ServiceCertificate, or a
// PodCertificateRequest) was created and first seen done (Ready, Issued).
type readyTracker struct {
	mu      sync.Mutex
	start   time.Time
	sentAt  []time.Time
	readyAt map[string]time.Time
	n       int
	// name is the name of the i-th object.
	name     func(int) string
	done     chan struct{}
	watching chan struct{}
}

func newReadyTracker(n int, name func(int) string) *readyTracker {
	return &readyTracker{sentAt: make([]time.Time, n), readyAt: map[string]time.Time{}, n: n, name: name,
		done: make(chan struct{}), watching: make(chan struct{})}
}

func (t *readyTracker) setStart(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.start = at
}

func (t *readyTracker) sent(i int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sentAt[i] = at
}

func (t *readyTracker) readyCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.readyAt)
}

// observe notes a certificate seen Ready for the first time.
func (t *readyTracker) observe(sc *certsmithv1alpha1.ServiceCertificate, at time.Time) {
	if meta.IsStatusConditionTrue(sc.Status.Conditions, certsmithv1alpha1.ConditionReady) {
		t.ready(sc.Name, at)
	}
}

// ready notes an object seen done; only the first time counts.
func (t *readyTracker) ready(name string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.readyAt[name]; seen {
		return
	}
	t.readyAt[name] = at
	if len(t.readyAt) == t.n {
		close(t.done)
	}
}

// waitWatching waits until the watch is open, so that no Ready is missed.
func (t *readyTracker) waitWatching(ctx context.Context, watchErr <-chan error) error {
	select {
	case <-t.watching:
		return nil
	case err := <-watchErr:
		return fmt.Errorf("watching: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errors.New("could not open the watch")
	}
}

// watch follows the benchmark's ServiceCertificates until ctx ends (see follow).
func (t *readyTracker) watch(ctx context.Context, c client.WithWatch, restarts *int) error {
	return t.follow(ctx, c, &certsmithv1alpha1.ServiceCertificateList{}, &client.ListOptions{Namespace: benchNamespace},
		func(obj client.Object) error {
			t.observe(obj.(*certsmithv1alpha1.ServiceCertificate), time.Now())
			return nil
		}, restarts)
}

// follow watches the objects of list that options select until ctx ends,
// and hands each added or modified one to seen; it re-opens the watch (from
// the last resource version seen, or afresh with the current state) if the
// API server closes it. An error from seen ends it.
func (t *readyTracker) follow(ctx context.Context, c client.WithWatch, list client.ObjectList, options *client.ListOptions,
	seen func(client.Object) error, restarts *int) error {
	resourceVersion := ""
	opened := false
	for ctx.Err() == nil {
		opts := *options
		opts.Raw = &metav1.ListOptions{ResourceVersion: resourceVersion}
		w, err := c.Watch(ctx, list, &opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if resourceVersion == "" {
				return err
			}
			resourceVersion = ""
			continue
		}
		if !opened {
			opened = true
			close(t.watching)
		} else {
			*restarts++
		}
		for event := range w.ResultChan() {
			switch event.Type {
			case watch.Added, watch.Modified:
				obj := event.Object.(client.Object)
				resourceVersion = obj.GetResourceVersion()
				if err := seen(obj); err != nil {
					w.Stop()
					return err
				}
			case watch.Error:
				resourceVersion = ""
			}
		}
		w.Stop()
	}
	return nil
}

// results returns the time from the first create until the last Ready and
// each certificate's latency, sorted.
func (t *readyTracker) results() (time.Duration, []time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var last time.Time
	latencies := make([]time.Duration, 0, t.n)
	for i, sent := range t.sentAt {
		ready := t.readyAt[t.name(i)]
		if ready.After(last) {
			last = ready
		}
		latencies = append(latencies, ready.Sub(sent))
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	return last.Sub(t.start), latencies
}

// inspect reads the certificates after settling: renewal times, and the
// Secrets they were written to.
func (r *runResult) inspect(ctx context.Context, c client.Client) error {
	var list certsmithv1alpha1.ServiceCertificateList
	if err := c.List(ctx, &list, client.InNamespace(benchNamespace)); err != nil {
		return err
	}
	for _, sc := range list.Items {
		s := sc.Status
		if s.RenewalTime == nil || s.NotBefore == nil || s.NotAfter == nil {
			return fmt.Errorf("ServiceCertificate %s has no renewalTime, notBefore or notAfter in status", sc.Name)
		}
		if ready := meta.FindStatusCondition(s.Conditions, certsmithv1alpha1.ConditionReady); ready != nil && ready.LastTransitionTime.After(r.lastReadyServer) {
			r.lastReadyServer = ready.LastTransitionTime.Time
		}
		lifetime := s.NotAfter.Sub(s.NotBefore.Time)
		r.renewalShares = append(r.renewalShares, float64(s.RenewalTime.Sub(s.NotBefore.Time))/float64(lifetime))
	}
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, client.InNamespace(benchNamespace),
		client.MatchingLabels{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue}); err != nil {
		return err
	}
	for _, s := range secrets.Items {
		if len(s.Data[corev1.TLSCertKey]) > 0 && len(s.Data[corev1.TLSPrivateKeyKey]) > 0 {
			r.secrets++
		}
	}
	if r.secrets != r.spec.n {
		return fmt.Errorf("%d certificate Secrets hold tls.crt and tls.key, not %d", r.secrets, r.spec.n)
	}
	return nil
}

// managerMetrics are counters from the manager's own /metrics.
type managerMetrics struct {
	// reconciles per controller.
	reconciles map[string]int
	// requests are the manager's requests to the API server, by method.
	requests map[string]int
	// queueWait is the mean time an item waited in each controller's work queue.
	queueWait map[string]time.Duration
	// heapInUse is the heap's spans in use (go_memstats_heap_inuse_bytes)
	// and heapLive the heap the last GC found live (go_gc_heap_live_bytes),
	// in bytes after settling; -1 when the manager does not export them.
	heapInUse, heapLive float64
	// podIssuance is certsmith_podcertificaterequest_issuance_duration_seconds,
	// all issuers together.
	podIssuance promHistogram
	// podIssued and podRefused count the PodCertificateRequests certsmith
	// issued, and denied or failed.
	podIssued, podRefused int
	// podWatched is certsmith_podcertificaterequests_watched: the requests
	// in the manager's caches, by signer and state (pending, finished).
	podWatched map[string]map[string]int
}

func scrapeManagerMetrics(ctx context.Context, addr string) (managerMetrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return managerMetrics{}, err
	}
	// Uncompressed: a gzip answer costs the manager a compressor of ~0.9 MiB
	// that its pool keeps across a GC or two, which would show up in the
	// heap figures this scrape reads as if it were the manager's own.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return managerMetrics{}, fmt.Errorf("reading the manager's metrics: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return managerMetrics{}, err
	}
	return parseManagerMetrics(raw)
}

// parseManagerMetrics reads the figures of managerMetrics from the text of
// the manager's /metrics.
func parseManagerMetrics(raw []byte) (managerMetrics, error) {
	m := managerMetrics{reconciles: map[string]int{}, requests: map[string]int{}, queueWait: map[string]time.Duration{},
		heapInUse: -1, heapLive: -1, podWatched: map[string]map[string]int{}}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return m, err
	}
	for _, metric := range families["controller_runtime_reconcile_total"].GetMetric() {
		m.reconciles[labelValue(metric.GetLabel(), "controller")] += int(metric.GetCounter().GetValue())
	}
	for _, metric := range families["rest_client_requests_total"].GetMetric() {
		m.requests[labelValue(metric.GetLabel(), "method")] += int(metric.GetCounter().GetValue())
	}
	for _, metric := range families["workqueue_queue_duration_seconds"].GetMetric() {
		h := metric.GetHistogram()
		if h.GetSampleCount() > 0 {
			m.queueWait[labelValue(metric.GetLabel(), "name")] = time.Duration(h.GetSampleSum() / float64(h.GetSampleCount()) * float64(time.Second))
		}
	}
	for name, target := range map[string]*float64{"go_memstats_heap_inuse_bytes": &m.heapInUse, "go_gc_heap_live_bytes": &m.heapLive} {
		if metrics := families[name].GetMetric(); len(metrics) == 1 {
			*target = metrics[0].GetGauge().GetValue()
		}
	}
	for _, metric := range families["certsmith_podcertificaterequest_issuance_duration_seconds"].GetMetric() {
		h := metric.GetHistogram()
		var buckets []promBucket
		for _, b := range h.GetBucket() {
			buckets = append(buckets, promBucket{upper: b.GetUpperBound(), count: b.GetCumulativeCount()})
		}
		m.podIssuance = m.podIssuance.add(promHistogram{count: h.GetSampleCount(), sum: h.GetSampleSum(), buckets: buckets})
	}
	for name, target := range map[string]*int{"certsmith_podcertificaterequests_issued_total": &m.podIssued, "certsmith_podcertificaterequests_refused_total": &m.podRefused} {
		for _, metric := range families[name].GetMetric() {
			*target += int(metric.GetCounter().GetValue())
		}
	}
	for _, metric := range families["certsmith_podcertificaterequests_watched"].GetMetric() {
		signer := labelValue(metric.GetLabel(), "signer")
		if m.podWatched[signer] == nil {
			m.podWatched[signer] = map[string]int{}
		}
		m.podWatched[signer][labelValue(metric.GetLabel(), "state")] += int(metric.GetGauge().GetValue())
	}
	return m, nil
}

// labelValue returns the value of the named label of a metric.
func labelValue[L interface {
	GetName() string
	GetValue() string
}](labels []L, name string) string {
	for _, l := range labels {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// profileSet is the CPU profiles of the manager and kube-apiserver being taken.
type profileSet struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	out []string
}

// startProfiles takes CPU profiles of the manager and kube-apiserver for
// cfg.profileSecs from now, into cfg.profileDir.
func startProfiles(ctx context.Context, cfg *config, spec runSpec, managerPprof string, apiserver rest.Interface) *profileSet {
	p := &profileSet{}
	tag := strings.ToLower(fmt.Sprintf("%s-%d", spec.key, spec.n))
	seconds := strconv.Itoa(cfg.profileSecs)
	take := func(name string, fetch func() ([]byte, error)) {
		defer p.wg.Done()
		data, err := fetch()
		text := ""
		if err == nil {
			path := filepath.Join(cfg.profileDir, name+"-"+tag+".pprof")
			if err = os.MkdirAll(cfg.profileDir, 0o755); err == nil {
				err = os.WriteFile(path, data, 0o644)
			}
			if err == nil {
				text, err = pprofTop(ctx, path)
				text = fmt.Sprintf("%s (%s):\n```\n%s```\n", name, path, text)
			}
		}
		if err != nil {
			text = fmt.Sprintf("%s: no profile: %v\n", name, err)
		}
		p.mu.Lock()
		p.out = append(p.out, text)
		p.mu.Unlock()
	}
	p.wg.Add(2)
	go take("manager", func() ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+managerPprof+"/debug/pprof/profile?seconds="+seconds, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("manager pprof: %s", resp.Status)
		}
		return io.ReadAll(resp.Body)
	})
	go take("kube-apiserver", func() ([]byte, error) {
		return apiserver.Get().AbsPath("/debug/pprof/profile").Param("seconds", seconds).DoRaw(ctx)
	})
	return p
}

// wait waits for the profiles and returns their top functions.
func (p *profileSet) wait() string {
	p.wg.Wait()
	sort.Strings(p.out)
	return strings.Join(p.out, "\n")
}

// heapProfile saves the manager's heap profile after settling (in-use
// memory and, with -sample_index=alloc_space, what the run allocated) and
// returns its top functions by in-use space.
func heapProfile(ctx context.Context, cfg *config, spec runSpec, managerPprof string) string {
	path := filepath.Join(cfg.profileDir, strings.ToLower(fmt.Sprintf("manager-heap-%s-%d.pprof", spec.key, spec.n)))
	err := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+managerPprof+"/debug/pprof/heap?gc=1", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		return os.WriteFile(path, data, 0o644)
	}()
	if err != nil {
		return fmt.Sprintf("manager heap: no profile: %v\n", err)
	}
	text, err := commands.Run(exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-sample_index=inuse_space", "-nodecount=25", path))
	if err != nil {
		return fmt.Sprintf("manager heap: %v\n", err)
	}
	return fmt.Sprintf("manager heap after settling (%s):\n```\n%s```\n", path, text)
}

// pprofTop returns the top functions of a CPU profile, by cumulative time.
func pprofTop(ctx context.Context, path string) (string, error) {
	return commands.Run(exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=30", path))
}

// goBenchmarks runs the Go benchmarks of internal/pki.
func goBenchmarks(ctx context.Context, repoRoot string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem", "./internal/pki/")
	cmd.Dir = repoRoot
	return commands.Run(cmd)
}
