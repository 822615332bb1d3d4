package policy

import (
	"fmt"
	"strings"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
	"gopkg.in/yaml.v3"
)

// Code systems (reference/clinical-criteria.md 3, "System URIs").
// ICD-10-CM codes are matched only under SystemICD10.
const (
	SystemICD10  = "http://hl7.org/fhir/sid/icd-10-cm"
	SystemSNOMED = "http://snomed.info/sct"
	SystemLOINC  = "http://loinc.org"
	SystemRxNorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
	SystemCPT    = "http://www.ama-assn.org/go/cpt"
	SystemDICOM  = "http://dicom.nema.org/resources/ontology/DCM"
)

// Code is one code in a code list. In YAML it is either a bare scalar
// ("G83.4") or a mapping {code, display, verified}.
type Code struct {
	// Code is the code. ICD-10-CM codes may be written with or without the
	// dot; in icd10 lists a code is a prefix ("M54.5" matches M54.50) and
	// "C00-C96" is a range of prefixes of equal length.
	Code string `yaml:"code"`
	// Display is an optional human name, for the reader of the file.
	Display string `yaml:"display"`
	// Verified is false for codes the reference marks [K] (from knowledge,
	// unverified: check against a terminology server before release). The
	// code still counts. Defaults to true.
	Verified *bool `yaml:"verified"`
	line     int
}

// UnmarshalYAML accepts a scalar or a mapping with the keys code, display and
// verified (unknown keys are errors).
func (c *Code) UnmarshalYAML(n *yaml.Node) error {
	c.line = n.Line
	switch n.Kind {
	case yaml.ScalarNode:
		c.Code = strings.TrimSpace(n.Value)
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: %s must be a scalar", v.Line, k.Value)
			}
			switch k.Value {
			case "code":
				c.Code = strings.TrimSpace(v.Value)
			case "display":
				c.Display = v.Value
			case "verified":
				var b bool
				if err := v.Decode(&b); err != nil {
					return fmt.Errorf("line %d: verified must be true or false", v.Line)
				}
				c.Verified = &b
			default:
				return fmt.Errorf("line %d: field %s not found in a code entry", k.Line, k.Value)
			}
		}
		return nil
	default:
		return fmt.Errorf("line %d: a code must be a scalar or a mapping", n.Line)
	}
}

// Codes is a code set across code systems. ICD-10-CM entries match by
// prefix, ignoring dots and case; SNOMED CT, CPT, LOINC and RxNorm entries
// match exactly.
type Codes struct {
	// ICD10 are ICD-10-CM prefixes or prefix ranges ("C00-C96").
	ICD10 []Code `yaml:"icd10"`
	// ExcludeICD10 are ICD-10-CM prefixes or ranges that never match, even
	// when ICD10 covers them ("C44": skin cancers other than melanoma).
	ExcludeICD10 []Code `yaml:"exclude_icd10"`
	// SNOMED are SNOMED CT concept ids.
	SNOMED []Code `yaml:"snomed"`
	// CPT are CPT codes.
	CPT []Code `yaml:"cpt"`
	// LOINC are LOINC codes.
	LOINC []Code `yaml:"loinc"`
	// RxNorm are RxNorm codes.
	RxNorm []Code `yaml:"rxnorm"`
	// Source cites where the codes and the rule come from.
	Source string `yaml:"source"`

	set *codeSet
}

// Empty reports whether the set has no codes.
func (c *Codes) Empty() bool {
	return len(c.ICD10)+len(c.SNOMED)+len(c.CPT)+len(c.LOINC)+len(c.RxNorm) == 0
}

// Match reports whether system and code are in the set. The set must have
// been compiled (policies from Load, Parse and Default are).
func (c *Codes) Match(system, code string) bool {
	if c == nil || c.set == nil {
		return false
	}
	return c.set.match(system, code)
}

// MatchConcept returns the first coding of cc in the set.
func (c *Codes) MatchConcept(cc *r4.CodeableConcept) (r4.Coding, bool) {
	if cc == nil {
		return r4.Coding{}, false
	}
	for _, cd := range cc.Coding {
		if cd.System != nil && cd.Code != nil && c.Match(*cd.System, *cd.Code) {
			return cd, true
		}
	}
	return r4.Coding{}, false
}

// MatchCoding reports whether one coding is in the set.
func (c *Codes) MatchCoding(cd *r4.Coding) bool {
	return cd != nil && cd.System != nil && cd.Code != nil && c.Match(*cd.System, *cd.Code)
}

// icdPattern is a prefix (lo == hi) or a range of prefixes of equal length.
type icdPattern struct{ lo, hi string }

func (p icdPattern) match(code string) bool {
	if len(code) < len(p.lo) {
		return false
	}
	c := code[:len(p.lo)]
	return c >= p.lo && c <= p.hi
}

type codeSet struct {
	exact      map[string]struct{}
	icd        []icdPattern
	icdExclude []icdPattern
}

func (s *codeSet) match(system, code string) bool {
	if system == SystemICD10 {
		n := NormalizeICD10(code)
		for _, p := range s.icdExclude {
			if p.match(n) {
				return false
			}
		}
		for _, p := range s.icd {
			if p.match(n) {
				return true
			}
		}
		return false
	}
	_, ok := s.exact[system+"|"+strings.TrimSpace(code)]
	return ok
}

// NormalizeICD10 removes dots and spaces and upper-cases an ICD-10-CM code.
func NormalizeICD10(code string) string {
	b := make([]byte, 0, len(code))
	for i := 0; i < len(code); i++ {
		ch := code[i]
		switch {
		case ch == '.' || ch == ' ' || ch == '\t':
			continue
		case ch >= 'a' && ch <= 'z':
			ch -= 'a' - 'A'
		}
		b = append(b, ch)
	}
	return string(b)
}

// compile builds the lookup tables; it reports bad codes through bad.
func (c *Codes) compile(bad func(line int, reason string)) {
	s := &codeSet{exact: map[string]struct{}{}}
	pats := func(list []Code) []icdPattern {
		var out []icdPattern
		for _, e := range list {
			p, ok := parseICD(e.Code)
			if !ok {
				bad(e.line, fmt.Sprintf("%q is not an ICD-10-CM code, prefix or range (like M54.5 or C00-C96)", e.Code))
				continue
			}
			out = append(out, p)
		}
		return out
	}
	s.icd = pats(c.ICD10)
	s.icdExclude = pats(c.ExcludeICD10)
	add := func(system string, list []Code, valid func(string) bool, what string) {
		for _, e := range list {
			if !valid(e.Code) {
				bad(e.line, fmt.Sprintf("%q is not a %s code", e.Code, what))
				continue
			}
			s.exact[system+"|"+e.Code] = struct{}{}
		}
	}
	add(SystemSNOMED, c.SNOMED, isSNOMED, "SNOMED CT")
	add(SystemCPT, c.CPT, isCPT, "CPT")
	add(SystemLOINC, c.LOINC, isLOINC, "LOINC")
	add(SystemRxNorm, c.RxNorm, isDigits(1, 10), "RxNorm")
	c.set = s
}

func parseICD(code string) (icdPattern, bool) {
	lo, hi, isRange := strings.Cut(code, "-")
	lo, hi = NormalizeICD10(lo), NormalizeICD10(hi)
	if !isRange {
		hi = lo
	}
	if !isICD(lo) || !isICD(hi) || len(lo) != len(hi) || lo > hi {
		return icdPattern{}, false
	}
	return icdPattern{lo, hi}, true
}

// isICD accepts a letter followed by 1-6 letters or digits (a category prefix
// of at least two characters).
func isICD(s string) bool {
	if len(s) < 2 || len(s) > 7 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'A' && s[i] <= 'Z') {
			return false
		}
	}
	return true
}

func isDigits(min, max int) func(string) bool {
	return func(s string) bool {
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
}

// isSNOMED: SCTIDs are 6 to 18 digits.
func isSNOMED(s string) bool { return isDigits(6, 18)(s) }

// isCPT: five characters, digits with an optional trailing letter (0001U).
func isCPT(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := 0; i < 4; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s[4] >= '0' && s[4] <= '9' || s[4] >= 'A' && s[4] <= 'Z'
}

// isLOINC: digits, a hyphen and a check digit (30679-5).
func isLOINC(s string) bool {
	num, check, ok := strings.Cut(s, "-")
	return ok && isDigits(1, 7)(num) && isDigits(1, 1)(check)
}

// MedicationMatch is a medication recognised as a counted therapy class.
type MedicationMatch struct {
	// Kind is the therapy class.
	Kind TherapyKind
	// Ingredient is the policy's ingredient that matched.
	Ingredient Ingredient
	// Coding is the matched RxNorm coding; nil when matched by name.
	Coding *r4.Coding
	// ByName marks the text fallback: the ingredient name was found in the
	// medication's text or a coding display, not its code.
	ByName bool
}

// ProcedureMatch is a Procedure recognised as a counted therapy class.
type ProcedureMatch struct {
	// Kind is the therapy class.
	Kind TherapyKind
	// Coding is the Procedure's coding that matched.
	Coding r4.Coding
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
	}
	p.idx = ix
}

// TherapyProcedure reports whether a Procedure code belongs to a counted
// therapy class.
func (p *Policy) TherapyProcedure(cc *r4.CodeableConcept) (ProcedureMatch, bool) {
	if p.idx == nil {
		return ProcedureMatch{}, false
	}
	for _, c := range p.idx.classes {
		if cd, ok := c.Class.Procedures.MatchConcept(cc); ok {
			return ProcedureMatch{Kind: c.Kind, Coding: cd}, true
		}
	}
	return ProcedureMatch{}, false
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

// TherapyMedication reports whether a medication concept is an ingredient of
// a counted therapy class: by RxNorm ingredient code first, then by the
// ingredient name in the concept's text or coding displays (marked ByName).
func (p *Policy) TherapyMedication(cc *r4.CodeableConcept) (MedicationMatch, bool) {
	if p.idx == nil || cc == nil {
		return MedicationMatch{}, false
	}
	for i := range cc.Coding {
		cd := &cc.Coding[i]
		if cd.System == nil || cd.Code == nil || *cd.System != SystemRxNorm {
			continue
		}
		if r, ok := p.idx.byRxNorm[strings.TrimSpace(*cd.Code)]; ok {
			return MedicationMatch{Kind: r.kind, Ingredient: r.ing, Coding: cd}, true
		}
	}
	var texts []string
	if cc.Text != nil {
		texts = append(texts, *cc.Text)
	}
	for _, cd := range cc.Coding {
		if cd.Display != nil {
			texts = append(texts, *cd.Display)
		}
	}
	for _, t := range texts {
		t = strings.ToLower(t)
		for _, r := range p.idx.names {
			if r.name != "" && containsWord(t, r.name) {
				return MedicationMatch{Kind: r.kind, Ingredient: r.ing, ByName: true}, true
			}
		}
	}
	return MedicationMatch{}, false
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
