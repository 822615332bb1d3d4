package chart

import (
	"strings"
	"sync"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/terminology"
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
// stage as a TNM stage grouping (the shipped value set
// tnm-stage-grouping-type).
type CancerStage struct {
	Group    string
	Invasive bool
	InSitu   bool
}

// IsZero reports that no TNM stage group was read.
func (s CancerStage) IsZero() bool { return s.Group == "" }

// ajccSystem is the AJCC code system of mCODE's TNMStageGroupMaxVS.
const ajccSystem = "http://cancerstaging.org"

// tnmStagingTypes is the shipped value set tnm-stage-grouping-type (mCODE
// STU 4 TNMStageGroupStagingTypeMaxVS), compiled once.
var tnmStagingTypes = sync.OnceValue(func() *terminology.Set {
	set, err := terminology.ShippedSet("tnm-stage-grouping-type")
	if err != nil {
		// The file is embedded and tested: only a broken build gets here.
		return nil
	}
	return set
})

// cancerStage reads a Condition's TNM stage groups: from each stage, a
// summary coded in the AJCC system (its display, else its code), or the
// display or text of a summary whose stage is typed as a TNM stage
// grouping. Other staging (chronic kidney disease, pressure injury, heart
// failure) is never read as cancer. Of several stages (clinical and
// pathologic, a re-staging) an invasive one wins over an in situ one, the
// last invasive one listed over earlier ones. Zero when none is readable.
func cancerStage(stages []r4.ConditionStage) CancerStage {
	var out CancerStage
	for i := range stages {
		st := stageOf(&stages[i])
		if st.Invasive || out.IsZero() {
			out = st
		}
	}
	return out
}

// stageOf reads one stage's TNM stage group; zero when it has none.
func stageOf(st *r4.ConditionStage) CancerStage {
	if st.Summary == nil {
		return CancerStage{}
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
		return CancerStage{}
	}
	for _, cd := range sum.Codings {
		if s, ok := stageGroup(cd.Display); ok {
			return s
		}
	}
	if s, ok := stageGroup(sum.Text); ok {
		return s
	}
	return CancerStage{}
}

func tnmTyped(cc *r4.CodeableConcept) bool {
	set := tnmStagingTypes()
	for _, cd := range concept(cc).Codings {
		if set.Contains(cd.System, cd.Code) {
			return true
		}
	}
	return false
}

// stageGroup reads a stage group written as "IVB", "Stage IIIA", "stage 4",
// "3C", "0is", "IS": a Roman numeral I to IV or a digit 0 to 4, then at
// most a letter and a digit (AJCC subgroups such as IIIC1), or 0 followed
// by "a" or "is", or IS (AJCC testis: serum markers raised after
// orchiectomy, an invasive cancer). "Stage" is a word of its own ("stageIV"
// is not read). Anything else (occult, unknown, 88, text in other scripts)
// is not a stage group.
func stageGroup(s string) (CancerStage, bool) {
	g := strings.TrimSpace(s)
	if len(g) >= 5 && strings.EqualFold(g[:5], "stage") {
		rest := g[5:]
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			return CancerStage{}, false
		}
		g = strings.TrimSpace(rest)
	}
	if g == "" {
		return CancerStage{}, false
	}
	for i := 0; i < len(g); i++ {
		if g[i] >= 0x80 {
			return CancerStage{}, false
		}
	}
	lower := strings.ToLower(g)
	switch lower {
	case "0", "0a", "0is":
		return CancerStage{Group: g, InSitu: true}, true
	case "is":
		return CancerStage{Group: g, Invasive: true}, true
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
