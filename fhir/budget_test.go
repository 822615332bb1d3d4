package fhir

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tinyBundle is a searchset of n entries of the given JSON resource.
func tinyBundle(n int, resource string) string {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Bundle","type":"searchset","entry":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"resource":` + resource + `}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

// TestPrefetchResourceCaps: a prefetch Bundle over the per-search cap, or
// searches together over the per-call cap, are not used (never partly), and
// a fhirServer, when given, is asked instead.
func TestPrefetchResourceCaps(t *testing.T) {
	obs := `{"resourceType":"Observation"}`
	tests := []struct {
		name        string
		cfg         LoaderConfig
		prefetch    map[string]string
		withServer  bool
		wantObs     int
		wantConds   int
		wantUnavail []Search
		wantLog     string
	}{
		{name: "at the search cap", cfg: LoaderConfig{MaxResources: 50}, prefetch: map[string]string{"observations": tinyBundle(50, obs)}, wantObs: 50},
		{name: "over the search cap", cfg: LoaderConfig{MaxResources: 50}, prefetch: map[string]string{"observations": tinyBundle(51, obs)},
			wantUnavail: []Search{SearchObservations}, wantLog: "Bundle with more than 50 entries"},
		{name: "over the search cap, fhirServer asked", cfg: LoaderConfig{MaxResources: 50}, prefetch: map[string]string{"conditions": tinyBundle(51, condition("c", "Patient/"+testPatient))},
			withServer: true, wantConds: 1},
		{name: "at the call cap", cfg: LoaderConfig{MaxCallResources: 60},
			prefetch: map[string]string{"observations": tinyBundle(30, obs), "conditions": tinyBundle(30, condition("c", "Patient/"+testPatient))}, wantObs: 30, wantConds: 1},
		{name: "over the call cap: the later search is dropped", cfg: LoaderConfig{MaxCallResources: 59},
			prefetch:    map[string]string{"observations": tinyBundle(30, obs), "conditions": tinyBundle(30, condition("c", "Patient/"+testPatient))},
			wantConds:   1, // conditions come before observations in Searches
			wantUnavail: []Search{SearchObservations}, wantLog: "more than 59 resources"},
	}
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		if typ == "Condition" {
			return bundleHandler(typ, condition("from-server", "Patient/"+testPatient))
		}
		return nil
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, logs := newTestLoader(tc.cfg)
			pf := allNull()
			for k, v := range tc.prefetch {
				pf[k] = json.RawMessage(v)
			}
			in := LoadInput{PatientID: testPatient, Prefetch: pf, PrefetchValid: true}
			if tc.withServer {
				in.FHIRServer = srv.base()
			}
			rec, err := l.Load(context.Background(), in)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(rec.Observations) != tc.wantObs || len(rec.Conditions) != tc.wantConds {
				t.Errorf("got %d observations and %d conditions, want %d and %d", len(rec.Observations), len(rec.Conditions), tc.wantObs, tc.wantConds)
			}
			if diff := cmp.Diff(rec.Unavailable, tc.wantUnavail); diff != "" {
				t.Errorf("Unavailable (-got +want):\n%s", diff)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log does not say %q:\n%s", tc.wantLog, logs)
			}
		})
	}
}

// TestPrefetchCapBoundsMemory: 110,000 tiny resources in one prefetch Bundle
// (a 4.9 MB body) cost about what the cap allows, not what was sent.
func TestPrefetchCapBoundsMemory(t *testing.T) {
	big := tinyBundle(110_000, `{"resourceType":"Observation"}`)
	l, _ := newTestLoader(LoaderConfig{})
	pf := allNull()
	pf["observations"] = json.RawMessage(big)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf, PrefetchValid: true})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d-byte prefetch of 110,000 resources: %.2f MiB allocated during Load", len(big), float64(alloc)/(1<<20))
	if len(rec.Observations) != 0 || !slices.Equal(rec.Unavailable, []Search{SearchObservations}) {
		t.Errorf("observations %d, Unavailable %v: want the search not used", len(rec.Observations), rec.Unavailable)
	}
	// The walk stops at entry DefaultMaxResources+1: its slice of entries
	// (40 bytes each, grown by doubling) is the cost.
	if alloc > 1<<20 {
		t.Errorf("allocated %d bytes for a capped prefetch", alloc)
	}
}

// TestSkipsUnreadTypesWithoutDecoding: entries of types the assessment does
// not read are skipped from their resourceType (even malformed ones, which a
// decode would reject), logged once per search, not once per entry.
func TestSkipsUnreadTypesWithoutDecoding(t *testing.T) {
	l, logs := newTestLoader(LoaderConfig{})
	pf := allNull()
	// A Basic with a value samply could not decode: skipped as a type.
	basic := `{"resourceType":"Basic","code":42}`
	med := `{"resourceType":"Medication","id":"m1","code":"not an object"}`
	pf["conditions"] = json.RawMessage(tinyBundle(1000, basic)[:len(tinyBundle(1000, basic))-2] + `,{"resource":` + med + `},{"resource":` + condition("c1", "Patient/"+testPatient) + `}]}`)
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf, PrefetchValid: true})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(rec.Conditions) != 1 || rec.Skipped != 1000 {
		t.Errorf("conditions %d, skipped %d; want 1 and 1000 (the Medication is read elsewhere, not skipped)", len(rec.Conditions), rec.Skipped)
	}
	if n := strings.Count(logs.String(), "fhir entries skipped"); n != 1 {
		t.Errorf("%d skip log lines, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "count=1000") {
		t.Errorf("skip log without the count:\n%s", logs)
	}
}

// TestClientCallByteBudget: the FHIR responses of one call share a byte
// budget across searches and pages; the search whose page goes over it fails.
func TestClientCallByteBudget(t *testing.T) {
	page := func(next string) string {
		// About 10 KiB per page.
		var res []string
		for i := range 40 {
			res = append(res, condition(fmt.Sprintf("c%d-%s", i, strings.Repeat("x", 150)), "Patient/"+testPatient))
		}
		return bundleOf("searchset", next, res...)
	}
	var srvURL string
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		if typ != "Condition" {
			return nil
		}
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/fhir+json")
			n := len(r.URL.Query().Get("page"))
			next := ""
			if n < 5 {
				next = srvURL + "/fhir/Condition?patient=" + testPatient + "&page=" + strings.Repeat("p", n+1)
			}
			_, _ = w.Write([]byte(page(next)))
		}
	})
	srvURL = srv.URL
	size := len(page("x"))
	tests := []struct {
		name     string
		budget   int64
		wantRead bool
	}{
		{name: "six pages within the budget", budget: int64(7 * size), wantRead: true},
		{name: "the fourth page over it", budget: int64(3*size + size/2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, logs := loadConditionsFrom(t, LoaderConfig{MaxCallBytes: tc.budget}, srv.base(), "")
			if got := len(rec.Conditions) > 0; got != tc.wantRead {
				t.Errorf("conditions read: %t, want %t (Unavailable %v)", got, tc.wantRead, rec.Unavailable)
			}
			if !tc.wantRead && !strings.Contains(logs, fmt.Sprintf("FHIR responses over %d bytes", tc.budget)) {
				t.Errorf("log does not name the call budget:\n%s", logs)
			}
		})
	}
}

// TestBudgetTake: draws never go below zero, also when they race.
func TestBudgetTake(t *testing.T) {
	b := newBudget(1000)
	done := make(chan int)
	for range 8 {
		go func() {
			n := 0
			for b.take(7) {
				n++
			}
			done <- n
		}()
	}
	total := 0
	for range 8 {
		total += <-done
	}
	if total != 1000/7 || b.remaining() != 1000%7 {
		t.Errorf("%d draws of 7, %d left; want %d and %d", total, b.remaining(), 1000/7, 1000%7)
	}
}
