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

package node

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

func serviceCertificateYAML(namespace, name, extra string) string {
	return `apiVersion: certsmith.io/v1alpha1
kind: ServiceCertificate
metadata:
  name: ` + name + `
  namespace: ` + namespace + `
spec:
  issuerRef: {name: ` + issuer + `}
  dnsNames: [` + name + `.` + namespace + `.svc]
  secretName: ` + name + `-tls
  duration: 1h
` + extra
}

func waitReady(namespace, name string) {
	GinkgoHelper()
	_, err := cluster.Kubectl("-n", namespace, "wait", "--for=condition=Ready", "--timeout=60s", "servicecertificate/"+name)
	Expect(err).NotTo(HaveOccurred(), managerLog)
}

// exists says whether kubectl finds the object.
func exists(namespace, object string) bool {
	out, err := quiet.Kubectl("get", object, "-n", namespace, "--ignore-not-found", "-o", "name")
	Expect(err).NotTo(HaveOccurred())
	return strings.TrimSpace(out) != ""
}

var _ = Describe("The garbage collector and a ServiceCertificate's Secret", Label("gc"), func() {
	const ns = "node-gc"

	It("deletes the Secret with its ServiceCertificate, and keeps it with secretDeletionPolicy: Retain", func() {
		createNamespace(ns)
		apply(serviceCertificateYAML(ns, "owned", ""))
		apply(serviceCertificateYAML(ns, "retained", "  secretDeletionPolicy: Retain\n"))
		waitReady(ns, "owned")
		waitReady(ns, "retained")
		Expect(jsonpath(ns, "secret/owned-tls", "{.metadata.ownerReferences[0].kind}")).To(Equal("ServiceCertificate"))

		By("deleting both ServiceCertificates; only kube-controller-manager's garbage collector deletes dependents")
		_, err := cluster.Kubectl("-n", ns, "delete", "servicecertificate", "owned", "retained", "--wait=true", "--timeout=60s")
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() bool { return exists(ns, "secret/owned-tls") }).
			WithTimeout(60*time.Second).WithPolling(time.Second).Should(BeFalse(), "the garbage collector did not delete owned-tls")
		Consistently(func() bool { return exists(ns, "secret/retained-tls") }).
			WithTimeout(10*time.Second).WithPolling(time.Second).Should(BeTrue(), "retained-tls was deleted despite Retain")
		Expect(jsonpath(ns, "secret/retained-tls", "{.metadata.ownerReferences}")).To(BeEmpty())
		Expect(jsonpath(ns, "secret/retained-tls", `{.data.tls\.crt}`)).NotTo(BeEmpty())
	})
})

var _ = Describe("A namespace terminated under certsmith", Label("namespace"), func() {
	const ns = "node-term"

	It("lets the namespace go: no bundle re-created, no error loop, bundle coverage right", func(ctx SpecContext) {
		createNamespace(ns)
		apply(serviceCertificateYAML(ns, "app", ""))
		waitReady(ns, "app")
		Eventually(func() bool { return exists(ns, "configmap/"+bundleName) }).
			WithTimeout(30 * time.Second).WithPolling(time.Second).Should(BeTrue())
		since := time.Now().UTC()
		// Every ConfigMap and Secret created in the namespace from now on:
		// while it terminates, certsmith must create none.
		var mu sync.Mutex
		var recreated []string
		client := adminClient()
		watchCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		// Each watch starts at the resource version of a list, so it sees
		// only what changes after it: an ADDED event is a new object.
		configMaps, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		secrets, err := client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		for kind, w := range map[string]func() (watch.Interface, error){
			"configmap": func() (watch.Interface, error) {
				return client.CoreV1().ConfigMaps(ns).Watch(watchCtx, metav1.ListOptions{ResourceVersion: configMaps.ResourceVersion})
			},
			"secret": func() (watch.Interface, error) {
				return client.CoreV1().Secrets(ns).Watch(watchCtx, metav1.ListOptions{ResourceVersion: secrets.ResourceVersion})
			},
		} {
			watcher, err := w()
			Expect(err).NotTo(HaveOccurred())
			defer watcher.Stop()
			go func() {
				defer GinkgoRecover()
				for ev := range watcher.ResultChan() {
					obj, err := meta.Accessor(ev.Object)
					if err != nil || ev.Type != watch.Added {
						continue
					}
					mu.Lock()
					recreated = append(recreated, kind+"/"+obj.GetName())
					mu.Unlock()
				}
			}()
		}

		By("deleting the namespace: the namespace controller deletes its contents")
		_, err = cluster.Kubectl("delete", "namespace", ns, "--wait=true", "--timeout=90s")
		Expect(err).NotTo(HaveOccurred(), func() string {
			out, _ := cluster.Kubectl("get", "namespace", ns, "-o", "yaml")
			return "the namespace did not go away:\n" + out + "\n" + managerLog()
		})

		By("the bundle's coverage counts only the namespaces that remain (other specs' may still be terminating)")
		Eventually(func(g Gomega) {
			out, err := quiet.Kubectl("get", "namespaces", "-o", `jsonpath={range .items[?(@.status.phase=="Active")]}{.metadata.name}{" "}{end}`)
			g.Expect(err).NotTo(HaveOccurred())
			want := strconv.Itoa(len(strings.Fields(out)))
			g.Expect(jsonpath("", "clusterissuer/"+issuer, "{.status.bundle.namespaces}")).To(Equal(want))
			g.Expect(jsonpath("", "clusterissuer/"+issuer, "{.status.bundle.upToDate}")).To(Equal(want))
		}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())

		By("certsmith did not keep writing into the terminating namespace")
		Consistently(func() []string {
			return errorLines(since, ns)
		}).WithTimeout(10*time.Second).WithPolling(2*time.Second).Should(HaveLen(0), "the manager logged errors about "+ns)
		mu.Lock()
		defer mu.Unlock()
		Expect(recreated).To(BeEmpty(), "objects created in the namespace while it terminated")
	})
})

// errorLines returns the manager's error log lines since the given time
// that name the namespace.
func errorLines(since time.Time, namespace string) []string {
	GinkgoHelper()
	// The check reads JSON lines: the manager's log must be JSON (zap's
	// production encoder), and its container must not have restarted (the
	// log of an earlier one is gone).
	all, err := quiet.Kubectl(append([]string{"-n", operatorNamespace, "logs"}, managerPodsLogArgs...)...)
	Expect(err).NotTo(HaveOccurred())
	Expect(all).To(MatchRegexp(`(?m)^\{"level":"`), "the manager's log is not JSON")
	Expect(jsonpath(operatorNamespace, "deployment/"+managerDeployment, "{.status.readyReplicas}")).To(Equal(managerReplicas))
	pods, err := quiet.Kubectl("-n", operatorNamespace, "get", "pods", "-o", "jsonpath={.items[*].status.containerStatuses[*].restartCount}")
	Expect(err).NotTo(HaveOccurred())
	Expect(strings.Fields(pods)).To(HaveEach("0"), "the manager restarted")
	out, err := quiet.Kubectl(append([]string{"-n", operatorNamespace, "logs", "--since-time=" + since.Format(time.RFC3339)}, managerPodsLogArgs...)...)
	Expect(err).NotTo(HaveOccurred())
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `"level":"error"`) && strings.Contains(l, namespace) {
			lines = append(lines, l)
		}
	}
	return lines
}

// CSRs deleted by someone else, at each stage of an issuance, as
// kube-controller-manager's CSR cleaner deletes old ones: a watch deletes
// the ServiceCertificate's CSR the moment it reaches the stage, once.
var _ = Describe("CSRs deleted by someone else during an issuance", Label("csr"), func() {
	const ns = "node-csr"

	stages := map[string]func(*certificatesv1.CertificateSigningRequest) bool{
		"pending": func(*certificatesv1.CertificateSigningRequest) bool { return true },
		"approved": func(csr *certificatesv1.CertificateSigningRequest) bool {
			for _, c := range csr.Status.Conditions {
				if c.Type == certificatesv1.CertificateApproved {
					return true
				}
			}
			return false
		},
		"signed": func(csr *certificatesv1.CertificateSigningRequest) bool { return len(csr.Status.Certificate) > 0 },
	}

	It("restarts or completes the issuance, whatever the stage, and does not loop", func(ctx SpecContext) {
		createNamespace(ns)
		csrs := adminClient().CertificatesV1().CertificateSigningRequests()

		watchCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		w, err := csrs.Watch(watchCtx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()
		var mu sync.Mutex
		deleted := map[string]string{} // certificate → the CSR deleted
		var deleteErrors []error
		created := map[string]map[string]bool{}
		go func() {
			defer GinkgoRecover()
			for ev := range w.ResultChan() {
				csr, ok := ev.Object.(*certificatesv1.CertificateSigningRequest)
				if !ok || ev.Type == watch.Deleted {
					continue
				}
				owner := csr.Annotations["certsmith.io/service-certificate"]
				name, found := strings.CutPrefix(owner, ns+"/")
				if !found {
					continue
				}
				mu.Lock()
				if created[name] == nil {
					created[name] = map[string]bool{}
				}
				created[name][csr.Name] = true
				_, done := deleted[name]
				stage := stages[name]
				if !done && stage != nil && stage(csr) {
					deleted[name] = csr.Name
					mu.Unlock()
					if err := csrs.Delete(context.Background(), csr.Name, metav1.DeleteOptions{}); err != nil {
						mu.Lock()
						deleteErrors = append(deleteErrors, err)
						mu.Unlock()
					}
					continue
				}
				mu.Unlock()
			}
		}()

		for name := range stages {
			apply(serviceCertificateYAML(ns, name, ""))
		}
		for name := range stages {
			By("the certificate whose CSR was deleted when " + name + " becomes Ready")
			waitReady(ns, name)
			Eventually(func() string {
				mu.Lock()
				defer mu.Unlock()
				return deleted[name]
			}).WithTimeout(10*time.Second).ShouldNot(BeEmpty(), "no CSR of %s reached the stage %s", name, name)
			expectMatchingPair(ns, name+"-tls")
		}

		By("and then stays put: no new CSRs while nothing changes")
		counts := func() string {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Sprint(len(created["pending"]), len(created["approved"]), len(created["signed"]))
		}
		before := counts()
		Consistently(counts).WithTimeout(5 * time.Second).WithPolling(time.Second).Should(Equal(before))
		mu.Lock()
		defer mu.Unlock()
		Expect(deleteErrors).To(BeEmpty(), "a CSR could not be deleted: the stage was not tested")
		for name := range stages {
			// The deleted CSR and at most two more: one restarted issuance,
			// and one if the deletion raced with its completion.
			Expect(len(created[name])).To(BeNumerically("<=", 3), "%s: %d CSRs", name, len(created[name]))
		}
	})
})

// expectMatchingPair checks that a kubernetes.io/tls Secret's certificate
// and key belong together.
func expectMatchingPair(namespace, secret string) {
	GinkgoHelper()
	crt, err := base64.StdEncoding.DecodeString(jsonpath(namespace, "secret/"+secret, `{.data.tls\.crt}`))
	Expect(err).NotTo(HaveOccurred())
	key, err := base64.StdEncoding.DecodeString(jsonpath(namespace, "secret/"+secret, `{.data.tls\.key}`))
	Expect(err).NotTo(HaveOccurred())
	_, err = tls.X509KeyPair(crt, key)
	Expect(err).NotTo(HaveOccurred(), "secret %s/%s: certificate and key do not match", namespace, secret)
}
