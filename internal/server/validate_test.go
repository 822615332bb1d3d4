package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/cards"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/fhirtest"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// TestResourcesValidateAsR4: the Questionnaire, every coverage-information
// update and every suggested resource validate against the R4 definitions.
func TestResourcesValidateAsR4(t *testing.T) {
	s := newTestServer(t, nil)
	var resources []json.RawMessage
	var names []string
	q := policy.Questionnaires()["lumbar-mri-pa"]
	resources, names = append(resources, q), append(names, "Questionnaire/lumbar-mri-pa")
	bodies := map[string][]byte{
		"no therapy, with contrast": minimal(t, func(r map[string]any) {
			sr := r["context"].(map[string]any)["draftOrders"].(map[string]any)["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
			sr["code"] = map[string]any{"coding": []any{map[string]any{"system": "http://www.ama-assn.org/go/cpt", "code": "72149", "display": "MRI lumbar spine with contrast"}}}
		}),
		"therapy met": payerChart(t, 49, true, nil, coverage("c1", "Example Health Plan", 0)),
	}
	for name, body := range bodies {
		rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", body, nil)
		var resp hooks.Response
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
			t.Fatalf("%s: %d %s", name, rec.Code, rec.Body)
		}
		for _, a := range resp.SystemActions {
			resources, names = append(resources, a.Resource), append(names, name+": systemAction")
		}
		for _, c := range resp.Cards {
			for _, sg := range c.Suggestions {
				for _, a := range sg.Actions {
					resources, names = append(resources, a.Resource), append(names, name+": "+sg.Label)
				}
			}
		}
	}
	if len(resources) < 5 {
		t.Fatalf("only %d resources to validate: the requests should yield updates and suggestions", len(resources))
	}
	for i, problems := range fhirtest.Validate(t, resources...) {
		for _, p := range problems {
			t.Errorf("%s is not valid R4: %s", names[i], p)
		}
	}
	// The validator must catch a broken resource, or this test proves nothing.
	if bad := fhirtest.Validate(t, json.RawMessage(`{"resourceType":"ServiceRequest","intent":"order","subject":{"reference":"Patient/1"}}`)); len(bad[0]) == 0 {
		t.Errorf("the validator accepted a ServiceRequest without status")
	}
}

// TestQuestionnaireCoversEveryFinding: at least one item per finding code.
func TestQuestionnaireCoversEveryFinding(t *testing.T) {
	var q struct {
		URL  string `json:"url"`
		Item []item `json:"item"`
	}
	if err := json.Unmarshal(policy.Questionnaires()["lumbar-mri-pa"], &q); err != nil {
		t.Fatal(err)
	}
	if q.URL != policy.DefaultQuestionnaire {
		t.Errorf("Questionnaire.url = %s, want the policy's canonical %s", q.URL, policy.DefaultQuestionnaire)
	}
	seen := map[string]bool{}
	var walk func([]item)
	walk = func(items []item) {
		for _, it := range items {
			for _, c := range it.Code {
				seen[c.Code] = true
			}
			walk(it.Item)
		}
	}
	walk(q.Item)
	for _, code := range cards.Codes()[3:] {
		if !seen[code] {
			t.Errorf("no Questionnaire item for finding %s", code)
		}
	}
	if strings.Count(string(policy.Questionnaires()["lumbar-mri-pa"]), `"linkId"`) < 20 {
		t.Errorf("the Questionnaire looks too small")
	}
}

type item struct {
	Code []struct{ Code string } `json:"code"`
	Item []item                  `json:"item"`
}
