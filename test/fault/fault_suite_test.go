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

// Package fault is the fault suite: two replicas of bin/manager with leader
// election against a local control plane (etcd and kube-apiserver from
// bin/k8s), and the faults a production install meets: the leader killed,
// a graceful hand-over, kube-apiserver and etcd stopped. Each spec asserts
// from the Lease's fields and the objects' status, with slack, never from a
// wall-clock budget; the figures go to the report and docs/reliability.md.
package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/certsmith/certsmith/test/internal/harness"
)

const (
	clusterDirName = "bin/fault-cluster"
	etcdPort       = 63379
	apiServerPort  = 63443

	operatorNamespace = harness.OperatorNamespace
	// leaseName is the manager's leader-election Lease (LeaderElectionID).
	leaseName = "certsmith.io"
	// issuerName is the suite's ClusterIssuer.
	issuerName = "fault"

	// Short leader-election timings, so that a lost leader is replaced in
	// seconds: the same relations as the defaults (15s/10s/2s).
	leaseDuration = 6 * time.Second
	renewDeadline = 4 * time.Second
	retryPeriod   = 500 * time.Millisecond
)

var (
	repoRoot string
	cluster  *harness.ControlPlane
	quiet    *harness.ControlPlane
	// replicas are the two managers; supervisor restarts one that exits,
	// as the kubelet restarts a container.
	replicas   [2]*harness.Manager
	supervisor *restarter
	// auditLog is kube-apiserver's audit log (auditPolicy).
	auditLog string
)

// auditPolicy logs the requests that write a CSR's status, with their
// body (each certificate a signer wrote into a CSR), and the creates of
// CSRs.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Request
  verbs: ["update", "patch"]
  resources:
  - group: certificates.k8s.io
    resources: ["certificatesigningrequests/status"]
- level: Metadata
  verbs: ["create"]
  resources:
  - group: certificates.k8s.io
    resources: ["certificatesigningrequests"]
- level: None
`

func TestFault(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "certsmith fault suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	repoRoot, err = harness.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	runner := harness.Runner{Log: GinkgoWriter}
	auditDir, err := os.MkdirTemp("", "certsmith-fault-audit-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = os.RemoveAll(auditDir) })
	auditLog = filepath.Join(auditDir, "audit.log")
	Expect(os.WriteFile(filepath.Join(auditDir, "policy.yaml"), []byte(auditPolicy), 0o600)).To(Succeed())
	cluster = &harness.ControlPlane{
		RepoRoot: repoRoot, Dir: filepath.Join(repoRoot, clusterDirName),
		EtcdPort: etcdPort, APIServerPort: apiServerPort, Runner: runner,
		// Every certificate written into a CSR is in the audit log, also
		// of CSRs deleted since: the ground truth of what was signed.
		APIServerFlags: "--audit-policy-file " + filepath.Join(auditDir, "policy.yaml") + " --audit-log-path " + auditLog,
	}
	q := *cluster
	q.Runner = harness.Runner{Timeout: 20 * time.Second}
	quiet = &q
	managerPath := filepath.Join(repoRoot, "bin", "manager")
	_, err = os.Stat(managerPath)
	Expect(err).NotTo(HaveOccurred(), "%s is missing: run make build", managerPath)

	By("starting a local control plane in " + clusterDirName)
	DeferCleanup(func() { Expect(cluster.Stop()).To(Succeed()) })
	Expect(cluster.Start(ctx)).To(Succeed())
	Expect(cluster.InstallDefault(ctx)).To(Succeed())
	Expect(cluster.WriteOperatorKubeconfig(ctx)).To(Succeed())

	By("starting two replicas of bin/manager with leader election")
	for i := range replicas {
		m := cluster.NewManager(managerPath)
		m.LogPath = filepath.Join(cluster.Dir, fmt.Sprintf("manager-%d.log", i))
		m.PIDPath = ""
		m.KillWithHarness = true
		m.LeaderElect = true
		m.MetricsAddress, err = harness.FreeLoopbackAddress()
		Expect(err).NotTo(HaveOccurred())
		m.Args = []string{
			"--leader-elect-lease-duration=" + leaseDuration.String(),
			"--leader-elect-renew-deadline=" + renewDeadline.String(),
			"--leader-elect-retry-period=" + retryPeriod.String(),
		}
		Expect(m.Start()).To(Succeed())
		replicas[i] = m
	}
	supervisor = startRestarter(replicas[:])
	DeferCleanup(func() {
		supervisor.stop()
		for _, m := range replicas {
			if m.Running() {
				_ = m.Stop()
			}
		}
	})
	for _, m := range replicas {
		Expect(m.WaitReady(ctx, time.Minute)).To(Succeed(), "a standby is Ready too")
	}
	leaderIndex()

	By("creating the ClusterIssuer " + issuerName)
	_, err = cluster.KubectlWithInput(fmt.Sprintf(`apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: %s
spec:
  bundle: {}
  ca:
    selfSigned:
      subject:
        commonName: certsmith fault suite CA
`, issuerName), "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
	_, err = cluster.Kubectl("wait", "--for=condition=Ready", "--timeout=60s", "clusterissuer/"+issuerName)
	Expect(err).NotTo(HaveOccurred())

	By("creating a certificate and a CA that renew about 80 s from now, for the crossing spec")
	createCrossing("", crossingRenewBefore)
})

// ReportAfterEach adds the replicas' log tails to a failed spec.
var _ = ReportAfterEach(func(report SpecReport) {
	if report.Failed() {
		for i, m := range replicas {
			if m != nil {
				AddReportEntry(fmt.Sprintf("manager %d log", i), m.LogTail())
			}
		}
	}
})

// restarter restarts a replica that exits, as the kubelet would, and
// counts the restarts.
type restarter struct {
	mu       sync.Mutex
	restarts []int
	done     chan struct{}
	wg       sync.WaitGroup
	paused   map[int]bool
}

func startRestarter(ms []*harness.Manager) *restarter {
	r := &restarter{restarts: make([]int, len(ms)), done: make(chan struct{}), paused: map[int]bool{}}
	for i, m := range ms {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				select {
				case <-r.done:
					return
				case <-m.Exited():
				}
				r.mu.Lock()
				paused := r.paused[i]
				r.mu.Unlock()
				if !paused && !m.Running() {
					// The kubelet's first restart comes at once; so here. A
					// Start that fails because a spec started it first is
					// no restart.
					if err := m.Start(); err == nil {
						r.mu.Lock()
						r.restarts[i]++
						r.mu.Unlock()
						continue
					}
				}
				// Held by a spec, or started by it meanwhile: look again soon.
				select {
				case <-r.done:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	return r
}

// hold keeps the restarter from restarting replica i until release.
func (r *restarter) hold(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused[i] = true
}

func (r *restarter) release(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused[i] = false
}

// counts returns the restarts so far, by replica.
func (r *restarter) counts() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.restarts...)
}

func (r *restarter) stop() {
	close(r.done)
	r.wg.Wait()
}

// isLeader reads certsmith_leader from a replica's metrics.
func isLeader(m *harness.Manager) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.MetricsAddress+"/metrics", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if value, ok := strings.CutPrefix(line, "certsmith_leader "); ok {
			return strings.TrimSpace(value) == "1", nil
		}
	}
	return false, fmt.Errorf("no certsmith_leader in the metrics of %s", m.MetricsAddress)
}

// leaderIndex waits until exactly one replica reports itself the leader
// and returns it.
func leaderIndex() int {
	GinkgoHelper()
	index := -1
	Eventually(func(g Gomega) {
		leaders := []int{}
		for i, m := range replicas {
			if !m.Running() {
				continue
			}
			lead, err := isLeader(m)
			g.Expect(err).NotTo(HaveOccurred())
			if lead {
				leaders = append(leaders, i)
			}
		}
		g.Expect(leaders).To(HaveLen(1), "exactly one leader")
		index = leaders[0]
	}, 2*time.Minute, 200*time.Millisecond).Should(Succeed())
	return index
}

// leaseState is what the Lease says.
type leaseState struct {
	Holder      string
	AcquireTime time.Time
	RenewTime   time.Time
	Transitions int
}

// readLease reads the Lease; an error when kubectl cannot (call it in an
// Eventually).
func readLease() (leaseState, error) {
	out, err := quiet.Kubectl("get", "lease", leaseName, "-n", operatorNamespace, "-o", "json")
	if err != nil {
		return leaseState{}, err
	}
	var lease struct {
		Spec struct {
			HolderIdentity   string `json:"holderIdentity"`
			AcquireTime      string `json:"acquireTime"`
			RenewTime        string `json:"renewTime"`
			LeaseTransitions int    `json:"leaseTransitions"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(out), &lease); err != nil {
		return leaseState{}, err
	}
	var state leaseState
	for _, f := range []struct {
		value string
		into  *time.Time
	}{{lease.Spec.AcquireTime, &state.AcquireTime}, {lease.Spec.RenewTime, &state.RenewTime}} {
		if f.value == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.value)
		if err != nil {
			return leaseState{}, err
		}
		*f.into = t
	}
	state.Holder, state.Transitions = lease.Spec.HolderIdentity, lease.Spec.LeaseTransitions
	return state, nil
}

// currentLease is readLease that retries for a while.
func currentLease() leaseState {
	GinkgoHelper()
	var state leaseState
	Eventually(func() (err error) { state, err = readLease(); return err }, 30*time.Second, 200*time.Millisecond).Should(Succeed())
	return state
}

// nextHolder waits until a replica other than before's holds the Lease (an
// empty holder, a released Lease, does not count) and returns it.
func nextHolder(before leaseState, within time.Duration) leaseState {
	GinkgoHelper()
	var after leaseState
	Eventually(func(g Gomega) {
		var err error
		after, err = readLease()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(after.Holder).NotTo(BeEmpty())
		g.Expect(after.Holder).NotTo(Equal(before.Holder))
	}, within, 50*time.Millisecond).Should(Succeed())
	return after
}

// killReplica kills replica i with SIGKILL, held from the supervisor
// until startReplica.
func killReplica(i int) {
	GinkgoHelper()
	supervisor.hold(i)
	DeferCleanup(func() { supervisor.release(i) })
	Expect(replicas[i].Kill()).To(Succeed())
}

// stopReplica stops replica i with SIGTERM, held from the supervisor
// until startReplica.
func stopReplica(i int) {
	GinkgoHelper()
	supervisor.hold(i)
	DeferCleanup(func() { supervisor.release(i) })
	Expect(replicas[i].Stop()).To(Succeed())
}

// startReplica starts replica i again, as the kubelet would, and hands it
// back to the supervisor.
func startReplica(i int) {
	GinkgoHelper()
	Expect(replicas[i].Start()).To(Succeed())
	supervisor.release(i)
	Expect(replicas[i].WaitReady(context.Background(), time.Minute)).To(Succeed())
}
