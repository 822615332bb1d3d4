package notes

import (
	"regexp/syntax"
	"strings"
)

// prefilter holds literals of which every match of a pattern contains at
// least one (lower case when the pattern folds case). A sentence that holds
// none of them cannot match, so the pattern is not run on it: Go's regexp
// is linear but slow per byte, and most sentences hold no finding.
type prefilter struct {
	any  []string
	fold bool
}

// newPrefilter derives the literals from the pattern's syntax tree; nil
// means no usable set (the pattern is always run).
func newPrefilter(expr string, fold bool) *prefilter {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	lits := required(re.Simplify())
	if len(lits) == 0 {
		return nil
	}
	for i, l := range lits {
		if l == "" {
			return nil
		}
		if fold {
			lits[i] = strings.ToLower(l)
		}
	}
	return &prefilter{any: lits, fold: fold}
}

// required returns strings one of which every match contains, or nil when
// no such set is known.
func required(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		return []string{string(re.Rune)}
	case syntax.OpCapture:
		return required(re.Sub[0])
	case syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
		return nil
	case syntax.OpConcat:
		// The concatenation's best child: the set whose shortest literal
		// is longest (the most selective).
		var best []string
		bestLen := 0
		for _, sub := range re.Sub {
			s := required(sub)
			if s == nil {
				continue
			}
			if m := minLen(s); m > bestLen {
				best, bestLen = s, m
			}
		}
		return best
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			s := required(sub)
			if s == nil {
				return nil
			}
			out = append(out, s...)
		}
		return out
	}
	return nil
}

func minLen(s []string) int {
	m := -1
	for _, x := range s {
		if m < 0 || len(x) < m {
			m = len(x)
		}
	}
	return m
}

// may reports whether the sentence (and its ASCII-lowered copy) can match.
func (p *prefilter) may(s, lower string) bool {
	if p == nil {
		return true
	}
	in := s
	if p.fold {
		in = lower
	}
	for _, l := range p.any {
		if strings.Contains(in, l) {
			return true
		}
	}
	return false
}

// lowerASCII lowers ASCII letters only, so byte offsets are kept.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
