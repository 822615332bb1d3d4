package store

import (
	"testing"
	"time"
)

// TestAnsweredLatency: besides the service's own time (latency_ms), each
// call's row gets the latency its client saw, to its audit commit
// (answered_ms): written by the next commit, and for the last calls at
// Close. It is at least the service time, and bounded by the test's wall time.
func TestAnsweredLatency(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		loc := b.fresh(t)
		db, err := b.open(t.Context(), loc)
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		first := sampleCall(time.Now().Add(-5*time.Millisecond), "pat-1", 1)
		first.Latency = 5 * time.Millisecond
		if err := db.RecordCall(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		second := sampleCall(time.Now().Add(-time.Millisecond), "pat-1", 2)
		second.Latency = time.Millisecond
		if err := db.RecordCall(t.Context(), second); err != nil {
			t.Fatal(err)
		}
		// The first call's figure came with the second commit.
		if n := count(t, db, "SELECT count(*) FROM calls WHERE answered_ms IS NOT NULL AND answered_ms >= latency_ms"); n != 1 {
			t.Errorf("%d rows with the answered latency before Close, want 1 (the first call's)", n)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		spent := float64(time.Since(began)+5*time.Millisecond) / float64(time.Millisecond)
		db = b.openAt(t, loc)
		if n := count(t, db, "SELECT count(*) FROM calls WHERE answered_ms IS NOT NULL AND answered_ms >= latency_ms AND answered_ms <= ?", spent); n != 2 {
			t.Errorf("%d rows with a plausible answered latency after Close, want 2", n)
		}
		// The report shows both figures: the service time and what the
		// client saw.
		r, err := db.Report(t.Context(), began.Add(-time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if r.Latency.N != 2 || r.Answered.N != 2 || r.Answered.Max < r.Latency.Max || r.Answered.Max > spent {
			t.Errorf("report latency %+v, answered %+v, want both over 2 calls, answered at least the service time", r.Latency, r.Answered)
		}
	})
}
