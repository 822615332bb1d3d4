package cards

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
)

// conditionJSON is the Condition a note finding is recorded as.
type conditionJSON struct {
	ResourceType       string            `json:"resourceType"`
	ID                 string            `json:"id"`
	ClinicalStatus     codeableConcept   `json:"clinicalStatus"`
	VerificationStatus codeableConcept   `json:"verificationStatus"`
	Category           []codeableConcept `json:"category"`
	Code               codeableConcept   `json:"code"`
	Subject            reference         `json:"subject"`
	OnsetDateTime      string            `json:"onsetDateTime,omitempty"`
	RecordedDate       string            `json:"recordedDate"`
	Evidence           []struct {
		Detail []reference `json:"detail"`
	} `json:"evidence"`
	Note []struct {
		Text string `json:"text"`
	} `json:"note"`
}

// RecordFromNotes returns a suggestion that records in the chart the red
// flags the assessment read only in notes, as provisional problem-list
// Conditions coded with the code the note finder proposes (DECISIONS.md
// "Notes": the coded fact is proposed so the chart is fixed at the source).
// A red flag that also has coded evidence, and findings without a verified
// code, are left out; ok is false when nothing is left.
func RecordFromNotes(in *Input, a *criteria.Assessment, newID func() string) (s hooks.Suggestion, ok bool, err error) {
	seen := map[string]bool{}
	var actions []hooks.Action
	var names []string
	for _, f := range a.Findings {
		if !isRedFlag(f.Code) || len(f.Evidence) == 0 {
			continue
		}
		coded := false
		for _, e := range f.Evidence {
			if !e.FromNote {
				coded = true
			}
		}
		if coded {
			continue
		}
		for _, e := range f.Evidence {
			if e.Code.Code == "" || seen[e.Code.System+"|"+e.Code.Code] {
				continue
			}
			seen[e.Code.System+"|"+e.Code.Code] = true
			c := conditionJSON{
				ResourceType:       "Condition",
				ID:                 newID(),
				ClinicalStatus:     codeableConcept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/condition-clinical", Code: "active", Display: "Active"}}},
				VerificationStatus: codeableConcept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/condition-ver-status", Code: "provisional", Display: "Provisional"}}},
				Category:           []codeableConcept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/condition-category", Code: "problem-list-item", Display: "Problem List Item"}}}},
				Code:               codeableConcept{Coding: []coding{{System: e.Code.System, Code: e.Code.Code, Display: e.Code.Display}}, Text: e.Display},
				Subject:            reference{Reference: "Patient/" + in.PatientID},
				OnsetDateTime:      fhirDate(e),
				RecordedDate:       in.Today.UTC().Format("2006-01-02"),
			}
			c.Evidence = append(c.Evidence, struct {
				Detail []reference `json:"detail"`
			}{Detail: []reference{{Reference: e.Source}}})
			when := evidenceDateText(e)
			if when == "" {
				when = "undated"
			}
			c.Note = append(c.Note, struct {
				Text string `json:"text"`
			}{Text: fmt.Sprintf("From the note of %s: \u201c%s\u201d", when, e.Quote)})
			raw, err := json.Marshal(c)
			if err != nil {
				return hooks.Suggestion{}, false, fmt.Errorf("condition from note: %w", err)
			}
			actions = append(actions, hooks.Action{Type: hooks.ActionCreate,
				Description: "Record " + e.Code.Display + " (" + e.Code.Code + "), written in a note, on the problem list (provisional).",
				Resource:    raw})
			names = append(names, e.Code.Display)
		}
	}
	if len(actions) == 0 {
		return hooks.Suggestion{}, false, nil
	}
	return hooks.Suggestion{Label: "Record in the problem list: " + strings.Join(names, "; "), UUID: newID(), Actions: actions}, true, nil
}
