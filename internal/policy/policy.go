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

// Package policy decides which names a certificate may carry. It holds the
// namespace-safety rule: by default a ServiceCertificate in namespace A may
// only name A's service domain and A's Services' cluster IPs, never a name
// that resolves to another namespace. It imports no Kubernetes package.
package policy

import (
	"fmt"
	"net"
	"strings"
)

// Request is what a certificate asks for, seen from a namespace.
type Request struct {
	// Namespace the request comes from.
	Namespace string
	// DNSNames requested.
	DNSNames []string
	// IPAddresses requested.
	IPAddresses []net.IP
}

// Context is what the cluster knows about the requesting namespace.
type Context struct {
	// ClusterDomain is the cluster's DNS domain, such as "cluster.local".
	ClusterDomain string
	// NamespaceIPs are the cluster IPs of the Services in the requesting namespace.
	NamespaceIPs []net.IP
}

// Violation is a name that the policy does not allow, with the reason.
type Violation struct {
	// Name is the offending DNS name or IP address.
	Name string
	// Reason says why it is not allowed.
	Reason string
}

// Error is returned when a request asks for names it may not have.
type Error struct {
	// Violations lists every refused name.
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

// CheckNamespaceNames checks a request against the default namespace-safe
// rule. DNS names must lie under "<namespace>.svc" or
// "<namespace>.svc.<clusterDomain>" with at least one label in front (a
// wildcard "*." counts as a label); IP addresses must be cluster IPs of the
// namespace's own Services. Short names such as "<svc>" or "<svc>.<ns>" are
// refused: DNS search paths make them resolve relative to the client's
// namespace, so a namespace called "com" would own "google.com".
func CheckNamespaceNames(req Request, ctx Context) error {
	var violations []Violation
	for _, name := range req.DNSNames {
		if !InNamespaceDomain(name, req.Namespace, ctx.ClusterDomain) {
			violations = append(violations, Violation{Name: name, Reason: fmt.Sprintf(
				"is outside namespace %s's service domain (*.%s.svc, *.%s.svc.%s)",
				req.Namespace, req.Namespace, req.Namespace, ctx.ClusterDomain)})
		}
	}
	for _, ip := range req.IPAddresses {
		if !containsIP(ctx.NamespaceIPs, ip) {
			violations = append(violations, Violation{Name: ip.String(), Reason: fmt.Sprintf(
				"is not the cluster IP of a Service in namespace %s", req.Namespace)})
		}
	}
	if len(violations) > 0 {
		return &Error{Violations: violations}
	}
	return nil
}

// InNamespaceDomain reports whether a DNS name lies under the namespace's
// service domain, with at least one label before it.
func InNamespaceDomain(name, namespace, clusterDomain string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	suffixes := []string{"." + namespace + ".svc"}
	if clusterDomain != "" {
		suffixes = append(suffixes, "."+namespace+".svc."+strings.ToLower(strings.TrimSuffix(clusterDomain, ".")))
	}
	for _, suffix := range suffixes {
		if prefix, ok := strings.CutSuffix(name, suffix); ok && prefix != "" && !strings.HasSuffix(prefix, ".") {
			return true
		}
	}
	return false
}

func containsIP(ips []net.IP, ip net.IP) bool {
	for _, candidate := range ips {
		if candidate.Equal(ip) {
			return true
		}
	}
	return false
}
