package cards

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"

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
		return fmt.Sprintf("The chart documents %s of conservative therapy (at least %d required).", nDays(a.TherapyDays), a.TherapyRequiredDays)
	case criteria.CriteriaIndeterminate:
		if f := a.Finding(criteria.OtherPatientData); f != nil {
			return f.Text
		}
		return "Part of the chart could not be " + strings.TrimPrefix(notRetrieved(a), "not ") + " (" + strings.Join(a.Unchecked, ", ") + "), so the criteria could not be checked."
	default:
		return "The chart does not yet document what prior authorization for lumbar MRI requires; to add: " + strings.Join(missing(a), "; ") + "."
	}
}

// missing lists, in plain words, what an unmet order needs added.
func missing(a *criteria.Assessment) []string {
	if a.Has(criteria.PriorLumbarMRI) {
		// With a prior lumbar MRI in the window only a red flag dated after it
		// meets the criteria (DECISIONS.md, "Outcome").
		return []string{"a red flag or clinical change documented after the lumbar MRI within the repeat window"}
	}
	var out []string
	req := a.TherapyRequiredDays
	for _, f := range a.Findings {
		switch f.Code {
		case criteria.IndicationMissing:
			out = append(out, "a back-pain or radiculopathy diagnosis, or a red flag")
		case criteria.ConservativeTherapyMissing:
			if len(redFlags(a)) == 0 {
				out = append(out, fmt.Sprintf("at least %s of conservative therapy (none documented)", nDays(req)))
			}
		case criteria.ConservativeTherapyInsufficient:
			if a.TherapyDays < req {
				out = append(out, fmt.Sprintf("%s of conservative therapy (%d required)", moreDays(req-a.TherapyDays), req))
			} else {
				out = append(out, "the rest of the conservative-therapy rule")
			}
		case criteria.XrayMissing:
			out = append(out, "lumbar radiographs first")
		}
	}
	if len(out) == 0 {
		out = append(out, "a red flag or a completed conservative-therapy trial")
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

// mdEscaper is built once: a Replacer is safe for concurrent use and never
// changes, and building one per call was a quarter of a call's allocations.
//
// Besides the inline characters (emphasis, code, links, HTML): the
// backslash itself (or "\\[" would leave a real bracket), "&" (or a character
// reference such as "&#x202E;" would put back the bidirectional override
// chart.OneLine took out), "~" (GFM strikethrough), "#" and "|" (a heading
// or a table cell where the text starts a line), and GFM's autolinks: "://"
// and "www." get an escape, "@" a word joiner (U+2060) after it, so no URL
// or e-mail address in chart text becomes a link (CommonMark 0.30 2.4,
// backslash escapes; GFM 0.29 extensions 6.5 and 6.9).
var mdEscaper = strings.NewReplacer("\\", "\\\\", "&", "&amp;", "<", "&lt;", ">", "&gt;", "*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]", "`", "\\`",
	"~", "\\~", "#", "\\#", "|", "\\|", "://", "\\://", "www.", "www\\.", "WWW.", "WWW\\.", "@", "@\u2060")

// mdEscape keeps chart-derived text from being read as markdown or HTML:
// markdown's inline characters are escaped, and line breaks (which would let
// a display start a heading, a list or a quote) and other control or
// bidirectional-override characters become spaces or go (chart.OneLine).
//
// Text longer than maxMarkdownText characters is cut there with "…": chart
// displays are cut by the facts step already (chart.MaxText), this bounds
// what else a card quotes whole (a payer's name, a study description).
func mdEscape(s string) string {
	return mdEscaper.Replace(chart.Clip(chart.OneLine(s), maxMarkdownText))
}

// maxMarkdownText bounds one piece of markdown-escaped text; a sentence
// made of several chart displays stays under it.
const maxMarkdownText = 4000

// clipText cuts one piece of chart text in the form as the facts do.
func clipText(s string) string { return chart.Clip(s, chart.MaxText) }

// summary clips a summary to CDS Hooks' limit of fewer than 140 characters.
func summary(s string) string {
	s = chart.OneLine(s)
	r := []rune(s)
	if len(r) < 140 {
		return s
	}
	return string(r[:138]) + "…"
}

// mdUnescaper undoes mdEscape for plain-text output.
var mdUnescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "\\\\", "\\", "\\*", "*", "\\_", "_", "\\[", "[", "\\]", "]", "\\`", "`",
	"\\~", "~", "\\#", "#", "\\|", "|", "\\:", ":", "\\.", ".", "@\u2060", "@")

// plain turns one line of card markdown into plain text: bold markers and
// whole-line emphasis are dropped, escapes undone.
func plain(line string) string {
	line = strings.ReplaceAll(line, "**", "")
	if t := strings.TrimSpace(line); len(t) > 2 && strings.HasPrefix(t, "*") && strings.HasSuffix(t, "*") && !strings.HasSuffix(t, "\\*") {
		line = strings.TrimSuffix(strings.TrimPrefix(t, "*"), "*")
	}
	return mdUnescaper.Replace(line)
}

// WriteText writes cards as a clinician would read them, in plain text:
// indicator and summary, source and card type, the detail, the suggestions
// with what each would do, override reasons and links.
func WriteText(w io.Writer, cards []hooks.Card) error {
	bw := bufio.NewWriter(w)
	for i, c := range cards {
		if i > 0 {
			bw.WriteString("\n")
		}
		fmt.Fprintf(bw, "[%s] %s\n", strings.ToUpper(c.Indicator), c.Summary)
		from := "  Source: " + c.Source.Label
		if c.Source.Topic != nil {
			from += " · card type " + c.Source.Topic.Code
		}
		if refs := associated(c); refs != "" {
			from += " · about " + refs
		}
		bw.WriteString(from + "\n")
		if c.Detail != "" {
			bw.WriteString("\n")
			blank := false
			for _, line := range strings.Split(c.Detail, "\n") {
				line = plain(line)
				if strings.TrimSpace(line) == "" {
					blank = true
					continue
				}
				if blank {
					bw.WriteString("\n")
					blank = false
				}
				bw.WriteString("    " + line + "\n")
			}
		}
		if len(c.Suggestions) > 0 {
			how := "choose at most one"
			if c.SelectionBehavior == "any" {
				how = "any may be accepted"
			}
			fmt.Fprintf(bw, "\n  Suggestions (%s):\n", how)
			for _, s := range c.Suggestions {
				rec := ""
				if s.IsRecommended {
					rec = " [recommended]"
				}
				fmt.Fprintf(bw, "  * %s%s\n", s.Label, rec)
				for _, a := range s.Actions {
					fmt.Fprintf(bw, "      %s %s: %s\n", a.Type, resourceType(a), a.Description)
				}
			}
		}
		if len(c.OverrideReasons) > 0 {
			var rs []string
			for _, o := range c.OverrideReasons {
				rs = append(rs, o.Display)
			}
			fmt.Fprintf(bw, "\n  Override reasons: %s\n", strings.Join(rs, "; "))
		}
		if len(c.Links) > 0 {
			bw.WriteString("\n  Links:\n")
			for _, l := range c.Links {
				fmt.Fprintf(bw, "  - %s: %s\n", l.Label, l.URL)
			}
		}
	}
	return bw.Flush()
}

// associated lists the orders a card is about ("ServiceRequest/sr-1").
func associated(c hooks.Card) string {
	var refs []reference
	_ = json.Unmarshal(c.Extension["davinci-crd.associated-resource"], &refs)
	var out []string
	for _, r := range refs {
		out = append(out, r.Reference)
	}
	return strings.Join(out, ", ")
}

// resourceType names what an action acts on.
func resourceType(a hooks.Action) string {
	if a.ResourceID != "" {
		return a.ResourceID
	}
	var r struct {
		ResourceType string `json:"resourceType"`
	}
	_ = json.Unmarshal(a.Resource, &r)
	if r.ResourceType == "" {
		return "resource"
	}
	return r.ResourceType
}
