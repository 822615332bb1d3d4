package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunAgainstBaseline(t *testing.T) {
	url, stop, err := Baseline()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	res, err := Run(context.Background(), Config{URL: url, Bodies: [][]byte{[]byte(`{"hook":"order-sign"}`), []byte(`not json`)}, Concurrency: 4, Requests: 40})
	if err != nil {
		t.Fatal(err)
	}
	// Every second body is not JSON: the baseline answers 400.
	if res.Requests != 40 || res.Errors != 20 || res.Statuses[200] != 20 || res.Statuses[400] != 20 {
		t.Errorf("got %d requests, %d errors, statuses %v; want 40, 20, 20×200 and 20×400", res.Requests, res.Errors, res.Statuses)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 || res.Throughput <= 0 {
		t.Errorf("implausible figures: %s", res)
	}
}

func metricsServer(t *testing.T, text *string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, *text)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReadGauges(t *testing.T) {
	text := "# HELP go_goroutines Number of goroutines.\ngo_goroutines 12\ngo_memstats_heap_inuse_bytes 4.5e+06\n" +
		"go_memstats_heap_inuse_bytes_total 1\nprocess_resident_memory_bytes 3.2505856e+07\n" +
		"go_memstats_next_gc_bytes 2.5e+07\ngo_gc_gogc_percent 400\n"
	srv := metricsServer(t, &text)
	g, err := ReadGauges(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Gauges{Goroutines: 12, RSS: 32505856, HeapInuse: 4.5e6, LiveHeap: 5e6}); g != want {
		t.Errorf("got %+v, want %+v", g, want)
	}
	text = "go_goroutines 12\n"
	if _, err := ReadGauges(context.Background(), srv.URL); err == nil {
		t.Error("missing gauges: no error")
	}
}

// TestSoakErr: a soak fails on a 5xx, on goroutine growth, and when the
// target throttled valid calls (429), naming the flags that stop it.
func TestSoakErr(t *testing.T) {
	ok := map[Kind]map[int]int{KindValid: {200: 90}, KindBadToken: {401: 10}, KindHostile: {400: 5}}
	tests := []struct {
		name     string
		statuses map[Kind]map[int]int
		growth   float64
		want     string
	}{
		{"clean", ok, 0, ""},
		{"5xx", map[Kind]map[int]int{KindValid: {200: 9, 503: 1}}, 0, "1 answers with a 5xx status"},
		{"goroutines", ok, 11, "goroutines grew by 11"},
		{"throttled", map[Kind]map[int]int{KindValid: {200: 78, 429: 20142}, KindBadToken: {401: 39, 429: 8947}}, 0,
			"refused 20142 of 20220 valid calls with 429 (its rate limit or failed-authentication limit), so the run soaked refusals, not the service: start the target with --rate-limit 0 --auth-failure-limit 0"},
	}
	for _, tt := range tests {
		r := SoakResult{Statuses: tt.statuses, Start: Gauges{Goroutines: 14}, End: Gauges{Goroutines: 14 + tt.growth}}
		err := r.Err(10)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("%s: Err() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestSoak runs a short soak against a target that fails calls whose data
// must come from fhirServer: the 5xx are counted, every kind is sent.
func TestSoak(t *testing.T) {
	text := "go_goroutines 7\nprocess_resident_memory_bytes 1e6\ngo_memstats_heap_inuse_bytes 5e5\ngo_memstats_next_gc_bytes 4e6\n"
	metrics := metricsServer(t, &text)
	// Tokens are "Bearer h.N.sig", good once each.
	var mu sync.Mutex
	used := map[string]bool{}
	fresh := func(tok string) bool {
		mu.Lock()
		defer mu.Unlock()
		ok := strings.HasPrefix(tok, "Bearer h.") && strings.HasSuffix(tok, ".sig") && !used[tok]
		used[tok] = true
		return ok
	}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case !fresh(r.Header.Get("Authorization")):
			w.WriteHeader(http.StatusUnauthorized)
		case bytes.Contains(body, []byte(`"fhirServer"`)):
			w.WriteHeader(http.StatusBadGateway)
		case !bytes.HasPrefix(body, []byte(`{"hook"`)):
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer target.Close()
	var n atomic.Int64
	res, err := Soak(context.Background(), SoakConfig{
		URL: target.URL, MetricsURL: metrics.URL, Concurrency: 3, Duration: 500 * time.Millisecond,
		Bodies:    [][]byte{[]byte(`{"hook":"order-sign","prefetch":{}}`)},
		Token:     func() string { return fmt.Sprintf("Bearer h.%d.sig", n.Add(1)) },
		SlowDelay: 10 * time.Millisecond, Settle: 10 * time.Millisecond, Warmup: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []Kind{KindValid, KindHostile, KindBadToken, KindFHIRFailing, KindFHIRSlow} {
		if len(res.Statuses[k]) == 0 {
			t.Errorf("no %s calls: %v", k, res.Statuses)
		}
	}
	if res.ServerErrors() != res.Statuses[KindFHIRFailing][502]+res.Statuses[KindFHIRSlow][502] || res.ServerErrors() == 0 {
		t.Errorf("5xx counted %d, statuses %v", res.ServerErrors(), res.Statuses)
	}
	if res.Statuses[KindBadToken][200] != 0 {
		t.Errorf("a bad token was accepted: %v", res.Statuses[KindBadToken])
	}
	if res.Start.Goroutines != 7 || res.End.Goroutines != 7 {
		t.Errorf("gauges %+v %+v", res.Start, res.End)
	}
	if s := res.String(); !strings.Contains(s, "5xx=") || !strings.Contains(s, fmt.Sprint(res.Requests)) {
		t.Errorf("String() = %q", s)
	}
}
