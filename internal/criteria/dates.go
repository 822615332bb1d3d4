package criteria

import (
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
)

const day = 24 * time.Hour

// toDay truncates a time to its UTC date.
func toDay(t time.Time) time.Time { return chart.Day(t) }

// daysBetween is b - a in whole days.
func daysBetween(a, b time.Time) int { return int(b.Sub(a) / day) }

func addDays(t time.Time, n int) time.Time { return t.AddDate(0, 0, n) }

func ymd(t *time.Time) string {
	if t == nil {
		return "undated"
	}
	return t.Format(time.DateOnly)
}
