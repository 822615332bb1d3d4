package cards

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// maxNotCounted is how many "not counted" entries a card lists before
// "and N more".
const maxNotCounted = 5

var documentationOverrides = []hooks.Coding{
	{System: OverrideSystem, Code: "documented-elsewhere", Display: "Documented outside the coded chart"},
	{System: OverrideSystem, Code: "urgent-clinical-need", Display: "Urgent clinical need"},
	{System: OverrideSystem, Code: "will-attach-documentation", Display: "Will attach documentation to the request"},
}

// Override reasons for a repeat study: reference/clinical-criteria.md 2.x
// "Repeat imaging" (ACP 2011; RBM repeat-intervention rules).
var repeatOverrides = []hooks.Coding{
	{System: OverrideSystem, Code: "new-red-flag", Display: "New red flag since the prior MRI"},
	{System: OverrideSystem, Code: "progressive-deficit", Display: "Progressive neurological deficit"},
	{System: OverrideSystem, Code: "post-operative", Display: "New symptoms after surgery"},
	{System: OverrideSystem, Code: "surgical-planning", Display: "Surgical or injection planning"},
	{System: OverrideSystem, Code: "prior-nondiagnostic", Display: "Prior study limited or non-diagnostic"},
	{System: OverrideSystem, Code: "tumor-infection-follow-up", Display: "Follow-up of known tumour or infection"},
	{System: OverrideSystem, Code: "will-attach-documentation", Display: "Will attach documentation to the request"},
}

// notCountedWords says in plain words why a chart entry did not count.
var notCountedWords = map[string]string{
	criteria.ReasonNoDate:               "no usable date",
	criteria.ReasonUnreadable:           "the entry could not be read",
	criteria.ReasonUnresolvedMed:        "its medication could not be resolved",
	criteria.ReasonTextOnly:             "recorded as text without a code",
	criteria.ReasonOutsideWindow:        "outside the look-back window",
	criteria.ReasonOtherCondition:       "ordered for another condition",
	criteria.ReasonNotCurrent:           "not current",
	criteria.ReasonStatus:               "its status does not count",
	criteria.ReasonAdvisoryNote:         "from a note, advisory only under this policy",
	criteria.ReasonNoteMedicationList:   "on a note's medication list, which does not document a trial",
	criteria.ReasonNoteSuperseded:       "not read: status superseded (the record marks each as replaced by another version)",
	criteria.ReasonNoteTherapyUnknown:   "its words name no therapy class the policy counts; if it is one (a brand name, say), record it coded",
	criteria.ReasonAfterOrder:           "dated after the order",
	criteria.ReasonOutsideImagingWindow: "before the window for prior imaging",
	criteria.ReasonOutsideRedFlagWindow: "outside the red flag's time window",
	criteria.ReasonPolicyExcluded:       "not counted under this policy",
	criteria.ReasonNotTherapyCode:       "its code is not a therapy the policy counts",
	criteria.ReasonCodeNotListed:        "its code is in none of the criteria's value sets",
	criteria.ReasonNoteNotRead:          "not read",
	criteria.ReasonOtherPatient:         "left out (the request's patient is another)",
	// Not the policy: the note itself is not final yet.
	criteria.ReasonPreliminaryNote: "from a preliminary note, not counted until the note is final",
	// A fallback: combination-not-met lines say what the entry needs.
	criteria.ReasonCombinationNotMet: "counts only in combination with another finding",
	// Counted, but as a single day: the lines say why.
	criteria.ReasonSupplyUnusable:   "supply duration unusable; counted as a single day",
	criteria.ReasonNoSupplyDuration: "no supply duration recorded; counted as a single day",
	criteria.ReasonPeriodReversed:   "period end before its start; counted as its start day only",
}

// uncountedTherapy are the treatments within the look-back whose words name
// a counted therapy class but which did not count (recorded as text only,
// or coded with a code that is not a counted therapy, such as Synthea's
// movement therapy): recording them with a therapy code, not a new course,
// may be what the trial needs (clinical review 3, findings 01 and 03).
func uncountedTherapy(a *criteria.Assessment) []criteria.NotCounted {
	var out []criteria.NotCounted
	for _, n := range a.NotCounted {
		if n.Course != nil {
			out = append(out, n)
		}
	}
	return out
}

// uncountedAfter reports whether therapy named as not counted runs after
// the longest counted course ended: that course then need not have lapsed.
func uncountedAfter(a *criteria.Assessment) bool {
	if a.TherapyTo == nil {
		return false
	}
	for _, n := range uncountedTherapy(a) {
		if n.Course.End.After(*a.TherapyTo) {
			return true
		}
	}
	return false
}

// recordTherapy asks to record therapy named as not counted with a coded
// procedure: "If the therapy listed as not counted was given (Supervised
// physical therapy for low back pain, 2026-04-01 to 2026-05-13), record it
// with a coded procedure (CPT or SNOMED CT) and its dates, then re-assess."
func recordTherapy(ns []criteria.NotCounted) string {
	type group struct {
		name, first, only string
		n                 int
		last              time.Time
	}
	var groups []*group
	by := map[string]*group{}
	for _, n := range ns {
		name := n.Display
		if name == "" {
			name = n.What
		}
		g := by[name]
		if g == nil {
			g = &group{name: name, first: n.Course.Start.Text, only: n.DateText}
			by[name] = g
			groups = append(groups, g)
		}
		g.n++
		if n.Course.End.After(g.last) {
			g.last = n.Course.End
		}
	}
	var parts []string
	for i, g := range groups {
		if i == 2 {
			parts = append(parts, fmt.Sprintf("%d more", len(groups)-2))
			break
		}
		when := g.only
		if g.n > 1 {
			when = fmt.Sprintf("%d entries, %s to %s", g.n, g.first, day(&g.last))
		}
		parts = append(parts, g.name+", "+when)
	}
	it, its := "it", "its"
	if len(ns) > 1 {
		it, its = "them", "their"
	}
	return mdEscape(fmt.Sprintf("If the therapy listed as not counted was given (%s), record %s with a coded procedure (CPT or SNOMED CT) and %s dates, then re-assess.", strings.Join(parts, "; "), it, its))
}

// unknownDurations are the medications the assessment counted as a single
// day because their duration is unusable or, on an active order, not
// recorded: recording it, not a new course, is then what the trial needs.
func unknownDurations(a *criteria.Assessment) []criteria.NotCounted {
	var out []criteria.NotCounted
	for _, n := range a.NotCounted {
		if n.Reason == criteria.ReasonSupplyUnusable || n.Reason == criteria.ReasonNoSupplyDuration {
			out = append(out, n)
		}
	}
	return out
}

// durationNames names them for a sentence: "naproxen 500 MG Oral Tablet
// (2026-04-27)", markdown-safe, each display once.
func durationNames(ns []criteria.NotCounted) string {
	var names []string
	for _, n := range ns {
		s := mdEscape(n.Display)
		if n.DateText != "" {
			s += " (" + mdEscape(n.DateText) + ")"
		}
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	if len(names) > 1 {
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
	return strings.Join(names, "")
}

// coverageCard is the order's one coverage-information card. Its detail
// says, in this order: the decision in plain words and the payer; what is
// documented (display text and date as recorded, never references); what
// to add and by when; entries that did not count; what to do. riding are
// the suggestions that have no card of their own; offers are all of the
// order's suggestions (the card points to the others).
func (b *builder) coverageCard(o *Order, offers, riding []offer) {
	a := &o.Assessment
	var d strings.Builder
	b.decision(&d, a)
	b.documented(&d, a)
	gaps, outside := b.gaps(a)
	if len(gaps) > 0 {
		d.WriteString("**To add:**\n\n")
		for _, g := range gaps {
			d.WriteString(g)
		}
		d.WriteString("\n")
	}
	notCounted(&d, a, outside)
	d.WriteString("**What to do:**\n\n")
	for _, s := range b.todo(a, offers, riding) {
		d.WriteString("- " + s + "\n")
	}
	if src := b.sources(a); src != "" {
		d.WriteString("\n*" + src + "*\n")
	}

	c := hooks.Card{Summary: b.coverageSummary(a), Detail: strings.TrimSpace(d.String())}
	switch a.Outcome {
	case criteria.CriteriaMet:
		c.Indicator = hooks.IndicatorInfo
	default:
		c.Indicator = hooks.IndicatorWarning
		c.OverrideReasons = documentationOverrides
		if a.Has(criteria.PriorLumbarMRI) {
			c.OverrideReasons = repeatOverrides
		}
	}
	for _, of := range riding {
		c.Suggestions = append(c.Suggestions, of.suggestion)
	}
	if len(c.Suggestions) > 0 {
		c.SelectionBehavior = selection(len(c.Suggestions))
	}
	b.add(TopicCoverageInfo, "Coverage Information", c, a.Order.ID).decision = true
}

// coverageSummary is the decision in one line, under 140 characters.
func (b *builder) coverageSummary(a *criteria.Assessment) string {
	switch a.Outcome {
	case criteria.CriteriaMet:
		what := "prior authorization"
		if !paRequired(b.in.Policy.PANeeded) {
			what = "the order"
		}
		why := nDays(a.TherapyDays) + " of conservative therapy"
		if rf := redFlags(a); len(rf) > 0 {
			var names []string
			for _, f := range rf {
				names = append(names, lowerFirst(redFlagLabel(b.in.Policy, f.Code)))
			}
			why = strings.Join(names, "; ")
		}
		return "Lumbar MRI: documentation supports " + what + " (" + why + ")"
	case criteria.CriteriaIndeterminate:
		if a.Has(criteria.OtherPatientData) {
			return "Lumbar MRI: the chart data sent is about another patient; nothing could be checked"
		}
		return "Lumbar MRI: documentation could not be checked fully (" + strings.Join(a.Unchecked, ", ") + " " + notRetrieved(a) + ")"
	default:
		return "Lumbar MRI: documentation incomplete: " + b.firstGap(a)
	}
}

// firstGap is the main thing missing, in a few words.
func (b *builder) firstGap(a *criteria.Assessment) string {
	req := a.TherapyRequiredDays
	switch {
	case a.Has(criteria.PriorLumbarMRI):
		return "lumbar MRI already done " + priorWhen(a)
	case a.Has(criteria.IndicationMissing):
		return "no back-pain diagnosis or red flag"
	case a.Has(criteria.ConservativeTherapyMissing) && len(uncountedTherapy(a)) > 0:
		// Therapy is in the chart, but not as a therapy code: recording it
		// comes before a new course (clinical review 6, finding 06b).
		return "therapy recorded without a therapy code"
	case a.Has(criteria.ConservativeTherapyMissing):
		if a.LookbackDays > 0 {
			return "no conservative therapy in the last " + nDays(a.LookbackDays)
		}
		return "no conservative therapy documented"
	case a.Has(criteria.ConservativeTherapyInsufficient) && a.TherapyDays < req:
		if a.TherapyMetOn != nil {
			return fmt.Sprintf("%s of therapy (%d-day point %s)", moreDays(req-a.TherapyDays), req, day(a.TherapyMetOn))
		}
		if len(unknownDurations(a)) > 0 {
			return "therapy duration not recorded"
		}
		if uncountedAfter(a) {
			return "therapy recorded without a counted code"
		}
		return fmt.Sprintf("a new %d-day therapy course", req)
	case a.Has(criteria.ConservativeTherapyInsufficient):
		return "the therapy rule is not met"
	case a.Has(criteria.XrayMissing):
		return "lumbar x-rays needed first"
	}
	return "no red flag and no completed therapy trial"
}

// decision writes the decision in plain words, the payer and the order.
func (b *builder) decision(d *strings.Builder, a *criteria.Assessment) {
	pol := b.in.Policy
	if a.Has(criteria.OtherPatientData) {
		// Not "part of the chart": none of it is this patient's (issue 13,
		// requirement 7). Say so first, with what to do.
		fmt.Fprintf(d, "**%s: the chart sent is for another patient, so nothing of this patient's could be checked. Send this patient's record, then sign the order again.**\n\n", paWords(pol.PANeeded))
	} else {
		fmt.Fprintf(d, "**%s: %s.**\n\n", paWords(pol.PANeeded), outcomeWords(a.Outcome))
	}
	payer := "Payer: " + mdEscape(pol.PayerName())
	if c := b.in.Coverage; c != nil && c.Payer != "" && pol.Payer != "" && !strings.EqualFold(c.Payer, pol.Payer) && pol.ID == policy.DefaultID {
		// No payer-specific policy: name the chart's payer and the criteria used.
		payer = "Payer: " + mdEscape(c.Payer) + " · Criteria: " + mdEscape(pol.PayerName())
	}
	switch {
	case b.in.Coverage == nil && a.CoverageUnchecked:
		// No Coverage because none could be read: whether one is in force
		// is not known.
		payer = "Payer: not known (coverage not checked); checked against " + mdEscape(pol.PayerName())
	case b.in.Coverage == nil:
		payer = "Payer: no coverage in force on the order date; checked against " + mdEscape(pol.PayerName())
	}
	fmt.Fprintf(d, "%s · Order: %s (%s)\n\n", payer, mdEscape(a.Order.Display), mdEscape(a.Order.Code.Code))
	if b.in.Coverage != nil && b.in.Coverage.Note != "" {
		d.WriteString(mdEscape(b.in.Coverage.Note) + "\n\n")
	}
	if id, ok := b.kept[a.Order.ID]; ok && a.Order.ID != "" {
		// No update this time (CRD STU 2.1 cards.md, Coverage Information:
		// no system action "unless something is new"): say which assertion
		// still stands, the id the claim carries.
		fmt.Fprintf(d, "Coverage information unchanged: the order already carries it (assertion %s), so it is not updated.\n\n", mdEscape(id))
	}
	for _, u := range uncheckedByWhy(a) {
		fmt.Fprintf(d, "Not checked (%s): %s.\n\n", u.why, mdEscape(strings.Join(u.searches, ", ")))
	}
	if f := a.Finding(criteria.OtherPatientData); f != nil {
		d.WriteString(mdEscape(f.Text) + "\n\n")
	}
	if !a.NotesChecked && a.Outcome != criteria.CriteriaMet {
		// Notes are optional data (DECISIONS.md "Notes"): say they were not
		// read, since a red flag or a therapy course may be written there.
		why := "none were sent"
		switch {
		case a.NotesTooLarge.Max > 0:
			why = limitWords(a.NotesTooLarge)
		case a.NotesFailed:
			why = "the note search failed"
		}
		fmt.Fprintf(d, "Clinical notes were not checked (%s).\n\n", why)
	}
	if a.NotesChecked && a.Outcome != criteria.CriteriaMet {
		n := 0
		for _, nc := range a.NotCounted {
			if nc.Reason == criteria.ReasonNoteNotRead {
				n++
			}
		}
		switch {
		// What an unread note holds is unknown: "none is documented"
		// below holds only for what was read.
		case n == 1:
			d.WriteString("A clinical note could not be read (listed below): a red flag or a therapy course written there is not seen; check it before acting.\n\n")
		case n > 1:
			fmt.Fprintf(d, "%d clinical notes could not be read (listed below): a red flag or a therapy course written there is not seen; check them before acting.\n\n", n)
		}
	}
}

// unchecked is the searches not checked for one reason.
type unchecked struct {
	why      string
	searches []string
}

// uncheckedByWhy groups the searches not checked by why: those that did not
// arrive first, then those that arrived over a cap (too large to read), in
// the order of the assessment.
func uncheckedByWhy(a *criteria.Assessment) []unchecked {
	var out []unchecked
	at := map[string]int{}
	add := func(why, s string) {
		i, ok := at[why]
		if !ok {
			i = len(out)
			at[why] = i
			out = append(out, unchecked{why: why})
		}
		out[i].searches = append(out[i].searches, s)
	}
	for _, s := range a.Unchecked {
		if a.PatientNotFound[s] {
			add("the FHIR server has no record of this patient", s)
		}
	}
	for _, s := range a.Unchecked {
		if _, ok := a.TooLarge[s]; !ok && !a.PatientNotFound[s] {
			add("the data did not arrive or could not be used", s)
		}
	}
	for _, s := range a.Unchecked {
		if l, ok := a.TooLarge[s]; ok {
			add(limitWords(l), s)
		}
	}
	return out
}

// limitWords says which cap a search went over.
func limitWords(l criteria.Limit) string {
	if l.Call {
		return fmt.Sprintf("more than %d entries in all the searches together", l.Max)
	}
	return fmt.Sprintf("more than %d entries in one search", l.Max)
}

// notRetrieved says, for the summary, what became of the searches not
// checked: some arrived but were too large to read.
func notRetrieved(a *criteria.Assessment) string {
	if len(a.TooLarge) > 0 {
		return "not read"
	}
	return "not retrieved"
}

func paRequired(code string) bool {
	return code != "no-auth" && code != "satisfied"
}

// paWords says the policy's pa-needed code in plain words (CRD STU 2.1
// ext-coverage-information, pa-needed).
func paWords(code string) string {
	switch code {
	case "no-auth":
		return "No prior authorization needed"
	case "satisfied":
		return "Prior authorization already on file"
	case "performpa":
		return "Prior authorization needed (the performing provider requests it)"
	case "conditional":
		return "Prior authorization may be needed"
	}
	return "Prior authorization needed"
}

func outcomeWords(outcome string) string {
	switch outcome {
	case criteria.CriteriaMet:
		return "the chart supports this order"
	case criteria.CriteriaIndeterminate:
		return "part of the chart could not be checked"
	}
	return "the chart does not yet support this order"
}

// documented lists what the chart documents for the order: the diagnosis
// used as the indication first, then red flags and therapy with their
// evidence, and the prior lumbar MRI.
func (b *builder) documented(d *strings.Builder, a *criteria.Assessment) {
	var items []string
	flagged := len(redFlags(a)) > 0
	if len(a.Indication) > 0 {
		items = append(items, item("Diagnosis", a.Indication))
	}
	for _, f := range a.Findings {
		switch {
		case isRedFlag(f.Code):
			// A pairing (the new back pain a history code needs) reads as
			// such, not as more evidence of the red flag.
			own, clause := criteria.SplitPairing(f.Evidence)
			items = append(items, itemWith(redFlagLabel(b.in.Policy, f.Code), own, clause))
		case f.Code == criteria.ConservativeTherapyMet || f.Code == criteria.ConservativeTherapyInsufficient:
			items = append(items, item(therapyHeading(a), f.Evidence))
		case f.Code == criteria.ConservativeTherapyMissing, f.Code == criteria.IndicationMissing,
			f.Code == criteria.XrayMissing, f.Code == criteria.ContrastReview, f.Code == criteria.PriorLumbarMRI,
			f.Code == criteria.OtherPatientData:
		default:
			// A finding this package does not know yet: name it with its evidence.
			items = append(items, item(Display(f.Code), f.Evidence))
		}
	}
	if len(items) > 0 {
		d.WriteString("**Documented:**\n\n")
		for _, it := range items {
			d.WriteString(it)
		}
		d.WriteString("\n")
	}
	if f := a.Finding(criteria.PriorLumbarMRI); f != nil {
		fmt.Fprintf(d, "**Prior lumbar MRI** %s", priorWhen(a))
		if w := b.in.Policy.RepeatMRIWindowDays; w > 0 {
			fmt.Fprintf(d, ", within the %d-day repeat window", w)
		}
		if names := evidenceNames(f.Evidence); len(names) > 0 {
			d.WriteString(": " + strings.Join(names, "; "))
		}
		switch {
		case a.Outcome == criteria.CriteriaMet && flagged:
			d.WriteString(". The red flag is documented after it, which supports repeating the study.")
		case flagged:
			d.WriteString(". The documented red flag predates it.")
		default:
			d.WriteString(".")
		}
		d.WriteString("\n\n")
	}
}

// evidenceNames are the distinct display texts of the evidence, markdown-safe.
func evidenceNames(ev []criteria.Evidence) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range ev {
		name := e.Display
		if name == "" {
			name = "code " + e.Code.Code
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, mdEscape(name))
		}
	}
	return out
}

// courseLength says how long a course is. A course is counted from its
// first day to its last, so treatments all on one day make 0 days, which a
// clinician reads as "none": it is said as a single day.
func courseLength(days int) string {
	switch days {
	case 0:
		return "a single day"
	case 1:
		return "1 day"
	}
	return nDays(days)
}

// moreDays says how many more days: "1 more day", "24 more days".
func moreDays(n int) string {
	if n == 1 {
		return "1 more day"
	}
	return fmt.Sprintf("%d more days", n)
}

// nDays says a number of days with its noun: "1 day", "42 days".
func nDays(n int) string {
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d day", n)
	}
	return fmt.Sprintf("%d days", n)
}

// therapyHeading names a therapy course: its length and dates.
func therapyHeading(a *criteria.Assessment) string {
	s := "Conservative therapy, " + courseLength(a.TherapyDays)
	if a.TherapyFrom != nil && a.TherapyTo != nil && !a.TherapyFrom.Equal(*a.TherapyTo) {
		// The course as counted: an imprecise first date counts from its
		// last possible day, so the recorded date is said beside it.
		s += " (" + day(a.TherapyFrom) + " to " + day(a.TherapyTo)
		if a.TherapyFromRecorded != "" {
			s += "; the first treatment is dated only " + a.TherapyFromRecorded + ", so it counts from that period's last day"
		} else if a.TherapyFromWindowEdge {
			// The evidence shows the date recorded; the count starts
			// later, at the window's first day.
			s += "; counted from the start of " + lookback(a)
		}
		s += ")"
	}
	return s
}

// item is one "Documented" line: a heading with its evidence, inline when
// short, else as a nested list.
func item(heading string, ev []criteria.Evidence) string { return itemWith(heading, ev, "") }

// itemWith is item with a clause that follows the evidence (", with new
// back pain since 2026-05-25"); nested, the clause is a line of its own.
func itemWith(heading string, ev []criteria.Evidence, clause string) string {
	names := groups(ev)
	clause = mdEscape(clause)
	switch {
	case len(names) == 0 && clause != "":
		return "- " + mdEscape(heading) + ": " + strings.TrimPrefix(clause, ", ") + "\n"
	case len(names) == 0:
		return "- " + mdEscape(heading) + "\n"
	case len(names) <= 2:
		return "- " + mdEscape(heading) + ": " + strings.Join(names, "; ") + clause + "\n"
	}
	s := "- " + mdEscape(heading) + ":\n"
	for _, n := range names {
		s += "  - " + n + "\n"
	}
	if clause != "" {
		s += "  - " + strings.TrimPrefix(clause, ", ") + "\n"
	}
	return s
}

// groups renders evidence as markdown-safe text, one entry per distinct
// display (repeats become "N entries, first to last"); notes are quoted
// (once per quote: findings from one sentence of a note share its entry)
// and text matches marked. References never appear.
func groups(ev []criteria.Evidence) []string {
	type group struct {
		name, first, last string
		n                 int
		byText            bool
		fromOrder         bool
	}
	var order []*group
	byKey := map[string]*group{}
	type quoted struct {
		names []string
		date  string
		quote string
	}
	var notes []*quoted
	byQuote := map[string]*quoted{}
	for _, e := range ev {
		name := e.Display
		if name == "" {
			name = "code " + e.Code.Code
		}
		if e.FromNote {
			key := e.Source + "|" + dateText(e) + "|" + e.Quote
			q := byQuote[key]
			if q == nil {
				q = &quoted{date: dateText(e), quote: e.Quote}
				byQuote[key] = q
				notes = append(notes, q)
			}
			if !slices.Contains(q.names, name) {
				q.names = append(q.names, name)
			}
			continue
		}
		key := fmt.Sprintf("%s|%t|%t", name, e.ByText, e.FromOrder)
		g := byKey[key]
		if g == nil {
			g = &group{name: name, first: dateText(e), byText: e.ByText, fromOrder: e.FromOrder}
			byKey[key] = g
			order = append(order, g)
		}
		g.n++
		g.last = dateText(e)
	}
	var plain []string
	for _, g := range order {
		when := g.first
		if g.n > 1 {
			when = fmt.Sprintf("%d entries, %s to %s", g.n, g.first, g.last)
		}
		if g.fromOrder {
			when = "the order's reason"
		}
		if g.byText {
			when += ", matched by name"
		}
		plain = append(plain, mdEscape(g.name)+" ("+when+")")
	}
	for _, q := range notes {
		plain = append(plain, fmt.Sprintf("%s: from a note (%s): “%s”", mdEscape(andList(q.names)), q.date, mdEscape(q.quote)))
	}
	return plain
}

// andList joins names as "a", "a and b", "a, b and c".
func andList(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// dateText is an evidence date as recorded (its precision kept), else the
// day the rule used, else "undated".
func dateText(e criteria.Evidence) string {
	if e.DateText != "" {
		return e.DateText
	}
	return day(e.Date)
}

// priorWhen says when the prior lumbar MRI was done: "on 2026-03-17", or
// "in 2026-03 (date recorded to the month)" for an imprecise date.
func priorWhen(a *criteria.Assessment) string {
	if a.PriorMRI == nil {
		return "within the repeat window"
	}
	t := dateText(*a.PriorMRI)
	if a.PriorMRI.Imprecise {
		unit := "month"
		if len(t) == 4 {
			unit = "year"
		}
		return "in " + t + " (date recorded to the " + unit + ")"
	}
	return "on " + t
}

// lookback names the therapy look-back window ("the 180-day look-back").
func lookback(a *criteria.Assessment) string {
	if a.LookbackDays > 0 {
		return fmt.Sprintf("the %d-day look-back", a.LookbackDays)
	}
	return "the look-back window"
}

// gaps lists what to add, as markdown list items, and whether the
// outside-look-back entries were placed under the therapy gap. Only an
// unmet order has gaps. With a prior lumbar MRI in the window the only way
// to meet the criteria is a red flag documented after it (DECISIONS.md,
// "Outcome"), so that is the one gap then.
func (b *builder) gaps(a *criteria.Assessment) ([]string, bool) {
	if a.Outcome != criteria.CriteriaNotMet {
		return nil, false
	}
	if a.Has(criteria.PriorLumbarMRI) {
		return []string{"- What is new since the lumbar MRI done " + priorWhen(a) +
			": a red flag or a clear change documented after that study (a repeat without one is usually denied).\n"}, false
	}
	var out []string
	placed := false
	req := a.TherapyRequiredDays
	if a.Has(criteria.IndicationMissing) {
		out = append(out, "- A back-pain or radiculopathy diagnosis, or the red flag that prompts imaging.\n")
	}
	if a.Has(criteria.ConservativeTherapyMissing) && len(redFlags(a)) == 0 {
		s := fmt.Sprintf("- At least %s of conservative therapy within %s: none is documented.\n", nDays(req), lookback(a))
		if len(uncountedTherapy(a)) > 0 {
			s = fmt.Sprintf("- At least %s of conservative therapy within %s: none is counted; the therapy named below as not counted is recorded without a therapy code.\n", nDays(req), lookback(a))
		}
		for _, l := range outsideLines(a) {
			s += "  - " + l + "\n"
			placed = true
		}
		out = append(out, s)
	}
	// Therapy the chart names without a start date cannot be counted: the
	// fix is its date, not a new treatment (issue 13, realcharts 04).
	seen := map[string]bool{}
	for _, n := range a.NotCounted {
		if n.Reason != criteria.ReasonNoDate || n.What == "prior lumbar imaging" || seen[n.Display] {
			continue
		}
		seen[n.Display] = true
		if n.Why != "" {
			// A date was recorded but is not valid: correcting it is the fix.
			out = append(out, fmt.Sprintf("- A valid date for the %s %s (%s): without it its days cannot count.\n", mdEscape(n.What), mdEscape(n.Display), mdEscape(n.Why)))
			continue
		}
		out = append(out, fmt.Sprintf("- The start date of the %s %s (and its supply or end date): without it its days cannot count.\n", mdEscape(n.What), mdEscape(n.Display)))
	}
	// Medications counted as a single day for want of a usable duration:
	// the fix is the duration, not a new treatment (clinical review 03).
	unknown := unknownDurations(a)
	if len(unknown) > 0 && a.Has(criteria.ConservativeTherapyInsufficient) && a.TherapyDays < req {
		out = append(out, fmt.Sprintf("- The supply duration, end date or dispensing of %s: as recorded, each counts as a single day.\n", durationNames(unknown)))
	}
	if f := a.Finding(criteria.ConservativeTherapyInsufficient); f != nil {
		switch {
		case a.TherapyDays < req && a.TherapyMetOn != nil:
			out = append(out, fmt.Sprintf("- %s of therapy: the %d-day point is %s.\n", upperFirst(moreDays(req-a.TherapyDays)), req, day(a.TherapyMetOn)))
		case a.TherapyDays < req && len(unknown) > 0:
			// Said above: the duration is what is missing.
		case a.TherapyDays < req && uncountedAfter(a):
			// Therapy named as not counted runs after the counted course:
			// the course may not have lapsed; its record is what is missing.
			out = append(out, fmt.Sprintf("- A course of at least %s: the longest counted, %s, ended %s; the therapy recorded after it is not counted (see below).\n", nDays(req), courseLength(a.TherapyDays), day(a.TherapyTo)))
		case a.TherapyDays < req:
			out = append(out, fmt.Sprintf("- A course of at least %s: the longest documented, %s, has lapsed, so a new course is needed.\n", nDays(req), courseLength(a.TherapyDays)))
		default:
			// The length is met but another part of the therapy rule is not
			// (a follow-up examination, a number of visits): the finding says which.
			if _, also, ok := strings.Cut(f.Text, "Also: "); ok {
				out = append(out, "- "+mdEscape(upperFirst(also))+"\n")
			} else {
				out = append(out, "- What the policy's therapy rule still needs: "+mdEscape(f.Text)+"\n")
			}
		}
	}
	if a.Has(criteria.XrayMissing) {
		out = append(out, "- Lumbar spine radiographs before MRI: "+mdEscape(b.in.Policy.PayerName())+" requires them.\n")
	}
	if len(out) == 0 {
		out = append(out, "- A red flag, or a completed conservative-therapy trial.\n")
	}
	return out, placed
}

// outsideLines says which therapy fell outside the look-back window, one
// line per kind: "The physical therapy in 2025-10 is outside the 180-day
// look-back."
func outsideLines(a *criteria.Assessment) []string {
	type span struct {
		what, first, last string
		n                 int
	}
	var order []*span
	by := map[string]*span{}
	for _, n := range a.NotCounted {
		if n.Reason != criteria.ReasonOutsideWindow {
			continue
		}
		what := n.What
		if what == "" {
			what = n.Display
		}
		m := month(n.DateText)
		s := by[what]
		if s == nil {
			s = &span{what: what, first: m, last: m, n: 1}
			by[what] = s
			order = append(order, s)
			continue
		}
		s.n++
		if m != "" && (s.first == "" || m < s.first) {
			s.first = m
		}
		if m > s.last {
			s.last = m
		}
	}
	var out []string
	for _, s := range order {
		when := ""
		switch {
		case s.first == "":
		case s.first == s.last:
			when = " in " + s.first
		default:
			// Separate entries, not one course: "from 2014-01 to 2022-03"
			// read as eight years of therapy (clinical review 6).
			out = append(out, fmt.Sprintf("The %d %s entries between %s and %s are outside %s.", s.n, mdEscape(s.what), s.first, s.last, lookback(a)))
			continue
		}
		out = append(out, fmt.Sprintf("The %s%s is outside %s.", mdEscape(s.what), when, lookback(a)))
	}
	return out
}

// month shortens a recorded date to its month ("2025-10-14" -> "2025-10").
func month(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// notCounted lists chart entries that looked relevant but did not count,
// grouped by reason, display and date only, at most maxNotCounted lines.
// Therapy outside the look-back is listed here when the therapy rule is
// unmet and the therapy gap did not already name it.
func notCounted(d *strings.Builder, a *criteria.Assessment, outsidePlaced bool) {
	var lines []string
	// Old therapy matters only while the therapy rule is what is missing.
	therapyGap := a.Has(criteria.ConservativeTherapyMissing) || a.Has(criteria.ConservativeTherapyInsufficient)
	if !outsidePlaced && therapyGap && a.Outcome != criteria.CriteriaMet {
		lines = append(lines, outsideLines(a)...)
	}
	var reasons []string
	by := map[string][]criteria.NotCounted{}
	for _, n := range a.NotCounted {
		// Outside-window entries have their own lines above. Entries about
		// another patient are named with a count, so that nothing the
		// service read is dropped in silence (the integrator can look).
		if n.Reason == criteria.ReasonOutsideWindow {
			continue
		}
		// An active order counted as one day for want of a duration
		// matters only while the therapy rule is what is missing.
		if n.Reason == criteria.ReasonNoSupplyDuration && (!therapyGap || a.Outcome == criteria.CriteriaMet) {
			continue
		}
		if _, ok := by[n.Reason]; !ok {
			reasons = append(reasons, n.Reason)
		}
		by[n.Reason] = append(by[n.Reason], n)
	}
	for _, r := range reasons {
		why := notCountedWords[r]
		if why == "" {
			why = "not counted under this policy"
		}
		for _, n := range by[r] {
			name := n.Display
			if name == "" {
				name = n.What
			}
			why := why
			// The entry's own why, where the reason has one.
			switch {
			case n.Why == "":
			case r == criteria.ReasonNoteNotRead && !strings.Contains(n.Why, "not read"):
				why = "not read (" + mdEscape(n.Why) + ")"
			case r == criteria.ReasonNotCurrent:
				// The status as recorded: "not current (ended 2024-05-20)".
				why = "not current (" + mdEscape(n.Why) + ")"
			case r == criteria.ReasonNoteNotRead, r == criteria.ReasonStatus, r == criteria.ReasonTextOnly, r == criteria.ReasonUnreadable,
				r == criteria.ReasonOutsideImagingWindow, r == criteria.ReasonOutsideRedFlagWindow, r == criteria.ReasonPolicyExcluded,
				r == criteria.ReasonNotTherapyCode, r == criteria.ReasonNoDate, r == criteria.ReasonSupplyUnusable,
				r == criteria.ReasonNoSupplyDuration, r == criteria.ReasonPeriodReversed, r == criteria.ReasonCodeNotListed:
				why = mdEscape(n.Why)
			}
			if r == criteria.ReasonCombinationNotMet && n.Needs != "" {
				why = "counts as " + lowerFirst(n.What) + " only with " + n.Needs
				if n.Instead != "" {
					why += "; " + n.Instead
				}
				why = mdEscape(why)
			}
			switch {
			case r == criteria.ReasonOtherPatient:
				lines = append(lines, fmt.Sprintf("%s: %s.", mdEscape(name), why))
			case n.DateText != "":
				lines = append(lines, fmt.Sprintf("%s (%s): %s.", mdEscape(name), mdEscape(n.DateText), why))
			case r == criteria.ReasonNoDate:
				lines = append(lines, fmt.Sprintf("%s: %s.", mdEscape(name), why))
			default:
				lines = append(lines, fmt.Sprintf("%s (undated): %s.", mdEscape(name), why))
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	d.WriteString("**In the chart but not counted:**\n\n")
	for i, l := range lines {
		if i == maxNotCounted {
			fmt.Fprintf(d, "- and %d more\n", len(lines)-maxNotCounted)
			break
		}
		d.WriteString("- " + l + "\n")
	}
	d.WriteString("\n")
}

// firstLineTherapy names the first-line conservative therapies the policy
// counts, for the advice to start a course: physical therapy, NSAIDs and
// chiropractic care (ACP 2017 (Qaseem) recommendations 1-2: non-drug
// therapy and NSAIDs first), each only when its class counts, and activity
// modification said to count only beside another therapy when that is the
// policy's rule; never opioids, which no guideline offers first.
func (b *builder) firstLineTherapy() string {
	cl := &b.in.Policy.ConservativeTherapy.Classes
	var names []string
	for _, c := range []struct {
		class *policy.TherapyClass
		name  string
	}{{&cl.PhysicalTherapy, "physical therapy"}, {&cl.NSAID, "NSAIDs"}, {&cl.Chiropractic, "chiropractic care"}} {
		if c.class.Counts {
			names = append(names, c.name)
		}
	}
	if am := &cl.ActivityModification; am.Counts {
		if am.Alone {
			names = append(names, "activity modification")
		} else if len(names) > 0 {
			names = append(names, "activity modification beside another of these")
		}
	}
	if len(names) == 0 {
		return "the treatments the payer's criteria count"
	}
	return strings.Join(names, ", ")
}

// todo is what to do, most important first. Without red flags, imaging is
// not appropriate before about 6 weeks of conservative care: ACR
// Appropriateness Criteria, Low Back Pain (2021), variants 1-3; Choosing
// Wisely (AAFP, NASS). The red-flag reminder appears only when none is
// documented.
func (b *builder) todo(a *criteria.Assessment, offers, riding []offer) []string {
	var out []string
	flagged := len(redFlags(a)) > 0
	req := a.TherapyRequiredDays
	switch a.Outcome {
	case criteria.CriteriaMet:
		switch {
		case b.emergent[a.Order.ID]:
			out = append(out, "Image emergently (see the urgent card); submit this documentation afterwards.")
		case paRequired(b.in.Policy.PANeeded):
			out = append(out, "Attach the documentation above to the prior-authorization request.")
		default:
			out = append(out, "Keep the documentation above in the chart.")
		}
	case criteria.CriteriaIndeterminate:
		if a.Has(criteria.OtherPatientData) {
			out = append(out, "Check that the EHR sends this patient's record (the chart entries name another patient), then sign the order again.")
			break
		}
		if a.Has(criteria.ConservativeTherapyMet) && len(a.Unchecked) > 0 {
			// The trial is shown above: asking for it again reads as if it
			// were missing. What is left is what did not arrive.
			out = append(out, fmt.Sprintf("The documentation above meets the conservative-therapy requirement; before submitting, check in the chart what could not be retrieved (%s), which could change the decision.", mdEscape(strings.Join(a.Unchecked, ", "))))
			break
		}
		out = append(out, fmt.Sprintf("Before submitting, make sure the request documents a red flag or at least %s of conservative therapy (physical therapy, medications, chiropractic care).", nDays(req)))
	default:
		if a.Has(criteria.PriorLumbarMRI) {
			out = append(out, "Review the prior MRI report and document what is new or progressing since that study.")
			break
		}
		if a.Has(criteria.IndicationMissing) {
			out = append(out, "Add the diagnosis to the problem list or to the order's reason.")
		}
		uncounted := uncountedTherapy(a)
		if a.Has(criteria.ConservativeTherapyMissing) && !flagged {
			start := "Start"
			if len(uncounted) > 0 {
				out, start = append(out, recordTherapy(uncounted)), "Otherwise start"
			}
			if name, ok := b.draftReferral(); ok {
				// No referral is suggested then (referralOffer): say the
				// one drafted is there, not to order one.
				out = append(out, fmt.Sprintf("A physical therapy referral is among the draft orders (%s): once therapy starts, record each treatment with its dates, and re-assess after %s.", mdEscape(name), nDays(req)))
			} else {
				out = append(out, fmt.Sprintf("%s conservative therapy (%s), record each treatment with its dates, and re-assess after %s.", start, b.firstLineTherapy(), nDays(req)))
			}
		}
		switch {
		case !a.Has(criteria.ConservativeTherapyInsufficient) || a.TherapyDays >= req:
		case a.TherapyMetOn != nil:
			out = append(out, "Continue conservative therapy and record the response; order the MRI once the trial reaches "+nDays(req)+" ("+day(a.TherapyMetOn)+").")
		case len(unknownDurations(a)) > 0:
			// Orders counted as a single day for want of a usable
			// duration: the course's length is unknown, not lapsed.
			out = append(out, fmt.Sprintf("Record the supply duration, end date or dispensing of %s, then re-assess: as recorded, each counts as a single day, so the course's length is unknown.", durationNames(unknownDurations(a))))
		case len(uncounted) > 0:
			// Therapy read by its words and not counted: recording it with
			// a code comes first; a lapse is claimed only when nothing
			// named runs after the counted course.
			out = append(out, recordTherapy(uncounted))
			lapsed := " (the last one lapsed)"
			if uncountedAfter(a) {
				lapsed = ""
			}
			out = append(out, fmt.Sprintf("Otherwise start a new course of conservative therapy%s, record each treatment with its dates, and re-assess after %s.", lapsed, nDays(req)))
		default:
			// The course lapsed (no 42-day point ahead): continuing it
			// would not reach the minimum; a new course must.
			out = append(out, fmt.Sprintf("Start a new course of conservative therapy (the last one lapsed), record each treatment with its dates, and re-assess after %s.", nDays(req)))
		}
		if a.Has(criteria.XrayMissing) {
			out = append(out, "Order lumbar spine radiographs (CPT 72100) first.")
		}
	}
	for _, of := range offers {
		line := of.pointer
		for _, r := range riding {
			if r.suggestion.UUID == of.suggestion.UUID {
				line = of.todo
			}
		}
		out = append(out, line)
	}
	if b.in.Hook == hooks.HookOrderSign && b.in.Policy.Questionnaire != "" && !b.in.Config.Disabled[TopicCoverageInfo] &&
		!hasPayer(&b.in) {
		// The form's Task must name the payer it goes to (CRD STU 2.1
		// profile-taskquestionnaire: requester 1..1): without one there is
		// no form, and the card says why (clinical review 8).
		out = append(out, "No pre-filled prior-authorization form is offered: no Coverage in force names the payer to send it to. Record the patient's coverage, then sign again.")
	}
	if a.Outcome == criteria.CriteriaNotMet && !flagged {
		// An entry that counts only in a combination the chart does not
		// complete (a cancer history without new back pain) is named with
		// what it needs; the reminder then covers the other red flags only.
		named := map[string]bool{}
		seen := map[string]bool{}
		for _, n := range a.NotCounted {
			if n.Reason != criteria.ReasonCombinationNotMet || n.Needs == "" || seen[n.What+"|"+n.Display] {
				continue
			}
			seen[n.What+"|"+n.Display] = true
			named[n.What] = true
			out = append(out, mdEscape(fmt.Sprintf("%s counts as a red flag (%s) only with %s: if there is, document it.",
				n.Display, lowerFirst(n.What), n.Needs)))
		}
		var labels []string
		for _, rf := range b.in.Policy.RedFlags.All() {
			if rf.Flag.Label != "" && !named[rf.Flag.Label] {
				labels = append(labels, lowerFirst(rf.Flag.Label))
			}
		}
		s := "If a red flag is present, document it: it supports imaging without a therapy trial"
		if len(named) > 0 {
			s = "If another red flag is present, document it: it supports imaging without a therapy trial"
		}
		if len(labels) > 0 {
			s += " (" + strings.Join(labels, ", ") + ")"
		}
		out = append(out, mdEscape(s)+".")
	}
	if b.in.Coverage == nil {
		out = append(out, "Confirm the patient's insurance before requesting prior authorization.")
	}
	return out
}

// sources cites the guidance behind what the card says.
func (b *builder) sources(a *criteria.Assessment) string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, f := range redFlags(a) {
		add(redFlagSource(b.in.Policy, f.Code))
	}
	if a.Outcome == criteria.CriteriaNotMet && !a.Has(criteria.PriorLumbarMRI) &&
		(a.Has(criteria.ConservativeTherapyMissing) || a.Has(criteria.ConservativeTherapyInsufficient)) {
		add("ACR Appropriateness Criteria, Low Back Pain (2021), variants 1-3")
	}
	if len(redFlags(a)) == 0 && a.Has(criteria.ConservativeTherapyMet) {
		// Imaging after 6 weeks of optimal medical management.
		add("ACR Appropriateness Criteria, Low Back Pain (2021), variant 3")
	}
	if a.Has(criteria.PriorLumbarMRI) {
		add("ACP high-value care advice (Chou 2011), Table 2")
	}
	if len(out) == 0 {
		return ""
	}
	return "Sources: " + mdEscape(strings.Join(out, "; ")) + "."
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
