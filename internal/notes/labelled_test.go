package notes

import (
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// labelledCase is one sentence of a labelled set (testdata/heldout.yaml,
// testdata/review.yaml) with the findings a reviewer expects of it.
type labelledCase struct {
	Kind      string `yaml:"kind"`
	Text      string `yaml:"text"`
	HTML      bool   `yaml:"html"`
	Uncertain bool   `yaml:"uncertain"`
	Expect    []struct {
		Category Category `yaml:"category"`
		Counts   bool     `yaml:"counts"`
	} `yaml:"expect"`
}

// readLabelled reads a labelled set and fails the test when it holds fewer
// than 40 sentences.
func readLabelled(t *testing.T, path string) []labelledCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Cases []labelledCase `yaml:"cases"`
	}
	if err := yaml.Unmarshal(data, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Cases) < 40 {
		t.Fatalf("%s has %d cases, want >= 40", path, len(set.Cases))
	}
	return set.Cases
}

// categories runs the finder on the case's text (tags stripped when it is
// HTML) and returns the categories it found and those it found counting,
// and the categories the case labels as counting.
func (c labelledCase) categories(f *Finder) (found, counted, expected map[Category]bool) {
	text := c.Text
	if c.HTML {
		text = StripHTML(text)
	}
	found, counted, expected = map[Category]bool{}, map[Category]bool{}, map[Category]bool{}
	for _, fd := range f.Find(text) {
		found[fd.Category] = true
		if fd.Counts {
			counted[fd.Category] = true
		}
	}
	for _, e := range c.Expect {
		if e.Counts {
			expected[e.Category] = true
		}
	}
	return found, counted, expected
}
