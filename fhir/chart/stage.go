package chart

import (
	"strings"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// CancerStage is a Condition's cancer stage group (Condition.stage.summary)
// when the stage is a TNM stage group: Group as written ("IVB", "3C"),
// Invasive when it is a group I to IV, InSitu for group 0 (0, 0a, 0is).
//
// Source: AJCC Cancer Staging Manual, 8th ed.: stage 0 is carcinoma in situ
// (Tis N0 M0), stages I-IV are invasive cancer, IV with distant metastasis.
// mCODE STU 4 (hl7.org/fhir/us/mcode) carries the stage group in
// Condition.stage.summary: TNMStageGroupMaxVS takes every code of the AJCC
// system (http://cancerstaging.org); TNMStageGroupStagingTypeMaxVS types a
// stage as a TNM stage grouping (SNOMED CT 399390009, 399537006, 399588009;
// LOINC 21908-9, 21902-2, 21914-7).
type CancerStage struct {
	Group    string
	Invasive bool
	InSitu   bool
}

// IsZero reports that no TNM stage group was read.
func (s CancerStage) IsZero() bool { return s.Group == "" }

// ajccSystem is the AJCC code system of mCODE's TNMStageGroupMaxVS.
const ajccSystem = "http://cancerstaging.org"

// tnmStagingTypes are mCODE TNMStageGroupStagingTypeMaxVS (STU 4).
var tnmStagingTypes = map[Coding]bool{
	{System: "http://snomed.info/sct", Code: "399390009"}: true, // TNM stage grouping
	{System: "http://snomed.info/sct", Code: "399537006"}: true, // Clinical TNM stage grouping
	{System: "http://snomed.info/sct", Code: "399588009"}: true, // Pathologic TNM stage grouping
	{System: "http://loinc.org", Code: "21908-9"}:         true, // Stage group.clinical Cancer
	{System: "http://loinc.org", Code: "21902-2"}:         true, // Stage group.pathology Cancer
	{System: "http://loinc.org", Code: "21914-7"}:         true, // Stage group.other Cancer
}

// cancerStage reads the first TNM stage group among a Condition's stages: a
// summary coded in the AJCC system (its display, else its code), or a
// summary of a stage typed as a TNM stage grouping (a coding's display, else
// the text). Other staging (chronic kidney disease, pressure injury, heart
// failure) is never read as cancer. Zero when none is readable.
func cancerStage(stages []r4.ConditionStage) CancerStage {
	for i := range stages {
		st := &stages[i]
		if st.Summary == nil {
			continue
		}
		sum := concept(st.Summary)
		for _, cd := range sum.Codings {
			if cd.System == ajccSystem {
				// The display first: "IVB" reads better than its code "4B".
				if s, ok := stageGroup(cd.Display); ok {
					return s
				}
				if s, ok := stageGroup(cd.Code); ok {
					return s
				}
			}
		}
		if !tnmTyped(st.Type) {
			continue
		}
		for _, cd := range sum.Codings {
			if s, ok := stageGroup(cd.Display); ok {
				return s
			}
		}
		if s, ok := stageGroup(sum.Text); ok {
			return s
		}
	}
	return CancerStage{}
}

func tnmTyped(cc *r4.CodeableConcept) bool {
	for _, cd := range concept(cc).Codings {
		if tnmStagingTypes[Coding{System: cd.System, Code: cd.Code}] {
			return true
		}
	}
	return false
}

// stageGroup reads a stage group written as "IVB", "Stage IIIA", "stage 4",
// "3C", "0is": a Roman numeral I to IV or a digit 0 to 4, then at most a
// letter and a digit (AJCC subgroups such as IIIC1), or 0 followed by "a"
// or "is". Anything else (occult, unknown, 88) is not a stage group.
func stageGroup(s string) (CancerStage, bool) {
	g := strings.TrimSpace(s)
	lower := strings.ToLower(g)
	if rest, ok := strings.CutPrefix(lower, "stage"); ok {
		lower = strings.TrimSpace(rest)
		g = strings.TrimSpace(g[len(g)-len(rest):])
	}
	if lower == "" {
		return CancerStage{}, false
	}
	switch lower {
	case "0", "0a", "0is":
		return CancerStage{Group: g, InSitu: true}, true
	}
	n := 0
	for _, roman := range []string{"iv", "iii", "ii", "i"} {
		if strings.HasPrefix(lower, roman) {
			n = len(roman)
			break
		}
	}
	if n == 0 && lower[0] >= '1' && lower[0] <= '4' {
		n = 1
	}
	if n == 0 || !subgroup(lower[n:]) {
		return CancerStage{}, false
	}
	return CancerStage{Group: g, Invasive: true}, true
}

// subgroup: "", a letter a-c, or a letter and a digit 1-3 (IIIC1).
func subgroup(s string) bool {
	switch len(s) {
	case 0:
		return true
	case 1:
		return s[0] >= 'a' && s[0] <= 'c'
	case 2:
		return s[0] >= 'a' && s[0] <= 'c' && s[1] >= '1' && s[1] <= '3'
	}
	return false
}
