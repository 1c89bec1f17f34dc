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
	"crypto/x509"
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/ca"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/revocation"
)

var _ = Describe("Pod certificates", func() {
	It("issues a kubelet's request: the chain verifies against the ClusterTrustBundle, the identity is exact, in one status write", func() {
		issuer := newPodIssuer(uniqueName("pods"), certsmithv1alpha1.PodCertificatePolicy{})
		signer := issuer.Status.SignerName
		ns := newNamespace("issued", nil)
		fixture := newPod(ns, "app", "frontend", nodeName, signer, nil)

		// Watch the requests of the namespace from before the create: every
		// write to the request shows as an event.
		var list certificatesv1.PodCertificateRequestList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		watcher, err := k8sWatch(ns, list.ResourceVersion)
		Expect(err).NotTo(HaveOccurred())
		defer watcher.Stop()

		key := newKey("ECDSAP256")
		pcr := kubeletRequest(fixture, signer, key)
		pcr.Spec.MaxExpirationSeconds = ptr.To[int32](3 * 3600)
		createAsNode(pcr)
		got, chain := issuedChain(pcr)
		leaf := chain[0]

		By("the chain verifying against the issuer's ClusterTrustBundle for client and server use")
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
			_, err := leaf.Verify(x509.VerifyOptions{Roots: trustBundleOf(issuer), KeyUsages: []x509.ExtKeyUsage{usage}})
			Expect(err).NotTo(HaveOccurred())
		}
		By("the identity coming only from the verified facts")
		Expect(joinedURIs(leaf)).To(Equal(spiffeFor(clusterDomain, fixture)))
		Expect(leaf.DNSNames).To(BeEmpty())
		Expect(leaf.IPAddresses).To(BeEmpty())
		Expect(leaf.EmailAddresses).To(BeEmpty())
		Expect(leaf.Subject.String()).To(BeEmpty())
		Expect(leaf.IsCA).To(BeFalse())
		Expect(pki.PublicKeysEqual(leaf.PublicKey, key.Public())).To(BeTrue(), "the leaf carries the kubelet's key")

		By("the times matching the leaf, the lifetime being the one asked for, the refresh inside the window")
		Expect(got.Status.NotBefore.Time).To(BeTemporally("==", leaf.NotBefore))
		Expect(got.Status.NotAfter.Time).To(BeTemporally("==", leaf.NotAfter))
		Expect(leaf.NotAfter.Sub(leaf.NotBefore)).To(Equal(3 * time.Hour))
		refresh := got.Status.BeginRefreshAt.Time
		Expect(refresh).To(BeTemporally(">=", leaf.NotBefore.Add(10*time.Minute)))
		Expect(refresh).To(BeTemporally("<=", leaf.NotAfter.Add(-10*time.Minute)))
		Expect(refresh).To(BeTemporally("==", pki.PodCertificateRefreshTime(leaf.NotBefore, leaf.NotAfter, string(got.UID))))
		Expect(got.Status.Conditions[0].Reason).To(Equal(certsmithv1alpha1.ReasonPodCertificateIssued))

		By("one write after the create")
		Expect(modifications(watcher, got.Name, 3*time.Second)).To(Equal(1))

		By("the CA's signed-until mark covering the certificate, written before it was released")
		record := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: issuer.Name + "-signed-until"}, record)).To(Succeed())
		marks := ca.DecodeMarks(record.Annotations[ca.AnnotationSignedUntil])
		Expect(marks).To(HaveKey(issuer.Status.CA.FingerprintSHA256))
		Expect(marks[issuer.Status.CA.FingerprintSHA256]).To(BeTemporally(">=", leaf.NotAfter))
		// The condition's time is the signing time, taken just before the
		// record is written; both are whole seconds, so a second boundary
		// between the two puts the record one second later.
		Expect(record.CreationTimestamp.Time).To(BeTemporally("<=", got.Status.Conditions[0].LastTransitionTime.Add(time.Second)))
	})

	It("revokes a pod certificate by its serial into its CA's CRL, knowing when it expires", func() {
		issuer := newPodIssuer(uniqueName("podrev"), certsmithv1alpha1.PodCertificatePolicy{})
		signer := issuer.Status.SignerName
		ns := newNamespace("podrev", nil)
		fixture := newPod(ns, "app", "frontend", nodeName, signer, nil)
		pcr := kubeletRequest(fixture, signer, newKey("ECDSAP256"))
		createAsNode(pcr)
		_, chain := issuedChain(pcr)
		leaf := chain[0]

		rev := &certsmithv1alpha1.ClusterCertificateRevocation{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "pod-"},
			Spec: certsmithv1alpha1.ClusterCertificateRevocationSpec{
				IssuerName: issuer.Name, SerialNumber: leaf.SerialNumber.Text(16), Reason: certsmithv1alpha1.RevocationKeyCompromise,
			},
		}
		Expect(k8sClient.Create(ctx, rev)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, rev) })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rev), rev)).To(Succeed())
			c := meta.FindStatusCondition(rev.Status.Conditions, certsmithv1alpha1.ConditionRevoked)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(certsmithv1alpha1.ReasonRevocationPublished), "condition %+v", c)
		}, 60*time.Second, 200*time.Millisecond).Should(Succeed())
		By("found among the PodCertificateRequests: one CA, and the certificate's own notAfter")
		Expect(rev.Status.CAFingerprintsSHA256).To(Equal([]string{issuer.Status.CA.FingerprintSHA256}))
		Expect(rev.Status.NotAfter).NotTo(BeNil())
		Expect(rev.Status.NotAfter.Time).To(BeTemporally("==", leaf.NotAfter.Truncate(time.Second)))

		By("the CA's CRL, signed by it, lists the serial with its reason")
		secret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: revocation.SecretName(issuer.Name)}, secret)).To(Succeed())
		rec, err := revocation.Decode(secret.Data)
		Expect(err).NotTo(HaveOccurred())
		Expect(rec.CRLs).To(HaveLen(1))
		crl, err := x509.ParseRevocationList(rec.CRLs[0].DER)
		Expect(err).NotTo(HaveOccurred())
		caSecret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: issuer.Name + "-ca"}, caSecret)).To(Succeed())
		caCerts, err := pki.ParseCertificatesPEM(caSecret.Data[corev1.TLSCertKey])
		Expect(err).NotTo(HaveOccurred())
		Expect(leaf.CheckSignatureFrom(caCerts[0])).To(Succeed())
		Expect(crl.CheckSignatureFrom(caCerts[0])).To(Succeed())
		var found bool
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
				found = true
				Expect(e.ReasonCode).To(Equal(pki.ReasonKeyCompromise))
			}
		}
		Expect(found).To(BeTrue(), "the CRL lists the pod certificate")
	})

	It("lets the API server refuse a node that asks for a pod of another node or with a wrong UID", func() {
		issuer := newPodIssuer(uniqueName("noderestriction"), certsmithv1alpha1.PodCertificatePolicy{})
		signer := issuer.Status.SignerName
		ns := newNamespace("restricted", nil)
		elsewhere := newPod(ns, "elsewhere", "worker", otherNodeName, signer, nil)
		err := nodeClient.Create(ctx, kubeletRequest(elsewhere, signer, newKey("ECDSAP256")))
		Expect(err).To(HaveOccurred())
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)

		here := newPod(ns, "here", "worker", nodeName, signer, nil)
		pcr := kubeletRequest(here, signer, newKey("ECDSAP256"))
		pcr.Spec.PodUID = "00000000-0000-0000-0000-000000000000"
		Expect(nodeClient.Create(ctx, pcr)).NotTo(Succeed())
	})

	It("denies what the API server lets a non-node create for a pod it does not match", func() {
		issuer := newPodIssuer(uniqueName("mismatch"), certsmithv1alpha1.PodCertificatePolicy{})
		signer := issuer.Status.SignerName
		ns := newNamespace("mismatch", nil)
		fixture := newPod(ns, "app", "payments", nodeName, signer, nil)
		other := newPod(ns, "other", "admin", nodeName, signer, nil)

		cases := map[string]func(*certificatesv1.PodCertificateRequest){
			"runs as ServiceAccount": func(p *certificatesv1.PodCertificateRequest) {
				// The real pod, with another ServiceAccount's real name and UID.
				p.Spec.ServiceAccountName, p.Spec.ServiceAccountUID = other.serviceAccount.Name, other.serviceAccount.UID
			},
			"has UID":        func(p *certificatesv1.PodCertificateRequest) { p.Spec.PodUID = "11111111-1111-1111-1111-111111111111" },
			"runs on node":   func(p *certificatesv1.PodCertificateRequest) { p.Spec.NodeName = otherNodeName },
			"does not exist": func(p *certificatesv1.PodCertificateRequest) { p.Spec.PodName = "ghost" },
			"node " + nodeName + " does not exist with UID": func(p *certificatesv1.PodCertificateRequest) {
				p.Spec.NodeUID = "22222222-2222-2222-2222-222222222222"
			},
		}
		for want, mutate := range cases {
			pcr := kubeletRequest(fixture, signer, newKey("ECDSAP256"))
			mutate(pcr)
			createAsAdmin(pcr)
			Expect(expectDenied(pcr, certsmithv1alpha1.ReasonPodIdentityMismatch)).To(ContainSubstring(want))
		}
	})

	It("denies unsupported key types, naming the supported ones", func() {
		issuer := newPodIssuer(uniqueName("keytypes"), certsmithv1alpha1.PodCertificatePolicy{
			KeyTypes: []certsmithv1alpha1.PodCertificateKeyType{certsmithv1alpha1.PodCertificateKeyECDSAP384},
		})
		signer := issuer.Status.SignerName
		fixture := newPod(newNamespace("keytypes", nil), "app", "worker", nodeName, signer, nil)
		pcr := createAsNode(kubeletRequest(fixture, signer, newKey("ED25519")))
		Expect(expectDenied(pcr, certificatesv1.PodCertificateRequestConditionUnsupportedKeyType)).To(ContainSubstring("ECDSAP384"))
		_, chain := issuedChain(createAsNode(kubeletRequest(fixture, signer, newKey("ECDSAP384"))))
		Expect(chain[0].PublicKeyAlgorithm).To(Equal(x509.ECDSA))
	})

	It("denies any unverified user annotation: a forged one never widens names", func() {
		issuer := newPodIssuer(uniqueName("annotations"), certsmithv1alpha1.PodCertificatePolicy{})
		signer := issuer.Status.SignerName
		fixture := newPod(newNamespace("annotations", nil), "app", "worker", nodeName, signer, nil)
		pcr := kubeletRequest(fixture, signer, newKey("ECDSAP256"))
		pcr.Spec.UnverifiedUserAnnotations = map[string]string{
			"spiffe/path-overriding": "/ns/kube-system/sa/admin",
			"certsmith.io/dns-names": "kubernetes.default.svc",
		}
		createAsNode(pcr)
		message := expectDenied(pcr, certificatesv1.PodCertificateRequestConditionInvalidUserConfig)
		Expect(message).To(ContainSubstring("spiffe/path-overriding"))
		Expect(message).NotTo(ContainSubstring("kube-system"), "values are never echoed")
	})

	It("ignores what the stub request asks for: names come from the verified facts only", func() {
		issuer := newPodIssuer(uniqueName("stub"), certsmithv1alpha1.PodCertificatePolicy{TrustDomain: "prod.example"})
		signer := issuer.Status.SignerName
		fixture := newPod(newNamespace("stub", nil), "app", "worker", nodeName, signer, nil)
		key := newKey("ECDSAP256")
		pcr := kubeletRequest(fixture, signer, key)
		pcr.Spec.StubPKCS10Request = stubRequest(key, &x509.CertificateRequest{
			DNSNames: []string{"kubernetes.default.svc"},
			URIs:     []*url.URL{{Scheme: "spiffe", Host: "prod.example", Path: "/ns/kube-system/sa/admin"}},
		})
		createAsNode(pcr)
		_, chain := issuedChain(pcr)
		Expect(joinedURIs(chain[0])).To(Equal(spiffeFor("prod.example", fixture)))
		Expect(chain[0].DNSNames).To(BeEmpty())
	})

	It("derives DNS names from verified facts, through the same policy: the kubernetes ServiceAccount gets no API server name", func() {
		issuer := newPodIssuer(uniqueName("dnsnames"), certsmithv1alpha1.PodCertificatePolicy{
			DNSNames: []string{"$(SERVICE_ACCOUNT).$(NAMESPACE).svc", "$(SERVICE_ACCOUNT).$(NAMESPACE).svc.$(CLUSTER_DOMAIN)"},
		})
		signer := issuer.Status.SignerName
		ns := newNamespace("dnsnames", nil)
		fixture := newPod(ns, "app", "api", nodeName, signer, nil)
		_, chain := issuedChain(createAsNode(kubeletRequest(fixture, signer, newKey("ECDSAP256"))))
		Expect(chain[0].DNSNames).To(ConsistOf("api."+ns+".svc", "api."+ns+".svc.cluster.local"))

		// A ServiceAccount named kubernetes in default would make the API
		// server's names.
		impostor := newPod("default", uniqueName("impostor"), "kubernetes", nodeName, signer, nil)
		pcr := createAsNode(kubeletRequest(impostor, signer, newKey("ECDSAP256")))
		Expect(expectDenied(pcr, certsmithv1alpha1.ReasonPodCertificateNotAllowed)).To(ContainSubstring("kubernetes.default.svc"))
	})

	It("serves only the namespaces and ServiceAccounts its policy names; a label on a ServiceAccount decides nothing", func() {
		issuer := newPodIssuer(uniqueName("selectors"), certsmithv1alpha1.PodCertificatePolicy{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pods.certsmith.io/identity": "on"}},
			ServiceAccounts:   []string{"*/mesh"},
		}, func(i *certsmithv1alpha1.ClusterIssuer) {
			i.Spec.Policy = &certsmithv1alpha1.IssuerPolicy{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}}}
		})
		signer := issuer.Status.SignerName
		served := newNamespace("served", map[string]string{"pods.certsmith.io/identity": "on", "tier": "prod"})
		noIdentity := newNamespace("no-identity", map[string]string{"tier": "prod"})
		notProd := newNamespace("not-prod", map[string]string{"pods.certsmith.io/identity": "on"})
		meshed := newPod(served, "meshed", "mesh", nodeName, signer, nil)
		issuedChain(createAsNode(kubeletRequest(meshed, signer, newKey("ECDSAP256"))))

		labelled := newPod(served, "labelled", "plain", nodeName, signer, map[string]string{"mesh": "true", "identity": "mesh"})
		Expect(expectDenied(createAsNode(kubeletRequest(labelled, signer, newKey("ECDSAP256"))),
			certsmithv1alpha1.ReasonPodCertificateNotAllowed)).To(ContainSubstring("spec.podCertificates.serviceAccounts"))
		outside := newPod(noIdentity, "outside", "mesh", nodeName, signer, nil)
		Expect(expectDenied(createAsNode(kubeletRequest(outside, signer, newKey("ECDSAP256"))),
			certsmithv1alpha1.ReasonPodCertificateNotAllowed)).To(ContainSubstring("spec.podCertificates.namespaceSelector"))
		staging := newPod(notProd, "staging", "mesh", nodeName, signer, nil)
		Expect(expectDenied(createAsNode(kubeletRequest(staging, signer, newKey("ECDSAP256"))),
			certsmithv1alpha1.ReasonPodCertificateNotAllowed)).To(ContainSubstring("policy.namespaceSelector"))
	})

	It("refuses at admission the issuer settings that would refuse every pod", func() {
		for name, mutate := range map[string]func(*certsmithv1alpha1.ClusterIssuer){
			"policy.usages must allow": func(i *certsmithv1alpha1.ClusterIssuer) {
				i.Spec.Policy = &certsmithv1alpha1.IssuerPolicy{Usages: []certsmithv1alpha1.KeyUsage{"digital signature", "server auth"}}
			},
			"empty label": func(i *certsmithv1alpha1.ClusterIssuer) {
				i.Spec.PodCertificates.DNSNames = []string{"$(SERVICE_ACCOUNT)..svc"}
			},
			"policy.maxNames must leave room": func(i *certsmithv1alpha1.ClusterIssuer) {
				i.Spec.Policy = &certsmithv1alpha1.IssuerPolicy{MaxNames: ptr.To[int32](1)}
				i.Spec.PodCertificates.DNSNames = []string{"$(SERVICE_ACCOUNT).$(NAMESPACE).svc"}
			},
			"policy.maxDuration must be at least 1h": func(i *certsmithv1alpha1.ClusterIssuer) {
				i.Spec.Policy = &certsmithv1alpha1.IssuerPolicy{MaxDuration: &metav1.Duration{Duration: 30 * time.Minute}}
			},
		} {
			issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("refused")},
				Spec: certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}},
					PodCertificates: &certsmithv1alpha1.PodCertificatePolicy{}}}
			mutate(issuer)
			err := k8sClient.Create(ctx, issuer)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%s: %v", name, err)
			Expect(err.Error()).To(ContainSubstring(name))
		}
	})

	It("lets requests wait, not be denied, while the issuer's settings refuse every pod", func() {
		// A trust domain that is one of the API server's names passes the
		// CRD but not the policy: the issuer's fault, not the pods'.
		issuer := newPodIssuer(uniqueName("misconfigured"), certsmithv1alpha1.PodCertificatePolicy{TrustDomain: "kubernetes.default.svc"})
		signer := issuer.Status.SignerName
		fixture := newPod(newNamespace("misconfigured", nil), "app", "worker", nodeName, signer, nil)
		pcr := createAsNode(kubeletRequest(fixture, signer, newKey("ECDSAP256")))
		Eventually(func() []string { return warningsOn(issuer.Name) }).WithTimeout(30 * time.Second).
			Should(ContainElement(ContainSubstring(certsmithv1alpha1.ReasonPodCertificatePolicyInvalid + ": No pod certificate is issued: the policy refuses the SPIFFE ID")))
		expectOpen(pcr, 2*time.Second)

		By("fixing the issuer, the waiting request is issued")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(issuer), issuer)).To(Succeed())
		issuer.Spec.PodCertificates.TrustDomain = "prod.example"
		Expect(k8sClient.Update(ctx, issuer)).To(Succeed())
		_, chain := issuedChain(pcr)
		Expect(joinedURIs(chain[0])).To(Equal(spiffeFor("prod.example", fixture)))
	})

	It("tells the issuer when certsmith may not sign for its signerName, and writes nothing", func() {
		// Nobody granted "sign" on signers/unsigned.example/pods.
		issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("unsigned")},
			Spec: certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}},
				SignerName: "unsigned.example/" + uniqueName("pods"), PodCertificates: &certsmithv1alpha1.PodCertificatePolicy{}}}
		Expect(k8sClient.Create(ctx, issuer)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, issuer) })
		waitIssuerReady(issuer.Name)
		fixture := newPod(newNamespace("unsigned", nil), "app", "worker", nodeName, issuer.Spec.SignerName, nil)
		pcr := createAsNode(kubeletRequest(fixture, issuer.Spec.SignerName, newKey("ECDSAP256")))
		Eventually(func() []string { return warningsOn(issuer.Name) }).WithTimeout(30 * time.Second).
			Should(ContainElement(ContainSubstring(certsmithv1alpha1.ReasonSignerPermissionMissing + ": certsmith may not sign PodCertificateRequests of signerName " + issuer.Spec.SignerName)))
		expectOpen(pcr, 2*time.Second)
	})

	It("spreads the refresh times of pods started together", func() {
		issuer := newPodIssuer(uniqueName("spread"), certsmithv1alpha1.PodCertificatePolicy{})
		signer := issuer.Status.SignerName
		ns := newNamespace("spread", nil)
		var requests []*certificatesv1.PodCertificateRequest
		for i := range 8 {
			fixture := newPod(ns, "app-"+string(rune('a'+i)), "worker", nodeName, signer, nil)
			requests = append(requests, createAsNode(kubeletRequest(fixture, signer, newKey("ECDSAP256"))))
		}
		var earliest, latest time.Time
		refreshes := map[time.Time]bool{}
		for _, pcr := range requests {
			got, _ := issuedChain(pcr)
			// Offsets from each one's own notBefore: issued a second apart
			// must not count as spread.
			at := time.Time{}.Add(got.Status.BeginRefreshAt.Sub(got.Status.NotBefore.Time))
			refreshes[at] = true
			if earliest.IsZero() || at.Before(earliest) {
				earliest = at
			}
			if at.After(latest) {
				latest = at
			}
		}
		Expect(len(refreshes)).To(BeNumerically(">=", 7), "refresh offsets %v", refreshes)
		// Spread over a tenth of the 24 h lifetime: 8 draws span at least 30 minutes
		// unless the jitter is gone.
		Expect(latest.Sub(earliest)).To(BeNumerically(">", 30*time.Minute))
	})

	It("waits for an issuer that is not Ready without writing, and issues once it is", func() {
		parentName := uniqueName("late-parent")
		childName := uniqueName("late-child")
		child := &certsmithv1alpha1.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: childName},
			Spec: certsmithv1alpha1.ClusterIssuerSpec{
				CA:              certsmithv1alpha1.CASource{IssuerRef: &certsmithv1alpha1.IntermediateCA{Name: parentName}},
				PodCertificates: &certsmithv1alpha1.PodCertificatePolicy{},
			},
		}
		Expect(k8sClient.Create(ctx, child)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, child) })
		signer := "clusterissuers.certsmith.io/" + childName
		fixture := newPod(newNamespace("late", nil), "app", "worker", nodeName, signer, nil)
		pcr := createAsNode(kubeletRequest(fixture, signer, newKey("ECDSAP256")))
		Consistently(func(g Gomega) {
			got := &certificatesv1.PodCertificateRequest{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pcr), got)).To(Succeed())
			g.Expect(got.Status.Conditions).To(BeEmpty())
		}).WithTimeout(3 * time.Second).Should(Succeed())

		parent := newPodIssuer(parentName, certsmithv1alpha1.PodCertificatePolicy{})
		_, chain := issuedChain(pcr)
		Expect(chain).To(HaveLen(2), "leaf and the intermediate, not the root")
		roots := trustBundleOf(parent)
		intermediates := x509.NewCertPool()
		intermediates.AddCert(chain[1])
		_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		Expect(err).NotTo(HaveOccurred())
	})

	It("looks only at the signers that opted in", func() {
		optedOut := &certsmithv1alpha1.ClusterIssuer{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName("opted-out")},
			Spec:       certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}}},
		}
		Expect(k8sClient.Create(ctx, optedOut)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, optedOut) })
		waitIssuerReady(optedOut.Name)
		signer := "clusterissuers.certsmith.io/" + optedOut.Name
		fixture := newPod(newNamespace("opted-out", nil), "app", "worker", nodeName, signer, nil)
		pcr := createAsNode(kubeletRequest(fixture, signer, newKey("ECDSAP256")))
		Consistently(func(g Gomega) {
			got := &certificatesv1.PodCertificateRequest{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pcr), got)).To(Succeed())
			g.Expect(got.Status.Conditions).To(BeEmpty())
		}).WithTimeout(3 * time.Second).Should(Succeed())
		Expect(watchedGauge(signer)).To(BeNil(), "no watch for a signer that did not opt in")

		By("opting in, the waiting request is issued")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(optedOut), optedOut)).To(Succeed())
		optedOut.Spec.PodCertificates = &certsmithv1alpha1.PodCertificatePolicy{}
		Expect(k8sClient.Update(ctx, optedOut)).To(Succeed())
		issuedChain(pcr)

		By("opting out again, the watch stops")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(optedOut), optedOut)).To(Succeed())
		optedOut.Spec.PodCertificates = nil
		Expect(k8sClient.Update(ctx, optedOut)).To(Succeed())
		Eventually(func() map[string]float64 { return watchedGauge(signer) }).Should(BeNil())
	})

	It("keeps no request of another signer in its cache", func() {
		issuer := newPodIssuer(uniqueName("own"), certsmithv1alpha1.PodCertificatePolicy{})
		signer := issuer.Status.SignerName
		ns := newNamespace("foreign", nil)
		fixture := newPod(ns, "app", "worker", nodeName, signer, nil)
		issuedChain(createAsNode(kubeletRequest(fixture, signer, newKey("ECDSAP256"))))
		const foreign = 100
		for range foreign {
			pcr := kubeletRequest(fixture, "example.com/foreign", newKey("ECDSAP256"))
			Expect(k8sClient.Create(ctx, pcr)).To(Succeed())
		}
		var all certificatesv1.PodCertificateRequestList
		Expect(k8sClient.List(ctx, &all, client.InNamespace(ns))).To(Succeed())
		Expect(all.Items).To(HaveLen(foreign + 1))
		Consistently(func() map[string]float64 { return watchedGauge(signer) }).WithTimeout(2 * time.Second).
			Should(Equal(map[string]float64{"pending": 0, "finished": 1}))
		Expect(watchedGauge("example.com/foreign")).To(BeNil())
	})
})

// k8sWatch watches the requests of a namespace from resourceVersion.
func k8sWatch(namespace, resourceVersion string) (watch.Interface, error) {
	watcher, err := watchClient.Watch(ctx, &certificatesv1.PodCertificateRequestList{}, client.InNamespace(namespace),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: resourceVersion}})
	return watcher, err
}

// modifications counts the MODIFIED events of one request within window.
func modifications(watcher watch.Interface, name string, window time.Duration) int {
	count := 0
	timeout := time.After(window)
	for {
		select {
		case event, ok := <-watcher.ResultChan():
			if !ok {
				return count
			}
			if obj, isPCR := event.Object.(*certificatesv1.PodCertificateRequest); isPCR && obj.Name == name && event.Type == watch.Modified {
				count++
			}
		case <-timeout:
			return count
		}
	}
}

// warningsOn lists the Warning Events about a ClusterIssuer as
// "reason: note" (Events of cluster-scoped objects are in default).
func warningsOn(issuer string) []string {
	var list eventsv1.EventList
	Expect(k8sClient.List(ctx, &list, client.InNamespace("default"))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "ClusterIssuer" && e.Regarding.Name == issuer && e.Type == corev1.EventTypeWarning {
			out = append(out, e.Reason+": "+e.Note)
		}
	}
	return out
}

// expectOpen checks that a request stays without any condition for a while.
func expectOpen(pcr *certificatesv1.PodCertificateRequest, window time.Duration) {
	Consistently(func(g Gomega) {
		got := &certificatesv1.PodCertificateRequest{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pcr), got)).To(Succeed())
		g.Expect(got.Status.Conditions).To(BeEmpty())
	}).WithTimeout(window).Should(Succeed())
}
