package notes

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFind: any text gives findings whose spans lie inside the text and
// match their Text, with quotes of at most MaxQuote characters, and never
// a panic.
func FuzzFind(f *testing.F) {
	for _, s := range []string{
		"Denies saddle anesthesia but reports urinary retention.",
		"Family History:\nMother - breast cancer.\n\nPlan: PT 2x/week for 6 weeks.",
		"EHL 3/5, was 4/5. Temp 38.9 C. s/p L4-5 laminectomy 2019.",
		"PT since April; 3/5/2026; T 101.2 F; no\n\nfoot drop",
		"\xff\xfe saddle \x00 numbness",
	} {
		f.Add(s)
	}
	fd := finder(f)
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 1<<14 {
			return
		}
		for _, x := range fd.Find(text) {
			if x.Start < 0 || x.End > len(text) || x.Start >= x.End || text[x.Start:x.End] != x.Text {
				t.Fatalf("span %d:%d outside or unlike %q", x.Start, x.End, x.Text)
			}
			if n := utf8.RuneCountInString(x.Quote); n > MaxQuote {
				t.Fatalf("quote of %d characters", n)
			}
			if x.Counts && (x.Negated || x.Hypothetical || x.OtherPerson || x.Historical && x.NeedsCurrent) {
				t.Fatalf("counting finding with a context that excludes it: %+v", x)
			}
		}
	})
}

// FuzzStripHTML: the text is never longer than the input plus one line
// break or space per tag, and holds no tag that was in the input's markup.
func FuzzStripHTML(f *testing.F) {
	for _, s := range []string{"<p>a</p><br>b", "<script>x</script>y", "a < b > c", "<!-- c -->d", "&amp;&lt;p&gt;", "<td>x<td>y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := StripHTML(s)
		if len(out) > len(s)+strings.Count(s, "<")*4 {
			t.Fatalf("StripHTML grew %d bytes to %d", len(s), len(out))
		}
		// Markup around text without markup characters leaves no tag. (Text
		// that itself holds "<" and ">" may legitimately spell one.)
		plain := strings.NewReplacer("<", "", ">", "", "&", "").Replace(s)
		if got := StripHTML("<p>" + plain + "</p><br/>"); strings.Contains(got, "<") || strings.Contains(got, ">") {
			t.Fatalf("tag kept: %q -> %q", plain, got)
		}
	})
}
