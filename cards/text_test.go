package cards

import (
	"bytes"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// TestChartTextStaysInline: text from the chart (a display, a note quote)
// cannot start a markdown heading, list or quote in a card's detail, nor
// turn the text around with bidirectional overrides; its inline markdown
// is escaped. Summaries stay on one line.
func TestChartTextStaysInline(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"heading after blank line", "naproxen\n\n# FAKE HEADER", `naproxen  \# FAKE HEADER`},
		{"list item", "naproxen\r\n- approved", `naproxen  - approved`},
		{"NUL and tab", "nap\x00rox\ten", "nap rox en"},
		{"right-to-left override", "abc\u202eevil\u202c", "abcevil"},
		{"line separator", "a\u2028b", "a b"},
		{"inline markdown", "*bold* [link](x) <b>", `\*bold\* \[link\](x) &lt;b&gt;`},
		{"plain text unchanged", "naproxen 500 MG Oral Tablet", "naproxen 500 MG Oral Tablet"},
		// An escape in chart text must not turn the next escape off.
		{"backslashes", `\[click\](https://evil.example)`, `\\\[click\\\](https\://evil.example)`},
		{"character reference", "a&#x202E;b &amp;", `a&amp;\#x202E;b &amp;amp;`},
		{"strikethrough, heading, table", "~~no~~ #1 a|b", `\~\~no\~\~ \#1 a\|b`},
		{"long text cut", strings.Repeat("é", 4100), strings.Repeat("é", 4000) + "…"},
		{"autolinks", "www.evil.example WWW.X.ORG ftp://x.org a@b.com", "www\\.evil.example WWW\\.X.ORG ftp\\://x.org a@\u2060b.com"},
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

// TestChartTextRendersAsText renders escaped chart text, as a list item of
// a card's detail, with a CommonMark renderer and GitHub's extensions
// (autolinks, strikethrough, tables): whatever the chart holds, the HTML
// has no link, emphasis, code, heading, image, table or strikethrough, and
// no bidirectional override comes back through a character reference.
func TestChartTextRendersAsText(t *testing.T) {
	md := goldmark.New(goldmark.WithExtensions(extension.GFM))
	hostile := []string{
		`Disc \*URGENT APPROVED\* \[click here\](https://evil.example/phish)`,
		"[link](https://evil.example) ![img](https://evil.example/x.png) <a href=x>y</a>",
		"~~not~~ *em* **strong** _u_ `code`",
		"www.evil.example/login https://evil.example HTTPS://EVIL.EXAMPLE someone@evil.example",
		"&#x202E;lanigram&#x202C; &#60;b&#62; &lt;",
		"# heading", "| a | b |", "\\", "\\\\*x\\\\*",
	}
	for _, h := range hostile {
		var out bytes.Buffer
		if err := md.Convert([]byte("- Diagnosis: "+mdEscape(h)+"\n"), &out); err != nil {
			t.Fatal(err)
		}
		html := out.String()
		for _, tag := range []string{"<a ", "<em>", "<strong>", "<code>", "<h1", "<img", "<table", "<del>", "<b>"} {
			if strings.Contains(html, tag) {
				t.Errorf("chart text %q renders %s: %s", h, tag, html)
			}
		}
		if strings.Contains(html, "\u202e") || strings.Contains(html, "&#x202E;") && !strings.Contains(html, "&amp;#x202E;") {
			t.Errorf("chart text %q renders a bidirectional override: %s", h, html)
		}
	}
}

// The advice to start therapy names only first-line classes the policy
// counts, and activity modification as it counts.
func TestFirstLineTherapy(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *policy.TherapyClasses)
		want string
	}{
		{"default", func(*policy.TherapyClasses) {}, "physical therapy, NSAIDs, chiropractic care, activity modification beside another of these"},
		{"NSAIDs not counted", func(c *policy.TherapyClasses) { c.NSAID.Counts = false }, "physical therapy, chiropractic care, activity modification beside another of these"},
		{"activity modification alone", func(c *policy.TherapyClasses) { c.ActivityModification.Alone = true }, "physical therapy, NSAIDs, chiropractic care, activity modification"},
		{"activity modification not counted", func(c *policy.TherapyClasses) { c.ActivityModification.Counts = false }, "physical therapy, NSAIDs, chiropractic care"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := *policy.Default().Default()
			tt.edit(&pol.ConservativeTherapy.Classes)
			b := builder{in: Input{Policy: &pol}}
			if got := b.firstLineTherapy(); got != tt.want {
				t.Errorf("firstLineTherapy() = %q, want %q", got, tt.want)
			}
		})
	}
}
