package cards

import (
	"strings"
	"testing"
)

// TestChartTextStaysInline: text from the chart (a display, a note quote)
// cannot start a markdown heading, list or quote in a card's detail, nor
// turn the text around with bidirectional overrides; its inline markdown
// is escaped. Summaries stay on one line.
func TestChartTextStaysInline(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"heading after blank line", "naproxen\n\n# FAKE HEADER", `naproxen  # FAKE HEADER`},
		{"list item", "naproxen\r\n- approved", `naproxen  - approved`},
		{"NUL and tab", "nap\x00rox\ten", "nap rox en"},
		{"right-to-left override", "abc\u202eevil\u202c", "abcevil"},
		{"line separator", "a\u2028b", "a b"},
		{"inline markdown", "*bold* [link](x) <b>", `\*bold\* \[link\](x) &lt;b&gt;`},
		{"plain text unchanged", "naproxen 500 MG Oral Tablet", "naproxen 500 MG Oral Tablet"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := mdEscape(c.in); got != c.want {
				t.Errorf("mdEscape(%q) = %q, want %q", c.in, got, c.want)
			}
			if got := summary(c.in); strings.ContainsAny(got, "\r\n\x00\u202e") {
				t.Errorf("summary(%q) = %q keeps a line break or control", c.in, got)
			}
		})
	}
}
