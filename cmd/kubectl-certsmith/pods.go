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

// A pod certificate lives in three places, none of them durable: the pod's
// podCertificate projections (what it asks for), PodCertificateRequests
// (which kube-controller-manager deletes 15–20 minutes after creation) and
// the kubelet's memory (the key and the certificate, never in the API).
// "pods" joins the first two and says plainly when the second is gone.

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

const (
	// defaultPodCertificateLimit is how many pod certificates "pods"
	// prints unless --limit says otherwise.
	defaultPodCertificateLimit = 500
	// podsPageSize is how many Pods one list call returns; a page is
	// dropped once its projections are read.
	podsPageSize = 500
	// podRequestsPageSize is how many PodCertificateRequests one list call
	// returns: each may carry a chain of up to 100 KiB.
	podRequestsPageSize = 100
	// maxPodRequestsRead bounds the PodCertificateRequests read in one run.
	// They live 15–20 minutes, so a cluster holds about one per pod
	// certificate; past this bound the states shown may be incomplete.
	maxPodRequestsRead = 10000
	// maxRequestMessageLength bounds the signer's message shown per row.
	maxRequestMessageLength = 200
	// maxNamesShown is how many URIs or DNS names a cell lists.
	maxNamesShown = 4

	// refreshOverdueAfter is how long after beginRefreshAt a certificate
	// counts as overdue for refresh: the kubelet asks again at
	// beginRefreshAt plus up to 5 minutes of jitter, and reports
	// CertificateOverdueForRefresh 10 minutes after that.
	refreshOverdueAfter = 15 * time.Minute
	// requestReplacedAfter is how long the kubelet waits on an unanswered
	// request before it makes another (10 minutes plus up to 5 of jitter).
	requestReplacedAfter = 10 * time.Minute
	// slowAnswerAfter is how long a request may wait at a Ready issuer
	// before the plugin says where to look: certsmith answers in seconds.
	slowAnswerAfter = time.Minute
)

// The states of a pod certificate's newest request. Issued, Denied and
// Failed are the PodCertificateRequest's condition types.
const (
	podRequestIssued  = certificatesv1.PodCertificateRequestConditionTypeIssued
	podRequestDenied  = certificatesv1.PodCertificateRequestConditionTypeDenied
	podRequestFailed  = certificatesv1.PodCertificateRequestConditionTypeFailed
	podRequestPending = "Pending"
	// podNoRequest: no PodCertificateRequest of the pod and signer is left.
	podNoRequest = "NoRequest"
)

// podsOptions selects the pods and the output of "pods".
type podsOptions struct {
	selector      string
	allNamespaces bool
	output        string
	limit         int
}

func newPodsCommand(o *rootOptions) *cobra.Command {
	opts := &podsOptions{limit: defaultPodCertificateLimit}
	cmd := &cobra.Command{
		Use:   "pods [POD] [-n NAMESPACE | -A] [-l SELECTOR] [-o wide]",
		Short: "Show the pod certificates of a namespace or a pod",
		Long: `Show the pod certificates of the pods in a namespace, of one pod, or of every
namespace (-A): one line per podCertificate projected volume source.

For each source it shows the ClusterIssuer that serves its signerName (the
issuer's status.signerName) and the newest PodCertificateRequest of that pod
and signer: its state (Issued, Denied, Failed or Pending) and reason, and for
an issued certificate its SPIFFE identity, when it expires and when the
kubelet refreshes it. A refresh counts as overdue 15 minutes after
beginRefreshAt (the kubelet's jitter plus its own 10-minute threshold).
While a refresh is pending, the certificate columns describe the newest
issued certificate, which the pod still holds. -o wide adds the signer, the
DNS names and the serial number. MESSAGE says what needs attention: a signer
no certsmith ClusterIssuer serves, an issuer without spec.podCertificates, a
denial (the kubelet does not ask again for that pod), an overdue refresh.

PodCertificateRequests are short-lived: kube-controller-manager deletes each
one 15–20 minutes after it was created, whatever its state. State NoRequest
means none is left; a certificate issued earlier then lives only in the
kubelet's memory and the pod's volume, and the pod's events (reasons
CertificateOverdueForRefresh, CertificateExpired, Denied, Failed) are what
the cluster still knows about it.

At most --limit certificates are shown; Pods and requests are read in pages.
Permissions needed: "list" on pods and on podcertificaterequests (API group
certificates.k8s.io) in the namespace, or cluster-wide with -A ("get" on
pods when a POD is named), and "list" on clusterissuers (certsmith.io).`,
		Example: `  # Pod certificates of the pods in the current namespace
  kubectl certsmith pods

  # ... of the pod "web-0" in the namespace "shop", with DNS names and serials
  kubectl certsmith pods web-0 -n shop -o wide

  # ... of the pods labelled app=web in every namespace
  kubectl certsmith pods -l app=web -A`,
		ValidArgsFunction: completeNames(o, 1, listPods),
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
			podName := ""
			if len(args) == 1 {
				podName = args[0]
			}
			return opts.run(cmd.Context(), c, cmd.OutOrStdout(), o.streams.ErrOut, namespace, podName, o.clock.Now())
		},
	}
	cmd.Flags().StringVarP(&opts.selector, "selector", "l", "", "Show only the pods matching this label selector (e.g. -l app=web,tier!=db).")
	cmd.Flags().BoolVarP(&opts.allNamespaces, "all-namespaces", "A", false, "Show the pods of every namespace.")
	cmd.Flags().StringVarP(&opts.output, "output", "o", "", `Output format: leave it out for the table, or "wide" to add the signer, DNS names and serial number.`)
	cmd.Flags().IntVar(&opts.limit, "limit", opts.limit, "Show at most this many pod certificates.")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"wide"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// validate checks the arguments and flags before anything is read.
func (opts *podsOptions) validate(args []string) error {
	switch {
	case len(args) > 1:
		return fmt.Errorf("give at most one Pod name (got %d arguments)", len(args))
	case len(args) == 1 && opts.allNamespaces:
		return errors.New("--all-namespaces shows the pods of every namespace and takes no Pod name; use -n with a name")
	case len(args) == 1 && opts.selector != "":
		return errors.New("use a Pod name or --selector, not both")
	case opts.output != "" && opts.output != "wide":
		return fmt.Errorf(`unknown output format %q: leave -o out for the table, or use -o wide`, opts.output)
	case opts.limit < 1:
		return fmt.Errorf("--limit must be at least 1 (got %d)", opts.limit)
	}
	return nil
}

// run reads the pods, issuers and requests and prints one row per pod
// certificate. Notes about what was left out go to errOut.
func (opts *podsOptions) run(ctx context.Context, c client.Client, out, errOut io.Writer, namespace, podName string, now time.Time) error {
	if opts.allNamespaces {
		namespace = ""
	}
	issuers := &certsmithv1alpha1.ClusterIssuerList{}
	if err := c.List(ctx, issuers); err != nil {
		return permissionHint(fmt.Errorf("listing ClusterIssuers: %w", err), `"list" on clusterissuers (certsmith.io)`)
	}
	sources, truncated, err := opts.readSources(ctx, c, namespace, podName)
	if err != nil {
		return err
	}
	if len(sources) == 0 {
		switch {
		case podName != "":
			fmt.Fprintf(errOut, "Pod %s in namespace %s has no podCertificate volume sources.\n", podName, namespace)
		case opts.allNamespaces:
			fmt.Fprintln(errOut, "No pods with podCertificate volume sources found in any namespace.")
		default:
			fmt.Fprintf(errOut, "No pods with podCertificate volume sources found in namespace %q.\n", namespace)
		}
		return nil
	}
	requests, incomplete, err := readPodRequests(ctx, c, namespace, podName, sources)
	if err != nil {
		return err
	}

	rows := make([]podCertificateRow, 0, len(sources))
	for i := range sources {
		source := &sources[i]
		issuer := podIssuerFor(issuers.Items, source.SignerName)
		rows = append(rows, describePodCertificate(source, issuer, requests.lookup(source), now))
	}
	if err := printPodCertificates(out, rows, opts.allNamespaces, opts.output == "wide"); err != nil {
		return err
	}
	if truncated {
		fmt.Fprintf(errOut, "Showing the first %d pod certificates; narrow down with -l or a Pod name, or raise --limit.\n", opts.limit)
	}
	if incomplete {
		fmt.Fprintf(errOut, "Stopped after reading %d PodCertificateRequests: states may be missing or out of date; narrow down with -n or a Pod name.\n", maxPodRequestsRead)
	}
	return nil
}

// permissionHint adds the permission a command needs to a Forbidden error.
func permissionHint(err error, needs string) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w (kubectl certsmith pods needs %s)", err, needs)
	}
	return err
}

// readSources returns the podCertificate sources of the named pod, or of
// the pods that opts select in namespace ("" for all), at most opts.limit
// of them, and whether more were left out.
func (opts *podsOptions) readSources(ctx context.Context, c client.Client, namespace, podName string) ([]podCertificateSource, bool, error) {
	if podName != "" {
		pod := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: podName}, pod); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, false, fmt.Errorf("Pod %q not found in namespace %q", podName, namespace)
			}
			return nil, false, permissionHint(fmt.Errorf("getting Pod %s/%s: %w", namespace, podName, err), `"get" on pods`)
		}
		sources := podCertificateSources(pod)
		if len(sources) > opts.limit {
			return sources[:opts.limit], true, nil
		}
		return sources, false, nil
	}

	listOpts := []client.ListOption{client.Limit(podsPageSize)}
	if namespace != "" {
		listOpts = append(listOpts, client.InNamespace(namespace))
	}
	if opts.selector != "" {
		selector, err := labels.Parse(opts.selector)
		if err != nil {
			return nil, false, fmt.Errorf("parsing --selector %q: %w", opts.selector, err)
		}
		listOpts = append(listOpts, client.MatchingLabelsSelector{Selector: selector})
	}
	var sources []podCertificateSource
	for continueToken := ""; ; {
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, append(listOpts, client.Continue(continueToken))...); err != nil {
			return nil, false, permissionHint(fmt.Errorf("listing Pods%s: %w", inNamespace(namespace), err), `"list" on pods`)
		}
		for i := range pods.Items {
			more := podCertificateSources(&pods.Items[i])
			if room := opts.limit - len(sources); len(more) > room {
				return append(sources, more[:room]...), true, nil
			}
			sources = append(sources, more...)
		}
		if continueToken = pods.Continue; continueToken == "" {
			return sources, false, nil
		}
	}
}

// inNamespace is " in namespace NS" for error messages, or "" for all.
func inNamespace(namespace string) string {
	if namespace == "" {
		return ""
	}
	return fmt.Sprintf(" in namespace %s", namespace)
}

// podCertificateSource is one podCertificate projection of a pod, with
// what of the pod explains its requests.
type podCertificateSource struct {
	Namespace string
	Pod       string
	PodUID    types.UID
	// NodeName is empty while the pod is not scheduled: no kubelet asks yet.
	NodeName string
	Phase    corev1.PodPhase
	// Volume names the projected volume; "name[i]" is its i-th source when
	// the volume has more than one podCertificate source.
	Volume     string
	SignerName string
	KeyType    string
	// SharesSigner is set when another source of the pod names the same
	// signer: a request names only pod and signer, so its key type tells
	// which source it is for.
	SharesSigner bool
}

// podCertificateSources lists the podCertificate projections of pod in the
// order of its volumes and their sources.
func podCertificateSources(pod *corev1.Pod) []podCertificateSource {
	var sources []podCertificateSource
	for _, volume := range pod.Spec.Volumes {
		if volume.Projected == nil {
			continue
		}
		inVolume := 0
		for _, projection := range volume.Projected.Sources {
			if projection.PodCertificate != nil {
				inVolume++
			}
		}
		for i, projection := range volume.Projected.Sources {
			if projection.PodCertificate == nil {
				continue
			}
			name := volume.Name
			if inVolume > 1 {
				name = fmt.Sprintf("%s[%d]", volume.Name, i)
			}
			sources = append(sources, podCertificateSource{
				Namespace:  pod.Namespace,
				Pod:        pod.Name,
				PodUID:     pod.UID,
				NodeName:   pod.Spec.NodeName,
				Phase:      pod.Status.Phase,
				Volume:     name,
				SignerName: projection.PodCertificate.SignerName,
				KeyType:    projection.PodCertificate.KeyType,
			})
		}
	}
	perSigner := map[string]int{}
	for _, source := range sources {
		perSigner[source.SignerName]++
	}
	for i := range sources {
		sources[i].SharesSigner = perSigner[sources[i].SignerName] > 1
	}
	return sources
}

// podIssuerFor returns the ClusterIssuer that serves signerName, or nil:
// of several, the oldest, as certsmith itself chooses.
func podIssuerFor(issuers []certsmithv1alpha1.ClusterIssuer, signerName string) *certsmithv1alpha1.ClusterIssuer {
	var chosen *certsmithv1alpha1.ClusterIssuer
	for i := range issuers {
		issuer := &issuers[i]
		if signerNameOf(issuer) != signerName {
			continue
		}
		if chosen == nil || issuer.CreationTimestamp.Before(&chosen.CreationTimestamp) ||
			(issuer.CreationTimestamp.Equal(&chosen.CreationTimestamp) && issuer.Name < chosen.Name) {
			chosen = issuer
		}
	}
	return chosen
}

// podRequest is what the plugin keeps of one PodCertificateRequest: never
// its chain or stub request, so memory stays bounded per request.
type podRequest struct {
	Name    string
	Created time.Time
	// KeyType is the stub request's key type as a podCertificate source
	// names it, "" when unknown.
	KeyType string
	// State is podRequestIssued, podRequestDenied, podRequestFailed or
	// podRequestPending.
	State   string
	Reason  string
	Message string
	// Certificate is set when State is podRequestIssued.
	Certificate *podCertificateFacts
}

// podCertificateFacts are the facts of an issued pod certificate, already
// formatted and bounded.
type podCertificateFacts struct {
	// Identity lists the leaf's SPIFFE URIs.
	Identity string
	// DNSNames lists the leaf's DNS names.
	DNSNames       string
	Serial         string
	NotBefore      time.Time
	NotAfter       time.Time
	BeginRefreshAt time.Time
	// Unreadable says why the chain could not be decoded, if it could not.
	Unreadable string
}

// summarizePodRequest reads the state, the key type and, when issued, the
// leaf certificate of a request.
func summarizePodRequest(pcr *certificatesv1.PodCertificateRequest) podRequest {
	request := podRequest{Name: pcr.Name, Created: pcr.CreationTimestamp.Time, State: podRequestPending}
	if stub, err := x509.ParseCertificateRequest(pcr.Spec.StubPKCS10Request); err == nil {
		request.KeyType = podKeyTypeOf(stub.PublicKey)
	}
	for _, conditionType := range []string{podRequestIssued, podRequestDenied, podRequestFailed} {
		if cond := meta.FindStatusCondition(pcr.Status.Conditions, conditionType); cond != nil && cond.Status == metav1.ConditionTrue {
			request.State, request.Reason = conditionType, cond.Reason
			request.Message = boundedMessage(cond.Message)
			break
		}
	}
	if request.State == podRequestIssued {
		request.Certificate = issuedFacts(&pcr.Status)
	}
	return request
}

// issuedFacts reads the leaf of an issued request. The status times equal
// the leaf's (the API server checks that); the leaf fills in any missing.
func issuedFacts(status *certificatesv1.PodCertificateRequestStatus) *podCertificateFacts {
	facts := &podCertificateFacts{Identity: noValue, DNSNames: noValue, Serial: noValue}
	certs, err := pki.ParseCertificatesPEM([]byte(status.CertificateChain))
	if err == nil && len(certs) == 0 {
		err = errors.New("no certificate")
	}
	if err != nil {
		facts.Unreadable = boundedMessage(err.Error())
	} else {
		leaf := certs[0]
		var spiffe []string
		for _, uri := range leaf.URIs {
			if uri.Scheme == "spiffe" {
				spiffe = append(spiffe, uri.String())
			}
		}
		facts.Identity = joinBounded(spiffe, maxNamesShown)
		facts.DNSNames = joinBounded(leaf.DNSNames, maxNamesShown)
		facts.Serial = fmt.Sprintf("%x", leaf.SerialNumber)
		facts.NotBefore, facts.NotAfter = leaf.NotBefore, leaf.NotAfter
	}
	if status.NotBefore != nil {
		facts.NotBefore = status.NotBefore.Time
	}
	if status.NotAfter != nil {
		facts.NotAfter = status.NotAfter.Time
	}
	if status.BeginRefreshAt != nil {
		facts.BeginRefreshAt = status.BeginRefreshAt.Time
	}
	return facts
}

// podKeyTypeOf names a public key as a podCertificate source's keyType
// does, or "" for a key the kubelet does not make.
func podKeyTypeOf(pub any) string {
	spec, err := pki.KeySpecOf(pub)
	if err != nil {
		return ""
	}
	switch {
	case spec.Algorithm == pki.KeyAlgorithmEd25519:
		return string(certsmithv1alpha1.PodCertificateKeyED25519)
	case spec.Algorithm == pki.KeyAlgorithmECDSA && (spec.Size == 256 || spec.Size == 384 || spec.Size == 521):
		return fmt.Sprintf("ECDSAP%d", spec.Size)
	case spec.Algorithm == pki.KeyAlgorithmRSA && (spec.Size == 3072 || spec.Size == 4096):
		return fmt.Sprintf("RSA%d", spec.Size)
	}
	return ""
}

// boundedMessage makes a message fit one table cell of bounded length.
func boundedMessage(message string) string {
	message = oneLine(message)
	if runes := []rune(message); len(runes) > maxRequestMessageLength {
		return string(runes[:maxRequestMessageLength]) + "…"
	}
	return message
}

// joinBounded joins at most limit values with ", " and says how many more
// there are, or returns noValue for none.
func joinBounded(values []string, limit int) string {
	if len(values) <= limit {
		return joinOrNone(values)
	}
	return fmt.Sprintf("%s (+%d more)", strings.Join(values[:limit], ", "), len(values)-limit)
}

// podRequestKey groups requests by pod, signer and key type.
type podRequestKey struct {
	PodUID     types.UID
	SignerName string
	KeyType    string
}

// podRequestHistory is what is left of the requests of one key.
type podRequestHistory struct {
	Newest       *podRequest
	NewestIssued *podRequest
	Count        int
}

// add records one more request.
func (h *podRequestHistory) add(request *podRequest) {
	h.Count++
	if h.Newest == nil || newerRequest(request, h.Newest) {
		h.Newest = request
	}
	if request.State == podRequestIssued && (h.NewestIssued == nil || newerRequest(request, h.NewestIssued)) {
		h.NewestIssued = request
	}
}

// merge adds the requests of other.
func (h *podRequestHistory) merge(other *podRequestHistory) {
	if other.Newest != nil && (h.Newest == nil || newerRequest(other.Newest, h.Newest)) {
		h.Newest = other.Newest
	}
	if other.NewestIssued != nil && (h.NewestIssued == nil || newerRequest(other.NewestIssued, h.NewestIssued)) {
		h.NewestIssued = other.NewestIssued
	}
	h.Count += other.Count
}

// newerRequest orders requests by creation, then by name, so the choice
// is the same on every run.
func newerRequest(a, b *podRequest) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.After(b.Created)
	}
	return a.Name > b.Name
}

// podRequestIndex holds the requests read, by key.
type podRequestIndex map[podRequestKey]*podRequestHistory

// add records a request under its key.
func (index podRequestIndex) add(podUID types.UID, signerName string, request *podRequest) {
	key := podRequestKey{PodUID: podUID, SignerName: signerName, KeyType: request.KeyType}
	if index[key] == nil {
		index[key] = &podRequestHistory{}
	}
	index[key].add(request)
}

// lookup returns the requests of a source: those of its pod and signer,
// narrowed to its key type only when another source of the pod shares the
// signer, so a request with an unreadable stub still counts otherwise.
func (index podRequestIndex) lookup(source *podCertificateSource) podRequestHistory {
	var history podRequestHistory
	for key, h := range index {
		if key.PodUID != source.PodUID || key.SignerName != source.SignerName {
			continue
		}
		if source.SharesSigner && key.KeyType != source.KeyType {
			continue
		}
		history.merge(h)
	}
	return history
}

// readPodRequests reads the PodCertificateRequests of the signers and pods
// of sources, one signer at a time (the API server filters by signer), in
// pages, and returns whether it stopped at maxPodRequestsRead.
func readPodRequests(ctx context.Context, c client.Client, namespace, podName string, sources []podCertificateSource) (podRequestIndex, bool, error) {
	pods := map[types.UID]bool{}
	signers := map[string]bool{}
	for _, source := range sources {
		pods[source.PodUID] = true
		signers[source.SignerName] = true
	}
	signerNames := make([]string, 0, len(signers))
	for signerName := range signers {
		signerNames = append(signerNames, signerName)
	}
	sort.Strings(signerNames)

	index := podRequestIndex{}
	read := 0
	for _, signerName := range signerNames {
		fieldSet := client.MatchingFields{"spec.signerName": signerName}
		if podName != "" {
			fieldSet["spec.podName"] = podName
		}
		listOpts := []client.ListOption{fieldSet, client.Limit(podRequestsPageSize)}
		if namespace != "" {
			listOpts = append(listOpts, client.InNamespace(namespace))
		}
		for continueToken := ""; ; {
			list := &certificatesv1.PodCertificateRequestList{}
			if err := c.List(ctx, list, append(listOpts, client.Continue(continueToken))...); err != nil {
				return nil, false, permissionHint(fmt.Errorf("listing PodCertificateRequests of signer %s%s: %w", signerName, inNamespace(namespace), err),
					`"list" on podcertificaterequests (certificates.k8s.io)`)
			}
			for i := range list.Items {
				if read++; read > maxPodRequestsRead {
					return index, true, nil
				}
				pcr := &list.Items[i]
				if !pods[pcr.Spec.PodUID] {
					continue
				}
				request := summarizePodRequest(pcr)
				index.add(pcr.Spec.PodUID, signerName, &request)
			}
			if continueToken = list.Continue; continueToken == "" {
				break
			}
		}
	}
	return index, false, nil
}

// podCertificateRow is one printed line: every cell formatted.
type podCertificateRow struct {
	Namespace string
	Pod       string
	Volume    string
	Signer    string
	Issuer    string
	Request   string
	State     string
	Reason    string
	Identity  string
	DNSNames  string
	Serial    string
	NotAfter  string
	Refresh   string
	Message   string
}

// describePodCertificate decides what to say about one source, from its
// issuer (nil when none serves the signer) and its requests, at now.
func describePodCertificate(source *podCertificateSource, issuer *certsmithv1alpha1.ClusterIssuer, requests podRequestHistory, now time.Time) podCertificateRow {
	row := podCertificateRow{
		Namespace: source.Namespace, Pod: source.Pod, Volume: source.Volume, Signer: source.SignerName,
		Issuer: noValue, Request: noValue, Reason: noValue,
		Identity: noValue, DNSNames: noValue, Serial: noValue, NotAfter: noValue, Refresh: noValue,
	}
	var notes []string
	served := false
	switch {
	case issuer == nil:
		notes = append(notes, fmt.Sprintf("no certsmith ClusterIssuer serves signer %s", source.SignerName))
	case issuer.Spec.PodCertificates == nil:
		row.Issuer = issuer.Name
		notes = append(notes, fmt.Sprintf("ClusterIssuer %s does not sign pod certificates (spec.podCertificates is not set)", issuer.Name))
	case !issuer.DeletionTimestamp.IsZero():
		row.Issuer = issuer.Name
		notes = append(notes, fmt.Sprintf("ClusterIssuer %s is being deleted and signs no more pod certificates", issuer.Name))
	default:
		row.Issuer = issuer.Name
		served = true
	}

	newest := requests.Newest
	if newest == nil {
		row.State = podNoRequest
		switch {
		case source.NodeName == "":
			notes = append(notes, "the pod is not scheduled to a node yet; its kubelet asks for a certificate once it is")
		case source.Phase == corev1.PodSucceeded || source.Phase == corev1.PodFailed:
			notes = append(notes, "the pod has finished; its kubelet asks for no more certificates")
		default:
			notes = append(notes, "no PodCertificateRequest left (they are deleted 15-20 minutes after creation): "+
				"a certificate issued earlier lives only in the kubelet's memory and the pod's volume; see the pod's events")
		}
		row.Message = strings.Join(notes, "; ")
		return row
	}

	requestAge := age(newest.Created, now)
	row.Request = fmt.Sprintf("%s (%s)", newest.Name, requestAge)
	row.State = newest.State
	row.Reason = orNone(newest.Reason)
	var certificate *podCertificateFacts
	switch newest.State {
	case podRequestIssued:
		certificate = newest.Certificate
	case podRequestPending:
		if served {
			ready := meta.FindStatusCondition(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady)
			switch {
			case ready == nil || ready.Status != metav1.ConditionTrue:
				notes = append(notes, fmt.Sprintf("ClusterIssuer %s is not Ready (%s)", issuer.Name, readyReason(ready)))
			case now.Sub(newest.Created) < slowAnswerAfter:
				// Just created: certsmith is most likely at it.
			case isDefaultSigner(source.SignerName):
				notes = append(notes, fmt.Sprintf("certsmith is slow to answer: look at the events of ClusterIssuer %s and at certsmith's logs", issuer.Name))
			default:
				// The one cause that leaves no trace on the issuer's status.
				notes = append(notes, fmt.Sprintf("certsmith is slow to answer: a custom signerName needs the \"sign\" verb granted to certsmith "+
					"(a Warning SignerPermissionMissing on ClusterIssuer %s says it is missing)", issuer.Name))
			}
		}
		if older := requests.NewestIssued; older != nil {
			certificate = older.Certificate
			notes = append(notes, fmt.Sprintf("refresh requested %s ago, not answered yet; the pod still holds the certificate of %s", requestAge, older.Name))
		} else {
			notes = append(notes, fmt.Sprintf("requested %s ago, not answered yet", requestAge))
		}
		if now.Sub(newest.Created) >= requestReplacedAfter {
			notes = append(notes, "the kubelet replaces a request left unanswered for 10-15 minutes")
		}
	case podRequestDenied, podRequestFailed:
		if newest.Message != "" {
			notes = append(notes, newest.Message)
		}
		notes = append(notes, "the kubelet does not ask again for this pod: fix the cause, then recreate the pod")
	}

	if certificate != nil {
		row.Identity, row.DNSNames, row.Serial = certificate.Identity, certificate.DNSNames, certificate.Serial
		if certificate.Unreadable != "" {
			notes = append(notes, "the certificate chain is unreadable: "+certificate.Unreadable)
		}
		if !certificate.NotAfter.IsZero() {
			row.NotAfter = relativeTime(certificate.NotAfter, now)
		}
		refresh, overdue := refreshState(certificate.BeginRefreshAt, now)
		row.Refresh = refresh
		switch {
		case !certificate.NotAfter.IsZero() && !now.Before(certificate.NotAfter):
			notes = append(notes, "the certificate expired "+relativeTime(certificate.NotAfter, now))
		case overdue:
			notes = append(notes, fmt.Sprintf("refresh overdue: the kubelet should have asked for a new certificate by %s",
				certificate.BeginRefreshAt.Add(refreshOverdueAfter).UTC().Format(time.RFC3339)))
		}
	}
	row.Message = strings.Join(notes, "; ")
	return row
}

// isDefaultSigner says whether signerName has the default form
// "clusterissuers.certsmith.io/<issuer>", for which certsmith's own role
// grants signing.
func isDefaultSigner(signerName string) bool {
	_, ok := certsmithv1alpha1.IssuerNameFromDefaultSigner(signerName)
	return ok
}

// readyReason is the reason of an issuer's Ready condition, for a message.
func readyReason(ready *metav1.Condition) string {
	switch {
	case ready == nil:
		return "no Ready condition yet"
	case ready.Reason == "":
		return "Ready " + string(ready.Status)
	default:
		return ready.Reason
	}
}

// refreshState describes when the kubelet refreshes a certificate: "in
// 15h", "due 3m ago" (it should be asking now) or "overdue (due 20m ago)",
// and whether it is overdue.
func refreshState(beginRefreshAt, now time.Time) (string, bool) {
	switch {
	case beginRefreshAt.IsZero():
		return noValue, false
	case now.Before(beginRefreshAt):
		return relativeTime(beginRefreshAt, now), false
	case now.Sub(beginRefreshAt) < refreshOverdueAfter:
		return "due " + duration.HumanDuration(now.Sub(beginRefreshAt)) + " ago", false
	default:
		return "overdue (due " + duration.HumanDuration(now.Sub(beginRefreshAt)) + " ago)", true
	}
}

// printPodCertificates prints rows as a table; allNamespaces adds the
// namespace, wide the signer, DNS names and serial number.
func printPodCertificates(w io.Writer, rows []podCertificateRow, allNamespaces, wide bool) error {
	type column struct {
		header string
		cell   func(*podCertificateRow) string
		show   bool
	}
	columns := []column{
		{"NAMESPACE", func(r *podCertificateRow) string { return r.Namespace }, allNamespaces},
		{"POD", func(r *podCertificateRow) string { return r.Pod }, true},
		{"VOLUME", func(r *podCertificateRow) string { return r.Volume }, true},
		{"SIGNER", func(r *podCertificateRow) string { return r.Signer }, wide},
		{"ISSUER", func(r *podCertificateRow) string { return r.Issuer }, true},
		{"REQUEST", func(r *podCertificateRow) string { return r.Request }, true},
		{"STATE", func(r *podCertificateRow) string { return r.State }, true},
		{"REASON", func(r *podCertificateRow) string { return r.Reason }, true},
		{"IDENTITY", func(r *podCertificateRow) string { return r.Identity }, true},
		{"DNS NAMES", func(r *podCertificateRow) string { return r.DNSNames }, wide},
		{"SERIAL", func(r *podCertificateRow) string { return r.Serial }, wide},
		{"NOT AFTER", func(r *podCertificateRow) string { return r.NotAfter }, true},
		{"REFRESH", func(r *podCertificateRow) string { return r.Refresh }, true},
		{"MESSAGE", func(r *podCertificateRow) string { return r.Message }, true},
	}
	shown := columns[:0]
	for _, col := range columns {
		if col.show {
			shown = append(shown, col)
		}
	}
	t := newTable(w)
	cells := make([]string, len(shown))
	for i, col := range shown {
		cells[i] = col.header
	}
	fmt.Fprintln(t, strings.Join(cells, "\t"))
	for i := range rows {
		for j, col := range shown {
			cells[j] = col.cell(&rows[i])
		}
		fmt.Fprintln(t, strings.Join(cells, "\t"))
	}
	return t.Flush()
}
