package notes

import "testing"

// TestDeclinedAndOtherSites: therapy declined or not attended, therapy for
// another body part, and red flags named only as counselling never count;
// a red flag written beside a negated one still does.
func TestDeclinedAndOtherSites(t *testing.T) {
	fd := finder(t)
	tests := []struct {
		text    string
		concept string
		counts  bool // false: found and kept out, or not found at all
	}{
		{"Patient declined physical therapy.", "physical-therapy", false},
		{"Has not tried NSAIDs.", "medication-trial", false},
		{"PT was recommended but patient never attended.", "physical-therapy", false},
		{"Refused PT; wants imaging.", "physical-therapy", false},
		{"Was told to start PT but never went.", "physical-therapy", false},
		{"Referred to physical therapy but did not go.", "physical-therapy", false},
		{"Physical therapy for shoulder since January.", "physical-therapy", false},
		{"PT for the left knee twice weekly since March.", "physical-therapy", false},
		{"Counseled on red flags such as saddle anesthesia, urinary retention, fever.", "saddle-anesthesia", false},
		{"Counseled on red flags such as saddle anesthesia, urinary retention, fever.", "urinary-retention", false},
		{"Educated about warning signs including bowel incontinence.", "bowel-incontinence", false},
		{"Pt w/o saddle anesthesia; + urinary retention.", "saddle-anesthesia", false},
		{"Pt w/o saddle anesthesia; + urinary retention.", "urinary-retention", true},
		{"PT twice weekly since April, no improvement.", "physical-therapy", true},
		{"Physical therapy for low back pain since April.", "physical-therapy", true},
	}
	for _, tt := range tests {
		got := false
		for _, f := range fd.Find(tt.text) {
			if f.Concept == tt.concept && f.Counts {
				got = true
			}
		}
		if got != tt.counts {
			t.Errorf("%q: %s counts = %v, want %v", tt.text, tt.concept, got, tt.counts)
		}
	}
}
