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
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// EncodePKCS12Keystore encodes a private key, its certificate and the rest
// of its chain as a PKCS#12 file protected by password, with modern
// algorithms (AES-256-CBC, PBKDF2, SHA-256 MAC). The standard library has
// no PKCS#12 encoder, so this uses go-pkcs12.
func EncodePKCS12Keystore(key crypto.Signer, chain []*x509.Certificate, password string) ([]byte, error) {
	if len(chain) == 0 {
		return nil, errors.New("encoding PKCS#12 keystore: no certificate")
	}
	data, err := pkcs12.Modern.Encode(key, chain[0], chain[1:], password)
	if err != nil {
		return nil, fmt.Errorf("encoding PKCS#12 keystore: %w", err)
	}
	return data, nil
}

// EncodePKCS12Truststore encodes trusted certificates as a PKCS#12 trust
// store protected by password.
func EncodePKCS12Truststore(certs []*x509.Certificate, password string) ([]byte, error) {
	data, err := pkcs12.Modern.EncodeTrustStore(certs, password)
	if err != nil {
		return nil, fmt.Errorf("encoding PKCS#12 truststore: %w", err)
	}
	return data, nil
}

// EncodePrivateKeyDER returns the private key as PKCS#8 DER.
func EncodePrivateKeyDER(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(normalizeSigner(key))
	if err != nil {
		return nil, fmt.Errorf("encoding private key as PKCS#8: %w", ErrUnsupportedKey)
	}
	return der, nil
}
