package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

// TestConcurrentWritesAndReports runs calls, feedback, readiness checks and
// reports at once, as the server does; none may fail with SQLITE_BUSY.
func TestConcurrentWritesAndReports(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
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
	})
}

// TestGroupCommitAndClose: records written by many callers at once are each
// committed once; Close while callers are still writing commits what it
// acknowledged, and a record arriving after Close fails at once instead of
// waiting forever.
func TestGroupCommitAndClose(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		loc := b.fresh(t)
		db, err := b.open(t.Context(), loc)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		const callers, each = 16, 40
		var (
			mu    sync.Mutex
			acked []string
			wg    sync.WaitGroup
		)
		started := make(chan struct{}, callers*each)
		for w := range callers {
			wg.Go(func() {
				for i := range each {
					c := sampleCall(at, "pat", w*each+i)
					c.HookInstance = fmt.Sprintf("gc-%d-%d", w, i)
					started <- struct{}{}
					if err := db.RecordCall(t.Context(), c); err != nil {
						if !errors.Is(err, errClosed) {
							t.Errorf("RecordCall: %v", err)
						}
						return
					}
					mu.Lock()
					acked = append(acked, c.HookInstance)
					mu.Unlock()
				}
			})
		}
		// Close once a third of the records are on their way.
		for range callers * each / 3 {
			<-started
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("callers still waiting 20 s after Close")
		}
		if err := db.RecordCall(t.Context(), sampleCall(at, "pat", 1)); !errors.Is(err, errClosed) {
			t.Errorf("RecordCall after Close = %v, want errClosed", err)
		}

		db = b.openAt(t, loc)
		for _, hi := range acked {
			if n := count(t, db, "SELECT count(*) FROM calls WHERE hook_instance = ?", hi); n != 1 {
				t.Errorf("acknowledged record %s stored %d times, want 1", hi, n)
			}
		}
		var total int
		db.read.QueryRowContext(t.Context(), "SELECT count(*) FROM calls").Scan(&total)
		if total < len(acked) || len(acked) == 0 {
			t.Errorf("%d acknowledged, %d rows", len(acked), total)
		}
		t.Logf("%d of %d records acknowledged before Close, %d rows", len(acked), callers*each, total)
	})
}
