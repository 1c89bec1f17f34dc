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

package controllers

// What a ServiceCertificate asks for: its spec, with defaults and the
// Service it names resolved, as one comparable request. Part of the observe
// stage; every function here is pure.

import (
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// defaultCertificateDuration is the lifetime of a ServiceCertificate when spec.duration is unset.
const defaultCertificateDuration = 90 * 24 * time.Hour

// certificateRequest is what a ServiceCertificate asks for once defaults,
// the Service's names and its cluster IPs are resolved.
type certificateRequest struct {
	issuerName            string
	signerName            string
	subject               pkix.Name
	dnsNames              []string
	ipAddresses           []net.IP
	uris                  []*url.URL
	usages                []string
	keySpec               pki.KeySpec
	keyEncoding           pki.KeyEncoding
	rotationPolicy        certsmithv1alpha1.RotationPolicy
	duration              time.Duration
	renewBefore           time.Duration
	renewBeforePercentage int32
}

// hash identifies the request: a CSR or Secret made for a different hash no
// longer matches the spec.
func (c *certificateRequest) hash() string {
	h := sha256.New()
	fmt.Fprintf(h, "issuer=%s\nsigner=%s\nkey=%s\nduration=%s\n", c.issuerName, c.signerName, c.keySpec, c.duration)
	fmt.Fprintf(h, "dns=%s\nip=%s\nusages=%s\n", strings.Join(c.dnsNames, ","), joinIPs(c.ipAddresses), strings.Join(c.usages, ","))
	fmt.Fprintf(h, "uris=%s\nsubject=%s\nencoding=%s\n", joinURIs(c.uris), c.subject.String(), c.keyEncoding)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// joinIPs joins IP addresses with commas, in their order.
func joinIPs(ips []net.IP) string {
	parts := make([]string, 0, len(ips))
	for _, ip := range ips {
		parts = append(parts, ip.String())
	}
	return strings.Join(parts, ",")
}

// joinURIs joins URIs with commas, in their order.
func joinURIs(uris []*url.URL) string {
	parts := make([]string, 0, len(uris))
	for _, u := range uris {
		parts = append(parts, u.String())
	}
	return strings.Join(parts, ",")
}

// defaultUsages are the usages of a serving certificate for a key algorithm:
// key encipherment only for RSA (RFC 5480, RFC 8813).
func defaultUsages(alg pki.KeyAlgorithm) []string {
	usages := []string{string(certsmithv1alpha1.UsageDigitalSignature), string(certsmithv1alpha1.UsageServerAuth)}
	if alg == pki.KeyAlgorithmRSA {
		usages = append(usages, string(certsmithv1alpha1.UsageKeyEncipherment))
	}
	sort.Strings(usages)
	return usages
}

// serviceNames returns the DNS names of a Service.
func serviceNames(service, namespace, clusterDomain string) []string {
	names := []string{service + "." + namespace + ".svc"}
	if clusterDomain != "" {
		names = append(names, service+"."+namespace+".svc."+clusterDomain)
	}
	return names
}

// clusterIPs returns the cluster IPs of a Service (none for headless ones).
func clusterIPs(svc *corev1.Service) []net.IP {
	var ips []net.IP
	for _, s := range svc.Spec.ClusterIPs {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		}
	}
	if len(ips) == 0 {
		if ip := net.ParseIP(svc.Spec.ClusterIP); ip != nil {
			ips = append(ips, ip)
		}
	}
	return ips
}

// uniqueSortedNames removes duplicates and sorts.
func uniqueSortedNames(names []string) []string {
	out := slices.Clone(names)
	for i := range out {
		out[i] = strings.ToLower(out[i])
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// uniqueSortedIPs removes duplicates and sorts.
func uniqueSortedIPs(ips []net.IP) []net.IP {
	out := slices.Clone(ips)
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return slices.CompactFunc(out, func(a, b net.IP) bool { return a.Equal(b) })
}

// requestFromSpec resolves what the spec asks for by itself: the issuer's
// signer, the key, the lifetime and renewal, the URIs, and the DNS names and
// IP addresses the spec lists (the Service's are added by addService).
func requestFromSpec(sc *certsmithv1alpha1.ServiceCertificate, issuer *certsmithv1alpha1.ClusterIssuer) (*certificateRequest, error) {
	req := &certificateRequest{
		issuerName:     issuer.Name,
		signerName:     issuer.EffectiveSignerName(),
		keySpec:        keySpecFrom(sc.Spec.PrivateKey),
		keyEncoding:    pki.KeyEncodingPKCS1,
		rotationPolicy: certsmithv1alpha1.RotationPolicyAlways,
		duration:       defaultCertificateDuration,
	}
	if k := sc.Spec.PrivateKey; k != nil {
		if k.Encoding != "" {
			req.keyEncoding = pki.KeyEncoding(k.Encoding)
		}
		if k.RotationPolicy != "" {
			req.rotationPolicy = k.RotationPolicy
		}
	}
	if sc.Spec.Duration != nil {
		req.duration = sc.Spec.Duration.Duration
	}
	if sc.Spec.RenewBefore != nil {
		req.renewBefore = sc.Spec.RenewBefore.Duration
	}
	if sc.Spec.RenewBeforePercentage != nil {
		req.renewBeforePercentage = *sc.Spec.RenewBeforePercentage
	}
	for _, raw := range sc.Spec.URIs {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" {
			return nil, terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("spec.uris: %q is not an absolute URI", raw))
		}
		req.uris = append(req.uris, u)
	}
	req.dnsNames = append([]string(nil), sc.Spec.DNSNames...)
	for _, s := range sc.Spec.IPAddresses {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("spec.ipAddresses: %q is not an IP address", s))
		}
		req.ipAddresses = append(req.ipAddresses, ip)
	}
	return req, nil
}

// addService adds the names and cluster IPs of the Service the spec names,
// found among the namespace's services, and returns the cluster IPs of all
// of them (for the policy's namespace IP check).
func (c *certificateRequest) addService(sc *certsmithv1alpha1.ServiceCertificate, services []corev1.Service, clusterDomain string) ([]net.IP, error) {
	var namespaceIPs []net.IP
	found := false
	for i := range services {
		svc := &services[i]
		namespaceIPs = append(namespaceIPs, clusterIPs(svc)...)
		if sc.Spec.Service != nil && svc.Name == sc.Spec.Service.Name {
			found = true
			c.dnsNames = append(c.dnsNames, serviceNames(svc.Name, sc.Namespace, clusterDomain)...)
			c.ipAddresses = append(c.ipAddresses, clusterIPs(svc)...)
		}
	}
	if sc.Spec.Service != nil && !found {
		return nil, terminal(certsmithv1alpha1.ReasonServiceNotFound, fmt.Sprintf(
			"Service %s/%s does not exist; the certificate is issued once it does", sc.Namespace, sc.Spec.Service.Name))
	}
	return namespaceIPs, nil
}

// complete puts the names in their canonical order and derives the common
// name, the subject and the usages; it refuses usages it does not know and
// a certificate with no name at all.
func (c *certificateRequest) complete(sc *certsmithv1alpha1.ServiceCertificate) error {
	c.dnsNames = uniqueSortedNames(c.dnsNames)
	c.ipAddresses = uniqueSortedIPs(c.ipAddresses)
	commonName := sc.Spec.CommonName
	if commonName == "" && len(c.dnsNames) > 0 {
		commonName = c.dnsNames[0]
	}
	c.subject = subjectFrom(sc.Spec.Subject, "")
	c.subject.CommonName = commonName
	if len(sc.Spec.Usages) > 0 {
		for _, u := range sc.Spec.Usages {
			c.usages = append(c.usages, string(u))
		}
		c.usages = uniqueSortedNames(c.usages)
	} else {
		c.usages = defaultUsages(c.keySpec.Algorithm)
	}
	if _, _, err := pki.ParseUsages(c.usages); err != nil {
		return terminal(certsmithv1alpha1.ReasonInvalidSpec, fmt.Sprintf("spec.usages: %v", err))
	}
	if len(c.dnsNames) == 0 && len(c.ipAddresses) == 0 && len(c.uris) == 0 {
		return terminal(certsmithv1alpha1.ReasonInvalidSpec, "the certificate would carry no name: the Service has no cluster IP and no dnsNames or ipAddresses are set")
	}
	return nil
}
