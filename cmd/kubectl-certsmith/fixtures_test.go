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
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"time"

	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// newKey generates a key for a test certificate.
func newKey(spec pki.KeySpec) crypto.Signer {
	key, err := pki.GenerateKey(spec)
	Expect(err).NotTo(HaveOccurred())
	return key
}

// newRootCA makes a self-signed root CA valid around testNow.
func newRootCA(commonName string) *pki.CA {
	key := newKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
	cert, err := pki.NewSelfSignedCA(key, pki.CATemplate{
		Subject:    pkix.Name{CommonName: commonName},
		Duration:   365 * 24 * time.Hour,
		MaxPathLen: -1,
	}, testNow)
	Expect(err).NotTo(HaveOccurred())
	return &pki.CA{Certificate: cert, Key: key}
}

// signRequest signs a CSR for key and names with ca.
func signRequest(ca *pki.CA, key crypto.Signer, names pki.CSRRequest, usages []string, duration time.Duration, isCA bool) *x509.Certificate {
	csrPEM, err := pki.BuildCSR(key, names)
	Expect(err).NotTo(HaveOccurred())
	csr, err := pki.ParseCSR(csrPEM)
	Expect(err).NotTo(HaveOccurred())
	cert, err := ca.Sign(pki.SignRequest{CSR: csr, Usages: usages, Duration: duration, IsCA: isCA, Now: testNow})
	Expect(err).NotTo(HaveOccurred())
	return cert
}

// newIntermediateCA makes a CA signed by parent that signs only leaves.
func newIntermediateCA(parent *pki.CA, commonName string) *pki.CA {
	key := newKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
	csrPEM, err := pki.BuildCSR(key, pki.CSRRequest{Subject: pkix.Name{CommonName: commonName}})
	Expect(err).NotTo(HaveOccurred())
	csr, err := pki.ParseCSR(csrPEM)
	Expect(err).NotTo(HaveOccurred())
	cert, err := parent.Sign(pki.SignRequest{CSR: csr, Duration: 180 * 24 * time.Hour, IsCA: true, MaxPathLen: 0, Now: testNow})
	Expect(err).NotTo(HaveOccurred())
	return &pki.CA{Certificate: cert, Chain: append([]*x509.Certificate{parent.Certificate}, parent.Chain...), Key: key}
}

// leafNames are the names of the leaf certificate in the inspect tests.
var leafNames = pki.CSRRequest{
	Subject:     pkix.Name{CommonName: "web.shop.svc", Organization: []string{"Shop"}},
	DNSNames:    []string{"web.shop.svc", "web.shop.svc.cluster.local"},
	IPAddresses: []net.IP{net.ParseIP("10.96.0.10"), net.ParseIP("2001:db8::10")},
	URIs:        []*url.URL{{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/shop/sa/web"}},
}

// operatorSecretMetadata returns the labels and annotations that the
// operator writes on the Secret of a ServiceCertificate (storeCertificate
// and desiredSecret in controllers/secret.go): the only label is
// app.kubernetes.io/managed-by; the owning ServiceCertificate, the issuer
// and the revision are annotations.
func operatorSecretMetadata(owner, issuer string, revision int) (labels, annotations map[string]string) {
	labels = map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue}
	annotations = map[string]string{
		certsmithv1alpha1.AnnotationServiceCertificate: owner,
		certsmithv1alpha1.AnnotationIssuerName:         issuer,
		certsmithv1alpha1.AnnotationRevision:           strconv.Itoa(revision),
	}
	return labels, annotations
}

// pemKey encodes key as tls.key does.
func pemKey(key crypto.Signer) []byte {
	data, err := pki.EncodePrivateKeyPEM(key, pki.KeyEncodingPKCS1)
	Expect(err).NotTo(HaveOccurred())
	return data
}

// csrPEMFor returns a PEM CSR for names with a fresh key.
func csrPEMFor(names pki.CSRRequest) []byte {
	csrPEM, err := pki.BuildCSR(newKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA}), names)
	Expect(err).NotTo(HaveOccurred())
	return csrPEM
}

// createCSR creates a CertificateSigningRequest for signerName.
func createCSR(name, signerName string) *certificatesv1.CertificateSigningRequest {
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    csrPEMFor(pki.CSRRequest{Subject: pkix.Name{CommonName: name + ".example.com"}, DNSNames: []string{name + ".example.com"}}),
			SignerName: signerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
		},
	}
	Expect(k8sClient.Create(ctx, csr)).To(Succeed())
	return csr
}

// createClusterIssuer creates a self-signed ClusterIssuer with an optional
// custom signerName, then writes status as an operator would.
func createClusterIssuer(name, signerName string, status certsmithv1alpha1.ClusterIssuerStatus) *certsmithv1alpha1.ClusterIssuer {
	issuer := &certsmithv1alpha1.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{
			CA:         certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}},
			SignerName: signerName,
		},
	}
	Expect(k8sClient.Create(ctx, issuer)).To(Succeed())
	if !reflect.DeepEqual(status, certsmithv1alpha1.ClusterIssuerStatus{}) {
		issuer.Status = status
		Expect(k8sClient.Status().Update(ctx, issuer)).To(Succeed())
	}
	return issuer
}

// readyCondition returns a Ready condition for a status.
func readyCondition(status metav1.ConditionStatus, reason, message string, since time.Time) metav1.Condition {
	return metav1.Condition{
		Type: certsmithv1alpha1.ConditionReady, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(since),
	}
}

// newStubRequest returns what the kubelet puts into a PodCertificateRequest
// for key: an empty PKCS#10 request (DER) that only proves the key.
func newStubRequest(key crypto.Signer) ([]byte, error) {
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
}

// signPodCertificate signs with ca a pod certificate for the key of stub,
// carrying sans, issued at now (backdated as certsmith does) for lifetime.
func signPodCertificate(ca *pki.CA, stub []byte, sans pki.SubjectAltNames, now time.Time, lifetime time.Duration) (*x509.Certificate, error) {
	csr, err := x509.ParseCertificateRequest(stub)
	if err != nil {
		return nil, err
	}
	return ca.Sign(pki.SignRequest{
		CSR:      csr,
		Usages:   []string{pki.UsageDigitalSignature, pki.UsageClientAuth, pki.UsageServerAuth},
		Duration: lifetime,
		Subject:  &pkix.Name{},
		SANs:     &sans,
		Now:      now,
	})
}

// configMapWith is a bundle ConfigMap of issuer, with the labels that
// certsmith's bundle controller writes, holding data.
func configMapWith(namespace, name, issuer string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{
			certsmithv1alpha1.LabelManagedBy:    certsmithv1alpha1.ManagedByValue,
			certsmithv1alpha1.LabelBundleIssuer: issuer,
		}},
		Data: data,
	}
}
