package server

import (
	"net/http"
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	s := newTestServer(t, nil)
	m := s.cfg.Metrics
	_ = s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, nil), nil)
	_ = s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", []byte("{"), nil)
	_ = s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) {
		delete(r["prefetch"].(map[string]any), "procedures")
		r["fhirServer"] = "http://127.0.0.1:9/fhir"
	}), nil)
	_ = s.do(t, http.MethodPost, "/cds-services/random-1234", []byte("{}"), nil)
	m.AuthFailure("expired")
	m.PolicyReload("rejected")
	rec := s.do(t, http.MethodGet, "/metrics", nil, nil)
	body := rec.Body.String()
	for _, want := range []string{
		`lumbar_mri_cds_calls_total{hook="order-sign",service="lumbar-mri-order-sign",status="200"} 2`,
		`lumbar_mri_cds_calls_total{hook="order-sign",service="lumbar-mri-order-sign",status="400"} 1`,
		`lumbar_mri_cds_call_duration_seconds_bucket{hook="order-sign",service="lumbar-mri-order-sign",le="+Inf"} 3`,
		`lumbar_mri_cds_outcomes_total{outcome="criteria-not-met"} 1`,
		`lumbar_mri_cds_findings_total{finding="conservative-therapy-missing"}`,
		`lumbar_mri_cds_fhir_queries_total{resource="Procedure",result="unavailable"} 1`,
		`lumbar_mri_cds_fhir_query_duration_seconds_count{resource="Procedure"} 1`,
		`lumbar_mri_cds_auth_failures_total{reason="expired"} 1`,
		`lumbar_mri_cds_policy_reloads_total{result="rejected"} 1`,
		`lumbar_mri_cds_calls_total{hook="",service="unknown",status="404"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, phi := range []string{"p1", "1975-03-02", "5d6d3c2e"} {
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "lumbar_mri_cds") && strings.Contains(line, phi) {
				t.Errorf("a metric label carries %q: %s", phi, line)
			}
		}
	}
}
