package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
)

// FuzzOrderSign: no body sent to the order-sign service, however broken or
// hostile, gets a 5xx answer or a body that is not JSON; the audit store is
// the real one.
func FuzzOrderSign(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "scenarios", "*.json"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(minimalRequest))
	f.Add([]byte(`{"hook":"order-sign","hookInstance":"h","context":{"patientId":"p1","draftOrders":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ServiceRequest","status":"draft","intent":"order","code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"72148"}]}}}]}},"prefetch":{"patient":null,"coverage":{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Coverage","status":"active","order":-1}},{"resource":{"resourceType":"Coverage","status":"active"}}]}}}`))
	f.Add([]byte(`{"hook":"order-sign","hookInstance":"h","fhirServer":"http://127.0.0.1:1/fhir","fhirAuthorization":{"access_token":"t"},"context":{"patientId":"p1","draftOrders":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ServiceRequest","code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"72148"}]}}}]}}}`))
	f.Add([]byte(`{"hook":"order-sign","extension":{"davinci-crd.configuration":{"max-cards":-1,"alternatives":"no"}}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"hook":`))
	ts := newTestServer(f, func(cfg *Config) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		cfg.Logger = log
		cfg.Pipeline.Loader = fhir.NewLoader(fhir.LoaderConfig{Timeout: 200 * time.Millisecond}, log)
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := ts.do(t, http.MethodPost, "/cds-services/"+ServiceOrderSign, body, nil)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, rec.Body)
		}
	})
}
