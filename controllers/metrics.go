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
	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// Metrics on the manager's metrics endpoint, all prefixed certsmith_.
// docs/metrics.md describes each one; config/prometheus alerts on them.
var (
	certificateExpiration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "certsmith_certificate_expiration_timestamp_seconds",
		Help: "The notAfter of the certificate in a ServiceCertificate's Secret, as a Unix timestamp.",
	}, []string{"namespace", "name", "issuer"})
	certificateRenewal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "certsmith_certificate_renewal_timestamp_seconds",
		Help: "When a ServiceCertificate is due for renewal, as a Unix timestamp.",
	}, []string{"namespace", "name", "issuer"})
	certificateReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "certsmith_certificate_ready_status",
		Help: "The Ready condition of a ServiceCertificate: 1 for the current status (True, False or Unknown), 0 for the others.",
	}, []string{"namespace", "name", "issuer", "condition"})
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
	watchedCollector = &podCertificateCollector{}
)

func init() {
	ctrlmetrics.Registry.MustRegister(certificateExpiration, certificateRenewal, certificateReady,
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

// certificateIssuers is the issuer label each ServiceCertificate's series
// carry, so that recording and forgetting them deletes exact label values:
// a partial-match delete scans every series, which made each reconcile
// O(certificates) and a burst of N issuances O(N²).
var certificateIssuers = struct {
	sync.Mutex
	of map[types.NamespacedName]string
}{of: map[types.NamespacedName]string{}}

// recordCertificateMetrics publishes a ServiceCertificate's status.
func recordCertificateMetrics(sc *certsmithv1alpha1.ServiceCertificate) {
	key := certificateKey(sc.Namespace, sc.Name)
	issuer := sc.Spec.IssuerRef.Name
	certificateIssuers.Lock()
	defer certificateIssuers.Unlock()
	if previous, ok := certificateIssuers.of[key]; ok && previous != issuer {
		deleteCertificateSeries(key, previous)
	}
	certificateIssuers.of[key] = issuer
	status := readyStatus(sc.Status.Conditions)
	for _, v := range conditionValues {
		value := 0.0
		if v == status {
			value = 1
		}
		certificateReady.WithLabelValues(sc.Namespace, sc.Name, issuer, string(v)).Set(value)
	}
	if sc.Status.NotAfter != nil {
		certificateExpiration.WithLabelValues(sc.Namespace, sc.Name, issuer).Set(float64(sc.Status.NotAfter.Unix()))
	} else {
		certificateExpiration.DeleteLabelValues(sc.Namespace, sc.Name, issuer)
	}
	if sc.Status.RenewalTime != nil {
		certificateRenewal.WithLabelValues(sc.Namespace, sc.Name, issuer).Set(float64(sc.Status.RenewalTime.Unix()))
	} else {
		certificateRenewal.DeleteLabelValues(sc.Namespace, sc.Name, issuer)
	}
}

// forgetCertificateMetrics removes a deleted ServiceCertificate's series.
func forgetCertificateMetrics(key types.NamespacedName) {
	certificateIssuers.Lock()
	defer certificateIssuers.Unlock()
	if issuer, ok := certificateIssuers.of[key]; ok {
		deleteCertificateSeries(key, issuer)
		delete(certificateIssuers.of, key)
	}
}

// deleteCertificateSeries deletes the series of key with that issuer label.
func deleteCertificateSeries(key types.NamespacedName, issuer string) {
	for _, v := range conditionValues {
		certificateReady.DeleteLabelValues(key.Namespace, key.Name, issuer, string(v))
	}
	certificateExpiration.DeleteLabelValues(key.Namespace, key.Name, issuer)
	certificateRenewal.DeleteLabelValues(key.Namespace, key.Name, issuer)
}

func certificateKey(namespace, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: name}
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
