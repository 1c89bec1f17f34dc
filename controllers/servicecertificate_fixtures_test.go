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

// Fixtures of the ServiceCertificate unit tests (servicecertificate_*_test.go):
// plain Go tests that need no API server. Certificates are made with
// internal/pki at a fixed time; a fake client stands in where a client is
// read.

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// scTestNow is the fixed start time of the unit tests.
var scTestNow = time.Date(2030, time.January, 1, 12, 0, 0, 0, time.UTC)

// scTestOperator is the operator's username in the unit tests.
const scTestOperator = "system:serviceaccount:certsmith-system:certsmith"

// scTestScheme knows the built-in types and certsmith's.
func scTestScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := certsmithv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

// scTestClient is a fake client holding objs, with the CSR owner index.
func scTestClient(t *testing.T, objs ...client.Object) client.WithWatch {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(scTestScheme(t)).WithObjects(objs...).
		WithIndex(&certificatesv1.CertificateSigningRequest{}, indexCSROwner, csrOwnerIndex).Build()
}

// scTestKey returns a new ECDSA P-256 key.
func scTestKey(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA, Size: 256})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// scTestCA returns a self-signed root CA named name, created at now.
func scTestCA(t *testing.T, name string, now time.Time) *pki.CA {
	t.Helper()
	key := scTestKey(t)
	cert, err := pki.NewSelfSignedCA(key, pki.CATemplate{Subject: pkix.Name{CommonName: name}, Duration: 365 * 24 * time.Hour, MaxPathLen: -1}, now)
	if err != nil {
		t.Fatal(err)
	}
	return &pki.CA{Certificate: cert, Key: key}
}

// scTestCertificate returns the ServiceCertificate shop/web of issuer corp,
// for web.shop.svc, with spec changed by edit.
func scTestCertificate(edit func(*certsmithv1alpha1.ServiceCertificateSpec)) *certsmithv1alpha1.ServiceCertificate {
	sc := &certsmithv1alpha1.ServiceCertificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: certsmithv1alpha1.GroupVersion.String(), Kind: "ServiceCertificate"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "uid-web", Generation: 1},
		Spec: certsmithv1alpha1.ServiceCertificateSpec{
			IssuerRef: certsmithv1alpha1.IssuerReference{Name: "corp"},
			DNSNames:  []string{"web.shop.svc"},
		},
	}
	if edit != nil {
		edit(&sc.Spec)
	}
	sc.Status.SecretName = sc.EffectiveSecretName()
	return sc
}

// scTestIssuer returns the ClusterIssuer corp.
func scTestIssuer() *certsmithv1alpha1.ClusterIssuer {
	return &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "corp"}}
}

// scTestRequest resolves sc's request with no Services in the namespace.
func scTestRequest(t *testing.T, sc *certsmithv1alpha1.ServiceCertificate) *certificateRequest {
	t.Helper()
	req, err := requestFromSpec(sc, scTestIssuer())
	if err == nil {
		_, err = req.addService(sc, nil, "cluster.local")
	}
	if err == nil {
		err = req.complete(sc)
	}
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// scTestIssued has ca sign req at now for lifetime and returns the Secret
// certsmith would have written for it, decoded.
func scTestIssued(t *testing.T, sc *certsmithv1alpha1.ServiceCertificate, req *certificateRequest, ca *pki.CA, now time.Time, lifetime time.Duration) *issuedCertificate {
	t.Helper()
	key := scTestKey(t)
	csrPEM, err := pki.BuildCSR(key, pki.CSRRequest{Subject: req.subject, DNSNames: req.dnsNames, IPAddresses: req.ipAddresses, URIs: req.uris})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Sign(pki.SignRequest{CSR: csr, Usages: req.usages, Duration: lifetime, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(key, req.keyEncoding)
	if err != nil {
		t.Fatal(err)
	}
	chain := append([]*x509.Certificate{leaf}, pki.Intermediates(ca)...)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: sc.Namespace, Name: sc.Status.SecretName, UID: "uid-secret",
			Annotations: issuedAnnotations(sc, req, 1)},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: pki.EncodeCertificatesPEM(chain...), corev1.TLSPrivateKeyKey: keyPEM},
	}
	issued := decodeSecret(secret)
	if issued.decodeErr != nil {
		t.Fatal(issued.decodeErr)
	}
	return issued
}

// scTestObserved is what observe would find for sc with the Secret issued
// (nil for none) from ca, ca being the issuer's only CA.
func scTestObserved(sc *certsmithv1alpha1.ServiceCertificate, req *certificateRequest, ca *pki.CA, issued *issuedCertificate) *observed {
	return &observed{sc: sc, issuer: scTestIssuer(), request: req, issued: issued,
		ca: &signingCA{CA: ca, bundle: pki.EncodeCertificatesPEM(ca.Certificate)}}
}

// scTestCSR is a CSR certsmith made for the ServiceCertificate owner ("ns/name"),
// created at created, for a request with the given hash.
func scTestCSR(name, owner, hash string, created time.Time) certificatesv1.CertificateSigningRequest {
	return certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.Time{Time: created},
			Annotations: map[string]string{certsmithv1alpha1.AnnotationServiceCertificate: owner, certsmithv1alpha1.AnnotationCertificateHash: hash}},
		Spec: certificatesv1.CertificateSigningRequestSpec{Username: scTestOperator, SignerName: "clusterissuers.certsmith.io/corp"},
	}
}

// scSigned marks csr as signed.
func scSigned(csr certificatesv1.CertificateSigningRequest) certificatesv1.CertificateSigningRequest {
	csr.Status.Certificate = []byte("signed")
	return csr
}

// scDenied marks csr as denied.
func scDenied(csr certificatesv1.CertificateSigningRequest) certificatesv1.CertificateSigningRequest {
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "NotMine", Message: "no"})
	return csr
}
