package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Errors returned by Decode. The server maps them to HTTP statuses: both are 400.
var (
	// ErrMalformed means the body is not a JSON object.
	ErrMalformed = errors.New("malformed JSON")
	// ErrInvalid means the body is JSON but not a valid request for this service.
	ErrInvalid = errors.New("invalid CDS Hooks request")
)

// Decode parses and validates a service call body for a service whose hook is
// hook. Errors wrap ErrMalformed or ErrInvalid and carry a message safe to show
// to the caller.
func Decode(body []byte, hook string) (*Request, error) {
	// One pass: json.Unmarshal checks the syntax of the whole body before it
	// decodes, so a syntax error means malformed and any other error is a
	// field of the wrong type. Only an object decodes into a Request without
	// a type error, except null, which the first byte rules out.
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%w: the body must be a JSON object", ErrMalformed)
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: the body must be a JSON object", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalid, fieldError(err))
	}
	if err := req.Validate(hook); err != nil {
		return nil, err
	}
	return &req, nil
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
	if err := json.Unmarshal(r.Context.DraftOrders, &b); err != nil || b.ResourceType != "Bundle" {
		return fmt.Errorf("%w: context.draftOrders must be a FHIR Bundle", ErrInvalid)
	}
	if r.FHIRAuthorization != nil && r.FHIRAuthorization.AccessToken != "" && r.FHIRServer == "" {
		return fmt.Errorf("%w: fhirServer is required when fhirAuthorization is present", ErrInvalid)
	}
	return nil
}

// fieldError describes a type error without echoing the input.
func fieldError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("field %s has the wrong type (want %s)", te.Field, te.Type)
	}
	return "a field has the wrong type"
}

func clip(s string) string {
	if len([]rune(s)) > 40 {
		return string([]rune(s)[:40]) + "…"
	}
	return s
}
