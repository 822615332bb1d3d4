package fhir

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// both decodes raw with samply's encoding/json function and with unmarshal;
// it reports a difference in the outcome or the value.
func both[T any](t *testing.T, raw []byte, samply func([]byte) (T, error)) {
	t.Helper()
	want, werr := samply(raw)
	got, gerr := unmarshal[T](raw)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("encoding/json error %v, v2 error %v for %s", werr, gerr, raw)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("the decoders disagree on %s:\nencoding/json %+v\nv2            %+v", raw, want, got)
	}
}

func checkAll(t *testing.T, raw []byte) {
	both(t, raw, r4.UnmarshalPatient)
	both(t, raw, r4.UnmarshalCoverage)
	both(t, raw, r4.UnmarshalCondition)
	both(t, raw, r4.UnmarshalObservation)
	both(t, raw, r4.UnmarshalProcedure)
	both(t, raw, r4.UnmarshalMedicationRequest)
	both(t, raw, r4.UnmarshalMedicationStatement)
	both(t, raw, r4.UnmarshalImagingStudy)
	both(t, raw, r4.UnmarshalDiagnosticReport)
}

// scenarioResources returns every prefetch resource of the scenario fixtures.
func scenarioResources(t testing.TB) [][]byte {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "scenarios", "*.json"))
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var req struct {
			Prefetch map[string]json.RawMessage `json:"prefetch"`
		}
		if json.Unmarshal(b, &req) != nil {
			continue
		}
		for _, v := range req.Prefetch {
			var bundle struct {
				ResourceType string `json:"resourceType"`
				Entry        []struct {
					Resource json.RawMessage `json:"resource"`
				} `json:"entry"`
			}
			if json.Unmarshal(v, &bundle) != nil {
				continue
			}
			if bundle.ResourceType != "Bundle" {
				out = append(out, v)
			}
			for _, e := range bundle.Entry {
				out = append(out, e.Resource)
			}
		}
	}
	return out
}

func TestUnmarshalAgreesOnTheFixtures(t *testing.T) {
	rs := scenarioResources(t)
	if len(rs) < 400 {
		t.Fatalf("only %d fixture resources", len(rs))
	}
	for _, raw := range rs {
		checkAll(t, raw)
	}
	for _, raw := range []string{
		`{"resourceType":"Observation","status":"final","valueQuantity":{"value":37.10}}`,
		`{"resourceType":"Observation","status":"final","valueQuantity":{"value":"37.10"}}`,
		`{"resourceType":"Observation","status":"final","valueQuantity":{"value":null}}`,
		`{"resourceType":"Observation","status":"weird"}`,
		`{"resourceType":"Condition","code":{"text":"a"},"code":{"text":"b"}}`,
		`{"resourceType":"Condition","Code":{"text":"case"}}`,
		`{"resourceType":"Patient","identifier":[{"us-e":"usual","value":"x"}],"birth_date":"1980"}`,
		`{"resourceType":"Procedure","status":"completed","performedDateTime":7}`,
		`{"resourceType":"Patient","name":[{"given":["\xff\xfe"]}]}`,
	} {
		checkAll(t, []byte(raw))
	}
}

// FuzzUnmarshal: for any input the v2 decoding of a samply model agrees
// with samply's encoding/json decoding.
func FuzzUnmarshal(f *testing.F) {
	for _, raw := range scenarioResources(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // the decoder only ever sees values encoding/json accepted
		}
		checkAll(t, raw)
	})
}
