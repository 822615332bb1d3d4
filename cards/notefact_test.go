package cards

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/fhirtest"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

func TestRecordFromNotes(t *testing.T) {
	in := formInput(t)
	icd := policy.SystemICD10
	note := func(code, display, label string) criteria.Evidence {
		return criteria.Evidence{Source: "DocumentReference/ed", Date: fday("2026-04-28"), DateText: "2026-04-28", Display: label,
			FromNote: true, Quote: "numbness in the saddle region and unable to void",
			Code: criteria.Code{System: icd, Code: code, Display: display}}
	}
	a := criteria.Assessment{Findings: []criteria.Finding{
		{Code: criteria.RedFlagCaudaEquina, Evidence: []criteria.Evidence{
			note("R20.0", "Anesthesia of skin", "saddle anaesthesia"),
			note("R33.9", "Retention of urine, unspecified", "urinary retention"),
			note("R33.9", "Retention of urine, unspecified", "urinary retention"),
		}},
		// Coded in the chart already: nothing to propose.
		{Code: criteria.RedFlagInfection, Evidence: []criteria.Evidence{
			note("R50.9", "Fever, unspecified", "fever"),
			{Source: "Observation/t1", Date: fday("2026-04-28"), Display: "Body temperature 38.6 Cel"},
		}},
		// No verified code for a motor grade.
		{Code: criteria.RedFlagNeurologicDeficit, Evidence: []criteria.Evidence{{Source: "DocumentReference/c", FromNote: true, Quote: "EHL 3/5", Display: "motor weakness"}}},
		{Code: criteria.ConservativeTherapyMet, Evidence: []criteria.Evidence{note("R63.4", "Abnormal weight loss", "x")}},
	}}
	s, ok, err := RecordFromNotes(in, &a, seqIDs())
	if err != nil || !ok {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	if s.UUID == "" || len(s.Actions) != 2 || s.Label != "Record in the problem list: Anesthesia of skin; Retention of urine, unspecified" {
		t.Fatalf("suggestion %+v", s)
	}
	var resources []json.RawMessage
	for _, act := range s.Actions {
		resources = append(resources, act.Resource)
		var c struct {
			VerificationStatus struct{ Coding []coding }
			Code               struct{ Coding []coding }
			Evidence           []struct{ Detail []reference }
			Note               []struct{ Text string }
			OnsetDateTime      string
		}
		if err := json.Unmarshal(act.Resource, &c); err != nil {
			t.Fatal(err)
		}
		if c.VerificationStatus.Coding[0].Code != "provisional" || c.Code.Coding[0].System != icd ||
			c.Evidence[0].Detail[0].Reference != "DocumentReference/ed" || c.OnsetDateTime != "2026-04-28" ||
			!strings.Contains(c.Note[0].Text, "unable to void") {
			t.Errorf("condition %s", act.Resource)
		}
	}
	for i, probs := range fhirtest.Validate(t, resources...) {
		if len(probs) > 0 {
			t.Errorf("condition %d not valid R4: %v", i, probs)
		}
	}
	if _, ok, _ := RecordFromNotes(in, &criteria.Assessment{Findings: a.Findings[1:]}, seqIDs()); ok {
		t.Error("a suggestion with nothing to record")
	}
}
