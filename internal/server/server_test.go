package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/cards"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

func TestServiceCallStatuses(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	noMRI := minimal(t, func(r map[string]any) {
		ctx := r["context"].(map[string]any)
		ctx["draftOrders"] = map[string]any{"resourceType": "Bundle", "entry": []any{map[string]any{"resource": map[string]any{
			"resourceType": "ServiceRequest", "id": "lab-1", "status": "draft", "intent": "order",
			"code": map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "58410-2"}}}}}}}
		delete(r, "prefetch")
	})
	tests := []struct {
		name    string
		path    string
		body    []byte
		status  int
		message string
	}{
		{"valid", "/cds-services/lumbar-mri-order-sign", minimal(t, nil), 200, ""},
		{"malformed JSON", "/cds-services/lumbar-mri-order-sign", []byte(`{"hook":`), 400, "malformed JSON: the body is not valid JSON (unexpected EOF, after byte 8)"},
		{"syntax error", "/cds-services/lumbar-mri-order-sign", []byte(`{bad`), 400, "malformed JSON: the body is not valid JSON (invalid character 'b' at start of value, after byte 1)"},
		{"not JSON at all", "/cds-services/lumbar-mri-order-sign", []byte(`hello`), 400, "the body is not valid JSON (invalid character 'h' at start of value, after byte 0)"},
		{"empty body", "/cds-services/lumbar-mri-order-sign", []byte(" \n"), 400, "the body is empty; it must be a JSON object"},
		{"JSON array", "/cds-services/lumbar-mri-order-sign", []byte(`[1, 2]`), 400, "malformed JSON: the body must be a JSON object"},
		{"JSON string", "/cds-services/lumbar-mri-order-sign", []byte(`"order-sign"`), 400, "malformed JSON: the body must be a JSON object"},
		{"missing hook", "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) { delete(r, "hook") }), 400, "hook is required"},
		{"hook mismatch", "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) { r["hook"] = "order-select" }), 400, "does not match"},
		{"missing hookInstance", "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) { delete(r, "hookInstance") }), 400, "hookInstance"},
		{"missing patientId", "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) { delete(r["context"].(map[string]any), "patientId") }), 400, "patientId"},
		{"missing draftOrders", "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) { delete(r["context"].(map[string]any), "draftOrders") }), 400, "draftOrders"},
		{"unknown service", "/cds-services/knee-mri", minimal(t, nil), 404, "unknown service"},
		{"too large", "/cds-services/lumbar-mri-order-sign", bytes.Repeat([]byte(" "), 70<<10), 413, "too large"},
		{"no lumbar MRI needs no data", "/cds-services/lumbar-mri-order-sign", noMRI, 200, ""},
		{"nothing supplied", "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) { delete(r, "prefetch") }), 412, "names no fhirServer"},
		{"unknown fields ignored", "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) {
			r["somethingNew"] = map[string]any{"x": 1}
			r["context"].(map[string]any)["selections"] = []any{"ServiceRequest/mri-1"}
		}), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := s.do(t, http.MethodPost, tt.path, tt.body, nil)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if tt.status != 200 {
				var oo OperationOutcome
				if err := json.Unmarshal(rec.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 {
					t.Fatalf("error body is not an OperationOutcome: %s", rec.Body)
				}
				if !strings.Contains(oo.Issue[0].Diagnostics, tt.message) {
					t.Errorf("diagnostics %q, want it to mention %q", oo.Issue[0].Diagnostics, tt.message)
				}
				return
			}
			for _, e := range cards.Check(rec.Body.Bytes()) {
				t.Errorf("response breaks a rule: %v", e)
			}
		})
	}
	if rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", noMRI, nil); rec.Body.String() != `{"cards":[],"systemActions":[]}` {
		t.Errorf("a call without lumbar MRI answered %s, want {\"cards\":[],\"systemActions\":[]}", rec.Body)
	}
}

func TestDiscovery(t *testing.T) {
	s := newTestServer(t, nil)
	rec := s.do(t, http.MethodGet, "/cds-services", nil, nil)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	var d hooks.Discovery
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	hooksSeen := map[string]bool{}
	for _, svc := range d.Services {
		hooksSeen[svc.Hook] = true
		if svc.ID == "" || svc.Description == "" || svc.Title == "" {
			t.Errorf("service %+v lacks id, title or description", svc)
		}
		for key, tmpl := range svc.Prefetch {
			for _, tok := range strings.Split(tmpl, "{{")[1:] {
				tok = tok[:strings.Index(tok, "}}")]
				if tok != "context.patientId" && tok != "userPractitionerId" {
					t.Errorf("prefetch %s uses token %q, not a CDS Hooks 2.0 token this service needs", key, tok)
				}
			}
		}
		for _, want := range []string{"patient", "coverage", "conditions", "observations", "procedures", "medicationRequests", "medicationStatements", "imagingStudies"} {
			if _, ok := svc.Prefetch[want]; !ok {
				t.Errorf("service %s has no %s prefetch", svc.ID, want)
			}
		}
		var opts []map[string]any
		if err := json.Unmarshal(svc.Extension["davinci-crd.configuration-options"], &opts); err != nil {
			t.Fatalf("configuration options: %v", err)
		}
		codes := map[string]bool{}
		for _, o := range opts {
			for _, f := range []string{"code", "type", "name", "description", "default"} {
				if _, ok := o[f]; !ok {
					t.Errorf("option %v lacks %s", o, f)
				}
			}
			codes[o["code"].(string)] = true
		}
		for _, tp := range cards.Topics {
			if !codes[tp.Code] {
				t.Errorf("no configuration option for card type %s", tp.Code)
			}
		}
		if !codes["max-cards"] {
			t.Errorf("no max-cards option")
		}
	}
	if !hooksSeen["order-sign"] || !hooksSeen["order-select"] {
		t.Errorf("discovery hooks = %v, want order-sign and order-select", hooksSeen)
	}
}

func TestOrderSelectConsidersSelections(t *testing.T) {
	s := newTestServer(t, nil)
	body := minimal(t, func(r map[string]any) {
		r["hook"] = "order-select"
		r["context"].(map[string]any)["selections"] = []any{"ServiceRequest/other"}
	})
	rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-select", body, nil)
	if rec.Code != 200 || rec.Body.String() != `{"cards":[]}` {
		t.Errorf("selection of another order: %d %s, want no cards", rec.Code, rec.Body)
	}
	body = minimal(t, func(r map[string]any) { r["hook"] = "order-select" })
	rec = s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-select", body, nil)
	var resp hooks.Response
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	if rec.Code != 200 || len(resp.Cards) == 0 || len(resp.SystemActions) != 0 {
		t.Errorf("order-select without selections: %d, %d cards, %d systemActions; want cards and no systemActions", rec.Code, len(resp.Cards), len(resp.SystemActions))
	}
	if strings.Contains(rec.Body.String(), "doc-needed") {
		t.Errorf("order-select asked for documentation")
	}
}

func TestCRDConfiguration(t *testing.T) {
	s := newTestServer(t, nil)
	guidelineCards := 0
	count := func(ext map[string]any) (int, int) {
		body := minimal(t, func(r map[string]any) {
			if ext != nil {
				r["extension"] = map[string]any{"davinci-crd.configuration": ext}
			}
		})
		rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", body, nil)
		var resp hooks.Response
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		guidelineCards = 0
		for _, c := range resp.Cards {
			if c.Source.Topic != nil && c.Source.Topic.Code == cards.TopicGuideline {
				guidelineCards++
			}
		}
		return len(resp.Cards), len(resp.SystemActions)
	}
	all, actions := count(nil)
	if all < 2 || actions != 1 {
		t.Fatalf("no configuration: %d cards, %d actions", all, actions)
	}
	// Switched off, the links card goes; the room it leaves may take a
	// suggestion card that rode on the coverage card before.
	if n, _ := count(map[string]any{"guideline": false, "unknown-option": true, "max-cards": "x"}); n > all || guidelineCards != 0 {
		t.Errorf("guideline off: %d cards (%d links cards), want at most %d and no links card", n, guidelineCards, all)
	}
	if n, a := count(map[string]any{"max-cards": 1}); n != 1 || a != 1 {
		t.Errorf("max-cards 1: %d cards %d actions", n, a)
	}
}

func TestQuestionnaireAndHealth(t *testing.T) {
	s := newTestServer(t, nil)
	rec := s.do(t, http.MethodGet, "/fhir/Questionnaire/lumbar-mri-pa", nil, nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"resourceType": "Questionnaire"`) {
		t.Errorf("questionnaire: %d %.100s", rec.Code, rec.Body)
	}
	if rec := s.do(t, http.MethodGet, "/fhir/Questionnaire/nope", nil, nil); rec.Code != 404 {
		t.Errorf("unknown questionnaire: %d", rec.Code)
	}
	if rec := s.do(t, http.MethodGet, "/healthz", nil, nil); rec.Code != 200 {
		t.Errorf("healthz %d", rec.Code)
	}
	if rec := s.do(t, http.MethodGet, "/readyz", nil, nil); rec.Code != 200 {
		t.Errorf("readyz %d %s", rec.Code, rec.Body)
	}
	s.Drain()
	if rec := s.do(t, http.MethodGet, "/readyz", nil, nil); rec.Code != 503 {
		t.Errorf("readyz while draining = %d, want 503", rec.Code)
	}
}

func TestCORS(t *testing.T) {
	s := newTestServer(t, nil)
	rec := s.do(t, http.MethodOptions, "/cds-services/lumbar-mri-order-sign", nil, map[string]string{"Origin": "https://sandbox.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
	if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", rec.Code, rec.Header())
	}
	rec = s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", []byte("{"), map[string]string{"Origin": "https://sandbox.example"})
	if rec.Code != 400 || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("error response lacks CORS headers: %d %v", rec.Code, rec.Header())
	}
	closed := newTestServer(t, func(c *Config) { c.CORSOrigins = []string{"https://ehr.example"} })
	rec = closed.do(t, http.MethodOptions, "/cds-services", nil, map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("an origin not listed was allowed")
	}
}

func TestRateLimit(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.RatePerSecond, c.RateBurst = 1, 2 })
	var codes []int
	for i := 0; i < 4; i++ {
		rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, nil), map[string]string{"Origin": "https://x.example"})
		codes = append(codes, rec.Code)
		if rec.Code == 429 && (rec.Header().Get("Retry-After") == "" || rec.Header().Get("Access-Control-Allow-Origin") == "") {
			t.Errorf("429 without Retry-After or CORS: %v", rec.Header())
		}
	}
	if codes[0] != 200 || codes[1] != 200 || codes[3] != 429 {
		t.Errorf("statuses %v, want 200 200 ... 429", codes)
	}
}

func TestNoPHIInLogs(t *testing.T) {
	s := newTestServer(t, nil)
	body := minimal(t, func(r map[string]any) {
		r["fhirAuthorization"] = map[string]any{"access_token": "tok-SECRET-42", "token_type": "Bearer", "expires_in": 30, "scope": "user/*.read", "subject": "x"}
		r["fhirServer"] = "http://127.0.0.1:1/fhir"
	})
	_ = s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", body, map[string]string{"Authorization": "Bearer eyJhbGciOiJFUzM4NCJ9.secret.jwt"})
	for _, secret := range []string{"tok-SECRET-42", "eyJhbGciOiJFUzM4NCJ9", "1975-03-02", `"p1"`, "patient=p1"} {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

func TestConcurrentCallsAreAudited(t *testing.T) {
	s := newTestServer(t, nil)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, nil), nil); rec.Code != 200 {
				t.Errorf("status %d", rec.Code)
			}
		}()
	}
	wg.Wait()
	r, err := s.db.Report(t.Context(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.Calls != 20 {
		t.Errorf("audit has %d calls, want 20", r.Calls)
	}
}

// TestEveryLogLineOfACallCarriesItsIDs: a call whose FHIR queries fail logs
// warnings from the loader; each carries the request id and hookInstance.
func TestEveryLogLineOfACallCarriesItsIDs(t *testing.T) {
	s := newTestServer(t, nil)
	body := minimal(t, func(r map[string]any) {
		delete(r["prefetch"].(map[string]any), "procedures")
		r["fhirServer"] = "http://127.0.0.1:9/fhir"
	})
	rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", body, map[string]string{"X-Request-ID": "req-42"})
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	lines := strings.Split(strings.TrimSpace(s.logs.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("want the loader's warning and the call line, got %q", lines)
	}
	for _, l := range lines {
		if !strings.Contains(l, "request_id=req-42") || !strings.Contains(l, "hook_instance=5d6d3c2e-0d4c-4b8e-9a55-2f1d0c8a7b61") {
			t.Errorf("log line without the call's ids: %s", l)
		}
	}
}

// A compressed body is refused as such (415), not read as malformed JSON;
// "identity" is no encoding.
func TestCompressedBodyRefused(t *testing.T) {
	s := newTestServer(t, nil)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(minimal(t, nil))
	_ = w.Close()
	rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", gz.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	if rec.Code != http.StatusUnsupportedMediaType || !strings.Contains(rec.Body.String(), "uncompressed") {
		t.Errorf("gzip body: %d %s", rec.Code, rec.Body)
	}
	if rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, nil), map[string]string{"Content-Encoding": "identity"}); rec.Code != http.StatusOK {
		t.Errorf("identity: %d %s", rec.Code, rec.Body)
	}
}

// panickingPolicies makes every service call panic in the pipeline.
type panickingPolicies struct{}

func (panickingPolicies) Current() *policy.Set { panic("test: policy source broke") }

// A panic in a call is a 500 the client reads, with an audit row; not an
// empty 200 (the audit step's buffer swallowed the router's 500 before).
func TestPanicIsAnAudited500(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Pipeline.Policies = panickingPolicies{} })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/cds-services/lumbar-mri-order-sign", "application/json", bytes.NewReader(minimal(t, nil)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "OperationOutcome") || strings.Contains(string(body), "policy source broke") {
		t.Fatalf("panic answered %d %s", resp.StatusCode, body)
	}
	rep, err := s.db.Report(t.Context(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Calls != 1 || len(rep.Outcomes) != 1 || rep.Outcomes[0].Label != "HTTP 500" {
		t.Errorf("audit: %d calls, outcomes %+v; want one call answered HTTP 500", rep.Calls, rep.Outcomes)
	}
	if !strings.Contains(s.logs.String(), "panic in a service call") {
		t.Errorf("the panic is not logged")
	}
}

// A report period: the 30 days to today by default, the 30 days to the
// given last day when only "to" is given, and from before to.
func TestPeriod(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	tests := []struct {
		from, to string
		wantFrom time.Time
		wantTo   time.Time
		wantErr  bool
	}{
		{"", "", now.AddDate(0, 0, -30), now, false},
		{"", "2026-06-30", day("2026-06-01"), day("2026-07-01"), false},
		{"2026-06-01", "2026-06-30", day("2026-06-01"), day("2026-07-01"), false},
		{"2026-07-02", "2026-06-30", time.Time{}, time.Time{}, true},
		{"2026-13-01", "", time.Time{}, time.Time{}, true},
	}
	for _, tt := range tests {
		from, to, err := Period(tt.from, tt.to, now)
		if (err != nil) != tt.wantErr || !tt.wantErr && (!from.Equal(tt.wantFrom) || !to.Equal(tt.wantTo)) {
			t.Errorf("Period(%q, %q) = %s, %s, %v; want %s, %s (error %v)", tt.from, tt.to, from, to, err, tt.wantFrom, tt.wantTo, tt.wantErr)
		}
	}
}

// TestNoReferralWhenDrafted: a physical therapy referral among the draft
// orders, selected or not, stops the service's own referral suggestion (CRD
// STU 2.1 hooks.md, order-select: "don't recommend an action if there's
// already a draft order to perform that action"; conf6 t59). A withdrawn
// draft (doNotPerform) is no referral.
func TestNoReferralWhenDrafted(t *testing.T) {
	s := newTestServer(t, nil)
	referral := func(extra map[string]any) map[string]any {
		sr := map[string]any{"resourceType": "ServiceRequest", "id": "pt-1", "status": "draft", "intent": "order",
			"code":    map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "306170007", "display": "Referral to physiotherapy service"}}},
			"subject": map[string]any{"reference": "Patient/p1"}, "authoredOn": "2026-06-15"}
		for k, v := range extra {
			sr[k] = v
		}
		return map[string]any{"resource": sr}
	}
	tests := []struct {
		name, service string
		draft         map[string]any // added to draftOrders; nil: none
		want          bool           // a referral is suggested
	}{
		{"order-sign, no referral drafted", "lumbar-mri-order-sign", nil, true},
		{"order-sign, referral drafted", "lumbar-mri-order-sign", referral(nil), false},
		{"order-select, referral drafted but not selected", "lumbar-mri-order-select", referral(nil), false},
		{"order-sign, withdrawn referral", "lumbar-mri-order-sign", referral(map[string]any{"doNotPerform": true}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := minimal(t, func(r map[string]any) {
				ctx := r["context"].(map[string]any)
				if tt.service == "lumbar-mri-order-select" {
					r["hook"] = "order-select"
					ctx["selections"] = []any{"ServiceRequest/mri-1"}
				}
				if tt.draft != nil {
					b := ctx["draftOrders"].(map[string]any)
					b["entry"] = append(b["entry"].([]any), tt.draft)
				}
			})
			rec := s.do(t, http.MethodPost, "/cds-services/"+tt.service, body, nil)
			var resp hooks.Response
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			suggested := false
			for _, c := range resp.Cards {
				for _, sg := range c.Suggestions {
					for _, a := range sg.Actions {
						if a.Type == hooks.ActionCreate && strings.Contains(string(a.Resource), `"306170007"`) {
							suggested = true
						}
					}
				}
			}
			if suggested != tt.want {
				t.Errorf("referral suggested = %v, want %v", suggested, tt.want)
			}
			if !tt.want && !strings.Contains(rec.Body.String(), "A physical therapy referral is among the draft orders") {
				t.Errorf("the coverage card does not say the referral is drafted: %s", rec.Body)
			}
		})
	}
}

// TestFieldsTheServiceDoesNotUse: values the service never reads do not
// fail the call. fhirAuthorization.expires_in written as a double (300.0,
// the integer CDS Hooks 2.0.1 asks for; conf6 t50) or as a string (t49), and
// selections on order-sign, which has no such context field (CRD STU 2.1
// hooks.md: unrecognized context elements SHALL be ignored; t51). On
// order-select, selections chooses the orders assessed: a string there is
// still 400.
func TestFieldsTheServiceDoesNotUse(t *testing.T) {
	s := newTestServer(t, nil)
	auth := func(expires any) func(map[string]any) {
		return func(r map[string]any) {
			r["fhirServer"] = "https://ehr.example/fhir"
			r["fhirAuthorization"] = map[string]any{"access_token": "t", "token_type": "Bearer", "expires_in": expires, "scope": "user/*.read", "subject": "cds"}
			r["prefetch"].(map[string]any)["documentReferences"] = nil
		}
	}
	rawFloat := func(r map[string]any) {
		auth(json.Number("300.0"))(r)
	}
	tests := []struct {
		name, service string
		mutate        func(map[string]any)
		want          int
	}{
		{"expires_in 300", "lumbar-mri-order-sign", auth(300), 200},
		{"expires_in 300.0", "lumbar-mri-order-sign", rawFloat, 200},
		{"expires_in a string", "lumbar-mri-order-sign", auth("300"), 200},
		{"selections a string on order-sign", "lumbar-mri-order-sign", func(r map[string]any) {
			r["context"].(map[string]any)["selections"] = "ServiceRequest/mri-1"
		}, 200},
		{"selections a string on order-select", "lumbar-mri-order-select", func(r map[string]any) {
			r["hook"] = "order-select"
			r["context"].(map[string]any)["selections"] = "ServiceRequest/mri-1"
		}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := minimal(t, tt.mutate)
			rec := s.do(t, http.MethodPost, "/cds-services/"+tt.service, body, nil)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if tt.want != 200 {
				if !strings.Contains(rec.Body.String(), "selections") {
					t.Errorf("the 400 does not name selections: %s", rec.Body)
				}
				return
			}
			var resp hooks.Response
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Cards) == 0 {
				t.Errorf("no cards: %s", rec.Body)
			}
		})
	}
	if body := minimal(t, rawFloat); !strings.Contains(string(body), `"expires_in":300.0`) {
		t.Fatalf("the request does not carry 300.0: %s", body)
	}
}

// callsStore keeps the audit rows it is given.
type callsStore struct {
	Store
	mu    sync.Mutex
	calls []store.Call
}

func (s *callsStore) RecordCall(ctx context.Context, c store.Call) error {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	return s.Store.RecordCall(ctx, c)
}

// TestResignWithNothingNew: signing again an order that carries this
// service's coverage information, with the chart unchanged (conf6 t34), gets
// no update (CRD STU 2.1 cards.md, Coverage Information: no system action
// "unless something is new"), an empty systemActions list, and an audit row
// with no assertion id: the one the order carries was recorded when sent.
func TestResignWithNothingNew(t *testing.T) {
	base := newTestServer(t, nil)
	rows := &callsStore{Store: base.db}
	s := newTestServer(t, func(c *Config) { c.Store = rows })
	var first hooks.Response
	rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, nil), nil)
	if err := json.Unmarshal(rec.Body.Bytes(), &first); err != nil || rec.Code != 200 || len(first.SystemActions) != 1 {
		t.Fatalf("first sign: %d %s", rec.Code, rec.Body)
	}
	signed := first.SystemActions[0].Resource
	resign := minimal(t, func(r map[string]any) {
		var order map[string]any
		if err := json.Unmarshal(signed, &order); err != nil {
			t.Fatal(err)
		}
		order["status"] = "active"
		r["context"].(map[string]any)["draftOrders"].(map[string]any)["entry"] = []any{map[string]any{"resource": order}}
	})
	rec = s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", resign, nil)
	if rec.Code != 200 {
		t.Fatalf("re-sign: %d %s", rec.Code, rec.Body)
	}
	var again map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &again); err != nil {
		t.Fatal(err)
	}
	if got := string(again["systemActions"]); got != "[]" {
		t.Errorf("re-sign systemActions = %s, want []", got)
	}
	if len(rows.calls) != 2 {
		t.Fatalf("%d audit rows, want 2", len(rows.calls))
	}
	if len(rows.calls[0].AssertionIDs) != 1 || !strings.Contains(string(signed), `"`+rows.calls[0].AssertionIDs[0]+`"`) {
		t.Errorf("first call recorded %v, not the id it sent", rows.calls[0].AssertionIDs)
	}
	if len(rows.calls[1].AssertionIDs) != 0 {
		t.Errorf("re-sign recorded assertion ids %v that were never sent", rows.calls[1].AssertionIDs)
	}
	if !strings.Contains(string(again["cards"]), "assertion "+rows.calls[0].AssertionIDs[0]) {
		t.Errorf("the coverage card does not name the assertion the order carries: %s", again["cards"])
	}
}
