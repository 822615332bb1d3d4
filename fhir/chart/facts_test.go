package chart

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/terminology"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }

func TestParseDate(t *testing.T) {
	tests := []struct {
		in       string
		ok       bool
		text     string
		prec     Precision
		earliest string
		latest   string
	}{
		{"2026", true, "2026", PrecisionYear, "2026-01-01", "2026-12-31"},
		{"2026-04", true, "2026-04", PrecisionMonth, "2026-04-01", "2026-04-30"},
		{"2024-02", true, "2024-02", PrecisionMonth, "2024-02-01", "2024-02-29"},
		{"2026-04-20", true, "2026-04-20", PrecisionDay, "2026-04-20", "2026-04-20"},
		// The day written in a dateTime, whatever its offset.
		{"2026-04-20T23:30:00-05:00", true, "2026-04-20", PrecisionDay, "2026-04-20", "2026-04-20"},
		{"2026-04-20T01:00:00+14:00", true, "2026-04-20", PrecisionDay, "2026-04-20", "2026-04-20"},
		{"2026-04-20T10:00:00Z", true, "2026-04-20", PrecisionDay, "2026-04-20", "2026-04-20"},
		{" 2026-04 ", true, "2026-04", PrecisionMonth, "2026-04-01", "2026-04-30"},
		{"2026-13", false, "", 0, "", ""},
		{"2026-4", false, "", 0, "", ""},
		{"2026-04-20T", false, "", 0, "", ""},
		{"April 2026", false, "", 0, "", ""},
		{"", false, "", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, ok := ParseDate(tt.in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				if !d.IsZero() {
					t.Errorf("failed parse gave a date %+v", d)
				}
				return
			}
			if d.Text != tt.text || d.Precision != tt.prec || !d.Earliest.Equal(day(tt.earliest)) || !d.Latest.Equal(day(tt.latest)) {
				t.Errorf("got %q %v %s..%s, want %q %v %s..%s", d.Text, d.Precision, d.Earliest.Format(time.DateOnly), d.Latest.Format(time.DateOnly),
					tt.text, tt.prec, tt.earliest, tt.latest)
			}
			if d.Imprecise() != (tt.prec != PrecisionDay) {
				t.Errorf("Imprecise() = %v", d.Imprecise())
			}
		})
	}
}

func TestDateOverlaps(t *testing.T) {
	month, _ := ParseDate("2025-06")
	if !month.Overlaps(day("2025-06-30"), day("2026-06-30")) {
		t.Error("2025-06 overlaps a window starting 2025-06-30")
	}
	if month.Overlaps(day("2025-07-01"), day("2026-06-30")) {
		t.Error("2025-06 does not overlap a window starting 2025-07-01")
	}
	if (Date{}).Overlaps(day("2000-01-01"), day("2100-01-01")) {
		t.Error("no date overlaps nothing")
	}
}

// problemOf derives the Problem of one Condition, with a patient born
// 1970-03-15.
func problemOf(t *testing.T, condition string) Problem {
	t.Helper()
	var c r4.Condition
	if err := json.Unmarshal([]byte(condition), &c); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		AbatementBoolean *bool `json:"abatementBoolean"`
	}
	_ = json.Unmarshal([]byte(condition), &raw)
	f := Derive(&Record{Patient: &r4.Patient{BirthDate: ptr("1970-03-15")}, Conditions: []Condition{{Condition: c, AbatementBoolean: raw.AbatementBoolean}}})
	return f.Problems[0]
}

func TestProblemOnsetAndAbatement(t *testing.T) {
	d := day("2026-06-15")
	tests := []struct {
		name      string
		condition string
		onset     string // Text of the onset, "" when undated
		activeOnD bool
		endedByD  bool
	}{
		{"onsetDateTime", `{"onsetDateTime":"2026-05-01"}`, "2026-05-01", true, false},
		{"onsetDateTime month", `{"onsetDateTime":"2026-05"}`, "2026-05", true, false},
		{"onsetPeriod start", `{"onsetPeriod":{"start":"2026-02-10","end":"2026-03-01"}}`, "2026-02-10", true, false},
		{"onsetAge years through birth date", `{"onsetAge":{"value":56,"unit":"years","system":"http://unitsofmeasure.org","code":"a"}}`, "age 56 a", true, false},
		{"onsetRange low age", `{"onsetRange":{"low":{"value":50,"code":"a"},"high":{"value":52,"code":"a"}}}`, "age 50 a", true, false},
		{"onsetString is undated", `{"onsetString":"about 8 weeks ago"}`, "", true, false},
		{"abatementDateTime before D ends it without clinicalStatus", `{"onsetDateTime":"2024-03-02","abatementDateTime":"2024-05-20"}`, "2024-03-02", false, true},
		{"abatementDateTime after D: still current on D", `{"onsetDateTime":"2026-03-02","abatementDateTime":"2026-07-20"}`, "2026-03-02", true, false},
		{"abatementDateTime month containing D ends it", `{"abatementDateTime":"2026-06"}`, "", false, true},
		{"abatementPeriod", `{"abatementPeriod":{"start":"2025-01-01"}}`, "", false, true},
		{"abatementAge placed by birth date", `{"abatementAge":{"value":50,"code":"a"}}`, "", false, true},
		{"abatementAge after D", `{"abatementAge":{"value":70,"code":"a"}}`, "", true, false},
		{"abatementRange", `{"abatementRange":{"low":{"value":40,"code":"a"}}}`, "", false, true},
		{"abatementRange without low cannot be placed: ended", `{"abatementRange":{"high":{"value":40,"code":"a"}}}`, "", false, true},
		{"abatementString: ended at an unknown date", `{"abatementString":"resolved after surgery"}`, "", false, true},
		{"abatementBoolean true", `{"abatementBoolean":true}`, "", false, true},
		{"abatementBoolean false", `{"abatementBoolean":false}`, "", true, false},
		{"clinicalStatus resolved without abatement", `{"clinicalStatus":{"coding":[{"code":"resolved"}]}}`, "", false, false},
		{"clinicalStatus recurrence", `{"clinicalStatus":{"coding":[{"code":"recurrence"}]}}`, "", true, false},
		{"refuted", `{"verificationStatus":{"coding":[{"code":"refuted"}]}}`, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := problemOf(t, tt.condition)
			if got := p.Onset.Text; got != tt.onset {
				t.Errorf("onset %q, want %q", got, tt.onset)
			}
			if got := p.ActiveOn(d); got != tt.activeOnD {
				t.Errorf("ActiveOn(D) = %v, want %v", got, tt.activeOnD)
			}
			if got := p.EndedBy(d); got != tt.endedByD {
				t.Errorf("EndedBy(D) = %v, want %v", got, tt.endedByD)
			}
		})
	}
	// Without a birth date an age cannot be placed: the onset is undated
	// and the abatement ends the condition at an unknown date.
	var c r4.Condition
	_ = json.Unmarshal([]byte(`{"onsetAge":{"value":56,"code":"a"},"abatementAge":{"value":70,"code":"a"}}`), &c)
	p := Derive(&Record{Conditions: []Condition{{Condition: c}}}).Problems[0]
	if !p.Onset.IsZero() || !p.EndedBy(d) {
		t.Errorf("no birth date: onset %+v, ended %v; want undated and ended", p.Onset, p.EndedBy(d))
	}
}

// TestProblemNotCurrentWhy: why a Condition is not current on D, in the
// words the answer shows beside it (issue 13: nothing dropped in silence).
func TestProblemNotCurrentWhy(t *testing.T) {
	d := day("2026-06-15")
	tests := []struct{ condition, want string }{
		{`{"onsetDateTime":"2026-05-01"}`, ""},
		{`{"abatementDateTime":"2024-05-20"}`, "ended 2024-05-20"},
		{`{"abatementDateTime":"2024-05"}`, "ended 2024-05"},
		{`{"abatementPeriod":{"start":"2025-01-01"}}`, "ended 2025-01-01"},
		{`{"abatementAge":{"value":50,"code":"a"}}`, "ended at age 50 a"},
		{`{"abatementString":"after surgery"}`, "ended, date not recorded"},
		{`{"abatementBoolean":true}`, "ended, date not recorded"},
		{`{"clinicalStatus":{"coding":[{"code":"remission"}]}}`, "clinical status remission"},
		{`{"verificationStatus":{"coding":[{"code":"refuted"}]}}`, "verification status refuted"},
	}
	for _, tt := range tests {
		t.Run(tt.condition, func(t *testing.T) {
			p := problemOf(t, tt.condition)
			if got := p.NotCurrentWhy(d); got != tt.want {
				t.Errorf("NotCurrentWhy = %q, want %q", got, tt.want)
			}
		})
	}
}

func medRequest(t *testing.T, js string) MedicationRequest {
	t.Helper()
	var m r4.MedicationRequest
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	var c struct {
		Contained []json.RawMessage `json:"contained"`
	}
	_ = json.Unmarshal([]byte(js), &c)
	mr := MedicationRequest{MedicationRequest: m, StatusPresent: true}
	for _, raw := range c.Contained {
		var med r4.Medication
		if json.Unmarshal(raw, &med) == nil {
			mr.Contained = append(mr.Contained, med)
		}
	}
	return mr
}

func TestMedicationReferences(t *testing.T) {
	naproxen := `{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7258","display":"naproxen"}]}`
	tests := []struct {
		name       string
		request    string
		medication map[string]string // Record.Medications by key, as JSON
		wantCode   string
		wantText   string
		unresolved bool
	}{
		{"codeable concept", `{"status":"active","intent":"order","medicationCodeableConcept":` + naproxen + `}`, nil, "7258", "", false},
		{"contained #id", `{"status":"active","intent":"order","contained":[{"resourceType":"Medication","id":"med1","code":` + naproxen + `}],"medicationReference":{"reference":"#med1"}}`, nil, "7258", "", false},
		{"contained, coded by ingredient only", `{"status":"active","intent":"order","contained":[{"resourceType":"Medication","id":"med1","ingredient":[{"itemCodeableConcept":` + naproxen + `}]}],"medicationReference":{"reference":"#med1"}}`, nil, "7258", "", false},
		{"contained id not found", `{"status":"active","intent":"order","contained":[{"resourceType":"Medication","id":"other","code":` + naproxen + `}],"medicationReference":{"reference":"#med1"}}`, nil, "", "", true},
		{"included in the Bundle, relative", `{"status":"active","intent":"order","medicationReference":{"reference":"Medication/m9"}}`, map[string]string{"Medication/m9": `{"resourceType":"Medication","id":"m9","code":` + naproxen + `}`}, "7258", "", false},
		{"included, absolute reference", `{"status":"active","intent":"order","medicationReference":{"reference":"https://ehr.example.org/fhir/Medication/m9"}}`, map[string]string{"Medication/m9": `{"resourceType":"Medication","id":"m9","code":` + naproxen + `}`}, "7258", "", false},
		{"unresolved with display keeps the display as text", `{"status":"active","intent":"order","medicationReference":{"reference":"Medication/zz","display":"Naproxen 500 mg tablet"}}`, nil, "", "Naproxen 500 mg tablet", true},
		{"unresolved", `{"status":"active","intent":"order","medicationReference":{"reference":"Medication/zz"}}`, nil, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &Record{MedicationRequests: []MedicationRequest{medRequest(t, tt.request)}}
			for k, js := range tt.medication {
				var m r4.Medication
				if err := json.Unmarshal([]byte(js), &m); err != nil {
					t.Fatal(err)
				}
				if rec.Medications == nil {
					rec.Medications = map[string]r4.Medication{}
				}
				rec.Medications[k] = m
			}
			u := Derive(rec).Medications[0]
			code := ""
			if len(u.Medication.Codings) > 0 {
				code = u.Medication.Codings[0].Code
			}
			if code != tt.wantCode || u.Medication.Text != tt.wantText || u.UnresolvedReference != tt.unresolved {
				t.Errorf("got code %q text %q unresolved %v; want %q %q %v", code, u.Medication.Text, u.UnresolvedReference, tt.wantCode, tt.wantText, tt.unresolved)
			}
			ids := rec.UnresolvedMedicationIDs()
			wantIDs := 0
			if tt.unresolved && tt.name != "contained id not found" {
				wantIDs = 1
			}
			if len(ids) != wantIDs {
				t.Errorf("UnresolvedMedicationIDs() = %v, want %d id(s)", ids, wantIDs)
			}
		})
	}
}

func TestMedicationSupplyAndStatus(t *testing.T) {
	rec := &Record{MedicationRequests: []MedicationRequest{
		medRequest(t, `{"id":"a","status":"active","intent":"order","authoredOn":"2026-04","medicationCodeableConcept":{"text":"x"},
			"dispenseRequest":{"numberOfRepeatsAllowed":2,"expectedSupplyDuration":{"value":4,"unit":"weeks","code":"wk"}}}`),
		medRequest(t, `{"id":"b","status":"active","intent":"plan","medicationCodeableConcept":{"text":"x"}}`),
		medRequest(t, `{"id":"c","status":"active","intent":"order","doNotPerform":true,"medicationCodeableConcept":{"text":"x"}}`),
	}}
	// An order without status: the samply model reads it as the first enum
	// value, so the decoder records that it was absent.
	noStatus := medRequest(t, `{"id":"e","intent":"order","medicationCodeableConcept":{"text":"x"}}`)
	noStatus.StatusPresent = false
	rec.MedicationRequests = append(rec.MedicationRequests, noStatus)
	var disp r4.MedicationDispense
	_ = json.Unmarshal([]byte(`{"id":"d","status":"completed","whenHandedOver":"2026-05-02T10:00:00Z","daysSupply":{"value":30,"code":"d"},"medicationCodeableConcept":{"text":"x"}}`), &disp)
	rec.MedicationDispenses = []MedicationDispense{{MedicationDispense: disp, StatusPresent: true}}
	got := Derive(rec).Medications
	type view struct {
		Source       string
		Counts       bool
		Start        string
		Supply, Fill int
		Why          string
	}
	var gotV []view
	for _, m := range got {
		gotV = append(gotV, view{m.Source, m.Counts, m.Start.Text, m.SupplyDays, m.Fills, m.NotCountedWhy})
	}
	want := []view{
		{"MedicationRequest/a", true, "2026-04", 28, 3, ""},
		{"MedicationRequest/b", false, "", 0, 1, "intent plan, not an order"},
		{"MedicationRequest/c", false, "", 0, 1, "marked do not perform"},
		{"MedicationRequest/e", false, "", 0, 1, "no status recorded"},
		{"MedicationDispense/d", true, "2026-05-02", 30, 1, ""},
	}
	if diff := cmp.Diff(gotV, want); diff != "" {
		t.Errorf("medications (-got +want):\n%s", diff)
	}
}

func coverage(t *testing.T, js string) r4.Coverage {
	t.Helper()
	var c r4.Coverage
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCoverageInForce(t *testing.T) {
	d := day("2026-06-15")
	tests := []struct {
		name      string
		coverages []string
		want      string
		noteHas   string
	}{
		{"none", nil, "", ""},
		{"open period", []string{`{"id":"a","status":"active"}`}, "Coverage/a", ""},
		{"open end", []string{`{"id":"a","status":"active","period":{"start":"2026-01-01"}}`}, "Coverage/a", ""},
		{"expired", []string{`{"id":"old","status":"active","period":{"start":"2020-01-01","end":"2025-12-31"}}`}, "", "No coverage is in force on 2026-06-15"},
		{"not yet started", []string{`{"id":"new","status":"active","period":{"start":"2026-07-01"}}`}, "", "No coverage is in force"},
		{"ends on D is in force", []string{`{"id":"a","status":"active","period":{"end":"2026-06-15"}}`}, "Coverage/a", ""},
		{"ends in D's month (imprecise) is in force", []string{`{"id":"a","status":"active","period":{"end":"2026-06"}}`}, "Coverage/a", ""},
		{"expired first, current second", []string{
			`{"id":"old","status":"active","order":1,"period":{"end":"2025-12-31"}}`,
			`{"id":"cur","status":"active","order":1,"period":{"start":"2026-01-01"},"payor":[{"display":"Acme Health"}]}`,
		}, "Coverage/cur", "1 other coverage marked active is not in force"},
		{"lowest order wins", []string{`{"id":"two","status":"active","order":2}`, `{"id":"one","status":"active","order":1}`}, "Coverage/one", "lowest coverage order (1)"},
		{"ordered before unordered", []string{`{"id":"x","status":"active"}`, `{"id":"y","status":"active","order":3}`}, "Coverage/y", "lowest coverage order (3)"},
		{"first listed among unordered", []string{`{"id":"x","status":"active"}`, `{"id":"y","status":"active"}`}, "Coverage/x", "first listed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &Record{}
			for _, js := range tt.coverages {
				rec.Coverages = append(rec.Coverages, coverage(t, js))
			}
			c, note := Derive(rec).CoverageInForce(d)
			got := ""
			if c != nil {
				got = c.Reference
			}
			if got != tt.want {
				t.Errorf("coverage %q, want %q", got, tt.want)
			}
			if tt.noteHas == "" && note != "" {
				t.Errorf("note %q, want none", note)
			}
			if tt.noteHas != "" && !strings.Contains(note, tt.noteHas) {
				t.Errorf("note %q, want it to say %q", note, tt.noteHas)
			}
		})
	}
}

func TestReasonsResolveConditions(t *testing.T) {
	var c r4.Condition
	_ = json.Unmarshal([]byte(`{"id":"sh","code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"M25.511","display":"Pain in right shoulder"}]}}`), &c)
	rec := &Record{
		Conditions:         []Condition{{Condition: c}},
		MedicationRequests: []MedicationRequest{medRequest(t, `{"status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"reasonReference":[{"reference":"Condition/sh"}]}`)},
	}
	got := Derive(rec).Medications[0].Reasons
	if len(got) != 1 || got[0].Codings[0].Code != "M25.511" {
		t.Errorf("reasons %+v, want the shoulder-pain Condition's code", got)
	}
	// Synthea writes the reason as its Bundle fullUrl, urn:uuid:<id>: the
	// Condition with that id (clinical review 5, chart 06: naproxen for
	// fibromyalgia counted as back-pain therapy).
	var fm r4.Condition
	_ = json.Unmarshal([]byte(`{"id":"56e4701c-8968-42e5-95ce-b78233d86618","code":{"coding":[{"system":"http://snomed.info/sct","code":"95417003","display":"Primary fibromyalgia syndrome"}]}}`), &fm)
	rec = &Record{
		Conditions: []Condition{{Condition: fm}},
		MedicationRequests: []MedicationRequest{
			medRequest(t, `{"status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"reasonReference":[{"reference":"urn:uuid:56e4701c-8968-42e5-95ce-b78233d86618"}]}`),
			medRequest(t, `{"status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"reasonReference":[{"reference":"urn:uuid:00000000-8968-42e5-95ce-b78233d86618"}]}`),
		},
	}
	meds := Derive(rec).Medications
	if got := meds[0].Reasons; len(got) != 1 || got[0].Codings[0].Code != "95417003" {
		t.Errorf("urn:uuid reason %+v, want the fibromyalgia Condition's code", got)
	}
	if got := meds[1].Reasons; len(got) != 0 {
		t.Errorf("a urn:uuid naming no Condition gave reasons %+v", got)
	}
}

// TestConceptLocalOnly: a concept coded only outside the given systems is
// read by its words; text first, else the displays.
func TestConceptLocalOnly(t *testing.T) {
	local := Coding{System: "urn:oid:1.2.3", Code: "9", Display: "Cauda equina syndrome"}
	icd10 := Coding{System: terminology.SystemICD10CM, Code: "G83.4", Display: "Cauda equina syndrome"}
	tests := []struct {
		name  string
		c     Concept
		local bool
		words string
	}{
		{"local only", Concept{Codings: []Coding{local}}, true, "Cauda equina syndrome"},
		{"local and ICD-10-CM", Concept{Codings: []Coding{local, icd10}}, false, "Cauda equina syndrome"},
		{"text only", Concept{Text: "CES"}, false, "CES"},
		{"text wins", Concept{Codings: []Coding{local}, Text: "saddle anaesthesia"}, true, "saddle anaesthesia"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.LocalOnly(ProblemSystems...); got != tt.local {
				t.Errorf("LocalOnly = %v, want %v", got, tt.local)
			}
			if got := tt.c.Words(); got != tt.words {
				t.Errorf("Words = %q, want %q", got, tt.words)
			}
		})
	}
}

// TestTemperatureUnitWrittenForPeople: without Quantity.code, the
// temperature units EHRs write are read as their UCUM codes; others stay as
// written.
func TestTemperatureUnitWrittenForPeople(t *testing.T) {
	for unit, want := range map[string]string{"°F": "[degF]", "degF": "[degF]", "F": "[degF]", "°C": "Cel", "C": "Cel", "Cel": "Cel", "Grad F": "Grad F", "mm[Hg]": "mm[Hg]"} {
		var o r4.Observation
		js := `{"status":"final","code":{"text":"temp"},"valueQuantity":{"value":38.4,"unit":` + strconv.Quote(unit) + `}}`
		if err := json.Unmarshal([]byte(js), &o); err != nil {
			t.Fatal(err)
		}
		got := Derive(&Record{Observations: []Observation{{Observation: o, StatusPresent: true}}}).Observations[0].Value.Unit
		if got != want {
			t.Errorf("unit %q read as %q, want %q", unit, got, want)
		}
	}
}

// TestDispenseTakesItsOrdersReasons: a MedicationDispense has no reason of
// its own; it supplies the order its authorizingPrescription names, for that
// order's reasons. A dispense of an order not in the record has none.
func TestDispenseTakesItsOrdersReasons(t *testing.T) {
	order := medRequest(t, `{"id":"o1","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},
		"reasonCode":[{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"M17.11"}]}]}`)
	var d1, d2 r4.MedicationDispense
	_ = json.Unmarshal([]byte(`{"id":"d1","status":"completed","medicationCodeableConcept":{"text":"x"},"authorizingPrescription":[{"reference":"https://ehr.example.org/fhir/MedicationRequest/o1"}]}`), &d1)
	_ = json.Unmarshal([]byte(`{"id":"d2","status":"completed","medicationCodeableConcept":{"text":"x"},"authorizingPrescription":[{"reference":"MedicationRequest/elsewhere"}]}`), &d2)
	rec := &Record{MedicationRequests: []MedicationRequest{order}, MedicationDispenses: []MedicationDispense{{MedicationDispense: d1}, {MedicationDispense: d2}}}
	meds := Derive(rec).Medications
	if got := meds[1].Reasons; len(got) != 1 || got[0].Codings[0].Code != "M17.11" {
		t.Errorf("dispense d1 reasons %+v, want its order's M17.11", got)
	}
	if got := meds[2].Reasons; len(got) != 0 {
		t.Errorf("dispense d2 reasons %+v, want none", got)
	}
}

// TestSupplyDuration: a supply duration is read in whole days rounded down
// (imprecision never adds days: 41.9 days is 41), and one that cannot be
// used (no unit, not a time unit, not positive, absurdly long) reads as no
// supply with the reason, so that the answer can name it.
func TestSupplyDuration(t *testing.T) {
	tests := []struct {
		name     string
		duration string
		days     int
		unusable string
	}{
		{"days", `{"value":42,"unit":"days","code":"d"}`, 42, ""},
		{"fraction rounds down", `{"value":41.9,"unit":"days","code":"d"}`, 41, ""},
		{"weeks", `{"value":6,"code":"wk"}`, 42, ""},
		{"hours divide exactly", `{"value":1008,"code":"h"}`, 42, ""},
		{"hours round down", `{"value":1007,"code":"h"}`, 41, ""},
		{"unit in words", `{"value":30,"unit":"Days"}`, 30, ""},
		{"less than a day", `{"value":5,"code":"h"}`, 0, ""},
		{"no unit", `{"value":42}`, 0, "no unit"},
		{"negative", `{"value":-42,"code":"d"}`, 0, "value -42 is not a positive number"},
		{"zero", `{"value":0,"code":"d"}`, 0, "value 0 is not a positive number"},
		{"absurd", `{"value":1e308,"code":"d"}`, 0, "value 1e308 d is longer than 100 years"},
		{"not a time unit", `{"value":42,"code":"mg"}`, 0, "unit mg is not a time unit"},
		{"no value", `{"code":"d"}`, 0, "no value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &Record{MedicationRequests: []MedicationRequest{medRequest(t, `{"id":"a","status":"active","intent":"order","authoredOn":"2026-04-27","medicationCodeableConcept":{"text":"x"},
				"dispenseRequest":{"expectedSupplyDuration":`+tt.duration+`}}`)}}
			var disp r4.MedicationDispense
			if err := json.Unmarshal([]byte(`{"id":"d","status":"completed","whenHandedOver":"2026-05-02","medicationCodeableConcept":{"text":"x"},"daysSupply":`+tt.duration+`}`), &disp); err != nil {
				t.Fatal(err)
			}
			rec.MedicationDispenses = []MedicationDispense{{MedicationDispense: disp, StatusPresent: true}}
			for _, m := range Derive(rec).Medications {
				if m.SupplyDays != tt.days || m.SupplyUnusable != tt.unusable {
					t.Errorf("%s: supply %d days, unusable %q; want %d, %q", m.Source, m.SupplyDays, m.SupplyUnusable, tt.days, tt.unusable)
				}
			}
		})
	}
}

// TestInvalidDateKeepsItsText: a date that was recorded but is not a valid
// FHIR date is no date, but keeps its text so that the answer says it is
// invalid (not missing); a reversed period is kept as recorded.
func TestInvalidDateKeepsItsText(t *testing.T) {
	tests := []struct {
		name      string
		procedure string
		start     string // Start.Text
		why       string // Start.Why()
		end       string // End.Text
	}{
		{"invalid month and day", `{"performedDateTime":"2026-13-45"}`, "", "date 2026-13-45 is not a valid date", ""},
		{"free text", `{"performedDateTime":"last spring"}`, "", "date last spring is not a valid date", ""},
		{"invalid period start", `{"performedPeriod":{"start":"2026-02-30","end":"2026-03-10"}}`, "", "date 2026-02-30 is not a valid date", "2026-03-10"},
		{"valid", `{"performedDateTime":"2026-05-01"}`, "2026-05-01", "", "2026-05-01"},
		{"absent", `{}`, "", "", ""},
		{"reversed period", `{"performedPeriod":{"start":"2026-06-01","end":"2026-01-01"}}`, "2026-06-01", "", "2026-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p r4.Procedure
			if err := json.Unmarshal([]byte(tt.procedure), &p); err != nil {
				t.Fatal(err)
			}
			got := Derive(&Record{Procedures: []Procedure{{Procedure: p, StatusPresent: true}}}).Procedures[0]
			if got.Start.Text != tt.start || got.Start.Why() != tt.why || got.End.Text != tt.end {
				t.Errorf("start %q (why %q), end %q; want %q (why %q), %q", got.Start.Text, got.Start.Why(), got.End.Text, tt.start, tt.why, tt.end)
			}
		})
	}
}

// TestConceptMisfiled: a code filed under ICD-10-CM or SNOMED CT that is not
// of that system's form cannot be read by the value sets; a concept with
// only such codes is read by its words.
func TestConceptMisfiled(t *testing.T) {
	icd := func(code string) Coding { return Coding{System: terminology.SystemICD10CM, Code: code} }
	sct := func(code string) Coding { return Coding{System: terminology.SystemSNOMED, Code: code} }
	tests := []struct {
		name     string
		codings  []Coding
		misfiled int
		readable bool
	}{
		{"ICD-10-CM code", []Coding{icd("M54.50")}, 0, true},
		{"ICD-10-CM code, lower case, no dot", []Coding{icd("m5450")}, 0, true},
		{"SNOMED CT id under ICD-10-CM", []Coding{icd("278860009")}, 1, false},
		{"ICD-10-CM code under SNOMED CT", []Coding{sct("M54.50")}, 1, false},
		{"misfiled beside a readable code", []Coding{icd("278860009"), sct("278860009")}, 1, true},
		{"local system only", []Coding{{System: "urn:oid:1.2.3", Code: "88321"}}, 0, false},
	}
	for _, tt := range tests {
		c := Concept{Codings: tt.codings}
		if got := len(c.Misfiled(ProblemSystems...)); got != tt.misfiled {
			t.Errorf("%s: %d misfiled, want %d", tt.name, got, tt.misfiled)
		}
		if got := c.Readable(ProblemSystems...); got != tt.readable {
			t.Errorf("%s: readable %v, want %v", tt.name, got, tt.readable)
		}
	}
}

// TestConceptNamesOnOneLine: a code's text and displays are read on one
// line, without control or bidirectional-override characters, so a name
// from the chart cannot add lines to a card or reverse its text.
func TestConceptNamesOnOneLine(t *testing.T) {
	text, display := "naproxen\n\n# FAKE\u202e", "MRI\x00lumbar\tspine\r\n"
	c := concept(&r4.CodeableConcept{Text: &text, Coding: []r4.Coding{{Code: ptr("72148"), Display: &display}}})
	if c.Text != "naproxen  # FAKE" || c.Codings[0].Display != "MRI lumbar spine" {
		t.Errorf("text %q, display %q; want one line without controls", c.Text, c.Codings[0].Display)
	}
}

// OrderOf keeps what the service checks of a draft order: an authoredOn
// that is present but not a dateTime, and the subject as written.
func TestOrderOfAuthoredOnAndSubject(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		at      *string
		invalid bool
	}{{nil, false}, {s("2026-06-15"), false}, {s("2026-06-15T10:00:00Z"), false}, {s(""), true}, {s("June 15"), true}}
	for _, tt := range tests {
		sr := r4.ServiceRequest{AuthoredOn: tt.at, Subject: r4.Reference{Reference: s("Patient/p1")}}
		o := OrderOf(&sr)
		if o.AuthoredOnInvalid != tt.invalid || o.Subject != "Patient/p1" {
			t.Errorf("OrderOf(authoredOn %v) = invalid %v subject %q, want invalid %v", tt.at, o.AuthoredOnInvalid, o.Subject, tt.invalid)
		}
	}
}

// TestPayerOrganization: the Coverage payor read as the payer Organization
// that requests a form (CRD STU 2.1 profile-taskquestionnaire requester,
// Reference(CRDOrganization)); a self-pay payor (Patient, RelatedPerson) is
// none, and a contained or urn reference is not kept as a literal one.
func TestPayerOrganization(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		name string
		in   r4.Reference
		want *PayerRef
	}{
		{"relative", r4.Reference{Reference: s("Organization/payer-1"), Display: s("Plan")}, &PayerRef{Reference: "Organization/payer-1", Display: "Plan"}},
		{"absolute", r4.Reference{Reference: s("https://ehr.example/fhir/Organization/p")}, &PayerRef{Reference: "https://ehr.example/fhir/Organization/p"}},
		{"identifier", r4.Reference{Identifier: &r4.Identifier{System: s("http://hl7.org/fhir/sid/us-npi"), Value: s("1234567893")}},
			&PayerRef{IdentifierSystem: "http://hl7.org/fhir/sid/us-npi", IdentifierValue: "1234567893"}},
		{"display only", r4.Reference{Display: s("Plan")}, &PayerRef{Display: "Plan"}},
		{"contained", r4.Reference{Reference: s("#org"), Display: s("Plan")}, &PayerRef{Display: "Plan"}},
		{"contained, nothing else", r4.Reference{Reference: s("#org")}, nil},
		{"patient", r4.Reference{Reference: s("Patient/p1"), Display: s("Self")}, nil},
		{"related person by type", r4.Reference{Type: s("RelatedPerson"), Display: s("Parent")}, nil},
		{"typed organization", r4.Reference{Type: s("Organization"), Display: s("Plan")}, &PayerRef{Display: "Plan"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(payerOrganization(&tt.in), tt.want); diff != "" {
				t.Errorf("payer (-got +want):\n%s", diff)
			}
		})
	}
}
