package hooks

import (
	"errors"
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
