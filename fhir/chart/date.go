package chart

import (
	"strings"
	"time"
)

// Precision is how much of a FHIR date was recorded.
type Precision int

// Precisions of FHIR R4 date and dateTime values (FHIR R4 2.24.0.6, date:
// "YYYY, YYYY-MM, or YYYY-MM-DD"; a dateTime with a time is day precision
// here, as the assessment counts whole days).
const (
	PrecisionNone Precision = iota
	PrecisionYear
	PrecisionMonth
	PrecisionDay
)

// Date is a FHIR date or dateTime kept at the precision it was recorded
// with. A lower-precision date is the range of days it names: "2026-04" is
// Earliest 2026-04-01 .. Latest 2026-04-30. A dateTime is read as the
// calendar date written in it (its own offset), so "2026-04-20T23:30:00-05:00"
// is 2026-04-20. Days are UTC midnights. The zero Date is "no date".
type Date struct {
	// Text is the date as recorded, cut to its date part ("2026-04",
	// "2026-04-20"): what cards show.
	Text string
	// Precision is year, month or day.
	Precision Precision
	// Earliest and Latest are the first and last day the value allows.
	Earliest, Latest time.Time
	// Invalid is the value as recorded when one was recorded but it is not
	// a valid FHIR date ("2026-13-45"); the Date is then zero (no date), and
	// the answer says the date is invalid rather than missing, so that the
	// clinician corrects it.
	Invalid string
}

// ParseDate reads a FHIR R4 date or dateTime. ok is false for an empty or
// malformed value (a wrong month, "2026-4", free text).
func ParseDate(s string) (Date, bool) {
	s = strings.TrimSpace(s)
	var n int
	var layout string
	var p Precision
	switch {
	case len(s) >= 10 && (len(s) == 10 || s[10] == 'T'):
		n, layout, p = 10, time.DateOnly, PrecisionDay
	case len(s) == 7:
		n, layout, p = 7, "2006-01", PrecisionMonth
	case len(s) == 4:
		n, layout, p = 4, "2006", PrecisionYear
	default:
		return Date{}, false
	}
	t, err := time.Parse(layout, s[:n])
	if err != nil {
		return Date{}, false
	}
	if n == 10 && len(s) > 10 {
		// A dateTime must at least carry hours and minutes (FHIR R4
		// dateTime regex); its time and offset do not change the day
		// written in it.
		if len(s) < 16 {
			return Date{}, false
		}
	}
	d := Date{Text: s[:n], Precision: p, Earliest: t}
	switch p {
	case PrecisionDay:
		d.Latest = t
	case PrecisionMonth:
		d.Latest = t.AddDate(0, 1, -1)
	case PrecisionYear:
		d.Latest = t.AddDate(1, 0, -1)
	}
	return d, true
}

// DateOf parses a pointer to a FHIR date string; nil or malformed is the
// zero Date, a malformed one keeping its text in Invalid.
func DateOf(s *string) Date {
	if s == nil {
		return Date{}
	}
	d, ok := ParseDate(*s)
	if !ok && strings.TrimSpace(*s) != "" {
		d.Invalid = clipInvalid(strings.TrimSpace(*s))
	}
	return d
}

// clipInvalid bounds an invalid date's text: it is shown in the answer.
func clipInvalid(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// DayDate is a day-precision Date for t's UTC calendar day.
func DayDate(t time.Time) Date {
	t = Day(t)
	return Date{Text: t.Format(time.DateOnly), Precision: PrecisionDay, Earliest: t, Latest: t}
}

// Day truncates t to its UTC calendar day.
func Day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// IsZero reports whether no date was recorded (or it could not be read).
func (d Date) IsZero() bool { return d.Precision == PrecisionNone }

// Imprecise reports whether the date names more than one day.
func (d Date) Imprecise() bool { return d.Precision == PrecisionYear || d.Precision == PrecisionMonth }

// String is the date as recorded, or "undated".
func (d Date) String() string {
	if d.IsZero() {
		return "undated"
	}
	return d.Text
}

// Overlaps reports whether any day of d lies in [from, to].
func (d Date) Overlaps(from, to time.Time) bool {
	return !d.IsZero() && !d.Latest.Before(from) && !d.Earliest.After(to)
}

// Why says, for a zero Date, why there is no date: "date 2026-13-45 is
// not a valid date" when one was recorded but cannot be read, else "".
func (d Date) Why() string {
	if !d.IsZero() || d.Invalid == "" {
		return ""
	}
	return "date " + d.Invalid + " is not a valid date"
}

// first returns the first non-zero Date, else the first that was recorded
// but invalid (so that its text can be named), else the zero Date.
func first(ds ...Date) Date {
	for _, d := range ds {
		if !d.IsZero() {
			return d
		}
	}
	for _, d := range ds {
		if d.Invalid != "" {
			return d
		}
	}
	return Date{}
}
