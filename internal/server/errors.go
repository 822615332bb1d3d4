package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// Errors of this package's own making.
var (
	// ErrTooLarge means the body exceeded the limit (413).
	ErrTooLarge = errors.New("request body too large")
	// ErrNotFound is an unknown resource or route (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalidFeedback is feedback that breaks the CDS Hooks rules (400).
	ErrInvalidFeedback = errors.New("invalid feedback")
	// errPanic is a recovered panic: a 500 with a generic message.
	errPanic = errors.New("internal error")
	// ErrUnavailable means a dependency (the store) failed (503).
	ErrUnavailable = errors.New("service unavailable")
	// ErrMethodNotAllowed is a known route called with another method (405,
	// with an Allow header).
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrBodyTimeout means the client did not send its whole body in time
	// (408): a stalled upload, not a malformed one.
	ErrBodyTimeout = errors.New("request body not received in time")
	// ErrContentEncoding is a request body sent compressed (415): the
	// service reads JSON as sent, without Content-Encoding.
	ErrContentEncoding = errors.New("unsupported Content-Encoding: send the JSON body uncompressed")
	// ErrBadPeriod is a report period that does not parse (400).
	ErrBadPeriod = errors.New("invalid report period")
	// ErrForeignHost is a request to a development instance addressed to a
	// host that is not loopback (a DNS rebinding page), or sent by a browser
	// page of an origin CORS does not allow (403).
	ErrForeignHost = errors.New("forbidden: a development instance answers only requests addressed to localhost or a loopback address, from pages of allowed origins")
	// ErrReportOff means /admin/report was asked for while no admin token is
	// configured (404: the page does not exist on this instance).
	ErrReportOff = errors.New("the report is off: no admin token is configured (set --admin-token or LUMBAR_MRI_CDS_ADMIN_TOKEN)")
)

// statusTable is the one mapping from errors to HTTP statuses, with the
// OperationOutcome issue code and whether the error's text is safe to show.
// Texts of hooks and feedback errors are written for callers; anything not
// listed is a 500 with a generic message, never internal text.
var statusTable = []struct {
	err    error
	status int
	code   string
	// public: the error's own text is written for callers; otherwise the
	// message below (or the sentinel's text) is shown.
	public  bool
	message string
}{
	{err: hooks.ErrMalformed, status: http.StatusBadRequest, code: "structure", public: true},
	{err: hooks.ErrInvalid, status: http.StatusBadRequest, code: "invalid", public: true},
	{err: ErrTooLarge, status: http.StatusRequestEntityTooLarge, code: "too-long", public: true},
	{err: ErrUnknownService, status: http.StatusNotFound, code: "not-found", public: true},
	{err: ErrNotFound, status: http.StatusNotFound, code: "not-found", public: true},
	{err: store.ErrUnknownCard, status: http.StatusNotFound, code: "not-found", public: true},
	{err: store.ErrInvalidFeedback, status: http.StatusBadRequest, code: "invalid", public: true},
	{err: ErrInvalidFeedback, status: http.StatusBadRequest, code: "invalid", public: true},
	{err: ErrMethodNotAllowed, status: http.StatusMethodNotAllowed, code: "not-supported", public: true},
	{err: ErrBodyTimeout, status: http.StatusRequestTimeout, code: "timeout", public: true},
	{err: ErrContentEncoding, status: http.StatusUnsupportedMediaType, code: "not-supported", public: true},
	{err: ErrBadPeriod, status: http.StatusBadRequest, code: "invalid", public: true},
	{err: ErrForeignHost, status: http.StatusForbidden, code: "forbidden", public: true},
	{err: ErrReportOff, status: http.StatusNotFound, code: "not-found", public: true},
	// The 412 text says what the request lacked: a fhirServer, or one that
	// answered.
	{err: fhir.ErrNoFHIRServer, status: http.StatusPreconditionFailed, code: "incomplete",
		message: "the patient data the assessment needs was not in the prefetch, and the request names no fhirServer to retrieve it from"},
	{err: fhir.ErrPatientNotFound, status: http.StatusPreconditionFailed, code: "incomplete",
		message: "fhirServer has no record of context.patientId (its Patient read answered not found), and the prefetch held none of the patient data the assessment needs"},
	{err: fhir.ErrPatientIDNotFHIR, status: http.StatusBadRequest, code: "invalid",
		message: "context.patientId is not a FHIR id (A-Z, a-z, 0-9, '-' and '.', 1 to 64 characters), so fhirServer was not asked for the patient data the prefetch lacked"},
	{err: fhir.ErrFHIRServerRefused, status: http.StatusPreconditionFailed, code: "incomplete",
		message: "the patient data the assessment needs was not in the prefetch, and fhirServer was not used: this service calls only a FHIR base URL without userinfo, query or fragment, over https, on a host its operator allows (no private or loopback address unless listed in --fhir-allow)"},
	{err: fhir.ErrNothingSupplied, status: http.StatusPreconditionFailed, code: "incomplete",
		message: "the patient data the assessment needs was not in the prefetch and could not be retrieved from fhirServer"},
	{err: ErrBusy, status: http.StatusServiceUnavailable, code: "transient", public: true},
	{err: ErrUnavailable, status: http.StatusServiceUnavailable, code: "transient"},
}

// Describe says how the service answers err: "400 Bad Request: ...".
func Describe(err error) string {
	status, _, msg := statusOf(err)
	return fmt.Sprintf("%d %s: %s", status, http.StatusText(status), msg)
}

// statusOf maps err to its status, issue code and the message to show.
func statusOf(err error) (int, string, string) {
	for _, e := range statusTable {
		if !errors.Is(err, e.err) {
			continue
		}
		switch {
		case e.public:
			return e.status, e.code, err.Error()
		case e.message != "":
			return e.status, e.code, e.message
		default:
			return e.status, e.code, e.err.Error()
		}
	}
	return http.StatusInternalServerError, "exception", "internal error"
}

// OperationOutcome is the error body (CDS Hooks 3.0 ballot SHOULD; CRD SHOULD).
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// Issue is one OperationOutcome issue.
type Issue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics"`
}

func outcome(code, msg string) OperationOutcome {
	return OperationOutcome{ResourceType: "OperationOutcome", Issue: []Issue{{Severity: "error", Code: code, Diagnostics: msg}}}
}
