package hooks

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode: any body either decodes into a valid request or fails with
// ErrMalformed or ErrInvalid; it never panics.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "scenarios", "*.json"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"hook":"order-sign","hookInstance":"h","context":{"patientId":"p","draftOrders":{"resourceType":"Bundle"}}}`))
	f.Add([]byte(`{"hook":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Decode(body, HookOrderSign)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if req.Hook != HookOrderSign || req.HookInstance == "" || req.Context.PatientID == "" {
			t.Fatalf("accepted an invalid request: %+v", req)
		}
	})
}
