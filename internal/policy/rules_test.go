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
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// The hostile requests of the trust rules: each case is what a tenant sent.

var apiServerIP = net.ParseIP("10.96.0.1")

func hostileContext(rules Rules) Context {
	return Context{
		ClusterDomain: "cluster.local",
		// A ServiceCertificate in "default" sees the kubernetes Service's IP
		// among its namespace's cluster IPs.
		NamespaceIPs: []net.IP{apiServerIP, net.ParseIP("10.96.0.10")},
		Reserved:     ReservedNames("cluster.local", []net.IP{apiServerIP}),
		Rules:        rules,
	}
}

func violationNames(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("want *Error, got %v", err)
	}
	var names []string
	for _, v := range perr.Violations {
		names = append(names, v.Name)
	}
	return names
}

func TestCheckTrustRules(t *testing.T) {
	exampleRules := Rules{DNSNames: []string{"*.example.com"}, AllowCA: true}
	tests := []struct {
		name    string
		req     Request
		rules   Rules
		refused []string
	}{
		// Reserved names, whichever way they are asked for.
		{name: "API server name through the namespace default", req: Request{Namespace: "default", DNSNames: []string{"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
			refused: []string{"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		{name: "API server cluster IP through the namespace default", req: Request{Namespace: "default", IPAddresses: []net.IP{apiServerIP}}, refused: []string{"10.96.0.1"}},
		{name: "another Service of default is fine", req: Request{Namespace: "default", DNSNames: []string{"web.default.svc"}, IPAddresses: []net.IP{net.ParseIP("10.96.0.10")}}},
		{name: "wildcard covering the API server", req: Request{Namespace: "default", DNSNames: []string{"*.default.svc"}}, refused: []string{"*.default.svc"}},
		{name: "upper case and trailing dot", req: Request{Namespace: "default", DNSNames: []string{"Kubernetes.Default.SVC."}}, refused: []string{"Kubernetes.Default.SVC."}},
		{name: "API server name as common name", req: Request{Namespace: "default", Subject: Subject{CommonNames: []string{"kubernetes.default.svc"}}}, refused: []string{"kubernetes.default.svc"}},
		{name: "short name under a one-label wildcard rule", req: Request{DNSNames: []string{"kubernetes"}}, rules: Rules{DNSNames: []string{"*"}}, refused: []string{"kubernetes"}},
		{name: "wildcard rule does not allow a reserved name", req: Request{DNSNames: []string{"kubernetes.default.svc"}}, rules: Rules{DNSNames: []string{"*.*.svc"}}, refused: []string{"kubernetes.default.svc"}},
		{name: "a wide IP range does not allow the API server IP", req: Request{IPAddresses: []net.IP{apiServerIP}}, rules: Rules{IPRanges: mustRanges(t, "10.96.0.0/12")}, refused: []string{"10.96.0.1"}},
		{name: "an exact entry allows the API server name", req: Request{Namespace: "default", DNSNames: []string{"kubernetes.default.svc"}}, rules: Rules{DNSNames: []string{"kubernetes.default.svc"}}},
		{name: "an exact /32 allows the API server IP", req: Request{IPAddresses: []net.IP{apiServerIP}}, rules: Rules{IPRanges: mustRanges(t, "10.96.0.1/32")}},
		{name: "an exact wildcard entry allows the covering wildcard", req: Request{Namespace: "default", DNSNames: []string{"*.default.svc"}}, rules: Rules{DNSNames: []string{"*.default.svc"}}},

		// Subjects.
		{name: "two common names", req: Request{DNSNames: []string{"ok.example.com"}, Subject: Subject{CommonNames: []string{"kubernetes.default.svc", "ok.example.com"}}},
			rules: exampleRules, refused: []string{"kubernetes.default.svc, ok.example.com", "kubernetes.default.svc"}},
		{name: "two allowed common names are still two", req: Request{Subject: Subject{CommonNames: []string{"a.example.com", "b.example.com"}}},
			rules: exampleRules, refused: []string{"a.example.com, b.example.com"}},
		{name: "system:masters", req: Request{Namespace: "a", DNSNames: []string{"w.a.svc"}, Subject: Subject{Organizations: []string{"system:masters"}}}, refused: []string{"system:masters"}},
		{name: "System:Nodes in an organizational unit", req: Request{Namespace: "a", DNSNames: []string{"w.a.svc"}, Subject: Subject{OrganizationalUnits: []string{" System:Nodes"}}}, refused: []string{" System:Nodes"}},
		{name: "a star does not allow system:", req: Request{Namespace: "a", DNSNames: []string{"w.a.svc"}, Subject: Subject{Organizations: []string{"system:masters"}}},
			rules: Rules{Subject: &SubjectRules{Organizations: []string{"*"}}}, refused: []string{"system:masters"}},
		{name: "system: listed exactly", req: Request{Namespace: "a", DNSNames: []string{"w.a.svc"}, Subject: Subject{Organizations: []string{"system:nodes"}}},
			rules: Rules{Subject: &SubjectRules{Organizations: []string{"system:nodes"}}}},
		{name: "other organizations are free without policy.subject", req: Request{Namespace: "a", DNSNames: []string{"w.a.svc"}, Subject: Subject{Organizations: []string{"Payments"}, Countries: []string{"DE"}}}},
		{name: "policy.subject restricts", req: Request{Namespace: "a", DNSNames: []string{"w.a.svc"}, Subject: Subject{Organizations: []string{"Payments", "Evil"}, Countries: []string{"DE"}}},
			rules: Rules{Subject: &SubjectRules{Organizations: []string{"Payments"}}}, refused: []string{"Evil", "DE"}},
		{name: "unsupported attribute", req: Request{Namespace: "a", DNSNames: []string{"w.a.svc"}, Subject: Subject{Unsupported: []string{"0.9.2342.19200300.100.1.1"}}}, refused: []string{"0.9.2342.19200300.100.1.1"}},

		// The CA exemption holds only for a CA.
		{name: "crl sign is not a CA: its CN is checked", req: Request{Subject: Subject{CommonNames: []string{"kubernetes.default.svc"}}, Usages: []string{"crl sign", "digital signature"}},
			rules: exampleRules, refused: []string{"kubernetes.default.svc"}},
		{name: "a CA's CN is a label", req: Request{Subject: Subject{CommonNames: []string{"Team CA"}}, Usages: []string{"cert sign", "crl sign"}, IsCA: true}, rules: exampleRules},
		{name: "a CA's CN that reads as the API server is checked", req: Request{Subject: Subject{CommonNames: []string{"kubernetes.default.svc"}}, Usages: []string{"cert sign", "server auth"}, IsCA: true},
			rules: exampleRules, refused: []string{"kubernetes.default.svc"}},
		{name: "a CA's CN that reads as another host is checked", req: Request{Subject: Subject{CommonNames: []string{"db.payments.svc"}}, Usages: []string{"cert sign"}, IsCA: true},
			rules: exampleRules, refused: []string{"db.payments.svc"}},
		{name: "a CA's CN within the policy", req: Request{Subject: Subject{CommonNames: []string{"ca.example.com"}}, Usages: []string{"cert sign"}, IsCA: true}, rules: exampleRules},
		{name: "a URI whose host is the API server", req: Request{URIs: []*url.URL{mustURL(t, "https://kubernetes.default.svc/")}}, rules: Rules{URIs: []string{"https://*.default.svc/"}},
			refused: []string{"https://kubernetes.default.svc/"}},

		// URIs: a wildcard segment is one plain segment.
		{name: "dot-dot segment", req: Request{URIs: []*url.URL{mustURL(t, "spiffe://cluster.local/ns/../sa/web")}}, rules: Rules{URIs: []string{"spiffe://cluster.local/ns/*/sa/*"}},
			refused: []string{"spiffe://cluster.local/ns/../sa/web"}},
		{name: "encoded slash", req: Request{URIs: []*url.URL{mustURL(t, "spiffe://cluster.local/ns/a%2Fsa%2Fx/sa/web")}}, rules: Rules{URIs: []string{"spiffe://cluster.local/ns/*/sa/*"}},
			refused: []string{"spiffe://cluster.local/ns/a%2Fsa%2Fx/sa/web"}},

		// Names checked label by label.
		{name: "NUL byte", req: Request{DNSNames: []string{"a\x00b.example.com"}}, rules: exampleRules, refused: []string{"a\x00b.example.com"}},
		{name: "NUL byte in the namespace domain", req: Request{Namespace: "a", DNSNames: []string{"evil.example\x00.a.svc"}}, refused: []string{"evil.example\x00.a.svc"}},
		{name: "empty label", req: Request{Namespace: "a", DNSNames: []string{"x..a.svc"}}, refused: []string{"x..a.svc"}},
		{name: "underscore", req: Request{DNSNames: []string{"_x.example.com"}}, rules: exampleRules, refused: []string{"_x.example.com"}},
		{name: "leading hyphen", req: Request{DNSNames: []string{"-x.example.com"}}, rules: exampleRules, refused: []string{"-x.example.com"}},
		{name: "inner wildcard", req: Request{Namespace: "a", DNSNames: []string{"x.*.a.svc"}}, refused: []string{"x.*.a.svc"}},
		{name: "long label", req: Request{DNSNames: []string{strings.Repeat("x", 64) + ".example.com"}}, rules: exampleRules, refused: []string{strings.Repeat("x", 64) + ".example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := violationNames(t, Check(tt.req, hostileContext(tt.rules)))
			if !slices.Equal(got, tt.refused) {
				t.Errorf("refused %q, want %q", got, tt.refused)
			}
		})
	}
}

func TestCheckBoundsInputAndOutput(t *testing.T) {
	var names []string
	for i := range 4000 {
		names = append(names, fmt.Sprintf("n%d.example.com", i))
	}
	err := Check(Request{DNSNames: names}, hostileContext(Rules{DNSNames: []string{"*.example.com"}}))
	if got := violationNames(t, err); len(got) != 1 || !strings.Contains(err.Error(), "4000 names") {
		t.Fatalf("4,000 names: got %d violations: %v", len(got), err)
	}
	if err := Check(Request{DNSNames: names[:DefaultMaxNames]}, hostileContext(Rules{DNSNames: []string{"*.example.com"}})); err != nil {
		t.Fatalf("%d names should be allowed: %v", DefaultMaxNames, err)
	}
	ctx := hostileContext(Rules{DNSNames: []string{"*.example.com"}})
	ctx.MaxNames = 200
	if err := Check(Request{DNSNames: names[:150]}, ctx); err != nil {
		t.Fatalf("a larger configured limit: %v", err)
	}

	// Refused names, each refused: the message says a few and counts the rest.
	var refused []string
	for i := range 90 {
		refused = append(refused, fmt.Sprintf("n%d.other.org", i))
	}
	msg := Check(Request{DNSNames: refused}, ctx).Error()
	if len(msg) > 2048 || !strings.Contains(msg, "… and 82 more") {
		t.Fatalf("message of %d bytes: %s", len(msg), msg)
	}
}

func TestNameConstraintsFor(t *testing.T) {
	reserved := ReservedNames("cluster.local", []net.IP{apiServerIP})
	c := NameConstraintsFor(Rules{DNSNames: []string{"*.example.com", "web.*.svc.cluster.local", "api.example.org"}, IPRanges: mustRanges(t, "10.0.0.0/16"),
		URIs: []string{"spiffe://cluster.local/ns/*/sa/*"}}, reserved)
	if want := []string{"example.com", "svc.cluster.local", "api.example.org"}; !slices.Equal(c.PermittedDNSDomains, want) {
		t.Errorf("permitted DNS %q, want %q", c.PermittedDNSDomains, want)
	}
	if want := reserved.DNSNames; !slices.Equal(c.ExcludedDNSDomains, want) {
		t.Errorf("excluded DNS %q, want the reserved names %q", c.ExcludedDNSDomains, want)
	}
	if len(c.PermittedIPRanges) != 1 || c.PermittedIPRanges[0].String() != "10.0.0.0/16" {
		t.Errorf("permitted IPs %v", c.PermittedIPRanges)
	}
	if len(c.ExcludedIPRanges) != 1 || c.ExcludedIPRanges[0].String() != "10.96.0.1/32" {
		t.Errorf("excluded IPs %v, want the API server's", c.ExcludedIPRanges)
	}
	if !slices.Equal(c.PermittedURIDomains, []string{"cluster.local"}) || !slices.Equal(c.ExcludedEmailAddresses, []string{""}) {
		t.Errorf("URIs %q, emails %q", c.PermittedURIDomains, c.ExcludedEmailAddresses)
	}

	none := NameConstraintsFor(Rules{AllowCA: true}, reserved)
	if !slices.Equal(none.PermittedDNSDomains, []string{permitNoName}) || !slices.Equal(none.PermittedURIDomains, []string{permitNoName}) || len(none.ExcludedIPRanges) != 3 {
		t.Errorf("a policy with no names must exclude every name: %+v", none)
	}
	urn := NameConstraintsFor(Rules{URIs: []string{"urn:example:a"}}, reserved)
	if !slices.Equal(urn.PermittedURIDomains, []string{permitNoName}) {
		t.Errorf("a URI pattern without a host must not permit every URI: %q", urn.PermittedURIDomains)
	}
	exact := NameConstraintsFor(Rules{DNSNames: []string{"kubernetes.default.svc"}, IPRanges: mustRanges(t, "10.96.0.1/32")}, reserved)
	if slices.Contains(exact.ExcludedDNSDomains, "kubernetes.default.svc") || len(exact.ExcludedIPRanges) != 0 {
		t.Errorf("exactly listed reserved names are not excluded: %+v", exact)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
