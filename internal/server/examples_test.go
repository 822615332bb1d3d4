package server

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/cards"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

// sharedExamples is the folder of requests other people wrote, with a
// clinical reviewer's expectations (examples/expected.json), beside the
// repository.
var sharedExamples = filepath.Join("..", "..", "..", "shared", "examples")

// reviewerExpectation is one entry of examples/expected.json: the outcome
// code of the coverage information, findings that must or must not appear,
// words the cards must or must not mention (summaries and details, case
// ignored), no critical card, the Coverage used, and the linkIds the
// pre-filled QuestionnaireResponse must answer.
type reviewerExpectation struct {
	Outcome         string   `json:"outcome"`
	OutcomeNot      string   `json:"outcome_not"`
	Findings        []string `json:"findings"`
	FindingsNot     []string `json:"findings_not"`
	CardsMention    []string `json:"cards_mention"`
	CardsNotMention []string `json:"cards_not_mention"`
	NoCritical      bool     `json:"no_critical"`
	Coverage        string   `json:"coverage"`
	FormAnswers     []string `json:"form_answers"`
}

// checkReviewer compares one order-sign response with a reviewer's
// expectation and returns what disagrees.
func checkReviewer(t *testing.T, body []byte, want reviewerExpectation) []string {
	t.Helper()
	var resp hooks.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	var bad []string
	outcome, findings, coverage := "none", []string{}, ""
	if len(resp.SystemActions) > 0 {
		outcome, findings, coverage = reasons(t, body)
	}
	has := map[string]bool{}
	for _, f := range findings {
		has[f] = true
	}
	if want.Outcome != "" && outcome != want.Outcome {
		bad = append(bad, "outcome "+outcome+", want "+want.Outcome)
	}
	if want.OutcomeNot != "" && outcome == want.OutcomeNot {
		bad = append(bad, "outcome "+outcome+", want anything else")
	}
	for _, f := range want.Findings {
		if !has[f] {
			bad = append(bad, "finding "+f+" missing (got "+strings.Join(findings, ", ")+")")
		}
	}
	for _, f := range want.FindingsNot {
		if has[f] {
			bad = append(bad, "finding "+f+" must not appear")
		}
	}
	var text strings.Builder
	for _, c := range resp.Cards {
		text.WriteString(c.Summary + "\n" + c.Detail + "\n")
		if want.NoCritical && c.Indicator == "critical" {
			bad = append(bad, "critical card: "+c.Summary)
		}
	}
	for _, w := range want.CardsMention {
		if !strings.Contains(strings.ToLower(text.String()), strings.ToLower(w)) {
			bad = append(bad, "cards do not mention "+w)
		}
	}
	for _, w := range want.CardsNotMention {
		if strings.Contains(strings.ToLower(text.String()), strings.ToLower(w)) {
			bad = append(bad, "cards mention "+w)
		}
	}
	if len(want.FormAnswers) > 0 {
		answered := formAnswered(t, resp)
		for _, id := range want.FormAnswers {
			if !answered[id] {
				bad = append(bad, "the pre-filled form does not answer "+id)
			}
		}
	}
	if want.Coverage != "" && coverage != want.Coverage {
		bad = append(bad, "coverage "+coverage+", want "+want.Coverage)
	}
	return bad
}

// formAnswered returns the linkIds answered in the QuestionnaireResponses
// that the answer's suggestions create (the pre-filled form).
func formAnswered(t *testing.T, resp hooks.Response) map[string]bool {
	t.Helper()
	type item struct {
		LinkID string            `json:"linkId"`
		Answer []json.RawMessage `json:"answer"`
		Item   []item            `json:"item"`
	}
	out := map[string]bool{}
	var walk func([]item)
	walk = func(items []item) {
		for _, it := range items {
			if len(it.Answer) > 0 {
				out[it.LinkID] = true
			}
			walk(it.Item)
		}
	}
	for _, c := range resp.Cards {
		for _, s := range c.Suggestions {
			for _, a := range s.Actions {
				var qr struct {
					ResourceType string `json:"resourceType"`
					Item         []item `json:"item"`
				}
				if err := json.Unmarshal(a.Resource, &qr); err != nil || qr.ResourceType != "QuestionnaireResponse" {
					continue
				}
				walk(qr.Item)
			}
		}
	}
	return out
}

// TestReviewerExamples sends every real-world chart and field case in the
// shared examples (requests other projects and EHRs wrote) through the
// service and compares each answer with the clinical reviewer's
// expectation. It also logs the agreement figure.
func TestReviewerExamples(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(sharedExamples, "expected.json"))
	if os.IsNotExist(err) {
		t.Skipf("the shared examples folder %s is absent: nothing to compare with", sharedExamples)
	}
	if err != nil {
		t.Fatal(err)
	}
	var expected map[string]json.RawMessage
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(expected))
	for k := range expected {
		if strings.HasSuffix(k, ".json") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	if len(names) < 9 {
		t.Fatalf("found %d reviewed examples, want at least 9", len(names))
	}
	s := newTestServer(t, nil)
	agree := 0
	for _, name := range names {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			var want reviewerExpectation
			if err := json.Unmarshal(expected[name], &want); err != nil {
				t.Fatal(err)
			}
			body, err := os.ReadFile(filepath.Join(sharedExamples, name))
			if err != nil {
				t.Fatal(err)
			}
			rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", body, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			for _, e := range cards.Check(rec.Body.Bytes()) {
				t.Errorf("response breaks a rule: %v", e)
			}
			bad := checkReviewer(t, rec.Body.Bytes(), want)
			for _, b := range bad {
				t.Error(b)
			}
			if len(bad) == 0 {
				agree++
			}
		})
	}
	t.Logf("%d of %d reviewed examples agree with the reviewer", agree, len(names))
}
