package policy

import (
	"strings"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/terminology"
)

// Code systems (reference/clinical-criteria.md 3, "System URIs").
// ICD-10-CM codes are matched only under SystemICD10.
const (
	SystemICD10  = terminology.SystemICD10CM
	SystemSNOMED = terminology.SystemSNOMED
	SystemLOINC  = terminology.SystemLOINC
	SystemRxNorm = terminology.SystemRxNorm
	SystemCPT    = terminology.SystemCPT
	SystemDICOM  = "http://dicom.nema.org/resources/ontology/DCM"
)

// Coding is one coded value as the facts step gives it (no FHIR types):
// system, code and display.
type Coding struct {
	// System is the code system URI.
	System string
	// Code is the code.
	Code string
	// Display is the human name the chart or value set gives, when known.
	Display string
}

// Codes names a value set by canonical URL: `valueset:` in YAML, with an
// optional `source:` saying why the policy uses it. The set is resolved
// against the value set registry when the policy is loaded; loading fails
// when it is missing or empty.
type Codes struct {
	// ValueSet is the canonical URL of a FHIR ValueSet
	// (https://lumbar-mri-cds.github.io/fhir/ValueSet/<name> for the
	// shipped ones; an operator's folder may add others).
	ValueSet string `yaml:"valueset"`
	// Source cites why the policy uses the set here (the codes' own sources
	// are in the ValueSet resource).
	Source string `yaml:"source"`

	set *terminology.Set
}

// Empty reports whether no value set is named.
func (c *Codes) Empty() bool { return c == nil || strings.TrimSpace(c.ValueSet) == "" }

// Set returns the resolved value set; nil before the policy is loaded.
func (c *Codes) Set() *terminology.Set {
	if c == nil {
		return nil
	}
	return c.set
}

// Match reports whether system and code are in the value set. ICD-10-CM
// codes are compared without dots and case.
func (c *Codes) Match(system, code string) bool {
	if c == nil {
		return false
	}
	return c.set.Contains(system, code)
}

// MatchAny returns the first coding in the value set.
func (c *Codes) MatchAny(codings []Coding) (Coding, bool) {
	for _, cd := range codings {
		if cd.System != "" && cd.Code != "" && c.Match(cd.System, cd.Code) {
			return cd, true
		}
	}
	return Coding{}, false
}

type ingredientRef struct {
	kind TherapyKind
	ing  Ingredient
	name string // lower case
}

// index holds the policy's compiled therapy lookups.
type index struct {
	byRxNorm map[string]ingredientRef
	names    []ingredientRef
	classes  []ClassRef // counted classes only
}

func (p *Policy) buildIndex() {
	ix := &index{byRxNorm: map[string]ingredientRef{}}
	for _, c := range p.ConservativeTherapy.Classes.All() {
		if !c.Class.Counts {
			continue
		}
		ix.classes = append(ix.classes, c)
		for _, ing := range c.Class.Ingredients {
			r := ingredientRef{kind: c.Kind, ing: ing, name: strings.ToLower(strings.TrimSpace(ing.Name))}
			if _, dup := ix.byRxNorm[ing.RxNorm]; !dup {
				ix.byRxNorm[ing.RxNorm] = r
			}
			ix.names = append(ix.names, r)
		}
		ix.names = append(ix.names, brandNames(c)...)
	}
	p.idx = ix
}

// brandNames are the brand names of a class's single-ingredient products
// as its medication value set writes them: RxNorm gives a branded drug
// (SBD) the display "Naproxen 500 MG Oral Tablet [Naprosyn]", the
// ingredient first and the brand in brackets. A note that names the brand
// ("Mobic 15 mg daily for 8 weeks") names the ingredient. Products of
// several ingredients ("... / ..."), and brands that are also an
// ingredient's name, are left out.
func brandNames(c ClassRef) []ingredientRef {
	var out []ingredientRef
	seen := map[string]bool{}
	for _, ing := range c.Class.Ingredients {
		seen[strings.ToLower(ing.Name)] = true
	}
	for _, d := range c.Class.Medications.Set().Displays() {
		open, end := strings.LastIndexByte(d, '['), strings.LastIndexByte(d, ']')
		if open < 0 || end != len(d)-1 || strings.Contains(d[:open], "/") {
			continue
		}
		brand := strings.ToLower(strings.TrimSpace(d[open+1 : end]))
		if brand == "" || seen[brand] {
			continue
		}
		lower := strings.ToLower(d)
		for _, ing := range c.Class.Ingredients {
			if strings.HasPrefix(lower, strings.ToLower(ing.Name)+" ") {
				seen[brand] = true
				out = append(out, ingredientRef{kind: c.Kind, ing: ing, name: brand})
				break
			}
		}
	}
	return out
}

// Class returns the therapy class of a kind.
func (p *Policy) Class(k TherapyKind) *TherapyClass {
	for _, c := range p.ConservativeTherapy.Classes.All() {
		if c.Kind == k {
			return c.Class
		}
	}
	return nil
}

// ingredientNamed returns the class's first ingredient named in a lower-case
// display, or the zero Ingredient.
func (p *Policy) ingredientNamed(kind TherapyKind, display string) Ingredient {
	for _, r := range p.idx.names {
		if r.kind == kind && r.name != "" && containsWord(display, r.name) {
			return r.ing
		}
	}
	return Ingredient{}
}

// containsWord reports whether w occurs in s with no letter directly before
// or after it.
func containsWord(s, w string) bool {
	for off := 0; ; {
		i := strings.Index(s[off:], w)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(w)
		if (i == 0 || !isLetter(s[i-1])) && (end == len(s) || !isLetter(s[end])) {
			return true
		}
		off = i + 1
	}
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// isDigits reports whether s is min to max ASCII digits.
func isDigits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
