package cards

import (
	"math"
	"testing"

	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/google/go-cmp/cmp"
)

// TestQuestionnaireResponseEncoding: the form's appenders write the bytes
// jsonv1.Marshal writes, escapes, omitted members and odd floats included.
func TestQuestionnaireResponseEncoding(t *testing.T) {
	yes, no := true, false
	f := func(v float64) *float64 { return &v }
	odd := []string{"", "plain", `quo"te`, `back\slash`, "<b>&amp;</b>", "tab\there", "nl\n", "\x00\x1f\x7f",
		"Schmerz ≥ 6 Wochen", "line\u2028sep\u2029", "bad \xff utf8", "emoji 🦴"}
	var items []qrItem
	for i, s := range odd {
		items = append(items, qrItem{LinkID: s, Answer: []qrAnswer{
			{ValueString: s, Extension: []ext{{URL: s, Extension: []ext{{URL: "source", ValueCode: s}}}}},
			{ValueDate: s, ValueCoding: &coding{System: s, Code: s, Display: s}},
		}, Item: []qrItem{{LinkID: "child-" + s}}})
		if i%2 == 0 {
			items[i].Item = nil
		}
	}
	items = append(items, qrItem{LinkID: "values", Answer: []qrAnswer{
		{ValueBoolean: &yes}, {ValueBoolean: &no}, {},
		{ValueDecimal: f(0)}, {ValueDecimal: f(math.Copysign(0, -1))}, {ValueDecimal: f(6)}, {ValueDecimal: f(2.5)},
		{ValueDecimal: f(-7.25)}, {ValueDecimal: f(1e-6)}, {ValueDecimal: f(1e-7)}, {ValueDecimal: f(1e21)},
		{ValueDecimal: f(123456789.125)}, {ValueDecimal: f(1.0 / 3)},
		{Extension: []ext{
			{URL: "r", ValueReference: &reference{Reference: "Observation/1"}},
			{URL: "s", ValueString: "q", ValueDate: "2024", ValueCanonical: "http://x|1"},
			{URL: "cc", ValueCodeableConcept: &codeableConcept{Text: "t"}},
			{URL: "cc2", ValueCodeableConcept: &codeableConcept{Coding: []coding{}, Text: "<t>"}},
			{URL: "cc3", ValueCodeableConcept: &codeableConcept{Coding: []coding{{System: "s", Code: "c"}, {Code: "d", Display: "é"}}}},
			{URL: "empty", Extension: []ext{}},
		}},
	}})
	tests := []questionnaireResponseJSON{
		{},
		{ResourceType: "QuestionnaireResponse", ID: "qr-1", Questionnaire: "http://x/Questionnaire/q|1", Status: "in-progress",
			Subject: reference{Reference: "Patient/<p>"}, BasedOn: []reference{{Reference: "ServiceRequest/1"}, {}},
			Authored: "2026-01-02T03:04:05Z", Item: items},
		{ID: "empty slices", BasedOn: []reference{}, Item: []qrItem{}},
	}
	for i, qr := range tests {
		want, err := jsonv1.Marshal(qr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := qr.appendJSON(nil)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if diff := cmp.Diff(string(got), string(want)); diff != "" {
			t.Errorf("%d: appendJSON differs from jsonv1.Marshal (-got +want):\n%s", i, diff)
		}
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		qr := questionnaireResponseJSON{Item: []qrItem{{Answer: []qrAnswer{{ValueDecimal: f(v)}}}}}
		_, wantErr := jsonv1.Marshal(qr)
		if _, err := qr.appendJSON(nil); (err == nil) != (wantErr == nil) {
			t.Errorf("%v: error %v, jsonv1.Marshal's %v", v, err, wantErr)
		}
	}
}
