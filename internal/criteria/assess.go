package criteria

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/notes"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/terminology"
)

// RedFlagCode is the finding code of a policy red flag: "red-flag-" plus its
// key with dashes (cauda_equina is red-flag-cauda-equina).
func RedFlagCode(k policy.RedFlagKind) string {
	return "red-flag-" + strings.ReplaceAll(string(k), "_", "-")
}

// assessor holds one assessment's inputs.
type assessor struct {
	pol   *policy.Policy
	f     *chart.Facts
	order Order
	d     time.Time
	conds []condition
	procs []procedure
	// notDone are the Procedures begun on or before D (or undated) whose
	// status does not count: named when they look like therapy.
	notDone []*chart.PerformedProcedure
	// later are the done Procedures begun after D: named when they look
	// like therapy.
	later []*chart.PerformedProcedure
	// notCounted collects entries that looked relevant but did not count.
	notCounted []NotCounted
	// flagLabel is the red flag being evaluated (what an advisory note
	// finding would have counted as).
	flagLabel string
	seenNC    map[string]bool
}

// condition is a Condition that is not refuted or entered-in-error, dated on
// or before D (or undated).
type condition struct {
	p      *chart.Problem
	active bool
	date   chart.Date
}

// procedure is a completed or in-progress Procedure that began on or before
// D (or is undated).
type procedure struct {
	p     *chart.PerformedProcedure
	start chart.Date
	// end is the last day performed: the period end, D for an in-progress
	// procedure without one, else the start; capped at D.
	end chart.Date
}

// Assess assesses one lumbar MRI order against the patient's facts and a
// payer policy (DECISIONS.md, "The assessment"). D is the order's authoredOn
// date, else now's UTC date; every window ends at D. A nil policy means the
// embedded default policy; nil facts mean an empty chart. Assess is pure and
// safe for concurrent use.
func Assess(order Order, facts *chart.Facts, pol *policy.Policy, now time.Time) Assessment {
	if pol == nil {
		pol = policy.Default().Default()
	}
	if facts == nil {
		facts = &chart.Facts{}
	}
	d := toDay(now)
	if order.AuthoredOn != nil {
		d = toDay(*order.AuthoredOn)
	}
	x := &assessor{pol: pol, f: facts, order: order, d: d, seenNC: map[string]bool{}}
	x.readConditions()
	x.readProcedures()

	a := Assessment{
		Order:               order,
		Date:                d,
		TherapyRequiredDays: pol.ConservativeTherapy.MinDays,
		LookbackDays:        pol.ConservativeTherapy.LookbackDays,
		RecommendedContrast: ContrastWithout,
		NotesChecked:        facts.NotesChecked,
	}
	if !facts.NotesChecked {
		sf := facts.Shortfalls[chart.SearchDocumentReferences]
		a.NotesFailed = sf.Failed
		a.NotesTooLarge = Limit{Max: sf.Limit, Call: sf.Call}
	}

	// A chart whose entries all belong to another patient is not this
	// patient's chart: say so instead of "no diagnosis" (issue 13).
	if facts.Kept() == 0 && len(facts.OtherPatient) > 0 && len(facts.Unavailable) == 0 {
		n := 0
		for _, c := range facts.OtherPatient {
			n += c
		}
		a.Findings = append(a.Findings, Finding{
			Code: OtherPatientData,
			Text: fmt.Sprintf("All %d clinical entries supplied are about another patient, so nothing in them was used; the chart of this patient could not be checked.", n),
		})
		x.otherPatient()
		a.NotCounted = x.notCounted
		a.Outcome = CriteriaIndeterminate
		return a
	}

	flags := x.redFlags()
	a.Indication = x.indication()
	indicated := len(a.Indication) > 0
	th := x.therapy()
	a.TherapyDays, a.TherapyMetOn = th.days, th.metOn
	a.TherapyFrom, a.TherapyTo, a.TherapyFromRecorded = th.from, th.to, th.fromRecorded
	a.TherapyFromWindowEdge = th.fromWindowEdge

	var prior []Evidence
	if pol.RepeatMRIWindowDays > 0 {
		prior = x.imaging(&pol.Imaging.LumbarMRI, pol.Imaging.MRModalities, pol.RepeatMRIWindowDays)
	}
	xrayMissing := false
	if pol.XrayFirst {
		xrayMissing = len(x.imaging(&pol.Imaging.LumbarXray, pol.Imaging.XrayModalities, pol.XrayLookbackDays)) == 0
	}

	for _, f := range flags {
		a.Findings = append(a.Findings, f.finding)
	}
	if !indicated && len(flags) == 0 {
		a.Findings = append(a.Findings, Finding{
			Code: IndicationMissing,
			Text: "No back-pain or radiculopathy diagnosis is coded in the problem list or as the order's reason, and no red flag is documented.",
		})
	}
	a.Findings = append(a.Findings, th.finding)
	if len(prior) > 0 {
		latest := prior[0]
		a.PriorMRI = &latest
		when := "on " + latest.DateText
		if latest.Imprecise {
			when = "in " + latest.DateText + " (the date is recorded to the " + precisionWord(latest.DateText) + " only, so it may fall within the window)"
		}
		a.Findings = append(a.Findings, Finding{
			Code:     PriorLumbarMRI,
			Text:     fmt.Sprintf("A lumbar MRI was done %s, within the %d-day repeat-imaging window before %s.", when, pol.RepeatMRIWindowDays, ymd(&d)),
			Evidence: prior,
		})
	}
	if xrayMissing {
		a.Findings = append(a.Findings, Finding{
			Code: XrayMissing,
			Text: fmt.Sprintf("No lumbar spine radiographs are documented in the %s before %s; this payer requires them before MRI.", nDays(pol.XrayLookbackDays), ymd(&d)),
		})
	}

	// ACR Appropriateness Criteria, Low Back Pain (2021), variants 3-7: MRI
	// without contrast, or without and with contrast for malignancy,
	// infection and prior surgery (variants 5 and 7); cauda equina rates
	// both (variant 4). A with-contrast-only study is not a rated variant.
	accepted := false
	for _, f := range flags {
		switch f.contrast {
		case policy.ContrastWithoutAndWith:
			a.RecommendedContrast = ContrastWithoutAndWith
			accepted = true
		case policy.ContrastEither:
			accepted = true
		}
	}
	if order.Contrast == ContrastWith || (order.Contrast == ContrastWithoutAndWith && !accepted) {
		a.SuggestedCode = suggestedCode(&pol.Orders, order.Code.System, a.RecommendedContrast)
		a.Findings = append(a.Findings, Finding{Code: ContrastReview, Text: contrastText(order.Contrast, a.RecommendedContrast, a.SuggestedCode)})
	}

	// Outcome (DECISIONS.md): a red flag carries the order when there is no
	// prior lumbar MRI in the window or the red flag is dated after it (an
	// imprecise MRI date is read at its latest day, a red flag's at its
	// earliest: neither gains from imprecision).
	redFlagCarries := false
	for _, f := range flags {
		if a.PriorMRI == nil || (f.earliest != nil && a.PriorMRI.Latest != nil && f.earliest.After(*a.PriorMRI.Latest)) {
			redFlagCarries = true
		}
	}
	trialCarries := indicated && th.met && a.PriorMRI == nil && !xrayMissing
	switch {
	case len(facts.Unavailable) > 0:
		for _, s := range facts.Unavailable {
			a.Unchecked = append(a.Unchecked, string(s))
			if sf := facts.Shortfalls[s]; sf.Limit > 0 {
				if a.TooLarge == nil {
					a.TooLarge = map[string]Limit{}
				}
				a.TooLarge[string(s)] = Limit{Max: sf.Limit, Call: sf.Call}
			}
			if s == chart.SearchCoverage {
				a.CoverageUnchecked = true
			}
			if facts.Shortfalls[s].PatientNotFound {
				if a.PatientNotFound == nil {
					a.PatientNotFound = map[string]bool{}
				}
				a.PatientNotFound[string(s)] = true
			}
		}
		// Never criteria-not-met on incomplete data.
		a.Outcome = CriteriaIndeterminate
		if redFlagCarries {
			a.Outcome = CriteriaMet
		}
		a.Findings = withoutUnknownAbsences(a.Findings, facts.Unavailable)
	case redFlagCarries || trialCarries:
		a.Outcome = CriteriaMet
	default:
		a.Outcome = CriteriaNotMet
	}
	x.notCurrent(flags, indicated)
	x.unreadable()
	x.otherPatient()
	x.notesRead()
	a.NotCounted = x.notCounted
	return a
}

// notCurrent names the Conditions that are not current on D (ended,
// inactive, resolved, in remission, refuted) but whose code names a red flag
// or part of one, or, when the assessment found no indication, a back-pain
// diagnosis: a resolved cauda equina is not a red flag, and the answer says
// it was read (issue 13, "Nothing dropped in silence"). Entered-in-error
// entries are left out: FHIR R4 marks them as never valid
// (condition-ver-status entered-in-error). A Condition that counted in a
// red flag as history (Z85.*, prior surgery), or that is already named for
// another reason, is not named again.
func (x *assessor) notCurrent(flags []redFlag, indicated bool) {
	used := map[string]bool{}
	for _, nc := range x.notCounted {
		// Already named (a combination that is not complete, a date after
		// the order): one line per entry.
		used[nc.Source] = nc.Source != ""
	}
	for _, f := range flags {
		for _, e := range f.finding.Evidence {
			used[e.Source] = true
		}
	}
	for i := range x.f.Problems {
		p := &x.f.Problems[i]
		if p.ActiveOn(x.d) || p.VerificationStatus == "entered-in-error" || used[p.Source] {
			continue
		}
		date := p.Date()
		if !date.IsZero() && date.Earliest.After(x.d) {
			continue // named as dated after the order
		}
		what := ""
		if rf, ok := x.redFlagPart(p.Code, date); ok {
			what = rf.Label
		} else if _, ok := matchConcept(&x.pol.Indication, p.Code); ok && !indicated {
			what = "back-pain diagnosis"
		}
		if what == "" {
			continue
		}
		name := p.Code.Name()
		dt := dateOrEmpty(date)
		x.record(NotCounted{Reason: ReasonNotCurrent, What: what, Display: name, DateText: dt, Source: p.Source, Why: p.NotCurrentWhy(x.d)})
	}
}

// redFlagPart returns the red flag with an entry, alone or in a
// combination, whose value set holds a coding of c and whose window, if it
// has one, the date falls in: a resolved fever diagnosis of years ago says
// nothing about the 14 days before the order, and is not named.
func (x *assessor) redFlagPart(c chart.Concept, date chart.Date) (*policy.RedFlag, bool) {
	for p := range x.pol.RedFlags.Parts() {
		cr := p.Criterion
		if _, ok := matchConcept(&cr.Codes, c); ok && (cr.WithinDays <= 0 || x.inWindow(date, cr.WithinDays)) {
			return p.Flag, true
		}
	}
	return nil, false
}

// statusNotCounted names an entry whose status does not count (DECISIONS.md
// "Statuses that count"), except entered-in-error ones, which FHIR R4 marks
// as never valid.
func (x *assessor) statusNotCounted(why, what, display string, date chart.Date, src string) {
	if strings.Contains(why, "entered-in-error") {
		return
	}
	dt := dateOrEmpty(date)
	x.record(NotCounted{Reason: ReasonStatus, What: what, Display: display, DateText: dt, Source: src, Why: why})
}

func precisionWord(text string) string {
	if len(text) == 4 {
		return "year"
	}
	return "month"
}

func contrastText(ordered, recommended Contrast, sc *Code) string {
	want := "MRI without contrast"
	if recommended == ContrastWithoutAndWith {
		want = "MRI without and with contrast"
	}
	code := ""
	if sc != nil {
		code = " (" + sc.Code + ")"
	}
	if ordered == ContrastWith {
		return "MRI with contrast only is not a variant the ACR Appropriateness Criteria rate for low back pain; the guideline variant here is " + want + code + "."
	}
	return "MRI without and with contrast was ordered, but no malignancy, infection, prior surgery or cauda equina is documented; the guideline variant is " + want + code + "."
}

// skip records an entry that looked relevant but did not count, once per
// source and reason.
func (x *assessor) skip(reason, what, display string, date chart.Date, src string) {
	dt := dateOrEmpty(date)
	x.record(NotCounted{Reason: reason, What: what, Display: display, DateText: dt, Source: src})
}

// record adds a not-counted entry, once per reason, source and what.
func (x *assessor) record(nc NotCounted) {
	key := nc.Reason + "|" + nc.Source + "|" + nc.What
	if nc.Source != "" && x.seenNC[key] {
		return
	}
	x.seenNC[key] = true
	x.notCounted = append(x.notCounted, nc)
}

// unreadable names every entry that failed to decode (issue 13: entries
// that fail to decode are named in the answer, not only in the log). An
// entry without an id has no reference to tell it from another, so each is
// named (none is merged into another as a repeat).
func (x *assessor) unreadable() {
	for _, u := range x.f.Unreadable {
		src := ""
		if u.ID != "" {
			src = u.ResourceType + "/" + u.ID
		}
		d := u.When()
		disp := u.Display
		switch {
		case disp != "":
		case u.ResourceType == "":
			disp = "An entry without a resource type"
		default:
			disp = article(u.ResourceType) + " " + u.ResourceType + " entry"
		}
		x.skip(ReasonUnreadable, u.ResourceType, disp, d, src)
	}
}

// article is the indefinite article for a resource type's name.
func article(name string) string {
	if name != "" && strings.ContainsRune("AEIOU", rune(name[0])) {
		return "An"
	}
	return "A"
}

// otherPatient names, by count only, the entries about another patient
// (their content is another patient's PHI and never shown).
func (x *assessor) otherPatient() {
	types := make([]string, 0, len(x.f.OtherPatient))
	for t := range x.f.OtherPatient {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		x.skip(ReasonOtherPatient, t, fmt.Sprintf("%d %s entr%s about another patient", x.f.OtherPatient[t], t, plural(x.f.OtherPatient[t], "y", "ies")), chart.Date{}, "")
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (x *assessor) readConditions() {
	x.conds = make([]condition, 0, len(x.f.Problems))
	for i := range x.f.Problems {
		p := &x.f.Problems[i]
		if p.Refuted() {
			continue
		}
		date := p.Date()
		if !date.IsZero() && date.Earliest.After(x.d) {
			// Dated after the order (a future or mistyped date): it cannot
			// be evidence for this order; say so when it names a red flag
			// or an indication.
			if what := x.relevance(p.Code); what != "" {
				x.skip(ReasonAfterOrder, what, p.Code.Name(), date, p.Source)
			}
			continue
		}
		x.conds = append(x.conds, condition{p: p, active: p.ActiveOn(x.d), date: date})
	}
	// Entries read by their words: named, not counted.
	for i := range x.f.TextOnlyProblems {
		if nc, ok := x.readByWords(&x.f.TextOnlyProblems[i]); ok {
			x.record(nc)
		}
	}
}

// readByWords says why a problem read by its words did not count, when it
// is to be named: one without a readable code whose words name a red flag
// (or whose misfiled code, read in the system whose form it has, names one
// or an indication), or one coded in a system the value sets read whose
// code is in none of the policy's value sets but whose words name a red
// flag (a breast cancer coded with a concept the malignancy set does not
// list). A coded problem whose code the policy reads is not named here:
// the assessment counts it, or names it with its own reason.
func (x *assessor) readByWords(t *chart.TextOnlyProblem) (NotCounted, bool) {
	nc := NotCounted{Reason: ReasonTextOnly, What: t.Label, Display: t.Text, DateText: dateOrEmpty(t.Date), Source: t.Source}
	switch {
	case t.Coded:
		if t.Label == "" || x.listed(t.Code) {
			return NotCounted{}, false
		}
		// Dated after the order: it cannot be evidence for this order, and
		// its code is in no value set (so not a red flag or an indication
		// that dated-after-the-order names).
		if !t.Date.IsZero() && t.Date.Earliest.After(x.d) {
			return NotCounted{}, false
		}
		label, others, ok := x.codedReading(t)
		if !ok {
			return NotCounted{}, false
		}
		nc.Reason, nc.What = ReasonCodeNotListed, label
		if nc.Display == "" {
			nc.Display = t.Code.Name()
		}
		nc.Why = notListedWhy(t.Label, label, x.needs(others))
	case len(t.Misfiled) > 0:
		if nc.What == "" {
			nc.What = x.relevance(refiled(t.Misfiled))
		}
		if nc.What == "" {
			return NotCounted{}, false
		}
		if nc.Display == "" {
			nc.Display = t.Misfiled[0].Code
		}
		nc.Why = misfiledWhy(t.Misfiled[0], nc.What)
	case t.LocalCode:
		nc.Why = localCodeWhy
	}
	return nc, true
}

// notListedWhy says why a coded problem whose code is in no value set the
// policy reads did not count, and what to do: "its code is not one the
// criteria's value sets list, so it was not counted; its words name known
// or suspected malignancy: if that is right, add the diagnosis with an
// ICD-10-CM code". A finding that counts only in a combination (a fever,
// with new back pain) is named in the combination's terms, never as the
// red flag itself.
func notListedWhy(words, label, needs string) string {
	why := "its code is not one the criteria's value sets list, so it was not counted; its words name "
	if needs != "" {
		why += words + ", which counts as " + lowerInitial(label) + " only with " + needs
	} else {
		why += lowerInitial(label)
	}
	return why + ": if that is right, add the diagnosis with an ICD-10-CM code"
}

// codedReading says how the policy counts, when coded, the finding a
// problem's words name: the red flag's label, and the other parts of the
// combination it counts only in (nil when it counts alone). The code the
// note finder proposes for the finding decides (fever, R50.9: only with
// new back pain); a finding with a proposed code the policy does not read
// (unexplained weight loss, R63.4) is no coded red flag and is not named.
// A finding without one is read by the policy's note entries: a concept
// the policy names only in combinations (IV drug use) is a combination
// part; otherwise the red flag whose note entries read it.
func (x *assessor) codedReading(t *chart.TextOnlyProblem) (string, []*policy.Criterion, bool) {
	if t.Proposed.Code != "" {
		// An entry that suffices alone wins over a combination part.
		c := chart.Concept{Codings: []chart.Coding{t.Proposed}}
		var part *policy.RedFlagPart
		for p := range x.pol.RedFlags.Parts() {
			if _, ok := matchConcept(&p.Criterion.Codes, c); ok {
				if p.Combination == nil {
					return p.Flag.Label, nil, true
				}
				if part == nil {
					part = &p
				}
			}
		}
		if part == nil {
			return "", nil, false
		}
		return part.Flag.Label, part.Others(), true
	}
	if !x.aloneNote(t.Concept) {
		for p := range x.pol.RedFlags.Parts() {
			if p.Combination != nil && slices.Contains(p.Criterion.Note, t.Concept) {
				return p.Flag.Label, p.Others(), true
			}
		}
	}
	label := x.noteFlagLabel(t.Concept, t.Category)
	if label == "" {
		label = t.Label
	}
	return label, nil, true
}

// aloneNote reports whether a red flag counts the note finder's concept
// alone.
func (x *assessor) aloneNote(concept string) bool {
	for p := range x.pol.RedFlags.Parts() {
		if p.Combination == nil && slices.Contains(p.Criterion.Note, concept) {
			return true
		}
	}
	return false
}

// needs says in plain words what combination parts need ("back pain that
// began within 90 days of the order"), "" for none.
func (x *assessor) needs(parts []*policy.Criterion) string {
	var out []string
	for _, c := range parts {
		n, _ := x.describe(c)
		out = append(out, n)
	}
	return strings.Join(out, " and ")
}

// localCodeWhy says why an entry coded only in a local code system did not
// count.
const localCodeWhy = "coded only in a local code system the criteria do not read"

// misfiledWhy says why an entry whose code is not a code of its declared
// system did not count: "coded 278860009 under ICD-10-CM, which is not an
// ICD-10-CM code (it has the form of a SNOMED CT code); not counted
// (back-pain diagnosis): correct the code".
func misfiledWhy(cd chart.Coding, what string) string {
	name := systemName(cd.System)
	why := fmt.Sprintf("coded %s under %s, which is not %s %s code", strings.TrimSpace(cd.Code), name, systemArticle(name), name)
	if s := formSystem(cd); s != "" {
		why += " (it has the form of " + systemArticle(systemName(s)) + " " + systemName(s) + " code)"
	}
	return why + "; not counted (" + lowerInitial(what) + "): correct the code"
}

// refiled reads misfiled codings in the problem system whose form each
// has (a SNOMED CT id filed under ICD-10-CM as SNOMED CT), to say what the
// entry would have counted as.
func refiled(cs []chart.Coding) chart.Concept {
	var c chart.Concept
	for _, cd := range cs {
		if s := formSystem(cd); s != "" {
			c.Codings = append(c.Codings, chart.Coding{System: s, Code: strings.TrimSpace(cd.Code), Display: cd.Display})
		}
	}
	return c
}

// formSystem is the other problem code system whose form a misfiled code
// has (SNOMED CT for 278860009 filed under ICD-10-CM), "" when none.
func formSystem(cd chart.Coding) string {
	for _, s := range chart.ProblemSystems {
		if s != cd.System && terminology.WellFormed(s, cd.Code) {
			return s
		}
	}
	return ""
}

// systemName is a problem code system's name in plain words.
func systemName(system string) string {
	switch system {
	case terminology.SystemICD10CM:
		return "ICD-10-CM"
	case terminology.SystemSNOMED:
		return "SNOMED CT"
	}
	return system
}

// systemArticle is "an" before a system name said with a vowel sound
// (ICD-10-CM), else "a".
func systemArticle(name string) string {
	if strings.HasPrefix(name, "ICD") {
		return "an"
	}
	return "a"
}

// listed reports whether the concept's code is in a value set the policy
// reads for Conditions: a red flag's entry or combination part, or the
// indication.
func (x *assessor) listed(c chart.Concept) bool {
	if _, ok := matchConcept(&x.pol.Indication, c); ok {
		return true
	}
	if _, ok := matchConcept(&x.pol.LumbarIndication, c); ok {
		return true
	}
	for p := range x.pol.RedFlags.Parts() {
		if _, ok := matchConcept(&p.Criterion.Codes, c); ok {
			return true
		}
	}
	return false
}

// noteFlagLabel is the label of the red flag whose policy entry reads the
// note finder's concept or category ("Known or suspected malignancy" for
// cancer), "" when none does.
func (x *assessor) noteFlagLabel(concept string, category notes.Category) string {
	if concept == "" && category == "" {
		return ""
	}
	for p := range x.pol.RedFlags.Parts() {
		if slices.ContainsFunc(p.Criterion.Note, func(n string) bool { return n == concept || n == string(category) }) {
			return p.Flag.Label
		}
	}
	return ""
}

// dateOrEmpty is the date as recorded, "" when there is none.
func dateOrEmpty(d chart.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.Text
}

// relevance names what a coded concept would count as: a red flag's label,
// or "back-pain diagnosis"; "" when it is neither.
func (x *assessor) relevance(c chart.Concept) string {
	if rf, ok := x.redFlagCoding(c); ok {
		return rf.Label
	}
	if _, ok := matchConcept(&x.pol.Indication, c); ok {
		return "back-pain diagnosis"
	}
	return ""
}

// Procedure: completed or in-progress, begun on or before D.
func (x *assessor) readProcedures() {
	x.procs = make([]procedure, 0, len(x.f.Procedures))
	for i := range x.f.Procedures {
		p := &x.f.Procedures[i]
		start := p.Start
		if !start.IsZero() && start.Earliest.After(x.d) {
			if p.Done() {
				x.later = append(x.later, p)
			}
			continue
		}
		if !p.Done() {
			x.notDone = append(x.notDone, p)
			continue
		}
		end := p.End
		if end.IsZero() && !start.IsZero() {
			end = start
			if p.Status == "in-progress" {
				end = chart.DayDate(x.d)
			}
		}
		x.procs = append(x.procs, procedure{p: p, start: start, end: end})
	}
}

// inWindow reports whether a date lies within n days before D (n <= 0: any
// date, or undated). A lower-precision date counts only when every day it
// may name, up to D, lies in the window (a red flag never gains from
// imprecision).
func (x *assessor) inWindow(date chart.Date, n int) bool {
	if n <= 0 {
		return true
	}
	if date.IsZero() {
		return false
	}
	latest := date.Latest
	if latest.After(x.d) {
		latest = x.d
	}
	return !date.Earliest.Before(addDays(x.d, -n)) && !latest.Before(date.Earliest) && !date.Earliest.After(x.d)
}

func dated(e Evidence, date chart.Date) Evidence {
	if date.IsZero() {
		return e
	}
	t := date.Earliest
	e.Date = &t
	l := date.Latest
	e.Latest = &l
	e.DateText = date.Text
	e.Imprecise = date.Imprecise()
	return e
}

// conditionEvidence is the evidence of a Condition: its onset, else its
// recorded date (Evidence.Onset says which).
func conditionEvidence(cn condition, cd chart.Coding) Evidence {
	e := evidence(cn.p.Source, cn.date, cd)
	e.Onset = !cn.p.Onset.IsZero()
	return e
}

func evidence(src string, date chart.Date, cd chart.Coding) Evidence {
	return dated(Evidence{
		Source:  src,
		Display: cd.Display,
		Code:    Code{System: cd.System, Code: cd.Code, Display: cd.Display},
	}, date)
}

func codings(c chart.Concept) []policy.Coding {
	out := make([]policy.Coding, len(c.Codings))
	for i, cd := range c.Codings {
		out[i] = policy.Coding{System: cd.System, Code: cd.Code, Display: cd.Display}
	}
	return out
}

// stagedCancers is the evidence of policy.Criterion.CancerStage: current
// Conditions (ended: those no longer current) staged as an invasive cancer,
// TNM stage group I to IV, whose code no value set of the policy lists (a
// listed code is counted, or named, by its code). Named "Neoplasm of
// prostate, stage IVB"; Kind "cancer-stage" or "cancer-stage-ended".
func (x *assessor) stagedCancers(ended bool) []Evidence {
	var out []Evidence
	for _, cn := range x.conds {
		if !cn.p.Stage.Invasive || cn.active == ended || x.listed(cn.p.Code) {
			continue
		}
		var cd chart.Coding
		if len(cn.p.Code.Codings) > 0 {
			cd = cn.p.Code.Codings[0]
		}
		e := conditionEvidence(cn, cd)
		e.Display = cn.p.Code.Name()
		if e.Display == "" {
			e.Display = "A condition"
		}
		e.Display += ", stage " + cn.p.Stage.Group
		e.Kind = "cancer-stage"
		if ended {
			e.Kind += "-ended"
			e.Display += ", " + cn.p.NotCurrentWhy(x.d)
		}
		out = append(out, e)
	}
	return out
}

// matchConcept returns the first coding of c in the set.
func matchConcept(codes *policy.Codes, c chart.Concept) (chart.Coding, bool) {
	for _, cd := range c.Codings {
		if cd.System != "" && cd.Code != "" && codes.Match(cd.System, cd.Code) {
			return cd, true
		}
	}
	return chart.Coding{}, false
}

// matchCriterion returns the evidence of one red-flag entry or combination part.
func (x *assessor) matchCriterion(c *policy.Criterion) []Evidence {
	var out []Evidence
	switch {
	case len(c.Note) > 0:
		return x.noteEvidence(c.Note, c.WithinDays, x.flagLabel)
	case c.Fever:
		return x.fever(c.WithinDays)
	case c.Indication:
		ev := x.indications(&x.pol.Indication, c.WithinDays)
		if c.WithinDays > 0 {
			// "New back pain" is also what a note says is new, dated by
			// the onset it writes ("new low back pain for 3 weeks"): a
			// coded diagnosis or the order's reason seldom carries an
			// onset (ACP 2011 (Chou) Table 2: history of cancer with new
			// onset of low back pain; clinical reviews 5 and 6).
			// Not named when outside the window: the combination's own
			// "counts only with back pain that began within 90 days" says
			// what is missing (clinical review 8: one line per red flag).
			ev = append(ev, x.noteEvidence([]string{string(notes.BackPain)}, c.WithinDays, "")...)
		}
		return ev
	case c.LumbarIndication:
		return x.indications(&x.pol.LumbarIndication, c.WithinDays)
	case c.CancerStage:
		return x.stagedCancers(c.Ended)
	}
	for _, cn := range x.conds {
		switch {
		case c.Ended && cn.active:
			// Only a diagnosis that has ended reads as its history.
			continue
		case !c.Ended && !cn.active && !c.History:
			continue
		}
		// An ongoing Condition still current on D is present within any
		// window that ends at D, whenever it began.
		if !(c.Ongoing && cn.active) && !x.inWindow(cn.date, c.WithinDays) {
			if cd, ok := matchConcept(&c.Codes, cn.p.Code); ok {
				why := fmt.Sprintf("counts only when dated within %s of the order", nDays(c.WithinDays))
				if cn.date.IsZero() {
					why += "; it is undated"
				}
				x.record(NotCounted{Reason: ReasonOutsideRedFlagWindow, What: x.flagLabel, Display: nameOf(evidence("", chart.Date{}, cd)),
					DateText: dateOrEmpty(cn.date), Source: cn.p.Source, Why: why})
			}
			continue
		}
		if cd, ok := matchConcept(&c.Codes, cn.p.Code); ok {
			e := conditionEvidence(cn, cd)
			e.Kind = valueSetName(c.ValueSet)
			if c.Ended {
				// A cancer that has ended is a history of cancer.
				e.Kind += "-ended"
				// Say that it is a history: "Malignant neoplasm of
				// breast, ended 2019-08-01".
				e.Display = nameOf(e) + ", " + cn.p.NotCurrentWhy(x.d)
			}
			out = append(out, e)
		}
	}
	if c.Ended {
		return out
	}
	for _, pr := range x.procs {
		if !x.inWindow(pr.start, c.WithinDays) {
			continue
		}
		if cd, ok := matchConcept(&c.Codes, pr.p.Code); ok {
			e := evidence(pr.p.Source, pr.start, cd)
			e.Kind = valueSetName(c.ValueSet)
			out = append(out, e)
		}
	}
	return out
}

// valueSetName is the last part of a value set's canonical URL
// ("https://lumbar-mri-cds.github.io/fhir/ValueSet/cancer-history" is
// "cancer-history").
func valueSetName(url string) string {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		return url[i+1:]
	}
	return url
}

// indications returns the active Conditions in the set (back pain,
// radiculopathy; or their lumbar subset), with onset (else recorded date)
// within n days of D when n > 0.
func (x *assessor) indications(set *policy.Codes, n int) []Evidence {
	var out []Evidence
	for _, cn := range x.conds {
		if !cn.active || !x.inWindow(cn.date, n) {
			continue
		}
		if cd, ok := matchConcept(set, cn.p.Code); ok {
			out = append(out, conditionEvidence(cn, cd))
		}
	}
	return out
}

// indication returns the indication evidence (DECISIONS.md "Indication"):
// the active indication Conditions by date, else the indication codes among
// the order's reasonCode (FromOrder, undated, Source the ServiceRequest).
func (x *assessor) indication() []Evidence {
	if ev := x.indications(&x.pol.Indication, 0); len(ev) > 0 {
		return sortEvidence(ev)
	}
	src := "ServiceRequest"
	if x.order.ID != "" {
		src += "/" + x.order.ID
	}
	var out []Evidence
	for _, rc := range x.order.ReasonCodes {
		if x.pol.Indication.Match(rc.System, rc.Code) {
			out = append(out, Evidence{Source: src, FromOrder: true, Display: rc.Display, Code: rc})
		}
	}
	return out
}

// orderReasonIn reports whether one of the order's reasonCode codings is
// in the set.
func (x *assessor) orderReasonIn(set *policy.Codes) bool {
	return slices.ContainsFunc(x.order.ReasonCodes, func(rc Code) bool { return set.Match(rc.System, rc.Code) })
}

// backRelated reports whether a reason names back pain or a red-flag
// condition: a coded reason in the indication set or any red-flag set.
func (x *assessor) backRelated(c chart.Concept) bool {
	if _, ok := matchConcept(&x.pol.Indication, c); ok {
		return true
	}
	_, ok := x.redFlagCoding(c)
	return ok
}

// redFlagCoding returns the red flag with an entry that suffices alone
// whose value set holds a coding of c.
func (x *assessor) redFlagCoding(c chart.Concept) (*policy.RedFlag, bool) {
	for p := range x.pol.RedFlags.Parts() {
		if _, ok := matchConcept(&p.Criterion.Codes, c); ok && p.Combination == nil {
			return p.Flag, true
		}
	}
	return nil, false
}

// forAnotherCondition reports whether an order's reasons are coded and none
// is a back condition: a treatment ordered for another condition is not
// back-pain therapy (issue 12; ACP/APS 2007 (Chou): therapy for low back
// pain). Uncoded or absent reasons, and reasons that name no condition
// (policy.ConservativeTherapy.NonspecificReasons), do not exclude it.
func (x *assessor) forAnotherCondition(reasons []chart.Concept) (string, bool) {
	coded := false
	for _, r := range reasons {
		if len(r.Codings) == 0 {
			continue
		}
		if _, ok := matchConcept(&x.pol.ConservativeTherapy.NonspecificReasons, r); ok {
			// "Chronic pain", "pain, unspecified": names no other
			// condition, as an uncoded reason does not.
			continue
		}
		coded = true
		if x.backRelated(r) {
			return "", false
		}
	}
	if !coded {
		return "", false
	}
	for _, r := range reasons {
		if len(r.Codings) > 0 {
			return r.Name(), true
		}
	}
	return "", true
}

// fever returns body temperatures at or above the policy threshold in the
// same UCUM unit, dated within the policy window (or n days when n > 0).
func (x *assessor) fever(n int) []Evidence {
	f := &x.pol.Fever
	if n <= 0 {
		n = f.WithinDays
	}
	var out []Evidence
	for i := range x.f.Observations {
		o := &x.f.Observations[i]
		if o.Value == nil {
			continue
		}
		cd, ok := matchConcept(&f.Codes, o.Code)
		if !ok {
			continue
		}
		if !x.inWindow(o.Effective, n) {
			continue
		}
		if !slices.ContainsFunc(f.Thresholds, func(t policy.Threshold) bool { return t.Unit == o.Value.Unit }) {
			// A temperature in a unit the policy does not state cannot be
			// compared with its thresholds: named, not dropped in silence.
			x.record(NotCounted{Reason: ReasonUnreadable, What: x.flagLabel, Display: fmt.Sprintf("Body temperature %s %s", o.Value.Text, o.Value.Unit),
				DateText: dateOrEmpty(o.Effective), Source: o.Source, Why: "its unit is not one the fever rule is stated in"})
			continue
		}
		for _, t := range f.Thresholds {
			if o.Value.Unit == t.Unit && o.Value.Value >= t.Value {
				if !o.Counts {
					name := cd.Display
					if name == "" {
						name = "Body temperature"
					}
					x.statusNotCounted(o.NotCountedWhy, x.flagLabel, fmt.Sprintf("%s %s %s", name, o.Value.Text, o.Value.Unit), o.Effective, o.Source)
					break
				}
				e := evidence(o.Source, o.Effective, cd)
				name := e.Display
				if name == "" {
					name = "Body temperature"
				}
				e.Display = fmt.Sprintf("%s %s %s", name, o.Value.Text, o.Value.Unit)
				e.Kind = "fever"
				if c, ok := celsius(o.Value.Value, o.Value.Unit); ok {
					e.Temperature = &c
				}
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// celsius is a body temperature in degrees Celsius, rounded to 0.1, from
// the UCUM units the fever rule is stated in (Cel, [degF]).
func celsius(v float64, unit string) (float64, bool) {
	switch unit {
	case "Cel":
	case "[degF]":
		v = (v - 32) * 5 / 9
	default:
		return 0, false
	}
	return math.Round(v*10) / 10, true
}

type redFlag struct {
	finding Finding
	// earliest is the earliest day of the latest-dated evidence.
	earliest *time.Time
	contrast string
}

// redFlags evaluates the policy's red flags in their stable order.
func (x *assessor) redFlags() []redFlag {
	var out []redFlag
	for _, rf := range x.pol.RedFlags.All() {
		var ev []Evidence
		x.flagLabel = rf.Flag.Label
		for i := range rf.Flag.Alone {
			ev = append(ev, x.matchCriterion(&rf.Flag.Alone[i])...)
		}
		var unmet []unmetCombination
		for _, cb := range rf.Flag.Combinations {
			var parts []Evidence
			u := unmetCombination{}
			for i := range cb.All {
				c := &cb.All[i]
				m := x.matchCriterion(c)
				if len(m) == 0 {
					u.failed = append(u.failed, c)
					continue
				}
				if p := pairing(c); p != "" {
					for j := range m {
						m[j].Pairing = p
					}
				} else {
					u.matched = append(u.matched, m...)
				}
				parts = append(parts, m...)
			}
			if hasPairing(parts) {
				for j := range parts {
					parts[j].Paired = parts[j].Pairing == ""
				}
			}
			switch {
			case len(cb.All) > 0 && len(u.failed) == 0:
				ev = append(ev, parts...)
			case len(u.matched) > 0:
				unmet = append(unmet, u)
			}
		}
		if len(ev) == 0 {
			// Entries that count only in a combination, whose combination
			// is not complete: named with what they need (issue 17).
			for _, u := range unmet {
				x.combinationNotMet(rf.Flag.Label, u)
			}
			continue
		}
		ev = sortEvidence(ev)
		var latest *time.Time
		var items []string
		for _, e := range ev {
			if e.Date != nil && (latest == nil || e.Date.After(*latest)) {
				latest = e.Date
			}
		}
		own, clause := SplitPairing(ev)
		for _, e := range own {
			items = append(items, fmt.Sprintf("%s (%s)", nameOf(e), dateText(e)))
		}
		label := rf.Flag.Label
		out = append(out, redFlag{
			finding: Finding{
				Code:     RedFlagCode(rf.Kind),
				Text:     label + ": " + strings.Join(items, "; ") + clause + ".",
				Evidence: ev,
			},
			earliest: latest,
			contrast: rf.Flag.Contrast,
		})
	}
	return out
}

// unmetCombination is a red-flag combination of which some parts matched:
// the entries of its own parts that matched (pairings excluded) and the
// parts that did not.
type unmetCombination struct {
	matched []Evidence
	failed  []*policy.Criterion
}

func hasPairing(ev []Evidence) bool {
	for _, e := range ev {
		if e.Pairing != "" {
			return true
		}
	}
	return false
}

// pairing names, in plain words, a combination part that is the setting a
// red-flag entry needs rather than a red flag itself (a back-pain or
// radiculopathy diagnosis); "" for any other part.
func pairing(c *policy.Criterion) string {
	switch {
	case c.LumbarIndication:
		return "lumbar or lumbosacral back pain"
	case c.Indication && c.WithinDays > 0:
		return PairingNewBackPain
	case c.Indication:
		return "back pain"
	}
	return ""
}

// combinationNotMet records the matched entries of an incomplete
// combination as not counted, with what they need and, where it can be
// said, what the chart has instead.
func (x *assessor) combinationNotMet(label string, u unmetCombination) {
	var needs, instead []string
	for _, c := range u.failed {
		n, i := x.describe(c)
		needs = append(needs, n)
		if i != "" {
			instead = append(instead, i)
		}
	}
	for _, e := range u.matched {
		name := e.Display
		if name == "" {
			name = "code " + e.Code.Code
		}
		if e.FromNote {
			name += ": \u201c" + e.Quote + "\u201d"
		}
		x.record(NotCounted{
			Reason: ReasonCombinationNotMet, What: label, Display: name, DateText: e.DateText, Source: e.Source,
			Needs: strings.Join(needs, " and "), Instead: strings.Join(instead, "; "),
		})
	}
}

// describe says in plain words what a combination part needs, and what the
// chart has instead when that can be said.
func (x *assessor) describe(c *policy.Criterion) (needs, instead string) {
	within := ""
	if c.WithinDays > 0 {
		within = fmt.Sprintf(" within %s of the order", nDays(c.WithinDays))
	}
	switch {
	case c.Indication || c.LumbarIndication:
		what, set := "back pain", &x.pol.Indication
		if c.LumbarIndication {
			what, set = "lumbar or lumbosacral back pain", &x.pol.LumbarIndication
		}
		needs = "a " + what + " diagnosis"
		if c.WithinDays > 0 {
			needs = what + " that began" + within
		}
		have := sortEvidence(x.indications(set, 0))
		switch {
		case len(have) == 0 && x.orderReasonIn(set):
			// The order's reason names it, but a reason has no date: "new"
			// back pain cannot be told from it.
			instead = "the " + strings.ReplaceAll(what, " ", "-") + " diagnosis is only the order's reason, which has no onset date"
			if c.LumbarIndication {
				instead = "the lumbar back-pain diagnosis is only the order's reason, which has no onset date"
			}
			if c.WithinDays == 0 {
				instead = ""
			}
		case len(have) == 0:
			instead = "no " + strings.ReplaceAll(what, " ", "-") + " diagnosis is coded"
			if c.LumbarIndication {
				instead = "no lumbar or lumbosacral back-pain diagnosis is coded"
			}
		case c.WithinDays > 0:
			// The latest dated diagnosis is the one closest to the window
			// (undated ones sort last and never count in a window).
			latest := have[0]
			for _, e := range have {
				if e.Date != nil {
					latest = e
				}
			}
			instead = "the " + strings.ReplaceAll(what, " ", "-") + " diagnosis is "
			if c.LumbarIndication {
				instead = "the lumbar back-pain diagnosis is "
			}
			if latest.Date == nil {
				instead += "undated"
			} else {
				// An onset placed by age reads "dated at age 58 a".
				on := "dated "
				if strings.HasPrefix(latest.DateText, "age ") {
					on = "dated at "
				}
				instead += on + dateText(latest)
			}
		}
	case c.Fever:
		n := c.WithinDays
		if n <= 0 {
			n = x.pol.Fever.WithinDays
		}
		needs = fmt.Sprintf("a recorded fever within %s of the order", nDays(n))
	case len(c.Note) > 0:
		needs = "a note recording " + strings.ReplaceAll(strings.Join(c.Note, " or "), "-", " ") + within
	default:
		title := ""
		if s := c.Codes.Set(); s != nil {
			title = s.Title()
		}
		if title == "" {
			title = "the other entry the policy pairs it with"
		}
		r := []rune(title)
		needs = strings.ToLower(string(r[:1])) + string(r[1:]) + " recorded" + within
	}
	return needs, instead
}

// dateText is an evidence date as recorded, or "undated".
func dateText(e Evidence) string {
	if e.DateText != "" {
		return e.DateText
	}
	return ymd(e.Date)
}

// sortEvidence orders evidence by date (undated last), then source and code,
// and drops repeats of the same source and code.
func sortEvidence(ev []Evidence) []Evidence {
	sort.SliceStable(ev, func(i, j int) bool {
		a, b := ev[i], ev[j]
		switch {
		case a.Date != nil && b.Date != nil && !a.Date.Equal(*b.Date):
			return a.Date.Before(*b.Date)
		case (a.Date == nil) != (b.Date == nil):
			return a.Date != nil
		case a.Source != b.Source:
			return a.Source < b.Source
		}
		return a.Code.Code < b.Code.Code
	})
	out := ev[:0]
	for i, e := range ev {
		// Two findings in one note share its source and have no code:
		// they differ by what was found.
		if i > 0 && e.Source == ev[i-1].Source && e.Code == ev[i-1].Code && e.Display == ev[i-1].Display {
			// Found alone and in a combination: it counts alone. Found as
			// a pairing and as a red-flag entry of its own: its own.
			last := &out[len(out)-1]
			last.Paired = last.Paired && e.Paired
			if e.Pairing == "" {
				last.Pairing = ""
			}
			continue
		}
		out = append(out, e)
	}
	return out
}

// absenceSearches are, for each finding that states an absence, the
// searches whose entries could have shown the thing absent.
var absenceSearches = map[string][]chart.Search{
	IndicationMissing:               {chart.SearchConditions},
	ConservativeTherapyMissing:      {chart.SearchProcedures, chart.SearchMedicationRequests, chart.SearchMedicationStatements},
	ConservativeTherapyInsufficient: {chart.SearchProcedures, chart.SearchMedicationRequests, chart.SearchMedicationStatements},
	XrayMissing:                     {chart.SearchImagingStudies, chart.SearchProcedures},
}

// withoutUnknownAbsences drops the findings that state an absence ("no
// back-pain diagnosis", "no conservative therapy") when a search that could
// have shown the thing did not arrive: the absence is then not known, and
// the coverage information's reasons and the audit trail would state it to
// the EHR and the payer as a fact. The assessment says what was not checked
// instead (Unchecked).
func withoutUnknownAbsences(findings []Finding, unavailable []chart.Search) []Finding {
	return slices.DeleteFunc(findings, func(f Finding) bool {
		return slices.ContainsFunc(absenceSearches[f.Code], func(s chart.Search) bool { return slices.Contains(unavailable, s) })
	})
}

// lowerInitial lowers a label's first letter for use mid-sentence ("Known
// or suspected malignancy" as "known or suspected malignancy"), leaving an
// initialism ("IV drug use") as written.
func lowerInitial(s string) string {
	if len(s) > 1 && s[0] >= 'A' && s[0] <= 'Z' && (s[1] < 'A' || s[1] > 'Z') {
		return string(s[0]+'a'-'A') + s[1:]
	}
	return s
}
