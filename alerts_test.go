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

// TestDashboardNamesServedMetrics: every query of the Grafana dashboard
// (config/grafana/certsmith-dashboard.json) reads metrics the manager
// serves, each panel has a query, and the panels are unique.
func TestDashboardNamesServedMetrics(t *testing.T) {
	data, err := os.ReadFile("config/grafana/certsmith-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := yaml.Unmarshal(data, &dashboard); err != nil {
		t.Fatal(err)
	}
	served := servedMetricNames(t)
	metric := regexp.MustCompile(`\b(certsmith|controller_runtime|workqueue)_[a-z_]+\b`)
	ids := map[int]bool{}
	for _, p := range dashboard.Panels {
		if ids[p.ID] || p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("panel %d %q: a duplicate id, no title or no query", p.ID, p.Title)
		}
		ids[p.ID] = true
		for _, target := range p.Targets {
			used := metric.FindAllString(target.Expr, -1)
			if len(used) == 0 {
				t.Errorf("panel %q reads no metric: %s", p.Title, target.Expr)
			}
			for _, name := range used {
				if !served[name] {
					t.Errorf("panel %q reads %s, which the manager does not serve", p.Title, name)
				}
			}
		}
	}
	if dashboard.UID != "certsmith" || len(dashboard.Panels) < 10 {
		t.Fatalf("dashboard %q with %d panels", dashboard.UID, len(dashboard.Panels))
	}
}
