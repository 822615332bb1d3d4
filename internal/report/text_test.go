package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func sample() *Report {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	return &Report{
		From: day, To: day.Add(24 * time.Hour), Calls: 10, Orders: 8,
		Outcomes: []Count{{Label: "criteria-not-met", N: 5}, {Label: "HTTP 400", N: 1}, {Label: "HTTP 412", N: 1},
			{Label: "criteria-met", N: 1}, {Label: "mixed", N: 1}, {Label: "no-lumbar-mri", N: 1}},
		Findings: []Count{{Label: "conservative-therapy-missing", N: 8}, {Label: "red-flag-cauda-equina", N: 2}},
		CardTypes: []CardType{{Topic: "coverage-info", Issued: 7, Accepted: 1, Overridden: 4, WithFeedback: 5},
			{Topic: "therapy-alternatives-opt", Issued: 7, Accepted: 2, Overridden: 1, WithFeedback: 3}},
		Cards: CardType{Issued: 14, Accepted: 3, Overridden: 5, WithFeedback: 8},
		OverrideReasons: []Count{{Label: "not-applicable", Detail: "Not applicable to this patient", N: 3},
			{Label: "(none given)", N: 1}, {Label: "documented-elsewhere", Detail: "Documented elsewhere", N: 1}},
		Suggestions: Suggestions{Offered: 7, Accepted: 3},
		Latency:     Latency{N: 10, P50: 50, P90: 90, P99: 100, Max: 100},
		Days:        []Day{{Date: day, Calls: 10, Refused: 2, Orders: 8, Met: 2}},
		ByPolicy: []Split{
			{Key: "default", Calls: 7, Orders: 5, Met: 2, Cards: CardType{Issued: 8, Accepted: 2, Overridden: 5, WithFeedback: 7}},
			{Key: "acme", Calls: 3, Orders: 3, Cards: CardType{Issued: 6, Accepted: 1, WithFeedback: 1}},
		},
		ByHook: []Split{
			{Key: "order-sign", Calls: 7, Orders: 5, Met: 2, Cards: CardType{Issued: 8, Accepted: 2, Overridden: 5, WithFeedback: 7}},
			{Key: "order-select", Calls: 3, Orders: 3, Cards: CardType{Issued: 6, Accepted: 1, WithFeedback: 1}},
		},
		ByClient: []Split{
			{Key: "https://ehr.example", Calls: 7, Orders: 5, Met: 2, Cards: CardType{Issued: 8, Accepted: 2, Overridden: 5, WithFeedback: 7}},
			{Key: "", Calls: 3, Orders: 3, Cards: CardType{Issued: 6, Accepted: 1, WithFeedback: 1}},
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(got), string(want)); diff != "" {
		t.Errorf("%s (-got +want):\n%s", name, diff)
	}
}

func TestText(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, sample()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", b.Bytes())
}

func TestTextEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, &Report{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "empty.txt", b.Bytes())
}

func TestPercentiles(t *testing.T) {
	seq := func(n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(i + 1)
		}
		return s
	}
	tests := []struct {
		in   []float64
		want Latency
	}{
		{nil, Latency{}},
		{[]float64{7}, Latency{N: 1, P50: 7, P90: 7, P99: 7, Max: 7}},
		{seq(10), Latency{N: 10, P50: 5, P90: 9, P99: 10, Max: 10}},
		{seq(100), Latency{N: 100, P50: 50, P90: 90, P99: 99, Max: 100}},
		{seq(1000), Latency{N: 1000, P50: 500, P90: 900, P99: 990, Max: 1000}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(Percentiles(tt.in), tt.want); diff != "" {
			t.Errorf("Percentiles(%d values) (-got +want):\n%s", len(tt.in), diff)
		}
	}
}

// TestTextFirstLine: scripts read "Calls: N" from the first line.
func TestTextFirstLine(t *testing.T) {
	for _, r := range []*Report{sample(), {}} {
		var b bytes.Buffer
		if err := Text(&b, r); err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(b.String(), "\n")
		if want := fmt.Sprintf("Calls: %d", r.Calls); first != want {
			t.Errorf("first line %q, want %q", first, want)
		}
	}
}
