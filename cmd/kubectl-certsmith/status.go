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
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	certificatesv1 "k8s.io/api/certificates/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// maxStatusEvents is how many of the newest events "status" shows.
const maxStatusEvents = 10

func newStatusCommand(o *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Show why a ServiceCertificate is or is not ready",
		Long: `Show a ServiceCertificate's state in one place: its conditions, Secret,
issuer, validity and renewal time, the CertificateSigningRequest in flight
with its conditions, and the newest events about it.

Times are printed in RFC 3339 (UTC) and relative to now.`,
		Example: `  # Status of the ServiceCertificate "web" in the current namespace
  kubectl certsmith status web

  # ... in the namespace "shop"
  kubectl certsmith status web -n shop`,
		Args:              exactArgs(1, "give the name of one ServiceCertificate"),
		ValidArgsFunction: completeNames(o, 1, listServiceCertificates),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.factory.Client()
			if err != nil {
				return err
			}
			namespace, err := o.factory.Namespace()
			if err != nil {
				return err
			}
			return runStatus(cmd.Context(), c, cmd.OutOrStdout(), namespace, args[0], o.clock.Now())
		},
	}
}

// runStatus prints the status report of one ServiceCertificate.
func runStatus(ctx context.Context, c client.Client, w io.Writer, namespace, name string, now time.Time) error {
	sc := &certsmithv1alpha1.ServiceCertificate{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sc); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("ServiceCertificate %q not found in namespace %q", name, namespace)
		}
		return fmt.Errorf("getting ServiceCertificate %s/%s: %w", namespace, name, err)
	}

	issuerLine, err := describeIssuer(ctx, c, sc.Spec.IssuerRef.Name)
	if err != nil {
		return err
	}
	csr, err := getCSRInFlight(ctx, c, sc.Status.CertificateSigningRequest)
	if err != nil {
		return err
	}
	events, err := eventsRegarding(ctx, c, sc)
	if err != nil {
		return err
	}

	t := newTable(w)
	fmt.Fprintf(t, "Name:\t%s\n", sc.Name)
	fmt.Fprintf(t, "Namespace:\t%s\n", sc.Namespace)
	fmt.Fprintf(t, "Secret:\t%s\n", orNone(sc.Status.SecretName))
	fmt.Fprintf(t, "Issuer:\t%s\n", issuerLine)
	fmt.Fprintf(t, "Serial number:\t%s\n", orNone(sc.Status.SerialNumber))
	fmt.Fprintf(t, "Not before:\t%s\n", metaTime(sc.Status.NotBefore, now))
	fmt.Fprintf(t, "Not after:\t%s\n", metaTime(sc.Status.NotAfter, now))
	fmt.Fprintf(t, "Renewal time:\t%s\n", metaTime(sc.Status.RenewalTime, now))
	fmt.Fprintf(t, "Revision:\t%d\n", sc.Status.Revision)
	fmt.Fprintf(t, "Failed attempts:\t%d\n", sc.Status.FailedIssuanceAttempts)
	if sc.Status.LastFailureTime != nil {
		fmt.Fprintf(t, "Last failure:\t%s\n", metaTime(sc.Status.LastFailureTime, now))
	}
	if requested, ok := sc.Annotations[certsmithv1alpha1.AnnotationRenewRequestedAt]; ok {
		state := "handled"
		if requested != sc.Status.LastRenewRequest {
			state = "not handled yet"
		}
		fmt.Fprintf(t, "Renewal requested:\t%s (%s)\n", requested, state)
	}
	if sc.Status.ObservedGeneration != sc.Generation {
		fmt.Fprintf(t, "Observed generation:\t%d (the spec is at generation %d: certsmith has not caught up yet)\n",
			sc.Status.ObservedGeneration, sc.Generation)
	}
	if err := t.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	printConditions(w, "Conditions:", sc.Status.Conditions, now)

	fmt.Fprintln(w)
	printCSR(w, sc.Status.CertificateSigningRequest, csr, now)

	fmt.Fprintln(w)
	return printEvents(w, events, now)
}

// describeIssuer summarises the ClusterIssuer name: whether it is Ready and
// the signerName it serves.
func describeIssuer(ctx context.Context, c client.Client, name string) (string, error) {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, issuer); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("%s (ClusterIssuer not found)", name), nil
		}
		return "", fmt.Errorf("getting ClusterIssuer %s: %w", name, err)
	}
	ready := string(metav1.ConditionUnknown)
	if cond := meta.FindStatusCondition(issuer.Status.Conditions, certsmithv1alpha1.ConditionReady); cond != nil {
		ready = string(cond.Status)
		if cond.Status != metav1.ConditionTrue && cond.Reason != "" {
			ready += ", " + cond.Reason
		}
	}
	return fmt.Sprintf("%s (Ready: %s, signer: %s)", name, ready, signerNameOf(issuer)), nil
}

// signerNameOf is the signerName an issuer serves: what its status reports,
// else what its spec implies.
func signerNameOf(issuer *certsmithv1alpha1.ClusterIssuer) string {
	if issuer.Status.SignerName != "" {
		return issuer.Status.SignerName
	}
	return issuer.EffectiveSignerName()
}

// getCSRInFlight returns the named CSR, or nil when there is none (no name,
// or it was deleted since).
func getCSRInFlight(ctx context.Context, c client.Client, name string) (*certificatesv1.CertificateSigningRequest, error) {
	if name == "" {
		return nil, nil
	}
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("getting CertificateSigningRequest %s: %w", name, err)
	}
	return csr, nil
}

// printConditions prints conditions as a table under title.
func printConditions(w io.Writer, title string, conditions []metav1.Condition, now time.Time) {
	fmt.Fprintln(w, title)
	if len(conditions) == 0 {
		fmt.Fprintf(w, "  %s\n", noValue)
		return
	}
	t := newTable(w)
	fmt.Fprintln(t, "  TYPE\tSTATUS\tREASON\tAGE\tMESSAGE")
	for _, cond := range conditions {
		fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\n", cond.Type, cond.Status, orNone(cond.Reason),
			age(cond.LastTransitionTime.Time, now), oneLine(cond.Message))
	}
	_ = t.Flush()
}

// printCSR prints the CSR in flight and its conditions.
func printCSR(w io.Writer, name string, csr *certificatesv1.CertificateSigningRequest, now time.Time) {
	switch {
	case name == "":
		fmt.Fprintf(w, "CertificateSigningRequest: %s (none in flight)\n", noValue)
		return
	case csr == nil:
		fmt.Fprintf(w, "CertificateSigningRequest: %s (not found)\n", name)
		return
	}
	fmt.Fprintf(w, "CertificateSigningRequest: %s (signer %s, requested %s ago)\n",
		csr.Name, csr.Spec.SignerName, age(csr.CreationTimestamp.Time, now))
	if len(csr.Status.Conditions) == 0 {
		fmt.Fprintln(w, "  Pending: no conditions yet (not approved or denied)")
		return
	}
	t := newTable(w)
	fmt.Fprintln(t, "  TYPE\tSTATUS\tREASON\tAGE\tMESSAGE")
	for _, cond := range csr.Status.Conditions {
		when := cond.LastUpdateTime.Time
		if when.IsZero() {
			when = cond.LastTransitionTime.Time
		}
		fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\n", cond.Type, cond.Status, orNone(cond.Reason),
			age(when, now), oneLine(cond.Message))
	}
	_ = t.Flush()
	if len(csr.Status.Certificate) > 0 {
		fmt.Fprintln(w, "  Certificate: issued")
	}
}

// eventsRegarding returns the events.k8s.io Events about sc, oldest first,
// at most the newest maxStatusEvents.
func eventsRegarding(ctx context.Context, c client.Client, sc *certsmithv1alpha1.ServiceCertificate) ([]eventsv1.Event, error) {
	list := &eventsv1.EventList{}
	if err := c.List(ctx, list, client.InNamespace(sc.Namespace), client.MatchingFields{
		"regarding.kind": "ServiceCertificate",
		"regarding.name": sc.Name,
	}); err != nil {
		return nil, fmt.Errorf("listing events of ServiceCertificate %s/%s: %w", sc.Namespace, sc.Name, err)
	}
	var events []eventsv1.Event
	for _, event := range list.Items {
		gv, err := schema.ParseGroupVersion(event.Regarding.APIVersion)
		if err != nil || gv.Group != certsmithv1alpha1.GroupVersion.Group {
			continue
		}
		// Events of an earlier object of the same name are not about this one.
		if event.Regarding.UID != "" && event.Regarding.UID != sc.UID {
			continue
		}
		events = append(events, event)
	}
	sort.SliceStable(events, func(i, j int) bool {
		return lastSeen(&events[i]).Before(lastSeen(&events[j]))
	})
	if len(events) > maxStatusEvents {
		events = events[len(events)-maxStatusEvents:]
	}
	return events, nil
}

// lastSeen is when an event last happened, whichever API wrote it.
func lastSeen(event *eventsv1.Event) time.Time {
	switch {
	case event.Series != nil && !event.Series.LastObservedTime.IsZero():
		return event.Series.LastObservedTime.Time
	case !event.EventTime.IsZero():
		return event.EventTime.Time
	case !event.DeprecatedLastTimestamp.IsZero():
		return event.DeprecatedLastTimestamp.Time
	default:
		return event.CreationTimestamp.Time
	}
}

// occurrences is how often an event happened.
func occurrences(event *eventsv1.Event) int32 {
	switch {
	case event.Series != nil && event.Series.Count > 0:
		return event.Series.Count
	case event.DeprecatedCount > 0:
		return event.DeprecatedCount
	default:
		return 1
	}
}

// printEvents prints events, oldest first.
func printEvents(w io.Writer, events []eventsv1.Event, now time.Time) error {
	if len(events) == 0 {
		fmt.Fprintf(w, "Events: %s\n", noValue)
		return nil
	}
	fmt.Fprintf(w, "Events (newest last, at most %d):\n", maxStatusEvents)
	t := newTable(w)
	fmt.Fprintln(t, "  LAST SEEN\tTYPE\tREASON\tMESSAGE")
	for i := range events {
		event := &events[i]
		seen := age(lastSeen(event), now)
		if count := occurrences(event); count > 1 {
			seen += " (x" + strconv.Itoa(int(count)) + ")"
		}
		fmt.Fprintf(t, "  %s\t%s\t%s\t%s\n", seen, event.Type, event.Reason, oneLine(event.Note))
	}
	return t.Flush()
}
