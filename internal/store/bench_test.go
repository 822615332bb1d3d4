package store

import (
	"testing"
	"time"
)

// BenchmarkRecordCall measures one committed (fsynced, synchronous=FULL)
// audit record of a typical call: one order, two findings, two cards.
func BenchmarkRecordCall(b *testing.B) {
	db := open(b, b.TempDir())
	ctx := b.Context()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	calls := make([]Call, 1024)
	for i := range calls {
		calls[i] = sampleCall(at, "pat-1", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := calls[i%len(calls)]
		i++
		if err := db.RecordCall(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordCallParallel measures RecordCall under 8 concurrent callers
// per CPU, as in the server under load: records queued while a commit syncs
// are committed together (group commit).
func BenchmarkRecordCallParallel(b *testing.B) {
	db := open(b, b.TempDir())
	ctx := b.Context()
	c := sampleCall(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), "pat-1", 1)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.RecordCall(ctx, c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
