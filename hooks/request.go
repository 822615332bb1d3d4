package hooks

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
)

// Hook names this service answers.
const (
	HookOrderSign   = "order-sign"
	HookOrderSelect = "order-select"
)

// Request is a CDS Hooks 2.0 service call body. Unknown fields are ignored on
// decoding, as CDS Hooks and Da Vinci CRD (found-33) require.
type Request struct {
	Hook              string                     `json:"hook"`
	HookInstance      string                     `json:"hookInstance"`
	FHIRServer        string                     `json:"fhirServer,omitempty"`
	FHIRAuthorization *FHIRAuthorization         `json:"fhirAuthorization,omitempty"`
	Context           Context                    `json:"context"`
	Prefetch          map[string]json.RawMessage `json:"prefetch,omitempty"`
	Extension         map[string]json.RawMessage `json:"extension,omitempty"`
}

// FHIRAuthorization is the OAuth 2.0 bearer token a CDS client hands over so
// the service can query its FHIR server. It is transient: never log or store it.
type FHIRAuthorization struct {
	AccessToken string  `json:"access_token"`
	TokenType   string  `json:"token_type,omitempty"`
	ExpiresIn   Seconds `json:"expires_in"`
	Scope       string  `json:"scope,omitempty"`
	Subject     string  `json:"subject,omitempty"`
	Patient     string  `json:"patient,omitempty"`
}

// Seconds is fhirAuthorization.expires_in. CDS Hooks 2.0.1 (SMART on FHIR
// Authorization) types it as an integer number of seconds; a client that
// writes numbers as doubles sends 300.0, the same integer (RFC 8259 section
// 6 has one number type). The service never reads the value (a FHIR server
// refuses an expired token itself), so no value fails the call: an integral
// number that is not negative is Known, anything else (a string, 1.5, -1)
// reads as unknown.
type Seconds struct {
	N     int64
	Known bool
}

// UnmarshalJSON reads an integral JSON number (300, 300.0, 3e2) and leaves
// any other value unknown without an error.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	*s = Seconds{}
	// A JSON number only (the body's syntax is checked already): not null,
	// not a string.
	t := bytes.TrimSpace(b)
	if len(t) == 0 || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) {
		return nil
	}
	f, err := strconv.ParseFloat(string(t), 64)
	if err == nil && f >= 0 && f <= math.MaxInt32 && f == math.Trunc(f) {
		*s = Seconds{N: int64(f), Known: true}
	}
	return nil
}

// MarshalJSON writes a known value as an integer, an unknown one as null.
func (s Seconds) MarshalJSON() ([]byte, error) {
	if !s.Known {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, s.N, 10), nil
}

// String redacts the token so that a stray %v never prints it.
func (a FHIRAuthorization) String() string { return "FHIRAuthorization{access_token:[redacted]}" }

// Context is the union of the order-sign and order-select context fields.
// DraftOrders stays raw: the service patches the client's own JSON for each
// order and must not re-serialise it.
type Context struct {
	UserID      string `json:"userId,omitempty"`
	PatientID   string `json:"patientId,omitempty"`
	EncounterID string `json:"encounterId,omitempty"`
	// Selections is context.selections of an order-select call, read by
	// Validate from RawSelections. Other hooks have no such context field
	// (CDS Hooks order-sign; the sandbox sends one anyway), and CRD STU 2.1
	// hooks.md says unrecognized context elements SHALL be ignored: there
	// it stays nil whatever was sent.
	Selections []string `json:"-"`
	// RawSelections is context.selections as sent, read into Selections
	// only for order-select.
	RawSelections json.RawMessage `json:"selections,omitempty"`
	DraftOrders   json.RawMessage `json:"draftOrders,omitempty"`
}

// AccessToken returns the bearer token for fhirServer, or "" when none was given.
// An empty access_token counts as absent (DECISIONS.md, "Where the data comes from").
func (r *Request) AccessToken() string {
	if r.FHIRAuthorization == nil {
		return ""
	}
	return r.FHIRAuthorization.AccessToken
}

// uuidPattern is a UUID in its text form, in either case (RFC 9562 section
// 4), as CDS Hooks 2.0 writes hookInstance and card and suggestion uuids.
var uuidPattern = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// IsUUID reports whether s is a UUID in its 36-character text form.
func IsUUID(s string) bool { return uuidPattern.MatchString(s) }
