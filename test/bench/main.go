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

// Command bench measures certsmith against a local control plane: the built
// bin/manager runs as its own process, as the operator's ServiceAccount bound
// only to the RBAC generated into config/rbac, with leader election off.
//
// For every run it starts a fresh control plane (etcd and kube-apiserver from
// bin/k8s, through hack/cluster.sh, in its own directory and ports), applies
// config/default, optionally fills the cluster with unrelated Secrets and
// with a tenant's Secrets and ConfigMaps that carry certsmith's labels
// (which anyone can set) but belong to no certificate, starts a fresh
// manager (so that its peak RSS is the run's own), creates a
// ClusterIssuer and then N ServiceCertificates at once from many goroutines,
// and measures:
//
//   - the seconds from the first create until every certificate is Ready, and
//     each certificate's latency from its create to its Ready, seen by a watch;
//   - the API server's mutating requests (apiserver_request_total) until all
//     are Ready and until settled, split by verb and resource, and its 409s;
//   - the CPU seconds of the manager, kube-apiserver, etcd, the harness and
//     everything else on the machine, and the manager's peak RSS (VmHWM);
//   - the spread of status.renewalTime over the certificates' lifetime.
//
// With -pod-certificates it also measures, each on a control plane of its
// own, the pod-certificate signer: it creates Nodes, ServiceAccounts and
// Pods with podCertificate volumes (no kubelet runs, so the harness plays
// it), a ClusterIssuer with spec.podCertificates, then
// -foreign-pod-certificates PodCertificateRequests of a signer that is not
// certsmith's and N of its own, and measures the time until all of its own
// are Issued, the API writes per request, and the manager's memory after
// each step (after a forced GC), so that what foreign requests cost is seen
// next to what its own cost.
//
// It prints one table, the details, and the Go benchmarks of internal/pki.
// Everything it starts is stopped, and its cluster directory removed, when it
// ends, on failure and on SIGINT or SIGTERM too.
//
//	make bench
//	go run ./test/bench -n 200,1000 -keys ECDSA,RSA -secrets 5000
//	go run ./test/bench -n 200 -keys ECDSA -secrets 0 -labelled-secrets 150 -labelled-configmaps 50
//	go run ./test/bench -keys= -secrets 0 -pod-certificates 1000 -foreign-pod-certificates 1000
//
// docs/benchmarks.md has the results and how to read them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/certsmith/certsmith/test/internal/harness"
	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// config holds the command-line settings.
type config struct {
	// createWith is how the ServiceCertificates are created: "clients"
	// (concurrency goroutines) or "kubectl" (one kubectl create -f).
	createWith    string
	sizes         []int
	keys          []string
	secrets       int
	secretSize    int
	secretsSizes  []int
	concurrency   int
	settle        time.Duration
	runTimeout    time.Duration
	etcdPort      int
	apiPort       int
	clusterDir    string
	managerPath   string
	managerArgs   []string
	managerEnv    []string
	profileDir    string
	profileSecs   int
	goBench       bool
	repoRoot      string
	renewalSample int
	// restN names the run measured at rest (idle), in a resync and a rotation (rotate).
	restN  int
	idle   time.Duration
	rotate bool
	repeat int
	// labelledSecrets and labelledConfigMaps are the tenant's objects with
	// certsmith's labels, created before the manager starts in every run.
	labelledSecrets, labelledSecretSize       int
	labelledConfigMaps, labelledConfigMapSize int
	// podCertificateSizes are the numbers of PodCertificateRequests of the
	// pod-certificate runs (none by default); foreignPodCertificates the
	// requests of another signer created before them in each.
	podCertificateSizes    []int
	foreignPodCertificates int
}

func main() {
	// The harness's clients log nothing worth seeing; the manager logs to its own file.
	ctrllog.SetLogger(logr.Discard())
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runAll(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

func parseFlags() (*config, error) {
	var (
		sizes, keys, secretsSizes, managerArgs, managerEnv, podSizes string
		cfg                                                          config
	)
	flag.StringVar(&sizes, "n", "200,1000", "Numbers of ServiceCertificates created at once, comma-separated.")
	flag.StringVar(&keys, "keys", "ECDSA,RSA", "Private key algorithms of the certificates: ECDSA (P-256), RSA (2048).")
	flag.IntVar(&cfg.secrets, "secrets", 5000, "Unrelated Secrets created before the manager starts, in the runs named by -secrets-n (0: none).")
	flag.IntVar(&cfg.secretSize, "secret-size", 10*1024, "Bytes of data in each unrelated Secret.")
	flag.StringVar(&secretsSizes, "secrets-n", "", "Numbers of ECDSA certificates that are measured again with the unrelated Secrets (default: every -n).")
	flag.IntVar(&cfg.labelledSecrets, "labelled-secrets", 0, "Secrets labelled "+managedByLabel+" that no ServiceCertificate refers to, created in namespace "+tenantNamespace+" before the manager starts, in every run.")
	flag.IntVar(&cfg.labelledSecretSize, "labelled-secret-size", maxObjectData, "Bytes of data in each labelled Secret (at most 1 MiB, the API server's limit).")
	flag.IntVar(&cfg.labelledConfigMaps, "labelled-configmaps", 0, "ConfigMaps labelled "+managedByLabel+" and "+bundleIssuerLabel+" (a bundle ConfigMap's labels) that certsmith did not write, created in namespace "+tenantNamespace+" before the manager starts, in every run.")
	flag.IntVar(&cfg.labelledConfigMapSize, "labelled-configmap-size", maxObjectData, "Bytes of data in each labelled ConfigMap (at most 1 MiB, the API server's limit).")
	flag.StringVar(&podSizes, "pod-certificates", "", "Numbers of PodCertificateRequests, comma-separated, each measured in a run of its own after the other runs (default and 0: no such run); see -foreign-pod-certificates. -keys= -secrets 0 leaves only these runs.")
	flag.IntVar(&cfg.foreignPodCertificates, "foreign-pod-certificates", 1000, "PodCertificateRequests of the signer "+foreignSignerName+", which is not certsmith's, created in each pod-certificate run before certsmith's own (0: none).")
	flag.StringVar(&cfg.createWith, "create", createWithClients, "How the ServiceCertificates are created: \""+createWithClients+"\" (-concurrency goroutines, each a client) or \""+createWithKubectl+"\" (one kubectl create -f of a List of them all, as a user applies a file).")
	flag.IntVar(&cfg.concurrency, "concurrency", 50, "Goroutines that create the ServiceCertificates and the objects created before the manager.")
	flag.DurationVar(&cfg.settle, "settle", 10*time.Second, "How long after the last Ready the run goes on, to count late writes.")
	flag.DurationVar(&cfg.runTimeout, "timeout", 10*time.Minute, "Give up a run when not every certificate is Ready after this long.")
	flag.IntVar(&cfg.etcdPort, "etcd-port", 61379, "etcd's client port (the peer port is one above).")
	flag.IntVar(&cfg.apiPort, "api-port", 61443, "kube-apiserver's port.")
	flag.StringVar(&cfg.clusterDir, "cluster-dir", "bin/bench-cluster", "The control plane's directory (removed at the end), relative to the repository root.")
	flag.StringVar(&cfg.managerPath, "manager", "bin/manager", "The manager binary: an absolute path, or relative to the repository root.")
	flag.StringVar(&managerArgs, "manager-args", "", "Extra flags for the manager, space-separated (for example \"--workers=8 --kube-api-qps=200\").")
	flag.StringVar(&managerEnv, "manager-env", "", "Environment variables for the manager, space-separated (for example \"GOMEMLIMIT=48MiB\"); GOGC, GOMEMLIMIT and GODEBUG are otherwise unset.")
	flag.StringVar(&cfg.profileDir, "profile-dir", "", "If set, CPU profiles of the manager and kube-apiserver during the largest ECDSA run and the largest pod-certificate run, the manager's heap profiles (after the ECDSA run; at each memory reading of the pod-certificate run), and every manager's log go here; the profiles' top functions are printed.")
	flag.IntVar(&cfg.profileSecs, "profile-seconds", 15, "Length of the CPU profiles, from the first create.")
	flag.BoolVar(&cfg.goBench, "gobench", true, "Also run the Go benchmarks of internal/pki (go test -bench . -benchmem).")
	flag.IntVar(&cfg.repeat, "repeat", 1, "Measure every run this many times (each on a fresh control plane), and print the median, minimum and maximum.")
	flag.IntVar(&cfg.restN, "idle-n", 0, "The run (ECDSA, this N, no unrelated Secrets, the first repetition) that, once settled, stays at rest for -idle, then measures a full resync by a fresh manager and, with -rotate, a CA rotation of every certificate (0: none).")
	flag.DurationVar(&cfg.idle, "idle", 10*time.Minute, "How long the -idle-n run stays at rest (0: no rest, only the resync and rotation).")
	flag.BoolVar(&cfg.rotate, "rotate", true, "In the -idle-n run, measure a CA rotation of every certificate after the resync.")
	flag.IntVar(&cfg.renewalSample, "renewal-n", 1000, "The run (ECDSA, this N, no unrelated Secrets) whose status.renewalTime spread is shown; the largest ECDSA run if none has this N.")
	flag.Parse()
	if flag.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", flag.Args())
	}
	var err error
	if cfg.sizes, err = parseInts(sizes); err != nil {
		return nil, fmt.Errorf("-n: %w", err)
	}
	if podSizes = strings.TrimSpace(podSizes); podSizes != "" && podSizes != "0" {
		if cfg.podCertificateSizes, err = parseInts(podSizes); err != nil {
			return nil, fmt.Errorf("-pod-certificates: %w", err)
		}
	}
	if secretsSizes == "" {
		cfg.secretsSizes = cfg.sizes
	} else if cfg.secretsSizes, err = parseInts(secretsSizes); err != nil {
		return nil, fmt.Errorf("-secrets-n: %w", err)
	}
	for _, k := range strings.Split(keys, ",") {
		switch k = strings.ToUpper(strings.TrimSpace(k)); k {
		case keyECDSA, keyRSA:
			cfg.keys = append(cfg.keys, k)
		case "":
		default:
			return nil, fmt.Errorf("-keys: unknown algorithm %q (ECDSA or RSA)", k)
		}
	}
	if len(cfg.keys) == 0 && cfg.secrets == 0 && len(cfg.podCertificateSizes) == 0 {
		return nil, errors.New("nothing to run: -keys names no algorithm, -secrets is 0 and -pod-certificates is not set")
	}
	cfg.managerArgs = strings.Fields(managerArgs)
	cfg.managerEnv = strings.Fields(managerEnv)
	if cfg.repeat < 1 {
		return nil, errors.New("-repeat must be at least 1")
	}
	if cfg.concurrency < 1 {
		return nil, errors.New("-concurrency must be at least 1")
	}
	if cfg.createWith != createWithClients && cfg.createWith != createWithKubectl {
		return nil, fmt.Errorf("-create must be %q or %q", createWithClients, createWithKubectl)
	}
	for name, count := range map[string]int{"-secrets": cfg.secrets, "-labelled-secrets": cfg.labelledSecrets, "-labelled-configmaps": cfg.labelledConfigMaps,
		"-foreign-pod-certificates": cfg.foreignPodCertificates} {
		if count < 0 {
			return nil, fmt.Errorf("%s must not be negative", name)
		}
	}
	for name, size := range map[string]int{"-secret-size": cfg.secretSize, "-labelled-secret-size": cfg.labelledSecretSize, "-labelled-configmap-size": cfg.labelledConfigMapSize} {
		if size < 0 || size > maxObjectData {
			return nil, fmt.Errorf("%s must be between 0 and %d bytes (the API server's limit)", name, maxObjectData)
		}
	}
	if cfg.repoRoot, err = harness.RepoRoot(); err != nil {
		return nil, err
	}
	for _, p := range []*string{&cfg.clusterDir, &cfg.managerPath} {
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(cfg.repoRoot, *p)
		}
	}
	if cfg.profileDir != "" && !filepath.IsAbs(cfg.profileDir) {
		cfg.profileDir = filepath.Join(cfg.repoRoot, cfg.profileDir)
	}
	return &cfg, nil
}

// Key algorithms of the benchmark's certificates.
const (
	keyECDSA = "ECDSA"
	keyRSA   = "RSA"
)

// runSpec is one measurement: a fresh control plane and a fresh manager.
type runSpec struct {
	n       int
	key     string
	secrets int
	// labelledSecrets and labelledConfigMaps count the tenant's objects
	// with certsmith's labels.
	labelledSecrets, labelledConfigMaps int
	profile                             bool
	// rest: measured at rest, in a resync and a rotation after settling.
	rest bool
	// rep counts the repetitions of the same measurement from 1, of repeat.
	rep, repeat int
}

// name names the measurement, without the repetition.
func (s runSpec) name() string {
	name := fmt.Sprintf("%s N=%d", s.key, s.n)
	if s.secrets > 0 {
		name += fmt.Sprintf(" +%d Secrets", s.secrets)
	}
	if s.labelledSecrets > 0 {
		name += fmt.Sprintf(" +%d labelled Secrets", s.labelledSecrets)
	}
	if s.labelledConfigMaps > 0 {
		name += fmt.Sprintf(" +%d labelled ConfigMaps", s.labelledConfigMaps)
	}
	return name
}

func (s runSpec) String() string {
	if s.repeat > 1 {
		return fmt.Sprintf("%s #%d", s.name(), s.rep)
	}
	return s.name()
}

// plan lists the runs: every size for every key algorithm, then the ECDSA
// sizes again with the unrelated Secrets. The tenant's labelled objects are
// in every run.
func plan(cfg *config) []runSpec {
	var runs []runSpec
	largestECDSA := -1
	for _, key := range cfg.keys {
		for _, n := range cfg.sizes {
			runs = append(runs, runSpec{n: n, key: key})
			if key == keyECDSA && (largestECDSA < 0 || n > runs[largestECDSA].n) {
				largestECDSA = len(runs) - 1
			}
		}
	}
	if cfg.profileDir != "" && largestECDSA >= 0 {
		runs[largestECDSA].profile = true
	}
	if cfg.secrets > 0 {
		for _, n := range cfg.secretsSizes {
			runs = append(runs, runSpec{n: n, key: keyECDSA, secrets: cfg.secrets})
		}
	}
	for i := range runs {
		runs[i].labelledSecrets, runs[i].labelledConfigMaps = cfg.labelledSecrets, cfg.labelledConfigMaps
	}
	repeat := max(cfg.repeat, 1)
	var repeated []runSpec
	for rep := 1; rep <= repeat; rep++ {
		for _, r := range runs {
			r.rep, r.repeat = rep, repeat
			// Only the first repetition is profiled, or measured at rest.
			r.profile = r.profile && rep == 1
			r.rest = cfg.restN > 0 && r.n == cfg.restN && r.key == keyECDSA && r.secrets == 0 && rep == 1
			repeated = append(repeated, r)
		}
	}
	return repeated
}

func runAll(ctx context.Context, cfg *config) error {
	for _, path := range []string{cfg.managerPath, filepath.Join(cfg.repoRoot, "bin", "k8s", "kube-apiserver"),
		filepath.Join(cfg.repoRoot, "bin", "k8s", "etcd"), filepath.Join(cfg.repoRoot, "bin", "k8s", "kubectl")} {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s is missing: run make build k8s-binaries", path)
		}
	}
	machine := describeMachine()
	fmt.Print(machine.String())
	fmt.Printf("manager: %s %s %s\n\n", strings.Join(cfg.managerEnv, " "), cfg.managerPath, strings.Join(cfg.managerArgs, " "))

	var results []*runResult
	for _, spec := range plan(cfg) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Printf("=== %s (load average before: %s)\n", spec, loadAverage())
		result, err := runOne(ctx, cfg, spec)
		if err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		fmt.Printf("    all Ready in %.2fs; load average after: %s\n", result.allReady.Seconds(), loadAverage())
		results = append(results, result)
	}

	var podResults []*podRunResult
	for _, spec := range podPlan(cfg) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Printf("=== %s (load average before: %s)\n", spec, loadAverage())
		result, err := runPodCertificates(ctx, cfg, spec)
		if err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		fmt.Printf("    all Issued in %.2fs; load average after: %s\n", result.allIssued.Seconds(), loadAverage())
		podResults = append(podResults, result)
	}

	if len(results) > 0 {
		fmt.Println()
		printSummary(os.Stdout, results)
		printRepeats(os.Stdout, results)
		printWrites(os.Stdout, results)
		printCPU(os.Stdout, results)
		printRenewal(os.Stdout, results, cfg.renewalSample)
		printRest(os.Stdout, results)
		for _, r := range results {
			if r.profileTop != "" {
				fmt.Printf("\n## CPU profile during %s\n\n%s\n", r.spec, r.profileTop)
			}
		}
	}
	if len(podResults) > 0 {
		fmt.Println()
		printPodCertificates(os.Stdout, podResults)
		for _, r := range podResults {
			if r.profileTop != "" {
				fmt.Printf("\n## CPU profile during %s\n\n%s\n", r.spec, r.profileTop)
			}
		}
	}
	if cfg.goBench {
		out, err := goBenchmarks(ctx, cfg.repoRoot)
		if err != nil {
			return err
		}
		fmt.Printf("\n## Go benchmarks of internal/pki\n\n```\n%s```\n", out)
	}
	fmt.Printf("\nload average at the end: %s\n", loadAverage())
	return nil
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no numbers")
	}
	return out, nil
}
