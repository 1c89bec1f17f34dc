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
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets check the properties that the namespace-safety rule
// rests on, for names a tenant controls (a CSR's SANs and subject, a
// ServiceCertificate's spec). Hostile seeds (NUL bytes, empty labels,
// nested service domains, 4,000 names) are in testdata/fuzz.

// fuzzClusterDomain, fuzzAPIServerIP and fuzzNamespaceIPs are the cluster
// around a fuzzed request; they are operator configuration and cluster
// state, not tenant input. The namespace's Service IPs include the API
// server's, as they do in namespace "default".
const fuzzClusterDomain = "cluster.local"

var (
	fuzzAPIServerIP  = net.ParseIP("10.96.0.1")
	fuzzNamespaceIPs = []net.IP{net.ParseIP("10.96.0.10"), net.ParseIP("fd00::10"), fuzzAPIServerIP}
)

// fuzzRules is an issuer policy shaped like the documented example.
func fuzzRules(t *testing.T) Rules {
	t.Helper()
	ranges, err := ParseIPRanges([]string{"192.0.2.0/24", "10.96.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	return Rules{
		DNSNames: []string{"*.*.svc.cluster.local", "*.example.com"},
		IPRanges: ranges,
		URIs:     []string{"spiffe://cluster.local/ns/*/sa/*"},
	}
}

// FuzzMatchDNSPattern checks MatchDNS label by label: equal label counts, no
// empty label matched, and equality modulo case and one trailing dot for
// patterns without a wildcard.
func FuzzMatchDNSPattern(f *testing.F) {
	f.Add("*.a.svc", "web.a.svc")
	f.Add("web.a.svc", "Web.A.svc.")
	f.Add("*.*.svc.cluster.local", "a.b.c.svc.cluster.local")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		matched := MatchDNS(pattern, name)
		p := labels(pattern)
		n := labels(name)
		ascii := isASCII(pattern) && isASCII(name)
		if !strings.Contains(pattern, "*") && ascii {
			// Without a wildcard, matching is ASCII-case-insensitive equality
			// modulo one trailing dot, and a name with an empty label
			// matches nothing.
			want := strings.EqualFold(strings.TrimSuffix(pattern, "."), strings.TrimSuffix(name, ".")) && !slices.Contains(n, "")
			if matched != want {
				t.Fatalf("MatchDNS(%q, %q) = %v, want %v (no wildcard: equality)", pattern, name, matched, want)
			}
		}
		if !matched {
			return
		}
		if len(p) != len(n) {
			t.Fatalf("MatchDNS(%q, %q): %d pattern labels matched %d name labels", pattern, name, len(p), len(n))
		}
		for i := range n {
			switch {
			case n[i] == "":
				t.Fatalf("MatchDNS(%q, %q) matched a name with an empty label", pattern, name)
			case n[i] == "*" && p[i] != "*":
				t.Fatalf("MatchDNS(%q, %q): the wildcard label %d of the name matched the literal %q", pattern, name, i, p[i])
			case p[i] != "*" && ascii && !strings.EqualFold(p[i], n[i]):
				t.Fatalf("MatchDNS(%q, %q): label %d %q matched %q", pattern, name, i, p[i], n[i])
			}
		}
	})
}

// FuzzMatchURI checks that a match has the pattern's scheme, user, query,
// fragment and segment count, a host, and no empty segment under a wildcard.
func FuzzMatchURI(f *testing.F) {
	f.Add("spiffe://cluster.local/ns/*/sa/*", "spiffe://cluster.local/ns/a/sa/web")
	f.Add("https://*.example.com/x", "https://api.example.com/x")
	f.Fuzz(func(t *testing.T, pattern, rawURI string) {
		if MatchURI(pattern, nil) {
			t.Fatalf("MatchURI(%q, nil) = true", pattern)
		}
		u, err := url.Parse(rawURI)
		if err != nil {
			return
		}
		matched := MatchURI(pattern, u)
		p, err := url.Parse(pattern)
		if err != nil {
			if matched {
				t.Fatalf("MatchURI(%q, %q): an unparseable pattern matched", pattern, rawURI)
			}
			return
		}
		if !matched {
			if !strings.Contains(pattern, "*") && isASCII(p.Host) && isASCII(u.Host) && sameURI(p, u) {
				t.Fatalf("MatchURI(%q, %q) = false for the same URI", pattern, rawURI)
			}
			return
		}
		switch {
		case !strings.EqualFold(p.Scheme, u.Scheme):
			t.Fatalf("MatchURI(%q, %q): scheme %q matched %q", pattern, rawURI, p.Scheme, u.Scheme)
		case p.User.String() != u.User.String() || p.RawQuery != u.RawQuery || p.Fragment != u.Fragment:
			t.Fatalf("MatchURI(%q, %q): user info, query or fragment differ", pattern, rawURI)
		case u.Host == "":
			t.Fatalf("MatchURI(%q, %q) matched a URI without a host", pattern, rawURI)
		case !MatchDNS(p.Host, u.Host):
			t.Fatalf("MatchURI(%q, %q): host %q does not match %q", pattern, rawURI, u.Host, p.Host)
		}
		ps, us := strings.Split(p.EscapedPath(), "/"), strings.Split(u.EscapedPath(), "/")
		if len(ps) != len(us) {
			t.Fatalf("MatchURI(%q, %q): %d pattern path segments matched %d", pattern, rawURI, len(ps), len(us))
		}
		for i := range ps {
			switch {
			case ps[i] == "*" && us[i] == "":
				t.Fatalf("MatchURI(%q, %q): a wildcard matched the empty path segment %d", pattern, rawURI, i)
			case ps[i] != "*" && ps[i] != us[i]:
				t.Fatalf("MatchURI(%q, %q): path segment %q matched %q", pattern, rawURI, ps[i], us[i])
			}
		}
	})
}

// FuzzInNamespaceDomain checks the service-domain test against its
// definition and that no name lies in two namespaces' domains.
func FuzzInNamespaceDomain(f *testing.F) {
	f.Add("web.a.svc", "a", "cluster.local")
	f.Add("web.a.svc.cluster.local.", "a", "cluster.local")
	f.Add("web.b.svc.a.svc", "a", "")
	f.Fuzz(func(t *testing.T, name, namespace, clusterDomain string) {
		in := InNamespaceDomain(name, namespace, clusterDomain)
		if !strings.HasSuffix(name, ".") && in != InNamespaceDomain(name+".", namespace, clusterDomain) {
			t.Fatalf("InNamespaceDomain(%q, %q, %q) changes with a trailing dot", name, namespace, clusterDomain)
		}
		if isASCII(name) && in != InNamespaceDomain(strings.ToUpper(name), namespace, clusterDomain) {
			t.Fatalf("InNamespaceDomain(%q, %q, %q) changes with the name's case", name, namespace, clusterDomain)
		}
		if !in || !isDNSLabel(namespace) {
			return
		}
		if !inServiceDomain(name, namespace, clusterDomain) {
			t.Fatalf("InNamespaceDomain(%q, %q, %q) = true, but the name does not end in a label and .%s.svc[.%s]",
				name, namespace, clusterDomain, namespace, clusterDomain)
		}
		n := labels(name)
		if len(n) < 3 {
			t.Fatalf("InNamespaceDomain(%q, %q, %q): a name of %d labels is in a service domain", name, namespace, clusterDomain, len(n))
		}
		// A name in namespace A's domain is in no other namespace's domain,
		// under this cluster domain or none: the other namespace would
		// have to be one of the name's labels.
		for _, other := range n {
			if other == namespace || !isDNSLabel(other) {
				continue
			}
			for _, domain := range []string{clusterDomain, ""} {
				if InNamespaceDomain(name, other, domain) {
					t.Fatalf("%q is in the service domains of both namespace %q and namespace %q (cluster domain %q)",
						name, namespace, other, domain)
				}
			}
		}
	})
}

// FuzzCheck builds a request from fuzzed strings: the namespace, common
// names and DNS names (both comma-separated), an IP address, a URI and an
// organization.
func FuzzCheck(f *testing.F) {
	f.Add("a", "web.a.svc", "web.a.svc,web.a.svc.cluster.local", "10.96.0.10", "spiffe://cluster.local/ns/a/sa/web", "")
	f.Add("a", "", "web.b.svc", "10.96.0.11", "", "shop")
	f.Add("", "web.a.svc", "web.a.svc", "10.96.0.10", "", "")
	f.Fuzz(func(t *testing.T, namespace, commonNames, dnsNames, ip, uri, organization string) {
		req := Request{Namespace: namespace}
		if commonNames != "" {
			req.Subject.CommonNames = strings.Split(commonNames, ",")
		}
		if organization != "" {
			req.Subject.Organizations = []string{organization}
		}
		if dnsNames != "" {
			req.DNSNames = strings.Split(dnsNames, ",")
		}
		if parsed := net.ParseIP(ip); parsed != nil {
			req.IPAddresses = []net.IP{parsed}
		}
		if parsed, err := url.Parse(uri); err == nil && uri != "" {
			req.URIs = []*url.URL{parsed}
		}
		reserved := ReservedNames(fuzzClusterDomain, []net.IP{fuzzAPIServerIP})
		noRules := Context{ClusterDomain: fuzzClusterDomain, NamespaceIPs: fuzzNamespaceIPs, Reserved: reserved}
		withRules := Context{ClusterDomain: fuzzClusterDomain, NamespaceIPs: fuzzNamespaceIPs, Reserved: reserved, Rules: fuzzRules(t)}
		names := len(req.DNSNames) + len(req.IPAddresses) + len(req.URIs)

		for _, ctx := range []Context{noRules, withRules} {
			all := checkViolations(t, req, ctx)
			if isDNSLabel(namespace) {
				if message := (&Error{Violations: all}).Error(); len(message) > 4096 {
					t.Fatalf("a message of %d bytes for %d names", len(message), names)
				}
			}
			if names > DefaultMaxNames {
				// Too many names: refused at once, in one violation.
				if len(all) != 1 {
					t.Fatalf("%d names got %d violations, want 1", names, len(all))
				}
				continue
			}
			if len(req.Subject.CommonNames) > 1 && len(all) == 0 {
				t.Fatalf("common names %q allowed together", req.Subject.CommonNames)
			}
			if strings.HasPrefix(organization, ReservedOrganizationPrefix) && len(all) == 0 {
				t.Fatalf("organization %q allowed without a policy.subject entry", organization)
			}
			// Each name is judged on its own: a list of DNS names is refused
			// exactly the names that are refused one by one.
			denied := map[string]bool{}
			for _, v := range checkViolations(t, Request{Namespace: namespace, DNSNames: req.DNSNames}, ctx) {
				denied[v.Name] = true
			}
			for _, name := range req.DNSNames {
				alone := checkViolations(t, Request{Namespace: namespace, DNSNames: []string{name}}, ctx)
				if (len(alone) > 0) != denied[name] {
					t.Fatalf("namespace %q: %q alone is refused %v, in the list refused %v", namespace, name, alone, denied[name])
				}
				if len(alone) == 0 {
					checkAllowedName(t, namespace, name, ctx)
				}
			}
			for _, cn := range req.Subject.CommonNames {
				if len(checkViolations(t, Request{Namespace: namespace, Subject: Subject{CommonNames: []string{cn}}}, ctx)) > 0 {
					continue
				}
				// An allowed common name is an allowed DNS name or IP address.
				asDNS := checkViolations(t, Request{Namespace: namespace, DNSNames: []string{cn}}, ctx)
				asIP := []Violation{{}}
				if parsed := net.ParseIP(cn); parsed != nil {
					asIP = checkViolations(t, Request{Namespace: namespace, IPAddresses: []net.IP{parsed}}, ctx)
				}
				if len(asDNS) > 0 && len(asIP) > 0 {
					t.Fatalf("namespace %q: common name %q is allowed, but neither as a DNS name (%v) nor as an IP (%v)", namespace, cn, asDNS, asIP)
				}
				if len(asDNS) == 0 {
					checkAllowedName(t, namespace, cn, ctx)
				}
			}
		}
		if names > DefaultMaxNames {
			return
		}

		// Without rules only the namespace default allows anything: a
		// foreign request (no namespace) gets nothing, a URI never passes,
		// and an IP passes only as a cluster IP of the namespace that is
		// not the API server's.
		if namespace == "" && names > 0 && len(checkViolations(t, req, noRules)) == 0 {
			t.Fatalf("a request without a namespace got %q, %v, %v with no rules", req.DNSNames, req.IPAddresses, req.URIs)
		}
		for _, u := range req.URIs {
			if len(checkViolations(t, Request{Namespace: namespace, URIs: []*url.URL{u}}, noRules)) == 0 {
				t.Fatalf("URI %q allowed without rules", u)
			}
		}
		for _, addr := range req.IPAddresses {
			allowed := len(checkViolations(t, Request{Namespace: namespace, IPAddresses: []net.IP{addr}}, noRules)) == 0
			want := namespace != "" && slices.ContainsFunc(fuzzNamespaceIPs, addr.Equal) && !addr.Equal(fuzzAPIServerIP)
			if allowed != want {
				t.Fatalf("namespace %q: IP %s allowed = %v without rules, want %v", namespace, addr, allowed, want)
			}
			// The rules' ranges cover the API server's IP, but only an
			// exact entry allows it.
			if addr.Equal(fuzzAPIServerIP) && len(checkViolations(t, Request{Namespace: namespace, IPAddresses: []net.IP{addr}}, withRules)) == 0 {
				t.Fatalf("the API server's IP %s allowed by a range", addr)
			}
		}

		// Rules only widen what the namespace default allows.
		if len(checkViolations(t, req, noRules)) == 0 {
			if v := checkViolations(t, req, withRules); len(v) > 0 {
				t.Fatalf("allowed without rules, refused with rules: %v", v)
			}
		}
	})
}

// checkViolations runs Check and returns its violations, failing the test
// when the error is not a well-formed *Error.
func checkViolations(t *testing.T, req Request, ctx Context) []Violation {
	t.Helper()
	err := Check(req, ctx)
	if err == nil {
		return nil
	}
	var policyErr *Error
	if !errors.As(err, &policyErr) {
		t.Fatalf("Check returned %T %v, not a *policy.Error", err, err)
	}
	if len(policyErr.Violations) == 0 || policyErr.Error() == "" {
		t.Fatalf("Check returned an error without violations: %#v", policyErr)
	}
	for _, v := range policyErr.Violations {
		if v.Reason == "" {
			t.Fatalf("violation of %q without a reason", v.Name)
		}
	}
	return policyErr.Violations
}

// checkAllowedName asserts what holds for every DNS name that Check allows
// on its own for namespace.
func checkAllowedName(t *testing.T, namespace, name string, ctx Context) {
	t.Helper()
	n := labels(name)
	if slices.Contains(n, "") || strings.ContainsRune(name, 0) {
		t.Fatalf("namespace %q: Check allowed %q, which has an empty label or a NUL byte", namespace, name)
	}
	// No rule of fuzzRules lists a name of the API server exactly, so
	// none of them is ever allowed, nor a wildcard that covers one.
	for _, r := range ctx.Reserved.DNSNames {
		if normalized := strings.Join(n, "."); normalized == r || MatchDNS(name, r) {
			t.Fatalf("namespace %q: Check allowed %q, which is or covers the API server's name %q", namespace, name, r)
		}
	}
	if len(ctx.Rules.DNSNames) > 0 || !isDNSLabel(namespace) {
		return
	}
	// The namespace default allows only names in the namespace's own
	// service domain, never in another namespace's.
	if !inServiceDomain(name, namespace, ctx.ClusterDomain) {
		t.Fatalf("namespace %q: Check allowed %q with no rules, outside the namespace's service domain", namespace, name)
	}
	for _, other := range n {
		if other != namespace && isDNSLabel(other) && inServiceDomain(name, other, ctx.ClusterDomain) {
			t.Fatalf("namespace %q: Check allowed %q with no rules, which lies in namespace %q's service domain", namespace, name, other)
		}
	}
}

// inServiceDomain is the definition that InNamespaceDomain implements,
// written out independently: the name, lower case and without one trailing
// dot, is a non-empty label (and maybe more labels) followed by
// ".<namespace>.svc" or ".<namespace>.svc.<clusterDomain>".
func inServiceDomain(name, namespace, clusterDomain string) bool {
	n := labels(name)
	domains := [][]string{{namespace, "svc"}}
	if clusterDomain != "" {
		domains = append(domains, append([]string{namespace, "svc"}, labels(clusterDomain)...))
	}
	for _, domain := range domains {
		first := len(n) - len(domain)
		if first >= 1 && n[first-1] != "" && slices.Equal(n[first:], domain) {
			return true
		}
	}
	return false
}

// labels splits a DNS name into lower-case labels, without one trailing dot.
func labels(name string) []string {
	return strings.Split(strings.ToLower(strings.TrimSuffix(name, ".")), ".")
}

// isDNSLabel reports whether s is an RFC 1123 label, the form of a
// Kubernetes namespace name.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// sameURI reports whether two URIs are equal as MatchURI documents it:
// scheme and host case-insensitively (the host modulo one trailing dot and
// without empty labels), everything else exactly.
func sameURI(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && a.User.String() == b.User.String() &&
		a.RawQuery == b.RawQuery && a.Fragment == b.Fragment && a.EscapedPath() == b.EscapedPath() &&
		b.Host != "" && !slices.Contains(labels(b.Host), "") &&
		strings.EqualFold(strings.TrimSuffix(a.Host, "."), strings.TrimSuffix(b.Host, "."))
}

// nonEmpty returns s as a one-element list, or nil when it is empty.
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
