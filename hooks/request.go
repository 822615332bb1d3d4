package hooks

import (
	"encoding/json"
	"regexp"
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
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type,omitempty"`
	ExpiresIn   int    `json:"expires_in,omitempty"`
	Scope       string `json:"scope,omitempty"`
	Subject     string `json:"subject,omitempty"`
	Patient     string `json:"patient,omitempty"`
}

// String redacts the token so that a stray %v never prints it.
func (a FHIRAuthorization) String() string { return "FHIRAuthorization{access_token:[redacted]}" }

// Context is the union of the order-sign and order-select context fields.
// DraftOrders stays raw: the service patches the client's own JSON for each
// order and must not re-serialise it.
type Context struct {
	UserID      string          `json:"userId,omitempty"`
	PatientID   string          `json:"patientId,omitempty"`
	EncounterID string          `json:"encounterId,omitempty"`
	Selections  []string        `json:"selections,omitempty"`
	DraftOrders json.RawMessage `json:"draftOrders,omitempty"`
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
