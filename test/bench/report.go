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
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

const mib = 1 << 20

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

// printSummary prints the table of the main figures, one row per run.
func printSummary(w io.Writer, results []*runResult) {
	fmt.Fprintln(w, "## Summary")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | created in (s) | all Ready (s) | by Ready's lastTransitionTime (s) | certs/s | p50 (s) | p90 (s) | p99 (s) | writes/issuance until Ready | writes/issuance until settled | 409s | manager CPU (s) | manager peak RSS (MiB) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		n := float64(r.spec.n)
		fmt.Fprintf(w, "| %s | %s | %s | %.0f–%.0f | %.0f | %s | %s | %s | %.2f | %.2f | %d | %.2f | %.1f |\n",
			r.spec, seconds(r.created), seconds(r.allReady),
			r.lastReadyServer.Sub(r.start.Truncate(time.Second)).Seconds()-1, r.lastReadyServer.Sub(r.start.Truncate(time.Second)).Seconds()+1,
			n/r.allReady.Seconds(),
			seconds(percentile(r.latencies, 50)), seconds(percentile(r.latencies, 90)), seconds(percentile(r.latencies, 99)),
			float64(r.untilReady.operator)/n, float64(r.settled.operator)/n, r.settled.conflicts,
			r.cpuSettled.manager.Seconds(), float64(r.managerMemory.hwm)/mib)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "All Ready: from the first create until the harness's watch saw the last certificate Ready; the next column checks it")
	fmt.Fprintln(w, "with the latest Ready condition's lastTransitionTime, which has whole seconds only (hence a range).")
	fmt.Fprintln(w, "p50/p90/p99: each certificate from its create request to its Ready, seen by the watch.")
	fmt.Fprintln(w, "Writes: the API server's mutating requests (apiserver_request_total; Events included) less the harness's creates")
	fmt.Fprintln(w, "and the API server's own Lease renewals, divided by N; settled is the window until the settle time after the last Ready.")
	fmt.Fprintln(w, "409s: conflicts answered by the API server in the whole window. Manager CPU: user+system from the first create until settled.")
	for _, r := range results {
		for _, touched := range r.touched {
			fmt.Fprintf(w, "\n**%s: %s** (objects created before the manager started, which it must leave alone).\n", r.spec, touched)
		}
	}
}

// printRepeats prints, for measurements taken more than once, the median,
// minimum and maximum of the main figures.
func printRepeats(w io.Writer, results []*runResult) {
	var names []string
	byName := map[string][]*runResult{}
	for _, r := range results {
		if r.spec.repeat < 2 {
			continue
		}
		if _, seen := byName[r.spec.name()]; !seen {
			names = append(names, r.spec.name())
		}
		byName[r.spec.name()] = append(byName[r.spec.name()], r)
	}
	if len(names) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Repeated runs: median (minimum – maximum)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | runs | all Ready (s) | certs/s | p50 (s) | p99 (s) | writes/issuance until settled | 409s | manager CPU (s) | kube-apiserver CPU (s) | manager peak RSS (MiB) | manager live heap after settling (MiB) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, name := range names {
		rs := byName[name]
		stat := func(f func(*runResult) float64, format string) string {
			values := make([]float64, 0, len(rs))
			for _, r := range rs {
				values = append(values, f(r))
			}
			slices.Sort(values)
			return fmt.Sprintf(format+" ("+format+" – "+format+")", median(values), values[0], values[len(values)-1])
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, len(rs),
			stat(func(r *runResult) float64 { return r.allReady.Seconds() }, "%.2f"),
			stat(func(r *runResult) float64 { return float64(r.spec.n) / r.allReady.Seconds() }, "%.0f"),
			stat(func(r *runResult) float64 { return percentile(r.latencies, 50).Seconds() }, "%.2f"),
			stat(func(r *runResult) float64 { return percentile(r.latencies, 99).Seconds() }, "%.2f"),
			stat(func(r *runResult) float64 { return float64(r.settled.operator) / float64(r.spec.n) }, "%.2f"),
			stat(func(r *runResult) float64 { return float64(r.settled.conflicts) }, "%.0f"),
			stat(func(r *runResult) float64 { return r.cpuSettled.manager.Seconds() }, "%.2f"),
			stat(func(r *runResult) float64 { return r.cpuSettled.apiserver.Seconds() }, "%.2f"),
			stat(func(r *runResult) float64 { return float64(r.managerMemory.hwm) / mib }, "%.1f"),
			stat(func(r *runResult) float64 { return r.managerMetrics.heapLive / mib }, "%.1f"))
	}
}

// median returns the median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// printWrites prints, for every run, the mutating requests by verb and resource.
func printWrites(w io.Writer, results []*runResult) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## API writes by verb and resource")
	for _, r := range results {
		n := float64(r.spec.n)
		fmt.Fprintf(w, "\n%s:\n\n", r.spec)
		fmt.Fprintln(w, "| request (verb resource code) | until Ready | per issuance | until settled | per issuance |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
		for _, k := range sortedKeys(r.settled.byKey) {
			note := ""
			switch {
			case k.verb == "POST" && k.resource == "servicecertificates" && k.subresource == "":
				note = " (the harness's creates)"
			case backgroundResources[k.resource]:
				note = " (the API server's own)"
			}
			fmt.Fprintf(w, "| %s%s | %d | %.2f | %d | %.2f |\n", k, note,
				r.untilReady.byKey[k], float64(r.untilReady.byKey[k])/n, r.settled.byKey[k], float64(r.settled.byKey[k])/n)
		}
		fmt.Fprintf(w, "| **certsmith's writes** | %d | **%.2f** | %d | **%.2f** |\n",
			r.untilReady.operator, float64(r.untilReady.operator)/n, r.settled.operator, float64(r.settled.operator)/n)
		fmt.Fprintf(w, "\nRequests the API server throttled (429, any verb, until settled): %d.\n", r.settled.throttled)
		m := r.managerMetrics
		var parts []string
		for _, c := range sortedNames(m.reconciles) {
			parts = append(parts, fmt.Sprintf("%s %.2f", c, float64(m.reconciles[c])/n))
		}
		fmt.Fprintf(w, "Reconciles per issuance (manager's lifetime, issuer included): %s.\n", strings.Join(parts, ", "))
		parts = parts[:0]
		for _, method := range sortedNames(m.requests) {
			parts = append(parts, fmt.Sprintf("%s %.2f", method, float64(m.requests[method])/n))
		}
		fmt.Fprintf(w, "Manager's requests to the API server per issuance, by method (lifetime, watches and lists included): %s.\n", strings.Join(parts, ", "))
		parts = parts[:0]
		for _, q := range sortedNames(m.queueWait) {
			parts = append(parts, fmt.Sprintf("%s %s", q, m.queueWait[q].Round(time.Millisecond)))
		}
		fmt.Fprintf(w, "Mean wait in the work queues: %s.\n", strings.Join(parts, ", "))
		if len(r.settled.terminatedWatchers) > 0 {
			parts = parts[:0]
			for _, res := range sortedNames(r.settled.terminatedWatchers) {
				parts = append(parts, fmt.Sprintf("%s %d", res, r.settled.terminatedWatchers[res]))
			}
			fmt.Fprintf(w, "Watchers the API server closed for not keeping up (apiserver_terminated_watchers_total; the harness's included): %s.\n", strings.Join(parts, ", "))
		}
		if r.watchRestarts > 0 {
			fmt.Fprintf(w, "The harness's watch was re-opened %d times.\n", r.watchRestarts)
		}
	}
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// printCPU prints where the CPU time went in each run.
func printCPU(w io.Writer, results []*runResult) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## CPU seconds by process")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | window | wall (s) | manager | kube-apiserver | etcd | harness | other processes | stolen by the hypervisor | machine busy |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		for _, window := range []struct {
			name string
			d    cpuDelta
		}{{"until Ready", r.cpuReady}, {"until settled", r.cpuSettled}} {
			d := window.d
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s (%.0f%%) |\n", r.spec, window.name, seconds(d.wall),
				seconds(d.manager), seconds(d.apiserver), seconds(d.etcd), seconds(d.harness), seconds(d.other), seconds(d.steal), seconds(d.all),
				100*d.all.Seconds()/(d.wall.Seconds()*float64(describeMachine().cpus)))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU: utime+stime from /proc/<pid>/stat; machine busy from /proc/stat (share of all CPUs), steal included;")
	fmt.Fprintln(w, "other processes: machine busy less steal and the four measured processes (other work on the machine: noise).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Manager memory (MiB, /proc/<pid>/status)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | peak RSS (VmHWM) | RSS after settling | of which anonymous (heap, stacks, runtime) | of which file (the binary's pages) | Go heap in use after settling | live heap at the last GC |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		m := r.managerMemory
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f | %s | %s |\n", r.spec, float64(m.hwm)/mib, float64(m.rss)/mib, float64(m.anon)/mib, float64(m.file)/mib,
			mebibytes(r.managerMetrics.heapInUse), mebibytes(r.managerMetrics.heapLive))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Heap: go_memstats_heap_inuse_bytes and go_gc_heap_live_bytes from the manager's /metrics after settling (a peak heap is not exported).")
}

// mebibytes formats bytes as MiB, and a figure the manager did not export (negative) as "–".
func mebibytes(bytes float64) string {
	if bytes < 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", bytes/mib)
}

// printRenewal prints the spread of renewal times of one run.
func printRenewal(w io.Writer, results []*runResult, n int) {
	var chosen *runResult
	for _, r := range results {
		if r.spec.key != keyECDSA || r.spec.secrets > 0 {
			continue
		}
		if r.spec.n == n || chosen == nil || (chosen.spec.n != n && r.spec.n > chosen.spec.n) {
			chosen = r
		}
	}
	if chosen == nil || len(chosen.renewalShares) == 0 {
		return
	}
	shares := slices.Clone(chosen.renewalShares)
	slices.Sort(shares)
	lo, hi := shares[0], shares[len(shares)-1]
	fmt.Fprintln(w)
	fmt.Fprintf(w, "## Renewal spread (%s, created together)\n\n", chosen.spec)
	fmt.Fprintf(w, "status.renewalTime as a share of each certificate's lifetime: min %.2f%%, max %.2f%%, spread %.2f%% of the lifetime.\n\n",
		100*lo, 100*hi, 100*(hi-lo))
	fmt.Fprintln(w, "| bin (share of lifetime) | certificates | |")
	fmt.Fprintln(w, "|---|---:|---|")
	counts := histogram(shares, lo, hi, 10)
	width := (hi - lo) / 10
	for i, c := range counts {
		fmt.Fprintf(w, "| %.2f%% – %.2f%% | %d | %s |\n", 100*(lo+float64(i)*width), 100*(lo+float64(i+1)*width), c, strings.Repeat("#", c*40/max(1, slices.Max(counts))))
	}
}
