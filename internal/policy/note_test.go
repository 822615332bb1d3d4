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
// (gabapentinoids by default) is recognised by code and by ingredient name;
// a counted class is not reported as uncounted.
func TestMatchUncountedTherapy(t *testing.T) {
	p := Default().Default()
	if l, ok := p.MatchUncountedTherapy([]Coding{{System: SystemRxNorm, Code: "25480"}}); !ok || l != "gabapentinoid" {
		t.Errorf("gabapentin by code: %q %v", l, ok)
	}
	if l, ok := p.MatchUncountedTherapy(nil, "Pregabalin 75 MG Oral Capsule"); !ok || l != "gabapentinoid" {
		t.Errorf("pregabalin by name: %q %v", l, ok)
	}
	if _, ok := p.MatchUncountedTherapy([]Coding{{System: SystemRxNorm, Code: "7258", Display: "naproxen"}}); ok {
		t.Error("naproxen reported as uncounted")
	}
}
