package criteria

import (
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

const day = 24 * time.Hour

// parseDate reads a FHIR date or dateTime as the calendar date written in it
// (UTC midnight). Partial dates take the first day: "2024" is 2024-01-01 and
// "2024-05" is 2024-05-01.
func parseDate(s string) (time.Time, bool) {
	layouts := []struct {
		n      int
		layout string
	}{{10, time.DateOnly}, {7, "2006-01"}, {4, "2006"}}
	for _, l := range layouts {
		if len(s) >= l.n {
			if len(s) > l.n && l.n < 10 && s[l.n] != 'T' {
				continue
			}
			t, err := time.Parse(l.layout, s[:l.n])
			if err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

func datePtr(s *string) *time.Time {
	if s == nil {
		return nil
	}
	if t, ok := parseDate(*s); ok {
		return &t
	}
	return nil
}

func first(ds ...*time.Time) *time.Time {
	for _, d := range ds {
		if d != nil {
			return d
		}
	}
	return nil
}

func periodStart(p *r4.Period) *time.Time {
	if p == nil {
		return nil
	}
	return datePtr(p.Start)
}

func periodEnd(p *r4.Period) *time.Time {
	if p == nil {
		return nil
	}
	return datePtr(p.End)
}

// toDay truncates a time to its UTC date.
func toDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// daysBetween is b - a in whole days.
func daysBetween(a, b time.Time) int { return int(b.Sub(a) / day) }

func addDays(t time.Time, n int) time.Time { return t.AddDate(0, 0, n) }

func ymd(t *time.Time) string {
	if t == nil {
		return "undated"
	}
	return t.Format(time.DateOnly)
}
