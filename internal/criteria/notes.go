package criteria

import (
	"fmt"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// noteEvidence returns the counting note findings whose concept or category
// is listed, dated by their note within n days of D (n <= 0: any date).
// A finding the policy or the note's status makes advisory is named in
// NotCounted instead (DECISIONS.md "Notes"): shown, not counted. Negated,
// hypothetical, other-person and (for current-state concepts) historical
// findings never count and are not listed: the note said they are absent.
// With what empty nothing is listed (a combination's pairing, whose own
// "not met" line says what is missing).
func (x *assessor) noteEvidence(names []string, n int, what string) []Evidence {
	var out []Evidence
	record := func(nc NotCounted) {
		if what != "" {
			x.record(nc)
		}
	}
	for i := range x.f.Notes {
		nf := &x.f.Notes[i]
		if !nf.Counts || !noteSelected(nf, names) {
			continue
		}
		// Named, not dropped in silence (clinical review 7): a note dated
		// after the order, and one older than the rule's window.
		if !nf.Date.IsZero() && nf.Date.Earliest.After(x.d) {
			record(NotCounted{Reason: ReasonAfterOrder, What: what, Display: nf.Label + ": \u201c" + nf.Quote + "\u201d",
				DateText: dateOrEmpty(nf.Date), Source: nf.Source})
			continue
		}
		if !x.inWindow(nf.Date, n) {
			why := fmt.Sprintf("the note is dated %s; counts only when dated within %s of the order", dateOrEmpty(nf.Date), nDays(n))
			if nf.Date.IsZero() {
				why = fmt.Sprintf("the note is undated; counts only when dated within %s of the order", nDays(n))
			}
			record(NotCounted{Reason: ReasonOutsideRedFlagWindow, What: what, Display: nf.Label + ": \u201c" + nf.Quote + "\u201d",
				DateText: dateOrEmpty(nf.Date), Source: nf.Source, Why: why})
			continue
		}
		// A finding that needs a current state and that the note dates
		// earlier ("febrile to 39 C in 2019") is read at that date: a fever
		// of 2019, written in a note of this week, is no fever within 14
		// days. Named, not dropped in silence. History concepts (cancer,
		// prior surgery) count at any date.
		if nf.NeedsCurrent && !nf.When.IsZero() && !x.inWindow(nf.When, n) {
			when := nf.WhenText
			if when != nf.When.Text {
				when += " (" + nf.When.Text + ")"
			}
			record(NotCounted{Reason: ReasonOutsideRedFlagWindow, What: what, Display: nf.Label + ": \u201c" + nf.Quote + "\u201d",
				DateText: dateOrEmpty(nf.Date), Source: nf.Source,
				Why: fmt.Sprintf("the note dates it %s; counts only when dated within %s of the order", when, nDays(n))})
			continue
		}
		ev := noteEvidence(nf)
		if r, ok := x.noteAdvisory(nf); ok {
			if what != "" {
				x.skip(r, what, nf.Label+": \u201c"+nf.Quote+"\u201d", nf.Date, nf.Source)
			}
			continue
		}
		out = append(out, ev)
	}
	return out
}

// noteAdvisory reports whether a counting note finding is only shown, and
// why: its note is preliminary, or the policy makes note evidence advisory.
// The note's own status comes first: it is the reason that holds whatever
// the payer.
func (x *assessor) noteAdvisory(nf *chart.NoteFinding) (string, bool) {
	switch {
	case nf.Advisory:
		return ReasonPreliminaryNote, true
	case x.pol.NoteEvidence.Advisory:
		return ReasonAdvisoryNote, true
	}
	return "", false
}

func noteSelected(nf *chart.NoteFinding, names []string) bool {
	for _, n := range names {
		if n == nf.Concept || n == string(nf.Category) {
			return true
		}
	}
	return false
}

// noteEvidence is the Evidence of a note finding: its note, date and quote.
func noteEvidence(nf *chart.NoteFinding) Evidence {
	// Code is the code proposed to record the finding in the chart (cards
	// offer it as a Condition); the evidence itself is the note.
	ev := Evidence{Source: nf.Source, Display: nf.Label, FromNote: true, Quote: nf.Quote, Kind: nf.Concept,
		Code: Code{System: nf.Code.System, Code: nf.Code.Code, Display: nf.Code.Display}}
	if !nf.When.IsZero() {
		ev.WrittenDate = nf.When.Text
	}
	return dated(ev, nf.Date)
}

// noteTherapyKind is the therapy class of a note's therapy finding: the
// concept named like the class (physical-therapy is physical_therapy), or
// for a medication the policy's ingredient named in the quote.
func (x *assessor) noteTherapyKind(nf *chart.NoteFinding) (policy.TherapyKind, bool) {
	k := policy.TherapyKind(strings.ReplaceAll(nf.Concept, "-", "_"))
	if x.pol.Class(k) != nil {
		return k, true
	}
	if m, ok := x.pol.MatchTherapyMedication(nil, nf.Quote); ok {
		return m.Kind, true
	}
	return "", false
}

// noteCourse is the span a note's therapy finding covers, ending at the
// note's date: from the start written ("since April", at its latest day),
// else the duration written before the note ("6 weeks of PT"), else the
// note's day alone. A course written as past ("PT in 2019") is at that
// date instead (at its latest day, for its duration when one is written),
// never at the note's: recalling old therapy is no therapy now.
func noteCourse(nf *chart.NoteFinding) (chart.Date, time.Time) {
	end := nf.Date.Earliest
	switch {
	case nf.CourseStart.IsZero() && !nf.CourseAt.IsZero():
		at := nf.CourseAt.Latest
		if nf.CourseDays > 0 {
			at = addDays(at, nf.CourseDays)
		}
		if at.Before(end) || nf.Date.IsZero() {
			end = at
		}
		return nf.CourseAt, end
	case !nf.CourseStart.IsZero():
		if nf.CourseDays > 0 {
			if e := addDays(nf.CourseStart.Latest, nf.CourseDays); e.Before(end) {
				end = e
			}
		}
		return nf.CourseStart, end
	case nf.CourseDays > 0:
		return chart.DayDate(addDays(end, -nf.CourseDays)), end
	}
	return nf.Date, end
}

// notesRead names the notes that could not be read (issue 15: other types
// are listed as not read).
//
// Superseded notes (FHIR R4: a newer version replaces each) are named as one
// entry with their count and dates: a chart can hold hundreds (Synthea marks
// every earlier note so), and their versions in force are what is read.
func (x *assessor) notesRead() {
	var superseded []chart.Note
	seen := map[string]bool{}
	for _, n := range x.f.NotesNotRead {
		if n.Superseded {
			// One per DocumentReference, whatever its attachments.
			if !seen[n.Source] {
				seen[n.Source] = true
				superseded = append(superseded, n)
			}
			continue
		}
		d := n.When()
		dt := dateOrEmpty(d)
		x.record(NotCounted{Reason: ReasonNoteNotRead, What: "clinical note", Display: "Clinical note", DateText: dt,
			Source: n.Source, Why: n.Reason})
	}
	if len(superseded) == 0 {
		return
	}
	first, last := "", ""
	for _, n := range superseded {
		if dt := dateOrEmpty(n.When()); dt != "" {
			if first == "" || dt < first {
				first = dt
			}
			if dt > last {
				last = dt
			}
		}
	}
	nc := NotCounted{Reason: ReasonNoteSuperseded, What: "clinical notes",
		Display: fmt.Sprintf("%d superseded %s", len(superseded), plural(len(superseded), "note", "notes"))}
	switch {
	case len(superseded) == 1:
		nc.Display, nc.Source, nc.DateText = "Superseded clinical note", superseded[0].Source, first
	case first != "" && first != last:
		nc.DateText = first + " to " + last
	default:
		nc.DateText = first
	}
	x.record(nc)
}
