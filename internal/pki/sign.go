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

package pki

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// ErrCAExpired reports an attempt to sign with a CA whose certificate has
// expired at the given time.
var ErrCAExpired = errors.New("CA certificate has expired")

// Usage strings, exactly as the Kubernetes certificates.k8s.io KeyUsage type
// spells them.
const (
	// UsageSigning maps to the digital signature key usage.
	UsageSigning = "signing"
	// UsageDigitalSignature is the digital signature key usage.
	UsageDigitalSignature = "digital signature"
	// UsageContentCommitment is the content commitment (non-repudiation) key usage.
	UsageContentCommitment = "content commitment"
	// UsageKeyEncipherment is the key encipherment key usage.
	UsageKeyEncipherment = "key encipherment"
	// UsageKeyAgreement is the key agreement key usage.
	UsageKeyAgreement = "key agreement"
	// UsageDataEncipherment is the data encipherment key usage.
	UsageDataEncipherment = "data encipherment"
	// UsageCertSign is the certificate signing key usage, for CAs only.
	UsageCertSign = "cert sign"
	// UsageCRLSign is the CRL signing key usage.
	UsageCRLSign = "crl sign"
	// UsageEncipherOnly is the encipher only key usage.
	UsageEncipherOnly = "encipher only"
	// UsageDecipherOnly is the decipher only key usage.
	UsageDecipherOnly = "decipher only"
	// UsageAny is the anyExtendedKeyUsage extended key usage.
	UsageAny = "any"
	// UsageServerAuth is the TLS server authentication extended key usage.
	UsageServerAuth = "server auth"
	// UsageClientAuth is the TLS client authentication extended key usage.
	UsageClientAuth = "client auth"
	// UsageCodeSigning is the code signing extended key usage.
	UsageCodeSigning = "code signing"
	// UsageEmailProtection is the email protection extended key usage.
	UsageEmailProtection = "email protection"
	// UsageSMIME is an alias of UsageEmailProtection.
	UsageSMIME = "s/mime"
	// UsageIPsecEndSystem is the IPsec end system extended key usage.
	UsageIPsecEndSystem = "ipsec end system"
	// UsageIPsecTunnel is the IPsec tunnel extended key usage.
	UsageIPsecTunnel = "ipsec tunnel"
	// UsageIPsecUser is the IPsec user extended key usage.
	UsageIPsecUser = "ipsec user"
	// UsageTimestamping is the time stamping extended key usage.
	UsageTimestamping = "timestamping"
	// UsageOCSPSigning is the OCSP signing extended key usage.
	UsageOCSPSigning = "ocsp signing"
	// UsageMicrosoftSGC is the Microsoft server gated crypto extended key usage.
	UsageMicrosoftSGC = "microsoft sgc"
	// UsageNetscapeSGC is the Netscape server gated crypto extended key usage.
	UsageNetscapeSGC = "netscape sgc"
)

var keyUsages = map[string]x509.KeyUsage{
	UsageSigning:           x509.KeyUsageDigitalSignature,
	UsageDigitalSignature:  x509.KeyUsageDigitalSignature,
	UsageContentCommitment: x509.KeyUsageContentCommitment,
	UsageKeyEncipherment:   x509.KeyUsageKeyEncipherment,
	UsageKeyAgreement:      x509.KeyUsageKeyAgreement,
	UsageDataEncipherment:  x509.KeyUsageDataEncipherment,
	UsageCertSign:          x509.KeyUsageCertSign,
	UsageCRLSign:           x509.KeyUsageCRLSign,
	UsageEncipherOnly:      x509.KeyUsageEncipherOnly,
	UsageDecipherOnly:      x509.KeyUsageDecipherOnly,
}

var extKeyUsages = map[string]x509.ExtKeyUsage{
	UsageAny:             x509.ExtKeyUsageAny,
	UsageServerAuth:      x509.ExtKeyUsageServerAuth,
	UsageClientAuth:      x509.ExtKeyUsageClientAuth,
	UsageCodeSigning:     x509.ExtKeyUsageCodeSigning,
	UsageEmailProtection: x509.ExtKeyUsageEmailProtection,
	UsageSMIME:           x509.ExtKeyUsageEmailProtection,
	UsageIPsecEndSystem:  x509.ExtKeyUsageIPSECEndSystem,
	UsageIPsecTunnel:     x509.ExtKeyUsageIPSECTunnel,
	UsageIPsecUser:       x509.ExtKeyUsageIPSECUser,
	UsageTimestamping:    x509.ExtKeyUsageTimeStamping,
	UsageOCSPSigning:     x509.ExtKeyUsageOCSPSigning,
	UsageMicrosoftSGC:    x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	UsageNetscapeSGC:     x509.ExtKeyUsageNetscapeServerGatedCrypto,
}

// ParseUsages maps Kubernetes certificates.k8s.io usage strings to x509 key
// usages and extended key usages. Extended key usages come out in the order
// first requested, without duplicates. An unknown usage is an error that
// names it.
func ParseUsages(usages []string) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	var (
		keyUsage x509.KeyUsage
		ext      []x509.ExtKeyUsage
		seen     = map[x509.ExtKeyUsage]bool{}
	)
	for _, usage := range usages {
		if ku, ok := keyUsages[usage]; ok {
			keyUsage |= ku
			continue
		}
		eku, ok := extKeyUsages[usage]
		if !ok {
			return 0, nil, fmt.Errorf("unknown usage %q", usage)
		}
		if !seen[eku] {
			seen[eku] = true
			ext = append(ext, eku)
		}
	}
	return keyUsage, ext, nil
}

// SignRequest is what a CA needs to issue one certificate.
type SignRequest struct {
	// CSR supplies the subject, the subject alternative names and the
	// public key. Every other extension it requests is ignored.
	CSR *x509.CertificateRequest
	// Usages are Kubernetes certificates.k8s.io usage strings.
	Usages []string
	// Duration is the requested lifetime; it is capped at the CA's expiry.
	Duration time.Duration
	// IsCA asks for an intermediate CA certificate.
	IsCA bool
	// MaxPathLen is the path length constraint of a CA certificate (-1
	// unlimited, 0 leaves only, n > 0); it is ignored unless IsCA.
	MaxPathLen int
	// NameConstraints, for a CA certificate, bound the names it may sign;
	// nil means none. Ignored unless IsCA.
	NameConstraints *NameConstraints
	// Subject, when set, is the certificate's subject instead of the CSR's
	// (the caller checked these values; the CSR's encoding is not copied).
	Subject *pkix.Name
	// SANs, when set, are the certificate's subject alternative names
	// instead of the CSR's (a pod certificate's come from what the API
	// server verified of the pod; the CSR's are never read).
	SANs *SubjectAltNames
	// CRLDistributionPoints are URLs of the CA's CRL the certificate
	// names (none when empty).
	CRLDistributionPoints []string
	// Now is the current time.
	Now time.Time
}

// SubjectAltNames are the subject alternative names of a certificate.
type SubjectAltNames struct {
	DNSNames       []string
	IPAddresses    []net.IP
	URIs           []*url.URL
	EmailAddresses []string
}

// Sign issues a certificate for req.CSR, signed by ca.
//
// The certificate copies the CSR's subject and subject alternative names
// (DNS, IP, URI, email) and ignores any other requested extension. It gets a
// random 128-bit serial number, a subject key identifier, an authority key
// identifier equal to the CA's subject key identifier, and critical basic
// constraints. NotBefore is Now minus Backdate but never before the CA's
// NotBefore; NotAfter is Now plus Duration but never after the CA's
// NotAfter.
//
// Key usages that contradict the key type are dropped silently: key
// encipherment for ECDSA keys (RFC 5480), and key encipherment, key
// agreement, data encipherment, encipher only and decipher only for Ed25519
// keys (RFC 8410). A CA certificate always has cert sign, CRL sign and
// digital signature; "cert sign" on a non-CA certificate is refused.
//
// Sign refuses a CSR whose key is unsupported or weak (ErrUnsupportedKey) or
// whose signature does not verify (ErrBadCSRSignature), a CA whose
// certificate is not a CA or does not match its key, and a CA that has
// expired at Now (ErrCAExpired).
func (ca *CA) Sign(req SignRequest) (*x509.Certificate, error) {
	if err := ca.checkCanSign(req.Now); err != nil {
		return nil, err
	}
	csr := req.CSR
	if csr == nil {
		return nil, errors.New("signing: no certificate request")
	}
	spec, err := checkSignablePublicKey(csr.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if err := checkCSRSignature(csr); err != nil {
		return nil, fmt.Errorf("signing: %w: %w", ErrBadCSRSignature, err)
	}
	if req.Duration <= 0 {
		return nil, fmt.Errorf("signing: duration must be positive, got %s", req.Duration)
	}

	keyUsage, extKeyUsage, err := ParseUsages(req.Usages)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if keyUsage&x509.KeyUsageCertSign != 0 && !req.IsCA {
		return nil, fmt.Errorf("signing: usage %q is only allowed for CA certificates", UsageCertSign)
	}
	keyUsage = dropInconsistentKeyUsages(keyUsage, spec.Algorithm)

	serial, err := newSerialNumber()
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	ski, err := SubjectKeyID(csr.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	notBefore, notAfter := ca.validityWindow(req.Now, req.Duration)
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("signing: empty validity window: not before %s, not after %s",
			notBefore.Format(time.RFC3339), notAfter.Format(time.RFC3339))
	}

	template := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            csr.RawSubject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              keyUsage,
		ExtKeyUsage:           extKeyUsage,
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		AuthorityKeyId:        ca.Certificate.SubjectKeyId,
		DNSNames:              csr.DNSNames,
		IPAddresses:           csr.IPAddresses,
		URIs:                  csr.URIs,
		EmailAddresses:        csr.EmailAddresses,
		CRLDistributionPoints: req.CRLDistributionPoints,
	}
	if req.IsCA {
		if err := ca.checkCanSignCA(req.MaxPathLen); err != nil {
			return nil, fmt.Errorf("signing: %w", err)
		}
		template.IsCA = true
		template.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		if err := setMaxPathLen(template, req.MaxPathLen); err != nil {
			return nil, fmt.Errorf("signing: %w", err)
		}
		req.NameConstraints.apply(template)
	}
	if req.Subject != nil {
		template.RawSubject, template.Subject = nil, *req.Subject
	}
	if names := req.SANs; names != nil {
		template.DNSNames, template.IPAddresses, template.URIs, template.EmailAddresses =
			names.DNSNames, names.IPAddresses, names.URIs, names.EmailAddresses
	}

	der, err := x509.CreateCertificate(rand.Reader, template, ca.Certificate, csr.PublicKey, normalizeSigner(ca.Key))
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("signing: parsing the new certificate: %w", err)
	}
	return cert, nil
}

// checkCanSign verifies that ca is usable for signing at now.
func (ca *CA) checkCanSign(now time.Time) error {
	if ca == nil || ca.Certificate == nil || ca.Key == nil {
		return errors.New("signing: CA needs a certificate and a key")
	}
	cert := ca.Certificate
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return errors.New("signing: the CA certificate is not a CA (basic constraints CA:FALSE or missing)")
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("signing: the CA certificate lacks the cert sign key usage")
	}
	if !KeyMatchesCertificate(ca.Key, cert) {
		return errors.New("signing: the CA key does not match the CA certificate")
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("signing: %w: it expired at %s", ErrCAExpired, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkCanSignCA verifies that the CA's own path length constraint leaves
// room for a CA certificate below it with path length maxPathLen.
func (ca *CA) checkCanSignCA(maxPathLen int) error {
	cert := ca.Certificate
	parentLimited := cert.MaxPathLen > 0 || (cert.MaxPathLen == 0 && cert.MaxPathLenZero)
	if !parentLimited {
		return nil
	}
	if cert.MaxPathLen == 0 {
		return errors.New("the CA's path length constraint (0) allows only leaf certificates below it")
	}
	if maxPathLen < 0 || maxPathLen >= cert.MaxPathLen {
		return fmt.Errorf("requested max path length %d must be less than the CA's (%d)", maxPathLen, cert.MaxPathLen)
	}
	return nil
}

// validityWindow returns the NotBefore and NotAfter of a certificate issued
// at now for duration, clamped to the CA's own validity. Times are whole
// seconds, as X.509 encodes them.
func (ca *CA) validityWindow(now time.Time, duration time.Duration) (notBefore, notAfter time.Time) {
	now = now.UTC()
	notBefore = now.Add(-Backdate).Truncate(time.Second)
	if caNotBefore := ca.Certificate.NotBefore; notBefore.Before(caNotBefore) {
		notBefore = caNotBefore.UTC()
	}
	notAfter = now.Add(duration).Truncate(time.Second)
	if caNotAfter := ca.Certificate.NotAfter; notAfter.After(caNotAfter) {
		notAfter = caNotAfter.UTC()
	}
	return notBefore, notAfter
}

// checkSignablePublicKey returns the spec of pub if certsmith will sign a
// certificate for it: a supported algorithm and curve, and RSA keys of at
// least MinRSAKeySize bits.
func checkSignablePublicKey(pub any) (KeySpec, error) {
	if pub == nil {
		return KeySpec{}, fmt.Errorf("%w: the request has no public key (unknown key algorithm)", ErrUnsupportedKey)
	}
	spec, err := KeySpecOf(pub)
	if err != nil {
		return KeySpec{}, err
	}
	if k, ok := pub.(*rsa.PublicKey); ok {
		if err := checkRSASize(k); err != nil {
			return KeySpec{}, err
		}
	}
	return spec, nil
}

// checkRSASize refuses RSA keys outside [MinRSAKeySize, MaxRSAKeySize].
func checkRSASize(k *rsa.PublicKey) error {
	switch bits := k.N.BitLen(); {
	case bits < MinRSAKeySize:
		return fmt.Errorf("%w: RSA key of %d bits is below the minimum of %d", ErrUnsupportedKey, bits, MinRSAKeySize)
	case bits > MaxRSAKeySize:
		return fmt.Errorf("%w: RSA key of %d bits is above the maximum of %d", ErrUnsupportedKey, bits, MaxRSAKeySize)
	}
	return nil
}

// dropInconsistentKeyUsages removes the key usages that a key of algorithm
// alg cannot serve.
func dropInconsistentKeyUsages(keyUsage x509.KeyUsage, alg KeyAlgorithm) x509.KeyUsage {
	switch alg {
	case KeyAlgorithmECDSA:
		// RFC 5480, section 3: ECDSA keys cannot encrypt keys.
		return keyUsage &^ x509.KeyUsageKeyEncipherment
	case KeyAlgorithmEd25519:
		// RFC 8410, section 5: Ed25519 keys only sign.
		return keyUsage &^ (x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement |
			x509.KeyUsageDataEncipherment | x509.KeyUsageEncipherOnly | x509.KeyUsageDecipherOnly)
	default:
		return keyUsage
	}
}

// NameConstraints are the X.509 name constraints of a CA certificate
// (RFC 5280, section 4.2.1.10): names it may and may not sign. An empty
// string in an excluded list excludes every name of that type.
type NameConstraints struct {
	PermittedDNSDomains    []string
	ExcludedDNSDomains     []string
	PermittedIPRanges      []*net.IPNet
	ExcludedIPRanges       []*net.IPNet
	PermittedURIDomains    []string
	ExcludedURIDomains     []string
	ExcludedEmailAddresses []string
}

// apply puts the constraints, marked critical, into a CA template.
func (c *NameConstraints) apply(template *x509.Certificate) {
	if c == nil {
		return
	}
	template.PermittedDNSDomainsCritical = true
	template.PermittedDNSDomains, template.ExcludedDNSDomains = c.PermittedDNSDomains, c.ExcludedDNSDomains
	template.PermittedIPRanges, template.ExcludedIPRanges = c.PermittedIPRanges, c.ExcludedIPRanges
	template.PermittedURIDomains, template.ExcludedURIDomains = c.PermittedURIDomains, c.ExcludedURIDomains
	template.ExcludedEmailAddresses = c.ExcludedEmailAddresses
}
