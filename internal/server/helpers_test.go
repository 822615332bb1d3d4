package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/logctx"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// testNow is the fixed answer time of the tests (goldens use it as the
// coverage-information date).
var testNow = time.Date(2026, 6, 15, 14, 30, 0, 0, time.UTC)

// seqIDs returns deterministic ids, so golden responses are stable.
func seqIDs() func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
	}
}

type fixedPolicies struct{ set *policy.Set }

func (f fixedPolicies) Current() *policy.Set { return f.set }

// testServer is the real router with a real loader, the default policy and
// a SQLite store in a temporary folder.
type testServer struct {
	*Server
	db   *store.DB
	logs *bytes.Buffer
}

func newTestServer(t testing.TB, mutate func(*Config)) *testServer {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs := &bytes.Buffer{}
	log := slog.New(logctx.NewHandler(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	metrics := NewMetrics()
	cfg := Config{
		Pipeline: &Pipeline{
			Loader:   fhir.NewLoader(fhir.LoaderConfig{Timeout: 2 * time.Second, Observe: metrics.FHIRQuery}, log),
			Policies: fixedPolicies{policy.Default()},
			Now:      func() time.Time { return testNow },
			NewID:    seqIDs(),
		},
		BaseURL:        "http://cds.test",
		Logger:         log,
		Questionnaires: policy.Questionnaires(),
		Store:          db,
		CORSOrigins:    []string{"*"},
		Metrics:        metrics,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	return &testServer{Server: New(cfg), db: db, logs: logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// do sends one request through the router.
func (s *testServer) do(t testing.TB, method, path string, body []byte, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// minimal is a small valid order-sign request for a 72148 order.
func minimal(t testing.TB, mutate func(map[string]any)) []byte {
	t.Helper()
	var req map[string]any
	if err := json.Unmarshal([]byte(minimalRequest), &req); err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(req)
	}
	b, _ := json.Marshal(req)
	return b
}

const minimalRequest = `{
 "hook":"order-sign","hookInstance":"5d6d3c2e-0d4c-4b8e-9a55-2f1d0c8a7b61",
 "context":{"userId":"Practitioner/u1","patientId":"p1","draftOrders":{"resourceType":"Bundle","type":"collection","entry":[
  {"resource":{"resourceType":"ServiceRequest","id":"mri-1","status":"draft","intent":"order",
   "code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"72148","display":"MRI lumbar spine without contrast"}]},
   "subject":{"reference":"Patient/p1"},"authoredOn":"2026-06-15"}}]}},
 "prefetch":{
  "patient":{"resourceType":"Patient","id":"p1","birthDate":"1975-03-02"},
  "coverage":{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Coverage","id":"cov-1","status":"active","beneficiary":{"reference":"Patient/p1"},"payor":[{"display":"Example Health Plan"}]}}]},
  "conditions":{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Condition","id":"c1",
   "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
   "code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"M54.50","display":"Low back pain, unspecified"}]},
   "subject":{"reference":"Patient/p1"},"onsetDateTime":"2026-06-01"}}]},
  "observations":null,"procedures":null,"medicationRequests":null,"medicationStatements":null,"imagingStudies":null,"diagnosticReports":null}
}`
