package fhir

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/fhirtest"
)

// scenarioRequest is a small order-sign call whose prefetch covers every
// search: what the EHR would send when it prefetches everything.
const scenarioRequest = `{
  "hook": "order-sign",
  "hookInstance": "5a6bd6e2-2b6b-4d4d-9f46-6f7c2d1c0e11",
  "context": {
    "patientId": "lbp-001",
    "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [
      {"resource": {"resourceType": "ServiceRequest", "id": "mri-1", "status": "draft", "intent": "order",
        "subject": {"reference": "Patient/lbp-001"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "72148"}]}}}
    ]}
  },
  "prefetch": {
    "patient": {"resourceType": "Patient", "id": "lbp-001", "gender": "female", "birthDate": "1971-04-02"},
    "coverage": {"resourceType": "Bundle", "type": "searchset", "entry": [
      {"resource": {"resourceType": "Coverage", "id": "cov-1", "status": "active",
        "beneficiary": {"reference": "Patient/lbp-001"}, "payor": [{"display": "Example Health"}], "order": 1}}
    ]},
    "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [
      {"resource": {"resourceType": "Condition", "id": "cond-lbp", "subject": {"reference": "Patient/lbp-001"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.16"}]},
        "onsetDateTime": "2026-08-01"}},
      {"resource": {"resourceType": "Condition", "id": "cond-other", "subject": {"reference": "Patient/someone-else"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C79.51"}]}}}
    ]},
    "observations": {"resourceType": "Bundle", "type": "searchset", "entry": [
      {"resource": {"resourceType": "Observation", "id": "temp-1", "status": "final", "subject": {"reference": "Patient/lbp-001"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]}, "effectiveDateTime": "2026-09-20",
        "valueQuantity": {"value": 37.10, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"}}},
      {"resource": {"resourceType": "Observation", "id": "no-status", "subject": {"reference": "Patient/lbp-001"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}], "text": "temperature, no status"}, "valueQuantity": {"value": 37.2, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"}}}
    ]},
    "procedures": {"resourceType": "Bundle", "type": "searchset", "entry": [
      {"resource": {"resourceType": "Procedure", "id": "pt-1", "status": "completed", "subject": {"reference": "Patient/lbp-001"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97110"}]},
        "performedPeriod": {"start": "2026-08-05", "end": "2026-09-25"}}}
    ]},
    "medicationRequests": {"resourceType": "Bundle", "type": "searchset", "entry": [
      {"resource": {"resourceType": "MedicationRequest", "id": "nsaid-1", "status": "completed", "intent": "order",
        "subject": {"reference": "Patient/lbp-001"}, "authoredOn": "2026-08-02",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "5640"}], "text": "ibuprofen"}}}
    ]},
    "medicationStatements": null,
    "imagingStudies": {"resourceType": "Bundle", "type": "searchset", "entry": [
      {"resource": {"resourceType": "ImagingStudy", "id": "xr-1", "status": "available", "subject": {"reference": "Patient/lbp-001"},
        "started": "2026-08-03", "series": [{"uid": "1.2.3", "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "DX"}}]}}
    ]},
    "diagnosticReports": {"resourceType": "Bundle", "type": "searchset", "entry": []},
    "documentReferences": {"resourceType": "Bundle", "type": "searchset", "entry": [
      {"resource": {"resourceType": "DocumentReference", "id": "note-1", "status": "current", "subject": {"reference": "Patient/lbp-001"},
        "date": "2026-08-03T10:00:00Z", "content": [{"attachment": {"contentType": "text/plain", "data": "UFQgdHdpY2Ugd2Vla2x5IHNpbmNlIEFwcmlsLg=="}}]}}
    ]}
  }
}`

// TestLoadFromRealServerMatchesPrefetch seeds the scenario into the node FHIR
// server and loads it with no prefetch: the Record must equal the one decoded
// from the prefetch, apart from server metadata and the counters.
func TestLoadFromRealServerMatchesPrefetch(t *testing.T) {
	srv := fhirtest.Start(t)
	l, logs := newTestLoader(LoaderConfig{})
	c, err := l.Client(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Seed(context.Background(), c, json.RawMessage(scenarioRequest))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %v", sum.Resources)
	if sum.Total != 10 {
		t.Errorf("seeded %d resources, want 10", sum.Total)
	}

	var req struct {
		Context struct {
			PatientID string `json:"patientId"`
		} `json:"context"`
		Prefetch map[string]json.RawMessage `json:"prefetch"`
	}
	if err := json.Unmarshal([]byte(scenarioRequest), &req); err != nil {
		t.Fatal(err)
	}
	want, err := l.Load(context.Background(), LoadInput{PatientID: req.Context.PatientID, Prefetch: req.Prefetch})
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Load(context.Background(), LoadInput{PatientID: req.Context.PatientID, FHIRServer: srv.URL, AccessToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if got.Queries != len(Searches) || want.Queries != 0 {
		t.Errorf("Queries: server %d (want %d), prefetch %d (want 0)", got.Queries, len(Searches), want.Queries)
	}
	if want.Dropped != 1 || got.Dropped != 0 {
		t.Errorf("Dropped: prefetch %d (want 1), server %d (want 0: the server filters by patient)", want.Dropped, got.Dropped)
	}
	ignore := cmp.FilterPath(func(p cmp.Path) bool {
		sf, ok := p.Last().(cmp.StructField)
		if !ok {
			return false
		}
		switch sf.Name() {
		case "Meta", "Queries", "Dropped", "OtherPatient":
			return true
		}
		return false
	}, cmp.Ignore())
	// A JavaScript server stores decimals as numbers: 37.10 comes back as
	// 37.1. Same value, so compare decimals by value.
	decimals := cmp.Comparer(func(a, b json.Number) bool {
		fa, errA := a.Float64()
		fb, errB := b.Float64()
		return errA == nil && errB == nil && fa == fb
	})
	if len(got.Notes.List) != 1 || got.Notes.List[0].Text != "PT twice weekly since April." || !got.Notes.Checked {
		t.Errorf("note from the server: %+v", got.Notes)
	}
	if diff := cmp.Diff(got, want, ignore, decimals); diff != "" {
		t.Errorf("Record from the server differs from the prefetch one (-server +prefetch):\n%s", diff)
	}
	if len(got.Conditions) != 1 || len(got.Observations) != 2 || got.Patient == nil || len(got.Coverages) != 1 || !got.Complete() {
		t.Errorf("server Record incomplete: %d conditions, %d observations, patient %v, %d coverages, unavailable %v",
			len(got.Conditions), len(got.Observations), got.Patient != nil, len(got.Coverages), got.Unavailable)
	}

	// Seeding again changes nothing.
	if _, err := Seed(context.Background(), c, json.RawMessage(scenarioRequest)); err != nil {
		t.Fatal(err)
	}
	again, err := l.Load(context.Background(), LoadInput{PatientID: req.Context.PatientID, FHIRServer: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(again, got, ignore, decimals); diff != "" {
		t.Errorf("after a second Seed (-again +first):\n%s", diff)
	}
	assertNoSecrets(t, logs.String())
}
