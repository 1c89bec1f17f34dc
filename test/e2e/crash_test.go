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

package e2e

import (
	"crypto/x509"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/certsmith/certsmith/test/internal/harness"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

const (
	// crashNamespace holds the certificates of the crash-safety specs.
	crashNamespace = "crash"
	// crashCertificates is how many certificates are issued at once.
	crashCertificates = 50
	// crashIssuer is the sample ClusterIssuer that signs them.
	crashIssuer = "selfsigned"
	// recoveryTimeout bounds the time from the manager's restart until
	// everything has converged.
	recoveryTimeout = 3 * time.Minute
	// crashHistoryLimit is the default spec.revisionHistoryLimit: how many
	// finished CSRs certsmith keeps per certificate.
	crashHistoryLimit = 1
)

// Pending private keys live only in the manager's memory: a crash loses
// them. These specs kill the manager with SIGKILL (no signal handler runs,
// unlike a graceful stop) while 50 certificates are being issued, and again
// while all 50 are being renewed, restart it, and expect certsmith to
// converge on its own: every certificate Ready with a Secret whose key
// matches its certificate, which verifies against the issuer's CA; no CSR
// left in flight, at most revisionHistoryLimit kept per certificate; and no
// private key anywhere but in the Secrets.
var _ = Describe("Crash safety: the manager killed with SIGKILL while 50 certificates are issued", Ordered, func() {
	var roots *x509.CertPool

	BeforeAll(func() {
		_, err := cluster.KubectlWithInput("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+crashNamespace+"\n", "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		roots, err = issuerRoots(crashIssuer)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			// A spec that failed between the kill and the restart leaves no
			// manager: the specs after this container need one.
			ensureManagerRunning()
			By("deleting the ServiceCertificates in " + crashNamespace)
			_, err := cluster.Kubectl("delete", "servicecertificates", "--all", "-n", crashNamespace, "--timeout=60s")
			Expect(err).NotTo(HaveOccurred())
		})
	})

	It("converges after a SIGKILL during the first issuance of 50 certificates", func() {
		// certsmith issues as fast as kubectl apply creates: the kill comes
		// while the apply still runs, as soon as one certificate is Ready.
		By(fmt.Sprintf("applying %d ServiceCertificates in one kubectl apply, in the background", crashCertificates))
		applied := time.Now()
		applyResult := make(chan error, 1)
		go func() {
			defer GinkgoRecover()
			_, err := cluster.KubectlWithInput(crashManifest(), "apply", "-f", "-")
			applyResult <- err
		}()
		applyFinished := false

		By("waiting until at least one is Ready, hopefully not all")
		var created, ready int
		Eventually(func(g Gomega) {
			if !applyFinished {
				select {
				case err := <-applyResult:
					applyFinished = true
					if err != nil {
						StopTrying("kubectl apply failed").Wrap(err).Now()
					}
				default:
				}
			}
			certificates, err := listServiceCertificates(crashNamespace)
			g.Expect(err).NotTo(HaveOccurred())
			created, ready = len(certificates), countReady(certificates)
			g.Expect(ready).To(BeNumerically(">=", 1))
		}).WithTimeout(2 * time.Minute).WithPolling(10 * time.Millisecond).Should(Succeed())
		sinceApply := time.Since(applied)

		By("killing the manager with SIGKILL")
		killManager()
		if !applyFinished {
			var err error
			Eventually(applyResult).WithTimeout(harness.DefaultCommandTimeout).Should(Receive(&err))
			Expect(err).NotTo(HaveOccurred())
		}
		atKill := snapshotCrashNamespace()
		note := ""
		if ready == crashCertificates {
			note = " (all were Ready at the first look: this kill did not interrupt issuance; the renewal spec below does)"
		}
		report("first issuance: at the kill", fmt.Sprintf(
			"killed %s after the apply started, when %d of %d existed and %d were Ready%s; once the apply finished:\n%s",
			sinceApply.Round(time.Millisecond), created, crashCertificates, ready, note, atKill))

		recovered := restartAndConverge(roots, "", nil)
		report("first issuance: recovery", recovered)
		expectSampleVerifiesWithOpenSSL()
	})

	It("renews all 50 at once without a crash (the baseline)", func() {
		before, err := listServiceCertificates(crashNamespace)
		Expect(err).NotTo(HaveOccurred())
		value := "baseline-" + time.Now().UTC().Format(time.RFC3339Nano)

		By("annotating all " + strconv.Itoa(crashCertificates) + " with " + renewRequestedAtAnnotation + "=" + value)
		annotated := time.Now()
		requestRenewal(value)
		var allReady time.Duration
		Eventually(func(g Gomega) {
			certificates, err := listServiceCertificates(crashNamespace)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(renewed(certificates, value)).To(Equal(crashCertificates), "renewed and Ready")
			if allReady == 0 {
				allReady = time.Since(annotated)
			}
			g.Expect(crashProblems(roots, value, before)).To(BeEmpty())
		}).WithTimeout(recoveryTimeout).WithPolling(250*time.Millisecond).Should(Succeed(), manager.LogTail)
		report("baseline renewal of 50", fmt.Sprintf("all %d renewed and Ready %s after the annotation; converged (Secrets checked, CSRs pruned) after %s",
			crashCertificates, allReady.Round(time.Millisecond), time.Since(annotated).Round(time.Millisecond)))
	})

	It("converges after a SIGKILL during a renewal of all 50", func() {
		before, err := listServiceCertificates(crashNamespace)
		Expect(err).NotTo(HaveOccurred())
		Expect(countReady(before)).To(Equal(crashCertificates))
		value := "crash-" + time.Now().UTC().Format(time.RFC3339Nano)

		By("annotating all " + strconv.Itoa(crashCertificates) + " with " + renewRequestedAtAnnotation + "=" + value + " and killing the manager right after")
		annotated := time.Now()
		requestRenewal(value)
		killManager()
		sinceAnnotate := time.Since(annotated)
		atKill := snapshotCrashNamespace()
		report("mass renewal: at the kill", fmt.Sprintf("killed %s after the annotation started\n%s", sinceAnnotate.Round(time.Millisecond), atKill))

		recovered := restartAndConverge(roots, value, before)
		report("mass renewal: recovery", recovered)

		certificates, err := listServiceCertificates(crashNamespace)
		Expect(err).NotTo(HaveOccurred())
		for name, sc := range certificates {
			Expect(sc.Status.Revision).To(BeNumerically(">=", 2), "status.revision of %s", name)
		}
		expectSampleVerifiesWithOpenSSL()
	})
})

// crashNames are the names of the certificates: c1 to c50.
func crashNames() []string {
	names := make([]string, crashCertificates)
	for i := range names {
		names[i] = "c" + strconv.Itoa(i+1)
	}
	return names
}

// crashManifest is the 50 ServiceCertificates as one multi-document YAML.
func crashManifest() string {
	documents := make([]string, 0, crashCertificates)
	for _, name := range crashNames() {
		documents = append(documents, serviceCertificate(crashNamespace, name, `
  issuerRef: {name: `+crashIssuer+`}
  dnsNames: [`+name+`.`+crashNamespace+`.svc]`))
	}
	return strings.Join(documents, "---\n")
}

// requestRenewal sets the manual renewal trigger on every certificate, in one command.
func requestRenewal(value string) {
	GinkgoHelper()
	_, err := cluster.Kubectl("annotate", "servicecertificates", "--all", "-n", crashNamespace, "--overwrite",
		renewRequestedAtAnnotation+"="+value)
	Expect(err).NotTo(HaveOccurred())
}

// countReady counts the Ready certificates.
func countReady(certificates map[string]*serviceCertificateObject) int {
	n := 0
	for _, sc := range certificates {
		if sc.ready() {
			n++
		}
	}
	return n
}

// renewed counts the certificates that are Ready and were issued for the
// renewal trigger value.
func renewed(certificates map[string]*serviceCertificateObject, value string) int {
	n := 0
	for _, sc := range certificates {
		if sc.ready() && sc.Status.LastRenewRequest == value {
			n++
		}
	}
	return n
}

// restartAndConverge restarts the killed manager and waits until every
// certificate is Ready (and, when renewRequest is set, renewed for it) and
// then until everything has converged (crashProblems finds nothing), both
// within recoveryTimeout of the restart. It returns the timings.
func restartAndConverge(roots *x509.CertPool, renewRequest string, before map[string]*serviceCertificateObject) string {
	GinkgoHelper()
	By("restarting the manager with the same kubeconfig and flags")
	restarted := restartManager()
	readyz := time.Since(restarted)
	deadline := restarted.Add(recoveryTimeout)

	By("waiting until all " + strconv.Itoa(crashCertificates) + " are Ready")
	var certificates map[string]*serviceCertificateObject
	Eventually(func(g Gomega) {
		var err error
		certificates, err = listServiceCertificates(crashNamespace)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(certificates).To(HaveLen(crashCertificates))
		if renewRequest == "" {
			g.Expect(countReady(certificates)).To(Equal(crashCertificates), "Ready")
		} else {
			g.Expect(renewed(certificates, renewRequest)).To(Equal(crashCertificates), "renewed and Ready")
		}
	}).WithTimeout(time.Until(deadline)).WithPolling(250*time.Millisecond).Should(Succeed(), func() string {
		return notReady(certificates, renewRequest) + "\nthe manager's log ends with:\n" + manager.LogTail()
	})
	allReady := time.Since(restarted)

	By("waiting until every Secret checks out and no CSR is left in flight")
	var problems []string
	Eventually(func(g Gomega) {
		problems = crashProblems(roots, renewRequest, before)
		g.Expect(problems).To(BeEmpty())
	}).WithTimeout(time.Until(deadline)).WithPolling(500*time.Millisecond).Should(Succeed(), func() string {
		return "the manager's log ends with:\n" + manager.LogTail()
	})
	converged := time.Since(restarted)

	// Everything must stay so: nothing is left to do.
	Consistently(func() []string { return crashProblems(roots, renewRequest, before) }).
		WithTimeout(3 * time.Second).WithPolling(time.Second).Should(BeEmpty())
	return fmt.Sprintf("after the restart: ready to serve (/readyz) in %s; all %d Ready in %s; converged (Secrets checked, no CSR in flight, history pruned) in %s\n%s\n%s",
		readyz.Round(time.Millisecond), crashCertificates, allReady.Round(time.Millisecond), converged.Round(time.Millisecond),
		snapshotCrashNamespace(), managerErrorsSinceRestart())
}

// managerErrorsSinceRestart summarises the error lines that the manager
// logged since it was last restarted.
func managerErrorsSinceRestart() string {
	data, err := os.ReadFile(manager.LogPath)
	if err != nil {
		return "(no manager log: " + err.Error() + ")"
	}
	log := string(data)
	if i := strings.LastIndex(log, harness.RestartMarker); i >= 0 {
		log = log[i:]
	}
	var errorLines []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"level":"error"`) {
			errorLines = append(errorLines, line)
		}
	}
	const shown = 5
	summary := fmt.Sprintf("the manager logged %d errors since the restart", len(errorLines))
	if len(errorLines) > 0 {
		summary += ", the first ones:\n" + strings.Join(errorLines[:min(shown, len(errorLines))], "\n")
	}
	return summary
}

// notReady lists the certificates that are not (yet) Ready, or not renewed
// for renewRequest, with their Ready condition.
func notReady(certificates map[string]*serviceCertificateObject, renewRequest string) string {
	var lines []string
	for _, name := range crashNames() {
		sc, ok := certificates[name]
		switch {
		case !ok:
			lines = append(lines, name+": missing")
		case !sc.ready() || (renewRequest != "" && sc.Status.LastRenewRequest != renewRequest):
			lines = append(lines, fmt.Sprintf("%s: revision %d, lastRenewRequest %q, CSR %q, Ready %s",
				name, sc.Status.Revision, sc.Status.LastRenewRequest, sc.Status.CertificateSigningRequest, sc.readyMessage()))
		}
	}
	return fmt.Sprintf("%d not Ready (or not renewed):\n%s", len(lines), strings.Join(lines, "\n"))
}

// crashProblems checks the crash namespace and describes whatever is not
// as it should be once certsmith has converged:
//   - every certificate is Ready, with no CSR in flight in its status; with
//     renewRequest, renewed for it, with a new serial and a higher revision
//     than in before;
//   - its Secret <name>-tls holds a key that matches the certificate, which
//     verifies against the issuer's CA for <name>.crash.svc, and is the one
//     that status names (serial and revision);
//   - every CSR made for them is finished (signed, denied or failed), at
//     most crashHistoryLimit remain per certificate, and none holds a
//     private key;
//   - no ServiceCertificate holds a private key.
func crashProblems(roots *x509.CertPool, renewRequest string, before map[string]*serviceCertificateObject) []string {
	out, err := cluster.Kubectl("get", "servicecertificates", "-n", crashNamespace, "-o", "json")
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if strings.Contains(out, "PRIVATE KEY") {
		problems = append(problems, "a ServiceCertificate holds a private key")
	}
	certificates, err := listServiceCertificates(crashNamespace)
	if err != nil {
		return []string{err.Error()}
	}
	secrets, err := listSecrets(crashNamespace)
	if err != nil {
		return []string{err.Error()}
	}
	csrs, err := listCSRsOf(crashNamespace)
	if err != nil {
		return []string{err.Error()}
	}
	names := crashNames()
	for _, name := range names {
		sc, ok := certificates[name]
		if !ok {
			problems = append(problems, name+": no such ServiceCertificate")
			continue
		}
		if !sc.ready() {
			problems = append(problems, name+": not Ready: "+sc.readyMessage())
		}
		if sc.Status.CertificateSigningRequest != "" {
			problems = append(problems, name+": status still names a CSR in flight: "+sc.Status.CertificateSigningRequest)
		}
		if sc.Status.Revision < 1 {
			problems = append(problems, fmt.Sprintf("%s: status.revision is %d", name, sc.Status.Revision))
		}
		if renewRequest != "" {
			if sc.Status.LastRenewRequest != renewRequest {
				problems = append(problems, fmt.Sprintf("%s: status.lastRenewRequest is %q, not %q", name, sc.Status.LastRenewRequest, renewRequest))
			}
			if previous, ok := before[name]; ok {
				if sc.Status.Revision <= previous.Status.Revision {
					problems = append(problems, fmt.Sprintf("%s: status.revision is %d, as before the renewal (%d)", name, sc.Status.Revision, previous.Status.Revision))
				}
				if sc.Status.SerialNumber == previous.Status.SerialNumber {
					problems = append(problems, fmt.Sprintf("%s: the serial %s is the one from before the renewal", name, sc.Status.SerialNumber))
				}
			}
		}

		secretName := name + "-tls"
		if sc.Status.SecretName != secretName {
			problems = append(problems, fmt.Sprintf("%s: status.secretName is %q, not %q", name, sc.Status.SecretName, secretName))
		}
		secret, ok := secrets[secretName]
		if !ok {
			problems = append(problems, name+": no Secret "+secretName)
			continue
		}
		leaf, err := checkTLSSecret(secret, roots, name+"."+crashNamespace+".svc")
		if err != nil {
			problems = append(problems, name+": "+err.Error())
			continue
		}
		if serial := fmt.Sprintf("%x", leaf.SerialNumber); serial != sc.Status.SerialNumber {
			problems = append(problems, fmt.Sprintf("%s: the Secret holds the certificate %s, status.serialNumber is %s", name, serial, sc.Status.SerialNumber))
		}
		if revision := secret.Metadata.Annotations[revisionAnnotation]; revision != strconv.FormatInt(sc.Status.Revision, 10) {
			problems = append(problems, fmt.Sprintf("%s: the Secret is revision %q, status.revision is %d", name, revision, sc.Status.Revision))
		}
	}

	owners := make([]string, 0, len(csrs))
	for owner := range csrs {
		owners = append(owners, owner)
	}
	sort.Strings(owners)
	for _, owner := range owners {
		requests := csrs[owner]
		if _, ok := certificates[strings.TrimPrefix(owner, crashNamespace+"/")]; !ok {
			problems = append(problems, fmt.Sprintf("%d CSRs for %s, which does not exist", len(requests), owner))
		}
		if len(requests) > crashHistoryLimit {
			problems = append(problems, fmt.Sprintf("%s: %d CSRs remain, more than revisionHistoryLimit %d: %s", owner, len(requests), crashHistoryLimit, csrSummary(requests)))
		}
		for _, csr := range requests {
			if !csr.finished() {
				problems = append(problems, fmt.Sprintf("%s: CSR %s is still in flight (created %s)", owner, csr.Metadata.Name, csr.Metadata.CreationTimestamp.Format(time.RFC3339)))
			}
			if csr.holdsPrivateKey() {
				problems = append(problems, fmt.Sprintf("%s: CSR %s holds a PRIVATE KEY", owner, csr.Metadata.Name))
			}
		}
	}
	return problems
}

// csrSummary describes CSRs by name and state.
func csrSummary(requests []*csrObject) string {
	var parts []string
	for _, csr := range requests {
		state := "in flight"
		switch {
		case csr.signed():
			state = "signed"
		case csr.failed():
			state = "denied/failed"
		}
		parts = append(parts, csr.Metadata.Name+" ("+state+")")
	}
	return strings.Join(parts, ", ")
}

// snapshotCrashNamespace counts what exists in the crash namespace: Ready
// certificates, those with a CSR in flight in status, Secrets, and CSRs by
// state. It returns a description, or the error that prevented one.
func snapshotCrashNamespace() string {
	certificates, err := listServiceCertificates(crashNamespace)
	if err != nil {
		return "(no snapshot: " + err.Error() + ")"
	}
	secrets, err := listSecrets(crashNamespace)
	if err != nil {
		return "(no snapshot: " + err.Error() + ")"
	}
	csrs, err := listCSRsOf(crashNamespace)
	if err != nil {
		return "(no snapshot: " + err.Error() + ")"
	}
	pendingInStatus := 0
	for _, sc := range certificates {
		if sc.Status.CertificateSigningRequest != "" {
			pendingInStatus++
		}
	}
	tlsSecrets := 0
	revisions := map[string]int{}
	for name, s := range secrets {
		if strings.HasSuffix(name, "-tls") && s.Type == "kubernetes.io/tls" {
			tlsSecrets++
			revisions[s.Metadata.Annotations[revisionAnnotation]]++
		}
	}
	var revisionCounts []string
	for revision, n := range revisions {
		revisionCounts = append(revisionCounts, fmt.Sprintf("revision %s: %d", revision, n))
	}
	sort.Strings(revisionCounts)
	total, signed, failed, inFlight, withoutCSR := 0, 0, 0, 0, 0
	for _, requests := range csrs {
		for _, csr := range requests {
			total++
			switch {
			case csr.signed():
				signed++
			case csr.failed():
				failed++
			default:
				inFlight++
			}
		}
	}
	for _, name := range crashNames() {
		if len(csrs[crashNamespace+"/"+name]) == 0 {
			withoutCSR++
		}
	}
	return fmt.Sprintf("ServiceCertificates: %d, Ready %d, with a CSR named in status %d\n"+
		"Secrets (*-tls): %d (%s)\n"+
		"CSRs: %d (signed %d, denied/failed %d, in flight %d); certificates with no CSR: %d",
		len(certificates), countReady(certificates), pendingInStatus, tlsSecrets, strings.Join(revisionCounts, ", "), total, signed, failed, inFlight, withoutCSR)
}

// expectSampleVerifiesWithOpenSSL checks 5 of the Secrets with openssl as
// well: the key matches the certificate, which verifies against the
// issuer's CA for its DNS name.
func expectSampleVerifiesWithOpenSSL() {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	caFile := getSecret(operatorNamespace, crashIssuer+"-ca").writeKeyAs(dir, "tls.crt", "ca.crt")
	names := crashNames()
	for i := 0; i < len(names); i += len(names) / 5 {
		name := names[i]
		By("checking the Secret " + crashNamespace + "/" + name + "-tls with openssl")
		secret := getSecret(crashNamespace, name+"-tls")
		certFile := secret.writeKeyAs(dir, "tls.crt", name+".crt")
		keyFile := secret.writeKeyAs(dir, "tls.key", name+".key")
		expectKeyMatchesCertificate(keyFile, certFile)
		expectVerified(certFile, "-CAfile", caFile, "-verify_hostname", name+"."+crashNamespace+".svc", "-purpose", "sslserver")
	}
}

// report prints a finding and adds it to the spec's report.
func report(name, text string) {
	fmt.Fprintf(GinkgoWriter, "%s:\n%s\n", name, text)
	AddReportEntry(name, text, Offset(1))
}
