package chart

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/notes"
)

// NoteFinding is one finding in a clinical note, as the assessment reads it:
// what the finder saw, with the note's provenance.
type NoteFinding struct {
	// Source is the note's resource ("DocumentReference/d1").
	Source string
	// Date is the note's date (see Note.Date), zero when undated.
	Date     Date
	Category notes.Category
	// Concept is the phrase entry ("urinary-retention"), Label its plain words.
	Concept, Label string
	// Code is the code proposed to record the finding in the chart (zero
	// where no verified code names it).
	Code Coding
	// Quote is a short quote around the finding.
	Quote string
	// Counts is the finder's verdict from context: not negated, hypothetical
	// or about someone else, and not historical where the concept needs a
	// current state.
	Counts bool
	// Advisory is true when the note is preliminary: shown, not counted.
	Advisory bool
	// Listed is true for a therapy named in the note's medication list
	// (notes.Finding.Listed): named, not counted.
	Listed bool
	// Context lists the cues that set the finding's context.
	Context []string
	// NeedsCurrent is true for concepts that need a current state (cauda
	// equina signs, motor deficit, fever): a rule's time window reads them
	// at When when the note writes a date for them.
	NeedsCurrent bool
	// When is the date the note writes for the finding ("febrile in
	// 2019", "fever in March", "3 months ago"), placed by the note's date
	// (WhenDate); zero when none is written or it cannot be placed. WhenText
	// is the date as written.
	When     Date
	WhenText string
	// CourseStart is a therapy course's start written in the note ("since
	// April"), placed by the note's date; zero when none was written.
	CourseStart Date
	// CourseDays is a therapy course's duration written in the note ("6
	// weeks of PT"), 0 when none.
	CourseDays int
	// CourseAt is when a past therapy course was, written with a year and
	// no start ("PT in 2019"); zero when none was written.
	CourseAt Date
}

// deriveNotes runs the note finder over the notes' text (DECISIONS.md,
// "Notes"). Notes listed as not read are kept for the answer; advisory
// notes' findings are marked Advisory.
func (f *Facts) deriveNotes(rec *Record) {
	f.NotesChecked = rec.Notes.Checked
	var finder *notes.Finder
	for i := range rec.Notes.List {
		n := &rec.Notes.List[i]
		if n.Status == NoteNotRead {
			f.NotesNotRead = append(f.NotesNotRead, *n)
			continue
		}
		if strings.TrimSpace(n.Text) == "" {
			continue
		}
		if finder == nil {
			var err error
			if finder, err = notes.Default(); err != nil {
				// The embedded phrases are checked by tests; should they
				// fail, the notes are said to be not checked.
				f.NotesChecked = false
				return
			}
		}
		date, _ := ParseDate(n.Date)
		for _, fd := range finder.Find(n.Text) {
			nf := NoteFinding{Source: n.Source, Date: date, Category: fd.Category, Concept: fd.Concept, Label: fd.Label,
				Quote: fd.Quote, Counts: fd.Counts, Advisory: n.Status == NoteAdvisory, Listed: fd.Listed, Context: fd.Cues,
				NeedsCurrent: fd.NeedsCurrent}
			if fd.When != "" && !date.IsZero() {
				nf.When, nf.WhenText = WhenDate(fd.When, date), fd.When
			}
			if fd.Code != nil {
				nf.Code = Coding{System: fd.Code.System, Code: fd.Code.Code, Display: fd.Code.Display}
			}
			if fd.Course != nil {
				nf.CourseDays = fd.Course.Days
				if fd.Course.Since != "" && !date.IsZero() {
					nf.CourseStart = SinceDate(fd.Course.Since, date)
				}
				if fd.Course.At != "" && !date.IsZero() {
					nf.CourseAt = SinceDate(fd.Course.At, date)
				}
			}
			if fd.Category == notes.BackPain {
				nf.When, nf.WhenText = onsetOf(fd.Course, date, nf.When, nf.WhenText)
			}
			f.Notes = append(f.Notes, nf)
		}
	}
}

// onsetOf dates a finding read by its onset (notes.BackPain: "new back
// pain for 3 weeks") where the note does not date it itself: a start
// written beside it ("since May 2"), else the note's date less the
// duration written ("for 3 weeks": 21 days before the note). With neither,
// when and whenText are kept (a date the finder placed, or none: the
// note's own date stands).
func onsetOf(c *notes.Course, noted Date, when Date, whenText string) (Date, string) {
	if c == nil || noted.IsZero() || !when.IsZero() {
		return when, whenText
	}
	switch {
	case c.Since != "":
		return SinceDate(c.Since, noted), "since " + c.Since
	case c.Days > 0:
		return DayDate(noted.Earliest.AddDate(0, 0, -c.Days)), c.Duration + " before the note"
	}
	return when, whenText
}

// TextOnlyProblem is a Condition read by its words (text, else its
// displays) whose words the note finder reads as a red flag, or whose code
// cannot be read (DECISIONS.md, "Nothing dropped in silence"). A problem
// list entry without a readable code is not counted (a coded entry is the
// chart's assertion; free text is not), but it is named. A problem coded
// in a system the value sets read is kept too (Coded), for the assessment
// to name it when its code is in no value set the policy reads.
type TextOnlyProblem struct {
	// Source is the Condition ("Condition/c1"); Text its words.
	Source, Text string
	// Date is the problem's onset, else its recorded date (zero when none).
	Date Date
	// Category and Label are what the finder read in the words; both empty
	// for a misfiled code whose words the finder does not read.
	Category notes.Category
	Label    string
	// Concept is the finder's concept ("cancer-history"), for the policy's
	// note entries.
	Concept string
	// Proposed is the code the finder proposes to record the concept with
	// (R50.9 for fever), zero when none: the assessment reads by it how the
	// policy counts the concept when coded (coded fever counts only with
	// new back pain).
	Proposed Coding
	// LocalCode is true when the problem was coded, but only in a code
	// system the value sets are not written in (Text is then its display).
	LocalCode bool
	// Misfiled are codings filed under ICD-10-CM or SNOMED CT whose code is
	// not of that system (a SNOMED CT id under ICD-10-CM), when the problem
	// has no readable coding.
	Misfiled []Coding
	// Coded is true when the problem has a readable ICD-10-CM or SNOMED CT
	// code (Code): it is named only when that code is in no value set the
	// policy reads.
	Coded bool
	Code  Concept
}

// deriveTextOnlyProblems reads with the note finder the words of each
// Condition (refuted ones and those entered in error excepted): those
// without a readable code (no coding, a local code system, a misfiled
// code) and those coded in ICD-10-CM or SNOMED CT, and keeps those whose
// words name a red flag, not negated, and those whose code is misfiled.
//
// A problem's text is a name, not a note: texts longer than
// maxProblemText are not read, and at most maxProblemTextTotal bytes are
// read per call for the uncoded problems and as much again for the coded
// ones (the finder costs about 2-3 ms per KB), so a chart of thousands of
// entries stays cheap, and a long coded problem list cannot crowd out the
// uncoded entries.
func (f *Facts) deriveTextOnlyProblems() {
	var finder *notes.Finder
	budget := [2]int{maxProblemTextTotal, maxProblemTextTotal}
	for i := range f.Problems {
		p := &f.Problems[i]
		if p.Refuted() {
			continue
		}
		coded := p.Code.Readable(ProblemSystems...)
		var misfiled []Coding
		if !coded {
			misfiled = p.Code.Misfiled(ProblemSystems...)
		}
		text := strings.TrimSpace(p.Code.Words())
		t := TextOnlyProblem{Source: p.Source, Text: text, Date: p.Date(), Misfiled: misfiled, Coded: coded}
		if coded {
			t.Code = p.Code
		} else {
			t.LocalCode = len(misfiled) == 0 && p.Code.LocalOnly(ProblemSystems...)
		}
		b := &budget[0]
		if coded {
			b = &budget[1]
		}
		if text != "" && len(text) <= maxProblemText && *b >= len(text) {
			*b -= len(text)
			if finder == nil {
				var err error
				if finder, err = notes.Default(); err != nil {
					return
				}
			}
			for _, fd := range finder.Find(text) {
				if !fd.Counts || fd.Category == notes.ConservativeTherapy {
					continue
				}
				t.Category, t.Label, t.Concept = fd.Category, fd.Label, fd.Concept
				if fd.Code != nil {
					t.Proposed = Coding{System: fd.Code.System, Code: fd.Code.Code, Display: fd.Code.Display}
				}
				break
			}
		}
		if t.Label != "" || len(misfiled) > 0 {
			f.TextOnlyProblems = append(f.TextOnlyProblems, t)
		}
	}
}

// Bounds of deriveTextOnlyProblems.
const (
	maxProblemText      = 512
	maxProblemTextTotal = 16 << 10
)

var months = map[string]time.Month{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
	"sep": 9, "oct": 10, "nov": 11, "dec": 12}

var (
	monthDayYear = regexp.MustCompile(`^(?i)(?:(?:early|mid|late)\s+)?([a-z]{3})[a-z]*\.?(?:\s+(\d{1,2})(?:st|nd|rd|th)?)?,?(?:\s+(\d{4}))?$`)
	slashDate    = regexp.MustCompile(`^(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?$`)
)

var (
	agoRe      = regexp.MustCompile(`^(?i)(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a few|several|an?)\s+(day|week|wk|month|mo|year|yr)s?\s+ago$`)
	lastRe     = regexp.MustCompile(`^(?i)last\s+(year|month)$`)
	yearOnlyRe = regexp.MustCompile(`^(?i)(?:(?:early|mid|late)\s+)?((?:19|20)\d\d)$`)
	// Counts the finder's number words do not hold: "a month ago", "a few
	// years ago" (read as the most recent they allow).
	agoCounts = map[string]int{"a": 1, "an": 1, "a few": 2, "several": 2}
)

// WhenDate places the date a note writes for a finding (notes.Finding.When:
// "2019", "March", "March 15", "3/2/2026", "last year", "3 months ago") by
// the note's date, as SinceDate places a course start: a month without a
// year is its latest occurrence on or before the note. A time back from the
// note keeps the precision it is said in ("3 months ago" is that month,
// "2 years ago" that year, "10 days ago" that day); "a few" and "several"
// are read as 2, the most recent they allow. Zero when it cannot be placed
// or falls after the note.
func WhenDate(when string, noted Date) Date {
	s := strings.TrimSpace(when)
	ref := noted.Latest
	if ref.IsZero() {
		return Date{}
	}
	var text string
	switch {
	case agoRe.MatchString(s):
		g := agoRe.FindStringSubmatch(s)
		n, err := strconv.Atoi(g[1])
		if err != nil {
			var ok bool
			if n, ok = notes.NumberWord(g[1]); !ok {
				n = agoCounts[strings.ToLower(strings.Join(strings.Fields(g[1]), " "))]
			}
		}
		switch strings.ToLower(g[2]) {
		case "day":
			text = ref.AddDate(0, 0, -n).Format("2006-01-02")
		case "week", "wk":
			text = ref.AddDate(0, 0, -7*n).Format("2006-01-02")
		case "month", "mo":
			text = monthsBack(ref, n)
		default:
			text = fmt.Sprintf("%04d", ref.Year()-n)
		}
	case lastRe.MatchString(s):
		if strings.EqualFold(lastRe.FindStringSubmatch(s)[1], "year") {
			text = fmt.Sprintf("%04d", ref.Year()-1)
		} else {
			text = monthsBack(ref, 1)
		}
	case yearOnlyRe.MatchString(s):
		text = yearOnlyRe.FindStringSubmatch(s)[1]
	default:
		return SinceDate(s, noted)
	}
	d, ok := ParseDate(text)
	if !ok || d.Earliest.After(ref) {
		return Date{}
	}
	return d
}

// monthsBack is the month n months before t, as a FHIR month ("2026-03").
func monthsBack(t time.Time, n int) string {
	m := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -n, 0)
	return m.Format("2006-01")
}

// SinceDate places a course start as written in a note ("April", "March
// 15, 2026", "2026-03", "3/2/2026", "3/2") by the note's date: a month or
// day without a year is its latest occurrence on or before the note. The
// result keeps the written precision (a month is the range of its days),
// so a course counted from its Latest day never gains from imprecision.
// Zero when it cannot be placed, or falls after the note.
func SinceDate(since string, noted Date) Date {
	s := strings.TrimSpace(since)
	ref := noted.Latest
	if d, ok := ParseDate(s); ok {
		if d.Earliest.After(ref) {
			return Date{}
		}
		return d
	}
	y, m, dd, yearGiven := 0, time.Month(0), 0, false
	if g := monthDayYear.FindStringSubmatch(s); g != nil {
		mo, ok := months[strings.ToLower(g[1])]
		if !ok {
			return Date{}
		}
		m = mo
		if g[2] != "" {
			dd, _ = strconv.Atoi(g[2])
		}
		if g[3] != "" {
			y, _ = strconv.Atoi(g[3])
			yearGiven = true
		}
	} else if g := slashDate.FindStringSubmatch(s); g != nil {
		mo, _ := strconv.Atoi(g[1])
		dd, _ = strconv.Atoi(g[2])
		if mo < 1 || mo > 12 {
			return Date{}
		}
		m = time.Month(mo)
		if g[3] != "" {
			y, _ = strconv.Atoi(g[3])
			if y < 100 {
				y += 2000
			}
			yearGiven = true
		}
	} else {
		return Date{}
	}
	if !yearGiven {
		y = ref.Year()
		if m > ref.Month() || m == ref.Month() && dd > ref.Day() {
			y--
		}
	}
	var text string
	if dd > 0 {
		text = fmt.Sprintf("%04d-%02d-%02d", y, m, dd)
	} else {
		text = fmt.Sprintf("%04d-%02d", y, m)
	}
	d, ok := ParseDate(text)
	if !ok || d.Earliest.After(ref) {
		return Date{}
	}
	return d
}
