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
	"context"
	"crypto/sha256"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// errCANotReady is returned when an issuer cannot sign yet.
var errCANotReady = errors.New("issuer CA is not ready")

// caSecretName is the Secret, in the operator's namespace, that holds the
// CA an issuer signs with: "<issuer>-ca" for a CA that certsmith generates,
// "<issuer>-imported-ca" for the copy of an imported one (never the user's
// own Secret).
func caSecretName(issuer *certsmithv1alpha1.ClusterIssuer) string {
	if ref := issuer.Spec.CA.SecretRef; ref != nil {
		name := issuer.Name + "-imported-ca"
		if name == ref.Name {
			name += "-copy"
		}
		return name
	}
	return issuer.Name + "-ca"
}

// caSecretKey returns where an issuer's CA in use lives: the Secret
// caSecretName names, in the operator's namespace, which certsmith owns for
// every kind of issuer (for an imported CA it holds a copy, so that a new CA
// put into the user's Secret can be rotated in with an overlap).
func caSecretKey(issuer *certsmithv1alpha1.ClusterIssuer, namespace string) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: caSecretName(issuer)}
}

// importedSecretKey returns the user's Secret that spec.ca.secretRef names.
func importedSecretKey(issuer *certsmithv1alpha1.ClusterIssuer, namespace string) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: issuer.Spec.CA.SecretRef.Name}
}

// parseCASecret loads a CA from a kubernetes.io/tls Secret (pki.ParseCA):
// tls.crt holds the CA certificate followed by its chain, tls.key its key,
// and the optional ca.crt the root when tls.crt does not end in one. The
// error names the Secret and the key that is wrong, never key material.
func parseCASecret(secret *corev1.Secret) (*pki.CA, error) {
	ca, err := pki.ParseCA(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey], secret.Data[caCertKey])
	var parseErr *pki.CAParseError
	if errors.As(err, &parseErr) {
		field := map[string]string{"certificate": corev1.TLSCertKey, "key": corev1.TLSPrivateKeyKey, "roots": caCertKey}[parseErr.Part]
		if errors.Is(err, pki.ErrNoCertificate) || errors.Is(err, pki.ErrNoKey) {
			return nil, fmt.Errorf("secret %s/%s has no %s", secret.Namespace, secret.Name, field)
		}
		return nil, fmt.Errorf("secret %s/%s: %s: %w", secret.Namespace, secret.Name, field, parseErr.Err)
	}
	return ca, err
}

// loadIssuerCA reads an issuer's CA through reader. It returns errCANotReady
// (wrapped) when the issuer is not Ready, so callers can tell "wait" from
// "broken".
func loadIssuerCA(ctx context.Context, reader client.Reader, namespace string, issuer *certsmithv1alpha1.ClusterIssuer) (*pki.CA, error) {
	if !isReady(issuer.Status.Conditions) {
		return nil, fmt.Errorf("%w: ClusterIssuer %s", errCANotReady, issuer.Name)
	}
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, caSecretKey(issuer, namespace), secret); err != nil {
		return nil, fmt.Errorf("reading CA of ClusterIssuer %s: %w", issuer.Name, err)
	}
	return parsedCAs.parse(secret)
}

// parsedCAs is the CA of each CA Secret as last parsed, shared by the
// controllers that sign and check chains, by Secret. Parsing a CA Secret (PEM, the
// certificates, the key, key against certificate) was ~15% of the
// manager's CPU in a burst of issuances, each of which loads its issuer's
// CA several times.
var parsedCAs = caMemo{of: map[types.NamespacedName]parsedCA{}}

// caMemoSize bounds the CAs remembered: one per CA Secret; when full, it
// starts over.
const caMemoSize = 256

// caMemo remembers a parsed CA per Secret, valid for exactly the bytes it
// was parsed from (tls.crt, tls.key and ca.crt, by digest): a Secret whose content
// changed in any way is parsed afresh. The CA handed out is shared and must
// not be changed. Failures are not remembered.
type caMemo struct {
	mu sync.Mutex
	of map[types.NamespacedName]parsedCA
}

type parsedCA struct {
	// content is a digest of the bytes the CA was parsed from, so that the
	// memo keeps no second copy of the key.
	content [sha256.Size]byte
	ca      *pki.CA
}

// caContent digests what a CA is parsed from: tls.crt, tls.key, ca.crt.
func caContent(secret *corev1.Secret) [sha256.Size]byte {
	return pki.DigestOfParts(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey], secret.Data[caCertKey])
}

// parse returns the CA in secret, parsed once per content.
func (m *caMemo) parse(secret *corev1.Secret) (*pki.CA, error) {
	key := client.ObjectKeyFromObject(secret)
	content := caContent(secret)
	m.mu.Lock()
	e, ok := m.of[key]
	m.mu.Unlock()
	if ok && e.content == content {
		return e.ca, nil
	}
	ca, err := parseCASecret(secret)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.of) >= caMemoSize {
		clear(m.of)
	}
	m.of[key] = parsedCA{content: content, ca: ca}
	return ca, nil
}

// subjectFrom turns an API subject into a pkix.Name.
func subjectFrom(s *certsmithv1alpha1.X509Subject, fallbackCN string) pkix.Name {
	name := pkix.Name{CommonName: fallbackCN}
	if s == nil {
		return name
	}
	if s.CommonName != "" {
		name.CommonName = s.CommonName
	}
	name.Organization = s.Organizations
	name.OrganizationalUnit = s.OrganizationalUnits
	name.Country = s.Countries
	name.Province = s.Provinces
	name.Locality = s.Localities
	return name
}

// keySpecFrom turns an API private key description into a pki.KeySpec.
func keySpecFrom(k *certsmithv1alpha1.PrivateKey) pki.KeySpec {
	spec := pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA}
	if k == nil {
		return spec
	}
	if k.Algorithm != "" {
		spec.Algorithm = pki.KeyAlgorithm(k.Algorithm)
	}
	spec.Size = int(k.Size)
	return spec
}
