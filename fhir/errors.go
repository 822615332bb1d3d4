package fhir

import "errors"

// Sentinel errors. Callers test them with errors.Is; the messages wrapped
// around them carry the search key and resource type, never a patient id, a
// URL query or a token.
var (
	// ErrNothingSupplied means none of the needed clinical data arrived: not
	// in the prefetch and not from fhirServer (absent, refused or failing).
	// CDS Hooks 2.0 answers this with 412 Precondition Failed.
	ErrNothingSupplied = errors.New("fhir: no needed data supplied by prefetch or fhirServer")
	// ErrNoFHIRServer accompanies ErrNothingSupplied when the request named
	// no fhirServer at all, so the answer can say what was missing.
	ErrNoFHIRServer = errors.New("fhir: the request names no fhirServer")
	// ErrPatientNotFound accompanies ErrNothingSupplied when fhirServer
	// answered the read of Patient/{context.patientId} with 404 or 410: it
	// has no record of the patient, so its searches said nothing.
	ErrPatientNotFound = errors.New("fhir: fhirServer has no record of the patient")
	// ErrPatientIDNotFHIR accompanies ErrNothingSupplied when fhirServer
	// was not asked because context.patientId is not a FHIR id (R4 id:
	// A-Z, a-z, 0-9, "-" and ".", 1 to 64 characters): it is never put
	// into a URL.
	ErrPatientIDNotFHIR = errors.New("fhir: context.patientId is not a FHIR id")
	// ErrFHIRServerRefused accompanies ErrNothingSupplied when fhirServer
	// was not used: not an https URL, or an address --fhir-allow does not
	// allow. The wrapping error says which.
	ErrFHIRServerRefused = errors.New("fhir: fhirServer not used")
	// ErrUnavailable means the FHIR server did not answer a request usefully:
	// network error, deadline, 5xx, or 404 on a search.
	ErrUnavailable = errors.New("fhir: server unavailable")
	// ErrNotFound means 404 or 410: for a read, the resource does not exist
	// (for the Patient read, the server does not know the patient); for a
	// search, the type is not served.
	ErrNotFound = errors.New("fhir: not found")
	// ErrUnauthorized means the FHIR server answered 401 or 403.
	ErrUnauthorized = errors.New("fhir: access refused by server")
	// ErrBadResponse means a body that is not usable FHIR JSON: HTML, plain
	// text, truncated JSON, an OperationOutcome, or an unexpected resource type.
	ErrBadResponse = errors.New("fhir: unusable response")
	// ErrTooLarge means a response body over MaxBodyBytes, or a search over
	// MaxPages or MaxResources. Partial results are not used: an incomplete
	// search would read as "not documented".
	ErrTooLarge = errors.New("fhir: response over limit")
	// ErrPagingLoop means a `next` link pointed at a page already fetched.
	ErrPagingLoop = errors.New("fhir: paging loop")
	// ErrForeignOrigin means a `next` link or redirect left the fhirServer
	// origin. It is not followed, so the bearer token never leaves that origin.
	ErrForeignOrigin = errors.New("fhir: link to another origin refused")
	// ErrNotAllowed means a fhirServer URL that is not http(s), whose host
	// is not in the configured allow-list, that uses plain http when only
	// listed hosts may, or whose dialled address the AddressPolicy refuses.
	ErrNotAllowed = errors.New("fhir: server not allowed")
	// ErrMalformed means JSON that is not the FHIR structure expected, such
	// as draftOrders that is not a Bundle.
	ErrMalformed = errors.New("fhir: malformed FHIR JSON")
)
