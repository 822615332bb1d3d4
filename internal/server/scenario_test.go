package server

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/cards"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/fhirtest"
)

var update = flag.Bool("update", false, "rewrite the golden responses under testdata/golden")

var (
	scenarioDir = filepath.Join("..", "..", "testdata", "scenarios")
	goldenDir   = filepath.Join("..", "..", "testdata", "golden")
)

// expectation is one entry of testdata/scenarios/expected.json, written by
// hand from DECISIONS.md's rules, independently of the code.
type expectation struct {
	Outcome  string   `json:"outcome"`
	Findings []string `json:"findings"`
	// Optional checks: findings that must not appear, words the cards must
	// mention, no critical card, the Coverage the assertion is about.
	More reviewerExpectation `json:"-"`
}

type scenario struct {
	name   string
	body   []byte
	expect expectation
}

func scenarios(t *testing.T) []scenario {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(scenarioDir, "expected.json"))
	if err != nil {
		t.Fatalf("expected outcomes: %v", err)
	}
	var expected map[string]expectation
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatal(err)
	}
	var more map[string]reviewerExpectation
	if err := json.Unmarshal(raw, &more); err != nil {
		t.Fatal(err)
	}
	for k, e := range expected {
		m := more[k]
		// Outcome and findings are compared exactly in TestScenarios; the
		// optional checks run through checkReviewer.
		m.Outcome, m.Findings = "", nil
		e.More = m
		expected[k] = e
	}
	files, _ := filepath.Glob(filepath.Join(scenarioDir, "*.json"))
	var out []scenario
	for _, f := range files {
		base := filepath.Base(f)
		if base == "expected.json" {
			continue
		}
		e, ok := expected[base]
		if !ok {
			t.Errorf("%s has no entry in expected.json", base)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, scenario{name: strings.TrimSuffix(base, ".json"), body: b, expect: e})
	}
	if len(out) < 12 {
		t.Fatalf("found %d scenarios, want at least the twelve of the clinical criteria", len(out))
	}
	return out
}

// outcomeOf reads the assessment and finding codes of the first order from
// the response (its coverage information, else "none" when there are no cards).
func outcomeOf(t *testing.T, body []byte) expectation {
	t.Helper()
	var resp hooks.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Cards) == 0 && len(resp.SystemActions) == 0 {
		return expectation{Outcome: "none", Findings: []string{}}
	}
	o, f, _ := reasons(t, body)
	if f == nil {
		f = []string{}
	}
	return expectation{Outcome: o, Findings: f}
}

func pretty(t *testing.T, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// draftOrders returns the client's ServiceRequests by id, as JSON values.
func draftOrders(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var req hooks.Request
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	_ = json.Unmarshal(req.Context.DraftOrders, &b)
	out := map[string]any{}
	for _, e := range b.Entry {
		var v map[string]any
		_ = json.Unmarshal(e.Resource, &v)
		if id, ok := v["id"].(string); ok {
			out[id] = v
		}
	}
	return out
}

// TestScenarios runs every scenario through the real router with its
// prefetch: the response matches its golden file, the outcome and findings
// match expected.json, the response keeps the CDS Hooks and CRD rules, and
// each coverage-information update changes nothing but the extension.
func TestScenarios(t *testing.T) {
	s := newTestServer(t, nil)
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			s.Pipeline().NewID = seqIDs()
			rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", sc.body, nil)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := outcomeOf(t, rec.Body.Bytes())
			for _, b := range checkReviewer(t, rec.Body.Bytes(), sc.expect.More) {
				t.Error(b)
			}
			want := sc.expect
			want.More = reviewerExpectation{}
			if want.Findings == nil {
				want.Findings = []string{}
			}
			sort.Strings(want.Findings)
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("outcome (-got +want):\n%s", diff)
			}
			for _, e := range cards.Check(rec.Body.Bytes()) {
				t.Errorf("response breaks a rule: %v", e)
			}
			var resp hooks.Response
			_ = json.Unmarshal(rec.Body.Bytes(), &resp)
			orders := draftOrders(t, sc.body)
			for _, a := range resp.SystemActions {
				un, err := cards.Unpatched(a.Resource)
				if err != nil {
					t.Fatal(err)
				}
				var v map[string]any
				_ = json.Unmarshal(un, &v)
				if diff := cmp.Diff(v, orders[v["id"].(string)]); diff != "" {
					t.Errorf("the update changes more than the coverage information (-got +want):\n%s", diff)
				}
			}
			golden := filepath.Join(goldenDir, sc.name+".json")
			body := pretty(t, rec.Body.Bytes())
			if *update {
				if err := os.MkdirAll(goldenDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want2, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("golden file (run with -update to create): %v", err)
			}
			if diff := cmp.Diff(string(body), string(want2)); diff != "" {
				t.Errorf("response differs from %s (-got +want):\n%s", golden, diff)
			}
		})
	}
}

// notOnAServer lists scenarios a FHIR server cannot hold: they test how
// prefetch decoding copes with entries no server would store.
var notOnAServer = map[string]string{
	"e-bad-entries": "holds an unknown resource type and an invalid status code",
	// A server answers a search by patient with that patient's resources
	// only: another patient's entries cannot come back from it.
	"f17-all-entries-another-patient": "its entries are about another patient, which a search by patient never returns",
	"e-other-patient":                 "its prefetch holds entries about another patient, which the answer names and a search by patient never returns",
}

// TestScenariosFromFHIRServer loads each scenario's records into a real FHIR
// R4 server and sends the request with no prefetch but with fhirServer: the
// responses must equal the prefetch goldens.
func TestScenariosFromFHIRServer(t *testing.T) {
	srv := fhirtest.Start(t)
	loader := fhir.NewLoader(fhir.LoaderConfig{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	// The node test server answers one search at a time; the 200-resource
	// chart pages through many results. This test is about equal answers,
	// not speed (that is the benchmarks' business), so the deadline is generous.
	s := newTestServer(t, func(c *Config) {
		c.Pipeline.Loader = fhir.NewLoader(fhir.LoaderConfig{Timeout: 20 * time.Second}, c.Logger)
	})
	client, err := loader.Client(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			if why, ok := notOnAServer[sc.name]; ok {
				t.Logf("prefetch-only scenario: %s", why)
				return
			}
			srv.Reset()
			if _, err := fhir.Seed(context.Background(), client, sc.body); err != nil {
				t.Fatalf("seed: %v", err)
			}
			var req map[string]any
			if err := json.Unmarshal(sc.body, &req); err != nil {
				t.Fatal(err)
			}
			delete(req, "prefetch")
			req["fhirServer"] = srv.URL
			req["fhirAuthorization"] = map[string]any{"access_token": "integration-token", "token_type": "Bearer", "expires_in": 30, "scope": "user/*.read", "subject": "lumbar-mri-cds"}
			body, _ := json.Marshal(req)
			s.Pipeline().NewID = seqIDs()
			rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", body, nil)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			want, err := os.ReadFile(filepath.Join(goldenDir, sc.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var gotV, wantV any
			_ = json.Unmarshal(rec.Body.Bytes(), &gotV)
			_ = json.Unmarshal(want, &wantV)
			if !reflect.DeepEqual(gotV, wantV) {
				t.Errorf("response from the FHIR server differs from the prefetch golden (-got +want):\n%s", cmp.Diff(gotV, wantV))
			}
		})
	}
}

// TestCRDResponseTypesAcrossScenarios: across the scenario set the service
// returns at least one Instructions card (no links, no suggestions), one
// External Reference card (links only, all absolute) and coverage
// information, as CRD requires servers to demonstrate (reference/crd.md 1.3).
func TestCRDResponseTypesAcrossScenarios(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	var instructions, external, coverageInfo int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var resp hooks.Response
		if err := json.Unmarshal(b, &resp); err != nil {
			t.Fatal(err)
		}
		for _, c := range resp.Cards {
			switch {
			case len(c.Links) == 0 && len(c.Suggestions) == 0:
				instructions++
			case len(c.Links) > 0 && len(c.Suggestions) == 0:
				all := true
				for _, l := range c.Links {
					all = all && l.Type == "absolute" && strings.HasPrefix(l.URL, "https://")
				}
				if all {
					external++
				}
			}
		}
		coverageInfo += len(resp.SystemActions)
	}
	if instructions == 0 || external == 0 || coverageInfo == 0 {
		t.Errorf("across %d goldens: %d Instructions cards, %d External Reference cards, %d coverage-information actions; want each at least once",
			len(files), instructions, external, coverageInfo)
	}
}
