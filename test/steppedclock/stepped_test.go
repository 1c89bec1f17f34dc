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

package steppedclock

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

const (
	namespace    = "stepped"
	issuerName   = "stepped"
	certificates = 10

	// The times are chosen so that one step crosses every certificate's
	// renewal time (notAfter - 3h = 5h after issuance) and the CA's
	// renewal point (6h) while the certificates are still valid (8h), and
	// so that nothing but the rotation is due until the old CA has
	// retired (10h): the certificates the new CA signs renew 5h after it
	// switched, the new CA 6h after it was made.
	caDuration       = 10 * time.Hour
	caRenewBefore    = 4 * time.Hour
	leafDuration     = 8 * time.Hour
	leafRenewBefore  = 3 * time.Hour
	propagationDelay = 2 * time.Minute
	reissueWindow    = 10 * time.Minute

	timeout  = time.Minute
	interval = 100 * time.Millisecond
	// leaseSlack allows for the Lease's timestamps and this process's
	// clock being read at different instants.
	leaseSlack = 100 * time.Millisecond
)

var _ = Describe("A clock that steps forward while the leader changes", func() {
	It("renews every certificate once and rotates the CA once, each step taken over by a new leader from what the API server holds", func() {
		signed := watchSignedCSRs()
		replicas := []*replica{startReplica("replica-1"), startReplica("replica-2")}
		leader := leaderOf(replicas...)

		By(fmt.Sprintf("creating the ClusterIssuer %s (CA %s, renewBefore %s) and %d ServiceCertificates (%s, renewBefore %s)",
			issuerName, caDuration, caRenewBefore, certificates, leafDuration, leafRenewBefore))
		createFixture()
		issuer := waitIssuer(func(g Gomega, i *certsmithv1alpha1.ClusterIssuer) {
			g.Expect(meta.IsStatusConditionTrue(i.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeTrue(), "Ready")
			g.Expect(i.Status.CA).NotTo(BeNil())
			g.Expect(i.Status.CA.RenewalTime).NotTo(BeNil())
		})
		oldCA := issuerCA()
		oldFP := pki.FingerprintSHA256(oldCA)
		caRenewal := issuer.Status.CA.RenewalTime.Time
		Expect(caRenewal).To(BeTemporally("~", issuer.Status.CA.NotAfter.Add(-caRenewBefore), time.Second))
		// stored is each certificate's serial at each revision.
		stored := map[string][]string{}
		for _, sc := range waitRevision(1, oldCA) {
			Expect(sc.Status.RenewalTime.Time).To(BeTemporally("<", caRenewal), "%s renews after the CA: one step would not cross both", sc.Name)
			Expect(sc.Status.NotAfter.Time).To(BeTemporally(">", caRenewal.Add(time.Minute)), "%s would expire before the step", sc.Name)
			stored[sc.Name] = append(stored[sc.Name], sc.Status.SerialNumber)
		}
		record := func(revision int64, signer *x509.Certificate) {
			GinkgoHelper()
			for _, sc := range waitRevision(revision, signer) {
				Expect(stored[sc.Name]).To(HaveLen(int(revision-1)), "%s skipped a revision", sc.Name)
				stored[sc.Name] = append(stored[sc.Name], sc.Status.SerialNumber)
			}
			Consistently(revisions, 2*time.Second, 200*time.Millisecond).Should(HaveEach(revision), "a certificate was issued twice for one step")
		}
		takeovers := []time.Duration{}

		By("the leader is lost, and the clock steps past every renewal time and the CA's renewal point before another replica leads")
		replicas, leader = handOver(replicas, leader, "replica-3", &takeovers, func() { fakeClock.SetTime(caRenewal.Add(time.Minute)) })
		By("every certificate renews once, still by the old CA, and the rotation starts by itself: one next CA, published")
		record(2, oldCA)
		publishing := waitIssuer(func(g Gomega, i *certsmithv1alpha1.ClusterIssuer) {
			g.Expect(i.Status.Rotation).NotTo(BeNil(), "no rotation started")
			g.Expect(i.Status.Rotation.Phase).To(Equal(certsmithv1alpha1.RotationPublishing))
			g.Expect(i.Status.Rotation.PublishedAt).NotTo(BeNil(), "the next CA is not published yet")
		})
		rotation := publishing.Status.Rotation
		Expect(rotation.LastRequest).To(BeEmpty(), "nobody asked for this rotation")
		Expect(rotation.StartedAt.Time).To(BeTemporally(">=", caRenewal), "the rotation started before the CA's renewal point")
		roles := rolesOf(publishing)
		Expect(roles).To(HaveLen(2))
		Expect(roles).To(HaveKeyWithValue(oldFP, certsmithv1alpha1.TrustedCAActive))
		var nextFP string
		for fp, role := range roles {
			if role == certsmithv1alpha1.TrustedCANext {
				nextFP = fp
			}
		}
		Expect(nextFP).NotTo(BeEmpty(), "no next CA among %v", roles)
		Expect(bundle()).To(ConsistOf(oldFP, nextFP))

		By("the leader is lost again, and the clock steps past the propagation delay: the next leader switches to the same next CA")
		replicas, leader = handOver(replicas, leader, "replica-4", &takeovers, func() { fakeClock.Step(propagationDelay + time.Second) })
		retiring := waitIssuer(func(g Gomega, i *certsmithv1alpha1.ClusterIssuer) {
			g.Expect(i.Status.Rotation).NotTo(BeNil())
			g.Expect(i.Status.Rotation.Phase).To(Equal(certsmithv1alpha1.RotationRetiring))
		})
		Expect(rolesOf(retiring)).To(Equal(map[string]string{nextFP: certsmithv1alpha1.TrustedCAActive, oldFP: certsmithv1alpha1.TrustedCARetiring}),
			"the switch went to another CA than the one published")
		Expect(retiring.Status.Rotation.SwitchedAt.Time).To(BeTemporally(">=", rotation.PublishedAt.Add(propagationDelay)))
		var retireAfter time.Time
		for _, t := range retiring.Status.TrustedCAs {
			if t.Role == certsmithv1alpha1.TrustedCARetiring && t.RetireAfter != nil {
				retireAfter = t.RetireAfter.Time
			}
		}
		Expect(retireAfter).NotTo(BeZero(), "the retiring CA has no retireAfter")
		newCA := issuerCA()
		Expect(pki.FingerprintSHA256(newCA)).To(Equal(nextFP))
		// The certificates' turns in the re-issue window all lie after the
		// switch, and the clock does not move until the next step.
		Consistently(revisions, 2*time.Second, 200*time.Millisecond).Should(HaveEach(int64(2)), "a certificate was re-issued before its turn")

		By("the leader is lost again, and the clock steps past the re-issue window: every certificate is re-issued once, by the new CA")
		replicas, leader = handOver(replicas, leader, "replica-5", &takeovers, func() { fakeClock.Step(reissueWindow + time.Second) })
		record(3, newCA)
		Expect(retireAfter).To(BeTemporally("<", firstRenewal()), "a certificate of the new CA is due before the old CA retires")

		By("the leader is lost again, and the clock steps past retireAfter: the next leader completes the rotation")
		replicas, _ = handOver(replicas, leader, "replica-6", &takeovers, func() { fakeClock.SetTime(retireAfter.Add(time.Minute)) })
		complete := waitIssuer(func(g Gomega, i *certsmithv1alpha1.ClusterIssuer) {
			g.Expect(i.Status.Rotation).NotTo(BeNil())
			g.Expect(i.Status.Rotation.Phase).To(Equal(certsmithv1alpha1.RotationComplete))
		})
		Expect(rolesOf(complete)).To(Equal(map[string]string{nextFP: certsmithv1alpha1.TrustedCAActive}))
		Eventually(bundle, timeout, interval).Should(Equal([]string{nextFP}))
		Consistently(revisions, 2*time.Second, 200*time.Millisecond).Should(HaveEach(int64(3)), "a certificate was re-issued though none was due")
		Expect(replicas).To(HaveLen(2))

		By("the certificates written into CSRs are exactly those the Secrets got: no issuance was signed twice")
		total := 0
		for name, serials := range stored {
			Expect(serials).To(HaveLen(3))
			// The watch may lag behind the reads of the Secrets.
			Eventually(func() []string { return signed.of(namespace + "/" + name) }, timeout, interval).Should(ConsistOf(serials),
				"%s: the CSRs' certificates and the Secret's", name)
			total += len(serials)
		}
		signed.stop()
		Expect(total).To(Equal(3 * certificates))
		for name, serials := range stored {
			Expect(signed.of(namespace+"/"+name)).To(ConsistOf(serials), "%s: a CSR was signed after the last check", name)
		}
		AddReportEntry("stepped clock", fmt.Sprintf("%d certificates, 3 revisions each; 4 leader changes, takeovers %v (lease %s); %d certificates written into CSRs, none that a Secret did not get",
			certificates, takeovers, leaseDuration, total))
	})
})

// handOver stops the leader as a crash would (the Lease is not given up),
// steps the clock while no replica leads, starts another replica in its
// place, as a Deployment would, and waits for the next leader. It checks
// from the Lease that leadership changed hands once, after the Lease
// expired.
func handOver(replicas []*replica, leader *replica, name string, takeovers *[]time.Duration, step func()) ([]*replica, *replica) {
	GinkgoHelper()
	stoppedAt := time.Now()
	leader.stop()
	// Read after the stop: the stopped leader renews no more, so this is
	// the last renewal the next leader waits out.
	before := lease()
	step()
	steppedAt := time.Now()
	rest := append(slices.DeleteFunc(slices.Clone(replicas), func(r *replica) bool { return r == leader }), startReplica(name))
	next := leaderOf(rest...)
	after := lease()
	Expect(ptr.Deref(after.Spec.LeaseTransitions, 0)).To(Equal(ptr.Deref(before.Spec.LeaseTransitions, 0)+1), "leader changes")
	Expect(ptr.Deref(after.Spec.HolderIdentity, "")).NotTo(Equal(ptr.Deref(before.Spec.HolderIdentity, "")))
	// A standby times the Lease from when it saw the record change, and
	// client-go compares records at whole seconds: the expiry it sees may
	// come up to a second early.
	Expect(after.Spec.AcquireTime.Time).To(BeTemporally(">=", before.Spec.RenewTime.Truncate(time.Second).Add(leaseDuration-leaseSlack)),
		"the Lease was taken before it expired")
	Expect(after.Spec.AcquireTime.Time).To(BeTemporally(">", steppedAt), "the next leader took over before the clock stepped")
	*takeovers = append(*takeovers, after.Spec.AcquireTime.Sub(stoppedAt).Round(10*time.Millisecond))
	return rest, next
}

// createFixture creates the namespace, the issuer and the certificates.
func createFixture() {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())
	Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: issuerName},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{
			CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{
				Duration: &metav1.Duration{Duration: caDuration}, RenewBefore: &metav1.Duration{Duration: caRenewBefore},
			}},
			Bundle: &certsmithv1alpha1.BundleSpec{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: namespace},
			}},
			Rotation: &certsmithv1alpha1.RotationSpec{
				PropagationDelay: &metav1.Duration{Duration: propagationDelay}, ReissueWindow: &metav1.Duration{Duration: reissueWindow},
			},
		},
	})).To(Succeed())
	for i := range certificates {
		name := fmt.Sprintf("cert-%02d", i)
		Expect(k8sClient.Create(ctx, &certsmithv1alpha1.ServiceCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec: certsmithv1alpha1.ServiceCertificateSpec{
				IssuerRef:   certsmithv1alpha1.IssuerReference{Name: issuerName},
				DNSNames:    []string{name + "." + namespace + ".svc"},
				Duration:    &metav1.Duration{Duration: leafDuration},
				RenewBefore: &metav1.Duration{Duration: leafRenewBefore},
				// Keep every CSR: the count of what was signed is read from
				// the watch, but nothing should need it.
				RevisionHistoryLimit: ptr.To(int32(10)),
			},
		})).To(Succeed())
	}
}

// waitIssuer waits until the issuer passes check and returns it.
func waitIssuer(check func(Gomega, *certsmithv1alpha1.ClusterIssuer)) *certsmithv1alpha1.ClusterIssuer {
	GinkgoHelper()
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: issuerName}, issuer)).To(Succeed())
		check(g, issuer)
	}, timeout, interval).Should(Succeed())
	return issuer
}

// issuerCA is the CA that signs now, from the issuer's Secret.
func issuerCA() *x509.Certificate {
	GinkgoHelper()
	secret := &corev1.Secret{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: issuerName + "-ca"}, secret)).To(Succeed())
	chain, err := pki.ParseCertificatesPEM(secret.Data[corev1.TLSCertKey])
	Expect(err).NotTo(HaveOccurred())
	return chain[0]
}

// rolesOf maps the issuer's trusted CAs to their roles.
func rolesOf(issuer *certsmithv1alpha1.ClusterIssuer) map[string]string {
	roles := map[string]string{}
	for _, t := range issuer.Status.TrustedCAs {
		roles[t.FingerprintSHA256] = t.Role
	}
	return roles
}

// bundle is the fingerprints in the namespace's bundle ConfigMap.
func bundle() []string {
	GinkgoHelper()
	cm := &corev1.ConfigMap{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: issuerName + "-ca"}, cm)).To(Succeed())
	certs, err := pki.ParseCertificatesPEM([]byte(cm.Data["ca.crt"]))
	Expect(err).NotTo(HaveOccurred())
	fps := []string{}
	for _, c := range certs {
		fps = append(fps, pki.FingerprintSHA256(c))
	}
	return fps
}

// listCertificates lists the namespace's ServiceCertificates.
func listCertificates() []certsmithv1alpha1.ServiceCertificate {
	GinkgoHelper()
	list := &certsmithv1alpha1.ServiceCertificateList{}
	Expect(k8sClient.List(ctx, list, client.InNamespace(namespace))).To(Succeed())
	Expect(list.Items).To(HaveLen(certificates))
	return list.Items
}

// revisions is every certificate's status.revision.
func revisions() []int64 {
	GinkgoHelper()
	out := []int64{}
	for _, sc := range listCertificates() {
		out = append(out, sc.Status.Revision)
	}
	return out
}

// waitRevision waits until every certificate is Ready at the revision,
// its Secret holding the serial of its status, signed by signer, and
// returns them.
func waitRevision(revision int64, signer *x509.Certificate) []certsmithv1alpha1.ServiceCertificate {
	GinkgoHelper()
	var items []certsmithv1alpha1.ServiceCertificate
	Eventually(func(g Gomega) {
		items = listCertificates()
		for _, sc := range items {
			g.Expect(sc.Status.Revision).To(Equal(revision), "%s revision", sc.Name)
			g.Expect(meta.IsStatusConditionTrue(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeTrue(), "%s Ready", sc.Name)
			secret := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: sc.Name + "-tls"}, secret)).To(Succeed())
			chain, err := pki.ParseCertificatesPEM(secret.Data[corev1.TLSCertKey])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(chain[0].SerialNumber.Text(16)).To(Equal(sc.Status.SerialNumber), "%s: the Secret and the status", sc.Name)
			g.Expect(chain[0].CheckSignatureFrom(signer)).To(Succeed(), "%s: signed by another CA", sc.Name)
		}
	}, timeout, interval).Should(Succeed())
	return items
}

// firstRenewal is the earliest renewal time of the certificates.
func firstRenewal() time.Time {
	GinkgoHelper()
	var first time.Time
	for _, sc := range listCertificates() {
		if first.IsZero() || sc.Status.RenewalTime.Before(&metav1.Time{Time: first}) {
			first = sc.Status.RenewalTime.Time
		}
	}
	Expect(first).NotTo(BeZero())
	return first
}

// signedCSRs is every certificate a CSR was seen to hold, by the
// ServiceCertificate of the CSR's annotation: a watch sees each CSR's
// certificate, also of CSRs deleted since.
type signedCSRs struct {
	mu      sync.Mutex
	serials map[string]map[string]bool
	// cancel ends the watch; done is closed once it has ended.
	cancel context.CancelFunc
	done   chan struct{}
}

func watchSignedCSRs() *signedCSRs {
	GinkgoHelper()
	watchCtx, cancel := context.WithCancel(ctx)
	s := &signedCSRs{serials: map[string]map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	DeferCleanup(s.stop)
	started := make(chan struct{})
	var once sync.Once
	go func() {
		defer GinkgoRecover()
		defer close(s.done)
		resourceVersion := ""
		for watchCtx.Err() == nil {
			w, err := watchClient.Watch(watchCtx, &certificatesv1.CertificateSigningRequestList{},
				&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: resourceVersion}})
			if err != nil {
				time.Sleep(interval)
				continue
			}
			once.Do(func() { close(started) })
			for event := range w.ResultChan() {
				if event.Type == watch.Error {
					resourceVersion = "" // expired: start over from a list
					continue
				}
				if csr, ok := event.Object.(*certificatesv1.CertificateSigningRequest); ok {
					resourceVersion = csr.ResourceVersion
					s.record(csr)
				}
			}
			w.Stop()
		}
	}()
	Eventually(started, timeout).Should(BeClosed())
	return s
}

// stop ends the watch and waits until it has ended. It may be called
// more than once.
func (s *signedCSRs) stop() {
	GinkgoHelper()
	s.cancel()
	Eventually(s.done, timeout).Should(BeClosed())
}

func (s *signedCSRs) record(csr *certificatesv1.CertificateSigningRequest) {
	owner := csr.Annotations[certsmithv1alpha1.AnnotationServiceCertificate]
	if !strings.HasPrefix(owner, namespace+"/") || len(csr.Status.Certificate) == 0 {
		return
	}
	chain, err := pki.ParseCertificatesPEM(csr.Status.Certificate)
	Expect(err).NotTo(HaveOccurred(), "the certificate of CSR %s", csr.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serials[owner] == nil {
		s.serials[owner] = map[string]bool{}
	}
	s.serials[owner][chain[0].SerialNumber.Text(16)] = true
}

// of is the serials written into the CSRs of one ServiceCertificate.
func (s *signedCSRs) of(owner string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for serial := range s.serials[owner] {
		out = append(out, serial)
	}
	return out
}
