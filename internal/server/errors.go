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
)

// statusTable is the one mapping from errors to HTTP statuses, with the
// OperationOutcome issue code and whether the error's text is safe to show.
// Texts of hooks and feedback errors are written for callers; anything not
// listed is a 500 with a generic message, never internal text.
var statusTable = []struct {
	err    error
	status int
	code   string
	public bool
}{
	{hooks.ErrMalformed, http.StatusBadRequest, "structure", true},
	{hooks.ErrInvalid, http.StatusBadRequest, "invalid", true},
	{ErrTooLarge, http.StatusRequestEntityTooLarge, "too-long", true},
	{ErrUnknownService, http.StatusNotFound, "not-found", true},
	{ErrNotFound, http.StatusNotFound, "not-found", true},
	{store.ErrUnknownCard, http.StatusNotFound, "not-found", true},
	{store.ErrInvalidFeedback, http.StatusBadRequest, "invalid", true},
	{ErrInvalidFeedback, http.StatusBadRequest, "invalid", true},
	{fhir.ErrNothingSupplied, http.StatusPreconditionFailed, "incomplete", false},
	{ErrUnavailable, http.StatusServiceUnavailable, "transient", false},
}

// Describe says how the service answers err: "400 Bad Request: ...".
func Describe(err error) string {
	status, _, msg := statusOf(err)
	return fmt.Sprintf("%d %s: %s", status, http.StatusText(status), msg)
}

// statusOf maps err to its status, issue code and the message to show.
func statusOf(err error) (int, string, string) {
	for _, e := range statusTable {
		if errors.Is(err, e.err) {
			msg := e.err.Error()
			if e.public {
				msg = err.Error()
			}
			if e.err == fhir.ErrNothingSupplied {
				msg = "the patient data the assessment needs was not in the prefetch and could not be retrieved from fhirServer"
			}
			return e.status, e.code, msg
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
