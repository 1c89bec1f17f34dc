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
// (DNS name, IP range and URI patterns, usages, subjects, CA requests and
// the name constraints of the CAs it allows), and keeps the API server's
// names for those who list them exactly. It imports no Kubernetes package.
package policy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/certsmith/certsmith/internal/pki"
)

// DefaultUsages are the usages an issuer allows when its policy lists none.
var DefaultUsages = []string{"digital signature", "key encipherment", "server auth", "client auth"}

// caUsages may be requested only when CA requests are allowed.
var caUsages = []string{"cert sign", "crl sign"}

// Limits on what one request may ask for.
const (
	// DefaultMaxNames is how many subject alternative names (DNS, IP, URI
	// and email together) a certificate may carry unless configured otherwise.
	DefaultMaxNames = 100
	// MaxSubjectValueLength is the longest subject attribute value (the
	// upper bound RFC 5280 gives for common names and organizations).
	MaxSubjectValueLength = 64
	// maxDNSNameLength and maxDNSLabelLength are the limits of RFC 1035.
	maxDNSNameLength  = 253
	maxDNSLabelLength = 63
	// maxMessageViolations is how many violations an error spells out.
	maxMessageViolations = 8
)

// ReservedOrganizationPrefix starts the organizations and organizational
// units that Kubernetes gives meaning: "system:masters" is cluster-admin,
// "system:nodes" a kubelet.
const ReservedOrganizationPrefix = "system:"

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
	// Subject restricts the subject attributes beyond the common name; nil
	// allows any value except the reserved "system:" ones.
	Subject *SubjectRules
}

// SubjectRules list the values each subject attribute may take. An empty
// list allows no value; "*" allows any value that is not reserved. A
// reserved value ("system:…" in organizations or organizational units) is
// allowed only when listed exactly.
type SubjectRules struct {
	Organizations       []string
	OrganizationalUnits []string
	Countries           []string
	Provinces           []string
	Localities          []string
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

// Subject is the distinguished name a request asks for, attribute by
// attribute, as it was sent: several common names are kept as several.
type Subject struct {
	CommonNames         []string
	Organizations       []string
	OrganizationalUnits []string
	Countries           []string
	Provinces           []string
	Localities          []string
	// Unsupported names the attributes of any other type (by OID), which
	// certsmith neither checks nor issues.
	Unsupported []string
}

// CommonName returns the single common name, or "" when there is none.
func (s Subject) CommonName() string {
	if len(s.CommonNames) == 0 {
		return ""
	}
	return s.CommonNames[0]
}

// Request is what a certificate asks for.
type Request struct {
	// Namespace the request comes from; empty for a CSR that certsmith did
	// not create, which gets no namespace default: only Rules allow names.
	Namespace string
	// Subject of the certificate.
	Subject Subject
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
	// IsCA says the certificate would be a CA ("cert sign" requested).
	IsCA bool
}

// IsCARequest reports whether usages ask for a CA certificate: the signer
// makes a CA certificate exactly when "cert sign" is among them.
func IsCARequest(usages []string) bool {
	return slices.Contains(usages, "cert sign")
}

// Context is what the cluster knows around a request.
type Context struct {
	// ClusterDomain is the cluster's DNS domain, such as "cluster.local".
	ClusterDomain string
	// NamespaceIPs are the cluster IPs of the Services in the requesting namespace.
	NamespaceIPs []net.IP
	// Reserved are the names of the API server, issued only when a rule
	// lists them exactly (ReservedNames builds them).
	Reserved Reserved
	// Rules are the issuer's explicit policy.
	Rules Rules
	// MaxNames bounds the subject alternative names; DefaultMaxNames when 0.
	MaxNames int
}

// Reserved are names that only an exact policy entry allows.
type Reserved struct {
	// DNSNames are reserved DNS names, lower case.
	DNSNames []string
	// IPs are reserved IP addresses.
	IPs []net.IP
}

// ReservedNames returns the API server's names in a cluster: "kubernetes",
// "kubernetes.default", "kubernetes.default.svc" and
// "kubernetes.default.svc.<clusterDomain>", and the cluster IPs of the
// "kubernetes" Service. Pods reach the API server by these names, so a
// certificate for one of them lets its holder pose as the API server.
func ReservedNames(clusterDomain string, apiServerIPs []net.IP) Reserved {
	names := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc"}
	if clusterDomain != "" {
		names = append(names, "kubernetes.default.svc."+normalizeDNS(clusterDomain))
	}
	return Reserved{DNSNames: names, IPs: apiServerIPs}
}

// Violation is something the policy does not allow, with the reason.
type Violation struct {
	// Name is the offending name, address, usage or subject value.
	Name string
	// Reason says why it is not allowed.
	Reason string
}

// Error is returned when a request asks for what it may not have.
type Error struct {
	// Violations lists every refusal.
	Violations []Violation
}

// Error implements error. It spells out the first few violations and
// counts the rest, so a request with thousands of names makes a short message.
func (e *Error) Error() string {
	parts := make([]string, 0, min(len(e.Violations), maxMessageViolations)+1)
	for i, v := range e.Violations {
		if i == maxMessageViolations {
			parts = append(parts, fmt.Sprintf("… and %d more", len(e.Violations)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s", quote(v.Name), v.Reason))
	}
	return strings.Join(parts, "; ")
}

// quote quotes a name for a message, cut to a readable length.
func quote(name string) string {
	const maxQuoted = 128
	if len(name) > maxQuoted {
		return strconv.Quote(name[:maxQuoted]) + "…"
	}
	return strconv.Quote(name)
}

// Check checks a request. A DNS name is allowed when it is well formed and
// lies in the requesting namespace's service domain or matches a rule; an
// IP when it is a cluster IP of the namespace's Services or lies in a rule's
// range; a URI only by a rule; email addresses never. A reserved name or IP
// (the API server's) is allowed only by a rule that lists it exactly, and a
// wildcard that covers a reserved name only by a rule that lists that
// wildcard exactly. The subject may hold at most one common name, which
// must be an allowed DNS name or IP (a CA's common name is a label, not a
// host name: for a CA request that the policy allows, it is not checked);
// organizations and organizational units starting with "system:" need an
// exact entry in Rules.Subject, and Rules.Subject, when set, restricts the
// other attributes. Usages must be allowed, and CA usages need AllowCA.
// Short names such as "<svc>" or "<svc>.<ns>" are never allowed by the
// namespace default: DNS search paths make them resolve relative to the
// client's namespace, so a namespace called "com" would own "google.com".
func Check(req Request, ctx Context) error {
	var violations []Violation
	deny := func(name, reason string) { violations = append(violations, Violation{Name: name, Reason: reason}) }
	maxNames := ctx.MaxNames
	if maxNames <= 0 {
		maxNames = DefaultMaxNames
	}
	if n := len(req.DNSNames) + len(req.IPAddresses) + len(req.URIs) + len(req.EmailAddresses); n > maxNames {
		// Nothing else is looked at: checking thousands of names is the attack.
		return &Error{Violations: []Violation{{Name: fmt.Sprintf("%d names", n), Reason: fmt.Sprintf("are more than the %d a certificate may carry", maxNames)}}}
	}
	outside := "is not allowed by the issuer's policy"
	if req.Namespace != "" {
		outside = fmt.Sprintf("is outside namespace %s's service domain (*.%s.svc, *.%s.svc.%s) and not allowed by the issuer's policy",
			req.Namespace, req.Namespace, req.Namespace, ctx.ClusterDomain)
	}
	for _, name := range req.DNSNames {
		if reason := dnsRefusal(req, ctx, name, outside); reason != "" {
			deny(name, reason)
		}
	}
	for _, ip := range req.IPAddresses {
		if reason := ipRefusal(req, ctx, ip); reason != "" {
			deny(ip.String(), reason)
		}
	}
	for _, u := range req.URIs {
		if covered := reservedCoveredBy(ctx.Reserved, u.Hostname()); covered != "" {
			deny(u.String(), fmt.Sprintf("names %s, a name of the Kubernetes API server, as its host", covered))
			continue
		}
		if !slices.ContainsFunc(ctx.Rules.URIs, func(p string) bool { return MatchURI(p, u) }) {
			deny(u.String(), "is not allowed by the URI patterns of the issuer's policy")
		}
	}
	for _, e := range req.EmailAddresses {
		deny(e, "email addresses are not allowed")
	}
	violations = append(violations, checkSubject(req, ctx)...)
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

// checkSubject checks the subject: one common name at most, an allowed one,
// and the other attributes as Rules.Subject says.
func checkSubject(req Request, ctx Context) []Violation {
	var violations []Violation
	deny := func(name, reason string) { violations = append(violations, Violation{Name: name, Reason: reason}) }
	subject := req.Subject
	for _, oid := range subject.Unsupported {
		deny(oid, "is a subject attribute certsmith does not issue (only CN, O, OU, C, ST and L)")
	}
	if len(subject.CommonNames) > 1 {
		deny(strings.Join(subject.CommonNames, ", "), "are more than one common name; TLS clients may match any of them")
	}
	caExempt := req.IsCA && ctx.Rules.AllowCA
	for _, cn := range subject.CommonNames {
		switch {
		case len(cn) > MaxSubjectValueLength:
			deny(cn, fmt.Sprintf("(common name) is longer than %d characters", MaxSubjectValueLength))
		case caExempt && !looksLikeHost(cn):
			// A CA's common name is a label ("Team CA"), not a host name. One
			// that reads as a host name or an IP is checked like one: TLS
			// clients that fall back to the CN would take the CA certificate
			// itself for that host.
		default:
			if reason := commonNameRefusal(req, ctx, cn); reason != "" {
				deny(cn, "(common name) "+reason)
			}
		}
	}
	var rules SubjectRules
	if ctx.Rules.Subject != nil {
		rules = *ctx.Rules.Subject
	}
	restricted := ctx.Rules.Subject != nil
	for _, attr := range []struct {
		name    string
		values  []string
		allowed []string
		// reserved says whether "system:" values have meaning for Kubernetes.
		reserved bool
	}{
		{"organization", subject.Organizations, rules.Organizations, true},
		{"organizational unit", subject.OrganizationalUnits, rules.OrganizationalUnits, true},
		{"country", subject.Countries, rules.Countries, false},
		{"province", subject.Provinces, rules.Provinces, false},
		{"locality", subject.Localities, rules.Localities, false},
	} {
		for _, v := range attr.values {
			isReserved := attr.reserved && strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), ReservedOrganizationPrefix)
			switch {
			case len(v) > MaxSubjectValueLength:
				deny(v, fmt.Sprintf("(%s) is longer than %d characters", attr.name, MaxSubjectValueLength))
			case slices.Contains(attr.allowed, v):
			case isReserved:
				deny(v, fmt.Sprintf("(%s) has a meaning for Kubernetes (%s…) and is allowed only when the issuer's policy.subject lists it exactly",
					attr.name, ReservedOrganizationPrefix))
			case restricted && !slices.Contains(attr.allowed, "*"):
				deny(v, fmt.Sprintf("(%s) is not allowed by the issuer's policy.subject", attr.name))
			}
		}
	}
	return violations
}

// dnsRefusal says why a DNS name is not allowed, or "" when it is.
func dnsRefusal(req Request, ctx Context, name, outside string) string {
	if err := ValidateDNSName(name, true); err != nil {
		return err.Error()
	}
	if covered := reservedCoveredBy(ctx.Reserved, name); covered != "" {
		if !slices.ContainsFunc(ctx.Rules.DNSNames, func(p string) bool { return normalizeDNS(p) == normalizeDNS(name) }) {
			return fmt.Sprintf("is (or covers) %s, a name of the Kubernetes API server, allowed only when the issuer's policy lists %q exactly", covered, normalizeDNS(name))
		}
		return ""
	}
	if !allowsDNS(req, ctx, name) {
		return outside
	}
	return ""
}

// ipRefusal says why an IP address is not allowed, or "" when it is.
func ipRefusal(req Request, ctx Context, ip net.IP) string {
	if slices.ContainsFunc(ctx.Reserved.IPs, ip.Equal) {
		if !slices.ContainsFunc(ctx.Rules.IPRanges, func(r *net.IPNet) bool { return isSingleAddress(r, ip) }) {
			return fmt.Sprintf("is a cluster IP of the Kubernetes API server, allowed only when the issuer's policy lists %s exactly", singleAddressCIDR(ip))
		}
		return ""
	}
	if !allowsIP(req, ctx, ip) {
		if req.Namespace != "" {
			return fmt.Sprintf("is not the cluster IP of a Service in namespace %s nor in an IP range of the issuer's policy", req.Namespace)
		}
		return "is not in an IP range of the issuer's policy"
	}
	return ""
}

// reservedCoveredBy returns the reserved name that name is, or that the
// wildcard name covers, or "".
func reservedCoveredBy(reserved Reserved, name string) string {
	name = normalizeDNS(name)
	for _, r := range reserved.DNSNames {
		if name == r {
			return r
		}
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			if _, parent, found := strings.Cut(r, "."); found && parent == rest {
				return r
			}
		}
	}
	return ""
}

// isSingleAddress reports whether r is exactly the one address ip (a /32 or a /128).
func isSingleAddress(r *net.IPNet, ip net.IP) bool {
	ones, bits := r.Mask.Size()
	return ones == bits && r.IP.Equal(ip)
}

func singleAddressCIDR(ip net.IP) string {
	if ip.To4() != nil {
		return ip.String() + "/32"
	}
	return ip.String() + "/128"
}

// ValidateDNSName checks a DNS name label by label: at most 253 characters,
// labels of 1 to 63 letters, digits and hyphens that neither start nor end
// with a hyphen, one optional trailing dot, and — when wildcards are
// allowed — a leading "*." label. NUL bytes, spaces, underscores and empty
// labels are refused.
func ValidateDNSName(name string, allowWildcard bool) error {
	trimmed := strings.TrimSuffix(name, ".")
	if trimmed == "" {
		return errors.New("is not a DNS name (it is empty)")
	}
	if len(trimmed) > maxDNSNameLength {
		return fmt.Errorf("is longer than the %d characters a DNS name may have", maxDNSNameLength)
	}
	labels := strings.Split(trimmed, ".")
	for i, label := range labels {
		if i == 0 && label == "*" {
			if !allowWildcard {
				return errors.New("is a wildcard, which is not allowed here")
			}
			if len(labels) < 3 {
				return errors.New("is a wildcard of a top-level domain, which is not allowed")
			}
			continue
		}
		if err := validateLabel(label); err != nil {
			return err
		}
	}
	return nil
}

func validateLabel(label string) error {
	if label == "" {
		return errors.New("has an empty label")
	}
	if len(label) > maxDNSLabelLength {
		return fmt.Errorf("has a label longer than %d characters", maxDNSLabelLength)
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(label)-1
		if !ok {
			return fmt.Errorf("has a label with %s: only letters, digits and inner hyphens are allowed", describeByte(c))
		}
	}
	return nil
}

func describeByte(c byte) string {
	switch {
	case c == '-':
		return "a leading or trailing hyphen"
	case c < 0x20 || c >= 0x7f:
		return fmt.Sprintf("the byte 0x%02x", c)
	default:
		return fmt.Sprintf("%q", string(c))
	}
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

// looksLikeHost reports whether a common name could be taken for a host: a
// well-formed DNS name or an IP address.
func looksLikeHost(cn string) bool {
	return net.ParseIP(cn) != nil || ValidateDNSName(cn, true) == nil
}

// commonNameRefusal says why a common name does not pass the checks of a
// subject alternative name (well formed, not reserved, allowed), or "".
func commonNameRefusal(req Request, ctx Context, cn string) string {
	if ip := net.ParseIP(cn); ip != nil {
		return ipRefusal(req, ctx, ip)
	}
	return dnsRefusal(req, ctx, cn, "is neither an allowed DNS name nor an allowed IP address")
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
		if ps[i] == "*" && !plainSegment(us[i]) {
			return false
		}
	}
	return true
}

func normalizeDNS(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// NameConstraintsFor returns the name constraints of a CA certificate that
// an issuer with these rules signs, so the CA can sign no other names than the
// rules allow. X.509 constraints are whole subtrees, so each pattern becomes
// the domain after its last wildcard label ("*.example.com" → "example.com",
// "web.*.svc.cluster.local" → "svc.cluster.local"; a pattern that is only
// wildcards permits every name of its type). A kind of name no rule allows
// (email addresses never are) is excluded entirely (for DNS names and URIs
// by permitting only permitNoName), and the reserved names
// and IPs are excluded unless a rule lists them exactly.
func NameConstraintsFor(rules Rules, reserved Reserved) *pki.NameConstraints {
	c := &pki.NameConstraints{ExcludedEmailAddresses: []string{""}}
	if len(rules.DNSNames) == 0 {
		c.PermittedDNSDomains = []string{permitNoName}
	}
	for _, pattern := range rules.DNSNames {
		domain := domainAfterWildcards(pattern)
		if domain == "" {
			c.PermittedDNSDomains = nil
			break
		}
		if !slices.Contains(c.PermittedDNSDomains, domain) {
			c.PermittedDNSDomains = append(c.PermittedDNSDomains, domain)
		}
	}
	for _, name := range reserved.DNSNames {
		if !slices.ContainsFunc(rules.DNSNames, func(p string) bool { return normalizeDNS(p) == name }) {
			c.ExcludedDNSDomains = append(c.ExcludedDNSDomains, name)
		}
	}
	c.PermittedIPRanges = append(c.PermittedIPRanges, rules.IPRanges...)
	if len(rules.IPRanges) == 0 {
		c.ExcludedIPRanges = []*net.IPNet{{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, {IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}}
	}
	for _, ip := range reserved.IPs {
		if !slices.ContainsFunc(rules.IPRanges, func(r *net.IPNet) bool { return isSingleAddress(r, ip) }) {
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			c.ExcludedIPRanges = append(c.ExcludedIPRanges, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		}
	}
	allURIs := false
	for _, pattern := range rules.URIs {
		u, err := url.Parse(pattern)
		if err != nil || u.Hostname() == "" {
			// No host to constrain by (a URN, or no authority): fail closed,
			// the sub-CA may not sign it.
			continue
		}
		domain := domainAfterWildcards(u.Hostname())
		if domain == "" {
			allURIs = true
			break
		}
		if !slices.Contains(c.PermittedURIDomains, domain) {
			c.PermittedURIDomains = append(c.PermittedURIDomains, domain)
		}
	}
	switch {
	case allURIs:
		c.PermittedURIDomains = nil
	case len(c.PermittedURIDomains) == 0:
		c.PermittedURIDomains = []string{permitNoName}
	}
	return c
}

// permitNoName is the one domain permitted where a policy allows no names
// of a kind: under the reserved top-level domain "invalid" (RFC 6761), it
// names nothing, and as a fully qualified domain name it is a valid URI
// constraint (RFC 5280 wants one there; an empty exclusion is not).
const permitNoName = "none.invalid"

// domainAfterWildcards returns the labels of a pattern after its last "*"
// label, lower case: the smallest subtree that holds every name it matches.
func domainAfterWildcards(pattern string) string {
	labels := strings.Split(normalizeDNS(pattern), ".")
	for i := len(labels) - 1; i >= 0; i-- {
		if labels[i] == "*" {
			return strings.Join(labels[i+1:], ".")
		}
	}
	return strings.Join(labels, ".")
}

// plainSegment reports whether a path segment may stand for a "*": not
// empty, not "." or ".." (which move up the path, and which SPIFFE IDs
// forbid) and without an encoded slash.
func plainSegment(segment string) bool {
	return segment != "" && segment != "." && segment != ".." && !strings.Contains(strings.ToLower(segment), "%2f")
}
