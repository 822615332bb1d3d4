package fhir

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const naproxenCode = `{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7258","display":"naproxen"}]}`

func medRequestRef(id, ref string) string {
	return `{"resourceType":"MedicationRequest","id":"` + id + `","status":"active","intent":"order","subject":{"reference":"Patient/` + testPatient + `"},"authoredOn":"2026-04-01","medicationReference":{"reference":"` + ref + `"}}`
}

// TestLoadMedicationReferences: a Medication the prefetch Bundle includes
// (search mode include) and a contained one are kept with their orders; one
// that neither holds is fetched in one batched search on the fhirServer
// origin, with the call's token.
func TestLoadMedicationReferences(t *testing.T) {
	var medQueries []string
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		if typ != "Medication" {
			return nil
		}
		return func(w http.ResponseWriter, r *http.Request) {
			medQueries = append(medQueries, r.URL.RawQuery)
			w.Header().Set("Content-Type", "application/fhir+json")
			_, _ = w.Write([]byte(searchset(`{"resourceType":"Medication","id":"far","code":` + naproxenCode + `}`)))
		}
	})
	pf := allNull()
	included := `{"resourceType":"Bundle","type":"searchset","entry":[` +
		`{"resource":` + medRequestRef("a", "Medication/inc") + `,"search":{"mode":"match"}},` +
		`{"resource":{"resourceType":"Medication","id":"inc","code":` + naproxenCode + `},"search":{"mode":"include"}},` +
		`{"resource":` + strings.Replace(medRequestRef("b", "#c1"), `"status"`, `"contained":[{"resourceType":"Medication","id":"c1","code":`+naproxenCode+`}],"status"`, 1) + `},` +
		`{"resource":` + medRequestRef("c", "Medication/far") + `}]}`
	pf[string(SearchMedicationRequests)] = json.RawMessage(included)
	l, logs := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf, FHIRServer: srv.base(), AccessToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Skipped != 0 {
		t.Errorf("Skipped = %d: an included Medication is not an error", rec.Skipped)
	}
	if _, ok := rec.Medications["Medication/inc"]; !ok {
		t.Errorf("included Medication not kept: %v", rec.Medications)
	}
	if _, ok := rec.Medications["Medication/far"]; !ok {
		t.Errorf("Medication/far not fetched: %v", rec.Medications)
	}
	if len(rec.MedicationRequests) != 3 || len(rec.MedicationRequests[1].Contained) != 1 {
		t.Fatalf("requests %d, contained of b %d", len(rec.MedicationRequests), len(rec.MedicationRequests[1].Contained))
	}
	if len(medQueries) != 1 || medQueries[0] != "_id=far" {
		t.Errorf("Medication queries %q, want one for _id=far", medQueries)
	}
	for _, s := range srv.seen() {
		if s.Auth != "Bearer "+testToken {
			t.Errorf("request to %s without the call's token", s.Path)
		}
	}
	assertNoSecrets(t, logs.String())
}

// TestLoadMedicationDispensesOptional: dispenses are read when supplied; a
// missing key with no fhirServer is "not checked", never missing data.
func TestLoadMedicationDispensesOptional(t *testing.T) {
	pf := allNull()
	delete(pf, string(SearchMedicationDispenses))
	l, _ := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Complete() {
		t.Errorf("Unavailable %v: dispenses are optional", rec.Unavailable)
	}
	pf[string(SearchMedicationDispenses)] = json.RawMessage(searchset(`{"resourceType":"MedicationDispense","id":"d1","status":"completed","subject":{"reference":"Patient/` + testPatient + `"},"whenHandedOver":"2026-04-02","daysSupply":{"value":30,"code":"d"},"medicationCodeableConcept":` + naproxenCode + `}`))
	rec, err = l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.MedicationDispenses) != 1 || rec.MedicationDispenses[0].WhenHandedOver == nil {
		t.Errorf("dispenses %+v", rec.MedicationDispenses)
	}
}

// TestLoadUnreadableDescribed: an entry that fails to decode is described
// (type, id, display, date) for the answer, not only logged.
func TestLoadUnreadableDescribed(t *testing.T) {
	pf := allNull()
	pf[string(SearchMedicationRequests)] = json.RawMessage(searchset(`{"resourceType":"MedicationRequest","id":"bad","status":"active","intent":"order","category":{"text":"an object, not an array"},"subject":{"reference":"Patient/` + testPatient + `"},"authoredOn":"2022-07-28T10:00:00Z","medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"1","display":"Temazepam 15 MG Oral Capsule"}]}}`))
	l, _ := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Unreadable) != 1 {
		t.Fatalf("Unreadable = %+v", rec.Unreadable)
	}
	u := rec.Unreadable[0]
	if u.ResourceType != "MedicationRequest" || u.ID != "bad" || u.Display != "Temazepam 15 MG Oral Capsule" || u.Date != "2022-07-28" {
		t.Errorf("described as %+v", u)
	}
}
