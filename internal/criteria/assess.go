package criteria

import (
	"fmt"
	"sort"
	"strings"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// redFlagCodes maps the policy's red flags to their finding codes.
var redFlagCodes = map[policy.RedFlagKind]string{
	policy.CaudaEquina:       RedFlagCaudaEquina,
	policy.NeurologicDeficit: RedFlagNeurologicDeficit,
	policy.Malignancy:        RedFlagMalignancy,
	policy.Infection:         RedFlagInfection,
	policy.Fracture:          RedFlagFracture,
	policy.PriorSurgery:      RedFlagPriorSurgery,
}

// assessor holds one assessment's inputs and the record read once.
type assessor struct {
	pol   *policy.Policy
	rec   *chart.Record
	order Order
	d     time.Time
	conds []condition
	procs []procedure
}

// condition is a Condition that is not refuted or entered-in-error, dated on
// or before D (or undated).
type condition struct {
	c      *r4.Condition
	active bool
	date   *time.Time
	source string
}

// procedure is a completed or in-progress Procedure dated on or before D (or
// undated).
type procedure struct {
	p      *chart.Procedure
	start  *time.Time
	end    *time.Time
	source string
}

// Assess assesses one lumbar MRI order against the patient's record and a
// payer policy (DECISIONS.md, "The assessment"). D is the order's authoredOn
// date, else now's UTC date; every window ends at D. A nil policy means the
// embedded default policy. Assess is pure and safe for concurrent use.
func Assess(order Order, rec *chart.Record, pol *policy.Policy, now time.Time) Assessment {
	if pol == nil {
		pol = policy.Default().Default()
	}
	if rec == nil {
		rec = &chart.Record{}
	}
	d := toDay(now)
	if order.AuthoredOn != nil {
		d = toDay(*order.AuthoredOn)
	}
	x := &assessor{pol: pol, rec: rec, order: order, d: d}
	x.readConditions()
	x.readProcedures()

	a := Assessment{
		Order:               order,
		Date:                d,
		TherapyRequiredDays: pol.ConservativeTherapy.MinDays,
		RecommendedContrast: ContrastWithout,
	}

	flags := x.redFlags()
	indicated := x.hasIndication()
	th := x.therapy()
	a.TherapyDays, a.TherapyMetOn = th.days, th.metOn

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
		a.Findings = append(a.Findings, Finding{
			Code:     PriorLumbarMRI,
			Text:     fmt.Sprintf("A lumbar MRI was done on %s, within the %d-day repeat-imaging window before %s.", ymd(latest.Date), pol.RepeatMRIWindowDays, ymd(&d)),
			Evidence: prior,
		})
	}
	if xrayMissing {
		a.Findings = append(a.Findings, Finding{
			Code: XrayMissing,
			Text: fmt.Sprintf("No lumbar spine radiographs are documented in the %d days before %s; this payer requires them before MRI.", pol.XrayLookbackDays, ymd(&d)),
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
		a.SuggestedCode = suggestedCode(order.Code.System, a.RecommendedContrast)
		a.Findings = append(a.Findings, Finding{Code: ContrastReview, Text: contrastText(order.Contrast, a.RecommendedContrast, a.SuggestedCode)})
	}

	// Outcome (DECISIONS.md): a red flag carries the order when there is no
	// prior lumbar MRI in the window or the red flag is dated after it.
	redFlagCarries := false
	for _, f := range flags {
		if a.PriorMRI == nil || (f.latest != nil && a.PriorMRI.Date != nil && f.latest.After(*a.PriorMRI.Date)) {
			redFlagCarries = true
		}
	}
	trialCarries := indicated && th.met && a.PriorMRI == nil && !xrayMissing
	switch {
	case len(rec.Unavailable) > 0:
		for _, s := range rec.Unavailable {
			a.Unchecked = append(a.Unchecked, string(s))
		}
		// Never criteria-not-met on incomplete data.
		a.Outcome = CriteriaIndeterminate
		if redFlagCarries {
			a.Outcome = CriteriaMet
		}
	case redFlagCarries || trialCarries:
		a.Outcome = CriteriaMet
	default:
		a.Outcome = CriteriaNotMet
	}
	return a
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

func source(resourceType string, id *string) string {
	if id == nil || *id == "" {
		return resourceType
	}
	return resourceType + "/" + *id
}

// Condition statuses (DECISIONS.md "Statuses that count"): clinicalStatus
// active, recurrence or relapse, or absent; never refuted or entered-in-error.
func conceptHas(cc *r4.CodeableConcept, codes ...string) bool {
	if cc == nil {
		return false
	}
	for _, cd := range cc.Coding {
		if cd.Code == nil {
			continue
		}
		for _, c := range codes {
			if *cd.Code == c {
				return true
			}
		}
	}
	return false
}

func (x *assessor) readConditions() {
	x.conds = make([]condition, 0, len(x.rec.Conditions))
	for i := range x.rec.Conditions {
		c := &x.rec.Conditions[i]
		if conceptHas(c.VerificationStatus, "refuted", "entered-in-error") {
			continue
		}
		date := first(datePtr(c.OnsetDateTime), periodStart(c.OnsetPeriod), datePtr(c.RecordedDate))
		if date != nil && date.After(x.d) {
			continue
		}
		active := c.ClinicalStatus == nil || len(c.ClinicalStatus.Coding) == 0 ||
			conceptHas(c.ClinicalStatus, "active", "recurrence", "relapse")
		x.conds = append(x.conds, condition{c: c, active: active, date: date, source: source("Condition", c.Id)})
	}
}

// Procedure: completed or in-progress, on or before D.
func (x *assessor) readProcedures() {
	x.procs = make([]procedure, 0, len(x.rec.Procedures))
	for i := range x.rec.Procedures {
		p := &x.rec.Procedures[i]
		if !p.StatusPresent || (p.Status != r4.EventStatusCompleted && p.Status != r4.EventStatusInProgress) {
			continue
		}
		start := first(datePtr(p.PerformedDateTime), periodStart(p.PerformedPeriod))
		if start != nil && start.After(x.d) {
			continue
		}
		end := start
		if p.PerformedPeriod != nil {
			if e := periodEnd(p.PerformedPeriod); e != nil {
				end = e
			} else if p.Status == r4.EventStatusInProgress && start != nil {
				d := x.d
				end = &d
			}
		}
		if end != nil && end.After(x.d) {
			d := x.d
			end = &d
		}
		x.procs = append(x.procs, procedure{p: p, start: start, end: end, source: source("Procedure", p.Id)})
	}
}

// inWindow reports whether date falls within n days before D (n == 0: any
// date, or undated).
func (x *assessor) inWindow(date *time.Time, n int) bool {
	if n <= 0 {
		return true
	}
	return date != nil && !date.Before(addDays(x.d, -n)) && !date.After(x.d)
}

func evidence(src string, date *time.Time, cd r4.Coding) Evidence {
	return Evidence{
		Source:  src,
		Date:    date,
		Display: str(cd.Display),
		Code:    Code{System: str(cd.System), Code: str(cd.Code), Display: str(cd.Display)},
	}
}

// matchCriterion returns the evidence of one red-flag entry or combination part.
func (x *assessor) matchCriterion(c *policy.Criterion) []Evidence {
	var out []Evidence
	switch {
	case c.Fever:
		return x.fever(c.WithinDays)
	case c.Indication:
		return x.indications(c.WithinDays)
	}
	for _, cn := range x.conds {
		if !cn.active && !c.History {
			continue
		}
		if !x.inWindow(cn.date, c.WithinDays) {
			continue
		}
		if cd, ok := c.MatchConcept(cn.c.Code); ok {
			out = append(out, evidence(cn.source, cn.date, cd))
		}
	}
	for _, pr := range x.procs {
		if !x.inWindow(pr.start, c.WithinDays) {
			continue
		}
		if cd, ok := c.MatchConcept(pr.p.Code); ok {
			out = append(out, evidence(pr.source, pr.start, cd))
		}
	}
	return out
}

// indications returns the back-pain and radiculopathy Conditions, with onset
// (else recorded date) within n days of D when n > 0.
func (x *assessor) indications(n int) []Evidence {
	var out []Evidence
	for _, cn := range x.conds {
		if !cn.active || !x.inWindow(cn.date, n) {
			continue
		}
		if cd, ok := x.pol.Indication.MatchConcept(cn.c.Code); ok {
			out = append(out, evidence(cn.source, cn.date, cd))
		}
	}
	return out
}

// hasIndication: an indication Condition, or an indication code among the
// order's reasonCode (DECISIONS.md "Indication").
func (x *assessor) hasIndication() bool {
	if len(x.indications(0)) > 0 {
		return true
	}
	for _, rc := range x.order.ReasonCodes {
		if x.pol.Indication.Match(rc.System, rc.Code) {
			return true
		}
	}
	return false
}

// Observation statuses that count: final, amended, corrected, preliminary.
func observationCounts(o *chart.Observation) bool {
	if !o.StatusPresent {
		return false
	}
	switch o.Status {
	case r4.ObservationStatusFinal, r4.ObservationStatusAmended, r4.ObservationStatusCorrected, r4.ObservationStatusPreliminary:
		return true
	}
	return false
}

// fever returns body temperatures at or above the policy threshold in the
// same UCUM unit, dated within the policy window (or n days when n > 0).
func (x *assessor) fever(n int) []Evidence {
	f := &x.pol.Fever
	if n <= 0 {
		n = f.WithinDays
	}
	var out []Evidence
	for i := range x.rec.Observations {
		o := &x.rec.Observations[i]
		if !observationCounts(o) || o.ValueQuantity == nil || o.ValueQuantity.Value == nil {
			continue
		}
		cd, ok := f.MatchConcept(&o.Code)
		if !ok {
			continue
		}
		date := first(datePtr(o.EffectiveDateTime), periodStart(o.EffectivePeriod), datePtr(o.EffectiveInstant), datePtr(o.Issued))
		if !x.inWindow(date, n) {
			continue
		}
		v, err := o.ValueQuantity.Value.Float64()
		if err != nil {
			continue
		}
		unit := str(o.ValueQuantity.Code)
		if unit == "" {
			unit = str(o.ValueQuantity.Unit)
		}
		for _, t := range f.Thresholds {
			if unit == t.Unit && v >= t.Value {
				e := evidence(source("Observation", o.Id), date, cd)
				name := e.Display
				if name == "" {
					name = "Body temperature"
				}
				e.Display = fmt.Sprintf("%s %s %s", name, o.ValueQuantity.Value.String(), unit)
				out = append(out, e)
				break
			}
		}
	}
	return out
}

type redFlag struct {
	finding  Finding
	latest   *time.Time
	contrast string
}

// redFlags evaluates the policy's red flags in their stable order.
func (x *assessor) redFlags() []redFlag {
	var out []redFlag
	for _, rf := range x.pol.RedFlags.All() {
		var ev []Evidence
		for i := range rf.Flag.Alone {
			ev = append(ev, x.matchCriterion(&rf.Flag.Alone[i])...)
		}
		for _, cb := range rf.Flag.Combinations {
			var parts []Evidence
			all := len(cb.All) > 0
			for i := range cb.All {
				m := x.matchCriterion(&cb.All[i])
				if len(m) == 0 {
					all = false
					break
				}
				parts = append(parts, m...)
			}
			if all {
				ev = append(ev, parts...)
			}
		}
		if len(ev) == 0 {
			continue
		}
		ev = sortEvidence(ev)
		var latest *time.Time
		var items []string
		for _, e := range ev {
			if e.Date != nil && (latest == nil || e.Date.After(*latest)) {
				latest = e.Date
			}
			name := e.Display
			if name == "" {
				name = e.Code.Code
			}
			items = append(items, fmt.Sprintf("%s (%s)", name, ymd(e.Date)))
		}
		out = append(out, redFlag{
			finding: Finding{
				Code:     redFlagCodes[rf.Kind],
				Text:     rf.Flag.Label + ": " + strings.Join(items, "; ") + ".",
				Evidence: ev,
			},
			latest:   latest,
			contrast: rf.Flag.Contrast,
		})
	}
	return out
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
		if i > 0 && e.Source == ev[i-1].Source && e.Code == ev[i-1].Code {
			continue
		}
		out = append(out, e)
	}
	return out
}
