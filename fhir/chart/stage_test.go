package chart

import (
	"strings"
	"testing"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

func TestStageGroup(t *testing.T) {
	tests := []struct {
		in               string
		ok               bool
		invasive, inSitu bool
		group            string
	}{
		{"IVB", true, true, false, "IVB"},
		{"Stage IIIC1", true, true, false, "IIIC1"},
		{"stage 4", true, true, false, "4"},
		{"3C", true, true, false, "3C"},
		{"I", true, true, false, "I"},
		{"0is", true, false, true, "0is"},
		{"Stage 0", true, false, true, "0"},
		{"", false, false, false, ""},
		{"Stage", false, false, false, ""},
		{"occult", false, false, false, ""},
		{"IX", false, false, false, ""},
		{"5", false, false, false, ""},
		{"88", false, false, false, ""},
		{"IVD", false, false, false, ""},
		{"IS", true, true, false, "IS"},
		{"stageIV", false, false, false, ""},
		{"Stagei", false, false, false, ""},
		{"Stage ȺȺȺȺȺȺ", false, false, false, ""},
		{"Stage İ", false, false, false, ""},
		{"ⱥⱥⱥⱥⱥⱥ", false, false, false, ""},
	}
	for _, tt := range tests {
		got, ok := stageGroup(tt.in)
		if ok != tt.ok || got.Invasive != tt.invasive || got.InSitu != tt.inSitu || got.Group != tt.group {
			t.Errorf("stageGroup(%q) = %+v, %v; want group %q invasive %v in situ %v, %v", tt.in, got, ok, tt.group, tt.invasive, tt.inSitu, tt.ok)
		}
	}
}

// Of several stages an invasive one wins, whatever the order: a clinical
// stage 0 and a pathologic IVB read as IVB.
func TestCancerStageOfSeveral(t *testing.T) {
	ajcc := func(code, display string) r4.ConditionStage {
		sys := ajccSystem
		return r4.ConditionStage{Summary: &r4.CodeableConcept{Coding: []r4.Coding{{System: &sys, Code: &code, Display: &display}}}}
	}
	tests := []struct {
		stages []r4.ConditionStage
		want   string
	}{
		{[]r4.ConditionStage{ajcc("0", "0"), ajcc("4B", "IVB")}, "IVB"},
		{[]r4.ConditionStage{ajcc("4B", "IVB"), ajcc("0", "0")}, "IVB"},
		{[]r4.ConditionStage{ajcc("0is", "0is")}, "0is"},
		{[]r4.ConditionStage{{}, ajcc("2A", "IIA")}, "IIA"},
	}
	for _, tt := range tests {
		if got := cancerStage(tt.stages); got.Group != tt.want {
			t.Errorf("cancerStage = %+v, want group %q", got, tt.want)
		}
	}
}

// A display or text of the chart is kept to MaxText characters.
func TestDisplaysAreClipped(t *testing.T) {
	long := strings.Repeat("ü", MaxText+100)
	sys, code := "http://snomed.info/sct", "1"
	c := concept(&r4.CodeableConcept{Text: &long, Coding: []r4.Coding{{System: &sys, Code: &code, Display: &long}}})
	want := strings.Repeat("ü", MaxText) + "…"
	if c.Text != want || c.Codings[0].Display != want {
		t.Errorf("text %d and display %d characters, want %d", len([]rune(c.Text)), len([]rune(c.Codings[0].Display)), MaxText+1)
	}
	if got := Clip("short", 10); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
}
