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

package fault

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/certsmith/certsmith/test/internal/harness"
)

// The specs run in order on the same two replicas: each leaves both
// running, one of them the leader. The crossing spec comes after the
// rotation and the SIGKILL: the renewal points it crosses were set in
// BeforeSuite to fall soon after those.
var _ = Describe("Faults", Ordered, ContinueOnFailure, func() {
	It("completes a CA rotation with the leader killed in each phase, with zero failed handshakes", rotationWithKills)

	It("replaces a leader killed with SIGKILL during 200 issuances within the lease duration, and loses or doubles nothing", func() {
		namespace := "fault-kill"
		applied := applyBatch(namespace)
		waitSomeReady(namespace)
		leader := leaderIndex()
		before := currentLease()
		killedAt := time.Now()
		killReplica(leader)
		readyAtKill := readyCount(namespace)

		By("the standby takes the Lease once it has expired: within the lease duration and a few retries")
		after := nextHolder(before, 2*leaseDuration+10*time.Second)
		takeover := after.AcquireTime.Sub(killedAt)
		Expect(after.Transitions).To(Equal(before.Transitions + 1))
		// The standby counts the lease from when it last saw it renewed,
		// and looks every retry period (jittered by up to 1.2).
		Expect(takeover).To(BeNumerically("<=", leaseDuration+3*retryPeriod+time.Second), "takeover after %s", takeover)
		Expect(leaderIndex()).To(Equal(1 - leader))

		By("the killed replica comes back as the standby")
		startReplica(leader)
		Expect(<-applied).To(Succeed())
		c := expectConverged(namespace)
		Expect(leaderIndex()).To(Equal(1-leader), "the new leader keeps the Lease")
		AddReportEntry("kill -9 of the leader", fmt.Sprintf("Ready at the kill %d of %d; takeover %s after the kill (lease %s); %s",
			readyAtKill, batch, takeover.Round(10*time.Millisecond), leaseDuration, c))
		Expect(readyAtKill).To(BeNumerically("<", batch), "the kill came after the issuance had finished; the spec proves nothing")
	})

	It("renews a certificate at its real renewal time and starts a CA's rotation at its renewal point, both passing while the leader is lost", crossRenewalPoints)

	It("hands the Lease over at once when the leader is stopped with SIGTERM during issuances", func() {
		namespace := "fault-term"
		applied := applyBatch(namespace)
		waitSomeReady(namespace)
		leader := leaderIndex()
		before := currentLease()
		stoppedAt := time.Now()
		stopReplica(leader)
		after := nextHolder(before, 2*leaseDuration)
		takeover := after.AcquireTime.Sub(stoppedAt)
		// Released, not expired: the standby's next retry or two, well
		// before the lease would have expired.
		Expect(takeover).To(BeNumerically("<", 3*retryPeriod+time.Second), "takeover after %s: the Lease was not released", takeover)
		Expect(leaderIndex()).To(Equal(1 - leader))
		startReplica(leader)
		Expect(<-applied).To(Succeed())
		c := expectConverged(namespace)
		AddReportEntry("SIGTERM of the leader", fmt.Sprintf("the other replica acquired the Lease %s after the signal (lease %s), reconciles in flight; %s",
			takeover.Round(10*time.Millisecond), leaseDuration, c))
	})

	// An outage of three lease durations: the leader cannot renew and
	// exits (controller-runtime ends a manager that lost its Lease), the
	// supervisor restarts it, and at start-up it waits for the API server
	// with bounded back-off instead of exiting again.
	outage := func(component, namespace string) {
		applied := applyBatch(namespace)
		Expect(<-applied).To(Succeed())
		waitSomeReady(namespace)
		restartsBefore := supervisor.counts()
		logsBefore := make([]int, len(replicas))
		for i, m := range replicas {
			log, err := os.ReadFile(m.LogPath)
			Expect(err).NotTo(HaveOccurred())
			logsBefore[i] = len(log)
		}
		downtime := 3 * leaseDuration
		leaseBefore := currentLease()
		readyAtFault := readyCount(namespace)
		Expect(cluster.StopComponent(context.Background(), component)).To(Succeed())
		stoppedAt := time.Now()
		time.Sleep(downtime)
		Expect(cluster.StartComponent(context.Background(), component)).To(Succeed())
		if component == harness.Etcd {
			// The API server is back once it reaches etcd again.
			Eventually(func() error { _, err := quiet.Kubectl("get", "--raw", "/readyz"); return err }, 2*time.Minute, time.Second).Should(Succeed())
		}
		backAt := time.Now()
		// Each change of leader starts the issuances in flight over, with
		// new keys; a create whose answer the outage swallowed is made
		// again under the same name. Neither signs anything twice.
		c := expectConverged(namespace)
		changes := currentLease().Transitions - leaseBefore.Transitions
		convergedAt := time.Now()
		leaderIndex()
		restarts := supervisor.counts()
		for i := range replicas {
			Expect(restarts[i]-restartsBefore[i]).To(BeNumerically("<=", 1), "replica %d restarted %d times: a crash loop", i, restarts[i]-restartsBefore[i])
			Expect(replicas[i].WaitReady(context.Background(), time.Minute)).To(Succeed())
		}
		waits := 0 // start-up retries since the fault
		for i, m := range replicas {
			log, err := os.ReadFile(m.LogPath)
			Expect(err).NotTo(HaveOccurred())
			waits += strings.Count(string(log[min(logsBefore[i], len(log)):]), `"waiting for the API server"`)
		}
		if component == harness.APIServer {
			// The leader lost its Lease and was restarted while the API
			// server was still down: it waited instead of exiting again.
			Expect(diff(restarts, restartsBefore)).To(ContainElement(1), "no replica lost its Lease")
			Expect(waits).To(BeNumerically(">=", 1), "the restarted replica did not wait for the API server")
		}
		AddReportEntry(component+" stopped", fmt.Sprintf("Ready at the fault %d of %d; down %s; restarts %v; start-up retries %d; leader changes %d; %s; all %d Ready %s after it was back (%s after it stopped)",
			readyAtFault, batch, backAt.Sub(stoppedAt).Round(100*time.Millisecond), diff(restarts, restartsBefore), waits, changes, c, batch,
			convergedAt.Sub(backAt).Round(100*time.Millisecond), convergedAt.Sub(stoppedAt).Round(100*time.Millisecond)))
		// Bounded back-off: 1 s doubling is at most 5 tries in an outage of
		// this length (1+2+4+8+16 s), per restarted replica; never a hot loop.
		Expect(waits).To(BeNumerically("<=", 2*6), "start-up retries: %d", waits)
		Expect(readyAtFault).To(BeNumerically("<", batch), "the fault came after the issuance had finished; the spec proves nothing")
	}

	It("converges after kube-apiserver is stopped for three lease durations during 200 issuances", func() {
		outage(harness.APIServer, "fault-apiserver")
	})

	It("converges after etcd is stopped for three lease durations during 200 issuances", func() {
		outage(harness.Etcd, "fault-etcd")
	})

	It("converges through a slow API server that answers 429 to one request in five, with bounded retries", func() {
		namespace := "fault-slow"
		proxyKubeconfig := cluster.Dir + "/proxy.kubeconfig"
		proxy := startSlowProxy(cluster.OperatorKubeconfig(), proxyKubeconfig, 50*time.Millisecond, 5)
		DeferCleanup(proxy.close)
		By("restarting both replicas through the proxy")
		restartReplicas(proxyKubeconfig)
		DeferCleanup(func() { restartReplicas(cluster.OperatorKubeconfig()) })
		leaderIndex()
		proxy.throttling.Store(true)
		before := proxy.requests.Load()
		restartsBefore := supervisor.counts()
		leaseBefore := currentLease()
		started := time.Now()
		applied := applyBatch(namespace)
		Expect(<-applied).To(Succeed())
		c := expectConverged(namespace)
		Expect(c.restarted).To(BeZero(), "no leader change, yet %d issuances started over", c.restarted)
		Expect(currentLease().Transitions).To(Equal(leaseBefore.Transitions), "the leader changed under throttling")
		took := time.Since(started)
		proxy.throttling.Store(false)
		requests, throttled := proxy.requests.Load()-before, proxy.throttled.Load()
		AddReportEntry("slow API with 429s", fmt.Sprintf("%d requests through the proxy (%s), %d answered 429, every one delayed 50 ms; all %d Ready after %s; %s",
			requests, proxy.verbs(), throttled, batch, took.Round(100*time.Millisecond), c))
		Expect(throttled).To(BeNumerically(">", 0), "the proxy throttled nothing")
		// No hot loop: retries stay bounded (measured ~12 requests per certificate).
		Expect(requests).To(BeNumerically("<", 20*batch), "%d requests for %d certificates", requests, batch)
		Expect(supervisor.counts()).To(Equal(restartsBefore), "a replica exited under throttling")
	})
})

// restartReplicas stops both replicas and starts them with another
// kubeconfig.
func restartReplicas(kubeconfig string) {
	GinkgoHelper()
	for i := range replicas {
		supervisor.hold(i)
	}
	for _, m := range replicas {
		if m.Running() {
			Expect(m.Stop()).To(Succeed())
		}
	}
	for i, m := range replicas {
		m.Kubeconfig = kubeconfig
		Expect(m.Start()).To(Succeed())
		supervisor.release(i)
	}
	for _, m := range replicas {
		Expect(m.WaitReady(context.Background(), time.Minute)).To(Succeed())
	}
}

func diff(a, b []int) []int {
	out := make([]int, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}
