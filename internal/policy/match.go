package policy

import "strings"

// TherapyMatch is a procedure or medication recognised as a counted therapy
// class.
type TherapyMatch struct {
	// Kind is the therapy class.
	Kind TherapyKind
	// Ingredient is the class's ingredient the match names (medications
	// only): the one whose code or name the matched code's display or the
	// text carries; the zero value when a product code matched and its
	// display names no listed ingredient.
	Ingredient Ingredient
	// Coding is the coding that matched, its display from the chart or else
	// from the value set; empty when matched by name.
	Coding Coding
	// ByName marks the text fallback: no code of the medication is in a
	// class's value set, but an ingredient name was found as a word in the
	// medication's text or a coding display.
	ByName bool
}

// MatchTherapyProcedure reports whether a procedure's codings belong to a
// counted therapy class (the class's procedure value set).
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
// therapy class: by any of its RxNorm codes (ingredient, clinical drug,
// branded drug or pack) in a class's medication value set first; failing
// that, by an ingredient name of a counted class found as a word,
// case-insensitively, in texts (the medication's text) or a coding display,
// marked ByName (the text fallback is named in the answer).
func (p *Policy) MatchTherapyMedication(codings []Coding, texts ...string) (TherapyMatch, bool) {
	if p.idx == nil {
		return TherapyMatch{}, false
	}
	for _, cd := range codings {
		if cd.System != SystemRxNorm || cd.Code == "" {
			continue
		}
		code := strings.TrimSpace(cd.Code)
		for _, c := range p.idx.classes {
			if !c.Class.Medications.Match(SystemRxNorm, code) {
				continue
			}
			m := TherapyMatch{Kind: c.Kind, Coding: Coding{System: SystemRxNorm, Code: code, Display: cd.Display}}
			if m.Coding.Display == "" {
				m.Coding.Display = c.Class.Medications.Set().Display(SystemRxNorm, code)
			}
			if r, ok := p.idx.byRxNorm[code]; ok && r.kind == c.Kind {
				m.Ingredient = r.ing
			} else {
				m.Ingredient = p.ingredientNamed(c.Kind, strings.ToLower(m.Coding.Display))
			}
			return m, true
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

// TherapyOtherNameIn returns the label of a counted therapy class one of
// whose other names occurs as words in text, and that name ("physical
// therapy", "movement therapy"); "" when none does. The answer names such
// an entry; it never counts.
func (p *Policy) TherapyOtherNameIn(text string) (label, name string) {
	t := strings.ToLower(text)
	for _, c := range p.ConservativeTherapy.Classes.All() {
		if !c.Class.Counts || c.Class.Label == "" {
			continue
		}
		for _, n := range c.Class.OtherNames {
			if n != "" && containsWord(t, strings.ToLower(n)) {
				return c.Class.Label, n
			}
		}
	}
	return "", ""
}

// MatchUncountedTherapy reports whether a procedure or medication belongs to
// a therapy class the policy lists but does not count (gabapentinoids by
// default): by code in the class's value sets, or by an ingredient name of
// the class found as a word in texts or a coding display. It returns the
// class's label and, when a code matched, the value set's display for that
// code ("" otherwise), so an entry coded without a display is still named
// in words. The answer names such entries rather than dropping them.
func (p *Policy) MatchUncountedTherapy(codings []Coding, texts ...string) (label, display string, ok bool) {
	for _, cd := range codings {
		texts = append(texts, cd.Display)
	}
	for _, c := range p.ConservativeTherapy.Classes.All() {
		if c.Class.Counts {
			continue
		}
		if cd, ok := c.Class.Procedures.MatchAny(codings); ok {
			return c.Class.Label, c.Class.Procedures.Set().Display(cd.System, cd.Code), true
		}
		for _, cd := range codings {
			if code := strings.TrimSpace(cd.Code); cd.System == SystemRxNorm && c.Class.Medications.Match(SystemRxNorm, code) {
				return c.Class.Label, c.Class.Medications.Set().Display(SystemRxNorm, code), true
			}
		}
		for _, t := range texts {
			t = strings.ToLower(t)
			for _, ing := range c.Class.Ingredients {
				if n := strings.ToLower(strings.TrimSpace(ing.Name)); n != "" && containsWord(t, n) {
					return c.Class.Label, "", true
				}
			}
		}
	}
	return "", "", false
}
