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
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// architecture Go supports (the kernel fixes it for user space).
const clockTicks = 100

// procCPU returns the user plus system CPU time a process has used, from
// /proc/<pid>/stat (utime and stime, fields 14 and 15).
func procCPU(pid string) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(data))
}

// parseProcStat reads utime+stime from the text of /proc/<pid>/stat. The
// command name (field 2) may hold spaces and parentheses, so the fields are
// counted from the last ')'.
func parseProcStat(stat string) (time.Duration, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("malformed stat: %q", stat)
	}
	fields := strings.Fields(stat[end+1:])
	// fields[0] is field 3 (state); utime is field 14, stime field 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("malformed stat: %q", stat)
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed stat: %q", stat)
	}
	return ticks(utime + stime), nil
}

func ticks(n uint64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

// machineBusy returns the CPU time all CPUs spent busy (not idle or waiting
// for I/O), and of that the time stolen by the hypervisor (other virtual
// machines on the same host), from the first line of /proc/stat.
func machineBusy() (busy, steal time.Duration, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return parseMachineBusy(line)
}

// parseMachineBusy reads "cpu user nice system idle iowait irq softirq steal ...".
func parseMachineBusy(line string) (busy, steal time.Duration, err error) {
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("malformed /proc/stat line: %q", line)
	}
	var busyTicks uint64
	for i, f := range fields[1:9] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("malformed /proc/stat line: %q", line)
		}
		switch i {
		case 3, 4: // idle, iowait
		case 7: // steal
			busyTicks += v
			steal = ticks(v)
		default:
			busyTicks += v
		}
	}
	return ticks(busyTicks), steal, nil
}

// memoryInfo is a process's resident memory, in bytes, from /proc/<pid>/status.
type memoryInfo struct {
	// hwm is VmHWM, the peak resident set size.
	hwm uint64
	// rss is VmRSS, the resident set size now: anon (heap, stacks, runtime)
	// plus file (the binary's pages that were read) plus shmem.
	rss, anon, file uint64
}

// procMemory reads a process's resident memory.
func procMemory(pid string) (memoryInfo, error) {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return memoryInfo{}, err
	}
	return parseProcStatus(string(data))
}

func parseProcStatus(status string) (memoryInfo, error) {
	var m memoryInfo
	fields := map[string]*uint64{"VmHWM": &m.hwm, "VmRSS": &m.rss, "RssAnon": &m.anon, "RssFile": &m.file}
	scanner := bufio.NewScanner(strings.NewReader(status))
	for scanner.Scan() {
		name, value, ok := strings.Cut(scanner.Text(), ":")
		target := fields[name]
		if !ok || target == nil {
			continue
		}
		parts := strings.Fields(value)
		if len(parts) != 2 || parts[1] != "kB" {
			return memoryInfo{}, fmt.Errorf("malformed %s: %q", name, value)
		}
		kb, err := strconv.ParseUint(parts[0], 10, 64)
		if err != nil {
			return memoryInfo{}, err
		}
		*target = kb * 1024
	}
	if m.hwm == 0 {
		return memoryInfo{}, fmt.Errorf("no VmHWM in status")
	}
	return m, nil
}

// cpuSnapshot is the CPU time of each measured process and of the machine.
type cpuSnapshot struct {
	at                                            time.Time
	manager, apiserver, etcd, harness, all, steal time.Duration
}

// cpuDelta is what was used between two snapshots.
type cpuDelta struct {
	wall                                                 time.Duration
	manager, apiserver, etcd, harness, all, other, steal time.Duration
}

func (b cpuSnapshot) to(a cpuSnapshot) cpuDelta {
	d := cpuDelta{
		wall: a.at.Sub(b.at), manager: a.manager - b.manager, apiserver: a.apiserver - b.apiserver,
		etcd: a.etcd - b.etcd, harness: a.harness - b.harness, all: a.all - b.all, steal: a.steal - b.steal,
	}
	d.other = max(0, d.all-d.steal-d.manager-d.apiserver-d.etcd-d.harness)
	return d
}

// requestKey identifies a counter of apiserver_request_total.
type requestKey struct {
	verb, group, resource, subresource, code string
}

func (k requestKey) mutating() bool {
	switch k.verb {
	case "POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY":
		return true
	}
	return false
}

// String reads like "PUT certificatesigningrequests/approval 200".
func (k requestKey) String() string {
	resource := k.resource
	if k.subresource != "" {
		resource += "/" + k.subresource
	}
	if k.group != "" && k.resource == "events" {
		resource = k.group + " " + resource
	}
	return fmt.Sprintf("%s %s %s", k.verb, resource, k.code)
}

// requestCounts are the API server's request counters.
type requestCounts map[requestKey]float64

// verbTerminatedWatch marks, in requestCounts, the counter of watchers the
// API server closed because they did not keep up
// (apiserver_terminated_watchers_total): each costs its client a re-list.
const verbTerminatedWatch = "TERMINATED WATCH"

// verbWatchEvents and verbWatchBytes mark, in requestCounts, the events the
// API server sent to watchers (apiserver_watch_events_total, bookmarks
// included) and their bytes (the sum of apiserver_watch_events_sizes), by
// resource: what the watchers of a resource were sent, whoever they are.
const (
	verbWatchEvents = "WATCH EVENTS"
	verbWatchBytes  = "WATCH BYTES"
)

// parseRequestCounts reads apiserver_request_total, and
// apiserver_terminated_watchers_total, apiserver_watch_events_total and
// apiserver_watch_events_sizes under verbTerminatedWatch, verbWatchEvents
// and verbWatchBytes, from the text of /metrics.
func parseRequestCounts(raw []byte) (requestCounts, error) {
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	family, ok := families["apiserver_request_total"]
	if !ok {
		return nil, fmt.Errorf("no apiserver_request_total in the API server's metrics")
	}
	counts := requestCounts{}
	for _, m := range family.GetMetric() {
		var k requestKey
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "verb":
				k.verb = l.GetValue()
			case "group":
				k.group = l.GetValue()
			case "resource":
				k.resource = l.GetValue()
			case "subresource":
				k.subresource = l.GetValue()
			case "code":
				k.code = l.GetValue()
			}
		}
		counts[k] += m.GetCounter().GetValue()
	}
	for _, m := range families["apiserver_terminated_watchers_total"].GetMetric() {
		counts[resourceKey(verbTerminatedWatch, m.GetLabel())] += m.GetCounter().GetValue()
	}
	for _, m := range families["apiserver_watch_events_total"].GetMetric() {
		counts[resourceKey(verbWatchEvents, m.GetLabel())] += m.GetCounter().GetValue()
	}
	for _, m := range families["apiserver_watch_events_sizes"].GetMetric() {
		counts[resourceKey(verbWatchBytes, m.GetLabel())] += m.GetHistogram().GetSampleSum()
	}
	return counts, nil
}

// resourceKey is the key of a per-resource counter under a pseudo-verb.
func resourceKey[L interface {
	GetName() string
	GetValue() string
}](verb string, labels []L) requestKey {
	return requestKey{verb: verb, group: labelValue(labels, "group"), resource: labelValue(labels, "resource")}
}

// delta returns after minus before, counters that grew only.
func (before requestCounts) delta(after requestCounts) map[requestKey]int {
	d := map[requestKey]int{}
	for k, v := range after {
		if n := int(math.Round(v - before[k])); n > 0 {
			d[k] = n
		}
	}
	return d
}

// backgroundResources are written by the API server itself, whatever the
// workload: its identity Lease (kube-system, renewed every 10 s).
var backgroundResources = map[string]bool{"leases": true}

// writeSummary sums the mutating requests of a window.
type writeSummary struct {
	// byKey are the mutating requests, the harness's own creates included.
	byKey map[requestKey]int
	// operator is every mutating request less the harness's creates and the
	// API server's background writes: what the issuances cost.
	operator int
	// conflicts are the 409 answers, any verb.
	conflicts int
	// throttled are the 429 answers (API Priority and Fairness rejections), any verb.
	throttled int
	// background are the writes of backgroundResources.
	background int
	// terminatedWatchers are the watchers the API server closed, by resource.
	terminatedWatchers map[string]int
	// watchEvents and watchBytes are the events, and their bytes, the API
	// server sent to the watchers of each resource.
	watchEvents, watchBytes map[string]int
}

// summarizeWrites sums a window's requests; harnessCreates is how many
// ServiceCertificates the harness created in it.
func summarizeWrites(delta map[requestKey]int, harnessCreates int) writeSummary {
	s := writeSummary{byKey: map[requestKey]int{}, terminatedWatchers: map[string]int{}, watchEvents: map[string]int{}, watchBytes: map[string]int{}}
	for k, n := range delta {
		switch k.verb {
		case verbTerminatedWatch:
			s.terminatedWatchers[k.resource] += n
			continue
		case verbWatchEvents:
			s.watchEvents[k.resource] += n
			continue
		case verbWatchBytes:
			s.watchBytes[k.resource] += n
			continue
		}
		switch k.code {
		case "409":
			s.conflicts += n
		case "429":
			s.throttled += n
		}
		if !k.mutating() {
			continue
		}
		s.byKey[k] = n
		switch {
		case backgroundResources[k.resource]:
			s.background += n
		default:
			s.operator += n
		}
	}
	s.operator -= harnessCreates
	return s
}

// sortedKeys returns the keys of a write map, most frequent first.
func sortedKeys(m map[requestKey]int) []requestKey {
	keys := make([]requestKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i].String() < keys[j].String()
	})
	return keys
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted values,
// by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// histogram counts values into bins equal parts of [lo, hi]; the top edge
// falls into the last bin.
func histogram(values []float64, lo, hi float64, bins int) []int {
	counts := make([]int, bins)
	width := (hi - lo) / float64(bins)
	for _, v := range values {
		i := 0
		if width > 0 {
			i = int((v - lo) / width)
		}
		counts[min(max(i, 0), bins-1)]++
	}
	return counts
}

// machineInfo describes the machine the benchmark ran on.
type machineInfo struct {
	cpus                          int
	cpuModel, memory, kernel, goV string
}

func describeMachine() machineInfo {
	m := machineInfo{cpus: runtime.NumCPU(), goV: runtime.Version(), cpuModel: "unknown", memory: "unknown", kernel: "unknown"}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.cpuModel = strings.TrimSpace(value)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && name == "MemTotal" {
				if kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64); err == nil {
					m.memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(data))
	}
	return m
}

func (m machineInfo) String() string {
	return fmt.Sprintf("machine: %d CPUs (nproc), %s, %s memory, Linux %s, %s\n", m.cpus, m.cpuModel, m.memory, m.kernel, m.goV)
}

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

// promBucket is one bucket of a Prometheus histogram: the observations up
// to upper, cumulative.
type promBucket struct {
	upper float64
	count uint64
}

// promHistogram is a Prometheus histogram as scraped: buckets by
// increasing upper bound, without the +Inf one (count has it).
type promHistogram struct {
	count   uint64
	sum     float64
	buckets []promBucket
}

// add sums two histograms with the same buckets (one per label value, for
// example); an empty one takes the other's buckets.
func (h promHistogram) add(o promHistogram) promHistogram {
	if len(h.buckets) == 0 {
		o.buckets = slices.Clone(o.buckets)
		o.count += h.count
		o.sum += h.sum
		return o
	}
	sum := promHistogram{count: h.count + o.count, sum: h.sum + o.sum, buckets: slices.Clone(h.buckets)}
	for i := range sum.buckets {
		if i < len(o.buckets) && o.buckets[i].upper == sum.buckets[i].upper {
			sum.buckets[i].count += o.buckets[i].count
		}
	}
	return sum
}

// finite returns the buckets with a finite upper bound.
func (h promHistogram) finite() []promBucket {
	var out []promBucket
	for _, b := range h.buckets {
		if !math.IsInf(b.upper, 1) {
			out = append(out, b)
		}
	}
	return out
}

// mean is the mean observation, 0 of none.
func (h promHistogram) mean() float64 {
	if h.count == 0 {
		return 0
	}
	return h.sum / float64(h.count)
}

// quantile estimates the q-quantile (0 < q < 1) as Prometheus's
// histogram_quantile does: linear interpolation within the bucket that
// holds the rank, the first bucket starting at 0, and the upper bound of
// the highest finite bucket when the rank lies above it. NaN when empty.
func (h promHistogram) quantile(q float64) float64 {
	buckets := h.finite()
	if h.count == 0 || len(buckets) == 0 {
		return math.NaN()
	}
	rank := q * float64(h.count)
	lower, below := 0.0, uint64(0)
	for _, b := range buckets {
		if float64(b.count) >= rank {
			if b.count == below {
				return b.upper
			}
			return lower + (b.upper-lower)*(rank-float64(below))/float64(b.count-below)
		}
		lower, below = b.upper, b.count
	}
	return buckets[len(buckets)-1].upper
}

// mutatingMethods are the HTTP methods of client-go's requests that write.
var mutatingMethods = []string{"POST", "PUT", "PATCH", "DELETE"}

// writesBetween counts the mutating requests a client made between two
// readings of rest_client_requests_total by method.
func writesBetween(before, after map[string]int) int {
	n := 0
	for _, method := range mutatingMethods {
		n += max(0, after[method]-before[method])
	}
	return n
}

// summarizeReads keeps the GET and LIST requests of a window, by resource
// (the API server's own non-resource requests, such as /metrics, left out).
func summarizeReads(delta map[requestKey]int) map[requestKey]int {
	reads := map[requestKey]int{}
	for k, n := range delta {
		if (k.verb == "GET" || k.verb == "LIST") && k.resource != "" {
			reads[k] += n
		}
	}
	return reads
}
