package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

func conditionIDs(rec *Record) []string {
	return ids(rec.Conditions, func(c chart.Condition) *string { return c.Id })
}

// TestLoadPrefetchConditions varies the conditions prefetch value; the FHIR
// server, when given, answers Condition searches with "from-server".
func TestLoadPrefetchConditions(t *testing.T) {
	mine := "Patient/" + testPatient
	tests := []struct {
		name        string
		value       string // "" = key missing
		withServer  bool
		wantIDs     []string
		wantQueries int
		wantUnavail []Search
	}{
		{name: "resource", value: condition("c1", mine), withServer: true, wantIDs: []string{"c1"}},
		{name: "searchset", value: searchset(condition("c1", mine), condition("c2", mine)), withServer: true, wantIDs: []string{"c1", "c2"}},
		{name: "collection", value: bundleOf("collection", "", condition("c1", mine)), withServer: true, wantIDs: []string{"c1"}},
		{name: "empty searchset", value: searchset(), withServer: true, wantIDs: []string{}},
		{name: "null", value: "null", withServer: true, wantIDs: []string{}},
		{name: "null no server", value: "null", wantIDs: []string{}},
		{name: "missing", withServer: true, wantIDs: []string{"from-server"}, wantQueries: 1},
		{name: "missing no server", wantIDs: []string{}, wantUnavail: []Search{SearchConditions}},
		{name: "OperationOutcome", value: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"timeout"}]}`, withServer: true, wantIDs: []string{"from-server"}, wantQueries: 1},
		{name: "OperationOutcome no server", value: `{"resourceType":"OperationOutcome","issue":[]}`, wantIDs: []string{}, wantUnavail: []Search{SearchConditions}},
		{name: "wrong type", value: `{"resourceType":"Observation","id":"o1","status":"final","code":{}}`, withServer: true, wantIDs: []string{"from-server"}, wantQueries: 1},
		{name: "transaction Bundle", value: bundleOf("transaction", "", condition("c1", mine)), withServer: true, wantIDs: []string{"from-server"}, wantQueries: 1},
		{name: "array", value: `[` + condition("c1", mine) + `]`, withServer: true, wantIDs: []string{"from-server"}, wantQueries: 1},
		{name: "string", value: `"Condition/c1"`, withServer: true, wantIDs: []string{"from-server"}, wantQueries: 1},
		{name: "number no server", value: `42`, wantIDs: []string{}, wantUnavail: []Search{SearchConditions}},
	}
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		if typ == "Condition" {
			return bundleHandler(typ, condition("from-server", "Patient/"+testPatient))
		}
		return nil
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, logs := newTestLoader(LoaderConfig{})
			pf := allNull()
			delete(pf, string(SearchConditions))
			if tc.value != "" {
				pf[string(SearchConditions)] = json.RawMessage(tc.value)
			}
			in := LoadInput{PatientID: testPatient, Prefetch: pf, AccessToken: testToken}
			if tc.withServer {
				in.FHIRServer = srv.base()
			}
			rec, err := l.Load(context.Background(), in)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(conditionIDs(rec), tc.wantIDs); diff != "" {
				t.Errorf("condition ids (-got +want):\n%s", diff)
			}
			if rec.Queries != tc.wantQueries {
				t.Errorf("Queries = %d, want %d", rec.Queries, tc.wantQueries)
			}
			if diff := cmp.Diff(rec.Unavailable, tc.wantUnavail); diff != "" {
				t.Errorf("Unavailable (-got +want):\n%s", diff)
			}
			assertNoSecrets(t, logs.String())
		})
	}
}

func TestLoadDropsOtherPatients(t *testing.T) {
	pf := allNull()
	pf["patient"] = json.RawMessage(`{"resourceType":"Patient","id":"someone-else"}`)
	pf["conditions"] = json.RawMessage(searchset(
		condition("mine-relative", "Patient/"+testPatient),
		condition("mine-absolute", "https://ehr.example.org/fhir/Patient/"+testPatient),
		condition("mine-versioned", "Patient/"+testPatient+"/_history/3"),
		condition("other-relative", "Patient/other"),
		condition("other-absolute", "https://ehr.example.org/fhir/Patient/other"),
		condition("group", "Group/g1"),
		condition("suffix-trap", "Patient/x"+testPatient),
	))
	pf["coverage"] = json.RawMessage(searchset(
		`{"resourceType":"Coverage","id":"cov-mine","status":"active","beneficiary":{"reference":"Patient/`+testPatient+`"},"payor":[{"display":"P"}]}`,
		`{"resourceType":"Coverage","id":"cov-other","status":"active","beneficiary":{"reference":"Patient/other"},"payor":[{"display":"P"}]}`,
	))
	pf["medicationRequests"] = json.RawMessage(searchset(
		`{"resourceType":"MedicationRequest","id":"mr-other","status":"active","intent":"order","subject":{"reference":"Patient/other"},"medicationCodeableConcept":{"text":"x"}}`,
	))
	pf["imagingStudies"] = json.RawMessage(searchset(
		`{"resourceType":"ImagingStudy","id":"is-other","status":"available","subject":{"reference":"Patient/other"}}`,
		`{"resourceType":"ImagingStudy","id":"is-mine","status":"available","subject":{"reference":"Patient/`+testPatient+`"}}`,
	))
	l, logs := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Patient != nil {
		t.Errorf("Patient of another id kept")
	}
	// A Group subject is not this patient's record (dropped like another
	// patient's).
	if diff := cmp.Diff(conditionIDs(rec), []string{"mine-relative", "mine-absolute", "mine-versioned"}); diff != "" {
		t.Errorf("conditions (-got +want):\n%s", diff)
	}
	if got := ids(rec.Coverages, func(c r4.Coverage) *string { return c.Id }); !slices.Equal(got, []string{"cov-mine"}) {
		t.Errorf("coverages = %v", got)
	}
	if len(rec.MedicationRequests) != 0 {
		t.Errorf("medication request of another patient kept")
	}
	if got := ids(rec.ImagingStudies, func(c ImagingStudy) *string { return c.Id }); !slices.Equal(got, []string{"is-mine"}) {
		t.Errorf("imaging studies = %v", got)
	}
	if rec.Dropped != 8 {
		t.Errorf("Dropped = %d, want 8", rec.Dropped)
	}
	assertNoSecrets(t, logs.String())
}

func TestLoadSkipsBadEntries(t *testing.T) {
	mine := `"subject":{"reference":"Patient/` + testPatient + `"}`
	pf := allNull()
	pf["observations"] = json.RawMessage(searchset(
		`{"resourceType":"Observation","id":"ok","status":"final","code":{"text":"t"},`+mine+`}`,
		`{"resourceType":"Observation","id":"bad-enum","status":"weird-status","code":{"text":"t"},`+mine+`}`,
		`{"resourceType":"Frobnicator","id":"unknown-type"}`,
		`{"id":"no-type"}`,
		`["not","an","object"]`,
		`{"resourceType":"Observation","id":"bad-shape","status":"final","code":"not-an-object"}`,
		`{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational"}]}`,
		`{"resourceType":"Patient","id":"`+testPatient+`"}`,
	))
	l, logs := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rec.Observations, func(o Observation) *string { return o.Id }); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("observations = %v", got)
	}
	if rec.Skipped != 5 {
		t.Errorf("Skipped = %d, want 5 (bad enum, unknown type, no type, array, bad shape)", rec.Skipped)
	}
	if rec.Patient != nil {
		t.Errorf("an _include'd Patient in observations filled Record.Patient")
	}
	if !rec.Complete() {
		t.Errorf("Unavailable = %v, want none", rec.Unavailable)
	}
	assertNoSecrets(t, logs.String())
}

func TestLoadStatusPresence(t *testing.T) {
	mine := `"subject":{"reference":"Patient/` + testPatient + `"}`
	pf := allNull()
	pf["observations"] = json.RawMessage(searchset(
		`{"resourceType":"Observation","id":"with","status":"amended","code":{"text":"t"},`+mine+`}`,
		`{"resourceType":"Observation","id":"without","code":{"text":"t"},`+mine+`}`,
	))
	pf["procedures"] = json.RawMessage(searchset(`{"resourceType":"Procedure","id":"p","code":{"text":"PT"},` + mine + `}`))
	pf["medicationRequests"] = json.RawMessage(searchset(`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},` + mine + `}`))
	pf["medicationStatements"] = json.RawMessage(searchset(`{"resourceType":"MedicationStatement","id":"s","medicationCodeableConcept":{"text":"x"},` + mine + `}`))
	pf["imagingStudies"] = json.RawMessage(searchset(`{"resourceType":"ImagingStudy","id":"i","status":"available",` + mine + `}`))
	pf["diagnosticReports"] = json.RawMessage(searchset(`{"resourceType":"DiagnosticReport","id":"d","code":{"text":"MRI"},` + mine + `}`))
	pf["coverage"] = json.RawMessage(bundleOf("collection", "",
		`{"resourceType":"Coverage","id":"active","status":"active","payor":[{"display":"P"}]}`,
		`{"resourceType":"Coverage","id":"no-status","payor":[{"display":"P"}]}`,
		`{"resourceType":"Coverage","id":"cancelled","status":"cancelled","payor":[{"display":"P"}]}`,
	))
	l, _ := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
	if err != nil {
		t.Fatal(err)
	}
	type st struct {
		ID      string
		Present bool
	}
	var got []st
	for _, o := range rec.Observations {
		got = append(got, st{*o.Id, o.StatusPresent})
	}
	got = append(got,
		st{*rec.Procedures[0].Id, rec.Procedures[0].StatusPresent},
		st{*rec.MedicationRequests[0].Id, rec.MedicationRequests[0].StatusPresent},
		st{*rec.MedicationStatements[0].Id, rec.MedicationStatements[0].StatusPresent},
		st{*rec.ImagingStudies[0].Id, rec.ImagingStudies[0].StatusPresent},
		st{*rec.DiagnosticReports[0].Id, rec.DiagnosticReports[0].StatusPresent},
	)
	want := []st{{"with", true}, {"without", false}, {"p", false}, {"m", true}, {"s", false}, {"i", true}, {"d", false}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("status presence (-got +want):\n%s", diff)
	}
	if got := ids(rec.Coverages, func(c r4.Coverage) *string { return c.Id }); !slices.Equal(got, []string{"active"}) {
		t.Errorf("coverages = %v, want only the explicitly active one", got)
	}
}

func TestLoadNothingSupplied(t *testing.T) {
	failing := newRecorder(t, func(string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusBadGateway) }
	})
	tests := []struct {
		name string
		in   LoadInput
		want bool
	}{
		{name: "no prefetch no server", in: LoadInput{PatientID: testPatient}, want: true},
		{name: "only OperationOutcomes", in: LoadInput{PatientID: testPatient, Prefetch: map[string]json.RawMessage{
			"conditions": json.RawMessage(`{"resourceType":"OperationOutcome","issue":[]}`)}}, want: true},
		{name: "only the optional search", in: LoadInput{PatientID: testPatient, Prefetch: map[string]json.RawMessage{
			"diagnosticReports": json.RawMessage(`null`)}}, want: true},
		{name: "server failing", in: LoadInput{PatientID: testPatient, FHIRServer: failing.base()}, want: true},
		{name: "server not http", in: LoadInput{PatientID: testPatient, FHIRServer: "file:///etc"}, want: true},
		{name: "one null", in: LoadInput{PatientID: testPatient, Prefetch: map[string]json.RawMessage{
			"conditions": json.RawMessage(`null`)}}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLoader(LoaderConfig{})
			rec, err := l.Load(context.Background(), tc.in)
			if got := errors.Is(err, ErrNothingSupplied); got != tc.want {
				t.Fatalf("errors.Is(%v, ErrNothingSupplied) = %t, want %t", err, got, tc.want)
			}
			if rec == nil {
				t.Fatal("nil Record")
			}
		})
	}
}

func TestLoadAllowedHosts(t *testing.T) {
	srv := newRecorder(t, nil)
	l, _ := newTestLoader(LoaderConfig{AllowedHosts: []string{"fhir.example.org"}})
	pf := allNull()
	delete(pf, "conditions")
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf, FHIRServer: srv.base()})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(srv.seen()); n != 0 {
		t.Errorf("server outside the allow-list got %d requests", n)
	}
	if !slices.Equal(rec.Unavailable, []Search{SearchConditions}) {
		t.Errorf("Unavailable = %v", rec.Unavailable)
	}

	l, _ = newTestLoader(LoaderConfig{AllowedHosts: []string{"127.0.0.1"}})
	rec, err = l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf, FHIRServer: srv.base()})
	if err != nil || !rec.Complete() {
		t.Errorf("allowed host: err %v, Unavailable %v", err, rec.Unavailable)
	}
}

func TestLoadRejectsCraftedPatientID(t *testing.T) {
	srv := newRecorder(t, nil)
	l, _ := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: "1&_include=*", FHIRServer: srv.base()})
	if !errors.Is(err, ErrNothingSupplied) {
		t.Errorf("err = %v", err)
	}
	if n := len(srv.seen()); n != 0 || rec.Queries != 0 {
		t.Errorf("queried %d times with a patient id that is not a FHIR id", n)
	}
}

func TestLoadFromServer(t *testing.T) {
	srv := newRecorder(t, nil)
	l, logs := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, FHIRServer: srv.base() + "/", AccessToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Patient == nil || rec.Patient.Id == nil || *rec.Patient.Id != testPatient {
		t.Errorf("Patient not read")
	}
	if rec.Queries != len(Searches) {
		t.Errorf("Queries = %d, want %d", rec.Queries, len(Searches))
	}
	var paths []string
	for _, s := range srv.seen() {
		if s.Auth != "Bearer "+testToken {
			t.Errorf("request to %s: Authorization %q", s.Path, s.Auth)
		}
		paths = append(paths, s.Path+"?"+s.Query)
	}
	slices.Sort(paths)
	// Searches ask for pages of 200 (see TestLoadAsksForLargePages); the read does not.
	// Values go percent-encoded (RFC 3986 section 3.4; TestClientEncodesSearchValues).
	const count = "&_count=200"
	want := []string{
		"/fhir/Condition?patient=" + testPatient + count,
		"/fhir/Coverage?patient=" + testPatient + "&status=active" + count,
		"/fhir/DiagnosticReport?patient=" + testPatient + count,
		"/fhir/DocumentReference?patient=" + testPatient + count,
		"/fhir/ImagingStudy?patient=" + testPatient + count,
		"/fhir/MedicationDispense?patient=" + testPatient + "&_include=MedicationDispense%3Amedication" + count,
		"/fhir/MedicationRequest?patient=" + testPatient + "&_include=MedicationRequest%3Amedication" + count,
		"/fhir/MedicationStatement?patient=" + testPatient + "&_include=MedicationStatement%3Amedication" + count,
		"/fhir/Observation?patient=" + testPatient + "&code=http%3A%2F%2Floinc.org%7C8310-5%2Curn%3Aoid%3A2.16.840.1.113883.6.1%7C8310-5" + count,
		"/fhir/Patient/" + testPatient + "?",
		"/fhir/Procedure?patient=" + testPatient + count,
	}
	if diff := cmp.Diff(paths, want); diff != "" {
		t.Errorf("queries (-got +want):\n%s", diff)
	}
	assertNoSecrets(t, logs.String())
}

func TestLoadPatientReadNotFound(t *testing.T) {
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		if typ != "Patient" {
			return nil
		}
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/fhir+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}`))
		}
	})
	l, _ := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, FHIRServer: srv.base()})
	if !errors.Is(err, ErrNothingSupplied) || !errors.Is(err, ErrPatientNotFound) {
		t.Fatalf("404 on the Patient read, nothing prefetched: %v, want ErrNothingSupplied with ErrPatientNotFound", err)
	}
	// The server does not know the patient: its (empty) searches say
	// nothing about the chart, so none is supplied, each says why, and the
	// assessment can never be criteria-not-met on them.
	if rec.Patient != nil || len(rec.Unavailable) != len(neededSearches()) {
		t.Errorf("404 on the Patient read: Patient %v, Unavailable %v; want nil and every needed search", rec.Patient, rec.Unavailable)
	}
	for _, s := range rec.Unavailable {
		if !rec.Shortfalls[s].PatientNotFound {
			t.Errorf("search %s: shortfall %+v, want PatientNotFound", s, rec.Shortfalls[s])
		}
	}
	// A client's prefetch is still used: only what the server sent is dropped.
	rec, err = l.Load(context.Background(), LoadInput{PatientID: testPatient, FHIRServer: srv.base(), PrefetchValid: true,
		Prefetch: map[string]json.RawMessage{"conditions": json.RawMessage(`{"resourceType":"Bundle","type":"searchset","entry":[]}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(rec.Unavailable, chart.SearchConditions) || !slices.Contains(rec.Unavailable, chart.SearchProcedures) {
		t.Errorf("prefetched conditions with an unknown patient on the server: Unavailable %v, want conditions kept and procedures dropped", rec.Unavailable)
	}
}

// neededSearches are the searches that are not optional.
func neededSearches() []Search {
	var out []Search
	for _, s := range Searches {
		if !s.Optional {
			out = append(out, s.Key)
		}
	}
	return out
}

func TestDraftOrders(t *testing.T) {
	sr := `{ "resourceType" : "ServiceRequest", "id":"sr1", "status":"draft","intent":"order","subject":{"reference":"Patient/p"},
	   "code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"72148"}]}, "extension":[{"url":"x","valueString":"keep  me"}] }`
	raw := `{"resourceType":"Bundle","type":"collection","entry":[
	  {"resource":` + sr + `},
	  {"fullUrl":"no-resource"},
	  {"resource":{"resourceType":"MedicationRequest","id":"mr1","status":"draft","intent":"order","subject":{"reference":"Patient/p"}}},
	  {"resource":{"resourceType":"ServiceRequest","id":"bad","status":"not-a-status","intent":"order","subject":{"reference":"Patient/p"}}},
	  {"resource":{"resourceType":"ServiceRequest","status":"draft","intent":"order","subject":{"reference":"Patient/p"}}}
	]}`
	got, err := DraftOrders(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Index    int
		Type, ID string
		Decoded  bool
	}
	var rows []row
	for _, d := range got {
		rows = append(rows, row{d.Index, d.ResourceType, d.ID, d.ServiceRequest != nil})
	}
	want := []row{{0, "ServiceRequest", "sr1", true}, {2, "MedicationRequest", "mr1", false}, {3, "ServiceRequest", "bad", false}, {4, "ServiceRequest", "", true}}
	if diff := cmp.Diff(rows, want); diff != "" {
		t.Errorf("draft orders (-got +want):\n%s", diff)
	}
	if string(got[0].Raw) != sr {
		t.Errorf("Raw is not the client's exact JSON:\n%s", got[0].Raw)
	}
	for _, bad := range []string{``, `null`, `[]`, `{"resourceType":"ServiceRequest"}`, `{"resourceType":"Bundle","entry":`} {
		if _, err := DraftOrders(json.RawMessage(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DraftOrders(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestPatientIDOf(t *testing.T) {
	tests := []struct {
		ref, id string
		ok      bool
	}{
		{"Patient/1", "1", true},
		{"https://x/fhir/Patient/a-b.c", "a-b.c", true},
		{"Patient/1/_history/4", "1", true},
		{"Group/1", "", false},
		{"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "", false},
		{"XPatient/1", "", false},
		{"Patient/", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		id, ok := PatientIDOf(tc.ref)
		if id != tc.id || ok != tc.ok {
			t.Errorf("PatientIDOf(%q) = %q, %t; want %q, %t", tc.ref, id, ok, tc.id, tc.ok)
		}
	}
}
