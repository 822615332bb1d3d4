package server

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestPublishedExamples: requests published by HL7 Da Vinci CRD and the
// Argonaut PAMA project, none a lumbar MRI, get the documented answers.
func TestPublishedExamples(t *testing.T) {
	s := newTestServer(t, nil)
	tests := []struct {
		file, service string
		status        int
		body          string
	}{
		{"CRDServiceRequest.json", ServiceOrderSign, 200, `{"cards":[]}`},
		{"CRDServiceRequest2.json", ServiceOrderSign, 400, ""},
		{"scenario-01-outbound-request.json", ServiceOrderSelect, 200, `{"cards":[]}`},
		{"scenario-02-outbound-request.json", ServiceOrderSelect, 200, `{"cards":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "examples", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			rec := s.do(t, http.MethodPost, "/cds-services/"+tt.service, b, nil)
			if rec.Code != tt.status || (tt.body != "" && rec.Body.String() != tt.body) {
				t.Errorf("%d %s, want %d %s", rec.Code, rec.Body, tt.status, tt.body)
			}
		})
	}
}
