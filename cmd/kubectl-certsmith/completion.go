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
	"slices"
	"strings"

	"github.com/spf13/cobra"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// Shell completion of object names. kubectl completes a plugin's arguments
// when a "kubectl_complete-certsmith" executable on the PATH runs
// "kubectl-certsmith __complete "$@"". Failures complete nothing: a
// completion must never print errors into the user's command line.

// nameLister lists the candidate names for an argument.
type nameLister func(ctx context.Context, c client.Client, namespace string) ([]string, error)

// completeNames completes up to maxArgs arguments (0 means any number)
// with the names list returns, leaving out names already given.
func completeNames(o *rootOptions, maxArgs int, list nameLister) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if maxArgs > 0 && len(args) >= maxArgs {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := o.factory.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		namespace, err := o.factory.Namespace()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		names, err := list(cmd.Context(), c, namespace)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var matches []string
		for _, name := range names {
			if strings.HasPrefix(name, toComplete) && !slices.Contains(args, name) {
				matches = append(matches, name)
			}
		}
		return matches, cobra.ShellCompDirectiveNoFileComp
	}
}

// listServiceCertificates lists the ServiceCertificates of namespace.
func listServiceCertificates(ctx context.Context, c client.Client, namespace string) ([]string, error) {
	list := &certsmithv1alpha1.ServiceCertificateList{}
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, sc := range list.Items {
		names = append(names, sc.Name)
	}
	return names, nil
}

// listClusterIssuers lists every ClusterIssuer.
func listClusterIssuers(ctx context.Context, c client.Client, _ string) ([]string, error) {
	list := &certsmithv1alpha1.ClusterIssuerList{}
	if err := c.List(ctx, list); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, issuer := range list.Items {
		names = append(names, issuer.Name)
	}
	return names, nil
}

// listTLSSecrets lists the kubernetes.io/tls Secrets of namespace, reading
// only their metadata: completion has no business fetching keys.
func listTLSSecrets(ctx context.Context, c client.Client, namespace string) ([]string, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := c.List(ctx, list, client.InNamespace(namespace),
		client.MatchingFields{"type": string(corev1.SecretTypeTLS)}); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, secret := range list.Items {
		names = append(names, secret.Name)
	}
	return names, nil
}

// listPods lists the Pods of namespace, reading only their metadata: the
// names are all completion needs, and a Pod object can be large.
func listPods(ctx context.Context, c client.Client, namespace string) ([]string, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, pod := range list.Items {
		names = append(names, pod.Name)
	}
	return names, nil
}

// listUndecidedCSRs lists the CSRs of certsmith signers that are neither
// approved nor denied: the ones "approve" and "deny" accept.
func listUndecidedCSRs(ctx context.Context, c client.Client, _ string) ([]string, error) {
	issuers := &certsmithv1alpha1.ClusterIssuerList{}
	if err := c.List(ctx, issuers); err != nil {
		return nil, err
	}
	signers := map[string]bool{}
	for i := range issuers.Items {
		signers[issuers.Items[i].Status.SignerName] = true
		signers[issuers.Items[i].EffectiveSignerName()] = true
	}
	csrs := &certificatesv1.CertificateSigningRequestList{}
	if err := c.List(ctx, csrs); err != nil {
		return nil, err
	}
	var names []string
	for i := range csrs.Items {
		csr := &csrs.Items[i]
		if signers[csr.Spec.SignerName] && decisionOf(csr) == "" {
			names = append(names, csr.Name)
		}
	}
	return names, nil
}
