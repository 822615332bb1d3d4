package notes

import (
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestReview measures the finder on testdata/review.yaml (see its header):
// every case must come out as labelled, except hedged ("uncertain") cases,
// which are logged.
func TestReview(t *testing.T) {
	data, err := os.ReadFile("testdata/review.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Cases []struct {
			Kind      string `yaml:"kind"`
			Text      string `yaml:"text"`
			HTML      bool   `yaml:"html"`
			Uncertain bool   `yaml:"uncertain"`
			Expect    []struct {
				Category Category `yaml:"category"`
				Counts   bool     `yaml:"counts"`
			} `yaml:"expect"`
		} `yaml:"cases"`
	}
	if err := yaml.Unmarshal(data, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Cases) < 40 {
		t.Fatalf("review set has %d cases, want >= 40", len(set.Cases))
	}
	f := finder(t)
	var tp, fp, fn, n int
	for _, c := range set.Cases {
		text := c.Text
		if c.HTML {
			text = StripHTML(text)
		}
		counted := map[Category]bool{}
		for _, fd := range f.Find(text) {
			if fd.Counts {
				counted[fd.Category] = true
			}
		}
		expected := map[Category]bool{}
		for _, e := range c.Expect {
			if e.Counts {
				expected[e.Category] = true
			}
		}
		if c.Uncertain {
			for _, cat := range Categories {
				if counted[cat] != expected[cat] {
					t.Logf("hedged case (%s): %s counts %v, labelled %v: %q", c.Kind, cat, counted[cat], expected[cat], c.Text)
				}
			}
			continue
		}
		n++
		for _, cat := range Categories {
			switch {
			case expected[cat] && counted[cat]:
				tp++
			case expected[cat]:
				fn++
				t.Errorf("missed %s (%s): %q", cat, c.Kind, c.Text)
			case counted[cat]:
				fp++
				t.Errorf("false %s (%s): %q", cat, c.Kind, c.Text)
			}
		}
	}
	t.Logf("review: %d sentences (hedged ones apart), %d positives; TP %d FP %d FN %d; precision %.3f recall %.3f",
		n, tp+fn, tp, fp, fn, float64(tp)/float64(tp+fp), float64(tp)/float64(tp+fn))
}
