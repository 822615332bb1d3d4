package chart

import r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

// DocumentReference is an r4.DocumentReference plus whether status was
// present (samply reads a missing status as "current", its first code).
type DocumentReference struct {
	r4.DocumentReference
	StatusPresent bool
}

// NoteStatus says whether a note's text counts as evidence.
type NoteStatus string

// Note statuses (DECISIONS.md, "Notes"): a current DocumentReference with
// docStatus final, amended or absent, or a final, amended, corrected or
// appended DiagnosticReport, counts; a preliminary one is advisory (shown,
// not counted); anything else, and any attachment whose text could not be
// read or is over the caps on note text (fhir.ExtractNotes), is listed as
// not read, with the reason.
const (
	NoteCounts   NoteStatus = "counts"
	NoteAdvisory NoteStatus = "advisory"
	NoteNotRead  NoteStatus = "not-read"
)

// Note is the text of one note attachment: a DocumentReference content
// attachment or a DiagnosticReport presentedForm.
type Note struct {
	// Source is the FHIR reference of the resource ("DocumentReference/d1"),
	// or its type when it has no id.
	Source string
	// Date is the note's date as recorded (DocumentReference.date, else
	// context.period.start; DiagnosticReport effective[x], else issued);
	// empty when undated.
	Date string
	// Status says whether the text counts; Reason says why it is advisory
	// or not read ("docStatus preliminary", "content type application/pdf").
	Status NoteStatus
	Reason string
	// Superseded is true for a DocumentReference whose status is
	// superseded: FHIR R4 (document-reference-status) says a newer
	// reference replaces it. Not read, and named as one count, not one by
	// one: it holds nothing the chart's current notes do not.
	Superseded bool
	// ContentType is the attachment's media type, without parameters.
	ContentType string
	// Text is the note's plain text (HTML stripped), empty when not read.
	Text string
}

// When is the note's date as a Date (zero when undated or unreadable).
func (n Note) When() Date {
	d, _ := ParseDate(n.Date)
	return d
}

// Notes is what the chart holds of the patient's clinical notes.
type Notes struct {
	// Checked is true when the DocumentReference search was supplied (by
	// prefetch or fhirServer). When false the answer says "notes not
	// checked"; notes are optional data, so this never makes the
	// assessment indeterminate.
	Checked bool
	// List holds one Note per attachment, in the order received.
	List []Note
}
