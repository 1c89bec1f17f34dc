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

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/policy"
)

// issuerRules turns an issuer's spec.policy into policy rules.
func issuerRules(issuer *certsmithv1alpha1.ClusterIssuer) (policy.Rules, error) {
	p := issuer.Spec.Policy
	if p == nil {
		return policy.Rules{}, nil
	}
	ranges, err := policy.ParseIPRanges(p.IPRanges)
	if err != nil {
		return policy.Rules{}, err
	}
	rules := policy.Rules{DNSNames: p.DNSNames, IPRanges: ranges, URIs: p.URIs, AllowCA: p.AllowCA}
	for _, u := range p.Usages {
		rules.Usages = append(rules.Usages, string(u))
	}
	if s := p.Subject; s != nil {
		rules.Subject = &policy.SubjectRules{Organizations: s.Organizations, OrganizationalUnits: s.OrganizationalUnits,
			Countries: s.Countries, Provinces: s.Provinces, Localities: s.Localities}
	}
	return rules, nil
}

// policyContext is what the policy checks a request of namespace against:
// the issuer's rules, the namespace's cluster IPs, the API server's names
// and the issuer's name limit.
func policyContext(ctx context.Context, reader client.Reader, issuer *certsmithv1alpha1.ClusterIssuer, rules policy.Rules, clusterDomain string, namespaceIPs []net.IP) (policy.Context, error) {
	reserved, err := reservedNames(ctx, reader, clusterDomain)
	if err != nil {
		return policy.Context{}, err
	}
	pc := policy.Context{ClusterDomain: clusterDomain, NamespaceIPs: namespaceIPs, Reserved: reserved, Rules: rules}
	if p := issuer.Spec.Policy; p != nil && p.MaxNames != nil {
		pc.MaxNames = int(*p.MaxNames)
	}
	return pc, nil
}

// apiServerService is the Service through which pods reach the API server.
var apiServerService = types.NamespacedName{Namespace: metav1.NamespaceDefault, Name: "kubernetes"}

// reservedNames returns the API server's names: its fixed DNS names and the
// cluster IPs of the default/kubernetes Service (none if it is missing).
func reservedNames(ctx context.Context, reader client.Reader, clusterDomain string) (policy.Reserved, error) {
	svc := &corev1.Service{}
	var ips []net.IP
	if err := reader.Get(ctx, apiServerService, svc); err == nil {
		ips = clusterIPs(svc)
	} else if !apierrors.IsNotFound(err) {
		return policy.Reserved{}, fmt.Errorf("reading Service %s: %w", apiServerService, err)
	}
	return policy.ReservedNames(clusterDomain, ips), nil
}

// autoApprovalInactive says whether Auto approval can approve anything: it
// returns a message when the issuer asks for Auto but names no requester.
func autoApprovalInactive(issuer *certsmithv1alpha1.ClusterIssuer) string {
	if issuer.Spec.Approval != certsmithv1alpha1.ApprovalAuto {
		return ""
	}
	if p := issuer.Spec.Policy; p != nil && p.AutoApprove != nil &&
		len(p.AutoApprove.Users)+len(p.AutoApprove.Groups)+len(p.AutoApprove.ServiceAccounts) > 0 {
		return ""
	}
	return "approval is Auto but spec.policy.autoApprove names no users, groups or serviceAccounts, so no CSR is approved automatically; " +
		"list the requesters whose CSRs may be approved, or approve them with kubectl certificate approve"
}

// autoApproves reports whether the issuer's policy.autoApprove names the
// requester of a CSR, as the API server recorded it (spec.username and
// spec.groups, which the requester cannot set).
func autoApproves(issuer *certsmithv1alpha1.ClusterIssuer, csr *certificatesv1.CertificateSigningRequest) bool {
	p := issuer.Spec.Policy
	if p == nil || p.AutoApprove == nil {
		return false
	}
	list := p.AutoApprove
	if slices.Contains(list.Users, csr.Spec.Username) {
		return true
	}
	if slices.ContainsFunc(list.Groups, func(g string) bool { return slices.Contains(csr.Spec.Groups, g) }) {
		return true
	}
	return slices.ContainsFunc(list.ServiceAccounts, func(sa string) bool {
		ns, name, ok := strings.Cut(sa, "/")
		return ok && csr.Spec.Username == serviceAccountUsername(ns, name)
	})
}

// maxDuration caps a requested lifetime at the issuer's policy maximum.
func maxDuration(issuer *certsmithv1alpha1.ClusterIssuer, requested time.Duration) time.Duration {
	if p := issuer.Spec.Policy; p != nil && p.MaxDuration != nil && p.MaxDuration.Duration < requested {
		return p.MaxDuration.Duration
	}
	return requested
}

// namespaceIPs returns the cluster IPs of every Service in a namespace.
func namespaceIPs(ctx context.Context, reader client.Reader, namespace string) ([]net.IP, error) {
	var services corev1.ServiceList
	if err := reader.List(ctx, &services, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing Services in %s: %w", namespace, err)
	}
	var ips []net.IP
	for i := range services.Items {
		ips = append(ips, clusterIPs(&services.Items[i])...)
	}
	return ips, nil
}

// namespaceAllowed checks the issuer's namespaceSelector against a namespace;
// it returns a message when the namespace is not served.
func namespaceAllowed(ctx context.Context, reader client.Reader, issuer *certsmithv1alpha1.ClusterIssuer, namespace string) (string, error) {
	p := issuer.Spec.Policy
	if p == nil || p.NamespaceSelector == nil {
		return "", nil
	}
	selector, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
	if err != nil {
		return fmt.Sprintf("ClusterIssuer %s has an invalid namespaceSelector: %v", issuer.Name, err), nil
	}
	ns := &corev1.Namespace{}
	if err := reader.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		return "", fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	if !selector.Matches(labels.Set(ns.Labels)) {
		return fmt.Sprintf("ClusterIssuer %s does not serve namespace %s (its policy.namespaceSelector does not match)", issuer.Name, namespace), nil
	}
	return "", nil
}

// serviceAccountUsername is the user name the API server gives a ServiceAccount.
func serviceAccountUsername(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// policyRequest describes a parsed CSR for the policy.
func policyRequest(namespace string, request *x509.CertificateRequest, usages []string) policy.Request {
	return policy.Request{
		Namespace:      namespace,
		Subject:        subjectOf(request.Subject),
		DNSNames:       request.DNSNames,
		IPAddresses:    request.IPAddresses,
		URIs:           request.URIs,
		EmailAddresses: request.EmailAddresses,
		Usages:         usages,
		IsCA:           policy.IsCARequest(usages),
	}
}

// Object identifiers of the subject attributes certsmith issues.
var (
	oidCommonName         = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidCountry            = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidLocality           = asn1.ObjectIdentifier{2, 5, 4, 7}
	oidProvince           = asn1.ObjectIdentifier{2, 5, 4, 8}
	oidOrganization       = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOrganizationalUnit = asn1.ObjectIdentifier{2, 5, 4, 11}
)

// subjectOf lists a parsed subject attribute by attribute, every value as
// sent: pkix.Name's CommonName keeps only the last of several, and a
// subject is checked, not assumed.
func subjectOf(name pkix.Name) policy.Subject {
	var s policy.Subject
	for _, attr := range name.Names {
		value, ok := attr.Value.(string)
		if !ok {
			s.Unsupported = append(s.Unsupported, attr.Type.String())
			continue
		}
		switch {
		case attr.Type.Equal(oidCommonName):
			s.CommonNames = append(s.CommonNames, value)
		case attr.Type.Equal(oidOrganization):
			s.Organizations = append(s.Organizations, value)
		case attr.Type.Equal(oidOrganizationalUnit):
			s.OrganizationalUnits = append(s.OrganizationalUnits, value)
		case attr.Type.Equal(oidCountry):
			s.Countries = append(s.Countries, value)
		case attr.Type.Equal(oidProvince):
			s.Provinces = append(s.Provinces, value)
		case attr.Type.Equal(oidLocality):
			s.Localities = append(s.Localities, value)
		default:
			s.Unsupported = append(s.Unsupported, attr.Type.String())
		}
	}
	return s
}

// subjectFromPolicy is the subject certsmith issues for a checked one.
func subjectFromPolicy(s policy.Subject) pkix.Name {
	return pkix.Name{CommonName: s.CommonName(), Organization: s.Organizations, OrganizationalUnit: s.OrganizationalUnits,
		Country: s.Countries, Province: s.Provinces, Locality: s.Localities}
}

// subjectOfName lists a subject that certsmith builds (a ServiceCertificate's).
func subjectOfName(name pkix.Name) policy.Subject {
	s := policy.Subject{Organizations: name.Organization, OrganizationalUnits: name.OrganizationalUnit,
		Countries: name.Country, Provinces: name.Province, Localities: name.Locality}
	if name.CommonName != "" {
		s.CommonNames = []string{name.CommonName}
	}
	return s
}
