package chart

import "testing"

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
	}
	for _, tt := range tests {
		got, ok := stageGroup(tt.in)
		if ok != tt.ok || got.Invasive != tt.invasive || got.InSitu != tt.inSitu || got.Group != tt.group {
			t.Errorf("stageGroup(%q) = %+v, %v; want group %q invasive %v in situ %v, %v", tt.in, got, ok, tt.group, tt.invasive, tt.inSitu, tt.ok)
		}
	}
}
