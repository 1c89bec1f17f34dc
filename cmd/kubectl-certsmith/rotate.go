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

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

func newRotateCommand(o *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate ISSUER",
		Short: "Ask certsmith to rotate a ClusterIssuer's CA",
		Long: `Ask certsmith to rotate a ClusterIssuer's CA now, ahead of its renewal time.

rotate sets the annotation ` + certsmithv1alpha1.AnnotationRotateRequestedAt + ` on the ClusterIssuer
to the current time (RFC 3339), with a merge patch on the metadata; the spec
is never touched. certsmith starts a CA rotation when the value differs from
the last one it handled, so running rotate again asks again. Follow the
rotation with "kubectl get clusterissuer ISSUER -o wide" and the issuer's events.

Only CAs that certsmith generates (spec.ca.selfSigned or spec.ca.issuerRef)
can be rotated; for an imported CA (spec.ca.secretRef) rotate refuses: put the
new CA into the Secret instead.`,
		Example: `  # Rotate the CA of the ClusterIssuer "internal-ca"
  kubectl certsmith rotate internal-ca`,
		Args:              exactArgs(1, "give the name of one ClusterIssuer"),
		ValidArgsFunction: completeNames(o, 1, listClusterIssuers),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.factory.Client()
			if err != nil {
				return err
			}
			return runRotate(cmd.Context(), c, cmd.OutOrStdout(), args[0], o.clock.Now())
		},
	}
}

// runRotate sets the rotate annotation on the ClusterIssuer name.
func runRotate(ctx context.Context, c client.Client, w io.Writer, name string, now time.Time) error {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, issuer); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("ClusterIssuer %q not found", name)
		}
		return fmt.Errorf("getting ClusterIssuer %s: %w", name, err)
	}
	if ref := issuer.Spec.CA.SecretRef; ref != nil {
		return fmt.Errorf("ClusterIssuer %q imports its CA from Secret %q (spec.ca.secretRef), which certsmith does not rotate; put the new CA into that Secret instead",
			name, ref.Name)
	}
	value := requestTimestamp(now, issuer.Annotations[certsmithv1alpha1.AnnotationRotateRequestedAt])
	patch, err := annotationPatch(certsmithv1alpha1.AnnotationRotateRequestedAt, value)
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, issuer, patch); err != nil {
		return fmt.Errorf("requesting CA rotation of ClusterIssuer %s: %w", name, err)
	}
	fmt.Fprintf(w, "clusterissuer.certsmith.io/%s: CA rotation requested (%s=%s)\n", name, certsmithv1alpha1.AnnotationRotateRequestedAt, value)
	if ca := issuer.Status.CA; ca != nil {
		fmt.Fprintf(w, "  current CA: %s, serial %s, not after %s\n", orNone(ca.Subject), orNone(ca.SerialNumber), metaTime(ca.NotAfter, now))
	}
	if rotation := issuer.Status.Rotation; rotation != nil && rotation.Phase != "" {
		state := "in progress"
		if rotation.Phase == certsmithv1alpha1.RotationComplete {
			state = "finished"
		}
		fmt.Fprintf(w, "  previous rotation: %s (phase %s, started %s)\n", state, rotation.Phase, metaTime(rotation.StartedAt, now))
	}
	return nil
}
