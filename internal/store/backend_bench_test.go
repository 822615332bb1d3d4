package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// roundTrips counts the round trips to PostgreSQL: each statement sent on
// its own (the store's statements are prepared, BEGIN and COMMIT included)
// and each pipelined batch.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a pipelined batch as one round trip: it is sent
// at once and answered at once.
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// processCPU is the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is the unit of /proc/<pid>/stat CPU times (USER_HZ, 100 on
// Linux).
const clockTicks = 100

// serverCPU is the CPU time used so far by the PostgreSQL server: the
// postmaster and its live children (the backends of the store's
// connections, the WAL writer, the checkpointer).
func serverCPU(b *testing.B, postmaster int) time.Duration {
	b.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	var ticks int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command name (which may hold spaces).
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		ppid, _ := strconv.Atoi(f[1])
		if pid != postmaster && ppid != postmaster {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += utime + stime
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// BenchmarkCallDatabaseWork measures the database work of one
// authenticated service call, as the service does it on each database:
// SQLite commits the audit record (the token id stays in memory, one
// process sees every token); PostgreSQL records the token id in the shared
// replay cache and commits the audit record. Reported per call: CPU time of
// the service process (cpu-µs/call), CPU time of the PostgreSQL server
// (db-cpu-µs/call) and round trips to it (round-trips/call). One caller at
// a time, so ns/op is the latency the database adds to a call.
func BenchmarkCallDatabaseWork(b *testing.B) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	calls := make([]Call, 1024)
	for i := range calls {
		calls[i] = sampleCall(at, "pat-1", i)
	}
	run := func(b *testing.B, db *DB, shared bool, trips *roundTrips, postmaster int) {
		ctx := b.Context()
		for i := range 50 { // warm up: prepare statements on every connection
			if err := db.RecordCall(ctx, calls[i]); err != nil {
				b.Fatal(err)
			}
		}
		var startTrips int64
		if trips != nil {
			startTrips = trips.n.Load()
		}
		var startServer time.Duration
		if postmaster > 0 {
			startServer = serverCPU(b, postmaster)
		}
		startCPU := processCPU()
		i := 0
		for b.Loop() {
			now := time.Now()
			if shared {
				fresh, err := db.RecordTokenID(ctx, "https://ehr.example", fmt.Sprint("bench-jti-", i), now.Add(5*time.Minute), now)
				if err != nil || !fresh {
					b.Fatal(fresh, err)
				}
			}
			if err := db.RecordCall(ctx, calls[i%len(calls)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		n := float64(b.N)
		b.ReportMetric(float64((processCPU()-startCPU).Microseconds())/n, "cpu-µs/call")
		if postmaster > 0 {
			b.ReportMetric(float64((serverCPU(b, postmaster)-startServer).Microseconds())/n, "db-cpu-µs/call")
		}
		if trips != nil {
			b.ReportMetric(float64(trips.n.Load()-startTrips)/n, "round-trips/call")
		}
	}
	b.Run("sqlite", func(b *testing.B) {
		run(b, open(b, b.TempDir()), false, nil, 0)
	})
	b.Run("postgres", func(b *testing.B) {
		cluster := postgres.Get(b)
		u := postgres.NewDatabase(b)
		trips := &roundTrips{}
		db, err := openPostgres(b.Context(), u, nil, trips, true)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		pid, err := cluster.PostmasterPID()
		if err != nil {
			b.Fatal(err)
		}
		run(b, db, true, trips, pid)
	})
}

// BenchmarkPostgresCommit measures PostgreSQL's latency for one round trip
// without a write (SELECT) and for one committed write (the readiness
// heartbeat: an upsert committed with synchronous_commit on, so the
// server has flushed its WAL to disk before answering).
func BenchmarkPostgresCommit(b *testing.B) {
	db := postgresBackend.openNew(b)
	ctx := b.Context()
	b.Run("round-trip", func(b *testing.B) {
		for b.Loop() {
			var n int
			if err := db.write.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("commit", func(b *testing.B) {
		for b.Loop() {
			if err := db.Writable(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
