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
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/certsmith/certsmith/internal/revocation"
)

// Metrics of revocation; docs/metrics.md describes each one.
var (
	revocationsRecorded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "certsmith_revocations_recorded_total",
		Help: "Revocations recorded, by issuer and kind (CertificateRevocation or ClusterCertificateRevocation).",
	}, []string{"issuer", "kind"})
	revocationsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "certsmith_revocations_refused_total",
		Help: "Revocations that could not be recorded, by issuer and reason of their Revoked condition.",
	}, []string{"issuer", "reason"})
	crlsSigned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "certsmith_crls_signed_total",
		Help: "CRLs signed, by issuer.",
	}, []string{"issuer"})
	crlSigningDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "certsmith_crl_signing_duration_seconds",
		Help:    "Time to sign the CRLs that were due in one reconcile of an issuer.",
		Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
	}, []string{"issuer"})
	crlEntries = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "certsmith_crl_entries",
		Help: "Entries of the current CRL of each CA of an issuer (ca is the CA ID).",
	}, []string{"issuer", "ca"})
	crlNextUpdate = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "certsmith_crl_next_update_timestamp_seconds",
		Help: "The nextUpdate of the current CRL of each CA of an issuer, as a Unix timestamp.",
	}, []string{"issuer", "ca"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(revocationsRecorded, revocationsRefused, crlsSigned, crlSigningDuration, crlEntries, crlNextUpdate)
}

// recordCRLMetrics sets the gauges of an issuer's current CRLs; CAs it no
// longer has lose theirs.
func recordCRLMetrics(issuer string, rec *revocation.Record) {
	crlEntries.DeletePartialMatch(prometheus.Labels{"issuer": issuer})
	crlNextUpdate.DeletePartialMatch(prometheus.Labels{"issuer": issuer})
	for _, c := range rec.CRLs {
		crlEntries.WithLabelValues(issuer, c.CA).Set(float64(c.Revoked))
		crlNextUpdate.WithLabelValues(issuer, c.CA).Set(float64(c.NextUpdate.Unix()))
	}
}
