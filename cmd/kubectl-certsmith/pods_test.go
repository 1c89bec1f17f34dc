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

package main

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// No operator runs in this suite, and no kubelet: the specs create pods
// with podCertificate volumes, create the PodCertificateRequests a kubelet
// would, and write their status as certsmith would (as admin, through the
// status subresource, which the API server validates strictly).

var _ = Describe("pods", func() {
	const (
		nodeName    = "node-1"
		foreignName = "example.org/other"
	)
	var (
		namespace     string
		label         string
		ca            *pki.CA
		serving       string // signerName of the issuer that signs pod certificates
		notEnabled    string // signerName of an issuer without spec.podCertificates
		serviceAcct   *corev1.ServiceAccount
		servingIssuer string
		offIssuer     string
	)

	BeforeEach(func() {
		namespace = newNamespace("pods")
		label = "pods-" + namespace
		ca = newRootCA("Pods Root CA")
		servingIssuer, offIssuer = "pods-mesh-"+namespace, "pods-off-"+namespace
		serving = certsmithv1alpha1.DefaultSignerDomain + "/" + servingIssuer
		notEnabled = certsmithv1alpha1.DefaultSignerDomain + "/" + offIssuer

		issuer := &certsmithv1alpha1.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: servingIssuer},
			Spec: certsmithv1alpha1.ClusterIssuerSpec{
				CA:              certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}},
				PodCertificates: &certsmithv1alpha1.PodCertificatePolicy{},
			},
		}
		Expect(k8sClient.Create(ctx, issuer)).To(Succeed())
		issuer.Status = certsmithv1alpha1.ClusterIssuerStatus{
			SignerName: serving,
			Conditions: []metav1.Condition{readyCondition(metav1.ConditionTrue, certsmithv1alpha1.ReasonCAReady, "CA is valid", testNow.Add(-time.Hour))},
		}
		Expect(k8sClient.Status().Update(ctx, issuer)).To(Succeed())
		createClusterIssuer(offIssuer, "", certsmithv1alpha1.ClusterIssuerStatus{SignerName: notEnabled})

		serviceAcct = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: namespace}}
		Expect(k8sClient.Create(ctx, serviceAcct)).To(Succeed())
	})

	// createPod creates a pod of the ServiceAccount "web" on nodeName (none
	// when node is empty), with a projected volume "identity" holding one
	// podCertificate source per signer, all of key type ECDSAP256.
	createPod := func(name, node string, signers ...string) *corev1.Pod {
		var sources []corev1.VolumeProjection
		for _, signer := range signers {
			sources = append(sources, podCertificateProjection(signer, "ECDSAP256"))
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"test": label}},
			Spec: corev1.PodSpec{
				ServiceAccountName: serviceAcct.Name,
				NodeName:           node,
				Containers:         []corev1.Container{{Name: "app", Image: "app:1"}},
			},
		}
		if len(sources) > 0 {
			pod.Spec.Volumes = []corev1.Volume{{Name: "identity", VolumeSource: corev1.VolumeSource{
				Projected: &corev1.ProjectedVolumeSource{Sources: sources},
			}}}
		}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		return pod
	}

	// createRequest creates the PodCertificateRequest a kubelet makes for
	// pod and signer, with a fresh ECDSA P-256 key; it returns the key.
	createRequest := func(pod *corev1.Pod, signer string) (*certificatesv1.PodCertificateRequest, crypto.Signer) {
		key := newKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 256})
		stub, err := newStubRequest(key)
		Expect(err).NotTo(HaveOccurred())
		pcr := &certificatesv1.PodCertificateRequest{
			ObjectMeta: metav1.ObjectMeta{
				GenerateName: "req-", Namespace: namespace,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}},
			},
			Spec: certificatesv1.PodCertificateRequestSpec{
				SignerName: signer,
				PodName:    pod.Name, PodUID: pod.UID,
				ServiceAccountName: serviceAcct.Name, ServiceAccountUID: serviceAcct.UID,
				NodeName: nodeName, NodeUID: "node-1-uid",
				StubPKCS10Request: stub,
			},
		}
		Expect(k8sClient.Create(ctx, pcr)).To(Succeed())
		return pcr, key
	}

	// issue writes an Issued status for a 12-hour certificate. The API
	// server wants notBefore within 5 minutes of its own clock, so the
	// certificate starts at the real now, not at testNow.
	issue := func(pcr *certificatesv1.PodCertificateRequest, dnsName string) *x509.Certificate {
		leaf, err := signPodCertificate(ca, pcr.Spec.StubPKCS10Request, pki.SubjectAltNames{
			DNSNames: []string{dnsName},
			URIs:     []*url.URL{{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/" + namespace + "/sa/web"}},
		}, time.Now(), 12*time.Hour)
		Expect(err).NotTo(HaveOccurred())
		pcr.Status = certificatesv1.PodCertificateRequestStatus{
			Conditions: []metav1.Condition{{
				Type: certificatesv1.PodCertificateRequestConditionTypeIssued, Status: metav1.ConditionTrue,
				Reason: certsmithv1alpha1.ReasonPodCertificateIssued, Message: "issued", LastTransitionTime: metav1.Now(),
			}},
			CertificateChain: string(pki.EncodeCertificatesPEM(leaf, ca.Certificate)),
			NotBefore:        &metav1.Time{Time: leaf.NotBefore},
			NotAfter:         &metav1.Time{Time: leaf.NotAfter},
			BeginRefreshAt:   &metav1.Time{Time: leaf.NotBefore.Add(8 * time.Hour)},
		}
		Expect(k8sClient.Status().Update(ctx, pcr)).To(Succeed())
		return leaf
	}

	// refuse writes a Denied or Failed status.
	refuse := func(pcr *certificatesv1.PodCertificateRequest, conditionType, reason, message string) {
		pcr.Status.Conditions = []metav1.Condition{{
			Type: conditionType, Status: metav1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: metav1.Now(),
		}}
		Expect(k8sClient.Status().Update(ctx, pcr)).To(Succeed())
	}

	// rowOf returns the table line of pod, failing when there is none.
	rowOf := func(out, pod string) string {
		line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(pod) + `\s.*$`).FindString(out)
		Expect(line).NotTo(BeEmpty(), "no row for pod %s in\n%s", pod, out)
		return line
	}

	It("shows issued, denied, failed, pending and vanished requests, and signers certsmith does not sign for", func() {
		issuedPod := createPod("issued", nodeName, serving)
		issuedRequest, _ := createRequest(issuedPod, serving)
		leaf := issue(issuedRequest, "web."+namespace+".svc")

		deniedPod := createPod("denied", nodeName, serving)
		deniedRequest, _ := createRequest(deniedPod, serving)
		refuse(deniedRequest, certificatesv1.PodCertificateRequestConditionTypeDenied, certsmithv1alpha1.ReasonPodIdentityMismatch,
			"pod "+namespace+"/denied has another UID than the request names")

		failedPod := createPod("failed", nodeName, serving)
		failedRequest, _ := createRequest(failedPod, serving)
		refuse(failedRequest, certificatesv1.PodCertificateRequestConditionTypeFailed, "SigningFailed", "the CA could not sign")

		pendingPod := createPod("pending", nodeName, serving)
		pendingRequest, _ := createRequest(pendingPod, serving)
		createPod("gone", nodeName, serving)
		createPod("unscheduled", "", serving)
		foreignPod := createPod("foreign", nodeName, foreignName)
		createRequest(foreignPod, foreignName)
		createPod("off", nodeName, notEnabled)
		createPod("plain", nodeName)

		result := runPlugin("pods", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.ErrOut).To(BeEmpty())
		out := result.Out
		Expect(out).To(MatchRegexp(`^POD\s+VOLUME\s+ISSUER\s+REQUEST\s+STATE\s+REASON\s+IDENTITY\s+NOT AFTER\s+REFRESH\s+MESSAGE\n`))
		Expect(out).NotTo(ContainSubstring("NAMESPACE"))
		// One line per pod with a podCertificate source, in name order.
		Expect(strings.Count(out, "\n")).To(Equal(1 + 8))
		Expect(out).NotTo(MatchRegexp(`(?m)^plain\s`))

		Expect(rowOf(out, "issued")).To(MatchRegexp(`^issued\s+identity\s+` + servingIssuer + `\s+` + issuedRequest.Name + ` \(\S+\)\s+Issued\s+Issued\s+` +
			regexp.QuoteMeta("spiffe://cluster.local/ns/"+namespace+"/sa/web") + `\s+in 12h\s+in \d+h(\d+m)?\s*$`))

		Expect(rowOf(out, "denied")).To(MatchRegexp(`\s+` + deniedRequest.Name + ` \(\S+\)\s+Denied\s+PodIdentityMismatch\s+<none>\s+<none>\s+<none>\s+` +
			`pod ` + namespace + `/denied has another UID than the request names; the kubelet does not ask again for this pod: fix the cause, then recreate the pod$`))
		Expect(rowOf(out, "failed")).To(MatchRegexp(`\s+Failed\s+SigningFailed\s+.*the CA could not sign; the kubelet does not ask again`))

		Expect(rowOf(out, "pending")).To(MatchRegexp(`\s+` + pendingRequest.Name + ` \(\S+\)\s+Pending\s+<none>\s+<none>\s+<none>\s+<none>\s+requested \S+ ago, not answered yet$`))

		Expect(rowOf(out, "gone")).To(MatchRegexp(`^gone\s+identity\s+` + servingIssuer + `\s+<none>\s+NoRequest\s+<none>\s+<none>\s+<none>\s+<none>\s+` +
			regexp.QuoteMeta("no PodCertificateRequest left (they are deleted 15-20 minutes after creation): a certificate issued earlier lives only in the kubelet's memory and the pod's volume; see the pod's events")))
		Expect(rowOf(out, "unscheduled")).To(ContainSubstring("NoRequest"))
		Expect(rowOf(out, "unscheduled")).To(ContainSubstring("the pod is not scheduled to a node yet"))

		// A signer no certsmith issuer serves: said plainly, with the request
		// that some other signer may still answer.
		Expect(rowOf(out, "foreign")).To(MatchRegexp(`^foreign\s+identity\s+<none>\s+req-\S+ \(\S+\)\s+Pending\s+.*no certsmith ClusterIssuer serves signer ` + regexp.QuoteMeta(foreignName) + `; `))
		// An issuer that serves the signer but signs no pod certificates.
		Expect(rowOf(out, "off")).To(MatchRegexp(`^off\s+identity\s+` + offIssuer + `\s+<none>\s+NoRequest\s+.*ClusterIssuer ` + offIssuer +
			regexp.QuoteMeta(" does not sign pod certificates (spec.podCertificates is not set); no PodCertificateRequest left")))

		// -o wide adds the signer, the DNS names and the serial number.
		result = runPlugin("pods", "-n", namespace, "-o", "wide")
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(MatchRegexp(`^POD\s+VOLUME\s+SIGNER\s+ISSUER\s+REQUEST\s+STATE\s+REASON\s+IDENTITY\s+DNS NAMES\s+SERIAL\s+NOT AFTER\s+REFRESH\s+MESSAGE\n`))
		Expect(rowOf(result.Out, "issued")).To(MatchRegexp(`^issued\s+identity\s+` + regexp.QuoteMeta(serving) + `\s+` + servingIssuer + `\s+.*\s+` +
			regexp.QuoteMeta("spiffe://cluster.local/ns/"+namespace+"/sa/web") + `\s+web\.` + namespace + `\.svc\s+` + fmt.Sprintf("%x", leaf.SerialNumber) + `\s+in 12h\s`))

		// One pod by name: only its line.
		result = runPlugin("pods", "issued", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(strings.Count(result.Out, "\n")).To(Equal(2))
		Expect(rowOf(result.Out, "issued")).To(ContainSubstring(issuedRequest.Name))

		// Twenty minutes past beginRefreshAt the refresh is overdue.
		later := leaf.NotBefore.Add(8*time.Hour + 20*time.Minute)
		result = runPluginWith(kubeconfigPath, later, "pods", "issued", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(rowOf(result.Out, "issued")).To(MatchRegexp(`\s+overdue \(due 20m ago\)\s+refresh overdue: the kubelet should have asked for a new certificate by ` +
			rfc3339(leaf.NotBefore.Add(8*time.Hour+15*time.Minute)) + `$`))
	})

	It("tells two sources of one signer apart by key type, and shows the newest request", func() {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "twin", Namespace: namespace},
			Spec: corev1.PodSpec{
				ServiceAccountName: serviceAcct.Name, NodeName: nodeName,
				Containers: []corev1.Container{{Name: "app", Image: "app:1"}},
				Volumes: []corev1.Volume{{Name: "identity", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{
						{PodCertificate: &corev1.PodCertificateProjection{SignerName: serving, KeyType: "ECDSAP256", CredentialBundlePath: "ec.pem"}},
						{PodCertificate: &corev1.PodCertificateProjection{SignerName: serving, KeyType: "ED25519", CredentialBundlePath: "ed.pem"}},
					},
				}}}},
			},
		}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		ecRequest, _ := createRequest(pod, serving)
		issue(ecRequest, "twin."+namespace+".svc")

		result := runPlugin("pods", "twin", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(MatchRegexp(`\ntwin\s+identity\[0\]\s+` + servingIssuer + `\s+` + ecRequest.Name + ` \(\S+\)\s+Issued\s`))
		Expect(result.Out).To(MatchRegexp(`\ntwin\s+identity\[1\]\s+` + servingIssuer + `\s+<none>\s+NoRequest\s`))
	})

	It("shows every namespace with -A, and bounds what it prints", func() {
		for _, name := range []string{"a", "b", "c"} {
			createPod(name, nodeName, serving)
		}
		result := runPlugin("pods", "-A", "-l", "test="+label)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(MatchRegexp(`^NAMESPACE\s+POD\s+VOLUME\s+ISSUER\s`))
		Expect(result.Out).To(MatchRegexp(`\n` + namespace + `\s+a\s+identity\s+` + servingIssuer + `\s+<none>\s+NoRequest\s`))
		Expect(strings.Count(result.Out, "\n")).To(Equal(1 + 3))

		result = runPlugin("pods", "-n", namespace, "--limit", "2")
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(strings.Count(result.Out, "\n")).To(Equal(1 + 2))
		Expect(result.Out).NotTo(MatchRegexp(`(?m)^c\s`))
		Expect(result.ErrOut).To(Equal("Showing the first 2 pod certificates; narrow down with -l or a Pod name, or raise --limit.\n"))
	})

	It("says when there is nothing to show, and fails clearly on bad input", func() {
		createPod("plain", nodeName)

		result := runPlugin("pods", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(BeEmpty())
		Expect(result.ErrOut).To(Equal(fmt.Sprintf("No pods with podCertificate volume sources found in namespace %q.\n", namespace)))

		result = runPlugin("pods", "plain", "-n", namespace)
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.ErrOut).To(Equal("Pod plain in namespace " + namespace + " has no podCertificate volume sources.\n"))

		result = runPlugin("pods", "nope", "-n", namespace)
		Expect(result.Err).To(MatchError(`Pod "nope" not found in namespace "` + namespace + `"`))

		Expect(runPlugin("pods", "plain", "-A").Err).To(MatchError(ContainSubstring("takes no Pod name")))
		Expect(runPlugin("pods", "-o", "json").Err).To(MatchError(ContainSubstring(`unknown output format "json"`)))
		Expect(runPlugin("pods", "-l", "a b").Err).To(MatchError(ContainSubstring(`parsing --selector "a b"`)))
	})

	It("completes the names of the namespace's pods", func() {
		createPod("gamma", nodeName, serving)
		createPod("golf", nodeName)
		createPod("hotel", nodeName)
		result := runPlugin("__complete", "pods", "-n", namespace, "g")
		Expect(result.Err).NotTo(HaveOccurred())
		Expect(result.Out).To(Equal("gamma\ngolf\n:4\n"))

		result = runPlugin("__complete", "pods", "-o", "")
		Expect(result.Out).To(Equal("wide\n:4\n"))
	})

	It("works with exactly the permissions its help names, and names the one that is missing", func() {
		pod := createPod("issued", nodeName, serving)
		request, _ := createRequest(pod, serving)
		issue(request, "web."+namespace+".svc")

		userName := "pods-reader-" + namespace
		user, err := testEnv.AddUser(envtest.User{Name: userName}, testEnv.Config)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		userKubeconfig := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		Expect(os.WriteFile(userKubeconfig, kubeconfig, 0o600)).To(Succeed())
		subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: userName}}

		// list on clusterissuers, cluster-wide.
		Expect(k8sClient.Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: userName},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{certsmithv1alpha1.GroupVersion.Group}, Resources: []string{"clusterissuers"}, Verbs: []string{"list"}}},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: userName},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: userName},
			Subjects:   subject,
		})).To(Succeed())
		// list on pods in the namespace, and no more for now.
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "pods-reader", Namespace: namespace},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}},
		}
		Expect(k8sClient.Create(ctx, role)).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "pods-reader", Namespace: namespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   subject,
		})).To(Succeed())

		// RBAC changes reach the authorizer through its informers.
		Eventually(func() error {
			return runPluginWith(userKubeconfig, testNow, "pods", "-n", namespace).Err
		}).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring(`(kubectl certsmith pods needs "list" on podcertificaterequests (certificates.k8s.io))`)))

		role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{certificatesv1.GroupName}, Resources: []string{"podcertificaterequests"}, Verbs: []string{"list"}})
		Expect(k8sClient.Update(ctx, role)).To(Succeed())
		Eventually(func() error {
			return runPluginWith(userKubeconfig, testNow, "pods", "-n", namespace).Err
		}).WithTimeout(10 * time.Second).Should(Succeed())
		result := runPluginWith(userKubeconfig, testNow, "pods", "-n", namespace)
		Expect(rowOf(result.Out, "issued")).To(ContainSubstring(request.Name))

		// A named pod needs "get" on pods.
		result = runPluginWith(userKubeconfig, testNow, "pods", "issued", "-n", namespace)
		Expect(result.Err).To(MatchError(ContainSubstring(`(kubectl certsmith pods needs "get" on pods)`)))
	})
})
