package policy

import "strings"

// Coding is one coded value as the facts step gives it (no FHIR types):
// system, code and display.
type Coding struct {
	System, Code, Display string
}

// TherapyMatch is a procedure or medication recognised as a counted therapy
// class.
type TherapyMatch struct {
	// Kind is the therapy class.
	Kind TherapyKind
	// Ingredient is the matched ingredient (medications only).
	Ingredient Ingredient
	// Coding is the coding that matched; empty when matched by name.
	Coding Coding
	// ByName marks the text fallback: the ingredient name was found in the
	// medication's text or a coding display, not its code.
	ByName bool
}

// MatchAny returns the first coding in the set.
func (c *Codes) MatchAny(codings []Coding) (Coding, bool) {
	for _, cd := range codings {
		if cd.System != "" && cd.Code != "" && c.Match(cd.System, cd.Code) {
			return cd, true
		}
	}
	return Coding{}, false
}

// MatchTherapyProcedure reports whether a procedure's codings belong to a
// counted therapy class.
func (p *Policy) MatchTherapyProcedure(codings []Coding) (TherapyMatch, bool) {
	if p.idx == nil {
		return TherapyMatch{}, false
	}
	for _, c := range p.idx.classes {
		if cd, ok := c.Class.Procedures.MatchAny(codings); ok {
			return TherapyMatch{Kind: c.Kind, Coding: cd}, true
		}
	}
	return TherapyMatch{}, false
}

// MatchTherapyMedication reports whether a medication belongs to a counted
// therapy class: by its RxNorm code first, then by an ingredient name found
// as a word in texts (the medication's text and coding displays), marked
// ByName (DECISIONS.md "Building and testing here": the text fallback is
// named in the answer).
func (p *Policy) MatchTherapyMedication(codings []Coding, texts ...string) (TherapyMatch, bool) {
	if p.idx == nil {
		return TherapyMatch{}, false
	}
	for _, cd := range codings {
		if cd.System != SystemRxNorm {
			continue
		}
		if r, ok := p.idx.byRxNorm[strings.TrimSpace(cd.Code)]; ok {
			return TherapyMatch{Kind: r.kind, Ingredient: r.ing, Coding: cd}, true
		}
	}
	for _, cd := range codings {
		texts = append(texts, cd.Display)
	}
	for _, t := range texts {
		t = strings.ToLower(t)
		for _, r := range p.idx.names {
			if r.name != "" && containsWord(t, r.name) {
				return TherapyMatch{Kind: r.kind, Ingredient: r.ing, ByName: true}, true
			}
		}
	}
	return TherapyMatch{}, false
}

// TherapyLabelIn returns the label of a counted therapy class whose label
// occurs as words in text ("physical therapy"), for entries recorded as text
// only; "" when none does.
func (p *Policy) TherapyLabelIn(text string) string {
	t := strings.ToLower(text)
	for _, c := range p.ConservativeTherapy.Classes.All() {
		if c.Class.Counts && c.Class.Label != "" && containsWord(t, strings.ToLower(c.Class.Label)) {
			return c.Class.Label
		}
	}
	return ""
}
