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
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// ioStreams are where a command reads its input and writes its output and
// diagnostics; tests replace them with buffers.
type ioStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// clientFactory connects the commands to a cluster. The plugin uses
// kubeconfigFactory; the indirection lets a test hand in any client.
type clientFactory interface {
	// AddFlags registers the connection flags (--kubeconfig, --context,
	// -n/--namespace, ...) on the root command.
	AddFlags(flags *pflag.FlagSet)
	// Client returns a client whose scheme holds the client-go and
	// certsmith types.
	Client() (client.Client, error)
	// Namespace returns the namespace chosen with -n, else the one of the
	// kubeconfig context, else "default".
	Namespace() (string, error)
}

// kubeconfigFactory builds clients the way kubectl does: from --kubeconfig,
// $KUBECONFIG or ~/.kube/config, with the standard override flags.
type kubeconfigFactory struct {
	loadingRules *clientcmd.ClientConfigLoadingRules
	overrides    clientcmd.ConfigOverrides
	warnings     io.Writer
}

// newKubeconfigFactory returns a factory that prints API server warnings
// (deprecations and the like) to warnings.
func newKubeconfigFactory(warnings io.Writer) *kubeconfigFactory {
	return &kubeconfigFactory{
		loadingRules: clientcmd.NewDefaultClientConfigLoadingRules(),
		warnings:     warnings,
	}
}

// AddFlags registers --kubeconfig and kubectl's connection override flags.
func (f *kubeconfigFactory) AddFlags(flags *pflag.FlagSet) {
	flags.StringVar(&f.loadingRules.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "",
		"Path to the kubeconfig file to use for CLI requests.")
	clientcmd.BindOverrideFlags(&f.overrides, flags, clientcmd.RecommendedConfigOverrideFlags(""))
}

func (f *kubeconfigFactory) clientConfig() clientcmd.ClientConfig {
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(f.loadingRules, &f.overrides)
}

// Client returns a controller-runtime client for the selected context.
func (f *kubeconfigFactory) Client() (client.Client, error) {
	config, err := f.clientConfig().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	config.UserAgent = "kubectl-certsmith/" + pluginVersion()
	if f.warnings != nil {
		config.WarningHandler = rest.NewWarningWriter(f.warnings, rest.WarningWriterOptions{Deduplicate: true})
	}
	c, err := client.New(config, client.Options{Scheme: newScheme()})
	if err != nil {
		return nil, fmt.Errorf("creating API client: %w", err)
	}
	return c, nil
}

// Namespace returns the namespace of -n or the kubeconfig context.
func (f *kubeconfigFactory) Namespace() (string, error) {
	namespace, _, err := f.clientConfig().Namespace()
	if err != nil {
		return "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	return namespace, nil
}

// newScheme returns a scheme with the client-go and certsmith types.
func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	// Both only fail on conflicting registrations, which would be a bug here.
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := certsmithv1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	return scheme
}

// rootOptions is what every command shares.
type rootOptions struct {
	streams ioStreams
	factory clientFactory
	// clock gives "now" for relative times, annotations and chain checks.
	clock clock.PassiveClock
}

// newRootCommand builds the command tree. Output goes to streams.Out,
// usage and errors to streams.ErrOut; the caller prints the returned error.
func newRootCommand(streams ioStreams, factory clientFactory, clk clock.PassiveClock) *cobra.Command {
	o := &rootOptions{streams: streams, factory: factory, clock: clk}
	root := &cobra.Command{
		Use:   "kubectl-certsmith",
		Short: "Inspect and operate certsmith certificates, pod certificates, issuers and CSRs",
		Long: `kubectl certsmith inspects and operates certsmith, the Kubernetes PKI operator.

It explains why a ServiceCertificate is or is not ready, shows the pod
certificates of a namespace or a pod, asks certsmith to renew certificates or
rotate an issuer's CA, revokes certificates, decodes TLS Secrets (saying
whether their certificate is revoked), and approves or denies
CertificateSigningRequests addressed to certsmith's ClusterIssuers.

It connects like kubectl: --kubeconfig, --context and -n/--namespace work
the same way.

For completion of names under "kubectl certsmith", put an executable named
kubectl_complete-certsmith on the PATH that runs
  kubectl-certsmith __complete "$@"`,
		Annotations: map[string]string{
			// Help and usage then say "kubectl certsmith", the way users call it.
			cobra.CommandDisplayNameAnnotation: "kubectl certsmith",
		},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	factory.AddFlags(root.PersistentFlags())

	root.AddCommand(
		newStatusCommand(o),
		newPodsCommand(o),
		newRenewCommand(o),
		newInspectCommand(o),
		newDecideCommand(o, approveDecision),
		newDecideCommand(o, denyDecision),
		newRotateCommand(o),
		newRevokeCommand(o),
		newVersionCommand(),
	)
	return root
}

// exactArgs is cobra.ExactArgs with a message that says what to give.
func exactArgs(n int, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s (got %d arguments); see '%s --help'", hint, len(args), cmd.CommandPath())
		}
		return nil
	}
}
