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

package policy

import (
	"errors"
	"net"
	"testing"
)

func TestCheckNamespaceNames(t *testing.T) {
	ctx := Context{ClusterDomain: "cluster.local", NamespaceIPs: []net.IP{net.ParseIP("10.96.0.10"), net.ParseIP("fd00::10")}}
	tests := []struct {
		name      string
		dnsNames  []string
		ips       []string
		wantError []string
	}{
		{name: "service names", dnsNames: []string{"web.a.svc", "web.a.svc.cluster.local"}},
		{name: "wildcard in own namespace", dnsNames: []string{"*.a.svc.cluster.local"}},
		{name: "deeper name in own namespace", dnsNames: []string{"x.web.a.svc"}},
		{name: "trailing dot and case", dnsNames: []string{"Web.A.svc.cluster.local."}},
		{name: "own cluster IPs", ips: []string{"10.96.0.10", "fd00::10"}},
		{name: "other namespace", dnsNames: []string{"web.b.svc"}, wantError: []string{"web.b.svc"}},
		{name: "other namespace wildcard", dnsNames: []string{"*.b.svc.cluster.local"}, wantError: []string{"*.b.svc.cluster.local"}},
		{name: "namespace suffix trick", dnsNames: []string{"web.xa.svc"}, wantError: []string{"web.xa.svc"}},
		{name: "bare namespace domain", dnsNames: []string{"a.svc"}, wantError: []string{"a.svc"}},
		{name: "short name", dnsNames: []string{"web"}, wantError: []string{"web"}},
		{name: "service.namespace short name", dnsNames: []string{"web.a"}, wantError: []string{"web.a"}},
		{name: "namespace called com", dnsNames: []string{"google.com"}, wantError: []string{"google.com"}},
		{name: "other cluster domain", dnsNames: []string{"web.a.svc.evil.example"}, wantError: []string{"web.a.svc.evil.example"}},
		{name: "foreign IP", ips: []string{"10.96.0.11"}, wantError: []string{"10.96.0.11"}},
		{name: "mixed", dnsNames: []string{"web.a.svc", "web.b.svc"}, ips: []string{"10.96.0.10", "192.0.2.1"}, wantError: []string{"web.b.svc", "192.0.2.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Namespace: "a", DNSNames: tt.dnsNames}
			for _, ip := range tt.ips {
				req.IPAddresses = append(req.IPAddresses, net.ParseIP(ip))
			}
			err := CheckNamespaceNames(req, ctx)
			if len(tt.wantError) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("want *Error, got %v", err)
			}
			if len(perr.Violations) != len(tt.wantError) {
				t.Fatalf("want violations %v, got %v", tt.wantError, perr.Violations)
			}
			for i, name := range tt.wantError {
				if perr.Violations[i].Name != name {
					t.Errorf("violation %d: want %q, got %q", i, name, perr.Violations[i].Name)
				}
			}
		})
	}
}
