package hooks

import (
	"errors"
	"slices"
	"testing"
)

func TestDecode(t *testing.T) {
	const orders = `"draftOrders":{"resourceType":"Bundle","entry":[]}`
	tests := []struct {
		name, body string
		want       error
	}{
		{"valid", `{"hook":"order-sign","hookInstance":"h1","context":{"patientId":"p",` + orders + `}}`, nil},
		{"unknown fields ignored", `{"hook":"order-sign","hookInstance":"h1","foo":{"bar":1},"context":{"patientId":"p","x":[1],` + orders + `},"prefetch":{"a":null}}`, nil},
		{"not JSON", `{"hook":`, ErrMalformed},
		{"JSON array", `[1,2]`, ErrMalformed},
		{"JSON null", `null`, ErrMalformed},
		{"missing hook", `{"hookInstance":"h1","context":{"patientId":"p",` + orders + `}}`, ErrInvalid},
		{"other hook", `{"hook":"order-dispatch","hookInstance":"h1","context":{"patientId":"p",` + orders + `}}`, ErrInvalid},
		{"empty hookInstance", `{"hook":"order-sign","hookInstance":" ","context":{"patientId":"p",` + orders + `}}`, ErrInvalid},
		{"missing context", `{"hook":"order-sign","hookInstance":"h1"}`, ErrInvalid},
		{"missing patientId", `{"hook":"order-sign","hookInstance":"h1","context":{` + orders + `}}`, ErrInvalid},
		{"missing draftOrders", `{"hook":"order-sign","hookInstance":"h1","context":{"patientId":"p"}}`, ErrInvalid},
		{"draftOrders null", `{"hook":"order-sign","hookInstance":"h1","context":{"patientId":"p","draftOrders":null}}`, ErrInvalid},
		{"draftOrders not a Bundle", `{"hook":"order-sign","hookInstance":"h1","context":{"patientId":"p","draftOrders":{"resourceType":"ServiceRequest"}}}`, ErrInvalid},
		{"wrong type", `{"hook":"order-sign","hookInstance":7,"context":{"patientId":"p",` + orders + `}}`, ErrInvalid},
		{"token without server", `{"hook":"order-sign","hookInstance":"h1","fhirAuthorization":{"access_token":"t"},"context":{"patientId":"p",` + orders + `}}`, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.body), HookOrderSign)
			if !errors.Is(err, tt.want) {
				t.Errorf("Decode() error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAuthorizationNeverPrints(t *testing.T) {
	a := FHIRAuthorization{AccessToken: "secret-token"}
	if s := a.String(); s != "FHIRAuthorization{access_token:[redacted]}" {
		t.Errorf("String() = %q", s)
	}
}

// TestDecodeExpiresIn: CDS Hooks 2.0.1 types fhirAuthorization.expires_in as
// an integer; 300.0 is that integer written as a double (conf6 t50). The
// service never reads the value, so no value of it fails the call (t49).
func TestDecodeExpiresIn(t *testing.T) {
	tests := []struct {
		value string
		want  Seconds
	}{
		{`300`, Seconds{N: 300, Known: true}},
		{`300.0`, Seconds{N: 300, Known: true}},
		{`3e2`, Seconds{N: 300, Known: true}},
		{`0`, Seconds{N: 0, Known: true}},
		{`"300"`, Seconds{}},
		{`299.5`, Seconds{}},
		{`-1`, Seconds{}},
		{`null`, Seconds{}},
		{`{"s":300}`, Seconds{}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			body := `{"hook":"order-sign","hookInstance":"h1","fhirServer":"https://ehr.example/fhir",` +
				`"fhirAuthorization":{"access_token":"t","token_type":"Bearer","expires_in":` + tt.value + `,"scope":"user/*.read","subject":"cds"},` +
				`"context":{"patientId":"p","draftOrders":{"resourceType":"Bundle","entry":[]}}}`
			req, err := Decode([]byte(body), HookOrderSign)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := req.FHIRAuthorization.ExpiresIn; got != tt.want {
				t.Errorf("expires_in = %+v, want %+v", got, tt.want)
			}
			if req.AccessToken() != "t" {
				t.Errorf("access token lost")
			}
		})
	}
}

// TestDecodeSelections: selections is an order-select context field (an
// array of "Type/id"), refused there when it has another type; order-sign
// has no such field, and CRD STU 2.1 hooks.md says unrecognized context
// elements SHALL be ignored (conf6 t51).
func TestDecodeSelections(t *testing.T) {
	tests := []struct {
		name, hook, value string
		want              error
		selections        []string
	}{
		{"order-select array", HookOrderSelect, `["ServiceRequest/a"]`, nil, []string{"ServiceRequest/a"}},
		{"order-select null", HookOrderSelect, `null`, nil, nil},
		{"order-select string", HookOrderSelect, `"ServiceRequest/a"`, ErrInvalid, nil},
		{"order-select array of numbers", HookOrderSelect, `[1]`, ErrInvalid, nil},
		{"order-sign string", HookOrderSign, `"ServiceRequest/a"`, nil, nil},
		{"order-sign object", HookOrderSign, `{"a":1}`, nil, nil},
		{"order-sign array", HookOrderSign, `["ServiceRequest/a"]`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"hook":"` + tt.hook + `","hookInstance":"h1","context":{"patientId":"p","selections":` + tt.value +
				`,"draftOrders":{"resourceType":"Bundle","entry":[]}}}`
			req, err := Decode([]byte(body), tt.hook)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Decode() error = %v, want %v", err, tt.want)
			}
			if err == nil && !slices.Equal(req.Context.Selections, tt.selections) {
				t.Errorf("selections = %q, want %q", req.Context.Selections, tt.selections)
			}
		})
	}
}
