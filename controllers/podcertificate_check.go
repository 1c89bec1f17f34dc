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

// The pure checks of the pod-certificate signer: what a PodCertificateRequest
// may get, decided from the request and the objects the API server holds
// for its pod, ServiceAccount and node. Nothing here reads the API.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/policy"
)

// Defaults of spec.podCertificates.
const (
	// defaultPodCertificateDuration is the longest lifetime of a pod
	// certificate unless podCertificates.maxDuration says otherwise (and
	// the kubelet's own default maxExpirationSeconds).
	defaultPodCertificateDuration = 24 * time.Hour
	// minPodCertificateDuration is the shortest lifetime the API accepts.
	minPodCertificateDuration = time.Hour
)

// allPodCertificateKeyTypes are the key types the kubelet generates, and the
// default of podCertificates.keyTypes.
var allPodCertificateKeyTypes = []certsmithv1alpha1.PodCertificateKeyType{
	certsmithv1alpha1.PodCertificateKeyECDSAP256, certsmithv1alpha1.PodCertificateKeyECDSAP384,
	certsmithv1alpha1.PodCertificateKeyECDSAP521, certsmithv1alpha1.PodCertificateKeyED25519,
	certsmithv1alpha1.PodCertificateKeyRSA3072, certsmithv1alpha1.PodCertificateKeyRSA4096,
}

// podCertificateUsages are the usages of every pod certificate: a pod is
// both a client and a server of mutual TLS. Key encipherment is left out:
// TLS 1.3 never needs it, and it would not fit ECDSA and Ed25519 keys.
var podCertificateUsages = []string{"digital signature", "server auth", "client auth"}

// podCertificateRefusal is a Denied or Failed condition to write.
type podCertificateRefusal struct {
	// conditionType is Denied or Failed.
	conditionType string
	reason        string
	message       string
}

func denied(reason, format string, args ...any) *podCertificateRefusal {
	return &podCertificateRefusal{certificatesv1.PodCertificateRequestConditionTypeDenied, reason, fmt.Sprintf(format, args...)}
}

// pcrFinished reports whether a PodCertificateRequest is Issued, Denied or
// Failed; the API allows no write after that.
func pcrFinished(pcr *certificatesv1.PodCertificateRequest) bool {
	for _, c := range pcr.Status.Conditions {
		switch c.Type {
		case certificatesv1.PodCertificateRequestConditionTypeIssued, certificatesv1.PodCertificateRequestConditionTypeDenied,
			certificatesv1.PodCertificateRequestConditionTypeFailed:
			return true
		}
	}
	return false
}

// checkUserAnnotations refuses a request that carries
// unverifiedUserAnnotations: certsmith reads none, and the API asks signers
// to deny keys they do not know rather than ignore them.
func checkUserAnnotations(pcr *certificatesv1.PodCertificateRequest) *podCertificateRefusal {
	if len(pcr.Spec.UnverifiedUserAnnotations) == 0 {
		return nil
	}
	keys := make([]string, 0, len(pcr.Spec.UnverifiedUserAnnotations))
	for key := range pcr.Spec.UnverifiedUserAnnotations {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	if len(keys) > 4 {
		keys = append(keys[:4], fmt.Sprintf("and %d more", len(keys)-4))
	}
	return denied(certsmithv1alpha1.ReasonPodCertificateInvalidUserAnnotations,
		"certsmith reads no unverifiedUserAnnotations, and the request has %s; remove userAnnotations from the pod's podCertificate volume",
		quoteList(keys))
}

// quoteList quotes each entry (cut to 63 bytes) and joins them.
func quoteList(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		if len(v) > 63 {
			v = v[:63] + "…"
		}
		quoted[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(quoted, ", ")
}

// parseStubRequest parses and verifies the stub PKCS#10 request: only its
// key is used; its subject, names and extensions are never read.
func parseStubRequest(pcr *certificatesv1.PodCertificateRequest) (*x509.CertificateRequest, *podCertificateRefusal) {
	csr, err := x509.ParseCertificateRequest(pcr.Spec.StubPKCS10Request)
	if err != nil {
		return nil, denied(certsmithv1alpha1.ReasonPodCertificateMalformed, "the stub PKCS#10 request does not parse: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, denied(certsmithv1alpha1.ReasonPodCertificateMalformed, "the signature of the stub PKCS#10 request does not verify: %v", err)
	}
	return csr, nil
}

// podCertificateKeyType names a public key as a podCertificate volume's
// keyType does; "" for a key the kubelet does not generate.
func podCertificateKeyType(pub any) certsmithv1alpha1.PodCertificateKeyType {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return certsmithv1alpha1.PodCertificateKeyECDSAP256
		case elliptic.P384():
			return certsmithv1alpha1.PodCertificateKeyECDSAP384
		case elliptic.P521():
			return certsmithv1alpha1.PodCertificateKeyECDSAP521
		}
	case ed25519.PublicKey:
		return certsmithv1alpha1.PodCertificateKeyED25519
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 3072:
			return certsmithv1alpha1.PodCertificateKeyRSA3072
		case 4096:
			return certsmithv1alpha1.PodCertificateKeyRSA4096
		}
	}
	return ""
}

// podKeyTypes returns the key types an issuer signs.
func podKeyTypes(p *certsmithv1alpha1.PodCertificatePolicy) []certsmithv1alpha1.PodCertificateKeyType {
	if len(p.KeyTypes) == 0 {
		return allPodCertificateKeyTypes
	}
	return p.KeyTypes
}

// checkKeyType refuses a key type the issuer does not sign, naming the
// ones it does (the API asks signers to suggest one).
func checkKeyType(csr *x509.CertificateRequest, p *certsmithv1alpha1.PodCertificatePolicy) *podCertificateRefusal {
	keyType, allowed := podCertificateKeyType(csr.PublicKey), podKeyTypes(p)
	if keyType != "" && slices.Contains(allowed, keyType) {
		return nil
	}
	names := make([]string, len(allowed))
	for i, t := range allowed {
		names[i] = string(t)
	}
	got := string(keyType)
	if got == "" {
		got = "an unknown key type"
	}
	return denied(certsmithv1alpha1.ReasonPodCertificateUnsupportedKeyType,
		"this issuer does not sign %s keys; set the podCertificate volume's keyType to one of %s", got, strings.Join(names, ", "))
}

// podFacts are the objects the API server holds for what a request names;
// nil when the object does not exist.
type podFacts struct {
	pod            *corev1.Pod
	serviceAccount *metav1.PartialObjectMetadata
	node           *metav1.PartialObjectMetadata
}

// mirrorPodAnnotation marks a pod the kubelet mirrors from a static manifest.
const mirrorPodAnnotation = "kubernetes.io/config.mirror"

// checkPodFacts checks that the pod, ServiceAccount and node a request
// names exist with the UIDs it gives and belong together, as the
// NodeRestriction admission does for requests that nodes create: anyone
// else who may create PodCertificateRequests passes that admission
// unchecked. The pod must also be running or about to, and mount a
// podCertificate volume of this signer.
func checkPodFacts(pcr *certificatesv1.PodCertificateRequest, facts podFacts) *podCertificateRefusal {
	spec := &pcr.Spec
	mismatch := func(format string, args ...any) *podCertificateRefusal {
		return denied(certsmithv1alpha1.ReasonPodIdentityMismatch, format, args...)
	}
	pod := facts.pod
	switch {
	case pod == nil:
		return mismatch("pod %s/%s does not exist", pcr.Namespace, spec.PodName)
	case pod.UID != spec.PodUID:
		return mismatch("pod %s/%s has UID %s, not %s", pcr.Namespace, spec.PodName, pod.UID, spec.PodUID)
	case pod.Spec.NodeName != string(spec.NodeName):
		return mismatch("pod %s/%s runs on node %q, not %q", pcr.Namespace, spec.PodName, pod.Spec.NodeName, spec.NodeName)
	case pod.Spec.ServiceAccountName != spec.ServiceAccountName:
		return mismatch("pod %s/%s runs as ServiceAccount %q, not %q", pcr.Namespace, spec.PodName, pod.Spec.ServiceAccountName, spec.ServiceAccountName)
	case pod.Annotations[mirrorPodAnnotation] != "":
		return mismatch("pod %s/%s is a mirror pod, which gets no pod certificate", pcr.Namespace, spec.PodName)
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return mismatch("pod %s/%s has finished (phase %s)", pcr.Namespace, spec.PodName, pod.Status.Phase)
	case !mountsPodCertificate(pod, spec.SignerName):
		return mismatch("pod %s/%s mounts no podCertificate volume of signer %s", pcr.Namespace, spec.PodName, spec.SignerName)
	}
	if sa := facts.serviceAccount; sa == nil || sa.UID != spec.ServiceAccountUID {
		return mismatch("ServiceAccount %s/%s does not exist with UID %s", pcr.Namespace, spec.ServiceAccountName, spec.ServiceAccountUID)
	}
	if node := facts.node; node == nil || node.UID != spec.NodeUID {
		return mismatch("node %s does not exist with UID %s", spec.NodeName, spec.NodeUID)
	}
	return nil
}

// mountsPodCertificate reports whether a pod has a projected podCertificate
// source of signerName.
func mountsPodCertificate(pod *corev1.Pod, signerName string) bool {
	for _, volume := range pod.Spec.Volumes {
		if volume.Projected == nil {
			continue
		}
		for _, source := range volume.Projected.Sources {
			if source.PodCertificate != nil && source.PodCertificate.SignerName == signerName {
				return true
			}
		}
	}
	return false
}

// trustDomainOf returns the SPIFFE trust domain of an issuer's pod certificates.
func trustDomainOf(p *certsmithv1alpha1.PodCertificatePolicy, clusterDomain string) string {
	if p.TrustDomain != "" {
		return p.TrustDomain
	}
	return strings.TrimSuffix(strings.ToLower(clusterDomain), ".")
}

// spiffeID is the identity of a pod certificate, from its verified
// namespace and ServiceAccount only.
func spiffeID(trustDomain, namespace, serviceAccount string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: "/ns/" + namespace + "/sa/" + serviceAccount}
}

// podDNSNames expands podCertificates.dnsNames with the verified facts.
// The result still has to pass the policy.
func podDNSNames(p *certsmithv1alpha1.PodCertificatePolicy, pcr *certificatesv1.PodCertificateRequest, clusterDomain string) []string {
	if len(p.DNSNames) == 0 {
		return nil
	}
	replacer := strings.NewReplacer(
		"$(SERVICE_ACCOUNT)", pcr.Spec.ServiceAccountName,
		"$(NAMESPACE)", pcr.Namespace,
		"$(POD_NAME)", pcr.Spec.PodName,
		"$(CLUSTER_DOMAIN)", strings.TrimSuffix(clusterDomain, "."),
	)
	names := make([]string, 0, len(p.DNSNames))
	for _, template := range p.DNSNames {
		if name := strings.ToLower(replacer.Replace(template)); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// podCertificateLifetime is the lifetime a request gets: the shortest of
// its maxExpirationSeconds, podCertificates.maxDuration (default 24h) and
// spec.policy.maxDuration, in whole seconds.
func podCertificateLifetime(issuer *certsmithv1alpha1.ClusterIssuer, pcr *certificatesv1.PodCertificateRequest) time.Duration {
	lifetime := defaultPodCertificateDuration
	if d := issuer.Spec.PodCertificates.MaxDuration; d != nil {
		lifetime = d.Duration
	}
	if s := pcr.Spec.MaxExpirationSeconds; s != nil {
		lifetime = min(lifetime, time.Duration(*s)*time.Second)
	}
	return maxDuration(issuer, lifetime).Truncate(time.Second)
}

// podCertificateConfigProblem says what in an issuer's settings keeps every
// pod certificate from being issued, "" when nothing does. Such a problem
// is the issuer's, not a pod's: requests wait for it to be fixed instead of
// being denied, which would be final for every pod. The CRD refuses most
// of these at admission; this also covers an operator without a cluster
// domain and issuers stored before a rule existed.
func podCertificateConfigProblem(issuer *certsmithv1alpha1.ClusterIssuer, clusterDomain string) string {
	podPolicy := issuer.Spec.PodCertificates
	if trustDomainOf(podPolicy, clusterDomain) == "" {
		return "there is no trust domain: set spec.podCertificates.trustDomain (the operator runs without a cluster domain)"
	}
	rules, err := issuerRules(issuer)
	if err != nil {
		return fmt.Sprintf("spec.policy is invalid: %v", err)
	}
	allowed := rules.Usages
	if len(allowed) == 0 {
		allowed = policy.DefaultUsages
	}
	for _, usage := range podCertificateUsages {
		if !slices.Contains(allowed, usage) {
			return fmt.Sprintf("spec.policy.usages does not allow %q, which every pod certificate carries", usage)
		}
	}
	for field, selector := range map[string]*metav1.LabelSelector{
		"spec.policy.namespaceSelector": policySelector(issuer), "spec.podCertificates.namespaceSelector": podPolicy.NamespaceSelector,
	} {
		if _, err := metav1.LabelSelectorAsSelector(selector); err != nil {
			return fmt.Sprintf("%s is invalid: %v", field, err)
		}
	}
	if p := issuer.Spec.Policy; p != nil && p.MaxNames != nil && int(*p.MaxNames) < len(podPolicy.DNSNames)+1 {
		return fmt.Sprintf("spec.policy.maxNames (%d) leaves no room for the SPIFFE ID and the %d names of spec.podCertificates.dnsNames", *p.MaxNames, len(podPolicy.DNSNames))
	}
	// Any one pod makes the same shape of names: check one of the simplest.
	sample := &certificatesv1.PodCertificateRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "a"},
		Spec: certificatesv1.PodCertificateRequestSpec{PodName: "a", ServiceAccountName: "a"}}
	names := podDNSNames(podPolicy, sample, clusterDomain)
	for _, name := range names {
		if err := validPodDNSName(name); err != nil {
			return fmt.Sprintf("spec.podCertificates.dnsNames makes invalid names such as %q: %v", name, err)
		}
	}
	uri := spiffeID(trustDomainOf(podPolicy, clusterDomain), "a", "a")
	rules.URIs = append(rules.URIs, uri.String())
	if err := policy.Check(policy.Request{Namespace: "a", URIs: []*url.URL{uri}, Usages: podCertificateUsages},
		policy.Context{ClusterDomain: clusterDomain, Reserved: policy.ReservedNames(clusterDomain, nil), Rules: rules}); err != nil {
		return fmt.Sprintf("the policy refuses the SPIFFE ID of every pod: %v", err)
	}
	return ""
}

// policySelector returns spec.policy.namespaceSelector, nil when unset.
func policySelector(issuer *certsmithv1alpha1.ClusterIssuer) *metav1.LabelSelector {
	if p := issuer.Spec.Policy; p != nil {
		return p.NamespaceSelector
	}
	return nil
}

// validPodDNSName checks a name made for a pod certificate as the API
// server checks the names of an Issued certificate (no leading or trailing
// dot) and as the policy checks every DNS name.
func validPodDNSName(name string) error {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return fmt.Errorf("it starts or ends with a dot")
	}
	return policy.ValidateDNSName(name, false)
}

// serviceAccountListed reports whether podCertificates.serviceAccounts
// lists a ServiceAccount: entries "<namespace>/<name>", "*" standing for
// any namespace or any name.
func serviceAccountListed(entries []string, namespace, name string) bool {
	return slices.ContainsFunc(entries, func(entry string) bool {
		ns, sa, ok := strings.Cut(entry, "/")
		return ok && (ns == "*" || ns == namespace) && (sa == "*" || sa == name)
	})
}
