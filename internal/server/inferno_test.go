package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/cards"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

// infernoDir is the folder of the Inferno Da Vinci CRD test kit's request
// fixtures: shared/examples/inferno beside the repository (kept outside it:
// they are the kit's files).
func infernoDir(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(filepath.Dir(root), "shared", "examples", "inferno")
}

// infernoRequests reads the kit's order-sign and order-select request
// bodies: the spec fixtures (one request per file) and the preset inputs
// (a JSON array of requests per file).
func infernoRequests(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{"order_sign_hook_request.json", "order_select_hook_request.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	for _, f := range []string{"preset_order_sign_request_bodies.json", "preset_order_select_request_bodies.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		var bodies []json.RawMessage
		if err := json.Unmarshal(b, &bodies); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, body := range bodies {
			out[f+"#"+string(rune('0'+i))] = body
		}
	}
	return out
}

type countingLoader struct {
	RecordLoader
	calls *atomic.Int32
}

func (c countingLoader) Load(ctx context.Context, in fhir.LoadInput) (*fhir.Record, error) {
	c.calls.Add(1)
	return c.RecordLoader.Load(ctx, in)
}

// TestInfernoKitRequests sends the Inferno CRD test kit's own request
// fixtures through the server and checks the answers as the kit does
// (reference/crd.md 3.1): 200 and JSON, cards present, systemActions on
// every order-sign answer, the card rules. None of them orders a lumbar MRI,
// so each is answered at once, without touching its fhirServer. Then the
// kit's preset ServiceRequest, recoded as a lumbar MRI (CPT 72148) with its
// chart supplied as empty searches, must come back with coverage
// information on the kit's own order and suggestions that meet their CRD
// profiles; across the answers the kit's three required response types
// (Coverage Information, Instructions, External Reference) occur.
func TestInfernoKitRequests(t *testing.T) {
	dir := infernoDir(t)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("the Inferno kit's fixtures are not beside the repository (%s): %v", dir, err)
	}
	var loads atomic.Int32
	s := newTestServer(t, func(c *Config) {
		c.Pipeline.Loader = countingLoader{RecordLoader: c.Pipeline.Loader, calls: &loads}
	})
	service := map[string]string{hooks.HookOrderSign: ServiceOrderSign, hooks.HookOrderSelect: ServiceOrderSelect}
	var answers [][]byte
	for name, body := range infernoRequests(t, dir) {
		t.Run(name, func(t *testing.T) {
			var req struct {
				Hook string `json:"hook"`
			}
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatal(err)
			}
			rec := s.do(t, http.MethodPost, "/cds-services/"+service[req.Hook], body, nil)
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			want := `{"cards":[]}`
			if req.Hook == hooks.HookOrderSign {
				want = `{"cards":[],"systemActions":[]}`
			}
			if rec.Body.String() != want {
				t.Errorf("answer %s, want %s", rec.Body, want)
			}
			for _, e := range cards.CheckAnswer(req.Hook, body, rec.Body.Bytes()) {
				t.Errorf("answer breaks a rule: %v", e)
			}
			answers = append(answers, rec.Body.Bytes())
		})
	}
	if n := loads.Load(); n != 0 {
		t.Errorf("the record was loaded %d times for requests without a lumbar MRI", n)
	}

	// The kit's preset order-sign ServiceRequest, recoded as a lumbar MRI.
	raw, err := os.ReadFile(filepath.Join(dir, "preset_order_sign_request_bodies.json"))
	if err != nil {
		t.Fatal(err)
	}
	var presets []map[string]any
	if err := json.Unmarshal(raw, &presets); err != nil {
		t.Fatal(err)
	}
	var req map[string]any
	for _, p := range presets {
		entries := p["context"].(map[string]any)["draftOrders"].(map[string]any)["entry"].([]any)
		if entries[0].(map[string]any)["resource"].(map[string]any)["resourceType"] == "ServiceRequest" {
			req = p
		}
	}
	if req == nil {
		t.Fatal("no ServiceRequest among the kit's order-sign presets")
	}
	order := req["context"].(map[string]any)["draftOrders"].(map[string]any)["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	order["code"] = map[string]any{"coding": []any{map[string]any{"system": "http://www.ama-assn.org/go/cpt", "code": "72148", "display": "MRI lumbar spine without contrast"}}}
	prefetch := req["prefetch"].(map[string]any)
	for _, q := range fhir.Searches {
		if _, ok := prefetch[string(q.Key)]; !ok {
			prefetch[string(q.Key)] = map[string]any{"resourceType": "Bundle", "type": "searchset", "total": 0}
		}
	}
	body, _ := json.Marshal(req)
	rec := s.do(t, http.MethodPost, "/cds-services/"+ServiceOrderSign, body, nil)
	if rec.Code != 200 {
		t.Fatalf("the kit's order as a lumbar MRI: %d %s", rec.Code, rec.Body)
	}
	for _, e := range cards.CheckAnswer(hooks.HookOrderSign, body, rec.Body.Bytes()) {
		t.Errorf("answer breaks a rule: %v", e)
	}
	answers = append(answers, rec.Body.Bytes())
	var resp hooks.Response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.SystemActions) != 1 {
		t.Fatalf("%d systemActions, want one coverage-information update: %s", len(resp.SystemActions), rec.Body)
	}
	un, err := cards.Unpatched(resp.SystemActions[0].Resource)
	if err != nil {
		t.Fatal(err)
	}
	var got any
	_ = json.Unmarshal(un, &got)
	want, _ := json.Marshal(order)
	var wantV any
	_ = json.Unmarshal(want, &wantV)
	if !reflect.DeepEqual(got, wantV) {
		t.Errorf("the update changes the kit's order beyond its coverage information (-got +want):\n%s", cmp.Diff(got, wantV))
	}
	if !strings.Contains(string(resp.SystemActions[0].Resource), `"reference":"Coverage/cov015"`) {
		t.Errorf("coverage information is not about the kit's Coverage: %s", resp.SystemActions[0].Resource)
	}
	var referral *hooks.Action
	for _, c := range resp.Cards {
		for _, sg := range c.Suggestions {
			for i, a := range sg.Actions {
				if a.Type == hooks.ActionCreate && strings.Contains(string(a.Resource), `"resourceType":"ServiceRequest"`) {
					referral = &sg.Actions[i]
				}
			}
		}
	}
	if referral == nil || !strings.Contains(string(referral.Resource), `"requester":{"reference":"Practitioner/pra1234"}`) ||
		!strings.Contains(string(referral.Resource), `"authoredOn":"2026-06-15"`) {
		t.Errorf("the physical therapy referral lacks the kit's user as requester or authoredOn: %v", referral)
	}

	// The same order for a patient with a documented bone metastasis: a
	// criteria-met answer, whose coverage card is a plain Instructions card
	// (the pre-filled form has a card of its own).
	conds := map[string]any{"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": []any{map[string]any{"resource": map[string]any{
		"resourceType": "Condition", "id": "kit-met-1",
		"clinicalStatus": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}}},
		"code":           map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C79.51", "display": "Secondary malignant neoplasm of bone"}}},
		"subject":        order["subject"]}}}}
	prefetch["conditions"] = conds
	body, _ = json.Marshal(req)
	rec = s.do(t, http.MethodPost, "/cds-services/"+ServiceOrderSign, body, nil)
	if rec.Code != 200 {
		t.Fatalf("the kit's order with a red flag: %d %s", rec.Code, rec.Body)
	}
	for _, e := range cards.CheckAnswer(hooks.HookOrderSign, body, rec.Body.Bytes()) {
		t.Errorf("answer breaks a rule: %v", e)
	}
	answers = append(answers, rec.Body.Bytes())

	// The kit passes its "required card response" group only when each of
	// these occurs at least once across the answers (reference/crd.md 3.1).
	var instructions, external, coverageInfo int
	for _, b := range answers {
		var r hooks.Response
		_ = json.Unmarshal(b, &r)
		for _, c := range r.Cards {
			switch {
			case len(c.Links) == 0 && len(c.Suggestions) == 0:
				instructions++
			case len(c.Links) > 0 && len(c.Suggestions) == 0:
				external++
			}
		}
		for _, a := range r.SystemActions {
			if a.Type == hooks.ActionUpdate && strings.Contains(string(a.Resource), cards.CoverageInformationURL) {
				coverageInfo++
			}
		}
	}
	if instructions == 0 || external == 0 || coverageInfo == 0 {
		t.Errorf("across the kit's requests: %d Instructions cards, %d External Reference cards, %d coverage-information actions; want each",
			instructions, external, coverageInfo)
	}
}
