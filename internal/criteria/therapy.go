package criteria

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/notes"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// interval is one treatment: a procedure day or period, or a medication
// course, already clipped to the lookback window.
type interval struct {
	s, e  time.Time
	kind  policy.TherapyKind
	visit bool // a procedure (a visit), not a medication
	ev    Evidence
	// clipped is true when the treatment began before the look-back
	// window and s is the window's first day.
	clipped bool
}

type course struct {
	s, e  time.Time
	items []interval
}

func (c *course) days() int { return daysBetween(c.s, c.e) }

type therapyResult struct {
	finding  Finding
	from, to *time.Time
	// fromRecorded is the first treatment's date as recorded when it is
	// imprecise (the course then counts from its last possible day).
	fromRecorded string
	// fromWindowEdge is true when the first treatment began before the
	// look-back window, so the course counts from the window's first day.
	fromWindowEdge bool
	days           int
	met            bool
	metOn          *time.Time
}

// therapy measures the conservative-therapy trial (DECISIONS.md
// "Conservative therapy"; ACR Appropriateness Criteria, Low Back Pain (2021),
// variant 3: 6 weeks of optimal medical management). Dates recorded at
// month or year precision are used conservatively (DECISIONS.md "Dates"):
// a treatment starts at the latest and ends at the earliest day its dates
// allow, so a course never gains days from imprecision.
func (x *assessor) therapy() therapyResult {
	t := &x.pol.ConservativeTherapy
	from := addDays(x.d, -t.LookbackDays)
	var items []interval
	// add counts one treatment; false when it lies outside the window.
	add := func(start chart.Date, e time.Time, kind policy.TherapyKind, visit bool, ev Evidence, what string) bool {
		if start.Earliest.After(x.d) {
			x.skip(ReasonAfterOrder, what, nameOf(ev), start, ev.Source)
			return false
		}
		// The latest day the date allows, but not after D: a course dated
		// only "2026" on 2026-06-15 starts, at the latest, on D.
		s := start.Latest
		if s.After(x.d) {
			s = x.d
		}
		end := s
		if e.After(s) {
			end = e
		}
		if end.After(x.d) {
			end = x.d
		}
		if end.Before(from) {
			x.skip(ReasonOutsideWindow, what, nameOf(ev), start, ev.Source)
			return false
		}
		ev.Course = &TherapySpan{Start: start, End: end}
		// A finding from a note keeps the note's date (shown beside its
		// quote); the course it describes starts at s.
		if !ev.FromNote {
			ev = dated(ev, start)
		}
		// Begun before the window: counted from the window's first day,
		// but shown with its date as recorded (DECISIONS.md "Dates": cards
		// show the date recorded); the finding says where the count starts.
		clipped := s.Before(from)
		if clipped {
			s = from
		}
		items = append(items, interval{s: s, e: end, kind: kind, visit: visit, ev: ev, clipped: clipped})
		return true
	}
	// open holds the orders counted as one day for want of a supply
	// duration or an end date: named when the trial is not met, since
	// recording their duration, not a new course, may be what is missing.
	var open []NotCounted
	label := func(k policy.TherapyKind) string {
		if cl := x.pol.Class(k); cl != nil && cl.Label != "" {
			return cl.Label
		}
		return string(k)
	}

	for _, pr := range x.procs {
		m, ok := x.pol.MatchTherapyProcedure(codings(pr.p.Code))
		if !ok {
			if x.policyExcluded(pr.p.Code, pr.start, pr.p.Source) {
				continue
			}
			// Recorded as text only, or coded only in a local code system,
			// or coded with a code that is not a counted therapy (a
			// referral): named when its words name a therapy class.
			local := pr.p.Code.LocalOnly(chart.ProcedureSystems...)
			words := pr.p.Code.Words()
			l, other := "", ""
			if words != "" {
				if l = x.pol.TherapyLabelIn(words); l == "" {
					l, other = x.pol.TherapyOtherNameIn(words)
				}
			}
			switch {
			case l == "":
			case len(pr.p.Code.Codings) == 0 || local:
				nc := NotCounted{Reason: ReasonTextOnly, What: l, Display: words, DateText: periodText(pr.start, pr.end), Source: pr.p.Source,
					Course: x.uncountedCourse(pr.start, pr.end)}
				if local {
					nc.Why = localCodeWhy
				}
				if last := lastDay(pr.start, pr.end); nc.Course == nil && !last.IsZero() && !x.recent(last) {
					// Coding it would not help: say so (clinical review 6, 06).
					w := fmt.Sprintf("it also ended before the %d-day look-back, so a therapy code would not count it", x.pol.ConservativeTherapy.LookbackDays)
					if nc.Why != "" {
						w = nc.Why + "; " + w
					}
					nc.Why = w
				}
				x.record(nc)
			case x.recent(pr.start):
				why := "its code is not a " + l + " treatment the policy counts (a referral or an order is not therapy done)"
				var course *TherapySpan
				if other != "" {
					// Named, as the policy lists it (movement therapy).
					why = "its code is not in the policy's " + l + " value set; its words name " + other + ": if it was " + l + ", record it with a " + l + " code"
					course = x.uncountedCourse(pr.start, pr.end)
				}
				x.record(NotCounted{Reason: ReasonNotTherapyCode, What: l, Display: words, DateText: periodText(pr.start, pr.end), Source: pr.p.Source, Why: why,
					Course: course})
			}
			continue
		}
		ev := Evidence{Source: pr.p.Source, Display: m.Coding.Display, Code: Code{System: m.Coding.System, Code: m.Coding.Code, Display: m.Coding.Display}}
		if _, other := x.forAnotherCondition(pr.p.Reasons); other {
			x.skip(ReasonOtherCondition, label(m.Kind), nameOf(ev), pr.start, pr.p.Source)
			continue
		}
		if pr.start.IsZero() {
			x.record(NotCounted{Reason: ReasonNoDate, What: label(m.Kind), Display: nameOf(ev), Source: pr.p.Source, Why: pr.start.Why()})
			continue
		}
		end := pr.start.Latest
		reversed := reversedPeriod(pr.start, pr.end)
		if !pr.end.IsZero() && !reversed {
			end = pr.end.Earliest
		}
		if add(pr.start, end, m.Kind, true, ev, label(m.Kind)) && reversed {
			x.record(reversedNote(label(m.Kind), nameOf(ev), pr.start, pr.end, pr.p.Source))
		}
	}
	// Therapy visits dated after the order: named.
	for _, p := range x.later {
		if m, ok := x.pol.MatchTherapyProcedure(codings(p.Code)); ok {
			x.skip(ReasonAfterOrder, label(m.Kind), codingName(m.Coding), p.Start, p.Source)
		}
	}
	// Procedures whose status does not count ("not-done", "entered-in-error"
	// aside): named when they look like therapy.
	for _, p := range x.notDone {
		if m, ok := x.pol.MatchTherapyProcedure(codings(p.Code)); ok {
			x.statusNotCounted(p.NotDoneWhy(), label(m.Kind), codingName(m.Coding), p.Start, p.Source)
		}
	}
	for i := range x.f.Medications {
		mu := &x.f.Medications[i]
		m, ok := x.pol.MatchTherapyMedication(codings(mu.Medication), mu.Medication.Text)
		if ok && !mu.Counts {
			x.statusNotCounted(mu.NotCountedWhy, label(m.Kind), nameOf(medicationEvidence(mu.Source, m)), mu.Start, mu.Source)
			continue
		}
		if !mu.Counts {
			continue
		}
		if !ok {
			if x.policyExcluded(mu.Medication, mu.Start, mu.Source) {
				continue
			}
			if mu.UnresolvedReference {
				name := mu.Medication.Text
				if name == "" {
					name = "a medication"
				}
				x.skip(ReasonUnresolvedMed, "medication", name, mu.Start, mu.Source)
			}
			continue
		}
		ev := medicationEvidence(mu.Source, m)
		name := nameOf(ev)
		if _, other := x.forAnotherCondition(mu.Reasons); other {
			x.skip(ReasonOtherCondition, label(m.Kind), name, mu.Start, mu.Source)
			continue
		}
		if mu.Start.IsZero() {
			x.record(NotCounted{Reason: ReasonNoDate, What: label(m.Kind), Display: name, Source: mu.Source, Why: mu.Start.Why()})
			continue
		}
		// A medication runs from its start to its effective end, or for
		// its supply (expectedSupplyDuration x fills, daysSupply); with
		// neither it is one day (DECISIONS.md "Conservative therapy").
		end := mu.Start.Latest
		reversed := reversedPeriod(mu.Start, mu.End)
		switch {
		case !mu.End.IsZero() && !reversed:
			end = mu.End.Earliest
		case mu.SupplyDays > 0:
			end = addDays(mu.Start.Latest, mu.SupplyDays*max(mu.Fills, 1))
		}
		if !add(mu.Start, end, m.Kind, false, ev, label(m.Kind)) {
			continue
		}
		switch {
		case reversed:
			x.record(reversedNote(label(m.Kind), name, mu.Start, mu.End, mu.Source))
		case !mu.End.IsZero() || mu.SupplyDays > 0:
		case mu.SupplyUnusable != "":
			// A supply duration was recorded but cannot be used: the
			// order counts as its first day only, and the answer says
			// why, so that the duration is corrected (never read as a
			// lapsed course).
			x.record(NotCounted{Reason: ReasonSupplyUnusable, What: label(m.Kind), Display: name, DateText: dateOrEmpty(mu.Start), Source: mu.Source,
				Why: "supply duration unusable: " + mu.SupplyUnusable + "; counted as a single day"})
		case mu.Kind == chart.MedicationRequested:
			// Active or not (stopped, completed), an order without a
			// duration says nothing of how long it was taken.
			what := "active order"
			if mu.Status != "active" && mu.Status != "" {
				what = "order (" + mu.Status + ")"
			}
			open = append(open, NotCounted{Reason: ReasonNoSupplyDuration, What: label(m.Kind), Display: name, DateText: dateOrEmpty(mu.Start), Source: mu.Source,
				Why: what + " with no supply duration or end date recorded; counted as a single day"})
		}
	}

	// Therapy courses written in notes (DECISIONS.md "Notes").
	for i := range x.f.Notes {
		nf := &x.f.Notes[i]
		if nf.Listed && nf.Category == notes.ConservativeTherapy && x.inWindow(nf.Date, t.LookbackDays) {
			// Named, once per note and therapy kind (x.record), within the
			// look-back only: an old list is not what the trial needs.
			if kind, ok := x.noteTherapyKind(nf); ok {
				x.skip(ReasonNoteMedicationList, label(kind), nf.Label+": \u201c"+nf.Quote+"\u201d", nf.Date, nf.Source)
			}
			continue
		}
		if !nf.Counts || nf.Category != notes.ConservativeTherapy || nf.Date.IsZero() {
			continue
		}
		kind, ok := x.noteTherapyKind(nf)
		if !ok {
			// A treatment the finder reads ("Flexeril") that no counted
			// class names: named, not dropped in silence.
			if x.inWindow(nf.Date, t.LookbackDays) {
				x.skip(ReasonNoteTherapyUnknown, "treatment", nf.Label+": \u201c"+nf.Quote+"\u201d", nf.Date, nf.Source)
			}
			continue
		}
		if r, ok := x.noteAdvisory(nf); ok {
			x.skip(r, label(kind), nf.Label+": \u201c"+nf.Quote+"\u201d", nf.Date, nf.Source)
			continue
		}
		start, end := noteCourse(nf)
		if add(start, end, kind, false, noteEvidence(nf), label(kind)) && nf.CourseAt.IsZero() {
			// With no end or duration written, the course is counted up to
			// the note that mentions it; that is not when it ended.
			if c := items[len(items)-1].ev.Course; c != nil && c.End.Equal(nf.Date.Earliest) {
				c.EndIsNoteDate = true
			}
		}
	}

	courses := merge(items, t.MaxGapDays)
	var best *course
	for i := range courses {
		c := &courses[i]
		if !x.countsAlone(c) {
			continue
		}
		if best == nil || c.days() >= best.days() {
			best = c
		}
	}
	r := therapyResult{}
	if best == nil {
		r.finding = Finding{
			Code: ConservativeTherapyMissing,
			Text: fmt.Sprintf("No conservative therapy is documented between %s and %s (the last %s).", ymd(&from), ymd(&x.d), nDays(t.LookbackDays)),
		}
		var undated, invalid, status, excluded, kinds []string
		span := map[string][2]string{}
		entries := map[string]int{}
		for _, nc := range x.notCounted {
			switch nc.Reason {
			case ReasonOutsideWindow:
				sp, ok := span[nc.What]
				if !ok {
					kinds = append(kinds, nc.What)
					sp = [2]string{nc.DateText, nc.DateText}
				}
				entries[nc.What]++
				if nc.DateText < sp[0] {
					sp[0] = nc.DateText
				}
				if nc.DateText > sp[1] {
					sp[1] = nc.DateText
				}
				span[nc.What] = sp
			case ReasonNoDate:
				if nc.Why != "" {
					invalid = append(invalid, fmt.Sprintf("%s (%s: %s)", nc.What, nc.Display, nc.Why))
				} else {
					undated = append(undated, fmt.Sprintf("%s (%s)", nc.What, nc.Display))
				}
			case ReasonStatus:
				status = append(status, fmt.Sprintf("%s (%s, %s)", nc.What, nc.Display, nc.Why))
			case ReasonPolicyExcluded:
				excluded = append(excluded, fmt.Sprintf("%s (%s)", nc.What, nc.Display))
			}
		}
		if len(undated) > 0 {
			r.finding.Text += fmt.Sprintf(" %s is documented without a start date, so its duration is unknown.", sentence(uniq(undated)))
		}
		if len(invalid) > 0 {
			in := uniq(invalid)
			r.finding.Text += fmt.Sprintf(" %s %s recorded with a date that is not valid, so %s duration is unknown; correct the date.", sentence(in), plural(len(in), "is", "are"), plural(len(in), "its", "their"))
		}
		if len(excluded) > 0 {
			ex := uniq(excluded)
			r.finding.Text += fmt.Sprintf(" %s %s documented, but this policy does not count %s.", sentence(ex), plural(len(ex), "is", "are"), plural(len(ex), "it", "them"))
		}
		if len(status) > 0 {
			st := uniq(status)
			r.finding.Text += fmt.Sprintf(" %s %s recorded, but with a status that does not count.", sentence(st), plural(len(st), "is", "are"))
		}
		if len(kinds) > 0 {
			var parts []string
			for _, k := range kinds {
				sp := span[k]
				if sp[0] == sp[1] {
					on := "in"
					if len(sp[0]) == len(time.DateOnly) {
						on = "on"
					}
					parts = append(parts, fmt.Sprintf("%s %s %s", k, on, sp[0]))
				} else {
					// Separate entries, not one course (clinical review 6).
					parts = append(parts, fmt.Sprintf("%s, %d entries between %s and %s", k, entries[k], sp[0], sp[1]))
				}
			}
			r.finding.Text += fmt.Sprintf(" Earlier therapy is outside the %d-day look-back: %s.", t.LookbackDays, strings.Join(parts, "; "))
		}
		return r
	}
	r.days = best.days()
	r.fromWindowEdge = best.items[0].clipped
	from2, to2 := best.s, best.e
	r.from, r.to = &from2, &to2
	var ev []Evidence
	for _, it := range best.items {
		ev = append(ev, it.ev)
	}
	ev = sortEvidence(ev)
	text := fmt.Sprintf("Conservative therapy (%s) from %s to %s: %s; at least %d required.",
		x.kinds(best), ymd(&best.s), ymd(&best.e), nDays(r.days), t.MinDays)
	if best.s.Equal(best.e) {
		// One day of treatment is no span of a course: "from D to D: 0
		// days" read as a contradiction of "a single day" on the card.
		text = fmt.Sprintf("Conservative therapy (%s) on %s only, a single day; at least %d days required.",
			x.kinds(best), ymd(&best.s), t.MinDays)
	}
	if first := best.items[0].ev; first.Imprecise {
		r.fromRecorded = first.DateText
		text += fmt.Sprintf(" The first treatment is dated only %s, so the course is counted from its last possible day.", first.DateText)
	} else if r.fromWindowEdge && first.DateText != "" {
		text += fmt.Sprintf(" The first treatment began %s, before the %d-day look-back, so the course is counted from %s.", first.DateText, t.LookbackDays, ymd(&best.s))
	}

	var gaps []string
	if t.RequireFollowup && !x.followup(best) {
		gaps = append(gaps, "no follow-up examination is documented after therapy began")
	}
	if t.MinVisits > 0 {
		if v := visits(best); v < t.MinVisits {
			gaps = append(gaps, fmt.Sprintf("%d of the %d required therapy visits are documented", v, t.MinVisits))
		}
	}
	if r.days >= t.MinDays && len(gaps) == 0 {
		r.met = true
		open = nil
		r.finding = Finding{Code: ConservativeTherapyMet, Text: text, Evidence: ev}
		return r
	}
	if r.days < t.MinDays && !best.e.Before(addDays(x.d, -t.MaxGapDays)) {
		// The course can still be continued: say when it reaches the minimum.
		on := addDays(best.s, t.MinDays)
		r.metOn = &on
		text += fmt.Sprintf(" The %d-day point falls on %s.", t.MinDays, ymd(&on))
	}
	// Orders counted as a single day for want of a usable duration: the
	// finding names them, since the trial's length is then unknown, not
	// short.
	var single []string
	for _, nc := range open {
		x.record(nc)
	}
	for _, nc := range x.notCounted {
		if nc.Reason == ReasonSupplyUnusable || nc.Reason == ReasonNoSupplyDuration {
			why, _, _ := strings.Cut(nc.Why, "; counted")
			single = append(single, fmt.Sprintf("%s (%s: %s)", nc.Display, nc.DateText, why))
		}
	}
	if len(single) > 0 {
		single = uniq(single)
		text += fmt.Sprintf(" %s %s as a single day only.", sentence(single), plural(len(single), "counts", "count"))
	}
	if len(gaps) > 0 {
		text += " Also: " + strings.Join(gaps, "; ") + "."
	}
	r.finding = Finding{Code: ConservativeTherapyInsufficient, Text: text, Evidence: ev}
	return r
}

// reversedPeriod reports a period whose end is recorded before its start:
// the dates contradict each other, so the treatment counts as its start
// day only (no days gained) and the answer names it.
// periodText is a treatment's date as recorded: its start, or its period
// ("2026-04-01 to 2026-05-13") when an end is recorded; "" when undated.
func periodText(start, end chart.Date) string {
	if start.IsZero() || end.IsZero() || end.Text == start.Text {
		return dateOrEmpty(start)
	}
	return start.Text + " to " + end.Text
}

// uncountedCourse is the span of a treatment read by its words and not
// counted (recorded as text only, or coded with a code that is not a
// counted therapy), when it lies at least in part within the look-back and
// began on or before D; nil otherwise. The card then asks to record it
// with a coded procedure before asking for a new course.
func (x *assessor) uncountedCourse(start, end chart.Date) *TherapySpan {
	if start.IsZero() || start.Earliest.After(x.d) {
		return nil
	}
	last := lastDay(start, end).Latest
	if last.After(x.d) {
		last = x.d
	}
	if last.Before(addDays(x.d, -x.pol.ConservativeTherapy.LookbackDays)) {
		return nil
	}
	return &TherapySpan{Start: start, End: last}
}

// lastDay is a period's end, else its start (a period whose end comes
// before its start is its start).
func lastDay(start, end chart.Date) chart.Date {
	if !end.IsZero() && !reversedPeriod(start, end) {
		return end
	}
	return start
}

func reversedPeriod(start, end chart.Date) bool {
	return !start.IsZero() && !end.IsZero() && end.Latest.Before(start.Earliest)
}

// reversedNote names a treatment whose period ends before it starts.
func reversedNote(what, display string, start, end chart.Date, src string) NotCounted {
	return NotCounted{Reason: ReasonPeriodReversed, What: what, Display: display, DateText: dateOrEmpty(start), Source: src,
		Why: "period end " + end.Text + " is before its start " + start.Text + "; counted as its start day only"}
}

func medicationEvidence(src string, m policy.TherapyMatch) Evidence {
	if !m.ByName {
		return Evidence{Source: src, Display: m.Coding.Display, Code: Code{System: m.Coding.System, Code: m.Coding.Code, Display: m.Coding.Display}}
	}
	// Text fallback: name the policy's ingredient, never the chart's text;
	// ByText marks how it was recognised.
	return Evidence{
		Source:  src,
		Display: m.Ingredient.Name,
		Code:    Code{System: policy.SystemRxNorm, Code: m.Ingredient.RxNorm, Display: m.Ingredient.Name},
		ByText:  true,
	}
}

// merge joins intervals that overlap or are at most gap days apart.
func merge(items []interval, gap int) []course {
	sort.SliceStable(items, func(i, j int) bool {
		if !items[i].s.Equal(items[j].s) {
			return items[i].s.Before(items[j].s)
		}
		return items[i].e.Before(items[j].e)
	})
	var out []course
	for _, it := range items {
		if n := len(out); n > 0 && daysBetween(out[n-1].e, it.s) <= gap {
			c := &out[n-1]
			if it.e.After(c.e) {
				c.e = it.e
			}
			c.items = append(c.items, it)
			continue
		}
		out = append(out, course{s: it.s, e: it.e, items: []interval{it}})
	}
	return out
}

// countsAlone: a course made only of classes that do not count alone
// (activity modification, by default) does not meet the rule.
func (x *assessor) countsAlone(c *course) bool {
	for _, it := range c.items {
		if cl := x.pol.Class(it.kind); cl != nil && cl.Alone {
			return true
		}
	}
	return false
}

func (x *assessor) kinds(c *course) string {
	seen := map[policy.TherapyKind]bool{}
	for _, it := range c.items {
		seen[it.kind] = true
	}
	var labels []string
	for _, cl := range x.pol.ConservativeTherapy.Classes.All() {
		if seen[cl.Kind] {
			labels = append(labels, cl.Class.Label)
		}
	}
	return strings.Join(labels, ", ")
}

// followup: a follow-up examination after the course's first day, on or
// before D.
func (x *assessor) followup(c *course) bool {
	for _, pr := range x.procs {
		if pr.start.IsZero() || !pr.start.Earliest.After(c.s) {
			continue
		}
		if _, ok := matchConcept(&x.pol.ConservativeTherapy.FollowupCodes, pr.p.Code); ok {
			return true
		}
	}
	return false
}

// visits counts the distinct days of procedure therapy in the course.
func visits(c *course) int {
	days := map[time.Time]bool{}
	for _, it := range c.items {
		if it.visit {
			days[it.s] = true
		}
	}
	return len(days)
}

func uniq(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// sentence joins items as "a, b and c" with the first letter capitalised.
func sentence(items []string) string {
	s := strings.Join(items, ", ")
	if n := len(items); n > 1 {
		s = strings.Join(items[:n-1], ", ") + " and " + items[n-1]
	}
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

// recent reports whether a therapy dated d (undated included) may fall in
// the look-back window: older entries are named only as outside it.
func (x *assessor) recent(d chart.Date) bool {
	return d.IsZero() || !d.Latest.Before(addDays(x.d, -x.pol.ConservativeTherapy.LookbackDays))
}

// policyExcluded names a treatment of a class the policy lists but does not
// count (gabapentinoids by default) within the look-back, and reports
// whether it was one.
func (x *assessor) policyExcluded(c chart.Concept, start chart.Date, src string) bool {
	l, vsDisplay, un := x.pol.MatchUncountedTherapy(codings(c), c.Text)
	if !un || !x.recent(start) {
		return false
	}
	x.record(NotCounted{Reason: ReasonPolicyExcluded, What: l, Display: nameOr(c, vsDisplay), DateText: dateOrEmpty(start), Source: src,
		Why: "this policy does not count " + l + " as conservative therapy"})
	return true
}

// nameOr is the concept's name as the chart gives it (a display, else its
// text), else the value set's display for its matched code, else its bare
// code: an entry coded without words is still named in words.
func nameOr(c chart.Concept, vsDisplay string) string {
	if vsDisplay != "" && c.Words() == "" {
		return vsDisplay
	}
	return c.Name()
}
