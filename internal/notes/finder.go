package notes

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxQuote is the longest quote, in characters, that a finding carries.
const MaxQuote = 120

// Finding is one piece of evidence found in a note.
type Finding struct {
	Category Category
	// Concept is the phrase entry that matched ("saddle-anesthesia").
	Concept string
	// Label names the concept in plain words ("saddle anaesthesia").
	Label string
	// Code is the code proposed to record the finding in the chart (a
	// Condition), nil where no verified code names it.
	Code *Coding
	// Source is the key of the entry's source in phrases.yaml.
	Source string
	// Start and End are byte offsets of the match in the text given to Find.
	Start, End int
	// Text is the matched text as written.
	Text string
	// Quote is a short quote around the match (whole words, whitespace
	// collapsed, at most MaxQuote characters, "…" where cut).
	Quote string

	Negated      bool
	Hypothetical bool
	OtherPerson  bool
	Historical   bool
	// Listed is true for a therapy named in a medication list section
	// ("Medications:", "# Current Medications"): an entry of the list says
	// the medication was on it, not that a trial of it was made for this
	// back pain (chou2007: a trial of therapy). It does not count.
	Listed bool
	// NeedsCurrent is true for concepts that need a current state (cauda
	// equina signs, motor deficit, fever): historical mentions do not count.
	NeedsCurrent bool
	// Counts is true when the finding counts as evidence: not negated,
	// hypothetical, about someone else or a medication list entry, and not
	// historical where the concept needs a current state.
	Counts bool
	// Cues lists what set the context, as "kind: text" ("negated: denies",
	// "other-person: section Family History").
	Cues []string
	// When is the date written for the finding in its clause, as written
	// ("2019", "March", "3 months ago", "last year"), for the facts step to
	// place by the note's date; "" when none. A start ("since April") is
	// not one: the state runs from there to the note. Not set on therapy
	// findings (their dates are Course).
	When string
	// Course holds the start and duration written near a therapy mention,
	// or near a finding dated by its onset ("new back pain for 3 weeks");
	// nil for other categories or when none was written.
	Course *Course
}

// Course is a therapy course's start and duration as written in a note.
type Course struct {
	// Since is the start as written ("April", "2026-03-02", "3/2/2026").
	Since string
	// Duration is the duration as written ("6 weeks"); Days is it in days
	// (weeks x 7, months x 30), 0 when not a number ("several weeks").
	Duration string
	Days     int
	// At is when the therapy was, as written with a year ("in 2019", "in
	// March 2024"), when no start is written: a course of the past, not
	// one running up to the note.
	At string
}

type span struct{ start, end int }

type cueHit struct {
	kind string
	span
	text  string
	after bool
}

// Find returns the findings in text, in text order.
func (f *Finder) Find(text string) []Finding {
	var out []Finding
	for _, sec := range f.sectionsOf(text) {
		for i, sent := range sentences(text, sec.span) {
			s := sec
			if sec.inline && i > 0 {
				// A list written on its header's line is its first
				// sentence: "Home medications reviewed: ibuprofen. Pt
				// states he has been taking ibuprofen for 4 weeks."
				s.context, s.name = "", ""
			}
			out = append(out, f.findInSentence(text, sent, s)...)
		}
	}
	return dedupe(out)
}

type section struct {
	span
	context string
	name    string
	// level is the Markdown heading level that started the section (1
	// for "#"), 0 for any other header.
	level int
	// inline: a medication or allergy list written on its header's line.
	inline bool
}

// headerRe matches a line that starts like a section header: a short name
// followed by a colon.
var headerRe = regexp.MustCompile(`^[ \t]*(?:[-*•][ \t]*)?([A-Za-z][A-Za-z /&-]{0,40}?)[ \t]*:(.*)$`)

// medicationList reports whether a lowered header name is a medication
// list's, whole (phrases.yaml sections list_names): "medication trials" is
// not one.
func (f *Finder) medicationList(name string) bool {
	if f.listNames == nil {
		return false
	}
	name = strings.TrimRight(strings.TrimSpace(name), ":")
	if len(name) > 120 {
		return false // a line of text, not a heading
	}
	loc := f.listNames.FindStringIndex(name)
	return loc != nil && loc[0] == 0 && loc[1] == len(name)
}

// sectionContext is the context of a section whose lowered header name is
// name: a known section's ("" for one that only ends the one before), or
// listed for a medication list as EHRs title it; false for any other name.
func (f *Finder) sectionContext(name string) (string, bool) {
	if ctx, ok := f.sections[name]; ok {
		return ctx, true
	}
	if f.medicationList(name) {
		return ctxListed, true
	}
	return "", false
}

// markdownHeadingRe matches a Markdown ATX heading line ("# Medications",
// "## Plan ##"): the hashes in group 1, the name in group 2.
var markdownHeadingRe = regexp.MustCompile(`^[ \t]{0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$`)

// sectionsOf cuts text at section headers. A known header ("Family
// History:", or its name alone on its line) sets the context of its
// section, which runs until the next header line (a known header, any
// "Name:" alone on its line, or outside a Plan a "NAME: text" line in
// capitals, see upperHeader) or a blank line after content (ConText: a section header's
// scope is its section). StripHTML ends each HTML heading with a colon, so
// a heading is a header line.
func (f *Finder) sectionsOf(text string) []section {
	var out []section
	cur := section{span: span{0, 0}}
	content := false
	// listLine: the section is a medication list written on its header's
	// line ("Medications: none", "Meds: naproxen, lisinopril"); it ends
	// with that line, and what follows is the note's text again.
	listLine := false
	pos := 0
	for pos <= len(text) {
		end := strings.IndexByte(text[pos:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += pos
		}
		line := text[pos:end]
		startNew := func(ctx, name string) {
			cur.end = pos
			if cur.end > cur.start {
				out = append(out, cur)
			}
			cur = section{span: span{pos, pos}, context: ctx, name: name}
			content = false
			listLine = false
		}
		if listLine {
			startNew("", "")
		}
		md := markdownHeadingRe.FindStringSubmatch(line)
		var mdCtx string
		mdKnown := false
		if md != nil {
			mdCtx, mdKnown = f.sectionContext(strings.ToLower(strings.TrimSpace(md[2])))
		}
		if md != nil && (mdKnown || cur.level > 0 && len(md[1]) <= cur.level) {
			// A Markdown heading of a known section ("# Medications", "##
			// Plan") starts it; an unknown one ends a section that a
			// heading of its level or above started ("## Social" after "##
			// Family History"). Any other "#" line is content: a deeper
			// sub-heading keeps its section's context, and so does a "#"
			// line under a header that is not Markdown ("# fever, saddle
			// anesthesia" under "Return precautions:").
			name := strings.TrimSpace(md[2])
			if !mdKnown {
				name = ""
			}
			startNew(mdCtx, name)
			cur.level = len(md[1])
		} else if m := headerRe.FindStringSubmatch(line); m != nil {
			name := strings.ToLower(strings.TrimSpace(m[1]))
			rest := strings.TrimSpace(m[2])
			if ctx, ok := f.sectionContext(name); ok {
				startNew(ctx, strings.TrimSpace(m[1]))
				if rest != "" {
					content = true
					// "Medications: none", "Allergies: penicillin": the
					// list is its line.
					listLine = ctx == ctxListed || ctx == ctxAllergy
					cur.inline = listLine
				}
			} else if rest == "" || cur.context != ctxHypothetical && f.upperHeader(m[1], rest) {
				startNew("", "")
				content = rest != ""
			} else {
				content = true
			}
		} else if ctx, ok := f.sectionContext(strings.ToLower(strings.TrimSpace(line))); ok {
			// A known header name alone on its line, without a colon (a
			// plain-text heading), or a medication list's heading as EHRs
			// print it ("Current Medications (reviewed today):").
			startNew(ctx, strings.TrimSpace(line))
		} else if strings.TrimSpace(line) == "" {
			if content && cur.context != "" {
				startNew("", "")
			}
		} else {
			content = true
		}
		if end == len(text) {
			break
		}
		pos = end + 1
	}
	cur.end = len(text)
	if cur.end > cur.start {
		out = append(out, cur)
	}
	return out
}

// upperHeader reports whether an unknown "NAME: text" line starts a
// section: the name is written in capitals (two letters or more) before
// text that is not, and names no finding and no context cue. A label of a
// list entry ("Cancer: mother", "Mother: breast cancer") or a name inside
// a note written all in capitals ("DIABETES: FATHER") does not: ending a
// Family History section there would count what it lists. Nor does it end
// a Plan (sectionsOf): "THERAPY: PT 2x/week" is an item of the plan.
func (f *Finder) upperHeader(name, rest string) bool {
	letters := 0
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z':
			return false
		case c >= 'A' && c <= 'Z':
			letters++
		}
	}
	if letters < 2 || strings.IndexFunc(rest, unicode.IsLower) < 0 {
		return false
	}
	return !f.namesFindingOrCue(name)
}

// namesFindingOrCue reports whether s holds a finding phrase or a context
// cue.
func (f *Finder) namesFindingOrCue(s string) bool {
	lower := lowerASCII(s)
	for ci := range f.concepts {
		c := &f.concepts[ci]
		for pi, re := range c.patterns {
			in := s
			if c.fold[pi] {
				in = lower
			}
			if re.MatchString(in) {
				return true
			}
		}
	}
	for _, cs := range f.cues {
		for _, re := range []*regexp.Regexp{cs.before, cs.after} {
			if re != nil && re.MatchString(lower) {
				return true
			}
		}
	}
	return false
}

// abbreviations whose trailing period does not end a sentence.
var abbreviations = map[string]bool{"dr": true, "mr": true, "mrs": true, "ms": true, "vs": true, "e.g": true,
	"i.e": true, "approx": true, "st": true, "no": true, "pt": true, "hx": true, "h/o": true, "etc": true, "fig": true}

// sentences cuts a span into sentences: at ., ! or ? followed by a space or
// the end (not after a known abbreviation), at ;, and at a line break unless
// the next line continues in lower case (a wrapped line).
func sentences(text string, sp span) []span {
	var out []span
	start := sp.start
	emit := func(end int) {
		s, e := trimSpan(text, start, end)
		if e > s {
			out = append(out, span{s, e})
		}
	}
	for i := sp.start; i < sp.end; i++ {
		c := text[i]
		switch c {
		case '.', '!', '?':
			if i+1 < sp.end && !isSpace(text[i+1]) {
				continue
			}
			if c == '.' && abbreviations[strings.ToLower(lastWord(text[start:i]))] {
				continue
			}
			emit(i + 1)
			start = i + 1
		case ';':
			emit(i + 1)
			start = i + 1
		case '\n':
			j := i + 1
			for j < sp.end && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r') {
				j++
			}
			if j < sp.end && text[j] >= 'a' && text[j] <= 'z' && strings.TrimSpace(text[start:i]) != "" {
				continue
			}
			emit(i)
			start = i + 1
		}
	}
	emit(sp.end)
	return out
}

func lastWord(s string) string {
	i := strings.LastIndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '(' })
	return s[i+1:]
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' }

func trimSpan(text string, s, e int) (int, int) {
	for s < e && isSpace(text[s]) {
		s++
	}
	for e > s && isSpace(text[e-1]) {
		e--
	}
	return s, e
}

// clauses cuts a sentence at termination terms ("but", "however"): a cue's
// scope does not cross them (ConText). With neg, it cuts also where only a
// negation's scope ends (negTerminators). With own, a relative telling of
// their own past keeps the clause whole (informantCuts); only history
// findings read those clauses.
func (f *Finder) clauses(text string, sent span, neg, own bool) []span {
	s := lowerASCII(text[sent.start:sent.end])
	ms := f.terminators.FindAllStringIndex(s, -1)
	if neg && f.negTerminators != nil {
		ms = append(ms, f.negTerminators.FindAllStringIndex(s, -1)...)
		sort.Slice(ms, func(i, j int) bool { return ms[i][0] < ms[j][0] })
	}
	ms = f.informantCuts(s, ms, own)
	var out []span
	start := 0
	for _, m := range ms {
		if f.speaksBack(s[m[1]:]) {
			continue
		}
		if m[0] > start {
			out = append(out, span{sent.start + start, sent.start + m[0]})
		}
		start = m[0]
	}
	out = append(out, span{sent.start + start, sent.end})
	return out
}

// informantCuts applies the informant rule to a lowered sentence's
// terminator matches ms (sorted by start). A relative telling of the other
// gender ("wife says he has had urinary retention") adds a cut at the
// reporting verb, where the patient's clause starts. With own, a parent,
// grandparent, aunt, uncle or sibling who opens the sentence and tells of
// their own past ("mother reports she had breast cancer") drops the cuts
// inside the telling, so the relative's other-person cue governs what
// follows; not when the relative is not the sentence's subject ("lives
// with his brother, reports he ..."; "patient and her mother report she
// ..."), nor when the patient is named after the pronoun ("she found him
// incontinent", "she thinks the patient had ..."). Only findings of the
// patient's history read such clauses: a relative's own pronoun is as
// often the one who tells of the patient's present state ("mother reports
// she has noticed pt has been incontinent"), and a red flag of the present
// is never given away on that reading. A spouse or child telling of the
// same gender, and relatives without a gender (parent, spouse, friend),
// are left to the terminators.
func (f *Finder) informantCuts(s string, ms [][]int, own bool) [][]int {
	if f.informants == nil {
		return ms
	}
	matches := f.informants.FindAllStringSubmatchIndex(s, -1)
	if matches == nil {
		return ms
	}
	re := f.informants
	group := func(m []int, name string) int { return m[2*re.SubexpIndex(name)] }
	for _, m := range matches {
		female, she := group(m, "female") >= 0, group(m, "she") >= 0
		verb := group(m, "verb")
		switch {
		case female != she:
			ms = append(ms, []int{verb, verb})
		case own && f.own != nil && f.own.MatchString(s[m[0]:verb]) &&
			f.informantOpens.MatchString(s[:m[0]]) && !f.patientNamed.MatchString(s[m[1]:]):
			ms = slices.DeleteFunc(ms, func(t []int) bool { return t[0] >= m[0] && t[0] < m[1] })
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i][0] < ms[j][0] })
	return ms
}

// excludedNotBefore reports whether the text right after an exclusion
// starts (past spaces) with one of the concept's exclude_not_before phrases.
func (c *concept) excludedNotBefore(rest string) bool {
	return startsWith(c.excludeNotBefore, rest, " \t\n\r\f")
}

// speaksBack reports whether the text right after a terminator starts
// with a phrase that speaks of the clause before it ("but never went").
func (f *Finder) speaksBack(rest string) bool { return startsWith(f.notBefore, rest, " \t\n\r\f,") }

// startsWith reports whether rest, past any of the characters of skip,
// starts with a match of re (false when re is nil).
func startsWith(re *regexp.Regexp, rest, skip string) bool {
	if re == nil {
		return false
	}
	m := re.FindStringIndex(strings.TrimLeft(rest, skip))
	return m != nil && m[0] == 0
}

func (f *Finder) findInSentence(text string, sent span, sec section) []Finding {
	s := text[sent.start:sent.end]
	lower := lowerASCII(s)
	var found []Finding
	for ci := range f.concepts {
		c := &f.concepts[ci]
		var excluded [][]int
		excludedDone := false
		for pi, re := range c.patterns {
			if !c.filters[pi].may(s, lower) {
				continue
			}
			in := s
			if c.fold[pi] {
				in = lower
			}
			ms := re.FindAllStringSubmatchIndex(in, -1)
			if len(ms) > 0 && !excludedDone {
				for _, ex := range c.exclude {
					for _, e := range ex.FindAllStringIndex(lower, -1) {
						if !c.excludedNotBefore(lower[e[1]:]) {
							excluded = append(excluded, e)
						}
					}
				}
				excludedDone = true
			}
			for _, m := range ms {
				if overlapsAny(m[0], m[1], excluded) || !c.accepts(re, s, m) || !c.isNear(lower, m[0], m[1]) {
					continue
				}
				found = append(found, Finding{
					Category: c.category, Concept: c.id, Label: c.label, Code: c.code, Source: c.source,
					Start: sent.start + m[0], End: sent.start + m[1], Text: s[m[0]:m[1]],
					NeedsCurrent: c.current,
				})
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	// Negation cues read the narrow clauses, the other kinds the wide ones
	// (see negTerminators); both are the same without negation-only ends.
	wide := newClauseSet(f.clauses(text, sent, false, false))
	narrow := wide
	if f.negTerminators != nil && f.negTerminators.MatchString(lowerASCII(text[sent.start:sent.end])) {
		narrow = newClauseSet(f.clauses(text, sent, true, false))
	}
	// History findings (a cancer history) read a relative's telling of
	// their own past as the relative's (informantCuts, own).
	var history *clauseSet
	for i := range found {
		fd := &found[i]
		cl, negHits := narrow.of(f, text, fd.Start)
		wideFor := wide
		if !fd.NeedsCurrent && f.informants != nil {
			if history == nil {
				history = newClauseSet(f.clauses(text, sent, false, true))
			}
			wideFor = history
		}
		_, wideHits := wideFor.of(f, text, fd.Start)
		var hits []cueHit
		for _, h := range negHits {
			if h.kind == ctxNegated {
				hits = append(hits, h)
			}
		}
		for _, h := range wideHits {
			if h.kind != ctxNegated {
				hits = append(hits, h)
			}
		}
		f.applyCues(text, hits, fd)
		cpt := &f.concepts[f.conceptIndex(fd.Concept)]
		therapy := cpt.therapy
		continued := false
		switch {
		case sec.context == ctxListed:
			// A medication named in a medication list is an entry of it;
			// physical therapy written there is not, nor is an entry that
			// writes a course ("naproxen x 6 weeks, no relief").
			if cpt.medication && !f.duration.MatchString(lowerASCII(text[cl.start:cl.end])) {
				fd.Listed = true
				fd.Cues = append(fd.Cues, ctxListed+": section "+sec.name)
			}
		case sec.context == ctxAllergy:
			// What the patient must not take is no trial; the list's other
			// words keep their context.
			if cpt.medication {
				setContext(fd, ctxNegated, ctxNegated+": section "+sec.name)
			}
		case (sec.context == ctxHypothetical || sec.context == ctxAssessPlan) && therapy && f.continuedBefore(text[cl.start:fd.Start]):
			// "Plan: continue naproxen": the patient takes it now.
			continued = true
		case sec.context == ctxAssessPlan:
			// An Assessment and Plan holds the diagnosis, which keeps its
			// own context, and what is planned: a finding a study or an
			// order is to look for, and a therapy not said to be done.
			before := lowerASCII(text[cl.start:fd.Start])
			switch {
			case therapy && f.doneCues != nil && f.doneCues.MatchString(before):
			case therapy, f.planCues != nil && f.planCues.MatchString(before):
				setContext(fd, ctxHypothetical, ctxHypothetical+": section "+sec.name)
			}
		case sec.context != "":
			setContext(fd, sec.context, sec.context+": section "+sec.name)
		}
		fd.Counts = !fd.Negated && !fd.Hypothetical && !fd.OtherPerson && !(fd.Historical && fd.NeedsCurrent) && !fd.Listed
		fd.Quote = quote(text, sent, fd.Start, fd.End)
		switch {
		case continued:
			// A duration in a plan is still to come ("refill naproxen x 6
			// weeks"): the mention is the note's day only.
		case cpt.onset:
			// The onset is the finding's own words ("new low back pain for
			// 3 weeks"), not another date of its clause ("on tamoxifen
			// since 2019").
			fd.Course = f.course(text[fd.Start:fd.End], false, 0, 0)
		case therapy:
			fd.Course = f.course(text[cl.start:cl.end], true, fd.Start-cl.start, fd.End-cl.start)
		}
	}
	f.placeDates(text, wide, found)
	return found
}

// dateHit is a date written in a clause: the whole match and its text.
type dateHit struct {
	span
	at string
}

// placeDates sets When on the sentence's findings (therapy apart): each
// date written in a clause goes to the nearest finding of that clause
// (words between them, a comma or semicolon counting as three), unless a
// present word ("now", "new") stands between them; a finding takes the
// nearest date it was given.
func (f *Finder) placeDates(text string, wide *clauseSet, found []Finding) {
	if f.dates == nil {
		return
	}
	type best struct {
		dist int
		at   string
	}
	got := make([]best, len(found))
	for i := range got {
		got[i].dist = -1
	}
	for _, cl := range wide.spans {
		var idx []int
		for i := range found {
			if found[i].Start >= cl.start && found[i].Start < cl.end && !f.concepts[f.conceptIndex(found[i].Concept)].therapy {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			continue
		}
		lower := lowerASCII(text[cl.start:cl.end])
		for _, d := range f.datesIn(text, lower, cl.start) {
			near, nearDist := []int{}, -1
			for _, i := range idx {
				fd := &found[i]
				gap, apart := between(text, d.start, d.end, fd.Start, fd.End)
				if !apart {
					continue // the date is inside the finding's own words
				}
				lg := lowerASCII(gap)
				if f.present != nil && f.present.MatchString(lg) {
					continue
				}
				dist := words(gap) + 3*strings.Count(gap, ",") + 3*strings.Count(gap, ";")
				switch {
				case nearDist < 0 || dist < nearDist:
					near, nearDist = []int{i}, dist
				case dist == nearDist:
					near = append(near, i)
				}
			}
			for _, i := range near {
				if got[i].dist < 0 || nearDist < got[i].dist {
					got[i] = best{nearDist, d.at}
				}
			}
		}
	}
	for i := range found {
		if got[i].dist >= 0 {
			found[i].When = got[i].at
		}
	}
}

// datesIn returns the dates written in a clause (lower is its lowered
// text, starting at offset base of text), as written, those after an
// ongoing word ("since") left out.
func (f *Finder) datesIn(text, lower string, base int) []dateHit {
	var out []dateHit
	for k, re := range f.dates {
		if !f.datesF[k].may(lower, lower) {
			continue
		}
		out = f.datesOf(re, text, lower, base, out)
	}
	return out
}

// datesOf appends the dates one pattern finds in a clause (see datesIn).
func (f *Finder) datesOf(re *regexp.Regexp, text, lower string, base int, out []dateHit) []dateHit {
	names := re.SubexpNames()
	for _, m := range re.FindAllStringSubmatchIndex(lower, -1) {
		at := -1
		for gi, n := range names {
			if n == "at" && m[2*gi] >= 0 {
				at = gi
				break
			}
		}
		if at < 0 {
			continue
		}
		if f.ongoing != nil {
			before := strings.TrimRight(lower[:m[2*at]], " \t\n\r,")
			if ms := f.ongoing.FindAllStringIndex(before, -1); len(ms) > 0 && ms[len(ms)-1][1] == len(before) {
				continue
			}
		}
		out = append(out, dateHit{span: span{base + m[0], base + m[1]}, at: collapse(strings.TrimRight(text[base+m[2*at]:base+m[2*at+1]], ", "))})
	}
	return out
}

// clauseSet is a sentence's clauses with their cues, found once per clause.
type clauseSet struct {
	spans []span
	cues  [][]cueHit
	seen  []bool
}

func newClauseSet(spans []span) *clauseSet {
	return &clauseSet{spans: spans, cues: make([][]cueHit, len(spans)), seen: make([]bool, len(spans))}
}

// of returns the clause holding byte offset pos and that clause's cues.
func (cs *clauseSet) of(f *Finder, text string, pos int) (span, []cueHit) {
	ci := 0
	for k, c := range cs.spans {
		if pos >= c.start && pos < c.end {
			ci = k
			break
		}
	}
	if !cs.seen[ci] {
		cs.cues[ci], cs.seen[ci] = f.clauseCues(text, cs.spans[ci]), true
	}
	return cs.spans[ci], cs.cues[ci]
}

func (f *Finder) conceptIndex(id string) int {
	for i := range f.concepts {
		if f.concepts[i].id == id {
			return i
		}
	}
	return 0
}

// accepts applies an entry's numeric rules to a match.
func (c *concept) accepts(re *regexp.Regexp, s string, m []int) bool {
	group := func(name string) (string, bool) {
		i := re.SubexpIndex(name)
		if i < 0 || m[2*i] < 0 {
			return "", false
		}
		return s[m[2*i]:m[2*i+1]], true
	}
	if c.gradeAtMost > 0 {
		g, ok := group("grade")
		n, err := strconv.Atoi(g)
		if !ok || err != nil || n > c.gradeAtMost-1 {
			return false
		}
		// "3+/5" is above 3/5 on the MRC scale: at the limit, a "+" grade
		// is over it ("3-/5" is under it).
		if mod, _ := group("mod"); n == c.gradeAtMost-1 && mod == "+" {
			return false
		}
	}
	if c.worsening {
		g, ok1 := group("grade")
		w, ok2 := group("was")
		gn, err1 := strconv.Atoi(g)
		wn, err2 := strconv.Atoi(w)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || gn >= wn {
			return false
		}
	}
	if c.feverC > 0 {
		t, ok := group("temp")
		v, err := strconv.ParseFloat(t, 64)
		if !ok || err != nil {
			return false
		}
		unit, _ := group("unit")
		unit = strings.ToUpper(unit)
		if unit == "" {
			// No unit written: body temperatures in C are below 45, in F
			// above 90; anything else is not a temperature.
			switch {
			case v >= 30 && v < 45:
				unit = "C"
			case v >= 90 && v < 115:
				unit = "F"
			default:
				return false
			}
		}
		if unit == "C" && (v < c.feverC || v >= 45) || unit == "F" && (v < c.feverF || v >= 115) {
			return false
		}
	}
	return true
}

// isNear reports whether the concept's near phrase (if it has one) is at
// most nearWords words before or after the match [s, e) of the lowered
// sentence, with no comma or semicolon between.
func (c *concept) isNear(lower string, s, e int) bool {
	if c.near == nil {
		return true
	}
	for _, m := range c.near.FindAllStringIndex(lower, -1) {
		gap, apart := between(lower, m[0], m[1], s, e)
		if apart && !strings.ContainsAny(gap, ",;") && words(gap) <= c.nearWords {
			return true
		}
	}
	return false
}

func overlapsAny(s, e int, spans [][]int) bool {
	for _, x := range spans {
		if s < x[1] && x[0] < e {
			return true
		}
	}
	return false
}

// clauseCues finds the context cues of a clause once, for all its findings;
// a cue inside a pseudo-trigger ("no improvement") is not a cue.
func (f *Finder) clauseCues(text string, cl span) []cueHit {
	s := lowerASCII(text[cl.start:cl.end])
	var hits []cueHit
	for _, cs := range f.cues {
		var pseudo [][]int
		if cs.pseudo != nil && cs.pseudoF.may(s, s) {
			pseudo = cs.pseudo.FindAllStringIndex(s, -1)
		}
		for _, side := range []struct {
			re    *regexp.Regexp
			pf    *prefilter
			after bool
		}{{cs.before, cs.beforeF, false}, {cs.after, cs.afterF, true}} {
			if side.re == nil || !side.pf.may(s, s) {
				continue
			}
			for _, m := range side.re.FindAllStringIndex(s, -1) {
				if overlapsAny(m[0], m[1], pseudo) {
					continue
				}
				hits = append(hits, cueHit{kind: cs.kind, span: span{cl.start + m[0], cl.start + m[1]},
					text: collapse(text[cl.start+m[0] : cl.start+m[1]]), after: side.after})
			}
		}
	}
	return hits
}

// applyCues sets the finding's context from the cues of its clause: a
// "before" cue anywhere ahead of it, an "after" cue at most afterWindow
// words behind it. A cue inside the finding's own text does not count.
func (f *Finder) applyCues(text string, hits []cueHit, fd *Finding) {
	done := map[string]bool{}
	for _, h := range hits {
		if done[h.kind] || h.start < fd.End && fd.Start < h.end {
			continue
		}
		if !h.after && h.end <= fd.Start || h.after && h.start >= fd.End && words(text[fd.End:h.start]) <= f.afterWindow {
			setContext(fd, h.kind, h.kind+": "+h.text)
			done[h.kind] = true
		}
	}
}

func setContext(fd *Finding, kind, cue string) {
	switch kind {
	case ctxNegated:
		fd.Negated = true
	case ctxHypothetical:
		fd.Hypothetical = true
	case ctxOtherPerson:
		fd.OtherPerson = true
	case ctxHistorical:
		fd.Historical = true
	}
	fd.Cues = append(fd.Cues, cue)
}

func words(s string) int { return len(strings.Fields(s)) }

// between is the text of s between the spans [a0, a1) and [b0, b1),
// whichever comes first; false when they overlap.
func between(s string, a0, a1, b0, b1 int) (string, bool) {
	switch {
	case a1 <= b0:
		return s[a1:b0], true
	case b1 <= a0:
		return s[b1:a0], true
	}
	return "", false
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

var numberWords = map[string]int{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
	"eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}

// NumberWord is the value of a number written as a word, "one" to "twelve"
// (any case), as the finder reads counts in durations; false otherwise.
func NumberWord(w string) (int, bool) {
	n, ok := numberWords[strings.ToLower(w)]
	return n, ok
}

// continuedBefore reports whether the text before a therapy in its clause
// ends with a word of continuing it ("continue", "refill"), at most two
// words of filler after it ("continue with home naproxen"); "continue to
// hold naproxen" does not.
func (f *Finder) continuedBefore(before string) bool {
	if f.continued == nil {
		return false
	}
	ms := f.continued.FindAllStringIndex(lowerASCII(before), -1)
	if len(ms) == 0 {
		return false
	}
	rest := strings.Fields(before[ms[len(ms)-1][1]:])
	if len(rest) > 2 {
		return false
	}
	for _, w := range rest {
		if !f.continuedFiller[strings.ToLower(w)] {
			return false
		}
	}
	return true
}

// course reads a therapy course's start and duration from its clause
// (therapy: what the clause says of a pain or symptom's duration, outside
// the therapy's own words at [start, end), is left out), or an onset from a
// finding's own words.
func (f *Finder) course(clause string, therapy bool, start, end int) *Course {
	var c Course
	lower := lowerASCII(clause)
	// group is the text of the named group that took part in the match:
	// several patterns of a list may each name a group "since".
	group := func(re *regexp.Regexp, m []int, name string) string {
		for i, n := range re.SubexpNames() {
			if n == name && m[2*i] >= 0 {
				return clause[m[2*i]:m[2*i+1]]
			}
		}
		return ""
	}
	if m := f.since.FindStringSubmatchIndex(lower); m != nil {
		c.Since = collapse(strings.TrimRight(group(f.since, m, "since"), ", "))
	} else if f.at != nil {
		if m := f.at.FindStringSubmatchIndex(lower); m != nil {
			c.At = collapse(group(f.at, m, "at"))
		}
	}
	if therapy && f.notDuration != nil {
		// Blank what is no therapy's duration, keeping byte offsets (a
		// finding dated by its onset reads exactly that duration).
		b := []byte(lower)
		for _, m := range f.notDuration.FindAllStringIndex(lower, -1) {
			if m[0] < end && start < m[1] {
				// "despite naproxen x 7 weeks": the therapy's own.
				continue
			}
			for i := m[0]; i < m[1]; i++ {
				b[i] = ' '
			}
		}
		lower = string(b)
	}
	if m := f.duration.FindStringSubmatchIndex(lower); m != nil {
		c.Duration = collapse(clause[m[0]:m[1]])
		nText := strings.ToLower(group(f.duration, m, "n"))
		n, err := strconv.Atoi(nText)
		if err != nil {
			n = numberWords[nText]
		}
		unit := strings.ToLower(group(f.duration, m, "unit"))
		switch {
		case strings.HasPrefix(unit, "d"):
			c.Days = n
		case strings.HasPrefix(unit, "w"):
			c.Days = n * 7
		case strings.HasPrefix(unit, "m"):
			c.Days = n * 30
		}
	}
	if c.Since == "" && c.Duration == "" && c.At == "" {
		return nil
	}
	return &c
}

// quote returns at most MaxQuote characters of the sentence around the
// match, cut at word boundaries, whitespace collapsed, "…" where cut.
func quote(text string, sent span, start, end int) string {
	full := collapse(text[sent.start:sent.end])
	if utf8.RuneCountInString(full) <= MaxQuote {
		return full
	}
	core := collapse(text[start:end])
	if utf8.RuneCountInString(core) > MaxQuote-2 {
		r := []rune(core)[:MaxQuote-2]
		cut := string(r)
		if i := strings.LastIndexByte(cut, ' '); i > 0 {
			cut = cut[:i]
		}
		return cut + " …"
	}
	left := strings.Fields(text[sent.start:start])
	right := strings.Fields(text[end:sent.end])
	// A match that starts or ends inside a word joins it, unless the word
	// is so long that the quote would outgrow MaxQuote (then the match is
	// quoted alone, cut at its own edges).
	if len(left) > 0 && start > sent.start && !isSpace(text[start-1]) &&
		utf8.RuneCountInString(left[len(left)-1])+utf8.RuneCountInString(core) <= MaxQuote-4 {
		core = left[len(left)-1] + core
		left = left[:len(left)-1]
	}
	if len(right) > 0 && end < sent.end && !isSpace(text[end]) &&
		utf8.RuneCountInString(right[0])+utf8.RuneCountInString(core) <= MaxQuote-4 {
		core += right[0]
		right = right[1:]
	}
	l, r := len(left), 0
	n := utf8.RuneCountInString(core) + 4 // room for both ellipses
	for {
		grown := false
		if l > 0 && n+1+utf8.RuneCountInString(left[l-1]) <= MaxQuote {
			n += 1 + utf8.RuneCountInString(left[l-1])
			l--
			grown = true
		}
		if r < len(right) && n+1+utf8.RuneCountInString(right[r]) <= MaxQuote {
			n += 1 + utf8.RuneCountInString(right[r])
			r++
			grown = true
		}
		if !grown {
			break
		}
	}
	parts := append(append(append([]string{}, left[l:]...), core), right[:r]...)
	q := strings.Join(parts, " ")
	if l > 0 {
		q = "… " + q
	}
	if r < len(right) {
		q += " …"
	}
	return q
}

// dedupe drops a finding whose span overlaps a longer one of the same
// category, and sorts by position.
func dedupe(in []Finding) []Finding {
	sort.SliceStable(in, func(i, j int) bool {
		if in[i].Start != in[j].Start {
			return in[i].Start < in[j].Start
		}
		return in[i].End-in[i].Start > in[j].End-in[j].Start
	})
	var out []Finding
	for _, fd := range in {
		dup := false
		for k := range out {
			o := &out[k]
			if o.Category == fd.Category && fd.Start < o.End && o.Start < fd.End {
				if fd.End-fd.Start > o.End-o.Start {
					*o = fd
				}
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, fd)
		}
	}
	return out
}
