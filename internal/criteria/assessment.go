package criteria

import (
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
)

// CodeSystem is the canonical URL of the project's outcome code system
// (public API: see README "Outcome codes").
const CodeSystem = "https://lumbar-mri-cds.github.io/fhir/CodeSystem/lumbar-mri-outcome"

// Assessment codes.
const (
	CriteriaMet           = "criteria-met"
	CriteriaNotMet        = "criteria-not-met"
	CriteriaIndeterminate = "criteria-indeterminate"
)

// Finding codes.
const (
	RedFlagCaudaEquina              = "red-flag-cauda-equina"
	RedFlagNeurologicDeficit        = "red-flag-neurologic-deficit"
	RedFlagMalignancy               = "red-flag-malignancy"
	RedFlagInfection                = "red-flag-infection"
	RedFlagFracture                 = "red-flag-fracture"
	RedFlagPriorSurgery             = "red-flag-prior-surgery"
	ConservativeTherapyMet          = "conservative-therapy-met"
	ConservativeTherapyInsufficient = "conservative-therapy-insufficient"
	ConservativeTherapyMissing      = "conservative-therapy-missing"
	PriorLumbarMRI                  = "prior-lumbar-mri"
	XrayMissing                     = "xray-missing"
	ContrastReview                  = "contrast-review"
	IndicationMissing               = "indication-missing"
	// RedFlagImmunosuppression: immunosuppression (HIV, transplant status,
	// long-term steroids) with new back pain (ACR Appropriateness Criteria,
	// Low Back Pain (2021): suspected cancer, infection or immunosuppression).
	RedFlagImmunosuppression = "red-flag-immunosuppression"
	// OtherPatientData: every entry supplied was about another patient.
	OtherPatientData = "other-patient-data"
)

// Contrast is the contrast class of a lumbar MRI order.
type Contrast string

// Contrast classes (reference/clinical-criteria.md 1.4).
const (
	ContrastWithout        Contrast = "without"          // 72148, 30679-5, 394451000119106
	ContrastWith           Contrast = "with"             // 72149, 30678-7, 41333006
	ContrastWithoutAndWith Contrast = "without-and-with" // 72158, 24967-2
	ContrastUnspecified    Contrast = "unspecified"
)

// Code is a coded concept (system, code, display).
type Code struct {
	System  string
	Code    string
	Display string
}

// Order is a recognised lumbar spine MRI order.
type Order struct {
	// ID is the ServiceRequest id; empty when the client sent none.
	ID string
	// Code is the coding that made it a lumbar MRI.
	Code Code
	// Display is how cards name the order (its code's display or text).
	Display  string
	Contrast Contrast
	// BillingCode is the CPT code for the order, mapped from LOINC or SNOMED
	// where a variant maps; empty otherwise.
	BillingCode string
	// AuthoredOn is the order date (D) when present.
	AuthoredOn *time.Time
	// ReasonCodes are the order's reasonCode codings (an indication source).
	ReasonCodes []Code
}

// Evidence is one dated item from the chart behind a finding.
type Evidence struct {
	// Source is a FHIR reference like "Condition/c1", or the resource type when
	// the resource has no id.
	Source string
	// Date is the clinically relevant date (onset, performed, authored...),
	// as a day. For a date recorded at lower precision it is the day the
	// rule used (a conservative end of the range the date names).
	Date *time.Time
	// DateText is the date as recorded, at its precision ("2025-09",
	// "2026-04-20"); empty when undated. Cards show this, never Date.
	DateText string
	// Imprecise is true when the date was recorded at month or year
	// precision (FHIR R4 date); the card says so where it matters.
	Imprecise bool
	// Display names the coded concept in plain words (no free text from the chart).
	Display string
	Code    Code
	// ByText is true when the item was recognised by its display text
	// (a medication named but not coded in a value set), not by its code.
	ByText bool
	// FromNote is true when the evidence is a finding in a clinical note;
	// Quote then holds a short quote from it, Source names the note, and
	// Code, when set, is the code proposed to record the finding in the
	// chart (not a code the chart holds).
	FromNote bool
	// Quote is a short quote from the note (FromNote only).
	Quote string
	// Latest is the last day the recorded date allows (equal to Date for a full date).
	Latest *time.Time
	// Onset is true when Date is a Condition's onset[x] (not its
	// recordedDate, which stands in when no onset is recorded).
	Onset bool
	// FromOrder is true when the evidence is a code in the order's own
	// reasonCode, not a chart entry: Source names the ServiceRequest and
	// there is no date.
	FromOrder bool
	// Pairing, when set, marks the evidence as what a red-flag combination
	// needs beside the red-flag entry (it is not a red flag by itself) and
	// names it in plain words: "new back pain" (a back-pain or
	// radiculopathy diagnosis within the combination's window), "back
	// pain", "lumbar or lumbosacral back pain".
	Pairing string
	// Paired is true when the entry counts only with the Pairing evidence
	// beside it (a part of a red-flag combination, such as Z85.3).
	Paired bool
	// Kind names what the entry is in the policy's terms: the value set's
	// name for a coded entry ("cancer-history", "iv-drug-use"), the note
	// finder's concept for a note finding ("weight-loss"), "fever" for a
	// body temperature. The form answers its follow-up items from it.
	Kind string
	// WrittenDate is, on a note finding, the date the note writes for it
	// ("S/p microdiscectomy (2021)"), placed by the note's date, at its
	// precision ("2021"); "" when none. Date stays the note's date.
	WrittenDate string
	// Temperature is, on a body temperature, its value in degrees Celsius
	// (a [degF] reading converted); nil on other evidence.
	Temperature *float64
	// Course is, on conservative-therapy evidence, the span the treatment
	// covers; nil on other evidence. A note finding's Date is the note's
	// date, not when the therapy began: the form's start and end dates
	// come from here.
	Course *TherapySpan
}

// TherapySpan is the span one treatment covers.
type TherapySpan struct {
	// Start is when the treatment began, as recorded or written in a note
	// (precision kept: "2026-03" for "since March"), not clipped to the
	// look-back window.
	Start chart.Date
	// End is the last day it covers, at most D.
	End time.Time
	// EndIsNoteDate is true when End is only the date of the note that
	// mentions the course (no end or duration written): not when the
	// treatment ended.
	EndIsNoteDate bool
}

// PairingNewBackPain is the Pairing of a back-pain or radiculopathy
// diagnosis (or a note's new back pain) within a combination's window: the
// new back pain a history of cancer, immunosuppression or injection drug
// use needs (ACP 2011 (Chou) Table 2). Its onset is the symptom onset the
// form gives.
const PairingNewBackPain = "new back pain"

// SplitPairing separates a red flag's evidence into its own entries and the
// pairing a combination needed (Evidence.Pairing), said as a clause to
// follow them: ", with new back pain since 2026-05-25" (the earliest dated
// pairing entry, the date as recorded); "" when there is none. Entries
// that count alone come first, then those that needed the pairing
// (Evidence.Paired), so that the clause follows them.
func SplitPairing(ev []Evidence) (own []Evidence, clause string) {
	var names []string
	var paired []Evidence
	since := map[string]*Evidence{}
	for i := range ev {
		e := &ev[i]
		switch {
		case e.Pairing == "" && e.Paired:
			paired = append(paired, *e)
			continue
		case e.Pairing == "":
			own = append(own, *e)
			continue
		}
		first, seen := since[e.Pairing]
		if !seen {
			names = append(names, e.Pairing)
		}
		if first == nil || (e.Date != nil && (first.Date == nil || e.Date.Before(*first.Date))) {
			since[e.Pairing] = e
		}
	}
	own = append(own, paired...)
	for _, n := range names {
		clause += ", with " + n
		e := since[n]
		switch {
		case e.FromNote && e.WrittenDate != "":
			// The onset the note writes ("for 3 weeks"), not its date.
			clause += " since " + e.WrittenDate
		case e.Date != nil:
			clause += " since " + dateText(*e)
		}
		if e.FromNote && e.Quote != "" {
			// Where it is written, for the coordinator to attach
			// (clinical review 7, item 8).
			clause += " (note"
			if e.Date != nil {
				clause += " of " + dateText(*e)
			}
			clause += ": \u201c" + e.Quote + "\u201d)"
		}
	}
	return own, clause
}

// NotCounted reasons: why a chart entry that looked relevant (its code or
// text matched a policy value set) did not count (issue 13, "Nothing dropped
// in silence").
const (
	ReasonNoDate         = "no-usable-date"
	ReasonUnreadable     = "unreadable-entry"
	ReasonOtherPatient   = "another-patient"
	ReasonUnresolvedMed  = "unresolved-medication-reference"
	ReasonTextOnly       = "code-with-text-only"
	ReasonOutsideWindow  = "outside-look-back-window"
	ReasonOtherCondition = "ordered-for-another-condition"
	// ReasonNotCurrent: a Condition that has ended (abatement[x]), whose
	// clinicalStatus is inactive, resolved or remission, or that is refuted;
	// NotCounted.Why says which.
	ReasonNotCurrent = "not-current"
	// ReasonStatus: an order, statement, dispense, procedure, observation or
	// study whose status (or intent) does not count (DECISIONS.md "Statuses
	// that count"); NotCounted.Why says which ("status cancelled").
	ReasonStatus       = "status-not-counted"
	ReasonAdvisoryNote = "advisory-note"
	// ReasonNoteMedicationList: a therapy named in a note's medication list
	// (notes.Finding.Listed): the list says the patient was on it, not that
	// a trial of it was made for this back pain (Chou 2007: a trial of
	// therapy).
	ReasonNoteMedicationList = "note-medication-list"
	// ReasonNoteSuperseded: DocumentReferences whose status is superseded
	// (FHIR R4 document-reference-status: replaced by a newer one), named
	// as one entry with their count and dates, not read.
	ReasonNoteSuperseded = "note-superseded"
	// ReasonNoteTherapyUnknown: a treatment a note names that none of the
	// policy's counted therapy classes lists by name (a brand the value
	// sets do not carry, a class the policy does not count).
	ReasonNoteTherapyUnknown = "note-therapy-unknown"
	ReasonNoteNotRead        = "note-not-read"
	ReasonAfterOrder         = "dated-after-the-order"
	// ReasonOutsideImagingWindow: a lumbar study dated before the policy's
	// window for prior imaging (365 days by default); NotCounted.Why says
	// which window.
	ReasonOutsideImagingWindow = "outside-imaging-window"
	// ReasonPolicyExcluded: therapy of a class the policy lists but does not
	// count (gabapentinoids by default); NotCounted.Why names the class.
	ReasonPolicyExcluded = "not-counted-by-policy"
	// ReasonNotTherapyCode: a procedure coded in a system the value sets
	// read, whose code is not a therapy the policy counts but whose words
	// name one ("Referral for physical therapy": a referral is not therapy
	// done); NotCounted.Why says so.
	ReasonNotTherapyCode = "code-not-a-counted-therapy"
	// ReasonOutsideRedFlagWindow: a current Condition whose code names a red
	// flag, or part of one, that needs it dated within a window (new urinary
	// retention within 14 days), dated before that window or undated;
	// NotCounted.Why says which window.
	ReasonOutsideRedFlagWindow = "outside-red-flag-window"
	// ReasonPreliminaryNote: a finding in a preliminary note (docStatus
	// preliminary, or a preliminary or partial report), shown and not
	// counted whatever the policy says (DECISIONS.md "Notes").
	ReasonPreliminaryNote = "preliminary-note"
	// ReasonCodeNotListed: a Condition coded in ICD-10-CM or SNOMED CT whose
	// code is in no value set the policy reads, but whose words (text, else
	// displays) the note finder reads as a red flag (a breast cancer coded
	// with a concept the malignancy set does not list); NotCounted.Why says
	// so and asks to confirm the code.
	ReasonCodeNotListed = "code-not-in-value-sets"
	// ReasonCombinationNotMet: a code that counts as a red flag only in a
	// combination (Z85.* with new back pain) matched, but the rest of the
	// combination did not; NotCounted.Needs says what it needs.
	ReasonCombinationNotMet = "combination-not-met"
	// ReasonSupplyUnusable: a medication order or dispense whose supply
	// duration was recorded but cannot be used (no unit, not a time unit,
	// not a positive number, longer than 100 years): it counts as its first
	// day only; NotCounted.Why says what is wrong with the duration.
	ReasonSupplyUnusable = "supply-duration-unusable"
	// ReasonNoSupplyDuration: an active medication order with no supply
	// duration and no end date, counted as its first day only (DECISIONS.md
	// "Conservative therapy"); named when the trial is not met, since its
	// duration may be what is missing.
	ReasonNoSupplyDuration = "no-supply-duration"
	// ReasonPeriodReversed: a treatment whose period ends before it starts;
	// it counts as its start day only (no days gained); NotCounted.Why
	// gives both dates.
	ReasonPeriodReversed = "period-end-before-start"
)

// NotCounted is a chart entry that looked relevant but did not count, with
// its reason. Display and DateText are safe for cards; Source (a FHIR
// reference) is for the systemAction and the text report only.
type NotCounted struct {
	// Reason is one of the Reason* codes.
	Reason string
	// What says what the entry would have counted as ("NSAID",
	// "physical therapy", "suspected cauda equina").
	What string
	// Display is the entry's display text.
	Display string
	// DateText is its date as recorded, empty when undated.
	DateText string
	// Source is the FHIR reference ("MedicationRequest/m1"), or empty.
	Source string
	// Needs is, for combination-not-met, what the entry counts only with, in
	// plain words from the policy ("back pain that began within 90 days of
	// the order"); empty otherwise.
	Needs string
	// Instead is, for combination-not-met, what the chart has in place of
	// what it needs, when that can be said ("the back-pain diagnosis is
	// dated 2026-02-15", "no back-pain diagnosis is coded"); else empty.
	Instead string
	// Why is, for no-usable-date, why a recorded date is not usable ("date
	// 2026-13-45 is not a valid date"; empty when none was recorded); for
	// supply-duration-unusable, no-supply-duration and
	// period-end-before-start, what is wrong and how it was counted; for
	// note-not-read, why the note was not read, in plain words
	// ("longer than 32 KB of text", "content type application/pdf not
	// read"); for not-current and status-not-counted, the status that does
	// not count ("ended 2024-05-20", "status cancelled"); empty otherwise.
	Why string
	// Course is, for a treatment whose words name a counted therapy class
	// but which did not count (recorded as text only, or coded with a code
	// that is not a counted therapy, read by the policy's other names), the
	// span it covers, when within the look-back; nil otherwise. Recording
	// it with a therapy code, not a new course, may be what is missing.
	Course *TherapySpan
}

// Finding is one finding code with its evidence and a plain-language text.
type Finding struct {
	Code     string
	Text     string
	Evidence []Evidence
}

// Assessment is the result of assessing one order.
type Assessment struct {
	Order Order
	// Date is D, the assessment date.
	Date time.Time
	// Outcome is one of the assessment codes.
	Outcome string
	// Findings in a stable order: red flags, indication, therapy, imaging, contrast.
	Findings []Finding
	// Indication is the back-pain or radiculopathy diagnosis the assessment
	// used as the indication (DECISIONS.md, "Indication"): the active
	// Conditions in the policy's indication set, dated on or before D, by
	// date; else the matching codes of the order's reasonCode
	// (Evidence.FromOrder). Nil when there is none (indication-missing,
	// unless a red flag stands in for it).
	Indication []Evidence
	// TherapyDays is the longest merged conservative-therapy course in days.
	TherapyDays int
	// TherapyFrom and TherapyTo are the first and last day of that course
	// (after clipping to the look-back window); nil without one.
	TherapyFrom, TherapyTo *time.Time
	// TherapyFromRecorded is the date of the treatment that starts the
	// course as recorded ("2026-04") when it is imprecise, so the course
	// counts from that period's last day; "" when a precisely dated
	// treatment starts it.
	TherapyFromRecorded string
	// TherapyFromWindowEdge is true when the course's first treatment began
	// before the look-back window: TherapyFrom is then the window's first
	// day, while the evidence keeps the date as recorded.
	TherapyFromWindowEdge bool
	// TherapyRequiredDays is the policy minimum.
	TherapyRequiredDays int
	// TherapyMetOn is the date the trial will reach the minimum if it began
	// within the window and is still short; nil otherwise.
	TherapyMetOn *time.Time
	// RecommendedContrast is the guideline contrast variant for this patient.
	RecommendedContrast Contrast
	// SuggestedCode is the order code for RecommendedContrast in the order's code
	// system, set only when contrast-review fired.
	SuggestedCode *Code
	// PriorMRI is the latest prior lumbar MRI within the window, if any.
	PriorMRI *Evidence
	// Unchecked lists what could not be checked because data was missing
	// (search names); non-empty only when the record was incomplete.
	Unchecked []string
	// TooLarge maps each Unchecked search that arrived but went over a cap,
	// and so was not read, to that cap; a search not in it did not arrive.
	TooLarge map[string]Limit
	// CoverageUnchecked is true when the Coverage search was not supplied:
	// the payer is then not known, which is not the same as no coverage in
	// force.
	CoverageUnchecked bool
	// PatientNotFound lists the searches in Unchecked that were not used
	// because the FHIR server has no record of the patient (404 or 410 on
	// the Patient read): its answers say nothing about this chart.
	PatientNotFound map[string]bool
	// NotCounted lists chart entries that looked relevant but did not
	// count, with the reason, in a stable order.
	NotCounted []NotCounted
	// LookbackDays is the policy's conservative-therapy look-back window.
	LookbackDays int
	// NotesChecked is false when the clinical notes were not supplied: the
	// answer says "notes not checked" (never indeterminate: notes are
	// optional data).
	NotesChecked bool
	// NotesFailed is true, when the notes were not checked, if the FHIR
	// server was asked for them and did not answer usefully.
	NotesFailed bool
	// NotesTooLarge is, when the notes were not checked, the cap their
	// search went over (Max 0 when it did not).
	NotesTooLarge Limit
}

// Limit is a cap on what one call reads: Max entries in one search, or
// (Call) Max resources across all the call's searches.
type Limit struct {
	Max  int
	Call bool
}

// Has reports whether the assessment carries the finding code.
func (a *Assessment) Has(code string) bool {
	for _, f := range a.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

// Finding returns the finding with the code, or nil.
func (a *Assessment) Finding(code string) *Finding {
	for i := range a.Findings {
		if a.Findings[i].Code == code {
			return &a.Findings[i]
		}
	}
	return nil
}
