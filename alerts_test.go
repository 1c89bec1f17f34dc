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
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"
)

// servedMetricNames is every metric family the manager's registry can
// serve: the descriptors of every registered collector, the controllers'
// and startup's alike (a vector with no series yet is served once it has
// one). Histograms serve _bucket, _sum and _count.
func servedMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	descs := make(chan *prometheus.Desc, 4096)
	go func() {
		ctrlmetrics.Registry.(*prometheus.Registry).Describe(descs)
		close(descs)
	}()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range descs {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("a descriptor without a name: %s", d)
		}
		names[m[1]] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			names[m[1]+suffix] = true
		}
	}
	return names
}

// TestAlertsNameServedMetrics: every certsmith_ metric an alert of
// config/prometheus/prometheus_rule.yaml reads is one the manager serves,
// so that a renamed metric cannot leave an alert that never fires.
func TestAlertsNameServedMetrics(t *testing.T) {
	data, err := os.ReadFile("config/prometheus/prometheus_rule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		t.Fatal(err)
	}
	served := servedMetricNames(t)
	metric := regexp.MustCompile(`\bcertsmith_[a-z_]+\b`)
	alerts := 0
	for _, group := range rule.Spec.Groups {
		for _, r := range group.Rules {
			alerts++
			used := metric.FindAllString(r.Expr, -1)
			if len(used) == 0 {
				t.Errorf("alert %s reads no certsmith metric: %s", r.Alert, r.Expr)
			}
			for _, name := range used {
				if !served[name] {
					t.Errorf("alert %s reads %s, which the manager does not serve", r.Alert, name)
				}
			}
		}
	}
	if alerts < 9 {
		t.Fatalf("%d alerts read, want the 9 of the rule", alerts)
	}
	var certsmith []string
	for name := range served {
		if strings.HasPrefix(name, "certsmith_") {
			certsmith = append(certsmith, name)
		}
	}
	slices.Sort(certsmith)
	if !slices.Contains(certsmith, "certsmith_leader") || !slices.Contains(certsmith, "certsmith_bundle_conflicts") {
		t.Fatalf("the registry misses the manager's own metrics: %v", certsmith)
	}
}
