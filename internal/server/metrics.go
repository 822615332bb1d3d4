package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the Prometheus series of the service. Labels never carry
// patient data: only service ids, hooks, statuses, codes and resource types.
type Metrics struct {
	registry     *prometheus.Registry
	calls        *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	outcomes     *prometheus.CounterVec
	findings     *prometheus.CounterVec
	fhirQueries  *prometheus.CounterVec
	fhirLatency  *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	reloads      *prometheus.CounterVec
	refused      *prometheus.CounterVec
}

// NewMetrics registers the series on a fresh registry (with Go and process collectors).
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lumbar_mri_cds_calls_total", Help: "Service calls by service, hook and HTTP status.",
		}, []string{"service", "hook", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lumbar_mri_cds_call_duration_seconds", Help: "Service call latency as the client sees it (the audit commit included), by service and hook.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"service", "hook"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lumbar_mri_cds_outcomes_total", Help: "Assessed orders by assessment code.",
		}, []string{"outcome"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lumbar_mri_cds_findings_total", Help: "Findings by finding code.",
		}, []string{"finding"}),
		fhirQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lumbar_mri_cds_fhir_queries_total", Help: "FHIR requests to the EHR by resource type and result.",
		}, []string{"resource", "result"}),
		fhirLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lumbar_mri_cds_fhir_query_duration_seconds", Help: "FHIR request latency by resource type.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"resource"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lumbar_mri_cds_auth_failures_total", Help: "Rejected CDS client tokens by reason.",
		}, []string{"reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lumbar_mri_cds_policy_reloads_total", Help: "Policy reloads by result (ok, rejected).",
		}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lumbar_mri_cds_refused_total", Help: "Calls refused before the service ran (401, 429) by reason.",
		}, []string{"reason"}),
	}
	m.registry.MustRegister(m.calls, m.latency, m.outcomes, m.findings, m.fhirQueries, m.fhirLatency, m.authFailures, m.reloads, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// FHIRQuery records one FHIR request (wired into the fhir loader).
func (m *Metrics) FHIRQuery(resourceType, result string, d time.Duration) {
	m.fhirQueries.WithLabelValues(resourceType, result).Inc()
	m.fhirLatency.WithLabelValues(resourceType).Observe(d.Seconds())
}

// AuthFailure records a rejected token (wired into the verifier).
func (m *Metrics) AuthFailure(reason string) { m.authFailures.WithLabelValues(reason).Inc() }

// PolicyReload records a reload attempt: result is "ok" or "rejected".
func (m *Metrics) PolicyReload(result string) { m.reloads.WithLabelValues(result).Inc() }

// replayCollector reports the replay cache's fill per issuer when scraped.
// Issuers are the configured clients, so the series are bounded.
type replayCollector struct {
	usage             func() []ReplayFill
	entries, capacity *prometheus.Desc
}

func (c *replayCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.entries
	ch <- c.capacity
}

func (c *replayCollector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range c.usage() {
		ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(u.Entries), u.Issuer)
		ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(u.Capacity), u.Issuer)
	}
}

// watchReplay adds the replay-cache series, read from usage at each scrape.
func (m *Metrics) watchReplay(usage func() []ReplayFill) {
	m.registry.MustRegister(&replayCollector{
		usage: usage,
		entries: prometheus.NewDesc("lumbar_mri_cds_replay_cache_entries",
			"Unexpired token ids remembered per issuer; at capacity that issuer's new tokens are refused.", []string{"issuer"}, nil),
		capacity: prometheus.NewDesc("lumbar_mri_cds_replay_cache_capacity",
			"Size of each issuer's share of the replay cache.", []string{"issuer"}, nil),
	})
}
