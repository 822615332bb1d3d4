package cards

import (
	"fmt"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
)

// displays are the human names of the outcome codes (the project's code
// system, see README "Outcome codes").
var displays = map[string]string{
	criteria.CriteriaMet:                     "Documentation meets the lumbar MRI criteria",
	criteria.CriteriaNotMet:                  "Documentation does not meet the lumbar MRI criteria",
	criteria.CriteriaIndeterminate:           "Documentation could not be checked",
	criteria.RedFlagCaudaEquina:              "Red flag: cauda equina syndrome or cord compression",
	criteria.RedFlagNeurologicDeficit:        "Red flag: severe or progressive neurological deficit",
	criteria.RedFlagMalignancy:               "Red flag: known or suspected malignancy",
	criteria.RedFlagInfection:                "Red flag: suspected spinal infection",
	criteria.RedFlagFracture:                 "Red flag: vertebral fracture",
	criteria.RedFlagPriorSurgery:             "Red flag: prior lumbar surgery",
	criteria.ConservativeTherapyMet:          "Conservative therapy trial met",
	criteria.ConservativeTherapyInsufficient: "Conservative therapy shorter than required",
	criteria.ConservativeTherapyMissing:      "No conservative therapy documented",
	criteria.PriorLumbarMRI:                  "Lumbar MRI within the repeat-imaging window",
	criteria.XrayMissing:                     "Lumbar radiographs required first",
	criteria.ContrastReview:                  "Contrast variant differs from the guideline",
	criteria.IndicationMissing:               "No back-pain or radiculopathy diagnosis",
}

// Display returns the display of an outcome or finding code.
func Display(code string) string {
	if d, ok := displays[code]; ok {
		return d
	}
	return code
}

// Codes returns every code of the project's outcome code system, assessment
// codes first.
func Codes() []string {
	return []string{
		criteria.CriteriaMet, criteria.CriteriaNotMet, criteria.CriteriaIndeterminate,
		criteria.RedFlagCaudaEquina, criteria.RedFlagNeurologicDeficit, criteria.RedFlagMalignancy,
		criteria.RedFlagInfection, criteria.RedFlagFracture, criteria.RedFlagPriorSurgery,
		criteria.ConservativeTherapyMet, criteria.ConservativeTherapyInsufficient, criteria.ConservativeTherapyMissing,
		criteria.PriorLumbarMRI, criteria.XrayMissing, criteria.ContrastReview, criteria.IndicationMissing,
	}
}

func isRedFlag(code string) bool { return strings.HasPrefix(code, "red-flag-") }

func redFlags(a *criteria.Assessment) []criteria.Finding {
	var out []criteria.Finding
	for _, f := range a.Findings {
		if isRedFlag(f.Code) {
			out = append(out, f)
		}
	}
	return out
}

// outcomeText is the plain-words text of the assessment code for this order.
func outcomeText(a *criteria.Assessment) string {
	switch a.Outcome {
	case criteria.CriteriaMet:
		if rf := redFlags(a); len(rf) > 0 {
			return "The chart documents a red flag (" + lower(Display(rf[0].Code)) + "), which supports lumbar MRI without a conservative-therapy trial."
		}
		return fmt.Sprintf("The chart documents %d days of conservative therapy (at least %d required).", a.TherapyDays, a.TherapyRequiredDays)
	case criteria.CriteriaIndeterminate:
		return "Part of the chart could not be retrieved (" + strings.Join(a.Unchecked, ", ") + "), so the criteria could not be checked."
	default:
		return "The chart does not yet document what prior authorization for lumbar MRI requires: " + strings.Join(missing(a), "; ") + "."
	}
}

// missing lists, in plain words, what blocks the order.
func missing(a *criteria.Assessment) []string {
	var out []string
	for _, f := range a.Findings {
		switch f.Code {
		case criteria.IndicationMissing:
			out = append(out, "no back-pain or radiculopathy diagnosis and no red flag")
		case criteria.ConservativeTherapyMissing:
			if len(redFlags(a)) == 0 {
				out = append(out, fmt.Sprintf("no conservative therapy documented (%d days required)", a.TherapyRequiredDays))
			}
		case criteria.ConservativeTherapyInsufficient:
			out = append(out, fmt.Sprintf("%d of %d days of conservative therapy", a.TherapyDays, a.TherapyRequiredDays))
		case criteria.PriorLumbarMRI:
			out = append(out, "a lumbar MRI was already done within the repeat window")
		case criteria.XrayMissing:
			out = append(out, "lumbar radiographs must come first")
		}
	}
	if len(out) == 0 {
		out = append(out, "no red flag and no completed conservative-therapy trial")
	}
	return out
}

func lower(s string) string {
	if i := strings.Index(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func day(t *time.Time) string {
	if t == nil {
		return "undated"
	}
	return t.UTC().Format(time.DateOnly)
}

// evidenceLines renders a finding's evidence as markdown list items.
func evidenceLines(f criteria.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- %s\n", mdEscape(f.Text))
	for _, e := range f.Evidence {
		if e.FromNote {
			// A finding read in a clinical note: marked as such, with the
			// note's date as recorded and its words (DECISIONS.md "Notes").
			when := e.DateText
			if when == "" {
				when = day(e.Date)
			}
			fmt.Fprintf(&b, "  - From a note (%s, %s): %s: \u201c%s\u201d\n", when, mdEscape(e.Source), mdEscape(e.Display), mdEscape(e.Quote))
			continue
		}
		name := e.Display
		if name == "" {
			name = e.Code.Code
		}
		fmt.Fprintf(&b, "  - %s (%s, %s)\n", mdEscape(name), day(e.Date), mdEscape(e.Source))
	}
	return b.String()
}

// mdEscaper is built once: a Replacer is safe for concurrent use and never
// changes, and building one per call was a quarter of a call's allocations.
var mdEscaper = strings.NewReplacer("<", "&lt;", ">", "&gt;", "*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]", "`", "\\`")

// mdEscape keeps chart-derived text from being read as markdown or HTML.
func mdEscape(s string) string { return mdEscaper.Replace(s) }

// summary clips a summary to CDS Hooks' limit of fewer than 140 characters.
func summary(s string) string {
	r := []rune(s)
	if len(r) < 140 {
		return s
	}
	return string(r[:138]) + "…"
}
