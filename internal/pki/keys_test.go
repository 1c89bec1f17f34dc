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
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestKeyRoundTrip(t *testing.T) {
	tests := []struct {
		spec     KeySpec
		wantSpec KeySpec
		// wantPKCS1Type is the PEM block type for KeyEncodingPKCS1 and "".
		wantPKCS1Type string
	}{
		{KeySpec{Algorithm: KeyAlgorithmRSA}, rsa2048, "RSA PRIVATE KEY"},
		{rsa2048, rsa2048, "RSA PRIVATE KEY"},
		{KeySpec{Algorithm: KeyAlgorithmRSA, Size: 3072}, KeySpec{Algorithm: KeyAlgorithmRSA, Size: 3072}, "RSA PRIVATE KEY"},
		{KeySpec{Algorithm: KeyAlgorithmRSA, Size: 4096}, KeySpec{Algorithm: KeyAlgorithmRSA, Size: 4096}, "RSA PRIVATE KEY"},
		{KeySpec{Algorithm: KeyAlgorithmECDSA}, ecdsaP256, "EC PRIVATE KEY"},
		{ecdsaP256, ecdsaP256, "EC PRIVATE KEY"},
		{KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 384}, KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 384}, "EC PRIVATE KEY"},
		{KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 521}, KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 521}, "EC PRIVATE KEY"},
		{ed25519s, ed25519s, "PRIVATE KEY"},
		{KeySpec{Algorithm: KeyAlgorithmEd25519, Size: 999}, ed25519s, "PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.spec.String(), func(t *testing.T) {
			var key crypto.Signer
			if tt.spec == tt.wantSpec {
				key = testKey(t, tt.spec)
			} else {
				// Exercise the defaulting path itself, cheaply for
				// RSA by not generating a second 2048-bit key.
				if tt.spec.Algorithm == KeyAlgorithmRSA {
					key = testKey(t, tt.wantSpec)
				} else {
					var err error
					if key, err = GenerateKey(tt.spec); err != nil {
						t.Fatalf("GenerateKey: %v", err)
					}
				}
			}
			gotSpec, err := KeySpecOf(key.Public())
			if err != nil {
				t.Fatalf("KeySpecOf: %v", err)
			}
			if gotSpec != tt.wantSpec {
				t.Errorf("KeySpecOf = %v, want %v", gotSpec, tt.wantSpec)
			}
			for _, encoding := range []KeyEncoding{"", KeyEncodingPKCS1, KeyEncodingPKCS8} {
				pemBytes, err := EncodePrivateKeyPEM(key, encoding)
				if err != nil {
					t.Fatalf("EncodePrivateKeyPEM(%q): %v", encoding, err)
				}
				block, rest := pem.Decode(pemBytes)
				if block == nil || len(rest) != 0 {
					t.Fatalf("EncodePrivateKeyPEM(%q) did not produce exactly one PEM block", encoding)
				}
				wantType := tt.wantPKCS1Type
				if encoding == KeyEncodingPKCS8 {
					wantType = "PRIVATE KEY"
				}
				if block.Type != wantType {
					t.Errorf("EncodePrivateKeyPEM(%q) block type = %q, want %q", encoding, block.Type, wantType)
				}
				parsed, err := ParsePrivateKeyPEM(pemBytes)
				if err != nil {
					t.Fatalf("ParsePrivateKeyPEM(%q): %v", encoding, err)
				}
				if reflect.TypeOf(parsed) != reflect.TypeOf(key) {
					t.Errorf("parsed key type %T, want %T", parsed, key)
				}
				if !PublicKeysEqual(parsed.Public(), key.Public()) {
					t.Errorf("parsed key (%q) does not match the original", encoding)
				}
				if eq, ok := parsed.(interface{ Equal(crypto.PrivateKey) bool }); !ok || !eq.Equal(key) {
					t.Errorf("parsed private key (%q) is not equal to the original", encoding)
				}
			}
		})
	}
}

func TestGenerateKeyUnsupported(t *testing.T) {
	tests := []KeySpec{
		{Algorithm: KeyAlgorithmRSA, Size: 1024},
		{Algorithm: KeyAlgorithmRSA, Size: 2047},
		{Algorithm: KeyAlgorithmRSA, Size: 8192},
		{Algorithm: KeyAlgorithmECDSA, Size: 224},
		{Algorithm: KeyAlgorithmECDSA, Size: 512},
		{Algorithm: "DSA"},
		{Algorithm: ""},
		{Algorithm: "ecdsa", Size: 256},
	}
	for _, spec := range tests {
		t.Run(spec.String(), func(t *testing.T) {
			key, err := GenerateKey(spec)
			if !errors.Is(err, ErrUnsupportedKey) {
				t.Fatalf("GenerateKey(%v) error = %v, want ErrUnsupportedKey", spec, err)
			}
			if key != nil {
				t.Errorf("GenerateKey(%v) returned a key along with an error", spec)
			}
		})
	}
}

// opaqueSigner is a crypto.Signer of a type the package does not know.
type opaqueSigner struct{ crypto.Signer }

func TestEncodePrivateKeyPEMErrors(t *testing.T) {
	key := testKey(t, ecdsaP256)
	tests := []struct {
		name     string
		key      crypto.Signer
		encoding KeyEncoding
		wantErr  error
	}{
		{"unknown encoding", key, "DER", nil},
		{"lower-case encoding", key, "pkcs8", nil},
		{"unknown key type", opaqueSigner{key}, KeyEncodingPKCS8, ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := EncodePrivateKeyPEM(tt.key, tt.encoding)
			if err == nil {
				t.Fatalf("EncodePrivateKeyPEM succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if out != nil {
				t.Errorf("output returned along with an error")
			}
		})
	}
}

func TestEncodePrivateKeyPEMEd25519Pointer(t *testing.T) {
	key := testKey(t, ed25519s).(ed25519.PrivateKey)
	out, err := EncodePrivateKeyPEM(&key, KeyEncodingPKCS1)
	if err != nil {
		t.Fatalf("EncodePrivateKeyPEM(*ed25519.PrivateKey): %v", err)
	}
	if block, _ := pem.Decode(out); block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("Ed25519 key not encoded as PKCS#8")
	}
}

func TestParsePrivateKeyPEM(t *testing.T) {
	ecKey := testKey(t, ecdsaP256)
	ecPEM, err := EncodePrivateKeyPEM(ecKey, KeyEncodingPKCS1)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := pem.Decode(ecPEM)
	paramsPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}})
	certPEM := EncodeCertificatesPEM(newTestRootCA(t, ecdsaP256, 24*time.Hour, -1).Certificate)
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519DER, err := x509.MarshalPKCS8PrivateKey(x25519)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), ecDER.Bytes...)
	corrupt[len(corrupt)/2] ^= 0xff
	corrupt = corrupt[:len(corrupt)-3]

	tests := []struct {
		name    string
		data    []byte
		wantErr error // nil: success expected
		anyErr  bool  // an error is expected, of no particular kind
	}{
		{name: "EC PARAMETERS before the key is skipped", data: append(append([]byte{}, paramsPEM...), ecPEM...)},
		{name: "certificate before the key is skipped", data: append(append([]byte{}, certPEM...), ecPEM...)},
		{name: "empty", data: nil, wantErr: ErrMalformedPEM},
		{name: "garbage", data: []byte("not a key"), wantErr: ErrMalformedPEM},
		{name: "certificate only", data: certPEM, wantErr: ErrMalformedPEM},
		{name: "EC key labelled RSA", data: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: ecDER.Bytes}), anyErr: true},
		{name: "corrupt EC key", data: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: corrupt}), anyErr: true},
		{name: "corrupt PKCS8 key", data: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: corrupt}), anyErr: true},
		{name: "encrypted PKCS8", data: pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: corrupt}), anyErr: true},
		{name: "legacy encrypted PEM", data: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: corrupt}), anyErr: true},
		{name: "X25519 key cannot sign", data: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: x25519DER}), wantErr: ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParsePrivateKeyPEM(tt.data)
			if tt.wantErr == nil && !tt.anyErr {
				if err != nil {
					t.Fatalf("ParsePrivateKeyPEM: %v", err)
				}
				if !PublicKeysEqual(key.Public(), ecKey.Public()) {
					t.Errorf("parsed the wrong key")
				}
				return
			}
			if err == nil {
				t.Fatalf("ParsePrivateKeyPEM succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			assertNoKeyMaterial(t, err, ecDER.Bytes)
			assertNoKeyMaterial(t, err, corrupt)
		})
	}
}

// assertNoKeyMaterial fails if err's message contains any 8-byte run of der,
// in raw, hex or base64 form.
func assertNoKeyMaterial(t *testing.T, err error, der []byte) {
	t.Helper()
	msg := err.Error()
	for i := 0; i+8 <= len(der); i += 4 {
		chunk := der[i : i+8]
		for _, form := range []string{string(chunk), strings.ToLower(colonHex(chunk)), strings.ReplaceAll(colonHex(chunk), ":", ""), strings.ToLower(strings.ReplaceAll(colonHex(chunk), ":", "")), base64.StdEncoding.EncodeToString(chunk)[:8]} {
			if strings.Contains(msg, form) {
				t.Fatalf("error message contains key material: %q", msg)
			}
		}
	}
}

func TestKeySpecOf(t *testing.T) {
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := testKey(t, rsa2048)
	tests := []struct {
		name    string
		pub     crypto.PublicKey
		want    KeySpec
		wantErr bool
	}{
		{"RSA public key", rsaKey.Public(), rsa2048, false},
		{"RSA private key", rsaKey, rsa2048, false},
		{"ECDSA P-384", testKey(t, KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 384}).Public(), KeySpec{Algorithm: KeyAlgorithmECDSA, Size: 384}, false},
		{"Ed25519", testKey(t, ed25519s).Public(), ed25519s, false},
		{"ECDSA P-224", p224.Public(), KeySpec{}, true},
		{"X25519", x25519.PublicKey(), KeySpec{}, true},
		{"nil", nil, KeySpec{}, true},
		{"nil RSA pointer", (*rsa.PublicKey)(nil), KeySpec{}, true},
		{"short Ed25519", ed25519.PublicKey{1, 2, 3}, KeySpec{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KeySpecOf(tt.pub)
			if tt.wantErr {
				if !errors.Is(err, ErrUnsupportedKey) {
					t.Fatalf("KeySpecOf error = %v, want ErrUnsupportedKey", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("KeySpecOf: %v", err)
			}
			if got != tt.want {
				t.Errorf("KeySpecOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPublicKeysEqual(t *testing.T) {
	a := testKey(t, ecdsaP256)
	b, err := GenerateKey(ecdsaP256)
	if err != nil {
		t.Fatal(err)
	}
	ed := testKey(t, ed25519s)
	tests := []struct {
		name string
		x, y crypto.PublicKey
		want bool
	}{
		{"same key", a.Public(), a.Public(), true},
		{"same Ed25519 key", ed.Public(), ed.Public(), true},
		{"different keys", a.Public(), b.Public(), false},
		{"different algorithms", a.Public(), ed.Public(), false},
		{"nil first", nil, a.Public(), false},
		{"nil second", a.Public(), nil, false},
		{"unknown type", struct{}{}, a.Public(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PublicKeysEqual(tt.x, tt.y); got != tt.want {
				t.Errorf("PublicKeysEqual = %v, want %v", got, tt.want)
			}
		})
	}
}
