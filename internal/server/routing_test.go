package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// diagnostics returns the OperationOutcome text of an error answer.
func diagnostics(t *testing.T, body []byte) string {
	t.Helper()
	var oo OperationOutcome
	if err := json.Unmarshal(body, &oo); err != nil || len(oo.Issue) != 1 {
		t.Fatalf("not an OperationOutcome: %s", body)
	}
	return oo.Issue[0].Diagnostics
}

// TestMethodNotAllowed: a known path called with the wrong method is 405
// with Allow naming the method that works; an unknown path stays 404.
func TestMethodNotAllowed(t *testing.T) {
	s := newTestServer(t, nil)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/cds-services/lumbar-mri-order-sign", 405, "POST"},
		{http.MethodPut, "/cds-services/lumbar-mri-order-sign", 405, "POST"},
		{http.MethodPost, "/cds-services", 405, "GET"},
		{http.MethodPost, "/healthz", 405, "GET"},
		{http.MethodGet, "/no-such-route", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := s.do(t, tt.method, tt.path, nil, nil)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
			if tt.status == 405 && !strings.Contains(diagnostics(t, rec.Body.Bytes()), "method not allowed") {
				t.Errorf("405 body: %s", rec.Body)
			}
		})
	}
}

// TestTrailingSlash: a trailing slash reaches the same route, with the
// same answer, never an empty redirect.
func TestTrailingSlash(t *testing.T) {
	s := newTestServer(t, nil)
	for _, tt := range []struct {
		method, path string
		body         []byte
	}{
		{http.MethodGet, "/cds-services/", nil},
		{http.MethodPost, "/cds-services/lumbar-mri-order-sign/", minimal(t, nil)},
		{http.MethodGet, "/healthz/", nil},
	} {
		rec := s.do(t, tt.method, tt.path, tt.body, nil)
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("%s %s: status %d, body %q", tt.method, tt.path, rec.Code, rec.Body)
		}
	}
}

// TestStalledBodyIs408: a client that sends part of its body and stops gets
// 408 when the body deadline passes (not 400 "malformed JSON").
func TestStalledBodyIs408(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.BodyTimeout = 300 * time.Millisecond })
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	conn, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /cds-services/lumbar-mri-order-sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"hook\":")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408: %s", resp.StatusCode, body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %s", took)
	}
	if d := diagnostics(t, body); !strings.Contains(d, "not received in time") {
		t.Errorf("diagnostics %q", d)
	}
}

// TestPreconditionFailedText: the 412 text names fhirServer only when the
// request had one.
func TestPreconditionFailedText(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer broken.Close()
	s := newTestServer(t, nil)
	noServer := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) { delete(r, "prefetch") }), nil)
	failing := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) {
		delete(r, "prefetch")
		r["fhirServer"] = broken.URL
	}), nil)
	if noServer.Code != 412 || failing.Code != 412 {
		t.Fatalf("statuses %d, %d, want 412", noServer.Code, failing.Code)
	}
	if d := diagnostics(t, noServer.Body.Bytes()); d != "the patient data the assessment needs was not in the prefetch, and the request names no fhirServer to retrieve it from" {
		t.Errorf("without fhirServer: %q", d)
	}
	if d := diagnostics(t, failing.Body.Bytes()); !strings.Contains(d, "could not be retrieved from fhirServer") {
		t.Errorf("with a failing fhirServer: %q", d)
	}
}

// TestFailingFHIRServerLogsOneWarning: one call against a FHIR server that
// fails every search logs one WARN line naming the searches, not one each.
func TestFailingFHIRServerLogsOneWarning(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer broken.Close()
	s := newTestServer(t, func(c *Config) {
		c.Pipeline.Loader = fhir.NewLoader(fhir.LoaderConfig{Timeout: 2 * time.Second}, c.Logger)
	})
	rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) {
		delete(r, "prefetch")
		r["fhirServer"] = broken.URL
	}), nil)
	if rec.Code != 412 {
		t.Fatalf("status %d", rec.Code)
	}
	var warns []string
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(l, "level=WARN") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "fhir searches failed") || !strings.Contains(warns[0], "conditions") {
		t.Errorf("want one WARN line naming the failed searches, got %d:\n%s", len(warns), strings.Join(warns, "\n"))
	}
}

// TestReportErrors: without an admin token the report says it is off; a bad
// date says it is about the report period.
func TestReportErrors(t *testing.T) {
	off := newTestServer(t, nil)
	rec := off.do(t, http.MethodGet, "/admin/report", nil, map[string]string{"Authorization": "Bearer anything"})
	if rec.Code != http.StatusNotFound || !strings.Contains(diagnostics(t, rec.Body.Bytes()), "the report is off") {
		t.Errorf("report without admin token: %d %s", rec.Code, rec.Body)
	}
	const token = "a-test-admin-token-of-32-characters!"
	on := newTestServer(t, func(c *Config) { c.AdminToken = token })
	rec = on.do(t, http.MethodGet, "/admin/report?from=June", nil, map[string]string{"Authorization": "Bearer " + token})
	d := diagnostics(t, rec.Body.Bytes())
	if rec.Code != http.StatusBadRequest || d != `invalid report period: from must be a date YYYY-MM-DD, got "June"` {
		t.Errorf("bad date: %d %q", rec.Code, d)
	}
}

// slowStore makes every audit commit take at least delay.
type slowStore struct {
	Store
	delay time.Duration
}

func (s slowStore) RecordCall(ctx context.Context, c store.Call) error {
	time.Sleep(s.delay)
	return s.Store.RecordCall(ctx, c)
}

// TestLatencyIncludesTheAuditCommit: the call's log line names both
// figures, and "latency" (what the client waits, also the metric) includes
// the audit commit.
func TestLatencyIncludesTheAuditCommit(t *testing.T) {
	const delay = 80 * time.Millisecond
	s := newTestServer(t, nil)
	s2 := newTestServer(t, func(c *Config) { c.Store = slowStore{Store: s.db, delay: delay} })
	if rec := s2.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, nil), nil); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	line := ""
	for _, l := range strings.Split(s2.logs.String(), "\n") {
		if strings.Contains(l, "msg=call ") {
			line = l
		}
	}
	field := func(name string) time.Duration {
		m := regexp.MustCompile(` ` + name + `=(\S+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no %s in the call's log line: %s", name, line)
		}
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	service, latency := field("service_time"), field("latency")
	if latency < delay || service >= delay || latency < service {
		t.Errorf("service_time %s, latency %s: latency should include the %s audit commit, service_time not", service, latency, delay)
	}
	var sum float64
	if mfs, err := s2.cfg.Metrics.registry.Gather(); err == nil {
		for _, mf := range mfs {
			if mf.GetName() == "lumbar_mri_cds_call_duration_seconds" {
				sum = mf.GetMetric()[0].GetHistogram().GetSampleSum()
			}
		}
	}
	if sum < delay.Seconds() {
		t.Errorf("the latency metric recorded %.3f s, less than the audit commit", sum)
	}
}
