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

// Package policy decides what a certificate may carry. It holds the
// namespace-safety rule — by default a ServiceCertificate in namespace A may
// only name A's service domain and A's Services' cluster IPs, never a name
// that resolves into another namespace — and an issuer's explicit rules
// (DNS name, IP range and URI patterns, usages, CA requests). It imports no
// Kubernetes package.
package policy

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// DefaultUsages are the usages an issuer allows when its policy lists none.
var DefaultUsages = []string{"digital signature", "key encipherment", "server auth", "client auth"}

// caUsages may be requested only when CA requests are allowed.
var caUsages = []string{"cert sign", "crl sign"}

// Rules are an issuer's explicit policy.
type Rules struct {
	// DNSNames are allowed DNS name patterns; "*" stands for one label.
	DNSNames []string
	// IPRanges are allowed IP ranges.
	IPRanges []*net.IPNet
	// URIs are allowed URI patterns; "*" stands for one host label or path segment.
	URIs []string
	// Usages that may be requested; DefaultUsages when empty.
	Usages []string
	// AllowCA lets a request ask for a CA certificate.
	AllowCA bool
}

// ParseIPRanges parses CIDR strings.
func ParseIPRanges(cidrs []string) ([]*net.IPNet, error) {
	ranges := make([]*net.IPNet, 0, len(cidrs))
	for _, c := range cidrs {
		_, ipNet, err := net.ParseCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("ip range %q: %w", c, err)
		}
		ranges = append(ranges, ipNet)
	}
	return ranges, nil
}

// Request is what a certificate asks for.
type Request struct {
	// Namespace the request comes from; empty for a CSR that certsmith did
	// not create, which gets no namespace default: only Rules allow names.
	Namespace string
	// CommonName of the subject.
	CommonName string
	// DNSNames requested.
	DNSNames []string
	// IPAddresses requested.
	IPAddresses []net.IP
	// URIs requested.
	URIs []*url.URL
	// EmailAddresses requested.
	EmailAddresses []string
	// Usages requested, as certificates.k8s.io usage strings.
	Usages []string
}

// Context is what the cluster knows around a request.
type Context struct {
	// ClusterDomain is the cluster's DNS domain, such as "cluster.local".
	ClusterDomain string
	// NamespaceIPs are the cluster IPs of the Services in the requesting namespace.
	NamespaceIPs []net.IP
	// Rules are the issuer's explicit policy.
	Rules Rules
}

// Violation is something the policy does not allow, with the reason.
type Violation struct {
	// Name is the offending name, address or usage.
	Name string
	// Reason says why it is not allowed.
	Reason string
}

// Error is returned when a request asks for what it may not have.
type Error struct {
	// Violations lists every refusal.
	Violations []Violation
}

// Error implements error.
func (e *Error) Error() string {
	parts := make([]string, 0, len(e.Violations))
	for _, v := range e.Violations {
		parts = append(parts, fmt.Sprintf("%q %s", v.Name, v.Reason))
	}
	return strings.Join(parts, "; ")
}

// Check checks a request. A DNS name is allowed when it lies in the
// requesting namespace's service domain or matches a rule; an IP when it is
// a cluster IP of the namespace's Services or lies in a rule's range; a URI
// only by a rule; email addresses never. The common name must be one of the
// allowed DNS names or IPs, or itself an allowed DNS name. Usages must be
// allowed, and CA usages need AllowCA. Short names such as "<svc>" or
// "<svc>.<ns>" are never allowed by the namespace default: DNS search paths
// make them resolve relative to the client's namespace, so a namespace
// called "com" would own "google.com".
func Check(req Request, ctx Context) error {
	var violations []Violation
	deny := func(name, reason string) { violations = append(violations, Violation{Name: name, Reason: reason}) }
	outside := "is not allowed by the issuer's policy"
	if req.Namespace != "" {
		outside = fmt.Sprintf("is outside namespace %s's service domain (*.%s.svc, *.%s.svc.%s) and not allowed by the issuer's policy",
			req.Namespace, req.Namespace, req.Namespace, ctx.ClusterDomain)
	}
	for _, name := range req.DNSNames {
		if !allowsDNS(req, ctx, name) {
			deny(name, outside)
		}
	}
	for _, ip := range req.IPAddresses {
		if !allowsIP(req, ctx, ip) {
			reason := "is not in an IP range of the issuer's policy"
			if req.Namespace != "" {
				reason = fmt.Sprintf("is not the cluster IP of a Service in namespace %s nor in an IP range of the issuer's policy", req.Namespace)
			}
			deny(ip.String(), reason)
		}
	}
	for _, u := range req.URIs {
		if !slices.ContainsFunc(ctx.Rules.URIs, func(p string) bool { return MatchURI(p, u) }) {
			deny(u.String(), "is not allowed by the URI patterns of the issuer's policy")
		}
	}
	for _, e := range req.EmailAddresses {
		deny(e, "email addresses are not allowed")
	}
	// A CA's common name is a label, not a host name; for a CA request that
	// the policy allows, it is not checked against the DNS rules.
	isCA := slices.ContainsFunc(req.Usages, func(u string) bool { return slices.Contains(caUsages, u) })
	if cn := req.CommonName; cn != "" && !(isCA && ctx.Rules.AllowCA) && !commonNameAllowed(req, ctx, cn) {
		deny(cn, "(common name) is neither an allowed DNS name nor an allowed IP address")
	}
	allowed := ctx.Rules.Usages
	if len(allowed) == 0 {
		allowed = DefaultUsages
	}
	for _, u := range req.Usages {
		switch {
		case slices.Contains(caUsages, u):
			if !ctx.Rules.AllowCA {
				deny(u, "asks for a CA certificate, which the issuer's policy does not allow (allowCA)")
			}
		case !slices.Contains(allowed, u):
			deny(u, fmt.Sprintf("is not an allowed usage (allowed: %s)", strings.Join(allowed, ", ")))
		}
	}
	if len(violations) > 0 {
		return &Error{Violations: violations}
	}
	return nil
}

func allowsDNS(req Request, ctx Context, name string) bool {
	if req.Namespace != "" && InNamespaceDomain(name, req.Namespace, ctx.ClusterDomain) {
		return true
	}
	return slices.ContainsFunc(ctx.Rules.DNSNames, func(p string) bool { return MatchDNS(p, name) })
}

func allowsIP(req Request, ctx Context, ip net.IP) bool {
	if req.Namespace != "" && slices.ContainsFunc(ctx.NamespaceIPs, ip.Equal) {
		return true
	}
	return slices.ContainsFunc(ctx.Rules.IPRanges, func(r *net.IPNet) bool { return r.Contains(ip) })
}

func commonNameAllowed(req Request, ctx Context, cn string) bool {
	if slices.Contains(req.DNSNames, cn) {
		return allowsDNS(req, ctx, cn)
	}
	if ip := net.ParseIP(cn); ip != nil {
		return allowsIP(req, ctx, ip)
	}
	return allowsDNS(req, ctx, cn)
}

// InNamespaceDomain reports whether a DNS name lies under the namespace's
// service domain, with at least one label before it.
func InNamespaceDomain(name, namespace, clusterDomain string) bool {
	name = normalizeDNS(name)
	suffixes := []string{"." + namespace + ".svc"}
	if clusterDomain != "" {
		suffixes = append(suffixes, "."+namespace+".svc."+normalizeDNS(clusterDomain))
	}
	for _, suffix := range suffixes {
		if prefix, ok := strings.CutSuffix(name, suffix); ok && prefix != "" && !strings.HasSuffix(prefix, ".") {
			return true
		}
	}
	return false
}

// MatchDNS reports whether a DNS name matches a pattern in which "*" stands
// for exactly one label. Names and patterns are compared case-insensitively
// and without a trailing dot. A wildcard name matches only a "*" (or a
// literal "*") in the same place.
func MatchDNS(pattern, name string) bool {
	p := strings.Split(normalizeDNS(pattern), ".")
	n := strings.Split(normalizeDNS(name), ".")
	if len(p) != len(n) {
		return false
	}
	for i := range p {
		if n[i] == "" {
			return false
		}
		if p[i] != "*" && p[i] != n[i] {
			return false
		}
	}
	return true
}

// MatchURI reports whether a URI matches a pattern. Scheme must be equal;
// in the host "*" stands for one label and in the path for one segment.
func MatchURI(pattern string, u *url.URL) bool {
	p, err := url.Parse(pattern)
	if err != nil || u == nil {
		return false
	}
	if !strings.EqualFold(p.Scheme, u.Scheme) || p.User.String() != u.User.String() || u.RawQuery != p.RawQuery || u.Fragment != p.Fragment {
		return false
	}
	if !MatchDNS(p.Host, u.Host) {
		return false
	}
	ps, us := strings.Split(p.EscapedPath(), "/"), strings.Split(u.EscapedPath(), "/")
	if len(ps) != len(us) {
		return false
	}
	for i := range ps {
		if ps[i] != "*" && ps[i] != us[i] {
			return false
		}
		if ps[i] == "*" && us[i] == "" {
			return false
		}
	}
	return true
}

func normalizeDNS(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
