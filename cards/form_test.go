package cards

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/fhirtest"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

func fday(s string) *time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// formAssessment has a red flag from a note and from a Condition, a
// deficit from a note, a prior surgery, a therapy course of PT and an
// NSAID, a prior MRI and a missing x-ray.
func formAssessment() criteria.Assessment {
	return criteria.Assessment{
		Order: criteria.Order{
			ID: "sr-1", Display: "MRI lumbar spine without contrast",
			ReasonCodes: []criteria.Code{{System: policy.SystemICD10, Code: "M54.16", Display: "Radiculopathy, lumbar region"}},
		},
		Date:    *fday("2026-05-01"),
		Outcome: criteria.CriteriaMet,
		// The chart's diagnoses: the one the order names is the answer.
		Indication: []criteria.Evidence{
			{Source: "Condition/c-lbp", Date: fday("2025-01-10"), DateText: "2025-01-10", Onset: true, Display: "Low back pain, unspecified", Code: criteria.Code{System: policy.SystemICD10, Code: "M54.50", Display: "Low back pain, unspecified"}},
			{Source: "Condition/c-rad", Date: fday("2026-02-20"), DateText: "2026-02-20", Onset: true, Display: "Radiculopathy, lumbar region", Code: criteria.Code{System: policy.SystemICD10, Code: "M54.16", Display: "Radiculopathy, lumbar region"}},
		},
		Findings: []criteria.Finding{
			{Code: criteria.RedFlagCaudaEquina, Evidence: []criteria.Evidence{
				{Source: "DocumentReference/ed-note", Date: fday("2026-04-28"), DateText: "2026-04-28T14:02:00Z", Display: "urinary retention", FromNote: true, Quote: "Bladder scan 650 mL; new urinary retention."},
				{Source: "Condition/c-r339", Date: fday("2026-04-29"), DateText: "2026-04-29", Display: "Retention of urine, unspecified", Code: criteria.Code{System: policy.SystemICD10, Code: "R33.9"}},
			}},
			{Code: criteria.RedFlagNeurologicDeficit, Evidence: []criteria.Evidence{
				{Source: "DocumentReference/clinic", Date: fday("2026-04-30"), DateText: "2026-04-30", FromNote: true, Quote: "right ankle dorsiflexion 3/5, was 4/5 two weeks ago"},
			}},
			{Code: criteria.RedFlagPriorSurgery, Evidence: []criteria.Evidence{
				{Source: "Procedure/p-lam", Date: fday("2024-12-31"), DateText: "2024", Imprecise: true, Display: "Laminectomy"},
			}},
			{Code: criteria.ConservativeTherapyMet, Evidence: []criteria.Evidence{
				{Source: "Procedure/pt-2", Date: fday("2026-03-20"), DateText: "2026-03-20", Display: "Therapeutic exercises", Code: criteria.Code{System: policy.SystemCPT, Code: "97110"}},
				{Source: "Procedure/pt-1", Date: fday("2026-03-06"), DateText: "2026-03-06", Display: "PT evaluation", Code: criteria.Code{System: policy.SystemCPT, Code: "97161"}},
				{Source: "MedicationRequest/m-1", Date: fday("2026-03-01"), DateText: "2026-03-01", Display: "naproxen", Code: criteria.Code{System: policy.SystemRxNorm, Code: "7258"}},
				{Source: "DocumentReference/pt-note", Date: fday("2026-04-30"), DateText: "2026-04", Display: "chiropractic care", FromNote: true, Quote: "Chiropractor weekly since April"},
				{Source: "DocumentReference/pt-note", Date: fday("2026-04-30"), DateText: "2026-04", Display: "medication trial", FromNote: true, Quote: "Meloxicam 15 mg daily since April"},
				{Source: "MedicationRequest/m-x", Date: fday("2026-03-01"), DateText: "2026-03-01", Display: "something unclassified", Code: criteria.Code{System: "urn:x", Code: "1"}},
			}},
			{Code: criteria.PriorLumbarMRI, Evidence: []criteria.Evidence{
				{Source: "ImagingStudy/mri-1", Date: fday("2025-11-02"), DateText: "2025-11-02", Display: "MRI lumbar spine"},
			}},
			{Code: criteria.XrayMissing},
		},
	}
}

func formInput(t *testing.T) *Input {
	t.Helper()
	return &Input{
		Hook: hooks.HookOrderSign, PatientID: "pat-1", UserID: "Practitioner/dr-1",
		Policy: policy.Default().Default(), Today: time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC),
		Coverage: &Coverage{Reference: "Coverage/cov-1", Payer: "Example Health Plan",
			PayerOrganization: &chart.PayerRef{Reference: "Organization/payer-1", Display: "Example Health Plan"}},
	}
}

func TestFormCompletion(t *testing.T) {
	in := formInput(t)
	o := Order{Assessment: formAssessment()}
	s, err := FormCompletion(in, &o, seqIDs())
	if err != nil {
		t.Fatal(err)
	}
	if s.UUID == "" || len(s.Actions) != 2 || s.Actions[0].Type != hooks.ActionCreate || s.Actions[1].Type != hooks.ActionCreate {
		t.Fatalf("suggestion %+v: want a uuid and two create actions", s)
	}
	qrRaw, taskRaw := s.Actions[0].Resource, s.Actions[1].Resource
	q := policy.Questionnaires()[FormQuestionnaireID]
	var qmeta struct{ URL, Version string }
	if err := json.Unmarshal(q, &qmeta); err != nil {
		t.Fatal(err)
	}
	canonical := qmeta.URL + "|" + qmeta.Version

	var task struct {
		ResourceType, Status, Intent, AuthoredOn string
		Code                                     struct{ Coding []coding }
		For                                      reference
		BasedOn                                  []reference
		Input                                    []struct {
			Type           struct{ Coding []coding }
			ValueCanonical string
			ValueReference *reference
		}
	}
	if err := json.Unmarshal(taskRaw, &task); err != nil {
		t.Fatal(err)
	}
	var qr struct {
		ResourceType, ID, Status, Questionnaire string
		Subject                                 reference
		BasedOn                                 []reference
	}
	if err := json.Unmarshal(qrRaw, &qr); err != nil {
		t.Fatal(err)
	}
	if task.ResourceType != "Task" || task.Status != "ready" || task.Intent != "order" ||
		len(task.Code.Coding) != 1 || task.Code.Coding[0].Code != "complete-questionnaire" || task.Code.Coding[0].System != sdcTemp ||
		task.For.Reference != "Patient/pat-1" || len(task.BasedOn) != 1 || task.BasedOn[0].Reference != "ServiceRequest/sr-1" {
		t.Errorf("task: %s", taskRaw)
	}
	if len(task.Input) != 3 || task.Input[0].Type.Coding[0].Code != "questionnaire" || task.Input[0].ValueCanonical != canonical ||
		task.Input[2].Type.Coding[0].Code != "questionnaire-response" || task.Input[2].ValueReference == nil ||
		task.Input[2].ValueReference.Reference != "QuestionnaireResponse/"+qr.ID {
		t.Errorf("task inputs do not name the Questionnaire %s and QuestionnaireResponse/%s: %s", canonical, qr.ID, taskRaw)
	}
	if qr.ResourceType != "QuestionnaireResponse" || qr.Status != "in-progress" || qr.Questionnaire != canonical ||
		qr.Subject.Reference != "Patient/pat-1" || qr.ID == "" || len(qr.BasedOn) != 1 {
		t.Errorf("questionnaire response header: %s", qrRaw)
	}

	// Against the Questionnaire itself.
	if probs := CheckForm(qrRaw, q); len(probs) > 0 {
		t.Errorf("CheckForm: %s", strings.Join(probs, "\n"))
	}
	// As FHIR R4 (the node validator).
	for i, probs := range fhirtest.Validate(t, qrRaw, taskRaw, q) {
		if len(probs) > 0 {
			t.Errorf("resource %d not valid R4: %v", i, probs)
		}
	}

	// The answers, each with its origin and evidence.
	got := answersWithEvidence(t, qrRaw)
	ed := "resource=DocumentReference/ed-note,quote=Bladder scan 650 mL; new urinary retention.,date=2026-04-28T14:02:00Z"
	cond := "resource=Condition/c-r339,date=2026-04-29"
	clinic := "resource=DocumentReference/clinic,quote=right ankle dorsiflexion 3/5, was 4/5 two weeks ago,date=2026-04-30"
	lam := "resource=Procedure/p-lam,date=2024"
	want := map[string]string{
		"indication.diagnosis":                `valueCoding:{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"M54.16","display":"Radiculopathy, lumbar region"} [auto] resource=Condition/c-rad,date=2026-02-20`,
		"indication.onset":                    `valueDate:"2026-02-20" [auto] resource=Condition/c-rad,date=2026-02-20`,
		"red-flag.cauda-equina.present":       "valueBoolean:true [auto] " + ed + " | " + cond,
		"red-flag.cauda-equina.onset":         `valueDate:"2026-04-28" [auto] ` + ed,
		"red-flag.neurologic-deficit.present": "valueBoolean:true [auto] " + clinic,
		"red-flag.neurologic-deficit.onset":   `valueDate:"2026-04-30" [auto] ` + clinic,
		"red-flag.neurologic-deficit.exam":    `valueString:"right ankle dorsiflexion 3/5, was 4/5 two weeks ago" [auto] ` + clinic,
		"red-flag.prior-surgery.present":      "valueBoolean:true [auto] " + lam,
		"red-flag.prior-surgery.onset":        `valueDate:"2024" [auto] ` + lam,
		"red-flag.prior-surgery.procedure":    `valueString:"Laminectomy" [auto] ` + lam,
		"red-flag.prior-surgery.date":         `valueDate:"2024" [auto] ` + lam,
		"therapy.physical-therapy.given":      "valueBoolean:true [auto] resource=Procedure/pt-2,date=2026-03-20 | resource=Procedure/pt-1,date=2026-03-06",
		"therapy.physical-therapy.start":      `valueDate:"2026-03-06" [auto] resource=Procedure/pt-1,date=2026-03-06`,
		"therapy.nsaid.given":                 "valueBoolean:true [auto] resource=MedicationRequest/m-1,date=2026-03-01 | resource=DocumentReference/pt-note,quote=Meloxicam 15 mg daily since April,date=2026-04",
		"therapy.nsaid.start":                 `valueDate:"2026-03-01" [auto] resource=MedicationRequest/m-1,date=2026-03-01`,
		"therapy.chiropractic.given":          "valueBoolean:true [auto] resource=DocumentReference/pt-note,quote=Chiropractor weekly since April,date=2026-04",
		"therapy.chiropractic.start":          `valueDate:"2026-04" [auto] resource=DocumentReference/pt-note,quote=Chiropractor weekly since April,date=2026-04`,
		"prior-imaging.mri.done":              "valueBoolean:true [auto] resource=ImagingStudy/mri-1,date=2025-11-02",
		"prior-imaging.mri.date":              `valueDate:"2025-11-02" [auto] resource=ImagingStudy/mri-1,date=2025-11-02`,
		"prior-imaging.xray.done":             "valueBoolean:false [auto] ",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("answers (-got +want):\n%s", diff)
	}
}

// answersWithEvidence returns each answered linkId's answers as
// "value[x]:JSON [origin] evidence | evidence", an evidence extension as
// "resource=...,quote=...,date=...".
func answersWithEvidence(t *testing.T, qrRaw json.RawMessage) map[string]string {
	t.Helper()
	got := map[string]string{}
	var walk func(items []checkQRItemFull)
	walk = func(items []checkQRItemFull) {
		for _, it := range items {
			walk(it.Item)
			for _, an := range it.Answer {
				origin, evidence := "", []string{}
				for _, e := range an.Extension {
					switch e.URL {
					case InformationOriginURL:
						origin = e.Extension[0].ValueCode
					case AnswerEvidenceURL:
						var parts []string
						for _, sub := range e.Extension {
							v := sub.ValueString
							if sub.ValueReference != nil {
								v = sub.ValueReference.Reference
							}
							parts = append(parts, sub.URL+"="+v)
						}
						evidence = append(evidence, strings.Join(parts, ","))
					}
				}
				var value string
				for k, v := range an.Values {
					if strings.HasPrefix(k, "value") {
						value = k + ":" + string(v)
					}
				}
				got[it.LinkID] += fmt.Sprintf("%s [%s] %s", value, origin, strings.Join(evidence, " | "))
			}
		}
	}
	var full struct{ Item []checkQRItemFull }
	if err := json.Unmarshal(qrRaw, &full); err != nil {
		t.Fatal(err)
	}
	walk(full.Item)
	return got
}

type checkQRItemFull struct {
	LinkID string `json:"linkId"`
	Answer []struct {
		Extension []ext                      `json:"extension"`
		Values    map[string]json.RawMessage `json:"-"`
	} `json:"answer"`
	Item []checkQRItemFull `json:"item"`
}

// UnmarshalJSON keeps the raw value[x] of each answer beside its extensions.
func (c *checkQRItemFull) UnmarshalJSON(b []byte) error {
	var raw struct {
		LinkID string            `json:"linkId"`
		Answer []json.RawMessage `json:"answer"`
		Item   []checkQRItemFull `json:"item"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	c.LinkID, c.Item = raw.LinkID, raw.Item
	for _, a := range raw.Answer {
		var an struct {
			Extension []ext                      `json:"extension"`
			Values    map[string]json.RawMessage `json:"-"`
		}
		if err := json.Unmarshal(a, &an); err != nil {
			return err
		}
		if err := json.Unmarshal(a, &an.Values); err != nil {
			return err
		}
		c.Answer = append(c.Answer, an)
	}
	return nil
}

// An assessment with nothing documented still gives a valid, empty-bodied
// in-progress form (the coordinator fills it in).
func TestFormEmptyAssessment(t *testing.T) {
	in := formInput(t)
	a := criteria.Assessment{Order: criteria.Order{Display: "MRI lumbar spine"}, Outcome: criteria.CriteriaNotMet,
		Findings: []criteria.Finding{{Code: criteria.ConservativeTherapyMissing}, {Code: criteria.IndicationMissing}}}
	qr, err := QuestionnaireResponse(in, &a, "qr-1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(qr), `"item"`) || strings.Contains(string(qr), "basedOn") {
		t.Errorf("answers or basedOn without evidence or order id: %s", qr)
	}
	if probs := CheckForm(qr, policy.Questionnaires()[FormQuestionnaireID]); len(probs) > 0 {
		t.Errorf("CheckForm: %v", probs)
	}
}

// CheckForm finds what is wrong: it is the test above's oracle, so it must
// be able to fail.
func TestCheckFormFinds(t *testing.T) {
	q := policy.Questionnaires()[FormQuestionnaireID]
	head := `{"resourceType":"QuestionnaireResponse","status":"in-progress","questionnaire":"https://lumbar-mri-cds.github.io/fhir/Questionnaire/lumbar-mri-pa|1.0.0","item":`
	tests := map[string]struct{ items, want string }{
		"unknown linkId":    {`[{"linkId":"nope","answer":[{"valueBoolean":true}]}]`, "no such linkId"},
		"misplaced linkId":  {`[{"linkId":"red-flag.cauda-equina.present","answer":[{"valueBoolean":true}]}]`, "no such linkId"},
		"wrong type":        {`[{"linkId":"red-flag","item":[{"linkId":"red-flag.cauda-equina","item":[{"linkId":"red-flag.cauda-equina.present","answer":[{"valueString":"yes"}]}]}]}]`, "valueString answer for an item of type boolean"},
		"group with answer": {`[{"linkId":"red-flag","answer":[{"valueBoolean":true}]}]`, "a group with answers"},
		"two values":        {`[{"linkId":"follow-up","item":[{"linkId":"follow-up.date","answer":[{"valueDate":"2026-01-01","valueString":"x"}]}]}]`, "answer with 2 values"},
		"two answers":       {`[{"linkId":"follow-up","item":[{"linkId":"follow-up.date","answer":[{"valueDate":"2026-01-01"},{"valueDate":"2026-01-02"}]}]}]`, "does not repeat"},
		"bad option":        {`[{"linkId":"therapy","item":[{"linkId":"therapy.nsaid","item":[{"linkId":"therapy.nsaid.response","answer":[{"valueCoding":{"system":"x","code":"y"}}]}]}]}]`, "not among the item's answerOption"},
		"no answers":        {`[{"linkId":"follow-up","item":[{"linkId":"follow-up.date"}]}]`, "a question without answers"},
	}
	for name, tt := range tests {
		probs := CheckForm([]byte(head+tt.items+"}"), q)
		if !strings.Contains(strings.Join(probs, "\n"), tt.want) {
			t.Errorf("%s: problems %v, want one with %q", name, probs, tt.want)
		}
	}
	if probs := CheckForm([]byte(`{"resourceType":"QuestionnaireResponse","questionnaire":"http://other/Q"}`), q); len(probs) != 1 {
		t.Errorf("other questionnaire: %v", probs)
	}
}

// A finding from a note is shown with the note's date and its words,
// marked as from a note; references never appear.
func TestEvidenceFromNote(t *testing.T) {
	got := groups([]criteria.Evidence{
		{Source: "DocumentReference/ed", Date: fday("2026-04-28"), DateText: "2026-04-28", Display: "urinary retention", FromNote: true, Quote: "new *urinary* retention"},
		{Source: "Condition/c1", Date: fday("2026-04-29"), DateText: "2026-04-29", Display: "Retention of urine"},
	})
	joined := strings.Join(got, "\n")
	if !strings.Contains(joined, "urinary retention: from a note (2026-04-28): \u201cnew \\*urinary\\* retention\u201d") {
		t.Errorf("note evidence not quoted as from a note:\n%s", joined)
	}
	if !strings.Contains(joined, "Retention of urine") || strings.Contains(joined, "Condition/c1") || strings.Contains(joined, "DocumentReference/ed") {
		t.Errorf("evidence lines:\n%s", joined)
	}
}

// Two findings from one sentence of a note (saddle anaesthesia and urinary
// retention) share its quote: the card line quotes it once and names both;
// the same sentence in another note, or another sentence, is its own line.
func TestNoteQuoteOnce(t *testing.T) {
	q := "Numbness in the saddle area and unable to void since last night."
	got := groups([]criteria.Evidence{
		{Source: "DocumentReference/ed", Date: fday("2026-04-28"), DateText: "2026-04-28", Display: "saddle anaesthesia", FromNote: true, Quote: q},
		{Source: "DocumentReference/ed", Date: fday("2026-04-28"), DateText: "2026-04-28", Display: "urinary retention", FromNote: true, Quote: q},
		{Source: "DocumentReference/ed", Date: fday("2026-04-28"), DateText: "2026-04-28", Display: "fecal incontinence", FromNote: true, Quote: "Lost control of his bowels."},
		{Source: "DocumentReference/clinic", Date: fday("2026-04-29"), DateText: "2026-04-29", Display: "urinary retention", FromNote: true, Quote: q},
	})
	want := []string{
		"saddle anaesthesia and urinary retention: from a note (2026-04-28): \u201c" + q + "\u201d",
		"fecal incontinence: from a note (2026-04-28): \u201cLost control of his bowels.\u201d",
		"urinary retention: from a note (2026-04-29): \u201c" + q + "\u201d",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

// The form's examination answer quotes a sentence once when two deficit
// findings come from it.
func TestFormExamQuotesOnce(t *testing.T) {
	in := formInput(t)
	a := formAssessment()
	q := "L EHL 2/5 and left foot drop."
	for i := range a.Findings {
		if a.Findings[i].Code == criteria.RedFlagNeurologicDeficit {
			a.Findings[i].Evidence = []criteria.Evidence{
				{Source: "DocumentReference/clinic", Date: fday("2026-04-30"), DateText: "2026-04-30", Display: "motor weakness, grade 3/5 or less", FromNote: true, Quote: q},
				{Source: "DocumentReference/clinic", Date: fday("2026-04-30"), DateText: "2026-04-30", Display: "foot drop", FromNote: true, Quote: q},
			}
		}
	}
	o := Order{Assessment: a}
	s, err := FormCompletion(in, &o, seqIDs())
	if err != nil {
		t.Fatal(err)
	}
	var qr struct{ Item []checkQRItemFull }
	if err := json.Unmarshal(s.Actions[0].Resource, &qr); err != nil {
		t.Fatal(err)
	}
	var exam string
	var walk func([]checkQRItemFull)
	walk = func(items []checkQRItemFull) {
		for _, it := range items {
			walk(it.Item)
			if it.LinkID == "red-flag.neurologic-deficit.exam" && len(it.Answer) == 1 {
				exam = string(it.Answer[0].Values["valueString"])
			}
		}
	}
	walk(qr.Item)
	// The note's words as written: the answer's evidence extension marks
	// them as a quote, so no quote marks are added inside the value.
	if want := `"` + q + `"`; exam != want {
		t.Errorf("exam answer %s, want %s", exam, want)
	}
}

// TestFormIndication: the diagnosis answer is the chart's Condition (the
// one the order names, else the latest), with its onset when one is
// recorded; else the order's own reason code.
func TestFormIndication(t *testing.T) {
	lbp := criteria.Evidence{Source: "Condition/c-lbp", Date: fday("2025-01-10"), DateText: "2025-01-10", Onset: true, Display: "Low back pain, unspecified", Code: criteria.Code{System: policy.SystemICD10, Code: "M54.50", Display: "Low back pain, unspecified"}}
	sciatica := criteria.Evidence{Source: "Condition/c-sci", Date: fday("2026-03-02"), DateText: "2026-03", Imprecise: true, Display: "Lumbago with sciatica, left side", Code: criteria.Code{System: policy.SystemICD10, Code: "M54.42", Display: "Lumbago with sciatica, left side"}}
	fromOrder := criteria.Evidence{Source: "ServiceRequest/sr-1", FromOrder: true, Display: "Radiculopathy, lumbar region", Code: criteria.Code{System: policy.SystemICD10, Code: "M54.16", Display: "Radiculopathy, lumbar region"}}
	tests := []struct {
		name       string
		indication []criteria.Evidence
		diagnosis  string
		onset      string
	}{
		{"latest condition, recorded date only", []criteria.Evidence{lbp, sciatica},
			`{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"M54.42","display":"Lumbago with sciatica, left side"}`, ""},
		{"one condition with onset", []criteria.Evidence{lbp},
			`{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"M54.50","display":"Low back pain, unspecified"}`, "2025-01-10"},
		{"the order's reason", []criteria.Evidence{fromOrder},
			`{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"M54.16","display":"Radiculopathy, lumbar region"}`, ""},
		{"none", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := criteria.Assessment{Order: criteria.Order{ID: "sr-1"}, Outcome: criteria.CriteriaNotMet, Indication: tt.indication}
			raw, err := QuestionnaireResponse(formInput(t), &a, "qr-1")
			if err != nil {
				t.Fatal(err)
			}
			var qr struct{ Item []checkQRItemFull }
			if err := json.Unmarshal(raw, &qr); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, g := range qr.Item {
				for _, it := range g.Item {
					for _, an := range it.Answer {
						for k, v := range an.Values {
							if strings.HasPrefix(k, "value") {
								got[it.LinkID] = string(v)
							}
						}
					}
				}
			}
			onset := ""
			if tt.onset != "" {
				onset = `"` + tt.onset + `"`
			}
			if got["indication.diagnosis"] != tt.diagnosis || got["indication.onset"] != onset {
				t.Errorf("diagnosis %s onset %s, want %s %s", got["indication.diagnosis"], got["indication.onset"], tt.diagnosis, onset)
			}
			if probs := CheckForm(raw, policy.Questionnaires()[FormQuestionnaireID]); len(probs) > 0 {
				t.Errorf("CheckForm: %s", strings.Join(probs, "\n"))
			}
		})
	}
}

// formValues returns each answered linkId's value[x] JSON, answers joined
// by " | ".
func formValues(t *testing.T, s hooks.Suggestion) map[string]string {
	t.Helper()
	var qr struct{ Item []checkQRItemFull }
	if err := json.Unmarshal(s.Actions[0].Resource, &qr); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func([]checkQRItemFull)
	walk = func(items []checkQRItemFull) {
		for _, it := range items {
			walk(it.Item)
			var vs []string
			for _, an := range it.Answer {
				for k, v := range an.Values {
					if strings.HasPrefix(k, "value") {
						vs = append(vs, string(v))
					}
				}
			}
			if len(vs) > 0 {
				out[it.LinkID] = strings.Join(vs, " | ")
			}
		}
	}
	walk(qr.Item)
	return out
}

// TestFormDatesAreTheTreatments: a note finding is dated by its note, which
// is neither when a surgery was done nor when a therapy began. The form's
// start and end dates are the treatments' own spans (a note's "since
// March" at its written precision), and a surgery known only from a note
// gets its words as the procedure and no date.
func TestFormDatesAreTheTreatments(t *testing.T) {
	in := formInput(t)
	a := formAssessment()
	march := mustDay("2026-03")
	for i := range a.Findings {
		switch a.Findings[i].Code {
		case criteria.RedFlagPriorSurgery:
			a.Findings[i].Evidence = []criteria.Evidence{
				{Source: "DocumentReference/op", Date: fday("2026-04-20"), DateText: "2026-04-20", Display: "prior lumbar surgery", FromNote: true, Quote: "s/p L4-5 laminectomy in 2019.", WrittenDate: "2019"},
			}
		case criteria.ConservativeTherapyMet:
			a.Findings[i].Evidence = []criteria.Evidence{
				{Source: "DocumentReference/pt-note", Date: fday("2026-04-30"), DateText: "2026-04-30", Display: "physical therapy", FromNote: true,
					Quote: "PT twice weekly since March, no better.", Course: &criteria.TherapySpan{Start: march, End: *fday("2026-04-30"), EndIsNoteDate: true}},
				{Source: "MedicationRequest/m-1", Date: fday("2026-03-10"), DateText: "2026-03-10", Display: "naproxen", Code: criteria.Code{System: policy.SystemRxNorm, Code: "7258"},
					Course: &criteria.TherapySpan{Start: mustDay("2026-03-10"), End: *fday("2026-04-09")}},
			}
		}
	}
	o := Order{Assessment: a}
	s, err := FormCompletion(in, &o, seqIDs())
	if err != nil {
		t.Fatal(err)
	}
	got := formValues(t, s)
	want := map[string]string{
		"red-flag.prior-surgery.procedure": `"s/p L4-5 laminectomy in 2019."`,
		// The surgery's date is the one the note writes, not the note's.
		"red-flag.prior-surgery.date":    `"2019"`,
		"therapy.physical-therapy.start": `"2026-03"`,
		"therapy.nsaid.start":            `"2026-03-10"`,
		"therapy.nsaid.end":              `"2026-04-09"`,
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s = %s, want %s", id, got[id], w)
		}
	}
	// "PT twice weekly since March", written on 2026-04-30: the course
	// runs up to the note, which is not when it ended (docs: never the
	// note's date).
	if d, ok := got["therapy.physical-therapy.end"]; ok {
		t.Errorf("therapy end %s answered from the note's date", d)
	}
	if probs := CheckForm(s.Actions[0].Resource, policy.Questionnaires()[FormQuestionnaireID]); len(probs) > 0 {
		t.Errorf("form does not check against the Questionnaire: %v", probs)
	}
}

func mustDay(s string) chart.Date {
	d, ok := chart.ParseDate(s)
	if !ok {
		panic(s)
	}
	return d
}

// TestFormRedFlagDetails: a red flag's follow-up items are answered from
// the evidence that raised it, and its "Date first documented" is that
// evidence's date, never the back-pain diagnosis a combination needed.
func TestFormRedFlagDetails(t *testing.T) {
	in := formInput(t)
	pairing := criteria.Evidence{Source: "Condition/lbp", Date: fday("2026-04-20"), DateText: "2026-04-20", Onset: true,
		Display: "Low back pain", Code: criteria.Code{System: policy.SystemICD10, Code: "M54.50"}, Pairing: "new back pain"}
	early := criteria.Evidence{Source: "Condition/lbp", Date: fday("2026-02-10"), DateText: "2026-02-10", Onset: true,
		Display: "Low back pain", Code: criteria.Code{System: policy.SystemICD10, Code: "M54.50"}, Pairing: "new back pain"}
	temp := 38.5
	tests := []struct {
		name string
		code string
		ev   []criteria.Evidence
		want map[string]string
	}{
		{"cancer history (Z85.3)", criteria.RedFlagMalignancy, []criteria.Evidence{
			{Source: "Condition/z85", Date: fday("2019-03-12"), DateText: "2019-03-12", Display: "Personal history of malignant neoplasm of breast",
				Code: criteria.Code{System: policy.SystemICD10, Code: "Z85.3"}, Paired: true, Kind: "cancer-history"}, pairing},
			map[string]string{"red-flag.malignancy.present": "true", "red-flag.malignancy.history": "true", "red-flag.malignancy.onset": `"2019-03-12"`}},
		{"weight loss in a note", criteria.RedFlagMalignancy, []criteria.Evidence{
			{Source: "DocumentReference/n", Date: fday("2026-04-28"), DateText: "2026-04-28", Display: "unexplained weight loss", FromNote: true,
				Quote: "Unintentional weight loss of 15 lb.", Paired: true, Kind: "weight-loss"}, early},
			map[string]string{"red-flag.malignancy.present": "true", "red-flag.malignancy.weight-loss": "true", "red-flag.malignancy.onset": `"2026-04-28"`}},
		{"injection drug use", criteria.RedFlagInfection, []criteria.Evidence{
			{Source: "Condition/f11", Date: fday("2025-11-01"), DateText: "2025-11-01", Display: "Opioid dependence",
				Code: criteria.Code{System: policy.SystemICD10, Code: "F11.20"}, Paired: true, Kind: "iv-drug-use"}, early},
			map[string]string{"red-flag.infection.present": "true", "red-flag.infection.ivdu": "true", "red-flag.infection.onset": `"2025-11-01"`}},
		{"fever in [degF]", criteria.RedFlagInfection, []criteria.Evidence{
			{Source: "Observation/t", Date: fday("2026-04-29"), DateText: "2026-04-29", Display: "Body temperature 101.3 [degF]",
				Code: criteria.Code{System: "http://loinc.org", Code: "8310-5"}, Kind: "fever", Temperature: &temp}},
			map[string]string{"red-flag.infection.present": "true", "red-flag.infection.fever": "38.5", "red-flag.infection.onset": `"2026-04-29"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := criteria.Assessment{Order: criteria.Order{ID: "sr-1", Display: "MRI lumbar spine"}, Date: *fday("2026-05-01"),
				Outcome: criteria.CriteriaMet, Findings: []criteria.Finding{{Code: tt.code, Evidence: tt.ev}}}
			o := Order{Assessment: a}
			s, err := FormCompletion(in, &o, seqIDs())
			if err != nil {
				t.Fatal(err)
			}
			got := formValues(t, s)
			prefix := "red-flag.malignancy"
			if tt.code == criteria.RedFlagInfection {
				prefix = "red-flag.infection"
			}
			gotGroup := map[string]string{}
			for k, v := range got {
				if strings.HasPrefix(k, prefix+".") {
					gotGroup[k] = v
				}
			}
			if diff := cmp.Diff(gotGroup, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
			if probs := CheckForm(s.Actions[0].Resource, policy.Questionnaires()[FormQuestionnaireID]); len(probs) > 0 {
				t.Errorf("form does not check against the Questionnaire: %v", probs)
			}
		})
	}
}

// TestFormTaskProfile checks the form completion Task against each
// constraint of CRD STU 2.1 profile-taskquestionnaire (TaskQuestionnaire.fsh)
// and its parent SDC sdc-task (cards.md "Request Form Completion": the
// resources SHALL comply), read from the FSH; and that without a payer
// Organization on the Coverage (requester 1..1) no form is offered.
func TestFormTaskProfile(t *testing.T) {
	const crdTempSys = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
	payers := []struct {
		name  string
		payer *chart.PayerRef
		want  string // the requester, as JSON
	}{
		{"literal reference", &chart.PayerRef{Reference: "Organization/payer-1", Display: "Example Health Plan"},
			`{"reference":"Organization/payer-1","type":"Organization","display":"Example Health Plan"}`},
		{"logical reference", &chart.PayerRef{IdentifierSystem: "http://hl7.org/fhir/sid/us-npi", IdentifierValue: "1234567893", Display: "Acme"},
			`{"type":"Organization","identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"},"display":"Acme"}`},
		{"display only", &chart.PayerRef{Display: "Example Health Plan"}, `{"type":"Organization","display":"Example Health Plan"}`},
	}
	for _, p := range payers {
		t.Run(p.name, func(t *testing.T) {
			in := formInput(t)
			in.Coverage.PayerOrganization = p.payer
			o := Order{Assessment: formAssessment()}
			s, err := FormCompletion(in, &o, seqIDs())
			if err != nil {
				t.Fatal(err)
			}
			var task map[string]json.RawMessage
			if err := json.Unmarshal(s.Actions[1].Resource, &task); err != nil {
				t.Fatal(err)
			}
			str := func(k string) string {
				var v string
				_ = json.Unmarshal(task[k], &v)
				return v
			}
			type cc struct {
				Coding []coding
				Text   string
			}
			var code cc
			_ = json.Unmarshal(task["code"], &code)
			var inputs []struct {
				Type                 cc
				ValueCanonical       string
				ValueCodeableConcept *cc
			}
			_ = json.Unmarshal(task["input"], &inputs)
			has := func(c cc, system, code string) bool {
				for _, k := range c.Coding {
					if k.System == system && k.Code == code {
						return true
					}
				}
				return false
			}
			var questionnaires, afters int
			for _, in := range inputs {
				if has(in.Type, sdcTemp, "questionnaire") {
					questionnaires++
					if in.ValueCanonical == "" || in.Type.Text != "questionnaire" {
						t.Errorf("input[questionnaire] needs a valueCanonical (and text, for Inferno): %+v", in)
					}
				}
				if has(in.Type, crdTempSys, "after-completion-action") {
					afters++
					if in.ValueCodeableConcept == nil || !has(*in.ValueCodeableConcept, crdTempSys, "prior-auth-include") {
						t.Errorf("input[afterCompletion] value is not from CRDTaskAfterCompletionCode (prior-auth-include): %+v", in)
					}
				}
			}
			var reason cc
			_ = json.Unmarshal(task["reasonCode"], &reason)
			var basedOn []reference
			_ = json.Unmarshal(task["basedOn"], &basedOn)
			var owner reference
			_ = json.Unmarshal(task["owner"], &owner)
			checks := []struct {
				rule string
				ok   bool
			}{
				{"CRD: status = #ready (exactly)", str("status") == "ready"},
				{"CRD: intent = #order (exactly)", str("intent") == "order"},
				{"SDC: code 1..1 from TaskCode: complete-questionnaire", len(code.Coding) == 1 && has(code, sdcTemp, "complete-questionnaire")},
				{"sdc-t1: complete-questionnaire, so focus omitted", task["focus"] == nil},
				{"sdc-t1: complete-questionnaire, so a 'questionnaire' input; SDC: input[questionnaire] 0..1", questionnaires == 1},
				{"CRD: input contains afterCompletion 1..*", afters >= 1},
				{"CRD: for 1.., the Patient", string(task["for"]) == `{"reference":"Patient/pat-1"}`},
				{"CRD: authoredOn 1..", str("authoredOn") != ""},
				{"CRD: requester 1.., Reference(CRDOrganization), the payer", string(task["requester"]) == p.want},
				{"CRD: owner 0..1, Reference(USCorePractitionerProfile)", strings.HasPrefix(owner.Reference, "Practitioner/")},
				{"CRD: reasonCode from CRDTaskReason", has(reason, crdTempSys, "reason-prior-auth")},
				{"CRD: basedOn links the request", len(basedOn) == 1 && basedOn[0].Reference == "ServiceRequest/sr-1"},
			}
			for _, c := range checks {
				if !c.ok {
					t.Errorf("%s: %s", c.rule, s.Actions[1].Resource)
				}
			}
		})
	}
	t.Run("no payer organization", func(t *testing.T) {
		for _, c := range []*Coverage{nil, {Reference: "Coverage/cov-1"}} {
			in := formInput(t)
			in.Coverage = c
			o := Order{Assessment: formAssessment(), Raw: json.RawMessage(rawOrder)}
			if _, err := FormCompletion(in, &o, seqIDs()); !errors.Is(err, ErrNoPayer) {
				t.Errorf("coverage %+v: err %v, want ErrNoPayer", c, err)
			}
			res, err := Build(Input{Hook: in.Hook, PatientID: in.PatientID, Orders: []Order{o}, Policy: in.Policy, Coverage: c, Today: in.Today}, seqIDs())
			if err != nil {
				t.Fatal(err)
			}
			for _, card := range res.Response.Cards {
				for _, sg := range card.Suggestions {
					for _, a := range sg.Actions {
						if strings.Contains(string(a.Resource), `"resourceType":"Task"`) {
							t.Errorf("coverage %+v: a Task without a requester was offered", c)
						}
					}
				}
			}
		}
	})
}

// questionnaireRedFlagItems returns, for each red-flag finding code the
// policy can report, the Questionnaire item that holds it, read from the
// Questionnaire alone: the item that carries the code, else an item named
// after the red flag ("red-flag.infection.immunosuppression" for
// red-flag-immunosuppression); no entry when the Questionnaire has none.
func questionnaireRedFlagItems(t *testing.T) map[string]questionnaireItem {
	t.Helper()
	var q struct{ Item []questionnaireItem }
	if err := json.Unmarshal(policy.Questionnaires()[FormQuestionnaireID], &q); err != nil {
		t.Fatal(err)
	}
	out := map[string]questionnaireItem{}
	for _, rf := range policy.Default().Default().RedFlags.All() {
		code := criteria.RedFlagCode(rf.Kind)
		name := strings.TrimPrefix(code, "red-flag-")
		var byName *questionnaireItem
		var walk func([]questionnaireItem)
		walk = func(items []questionnaireItem) {
			for _, it := range items {
				for _, c := range it.Code {
					if c.System == criteria.CodeSystem && c.Code == code {
						out[code] = it
					}
				}
				if strings.HasPrefix(it.LinkID, "red-flag.") && it.LinkID[strings.LastIndexByte(it.LinkID, '.')+1:] == name && byName == nil {
					byName = &it
				}
				walk(it.Item)
			}
		}
		walk(q.Item)
		if _, ok := out[code]; !ok && byName != nil {
			out[code] = *byName
		}
	}
	return out
}

// TestFormAnswersEveryRedFlag walks every red flag the assessment can
// report (the policy's red flags, criteria.RedFlagCode) as a combination: a
// history entry with new back pain written in a note ("back pain x 10
// days", onset 2026-06-01) beside an older back-pain diagnosis (onset
// 2025-09-01). Each red flag the Questionnaire has an item for is answered
// yes, with the history and the note (its words) as evidence, and the
// symptom onset is the new pain's, not the old diagnosis's: an onset of
// 2025-09-01 tells a payer reviewer the pain is not new (clinical review 7,
// CR08).
func TestFormAnswersEveryRedFlag(t *testing.T) {
	items := questionnaireRedFlagItems(t)
	if len(items) == 0 {
		t.Fatal("no red-flag item found in the Questionnaire")
	}
	old := criteria.Evidence{Source: "Condition/m5450", Date: fday("2025-09-01"), DateText: "2025-09-01", Onset: true, Display: "Low back pain, unspecified",
		Code: criteria.Code{System: policy.SystemICD10, Code: "M54.50", Display: "Low back pain, unspecified"}}
	history := criteria.Evidence{Source: "Condition/hx", Date: fday("2020-02-01"), DateText: "2020-02-01", Display: "Kidney transplant status",
		Code: criteria.Code{System: policy.SystemICD10, Code: "Z94.0"}, Paired: true}
	pain := criteria.Evidence{Source: "DocumentReference/uc", Date: fday("2026-06-11"), DateText: "2026-06-11", Display: "new back pain", FromNote: true,
		Quote: "presents with back pain x 10 days", WrittenDate: "2026-06-01", Pairing: criteria.PairingNewBackPain}
	const (
		hxEv   = "resource=Condition/hx,date=2020-02-01"
		painEv = "resource=DocumentReference/uc,quote=presents with back pain x 10 days,date=2026-06-11"
	)
	// Many history entries: the new back pain is still among the evidence
	// an answer carries.
	var many []criteria.Evidence
	for i := range maxEvidencePerAnswer + 1 {
		e := history
		e.Source = fmt.Sprintf("Condition/hx-%d", i)
		many = append(many, e)
	}
	for _, rf := range policy.Default().Default().RedFlags.All() {
		code := criteria.RedFlagCode(rf.Kind)
		it, ok := items[code]
		if !ok {
			t.Logf("%s: the Questionnaire has no item for it", code)
			continue
		}
		linkID := it.LinkID
		if it.Type == "group" {
			linkID += ".present"
		}
		for _, tt := range []struct {
			name string
			ev   []criteria.Evidence
			want []string
		}{
			{"history and new back pain", []criteria.Evidence{history, pain}, []string{hxEv, painEv}},
			{"many history entries", append(slices.Clone(many), pain), []string{"resource=Condition/hx-0,", painEv}},
		} {
			t.Run(code+"/"+tt.name, func(t *testing.T) {
				a := criteria.Assessment{Order: criteria.Order{ID: "sr-1", Display: "MRI lumbar spine"}, Date: *fday("2026-06-15"),
					Outcome: criteria.CriteriaMet, Indication: []criteria.Evidence{old},
					Findings: []criteria.Finding{{Code: code, Evidence: tt.ev}}}
				raw, err := QuestionnaireResponse(formInput(t), &a, "qr-1")
				if err != nil {
					t.Fatal(err)
				}
				got := answersWithEvidence(t, raw)
				ans, ok := got[linkID]
				if !ok || !strings.HasPrefix(ans, "valueBoolean:true [auto] ") {
					t.Fatalf("%s not answered yes: %q", linkID, ans)
				}
				for _, w := range tt.want {
					if !strings.Contains(ans, w) {
						t.Errorf("%s evidence %q lacks %q", linkID, ans, w)
					}
				}
				if w := `valueDate:"2026-06-01" [auto] ` + painEv; got["indication.onset"] != w {
					t.Errorf("symptom onset %q, want %q", got["indication.onset"], w)
				}
				if probs := CheckForm(raw, policy.Questionnaires()[FormQuestionnaireID]); len(probs) > 0 {
					t.Errorf("CheckForm: %s", strings.Join(probs, "\n"))
				}
			})
		}
	}
}

// TestFormNewBackPainOnset: the symptom onset of a red flag that needed
// new back pain is that pain's recorded onset (a Condition's onset, the
// onset a note writes), never an older diagnosis's; unanswered when the new
// pain has no recorded onset.
func TestFormNewBackPainOnset(t *testing.T) {
	old := criteria.Evidence{Source: "Condition/m5450", Date: fday("2025-09-01"), DateText: "2025-09-01", Onset: true, Display: "Low back pain, unspecified",
		Code: criteria.Code{System: policy.SystemICD10, Code: "M54.50", Display: "Low back pain, unspecified"}}
	hx := criteria.Evidence{Source: "Condition/z85", Date: fday("2019-03-12"), DateText: "2019-03-12", Display: "Personal history of malignant neoplasm of breast",
		Code: criteria.Code{System: policy.SystemICD10, Code: "Z85.3"}, Paired: true, Kind: "cancer-history"}
	newDx := criteria.Evidence{Source: "Condition/m5450-new", Date: fday("2026-05-25"), DateText: "2026-05-25", Onset: true, Display: "Low back pain, unspecified",
		Code: criteria.Code{System: policy.SystemICD10, Code: "M54.50", Display: "Low back pain, unspecified"}}
	pairedDx := newDx
	pairedDx.Pairing = criteria.PairingNewBackPain
	recorded := pairedDx
	recorded.Onset = false
	noteUndated := criteria.Evidence{Source: "DocumentReference/n", Date: fday("2026-06-11"), DateText: "2026-06-11", Display: "new back pain", FromNote: true,
		Quote: "new low back pain", Pairing: criteria.PairingNewBackPain}
	noteMonth := noteUndated
	noteMonth.Quote, noteMonth.WrittenDate = "low back pain since May", "2026-05"
	lumbar := pairedDx
	lumbar.Pairing = "lumbar or lumbosacral back pain"
	tests := []struct {
		name       string
		indication []criteria.Evidence
		code       string
		ev         []criteria.Evidence
		want       string
	}{
		{"the new pain is the diagnosis", []criteria.Evidence{newDx}, criteria.RedFlagMalignancy, []criteria.Evidence{hx, pairedDx}, `"2026-05-25"`},
		{"the new pain's Condition, not the older diagnosis", []criteria.Evidence{old, newDx}, criteria.RedFlagMalignancy, []criteria.Evidence{hx, pairedDx}, `"2026-05-25"`},
		{"a note's onset at its precision", []criteria.Evidence{old}, criteria.RedFlagImmunosuppression, []criteria.Evidence{hx, noteMonth}, `"2026-05"`},
		{"the earliest onset of the new pain", []criteria.Evidence{old}, criteria.RedFlagInfection, []criteria.Evidence{hx, pairedDx, noteMonth}, `"2026-05"`},
		{"a note without an onset: left", []criteria.Evidence{old}, criteria.RedFlagImmunosuppression, []criteria.Evidence{hx, noteUndated}, ""},
		{"a recordedDate is no onset: left", []criteria.Evidence{old}, criteria.RedFlagMalignancy, []criteria.Evidence{hx, recorded}, ""},
		{"no new back pain needed: the diagnosis's", []criteria.Evidence{old}, criteria.RedFlagPriorSurgery, []criteria.Evidence{hx, lumbar}, `"2025-09-01"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := criteria.Assessment{Order: criteria.Order{ID: "sr-1", Display: "MRI lumbar spine"}, Date: *fday("2026-06-15"),
				Outcome: criteria.CriteriaMet, Indication: tt.indication, Findings: []criteria.Finding{{Code: tt.code, Evidence: tt.ev}}}
			o := Order{Assessment: a}
			s, err := FormCompletion(formInput(t), &o, seqIDs())
			if err != nil {
				t.Fatal(err)
			}
			if got := formValues(t, s)["indication.onset"]; got != tt.want {
				t.Errorf("indication.onset %s, want %s", got, tt.want)
			}
			if probs := CheckForm(s.Actions[0].Resource, policy.Questionnaires()[FormQuestionnaireID]); len(probs) > 0 {
				t.Errorf("CheckForm: %s", strings.Join(probs, "\n"))
			}
		})
	}
}
