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
	names, byName := groupRepeated(results, func(r *runResult) (string, int) { return r.spec.name(), r.spec.repeat })
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
		stat := func(f func(*runResult) float64, format string) string { return medianRangeOf(rs, f, format) }
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

// medianRange formats values as "median (minimum – maximum)".
func medianRange(values []float64, format string) string {
	if len(values) == 0 {
		return "–"
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return fmt.Sprintf(format+" ("+format+" – "+format+")", median(sorted), sorted[0], sorted[len(sorted)-1])
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
		printWriteTable(w, "until Ready", "issuance", r.untilReady, r.settled, r.spec.n, func(k requestKey) string {
			switch {
			case k.verb == "POST" && k.resource == "servicecertificates" && k.subresource == "":
				return " (the harness's creates)"
			case backgroundResources[k.resource]:
				return " (the API server's own)"
			}
			return ""
		})
		fmt.Fprintf(w, "\nRequests the API server throttled (429, any verb, until settled): %d.\n", r.settled.throttled)
		var reads []string
		for _, k := range sortedKeys(r.reads) {
			reads = append(reads, fmt.Sprintf("%s %d (%.2f)", k, r.reads[k], float64(r.reads[k])/n))
		}
		fmt.Fprintf(w, "Reads the API server answered until settled (GET and LIST by resource; per issuance): %s.\n", strings.Join(reads, ", "))
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

// printWriteTable prints the mutating requests of two windows (the first
// named firstWindow, the second until settled) by verb and resource, per
// one of n issuances (unit names one), and certsmith's total; note explains
// a request that is not certsmith's.
func printWriteTable(w io.Writer, firstWindow, unit string, first, settled writeSummary, n int, note func(requestKey) string) {
	per := func(count int) float64 { return float64(count) / float64(n) }
	fmt.Fprintf(w, "| request (verb resource code) | %s | per %s | until settled | per %s |\n", firstWindow, unit, unit)
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, k := range sortedKeys(settled.byKey) {
		fmt.Fprintf(w, "| %s%s | %d | %.2f | %d | %.2f |\n", k, note(k), first.byKey[k], per(first.byKey[k]), settled.byKey[k], per(settled.byKey[k]))
	}
	fmt.Fprintf(w, "| **certsmith's writes** | %d | **%.2f** | %d | **%.2f** |\n", first.operator, per(first.operator), settled.operator, per(settled.operator))
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// printCPURow prints one window of a run in the CPU table.
func printCPURow(w io.Writer, run, window string, d cpuDelta) {
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s (%.0f%%) |\n", run, window, seconds(d.wall),
		seconds(d.manager), seconds(d.apiserver), seconds(d.etcd), seconds(d.harness), seconds(d.other), seconds(d.steal), seconds(d.all),
		100*d.all.Seconds()/(d.wall.Seconds()*float64(describeMachine().cpus)))
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
			printCPURow(w, r.spec.String(), window.name, window.d)
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

// printPodCertificates prints the figures of the pod-certificate runs.
func printPodCertificates(w io.Writer, results []*podRunResult) {
	fmt.Fprintln(w, "## Pod certificates: summary")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | created in (s) | all Issued (s) | by Issued's lastTransitionTime (s) | PCRs/s | p50 (s) | p90 (s) | p99 (s) | certsmith's histogram: mean, p50, p99 (s) | writes/PCR until Issued | writes/PCR until settled | manager's own writes/PCR | 409s | manager CPU (s) | kube-apiserver CPU (s) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		n := float64(r.spec.n)
		h := r.managerMetrics.podIssuance
		fromStart := r.lastIssuedServer.Sub(r.start.Truncate(time.Second)).Seconds()
		fmt.Fprintf(w, "| %s | %s | %s | %.0f–%.0f | %.0f | %s | %s | %s | %.2f, ~%.2f, ~%.2f | %.2f | %.2f | %.2f | %d | %.2f | %.2f |\n",
			r.spec, seconds(r.created), seconds(r.allIssued), fromStart-1, fromStart+1, n/r.allIssued.Seconds(),
			seconds(percentile(r.latencies, 50)), seconds(percentile(r.latencies, 90)), seconds(percentile(r.latencies, 99)),
			h.mean(), h.quantile(0.5), h.quantile(0.99),
			float64(r.untilIssued.operator)/n, float64(r.settled.operator)/n, float64(r.managerWrites)/n, r.settled.conflicts,
			r.cpuSettled.manager.Seconds(), r.cpuSettled.apiserver.Seconds())
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "All Issued: from the first create of certsmith's requests until the harness's watch saw the last one Issued; the next column")
	fmt.Fprintln(w, "checks it with the latest Issued condition's lastTransitionTime (whole seconds, hence a range). p50/p90/p99: each request")
	fmt.Fprintln(w, "from its create to its Issued, seen by the watch. certsmith's histogram: certsmith_podcertificaterequest_issuance_duration_seconds")
	fmt.Fprintln(w, "from the manager's /metrics, from the request's creationTimestamp (whole seconds, so up to 1 s more) to the Issued write;")
	fmt.Fprintln(w, "its quantiles are interpolated within the buckets, as histogram_quantile does. Writes: the API server's mutating requests")
	fmt.Fprintln(w, "less the harness's creates and the API server's own Lease renewals, per request; manager's own: the manager's")
	fmt.Fprintln(w, "rest_client_requests_total (POST, PUT, PATCH, DELETE) over the same window until settled.")

	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Pod certificates: API requests by verb and resource")
	for _, r := range results {
		n := float64(r.spec.n)
		fmt.Fprintf(w, "\n%s:\n\n", r.spec)
		printWriteTable(w, "until Issued", "request", r.untilIssued, r.settled, r.spec.n, podRequestNote)
		var parts []string
		for _, k := range sortedKeys(r.reads) {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(r.reads[k])/n))
		}
		fmt.Fprintf(w, "\nReads per request until settled (GET and LIST, any client; the harness makes none in the window): %s.\n", strings.Join(parts, ", "))
		fmt.Fprintf(w, "Requests the API server throttled (429, any verb, until settled): %d.\n", r.settled.throttled)
		m := r.managerMetrics
		fmt.Fprintf(w, "certsmith counted %d issued and %d refused; in its caches: %s.\n", m.podIssued, m.podRefused, watchedText(m.podWatched))
		parts = parts[:0]
		for _, q := range sortedNames(m.queueWait) {
			parts = append(parts, fmt.Sprintf("%s %s", q, m.queueWait[q].Round(time.Millisecond)))
		}
		fmt.Fprintf(w, "Mean wait in the work queues (manager's lifetime): %s.\n", strings.Join(parts, ", "))
		if len(r.settled.terminatedWatchers) > 0 {
			parts = parts[:0]
			for _, res := range sortedNames(r.settled.terminatedWatchers) {
				parts = append(parts, fmt.Sprintf("%s %d", res, r.settled.terminatedWatchers[res]))
			}
			fmt.Fprintf(w, "Watchers the API server closed for not keeping up (the harness's included): %s.\n", strings.Join(parts, ", "))
		}
		if r.watchRestarts > 0 {
			fmt.Fprintf(w, "The harness's watch was re-opened %d times.\n", r.watchRestarts)
		}
		if len(r.refreshShares) > 0 {
			shares := slices.Clone(r.refreshShares)
			slices.Sort(shares)
			fmt.Fprintf(w, "Certificates: chains of %d, lifetime %s, beginRefreshAt at %.2f%% – %.2f%% of the lifetime.\n",
				r.chainLength, r.lifetime, 100*shares[0], 100*shares[len(shares)-1])
		}
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Pod certificates: certsmith's issuance histogram (cumulative requests by upper bound, seconds)")
	fmt.Fprintln(w)
	for _, r := range results {
		h := r.managerMetrics.podIssuance
		var parts []string
		for _, b := range h.finite() {
			parts = append(parts, fmt.Sprintf("≤%g: %d", b.upper, b.count))
		}
		fmt.Fprintf(w, "- %s: %s; count %d, sum %.1f s.\n", r.spec, strings.Join(parts, ", "), h.count, h.sum)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Pod certificates: CPU seconds by process")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | window | wall (s) | manager | kube-apiserver | etcd | harness | other processes | stolen by the hypervisor | machine busy |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		printCPURow(w, r.spec.String(), "until Issued", r.cpuIssued)
		printCPURow(w, r.spec.String(), "until settled", r.cpuSettled)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Pod certificates: manager memory (MiB, after a forced GC)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | after | peak RSS (VmHWM) | RSS | anonymous | file | live heap | heap in use |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		stages := []struct {
			name string
			m    memorySample
		}{{"the issuer is Ready", r.memIdle}, {"the settle time more, nothing created", r.memIdleAgain}}
		if r.spec.foreign > 0 {
			stages = append(stages, struct {
				name string
				m    memorySample
			}{fmt.Sprintf("%d foreign requests", r.spec.foreign), r.memForeign})
		}
		stages = append(stages, struct {
			name string
			m    memorySample
		}{fmt.Sprintf("%d of certsmith's", r.spec.n), r.memOwn})
		for _, s := range stages {
			p := s.m.proc
			fmt.Fprintf(w, "| %s | %s | %.1f | %.1f | %.1f | %.1f | %s | %s |\n", r.spec, s.name, float64(p.hwm)/mib, float64(p.rss)/mib,
				float64(p.anon)/mib, float64(p.file)/mib, mebibytes(s.m.heapLive), mebibytes(s.m.heapInUse))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | nothing created: live heap growth (MiB) | RSS growth (MiB) | foreign: created in (s) | certsmith's writes | manager's own writes | requests with a status | watch events (KiB) sent for PCRs | live heap growth (MiB) | RSS growth (MiB) | certsmith's: live heap growth (MiB) | per request (KiB) | RSS growth (MiB) | watch events (KiB) sent for PCRs |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		idleHeap, idleRSS := growth(r.memIdle, r.memIdleAgain)
		foreignHeap, foreignRSS := growth(r.memIdleAgain, r.memForeign)
		ownHeap, ownRSS := growth(r.memForeign, r.memOwn)
		foreign := "| – | – | – | – | – | – | –"
		if r.spec.foreign > 0 {
			foreign = fmt.Sprintf("| %s | %d | %d | %d | %s | %+.1f | %+.1f", seconds(r.foreignCreated), r.foreignWrites.operator, r.foreignManagerWrites,
				r.foreignTouched, watchEventsText(r.foreignWrites), foreignHeap/mib, foreignRSS/mib)
		}
		fmt.Fprintf(w, "| %s | %+.1f | %+.1f %s | %+.1f | %+.1f | %+.1f | %s |\n", r.spec, idleHeap/mib, idleRSS/mib, foreign, ownHeap/mib, ownHeap/1024/float64(r.spec.n), ownRSS/mib, watchEventsText(r.settled))
	}
	for _, r := range results {
		if r.spec.foreign > 0 {
			fmt.Fprintf(w, "\n%s: in certsmith's caches after the foreign requests: %s.", r.spec, watchedText(r.foreignWatched))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each figure is read right after a forced GC (the manager's heap profile with gc=1; its profiler is on in these runs):")
	fmt.Fprintln(w, "live heap is go_gc_heap_live_bytes, heap in use go_memstats_heap_inuse_bytes. Nothing created: the settle time after the")
	fmt.Fprintln(w, "issuer was Ready, for comparison with the foreign requests' growth, which is from there. Foreign: the window from the first foreign")
	fmt.Fprintln(w, "create until the settle time after the last; certsmith's writes there are the API server's mutating requests less the")
	fmt.Fprintln(w, "harness's creates; requests with a status must be 0. Watch events: apiserver_watch_events_total and the sum of")
	fmt.Fprintln(w, "apiserver_watch_events_sizes for podcertificaterequests, to every watcher (bookmarks included): in the foreign window")
	fmt.Fprintln(w, "the manager's are the only PCR watches; in certsmith's window the harness's watch of its own signer is one too.")

	printPodRepeats(w, results)
}

// watchEventsText formats the watch events sent for PodCertificateRequests in a window.
func watchEventsText(s writeSummary) string {
	return fmt.Sprintf("%d (%.0f)", s.watchEvents["podcertificaterequests"], float64(s.watchBytes["podcertificaterequests"])/1024)
}

// growth returns how much the live heap and the RSS grew from one sample to the next, in bytes.
func growth(from, to memorySample) (heap, rss float64) {
	return to.heapLive - from.heapLive, float64(to.proc.rss) - float64(from.proc.rss)
}

// watchedText formats certsmith_podcertificaterequests_watched.
func watchedText(watched map[string]map[string]int) string {
	if len(watched) == 0 {
		return "no signer watched"
	}
	var parts []string
	for _, signer := range sortedNames(watched) {
		parts = append(parts, fmt.Sprintf("%s: %d pending, %d finished", signer, watched[signer]["pending"], watched[signer]["finished"]))
	}
	return strings.Join(parts, "; ")
}

// printPodRepeats prints, for pod-certificate runs taken more than once,
// the median, minimum and maximum of the main figures.
func printPodRepeats(w io.Writer, results []*podRunResult) {
	names, byName := groupRepeated(results, func(r *podRunResult) (string, int) { return r.spec.name(), r.spec.repeat })
	if len(names) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Pod certificates, repeated runs: median (minimum – maximum)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | runs | all Issued (s) | PCRs/s | p50 (s) | p99 (s) | writes/PCR until settled | manager CPU (s) | kube-apiserver CPU (s) | peak RSS (MiB) | live heap growth, nothing created (MiB) | live heap growth, foreign (MiB) | live heap growth, certsmith's (MiB) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, name := range names {
		rs := byName[name]
		stat := func(f func(*podRunResult) float64, format string) string { return medianRangeOf(rs, f, format) }
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, len(rs),
			stat(func(r *podRunResult) float64 { return r.allIssued.Seconds() }, "%.2f"),
			stat(func(r *podRunResult) float64 { return float64(r.spec.n) / r.allIssued.Seconds() }, "%.0f"),
			stat(func(r *podRunResult) float64 { return percentile(r.latencies, 50).Seconds() }, "%.2f"),
			stat(func(r *podRunResult) float64 { return percentile(r.latencies, 99).Seconds() }, "%.2f"),
			stat(func(r *podRunResult) float64 { return float64(r.settled.operator) / float64(r.spec.n) }, "%.2f"),
			stat(func(r *podRunResult) float64 { return r.cpuSettled.manager.Seconds() }, "%.2f"),
			stat(func(r *podRunResult) float64 { return r.cpuSettled.apiserver.Seconds() }, "%.2f"),
			stat(func(r *podRunResult) float64 { return float64(r.memOwn.proc.hwm) / mib }, "%.1f"),
			stat(func(r *podRunResult) float64 { heap, _ := growth(r.memIdle, r.memIdleAgain); return heap / mib }, "%+.1f"),
			stat(func(r *podRunResult) float64 { heap, _ := growth(r.memIdleAgain, r.memForeign); return heap / mib }, "%+.1f"),
			stat(func(r *podRunResult) float64 { heap, _ := growth(r.memForeign, r.memOwn); return heap / mib }, "%+.1f"))
	}
}

// groupRepeated groups the results of runs taken more than once by run
// name, names in first-seen order.
func groupRepeated[R any](results []R, key func(R) (name string, repeat int)) ([]string, map[string][]R) {
	var names []string
	byName := map[string][]R{}
	for _, r := range results {
		name, repeat := key(r)
		if repeat < 2 {
			continue
		}
		if _, seen := byName[name]; !seen {
			names = append(names, name)
		}
		byName[name] = append(byName[name], r)
	}
	return names, byName
}

// medianRangeOf is medianRange of one figure over a group of results.
func medianRangeOf[R any](results []R, figure func(R) float64, format string) string {
	values := make([]float64, 0, len(results))
	for _, r := range results {
		values = append(values, figure(r))
	}
	return medianRange(values, format)
}
