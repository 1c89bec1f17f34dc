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
	"context"
	"fmt"
	"io"
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// restResult is what one run measured after its certificates were Ready:
// the cost at rest, a full resync and a CA rotation.
type restResult struct {
	// idle is how long nothing changed; idleWrites and idleCPU what it cost.
	idle       time.Duration
	idleWrites writeSummary
	idleCPU    cpuDelta
	// resync is from the start of a fresh manager (a restart, or a new
	// leader) until it had reconciled every certificate; resyncCPU and
	// resyncWrites cover that and resyncSettle more.
	resync       time.Duration
	resyncCPU    cpuDelta
	resyncWrites writeSummary
	// rotation is nil when no rotation was measured.
	rotation *rotationResult
}

// resyncSettle is how long after the resync's last reconcile its writes
// are still counted.
const resyncSettle = 10 * time.Second

// rotationResult is what a CA rotation of every certificate cost.
type rotationResult struct {
	// publishing is from the request until the switch; reissuing from the
	// switch until every certificate was re-issued.
	publishing, reissuing time.Duration
	// window is status.rotation.reissueWindow.
	window time.Duration
	// peakPublishing and peakReissuing are the most mutating requests per
	// second the API server answered in a sample (about a second) of each
	// phase (the harness's own writes are not in them: it writes nothing
	// then).
	peakPublishing, peakReissuing int
	// peakSecretsReissuing is the most Secret writes in one second while
	// re-issuing: re-issues per second.
	peakSecretsReissuing int
	// longestSample is the longest time between two readings (each rate
	// is the mean over one such sample).
	longestSample time.Duration
	writes        writeSummary
	cpu           cpuDelta
	reissued      int
}

// measureRest idles, restarts the manager, and rotates the CA, as cfg
// says. It returns the manager it started, which the caller stops.
func measureRest(ctx context.Context, cfg *config, cluster *benchCluster, run *managerRun, n int) (*restResult, *managerRun, error) {
	result := &restResult{idle: cfg.idle}
	if cfg.idle > 0 {
		fmt.Printf("    at rest for %s\n", cfg.idle)
		counts0, cpu0, err := run.snapshot()
		if err != nil {
			return nil, nil, err
		}
		if err := sleep(ctx, cfg.idle); err != nil {
			return nil, nil, err
		}
		counts1, cpu1, err := run.snapshot()
		if err != nil {
			return nil, nil, err
		}
		result.idleWrites, result.idleCPU = summarizeWrites(counts0.delta(counts1), 0), cpu0.to(cpu1)
	}

	fmt.Printf("    a full resync: a fresh manager reconciles all %d\n", n)
	run.stop()
	fresh, err := startManager(ctx, cfg, cluster, false)
	if err != nil {
		return nil, fresh, err
	}
	started := time.Now()
	counts0, cpu0, err := fresh.snapshot()
	if err != nil {
		return nil, fresh, err
	}
	for {
		m, err := scrapeManagerMetrics(ctx, fresh.metricsAddr)
		if err != nil {
			return nil, fresh, err
		}
		if m.reconciles["servicecertificate"] >= n {
			result.resync = time.Since(started)
			break
		}
		if time.Since(started) > cfg.runTimeout {
			return nil, fresh, fmt.Errorf("the fresh manager reconciled %d of %d certificates in %s", m.reconciles["servicecertificate"], n, cfg.runTimeout)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, fresh, err
		}
	}
	if err := sleep(ctx, resyncSettle); err != nil {
		return nil, fresh, err
	}
	counts1, cpu1, err := fresh.snapshot()
	if err != nil {
		return nil, fresh, err
	}
	result.resyncWrites, result.resyncCPU = summarizeWrites(counts0.delta(counts1), 0), cpu0.to(cpu1)

	if cfg.rotate {
		if result.rotation, err = measureRotation(ctx, cfg, cluster.c, fresh, n); err != nil {
			return nil, fresh, err
		}
	}
	return result, fresh, nil
}

// measureRotation asks the issuer to rotate, with a propagation delay of a
// second and no re-issue window of its own, so that the window is the
// one stretched to the certificates at the default maxReissueRate; it
// samples the API server's counters every second until every certificate
// has been re-issued by the new CA.
func measureRotation(ctx context.Context, cfg *config, c client.Client, run *managerRun, n int) (*rotationResult, error) {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := c.Get(ctx, client.ObjectKey{Name: issuerName}, issuer); err != nil {
		return nil, err
	}
	patch := client.MergeFrom(issuer.DeepCopy())
	issuer.Spec.Rotation = &certsmithv1alpha1.RotationSpec{PropagationDelay: &metav1.Duration{Duration: time.Second}, ReissueWindow: &metav1.Duration{}}
	if issuer.Annotations == nil {
		issuer.Annotations = map[string]string{}
	}
	issuer.Annotations[certsmithv1alpha1.AnnotationRotateRequestedAt] = time.Now().UTC().Format(time.RFC3339)
	counts0, cpu0, err := run.snapshot()
	if err != nil {
		return nil, err
	}
	requested := time.Now()
	if err := c.Patch(ctx, issuer, patch); err != nil {
		return nil, err
	}
	fmt.Printf("    a CA rotation of %d certificates\n", n)
	result := &rotationResult{}
	previous, previousAt, switched, samples := counts0, time.Now(), time.Time{}, 0
	deadline := requested.Add(cfg.runTimeout + time.Duration(n)*time.Second/20)
	for {
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
		counts, _, err := run.snapshot()
		if err != nil {
			return nil, err
		}
		// A sample covers the second slept and the time the readings took
		// (more under load): the rates are per second of it.
		at := time.Now()
		elapsed := at.Sub(previousAt).Seconds()
		second := summarizeWrites(previous.delta(counts), 0)
		previous, previousAt = counts, at
		perSecond := func(n int) int { return int(math.Ceil(float64(n) / elapsed)) }
		result.longestSample = max(result.longestSample, time.Duration(elapsed*float64(time.Second)))
		if err := c.Get(ctx, client.ObjectKey{Name: issuerName}, issuer); err != nil {
			return nil, err
		}
		rotation := issuer.Status.Rotation
		if switched.IsZero() && rotation != nil && rotation.SwitchedAt != nil {
			switched = time.Now()
			result.publishing = switched.Sub(requested)
			if rotation.ReissueWindow != nil {
				result.window = rotation.ReissueWindow.Duration
			}
		}
		if switched.IsZero() {
			result.peakPublishing = max(result.peakPublishing, perSecond(second.operator))
		} else {
			result.peakReissuing = max(result.peakReissuing, perSecond(second.operator))
			secrets := 0
			for k, v := range second.byKey {
				if k.resource == "secrets" && k.subresource == "" {
					secrets += v
				}
			}
			result.peakSecretsReissuing = max(result.peakSecretsReissuing, perSecond(secrets))
			samples++
			if samples%10 != 0 && time.Since(switched) < result.window {
				// Listing every certificate costs the API server; every 10 s
				// is enough before the window has passed.
				continue
			}
			reissued, err := reissuedCount(ctx, c)
			if err != nil {
				return nil, err
			}
			result.reissued = reissued
			if reissued >= n {
				result.reissuing = time.Since(switched)
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("rotation: %d of %d certificates re-issued by %s (phase %v)", result.reissued, n, deadline.Format(time.RFC3339), rotation)
		}
	}
	counts1, cpu1, err := run.snapshot()
	if err != nil {
		return nil, err
	}
	result.writes, result.cpu = summarizeWrites(counts0.delta(counts1), 0), cpu0.to(cpu1)
	return result, nil
}

// reissuedCount is how many of the run's certificates are at revision 2
// or later.
func reissuedCount(ctx context.Context, c client.Client) (int, error) {
	var list certsmithv1alpha1.ServiceCertificateList
	if err := c.List(ctx, &list, client.InNamespace(benchNamespace)); err != nil {
		return 0, err
	}
	count := 0
	for _, sc := range list.Items {
		if sc.Status.Revision >= 2 {
			count++
		}
	}
	return count, nil
}

// printRest reports what measureRest found.
func printRest(w io.Writer, results []*runResult) {
	for _, r := range results {
		rest := r.rest
		if rest == nil {
			continue
		}
		n := r.spec.n
		fmt.Fprintf(w, "\n## At rest, resync and rotation: %s\n\n", r.spec)
		fmt.Fprintln(w, "| window | wall | mutating requests (certsmith's) | API server's own (leases) | 409 | manager CPU | kube-apiserver CPU | etcd CPU |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
		row := func(name string, wall time.Duration, s writeSummary, cpu cpuDelta) {
			fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %s | %s | %s |\n", name, seconds(wall), s.operator, s.background, s.conflicts,
				seconds(cpu.manager), seconds(cpu.apiserver), seconds(cpu.etcd))
		}
		if rest.idle > 0 {
			row(fmt.Sprintf("at rest, %s", rest.idle), rest.idle, rest.idleWrites, rest.idleCPU)
		}
		row(fmt.Sprintf("full resync (a fresh manager; %s until all %d reconciled, +%s)", seconds(rest.resync), n, resyncSettle),
			rest.resync+resyncSettle, rest.resyncWrites, rest.resyncCPU)
		if rot := rest.rotation; rot != nil {
			row("CA rotation, from the request until all re-issued", rot.publishing+rot.reissuing, rot.writes, rot.cpu)
		}
		if rest.idle > 0 {
			fmt.Fprintf(w, "\nAt rest: the manager used %.3f%% of one CPU (%s in %s).\n",
				100*rest.idleCPU.manager.Seconds()/rest.idle.Seconds(), seconds(rest.idleCPU.manager), rest.idle)
		}
		if rest.idle > 0 {
			fmt.Fprintf(w, "\nMutating requests at rest:\n\n")
			printCounts(w, rest.idleWrites, n)
		}
		fmt.Fprintf(w, "\nMutating requests of the full resync:\n\n")
		printCounts(w, rest.resyncWrites, n)
		if rot := rest.rotation; rot != nil {
			fmt.Fprintf(w, "\nCA rotation: publishing (every Secret's ca.crt takes the next CA) %s, at most %d mutating requests per second; "+
				"re-issuing over status.rotation.reissueWindow %s: %s, at most %d mutating requests and %d Secret writes (re-issues) per second; %d of %d re-issued "+
				"(rates per sample of about a second, the longest %s).\n",
				seconds(rot.publishing), rot.peakPublishing, rot.window, seconds(rot.reissuing), rot.peakReissuing, rot.peakSecretsReissuing, rot.reissued, n,
				rot.longestSample.Round(10*time.Millisecond))
			fmt.Fprintf(w, "\nMutating requests of the rotation:\n\n")
			printCounts(w, rot.writes, n)
		}
	}
}

// printCounts prints a window's mutating requests by verb and resource,
// and per certificate of n.
func printCounts(w io.Writer, s writeSummary, n int) {
	fmt.Fprintln(w, "| request (verb resource code) | count | per certificate |")
	fmt.Fprintln(w, "|---|---:|---:|")
	for _, k := range sortedKeys(s.byKey) {
		fmt.Fprintf(w, "| %s | %d | %.3f |\n", k, s.byKey[k], float64(s.byKey[k])/float64(n))
	}
	fmt.Fprintf(w, "| **certsmith's** (all but the API server's leases) | %d | **%.3f** |\n", s.operator, float64(s.operator)/float64(n))
}
