package notes

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed phrases.yaml
var defaultPhrases []byte

// ErrInvalid is wrapped by every error about a phrase file.
var ErrInvalid = errors.New("invalid note phrases")

// Category is the kind of evidence a finding is.
type Category string

// Finding categories.
const (
	CaudaEquina         Category = "cauda-equina"
	MotorDeficit        Category = "motor-deficit"
	Infection           Category = "infection"
	Cancer              Category = "cancer"
	PriorSurgery        Category = "prior-surgery"
	Fracture            Category = "fracture"
	ConservativeTherapy Category = "conservative-therapy"
	// BackPain is not a red flag: it is the "new back pain" a red-flag
	// combination pairs with (a history of cancer, immunosuppression, IV
	// drug use), dated by its onset (Finding.Course).
	BackPain Category = "back-pain"
)

// Coding is a code proposed to record a finding in the chart.
type Coding struct {
	System  string `yaml:"system"`
	Code    string `yaml:"code"`
	Display string `yaml:"display"`
}

// Categories lists the categories in a stable order.
var Categories = []Category{CaudaEquina, MotorDeficit, Infection, Cancer, PriorSurgery, Fracture, ConservativeTherapy, BackPain}

// Context kinds, as named in phrases.yaml.
const (
	ctxNegated      = "negated"
	ctxHypothetical = "hypothetical"
	ctxOtherPerson  = "other-person"
	ctxHistorical   = "historical"
)

var contextKinds = []string{ctxNegated, ctxHypothetical, ctxOtherPerson, ctxHistorical}

// ctxListed is a section context only (phrases.yaml sections): a
// medication list. A therapy named in it is an entry of the list, not a
// documented trial; other findings there keep their context.
const ctxListed = "listed"

// ctxAssessPlan is a section context only: an Assessment and Plan, whose
// findings keep their own context unless a plan cue precedes them, and
// whose therapies are planned unless a cue says they were done.
const ctxAssessPlan = "assessment-plan"

// ctxAllergy is a section context only: an allergy list, whose
// medications are negated (what the patient must not take is no trial).
const ctxAllergy = "allergy"

type phraseFile struct {
	Sources  map[string]string `yaml:"sources"`
	Findings []struct {
		ID                   string   `yaml:"id"`
		Label                string   `yaml:"label"`
		Code                 *Coding  `yaml:"code"`
		Category             Category `yaml:"category"`
		Current              bool     `yaml:"current"`
		Source               string   `yaml:"source"`
		Patterns             []string `yaml:"patterns"`
		CaseSensitivePattern []string `yaml:"case_sensitive_patterns"`
		Exclude              []string `yaml:"exclude"`
		// ExcludeNotBefore: an exclusion right before one of these phrases
		// excludes nothing ("cancer in situ hybridization" is a test of a
		// cancer, not an in situ one).
		ExcludeNotBefore []string `yaml:"exclude_not_before"`
		GradeAtMost      *int     `yaml:"grade_at_most"`
		Worsening        bool     `yaml:"worsening"`
		FeverCelsius     float64  `yaml:"fever_celsius"`
		FeverFahrenheit  float64  `yaml:"fever_fahrenheit"`
		Therapy          bool     `yaml:"therapy"`
		// Onset: the finding is dated by the start or duration written
		// near it ("for 3 weeks", "began 2 weeks ago"), read as a therapy
		// course's are (Finding.Course).
		Onset bool `yaml:"onset"`
		// Medication: a therapy given as a medication, which a medication
		// list names (a physical therapy course written there is not one of
		// its entries).
		Medication bool `yaml:"medication"`
		// Near: a match counts only with one of these phrases at most
		// Words words before or after it, with no comma or semicolon
		// between ("EHL 3/5", not "attended 3/5 sessions").
		Near *struct {
			Words    int      `yaml:"words"`
			Patterns []string `yaml:"patterns"`
		} `yaml:"near"`
	} `yaml:"findings"`
	Course struct {
		Source   string   `yaml:"source"`
		Since    []string `yaml:"since"`
		At       []string `yaml:"at"`
		Duration []string `yaml:"duration"`
		// NotDuration: spans that are no therapy's duration, left out
		// before one is read ("low back pain for 8 weeks, not relieved by
		// ibuprofen": the pain's).
		NotDuration []string `yaml:"not_duration"`
	} `yaml:"course"`
	// Dates: when a finding was, written in its clause (phrases.yaml
	// "dates").
	Dates struct {
		Source   string   `yaml:"source"`
		Patterns []string `yaml:"patterns"`
		Ongoing  []string `yaml:"ongoing"`
		Present  []string `yaml:"present"`
	} `yaml:"dates"`
	Cues map[string]struct {
		Source string `yaml:"source"`
		// Also names further sources of some of the cues (each cue's
		// comment says which).
		Also   []string `yaml:"also"`
		Before []string `yaml:"before"`
		After  []string `yaml:"after"`
		Pseudo []string `yaml:"pseudo"`
	} `yaml:"cues"`
	Terminators struct {
		Source string   `yaml:"source"`
		Also   []string `yaml:"also"`
		Words  []string `yaml:"words"`
		// NotBefore: a terminator right before one of these phrases is not
		// a boundary ("PT but never went": the phrase speaks of the clause
		// before it).
		NotBefore []string `yaml:"not_before"`
		// NegationOnly end a negation's scope only: a negated list stops
		// at a new statement ("denies fever, has had urinary retention"),
		// but who is spoken of, or that it is hypothetical, carries on
		// ("Mother, age 70, has urinary incontinence").
		NegationOnly []string `yaml:"negation_only"`
		// Informants: a relative who tells of someone. When the pronoun
		// after the relative's reporting verb is the relative's own
		// ("mother reports she had breast cancer"), the verb is no
		// boundary: the relative is who had it. When it is the other
		// gender's ("wife says he has had urinary retention"), the verb
		// starts the patient's clause.
		Informants struct {
			Verbs  string `yaml:"verbs"`
			Female string `yaml:"female"`
			Male   string `yaml:"male"`
			// Own: the relatives (of Female and Male) whose own
			// pronoun means themselves. A spouse or child who reports
			// "she" or "he" of the same gender may be telling of the
			// patient ("daughter reports she has been incontinent"):
			// left to the terminators.
			Own string `yaml:"own"`
			// Opens is what may come before a relative who is the
			// sentence's subject ("pt's", "her"); PatientNamed names the
			// patient after the relative's pronoun ("him", "pt"). Either
			// keeps the own reading off.
			Opens        string `yaml:"opens"`
			PatientNamed string `yaml:"patient_named"`
		} `yaml:"informants"`
	} `yaml:"terminators"`
	Sections struct {
		Source string `yaml:"source"`
		List   []struct {
			Names   []string `yaml:"names"`
			Context string   `yaml:"context"`
		} `yaml:"list"`
		// ListNames: a header whose name starts with one of these is a
		// medication list ("Current Outpatient Medications on File Prior
		// to Visit", "Medication Sig Dispense Refill").
		ListNames []string `yaml:"list_names"`
		// Continued: in a Plan, a therapy after one of these is current
		// use, not a plan ("Plan: continue naproxen").
		Continued []string `yaml:"continued"`
		// ContinuedFiller: the words that may stand between a continuing
		// word and its therapy ("continue with home naproxen"), at most
		// two.
		ContinuedFiller []string `yaml:"continued_filler"`
		// PlanCues: in an Assessment and Plan, a finding after one of
		// these is planned ("MRI to exclude cauda equina syndrome").
		PlanCues []string `yaml:"plan_cues"`
		// DoneCues: in an Assessment and Plan, a therapy after one of
		// these was done ("failed 8 weeks of PT"), not planned.
		DoneCues []string `yaml:"done_cues"`
	} `yaml:"sections"`
}

// concept is one compiled finding entry.
type concept struct {
	id       string
	label    string
	code     *Coding
	category Category
	current  bool
	source   string
	patterns []*regexp.Regexp
	// filters[i] is patterns[i]'s prefilter (nil: always run).
	filters []*prefilter
	// fold[i] is true when patterns[i] runs on lowered text.
	fold    []bool
	exclude []*regexp.Regexp
	// excludeNotBefore, when set, keeps an exclusion from excluding when
	// the text right after it starts with one of its phrases.
	excludeNotBefore *regexp.Regexp
	// gradeAtMost > 0: the "grade" group must be <= it, and not equal to it
	// with a "+" in the "mod" group ("3+/5" is above 3/5).
	gradeAtMost int
	worsening   bool
	feverC      float64
	feverF      float64
	therapy     bool
	onset       bool
	medication  bool
	// near, when set, must match within nearWords words of a match.
	near      *regexp.Regexp
	nearWords int
}

// cueSet is one context kind's compiled cues.
type cueSet struct {
	kind   string
	before *regexp.Regexp
	after  *regexp.Regexp
	pseudo *regexp.Regexp
	// prefilters of before, after and pseudo (run on lowered text).
	beforeF, afterF, pseudoF *prefilter
}

// Finder finds evidence in note text. It is safe for concurrent use.
type Finder struct {
	concepts    []concept
	cues        []cueSet
	terminators *regexp.Regexp
	// negTerminators also end the clause a negation cue governs.
	negTerminators *regexp.Regexp
	// notBefore holds the phrases a terminator does not cut off from the
	// clause before it.
	notBefore *regexp.Regexp
	// informants reads "{relative} ... {verb} (that) {pronoun}": groups
	// female, male (the relative), verb, she, he (the pronoun); own
	// matches the relatives whose own pronoun means themselves.
	informants, own *regexp.Regexp
	// informantOpens matches the whole text before a relative who is the
	// sentence's subject; patientNamed, the patient named after the
	// relative's pronoun.
	informantOpens, patientNamed *regexp.Regexp
	since                        *regexp.Regexp
	at                           *regexp.Regexp
	duration                     *regexp.Regexp
	notDuration                  *regexp.Regexp
	sections                     map[string]string
	listNames                    *regexp.Regexp
	continued                    *regexp.Regexp
	continuedFiller              map[string]bool
	planCues                     *regexp.Regexp
	doneCues                     *regexp.Regexp
	// dates finds a date written beside a finding (its "at" group);
	// datesF is its prefilter. A date right after an ongoing word is a
	// start, not when the finding was; a present word between a date and a
	// finding keeps them apart.
	dates   []*regexp.Regexp
	datesF  []*prefilter
	ongoing *regexp.Regexp
	present *regexp.Regexp
	// afterWindow is how many words a post-cue may follow its finding.
	afterWindow int
}

// defaultFinder compiles the embedded phrases once: a Finder is immutable
// after New, like a compiled regexp.
var defaultFinder = sync.OnceValues(func() (*Finder, error) { return New(defaultPhrases) })

// Default returns the finder built from the embedded phrases.yaml, compiled
// once and shared (a Finder is immutable and safe for concurrent use).
func Default() (*Finder, error) { return defaultFinder() }

// Vocabulary lists the names a policy may use to select note findings: the
// categories and the concept ids of the embedded phrases.
func Vocabulary() []string {
	out := make([]string, 0, len(Categories)+32)
	for _, c := range Categories {
		out = append(out, string(c))
	}
	f, err := Default()
	if err != nil {
		return out
	}
	for _, c := range f.concepts {
		out = append(out, c.id)
	}
	return out
}

// New builds a finder from a phrase file in the format of phrases.yaml.
func New(data []byte) (*Finder, error) {
	var pf phraseFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&pf); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	f := &Finder{sections: map[string]string{}, afterWindow: 8}
	cited := func(where, src string) error {
		if _, ok := pf.Sources[src]; !ok {
			return fmt.Errorf("%w: %s: source %q is not listed under sources", ErrInvalid, where, src)
		}
		return nil
	}
	known := map[Category]bool{}
	for _, c := range Categories {
		known[c] = true
	}
	ids := map[string]bool{}
	for _, e := range pf.Findings {
		where := "finding " + e.ID
		if e.ID == "" || ids[e.ID] {
			return nil, fmt.Errorf("%w: finding id %q empty or repeated", ErrInvalid, e.ID)
		}
		ids[e.ID] = true
		if !known[e.Category] {
			return nil, fmt.Errorf("%w: %s: unknown category %q", ErrInvalid, where, e.Category)
		}
		if err := cited(where, e.Source); err != nil {
			return nil, err
		}
		if len(e.Patterns) == 0 {
			return nil, fmt.Errorf("%w: %s: no patterns", ErrInvalid, where)
		}
		if strings.TrimSpace(e.Label) == "" {
			return nil, fmt.Errorf("%w: %s: no label", ErrInvalid, where)
		}
		if e.Code != nil && (e.Code.System == "" || e.Code.Code == "" || e.Code.Display == "") {
			return nil, fmt.Errorf("%w: %s: code needs system, code and display", ErrInvalid, where)
		}
		c := concept{id: e.ID, label: e.Label, code: e.Code, category: e.Category, current: e.Current, source: e.Source,
			worsening: e.Worsening, feverC: e.FeverCelsius, feverF: e.FeverFahrenheit, therapy: e.Therapy, onset: e.Onset, medication: e.Medication}
		if e.GradeAtMost != nil {
			if *e.GradeAtMost < 0 || *e.GradeAtMost > 4 {
				return nil, fmt.Errorf("%w: %s: grade_at_most %d not in 0..4", ErrInvalid, where, *e.GradeAtMost)
			}
			c.gradeAtMost = *e.GradeAtMost + 1 // stored +1 so that 0 means unset
		}
		sensitive := map[string]bool{}
		for _, p := range e.CaseSensitivePattern {
			sensitive[p] = true
		}
		for _, p := range e.CaseSensitivePattern {
			if !slices.Contains(e.Patterns, p) {
				return nil, fmt.Errorf("%w: %s: case-sensitive pattern %q is not among its patterns", ErrInvalid, where, p)
			}
		}
		for _, p := range e.Patterns {
			re, err := compile(p, !sensitive[p])
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, where, err)
			}
			names := re.SubexpNames()
			if c.gradeAtMost > 0 && !slices.Contains(names, "grade") {
				return nil, fmt.Errorf("%w: %s: pattern %q has no grade group", ErrInvalid, where, p)
			}
			// A sign read but not captured would make "3+/5" a 3/5.
			if c.gradeAtMost > 0 && !slices.Contains(names, "mod") {
				return nil, fmt.Errorf("%w: %s: pattern %q has no mod group (the grade's + or -)", ErrInvalid, where, p)
			}
			if c.worsening && (!slices.Contains(names, "grade") || !slices.Contains(names, "was")) {
				return nil, fmt.Errorf("%w: %s: pattern %q needs grade and was groups", ErrInvalid, where, p)
			}
			if c.feverC > 0 && !slices.Contains(names, "temp") {
				return nil, fmt.Errorf("%w: %s: pattern %q has no temp group", ErrInvalid, where, p)
			}
			c.patterns = append(c.patterns, re)
			c.filters = append(c.filters, newPrefilter(re.String(), !sensitive[p]))
			c.fold = append(c.fold, !sensitive[p])
		}
		if (c.feverC > 0) != (c.feverF > 0) {
			return nil, fmt.Errorf("%w: %s: set both fever_celsius and fever_fahrenheit", ErrInvalid, where)
		}
		for _, p := range e.Exclude {
			re, err := compile(p, true)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: exclude: %w", ErrInvalid, where, err)
			}
			c.exclude = append(c.exclude, re)
		}
		if len(e.ExcludeNotBefore) > 0 {
			re, err := compileList(e.ExcludeNotBefore)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: exclude_not_before: %w", ErrInvalid, where, err)
			}
			c.excludeNotBefore = re
		}
		if e.Near != nil {
			if e.Near.Words < 1 || len(e.Near.Patterns) == 0 {
				return nil, fmt.Errorf("%w: %s: near needs words >= 1 and patterns", ErrInvalid, where)
			}
			re, err := compileList(e.Near.Patterns)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: near: %w", ErrInvalid, where, err)
			}
			c.near, c.nearWords = re, e.Near.Words
		}
		f.concepts = append(f.concepts, c)
	}
	if len(f.concepts) == 0 {
		return nil, fmt.Errorf("%w: no findings", ErrInvalid)
	}
	if err := cited("course", pf.Course.Source); err != nil {
		return nil, err
	}
	var err error
	if f.since, err = compileList(pf.Course.Since); err != nil {
		return nil, fmt.Errorf("%w: course since: %w", ErrInvalid, err)
	}
	if f.duration, err = compileList(pf.Course.Duration); err != nil {
		return nil, fmt.Errorf("%w: course duration: %w", ErrInvalid, err)
	}
	if len(pf.Course.NotDuration) > 0 {
		if f.notDuration, err = compileList(pf.Course.NotDuration); err != nil {
			return nil, fmt.Errorf("%w: course not_duration: %w", ErrInvalid, err)
		}
	}
	if f.at, err = compileList(pf.Course.At); err != nil {
		return nil, fmt.Errorf("%w: course at: %w", ErrInvalid, err)
	}
	if f.at != nil && !slices.Contains(f.at.SubexpNames(), "at") {
		return nil, fmt.Errorf("%w: course at needs an at group", ErrInvalid)
	}
	if f.since == nil || !slices.Contains(f.since.SubexpNames(), "since") {
		return nil, fmt.Errorf("%w: course since needs a since group", ErrInvalid)
	}
	if f.duration == nil || !slices.Contains(f.duration.SubexpNames(), "n") || !slices.Contains(f.duration.SubexpNames(), "unit") {
		return nil, fmt.Errorf("%w: course duration needs n and unit groups", ErrInvalid)
	}
	if pf.Dates.Source != "" || len(pf.Dates.Patterns) > 0 {
		if err := cited("dates", pf.Dates.Source); err != nil {
			return nil, err
		}
		if len(pf.Dates.Patterns) == 0 {
			return nil, fmt.Errorf("%w: dates need patterns with an at group", ErrInvalid)
		}
		// Each pattern is run on its own, behind its own prefilter: one
		// alternation of them all has no literal to skip a clause by, and
		// cost more than the rest of the finder's work on a clause.
		for _, p := range pf.Dates.Patterns {
			re, err := compileList([]string{p})
			if err != nil {
				return nil, fmt.Errorf("%w: dates: %w", ErrInvalid, err)
			}
			if !slices.Contains(re.SubexpNames(), "at") {
				return nil, fmt.Errorf("%w: dates pattern %q has no at group", ErrInvalid, p)
			}
			f.dates = append(f.dates, re)
			f.datesF = append(f.datesF, listFilter(re))
		}
		if f.ongoing, err = compileList(pf.Dates.Ongoing); err != nil {
			return nil, fmt.Errorf("%w: dates ongoing: %w", ErrInvalid, err)
		}
		if f.present, err = compileList(pf.Dates.Present); err != nil {
			return nil, fmt.Errorf("%w: dates present: %w", ErrInvalid, err)
		}
	}
	for name := range pf.Cues {
		if !slices.Contains(contextKinds, name) {
			return nil, fmt.Errorf("%w: unknown cue kind %q", ErrInvalid, name)
		}
	}
	for _, kind := range contextKinds {
		cs, ok := pf.Cues[kind]
		if !ok {
			return nil, fmt.Errorf("%w: cues: %s missing", ErrInvalid, kind)
		}
		for _, src := range append([]string{cs.Source}, cs.Also...) {
			if err := cited("cues "+kind, src); err != nil {
				return nil, err
			}
		}
		set := cueSet{kind: kind}
		if set.before, err = compileList(cs.Before); err != nil {
			return nil, fmt.Errorf("%w: cues %s before: %w", ErrInvalid, kind, err)
		}
		if set.after, err = compileList(cs.After); err != nil {
			return nil, fmt.Errorf("%w: cues %s after: %w", ErrInvalid, kind, err)
		}
		if set.pseudo, err = compileList(cs.Pseudo); err != nil {
			return nil, fmt.Errorf("%w: cues %s pseudo: %w", ErrInvalid, kind, err)
		}
		set.beforeF, set.afterF, set.pseudoF = listFilter(set.before), listFilter(set.after), listFilter(set.pseudo)
		f.cues = append(f.cues, set)
	}
	for _, src := range append([]string{pf.Terminators.Source}, pf.Terminators.Also...) {
		if err := cited("terminators", src); err != nil {
			return nil, err
		}
	}
	if f.terminators, err = compileList(pf.Terminators.Words); err != nil {
		return nil, fmt.Errorf("%w: terminators: %w", ErrInvalid, err)
	}
	if f.negTerminators, err = compileList(pf.Terminators.NegationOnly); err != nil {
		return nil, fmt.Errorf("%w: terminators negation_only: %w", ErrInvalid, err)
	}
	if f.notBefore, err = compileList(pf.Terminators.NotBefore); err != nil {
		return nil, fmt.Errorf("%w: terminators not_before: %w", ErrInvalid, err)
	}
	inf := pf.Terminators.Informants
	if f.informants, err = compileInformants(inf.Verbs, inf.Female, inf.Male); err != nil {
		return nil, fmt.Errorf("%w: terminators informants: %w", ErrInvalid, err)
	}
	if f.own, err = compileList([]string{inf.Own}); inf.Own != "" && err != nil {
		return nil, fmt.Errorf("%w: terminators informants own: %w", ErrInvalid, err)
	}
	if inf.Own != "" && (inf.Opens == "" || inf.PatientNamed == "") {
		return nil, fmt.Errorf("%w: terminators informants: own needs opens and patient_named", ErrInvalid)
	}
	if f.informantOpens, err = regexp.Compile(lowerPattern(`^\s*(?:` + spaced(inf.Opens) + `)?$`)); inf.Own != "" && err != nil {
		return nil, fmt.Errorf("%w: terminators informants opens: %w", ErrInvalid, err)
	}
	if f.patientNamed, err = compileList([]string{inf.PatientNamed}); inf.Own != "" && err != nil {
		return nil, fmt.Errorf("%w: terminators informants patient_named: %w", ErrInvalid, err)
	}
	if err := cited("sections", pf.Sections.Source); err != nil {
		return nil, err
	}
	for _, s := range pf.Sections.List {
		if s.Context != "none" && s.Context != ctxListed && s.Context != ctxAssessPlan && s.Context != ctxAllergy && !slices.Contains(contextKinds, s.Context) {
			return nil, fmt.Errorf("%w: section context %q unknown", ErrInvalid, s.Context)
		}
		ctx := s.Context
		if ctx == "none" {
			ctx = ""
		}
		for _, n := range s.Names {
			f.sections[strings.ToLower(strings.TrimSpace(n))] = ctx
		}
	}
	if len(pf.Sections.ListNames) > 0 {
		if f.listNames, err = compileList(pf.Sections.ListNames); err != nil {
			return nil, fmt.Errorf("%w: sections list_names: %w", ErrInvalid, err)
		}
		// A header must match one name whole: the longest reading.
		f.listNames.Longest()
	}
	if f.planCues, err = compileList(pf.Sections.PlanCues); err != nil {
		return nil, fmt.Errorf("%w: sections plan_cues: %w", ErrInvalid, err)
	}
	if f.doneCues, err = compileList(pf.Sections.DoneCues); err != nil {
		return nil, fmt.Errorf("%w: sections done_cues: %w", ErrInvalid, err)
	}
	f.continuedFiller = map[string]bool{}
	for _, w := range pf.Sections.ContinuedFiller {
		f.continuedFiller[strings.ToLower(strings.TrimSpace(w))] = true
	}
	if len(pf.Sections.Continued) > 0 {
		if f.continued, err = compileList(pf.Sections.Continued); err != nil {
			return nil, fmt.Errorf("%w: sections continued: %w", ErrInvalid, err)
		}
	}
	return f, nil
}

// compile wraps a phrase as a whole-word, whitespace-tolerant RE2 regexp.
func compile(p string, fold bool) (*regexp.Regexp, error) {
	if strings.TrimSpace(p) == "" {
		return nil, errors.New("empty pattern")
	}
	expr := bounded(spaced(p))
	if fold {
		// Folding patterns run on ASCII-lowered text (lowerASCII): cheaper
		// than (?i), and byte offsets are the same.
		expr = lowerPattern(expr)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", p, err)
	}
	return re, nil
}

// bounded makes a phrase match whole words only: \b at each end, except at
// an end written as punctuation (an escaped "\(" or "\)", or one of ":;,-+")
// or, at the start, as whitespace ("\s"),
// where \b would demand a letter beside it: "(-)" in a review of systems
// ("(-) fever") and ": no" after a template's label ("Urinary retention:
// no") stand between spaces or after a word.
func bounded(p string) string {
	lead, trail := `\b`, `\b`
	if len(p) >= 2 && p[0] == '\\' && (!isWordByte(p[1]) || p[1] == 's') || len(p) >= 1 && strings.IndexByte(":;,-+", p[0]) >= 0 {
		lead = ""
	}
	if n := len(p); n >= 2 && p[n-2] == '\\' && !isWordByte(p[n-1]) || n >= 1 && strings.IndexByte(":;,-+", p[n-1]) >= 0 {
		trail = ""
	}
	return lead + `(?:` + p + `)` + trail
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// spaced makes a phrase whitespace-tolerant: a literal " ?" is optional
// whitespace and " " any run of it, so a phrase wrapped across lines still
// matches.
func spaced(p string) string {
	p = strings.ReplaceAll(p, " ?", `\s*`)
	return strings.ReplaceAll(p, " ", `\s+`)
}

func compileList(ps []string) (*regexp.Regexp, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		if strings.TrimSpace(p) == "" {
			return nil, errors.New("empty pattern")
		}
		parts[i] = bounded(spaced(p))
	}
	re, err := regexp.Compile(lowerPattern(`(?:` + strings.Join(parts, "|") + `)`))
	if err != nil {
		return nil, err
	}
	return re, nil
}

// compileInformants builds Finder.informants; nil when the three lists
// are empty, an error when only some are given.
func compileInformants(verbs, female, male string) (*regexp.Regexp, error) {
	if verbs == "" && female == "" && male == "" {
		return nil, nil
	}
	if verbs == "" || female == "" || male == "" {
		return nil, errors.New("needs verbs, female and male")
	}
	return regexp.Compile(lowerPattern(`\b(?:(?P<female>` + female + `)|(?P<male>` + male + `))s?,? (?:[a-z0-9',]+ ){0,4}?(?P<verb>` +
		verbs + `) (?:that )?(?:(?P<she>she|her)|(?P<he>he|his))\b`))
}

// lowerPattern lowers the ASCII letters of a pattern's literals, keeping
// escapes (\b, \D) and group names ((?P<grade>)) as written.
func lowerPattern(p string) string {
	b := []byte(p)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\\':
			i++
		case b[i] == '(' && strings.HasPrefix(p[i:], "(?P<"):
			j := strings.IndexByte(p[i:], '>')
			if j < 0 {
				return string(b)
			}
			i += j
		case b[i] >= 'A' && b[i] <= 'Z':
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

// listFilter is the prefilter of a compiled cue list (nil: always run).
func listFilter(re *regexp.Regexp) *prefilter {
	if re == nil {
		return nil
	}
	return newPrefilter(re.String(), false)
}
