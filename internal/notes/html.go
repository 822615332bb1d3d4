package notes

import (
	"html"
	"strings"
)

// blockTags are the HTML elements that start or end a line of text.
var blockTags = map[string]bool{"p": true, "div": true, "br": true, "li": true, "ul": true, "ol": true,
	"tr": true, "table": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"section": true, "article": true, "header": true, "footer": true, "blockquote": true, "pre": true,
	"hr": true, "dt": true, "dd": true, "dl": true, "title": true, "thead": true, "tbody": true, "caption": true}

// StripHTML returns the text of an HTML note: tags removed, character
// references decoded, block elements (p, div, br, li, tr, headings...) as
// line breaks, a table row's first two cells as "label: answer" and the
// others separated by a space, script and style content
// and comments dropped. A heading (h1-h6) ends with a colon, so that it
// reads as a section header ("<h3>Assessment</h3>" is "Assessment:" on its
// own line) and ends the section before it. The result is never longer
// than the input plus two bytes per tag.
func StripHTML(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	text := func(t string) { b.WriteString(html.UnescapeString(t)) }
	// heading is where the text of an open heading starts, -1 outside one.
	heading := -1
	// cell counts the cells opened in the current table row.
	cell := 0
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			text(s)
			break
		}
		text(s[:i])
		s = s[i:]
		if strings.HasPrefix(s, "<!--") {
			j := strings.Index(s, "-->")
			if j < 0 {
				break
			}
			s = s[j+3:]
			continue
		}
		j := strings.IndexByte(s, '>')
		if j < 0 {
			// A lone "<" is text ("pain < 3 weeks").
			text(s)
			break
		}
		tag := s[1:j]
		name := strings.ToLower(strings.TrimLeft(tag, "/!?"))
		if k := strings.IndexAny(name, " \t\r\n/"); k >= 0 {
			name = name[:k]
		}
		if name == "" || !isLetter(name[0]) {
			// "<" followed by something that is not a tag name is text.
			text(s[:1])
			s = s[1:]
			continue
		}
		s = s[j+1:]
		closing := strings.HasPrefix(tag, "/")
		switch {
		case (name == "script" || name == "style") && !closing:
			end := indexASCIIFold(s, "</"+name)
			if end < 0 {
				s = ""
				continue
			}
			s = s[end:]
		case blockTags[name]:
			cell = 0
			if isHeading(name) {
				if closing && heading >= 0 {
					if t := strings.TrimSpace(b.String()[heading:]); t != "" && !strings.HasSuffix(t, ":") {
						b.WriteByte(':')
					}
					heading = -1
				} else if !closing {
					heading = b.Len() + 1
				}
			}
			b.WriteByte('\n')
		case (name == "td" || name == "th") && !closing:
			// A row's first cell is its label, the next its answer: "Saddle
			// anesthesia: No" reads as the checklist it is, where "Saddle
			// anesthesia No" would read as the sign.
			if cell == 1 {
				b.WriteString(": ")
			} else {
				b.WriteByte(' ')
			}
			cell++
		}
	}
	return b.String()
}

func isHeading(name string) bool {
	return len(name) == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6'
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// indexASCIIFold is strings.Index ignoring ASCII case. Unlike lower-casing
// the text first, it keeps byte offsets right when the text holds invalid
// UTF-8 (which strings.ToLower widens to U+FFFD). sub must be lower-case.
func indexASCIIFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		match := true
		for j := 0; j < len(sub); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}
