package cards

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

func seqIDs() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("id-%d", n) }
}

var testPolicy = &policy.Policy{
	ID: "test", Name: "Example Health Plan", PANeeded: "auth-needed",
	Questionnaire: "https://example.org/Questionnaire/q",
	Links:         []policy.Link{{Label: "Policy", URL: "https://example.org/policy"}},
}

const rawOrder = `{"resourceType":"ServiceRequest","id":"mri-1","status":"draft","intent":"order","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">MRI &amp; more</div>"},"code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"72148"}]},"subject":{"reference":"Patient/p1"},"extension":[{"url":"http://example.org/other","valueString":"keep me"}]}`

func date(s string) *time.Time {
	t, _ := time.Parse(time.DateOnly, s)
	return &t
}

func assessment(outcome string, findings ...string) criteria.Assessment {
	a := criteria.Assessment{
		Order:               criteria.Order{ID: "mri-1", Code: criteria.Code{System: CPTSystem, Code: "72148"}, Display: "MRI lumbar spine without contrast", Contrast: criteria.ContrastWithout, BillingCode: "72148"},
		Date:                *date("2026-06-15"),
		Outcome:             outcome,
		TherapyRequiredDays: 42,
		LookbackDays:        180,
		RecommendedContrast: criteria.ContrastWithout,
	}
	for _, f := range findings {
		a.Findings = append(a.Findings, criteria.Finding{Code: f, Text: Display(f) + ".", Evidence: []criteria.Evidence{{Source: "Condition/c1", Date: date("2026-06-01"), Display: "Low back pain"}}})
	}
	if outcome == criteria.CriteriaIndeterminate {
		a.Unchecked = []string{"procedures"}
	}
	return a
}

func build(t *testing.T, hook string, cov *Coverage, cfg Config, as ...criteria.Assessment) Result {
	t.Helper()
	var orders []Order
	for _, a := range as {
		orders = append(orders, Order{Assessment: a, Raw: json.RawMessage(rawOrder)})
	}
	res, err := Build(Input{Hook: hook, PatientID: "p1", UserID: "Practitioner/u1", Orders: orders, Policy: testPolicy, Coverage: cov, Config: cfg, Today: *date("2026-11-27")}, seqIDs())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(res.Response)
	for _, e := range Check(body) {
		if hook == hooks.HookOrderSign && cov != nil || !strings.Contains(e.Error(), "coverage-information") {
			t.Errorf("response breaks a rule: %v", e)
		}
	}
	return res
}

var cov = &Coverage{Reference: "Coverage/cov-1", PayerOrganization: &chart.PayerRef{Reference: "Organization/payer-1"}}

// codesOf returns url -> value codes of the coverage information.
func codesOf(t *testing.T, resource json.RawMessage) map[string][]string {
	t.Helper()
	var r struct{ Extension []ext }
	if err := json.Unmarshal(resource, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range r.Extension {
		if e.URL != CoverageInformationURL {
			continue
		}
		for _, p := range e.Extension {
			switch {
			case p.ValueCode != "":
				out[p.URL] = append(out[p.URL], p.ValueCode)
			case p.ValueCodeableConcept != nil:
				out[p.URL] = append(out[p.URL], p.ValueCodeableConcept.Coding[0].Code)
			case p.ValueCoding != nil:
				out[p.URL] = append(out[p.URL], p.ValueCoding.Code)
			case p.ValueCanonical != "":
				out[p.URL] = append(out[p.URL], p.ValueCanonical)
			case p.ValueReference != nil:
				out[p.URL] = append(out[p.URL], p.ValueReference.Reference)
			default:
				out[p.URL] = append(out[p.URL], "set")
			}
		}
	}
	return out
}

func TestCoverageInformationValues(t *testing.T) {
	tests := []struct {
		name string
		a    criteria.Assessment
		want map[string][]string
	}{
		{"met", assessment(criteria.CriteriaMet, criteria.RedFlagCaudaEquina, criteria.ConservativeTherapyMissing), map[string][]string{
			"coverage": {"Coverage/cov-1"}, "covered": {"covered"}, "pa-needed": {"auth-needed"}, "doc-needed": {"clinical"}, "doc-purpose": {"withpa"},
			"questionnaire": {"https://example.org/Questionnaire/q"}, "billingCode": {"72148"},
			"reason": {"criteria-met", "red-flag-cauda-equina", "conservative-therapy-missing"}, "date": {"set"}, "coverage-assertion-id": {"set"},
		}},
		{"not met", assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyInsufficient), map[string][]string{
			"coverage": {"Coverage/cov-1"}, "covered": {"covered"}, "pa-needed": {"auth-needed"}, "doc-needed": {"clinical"}, "doc-purpose": {"withpa"},
			"questionnaire": {"https://example.org/Questionnaire/q"}, "billingCode": {"72148"},
			"reason": {"criteria-not-met", "conservative-therapy-insufficient"}, "date": {"set"}, "coverage-assertion-id": {"set"},
		}},
		{"indeterminate", assessment(criteria.CriteriaIndeterminate), map[string][]string{
			"coverage": {"Coverage/cov-1"}, "covered": {"conditional"}, "pa-needed": {"auth-needed"}, "info-needed": {"OTH"}, "billingCode": {"72148"},
			"reason": {"criteria-indeterminate"}, "date": {"set"}, "coverage-assertion-id": {"set"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := build(t, hooks.HookOrderSign, cov, Config{}, tt.a)
			if len(res.Response.SystemActions) != 1 {
				t.Fatalf("got %d systemActions, want 1", len(res.Response.SystemActions))
			}
			got := codesOf(t, res.Response.SystemActions[0].Resource)
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("coverage information (-got +want):\n%s", diff)
			}
		})
	}
}

func TestUpdateChangesNothingElse(t *testing.T) {
	res := build(t, hooks.HookOrderSign, cov, Config{}, assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing))
	patched := res.Response.SystemActions[0].Resource
	if !strings.Contains(string(patched), `<div xmlns=`) {
		t.Errorf("narrative was re-escaped: %s", patched)
	}
	got, err := Unpatched(patched)
	if err != nil {
		t.Fatal(err)
	}
	var gotV, wantV any
	_ = json.Unmarshal(got, &gotV)
	_ = json.Unmarshal([]byte(rawOrder), &wantV)
	if diff := cmp.Diff(gotV, wantV); diff != "" {
		t.Errorf("update changed more than the coverage information (-got +want):\n%s", diff)
	}
	// Re-sending the updated order replaces our extension, never adds a second.
	again, err := withCoverageInformation(patched, coverageInformation(&criteria.Assessment{Outcome: criteria.CriteriaMet}, *cov, "auth-needed", "", "id-x", time.Now(), false))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(again), CoverageInformationURL); n != 1 {
		t.Errorf("coverage information appears %d times after re-patching, want 1", n)
	}
	if !strings.Contains(string(again), "keep me") {
		t.Errorf("the client's other extension was dropped")
	}
}

func TestOrderSelectNeverAsksForDocumentation(t *testing.T) {
	res := build(t, hooks.HookOrderSelect, cov, Config{}, assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing))
	if len(res.Response.SystemActions) != 0 {
		t.Errorf("order-select returned %d systemActions, want none", len(res.Response.SystemActions))
	}
	if len(res.Response.Cards) == 0 {
		t.Errorf("order-select returned no cards")
	}
}

func topicsOf(res Result) []string {
	var out []string
	for _, c := range res.Response.Cards {
		out = append(out, c.Indicator+"/"+c.Source.Topic.Code)
	}
	return out
}

func TestCardsPerFinding(t *testing.T) {
	contrast := assessment(criteria.CriteriaMet, criteria.RedFlagMalignancy, criteria.ContrastReview)
	contrast.SuggestedCode = &criteria.Code{System: CPTSystem, Code: "72158", Display: "MRI lumbar spine without and with contrast"}
	contrast.RecommendedContrast = criteria.ContrastWithoutAndWith
	// No therapy and a with-contrast-only order: two kinds of suggestion.
	both := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing, criteria.ContrastReview)
	both.SuggestedCode = &criteria.Code{System: CPTSystem, Code: "72148", Display: "MRI lumbar spine without contrast"}
	// Cauda equina with a with-contrast-only order: critical, coverage (with the change riding on it), links.
	caudaContrast := assessment(criteria.CriteriaMet, criteria.RedFlagCaudaEquina, criteria.ContrastReview)
	caudaContrast.SuggestedCode = &criteria.Code{System: CPTSystem, Code: "72148", Display: "MRI lumbar spine without contrast"}
	tests := []struct {
		name string
		a    criteria.Assessment
		cfg  Config
		cov  *Coverage
		want []string
	}{
		{"cauda equina is critical and first", assessment(criteria.CriteriaMet, criteria.RedFlagCaudaEquina, criteria.ConservativeTherapyMissing), Config{}, cov,
			[]string{"critical/clinical-reminder", "info/coverage-info", "info/guideline"}},
		{"progressive deficit is critical", assessment(criteria.CriteriaMet, criteria.RedFlagNeurologicDeficit), Config{}, cov,
			[]string{"critical/clinical-reminder", "info/coverage-info", "info/guideline"}},
		// The pre-filled form takes a card of its own (CRD Form Completion)
		// where the order has room for one.
		{"malignancy is not an emergency", assessment(criteria.CriteriaMet, criteria.RedFlagMalignancy), Config{}, cov,
			[]string{"info/coverage-info", "info/coverage-info", "info/guideline"}},
		{"no therapy: warning plus referral", assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing), Config{}, cov,
			[]string{"warning/coverage-info", "info/therapy-alternatives-opt", "info/guideline"}},
		{"repeat MRI folds into the coverage card", assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMet, criteria.PriorLumbarMRI), Config{}, cov,
			[]string{"warning/coverage-info", "info/coverage-info", "info/guideline"}},
		{"contrast review", contrast, Config{}, cov,
			[]string{"info/coverage-info", "info/appropriate-use", "info/guideline"}},
		{"two kinds of suggestion: the second rides on the coverage card", both, Config{}, cov,
			[]string{"warning/coverage-info", "info/therapy-alternatives-opt", "info/guideline"}},
		{"critical leaves no room: the change rides", caudaContrast, Config{}, cov,
			[]string{"critical/clinical-reminder", "info/coverage-info", "info/guideline"}},
		{"indeterminate", assessment(criteria.CriteriaIndeterminate), Config{}, cov,
			[]string{"warning/coverage-info", "info/coverage-info", "info/guideline"}},
		{"no coverage: said on the coverage card", assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing), Config{}, nil,
			[]string{"warning/coverage-info", "info/therapy-alternatives-opt", "info/guideline"}},
		{"types switched off", assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing), Config{Disabled: map[string]bool{TopicTherapyAlt: true, TopicGuideline: true}}, cov,
			[]string{"warning/coverage-info", "info/coverage-info"}},
		{"links off: room for both suggestion cards", both, Config{Disabled: map[string]bool{TopicGuideline: true}}, cov,
			[]string{"warning/coverage-info", "info/therapy-alternatives-opt", "info/appropriate-use"}},
		{"coverage cards off: suggestions share one card", both, Config{Disabled: map[string]bool{TopicCoverageInfo: true}}, cov,
			[]string{"info/therapy-alternatives-opt", "info/guideline"}},
		{"critical off", assessment(criteria.CriteriaMet, criteria.RedFlagCaudaEquina), Config{Disabled: map[string]bool{TopicClinicalReminder: true}}, cov,
			[]string{"info/coverage-info", "info/coverage-info", "info/guideline"}},
		{"max-cards", assessment(criteria.CriteriaMet, criteria.RedFlagCaudaEquina), Config{MaxCards: ptr(1)}, cov,
			[]string{"critical/clinical-reminder"}},
		// max-cards never hides an emergency: the critical card stays.
		{"max-cards zero keeps the critical card", assessment(criteria.CriteriaMet, criteria.RedFlagCaudaEquina), Config{MaxCards: ptr(0)}, cov,
			[]string{"critical/clinical-reminder"}},
		{"max-cards zero without a red flag", assessment(criteria.CriteriaMet), Config{MaxCards: ptr(0)}, cov,
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := build(t, hooks.HookOrderSign, tt.cov, tt.cfg, tt.a)
			if diff := cmp.Diff(topicsOf(res), tt.want); diff != "" {
				t.Errorf("cards (-got +want):\n%s", diff)
			}
			if len(res.Cards) != len(res.Response.Cards) {
				t.Errorf("issued %d cards for the audit, response has %d", len(res.Cards), len(res.Response.Cards))
			}
		})
	}
}

func ptr(n int) *int { return &n }

func TestContrastSuggestionUpdatesOnlyTheCode(t *testing.T) {
	a := assessment(criteria.CriteriaMet, criteria.RedFlagMalignancy, criteria.ContrastReview)
	a.SuggestedCode = &criteria.Code{System: CPTSystem, Code: "72158", Display: "MRI lumbar spine without and with contrast"}
	res := build(t, hooks.HookOrderSign, cov, Config{}, a)
	var s *hooks.Suggestion
	for _, c := range res.Response.Cards {
		for i := range c.Suggestions {
			if c.Suggestions[i].Actions[0].Type == hooks.ActionUpdate {
				s = &c.Suggestions[i]
			}
		}
	}
	if s == nil {
		t.Fatal("no contrast suggestion")
	}
	var sr struct {
		ID   string `json:"id"`
		Code struct {
			Coding []coding `json:"coding"`
		} `json:"code"`
		Text json.RawMessage `json:"text"`
	}
	if err := json.Unmarshal(s.Actions[0].Resource, &sr); err != nil {
		t.Fatal(err)
	}
	if sr.ID != "mri-1" || sr.Code.Coding[0].Code != "72158" || len(sr.Text) == 0 {
		t.Errorf("suggested update = %s", s.Actions[0].Resource)
	}
	// The update holds the whole resource: accepting it keeps the payer's
	// coverage information, under the systemAction's assertion id, with the
	// alternative's billing code (conformance review M3).
	sysID := assertionOf(t, res.Response.SystemActions[0].Resource)
	if got := assertionOf(t, s.Actions[0].Resource); got == "" || got != sysID {
		t.Errorf("suggestion's assertion id %q, systemAction's %q", got, sysID)
	}
	if !strings.Contains(string(s.Actions[0].Resource), `"url":"billingCode","valueCoding":{"system":"http://www.ama-assn.org/go/cpt","code":"72158"}`) {
		t.Errorf("no billing code 72158 in %s", s.Actions[0].Resource)
	}
}

// assertionOf is the coverage-assertion-id of this service's
// coverage-information extension on an order.
func assertionOf(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var sr struct {
		Extension []ext `json:"extension"`
	}
	if err := json.Unmarshal(raw, &sr); err != nil {
		t.Fatal(err)
	}
	for _, e := range sr.Extension {
		if e.URL != CoverageInformationURL {
			continue
		}
		for _, p := range e.Extension {
			if p.URL == "coverage-assertion-id" {
				return p.ValueString
			}
		}
	}
	return ""
}

func TestSummariesStayShort(t *testing.T) {
	long := strings.Repeat("é", 200)
	if n := len([]rune(summary(long))); n >= 140 {
		t.Errorf("summary kept %d runes", n)
	}
	p := *testPolicy
	p.Name = strings.Repeat("Very Long Payer Name ", 10)
	orders := []Order{{Assessment: assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyInsufficient), Raw: json.RawMessage(rawOrder)}}
	res, err := Build(Input{Hook: hooks.HookOrderSign, PatientID: "p1", Orders: orders, Policy: &p, Coverage: cov, Today: time.Now()}, seqIDs())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Response.Cards {
		if n := len([]rune(c.Summary)); n >= 140 {
			t.Errorf("summary %q has %d characters", c.Summary, n)
		}
	}
}

func TestCheckFindsBrokenResponses(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"null value", `{"cards":[],"systemActions":null}`, "null"},
		{"empty detail", `{"cards":[{"uuid":"u","summary":"s","detail":"","indicator":"info","source":{"label":"l","topic":{"system":"` + TopicSystem + `","code":"guideline"}}}]}`, "empty string"},
		{"bad indicator", `{"cards":[{"uuid":"u","summary":"s","indicator":"hard-stop","source":{"label":"l","topic":{"system":"` + TopicSystem + `","code":"guideline"}}}]}`, "indicator"},
		{"suggestion without behaviour", `{"cards":[{"uuid":"u","summary":"s","indicator":"info","source":{"label":"l","topic":{"system":"` + TopicSystem + `","code":"guideline"}},"suggestions":[{"label":"x","uuid":"v"}]}]}`, "selectionBehavior"},
		{"q3", `{"cards":[],"systemActions":[{"type":"update","description":"d","resource":{"resourceType":"ServiceRequest","extension":[{"url":"` + CoverageInformationURL + `","extension":[{"url":"coverage","valueReference":{"reference":"Coverage/1"}},{"url":"covered","valueCode":"conditional"},{"url":"date","valueDate":"2026-01-01"},{"url":"coverage-assertion-id","valueString":"a"}]}]}}]}`, "q3"},
		{"links beside suggestions", `{"cards":[{"uuid":"u","summary":"s","indicator":"info","source":{"label":"l","topic":{"system":"` + TopicSystem + `","code":"guideline"}},"links":[{"label":"x","url":"https://x.example","type":"absolute"}],"selectionBehavior":"any","suggestions":[{"label":"x","uuid":"v","actions":[{"type":"update","description":"d","resource":{"resourceType":"ServiceRequest","id":"a"}}]}]}]}`, "both links and suggestions"},
		{"relative link", `{"cards":[{"uuid":"u","summary":"s","indicator":"info","source":{"label":"l","topic":{"system":"` + TopicSystem + `","code":"guideline"}},"links":[{"label":"x","url":"/policy","type":"absolute"}]}]}`, "absolute URL"},
		{"referral without authoredOn", `{"cards":[{"uuid":"u","summary":"s","indicator":"info","source":{"label":"l","topic":{"system":"` + TopicSystem + `","code":"therapy-alternatives-opt"}},"selectionBehavior":"any","suggestions":[{"label":"x","uuid":"v","actions":[{"type":"create","description":"d","resource":{"resourceType":"ServiceRequest","status":"draft","intent":"order","code":{"text":"PT"},"subject":{"reference":"Patient/p"},"requester":{"reference":"Practitioner/u"}}}]}]}]}`, "authoredOn"},
		{"referral by a patient", `{"cards":[{"uuid":"u","summary":"s","indicator":"info","source":{"label":"l","topic":{"system":"` + TopicSystem + `","code":"therapy-alternatives-opt"}},"selectionBehavior":"any","suggestions":[{"label":"x","uuid":"v","actions":[{"type":"create","description":"d","resource":{"resourceType":"ServiceRequest","status":"draft","intent":"order","code":{"text":"PT"},"subject":{"reference":"Patient/p"},"authoredOn":"2026-01-01","requester":{"reference":"Patient/p"}}}]}]}]}`, "requester"},
		{"creates a non-order", `{"cards":[{"uuid":"u","summary":"s","indicator":"info","source":{"label":"l","topic":{"system":"` + TopicSystem + `","code":"therapy-alternatives-opt"}},"selectionBehavior":"any","suggestions":[{"label":"x","uuid":"v","actions":[{"type":"create","description":"d","resource":{"resourceType":"Observation"}}]}]}]}`, "not an order"},
		{"four cards for one order", `{"cards":[` + strings.Repeat(`{"uuid":"u","summary":"s","indicator":"info","source":{"label":"l","topic":{"system":"`+TopicSystem+`","code":"coverage-info"}},"extension":{"davinci-crd.associated-resource":[{"reference":"ServiceRequest/a"}]}},`, 3) + `{"uuid":"u","summary":"s","indicator":"info","source":{"label":"l","topic":{"system":"` + TopicSystem + `","code":"guideline"}}}]}`, "ServiceRequest/a has 4 cards"},
		{"empty systemActions allowed, empty links not", `{"cards":[{"uuid":"u","summary":"s","indicator":"info","source":{"label":"l","topic":{"system":"` + TopicSystem + `","code":"guideline"}},"links":[]}],"systemActions":[]}`, "$.cards[0].links is an empty array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := Check([]byte(tt.body))
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Errorf("Check = %v, want a problem mentioning %q", all, tt.want)
			}
			if strings.Contains(strings.Join(all, "\n"), "$.systemActions is an empty") {
				t.Errorf("an empty systemActions is what order-sign answers without updates send: %v", all)
			}
		})
	}
}

func TestCheckAnswer(t *testing.T) {
	req := `{"hook":"order-sign","context":{"draftOrders":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ServiceRequest","id":"mri-1"}}]}}}`
	update := func(id string) string {
		return `{"cards":[],"systemActions":[{"type":"update","description":"d","resource":{"resourceType":"ServiceRequest","id":"` + id + `","extension":[{"url":"` + CoverageInformationURL + `","extension":[{"url":"coverage","valueReference":{"reference":"Coverage/1"}},{"url":"covered","valueCode":"covered"},{"url":"date","valueDate":"2026-01-01"},{"url":"coverage-assertion-id","valueString":"a"}]}]}}]}`
	}
	tests := []struct {
		name, hook, body, want string
	}{
		{"order-sign without systemActions", hooks.HookOrderSign, `{"cards":[]}`, "needs systemActions"},
		{"update of another order", hooks.HookOrderSign, update("other"), "not among the draft orders"},
		{"fine", hooks.HookOrderSign, update("mri-1"), ""},
		{"order-select without systemActions", hooks.HookOrderSelect, `{"cards":[]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var all []string
			for _, e := range CheckAnswer(tt.hook, []byte(req), []byte(tt.body)) {
				all = append(all, e.Error())
			}
			got := strings.Join(all, "\n")
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("CheckAnswer = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSetMember: the member is replaced where it stood (or added last), every
// other member keeps its bytes and order, and the result is valid JSON.
func TestSetMember(t *testing.T) {
	set := func(old jsontext.Value) ([]byte, error) {
		if old == nil {
			old = jsontext.Value("null")
		}
		return []byte(fmt.Sprintf(`{"old":%s}`, old)), nil
	}
	for _, tc := range []struct{ in, want string }{
		{`{}`, `{"x":{"old":null}}`},
		{`{"a":1}`, `{"a":1,"x":{"old":null}}`},
		{`{"x":[1]}`, `{"x":{"old":[1]}}`},
		{`{"x":[1],"b":2}`, `{"x":{"old":[1]},"b":2}`},
		{`{"a":1,"x":[1]}`, `{"a":1,"x":{"old":[1]}}`},
		{`{"a":1,"x":[1],"b":{"c":[ 1, 2 ]}}`, `{"a":1,"x":{"old":[1]},"b":{"c":[ 1, 2 ]}}`},
		{` { "a" : "\u00e9<>" , "x" : 1 , "x" : 2 } `, `{"a":"\u00e9<>","x":{"old":2}}`},
	} {
		got, err := setMember([]byte(tc.in), "x", set)
		if err != nil || string(got) != tc.want || !json.Valid(got) {
			t.Errorf("setMember(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`[]`, `"x"`, `{"a":}`, `{"a":1`} {
		if got, err := setMember([]byte(bad), "x", set); err == nil {
			t.Errorf("setMember(%s) = %s, want an error", bad, got)
		}
	}
}

// TestResignWithNothingNew: an order that already carries the coverage
// information this answer would add gets no update (CRD STU 2.1 cards.md,
// Coverage Information: no system action "unless something is new"); the
// card names the assertion that stands and no new assertion id is recorded.
// Anything else that is new brings the update back, with a new id.
func TestResignWithNothingNew(t *testing.T) {
	notMet := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyInsufficient)
	first := build(t, hooks.HookOrderSign, cov, Config{}, notMet)
	signed := first.Response.SystemActions[0].Resource
	firstID := first.AssertionIDs[0]
	// The EHR stores the order: members and sub-extensions may come back
	// re-serialised and in another order.
	reordered := func(raw json.RawMessage) json.RawMessage {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		for _, e := range obj["extension"].([]any) {
			m := e.(map[string]any)
			if m["url"] == CoverageInformationURL {
				subs := m["extension"].([]any)
				for i, j := 0, len(subs)-1; i < j; i, j = i+1, j-1 {
					subs[i], subs[j] = subs[j], subs[i]
				}
				m["id"] = "ci-1"
			}
		}
		b, _ := json.MarshalIndent(obj, "", " ")
		return b
	}
	edit := func(raw json.RawMessage, url, from, to string) json.RawMessage {
		s := string(raw)
		i := strings.Index(s, `"url":"`+url+`"`)
		if i < 0 {
			t.Fatalf("no %s in %s", url, s)
		}
		out := s[:i] + strings.Replace(s[i:], from, to, 1)
		if out == s {
			t.Fatalf("%s: %q not found", url, from)
		}
		return json.RawMessage(out)
	}
	other := *cov
	other.Reference = "Coverage/cov-2"
	met := assessment(criteria.CriteriaMet, criteria.RedFlagMalignancy)
	tests := []struct {
		name    string
		raw     json.RawMessage
		cov     *Coverage
		a       criteria.Assessment
		updated bool
	}{
		{"same chart, same day", signed, cov, notMet, false},
		{"re-serialised, sub-extensions reordered, element id", reordered(signed), cov, notMet, false},
		// An older assertion is stale, and an id the order brings is
		// trusted for its day at most (clinical review 8).
		{"another day: a fresh assertion", edit(signed, "date", "2026-11-27", "2026-11-20"), cov, notMet, true},
		{"another outcome", signed, cov, met, true},
		{"another Coverage", signed, &other, notMet, true},
		{"another reason text", edit(signed, "reason", `"text":"`, `"text":"Earlier: `), cov, notMet, true},
		{"another billing code", edit(signed, "billingCode", `"72148"`, `"72149"`), cov, notMet, true},
		{"another pa-needed", edit(signed, "pa-needed", "auth-needed", "no-auth"), cov, notMet, true},
		{"no assertion id", edit(signed, "coverage-assertion-id", `"valueString":"`+firstID+`"`, `"valueString":""`), cov, notMet, true},
		{"the order has no coverage information yet", json.RawMessage(rawOrder), cov, notMet, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Build(Input{Hook: hooks.HookOrderSign, PatientID: "p1", Orders: []Order{{Assessment: tt.a, Raw: tt.raw}},
				Policy: testPolicy, Coverage: tt.cov, Today: *date("2026-11-27")}, func() string { return "new-id" })
			if err != nil {
				t.Fatal(err)
			}
			if res.Response.SystemActions == nil {
				t.Fatalf("systemActions absent, want a list (CRD clients expect the field)")
			}
			detail := ""
			for _, c := range res.Response.Cards {
				if c.Source.Topic.Code == TopicCoverageInfo && c.Extension != nil {
					detail += c.Detail
				}
			}
			says := strings.Contains(detail, "assertion "+firstID)
			if tt.updated {
				if len(res.Response.SystemActions) != 1 || !strings.Contains(string(res.Response.SystemActions[0].Resource), `"new-id"`) {
					t.Errorf("got %d systemActions, want one update with a new assertion id", len(res.Response.SystemActions))
				}
				if diff := cmp.Diff(res.AssertionIDs, []string{"new-id"}); diff != "" {
					t.Errorf("assertion ids (-got +want):\n%s", diff)
				}
				if says {
					t.Errorf("card says the old assertion stands although the order is updated")
				}
				return
			}
			if len(res.Response.SystemActions) != 0 {
				t.Errorf("got %d systemActions, want none: nothing is new", len(res.Response.SystemActions))
			}
			if len(res.AssertionIDs) != 0 {
				t.Errorf("recorded assertion ids %v that were never sent", res.AssertionIDs)
			}
			if !says {
				t.Errorf("coverage card does not name the assertion that stands (%s):\n%s", firstID, detail)
			}
		})
	}
}
