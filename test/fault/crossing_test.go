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

package fault

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/certsmith/certsmith/internal/pki"
)

const (
	crossingNamespace = "fault-crossing"
	// crossingDuration is the lifetime of the crossing's CA and of its
	// certificate, the shortest the API allows.
	crossingDuration = 10 * time.Minute
	// crossingRenewBefore puts both renewal points 80 s after they were
	// made, in BeforeSuite: the specs that run first (the rotation and the
	// SIGKILL of the leader) take 50-60 s, so the crossing waits some 20 s
	// instead of the whole time. When they took longer, the spec makes a
	// second pair (unfit).
	crossingRenewBefore = crossingDuration - 80*time.Second
	// crossingAgainRenewBefore is for the second pair, made by the spec
	// when a slow machine left too little time before the first pair's
	// points: 60 s, raised to the renewal floor (66 s: a tenth of the
	// back-dated lifetime).
	crossingAgainRenewBefore = crossingDuration - time.Minute
	// crossingLead is how long before the earlier renewal point the leader
	// is killed: the points pass while no replica leads (a standby takes
	// over a lease duration later).
	crossingLead = 1500 * time.Millisecond
	// takeoverWork bounds how long after the takeover the new leader
	// renews and starts the rotation: the work is due when it leads.
	takeoverWork = 10 * time.Second
)

// createCrossing makes a ClusterIssuer "fault-crossing<suffix>" whose CA
// renews renewBefore before its expiry, and a ServiceCertificate
// "renewing<suffix>" of the suite's issuer that renews as soon after it
// is made: one crossing of a real renewal time and of a CA's renewal
// point, which the crossing spec times a leader's loss against.
func createCrossing(suffix string, renewBefore time.Duration) {
	GinkgoHelper()
	_, err := cluster.KubectlWithInput(fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata:
  name: %[1]s%[2]s
spec:
  bundle:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: %[1]s
  rotation:
    propagationDelay: 5s
    reissueWindow: 5s
  ca:
    selfSigned:
      duration: %[4]s
      renewBefore: %[5]s
      subject:
        commonName: certsmith fault crossing CA
---
apiVersion: certsmith.io/v1alpha1
kind: ServiceCertificate
metadata:
  name: renewing%[2]s
  namespace: %[1]s
spec:
  issuerRef:
    name: %[3]s
  dnsNames:
  - renewing%[2]s.%[1]s.svc
  duration: %[4]s
  renewBefore: %[5]s
  revisionHistoryLimit: 10
`, crossingNamespace, suffix, issuerName, crossingDuration, renewBefore), "apply", "--server-side", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
}

// crossingState is what the crossing spec reads of its pair.
type crossingState struct {
	issuer, certificate string
	// certificateRenewal and caRenewal are the two points.
	certificateRenewal, caRenewal time.Time
	revision                      int64
	serial                        string
	// notBefore is the certificate's, issuance less pki.Backdate.
	notBefore time.Time
	ready     bool
	// caFingerprint is the CA that signs now; rotation what status.rotation says.
	caFingerprint string
	rotation      struct {
		Phase       string    `json:"phase"`
		StartedAt   time.Time `json:"startedAt"`
		LastRequest string    `json:"lastRequest"`
	}
}

// readCrossing reads the pair; an error while kubectl cannot.
func readCrossing(suffix string) (crossingState, error) {
	s := crossingState{issuer: crossingNamespace + suffix, certificate: "renewing" + suffix}
	out, err := quiet.Kubectl("get", "servicecertificate", s.certificate, "-n", crossingNamespace, "-o", "json")
	if err != nil {
		return s, err
	}
	var sc struct {
		Status struct {
			RenewalTime  time.Time `json:"renewalTime"`
			NotBefore    time.Time `json:"notBefore"`
			Revision     int64     `json:"revision"`
			SerialNumber string    `json:"serialNumber"`
			Conditions   []struct {
				Type   string `json:"type"`
				Status string `json:"status"`
			} `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &sc); err != nil {
		return s, err
	}
	s.certificateRenewal, s.notBefore, s.revision, s.serial = sc.Status.RenewalTime, sc.Status.NotBefore, sc.Status.Revision, sc.Status.SerialNumber
	for _, c := range sc.Status.Conditions {
		if c.Type == "Ready" {
			s.ready = c.Status == "True"
		}
	}
	out, err = quiet.Kubectl("get", "clusterissuer", s.issuer, "-o", "json")
	if err != nil {
		return s, err
	}
	var issuer struct {
		Status struct {
			CA struct {
				RenewalTime       time.Time `json:"renewalTime"`
				FingerprintSHA256 string    `json:"fingerprintSHA256"`
			} `json:"ca"`
			Rotation *json.RawMessage `json:"rotation"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &issuer); err != nil {
		return s, err
	}
	s.caRenewal, s.caFingerprint = issuer.Status.CA.RenewalTime, issuer.Status.CA.FingerprintSHA256
	if issuer.Status.Rotation != nil {
		if err := json.Unmarshal(*issuer.Status.Rotation, &s.rotation); err != nil {
			return s, err
		}
	}
	return s, nil
}

// waitCrossing waits until the pair passes check and returns it.
func waitCrossing(suffix string, within time.Duration, check func(Gomega, crossingState)) crossingState {
	GinkgoHelper()
	var s crossingState
	Eventually(func(g Gomega) {
		var err error
		s, err = readCrossing(suffix)
		g.Expect(err).NotTo(HaveOccurred())
		check(g, s)
	}, within, 200*time.Millisecond).Should(Succeed())
	return s
}

// issued waits for the pair's certificate and CA.
func issued(suffix string) crossingState {
	GinkgoHelper()
	return waitCrossing(suffix, 2*time.Minute, func(g Gomega, s crossingState) {
		g.Expect(s.ready).To(BeTrue(), "%s Ready", s.certificate)
		g.Expect(s.caRenewal).NotTo(BeZero(), "%s has no status.ca.renewalTime", s.issuer)
	})
}

// crossRenewalPoints is the spec: the leader is killed just before a real
// renewal time and a CA's renewal point, which pass while no replica
// leads; the replica that takes over renews the certificate once and
// starts the CA's rotation, nobody touching either.
func crossRenewalPoints() {
	DeferCleanup(func() {
		_, _ = quiet.Kubectl("delete", "namespace", crossingNamespace, "--wait=false")
		_, _ = quiet.Kubectl("delete", "clusterissuer", crossingNamespace, crossingNamespace+"-again", "--ignore-not-found", "--wait=false")
	})
	suffix := ""
	before := issued(suffix)
	if reason := unfit(before); reason != "" {
		By(fmt.Sprintf("the first pair does not fit (%s), so a second pair is made", reason))
		suffix = "-again"
		createCrossing(suffix, crossingAgainRenewBefore)
		before = issued(suffix)
		Expect(unfit(before)).To(BeEmpty(), "the second pair does not fit either")
	}
	first := earlier(before.certificateRenewal, before.caRenewal)
	spread := before.caRenewal.Sub(before.certificateRenewal).Abs()

	By(fmt.Sprintf("killing the leader %s before the earlier point (%s): both pass while no replica leads", crossingLead, first.Format(time.RFC3339)))
	// The leader and its Lease are read just before the kill, so that the
	// takeover is timed from the last renewal.
	time.Sleep(time.Until(first.Add(-crossingLead - time.Second)))
	leader := leaderIndex()
	lease := currentLease()
	if wait := time.Until(first.Add(-crossingLead)); wait > 0 {
		time.Sleep(wait)
	}
	killedAt := time.Now()
	Expect(killedAt).To(BeTemporally("<", first.Add(-crossingLead/2)), "too late: the kill came less than %s before the renewal point", crossingLead/2)
	killReplica(leader)
	after := nextHolder(lease, 2*leaseDuration+10*time.Second)
	Expect(after.Transitions).To(Equal(lease.Transitions + 1))
	// The Lease's times are at microseconds; the renewal points at seconds.
	Expect(after.AcquireTime).To(BeTemporally(">", first.Add(spread)),
		"a point came after the takeover: it did not pass while no replica led")
	startReplica(leader)

	By("the new leader renews the certificate once, at its renewal time, and starts the CA's rotation by itself")
	renewed := waitCrossing(suffix, time.Minute, func(g Gomega, s crossingState) {
		g.Expect(s.revision).To(BeNumerically(">=", 2))
		g.Expect(s.ready).To(BeTrue())
	})
	Expect(renewed.revision).To(Equal(int64(2)), "renewed more than once")
	issuedAt := renewed.notBefore.Add(pki.Backdate)
	// Certificate times are whole seconds, cut down.
	Expect(issuedAt).To(BeTemporally(">=", after.AcquireTime.Truncate(time.Second)), "renewed before the takeover")
	Expect(issuedAt).To(BeTemporally("<", after.AcquireTime.Add(takeoverWork)), "renewed long after the takeover")
	rotated := waitCrossing(suffix, time.Minute, func(g Gomega, s crossingState) {
		g.Expect(s.rotation.Phase).To(BeElementOf("Retiring", "Complete"), "the CA's rotation has not switched")
	})
	Expect(rotated.rotation.StartedAt).To(BeTemporally(">=", before.caRenewal), "the rotation started before the CA's renewal point")
	Expect(rotated.rotation.StartedAt).To(BeTemporally(">=", after.AcquireTime.Truncate(time.Second)), "the rotation started before the takeover")
	Expect(rotated.rotation.StartedAt).To(BeTemporally("<", after.AcquireTime.Add(takeoverWork)), "the rotation started long after the takeover")
	Expect(rotated.rotation.LastRequest).To(BeEmpty(), "nobody asked for this rotation")
	Expect(rotated.caFingerprint).NotTo(Equal(before.caFingerprint), "status.ca is still the first CA")
	// The certificate is of the suite's issuer, not of the rotating one.
	Expect(rotated.serial).To(Equal(renewed.serial), "the certificate changed with the rotation")
	Consistently(func() (int64, error) { s, err := readCrossing(suffix); return s.revision, err }, 3*time.Second, 500*time.Millisecond).
		Should(Equal(int64(2)), "renewed again")

	By("the CSRs got exactly the certificates the Secret got (audit log)")
	// The audit log is written after the response.
	Eventually(func() []string {
		signed, _ := auditedCSRs(crossingNamespace)
		return slices.Collect(maps.Keys(signed[crossingNamespace+"/"+before.certificate]))
	}, 10*time.Second, 500*time.Millisecond).Should(ConsistOf(before.serial, renewed.serial), "the CSRs' certificates and the Secret's")
	AddReportEntry("real renewal crossing", fmt.Sprintf("the leader killed %s before the points (%s apart); takeover %s after the kill (lease %s); renewed %s after its renewal time, the CA's rotation started %s after its renewal point; renewed once; the CSRs got only the Secret's two certificates",
		crossingLead, spread, after.AcquireTime.Sub(killedAt).Round(10*time.Millisecond), leaseDuration,
		issuedAt.Sub(before.certificateRenewal).Round(time.Second), rotated.rotation.StartedAt.Sub(before.caRenewal).Round(time.Second)))
}

// unfit says why a pair cannot be crossed as it stands, or "": it has
// passed them already (the specs before took longer), its points are too near to kill the leader before them, or too far apart to
// pass in one takeover (a standby may see the Lease expire up to a second
// early).
func unfit(s crossingState) string {
	if s.revision != 1 || s.rotation.Phase != "" {
		return fmt.Sprintf("it has passed its points already: revision %d, rotation %q", s.revision, s.rotation.Phase)
	}
	first := earlier(s.certificateRenewal, s.caRenewal)
	if time.Until(first) < crossingLead+3*time.Second {
		return fmt.Sprintf("its points, from %s, are too near", first.Format(time.RFC3339))
	}
	if spread := s.caRenewal.Sub(s.certificateRenewal).Abs(); spread > leaseDuration-crossingLead-2*time.Second {
		return fmt.Sprintf("its points are %s apart", spread)
	}
	return ""
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
