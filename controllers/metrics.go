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
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// Metrics on the manager's metrics endpoint, all prefixed certsmith_.
// docs/metrics.md describes each one; config/prometheus alerts on them.
var (
	issuerReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "certsmith_issuer_ready_status",
		Help: "The Ready condition of a ClusterIssuer: 1 for the current status (True, False or Unknown), 0 for the others.",
	}, []string{"name", "condition"})
	issuerCAExpiration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "certsmith_issuer_ca_expiration_timestamp_seconds",
		Help: "The notAfter of a ClusterIssuer's active CA certificate, as a Unix timestamp.",
	}, []string{"name"})
	issuanceDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "certsmith_issuance_duration_seconds",
		Help:    "Time from creating a CertificateSigningRequest to storing the signed certificate in its Secret.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"issuer"})
	csrsSigned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "certsmith_csr_signed_total",
		Help: "CertificateSigningRequests signed, by issuer.",
	}, []string{"issuer"})
	csrsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "certsmith_csr_refused_total",
		Help: "CertificateSigningRequests denied or failed by certsmith, by issuer and reason.",
	}, []string{"issuer", "reason"})
	podCertificatesIssued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "certsmith_podcertificaterequests_issued_total",
		Help: "PodCertificateRequests issued, by issuer.",
	}, []string{"issuer"})
	podCertificatesRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "certsmith_podcertificaterequests_refused_total",
		Help: "PodCertificateRequests denied or failed by certsmith, by issuer, condition (Denied or Failed) and reason.",
	}, []string{"issuer", "condition", "reason"})
	podCertificateIssuanceDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "certsmith_podcertificaterequest_issuance_duration_seconds",
		Help:    "Time from a PodCertificateRequest's creation (whole seconds) to its Issued status.",
		Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600},
	}, []string{"issuer"})
	watchedCollector      = &podCertificateCollector{}
	certificatesCollector = &certificateCollector{}
)

func init() {
	ctrlmetrics.Registry.MustRegister(certificatesCollector,
		issuerReady, issuerCAExpiration, issuanceDuration, csrsSigned, csrsRefused,
		podCertificatesIssued, podCertificatesRefused, podCertificateIssuanceDuration, watchedCollector)
}

var conditionValues = []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown}

// readyStatus returns the status of the Ready condition, Unknown when absent.
func readyStatus(conditions []metav1.Condition) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(conditions, certsmithv1alpha1.ConditionReady); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}

// The series of each ServiceCertificate are not kept in the process: at
// each scrape certificateCollector makes them from the cached objects, as
// the API server has them. Five series per certificate held as gauges cost
// ~2.3 KB each (11 MB at 5,000 certificates, docs/benchmarks.md) and a map
// update in every reconcile; made at scrape time they cost nothing at rest
// and cannot outlive a deleted certificate.
var (
	certificateExpirationDesc = prometheus.NewDesc("certsmith_certificate_expiration_timestamp_seconds",
		"The notAfter of the certificate in a ServiceCertificate's Secret, as a Unix timestamp.",
		[]string{"namespace", "name", "issuer"}, nil)
	certificateRenewalDesc = prometheus.NewDesc("certsmith_certificate_renewal_timestamp_seconds",
		"When a ServiceCertificate is due for renewal, as a Unix timestamp.",
		[]string{"namespace", "name", "issuer"}, nil)
	certificateReadyDesc = prometheus.NewDesc("certsmith_certificate_ready_status",
		"The Ready condition of a ServiceCertificate: 1 for the current status (True, False or Unknown), 0 for the others.",
		[]string{"namespace", "name", "issuer", "condition"}, nil)
)

// certificateCollector reports, at each scrape, the status of every
// ServiceCertificate in the manager's cache, and the rotation and bundle of
// every ClusterIssuer. Like the other gauges it is served by the elected
// leader only: a standby reports none.
type certificateCollector struct {
	mu      sync.Mutex
	reader  client.Reader
	elected <-chan struct{}
}

// set points the collector at a manager's cache and its election.
func (c *certificateCollector) set(reader client.Reader, elected <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reader, c.elected = reader, elected
}

// Describe implements prometheus.Collector.
func (c *certificateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{certificateExpirationDesc, certificateRenewalDesc, certificateReadyDesc,
		rotationPhaseDesc, rotationStartedDesc, rotationDeadlineDesc, rotationUnpublishedDesc,
		bundleNamespacesDesc, bundleUpToDateDesc, bundleConflictsDesc} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector.
func (c *certificateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	reader, elected := c.reader, c.elected
	c.mu.Unlock()
	if reader == nil || !closed(elected) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list certsmithv1alpha1.ServiceCertificateList
	// Read only: the cached objects themselves, not copies.
	if err := reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range list.Items {
		collectCertificate(ch, &list.Items[i])
	}
	var issuers certsmithv1alpha1.ClusterIssuerList
	if err := reader.List(ctx, &issuers, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range issuers.Items {
		collectIssuer(ch, &issuers.Items[i])
	}
}

// The series of a ClusterIssuer's CA rotation and bundle, made at scrape
// time from the cached issuer (its status is written by two controllers).
var (
	rotationPhaseDesc = prometheus.NewDesc("certsmith_issuer_rotation_phase",
		"The phase of a ClusterIssuer's last CA rotation: 1 for the current one (Publishing, Retiring or Complete), 0 for the others; none before a first rotation.",
		[]string{"name", "phase"}, nil)
	rotationStartedDesc = prometheus.NewDesc("certsmith_issuer_rotation_started_timestamp_seconds",
		"When a ClusterIssuer's last CA rotation started, as a Unix timestamp.", []string{"name"}, nil)
	rotationDeadlineDesc = prometheus.NewDesc("certsmith_issuer_rotation_publish_deadline_timestamp_seconds",
		"Until when a rotation in Publishing waits for every trust path to hold the new CA, as a Unix timestamp.", []string{"name"}, nil)
	rotationUnpublishedDesc = prometheus.NewDesc("certsmith_issuer_rotation_unpublished_paths",
		"Trust paths (bundle ConfigMaps, ClusterTrustBundle, Secrets' ca.crt, injection targets) that do not hold the new CA yet, during a rotation in Publishing.", []string{"name"}, nil)
	bundleNamespacesDesc = prometheus.NewDesc("certsmith_bundle_namespaces",
		"Namespaces a ClusterIssuer's bundle ConfigMap should be in.", []string{"issuer"}, nil)
	bundleUpToDateDesc = prometheus.NewDesc("certsmith_bundle_up_to_date_namespaces",
		"Namespaces whose bundle ConfigMap holds the ClusterIssuer's current bundle.", []string{"issuer"}, nil)
	bundleConflictsDesc = prometheus.NewDesc("certsmith_bundle_conflicts",
		"Namespaces where a ConfigMap of the bundle's name is not certsmith's, so the bundle cannot be written there.", []string{"issuer"}, nil)
	rotationPhases = []certsmithv1alpha1.RotationPhase{certsmithv1alpha1.RotationPublishing, certsmithv1alpha1.RotationRetiring, certsmithv1alpha1.RotationComplete}
)

// collectIssuer sends one ClusterIssuer's rotation and bundle series.
func collectIssuer(ch chan<- prometheus.Metric, issuer *certsmithv1alpha1.ClusterIssuer) {
	if rotation := issuer.Status.Rotation; rotation != nil {
		for _, phase := range rotationPhases {
			value := 0.0
			if rotation.Phase == phase {
				value = 1
			}
			ch <- prometheus.MustNewConstMetric(rotationPhaseDesc, prometheus.GaugeValue, value, issuer.Name, string(phase))
		}
		if rotation.StartedAt != nil {
			ch <- prometheus.MustNewConstMetric(rotationStartedDesc, prometheus.GaugeValue, float64(rotation.StartedAt.Unix()), issuer.Name)
		}
		if rotation.Phase == certsmithv1alpha1.RotationPublishing {
			if rotation.PublishDeadline != nil {
				ch <- prometheus.MustNewConstMetric(rotationDeadlineDesc, prometheus.GaugeValue, float64(rotation.PublishDeadline.Unix()), issuer.Name)
			}
			ch <- prometheus.MustNewConstMetric(rotationUnpublishedDesc, prometheus.GaugeValue, float64(rotation.Unpublished), issuer.Name)
		}
	}
	if bundle := issuer.Status.Bundle; bundle != nil {
		ch <- prometheus.MustNewConstMetric(bundleNamespacesDesc, prometheus.GaugeValue, float64(bundle.Namespaces), issuer.Name)
		ch <- prometheus.MustNewConstMetric(bundleUpToDateDesc, prometheus.GaugeValue, float64(bundle.UpToDate), issuer.Name)
		ch <- prometheus.MustNewConstMetric(bundleConflictsDesc, prometheus.GaugeValue, float64(bundle.Conflicts), issuer.Name)
	}
}

// collectCertificate sends one ServiceCertificate's series. They share
// their label pairs, which point into the cached object (read only, and kept
// no longer than the scrape): a few hundred bytes per certificate and
// scrape, where const metrics made ~2.9 KB (BenchmarkCollectCertificateMetrics).
func collectCertificate(ch chan<- prometheus.Metric, sc *certsmithv1alpha1.ServiceCertificate) {
	// Label pairs sorted by name, as the registry expects.
	id := []*dto.LabelPair{
		{Name: &labelIssuer, Value: &sc.Spec.IssuerRef.Name},
		{Name: &labelName, Value: &sc.Name},
		{Name: &labelNamespace, Value: &sc.Namespace},
	}
	status := readyStatus(sc.Status.Conditions)
	for i, v := range conditionValues {
		value := 0.0
		if v == status {
			value = 1
		}
		ch <- &gaugeOf{desc: certificateReadyDesc, labels: []*dto.LabelPair{conditionLabels[i], id[0], id[1], id[2]}, value: value}
	}
	if sc.Status.NotAfter != nil {
		ch <- &gaugeOf{desc: certificateExpirationDesc, labels: id, value: float64(sc.Status.NotAfter.Unix())}
	}
	if sc.Status.RenewalTime != nil {
		ch <- &gaugeOf{desc: certificateRenewalDesc, labels: id, value: float64(sc.Status.RenewalTime.Unix())}
	}
}

var (
	labelCondition, labelIssuer, labelName, labelNamespace = "condition", "issuer", "name", "namespace"
	// conditionLabels are the condition="True|False|Unknown" pairs, in
	// the order of conditionValues.
	conditionLabels = func() []*dto.LabelPair {
		pairs := make([]*dto.LabelPair, len(conditionValues))
		for i, v := range conditionValues {
			value := string(v)
			pairs[i] = &dto.LabelPair{Name: &labelCondition, Value: &value}
		}
		return pairs
	}()
)

// gaugeOf is one gauge sample made at scrape time, its label pairs given
// sorted by name and valid for its descriptor.
type gaugeOf struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  float64
}

// Desc implements prometheus.Metric.
func (g *gaugeOf) Desc() *prometheus.Desc { return g.desc }

// Write implements prometheus.Metric.
func (g *gaugeOf) Write(out *dto.Metric) error {
	out.Label = g.labels
	out.Gauge = &dto.Gauge{Value: &g.value}
	return nil
}

// closed reports whether ch is closed (a nil channel is not).
func closed(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// recordIssuerMetrics publishes a ClusterIssuer's status.
func recordIssuerMetrics(issuer *certsmithv1alpha1.ClusterIssuer) {
	status := readyStatus(issuer.Status.Conditions)
	for _, v := range conditionValues {
		value := 0.0
		if v == status {
			value = 1
		}
		issuerReady.WithLabelValues(issuer.Name, string(v)).Set(value)
	}
	if issuer.Status.CA != nil && issuer.Status.CA.NotAfter != nil {
		issuerCAExpiration.WithLabelValues(issuer.Name).Set(float64(issuer.Status.CA.NotAfter.Unix()))
	} else {
		issuerCAExpiration.DeleteLabelValues(issuer.Name)
	}
}

// forgetIssuerMetrics removes a deleted ClusterIssuer's series.
func forgetIssuerMetrics(name string) {
	issuerReady.DeletePartialMatch(prometheus.Labels{"name": name})
	issuerCAExpiration.DeleteLabelValues(name)
}

// observeIssuance records how long one issuance took.
func observeIssuance(issuer string, took time.Duration) {
	issuanceDuration.WithLabelValues(issuer).Observe(took.Seconds())
}

// podCertificateCollector reports, at each scrape, the PodCertificateRequests
// in each watched signer's cache: "pending" ones wait for certsmith,
// "finished" ones are kept until the API server's cleaner deletes them.
// Requests of signers certsmith does not watch are never in a cache.
type podCertificateCollector struct {
	mu      sync.Mutex
	signers *signerWatches
}

var podCertificatesWatchedDesc = prometheus.NewDesc("certsmith_podcertificaterequests_watched",
	"PodCertificateRequests in the operator's cache, by signer and state (pending or finished).", []string{"signer", "state"}, nil)

func (c *podCertificateCollector) set(signers *signerWatches) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signers = signers
}

// Describe implements prometheus.Collector.
func (c *podCertificateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- podCertificatesWatchedDesc
}

// Collect implements prometheus.Collector.
func (c *podCertificateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	signers := c.signers
	c.mu.Unlock()
	if signers == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, name := range signers.names() {
		signerCache := signers.get(name)
		var list certificatesv1.PodCertificateRequestList
		if signerCache == nil || signerCache.List(ctx, &list) != nil {
			continue
		}
		pending := 0
		for i := range list.Items {
			if !pcrFinished(&list.Items[i]) {
				pending++
			}
		}
		ch <- prometheus.MustNewConstMetric(podCertificatesWatchedDesc, prometheus.GaugeValue, float64(pending), name, "pending")
		ch <- prometheus.MustNewConstMetric(podCertificatesWatchedDesc, prometheus.GaugeValue, float64(len(list.Items)-pending), name, "finished")
	}
}
