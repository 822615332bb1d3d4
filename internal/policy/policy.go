package policy

// The YAML model. Every field below is one key of a policy file; the README's
// schema section is written from these comments. Code lists are FHIR
// ValueSets named by canonical URL (internal/terminology ships them, each
// stating where its codes come from); every entry that decides a clinical
// question carries a `source:` citation.

import "iter"

// DefaultID is the id of the default policy (the embedded default.yaml).
const DefaultID = "default"

// DefaultQuestionnaire is the canonical URL of the project's prior-authorization
// documentation Questionnaire for lumbar MRI.
const DefaultQuestionnaire = "https://lumbar-mri-cds.github.io/fhir/Questionnaire/lumbar-mri-pa"

// Policy is one payer's rules for lumbar spine MRI.
//
// A payer policy file is overlaid on the default policy: mappings merge key by
// key, and every scalar or list the payer file sets replaces the default's
// value; anything it leaves out is inherited. A payer file must set id, name
// and match itself.
type Policy struct {
	// ID is a stable identifier, e.g. "default" or "acme-health"
	// (lower-case letters, digits and hyphens). Required; unique in a set.
	ID string `yaml:"id"`
	// Name is the payer's name, shown as the card source label (CRD resp-1..12:
	// the insurer on the member's card). Required.
	Name string `yaml:"name"`
	// Payer is the payer's display name as clinicians read it on cards
	// ("Acme Health Plan"); empty means Name. A payer file never inherits
	// the default policy's value, which describes the default policy only.
	Payer string `yaml:"payer"`
	// SourceLabel, when set, replaces the payer's name as the card source label.
	SourceLabel string `yaml:"source_label"`
	// Match selects this policy from the patient's Coverage. Required (at
	// least one entry) in payer files; the default policy has none.
	Match Match `yaml:"match"`
	// PANeeded is the CRD pa-needed code for lumbar MRI: auth-needed, no-auth,
	// satisfied, performpa or conditional (CRD STU 2.1 temporary codes).
	PANeeded string `yaml:"pa_needed"`
	// Links are the policy and guideline links shown on the External Reference
	// card: absolute http(s) URLs.
	Links []Link `yaml:"links"`
	// Questionnaire is the canonical URL of the documentation Questionnaire
	// (absolute URL, optionally with |version).
	Questionnaire string `yaml:"questionnaire"`

	// ConservativeTherapy is the conservative-therapy trial rule.
	ConservativeTherapy Therapy `yaml:"conservative_therapy"`
	// RepeatMRIWindowDays is how far back (days before the assessment date D)
	// a prior lumbar MRI makes the order a repeat study. 0 turns the check off.
	RepeatMRIWindowDays int `yaml:"repeat_mri_window_days"`
	// XrayFirst requires lumbar radiographs before MRI when no red flag is
	// documented (finding xray-missing when none is found).
	XrayFirst bool `yaml:"xray_first"`
	// XrayLookbackDays is how far back radiographs count for XrayFirst.
	XrayLookbackDays int `yaml:"xray_lookback_days"`
	// Fever is the body-temperature threshold a red flag entry can refer to
	// (`fever: true`).
	Fever Fever `yaml:"fever"`
	// RedFlags are the findings that support MRI without a therapy trial.
	RedFlags RedFlags `yaml:"red_flags"`
	// Indication names the value set of back-pain and radiculopathy
	// diagnoses that make an order eligible for the therapy-trial pathway
	// (Conditions or the order's reasonCode).
	Indication Codes `yaml:"indication"`
	// LumbarIndication names the value set of the indications that are
	// lumbar or lumbosacral: the evidence a criterion with
	// `lumbar_indication: true` needs (an unlevelled surgery code counts as
	// prior lumbar surgery only beside it).
	LumbarIndication Codes `yaml:"lumbar_indication"`
	// Imaging holds the code sets that recognise prior imaging.
	Imaging Imaging `yaml:"imaging"`
	// Orders recognises lumbar spine MRI orders and their contrast variant.
	Orders Orders `yaml:"orders"`
	// NoteEvidence says how findings in clinical notes are used.
	NoteEvidence NoteEvidence `yaml:"note_evidence"`

	// compiled lookups, built once by compile.
	idx *index
}

// Label is the card source label: SourceLabel, else the payer's name.
func (p *Policy) Label() string {
	if p.SourceLabel != "" {
		return p.SourceLabel
	}
	return p.PayerName()
}

// PayerName is the payer's display name for clinicians: Payer, else Name.
func (p *Policy) PayerName() string {
	if p.Payer != "" {
		return p.Payer
	}
	return p.Name
}

// Match lists how a Coverage selects a policy. Any one entry matching any of
// the Coverage's payor references selects the policy.
type Match struct {
	// PayorIdentifiers are matched against Coverage.payor[].identifier.value
	// (exact after trimming spaces).
	PayorIdentifiers []string `yaml:"payor_identifiers"`
	// PayorDisplays are matched against Coverage.payor[].display
	// (case-insensitive, trimmed).
	PayorDisplays []string `yaml:"payor_displays"`
	// OrganizationIDs are matched against Coverage.payor[].reference of the
	// form "Organization/{id}" (also as the tail of an absolute URL).
	OrganizationIDs []string `yaml:"organization_ids"`
}

// Link is an absolute URL with a label.
type Link struct {
	// Label is the link text. Required.
	Label string `yaml:"label"`
	// URL is an absolute http or https URL. Required.
	URL string `yaml:"url"`
}

// Therapy is the conservative-therapy trial rule. Therapy intervals are
// clipped to [D - lookback_days, D], merged across all counted classes when
// they overlap or are at most max_gap_days apart, and the longest merged
// course (last day minus first day) must reach min_days.
type Therapy struct {
	// MinDays is the trial length that meets the rule (default 42: six weeks).
	MinDays int `yaml:"min_days"`
	// LookbackDays is how far back therapy counts (default 180).
	LookbackDays int `yaml:"lookback_days"`
	// MaxGapDays is the largest gap between two treatments that still joins
	// them into one course (default 21).
	MaxGapDays int `yaml:"max_gap_days"`
	// RequireFollowup, when true, needs a follow-up examination (a Procedure
	// with one of FollowupCodes) after the course began. Off by default.
	RequireFollowup bool `yaml:"require_followup"`
	// FollowupCodes names the value set of a follow-up examination.
	FollowupCodes Codes `yaml:"followup_codes"`
	// NonspecificReasons names the value set of reasons that name no
	// condition (chronic pain, pain unspecified): a treatment ordered with
	// only such reasons is not excluded as ordered for another condition.
	// Optional; without it every coded reason that is not a back condition
	// excludes the treatment.
	NonspecificReasons Codes `yaml:"nonspecific_reasons"`
	// MinVisits, when above 0, needs that many distinct days of procedure
	// therapy (physical therapy, chiropractic...) in the course. Off (0) by default.
	MinVisits int `yaml:"min_visits"`
	// Classes are the kinds of therapy and which of them count.
	Classes TherapyClasses `yaml:"classes"`
}

// TherapyClasses are the kinds of conservative therapy, each with its codes.
type TherapyClasses struct {
	// PhysicalTherapy: PT and OT evaluations and sessions (CPT, SNOMED CT).
	PhysicalTherapy TherapyClass `yaml:"physical_therapy"`
	// Chiropractic: spinal chiropractic and osteopathic manipulation.
	Chiropractic TherapyClass `yaml:"chiropractic"`
	// NSAID: non-steroidal anti-inflammatory drugs (RxNorm ingredients).
	NSAID TherapyClass `yaml:"nsaid"`
	// OralSteroid: systemic corticosteroids.
	OralSteroid TherapyClass `yaml:"oral_steroid"`
	// Opioid: opioid analgesics.
	Opioid TherapyClass `yaml:"opioid"`
	// MuscleRelaxant: skeletal muscle relaxants.
	MuscleRelaxant TherapyClass `yaml:"muscle_relaxant"`
	// Gabapentinoid: gabapentin, pregabalin (not counted by default).
	Gabapentinoid TherapyClass `yaml:"gabapentinoid"`
	// ActivityModification: counted only with another class by default.
	ActivityModification TherapyClass `yaml:"activity_modification"`
}

// TherapyKind names a therapy class (its YAML key).
type TherapyKind string

// The therapy classes, in the order they are reported.
const (
	PhysicalTherapy      TherapyKind = "physical_therapy"
	Chiropractic         TherapyKind = "chiropractic"
	NSAID                TherapyKind = "nsaid"
	OralSteroid          TherapyKind = "oral_steroid"
	Opioid               TherapyKind = "opioid"
	MuscleRelaxant       TherapyKind = "muscle_relaxant"
	Gabapentinoid        TherapyKind = "gabapentinoid"
	ActivityModification TherapyKind = "activity_modification"
)

// ClassRef is one therapy class with its kind.
type ClassRef struct {
	// Kind is the class's YAML key.
	Kind TherapyKind
	// Class points into the policy.
	Class *TherapyClass
}

// All lists the classes in a stable order.
func (c *TherapyClasses) All() []ClassRef {
	return []ClassRef{
		{PhysicalTherapy, &c.PhysicalTherapy},
		{Chiropractic, &c.Chiropractic},
		{NSAID, &c.NSAID},
		{OralSteroid, &c.OralSteroid},
		{Opioid, &c.Opioid},
		{MuscleRelaxant, &c.MuscleRelaxant},
		{Gabapentinoid, &c.Gabapentinoid},
		{ActivityModification, &c.ActivityModification},
	}
}

// TherapyClass is one kind of conservative therapy.
type TherapyClass struct {
	// Label names the class in plain words ("physical therapy"). Required.
	Label string `yaml:"label"`
	// Counts says whether the class counts toward the trial at all.
	Counts bool `yaml:"counts"`
	// Alone says whether a course made only of this class meets the rule
	// (activity modification alone does not, by default).
	Alone bool `yaml:"alone"`
	// Source cites why the class counts.
	Source string `yaml:"source"`
	// Procedures names the value set of Procedures of this class (CPT,
	// SNOMED CT).
	Procedures Codes `yaml:"procedures"`
	// Medications names the value set of medications of this class: RxNorm
	// codes at every level (ingredient, clinical drug, branded drug, pack).
	Medications Codes `yaml:"medications"`
	// Ingredients are the class's RxNorm ingredients with their names, for
	// the text fallback; each code must be in Medications.
	Ingredients []Ingredient `yaml:"ingredients"`
	// OtherNames are other names of the class ("exercise therapy"), read
	// in the words of a procedure whose code is not in Procedures, so that
	// the answer names it as not counted; they never make an entry count.
	OtherNames []string `yaml:"other_names"`
}

// Ingredient is an RxNorm ingredient (IN) with its name. A medication counts
// when one of its RxNorm codings is in the class's medication value set;
// failing that, when the medication's text or a coding display names the
// ingredient as a word, case-insensitively: that fallback match is marked in
// the evidence.
type Ingredient struct {
	// RxNorm is the ingredient's RxCUI. Required.
	RxNorm string `yaml:"rxnorm"`
	// Name is the ingredient name used for the text fallback. Required.
	Name string `yaml:"name"`
}

// Fever is a body-temperature threshold: an Observation with one of the codes
// whose value reaches a threshold in the same unit, dated within WithinDays of D.
type Fever struct {
	// Codes names the value set of body-temperature Observation codes
	// (LOINC 8310-5).
	Codes `yaml:",inline"`
	// Thresholds are the minimum values per UCUM unit (Cel, [degF]); the
	// Observation's valueQuantity.code (or unit) must equal the unit.
	Thresholds []Threshold `yaml:"thresholds"`
	// WithinDays is the window before D (default 14).
	WithinDays int `yaml:"within_days"`
}

// Threshold is a minimum value in a UCUM unit.
type Threshold struct {
	// Value is the lowest value that counts (inclusive).
	Value float64 `yaml:"value"`
	// Unit is the UCUM code: Cel or [degF].
	Unit string `yaml:"unit"`
}

// RedFlagKind names a red flag (its YAML key).
type RedFlagKind string

// The red flags, in the order they are reported.
const (
	CaudaEquina       RedFlagKind = "cauda_equina"
	NeurologicDeficit RedFlagKind = "neurologic_deficit"
	Malignancy        RedFlagKind = "malignancy"
	Infection         RedFlagKind = "infection"
	Immunosuppression RedFlagKind = "immunosuppression"
	Fracture          RedFlagKind = "fracture"
	PriorSurgery      RedFlagKind = "prior_surgery"
)

// RedFlags are the red flags by kind.
type RedFlags struct {
	// CaudaEquina: finding red-flag-cauda-equina.
	CaudaEquina RedFlag `yaml:"cauda_equina"`
	// NeurologicDeficit: finding red-flag-neurologic-deficit.
	NeurologicDeficit RedFlag `yaml:"neurologic_deficit"`
	// Malignancy: finding red-flag-malignancy.
	Malignancy RedFlag `yaml:"malignancy"`
	// Infection: finding red-flag-infection.
	Infection RedFlag `yaml:"infection"`
	// Immunosuppression: finding red-flag-immunosuppression.
	Immunosuppression RedFlag `yaml:"immunosuppression"`
	// Fracture: finding red-flag-fracture.
	Fracture RedFlag `yaml:"fracture"`
	// PriorSurgery: finding red-flag-prior-surgery.
	PriorSurgery RedFlag `yaml:"prior_surgery"`
}

// RedFlagRef is one red flag with its kind.
type RedFlagRef struct {
	// Kind is the red flag's YAML key.
	Kind RedFlagKind
	// Flag points into the policy.
	Flag *RedFlag
}

// All lists the red flags in a stable order.
func (r *RedFlags) All() []RedFlagRef {
	return []RedFlagRef{
		{CaudaEquina, &r.CaudaEquina},
		{NeurologicDeficit, &r.NeurologicDeficit},
		{Malignancy, &r.Malignancy},
		{Infection, &r.Infection},
		{Immunosuppression, &r.Immunosuppression},
		{Fracture, &r.Fracture},
		{PriorSurgery, &r.PriorSurgery},
	}
}

// RedFlagPart is one criterion of a red flag: an entry that suffices alone,
// or part Index of a combination.
type RedFlagPart struct {
	// Flag is the red flag the criterion belongs to.
	Flag *RedFlag
	// Criterion points into the policy.
	Criterion *Criterion
	// Combination is the combination the criterion is a part of; nil for
	// an entry that suffices alone.
	Combination *Combination
	// Index is the criterion's position in Combination.All.
	Index int
}

// Others are the other parts of the criterion's combination (what it
// needs beside it); nil for an entry that suffices alone.
func (p RedFlagPart) Others() []*Criterion {
	if p.Combination == nil {
		return nil
	}
	var out []*Criterion
	for j := range p.Combination.All {
		if j != p.Index {
			out = append(out, &p.Combination.All[j])
		}
	}
	return out
}

// Parts yields every criterion of the red flags in their stable order: for
// each red flag (All), its alone entries, then its combinations' parts.
func (r *RedFlags) Parts() iter.Seq[RedFlagPart] {
	return func(yield func(RedFlagPart) bool) {
		for _, rf := range r.All() {
			for i := range rf.Flag.Alone {
				if !yield(RedFlagPart{Flag: rf.Flag, Criterion: &rf.Flag.Alone[i]}) {
					return
				}
			}
			for ci := range rf.Flag.Combinations {
				cb := &rf.Flag.Combinations[ci]
				for i := range cb.All {
					if !yield(RedFlagPart{Flag: rf.Flag, Criterion: &cb.All[i], Combination: cb, Index: i}) {
						return
					}
				}
			}
		}
	}
}

// Contrast values of a red flag (the guideline's MRI variants).
const (
	// ContrastWithout: MRI without contrast is the guideline variant.
	ContrastWithout = "without"
	// ContrastWithoutAndWith: MRI without and with contrast is the guideline
	// variant (malignancy, infection, prior surgery).
	ContrastWithoutAndWith = "without-and-with"
	// ContrastEither: both variants are rated usually appropriate; the
	// recommendation stays without, but a without-and-with order is not
	// questioned (cauda equina).
	ContrastEither = "either"
)

// RedFlag is one red flag: entries that suffice alone and combinations whose
// parts must all be present.
type RedFlag struct {
	// Label names the red flag in plain words ("suspected cauda equina
	// syndrome"). Required.
	Label string `yaml:"label"`
	// Contrast is the guideline MRI variant when this red flag is present:
	// without, without-and-with or either.
	Contrast string `yaml:"contrast"`
	// Source cites the guideline behind the red flag as a whole.
	Source string `yaml:"source"`
	// Alone entries each suffice on their own.
	Alone []Criterion `yaml:"alone"`
	// Combinations count only when every part is present.
	Combinations []Combination `yaml:"combinations"`
}

// Combination is a set of criteria that together make a red flag.
type Combination struct {
	// Source cites the guideline that states the combination. Required.
	Source string `yaml:"source"`
	// All are the parts; each must match (at least two).
	All []Criterion `yaml:"all"`
}

// Criterion is one red-flag entry or combination part. It matches coded
// Conditions (and Procedures) in its value set, or a fever Observation
// (fever: true), or an indication Condition (indication: true), or an
// indication Condition in the lumbar-indication value set
// (lumbar_indication: true).
type Criterion struct {
	// Codes names the value set matched against Condition.code and
	// Procedure.code (`valueset:`). Its `source:` key is required on alone
	// entries.
	Codes `yaml:",inline"`
	// Fever matches a body temperature at or above the policy's fever
	// threshold within its window.
	Fever bool `yaml:"fever"`
	// Indication matches any indication Condition (back pain, radiculopathy).
	Indication bool `yaml:"indication"`
	// LumbarIndication matches an active indication Condition in the
	// policy's lumbar_indication value set (lumbar or lumbosacral back pain
	// or radiculopathy).
	LumbarIndication bool `yaml:"lumbar_indication"`
	// History makes Conditions count whatever their clinicalStatus (history
	// codes such as Z85.*, Z98.1); refuted and entered-in-error never count.
	History bool `yaml:"history"`
	// Ongoing reads within_days as "present within the window" rather than
	// "began within it" for a Condition that is still current on D: an
	// active opioid dependence that began years ago is drug use within the
	// last 12 months. Conditions that have ended, and procedures, still
	// need their date in the window. Only with a value set and within_days.
	Ongoing bool `yaml:"ongoing"`
	// Ended makes the entry match only Conditions that are no longer
	// current on D (ended by abatement[x], or inactive, resolved or in
	// remission): a past diagnosis read as a history of it, as a cancer that
	// has ended is a history of cancer. Refuted and entered-in-error never
	// count. Only with a value set; not with history.
	Ended bool `yaml:"ended"`
	// WithinDays, when above 0, needs the evidence (onset, else recorded or
	// performed date) to fall within that many days before D. Unit: days.
	WithinDays int `yaml:"within_days"`
	// Note matches counting findings in clinical notes (dated by the note)
	// whose concept or category (internal/notes phrases.yaml) is listed.
	Note []string `yaml:"note"`
	// CancerStage matches a Condition, whatever its code, whose stage
	// (Condition.stage) is a TNM stage group I to IV: an invasive cancer
	// (AJCC Cancer Staging Manual, 8th ed.; chart.CancerStage). A code the
	// policy's value sets list is counted by its code instead. With ended,
	// only such a Condition that is no longer current.
	CancerStage bool `yaml:"cancer_stage"`
}

// NoteEvidence is the policy on findings read from clinical notes
// (DECISIONS.md, "Notes").
type NoteEvidence struct {
	// Advisory makes note findings shown but not counted: a payer that
	// accepts only coded documentation. Default false: they count.
	Advisory bool `yaml:"advisory"`
	// Source cites the payer rule behind the setting.
	Source string `yaml:"source"`
}

// Imaging holds the code sets that recognise prior imaging.
type Imaging struct {
	// LumbarMRI names the value set of MRI codes that include the lumbar
	// spine (lumbar, whole spine, thoracolumbar), matched on
	// ImagingStudy.procedureCode, Procedure.code and DiagnosticReport.code.
	LumbarMRI Codes `yaml:"lumbar_mri"`
	// LumbarXray names the value set of lumbar radiograph codes (CPT, LOINC,
	// SNOMED).
	LumbarXray Codes `yaml:"lumbar_xray"`
	// LumbarBodySites names the value set of ImagingStudy.series.bodySite
	// codes of the lumbar spine.
	LumbarBodySites Codes `yaml:"lumbar_body_sites"`
	// MRModalities are the DICOM modality codes of MRI (MR).
	MRModalities []string `yaml:"mr_modalities"`
	// XrayModalities are the DICOM modality codes of radiographs (CR, DX).
	XrayModalities []string `yaml:"xray_modalities"`
}

// Orders names the value sets that recognise a lumbar spine MRI order and
// its contrast variant (DECISIONS.md "Order codes"; reference/clinical-
// criteria.md 1.1-1.4), and the order codes offered when a contrast change
// is suggested.
type Orders struct {
	// Any holds every lumbar MRI order code the service assesses, including
	// contrast-unspecified ones (whole-spine and thoracolumbar MRI are not
	// orders it assesses).
	Any Codes `yaml:"any"`
	// WithoutContrast, WithContrast and WithoutAndWithContrast hold the
	// codes of each contrast variant; a code in none of them is
	// contrast-unspecified.
	WithoutContrast        Codes `yaml:"without_contrast"`
	WithContrast           Codes `yaml:"with_contrast"`
	WithoutAndWithContrast Codes `yaml:"without_and_with_contrast"`
	// Suggest lists, per contrast variant and code system, the order code
	// offered when the order is changed to that variant; each variant's CPT
	// entry is also its billing code (CPT 72148/72149/72158).
	Suggest []OrderCode `yaml:"suggest"`
}

// OrderCode is one suggested order code.
type OrderCode struct {
	// Contrast is without, with or without-and-with.
	Contrast string `yaml:"contrast"`
	// System is the code system URI (CPT, LOINC, SNOMED CT).
	System string `yaml:"system"`
	// Code must belong to the variant's value set.
	Code string `yaml:"code"`
	// Display names the code for the suggestion.
	Display string `yaml:"display"`
}

// Contrast variants of an order (Orders.Suggest[].Contrast).
const (
	OrderWithout        = "without"
	OrderWith           = "with"
	OrderWithoutAndWith = "without-and-with"
)

// SuggestedOrder returns the order code for a contrast variant in a code
// system, falling back to CPT when that system has none (SNOMED CT has no
// lumbar MRI without-and-with concept).
func (o *Orders) SuggestedOrder(system, contrast string) (OrderCode, bool) {
	for _, s := range []string{system, SystemCPT} {
		for _, oc := range o.Suggest {
			if oc.System == s && oc.Contrast == contrast {
				return oc, true
			}
		}
	}
	return OrderCode{}, false
}

// BillingCode returns the CPT code of a contrast variant, "" when none.
func (o *Orders) BillingCode(contrast string) string {
	for _, oc := range o.Suggest {
		if oc.System == SystemCPT && oc.Contrast == contrast {
			return oc.Code
		}
	}
	return ""
}
