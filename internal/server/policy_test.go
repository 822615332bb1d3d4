package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// payerChart builds an order-sign request for a patient with low back pain,
// physical therapy visits every 7 days over ptDays before D (2026-06-15), an
// optional lumbar radiograph, optional medications, and the given coverages.
func payerChart(t *testing.T, ptDays int, xray bool, meds []map[string]any, coverages ...map[string]any) []byte {
	t.Helper()
	return minimal(t, func(r map[string]any) {
		pf := r["prefetch"].(map[string]any)
		var procs []any
		for d := ptDays; d >= 0; d -= 7 {
			procs = append(procs, map[string]any{"resource": map[string]any{
				"resourceType": "Procedure", "id": fmt.Sprintf("pt-%d", d), "status": "completed",
				"code":              map[string]any{"coding": []any{map[string]any{"system": "http://www.ama-assn.org/go/cpt", "code": "97110"}}},
				"subject":           map[string]any{"reference": "Patient/p1"},
				"performedDateTime": day(-d),
			}})
		}
		if ptDays > 0 {
			pf["procedures"] = map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": procs}
		}
		if xray {
			pf["imagingStudies"] = map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{map[string]any{"resource": map[string]any{
				"resourceType": "ImagingStudy", "id": "xr-1", "status": "available", "subject": map[string]any{"reference": "Patient/p1"},
				"started":  day(-60),
				"modality": []any{map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "DX"}},
				"series": []any{map[string]any{"uid": "1.2.3", "modality": map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "DX"},
					"bodySite": map[string]any{"system": "http://snomed.info/sct", "code": "122496007", "display": "Lumbar spine"}}},
			}}}}
		}
		if meds != nil {
			var es []any
			for _, m := range meds {
				es = append(es, map[string]any{"resource": m})
			}
			pf["medicationRequests"] = map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": es}
		}
		if coverages != nil {
			var es []any
			for _, c := range coverages {
				es = append(es, map[string]any{"resource": c})
			}
			pf["coverage"] = map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": es}
		}
	})
}

func day(offset int) string {
	return testNow.AddDate(0, 0, offset).Format("2006-01-02")
}

func coverage(id, payor string, order int) map[string]any {
	c := map[string]any{"resourceType": "Coverage", "id": id, "status": "active", "beneficiary": map[string]any{"reference": "Patient/p1"},
		"payor": []any{map[string]any{"display": payor}}}
	if order > 0 {
		c["order"] = order
	}
	return c
}

func gabapentin(days int) map[string]any {
	return map[string]any{"resourceType": "MedicationRequest", "id": "gaba", "status": "active", "intent": "order",
		"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "25480"}}},
		"subject":                   map[string]any{"reference": "Patient/p1"}, "authoredOn": day(-days),
		"dispenseRequest": map[string]any{"expectedSupplyDuration": map[string]any{"value": days, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}}}
}

// reasons returns the reason codes and the coverage reference of the first
// coverage-information systemAction ("" when there is none).
func reasons(t *testing.T, body []byte) (string, []string, string) {
	t.Helper()
	var resp hooks.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.SystemActions) == 0 {
		return "", nil, ""
	}
	var sr struct {
		Extension []struct {
			URL       string `json:"url"`
			Extension []struct {
				URL                  string `json:"url"`
				ValueReference       struct{ Reference string }
				ValueCodeableConcept struct{ Coding []struct{ Code string } }
			} `json:"extension"`
		} `json:"extension"`
	}
	if err := json.Unmarshal(resp.SystemActions[0].Resource, &sr); err != nil {
		t.Fatal(err)
	}
	var codes []string
	ref := ""
	for _, e := range sr.Extension {
		for _, p := range e.Extension {
			switch p.URL {
			case "reason":
				codes = append(codes, p.ValueCodeableConcept.Coding[0].Code)
			case "coverage":
				ref = p.ValueReference.Reference
			}
		}
	}
	if len(codes) == 0 {
		t.Fatalf("no reasons in %s", resp.SystemActions[0].Resource)
	}
	findings := codes[1:]
	sort.Strings(findings)
	return codes[0], findings, ref
}

func payerServer(t *testing.T) *testServer {
	t.Helper()
	set, err := policy.Load(filepath.Join("..", "..", "testdata", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	return newTestServer(t, func(c *Config) { c.Pipeline.Policies = fixedPolicies{set} })
}

func TestPayerPoliciesDiffer(t *testing.T) {
	s := payerServer(t)
	tests := []struct {
		name    string
		body    []byte
		outcome string
		has     string
		label   string
	}{
		{"5 weeks of therapy: default needs 42 days", payerChart(t, 35, true, nil, coverage("c1", "Example Health Plan", 0)), "criteria-not-met", "conservative-therapy-insufficient", "General lumbar MRI criteria (no payer-specific policy)"},
		{"5 weeks of therapy: Acme accepts 28 days", payerChart(t, 35, true, nil, coverage("c1", "Acme Health Plan", 0)), "criteria-met", "conservative-therapy-met", "Acme Health Plan"},
		{"no radiograph: default does not require one", payerChart(t, 49, false, nil, coverage("c1", "Example Health Plan", 0)), "criteria-met", "conservative-therapy-met", ""},
		{"no radiograph: Acme requires one", payerChart(t, 49, false, nil, coverage("c1", "Acme Health Plan", 0)), "criteria-not-met", "xray-missing", ""},
		{"gabapentin only: default does not count it", payerChart(t, 0, false, []map[string]any{gabapentin(50)}, coverage("c1", "Example Health Plan", 0)), "criteria-not-met", "conservative-therapy-missing", ""},
		{"gabapentin only: Summit counts it", payerChart(t, 0, false, []map[string]any{gabapentin(50)}, coverage("c1", "Summit Care Insurance", 0)), "criteria-met", "conservative-therapy-met", "Summit Care Insurance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", tt.body, nil)
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			outcome, findings, _ := reasons(t, rec.Body.Bytes())
			if outcome != tt.outcome || !contains(findings, tt.has) {
				t.Errorf("got %s %v, want %s with %s", outcome, findings, tt.outcome, tt.has)
			}
			if tt.label != "" && !strings.Contains(rec.Body.String(), `"label":"`+tt.label+`"`) {
				t.Errorf("cards are not labelled %q", tt.label)
			}
		})
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestCoverageChoice(t *testing.T) {
	s := payerServer(t)
	// Several active coverages: the lowest order wins (Acme, order 1), and the
	// assertion is about it.
	rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign",
		payerChart(t, 35, true, nil, coverage("c-summit", "Summit Care Insurance", 2), coverage("c-acme", "Acme Health Plan", 1)), nil)
	outcome, _, ref := reasons(t, rec.Body.Bytes())
	if ref != "Coverage/c-acme" || outcome != "criteria-met" || !strings.Contains(rec.Body.String(), "lowest coverage order (1) of the 2 coverages in force") {
		t.Errorf("two coverages: %s about %s; want Acme's policy and coverage, and a note", outcome, ref)
	}
	// An unknown payer falls back to the default policy.
	rec = s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", payerChart(t, 35, true, nil, coverage("c-x", "Unknown Mutual", 0)), nil)
	if outcome, _, _ := reasons(t, rec.Body.Bytes()); outcome != "criteria-not-met" {
		t.Errorf("unknown payer: %s, want the default policy's criteria-not-met", outcome)
	}
	// No active coverage: cards, no coverage information, and the coverage card says so.
	rec = s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, func(r map[string]any) {
		r["prefetch"].(map[string]any)["coverage"] = map[string]any{"resourceType": "Bundle", "type": "searchset", "total": 0}
	}), nil)
	var resp hooks.Response
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	if rec.Code != 200 || len(resp.SystemActions) != 0 || !strings.Contains(rec.Body.String(), "no coverage in force on the order date") {
		t.Errorf("no coverage: %d, %d systemActions: %s", rec.Code, len(resp.SystemActions), rec.Body)
	}
}

// TestReloadUnderLoad: valid and invalid policy changes while calls run; no
// call fails or is lost, and the invalid change is rejected.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(days int) {
		b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "policies", "acme-health.yaml"))
		s := strings.Replace(string(b), "min_days: 28", fmt.Sprintf("min_days: %d", days), 1)
		if err := os.WriteFile(filepath.Join(dir, "acme.yaml"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(28)
	var rejected atomic.Int32
	h, err := policy.NewHolder(dir, slog.New(slog.NewTextHandler(io.Discard, nil)), func(r string) {
		if r == "rejected" {
			rejected.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, func(c *Config) { c.Pipeline.Policies = h })
	body := payerChart(t, 35, true, nil, coverage("c1", "Acme Health Plan", 0))
	const workers, calls = 6, 40
	var wg sync.WaitGroup
	var ok, met, notMet atomic.Int32
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", body, nil)
				if rec.Code != 200 {
					t.Errorf("call failed during reload: %d %s", rec.Code, rec.Body)
					continue
				}
				ok.Add(1)
				switch o, _, _ := reasons(t, rec.Body.Bytes()); o {
				case "criteria-met":
					met.Add(1)
				case "criteria-not-met":
					notMet.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 10; i++ {
		write(map[bool]int{true: 28, false: 42}[i%2 == 0])
		if err := h.Reload(); err != nil {
			t.Errorf("valid reload failed: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "acme.yaml"), []byte("id: acme\nconservative_therapy: {min_days: -1}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := h.Reload(); err == nil {
			t.Errorf("an invalid policy was accepted")
		}
	}
	wg.Wait()
	if ok.Load() != workers*calls || met.Load()+notMet.Load() != workers*calls {
		t.Errorf("%d of %d calls answered (%d met, %d not met)", ok.Load(), workers*calls, met.Load(), notMet.Load())
	}
	if rejected.Load() != 10 {
		t.Errorf("%d rejected reloads reported, want 10", rejected.Load())
	}
	if h.Current().Get("acme-health") == nil {
		t.Errorf("the running policy was lost after rejected reloads")
	}
}
