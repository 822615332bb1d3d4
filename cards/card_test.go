package cards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// cardText is everything a clinician reads on a card.
func cardText(c hooks.Card) string {
	s := c.Summary + "\n" + c.Detail + "\n" + c.Source.Label
	for _, sg := range c.Suggestions {
		s += "\n" + sg.Label
	}
	return s
}

func allText(res Result) string {
	var b strings.Builder
	for _, c := range res.Response.Cards {
		b.WriteString(cardText(c) + "\n")
	}
	return b.String()
}

func coverageCardOf(t *testing.T, res Result) hooks.Card {
	t.Helper()
	for _, c := range res.Response.Cards {
		if c.Source.Topic.Code == TopicCoverageInfo {
			return c
		}
	}
	t.Fatalf("no coverage-information card among %v", topicsOf(res))
	return hooks.Card{}
}

// inOrder reports whether the parts occur in s in the given order.
func inOrder(s string, parts ...string) error {
	at := 0
	for _, p := range parts {
		i := strings.Index(s[at:], p)
		if i < 0 {
			return fmt.Errorf("%q missing after position %d", p, at)
		}
		at += i + len(p)
	}
	return nil
}

func TestCoverageCardSaysWhatToAddAndWhatDidNotCount(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet)
	a.Findings = []criteria.Finding{{Code: criteria.ConservativeTherapyMissing, Text: "No conservative therapy is documented."}}
	a.LookbackDays = 180
	a.NotCounted = []criteria.NotCounted{
		{Reason: criteria.ReasonOutsideWindow, What: "physical therapy", Display: "Therapeutic exercises", DateText: "2025-10-03", Source: "Procedure/p1"},
		{Reason: criteria.ReasonOutsideWindow, What: "physical therapy", Display: "Therapeutic exercises", DateText: "2025-10-24", Source: "Procedure/p2"},
		{Reason: criteria.ReasonOutsideWindow, What: "NSAID", Display: "Ibuprofen 400 mg", DateText: "2025-09", Source: "MedicationRequest/m1"},
		{Reason: criteria.ReasonNoDate, What: "NSAID", Display: "Naproxen 500 mg", Source: "MedicationStatement/s1"},
		{Reason: criteria.ReasonTextOnly, What: "physical therapy", Display: "PT eval", DateText: "2026-06-01", Source: "Procedure/p3"},
		{Reason: criteria.ReasonNoDate, What: "NSAID", Display: "Diclofenac", Source: "MedicationStatement/s2"},
		{Reason: criteria.ReasonNotCurrent, What: "suspected malignancy", Display: "Malignant neoplasm of breast", DateText: "2018", Source: "Condition/c9"},
		{Reason: criteria.ReasonNoDate, What: "NSAID", Display: "Meloxicam", Source: "MedicationStatement/s3"},
		{Reason: criteria.ReasonTextOnly, What: "chiropractic", Display: "Chiro visit", DateText: "2026-05-02", Source: "Procedure/p4"},
		{Reason: criteria.ReasonOtherCondition, What: "opioid", Display: "Oxycodone", DateText: "2026-05-20", Source: "MedicationRequest/m2"},
	}
	res := build(t, hooks.HookOrderSign, cov, Config{}, a)
	c := coverageCardOf(t, res)
	if err := inOrder(c.Detail,
		"**Prior authorization needed: the chart does not yet support this order.**",
		"Payer: Example Health Plan", "Order: MRI lumbar spine without contrast (72148)",
		"**To add:**", "At least 42 days of conservative therapy within the 180-day look-back: none is documented.",
		"The physical therapy in 2025-10 is outside the 180-day look-back.",
		"The NSAID in 2025-09 is outside the 180-day look-back.",
		"**In the chart but not counted:**",
		// grouped by reason, in the order the reasons first occur
		"Naproxen 500 mg: no usable date.", "Diclofenac: no usable date.", "Meloxicam: no usable date.",
		"PT eval (2026-06-01): recorded as text without a code.", "Chiro visit (2026-05-02): recorded as text without a code.",
		"- and 2 more",
		"**What to do:**", "Start conservative therapy", "If a red flag is present, document it",
	); err != nil {
		t.Errorf("detail: %v\n%s", err, c.Detail)
	}
	if strings.Contains(c.Detail, "Oxycodone") {
		t.Errorf("more than %d not-counted lines:\n%s", maxNotCounted, c.Detail)
	}
	for _, ref := range []string{"Procedure/", "MedicationRequest/", "MedicationStatement/", "Condition/"} {
		if strings.Contains(allText(res), ref) {
			t.Errorf("a card shows the raw reference %s:\n%s", ref, allText(res))
		}
	}
	if got := c.Summary; got != "Lumbar MRI: documentation incomplete: no conservative therapy in the last 180 days" {
		t.Errorf("summary = %q", got)
	}
}

func TestEvidenceShownAsRecorded(t *testing.T) {
	a := assessment(criteria.CriteriaMet)
	a.TherapyDays = 43
	a.TherapyFrom, a.TherapyTo, a.TherapyFromRecorded = date("2026-04-30"), date("2026-06-12"), "2026-04"
	a.Findings = []criteria.Finding{
		{Code: criteria.RedFlagCaudaEquina, Text: "Suspected cauda equina syndrome: saddle anaesthesia.", Evidence: []criteria.Evidence{
			{Source: "DocumentReference/n1", Display: "Saddle anaesthesia", DateText: "2026-06-14", FromNote: true, Quote: "numbness in the saddle area since *yesterday*"},
		}},
		{Code: criteria.RedFlagMalignancy, Text: "Known or suspected malignancy: history.", Evidence: []criteria.Evidence{
			{Source: "Condition/h12-c2", Display: "Personal history of malignant neoplasm of breast", Date: date("2019-12-31"), DateText: "2019", Imprecise: true},
			{Source: "Condition/h12-c3", Display: "Low back pain", Date: date("2026-05-25")},
		}},
		{Code: criteria.ConservativeTherapyMet, Text: "Conservative therapy.", Evidence: []criteria.Evidence{
			{Source: "MedicationRequest/m1", Display: "Naproxen 500 mg", Date: date("2026-04-30"), DateText: "2026-04", Imprecise: true, ByText: true},
			{Source: "Procedure/p1", Display: "Therapeutic exercises", Date: date("2026-05-01"), DateText: "2026-05-01"},
			{Source: "Procedure/p2", Display: "Therapeutic exercises", Date: date("2026-05-08"), DateText: "2026-05-08"},
			{Source: "Procedure/p3", Display: "Therapeutic exercises", Date: date("2026-06-12"), DateText: "2026-06-12"},
		}},
	}
	res := build(t, hooks.HookOrderSign, cov, Config{}, a)
	c := coverageCardOf(t, res)
	for _, want := range []string{
		"Saddle anaesthesia: from a note (2026-06-14): “numbness in the saddle area since \\*yesterday\\*”",
		"Personal history of malignant neoplasm of breast (2019)",
		"Low back pain (2026-05-25)", // no DateText: the day the rule used
		"Naproxen 500 mg (2026-04, matched by name)",
		"Therapeutic exercises (3 entries, 2026-05-01 to 2026-06-12)",
		"Conservative therapy, 43 days (2026-04-30 to 2026-06-12; the first treatment is dated only 2026-04, so it counts from that period's last day)",
		"Image emergently (see the urgent card)",
	} {
		if !strings.Contains(c.Detail, want) {
			t.Errorf("detail lacks %q:\n%s", want, c.Detail)
		}
	}
	if strings.Contains(allText(res), "Condition/") || strings.Contains(allText(res), "DocumentReference/") {
		t.Errorf("raw references on a card:\n%s", allText(res))
	}
	var refs []reference
	_ = json.Unmarshal(c.Extension["davinci-crd.associated-resource"], &refs)
	if len(refs) != 1 || refs[0].Reference != "ServiceRequest/mri-1" {
		t.Errorf("associated-resource = %v", refs)
	}
	if strings.Contains(c.Detail, "If a red flag is present") || strings.Contains(c.Detail, "**To add:**") {
		t.Errorf("boilerplate that does not apply to a met order with red flags:\n%s", c.Detail)
	}
	// The evidence is on the coverage card only: the critical card names the red flag.
	seen := map[string]int{}
	for _, card := range res.Response.Cards {
		for _, name := range []string{"Saddle anaesthesia", "Personal history of malignant neoplasm", "Low back pain", "Naproxen", "Therapeutic exercises"} {
			if strings.Contains(cardText(card), name) {
				seen[name]++
			}
		}
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%q appears on %d cards, want 1", name, n)
		}
	}
}

// TestImpreciseDateThatMovedNothing: an entry dated only "2026-04" beside a
// visit on 2026-04-20 does not start the course, so the heading does not
// say the course counts from that month's last day (it starts on 04-20).
func TestImpreciseDateThatMovedNothing(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyInsufficient)
	a.Findings[0].Evidence = []criteria.Evidence{
		{Source: "Procedure/p1", Display: "Physical therapy evaluation", Date: date("2026-04-30"), DateText: "2026-04", Imprecise: true},
		{Source: "Procedure/p2", Display: "Therapeutic exercises", Date: date("2026-04-20"), DateText: "2026-04-20"},
		{Source: "Procedure/p3", Display: "Therapeutic exercises", Date: date("2026-05-18"), DateText: "2026-05-18"},
	}
	a.TherapyDays, a.TherapyFrom, a.TherapyTo = 28, date("2026-04-20"), date("2026-05-18")
	c := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
	if !strings.Contains(c.Detail, "Conservative therapy, 28 days (2026-04-20 to 2026-05-18)") || strings.Contains(c.Detail, "dated only") {
		t.Errorf("heading of a course a precise visit starts:\n%s", c.Detail)
	}
}

// TestSingleDayCourse: treatments all on one day make a course of 0 days
// by the rule (last day minus first); the card says a single day, never
// "0 days", which reads as none.
func TestSingleDayCourse(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyInsufficient)
	a.TherapyDays, a.TherapyFrom, a.TherapyTo = 0, date("2026-03-20"), date("2026-03-20")
	c := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
	if !strings.Contains(c.Detail, "Conservative therapy, a single day") || !strings.Contains(c.Detail, "the longest documented, a single day, has lapsed") ||
		strings.Contains(c.Detail, "0 days") {
		t.Errorf("a one-day course:\n%s", c.Detail)
	}
}

func TestTherapyShortOfTheMinimum(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyInsufficient)
	a.TherapyDays = 18
	a.TherapyMetOn = date("2026-07-06")
	res := build(t, hooks.HookOrderSign, cov, Config{}, a)
	c := coverageCardOf(t, res)
	if c.Summary != "Lumbar MRI: documentation incomplete: 24 more days of therapy (42-day point 2026-07-06)" {
		t.Errorf("summary = %q", c.Summary)
	}
	if err := inOrder(c.Detail, "**Documented:**", "Conservative therapy, 18 days", "**To add:**",
		"24 more days of therapy: the 42-day point is 2026-07-06.", "**What to do:**", "Continue conservative therapy"); err != nil {
		t.Errorf("detail: %v\n%s", err, c.Detail)
	}
	if strings.Contains(c.Detail, "18 of 42") {
		t.Errorf("what is present is listed as missing:\n%s", c.Detail)
	}
}

func TestRepeatMRIFoldsIntoTheCoverageCard(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing, criteria.PriorLumbarMRI)
	a.PriorMRI = &criteria.Evidence{Source: "ImagingStudy/i1", Display: "MR Lumbar spine", Date: date("2026-03-31"), DateText: "2026-03", Imprecise: true}
	a.Findings[1].Evidence = []criteria.Evidence{*a.PriorMRI, {Source: "DiagnosticReport/r1", Display: "MR Lumbar spine WO contrast", Date: date("2026-03-31"), DateText: "2026-03"}}
	res := build(t, hooks.HookOrderSign, cov, Config{}, a)
	if n := len(res.Response.Cards); n != 3 {
		t.Errorf("%d cards: %v", n, topicsOf(res))
	}
	c := coverageCardOf(t, res)
	if c.Summary != "Lumbar MRI: documentation incomplete: lumbar MRI already done in 2026-03 (date recorded to the month)" {
		t.Errorf("summary = %q", c.Summary)
	}
	if err := inOrder(c.Detail, "**Prior lumbar MRI** in 2026-03 (date recorded to the month)", "MR Lumbar spine; MR Lumbar spine WO contrast",
		"**To add:**", "What is new since the lumbar MRI", "**What to do:**", "Review the prior MRI report"); err != nil {
		t.Errorf("detail: %v\n%s", err, c.Detail)
	}
	if strings.Contains(c.Detail, "At least 42 days") {
		t.Errorf("therapy cannot meet the criteria for a repeat study, yet it is listed to add:\n%s", c.Detail)
	}
	if c.OverrideReasons[0].Code != "new-red-flag" {
		t.Errorf("override reasons %v, want the repeat-imaging ones", c.OverrideReasons)
	}
}

func TestEmergentImaging(t *testing.T) {
	infection := func(system, code string) criteria.Assessment {
		a := assessment(criteria.CriteriaMet)
		a.Findings = []criteria.Finding{{Code: criteria.RedFlagInfection, Text: "x", Evidence: []criteria.Evidence{
			{Display: "Abscess", DateText: "2026-06-10", Code: criteria.Code{System: system, Code: code}}}}}
		return a
	}
	tests := []struct {
		name, label string
		a           criteria.Assessment
	}{
		{"cauda equina", "Suspected cauda equina syndrome or cord compression", assessment(criteria.CriteriaMet, criteria.RedFlagCaudaEquina)},
		{"cord compression", "Cord compression", assessment(criteria.CriteriaMet, RedFlagCordCompression)},
		{"progressive deficit", "Severe or progressive neurological deficit", assessment(criteria.CriteriaMet, criteria.RedFlagNeurologicDeficit)},
		{"epidural abscess", "Suspected spinal epidural abscess", infection(policy.SystemICD10, "G06.1")},
		{"extradural abscess, undotted", "Suspected spinal epidural abscess", infection(policy.SystemICD10, "G062")},
		{"vertebral osteomyelitis", "", infection(policy.SystemICD10, "M46.2")},
		{"G06.1 in another system", "", infection(policy.SystemSNOMED, "G06.1")},
		{"malignancy", "", assessment(criteria.CriteriaMet, criteria.RedFlagMalignancy)},
		{"immunosuppression", "", assessment(criteria.CriteriaMet, "red-flag-immunosuppression")},
	}
	pol := policy.Default().Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Build(Input{Hook: hooks.HookOrderSign, PatientID: "p1", Orders: []Order{{Assessment: tt.a, Raw: json.RawMessage(rawOrder)}},
				Policy: pol, Coverage: cov, Today: *date("2026-06-15")}, seqIDs())
			if err != nil {
				t.Fatal(err)
			}
			var critical []hooks.Card
			for _, c := range res.Response.Cards {
				if c.Indicator == hooks.IndicatorCritical {
					critical = append(critical, c)
				}
			}
			switch {
			case tt.label == "" && len(critical) > 0:
				t.Errorf("critical card without emergent imaging: %q", critical[0].Summary)
			case tt.label != "" && (len(critical) != 1 || critical[0].Summary != "Emergent MRI, do not wait for prior authorization: "+tt.label):
				t.Errorf("critical cards %v, want one for %q", topicsOf(res), tt.label)
			}
		})
	}
}

// TestEmergentSummaryKeepsTheAction: with several emergencies the list is
// clipped, never the action, which comes first.
func TestEmergentSummaryKeepsTheAction(t *testing.T) {
	a := assessment(criteria.CriteriaMet, criteria.RedFlagCaudaEquina, RedFlagCordCompression, criteria.RedFlagNeurologicDeficit)
	a.Findings = append(a.Findings, criteria.Finding{Code: criteria.RedFlagInfection, Text: "Suspected spinal infection.", Evidence: []criteria.Evidence{
		{Display: "Intraspinal abscess", DateText: "2026-06-10", Code: criteria.Code{System: policy.SystemICD10, Code: "G06.1"}}}})
	res := build(t, hooks.HookOrderSign, cov, Config{}, a)
	for _, c := range res.Response.Cards {
		if c.Indicator != hooks.IndicatorCritical {
			continue
		}
		if !strings.HasPrefix(c.Summary, "Emergent MRI, do not wait for prior authorization: ") || utf8.RuneCountInString(c.Summary) >= 140 {
			t.Errorf("summary %q (%d characters): want the action first, under 140", c.Summary, utf8.RuneCountInString(c.Summary))
		}
		if !strings.Contains(c.Detail, "Suspected spinal epidural abscess") {
			t.Errorf("the detail names every emergency in full:\n%s", c.Detail)
		}
		return
	}
	t.Fatalf("no critical card: %v", topicsOf(res))
}

// TestCombinationNotMetIsNamed: a code that counts only in a red-flag
// combination whose pairing failed is listed as not counted, with what it
// needs, and the red-flag advice names it instead of the generic line
// (issue 17, scenario e16).
func TestCombinationNotMetIsNamed(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet)
	a.Findings = []criteria.Finding{{Code: criteria.ConservativeTherapyMissing, Text: "No conservative therapy is documented."}}
	a.Indication = []criteria.Evidence{{Source: "Condition/c2", Date: date("2026-02-15"), DateText: "2026-02-15", Onset: true, Display: "Low back pain, unspecified"}}
	a.NotCounted = []criteria.NotCounted{{
		Reason: criteria.ReasonCombinationNotMet, What: "Known or suspected malignancy",
		Display: "Personal history of malignant neoplasm of breast", DateText: "2019-03-12", Source: "Condition/c1",
		Needs: "back pain that began within 90 days of the order", Instead: "the back-pain diagnosis is dated 2026-02-15",
	}}
	res, err := Build(Input{Hook: hooks.HookOrderSign, PatientID: "p1", Orders: []Order{{Assessment: a, Raw: json.RawMessage(rawOrder)}},
		Policy: policy.Default().Default(), Coverage: cov, Today: *date("2026-06-15")}, seqIDs())
	if err != nil {
		t.Fatal(err)
	}
	c := coverageCardOf(t, res)
	if err := inOrder(c.Detail,
		"**Documented:**", "- Diagnosis: Low back pain, unspecified (2026-02-15)",
		"**In the chart but not counted:**",
		"- Personal history of malignant neoplasm of breast (2019-03-12): counts as known or suspected malignancy only with back pain that began within 90 days of the order; the back-pain diagnosis is dated 2026-02-15.",
		"**What to do:**",
		"- Personal history of malignant neoplasm of breast counts as a red flag (known or suspected malignancy) only with back pain that began within 90 days of the order: if there is, document it.",
		"- If another red flag is present, document it: it supports imaging without a therapy trial (suspected cauda equina syndrome or cord compression, severe or progressive neurological deficit, suspected spinal infection,",
	); err != nil {
		t.Errorf("detail: %v\n%s", err, c.Detail)
	}
	if strings.Contains(c.Detail, "If a red flag is present") || strings.Contains(c.Detail, "infection, known or suspected malignancy") {
		t.Errorf("the generic red-flag line is still there:\n%s", c.Detail)
	}
}

// TestDocumentedDiagnosisAndPairing: the diagnosis the assessment used comes
// first under Documented; a red flag that needed it reads "with new back
// pain since", not as a second piece of malignancy evidence.
func TestDocumentedDiagnosisAndPairing(t *testing.T) {
	a := assessment(criteria.CriteriaMet)
	lbp := criteria.Evidence{Source: "Condition/c2", Date: date("2026-05-25"), DateText: "2026-05-25", Onset: true, Display: "Low back pain, unspecified"}
	a.Indication = []criteria.Evidence{lbp}
	paired := lbp
	paired.Pairing = "new back pain"
	a.Findings = []criteria.Finding{{Code: criteria.RedFlagMalignancy, Text: "Known or suspected malignancy.", Evidence: []criteria.Evidence{
		{Source: "Condition/c1", Date: date("2019-03-12"), DateText: "2019-03-12", Display: "Personal history of malignant neoplasm of breast"}, paired}}}
	res := build(t, hooks.HookOrderSign, cov, Config{}, a)
	c := coverageCardOf(t, res)
	if err := inOrder(c.Detail, "**Documented:**",
		"- Diagnosis: Low back pain, unspecified (2026-05-25)\n",
		"malignancy: Personal history of malignant neoplasm of breast (2019-03-12), with new back pain since 2026-05-25\n",
	); err != nil {
		t.Errorf("detail: %v\n%s", err, c.Detail)
	}

	// A diagnosis from the order's reason says so.
	a = assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing)
	a.Indication = []criteria.Evidence{{Source: "ServiceRequest/mri-1", FromOrder: true, Display: "Radiculopathy, lumbar region"}}
	c = coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
	if !strings.Contains(c.Detail, "- Diagnosis: Radiculopathy, lumbar region (the order's reason)") {
		t.Errorf("detail:\n%s", c.Detail)
	}
}

func TestUnknownRedFlagIsNamed(t *testing.T) {
	a := assessment(criteria.CriteriaMet, "red-flag-immunosuppression")
	res := build(t, hooks.HookOrderSign, cov, Config{}, a)
	c := coverageCardOf(t, res)
	if !strings.Contains(c.Detail, "- Immunosuppression: Low back pain (2026-06-01)") || !strings.Contains(c.Summary, "(immunosuppression)") {
		t.Errorf("unknown red flag:\n%s\n%s", c.Summary, c.Detail)
	}
}

func referral(res Result) *hooks.Action {
	for _, c := range res.Response.Cards {
		for _, s := range c.Suggestions {
			for i, a := range s.Actions {
				if a.Type == hooks.ActionCreate && strings.Contains(string(a.Resource), `"resourceType":"ServiceRequest"`) {
					return &s.Actions[i]
				}
			}
		}
	}
	return nil
}

func TestReferralMeetsTheCRDProfile(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing)
	a.Order.ReasonCodes = []criteria.Code{{System: policy.SystemICD10, Code: "M54.50", Display: "Low back pain, unspecified"}}
	withRequester := `{"resourceType":"ServiceRequest","id":"mri-1","status":"draft","intent":"order","code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"72148"}]},"subject":{"reference":"Patient/p1"},"requester":{"reference":"PractitionerRole/r7"}}`
	tests := []struct {
		name, user, raw, want string
	}{
		{"the hook's user", "Practitioner/u1", rawOrder, "Practitioner/u1"},
		{"the order's requester", "", withRequester, "PractitionerRole/r7"},
		{"a user that is not a practitioner", "Patient/p1", withRequester, "PractitionerRole/r7"},
		{"no requester known: no referral", "", rawOrder, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Build(Input{Hook: hooks.HookOrderSign, PatientID: "p1", UserID: tt.user,
				Orders: []Order{{Assessment: a, Raw: json.RawMessage(tt.raw)}}, Policy: testPolicy, Coverage: cov, Today: *date("2026-06-15")}, seqIDs())
			if err != nil {
				t.Fatal(err)
			}
			act := referral(res)
			if tt.want == "" {
				if act != nil {
					t.Errorf("referral without a requester: %s", act.Resource)
				}
				if c := coverageCardOf(t, res); !strings.Contains(c.Detail, "Start conservative therapy") {
					t.Errorf("the advice went with the suggestion:\n%s", c.Detail)
				}
				return
			}
			if act == nil {
				t.Fatalf("no referral: %v", topicsOf(res))
			}
			if errs := checkAction(*act); len(errs) > 0 {
				t.Errorf("referral breaks the CRD profile: %v", errs)
			}
			var sr struct {
				AuthoredOn string    `json:"authoredOn"`
				Requester  reference `json:"requester"`
				Subject    reference `json:"subject"`
				ReasonCode []codeableConcept
			}
			_ = json.Unmarshal(act.Resource, &sr)
			if sr.AuthoredOn != "2026-06-15" || sr.Requester.Reference != tt.want || sr.Subject.Reference != "Patient/p1" || len(sr.ReasonCode) != 1 {
				t.Errorf("referral = %s", act.Resource)
			}
		})
	}
}

func TestOrderSignAnswersCarrySystemActions(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing)
	for _, tc := range []struct {
		hook string
		cov  *Coverage
		want string
	}{
		{hooks.HookOrderSign, nil, `"systemActions":[]`},
		{hooks.HookOrderSign, cov, `"systemActions":[{`},
		{hooks.HookOrderSelect, cov, ""},
	} {
		res := build(t, tc.hook, tc.cov, Config{}, a)
		body, _ := json.Marshal(res.Response)
		if got := strings.Contains(string(body), `"systemActions"`); got != (tc.want != "") || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s, coverage %v: %.120s…", tc.hook, tc.cov != nil, body)
		}
	}
	if body, _ := json.Marshal(hooks.Response{Cards: []hooks.Card{}, SystemActions: NoActions(hooks.HookOrderSign)}); string(body) != `{"cards":[],"systemActions":[]}` {
		t.Errorf("order-sign without a lumbar MRI: %s", body)
	}
	if body, _ := json.Marshal(hooks.Response{Cards: []hooks.Card{}, SystemActions: NoActions(hooks.HookOrderSelect)}); string(body) != `{"cards":[]}` {
		t.Errorf("order-select without a lumbar MRI: %s", body)
	}
}

func TestPayerNameNotDefaultLabel(t *testing.T) {
	pol := policy.Default().Default()
	res, err := Build(Input{Hook: hooks.HookOrderSign, PatientID: "p1", UserID: "Practitioner/u1",
		Orders: []Order{{Assessment: assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing), Raw: json.RawMessage(rawOrder)}},
		Policy: pol, Coverage: cov, Today: *date("2026-06-15")}, seqIDs())
	if err != nil {
		t.Fatal(err)
	}
	text := allText(res)
	if strings.Contains(text, "(default)") {
		t.Errorf("cards show the default policy's internal name:\n%s", text)
	}
	if !strings.Contains(coverageCardOf(t, res).Detail, "Payer: "+pol.PayerName()) || pol.PayerName() == "" {
		t.Errorf("the coverage card does not name the payer %q", pol.PayerName())
	}
}

// TestAtMostThreeCardsPerOrder builds every combination of outcome,
// findings, suggestions, coverage and configuration, for one and two
// orders, and counts the cards each order gets.
func TestAtMostThreeCardsPerOrder(t *testing.T) {
	// The findings that decide which cards and suggestions an order gets.
	findings := []string{criteria.RedFlagCaudaEquina, criteria.RedFlagMalignancy, criteria.ConservativeTherapyMissing,
		criteria.PriorLumbarMRI, criteria.ContrastReview}
	configs := []Config{{}, {Disabled: map[string]bool{TopicGuideline: true}}, {Disabled: map[string]bool{TopicCoverageInfo: true}},
		{Disabled: map[string]bool{TopicClinicalReminder: true}}}
	n := 0
	for _, outcome := range []string{criteria.CriteriaMet, criteria.CriteriaNotMet, criteria.CriteriaIndeterminate} {
		for mask := 0; mask < 1<<len(findings); mask++ {
			var fs []string
			for i, f := range findings {
				if mask&(1<<i) != 0 {
					fs = append(fs, f)
				}
			}
			a := assessment(outcome, fs...)
			a.SuggestedCode = &criteria.Code{System: CPTSystem, Code: "72158", Display: "MRI lumbar spine without and with contrast"}
			b := a
			b.Order.ID = "mri-2"
			for _, cfg := range configs {
				for _, c := range []*Coverage{cov, nil} {
					for _, orders := range [][]criteria.Assessment{{a}, {a, b}} {
						n++
						res := build(t, hooks.HookOrderSign, c, cfg, orders...)
						body, _ := json.Marshal(res.Response)
						for ref, k := range cardsPerOrder(res.Response.Cards) {
							if k > MaxCardsPerOrder {
								t.Fatalf("%s %v %v: %s has %d cards: %v", outcome, fs, cfg, ref, k, topicsOf(res))
							}
						}
						for _, card := range res.Response.Cards {
							if r := utf8.RuneCountInString(card.Summary); r >= 140 {
								t.Fatalf("summary of %d runes: %q", r, card.Summary)
							}
						}
						if len(orders) == 1 && len(res.Response.Cards) > MaxCardsPerOrder {
							t.Fatalf("%s %v %v: %d cards: %s", outcome, fs, cfg, len(res.Response.Cards), body)
						}
					}
				}
			}
		}
	}
	t.Logf("%d responses checked", n)
}

// TestSeveralOrdersSummariesSayWhichOrder: with two lumbar MRI orders in
// one answer, the cards of each order name it in their summaries (by code,
// or by id when the codes are the same), so no two cards read alike.
func TestSeveralOrdersSummariesSayWhichOrder(t *testing.T) {
	a := assessment(criteria.CriteriaMet, criteria.RedFlagCaudaEquina)
	b := a
	b.Order.ID, b.Order.BillingCode, b.Order.Code.Code = "mri-2", "72158", "72158"
	c := a
	c.Order.ID = "mri-3"
	for _, tt := range []struct {
		name   string
		orders []criteria.Assessment
		want   []string
	}{
		{"one order", []criteria.Assessment{a}, []string{"Lumbar MRI: documentation supports"}},
		{"codes differ", []criteria.Assessment{a, b}, []string{"Lumbar MRI (72148): documentation supports", "Lumbar MRI (72158): documentation supports"}},
		{"same code", []criteria.Assessment{a, c}, []string{"Lumbar MRI (mri-1): documentation supports", "Lumbar MRI (mri-3): documentation supports"}},
	} {
		res := build(t, hooks.HookOrderSign, cov, Config{}, tt.orders...)
		seen := map[string]bool{}
		for _, card := range res.Response.Cards {
			if seen[card.Summary] {
				t.Errorf("%s: two cards read %q", tt.name, card.Summary)
			}
			seen[card.Summary] = true
		}
		for _, w := range tt.want {
			found := false
			for s := range seen {
				found = found || strings.HasPrefix(s, w)
			}
			if !found {
				t.Errorf("%s: no summary starts %q: %v", tt.name, w, seen)
			}
		}
	}
}

func TestOneCriticalCardForSeveralOrders(t *testing.T) {
	a := assessment(criteria.CriteriaMet, criteria.RedFlagCaudaEquina)
	b := a
	b.Order.ID = "mri-2"
	res := build(t, hooks.HookOrderSign, cov, Config{}, a, b)
	var critical int
	for _, c := range res.Response.Cards {
		if c.Indicator == hooks.IndicatorCritical {
			critical++
			if got := associated(c); got != "ServiceRequest/mri-1, ServiceRequest/mri-2" {
				t.Errorf("critical card is about %q", got)
			}
		}
	}
	if critical != 1 {
		t.Errorf("%d critical cards: %v", critical, topicsOf(res))
	}
}

func TestWriteText(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing, criteria.ContrastReview)
	a.SuggestedCode = &criteria.Code{System: CPTSystem, Code: "72148", Display: "MRI lumbar spine without contrast"}
	a.Order.Display = "MRI <lumbar> spine_with [contrast]"
	res := build(t, hooks.HookOrderSign, cov, Config{}, a)
	var out bytes.Buffer
	if err := WriteText(&out, res.Response.Cards); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if err := inOrder(text,
		"[WARNING] Lumbar MRI: documentation incomplete: no conservative therapy in the last 180 days",
		"Source: Example Health Plan · card type coverage-info · about ServiceRequest/mri-1",
		"    Prior authorization needed: the chart does not yet support this order.",
		"Order: MRI <lumbar> spine_with [contrast] (72148)",
		"    To add:", "    What to do:",
		"Consider MRI lumbar spine without contrast (72148) instead: ",
		"  Suggestions (any may be accepted):",
		"  * Change the order to MRI lumbar spine without contrast (72148) [recommended]",
		"      update ServiceRequest: Change the order's code to 72148.",
		"  * Pre-filled prior-authorization form",
		"      create QuestionnaireResponse: Prior-authorization documentation, pre-filled from the chart (in progress).",
		"      create Task: Task to review and complete the prior-authorization form.",
		"  Override reasons: Documented outside the coded chart;",
		"[INFO] No conservative therapy counted: consider a physical therapy referral",
		"      create ServiceRequest: Create a physical therapy referral.",
		"[INFO] Lumbar MRI: payer policy and guidelines",
		"  Links:", "  - Policy: https://example.org/policy",
	); err != nil {
		t.Errorf("%v\n%s", err, text)
	}
	if strings.Contains(text, "**") || strings.Contains(text, `\_`) || strings.Contains(text, "&lt;") {
		t.Errorf("markdown left in the text:\n%s", text)
	}
}

func TestNotCountedLines(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyInsufficient)
	a.TherapyDays = 30
	a.NotCounted = []criteria.NotCounted{
		{Reason: criteria.ReasonOtherPatient, What: "Condition", Display: "2 Condition entries about another patient"},
		{Reason: criteria.ReasonUnreadable, What: "Observation", Display: "Body temperature", DateText: "2026-06-14", Source: "Observation/o1"},
		{Reason: criteria.ReasonOutsideWindow, What: "chiropractic", Display: "Spinal manipulation", DateText: "2025-08-02", Source: "Procedure/p9"},
		{Reason: criteria.ReasonAdvisoryNote, What: "physical therapy", Display: "Physical therapy", Source: "DocumentReference/d1"},
		{Reason: criteria.ReasonNoteNotRead, What: "clinical note", Display: "Clinical note", DateText: "2026-06-02", Source: "DocumentReference/d2", Why: "longer than 32 KB of text"},
	}
	a.LookbackDays = 120
	c := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
	// Entries about another patient are named with their count (issue 13:
	// nothing the service read is dropped in silence), without a date.
	if err := inOrder(c.Detail, "**In the chart but not counted:**",
		"- The chiropractic in 2025-08 is outside the 120-day look-back.", // not under the gap: the course is short, not missing
		"- 2 Condition entries about another patient: left out (the request's patient is another).",
		"- Body temperature (2026-06-14): the entry could not be read.",
		"- Physical therapy (undated): from a note, advisory only under this policy.",
		"- Clinical note (2026-06-02): not read (longer than 32 KB of text).",
		"**What to do:**"); err != nil {
		t.Errorf("%v\n%s", err, c.Detail)
	}
	pdf := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyInsufficient)
	pdf.NotCounted = []criteria.NotCounted{{Reason: criteria.ReasonNoteNotRead, What: "clinical note", Display: "Clinical note",
		DateText: "2026-06-03", Source: "DocumentReference/d3", Why: "content type application/pdf not read"}}
	if d := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, pdf)).Detail; !strings.Contains(d, "- Clinical note (2026-06-03): content type application/pdf not read.") {
		t.Errorf("a note not read says why:\n%s", d)
	}
	// Once the order is supported, old therapy is noise.
	a.Outcome, a.Findings = criteria.CriteriaMet, assessment(criteria.CriteriaMet, criteria.ConservativeTherapyMet).Findings
	c = coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
	if strings.Contains(c.Detail, "look-back") || !strings.Contains(c.Detail, "Body temperature") || !strings.Contains(c.Detail, "another patient") {
		t.Errorf("met order:\n%s", c.Detail)
	}
}

// TestChartOfAnotherPatient: a chart whose entries all name another patient
// opens by saying so and what to do, never "part of the chart could not be
// checked" (issue 13, requirement 7: none of it could).
func TestChartOfAnotherPatient(t *testing.T) {
	a := assessment(criteria.CriteriaIndeterminate)
	a.Unchecked = nil
	a.Findings = []criteria.Finding{{Code: criteria.OtherPatientData,
		Text: "All 3 clinical entries supplied are about another patient, so nothing in them was used; the chart of this patient could not be checked."}}
	a.NotCounted = []criteria.NotCounted{{Reason: criteria.ReasonOtherPatient, What: "Condition", Display: "3 Condition entries about another patient"}}
	c := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
	opening, _, _ := strings.Cut(c.Detail, "\n")
	want := "**Prior authorization needed: the chart sent is for another patient, so nothing of this patient's could be checked. Send this patient's record, then sign the order again.**"
	if opening != want {
		t.Errorf("opening:\ngot  %s\nwant %s", opening, want)
	}
	if strings.Contains(c.Detail, "part of the chart") || strings.Contains(c.Summary, "diagnosis") {
		t.Errorf("the card reads as a partial chart or a missing diagnosis:\n%s\n%s", c.Summary, c.Detail)
	}
	// A chart with only some searches missing keeps its opening.
	part := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, assessment(criteria.CriteriaIndeterminate)))
	if !strings.HasPrefix(part.Detail, "**Prior authorization needed: part of the chart could not be checked.**") {
		t.Errorf("partial chart:\n%s", part.Detail)
	}
}

func TestLookBackUnknown(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing)
	a.LookbackDays = 0
	c := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
	if c.Summary != "Lumbar MRI: documentation incomplete: no conservative therapy documented" || !strings.Contains(c.Detail, "within the look-back window: none is documented") {
		t.Errorf("a window of unknown length is given a length:\n%s\n%s", c.Summary, c.Detail)
	}
}

// TestNotCheckedSaysWhy: the coverage card says why data was not checked.
// No Coverage because the Coverage search was not supplied is "not known",
// never "no coverage in force"; a search that arrived over the per-search
// cap is "too large", not "did not arrive"; notes whose search failed are
// not "none were sent".
func TestNotCheckedSaysWhy(t *testing.T) {
	tests := []struct {
		name     string
		a        func(*criteria.Assessment)
		cov      *Coverage
		want     []string
		dontWant []string
	}{
		{
			name: "coverage not supplied",
			a: func(a *criteria.Assessment) {
				a.Unchecked = []string{"coverage"}
				a.CoverageUnchecked = true
			},
			want:     []string{"Payer: not known (coverage not checked); checked against ", "Not checked (the data did not arrive or could not be used): coverage."},
			dontWant: []string{"no coverage in force"},
		},
		{
			name:     "no coverage in force",
			a:        func(a *criteria.Assessment) { a.Unchecked = []string{"procedures"} },
			want:     []string{"Payer: no coverage in force on the order date; checked against "},
			dontWant: []string{"not known"},
		},
		{
			name: "a search over the per-search cap",
			a: func(a *criteria.Assessment) {
				a.Unchecked = []string{"coverage", "conditions", "procedures"}
				a.CoverageUnchecked = true
				a.TooLarge = map[string]criteria.Limit{"conditions": {Max: 2000}, "procedures": {Max: 10000, Call: true}}
			},
			want: []string{
				"Not checked (the data did not arrive or could not be used): coverage.",
				"Not checked (more than 2000 entries in one search): conditions.",
				"Not checked (more than 10000 entries in all the searches together): procedures.",
			},
			dontWant: []string{"did not arrive): coverage, conditions", "not retrieved"},
		},
		{
			name:     "notes not sent",
			a:        func(a *criteria.Assessment) {},
			cov:      cov,
			want:     []string{"Clinical notes were not checked (none were sent)."},
			dontWant: []string{"search failed"},
		},
		{
			name:     "note search failed",
			a:        func(a *criteria.Assessment) { a.NotesFailed = true },
			cov:      cov,
			want:     []string{"Clinical notes were not checked (the note search failed)."},
			dontWant: []string{"none were sent"},
		},
		{
			name:     "note search too large",
			a:        func(a *criteria.Assessment) { a.NotesFailed, a.NotesTooLarge = true, criteria.Limit{Max: 2000} },
			cov:      cov,
			want:     []string{"Clinical notes were not checked (more than 2000 entries in one search)."},
			dontWant: []string{"none were sent", "search failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := assessment(criteria.CriteriaIndeterminate)
			tt.a(&a)
			res := build(t, hooks.HookOrderSign, tt.cov, Config{}, a)
			c := coverageCardOf(t, res)
			text := c.Summary + "\n" + c.Detail
			if err := inOrder(text, tt.want...); err != nil {
				t.Errorf("%v in:\n%s", err, text)
			}
			for _, s := range tt.dontWant {
				if strings.Contains(text, s) {
					t.Errorf("%q in:\n%s", s, text)
				}
			}
		})
	}
}

// TestNotCountedSaysWhy: entries named with why they did not count show it
// on the card in plain words, never their references.
func TestNotCountedSaysWhy(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet)
	a.Findings = []criteria.Finding{{Code: criteria.ConservativeTherapyMissing, Text: "No conservative therapy is documented."}}
	a.NotCounted = []criteria.NotCounted{
		{Reason: criteria.ReasonNotCurrent, What: "cauda equina", Display: "Cauda equina syndrome", DateText: "2024-03-02", Source: "Condition/c1", Why: "ended 2024-05-20"},
		{Reason: criteria.ReasonStatus, What: "NSAID", Display: "Naproxen 500 MG Oral Tablet", DateText: "2026-04-01", Source: "MedicationRequest/m1", Why: "status cancelled"},
		{Reason: criteria.ReasonTextOnly, What: "physical therapy", Display: "Physical therapy visit", DateText: "2026-04-08", Source: "Procedure/p1", Why: "coded only in a local code system the criteria do not read"},
		{Reason: criteria.ReasonOutsideImagingWindow, What: "prior lumbar imaging", Display: "MR Lumbar spine", DateText: "2025-04-15", Source: "ImagingStudy/i1", Why: "before the 365-day window for prior imaging"},
		{Reason: criteria.ReasonOutsideRedFlagWindow, What: "cauda equina", Display: "Retention of urine", DateText: "2026-04-16", Source: "Condition/c2", Why: "counts only when dated within 14 days of the order"},
	}
	c := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
	if err := inOrder(c.Detail, "**In the chart but not counted:**",
		"Cauda equina syndrome (2024-03-02): not current (ended 2024-05-20).",
		"Naproxen 500 MG Oral Tablet (2026-04-01): status cancelled.",
		"Physical therapy visit (2026-04-08): coded only in a local code system the criteria do not read.",
		"MR Lumbar spine (2025-04-15): before the 365-day window for prior imaging.",
		"Retention of urine (2026-04-16): counts only when dated within 14 days of the order.",
	); err != nil {
		t.Errorf("detail: %v\n%s", err, c.Detail)
	}
	if strings.Contains(c.Detail, "Condition/") || strings.Contains(c.Detail, "ImagingStudy/") {
		t.Errorf("a raw reference on the card:\n%s", c.Detail)
	}
}

// TestIndeterminateWithTherapyMet: when part of the chart did not arrive but
// what arrived documents the therapy trial, the card does not ask the
// clinician to "make sure the request documents ... 42 days of conservative
// therapy" under the 60 days it shows: it says what is left to check.
func TestIndeterminateWithTherapyMet(t *testing.T) {
	a := assessment(criteria.CriteriaIndeterminate, criteria.ConservativeTherapyMet)
	a.Unchecked = []string{"coverage", "procedures"}
	c := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
	want := "- The documentation above meets the conservative-therapy requirement; before submitting, check in the chart what could not be retrieved (coverage, procedures), which could change the decision."
	if !strings.Contains(c.Detail, want) || strings.Contains(c.Detail, "make sure the request documents") {
		t.Errorf("detail:\n%s\nwant the line\n%s", c.Detail, want)
	}
	// Without the trial documented, the card still asks for it.
	c = coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, assessment(criteria.CriteriaIndeterminate, criteria.ConservativeTherapyInsufficient)))
	if !strings.Contains(c.Detail, "make sure the request documents a red flag or at least 42 days") {
		t.Errorf("detail:\n%s", c.Detail)
	}
}

// TestTherapyDurationAndDateAdvice: where medications count as a single day
// for want of a usable duration, the card asks to record it instead of
// saying the course lapsed (clinical review 03); an unusable duration, an
// invalid date and a reversed period are named with their reason; therapy
// begun before the look-back shows its recorded date and where the count
// starts; a single day more reads "1 more day".
func TestTherapyDurationAndDateAdvice(t *testing.T) {
	insufficient := func(days int, metOn *time.Time, nc ...criteria.NotCounted) criteria.Assessment {
		a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyInsufficient)
		a.TherapyDays, a.TherapyFrom, a.TherapyTo, a.TherapyMetOn = days, date("2026-04-27"), date("2026-04-27"), metOn
		a.NotCounted = nc
		return a
	}
	unusable := criteria.NotCounted{Reason: criteria.ReasonSupplyUnusable, What: "NSAID", Display: "naproxen 500 MG Oral Tablet", DateText: "2026-04-27",
		Why: "supply duration unusable: no unit; counted as a single day"}
	open := func(name string) criteria.NotCounted {
		return criteria.NotCounted{Reason: criteria.ReasonNoSupplyDuration, What: "opioid analgesic", Display: name, DateText: "2026-04-02",
			Why: "active order with no supply duration or end date recorded; counted as a single day"}
	}
	met := assessment(criteria.CriteriaMet, criteria.ConservativeTherapyMet)
	met.TherapyDays, met.TherapyFrom, met.TherapyTo, met.TherapyFromWindowEdge = 180, date("2025-12-17"), date("2026-06-15"), true
	met.Findings[0].Evidence = []criteria.Evidence{{Source: "MedicationRequest/m1", Date: date("2025-11-01"), DateText: "2025-11-01", Display: "naproxen 500 MG Oral Tablet"}}
	invalid := insufficient(18, date("2026-07-06"), criteria.NotCounted{Reason: criteria.ReasonNoDate, What: "physical therapy", Display: "Therapeutic exercises",
		Why: "date 2026-13-45 is not a valid date"})
	reversed := insufficient(18, date("2026-07-06"), criteria.NotCounted{Reason: criteria.ReasonPeriodReversed, What: "physical therapy", Display: "Therapeutic exercises",
		DateText: "2026-06-01", Why: "period end 2026-01-01 is before its start 2026-06-01; counted as its start day only"})
	tests := []struct {
		name    string
		a       criteria.Assessment
		summary string
		want    []string // in the detail, in this order
		not     []string
	}{
		{
			name: "unusable supply", a: insufficient(0, nil, unusable),
			summary: "Lumbar MRI: documentation incomplete: therapy duration not recorded",
			want: []string{"**To add:**", "The supply duration, end date or dispensing of naproxen 500 MG Oral Tablet (2026-04-27)",
				"**In the chart but not counted:**", "naproxen 500 MG Oral Tablet (2026-04-27): supply duration unusable: no unit; counted as a single day.",
				"**What to do:**", "Record the supply duration, end date or dispensing of naproxen 500 MG Oral Tablet (2026-04-27), then re-assess"},
			not: []string{"lapsed", "new course"},
		},
		{
			name: "active orders without a duration", a: insufficient(28, nil, open("Percocet"), open("hydrocodone")),
			summary: "Lumbar MRI: documentation incomplete: therapy duration not recorded",
			want:    []string{"dispensing of Percocet (2026-04-02) and hydrocodone (2026-04-02)", "active order with no supply duration", "Record the supply duration"},
			not:     []string{"lapsed", "new course"},
		},
		{
			name: "lapsed course without such orders", a: insufficient(7, nil),
			summary: "Lumbar MRI: documentation incomplete: a new 42-day therapy course",
			want:    []string{"has lapsed", "Start a new course"},
			not:     []string{"Record the supply duration"},
		},
		{
			name: "one more day", a: insufficient(41, date("2026-06-16")),
			summary: "Lumbar MRI: documentation incomplete: 1 more day of therapy (42-day point 2026-06-16)",
			want:    []string{"Conservative therapy, 41 days", "1 more day of therapy: the 42-day point is 2026-06-16."},
			not:     []string{" 1 more days", " 1 days"},
		},
		{
			name: "invalid date", a: invalid,
			want: []string{"A valid date for the physical therapy Therapeutic exercises (date 2026-13-45 is not a valid date)",
				"Therapeutic exercises: date 2026-13-45 is not a valid date."},
			not: []string{"undated", "no usable date"},
		},
		{
			name: "reversed period", a: reversed,
			want: []string{"Therapeutic exercises (2026-06-01): period end 2026-01-01 is before its start 2026-06-01; counted as its start day only."},
		},
		{
			name: "begun before the look-back", a: met,
			want: []string{"Conservative therapy, 180 days (2025-12-17 to 2026-06-15; counted from the start of the 180-day look-back): naproxen 500 MG Oral Tablet (2025-11-01)"},
			not:  []string{"(2025-12-17)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, tt.a))
			if tt.summary != "" && c.Summary != tt.summary {
				t.Errorf("summary = %q, want %q", c.Summary, tt.summary)
			}
			if err := inOrder(c.Detail, tt.want...); err != nil {
				t.Errorf("detail: %v\n%s", err, c.Detail)
			}
			for _, n := range tt.not {
				if strings.Contains(c.Detail, n) {
					t.Errorf("detail says %q:\n%s", n, c.Detail)
				}
			}
		})
	}
}

// TestUncountedTherapyComesFirst: therapy named as not counted (recorded as
// text only, or with a code that is not a counted therapy) within the
// look-back is what to record first; only otherwise is a course started,
// and a course that uncounted therapy runs after is not called lapsed
// (clinical review 3, findings 01 and 03).
func TestUncountedTherapyComesFirst(t *testing.T) {
	start, _ := chart.ParseDate("2026-04-01")
	pt := criteria.NotCounted{Reason: criteria.ReasonTextOnly, What: "physical therapy", Display: "Supervised physical therapy for low back pain",
		DateText: "2026-04-01 to 2026-05-13", Source: "Procedure/pt", Course: &criteria.TherapySpan{Start: start, End: *date("2026-05-13")}}
	t.Run("missing", func(t *testing.T) {
		a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing)
		a.NotCounted = []criteria.NotCounted{pt}
		c := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
		if err := inOrder(c.Detail, "Supervised physical therapy for low back pain (2026-04-01 to 2026-05-13): recorded as text without a code.",
			"**What to do:**", "If the therapy listed as not counted was given (Supervised physical therapy for low back pain, 2026-04-01 to 2026-05-13), record it with a coded procedure (CPT or SNOMED CT) and its dates, then re-assess.",
			"Otherwise start conservative therapy"); err != nil {
			t.Errorf("detail: %v\n%s", err, c.Detail)
		}
		// The summary and "To add" say the therapy is there uncoded, and no
		// referral for a new course is offered beside it (clinical review
		// 6, 06b).
		if !strings.Contains(c.Summary, "therapy recorded without a therapy code") ||
			!strings.Contains(c.Detail, "none is counted; the therapy named below as not counted is recorded without a therapy code") {
			t.Errorf("summary or To add say none is documented:\n%s\n%s", c.Summary, c.Detail)
		}
		res := build(t, hooks.HookOrderSign, cov, Config{}, a)
		for _, card := range res.Response.Cards {
			if strings.Contains(card.Summary, "physical therapy referral") {
				t.Errorf("a referral card beside uncoded therapy: %s", card.Summary)
			}
		}
	})
	t.Run("insufficient, uncounted therapy after the course", func(t *testing.T) {
		a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyInsufficient)
		a.TherapyDays, a.TherapyFrom, a.TherapyTo = 19, date("2026-03-01"), date("2026-03-20")
		a.NotCounted = []criteria.NotCounted{pt}
		c := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
		if strings.Contains(c.Detail, "lapsed") || strings.Contains(c.Summary, "a new 42-day") {
			t.Errorf("a lapse claimed while uncounted therapy runs later:\n%s\n%s", c.Summary, c.Detail)
		}
		if err := inOrder(c.Detail, "the longest counted, 19 days, ended 2026-03-20; the therapy recorded after it is not counted",
			"**What to do:**", "If the therapy listed as not counted was given", "Otherwise start a new course of conservative therapy, record"); err != nil {
			t.Errorf("detail: %v\n%s", err, c.Detail)
		}
	})
}

// A note that could not be read may hold what the card says is missing:
// the card says so before its lists, for one note and for several.
func TestUnreadNoteIsSaid(t *testing.T) {
	for _, n := range []int{0, 1, 2} {
		a := assessment(criteria.CriteriaNotMet)
		a.Findings = []criteria.Finding{{Code: criteria.ConservativeTherapyMissing, Text: "No conservative therapy is documented."}}
		a.LookbackDays, a.NotesChecked = 180, true
		for i := range n {
			a.NotCounted = append(a.NotCounted, criteria.NotCounted{Reason: criteria.ReasonNoteNotRead, What: "clinical note",
				Display: "ED note", Source: "DocumentReference/n" + strconv.Itoa(i), Why: "attachment fetch failed: the server has no such attachment"})
		}
		c := coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
		want := map[int]string{1: "A clinical note could not be read", 2: "2 clinical notes could not be read"}[n]
		switch {
		case n == 0 && strings.Contains(c.Detail, "could not be read"):
			t.Errorf("no unread note, yet: %s", c.Detail)
		case n > 0 && !strings.Contains(c.Detail, want):
			t.Errorf("%d unread notes: detail lacks %q:\n%s", n, want, c.Detail)
		}
	}
}

// Without a client max-cards, every lumbar MRI order keeps its decision
// card whatever the default cap; a client's max-cards is the client's.
func TestEveryOrderKeepsItsDecisionCard(t *testing.T) {
	var as []criteria.Assessment
	for i := range 12 {
		a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing)
		a.Order.ID = "mri-" + strconv.Itoa(i+1)
		as = append(as, a)
	}
	decisions := func(res Result) map[string]bool {
		got := map[string]bool{}
		for _, is := range res.Cards {
			if strings.HasPrefix(res.Response.Cards[slices.IndexFunc(res.Response.Cards, func(c hooks.Card) bool { return c.UUID == is.UUID })].Summary, "Lumbar MRI") && is.Topic == TopicCoverageInfo {
				got[is.OrderID] = true
			}
		}
		return got
	}
	res := build(t, hooks.HookOrderSign, cov, Config{}, as...)
	if got := decisions(res); len(got) != 12 {
		t.Errorf("default cap: decision cards for %d of 12 orders (%d cards)", len(got), len(res.Response.Cards))
	}
	three := 3
	if res := build(t, hooks.HookOrderSign, cov, Config{MaxCards: &three}, as...); len(res.Response.Cards) != 3 {
		t.Errorf("max-cards 3: %d cards", len(res.Response.Cards))
	}
}

// TestNoReferralWhenOneIsDrafted: CRD STU 2.1 hooks.md (order-select): don't
// recommend an action if there's already a draft order to perform that
// action. A draft with the referral's own code (SNOMED CT 306170007) stops
// the suggestion, and the coverage card says the referral is drafted instead
// of asking for therapy to be started (conf6 t59).
func TestNoReferralWhenOneIsDrafted(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing)
	drafted := chart.Concept{Codings: []chart.Coding{{System: "http://snomed.info/sct", Code: "306170007", Display: "Referral to physiotherapy service"}}}
	lab := chart.Concept{Codings: []chart.Coding{{System: "http://loinc.org", Code: "24323-8"}}}
	tests := []struct {
		name     string
		drafts   []chart.Concept
		referral bool   // a referral is suggested
		advice   string // in the coverage card's detail
	}{
		{"no other draft", nil, true, "Consider physical therapy"},
		{"another kind of draft", []chart.Concept{lab}, true, "Consider physical therapy"},
		{"a referral drafted", []chart.Concept{lab, drafted}, false,
			"A physical therapy referral is among the draft orders (Referral to physiotherapy service): once therapy starts"},
		{"the referral code under another system", []chart.Concept{{Codings: []chart.Coding{{System: "http://example.org/local", Code: "306170007"}}}}, true, "Consider physical therapy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Build(Input{Hook: hooks.HookOrderSign, PatientID: "p1", UserID: "Practitioner/u1",
				Orders: []Order{{Assessment: a, Raw: json.RawMessage(rawOrder)}}, Policy: testPolicy, Coverage: cov, Today: *date("2026-06-15"),
				Drafts: tt.drafts}, seqIDs())
			if err != nil {
				t.Fatal(err)
			}
			if got := referral(res) != nil; got != tt.referral {
				t.Errorf("referral suggested = %v, want %v", got, tt.referral)
			}
			c := coverageCardOf(t, res)
			if !strings.Contains(c.Detail, tt.advice) {
				t.Errorf("coverage card does not say %q:\n%s", tt.advice, c.Detail)
			}
			if !tt.referral && (strings.Contains(c.Detail, "Start conservative therapy") || strings.Contains(c.Detail, "Consider physical therapy")) {
				t.Errorf("coverage card still asks for therapy to be ordered:\n%s", c.Detail)
			}
		})
	}
}

// Without a payer to send it to there is no form, and the card says why
// (clinical review 8: the form vanished without a word).
func TestNoFormWithoutPayerIsSaid(t *testing.T) {
	a := assessment(criteria.CriteriaNotMet, criteria.ConservativeTherapyMissing)
	c := coverageCardOf(t, build(t, hooks.HookOrderSign, nil, Config{}, a))
	if !strings.Contains(c.Detail, "No pre-filled prior-authorization form is offered: no Coverage in force names the payer to send it to.") {
		t.Errorf("no word on the missing form:\n%s", c.Detail)
	}
	c = coverageCardOf(t, build(t, hooks.HookOrderSign, cov, Config{}, a))
	if strings.Contains(c.Detail, "No pre-filled prior-authorization form") {
		t.Errorf("a payer, yet the form is said to be missing:\n%s", c.Detail)
	}
}
