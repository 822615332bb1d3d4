package criteria

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// interval is one treatment: a procedure day or period, or a medication
// course, already clipped to the lookback window.
type interval struct {
	s, e  time.Time
	kind  policy.TherapyKind
	visit bool // a procedure (a visit), not a medication
	ev    Evidence
}

type course struct {
	s, e  time.Time
	items []interval
}

func (c *course) days() int { return daysBetween(c.s, c.e) }

type therapyResult struct {
	finding Finding
	days    int
	met     bool
	metOn   *time.Time
}

// MedicationRequest statuses and intents that count (DECISIONS.md
// "Statuses that count").
var (
	requestStatuses   = map[string]bool{"active": true, "completed": true, "stopped": true}
	requestIntents    = map[string]bool{"order": true, "original-order": true, "reflex-order": true, "filler-order": true, "instance-order": true}
	statementStatuses = map[string]bool{"active": true, "completed": true, "stopped": true}
)

// therapy measures the conservative-therapy trial (DECISIONS.md
// "Conservative therapy"; ACR Appropriateness Criteria, Low Back Pain (2021),
// variant 3: 6 weeks of optimal medical management).
func (x *assessor) therapy() therapyResult {
	t := &x.pol.ConservativeTherapy
	from := addDays(x.d, -t.LookbackDays)
	var items []interval
	add := func(s time.Time, e *time.Time, kind policy.TherapyKind, visit bool, ev Evidence) {
		end := s
		if e != nil && e.After(s) {
			end = *e
		}
		if end.After(x.d) {
			end = x.d
		}
		if s.After(x.d) || end.Before(from) {
			return
		}
		if s.Before(from) {
			s = from
		}
		ev.Date = &s
		items = append(items, interval{s: s, e: end, kind: kind, visit: visit, ev: ev})
	}

	for _, pr := range x.procs {
		if pr.start == nil {
			continue
		}
		m, ok := x.pol.TherapyProcedure(pr.p.Code)
		if !ok {
			continue
		}
		add(*pr.start, pr.end, m.Kind, true, evidence(pr.source, nil, m.Coding))
	}
	for i := range x.rec.MedicationRequests {
		mr := &x.rec.MedicationRequests[i]
		if !requestStatuses[mr.Status] || !requestIntents[mr.Intent] || (mr.DoNotPerform != nil && *mr.DoNotPerform) {
			continue
		}
		start := datePtr(mr.AuthoredOn)
		if start == nil {
			continue
		}
		m, ok := x.pol.TherapyMedication(&mr.MedicationCodeableConcept)
		if !ok {
			continue
		}
		var end *time.Time
		if dr := mr.DispenseRequest; dr != nil && dr.ExpectedSupplyDuration != nil {
			if n, ok := durationDays(dr.ExpectedSupplyDuration); ok && n > 0 {
				fills := 1
				if dr.NumberOfRepeatsAllowed != nil && *dr.NumberOfRepeatsAllowed > 0 {
					fills += *dr.NumberOfRepeatsAllowed
				}
				e := addDays(*start, n*fills)
				end = &e
			}
		}
		add(*start, end, m.Kind, false, medicationEvidence(source("MedicationRequest", mr.Id), m))
	}
	for i := range x.rec.MedicationStatements {
		ms := &x.rec.MedicationStatements[i]
		if !statementStatuses[ms.Status] {
			continue
		}
		start := first(periodStart(ms.EffectivePeriod), datePtr(ms.EffectiveDateTime))
		if start == nil {
			continue
		}
		m, ok := x.pol.TherapyMedication(&ms.MedicationCodeableConcept)
		if !ok {
			continue
		}
		add(*start, periodEnd(ms.EffectivePeriod), m.Kind, false, medicationEvidence(source("MedicationStatement", ms.Id), m))
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
			Text: fmt.Sprintf("No conservative therapy is documented between %s and %s (the last %d days).", ymd(&from), ymd(&x.d), t.LookbackDays),
		}
		return r
	}
	r.days = best.days()
	var ev []Evidence
	for _, it := range best.items {
		ev = append(ev, it.ev)
	}
	ev = sortEvidence(ev)
	text := fmt.Sprintf("Conservative therapy (%s) from %s to %s: %d days; at least %d required.",
		x.kinds(best), ymd(&best.s), ymd(&best.e), r.days, t.MinDays)

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
		r.finding = Finding{Code: ConservativeTherapyMet, Text: text, Evidence: ev}
		return r
	}
	if r.days < t.MinDays && !best.e.Before(addDays(x.d, -t.MaxGapDays)) {
		// The course can still be continued: say when it reaches the minimum.
		on := addDays(best.s, t.MinDays)
		r.metOn = &on
		text += fmt.Sprintf(" The %d-day point falls on %s.", t.MinDays, ymd(&on))
	}
	if len(gaps) > 0 {
		text += " Also: " + strings.Join(gaps, "; ") + "."
	}
	r.finding = Finding{Code: ConservativeTherapyInsufficient, Text: text, Evidence: ev}
	return r
}

func medicationEvidence(src string, m policy.MedicationMatch) Evidence {
	if m.Coding != nil {
		return evidence(src, nil, *m.Coding)
	}
	// Text fallback: name the policy's ingredient, never the chart's text.
	return Evidence{
		Source:  src,
		Display: m.Ingredient.Name + " (matched by medication name, not code)",
		Code:    Code{System: policy.SystemRxNorm, Code: m.Ingredient.RxNorm, Display: m.Ingredient.Name},
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
		if pr.start == nil || !pr.start.After(c.s) {
			continue
		}
		if _, ok := x.pol.ConservativeTherapy.FollowupCodes.MatchConcept(pr.p.Code); ok {
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

// durationDays converts a FHIR Duration to whole days (UCUM d, wk, mo, a).
func durationDays(d *r4.Duration) (int, bool) {
	if d.Value == nil {
		return 0, false
	}
	v, err := d.Value.Float64()
	if err != nil {
		return 0, false
	}
	unit := str(d.Code)
	if unit == "" {
		unit = strings.ToLower(strings.TrimSpace(str(d.Unit)))
	}
	var per float64
	switch unit {
	case "d", "day", "days":
		per = 1
	case "wk", "week", "weeks":
		per = 7
	case "mo", "month", "months":
		per = 30
	case "a", "year", "years":
		per = 365
	case "h", "hour", "hours":
		per = 1.0 / 24
	default:
		return 0, false
	}
	return int(math.Round(v * per)), true
}
