package report

import (
	"bytes"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"
)

func TestHTML(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, sample()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.html", b.Bytes())
	page := b.String()
	for _, bad := range []string{"<script", "<link", "@import", "url(", "src="} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q: it must not load anything", bad)
		}
	}
	// Every SVG is well-formed XML.
	for _, svg := range regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(page, -1) {
		if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
			t.Errorf("SVG is not well-formed: %v", err)
		}
	}
}

// TestHTMLRateBarOfNothing: a card type with no cards issued has no rate
// bar and reads "-" with its denominator, never 0 %.
func TestHTMLRateBarOfNothing(t *testing.T) {
	r := sample()
	r.CardTypes = append(r.CardTypes, CardType{Topic: "guideline"})
	n := 0
	for _, c := range page(r).Charts {
		if c.ID != "acceptance" && c.ID != "override" {
			continue
		}
		n++
		last := c.Bars[len(c.Bars)-1]
		if last.Value != "" || last.Text != "- (0 cards)" || last.W != 0 {
			t.Errorf("%s: bar of a type with no cards issued: value %q, text %q, width %d", c.ID, last.Value, last.Text, last.W)
		}
	}
	if n != 2 {
		t.Errorf("%d rate charts, want 2", n)
	}
}

func TestHTMLEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, &Report{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<svg") || !strings.Contains(b.String(), "No data for this period.") {
		t.Error("an empty report should show 'No data' instead of charts")
	}
}

func TestNiceMax(t *testing.T) {
	for in, want := range map[float64]float64{0: 4, 3: 4, 5: 8, 7: 8, 9: 12, 11: 12, 37: 40, 100: 100, 101: 120, 450: 600, 730: 800, 12.5: 16} {
		if got := niceMax(in); got != want {
			t.Errorf("niceMax(%v) = %v, want %v", in, got, want)
		}
	}
}
