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
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/ca"
)

// observeTrust adds up, for the issuer and (recursively, bounded) the
// issuers below it, the trust paths that lack the certificate fp: the
// bundle ConfigMaps and the ClusterTrustBundle (status.bundle, written by
// the bundle controller), the ca.crt of every certificate Secret that
// certsmith may write (status.caFingerprintsSHA256 of each
// ServiceCertificate) and the injected caBundles (status.bundle.injection,
// written by the CA injector).
func (r *ClusterIssuerReconciler) observeTrust(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, fp string, depth int, seen map[string]bool, c *ca.Coverage) error {
	if depth > maxIssuerDepth || seen[issuer.Name] {
		return nil
	}
	seen[issuer.Name] = true
	b := issuer.Status.Bundle
	if issuer.Spec.Bundle != nil {
		observeBundleStatus(issuer, b, fp, c)
	}
	if b != nil && b.Injection != nil {
		inj := b.Injection
		if !slices.Contains(inj.FingerprintsSHA256, fp) {
			c.Add(int(inj.Targets), fmt.Sprintf("caBundle of %d objects naming ClusterIssuer %s", inj.Targets, issuer.Name), false, false)
		} else {
			missing := max(int(inj.Targets-inj.UpToDate), 0)
			named := inj.NotUpToDate[:min(len(inj.NotUpToDate), missing)]
			for _, name := range named {
				c.Add(1, "caBundle of "+name, false, false)
			}
			c.Add(missing-len(named), "", false, false)
			// The rejected ones are among them, and certsmith cannot write them.
			c.Conflicts += min(int(inj.Rejected), missing)
		}
	}
	var certificates certsmithv1alpha1.ServiceCertificateList
	if err := r.List(ctx, &certificates, client.MatchingFields{indexCertificateIssuer: issuer.Name}); err != nil {
		return fmt.Errorf("listing the ServiceCertificates of ClusterIssuer %s: %w", issuer.Name, err)
	}
	for i := range certificates.Items {
		sc := &certificates.Items[i]
		if have := sc.Status.CAFingerprintsSHA256; len(have) > 0 && !slices.Contains(have, fp) {
			c.Add(1, fmt.Sprintf("ca.crt of ServiceCertificate %s/%s", sc.Namespace, sc.Name), false, false)
		}
	}
	var children certsmithv1alpha1.ClusterIssuerList
	if err := r.List(ctx, &children, client.MatchingFields{indexIssuerParent: issuer.Name}); err != nil {
		return fmt.Errorf("listing the issuers below ClusterIssuer %s: %w", issuer.Name, err)
	}
	for i := range children.Items {
		if err := r.observeTrust(ctx, &children.Items[i], fp, depth+1, seen, c); err != nil {
			return err
		}
	}
	return nil
}

// observeBundleStatus counts the bundle ConfigMaps and the
// ClusterTrustBundle of an issuer that lack fp.
func observeBundleStatus(issuer *certsmithv1alpha1.ClusterIssuer, b *certsmithv1alpha1.BundleStatus, fp string, c *ca.Coverage) {
	name, _ := bundleTarget(issuer)
	if b == nil || !slices.Contains(b.FingerprintsSHA256, fp) {
		// The bundle controller has not distributed this bundle yet.
		n := 1
		if b != nil && b.Namespaces > 0 {
			n = int(b.Namespaces)
		}
		c.Add(n, fmt.Sprintf("ConfigMap %s of ClusterIssuer %s (not distributed yet)", name, issuer.Name), false, true)
		return
	}
	for _, ns := range b.ConflictNamespaces {
		c.Add(1, fmt.Sprintf("ConfigMap %s/%s (conflict)", ns, name), true, false)
	}
	c.Add(int(b.Conflicts)-len(b.ConflictNamespaces), "", true, false)
	pending := int(b.Namespaces - b.UpToDate - b.Conflicts)
	c.Add(pending, fmt.Sprintf("ConfigMap %s in %d namespaces of ClusterIssuer %s (write failed, retrying)", name, pending, issuer.Name), false, true)
	switch {
	case b.ClusterTrustBundle == "" || b.ClusterTrustBundleUpToDate:
	case b.ClusterTrustBundleConflict != "":
		c.Add(1, fmt.Sprintf("ClusterTrustBundle %s (conflict)", b.ClusterTrustBundle), true, false)
	default:
		c.Add(1, fmt.Sprintf("ClusterTrustBundle %s (write failed, retrying)", b.ClusterTrustBundle), false, true)
	}
}
