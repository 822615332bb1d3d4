package policy

import (
	"errors"
	"strings"
	"testing"
)

// Note criteria name note concepts or categories, alone in their entry.
func TestNoteCriterion(t *testing.T) {
	base := "id: payer-n\nname: Payer N\nmatch: {payor_identifiers: [PN]}\nred_flags:\n  prior_surgery:\n    alone:\n"
	tests := map[string]struct {
		entry string
		want  string
	}{
		"unknown concept": {"      - note: [laminectomies]\n        source: x\n", `"laminectomies" is not a note concept or category`},
		"with codes":      {"      - note: [prior-surgery]\n        valueset: https://lumbar-mri-cds.github.io/fhir/ValueSet/prior-lumbar-surgery\n        source: x\n", "needs exactly one of"},
	}
	for name, tt := range tests {
		_, err := Parse("payer.yaml", []byte(base+tt.entry))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tt.want)
		}
	}
	p, err := Parse("payer.yaml", []byte(base+"      - note: [prior-surgery, lumbar-surgery]\n        source: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.RedFlags.PriorSurgery.Alone[0].Note; len(got) != 2 {
		t.Errorf("note criterion = %v", got)
	}
	if Default().Default().NoteEvidence.Advisory {
		t.Error("the default policy makes note evidence advisory; it should count")
	}
}

// TestMatchUncountedTherapy: a class the policy lists but does not count
// (gabapentinoids by default) is recognised by code, at any product level and
// without display text, and by ingredient name; a counted class is not
// reported as uncounted.
func TestMatchUncountedTherapy(t *testing.T) {
	p := Default().Default()
	rx := func(code, display string) []Coding {
		return []Coding{{System: SystemRxNorm, Code: code, Display: display}}
	}
	tests := []struct {
		name    string
		codings []Coding
		text    string
		want    string // the class label, "" when none
	}{
		{"gabapentin by code", rx("25480", ""), "", "gabapentinoid"},
		{"pregabalin by name", nil, "Pregabalin 75 MG Oral Capsule", "gabapentinoid"},
		{"branded pregabalin without display", rx("607038", ""), "", "gabapentinoid"},
		{"branded gabapentin without display", rx("105029", ""), "", "gabapentinoid"},
		{"branded gabapentin enacarbil without display", rx("1482821", ""), "", "gabapentinoid"},
		{"branded gabapentin pack without display", rx("2398512", ""), "", "gabapentinoid"},
		{"naproxen counts", rx("7258", "naproxen"), "", ""},
		{"branded muscle relaxant counts", rx("828359", ""), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var texts []string
			if tt.text != "" {
				texts = append(texts, tt.text)
			}
			got, _, ok := p.MatchUncountedTherapy(tt.codings, texts...)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("MatchUncountedTherapy = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}
