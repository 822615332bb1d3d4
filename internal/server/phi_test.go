package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// TestNoPHIAtRest runs every scenario (each with a FHIR access token and a
// client JWT header) and scans the database files and the logs for the
// fixtures' patient names, ids, birth dates and the tokens.
func TestNoPHIAtRest(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, func(c *Config) { c.Store = db })
	var secrets []string
	for _, sc := range scenarios(t) {
		var req map[string]any
		if err := json.Unmarshal(sc.body, &req); err != nil {
			t.Fatal(err)
		}
		token := "fhir-token-" + sc.name
		req["fhirAuthorization"] = map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 30, "scope": "user/*.read", "subject": "cds"}
		if _, ok := req["fhirServer"]; !ok {
			req["fhirServer"] = "http://127.0.0.1:9/fhir"
		}
		body, _ := json.Marshal(req)
		jwt := "eyJhbGciOiJFUzM4NCJ9.client-jwt-" + sc.name + ".sig"
		if rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", body, map[string]string{"Authorization": "Bearer " + jwt}); rec.Code != 200 {
			t.Errorf("%s: %d", sc.name, rec.Code)
		}
		secrets = append(secrets, token, "client-jwt-"+sc.name)
		ctx := req["context"].(map[string]any)
		secrets = append(secrets, `"`+ctx["patientId"].(string)+`"`, "Patient/"+ctx["patientId"].(string))
		if pf, ok := req["prefetch"].(map[string]any); ok {
			if p, ok := pf["patient"].(map[string]any); ok {
				if bd, ok := p["birthDate"].(string); ok {
					secrets = append(secrets, bd)
				}
				names, _ := p["name"].([]any)
				for _, n := range names {
					nm := n.(map[string]any)
					if f, ok := nm["family"].(string); ok && len(f) > 2 {
						secrets = append(secrets, f)
					}
					given, _ := nm["given"].([]any)
					for _, g := range given {
						if len(g.(string)) > 2 {
							secrets = append(secrets, g.(string))
						}
					}
				}
			}
		}
	}
	if len(secrets) < 40 {
		t.Fatalf("only %d secrets to look for: the fixtures should carry names and ids", len(secrets))
	}
	var rest []byte
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rest = append(rest, b...)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "hook_instance=") || len(rest) < 4096 {
		t.Fatalf("nothing to scan: %d bytes of database, logs %q", len(rest), logs[:min(200, len(logs))])
	}
	for _, secret := range secrets {
		if strings.Contains(string(rest), secret) {
			t.Errorf("the database holds %q", secret)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold %q", secret)
		}
	}
}
