package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/fhirtest"
)

// TestFHIRFailureIsAnAnswer: FHIR server errors and timeouts give 200 with
// criteria-indeterminate (or criteria-met when a red flag arrived), 412 only
// when nothing at all could be obtained, never a 500 and never a hang.
func TestFHIRFailureIsAnAnswer(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer broken.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	// A server that does not know the patient: 404 on the Patient read,
	// empty searchsets for everything else (what a real server answers for
	// an unknown patient id).
	unknown := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		if strings.HasPrefix(r.URL.Path, "/Patient/") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}`))
			return
		}
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[]}`))
	}))
	defer unknown.Close()
	const deadline = 300 * time.Millisecond
	s := newTestServer(t, func(c *Config) {
		c.Pipeline.Loader = fhir.NewLoader(fhir.LoaderConfig{Timeout: deadline}, c.Logger)
	})
	withoutProcedures := func(server string) []byte {
		return minimal(t, func(r map[string]any) {
			delete(r["prefetch"].(map[string]any), "procedures")
			r["fhirServer"] = server
		})
	}
	caudaEquina := func(server string) []byte {
		return minimal(t, func(r map[string]any) {
			pf := r["prefetch"].(map[string]any)
			delete(pf, "procedures")
			pf["conditions"] = map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{map[string]any{"resource": map[string]any{
				"resourceType": "Condition", "id": "ces", "subject": map[string]any{"reference": "Patient/p1"},
				"code":          map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G83.4"}}},
				"onsetDateTime": "2026-06-14"}}}}
			r["fhirServer"] = server
		})
	}
	tests := []struct {
		name    string
		body    []byte
		status  int
		outcome string
		text    string
	}{
		{"500 on one search", withoutProcedures(broken.URL), 200, "criteria-indeterminate", "procedures"},
		{"timeout on one search", withoutProcedures(slow.URL), 200, "criteria-indeterminate", "documentation could not be checked fully"},
		{"red flag arrived, one search failed", caudaEquina(broken.URL), 200, "criteria-met", "Not checked (the data did not arrive or could not be used): procedures."},
		{"nothing obtainable", minimal(t, func(r map[string]any) { delete(r, "prefetch"); r["fhirServer"] = broken.URL }), 412, "", ""},
		// Never criteria-not-met ("no back-pain diagnosis") on the empty
		// searches of a server that does not know the patient.
		{"patient unknown to fhirServer, nothing prefetched", minimal(t, func(r map[string]any) { delete(r, "prefetch"); r["fhirServer"] = unknown.URL }), 412, "", "has no record of context.patientId"},
		{"patient unknown to fhirServer, conditions prefetched", minimal(t, func(r map[string]any) {
			pf := r["prefetch"].(map[string]any)
			for _, k := range []string{"patient", "procedures", "medicationRequests", "medicationStatements"} {
				delete(pf, k)
			}
			r["fhirServer"] = unknown.URL
		}), 200, "criteria-indeterminate", "Not checked (the FHIR server has no record of this patient): "},
		{"nothing obtainable in time", minimal(t, func(r map[string]any) { delete(r, "prefetch"); r["fhirServer"] = slow.URL }), 412, "", ""},
		// Nothing was asked: say why, not "could not be retrieved".
		{"patientId not a FHIR id, nothing prefetched", minimal(t, func(r map[string]any) {
			delete(r, "prefetch")
			r["fhirServer"] = unknown.URL
			r["context"].(map[string]any)["patientId"] = "p 1/../x"
			order := r["context"].(map[string]any)["draftOrders"].(map[string]any)["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
			delete(order, "subject")
		}), 400, "", "context.patientId is not a FHIR id"},
		{"fhirServer not usable, nothing prefetched", minimal(t, func(r map[string]any) { delete(r, "prefetch"); r["fhirServer"] = unknown.URL + "?tenant=1" }), 412, "", "fhirServer was not used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", tt.body, nil)
			if took := time.Since(start); took > deadline+500*time.Millisecond {
				t.Errorf("the call took %s, past the %s deadline plus margin", took, deadline)
			}
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status != 200 {
				if !strings.Contains(rec.Body.String(), tt.text) {
					t.Errorf("%d without %q: %s", rec.Code, tt.text, rec.Body)
				}
				return
			}
			outcome, _, _ := reasons(t, rec.Body.Bytes())
			if outcome != tt.outcome || !strings.Contains(rec.Body.String(), tt.text) {
				t.Errorf("outcome %s, want %s with %q in: %s", outcome, tt.outcome, tt.text, rec.Body)
			}
			if tt.outcome == "criteria-indeterminate" && (!strings.Contains(rec.Body.String(), `"valueCode":"conditional"`) || !strings.Contains(rec.Body.String(), `"valueCode":"OTH"`)) {
				t.Errorf("indeterminate coverage information lacks conditional / info-needed OTH")
			}
		})
	}
}

// TestFairOutboundPerClient: a client whose calls hold all its outbound
// FHIR slots (here one, on a FHIR server that does not answer) does not
// hold back another client, and its own next call is answered within the
// slot wait (412: nothing could be fetched) instead of queueing behind the
// stuck one.
func TestFairOutboundPerClient(t *testing.T) {
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		http.Error(w, "released", http.StatusServiceUnavailable)
	}))
	defer stuck.Close()
	defer close(release)
	fs := fhirtest.Start(t)
	// The patient is on the server (a server that does not know it is
	// answered 412, like one that fails).
	fs.Load([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","id":"p1","birthDate":"1975-03-02"},"request":{"method":"PUT","url":"Patient/p1"}}]}`))
	seed := fs.URL
	s := newTestServer(t, func(c *Config) {
		c.Pipeline.Loader = fhir.NewLoader(fhir.LoaderConfig{Timeout: 5 * time.Second, MaxPerClient: 1,
			SlotWait: 200 * time.Millisecond}, c.Logger)
	})
	call := func(addr, fhirServer string) *httptest.ResponseRecorder {
		body := minimal(t, func(r map[string]any) { delete(r, "prefetch"); r["fhirServer"] = fhirServer })
		req := httptest.NewRequest(http.MethodPost, "/cds-services/lumbar-mri-order-sign", strings.NewReader(string(body)))
		req.RemoteAddr = addr
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	held := make(chan *httptest.ResponseRecorder, 1)
	go func() { held <- call("203.0.113.1:1000", stuck.URL) }()
	time.Sleep(300 * time.Millisecond) // the stuck call holds client A's slot

	start := time.Now()
	if rec := call("203.0.113.1:1001", seed); rec.Code != http.StatusPreconditionFailed || time.Since(start) > 2*time.Second {
		t.Errorf("client A's second call: %d after %s, want 412 within the slot wait: %s", rec.Code, time.Since(start), rec.Body)
	}
	start = time.Now()
	if rec := call("198.51.100.2:1000", seed); rec.Code != http.StatusOK || time.Since(start) > 2*time.Second {
		t.Errorf("client B's call: %d after %s, want 200 at once: %s", rec.Code, time.Since(start), rec.Body)
	}
	select {
	case rec := <-held:
		t.Fatalf("the stuck call ended early: %d", rec.Code)
	default:
	}
}
