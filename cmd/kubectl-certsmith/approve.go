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
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// decision is what "approve" or "deny" does to a CSR.
type decision struct {
	// verb is the command name.
	verb string
	// pastTense is what the output says happened.
	pastTense string
	// conditionType is the condition added through the approval subresource.
	conditionType certificatesv1.RequestConditionType
	// defaultReason and defaultMessage are used when no flag sets them.
	defaultReason, defaultMessage string
}

var (
	approveDecision = decision{
		verb:           "approve",
		pastTense:      "approved",
		conditionType:  certificatesv1.CertificateApproved,
		defaultReason:  "KubectlCertsmithApprove",
		defaultMessage: "This CSR was approved by kubectl certsmith approve.",
	}
	denyDecision = decision{
		verb:           "deny",
		pastTense:      "denied",
		conditionType:  certificatesv1.CertificateDenied,
		defaultReason:  "KubectlCertsmithDeny",
		defaultMessage: "This CSR was denied by kubectl certsmith deny.",
	}
)

// newDecideCommand builds "approve" or "deny".
func newDecideCommand(o *rootOptions, d decision) *cobra.Command {
	reason, message := d.defaultReason, d.defaultMessage
	cmd := &cobra.Command{
		Use:   d.verb + " CSR...",
		Short: fmt.Sprintf("%s CertificateSigningRequests addressed to a certsmith ClusterIssuer", capitalize(d.verb)),
		Long: fmt.Sprintf(`%s CertificateSigningRequests whose signerName a certsmith ClusterIssuer serves.

Only CSRs of certsmith's signers are touched: those whose spec.signerName is
a ClusterIssuer's status.signerName, or its default signer name
"%s/<issuer-name>". A CSR of any other signer is
refused, and so is one that is already approved or denied.

The decision goes through the CSR's approval subresource as a condition of
type %s with status True. That needs the "approve" verb on the signer
(RBAC resource "signers" in the API group certificates.k8s.io).

Check what a CSR asks for before deciding, for example with
"kubectl get csr NAME -o yaml"; the output of this command repeats it.`,
			capitalize(d.verb), certsmithv1alpha1.DefaultSignerDomain, d.conditionType),
		Example: fmt.Sprintf(`  # %s a CSR
  kubectl certsmith %s my-app-csr

  # ... saying why
  kubectl certsmith %s my-app-csr --reason ReviewedByOps --message "Ticket OPS-123"`,
			capitalize(d.verb), d.verb, d.verb),
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNames(o, 0, listUndecidedCSRs),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.factory.Client()
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				if err := decide(cmd.Context(), c, cmd.OutOrStdout(), d, name, reason, message, o.clock.Now()); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", reason, "Reason of the "+string(d.conditionType)+" condition, in CamelCase.")
	cmd.Flags().StringVar(&message, "message", message, "Human-readable message of the "+string(d.conditionType)+" condition.")
	return cmd
}

// decide approves or denies one CSR after checking that a certsmith
// ClusterIssuer serves its signer and that it is still undecided.
func decide(ctx context.Context, c client.Client, w io.Writer, d decision, name, reason, message string, now time.Time) error {
	var (
		csr    *certificatesv1.CertificateSigningRequest
		issuer *certsmithv1alpha1.ClusterIssuer
	)
	// The approval subresource takes the whole object: on a conflict, read
	// it again and check again (someone may have decided meanwhile).
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		csr = &certificatesv1.CertificateSigningRequest{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("CertificateSigningRequest %q not found", name)
			}
			return fmt.Errorf("getting CertificateSigningRequest %s: %w", name, err)
		}
		var err error
		if issuer, err = issuerForSigner(ctx, c, csr.Spec.SignerName); err != nil {
			return err
		}
		if issuer == nil {
			return fmt.Errorf("CertificateSigningRequest %q is for signer %q, which no certsmith ClusterIssuer serves; refusing to %s it (use \"kubectl certificate %s\" for other signers)",
				name, csr.Spec.SignerName, d.verb, d.verb)
		}
		if decided := decisionOf(csr); decided != "" {
			return fmt.Errorf("CertificateSigningRequest %q is already %s; refusing to %s it", name, decided, d.verb)
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type:           d.conditionType,
			Status:         corev1.ConditionTrue,
			Reason:         reason,
			Message:        message,
			LastUpdateTime: metav1.NewTime(now),
		})
		if err := c.SubResource("approval").Update(ctx, csr); err != nil {
			if apierrors.IsForbidden(err) {
				return fmt.Errorf("%s CertificateSigningRequest %s: %w (this needs the \"approve\" verb on signers %q)", d.verb, name, err, csr.Spec.SignerName)
			}
			return fmt.Errorf("%s CertificateSigningRequest %s: %w", d.verb, name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "certificatesigningrequest.certificates.k8s.io/%s %s (signer %s, ClusterIssuer %s)\n",
		csr.Name, d.pastTense, csr.Spec.SignerName, issuer.Name)
	fmt.Fprintf(w, "  requested by %s: %s\n", orNone(csr.Spec.Username), requestSummary(csr))
	return nil
}

// issuerForSigner returns the ClusterIssuer that serves signerName, or nil.
func issuerForSigner(ctx context.Context, c client.Client, signerName string) (*certsmithv1alpha1.ClusterIssuer, error) {
	issuers := &certsmithv1alpha1.ClusterIssuerList{}
	if err := c.List(ctx, issuers); err != nil {
		return nil, fmt.Errorf("listing ClusterIssuers: %w", err)
	}
	for i := range issuers.Items {
		issuer := &issuers.Items[i]
		if issuer.Status.SignerName == signerName || issuer.EffectiveSignerName() == signerName {
			return issuer, nil
		}
	}
	return nil, nil
}

// decisionOf returns "approved" or "denied" when csr carries such a
// condition with status True, and "" while it is undecided.
func decisionOf(csr *certificatesv1.CertificateSigningRequest) string {
	for _, cond := range csr.Status.Conditions {
		if cond.Status != corev1.ConditionTrue {
			continue
		}
		switch cond.Type {
		case certificatesv1.CertificateApproved:
			return "approved"
		case certificatesv1.CertificateDenied:
			return "denied"
		}
	}
	return ""
}

// requestSummary lists what a CSR asks for, so the person deciding sees it.
func requestSummary(csr *certificatesv1.CertificateSigningRequest) string {
	usages := make([]string, 0, len(csr.Spec.Usages))
	for _, usage := range csr.Spec.Usages {
		usages = append(usages, string(usage))
	}
	request, err := pki.ParseCSR(csr.Spec.Request)
	if err != nil {
		return fmt.Sprintf("unreadable request (%v); usages: %s", err, joinOrNone(usages))
	}
	parts := []string{"subject " + orNone(request.Subject.String())}
	if len(request.DNSNames) > 0 {
		parts = append(parts, "DNS "+strings.Join(request.DNSNames, ", "))
	}
	if len(request.IPAddresses) > 0 {
		parts = append(parts, "IP "+strings.Join(ipStrings(request.IPAddresses), ", "))
	}
	if len(request.URIs) > 0 {
		parts = append(parts, "URI "+strings.Join(uriStrings(request.URIs), ", "))
	}
	parts = append(parts, "usages "+joinOrNone(usages))
	return strings.Join(parts, "; ")
}

// capitalize upper-cases the first letter of an ASCII word.
func capitalize(word string) string {
	if word == "" {
		return word
	}
	return strings.ToUpper(word[:1]) + word[1:]
}
