package fhir

import (
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
)

// The record types live in package chart (pure data, so the clinical core
// depends on them without depending on this package's HTTP client); these
// aliases keep them at hand here, where they are filled.
type (
	// Search names one of the needed searches (and its prefetch key).
	Search = chart.Search
	// SearchSpec is one needed search.
	SearchSpec = chart.SearchSpec
	// Record is the part of the patient's chart the assessment reads.
	Record = chart.Record
	// Observation is an r4.Observation plus whether status was present.
	Observation = chart.Observation
	// Procedure is an r4.Procedure plus whether status was present.
	Procedure = chart.Procedure
	// MedicationRequest is an r4.MedicationRequest plus whether status was present.
	MedicationRequest = chart.MedicationRequest
	// MedicationStatement is an r4.MedicationStatement plus whether status was present.
	MedicationStatement = chart.MedicationStatement
	// ImagingStudy is an r4.ImagingStudy plus whether status was present.
	ImagingStudy = chart.ImagingStudy
	// DiagnosticReport is an r4.DiagnosticReport plus whether status was present.
	DiagnosticReport = chart.DiagnosticReport
	// Condition is an r4.Condition plus abatementBoolean.
	Condition = chart.Condition
	// MedicationDispense is an r4.MedicationDispense plus status presence and contained Medications.
	MedicationDispense = chart.MedicationDispense
	// Unreadable describes an entry that failed to decode.
	Unreadable = chart.Unreadable
	// Shortfall is why a search was not supplied beyond "not sent".
	Shortfall = chart.Shortfall
	// DocumentReference is an r4.DocumentReference plus whether status was present.
	DocumentReference = chart.DocumentReference
	// Note is the text of one note attachment.
	Note = chart.Note
)

// The needed searches (see package chart).
const (
	SearchPatient              = chart.SearchPatient
	SearchCoverage             = chart.SearchCoverage
	SearchConditions           = chart.SearchConditions
	SearchObservations         = chart.SearchObservations
	SearchProcedures           = chart.SearchProcedures
	SearchMedicationRequests   = chart.SearchMedicationRequests
	SearchMedicationStatements = chart.SearchMedicationStatements
	SearchImagingStudies       = chart.SearchImagingStudies
	SearchDiagnosticReports    = chart.SearchDiagnosticReports
	SearchMedicationDispenses  = chart.SearchMedicationDispenses
	SearchDocumentReferences   = chart.SearchDocumentReferences
)

// Searches lists the needed searches in a stable order (chart.Searches).
var Searches = chart.Searches

// join adds part's resources and counts to r (the parallel decoding of
// Loader.Load: each part holds other resource types).
func join(r, part *Record) {
	if r.Patient == nil {
		r.Patient = part.Patient
	}
	r.Coverages = joinSlice(r.Coverages, part.Coverages)
	r.Conditions = joinSlice(r.Conditions, part.Conditions)
	r.Observations = joinSlice(r.Observations, part.Observations)
	r.Procedures = joinSlice(r.Procedures, part.Procedures)
	r.MedicationRequests = joinSlice(r.MedicationRequests, part.MedicationRequests)
	r.MedicationStatements = joinSlice(r.MedicationStatements, part.MedicationStatements)
	r.ImagingStudies = joinSlice(r.ImagingStudies, part.ImagingStudies)
	r.DiagnosticReports = joinSlice(r.DiagnosticReports, part.DiagnosticReports)
	r.MedicationDispenses = joinSlice(r.MedicationDispenses, part.MedicationDispenses)
	r.Unreadable = joinSlice(r.Unreadable, part.Unreadable)
	for k, v := range part.Medications {
		if r.Medications == nil {
			r.Medications = map[string]r4.Medication{}
		}
		r.Medications[k] = v
	}
	for k, n := range part.OtherPatient {
		if r.OtherPatient == nil {
			r.OtherPatient = map[string]int{}
		}
		r.OtherPatient[k] += n
	}
	r.DocumentReferences = joinSlice(r.DocumentReferences, part.DocumentReferences)
	r.Skipped += part.Skipped
	r.Dropped += part.Dropped
}

func joinSlice[T any](a, b []T) []T {
	if a == nil {
		return b
	}
	return append(a, b...)
}
