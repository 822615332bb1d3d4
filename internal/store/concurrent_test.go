package store

import (
	"sync"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

// TestConcurrentWritesAndReports runs calls, feedback, readiness checks and
// reports at once, as the server does; none may fail with SQLITE_BUSY.
func TestConcurrentWritesAndReports(t *testing.T) {
	db := open(t, t.TempDir())
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const workers, each = 6, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := w*each + i
				c := sampleCall(at, "pat", n)
				if err := db.RecordCall(ctx, c); err != nil {
					t.Error(err)
					return
				}
				err := db.RecordFeedback(ctx, service, []hooks.FeedbackItem{{Card: c.Cards[0].UUID, Outcome: "overridden", OutcomeTimestamp: "2026-03-01T10:05:31Z"}})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := db.Report(ctx, at, at.Add(time.Hour)); err != nil {
				t.Error(err)
			}
			if err := db.Writable(ctx); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	r, err := db.Report(ctx, at, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.Calls != workers*each || r.Cards.Overridden != workers*each {
		t.Errorf("calls %d, overridden %d; want %d each", r.Calls, r.Cards.Overridden, workers*each)
	}
}
