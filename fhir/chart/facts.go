package chart

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/terminology"
)

// Coding is one coded value: system, code and display.
type Coding struct {
	System, Code, Display string
}

// Concept is a CodeableConcept: its codings and its text.
type Concept struct {
	Codings []Coding
	Text    string
}

// Name is the concept in plain words: the first coding display, else the
// text, else the first code.
func (c Concept) Name() string {
	for _, cd := range c.Codings {
		if cd.Display != "" {
			return cd.Display
		}
	}
	if c.Text != "" {
		return c.Text
	}
	if len(c.Codings) > 0 {
		return c.Codings[0].Code
	}
	return ""
}

// Empty reports whether the concept has neither codings nor text.
func (c Concept) Empty() bool { return len(c.Codings) == 0 && c.Text == "" }

// LocalOnly reports whether the concept has codings, but none in the code
// systems the value sets are written in for its kind: a problem coded only
// in an EHR's local system ("urn:oid:..."), read, like a text-only one, by
// its words.
func (c Concept) LocalOnly(systems ...string) bool {
	if len(c.Codings) == 0 {
		return false
	}
	return !slices.ContainsFunc(c.Codings, func(cd Coding) bool { return slices.Contains(systems, cd.System) })
}

// Misfiled returns the codings filed under one of the systems whose code
// does not have that system's form (a SNOMED CT id under ICD-10-CM): the
// value sets cannot read them, so the concept is read by its words, like a
// local one, and the answer says why.
func (c Concept) Misfiled(systems ...string) []Coding {
	var out []Coding
	for _, cd := range c.Codings {
		if slices.Contains(systems, cd.System) && !terminology.WellFormed(cd.System, cd.Code) {
			out = append(out, cd)
		}
	}
	return out
}

// Readable reports whether the concept has a coding in one of the systems
// whose code has that system's form: one the value sets can read.
func (c Concept) Readable(systems ...string) bool {
	return slices.ContainsFunc(c.Codings, func(cd Coding) bool {
		return slices.Contains(systems, cd.System) && terminology.WellFormed(cd.System, cd.Code)
	})
}

// Words is the concept's text, else the displays of its codings joined by
// "; ": what a reader of the chart sees of it.
func (c Concept) Words() string {
	if c.Text != "" {
		return c.Text
	}
	var ds []string
	for _, cd := range c.Codings {
		if cd.Display != "" && !slices.Contains(ds, cd.Display) {
			ds = append(ds, cd.Display)
		}
	}
	return strings.Join(ds, "; ")
}

// The code systems a problem list or a procedure is coded in where the value
// sets can read it (US Core Condition.code: SNOMED CT or ICD-10-CM; US Core
// Procedure.code: CPT or SNOMED CT).
var (
	ProblemSystems   = []string{terminology.SystemICD10CM, terminology.SystemSNOMED}
	ProcedureSystems = []string{terminology.SystemCPT, terminology.SystemSNOMED}
)

// Problem is a Condition as the assessment reads it.
type Problem struct {
	// Source is "Condition/{id}" (or "Condition" without an id).
	Source string
	Code   Concept
	// ClinicalStatus and VerificationStatus are the status codes, "" when absent.
	ClinicalStatus, VerificationStatus string
	// Onset is onset[x] as a date: onsetDateTime, onsetPeriod.start, or
	// onsetAge/onsetRange placed by the birth date. Zero when not dated
	// (onsetString, or an age without a birth date).
	Onset Date
	// Recorded is recordedDate.
	Recorded Date
	// Abated is true when any abatement[x] is present (abatementBoolean
	// false excepted): the condition has ended.
	Abated bool
	// AbatedOn is when it ended, when that can be placed: abatementDateTime,
	// abatementPeriod (its start: the earliest it ended), abatementAge or
	// abatementRange through the birth date. Zero when the date is unknown
	// (abatementString, abatementBoolean, an age without a birth date):
	// ended at an unknown date before D.
	AbatedOn Date
	// Stage is the cancer stage group of Condition.stage, when one is a TNM
	// stage group (CancerStage); zero otherwise.
	Stage CancerStage
}

// Date is the problem's clinically relevant date: onset, else recorded date.
func (p *Problem) Date() Date { return first(p.Onset, p.Recorded) }

// Refuted reports a verificationStatus of refuted or entered-in-error: such
// a Condition never counts (DECISIONS.md, "Statuses that count").
func (p *Problem) Refuted() bool {
	return p.VerificationStatus == "refuted" || p.VerificationStatus == "entered-in-error"
}

// EndedBy reports whether the condition had ended on or before day d: any
// abatement[x] ends it whether or not clinicalStatus is present (FHIR R4
// Condition.abatement[x]; con-4), unless the abatement is dated after d.
func (p *Problem) EndedBy(d time.Time) bool {
	if !p.Abated {
		return false
	}
	return p.AbatedOn.IsZero() || !p.AbatedOn.Earliest.After(d)
}

// ActiveOn reports whether the condition is current on day d:
// clinicalStatus active, recurrence or relapse (or absent), not ended by d,
// and not refuted (DECISIONS.md, "Statuses that count").
func (p *Problem) ActiveOn(d time.Time) bool {
	if p.Refuted() || p.EndedBy(d) {
		return false
	}
	switch p.ClinicalStatus {
	case "", "active", "recurrence", "relapse":
		return true
	}
	return false
}

// NotCurrentWhy says in plain words why the condition is not current on
// day d ("verification status refuted", "ended 2024-05-20", "ended, date not
// recorded", "clinical status resolved"); empty when it is ActiveOn(d).
func (p *Problem) NotCurrentWhy(d time.Time) string {
	switch {
	case p.Refuted():
		return "verification status " + strings.ReplaceAll(p.VerificationStatus, "-", " ")
	case p.EndedBy(d) && p.AbatedOn.IsZero():
		return "ended, date not recorded"
	case p.EndedBy(d) && p.AbatedOn.Precision != PrecisionNone && strings.HasPrefix(p.AbatedOn.Text, "age "):
		return "ended at " + p.AbatedOn.Text
	case p.EndedBy(d):
		return "ended " + p.AbatedOn.String()
	case !p.ActiveOn(d):
		return "clinical status " + p.ClinicalStatus
	}
	return ""
}

// PerformedProcedure is a Procedure as the assessment reads it.
type PerformedProcedure struct {
	Source string
	Code   Concept
	// Status is the status code, "" when absent.
	Status string
	// Start and End are performedDateTime, or performedPeriod start and end.
	Start, End Date
	// Reasons are reasonCode and the codes of Conditions reasonReference names.
	Reasons []Concept
}

// Done reports a completed or in-progress Procedure (DECISIONS.md).
func (p *PerformedProcedure) Done() bool { return p.Status == "completed" || p.Status == "in-progress" }

// NotDoneWhy says in plain words why a Procedure that is not Done does not
// count ("status not-done", "no status recorded"); empty when it is Done.
func (p *PerformedProcedure) NotDoneWhy() string {
	if p.Done() {
		return ""
	}
	return statusWords(p.Status != "", p.Status)
}

// MedicationKind says which resource a medication use came from.
type MedicationKind string

// Medication kinds.
const (
	MedicationRequested MedicationKind = "MedicationRequest"
	MedicationStated    MedicationKind = "MedicationStatement"
	MedicationDispensed MedicationKind = "MedicationDispense"
)

// MedicationUse is one medication order, statement or dispense.
type MedicationUse struct {
	Source string
	Kind   MedicationKind
	// Medication is the medication: medicationCodeableConcept, or the
	// Medication resource medicationReference names (contained, in the
	// Bundle, or fetched), its code.
	Medication Concept
	// UnresolvedReference is set when medicationReference named a
	// Medication that could not be found; Medication is then empty.
	UnresolvedReference bool
	// Counts is true when status and intent count (DECISIONS.md "Statuses
	// that count"): requests active, completed or stopped with an order
	// intent and not doNotPerform; statements active, completed or stopped;
	// dispenses completed.
	Counts bool
	// NotCountedWhy says in plain words why the status or intent does not
	// count ("status cancelled", "intent plan, not an order", "no status
	// recorded"); empty when Counts.
	NotCountedWhy string
	// Start is authoredOn (request), effective start (statement) or
	// whenHandedOver (dispense).
	Start Date
	// End is effectivePeriod.end (statement), when recorded.
	End Date
	// SupplyDays is the days one fill lasts: expectedSupplyDuration
	// (request) or daysSupply (dispense), whole days rounded down; 0 when
	// not recorded or not usable.
	SupplyDays int
	// SupplyUnusable says why a supply duration that was recorded could not
	// be used ("no unit", "value -42 is not a positive number", "unit mg is
	// not a time unit"); empty when none was recorded or it was used. The
	// course then counts as its first day only, and the answer names it.
	SupplyUnusable string
	// Status is the request's or statement's status as recorded ("active"),
	// "" when absent.
	Status string
	// Fills is 1 + numberOfRepeatsAllowed for requests, 1 otherwise.
	Fills int
	// Reasons are reasonCode and the codes of Conditions reasonReference names.
	Reasons []Concept
}

// Quantity is a measured value with its UCUM code (or unit text).
type Quantity struct {
	Value float64
	// Text is the value as recorded ("38.4").
	Text string
	Unit string
}

// Measurement is an Observation as the assessment reads it.
type Measurement struct {
	Source string
	Code   Concept
	// Counts is true for status final, amended, corrected or preliminary.
	Counts bool
	// NotCountedWhy is the status that does not count, in plain words.
	NotCountedWhy string
	Value         *Quantity
	Effective     Date
}

// Series is one ImagingStudy series: modality, body site, start.
type Series struct {
	Modality Coding
	BodySite Coding
	Started  Date
}

// Study is an ImagingStudy as the assessment reads it.
type Study struct {
	Source string
	// Counts is true for status available, or status absent.
	Counts bool
	// NotCountedWhy is the status that does not count, in plain words.
	NotCountedWhy  string
	Started        Date
	Modalities     []Coding
	Series         []Series
	ProcedureCodes []Concept
	// Description is ImagingStudy.description, as written.
	Description string
}

// Words are what the study says of itself in words: its description, its
// series' body sites (display, else code) and its procedure codes' words.
func (s *Study) Words() []string {
	var out []string
	if s.Description != "" {
		out = append(out, s.Description)
	}
	for _, se := range s.Series {
		if se.BodySite.Display != "" {
			out = append(out, se.BodySite.Display)
		} else if se.BodySite.Code != "" {
			out = append(out, se.BodySite.Code)
		}
	}
	for _, pc := range s.ProcedureCodes {
		if w := pc.Words(); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// Report is a DiagnosticReport as the assessment reads it.
type Report struct {
	Source string
	// Counts is true for a report that exists (partial, preliminary, final,
	// amended, corrected, appended) or status absent.
	Counts bool
	// NotCountedWhy is the status that does not count, in plain words.
	NotCountedWhy string
	Code          Concept
	Effective     Date
}

// Coverage is an active Coverage with what choosing it needs.
type Coverage struct {
	// Reference is "Coverage/{id}"; empty without an id.
	Reference string
	// Order is Coverage.order, nil when absent.
	Order *int
	// Start and End are period.start and period.end (zero when open).
	Start, End Date
	// Payer names the first payor (display), empty when not named.
	Payer string
	// PayerOrganization is the first payor that is an Organization, as the
	// Coverage refers to it; nil when none is (self-pay, or no payor).
	PayerOrganization *PayerRef
	// Resource is the decoded Coverage (policy choice reads its payor).
	Resource *r4.Coverage
}

// InForceOn reports whether d falls within the Coverage period; an open end
// is in force (DECISIONS.md, "No Coverage"). Imprecise ends are read
// generously for start (Earliest) and end (Latest): a Coverage dated
// "2026" is in force all of 2026.
func (c *Coverage) InForceOn(d time.Time) bool {
	if !c.Start.IsZero() && c.Start.Earliest.After(d) {
		return false
	}
	if !c.End.IsZero() && c.End.Latest.Before(d) {
		return false
	}
	return true
}

// Facts are what the assessment reads of a patient's record, derived once
// from the FHIR resources with FHIR R4 semantics applied: dates with
// precision, statuses, abatement, contained and included resources,
// references. The clinical core reads Facts and never a FHIR element.
type Facts struct {
	PatientID    string
	BirthDate    Date
	Problems     []Problem
	Procedures   []PerformedProcedure
	Medications  []MedicationUse
	Observations []Measurement
	Imaging      []Study
	Reports      []Report
	// Coverages are the Coverages marked active, in the order received.
	Coverages []Coverage
	// Unreadable are entries that failed to decode.
	Unreadable []Unreadable
	// OtherPatient counts dropped resources about another patient by type.
	OtherPatient map[string]int
	// Unavailable lists needed searches neither prefetch nor the FHIR
	// server supplied.
	Unavailable []Search
	// Shortfalls says why searches were not supplied (Record.Shortfalls).
	Shortfalls map[Search]Shortfall
	// NotesChecked is true when the DocumentReference search was supplied;
	// false means "notes not checked" (never indeterminate).
	NotesChecked bool
	// Notes are the findings in the notes that were read.
	Notes []NoteFinding
	// NotesNotRead are the notes that could not be read, with the reason.
	NotesNotRead []Note
	// TextOnlyProblems are problem-list entries recorded as text without a
	// code whose text names a red flag: the assessment cannot count them
	// and names them.
	TextOnlyProblems []TextOnlyProblem
}

// Kept reports how many resources the facts hold (Patient and Coverage excluded).
func (f *Facts) Kept() int {
	return len(f.Problems) + len(f.Procedures) + len(f.Medications) + len(f.Observations) + len(f.Imaging) + len(f.Reports)
}

// CoverageInForce returns the Coverage the assessment on day d is about and
// a sentence saying which was used and why: only Coverages in force on d
// count (status active and d within period, an open end in force); among
// several, the lowest order, then the first listed (DECISIONS.md "No
// Coverage"; CRD STU 2.1 coverage-information.coverage). nil when none is in
// force; the note then says why when Coverages were present.
func (f *Facts) CoverageInForce(d time.Time) (*Coverage, string) {
	var in []*Coverage
	out := 0
	for i := range f.Coverages {
		if f.Coverages[i].InForceOn(d) {
			in = append(in, &f.Coverages[i])
		} else {
			out++
		}
	}
	day := d.Format(time.DateOnly)
	if len(in) == 0 {
		if out > 0 {
			return nil, fmt.Sprintf("No coverage is in force on %s (%s marked active but outside %s period), so no coverage information is returned.", day, count(out, "coverage", "coverages"), pick(out, "its", "their"))
		}
		return nil, ""
	}
	sort.SliceStable(in, func(a, b int) bool {
		oa, ob := in[a].Order, in[b].Order
		switch {
		case oa != nil && ob != nil:
			return *oa < *ob
		default:
			return oa != nil && ob == nil
		}
	})
	c := in[0]
	var why []string
	if len(in) > 1 {
		if c.Order != nil {
			why = append(why, fmt.Sprintf("the lowest coverage order (%d) of the %d coverages in force", *c.Order, len(in)))
		} else {
			why = append(why, fmt.Sprintf("the first listed of the %d coverages in force", len(in)))
		}
	}
	if out > 0 {
		why = append(why, fmt.Sprintf("%s marked active %s not in force on %s", count(out, "other coverage", "other coverages"), pick(out, "is", "are"), day))
	}
	if len(why) == 0 {
		return c, ""
	}
	name := "the coverage"
	if c.Payer != "" {
		name = c.Payer + " coverage"
	}
	return c, fmt.Sprintf("This check used %s in force on %s: %s.", name, day, strings.Join(why, "; "))
}

// Derive turns a Record into Facts. It is pure and deterministic.
func Derive(rec *Record) *Facts {
	if rec == nil {
		rec = &Record{}
	}
	f := &Facts{PatientID: rec.PatientID, Unreadable: rec.Unreadable, OtherPatient: rec.OtherPatient, Unavailable: rec.Unavailable, Shortfalls: rec.Shortfalls}
	if rec.Patient != nil {
		f.BirthDate = DateOf(rec.Patient.BirthDate)
	}
	conds := map[string]Concept{}
	for i := range rec.Conditions {
		p := f.problem(&rec.Conditions[i])
		f.Problems = append(f.Problems, p)
		if rec.Conditions[i].Id != nil {
			conds["Condition/"+*rec.Conditions[i].Id] = p.Code
		}
	}
	reasons := func(codes []r4.CodeableConcept, refs []r4.Reference) []Concept {
		var out []Concept
		for i := range codes {
			out = append(out, concept(&codes[i]))
		}
		for _, r := range refs {
			if r.Reference == nil {
				continue
			}
			if c, ok := conds[TrailingReference(*r.Reference, "Condition")]; ok {
				out = append(out, c)
			} else if c, ok := conds[uuidCondition(*r.Reference)]; ok {
				out = append(out, c)
			} else if r.Display != nil {
				out = append(out, Concept{Text: *r.Display})
			}
		}
		return out
	}
	for i := range rec.Procedures {
		p := &rec.Procedures[i]
		pr := PerformedProcedure{Source: source("Procedure", p.Id), Code: concept(p.Code), Reasons: reasons(p.ReasonCode, p.ReasonReference)}
		if p.StatusPresent {
			pr.Status = p.Status.Code()
		}
		if p.PerformedDateTime != nil {
			pr.Start = DateOf(p.PerformedDateTime)
			pr.End = pr.Start
		} else if p.PerformedPeriod != nil {
			pr.Start, pr.End = DateOf(p.PerformedPeriod.Start), DateOf(p.PerformedPeriod.End)
		}
		f.Procedures = append(f.Procedures, pr)
	}
	// The reasons of each order, for the dispenses that name it.
	orderReasons := map[string][]Concept{}
	for i := range rec.MedicationRequests {
		m := &rec.MedicationRequests[i]
		u := MedicationUse{Source: source("MedicationRequest", m.Id), Kind: MedicationRequested, Start: DateOf(m.AuthoredOn), Fills: 1,
			Reasons: reasons(m.ReasonCode, m.ReasonReference)}
		if m.Id != nil {
			orderReasons["MedicationRequest/"+*m.Id] = u.Reasons
		}
		u.Medication, u.UnresolvedReference = rec.medication(&m.MedicationCodeableConcept, &m.MedicationReference, m.Contained)
		u.Counts = m.StatusPresent && requestStatuses[m.Status] && requestIntents[m.Intent] && (m.DoNotPerform == nil || !*m.DoNotPerform)
		if m.StatusPresent {
			u.Status = m.Status
		}
		switch {
		case u.Counts:
		case !m.StatusPresent || !requestStatuses[m.Status]:
			u.NotCountedWhy = statusWords(m.StatusPresent, m.Status)
		case !requestIntents[m.Intent]:
			u.NotCountedWhy = "intent " + m.Intent + ", not an order"
		default:
			u.NotCountedWhy = "marked do not perform"
		}
		if dr := m.DispenseRequest; dr != nil {
			if d := dr.ExpectedSupplyDuration; d != nil {
				u.SupplyDays, u.SupplyUnusable = durationDays(d.Value, d.Code, d.Unit)
			}
			if dr.NumberOfRepeatsAllowed != nil && *dr.NumberOfRepeatsAllowed > 0 {
				u.Fills += *dr.NumberOfRepeatsAllowed
			}
		}
		f.Medications = append(f.Medications, u)
	}
	for i := range rec.MedicationStatements {
		m := &rec.MedicationStatements[i]
		u := MedicationUse{Source: source("MedicationStatement", m.Id), Kind: MedicationStated, Fills: 1,
			Reasons: reasons(m.ReasonCode, m.ReasonReference)}
		u.Medication, u.UnresolvedReference = rec.medication(&m.MedicationCodeableConcept, &m.MedicationReference, m.Contained)
		u.Counts = m.StatusPresent && statementStatuses[m.Status]
		if m.StatusPresent {
			u.Status = m.Status
		}
		if !u.Counts {
			u.NotCountedWhy = statusWords(m.StatusPresent, m.Status)
		}
		if m.EffectivePeriod != nil {
			u.Start, u.End = DateOf(m.EffectivePeriod.Start), DateOf(m.EffectivePeriod.End)
		} else {
			u.Start = DateOf(m.EffectiveDateTime)
		}
		f.Medications = append(f.Medications, u)
	}
	for i := range rec.MedicationDispenses {
		m := &rec.MedicationDispenses[i]
		u := MedicationUse{Source: source("MedicationDispense", m.Id), Kind: MedicationDispensed, Fills: 1, Start: DateOf(m.WhenHandedOver)}
		// A dispense has no reason of its own: it supplies the order
		// (authorizingPrescription) it fills, for that order's reasons.
		for _, ap := range m.AuthorizingPrescription {
			if ap.Reference != nil {
				u.Reasons = append(u.Reasons, orderReasons[TrailingReference(*ap.Reference, "MedicationRequest")]...)
			}
		}
		u.Medication, u.UnresolvedReference = rec.medication(&m.MedicationCodeableConcept, &m.MedicationReference, m.Contained)
		// MedicationDispense.status: only a completed dispense was handed over.
		u.Counts = m.Status == "completed"
		if !u.Counts {
			u.NotCountedWhy = statusWords(m.Status != "", m.Status)
		}
		if d := m.DaysSupply; d != nil {
			u.SupplyDays, u.SupplyUnusable = durationDays(d.Value, d.Code, d.Unit)
		}
		f.Medications = append(f.Medications, u)
	}
	for i := range rec.Observations {
		o := &rec.Observations[i]
		ob := Measurement{Source: source("Observation", o.Id), Code: concept(&o.Code),
			Effective: first(DateOf(o.EffectiveDateTime), periodStartDate(o.EffectivePeriod), DateOf(o.EffectiveInstant), DateOf(o.Issued))}
		if o.StatusPresent {
			switch o.Status {
			case r4.ObservationStatusFinal, r4.ObservationStatusAmended, r4.ObservationStatusCorrected, r4.ObservationStatusPreliminary:
				ob.Counts = true
			}
		}
		if !ob.Counts {
			ob.NotCountedWhy = statusWords(o.StatusPresent, o.Status.Code())
		}
		if q := o.ValueQuantity; q != nil && q.Value != nil {
			if v, err := q.Value.Float64(); err == nil {
				unit := str(q.Code)
				if unit == "" {
					unit = ucumOf(str(q.Unit))
				}
				ob.Value = &Quantity{Value: v, Text: q.Value.String(), Unit: unit}
			}
		}
		f.Observations = append(f.Observations, ob)
	}
	for i := range rec.ImagingStudies {
		s := &rec.ImagingStudies[i]
		st := Study{Source: source("ImagingStudy", s.Id), Counts: !s.StatusPresent || s.Status == r4.ImagingStudyStatusAvailable,
			Started: DateOf(s.Started), Description: strings.TrimSpace(str(s.Description))}
		if !st.Counts {
			st.NotCountedWhy = statusWords(true, s.Status.Code())
		}
		for _, m := range s.Modality {
			st.Modalities = append(st.Modalities, coding(&m))
		}
		for j := range s.Series {
			se := &s.Series[j]
			sr := Series{Modality: coding(&se.Modality), Started: DateOf(se.Started)}
			if se.BodySite != nil {
				sr.BodySite = coding(se.BodySite)
			}
			st.Series = append(st.Series, sr)
			if st.Started.IsZero() {
				st.Started = sr.Started
			}
		}
		for j := range s.ProcedureCode {
			st.ProcedureCodes = append(st.ProcedureCodes, concept(&s.ProcedureCode[j]))
		}
		f.Imaging = append(f.Imaging, st)
	}
	for i := range rec.DiagnosticReports {
		r := &rec.DiagnosticReports[i]
		rp := Report{Source: source("DiagnosticReport", r.Id), Code: concept(&r.Code),
			Effective: first(DateOf(r.EffectiveDateTime), periodStartDate(r.EffectivePeriod), DateOf(r.Issued))}
		rp.Counts = !r.StatusPresent
		switch r.Status {
		case r4.DiagnosticReportStatusPartial, r4.DiagnosticReportStatusPreliminary, r4.DiagnosticReportStatusFinal,
			r4.DiagnosticReportStatusAmended, r4.DiagnosticReportStatusCorrected, r4.DiagnosticReportStatusAppended:
			rp.Counts = rp.Counts || r.StatusPresent
		}
		if !rp.Counts {
			rp.NotCountedWhy = statusWords(true, r.Status.Code())
		}
		f.Reports = append(f.Reports, rp)
	}
	for i := range rec.Coverages {
		c := &rec.Coverages[i]
		cv := Coverage{Order: c.Order, Resource: c}
		if c.Id != nil && *c.Id != "" {
			cv.Reference = "Coverage/" + *c.Id
		}
		if c.Period != nil {
			cv.Start, cv.End = DateOf(c.Period.Start), DateOf(c.Period.End)
		}
		for _, p := range c.Payor {
			if p.Display != nil && *p.Display != "" {
				cv.Payer = *p.Display
				break
			}
		}
		for i := range c.Payor {
			if r := payerOrganization(&c.Payor[i]); r != nil {
				cv.PayerOrganization = r
				break
			}
		}
		f.Coverages = append(f.Coverages, cv)
	}
	f.deriveNotes(rec)
	f.deriveTextOnlyProblems()
	return f
}

// problem derives a Problem: statuses, onset[x] and abatement[x] in every
// form (FHIR R4 Condition; DECISIONS.md "Statuses that count").
func (f *Facts) problem(c *Condition) Problem {
	p := Problem{Source: source("Condition", c.Id), Code: concept(c.Code), Recorded: DateOf(c.RecordedDate), Stage: cancerStage(c.Stage)}
	p.ClinicalStatus = statusCode(c.ClinicalStatus)
	p.VerificationStatus = statusCode(c.VerificationStatus)
	switch {
	case c.OnsetDateTime != nil:
		p.Onset = DateOf(c.OnsetDateTime)
	case c.OnsetPeriod != nil:
		p.Onset = periodStartDate(c.OnsetPeriod)
	case c.OnsetAge != nil:
		p.Onset = f.atAge(c.OnsetAge.Value, c.OnsetAge.Code, c.OnsetAge.Unit)
	case c.OnsetRange != nil && c.OnsetRange.Low != nil:
		p.Onset = f.atAge(c.OnsetRange.Low.Value, c.OnsetRange.Low.Code, c.OnsetRange.Low.Unit)
	}
	switch {
	case c.AbatementDateTime != nil:
		p.Abated, p.AbatedOn = true, DateOf(c.AbatementDateTime)
	case c.AbatementPeriod != nil:
		p.Abated = true
		p.AbatedOn = first(periodStartDate(c.AbatementPeriod), DateOf(c.AbatementPeriod.End))
	case c.AbatementAge != nil:
		p.Abated, p.AbatedOn = true, f.atAge(c.AbatementAge.Value, c.AbatementAge.Code, c.AbatementAge.Unit)
	case c.AbatementRange != nil:
		p.Abated = true
		if c.AbatementRange.Low != nil {
			p.AbatedOn = f.atAge(c.AbatementRange.Low.Value, c.AbatementRange.Low.Code, c.AbatementRange.Low.Unit)
		}
	case c.AbatementString != nil:
		p.Abated = true
	case c.AbatementBoolean != nil && *c.AbatementBoolean:
		p.Abated = true
	}
	return p
}

// atAge places an age (UCUM a, mo, wk, d) on the calendar through the birth
// date: the range from the birth date's earliest day plus the age to its
// latest day plus the age and one more unit, less a day. Zero without a
// birth date or a usable age.
func (f *Facts) atAge(value *json.Number, code, unit *string) Date {
	if f.BirthDate.IsZero() || value == nil {
		return Date{}
	}
	n, err := value.Float64()
	if err != nil || n < 0 || n > 150*366 {
		return Date{}
	}
	u := str(code)
	if u == "" {
		u = strings.ToLower(strings.TrimSpace(str(unit)))
	}
	whole := int(math.Floor(n))
	var add func(t time.Time, k int) time.Time
	switch u {
	case "a", "yr", "year", "years":
		add = func(t time.Time, k int) time.Time { return t.AddDate(k, 0, 0) }
	case "mo", "month", "months":
		add = func(t time.Time, k int) time.Time { return t.AddDate(0, k, 0) }
	case "wk", "week", "weeks":
		add = func(t time.Time, k int) time.Time { return t.AddDate(0, 0, 7*k) }
	case "d", "day", "days":
		add = func(t time.Time, k int) time.Time { return t.AddDate(0, 0, k) }
	default:
		return Date{}
	}
	d := Date{Precision: PrecisionYear, Earliest: add(f.BirthDate.Earliest, whole), Latest: add(f.BirthDate.Latest, whole+1).AddDate(0, 0, -1)}
	if d.Latest.Equal(d.Earliest) {
		d.Precision = PrecisionDay
	} else if d.Latest.Sub(d.Earliest) < 32*24*time.Hour {
		d.Precision = PrecisionMonth
	}
	d.Text = fmt.Sprintf("age %s %s", strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", n), "0"), "."), u)
	return d
}

// medication resolves a medication[x]: the CodeableConcept, else the
// Medication medicationReference names: contained ("#id"), included in the
// Bundle or fetched ("Medication/id", relative or absolute). unresolved is
// true when a reference was given and nothing was found.
func (rec *Record) medication(cc *r4.CodeableConcept, ref *r4.Reference, contained []r4.Medication) (Concept, bool) {
	if c := concept(cc); !c.Empty() {
		return c, false
	}
	if ref == nil || ref.Reference == nil || *ref.Reference == "" {
		if ref != nil && ref.Display != nil {
			return Concept{Text: *ref.Display}, false
		}
		return Concept{}, false
	}
	r := *ref.Reference
	if strings.HasPrefix(r, "#") {
		for i := range contained {
			if contained[i].Id != nil && *contained[i].Id == r[1:] {
				return medicationConcept(&contained[i]), false
			}
		}
	} else if m, ok := rec.Medications[TrailingReference(r, "Medication")]; ok {
		return medicationConcept(&m), false
	}
	if ref.Display != nil && *ref.Display != "" {
		// The reference's display names the drug; the text fallback may use it.
		return Concept{Text: *ref.Display}, true
	}
	return Concept{}, true
}

// medicationConcept is a Medication's code, or, when it has none, the codes
// of its ingredients (Medication.ingredient.itemCodeableConcept): a
// Medication coded by ingredient only still names its drug.
func medicationConcept(m *r4.Medication) Concept {
	if c := concept(m.Code); !c.Empty() {
		return c
	}
	var out Concept
	for _, ing := range m.Ingredient {
		c := concept(&ing.ItemCodeableConcept)
		out.Codings = append(out.Codings, c.Codings...)
		if out.Text == "" {
			out.Text = c.Text
		}
	}
	return out
}

// UnresolvedMedicationIDs returns the ids of Medications that
// medicationReference names as "Medication/{id}" but that neither the
// entry's contained resources nor Record.Medications hold, sorted.
func (rec *Record) UnresolvedMedicationIDs() []string {
	seen := map[string]bool{}
	check := func(cc *r4.CodeableConcept, ref *r4.Reference) {
		if !concept(cc).Empty() || ref == nil || ref.Reference == nil {
			return
		}
		key := TrailingReference(*ref.Reference, "Medication")
		if key == "" {
			return
		}
		if _, ok := rec.Medications[key]; !ok {
			seen[strings.TrimPrefix(key, "Medication/")] = true
		}
	}
	for i := range rec.MedicationRequests {
		check(&rec.MedicationRequests[i].MedicationCodeableConcept, &rec.MedicationRequests[i].MedicationReference)
	}
	for i := range rec.MedicationStatements {
		check(&rec.MedicationStatements[i].MedicationCodeableConcept, &rec.MedicationStatements[i].MedicationReference)
	}
	for i := range rec.MedicationDispenses {
		check(&rec.MedicationDispenses[i].MedicationCodeableConcept, &rec.MedicationDispenses[i].MedicationReference)
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// PayerRef is a reference to a payer Organization as the Coverage's payor
// gives it: a literal reference, a logical one (identifier), a display, or
// several of these.
type PayerRef struct {
	// Reference is a literal reference naming an Organization ("Organization/x"
	// or absolute); empty when the payor has none usable outside the Coverage.
	Reference        string
	IdentifierSystem string
	IdentifierValue  string
	Display          string
}

// payerOrganization reads one Coverage.payor (FHIR R4: Reference(Organization
// | Patient | RelatedPerson)) as a payer Organization: its type is
// Organization by its literal reference or its type element, or is not
// stated (a payor named by an identifier or a display, as payers usually
// are). A payor that names a Patient or RelatedPerson (self-pay) is not one.
// Contained ("#x") and urn references resolve only beside the Coverage, so
// they are not kept as literal references.
func payerOrganization(p *r4.Reference) *PayerRef {
	str := func(s *string) string {
		if s == nil {
			return ""
		}
		return strings.TrimSpace(*s)
	}
	ref, typ := str(p.Reference), str(p.Type)
	switch rt := ReferenceType(ref); {
	case rt == "Organization":
	case rt != "":
		return nil
	default:
		ref = ""
	}
	if typ != "" && typ != "Organization" && !strings.HasSuffix(typ, "/Organization") {
		return nil
	}
	r := PayerRef{Reference: ref, Display: str(p.Display)}
	if p.Identifier != nil {
		r.IdentifierSystem, r.IdentifierValue = str(p.Identifier.System), str(p.Identifier.Value)
		if r.IdentifierValue == "" {
			r.IdentifierSystem = ""
		}
	}
	if r.Reference == "" && r.IdentifierValue == "" && r.Display == "" {
		return nil
	}
	return &r
}

// TrailingReference returns "Type/id" for a relative ("Patient/123"),
// absolute ("https://ehr/fhir/Patient/123") or versioned
// ("Patient/123/_history/2") reference to a resource of type typ, or ""
// when it names another type (or none).
func TrailingReference(ref, typ string) string {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	p := typ + "/"
	i := strings.LastIndex(ref, p)
	if i < 0 || (i > 0 && ref[i-1] != '/') {
		return ""
	}
	id := ref[i+len(p):]
	if id == "" || strings.ContainsAny(id, "/?#") {
		return ""
	}
	return p + id
}

// uuidCondition is the "Condition/<uuid>" key a "urn:uuid:<uuid>" reference
// names when the Condition's id is that UUID, "" for any other reference.
// In a Bundle a urn:uuid reference resolves to the entry whose fullUrl it
// is (FHIR R4 Bundle, "Resolving references in Bundles"); Synthea and other
// generators give each resource its fullUrl's UUID as id, and a prefetch
// or search result carries the resources without their transaction's
// fullUrls, so the id is what is left to match (a UUID names one resource).
func uuidCondition(ref string) string {
	u, ok := strings.CutPrefix(strings.TrimSpace(ref), "urn:uuid:")
	if !ok || len(u) != 36 || strings.Count(u, "-") != 4 {
		return ""
	}
	return "Condition/" + u
}

// ReferenceType is the resource type of a literal reference of the form
// "Type/id" (relative, absolute or versioned), "" for any other form
// (contained "#id", "urn:uuid:...", an identifier-only reference).
func ReferenceType(ref string) string {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	i := strings.LastIndexByte(ref, '/')
	if i <= 0 || i == len(ref)-1 {
		return ""
	}
	typ := ref[:i]
	if j := strings.LastIndexByte(typ, '/'); j >= 0 {
		typ = typ[j+1:]
	}
	if typ == "" || typ[0] < 'A' || typ[0] > 'Z' {
		return ""
	}
	for k := 1; k < len(typ); k++ {
		if c := typ[k]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return ""
		}
	}
	return typ
}

// Statuses that count (DECISIONS.md "Statuses that count").
var (
	requestStatuses   = map[string]bool{"active": true, "completed": true, "stopped": true}
	requestIntents    = map[string]bool{"order": true, "original-order": true, "reflex-order": true, "filler-order": true, "instance-order": true}
	statementStatuses = map[string]bool{"active": true, "completed": true, "stopped": true}
)

// statusWords names a status that does not count: "status cancelled", or
// "no status recorded" when the element is absent (the samply models would
// read an absent status as the first enum value).
func statusWords(present bool, status string) string {
	if !present || status == "" {
		return "no status recorded"
	}
	return "status " + status
}

// ucumOf reads a Quantity.unit written for people when Quantity.code is
// absent: the temperature units EHRs write ("°F", "degF", "F", "°C", "C")
// are their UCUM codes ([degF], Cel; UCUM, and FHIR R4 vital signs
// profile: bodytemp units Cel or [degF]). Any other unit is kept as written.
func ucumOf(unit string) string {
	u := strings.TrimSpace(unit)
	switch strings.ToLower(strings.ReplaceAll(u, " ", "")) {
	case "°f", "ºf", "degf", "f", "[degf]", "fahrenheit", "degreesfahrenheit":
		return "[degF]"
	case "°c", "ºc", "degc", "c", "cel", "celsius", "degreescelsius":
		return "Cel"
	}
	return u
}

// maxSupplyDays is the longest supply read as recorded: 100 years. A
// longer one is a data error, not a course of therapy.
const maxSupplyDays = 36600

// durationDays converts a FHIR Duration to whole days (UCUM d, wk, mo, a,
// h), rounded down: imprecision never adds days (DECISIONS.md "Dates"), so
// 41.9 days is 41. unusable says, when a duration was recorded but cannot
// be used, why ("no unit", "not a positive number", "unit mg is not a time
// unit"); days is then 0. A positive supply of less than a day is 0 days
// with no reason: the course is its first day.
func durationDays(value *json.Number, code, unit *string) (days int, unusable string) {
	if value == nil {
		return 0, "no value"
	}
	v, err := value.Float64()
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, "value " + value.String() + " is not a number"
	}
	if v <= 0 {
		return 0, "value " + value.String() + " is not a positive number"
	}
	u := strings.TrimSpace(str(code))
	if u == "" {
		u = strings.ToLower(strings.TrimSpace(str(unit)))
	}
	var d float64
	switch u {
	case "d", "day", "days":
		d = v
	case "wk", "week", "weeks":
		d = v * 7
	case "mo", "month", "months":
		d = v * 30
	case "a", "year", "years":
		d = v * 365
	case "h", "hour", "hours":
		d = v / 24
	case "":
		return 0, "no unit"
	default:
		return 0, "unit " + u + " is not a time unit"
	}
	if d > maxSupplyDays {
		return 0, "value " + value.String() + " " + u + " is longer than 100 years"
	}
	return int(math.Floor(d)), ""
}

func statusCode(cc *r4.CodeableConcept) string {
	if cc == nil {
		return ""
	}
	for _, cd := range cc.Coding {
		if cd.Code != nil && *cd.Code != "" {
			return *cd.Code
		}
	}
	return ""
}

func concept(cc *r4.CodeableConcept) Concept {
	if cc == nil {
		return Concept{}
	}
	c := Concept{Text: oneLine(str(cc.Text))}
	for i := range cc.Coding {
		cd := coding(&cc.Coding[i])
		if cd.Code != "" {
			c.Codings = append(c.Codings, cd)
		}
	}
	return c
}

func coding(cd *r4.Coding) Coding {
	system := strings.TrimSpace(str(cd.System))
	if uri, ok := systemOIDs[system]; ok {
		system = uri
	}
	return Coding{System: system, Code: strings.TrimSpace(str(cd.Code)), Display: oneLine(str(cd.Display))}
}

// systemOIDs are the OIDs of the code systems the value sets read, written
// as urn:oid: (as HL7 v2/CDA-derived data often does), and the system URI
// FHIR names for each (FHIR R4 namingsystem-terminologies: SNOMED CT,
// RxNorm, LOINC, AMA CPT; US Core terminology: ICD-10-CM).
var systemOIDs = map[string]string{
	"urn:oid:2.16.840.1.113883.6.96": terminology.SystemSNOMED,
	"urn:oid:2.16.840.1.113883.6.88": terminology.SystemRxNorm,
	"urn:oid:2.16.840.1.113883.6.1":  terminology.SystemLOINC,
	"urn:oid:2.16.840.1.113883.6.12": terminology.SystemCPT,
	"urn:oid:2.16.840.1.113883.6.90": terminology.SystemICD10CM,
}

// OneLine is chart text on one line: line breaks, tabs and the other C0 and
// C1 control characters become spaces, and the Unicode bidirectional
// embedding, override and isolate characters (U+202A-U+202E,
// U+2066-U+2069), which can make a text read other than it is, are
// dropped, so a name or a quote reads the same in a card, a form answer or a
// terminal as in the chart. Unchanged text is returned as is.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || (r >= 0x7f && r < 0xa0) || r == 0x2028 || r == 0x2029:
			return ' '
		case (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			return -1
		}
		return r
	}, s)
}

// oneLine is a code's text or display on one line (OneLine), trimmed.
// oneLine is a display or text of the chart as the facts keep it: on one
// line (OneLine), and cut after MaxText characters with "…" (a display of
// megabytes names nothing more than its first words do, and would be
// copied into cards, the form and finding texts).
func oneLine(s string) string { return Clip(strings.TrimSpace(OneLine(s)), MaxText) }

// MaxText is the most characters of one display or text the facts keep.
const MaxText = 500

// Clip cuts s after n characters (runes) with "…"; shorter text is
// returned as is.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for at := range s {
		if i == n {
			return s[:at] + "…"
		}
		i++
	}
	return s
}

func periodStartDate(p *r4.Period) Date {
	if p == nil {
		return Date{}
	}
	return DateOf(p.Start)
}

func source(resourceType string, id *string) string {
	if id == nil || *id == "" {
		return resourceType
	}
	return resourceType + "/" + *id
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// OrderRequest is a draft ServiceRequest as the assessment reads it.
type OrderRequest struct {
	// ID is ServiceRequest.id, "" when absent.
	ID   string
	Code Concept
	// AuthoredOn is the order date (D) when recorded.
	AuthoredOn Date
	// AuthoredOnInvalid is true when authoredOn is present ("" included)
	// but not a FHIR dateTime; AuthoredOnText is then the value as written.
	AuthoredOnInvalid bool
	AuthoredOnText    string
	// Subject is subject.reference as written ("Patient/p1"), "" when absent.
	Subject string
	// Withdrawn is true for an order that asks for nothing to be done:
	// doNotPerform true, or status revoked or entered-in-error (FHIR R4
	// ServiceRequest.doNotPerform, request-status).
	Withdrawn bool
	// Reasons are reasonCode (reasonReference is resolved by the chart, not
	// the draft order).
	Reasons []Concept
}

// OrderOf reads a draft ServiceRequest.
func OrderOf(sr *r4.ServiceRequest) OrderRequest {
	o := OrderRequest{ID: str(sr.Id), Code: concept(sr.Code), AuthoredOn: DateOf(sr.AuthoredOn),
		AuthoredOnText: str(sr.AuthoredOn), Subject: str(sr.Subject.Reference)}
	o.AuthoredOnInvalid = sr.AuthoredOn != nil && o.AuthoredOn.IsZero()
	o.Withdrawn = (sr.DoNotPerform != nil && *sr.DoNotPerform) ||
		sr.Status == r4.RequestStatusRevoked || sr.Status == r4.RequestStatusEnteredInError
	for i := range sr.ReasonCode {
		o.Reasons = append(o.Reasons, concept(&sr.ReasonCode[i]))
	}
	return o
}

// OrderOfCode is what can be recognised of an order that did not decode as
// a ServiceRequest: its code alone.
func OrderOfCode(code *r4.CodeableConcept) OrderRequest {
	return OrderRequest{Code: concept(code)}
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func pick(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
