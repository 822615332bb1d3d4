package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
)

// TestLoadMalformedEntriesUnreadable: a prefetch entry whose id or patient
// reference has the wrong JSON type, whose resourceType is missing or not an
// R4 type, or which is not an object at all is named among the unreadable
// entries like one whose code has the wrong type (issue 13: nothing dropped
// in silence). A valid R4 type the search does not read is still only
// skipped, and an entry whose readable reference names another patient is
// still dropped as such.
func TestLoadMalformedEntriesUnreadable(t *testing.T) {
	subj := `"subject":{"reference":"Patient/` + testPatient + `"}`
	code := `"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"G83.4","display":"Cauda equina syndrome"}]}`
	tests := []struct {
		name         string
		entry        string
		want         []Unreadable
		otherPatient map[string]int
		skipped      int // beyond the unreadable entries
	}{
		{
			name:  "id is a number",
			entry: `{"resourceType":"Condition","id":5,` + subj + `,` + code + `,"onsetDateTime":"2026-05-01"}`,
			want:  []Unreadable{{ResourceType: "Condition", Display: "Cauda equina syndrome", Date: "2026-05-01", Reason: "a member has the wrong JSON type"}},
		},
		{
			name:  "subject is a number",
			entry: `{"resourceType":"Condition","id":"c1","subject":5,` + code + `}`,
			want:  []Unreadable{{ResourceType: "Condition", ID: "c1", Display: "Cauda equina syndrome", Reason: "a member has the wrong JSON type"}},
		},
		{
			name:  "subject reference is a number",
			entry: `{"resourceType":"Condition","id":"c1","subject":{"reference":5},` + code + `}`,
			want:  []Unreadable{{ResourceType: "Condition", ID: "c1", Display: "Cauda equina syndrome", Reason: "a member has the wrong JSON type"}},
		},
		{
			name:  "code has the wrong type",
			entry: `{"resourceType":"Condition","id":"c1",` + subj + `,"code":5}`,
			want:  []Unreadable{{ResourceType: "Condition", ID: "c1", Reason: "the entry is not valid FHIR R4"}},
		},
		{
			name:  "unknown resourceType",
			entry: `{"resourceType":"FooBar","id":"f1",` + subj + `,` + code + `}`,
			want:  []Unreadable{{ResourceType: "FooBar", ID: "f1", Display: "Cauda equina syndrome", Reason: "the resource type is not a FHIR R4 type"}},
		},
		{
			name:  "no resourceType",
			entry: `{"id":"f1",` + subj + `,` + code + `}`,
			want:  []Unreadable{{ID: "f1", Display: "Cauda equina syndrome", Reason: "the entry has no resourceType"}},
		},
		{
			name:  "resourceType is a number",
			entry: `{"resourceType":7,"id":"f1",` + subj + `}`,
			want:  []Unreadable{{ID: "f1", Reason: "the entry has no resourceType"}},
		},
		{
			name:  "not an object",
			entry: `"Condition/c1"`,
			want:  []Unreadable{{Reason: "the entry is not a JSON object"}},
		},
		{
			name:         "wrong id type, another patient",
			entry:        `{"resourceType":"Condition","id":5,"subject":{"reference":"Patient/someone-else"},` + code + `}`,
			otherPatient: map[string]int{"Condition": 1},
		},
		{
			name:         "unknown type, another patient",
			entry:        `{"resourceType":"FooBar","id":"f1","subject":{"reference":"Patient/someone-else"}}`,
			otherPatient: map[string]int{"FooBar": 1},
		},
		{
			name:    "an R4 type the search does not read",
			entry:   `{"resourceType":"Encounter","id":"e1",` + subj + `}`,
			skipped: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pf := allNull()
			pf[string(SearchConditions)] = json.RawMessage(searchset(tt.entry))
			l, sink := newTestLoader(LoaderConfig{})
			rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
			if err != nil {
				t.Fatal(err)
			}
			for i := range rec.Unreadable {
				// The decoder's own message follows in parentheses.
				rec.Unreadable[i].Reason, _, _ = strings.Cut(rec.Unreadable[i].Reason, " (")
			}
			if diff := cmp.Diff(rec.Unreadable, tt.want); diff != "" {
				t.Errorf("Unreadable (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(rec.OtherPatient, tt.otherPatient); diff != "" {
				t.Errorf("OtherPatient (-got +want):\n%s", diff)
			}
			if rec.Skipped != len(tt.want)+tt.skipped {
				t.Errorf("Skipped = %d, want %d", rec.Skipped, len(tt.want)+tt.skipped)
			}
			assertNoSecrets(t, sink.String())
		})
	}
}

// TestLoadShortfalls: a search that arrived over a cap, or that the FHIR
// server failed, says so in Record.Shortfalls, so that the answer does not
// say the data did not arrive (or that no notes were sent); one simply not
// sent has no shortfall.
func TestLoadShortfalls(t *testing.T) {
	three := json.RawMessage(searchset(condition("c1", "Patient/"+testPatient), condition("c2", "Patient/"+testPatient), condition("c3", "Patient/"+testPatient)))
	notFound := func(typ string) http.HandlerFunc {
		if typ != "DocumentReference" {
			return nil
		}
		return func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "not found", http.StatusNotFound) }
	}
	tests := []struct {
		name     string
		cfg      LoaderConfig
		prefetch func(map[string]json.RawMessage)
		server   func(string) http.HandlerFunc
		want     map[Search]Shortfall
		unavail  []Search
	}{
		{
			name:     "prefetch over the per-search cap",
			cfg:      LoaderConfig{MaxResources: 2},
			prefetch: func(pf map[string]json.RawMessage) { pf[string(SearchConditions)] = three },
			want:     map[Search]Shortfall{SearchConditions: {Limit: 2}},
			unavail:  []Search{SearchConditions},
		},
		{
			name:     "over the per-call cap",
			cfg:      LoaderConfig{MaxCallResources: 2},
			prefetch: func(pf map[string]json.RawMessage) { pf[string(SearchConditions)] = three },
			want:     map[Search]Shortfall{SearchConditions: {Limit: 2, Call: true}},
			unavail:  []Search{SearchConditions},
		},
		{
			name:     "not sent",
			prefetch: func(pf map[string]json.RawMessage) { delete(pf, string(SearchConditions)) },
			unavail:  []Search{SearchConditions},
		},
		{
			name:     "note search failed",
			prefetch: func(pf map[string]json.RawMessage) { delete(pf, string(SearchDocumentReferences)) },
			server:   notFound,
			want:     map[Search]Shortfall{SearchDocumentReferences: {Failed: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pf := allNull()
			tt.prefetch(pf)
			in := LoadInput{PatientID: testPatient, Prefetch: pf}
			if tt.server != nil {
				in.FHIRServer = newRecorder(t, tt.server).base()
			}
			l, _ := newTestLoader(tt.cfg)
			rec, err := l.Load(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(rec.Shortfalls, tt.want); diff != "" {
				t.Errorf("Shortfalls (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(rec.Unavailable, tt.unavail); diff != "" {
				t.Errorf("Unavailable (-got +want):\n%s", diff)
			}
		})
	}
}

// TestReferenceType: the resource type of literal references, which tells
// a subject that is not a Patient (a Group, a Device) from the patient.
func TestReferenceType(t *testing.T) {
	for ref, want := range map[string]string{
		"Patient/p1":                         "Patient",
		"Group/lbp-06":                       "Group",
		"https://ehr.example/fhir/Device/d1": "Device",
		"https://ehr.example/fhir/Patient/p1/_history/2": "Patient",
		"#p1": "",
		"urn:uuid:5d6d3c2e-0d4c-4b8e-9a55-2f1d0c8a7b61": "",
		"":           "",
		"Patient/":   "",
		"patient/p1": "",
	} {
		if got := chart.ReferenceType(ref); got != want {
			t.Errorf("ReferenceType(%q) = %q, want %q", ref, got, want)
		}
	}
}

// TestDraftOrdersEntryNotAResource: a draft order whose resource is not a
// JSON object is a malformed request (400), not an order left out (which
// would answer as if the MRI had not been ordered); an entry without a
// resource is left out.
func TestDraftOrdersEntryNotAResource(t *testing.T) {
	for _, bad := range []string{`5`, `"x"`, `[]`, `{"resourceType": 5}`} {
		raw := json.RawMessage(`{"resourceType":"Bundle","entry":[{"resource":` + bad + `}]}`)
		if _, err := DraftOrders(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("resource %s: err = %v, want ErrMalformed", bad, err)
		}
	}
	d, err := DraftOrders(json.RawMessage(`{"resourceType":"Bundle","entry":[{"resource":null},{},{"resource":{"resourceType":"ServiceRequest","id":"sr"}}]}`))
	if err != nil || len(d) != 1 || d[0].Index != 2 || d[0].ID != "sr" {
		t.Errorf("DraftOrders = %+v, %v; want the one order at index 2", d, err)
	}
}

// TestLoadQuotedDecimalUnreadable: a FHIR decimal written as a JSON string
// ("value": "42") is a member of the wrong JSON type like any other, so the
// entry is named as unreadable rather than read (encoding/json would read
// "42" as 42 and count the supply in full). A decimal written as a number,
// or null, reads as before.
func TestLoadQuotedDecimalUnreadable(t *testing.T) {
	subj := `"subject":{"reference":"Patient/` + testPatient + `"}`
	med := `"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7258","display":"naproxen 500 MG Oral Tablet"}]}`
	wrong := []Unreadable{{ResourceType: "MedicationRequest", ID: "m1", Display: "naproxen 500 MG Oral Tablet", Date: "2026-04-27", Reason: "a member has the wrong JSON type"}}
	request := func(value string) string {
		return `{"resourceType":"MedicationRequest","id":"m1","status":"completed","intent":"order",` + subj + `,` + med +
			`,"authoredOn":"2026-04-27","dispenseRequest":{"expectedSupplyDuration":{"value":` + value + `,"unit":"days","system":"http://unitsofmeasure.org","code":"d"}}}`
	}
	tests := []struct {
		name   string
		search Search
		entry  string
		want   []Unreadable
		read   int // entries read into the Record
	}{
		{"supply duration as a string", SearchMedicationRequests, request(`"42"`), wrong, 0},
		{"supply duration as a number", SearchMedicationRequests, request(`42`), nil, 1},
		{"supply duration null", SearchMedicationRequests, request(`null`), nil, 1},
		{"temperature as a string", SearchObservations,
			`{"resourceType":"Observation","id":"o1","status":"final",` + subj + `,"code":{"coding":[{"system":"http://loinc.org","code":"8310-5","display":"Body temperature"}]},"effectiveDateTime":"2026-06-10","valueQuantity":{"value":"38.4","code":"Cel"}}`,
			[]Unreadable{{ResourceType: "Observation", ID: "o1", Display: "Body temperature", Date: "2026-06-10", Reason: "a member has the wrong JSON type"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pf := allNull()
			pf[string(tt.search)] = json.RawMessage(searchset(tt.entry))
			l, _ := newTestLoader(LoaderConfig{})
			rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(rec.Unreadable, tt.want); diff != "" {
				t.Errorf("Unreadable (-got +want):\n%s", diff)
			}
			if got := len(rec.MedicationRequests) + len(rec.Observations); got != tt.read {
				t.Errorf("%d entries read, want %d", got, tt.read)
			}
		})
	}
}

// TestUnreadableNoteNamedWithItsDate: a DocumentReference that is not valid
// R4 (a docStatus that is not a composition status) is named with its type
// and date, not as an undated entry.
func TestUnreadableNoteNamedWithItsDate(t *testing.T) {
	pf := allNull()
	pf[string(SearchDocumentReferences)] = json.RawMessage(searchset(`{"resourceType":"DocumentReference","id":"n1","status":"current","docStatus":"registered",` +
		`"subject":{"reference":"Patient/` + testPatient + `"},"type":{"text":"Progress note"},"date":"2026-06-14T09:00:00Z",` +
		`"content":[{"attachment":{"contentType":"text/plain","data":"eA=="}}]}`))
	l, _ := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Unreadable) != 1 || rec.Unreadable[0].Date != "2026-06-14" || rec.Unreadable[0].Display != "Progress note" {
		t.Errorf("unreadable %+v, want the note named Progress note, 2026-06-14", rec.Unreadable)
	}
}
