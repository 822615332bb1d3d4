package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
)

// TestDraftOrderForAnotherPatient: a lumbar MRI order whose subject names
// another patient than context.patientId is refused with 400, never
// assessed against this patient's chart; the order's own patient passes.
func TestDraftOrderForAnotherPatient(t *testing.T) {
	s := newTestServer(t, nil)
	setSubject := func(ref string) []byte {
		return minimal(t, func(r map[string]any) {
			entries := r["context"].(map[string]any)["draftOrders"].(map[string]any)["entry"].([]any)
			entries[0].(map[string]any)["resource"].(map[string]any)["subject"] = map[string]any{"reference": ref}
		})
	}
	rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", setSubject("Patient/zzz"), nil)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "another patient") {
		t.Errorf("order for another patient: %d %s, want 400 naming the mismatch", rec.Code, rec.Body)
	}
	rec = s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", setSubject("Patient/p1"), nil)
	if rec.Code != http.StatusOK {
		t.Errorf("order for the patient in context: %d %s", rec.Code, rec.Body)
	}
}

// TestOrderCountBounds: a call may ask for at most MaxLumbarOrders lumbar MRI
// assessments and hold at most fhir.MaxDraftOrders draft orders; past either
// it gets 400 saying so, at once, instead of seconds of work and a
// megabytes-long answer. At the bounds it is answered.
func TestOrderCountBounds(t *testing.T) {
	s := newTestServer(t, nil)
	withOrders := func(lumbar, other int) []byte {
		return minimal(t, func(r map[string]any) {
			bundle := r["context"].(map[string]any)["draftOrders"].(map[string]any)
			first := bundle["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
			var entries []any
			for i := range lumbar {
				o := map[string]any{}
				for k, v := range first {
					o[k] = v
				}
				o["id"] = fmt.Sprintf("mri-%d", i)
				entries = append(entries, map[string]any{"resource": o})
			}
			for i := range other {
				entries = append(entries, map[string]any{"resource": map[string]any{
					"resourceType": "ServiceRequest", "id": fmt.Sprintf("cbc-%d", i), "status": "draft", "intent": "order",
					"code":    map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "58410-2"}}},
					"subject": map[string]any{"reference": "Patient/p1"}}})
			}
			bundle["entry"] = entries
		})
	}
	cases := []struct {
		name          string
		lumbar, other int
		status        int
		says          string
	}{
		{"lumbar orders at the bound", MaxLumbarOrders, 0, http.StatusOK, ""},
		{"one lumbar order too many", MaxLumbarOrders + 1, 0, http.StatusBadRequest, fmt.Sprintf("more than %d lumbar spine MRI orders", MaxLumbarOrders)},
		{"draft orders at the bound", 1, fhir.MaxDraftOrders - 1, http.StatusOK, ""},
		{"one draft order too many", 1, fhir.MaxDraftOrders, http.StatusBadRequest, fmt.Sprintf("more than the %d one call may hold", fhir.MaxDraftOrders)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", withOrders(c.lumbar, c.other), nil)
			if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.says) {
				t.Fatalf("%d lumbar and %d other orders: %d %.300s, want %d saying %q", c.lumbar, c.other, rec.Code, rec.Body, c.status, c.says)
			}
			if c.status == http.StatusOK {
				var resp struct {
					SystemActions []any `json:"systemActions"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.SystemActions) != c.lumbar {
					t.Errorf("%d systemActions (%v), want one per lumbar order (%d)", len(resp.SystemActions), err, c.lumbar)
				}
			}
		})
	}
}

// TestInvalidLumbarOrder: a lumbar MRI order that is not valid FHIR R4 (an
// unknown status or priority code, a number for authoredOn) or whose
// authoredOn is not a date is refused with 400 naming the member, never
// answered as if no lumbar MRI were ordered nor assessed as of today. An
// invalid order of another kind beside a valid lumbar MRI order does not
// stop the call.
func TestInvalidLumbarOrder(t *testing.T) {
	s := newTestServer(t, nil)
	withOrder := func(set func(o map[string]any)) []byte {
		return minimal(t, func(r map[string]any) {
			entries := r["context"].(map[string]any)["draftOrders"].(map[string]any)["entry"].([]any)
			set(entries[0].(map[string]any)["resource"].(map[string]any))
		})
	}
	cases := []struct {
		name   string
		set    func(o map[string]any)
		status int
		says   string
	}{
		{"priority not an R4 code", func(o map[string]any) { o["priority"] = "STAT" }, http.StatusBadRequest, "/priority"},
		{"status not an R4 code", func(o map[string]any) { o["status"] = "Draft" }, http.StatusBadRequest, "/status"},
		{"authoredOn a number", func(o map[string]any) { o["authoredOn"] = 553 }, http.StatusBadRequest, "/authoredOn"},
		{"authoredOn not a date", func(o map[string]any) { o["authoredOn"] = "2026-13-45" }, http.StatusBadRequest, "is not a FHIR dateTime"},
		{"authoredOn month precision", func(o map[string]any) { o["authoredOn"] = "2026-06" }, http.StatusOK, ""},
		// testNow is 2026-06-15: years ahead is refused, within a year assessed.
		{"authoredOn years ahead", func(o map[string]any) { o["authoredOn"] = "2031-01-01" }, http.StatusBadRequest, "more than a year after today"},
		{"authoredOn 9999", func(o map[string]any) { o["authoredOn"] = "9999-12-31" }, http.StatusBadRequest, "more than a year after today"},
		{"authoredOn next month", func(o map[string]any) { o["authoredOn"] = "2026-07-18" }, http.StatusOK, ""},
		// An order that asks for nothing to be done gets no cards.
		{"doNotPerform", func(o map[string]any) { o["doNotPerform"] = true }, http.StatusOK, `"cards":[]`},
		{"revoked", func(o map[string]any) { o["status"] = "revoked" }, http.StatusOK, `"cards":[]`},
		{"entered in error", func(o map[string]any) { o["status"] = "entered-in-error" }, http.StatusOK, `"cards":[]`},
		{"doNotPerform false", func(o map[string]any) { o["doNotPerform"] = false }, http.StatusOK, `"indicator"`},
		// CPT named by its OID (FHIR R4 namingsystem-terminologies) is CPT.
		{"CPT by OID", func(o map[string]any) {
			o["code"] = map[string]any{"coding": []any{map[string]any{"system": "urn:oid:2.16.840.1.113883.6.12", "code": "72148"}}}
		}, http.StatusOK, `"indicator"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", withOrder(c.set), nil)
			if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.says) {
				t.Fatalf("%d %.300s, want %d saying %q", rec.Code, rec.Body, c.status, c.says)
			}
		})
	}
	// An invalid order that is not a lumbar MRI (a lab order with an
	// unknown status) beside a valid lumbar MRI order: answered.
	body := minimal(t, func(r map[string]any) {
		bundle := r["context"].(map[string]any)["draftOrders"].(map[string]any)
		bundle["entry"] = append(bundle["entry"].([]any), map[string]any{"resource": map[string]any{
			"resourceType": "ServiceRequest", "id": "cbc", "status": "Draft", "intent": "order",
			"code": map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "58410-2"}}}}})
	})
	rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", body, nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "coverage-information") {
		t.Errorf("invalid lab order beside a lumbar MRI: %d %.300s, want 200 with the MRI assessed", rec.Code, rec.Body)
	}
}
