package fhir

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"
)

const searchDelay = 50 * time.Millisecond

// slowRecorder answers every request after searchDelay, like a FHIR server
// whose every search costs a database round trip.
func slowRecorder(t testing.TB) *recorder {
	return newRecorder(t, func(typ string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(searchDelay)
			bundleHandler(typ, condition("c1", "Patient/"+testPatient))(w, r)
		}
	})
}

// TestLoadRunsSearchesInParallel: with every search costing 50 ms, a Load
// of all nine searches must cost far less than nine in a row.
func TestLoadRunsSearchesInParallel(t *testing.T) {
	srv := slowRecorder(t)
	l, _ := newTestLoader(LoaderConfig{})
	ctx := context.Background()
	// Warm the connection pool so the measurement is about the searches.
	if _, err := l.Load(ctx, LoadInput{PatientID: testPatient, FHIRServer: srv.base()}); err != nil {
		t.Fatal(err)
	}
	var times []time.Duration
	for range 5 {
		start := time.Now()
		rec, err := l.Load(ctx, LoadInput{PatientID: testPatient, FHIRServer: srv.base()})
		times = append(times, time.Since(start))
		if err != nil || !rec.Complete() || rec.Queries != len(Searches) {
			t.Fatalf("Load: err %v, unavailable %v, queries %d", err, rec.Unavailable, rec.Queries)
		}
	}
	slices.Sort(times)
	median := times[len(times)/2]
	serial := time.Duration(len(Searches)) * searchDelay
	t.Logf("%d searches at %v each: median Load %v (min %v, max %v); serial would be %v",
		len(Searches), searchDelay, median, times[0], times[len(times)-1], serial)
	if limit := 4 * searchDelay; median >= limit {
		t.Errorf("median Load %v, want < %v (4 x one search)", median, limit)
	}
}

// BenchmarkLoad50ms compares one search with a full Load when every search
// costs 50 ms. The target is full <= 1.5 x single; both report their median.
//
//	go test -run '^$' -bench Load50ms -benchtime 20x ./fhir/
func BenchmarkLoad50ms(b *testing.B) {
	srv := slowRecorder(b)
	l := NewLoader(LoaderConfig{}, nil)
	ctx := context.Background()
	in := LoadInput{PatientID: testPatient, FHIRServer: srv.base()}
	if _, err := l.Load(ctx, in); err != nil {
		b.Fatal(err)
	}
	measure := func(b *testing.B, op func() error) {
		var times []time.Duration
		for b.Loop() {
			start := time.Now()
			if err := op(); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
	}
	b.Run("single-search", func(b *testing.B) {
		c, err := l.Client(srv.base(), "")
		if err != nil {
			b.Fatal(err)
		}
		measure(b, func() error {
			_, err := c.Fetch(ctx, "Condition?patient="+testPatient)
			return err
		})
	})
	b.Run("full-load", func(b *testing.B) {
		measure(b, func() error {
			_, err := l.Load(ctx, in)
			return err
		})
	})
}
