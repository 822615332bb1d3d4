// Package chart holds the part of a patient's record the assessment reads,
// decoded into the samply R4 models, and the searches that fill it. It is
// data only: no I/O, so the clinical core can depend on it while the FHIR
// client (package fhir) fills it.
package chart

import (
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Search names one of the FHIR searches the assessment needs. The same names
// are the prefetch keys advertised in discovery.
type Search string

// The searches the assessment reads (DECISIONS.md, "Needed data").
const (
	SearchPatient              Search = "patient"
	SearchCoverage             Search = "coverage"
	SearchConditions           Search = "conditions"
	SearchObservations         Search = "observations"
	SearchProcedures           Search = "procedures"
	SearchMedicationRequests   Search = "medicationRequests"
	SearchMedicationStatements Search = "medicationStatements"
	SearchImagingStudies       Search = "imagingStudies"
	SearchDiagnosticReports    Search = "diagnosticReports"
	SearchMedicationDispenses  Search = "medicationDispenses"
	SearchDocumentReferences   Search = "documentReferences"
)

// SearchSpec is one needed search: its prefetch key, the resource type it
// returns, and its query as a CDS Hooks 2.0 prefetch template.
type SearchSpec struct {
	Key          Search
	ResourceType string
	Template     string
	// Optional searches (DiagnosticReport, MedicationDispense) never make
	// the data incomplete: missing means "not checked".
	Optional bool
	// Includes are the other resource types the search may return
	// (search mode include): kept, not counted as skipped.
	Includes []string
}

// Searches lists the needed searches in a stable order. Templates use only
// CDS Hooks 2.0 tokens and the recommended query subset (reference and token
// parameters).
var Searches = []SearchSpec{
	{Key: SearchPatient, ResourceType: "Patient", Template: "Patient/{{context.patientId}}"},
	{Key: SearchCoverage, ResourceType: "Coverage", Template: "Coverage?patient={{context.patientId}}&status=active"},
	{Key: SearchConditions, ResourceType: "Condition", Template: "Condition?patient={{context.patientId}}"},
	// Observations feed only the fever red flag (body temperature, LOINC
	// 8310-5, the body-temperature value set; also asked for with LOINC
	// written as its OID, which the facts step reads as LOINC): a chart's
	// other vital signs would crowd a search past its 2000-resource cap. A
	// payer policy whose fever value set adds codes is read on prefetched
	// observations only.
	{Key: SearchObservations, ResourceType: "Observation", Template: "Observation?patient={{context.patientId}}&code=http://loinc.org|8310-5,urn:oid:2.16.840.1.113883.6.1|8310-5"},
	{Key: SearchProcedures, ResourceType: "Procedure", Template: "Procedure?patient={{context.patientId}}"},
	// _include brings the Medication a medicationReference names into the
	// same Bundle (FHIR R4 search 3.1.1.5.4, _include).
	{Key: SearchMedicationRequests, ResourceType: "MedicationRequest", Template: "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication", Includes: []string{"Medication"}},
	{Key: SearchMedicationStatements, ResourceType: "MedicationStatement", Template: "MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication", Includes: []string{"Medication"}},
	{Key: SearchImagingStudies, ResourceType: "ImagingStudy", Template: "ImagingStudy?patient={{context.patientId}}"},
	{Key: SearchDiagnosticReports, ResourceType: "DiagnosticReport", Template: "DiagnosticReport?patient={{context.patientId}}", Optional: true},
	// What was actually supplied (whenHandedOver, daysSupply): optional.
	{Key: SearchMedicationDispenses, ResourceType: "MedicationDispense", Template: "MedicationDispense?patient={{context.patientId}}&_include=MedicationDispense:medication", Optional: true, Includes: []string{"Medication"}},
	{Key: SearchDocumentReferences, ResourceType: "DocumentReference", Template: "DocumentReference?patient={{context.patientId}}", Optional: true},
}

// Record is the part of a patient's chart the assessment reads. Resources
// about another patient have been dropped. Where the samply models would turn
// a missing required status into the first enum value, a wrapper records
// whether the status was present in the JSON (StatusPresent).
type Record struct {
	PatientID string
	Patient   *r4.Patient
	// Coverages holds the active Coverages, in the order received.
	Coverages            []r4.Coverage
	Conditions           []Condition
	Observations         []Observation
	Procedures           []Procedure
	MedicationRequests   []MedicationRequest
	MedicationStatements []MedicationStatement
	ImagingStudies       []ImagingStudy
	DiagnosticReports    []DiagnosticReport
	MedicationDispenses  []MedicationDispense
	// Medications are Medication resources that came beside the orders
	// (search mode include, or the loader's Medication search), keyed by
	// "Medication/{id}".
	Medications map[string]r4.Medication
	// Unreadable lists entries of the searched types that failed to decode,
	// with what could still be read of them (reported in the answer).
	Unreadable []Unreadable
	// OtherPatient counts, per resource type, the resources about another
	// patient that were dropped.
	OtherPatient       map[string]int
	DocumentReferences []DocumentReference
	// Notes holds the text of the notes (DocumentReference attachments and
	// DiagnosticReport presentedForm), filled by the loader.
	Notes Notes

	// Unavailable lists the needed searches that neither prefetch nor the
	// FHIR server supplied. An empty list means the record is complete.
	Unavailable []Search
	// Shortfalls says, for searches that were not supplied (needed ones in
	// Unavailable, and optional ones), why when there is more to say than
	// that the data was not sent: too large to read, or the FHIR server
	// failed. A search not in it was simply not sent.
	Shortfalls map[Search]Shortfall
	// Queries counts the HTTP requests made to the FHIR server.
	Queries int
	// Skipped counts entries that failed to decode and were ignored.
	Skipped int
	// Dropped counts resources about another patient that were removed.
	Dropped int
}

// Complete reports whether every non-optional search was supplied.
func (r *Record) Complete() bool { return len(r.Unavailable) == 0 }

// Condition is an r4.Condition plus abatementBoolean, which the R4 model
// lacks (it is STU3's form; some servers still send it).
type Condition struct {
	r4.Condition
	// AbatementBoolean is abatementBoolean when present in the JSON.
	AbatementBoolean *bool
}

// Shortfall is why a search was not supplied beyond "not sent".
type Shortfall struct {
	// Limit, when above zero, is the cap the search went over although it
	// arrived: more than Limit entries in the one search, or (Call) more than
	// Limit resources across the call's searches. An incomplete search would
	// read as "not documented", so none of it is used.
	Limit int
	Call  bool
	// Failed is true when the FHIR server was asked for the search and did
	// not answer usefully (error, refusal, timeout).
	Failed bool
	// PatientNotFound is true when the FHIR server answered the read of
	// Patient/{context.patientId} with 404 or 410: its searches for that
	// patient then say nothing about the chart (an empty result is not "no
	// data"), so none of what it sent is used.
	PatientNotFound bool
}

// Unreadable is an entry that failed to decode, described by what a lenient
// read found: its type and id, a display (code display or text) and a date,
// each possibly empty, and why it failed.
type Unreadable struct {
	ResourceType string
	ID           string
	Display      string
	Date         string
	Reason       string
}

// When is the entry's date as a Date (zero when absent or unreadable).
func (u Unreadable) When() Date {
	d, _ := ParseDate(u.Date)
	return d
}

// MedicationDispense is an r4.MedicationDispense plus its contained Medications.
type MedicationDispense struct {
	r4.MedicationDispense
	StatusPresent bool
	Contained     []r4.Medication
}

// Observation is an r4.Observation plus whether status was present.
type Observation struct {
	r4.Observation
	StatusPresent bool
}

// Procedure is an r4.Procedure plus whether status was present.
type Procedure struct {
	r4.Procedure
	StatusPresent bool
}

// MedicationRequest is an r4.MedicationRequest plus whether status was
// present and its contained Medications (the R4 model drops `contained`).
type MedicationRequest struct {
	r4.MedicationRequest
	StatusPresent bool
	Contained     []r4.Medication
}

// MedicationStatement is an r4.MedicationStatement plus whether status was
// present and its contained Medications.
type MedicationStatement struct {
	r4.MedicationStatement
	StatusPresent bool
	Contained     []r4.Medication
}

// ImagingStudy is an r4.ImagingStudy plus whether status was present.
type ImagingStudy struct {
	r4.ImagingStudy
	StatusPresent bool
}

// DiagnosticReport is an r4.DiagnosticReport plus whether status was present.
type DiagnosticReport struct {
	r4.DiagnosticReport
	StatusPresent bool
}
