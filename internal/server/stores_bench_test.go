//go:build unix

package server

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/pgtest"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// BenchmarkOrderSignStores is one order-sign call through the real router,
// over every order-sign scenario in turn, with the audit trail on SQLite
// (a single instance) and on PostgreSQL (a replica; a throw-away cluster
// started for the benchmark, unix socket, fsync on): the service process's
// CPU time per call (cpu-ns/op) and the latency (ns/op) on each.
//
//	go test -run '^$' -bench OrderSignStores ./internal/server
func BenchmarkOrderSignStores(b *testing.B) {
	bodies := orderSignScenarios(b)
	if len(bodies) == 0 {
		b.Fatal("no order-sign scenarios in testdata/scenarios")
	}
	run := func(b *testing.B, db *store.DB) {
		ts := newTestServer(b, func(cfg *Config) {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			cfg.Logger = log
			cfg.Pipeline.Loader = fhir.NewLoader(fhir.LoaderConfig{Timeout: 2 * time.Second}, log)
			cfg.Pipeline.Policies = fixedPolicies{policy.Default()}
			if db != nil {
				cfg.Store = db
			}
		})
		for _, body := range bodies {
			if rec := ts.do(b, http.MethodPost, "/cds-services/"+ServiceOrderSign, body, nil); rec.Code >= 500 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
		cpu0 := cpuTime()
		i := 0
		for b.Loop() {
			if rec := ts.do(b, http.MethodPost, "/cds-services/"+ServiceOrderSign, bodies[i%len(bodies)], nil); rec.Code >= 500 {
				b.Fatalf("status %d", rec.Code)
			}
			i++
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	}
	b.Run("sqlite", func(b *testing.B) { run(b, nil) })
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv(pgtest.SkipEnv) == "1" {
			b.Skipf("%s=1", pgtest.SkipEnv)
		}
		cluster, err := pgtest.Start(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := cluster.Stop(); err != nil {
				b.Error(err)
			}
		})
		u, err := cluster.NewDatabase(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		db, err := store.OpenPostgres(b.Context(), u, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		run(b, db)
	})
}
