package cards

import (
	"strings"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// RedFlagCordCompression is the finding code the criteria may use for
// suspected spinal cord compression when it is not reported under
// red-flag-cauda-equina.
const RedFlagCordCompression = "red-flag-cord-compression"

// emergentFindings are the red flags for which imaging must not wait for
// prior authorization: ACR Appropriateness Criteria, Low Back Pain (2021),
// variant 4 (suspected cauda equina syndrome); ACP high-value care advice
// (Chou 2011), Table 2, immediate imaging for cauda equina syndrome and for
// severe or progressive neurologic deficits.
var emergentFindings = map[string]bool{
	criteria.RedFlagCaudaEquina:       true,
	RedFlagCordCompression:            true,
	criteria.RedFlagNeurologicDeficit: true,
}

// epiduralAbscessICD10 are the ICD-10-CM codes of spinal epidural abscess
// (G06.1 intraspinal abscess and granuloma, G06.2 extradural and subdural
// abscess; DECISIONS.md, "Red flags"), matched as prefixes without dots.
// Among the infection red flag's evidence they call for emergent imaging
// (ACP high-value care advice, Chou 2011, Table 2: immediate MRI).
var epiduralAbscessICD10 = []string{"G061", "G062"}

// emergencies returns the labels of the findings that call for emergent
// imaging, in the assessment's order.
func emergencies(a *criteria.Assessment, pol *policy.Policy) []string {
	var out []string
	for _, f := range a.Findings {
		switch {
		case emergentFindings[f.Code]:
			out = append(out, redFlagLabel(pol, f.Code))
		case f.Code == criteria.RedFlagInfection && epiduralAbscess(f.Evidence):
			out = append(out, "Suspected spinal epidural abscess")
		}
	}
	return out
}

func epiduralAbscess(ev []criteria.Evidence) bool {
	for _, e := range ev {
		if e.Code.System != policy.SystemICD10 {
			continue
		}
		code := strings.ToUpper(strings.ReplaceAll(e.Code.Code, ".", ""))
		for _, p := range epiduralAbscessICD10 {
			if strings.HasPrefix(code, p) {
				return true
			}
		}
	}
	return false
}

// critical adds one critical card for the orders whose chart calls for
// emergent imaging. It names the red flags only: their evidence is on each
// order's coverage card (no evidence twice).
func (b *builder) critical() {
	b.emergent = map[string]bool{}
	if b.in.Config.Disabled[TopicClinicalReminder] {
		return
	}
	var labels, ids []string
	seen := map[string]bool{}
	n := 0
	for i := range b.in.Orders {
		a := &b.in.Orders[i].Assessment
		found := emergencies(a, b.in.Policy)
		if len(found) == 0 {
			continue
		}
		n++
		b.emergent[a.Order.ID] = true
		ids = append(ids, a.Order.ID)
		for _, l := range found {
			if !seen[l] {
				seen[l] = true
				labels = append(labels, l)
			}
		}
	}
	if n == 0 {
		return
	}
	list := strings.Join(labels, "; ")
	b.add(TopicClinicalReminder, "Clinical reminder", hooks.Card{
		Summary: list + ": emergent MRI, do not wait for prior authorization",
		Detail: "**Emergent imaging is indicated:** " + mdEscape(list) + " (the evidence is on the coverage card).\n\n" +
			"Arrange the MRI and a same-day surgical assessment now. Emergency imaging does not need prior authorization first; submit the documentation afterwards.\n\n" +
			"*ACR Appropriateness Criteria, Low Back Pain (2021), variant 4; ACP high-value care advice (Chou 2011), Table 2.*",
		Indicator: hooks.IndicatorCritical,
	}, ids...)
}

// redFlagLabel names a red-flag finding in plain words: the policy's label
// for it (finding red-flag-x-y is the policy's red flag x_y), else the
// code's display.
func redFlagLabel(pol *policy.Policy, code string) string {
	if pol != nil {
		for _, rf := range pol.RedFlags.All() {
			if "red-flag-"+strings.ReplaceAll(string(rf.Kind), "_", "-") == code && rf.Flag.Label != "" {
				return rf.Flag.Label
			}
		}
	}
	if d := Display(code); d != code {
		return strings.TrimPrefix(d, "Red flag: ")
	}
	name := strings.ReplaceAll(strings.TrimPrefix(code, "red-flag-"), "-", " ")
	if name == "" {
		return code
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// redFlagSource is the policy's citation for a red-flag finding, or "".
func redFlagSource(pol *policy.Policy, code string) string {
	if pol != nil {
		for _, rf := range pol.RedFlags.All() {
			if "red-flag-"+strings.ReplaceAll(string(rf.Kind), "_", "-") == code {
				return rf.Flag.Source
			}
		}
	}
	return ""
}
