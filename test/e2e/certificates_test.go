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
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Helpers that read ServiceCertificates, their Secrets and their CSRs with
// kubectl and check them in Go, for specs that handle many certificates at
// once. They return errors instead of failing, so that they can be polled.

// Annotations and labels certsmith sets, as the API package names them.
const (
	serviceCertificateAnnotation = "certsmith.io/service-certificate"
	renewRequestedAtAnnotation   = "certsmith.io/renew-requested-at"
	revisionAnnotation           = "certsmith.io/revision"
)

// serviceCertificateObject is the part of a ServiceCertificate the specs read.
type serviceCertificateObject struct {
	Metadata struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Status struct {
		Conditions []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"conditions"`
		SecretName                string     `json:"secretName"`
		NotBefore                 *time.Time `json:"notBefore"`
		NotAfter                  *time.Time `json:"notAfter"`
		RenewalTime               *time.Time `json:"renewalTime"`
		SerialNumber              string     `json:"serialNumber"`
		Revision                  int64      `json:"revision"`
		CertificateSigningRequest string     `json:"certificateSigningRequest"`
		LastRenewRequest          string     `json:"lastRenewRequest"`
	} `json:"status"`
}

// ready says whether the Ready condition is True.
func (sc *serviceCertificateObject) ready() bool {
	return sc.condition("Ready") == "True"
}

// condition returns the status of a condition ("True", "False", "Unknown"),
// or "" when there is none.
func (sc *serviceCertificateObject) condition(conditionType string) string {
	for _, c := range sc.Status.Conditions {
		if c.Type == conditionType {
			return c.Status
		}
	}
	return ""
}

// readyMessage describes the Ready condition, for failure messages.
func (sc *serviceCertificateObject) readyMessage() string {
	for _, c := range sc.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status + " " + c.Reason + ": " + c.Message
		}
	}
	return "no Ready condition"
}

// listServiceCertificates returns the ServiceCertificates of a namespace by name.
func listServiceCertificates(namespace string) (map[string]*serviceCertificateObject, error) {
	out, err := cluster.Kubectl("get", "servicecertificates", "-n", namespace, "-o", "json")
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []*serviceCertificateObject `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, err
	}
	byName := make(map[string]*serviceCertificateObject, len(list.Items))
	for _, sc := range list.Items {
		byName[sc.Metadata.Name] = sc
	}
	return byName, nil
}

// getServiceCertificate reads one ServiceCertificate.
func getServiceCertificate(namespace, name string) (*serviceCertificateObject, error) {
	out, err := cluster.Kubectl("get", "servicecertificate", name, "-n", namespace, "-o", "json")
	if err != nil {
		return nil, err
	}
	var sc serviceCertificateObject
	if err := json.Unmarshal([]byte(out), &sc); err != nil {
		return nil, err
	}
	return &sc, nil
}

// secretObject is the part of a Secret the specs read.
type secretObject struct {
	Metadata struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Type string            `json:"type"`
	Data map[string][]byte `json:"data"`
}

// listSecrets returns the Secrets of a namespace by name.
func listSecrets(namespace string) (map[string]*secretObject, error) {
	out, err := cluster.Kubectl("get", "secrets", "-n", namespace, "-o", "json")
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []*secretObject `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, err
	}
	byName := make(map[string]*secretObject, len(list.Items))
	for _, s := range list.Items {
		byName[s.Metadata.Name] = s
	}
	return byName, nil
}

// csrObject is the part of a CertificateSigningRequest the specs read.
type csrObject struct {
	Metadata struct {
		Name              string            `json:"name"`
		Annotations       map[string]string `json:"annotations"`
		CreationTimestamp time.Time         `json:"creationTimestamp"`
	} `json:"metadata"`
	Spec struct {
		Request    []byte `json:"request"`
		SignerName string `json:"signerName"`
		Username   string `json:"username"`
	} `json:"spec"`
	Status struct {
		Certificate []byte `json:"certificate"`
		Conditions  []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
	// raw is the object as the API server returned it.
	raw string
}

// owner is the ServiceCertificate ("namespace/name") the CSR was made for.
func (csr *csrObject) owner() string {
	return csr.Metadata.Annotations[serviceCertificateAnnotation]
}

// signed says whether the CSR has a certificate.
func (csr *csrObject) signed() bool {
	return len(csr.Status.Certificate) > 0
}

// failed says whether the CSR was denied or failed.
func (csr *csrObject) failed() bool {
	for _, c := range csr.Status.Conditions {
		if (c.Type == "Denied" || c.Type == "Failed") && c.Status == "True" {
			return true
		}
	}
	return false
}

// finished says whether the CSR is signed, denied or failed: no longer in flight.
func (csr *csrObject) finished() bool {
	return csr.signed() || csr.failed()
}

// holdsPrivateKey says whether a private key shows anywhere in the CSR: in
// the object, or PEM-encoded in its request or certificate (which the JSON
// holds base64-encoded).
func (csr *csrObject) holdsPrivateKey() bool {
	return strings.Contains(csr.raw, "PRIVATE KEY") ||
		strings.Contains(string(csr.Spec.Request), "PRIVATE KEY") ||
		strings.Contains(string(csr.Status.Certificate), "PRIVATE KEY")
}

// listCSRsOf returns the CSRs made for the ServiceCertificates of a
// namespace (annotated "namespace/..."), grouped by owner.
func listCSRsOf(namespace string) (map[string][]*csrObject, error) {
	out, err := cluster.Kubectl("get", "certificatesigningrequests", "-o", "json")
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, err
	}
	byOwner := map[string][]*csrObject{}
	for _, raw := range list.Items {
		csr := &csrObject{raw: string(raw)}
		if err := json.Unmarshal(raw, csr); err != nil {
			return nil, err
		}
		if strings.HasPrefix(csr.owner(), namespace+"/") {
			byOwner[csr.owner()] = append(byOwner[csr.owner()], csr)
		}
	}
	return byOwner, nil
}

// parseCertificates parses PEM certificates.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certificates []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a PEM block of type %q among the certificates", block.Type)
		}
		certificate, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certificates = append(certificates, certificate)
	}
	if len(certificates) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certificates, nil
}

// parsePrivateKey parses a PEM private key: PKCS#8, SEC 1 (EC) or PKCS#1 (RSA).
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a PEM block of type %q, not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", key)
	}
	return signer, nil
}

// checkTLSSecret checks a kubernetes.io/tls Secret issued for dnsName: the
// key in tls.key belongs to the leaf in tls.crt, and the leaf verifies for
// dnsName and server auth against roots. It returns the leaf.
func checkTLSSecret(s *secretObject, roots *x509.CertPool, dnsName string) (*x509.Certificate, error) {
	if s.Type != "kubernetes.io/tls" {
		return nil, fmt.Errorf("Secret %s has type %q", s.Metadata.Name, s.Type)
	}
	chain, err := parseCertificates(s.Data["tls.crt"])
	if err != nil {
		return nil, fmt.Errorf("Secret %s, tls.crt: %w", s.Metadata.Name, err)
	}
	leaf := chain[0]
	key, err := parsePrivateKey(s.Data["tls.key"])
	if err != nil {
		return nil, fmt.Errorf("Secret %s, tls.key: %w", s.Metadata.Name, err)
	}
	publicKey, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("Secret %s, tls.key: %w", s.Metadata.Name, err)
	}
	if string(publicKey) != string(leaf.RawSubjectPublicKeyInfo) {
		return nil, fmt.Errorf("Secret %s: tls.key does not belong to the certificate %x in tls.crt", s.Metadata.Name, leaf.SerialNumber)
	}
	intermediates := x509.NewCertPool()
	for _, certificate := range chain[1:] {
		intermediates.AddCert(certificate)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		DNSName:       dnsName,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, fmt.Errorf("Secret %s: the certificate %x does not verify: %w", s.Metadata.Name, leaf.SerialNumber, err)
	}
	return leaf, nil
}

// issuerRoots returns a pool with the CA certificate of a ClusterIssuer
// that certsmith generated (tls.crt of the Secret <issuer>-ca).
func issuerRoots(issuer string) (*x509.CertPool, error) {
	out, err := cluster.Kubectl("get", "secret", issuer+"-ca", "-n", operatorNamespace, "-o", "json")
	if err != nil {
		return nil, err
	}
	var s secretObject
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return nil, err
	}
	certificates, err := parseCertificates(s.Data["tls.crt"])
	if err != nil {
		return nil, fmt.Errorf("Secret %s/%s-ca, tls.crt: %w", operatorNamespace, issuer, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(certificates[0])
	return roots, nil
}
