package notes

import "testing"

// TestReview measures the finder on testdata/review.yaml (see its header):
// every case must come out as labelled, except hedged ("uncertain") cases,
// which are logged.
func TestReview(t *testing.T) {
	cases := readLabelled(t, "testdata/review.yaml")
	f := finder(t)
	var tp, fp, fn, n int
	for _, c := range cases {
		_, counted, expected := c.categories(f)
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
