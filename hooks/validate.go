package hooks

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/jsoncompat"
)

// Errors returned by Decode. The server maps them to HTTP statuses: both are 400.
var (
	// ErrMalformed means the body is not valid JSON, or is JSON but not an
	// object.
	ErrMalformed = errors.New("malformed JSON")
	// ErrInvalid means the body is JSON but not a valid request for this service.
	ErrInvalid = errors.New("invalid CDS Hooks request")
)

// Decode parses and validates a service call body for a service whose hook is
// hook. Errors wrap ErrMalformed or ErrInvalid and carry a message safe to show
// to the caller. A request that parses but fails validation is returned with
// its error; it must not be answered.
//
// The body is decoded with the Go team's JSON v2 engine
// (github.com/go-json-experiment/json, the basis of encoding/json/v2): one
// pass that checks the syntax while it decodes, several times faster than
// encoding/json on the large prefetch bodies EHRs send. Options keep the
// encoding/json behaviour clients may rely on: duplicate member names and
// invalid UTF-8 are accepted (the last member wins), member names match
// without regard to case, unknown members are ignored.
func Decode(body []byte, hook string) (*Request, error) {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 {
		return nil, fmt.Errorf("%w: the body is empty; it must be a JSON object", ErrMalformed)
	} else if t[0] != '{' {
		// Only the first byte was looked at: say whether it is JSON at all.
		if err := jsonv2.Unmarshal(body, new(jsontext.Value)); err != nil {
			return nil, syntaxError(err)
		}
		return nil, fmt.Errorf("%w: the body must be a JSON object", ErrMalformed)
	}
	var req Request
	if err := jsoncompat.Unmarshal(body, &req); err != nil {
		var se *jsontext.SyntacticError
		if errors.As(err, &se) {
			return nil, syntaxError(err)
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalid, fieldError(err))
	}
	if err := req.Validate(hook); err != nil {
		// The decoded request comes back with the error, so what is known of
		// an invalid call (its hook, hookInstance) can still be audited.
		return &req, err
	}
	return &req, nil
}

// syntaxError says that the body is not valid JSON, with the parser's
// reason and where it stopped when known. The text is about the caller's own
// bytes and safe to show.
func syntaxError(err error) error {
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		return fmt.Errorf("%w: the body is not valid JSON", ErrMalformed)
	}
	reason := []rune(se.Err.Error())
	if len(reason) > 100 {
		reason = append(reason[:100], '…')
	}
	return fmt.Errorf("%w: the body is not valid JSON (%s, after byte %d)", ErrMalformed, string(reason), se.ByteOffset)
}

// Validate checks the fields CDS Hooks 2.0 and the order hooks require.
func (r *Request) Validate(hook string) error {
	switch {
	case r.Hook == "":
		return fmt.Errorf("%w: hook is required", ErrInvalid)
	case r.Hook != hook:
		return fmt.Errorf("%w: hook %q does not match this service (%s)", ErrInvalid, clip(r.Hook), hook)
	case strings.TrimSpace(r.HookInstance) == "":
		return fmt.Errorf("%w: hookInstance is required", ErrInvalid)
	case r.Context.PatientID == "":
		return fmt.Errorf("%w: context.patientId is required", ErrInvalid)
	case len(r.Context.DraftOrders) == 0 || bytes.Equal(bytes.TrimSpace(r.Context.DraftOrders), []byte("null")):
		return fmt.Errorf("%w: context.draftOrders is required", ErrInvalid)
	}
	var b struct {
		ResourceType string `json:"resourceType"`
	}
	if err := jsoncompat.Unmarshal(r.Context.DraftOrders, &b); err != nil || b.ResourceType != "Bundle" {
		return fmt.Errorf("%w: context.draftOrders must be a FHIR Bundle", ErrInvalid)
	}
	// order-select: selections (REQUIRED there, an array of "Type/id")
	// chooses the orders assessed, so a value of another type is refused.
	// On order-sign it is not a context field and is ignored (CRD STU 2.1
	// hooks.md: unrecognized context elements SHALL be ignored).
	r.Context.Selections = nil
	if r.Hook == HookOrderSelect && len(r.Context.RawSelections) > 0 && !bytes.Equal(bytes.TrimSpace(r.Context.RawSelections), []byte("null")) {
		if err := jsoncompat.Unmarshal(r.Context.RawSelections, &r.Context.Selections); err != nil {
			return fmt.Errorf("%w: context.selections must be an array of strings (\"Type/id\")", ErrInvalid)
		}
	}
	if r.FHIRAuthorization != nil && r.FHIRAuthorization.AccessToken != "" && r.FHIRServer == "" {
		return fmt.Errorf("%w: fhirServer is required when fhirAuthorization is present", ErrInvalid)
	}
	return nil
}

// fieldError describes a type error without echoing the input.
func fieldError(err error) string {
	var se *jsonv2.SemanticError
	if errors.As(err, &se) && se.JSONPointer != "" {
		return fmt.Sprintf("%s has the wrong type", clip(strings.ReplaceAll(strings.TrimPrefix(string(se.JSONPointer), "/"), "/", ".")))
	}
	return "a field has the wrong type"
}

func clip(s string) string {
	if len([]rune(s)) > 40 {
		return string([]rune(s)[:40]) + "…"
	}
	return s
}
