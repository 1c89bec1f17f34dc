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
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// renewOptions selects the ServiceCertificates to renew.
type renewOptions struct {
	selector      string
	all           bool
	allNamespaces bool
}

func newRenewCommand(o *rootOptions) *cobra.Command {
	opts := &renewOptions{}
	cmd := &cobra.Command{
		Use:   "renew (NAME... | -l SELECTOR | --all) [-n NAMESPACE | -A]",
		Short: "Ask certsmith to re-issue ServiceCertificates now",
		Long: `Ask certsmith to re-issue ServiceCertificates now, ahead of their renewal time.

renew sets the annotation ` + certsmithv1alpha1.AnnotationRenewRequestedAt + ` to the current
time (RFC 3339) with a merge patch on the metadata; the spec is never touched.
certsmith re-issues a certificate when the annotation's value differs from the
last one it acted on (status.lastRenewRequest), so running renew again asks
again. Select certificates by name, by label selector or all of them, in one
namespace or, with -l or --all, in every namespace (-A).`,
		Example: `  # Renew the ServiceCertificate "web" in the current namespace
  kubectl certsmith renew web

  # Renew two certificates in the namespace "shop"
  kubectl certsmith renew web api -n shop

  # Renew every certificate labelled tier=frontend, in every namespace
  kubectl certsmith renew -l tier=frontend -A

  # Renew every certificate in the current namespace
  kubectl certsmith renew --all`,
		ValidArgsFunction: completeNames(o, 0, listServiceCertificates),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.validate(args); err != nil {
				return fmt.Errorf("%w; see '%s --help'", err, cmd.CommandPath())
			}
			c, err := o.factory.Client()
			if err != nil {
				return err
			}
			namespace, err := o.factory.Namespace()
			if err != nil {
				return err
			}
			return opts.run(cmd.Context(), c, cmd.OutOrStdout(), o.streams.ErrOut, namespace, args, o.clock.Now())
		},
	}
	cmd.Flags().StringVarP(&opts.selector, "selector", "l", "", "Renew the ServiceCertificates matching this label selector (e.g. -l app=web,tier!=db).")
	cmd.Flags().BoolVar(&opts.all, "all", false, "Renew every ServiceCertificate in the namespace (or in every namespace with -A).")
	cmd.Flags().BoolVarP(&opts.allNamespaces, "all-namespaces", "A", false, "With -l or --all, look in every namespace.")
	return cmd
}

// validate checks that exactly one way of selecting certificates is used.
func (opts *renewOptions) validate(names []string) error {
	ways := 0
	for _, used := range []bool{len(names) > 0, opts.selector != "", opts.all} {
		if used {
			ways++
		}
	}
	switch {
	case ways == 0:
		return errors.New("name the ServiceCertificates to renew, or use --selector or --all")
	case ways > 1:
		return errors.New("use only one of: names, --selector, --all")
	case opts.allNamespaces && len(names) > 0:
		return errors.New("--all-namespaces works with --selector or --all, not with names")
	}
	return nil
}

// run selects the certificates and patches each.
func (opts *renewOptions) run(ctx context.Context, c client.Client, out, errOut io.Writer, namespace string, names []string, now time.Time) error {
	var (
		targets []certsmithv1alpha1.ServiceCertificate
		errs    []error
	)
	if len(names) > 0 {
		for _, name := range names {
			sc := certsmithv1alpha1.ServiceCertificate{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &sc); err != nil {
				if apierrors.IsNotFound(err) {
					err = fmt.Errorf("ServiceCertificate %q not found in namespace %q", name, namespace)
				} else {
					err = fmt.Errorf("getting ServiceCertificate %s/%s: %w", namespace, name, err)
				}
				errs = append(errs, err)
				continue
			}
			targets = append(targets, sc)
		}
	} else {
		listed, err := opts.list(ctx, c, namespace)
		if err != nil {
			return err
		}
		if len(listed) == 0 {
			where := fmt.Sprintf("namespace %q", namespace)
			if opts.allNamespaces {
				where = "any namespace"
			}
			fmt.Fprintf(errOut, "No ServiceCertificates found in %s.\n", where)
			return nil
		}
		targets = listed
	}

	for i := range targets {
		sc := &targets[i]
		value, err := requestRenewal(ctx, c, sc, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "servicecertificate.certsmith.io/%s in namespace %s: renewal requested (%s=%s)\n",
			sc.Name, sc.Namespace, certsmithv1alpha1.AnnotationRenewRequestedAt, value)
	}
	return errors.Join(errs...)
}

// list returns the certificates that --selector or --all select.
func (opts *renewOptions) list(ctx context.Context, c client.Client, namespace string) ([]certsmithv1alpha1.ServiceCertificate, error) {
	var listOpts []client.ListOption
	if !opts.allNamespaces {
		listOpts = append(listOpts, client.InNamespace(namespace))
	}
	if opts.selector != "" {
		selector, err := labels.Parse(opts.selector)
		if err != nil {
			return nil, fmt.Errorf("parsing --selector %q: %w", opts.selector, err)
		}
		listOpts = append(listOpts, client.MatchingLabelsSelector{Selector: selector})
	}
	list := &certsmithv1alpha1.ServiceCertificateList{}
	if err := c.List(ctx, list, listOpts...); err != nil {
		return nil, fmt.Errorf("listing ServiceCertificates: %w", err)
	}
	return list.Items, nil
}

// requestRenewal sets the renew annotation on sc and returns its value.
func requestRenewal(ctx context.Context, c client.Client, sc *certsmithv1alpha1.ServiceCertificate, now time.Time) (string, error) {
	key := certsmithv1alpha1.AnnotationRenewRequestedAt
	value := requestTimestamp(now, sc.Annotations[key])
	patch, err := annotationPatch(key, value)
	if err != nil {
		return "", err
	}
	if err := c.Patch(ctx, sc, patch); err != nil {
		return "", fmt.Errorf("requesting renewal of ServiceCertificate %s/%s: %w", sc.Namespace, sc.Name, err)
	}
	return value, nil
}
