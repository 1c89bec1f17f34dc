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

// Package pki is certsmith's crypto core: private key generation and PEM
// encoding, certificate signing requests, self-signed certificate
// authorities, signing of leaf and intermediate certificates, chain
// verification and renewal-time arithmetic.
//
// The package is deliberately pure. It imports no Kubernetes package, uses
// only the Go standard library (plus software.sslmate.com/src/go-pkcs12 for
// PKCS#12 keystores, which the standard library cannot write), and never
// reads the wall clock: every function that reasons about time takes the
// current time as an argument, so controllers can drive it from an
// injected clock and tests can step time instead of sleeping. Chain maths
// (trust anchors, intermediates, "was this signed by that CA") lives here
// too, for the CA core (internal/ca) and the controllers.
//
// Errors never contain private key material. Callers can classify failures
// with errors.Is against the exported sentinel errors (ErrMalformedPEM,
// ErrBadCSRSignature, ErrUnsupportedKey, ErrCAExpired).
package pki
