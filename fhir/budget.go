package fhir

import (
	"fmt"
	"slices"
	"sync/atomic"
)

// budget is an amount (bytes or resources) that the parts of one call draw
// from: the FHIR responses of all its searches and pages, for example. It
// bounds what one call may hold whatever the sender does; a draw that does
// not fit fails and takes nothing. Safe for concurrent use.
type budget struct {
	limit int64
	left  atomic.Int64
}

// newBudget returns a budget of n.
func newBudget(n int64) *budget {
	b := &budget{limit: n}
	b.left.Store(n)
	return b
}

// remaining is what is left to draw.
func (b *budget) remaining() int64 { return b.left.Load() }

// take draws n; false (and nothing drawn) when less than n is left.
func (b *budget) take(n int64) bool {
	for {
		left := b.left.Load()
		if n > left {
			return false
		}
		if b.left.CompareAndSwap(left, left-n) {
			return true
		}
	}
}

// readType reports the resource types the assessment reads: the searched
// types and the types they include (chart.Searches), and clinical notes
// (DocumentReference). Entries of any other type are counted as skipped from
// their resourceType alone, before a struct is allocated for them. It is the
// one allow-list: a type the assessment starts to read is a search, an
// include of one, or is added here.
func readType(t string) bool {
	if t == "DocumentReference" {
		return true
	}
	for _, s := range Searches {
		if s.ResourceType == t || slices.Contains(s.Includes, t) {
			return true
		}
	}
	return false
}

// capResults enforces the per-call resource cap over the searches' results in
// search order: a search whose entries would take the call over max is
// dropped as a whole and counts as not supplied (an incomplete search would
// read as "not documented", so a partial one is never used). It returns the
// keys of the dropped searches.
func capResults(results []result, max int) []Search {
	var dropped []Search
	total := 0
	for i := range results {
		n := len(results[i].raws)
		if total+n > max {
			results[i] = result{limit: max, callLimit: true}
			dropped = append(dropped, Searches[i].Key)
			continue
		}
		total += n
	}
	return dropped
}

// overCap is the reason a prefetch value with too many entries is not used.
func overCap(max int) string {
	return fmt.Sprintf("Bundle with more than %d entries", max)
}
