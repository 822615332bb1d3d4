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

// emergency is one finding that calls for emergent imaging, with the
// guidance that says so.
type emergency struct{ label, source string }

const (
	acrVariant4 = "ACR Appropriateness Criteria, Low Back Pain (2021), variant 4"
	acp2011     = "ACP high-value care advice (Chou 2011), Table 2"
)

// emergencies returns the findings that call for emergent imaging, in the
// assessment's order.
func emergencies(a *criteria.Assessment, pol *policy.Policy) []emergency {
	var out []emergency
	for _, f := range a.Findings {
		switch {
		case f.Code == criteria.RedFlagCaudaEquina || f.Code == RedFlagCordCompression:
			out = append(out, emergency{redFlagLabel(pol, f.Code), acrVariant4 + "; " + acp2011})
		case emergentFindings[f.Code]:
			out = append(out, emergency{redFlagLabel(pol, f.Code), acp2011})
		case f.Code == criteria.RedFlagInfection && epiduralAbscess(f.Evidence):
			out = append(out, emergency{"Suspected spinal epidural abscess", acp2011})
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
	var labels, sources, ids []string
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
		for _, e := range found {
			if !seen[e.label] {
				seen[e.label] = true
				labels = append(labels, e.label)
			}
			for _, s := range strings.Split(e.source, "; ") {
				if !seen[s] {
					seen[s] = true
					sources = append(sources, s)
				}
			}
		}
	}
	if n == 0 {
		return
	}
	list := strings.Join(labels, "; ")
	b.add(TopicClinicalReminder, "Clinical reminder", hooks.Card{
		// The action first: summary() clips the end, and with several
		// emergencies the list may not fit.
		Summary: "Emergent MRI, do not wait for prior authorization: " + list,
		Detail: "**Emergent imaging is indicated:** " + mdEscape(list) + " (the evidence is on the coverage card).\n\n" +
			"Arrange the MRI and a same-day surgical assessment now. Emergency imaging does not need prior authorization first; submit the documentation afterwards.\n\n" +
			"*" + strings.Join(sources, "; ") + ".*",
		Indicator: hooks.IndicatorCritical,
	}, ids...)
}

// redFlagLabel names a red-flag finding in plain words: the policy's label
// for it, else the code's display.
func redFlagLabel(pol *policy.Policy, code string) string {
	if rf := policyRedFlag(pol, code); rf != nil && rf.Label != "" {
		return rf.Label
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
	if rf := policyRedFlag(pol, code); rf != nil {
		return rf.Source
	}
	return ""
}

// policyRedFlag is the policy's red flag whose finding code is code, or nil.
func policyRedFlag(pol *policy.Policy, code string) *policy.RedFlag {
	if pol == nil {
		return nil
	}
	for _, rf := range pol.RedFlags.All() {
		if criteria.RedFlagCode(rf.Kind) == code {
			return rf.Flag
		}
	}
	return nil
}
