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
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/testutil"
)

const (
	timeout  = 30 * time.Second
	interval = 100 * time.Millisecond
)

var nameCounter atomic.Int64

// uniqueName returns a fresh name with a prefix, so specs never share objects.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, nameCounter.Add(1))
}

// newNamespace creates a namespace for one spec.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("ns")}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// newSelfSignedIssuer creates a ClusterIssuer with a generated root and waits until it is Ready.
func newSelfSignedIssuer() *certsmithv1alpha1.ClusterIssuer {
	issuer := &certsmithv1alpha1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("root")},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{
			SelfSigned: &certsmithv1alpha1.GeneratedCA{},
		}},
	}
	Expect(k8sClient.Create(ctx, issuer)).To(Succeed())
	return waitIssuerReady(issuer.Name)
}

// createCertificate creates a ServiceCertificate of an issuer for
// "<name>.<namespace>.svc", changed by mutate.
func createCertificate(namespace, issuerName, name string, mutate func(*certsmithv1alpha1.ServiceCertificateSpec)) *certsmithv1alpha1.ServiceCertificate {
	sc := &certsmithv1alpha1.ServiceCertificate{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: certsmithv1alpha1.ServiceCertificateSpec{
			IssuerRef: certsmithv1alpha1.IssuerReference{Name: issuerName},
			DNSNames:  []string{name + "." + namespace + ".svc"},
		},
	}
	if mutate != nil {
		mutate(&sc.Spec)
	}
	Expect(k8sClient.Create(ctx, sc)).To(Succeed())
	return sc
}

// waitIssuerReady waits for Ready=True and returns the issuer.
func waitIssuerReady(name string) *certsmithv1alpha1.ClusterIssuer {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, issuer)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeTrue(), "conditions: %+v", issuer.Status.Conditions)
	}, timeout, interval).Should(Succeed())
	return issuer
}

// waitCertificateReady waits for Ready=True and returns the ServiceCertificate.
func waitCertificateReady(namespace, name string) *certsmithv1alpha1.ServiceCertificate {
	sc := &certsmithv1alpha1.ServiceCertificate{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sc)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)).To(BeTrue(), "conditions: %+v", sc.Status.Conditions)
	}, timeout, interval).Should(Succeed())
	return sc
}

// waitCertificateCondition waits until Ready has the given status and reason.
func waitCertificateCondition(namespace, name string, status metav1.ConditionStatus, reason string) *certsmithv1alpha1.ServiceCertificate {
	sc := &certsmithv1alpha1.ServiceCertificate{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sc)).To(Succeed())
		c := meta.FindStatusCondition(sc.Status.Conditions, certsmithv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(status), "condition: %+v", c)
		g.Expect(c.Reason).To(Equal(reason), "condition: %+v", c)
	}, timeout, interval).Should(Succeed())
	return sc
}

// issuerCAFromSecret reads an issuer's CA from its CA Secret, independently
// of anything the code under test wrote into certificate Secrets.
func issuerCAFromSecret(issuer *certsmithv1alpha1.ClusterIssuer) []*x509.Certificate {
	secret := &corev1.Secret{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: issuer.Name + "-ca"}, secret)).To(Succeed())
	certs, err := pki.ParseCertificatesPEM(secret.Data[corev1.TLSCertKey])
	Expect(err).NotTo(HaveOccurred())
	return certs
}

// getSecret reads a Secret with the admin client.
func getSecret(namespace, name string) *corev1.Secret {
	secret := &corev1.Secret{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret)).To(Succeed())
	return secret
}

// expectMatchingPair checks that tls.key belongs to tls.crt and returns the chain.
func expectMatchingPair(secret *corev1.Secret) []*x509.Certificate {
	Expect(secret.Type).To(Equal(corev1.SecretTypeTLS))
	chain, err := pki.ParseCertificatesPEM(secret.Data[corev1.TLSCertKey])
	Expect(err).NotTo(HaveOccurred())
	key, err := pki.ParsePrivateKeyPEM(secret.Data[corev1.TLSPrivateKeyKey])
	Expect(err).NotTo(HaveOccurred())
	Expect(pki.KeyMatchesCertificate(key, chain[0])).To(BeTrue(), "tls.key does not match tls.crt")
	return chain
}

// containsPrivateKey reports whether a string carries PEM private key material.
func containsPrivateKey(s string) bool {
	return strings.Contains(s, "PRIVATE KEY")
}

// lintAll checks certificates with zlint's RFC 5280, 5480 and 8813 lints.
func lintAll(certs ...*x509.Certificate) {
	for _, cert := range certs {
		Expect(testutil.LintCertificate(cert)).To(Succeed(), "zlint: %s", cert.Subject)
	}
}

// pemBlock encodes DER bytes as one PEM block.
func pemBlock(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

// k8sManagerMapper is the REST mapper of the operator under test.
func k8sManagerMapper() meta.RESTMapper { return testMapper }

// noEvents is an event recorder that drops everything.
type noEvents struct{}

// Eventf implements events.EventRecorder.
func (noEvents) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...interface{}) {
}
