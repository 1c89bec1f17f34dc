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
	"net/url"
	"testing"
)

func mustRanges(t *testing.T, cidrs ...string) []*net.IPNet {
	t.Helper()
	r, err := ParseIPRanges(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCheck(t *testing.T) {
	nsCtx := Context{ClusterDomain: "cluster.local", NamespaceIPs: []net.IP{net.ParseIP("10.96.0.10"), net.ParseIP("fd00::10")}}
	docRules := Rules{
		DNSNames: []string{"*.*.svc.cluster.local", "*.*.pod.cluster.local"},
		IPRanges: mustRanges(t, "192.0.2.0/24", "10.0.0.0/16"),
		URIs:     []string{"spiffe://cluster.local/ns/*/sa/*"},
	}
	tests := []struct {
		name      string
		namespace string
		cn        string
		dnsNames  []string
		ips       []string
		uris      []string
		emails    []string
		usages    []string
		rules     Rules
		wantError []string
	}{
		{name: "service names", namespace: "a", dnsNames: []string{"web.a.svc", "web.a.svc.cluster.local"}},
		{name: "wildcard in own namespace", namespace: "a", dnsNames: []string{"*.a.svc.cluster.local"}},
		{name: "deeper name in own namespace", namespace: "a", dnsNames: []string{"x.web.a.svc"}},
		{name: "trailing dot and case", namespace: "a", dnsNames: []string{"Web.A.svc.cluster.local."}},
		{name: "own cluster IPs", namespace: "a", ips: []string{"10.96.0.10", "fd00::10"}},
		{name: "common name among SANs", namespace: "a", cn: "web.a.svc", dnsNames: []string{"web.a.svc"}},
		{name: "other namespace", namespace: "a", dnsNames: []string{"web.b.svc"}, wantError: []string{"web.b.svc"}},
		{name: "other namespace wildcard", namespace: "a", dnsNames: []string{"*.b.svc.cluster.local"}, wantError: []string{"*.b.svc.cluster.local"}},
		{name: "namespace suffix trick", namespace: "a", dnsNames: []string{"web.xa.svc"}, wantError: []string{"web.xa.svc"}},
		{name: "bare namespace domain", namespace: "a", dnsNames: []string{"a.svc"}, wantError: []string{"a.svc"}},
		{name: "short name", namespace: "a", dnsNames: []string{"web"}, wantError: []string{"web"}},
		{name: "service.namespace short name", namespace: "a", dnsNames: []string{"web.a"}, wantError: []string{"web.a"}},
		{name: "namespace called com", namespace: "com", dnsNames: []string{"google.com"}, wantError: []string{"google.com"}},
		{name: "other cluster domain", namespace: "a", dnsNames: []string{"web.a.svc.evil.example"}, wantError: []string{"web.a.svc.evil.example"}},
		{name: "foreign IP", namespace: "a", ips: []string{"10.96.0.11"}, wantError: []string{"10.96.0.11"}},
		{name: "common name elsewhere", namespace: "a", cn: "evil.example", dnsNames: []string{"web.a.svc"}, wantError: []string{"evil.example"}},
		{name: "mixed", namespace: "a", dnsNames: []string{"web.a.svc", "web.b.svc"}, ips: []string{"10.96.0.10", "192.0.2.1"}, wantError: []string{"web.b.svc", "192.0.2.1"}},
		{name: "rules widen a namespace", namespace: "a", dnsNames: []string{"web.b.svc.cluster.local"}, ips: []string{"10.0.34.2"}, rules: docRules},
		{name: "foreign request with no rules", dnsNames: []string{"web.a.svc"}, wantError: []string{"web.a.svc"}},
		{name: "foreign request never gets the namespace default", ips: []string{"10.96.0.10"}, wantError: []string{"10.96.0.10"}},
		{name: "documentation example", cn: "my-pod.my-namespace.pod.cluster.local", rules: docRules,
			dnsNames: []string{"my-svc.my-namespace.svc.cluster.local", "my-pod.my-namespace.pod.cluster.local"},
			ips:      []string{"192.0.2.24", "10.0.34.2"}, usages: []string{"digital signature", "key encipherment", "server auth"}},
		{name: "pattern label count", rules: docRules, dnsNames: []string{"a.b.c.svc.cluster.local"}, wantError: []string{"a.b.c.svc.cluster.local"}},
		{name: "uri allowed", rules: docRules, uris: []string{"spiffe://cluster.local/ns/a/sa/web"}},
		{name: "uri refused", rules: docRules, uris: []string{"spiffe://cluster.local/ns/a/sa/web/extra", "spiffe://evil/ns/a/sa/web"},
			wantError: []string{"spiffe://cluster.local/ns/a/sa/web/extra", "spiffe://evil/ns/a/sa/web"}},
		{name: "email refused", rules: docRules, emails: []string{"a@example.com"}, wantError: []string{"a@example.com"}},
		{name: "usage refused", namespace: "a", dnsNames: []string{"web.a.svc"}, usages: []string{"code signing"}, wantError: []string{"code signing"}},
		{name: "explicit usages", namespace: "a", dnsNames: []string{"web.a.svc"}, usages: []string{"code signing"}, rules: Rules{Usages: []string{"code signing"}}},
		{name: "CA refused", rules: docRules, dnsNames: []string{"ca.a.svc.cluster.local"}, usages: []string{"cert sign", "crl sign"}, wantError: []string{"cert sign", "crl sign"}},
		{name: "CA allowed", rules: Rules{AllowCA: true}, cn: "Team CA", usages: []string{"cert sign", "crl sign", "digital signature"}},
		{name: "CA common name checked when CAs are not allowed", cn: "Team CA", usages: []string{"cert sign"}, wantError: []string{"Team CA", "cert sign"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Namespace: tt.namespace, DNSNames: tt.dnsNames, EmailAddresses: tt.emails, Usages: tt.usages, IsCA: IsCARequest(tt.usages)}
			if tt.cn != "" {
				req.Subject.CommonNames = []string{tt.cn}
			}
			for _, ip := range tt.ips {
				req.IPAddresses = append(req.IPAddresses, net.ParseIP(ip))
			}
			for _, u := range tt.uris {
				parsed, err := url.Parse(u)
				if err != nil {
					t.Fatal(err)
				}
				req.URIs = append(req.URIs, parsed)
			}
			ctx := nsCtx
			ctx.Rules = tt.rules
			err := Check(req, ctx)
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

func TestMatchDNS(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "example.com", false},
		{"*.example.com", "*.example.com", true},
		{"a.example.com", "*.example.com", false},
		{"web.*.svc", "web.ns.svc", true},
		{"Web.Example.COM.", "web.example.com", true},
		{"*.example.com", ".example.com", false},
	}
	for _, tt := range tests {
		if got := MatchDNS(tt.pattern, tt.name); got != tt.want {
			t.Errorf("MatchDNS(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}
