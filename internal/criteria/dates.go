package criteria

import (
	"fmt"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
)

const day = 24 * time.Hour

// toDay truncates a time to its UTC date.
func toDay(t time.Time) time.Time { return chart.Day(t) }

// daysBetween is b - a in whole days.
func daysBetween(a, b time.Time) int { return int(b.Sub(a) / day) }

func addDays(t time.Time, n int) time.Time { return t.AddDate(0, 0, n) }

// nDays says a number of days with its noun: "1 day", "42 days".
func nDays(n int) string {
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d day", n)
	}
	return fmt.Sprintf("%d days", n)
}

func ymd(t *time.Time) string {
	if t == nil {
		return "undated"
	}
	return t.Format(time.DateOnly)
}
