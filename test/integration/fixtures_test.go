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

package integration

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// newNamespace makes a namespace for one spec, deleted after it (no
// namespace controller runs here, so its objects stay; names are unique).
func newNamespace(prefix string, labels map[string]string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: labels}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, ns) })
	return ns.Name
}

// newPodIssuer makes a self-signed ClusterIssuer that signs pod
// certificates with the given policy, publishes a ClusterTrustBundle, and
// waits until it is Ready.
func newPodIssuer(name string, podPolicy certsmithv1alpha1.PodCertificatePolicy, mutate ...func(*certsmithv1alpha1.ClusterIssuer)) *certsmithv1alpha1.ClusterIssuer {
	issuer := &certsmithv1alpha1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{
			CA:              certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}},
			Bundle:          &certsmithv1alpha1.BundleSpec{ClusterTrustBundle: ptr.To(true)},
			PodCertificates: &podPolicy,
		},
	}
	for _, m := range mutate {
		m(issuer)
	}
	Expect(k8sClient.Create(ctx, issuer)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, issuer) })
	return waitIssuerReady(name)
}

// waitIssuerReady waits until an issuer is Ready and its
// ClusterTrustBundle is up to date, and returns it.
func waitIssuerReady(name string) *certsmithv1alpha1.ClusterIssuer {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, issuer)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeTrue(), "Ready: %v", issuer.Status.Conditions)
		if issuer.Spec.Bundle != nil && ptr.Deref(issuer.Spec.Bundle.ClusterTrustBundle, false) {
			g.Expect(issuer.Status.Bundle).NotTo(BeNil())
			g.Expect(issuer.Status.Bundle.ClusterTrustBundleUpToDate).To(BeTrue())
		}
	}).WithTimeout(time.Minute).Should(Succeed())
	return issuer
}

// trustBundleOf returns the roots in an issuer's ClusterTrustBundle.
func trustBundleOf(issuer *certsmithv1alpha1.ClusterIssuer) *x509.CertPool {
	ctb := &certificatesv1.ClusterTrustBundle{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: issuer.Status.Bundle.ClusterTrustBundle}, ctb)).To(Succeed())
	Expect(ctb.Spec.SignerName).To(Equal(issuer.Status.SignerName))
	pool := x509.NewCertPool()
	Expect(pool.AppendCertsFromPEM([]byte(ctb.Spec.TrustBundle))).To(BeTrue())
	return pool
}

// podFixture is a pod bound to a node, with its ServiceAccount.
type podFixture struct {
	pod            *corev1.Pod
	serviceAccount *corev1.ServiceAccount
	node           *corev1.Node
}

// newPod makes a ServiceAccount (unless it exists) and a pod that runs
// under it on node and mounts a podCertificate volume of signerName.
func newPod(namespace, name, serviceAccount, node, signerName string, saLabels map[string]string) podFixture {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceAccount, Namespace: namespace, Labels: saLabels}}
	if err := k8sClient.Create(ctx, sa); err != nil {
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sa), sa)).To(Succeed())
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.PodSpec{
			NodeName:           node,
			ServiceAccountName: serviceAccount,
			Containers:         []corev1.Container{{Name: "app", Image: "certsmith.local/workload:node"}},
			Volumes: []corev1.Volume{{Name: "identity", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{PodCertificate: &corev1.PodCertificateProjection{
					SignerName: signerName, KeyType: "ECDSAP256", CredentialBundlePath: "credentials.pem",
				}}},
			}}}},
		},
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	n := &corev1.Node{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: node}, n)).To(Succeed())
	return podFixture{pod: pod, serviceAccount: sa, node: n}
}

// newKey makes a key of a kubelet key type.
func newKey(keyType string) crypto.Signer {
	var key crypto.Signer
	var err error
	switch keyType {
	case "ED25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ECDSAP384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	Expect(err).NotTo(HaveOccurred())
	return key
}

// stubRequest is the PKCS#10 request a kubelet sends: empty, signed by key.
func stubRequest(key crypto.Signer, template *x509.CertificateRequest) []byte {
	if template == nil {
		template = &x509.CertificateRequest{}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, template, key)
	Expect(err).NotTo(HaveOccurred())
	return der
}

// kubeletRequest is the PodCertificateRequest a kubelet makes for a pod.
func kubeletRequest(f podFixture, signerName string, key crypto.Signer) *certificatesv1.PodCertificateRequest {
	return &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "req-", Namespace: f.pod.Namespace},
		Spec: certificatesv1.PodCertificateRequestSpec{
			SignerName:         signerName,
			PodName:            f.pod.Name,
			PodUID:             f.pod.UID,
			ServiceAccountName: f.serviceAccount.Name,
			ServiceAccountUID:  f.serviceAccount.UID,
			NodeName:           types.NodeName(f.node.Name),
			NodeUID:            f.node.UID,
			StubPKCS10Request:  stubRequest(key, nil),
		},
	}
}

// createAsNode creates a request with the node's own credentials, through
// the Node authorizer and the NodeRestriction admission. The admission
// looks the pod up in the API server's own informer, which may not have
// seen a pod created moments ago (a busy machine): that answer, and only
// that one, is retried, as a kubelet would.
func createAsNode(pcr *certificatesv1.PodCertificateRequest) *certificatesv1.PodCertificateRequest {
	Eventually(func() error {
		attempt := pcr.DeepCopy()
		err := nodeClient.Create(ctx, attempt)
		if err == nil {
			attempt.DeepCopyInto(pcr)
			return nil
		}
		if apierrors.IsInternalError(err) && strings.Contains(err.Error(), "named in the PodCertificateRequest: pod") && strings.Contains(err.Error(), "not found") {
			return err
		}
		return StopTrying("creating the PodCertificateRequest as the node").Wrap(err)
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, pcr) })
	return pcr
}

// createAsAdmin creates a request as a user who is not a node: the
// NodeRestriction admission does not look at it.
func createAsAdmin(pcr *certificatesv1.PodCertificateRequest) *certificatesv1.PodCertificateRequest {
	Expect(k8sClient.Create(ctx, pcr)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, pcr) })
	return pcr
}

// waitFinished waits until a request has its condition, and returns it.
func waitFinished(pcr *certificatesv1.PodCertificateRequest) (*certificatesv1.PodCertificateRequest, metav1.Condition) {
	got := &certificatesv1.PodCertificateRequest{}
	var condition metav1.Condition
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pcr), got)).To(Succeed())
		g.Expect(got.Status.Conditions).To(HaveLen(1))
		condition = got.Status.Conditions[0]
	}).WithTimeout(30 * time.Second).Should(Succeed())
	return got, condition
}

// expectDenied waits for a request's Denied condition with reason, and
// returns its message.
func expectDenied(pcr *certificatesv1.PodCertificateRequest, reason string) string {
	got, condition := waitFinished(pcr)
	Expect(condition.Type).To(Equal(certificatesv1.PodCertificateRequestConditionTypeDenied), "condition %+v", condition)
	Expect(condition.Reason).To(Equal(reason), "message: %s", condition.Message)
	Expect(got.Status.CertificateChain).To(BeEmpty())
	return condition.Message
}

// issuedChain waits for a request to be Issued and returns its chain,
// leaf first.
func issuedChain(pcr *certificatesv1.PodCertificateRequest) (*certificatesv1.PodCertificateRequest, []*x509.Certificate) {
	got, condition := waitFinished(pcr)
	Expect(condition.Type).To(Equal(certificatesv1.PodCertificateRequestConditionTypeIssued), "condition %+v", condition)
	var chain []*x509.Certificate
	rest := []byte(got.Status.CertificateChain)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		Expect(block.Type).To(Equal("CERTIFICATE"))
		cert, err := x509.ParseCertificate(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
		chain = append(chain, cert)
	}
	Expect(chain).NotTo(BeEmpty())
	return got, chain
}

// uniqueName makes a cluster-unique name for cluster-scoped objects.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

// spiffeFor is the identity a pod of the fixture must get.
func spiffeFor(trustDomain string, f podFixture) string {
	return "spiffe://" + trustDomain + "/ns/" + f.pod.Namespace + "/sa/" + f.serviceAccount.Name
}

// joinedURIs lists a certificate's URIs.
func joinedURIs(cert *x509.Certificate) string {
	uris := make([]string, len(cert.URIs))
	for i, u := range cert.URIs {
		uris[i] = u.String()
	}
	return strings.Join(uris, ",")
}
