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
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// defaultPublishDeadline is the default of spec.rotation.publishDeadline.
const defaultPublishDeadline = 10 * time.Minute

// maxNamedPaths bounds how many unpublished trust paths are named in
// status and in the Rotating condition.
const maxNamedPaths = 10

// trustCoverage counts the trust paths that do not hold the next CA yet,
// over an issuer and the issuers below it (they republish its bundle).
type trustCoverage struct {
	// unpublished is every path without the next CA.
	unpublished int
	// conflicts are those that certsmith cannot write.
	conflicts int
	// blocking are those that certsmith can write but whose write failed
	// for a transient reason: they block the switch even past the deadline.
	blocking int
	// names are the first maxNamedPaths of them.
	names []string
}

// add counts n paths; name describes them (nil name: counted, not named).
func (c *trustCoverage) add(n int, name string, conflict, blocking bool) {
	if n <= 0 {
		return
	}
	c.unpublished += n
	if conflict {
		c.conflicts += n
	}
	if blocking {
		c.blocking += n
	}
	if name != "" && len(c.names) < maxNamedPaths {
		// status.rotation.unpublishedPaths holds at most 600 bytes an item.
		c.names = append(c.names, truncate(name, 600))
	}
}

// observeTrust adds up, for the issuer and (recursively, bounded) the
// issuers below it, the trust paths that lack the certificate fp: the
// bundle ConfigMaps and the ClusterTrustBundle (status.bundle, written by
// the bundle controller), the ca.crt of every certificate Secret that
// certsmith may write (status.caFingerprintsSHA256 of each
// ServiceCertificate) and the injected caBundles (status.bundle.injection,
// written by the CA injector).
func (r *ClusterIssuerReconciler) observeTrust(ctx context.Context, issuer *certsmithv1alpha1.ClusterIssuer, fp string, depth int, seen map[string]bool, c *trustCoverage) error {
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
			c.add(int(inj.Targets), fmt.Sprintf("caBundle of %d objects naming ClusterIssuer %s", inj.Targets, issuer.Name), false, false)
		} else {
			missing := max(int(inj.Targets-inj.UpToDate), 0)
			named := inj.NotUpToDate[:min(len(inj.NotUpToDate), missing)]
			for _, name := range named {
				c.add(1, "caBundle of "+name, false, false)
			}
			c.add(missing-len(named), "", false, false)
			// The rejected ones are among them, and certsmith cannot write them.
			c.conflicts += min(int(inj.Rejected), missing)
		}
	}
	var certificates certsmithv1alpha1.ServiceCertificateList
	if err := r.List(ctx, &certificates, client.MatchingFields{indexCertificateIssuer: issuer.Name}); err != nil {
		return fmt.Errorf("listing the ServiceCertificates of ClusterIssuer %s: %w", issuer.Name, err)
	}
	for i := range certificates.Items {
		sc := &certificates.Items[i]
		if have := sc.Status.CAFingerprintsSHA256; len(have) > 0 && !slices.Contains(have, fp) {
			c.add(1, fmt.Sprintf("ca.crt of ServiceCertificate %s/%s", sc.Namespace, sc.Name), false, false)
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
func observeBundleStatus(issuer *certsmithv1alpha1.ClusterIssuer, b *certsmithv1alpha1.BundleStatus, fp string, c *trustCoverage) {
	name, _ := bundleTarget(issuer)
	if b == nil || !slices.Contains(b.FingerprintsSHA256, fp) {
		// The bundle controller has not distributed this bundle yet.
		n := 1
		if b != nil && b.Namespaces > 0 {
			n = int(b.Namespaces)
		}
		c.add(n, fmt.Sprintf("ConfigMap %s of ClusterIssuer %s (not distributed yet)", name, issuer.Name), false, true)
		return
	}
	for _, ns := range b.ConflictNamespaces {
		c.add(1, fmt.Sprintf("ConfigMap %s/%s (conflict)", ns, name), true, false)
	}
	c.add(int(b.Conflicts)-len(b.ConflictNamespaces), "", true, false)
	pending := int(b.Namespaces - b.UpToDate - b.Conflicts)
	c.add(pending, fmt.Sprintf("ConfigMap %s in %d namespaces of ClusterIssuer %s (write failed, retrying)", name, pending, issuer.Name), false, true)
	switch {
	case b.ClusterTrustBundle == "" || b.ClusterTrustBundleUpToDate:
	case b.ClusterTrustBundleConflict != "":
		c.add(1, fmt.Sprintf("ClusterTrustBundle %s (conflict)", b.ClusterTrustBundle), true, false)
	default:
		c.add(1, fmt.Sprintf("ClusterTrustBundle %s (write failed, retrying)", b.ClusterTrustBundle), false, true)
	}
}

// publishInput is what decides a Publishing step.
type publishInput struct {
	now, startedAt time.Time
	// publishedAt is when nothing blocked the switch any more; nil until then.
	publishedAt *time.Time
	deadline    time.Duration
	delay       time.Duration
	coverage    trustCoverage
}

// publishStep is the decision of one Publishing step.
type publishStep struct {
	// publish: nothing blocks any more; record publishedAt = now.
	publish bool
	// skipping: publish although some paths lack the next CA (the deadline passed).
	skipping bool
	// switchNow: switch signing to the next CA.
	switchNow bool
	// requeue is when to look again (when not switching).
	requeue time.Duration
}

// planPublish decides one step of a rotation's Publishing phase. The switch
// waits until every trust path holds the next CA; from startedAt plus the
// deadline on, only paths that certsmith can write and whose write failed
// for a transient reason keep it waiting. The propagation delay then runs
// from that moment. Publishing looks again every publishingPoll.
func planPublish(in publishInput) publishStep {
	var step publishStep
	publishedAt := in.publishedAt
	if publishedAt == nil {
		pastDeadline := !in.now.Before(in.startedAt.Add(in.deadline))
		if in.coverage.unpublished == 0 || (pastDeadline && in.coverage.blocking == 0) {
			step.publish = true
			step.skipping = in.coverage.unpublished > 0
			publishedAt = &in.now
		}
	}
	if publishedAt == nil {
		step.requeue = publishingPoll
		return step
	}
	if wait := publishedAt.Add(in.delay).Sub(in.now); wait > 0 {
		step.requeue = min(wait, publishingPoll)
		return step
	}
	step.switchNow = true
	return step
}

// publishDeadline is spec.rotation.publishDeadline or its default.
func publishDeadline(issuer *certsmithv1alpha1.ClusterIssuer) time.Duration {
	if r := issuer.Spec.Rotation; r != nil && r.PublishDeadline != nil {
		return r.PublishDeadline.Duration
	}
	return defaultPublishDeadline
}

// unpublishedSummary describes the unpublished paths of a rotation in at
// most room bytes: "N trust paths (C of them conflicts): a, b … and K more".
func unpublishedSummary(rotation *certsmithv1alpha1.RotationStatus, room int) string {
	head := fmt.Sprintf("%d trust paths", rotation.Unpublished)
	if rotation.Conflicts > 0 {
		head += fmt.Sprintf(" (%d of them conflicts: not certsmith's, immutable or rejected)", rotation.Conflicts)
	}
	return head + ": " + namedList(rotation.UnpublishedPaths, int(rotation.Unpublished), room-len(head)-2)
}
