package server

import (
	"net/http"
	"strings"
	"testing"
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
