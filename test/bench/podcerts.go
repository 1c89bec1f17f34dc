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

// The pod-certificate runs: PodCertificateRequests signed by a ClusterIssuer
// with spec.podCertificates, the way a kubelet asks for them, and as many
// requests of a signer that is not certsmith's, which must cost it nothing.
// The control plane has no kubelet and no scheduler, so the harness plays
// both as the cluster admin: it creates the Nodes, the ServiceAccounts and
// the Pods (spec.nodeName set, each with podCertificate projected volumes),
// then the requests with their UIDs and a stub PKCS#10 request signed by a
// key of its own, as a kubelet does.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// foreignSignerName is a signer that is not certsmith's: its requests
	// must reach neither the manager's caches nor its writes.
	foreignSignerName = "example.com/foreign"
	// podNodes and podServiceAccounts are how many Nodes and
	// ServiceAccounts the pods are spread over (pod i: node i mod podNodes,
	// ServiceAccount i mod podServiceAccounts).
	podNodes           = 10
	podServiceAccounts = 10
	// podKeyType is the key the harness generates for every request, as a
	// podCertificate volume's keyType names it.
	podKeyType = "ECDSAP256"
)

// ownSignerName is the signerName of the benchmark's issuer (its default).
const ownSignerName = "clusterissuers.certsmith.io/" + issuerName

// podRunSpec is one pod-certificate measurement: a fresh control plane and
// a fresh manager, foreign requests of another signer, then n of certsmith's.
type podRunSpec struct {
	n, foreign int
	profile    bool
	// rep counts the repetitions of the same measurement from 1, of repeat.
	rep, repeat int
}

// name names the measurement, without the repetition.
func (s podRunSpec) name() string {
	name := fmt.Sprintf("PCR N=%d", s.n)
	if s.foreign > 0 {
		name += fmt.Sprintf(" +%d foreign", s.foreign)
	}
	return name
}

func (s podRunSpec) String() string {
	if s.repeat > 1 {
		return fmt.Sprintf("%s #%d", s.name(), s.rep)
	}
	return s.name()
}

// profileTag names the profiles of the run (see startProfiles).
func (s podRunSpec) profileTag() runSpec { return runSpec{key: "pcr", n: s.n} }

// podPlan lists the pod-certificate runs: every size of -pod-certificates,
// each with -foreign-pod-certificates foreign requests, repeated like the
// other runs. With -profile-dir the largest is profiled, first repetition only.
func podPlan(cfg *config) []podRunSpec {
	var runs []podRunSpec
	largest := -1
	for _, n := range cfg.podCertificateSizes {
		runs = append(runs, podRunSpec{n: n, foreign: cfg.foreignPodCertificates})
		if largest < 0 || n > runs[largest].n {
			largest = len(runs) - 1
		}
	}
	if cfg.profileDir != "" && largest >= 0 {
		runs[largest].profile = true
	}
	repeat := max(cfg.repeat, 1)
	var repeated []podRunSpec
	for rep := 1; rep <= repeat; rep++ {
		for _, r := range runs {
			r.rep, r.repeat = rep, repeat
			r.profile = r.profile && rep == 1
			repeated = append(repeated, r)
		}
	}
	return repeated
}

// memorySample is the manager's memory right after a forced GC.
type memorySample struct {
	proc memoryInfo
	// heapLive and heapInUse are from its /metrics, after that GC.
	heapLive, heapInUse float64
}

// podRunResult is what one pod-certificate run measured.
type podRunResult struct {
	spec podRunSpec
	// created is from the first create of certsmith's requests until the
	// last create returned; allIssued until the watch saw the last Issued.
	created, allIssued time.Duration
	// start is the first create; lastIssuedServer the latest Issued
	// condition's lastTransitionTime (the manager's clock, whole seconds).
	start, lastIssuedServer time.Time
	// latencies, sorted, are each request's create-to-Issued times.
	latencies []time.Duration
	// untilIssued and settled are the API writes from the first create
	// until all were Issued, and until the settle time after that; reads
	// the GET and LIST requests until settled.
	untilIssued, settled writeSummary
	reads                map[requestKey]int
	// managerWrites counts the mutating requests the manager itself sent
	// (its rest_client_requests_total) from the first create until settled.
	managerWrites int
	cpuIssued     cpuDelta
	cpuSettled    cpuDelta
	// foreignWrites are the API writes while the foreign requests were
	// created and for the settle time after; foreignManagerWrites the
	// manager's own in that window; foreignTouched the foreign requests
	// that have a status afterwards.
	foreignWrites        writeSummary
	foreignManagerWrites int
	foreignTouched       int
	foreignCreated       time.Duration
	// foreignWatched is certsmith_podcertificaterequests_watched after the
	// foreign requests.
	foreignWatched map[string]map[string]int
	// The manager's memory after a forced GC: with only the issuer, the
	// settle time later with nothing created (what the heap drifts by
	// itself), after the foreign requests, after certsmith's own.
	memIdle, memIdleAgain, memForeign, memOwn memorySample
	// managerMetrics are the manager's metrics after settling.
	managerMetrics managerMetrics
	// refreshShares are each certificate's (beginRefreshAt - notBefore) / lifetime.
	refreshShares []float64
	// lifetime is notAfter - notBefore of the certificates (all the same).
	lifetime time.Duration
	// chainLength is the number of certificates in each chain.
	chainLength   int
	profileTop    string
	watchRestarts int
}

// podFixtures are the objects the requests name, made before the manager starts.
type podFixtures struct {
	nodes           []*corev1.Node
	serviceAccounts []*corev1.ServiceAccount
	pods            []*corev1.Pod
}

func nodeName(i int) string           { return fmt.Sprintf("node-%02d", i) }
func serviceAccountName(i int) string { return fmt.Sprintf("sa-%02d", i) }
func podName(i int) string            { return fmt.Sprintf("pod-%05d", i) }
func podRequestName(i int) string     { return fmt.Sprintf("pcr-%05d", i) }
func foreignRequestName(i int) string { return fmt.Sprintf("foreign-%05d", i) }

// newBenchPod is the i-th pod: bound to its node (no scheduler runs), under
// its ServiceAccount, with a podCertificate volume of certsmith's signer
// and one of the foreign signer, as a workload that uses two issuers has.
func newBenchPod(i int) *corev1.Pod {
	volume := func(name, signerName string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{PodCertificate: &corev1.PodCertificateProjection{
				SignerName: signerName, KeyType: podKeyType, CredentialBundlePath: "credentials.pem",
			}}},
		}}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName(i), Namespace: benchNamespace},
		Spec: corev1.PodSpec{
			NodeName:           nodeName(i % podNodes),
			ServiceAccountName: serviceAccountName(i % podServiceAccounts),
			Containers:         []corev1.Container{{Name: "app", Image: "certsmith.local/workload:bench"}},
			Volumes:            []corev1.Volume{volume("identity", ownSignerName), volume("foreign-identity", foreignSignerName)},
		},
	}
}

// newPodRequest is the request a kubelet makes for pod i and signerName,
// with the stub PKCS#10 request signed by its key.
func (f *podFixtures) newPodRequest(name string, i int, signerName string, stub []byte) *certificatesv1.PodCertificateRequest {
	pod := f.pods[i%len(f.pods)]
	sa := f.serviceAccounts[(i%len(f.pods))%podServiceAccounts]
	node := f.nodes[(i%len(f.pods))%podNodes]
	return &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: pod.Namespace},
		Spec: certificatesv1.PodCertificateRequestSpec{
			SignerName:         signerName,
			PodName:            pod.Name,
			PodUID:             pod.UID,
			ServiceAccountName: sa.Name,
			ServiceAccountUID:  sa.UID,
			NodeName:           types.NodeName(node.Name),
			NodeUID:            node.UID,
			StubPKCS10Request:  stub,
		},
	}
}

// stubRequest makes the PKCS#10 request a kubelet sends: empty, signed by key.
func stubRequest(key crypto.Signer) ([]byte, error) {
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
}

// podKeys are the keys of a run's requests and their stub requests.
type podKeys struct {
	keys  []*ecdsa.PrivateKey
	stubs [][]byte
}

// newPodKeys makes n ECDSA P-256 keys and their stub requests.
func newPodKeys(n int) (*podKeys, error) {
	k := &podKeys{keys: make([]*ecdsa.PrivateKey, n), stubs: make([][]byte, n)}
	for i := range n {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		if k.stubs[i], err = stubRequest(key); err != nil {
			return nil, err
		}
		k.keys[i] = key
	}
	return k, nil
}

// createPodFixtures creates the Nodes, ServiceAccounts and n pods.
func createPodFixtures(ctx context.Context, c client.Client, n, concurrency int) (*podFixtures, error) {
	f := &podFixtures{nodes: make([]*corev1.Node, podNodes), serviceAccounts: make([]*corev1.ServiceAccount, podServiceAccounts), pods: make([]*corev1.Pod, n)}
	for i := range podNodes {
		f.nodes[i] = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName(i)}}
		if err := c.Create(ctx, f.nodes[i]); err != nil {
			return nil, fmt.Errorf("creating node %s: %w", nodeName(i), err)
		}
	}
	for i := range podServiceAccounts {
		f.serviceAccounts[i] = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceAccountName(i), Namespace: benchNamespace}}
		if err := c.Create(ctx, f.serviceAccounts[i]); err != nil {
			return nil, fmt.Errorf("creating ServiceAccount %s: %w", serviceAccountName(i), err)
		}
	}
	err := parallel(ctx, n, concurrency, func(ctx context.Context, i int) error {
		pod := newBenchPod(i)
		if err := c.Create(ctx, pod); err != nil {
			return fmt.Errorf("creating pod %s: %w", pod.Name, err)
		}
		f.pods[i] = pod
		return nil
	})
	return f, err
}

// createPodRequests creates n requests of signerName from concurrency
// goroutines, the i-th with stub i; with a tracker, each create is timed.
func createPodRequests(ctx context.Context, c client.Client, f *podFixtures, keys *podKeys, n int, signerName string, name func(int) string,
	concurrency int, tracker *readyTracker) error {
	return parallel(ctx, n, concurrency, func(ctx context.Context, i int) error {
		pcr := f.newPodRequest(name(i), i, signerName, keys.stubs[i])
		if tracker != nil {
			tracker.sent(i, time.Now())
		}
		if err := c.Create(ctx, pcr); err != nil {
			return fmt.Errorf("creating PodCertificateRequest %s: %w", pcr.Name, err)
		}
		return nil
	})
}

// podRequestState says whether a request is Issued, and fails on a Denied
// or Failed one: the benchmark's requests are all valid.
func podRequestState(pcr *certificatesv1.PodCertificateRequest) (issued bool, err error) {
	for _, c := range pcr.Status.Conditions {
		switch c.Type {
		case certificatesv1.PodCertificateRequestConditionTypeIssued:
			return c.Status == metav1.ConditionTrue, nil
		case certificatesv1.PodCertificateRequestConditionTypeDenied, certificatesv1.PodCertificateRequestConditionTypeFailed:
			return false, fmt.Errorf("PodCertificateRequest %s/%s is %s (%s): %s", pcr.Namespace, pcr.Name, c.Type, c.Reason, c.Message)
		}
	}
	return false, nil
}

// signerRequests selects the benchmark's requests of one signer.
func signerRequests(signerName string) *client.ListOptions {
	return &client.ListOptions{Namespace: benchNamespace, FieldSelector: fields.OneTermEqualSelector("spec.signerName", signerName)}
}

// forceGC makes the manager collect garbage (its heap profile with gc=1),
// so that the heap figures that follow are what is live now; with a path,
// the profile is kept there (go tool pprof -base compares two).
func forceGC(ctx context.Context, pprofAddr, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprofAddr+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("forcing the manager's GC: %w", err)
	}
	defer resp.Body.Close()
	if path == "" {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// sampleMemory forces a GC in the manager, then reads its resident memory
// and heap figures; it returns its metrics too. With a path, the heap
// profile of that GC is kept there.
func sampleMemory(ctx context.Context, run *managerRun, profilePath string) (memorySample, managerMetrics, error) {
	if err := forceGC(ctx, run.pprofAddr, profilePath); err != nil {
		return memorySample{}, managerMetrics{}, err
	}
	proc, err := procMemory(run.pids["manager"])
	if err != nil {
		return memorySample{}, managerMetrics{}, err
	}
	m, err := scrapeManagerMetrics(ctx, run.metricsAddr)
	if err != nil {
		return memorySample{}, managerMetrics{}, err
	}
	return memorySample{proc: proc, heapLive: m.heapLive, heapInUse: m.heapInUse}, m, nil
}

// heapProfilePath is where the heap profile of a memory sample goes: in
// the profiled run only, none otherwise.
func heapProfilePath(cfg *config, spec podRunSpec, stage string) string {
	if !spec.profile || cfg.profileDir == "" {
		return ""
	}
	return filepath.Join(cfg.profileDir, fmt.Sprintf("manager-heap-pcr-%d-%s.pprof", spec.n, stage))
}

// waitSignerWatched waits until the manager runs the watch of a signer
// (certsmith_podcertificaterequests_watched names it).
func waitSignerWatched(ctx context.Context, metricsAddr, signerName string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		m, err := scrapeManagerMetrics(ctx, metricsAddr)
		if err != nil {
			return err
		}
		if _, ok := m.podWatched[signerName]; ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the manager did not start watching the PodCertificateRequests of %s (watched: %v)", signerName, m.podWatched)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// runPodCertificates measures one podRunSpec on a fresh control plane with
// a fresh manager (its profiler on, to force GCs before reading the heap).
func runPodCertificates(ctx context.Context, cfg *config, spec podRunSpec) (result *podRunResult, err error) {
	cp := newControlPlane(cfg)
	defer func() {
		if stopErr := cp.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()
	cluster, err := startCluster(ctx, cp, benchNamespace)
	if err != nil {
		return nil, err
	}
	c := cluster.c
	started := time.Now()
	fixtures, err := createPodFixtures(ctx, c, spec.n, cfg.concurrency)
	if err != nil {
		return nil, err
	}
	fmt.Printf("    created %d Nodes, %d ServiceAccounts and %d pods in %.1fs\n", podNodes, podServiceAccounts, spec.n, time.Since(started).Seconds())
	ownKeys, err := newPodKeys(spec.n)
	if err != nil {
		return nil, err
	}
	foreignKeys, err := newPodKeys(spec.foreign)
	if err != nil {
		return nil, err
	}

	run, err := startManager(ctx, cfg, cluster, true)
	defer run.stop()
	if err != nil {
		return nil, err
	}
	mgr := run.mgr
	if err := createIssuer(ctx, c, true); err != nil {
		return nil, fmt.Errorf("%w; the manager's log ends with:\n%s", err, mgr.LogTail())
	}
	if err := waitSignerWatched(ctx, run.metricsAddr, ownSignerName); err != nil {
		return nil, fmt.Errorf("%w; the manager's log ends with:\n%s", err, mgr.LogTail())
	}
	// Let the issuer's own writes (CA Secret, status, Event) finish.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	result = &podRunResult{spec: spec}
	if result.memIdle, _, err = sampleMemory(ctx, run, heapProfilePath(cfg, spec, "idle")); err != nil {
		return nil, err
	}
	// The same wait as for the foreign requests, with nothing created: the
	// growth the foreign requests are compared with.
	if err := sleep(ctx, cfg.settle); err != nil {
		return nil, err
	}
	if result.memIdleAgain, _, err = sampleMemory(ctx, run, heapProfilePath(cfg, spec, "idle-again")); err != nil {
		return nil, err
	}
	result.memForeign = result.memIdleAgain

	if spec.foreign > 0 {
		if err := result.measureForeign(ctx, cfg, cluster, run, fixtures, foreignKeys); err != nil {
			return nil, err
		}
	}
	if err := result.measureOwn(ctx, cfg, cluster, run, fixtures, ownKeys); err != nil {
		return nil, err
	}
	if cfg.profileDir != "" {
		// Keep the manager's log (the cluster directory is removed).
		if data, err := os.ReadFile(mgr.LogPath); err == nil {
			_ = os.WriteFile(filepath.Join(cfg.profileDir, fmt.Sprintf("manager-pcr-%d-%d.log", spec.n, spec.rep)), data, 0o644)
		}
	}
	if !mgr.Running() {
		return nil, fmt.Errorf("the manager exited during the run; its log ends with:\n%s", mgr.LogTail())
	}
	return result, nil
}

// measureForeign creates the foreign requests, waits the settle time, and
// measures what they cost the manager: writes and memory.
func (r *podRunResult) measureForeign(ctx context.Context, cfg *config, cluster *benchCluster, run *managerRun, fixtures *podFixtures, keys *podKeys) error {
	counts0, _, err := run.snapshot()
	if err != nil {
		return err
	}
	before, err := scrapeManagerMetrics(ctx, run.metricsAddr)
	if err != nil {
		return err
	}
	started := time.Now()
	if err := createPodRequests(ctx, cluster.c, fixtures, keys, r.spec.foreign, foreignSignerName, foreignRequestName, cfg.concurrency, nil); err != nil {
		return err
	}
	r.foreignCreated = time.Since(started)
	fmt.Printf("    created %d PodCertificateRequests of %s in %.2fs\n", r.spec.foreign, foreignSignerName, r.foreignCreated.Seconds())
	if err := sleep(ctx, cfg.settle); err != nil {
		return err
	}
	counts1, _, err := run.snapshot()
	if err != nil {
		return err
	}
	r.foreignWrites = summarizeWrites(counts0.delta(counts1), r.spec.foreign)
	var after managerMetrics
	if r.memForeign, after, err = sampleMemory(ctx, run, heapProfilePath(cfg, r.spec, "foreign")); err != nil {
		return err
	}
	r.foreignManagerWrites = writesBetween(before.requests, after.requests)
	r.foreignWatched = after.podWatched
	var list certificatesv1.PodCertificateRequestList
	if err := cluster.c.List(ctx, &list, signerRequests(foreignSignerName)); err != nil {
		return err
	}
	if len(list.Items) != r.spec.foreign {
		return fmt.Errorf("%d PodCertificateRequests of %s, not %d", len(list.Items), foreignSignerName, r.spec.foreign)
	}
	for _, pcr := range list.Items {
		if len(pcr.Status.Conditions) > 0 || pcr.Status.CertificateChain != "" {
			r.foreignTouched++
		}
	}
	if r.foreignTouched > 0 {
		fmt.Printf("    WARNING: %d of the %d PodCertificateRequests of %s have a status\n", r.foreignTouched, r.spec.foreign, foreignSignerName)
	}
	return nil
}

// measureOwn creates certsmith's requests at once, waits until the watch
// has seen every one Issued and the settle time after, and measures.
func (r *podRunResult) measureOwn(ctx context.Context, cfg *config, cluster *benchCluster, run *managerRun, fixtures *podFixtures, keys *podKeys) error {
	c, mgr, n := cluster.c, run.mgr, r.spec.n
	tracker := newReadyTracker(n, podRequestName)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- tracker.follow(watchCtx, c, &certificatesv1.PodCertificateRequestList{}, signerRequests(ownSignerName), func(obj client.Object) error {
			pcr := obj.(*certificatesv1.PodCertificateRequest)
			issued, err := podRequestState(pcr)
			if issued {
				tracker.ready(pcr.Name, time.Now())
			}
			return err
		}, &r.watchRestarts)
	}()
	if err := tracker.waitWatching(ctx, watchErr); err != nil {
		return err
	}
	counts0, cpu0, err := run.snapshot()
	if err != nil {
		return err
	}
	before, err := scrapeManagerMetrics(ctx, run.metricsAddr)
	if err != nil {
		return err
	}
	var profiles *profileSet
	if r.spec.profile {
		profiles = startProfiles(ctx, cfg, r.spec.profileTag(), run.pprofAddr, cluster.clientset.RESTClient())
	}

	r.start = time.Now()
	tracker.setStart(r.start)
	if err := createPodRequests(ctx, c, fixtures, keys, n, ownSignerName, podRequestName, cfg.concurrency, tracker); err != nil {
		return err
	}
	r.created = time.Since(r.start)
	fmt.Printf("    created %d PodCertificateRequests of %s in %.2fs\n", n, ownSignerName, r.created.Seconds())

	timeout := time.NewTimer(cfg.runTimeout)
	defer timeout.Stop()
	select {
	case <-tracker.done:
	case err := <-watchErr:
		return fmt.Errorf("watching PodCertificateRequests: %w", err)
	case <-mgr.Exited():
		return fmt.Errorf("the manager exited; its log ends with:\n%s", mgr.LogTail())
	case <-timeout.C:
		return fmt.Errorf("only %d of %d PodCertificateRequests were Issued after %s; the manager's log ends with:\n%s",
			tracker.readyCount(), n, cfg.runTimeout, mgr.LogTail())
	case <-ctx.Done():
		return ctx.Err()
	}
	counts1, cpu1, err := run.snapshot()
	if err != nil {
		return err
	}
	r.allIssued, r.latencies = tracker.results()
	if err := sleep(ctx, cfg.settle); err != nil {
		return err
	}
	counts2, cpu2, err := run.snapshot()
	if err != nil {
		return err
	}
	stopWatch()
	r.untilIssued = summarizeWrites(counts0.delta(counts1), n)
	r.settled = summarizeWrites(counts0.delta(counts2), n)
	r.reads = summarizeReads(counts0.delta(counts2))
	r.cpuIssued, r.cpuSettled = cpu0.to(cpu1), cpu0.to(cpu2)
	// The peak (VmHWM) is read after the forced GC, which does not lower it.
	if r.memOwn, r.managerMetrics, err = sampleMemory(ctx, run, heapProfilePath(cfg, r.spec, "own")); err != nil {
		return err
	}
	r.managerWrites = writesBetween(before.requests, r.managerMetrics.requests)
	if err := r.inspect(ctx, c, keys); err != nil {
		return err
	}
	if profiles != nil {
		r.profileTop = profiles.wait()
		r.profileTop += "\n" + heapProfile(ctx, cfg, r.spec.profileTag(), run.pprofAddr)
	}
	return nil
}

// inspect reads certsmith's requests after settling: each must be Issued
// with a chain whose leaf holds the key of its stub request, and
// notBefore, notAfter and beginRefreshAt.
func (r *podRunResult) inspect(ctx context.Context, c client.Client, keys *podKeys) error {
	var list certificatesv1.PodCertificateRequestList
	if err := c.List(ctx, &list, signerRequests(ownSignerName)); err != nil {
		return err
	}
	if len(list.Items) != r.spec.n {
		return fmt.Errorf("%d PodCertificateRequests of %s, not %d", len(list.Items), ownSignerName, r.spec.n)
	}
	index := make(map[string]int, r.spec.n)
	for i := range r.spec.n {
		index[podRequestName(i)] = i
	}
	for _, pcr := range list.Items {
		issued, err := podRequestState(&pcr)
		if err != nil {
			return err
		}
		s := pcr.Status
		if !issued || s.NotBefore == nil || s.NotAfter == nil || s.BeginRefreshAt == nil {
			return fmt.Errorf("PodCertificateRequest %s is not Issued with notBefore, notAfter and beginRefreshAt: %+v", pcr.Name, s)
		}
		for _, cond := range s.Conditions {
			if cond.LastTransitionTime.After(r.lastIssuedServer) {
				r.lastIssuedServer = cond.LastTransitionTime.Time
			}
		}
		chain, err := parseChain(s.CertificateChain)
		if err != nil {
			return fmt.Errorf("PodCertificateRequest %s: %w", pcr.Name, err)
		}
		i, ok := index[pcr.Name]
		if !ok {
			return fmt.Errorf("PodCertificateRequest %s is not the benchmark's", pcr.Name)
		}
		if !keys.keys[i].PublicKey.Equal(chain[0].PublicKey) {
			return fmt.Errorf("the certificate of PodCertificateRequest %s is not for the key of its stub request", pcr.Name)
		}
		r.chainLength = len(chain)
		lifetime := s.NotAfter.Sub(s.NotBefore.Time)
		r.lifetime = lifetime
		r.refreshShares = append(r.refreshShares, float64(s.BeginRefreshAt.Sub(s.NotBefore.Time))/float64(lifetime))
	}
	return nil
}

// parseChain parses a PEM certificate chain, leaf first.
func parseChain(chainPEM string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := []byte(chainPEM)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a %s block in the certificate chain", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, errors.New("no certificate in the chain")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("text after the last certificate of the chain")
	}
	return chain, nil
}

// podRequestNote explains the requests of a pod-certificate run that are
// not certsmith's in the table of writes.
func podRequestNote(k requestKey) string {
	switch {
	case k.verb == "POST" && k.resource == "podcertificaterequests" && k.subresource == "":
		return " (the harness's creates)"
	case backgroundResources[k.resource]:
		return " (the API server's own)"
	}
	return ""
}
