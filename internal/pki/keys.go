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
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// KeyAlgorithm names a public key algorithm that certsmith can generate keys
// for and sign certificates for.
type KeyAlgorithm string

const (
	// KeyAlgorithmECDSA is ECDSA over the NIST curves P-256, P-384 or P-521.
	KeyAlgorithmECDSA KeyAlgorithm = "ECDSA"
	// KeyAlgorithmRSA is RSA with a modulus of 2048, 3072 or 4096 bits.
	KeyAlgorithmRSA KeyAlgorithm = "RSA"
	// KeyAlgorithmEd25519 is Ed25519 (RFC 8032); it has no size parameter.
	KeyAlgorithmEd25519 KeyAlgorithm = "Ed25519"
)

// Default key sizes used when KeySpec.Size is zero.
const (
	// DefaultRSAKeySize is the RSA modulus size used when KeySpec.Size is 0.
	DefaultRSAKeySize = 2048
	// DefaultECDSAKeySize is the ECDSA curve size used when KeySpec.Size is 0.
	DefaultECDSAKeySize = 256
	// MinRSAKeySize is the smallest RSA modulus that certsmith signs
	// certificates for.
	MinRSAKeySize = 2048
	// MaxRSAKeySize is the largest RSA modulus that certsmith signs
	// certificates for, the largest it generates: verifying a CSR signed by
	// a much larger key costs the signer far more CPU for nothing.
	MaxRSAKeySize = 4096
)

// ErrUnsupportedKey reports a key whose algorithm, curve or size certsmith
// does not support.
var ErrUnsupportedKey = errors.New("unsupported key")

// KeySpec describes a key to generate, or the shape of an existing one.
//
// Size is the RSA modulus size in bits (2048, 3072 or 4096; 0 means 2048) or
// the ECDSA curve size (256, 384 or 521; 0 means 256). It is ignored for
// Ed25519.
type KeySpec struct {
	Algorithm KeyAlgorithm
	Size      int
}

// String returns the spec in a human-readable form such as "ECDSA-256".
func (s KeySpec) String() string {
	if s.Algorithm == KeyAlgorithmEd25519 {
		return string(s.Algorithm)
	}
	return fmt.Sprintf("%s-%d", s.Algorithm, s.Size)
}

// GenerateKey generates a new private key as described by spec. It returns
// an error wrapping ErrUnsupportedKey for an unknown algorithm or size.
func GenerateKey(spec KeySpec) (crypto.Signer, error) {
	switch spec.Algorithm {
	case KeyAlgorithmRSA:
		bits := spec.Size
		if bits == 0 {
			bits = DefaultRSAKeySize
		}
		switch bits {
		case 2048, 3072, 4096:
		default:
			return nil, fmt.Errorf("%w: RSA key size %d (supported: 2048, 3072, 4096)", ErrUnsupportedKey, spec.Size)
		}
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, fmt.Errorf("generating RSA-%d key: %w", bits, err)
		}
		return key, nil
	case KeyAlgorithmECDSA:
		size := spec.Size
		if size == 0 {
			size = DefaultECDSAKeySize
		}
		curve, err := curveForSize(size)
		if err != nil {
			return nil, err
		}
		key, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating ECDSA-%d key: %w", size, err)
		}
		return key, nil
	case KeyAlgorithmEd25519:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating Ed25519 key: %w", err)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("%w: algorithm %q (supported: %s, %s, %s)", ErrUnsupportedKey,
			spec.Algorithm, KeyAlgorithmECDSA, KeyAlgorithmRSA, KeyAlgorithmEd25519)
	}
}

func curveForSize(size int) (elliptic.Curve, error) {
	switch size {
	case 256:
		return elliptic.P256(), nil
	case 384:
		return elliptic.P384(), nil
	case 521:
		return elliptic.P521(), nil
	default:
		return nil, fmt.Errorf("%w: ECDSA curve size %d (supported: 256, 384, 521)", ErrUnsupportedKey, size)
	}
}

// KeyEncoding selects the PEM encoding of a private key.
type KeyEncoding string

const (
	// KeyEncodingPKCS1 is the traditional per-algorithm encoding: PKCS#1
	// "RSA PRIVATE KEY" for RSA and SEC 1 "EC PRIVATE KEY" for ECDSA.
	// Ed25519 has no such encoding and always uses PKCS#8.
	KeyEncodingPKCS1 KeyEncoding = "PKCS1"
	// KeyEncodingPKCS8 is the algorithm-independent PKCS#8 "PRIVATE KEY".
	KeyEncodingPKCS8 KeyEncoding = "PKCS8"
)

// PEM block types of private keys.
const (
	// PEMTypeRSAPrivateKey is the PEM block type of a PKCS#1 RSA private key.
	PEMTypeRSAPrivateKey = "RSA PRIVATE KEY"
	// PEMTypeECPrivateKey is the PEM block type of a SEC 1 EC private key.
	PEMTypeECPrivateKey = "EC PRIVATE KEY"
	// PEMTypePrivateKey is the PEM block type of a PKCS#8 private key.
	PEMTypePrivateKey = "PRIVATE KEY"
)

// EncodePrivateKeyPEM encodes key as a single PEM block. With
// KeyEncodingPKCS1 (or an empty encoding) RSA keys become "RSA PRIVATE KEY"
// (PKCS#1) and ECDSA keys "EC PRIVATE KEY" (SEC 1); Ed25519 keys are always
// PKCS#8 "PRIVATE KEY". With KeyEncodingPKCS8 every key is PKCS#8.
func EncodePrivateKeyPEM(key crypto.Signer, encoding KeyEncoding) ([]byte, error) {
	key = normalizeSigner(key)
	switch encoding {
	case "", KeyEncodingPKCS1, KeyEncodingPKCS8:
	default:
		return nil, fmt.Errorf("unsupported private key encoding %q (supported: %s, %s)", encoding, KeyEncodingPKCS1, KeyEncodingPKCS8)
	}
	var (
		blockType string
		der       []byte
		err       error
	)
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if encoding == KeyEncodingPKCS8 {
			blockType = PEMTypePrivateKey
			der, err = x509.MarshalPKCS8PrivateKey(k)
		} else {
			blockType = PEMTypeRSAPrivateKey
			der = x509.MarshalPKCS1PrivateKey(k)
		}
	case *ecdsa.PrivateKey:
		if encoding == KeyEncodingPKCS8 {
			blockType = PEMTypePrivateKey
			der, err = x509.MarshalPKCS8PrivateKey(k)
		} else {
			blockType = PEMTypeECPrivateKey
			der, err = x509.MarshalECPrivateKey(k)
		}
	case ed25519.PrivateKey:
		blockType = PEMTypePrivateKey
		der, err = x509.MarshalPKCS8PrivateKey(k)
	default:
		return nil, fmt.Errorf("%w: private key type %T", ErrUnsupportedKey, key)
	}
	if err != nil {
		// The x509 marshalling errors describe the key type, never its value.
		return nil, fmt.Errorf("encoding %s private key: %w", blockType, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), nil
}

// normalizeSigner turns a *ed25519.PrivateKey into the ed25519.PrivateKey
// value that the standard library uses everywhere else.
func normalizeSigner(key crypto.Signer) crypto.Signer {
	if k, ok := key.(*ed25519.PrivateKey); ok && k != nil {
		return *k
	}
	return key
}

// ParsePrivateKeyPEM parses the first private key block in data. It accepts
// "RSA PRIVATE KEY" (PKCS#1), "EC PRIVATE KEY" (SEC 1) and "PRIVATE KEY"
// (PKCS#8) blocks and skips any other blocks before it (such as the
// "EC PARAMETERS" block that openssl writes). Encrypted keys are refused.
// Errors never contain key material.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%w: no private key PEM block found", ErrMalformedPEM)
		}
		switch block.Type {
		case PEMTypeRSAPrivateKey, PEMTypeECPrivateKey, PEMTypePrivateKey:
			return parsePrivateKeyBlock(block)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported")
		}
	}
}

func parsePrivateKeyBlock(block *pem.Block) (crypto.Signer, error) {
	if _, ok := block.Headers["DEK-Info"]; ok {
		return nil, errors.New("encrypted private keys are not supported")
	}
	switch block.Type {
	case PEMTypeRSAPrivateKey:
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing %s block: %w", block.Type, err)
		}
		return key, nil
	case PEMTypeECPrivateKey:
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing %s block: %w", block.Type, err)
		}
		return key, nil
	default:
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing %s block: %w", block.Type, err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
			return k.(crypto.Signer), nil
		default:
			return nil, fmt.Errorf("%w: PKCS#8 private key of type %T", ErrUnsupportedKey, key)
		}
	}
}

// KeySpecOf returns the algorithm and size of a public key: the modulus size
// in bits for RSA, the curve size for ECDSA, and 0 for Ed25519. It also
// accepts a private key (anything with a Public method) and describes its
// public half. Keys certsmith does not support yield an error wrapping
// ErrUnsupportedKey.
func KeySpecOf(pub crypto.PublicKey) (KeySpec, error) {
	if k, ok := pub.(interface{ Public() crypto.PublicKey }); ok {
		pub = k.Public()
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return KeySpec{}, fmt.Errorf("%w: empty RSA public key", ErrUnsupportedKey)
		}
		return KeySpec{Algorithm: KeyAlgorithmRSA, Size: k.N.BitLen()}, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return KeySpec{}, fmt.Errorf("%w: empty ECDSA public key", ErrUnsupportedKey)
		}
		switch k.Curve {
		case elliptic.P256():
			return KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 256}, nil
		case elliptic.P384():
			return KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 384}, nil
		case elliptic.P521():
			return KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 521}, nil
		default:
			return KeySpec{}, fmt.Errorf("%w: ECDSA curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return KeySpec{}, fmt.Errorf("%w: Ed25519 public key of %d bytes", ErrUnsupportedKey, len(k))
		}
		return KeySpec{Algorithm: KeyAlgorithmEd25519}, nil
	default:
		return KeySpec{}, fmt.Errorf("%w: public key type %T", ErrUnsupportedKey, pub)
	}
}

// PublicKeysEqual reports whether a and b are the same public key. Two nil
// or unknown keys are never equal.
func PublicKeysEqual(a, b crypto.PublicKey) bool {
	if a == nil || b == nil {
		return false
	}
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return false
	}
	return eq.Equal(b)
}
