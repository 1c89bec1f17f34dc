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
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// VerifyChain verifies leaf against roots, using intermediates to build the
// chain, at time now (which must not be zero), for any extended key usage. When dnsName is not empty
// the leaf must also be valid for that host name. The system trust store is
// never consulted: an empty roots list is an error.
func VerifyChain(leaf *x509.Certificate, intermediates, roots []*x509.Certificate, dnsName string, now time.Time) error {
	if leaf == nil {
		return errors.New("verifying chain: no leaf certificate")
	}
	if now.IsZero() {
		// A zero CurrentTime would make the x509 package read the wall clock.
		return errors.New("verifying chain: no verification time given")
	}
	rootPool := x509.NewCertPool()
	rootCount := 0
	for _, root := range roots {
		if root != nil {
			rootPool.AddCert(root)
			rootCount++
		}
	}
	if rootCount == 0 {
		// A nil Roots pool would make the x509 package use the system roots.
		return errors.New("verifying chain: no root certificates")
	}
	intermediatePool := x509.NewCertPool()
	for _, intermediate := range intermediates {
		if intermediate != nil {
			intermediatePool.AddCert(intermediate)
		}
	}
	opts := x509.VerifyOptions{
		DNSName:       dnsName,
		Intermediates: intermediatePool,
		Roots:         rootPool,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("verifying chain: %w", err)
	}
	return nil
}
