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
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	return rules, nil
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

// policyRequest describes a parsed CSR for the policy.
func policyRequest(namespace string, request *x509.CertificateRequest, usages []string) policy.Request {
	return policy.Request{
		Namespace:      namespace,
		CommonName:     request.Subject.CommonName,
		DNSNames:       request.DNSNames,
		IPAddresses:    request.IPAddresses,
		URIs:           request.URIs,
		EmailAddresses: request.EmailAddresses,
		Usages:         usages,
	}
}
