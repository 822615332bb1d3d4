package report

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
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
		OverrideReasons: []Count{{Label: "not-applicable", Detail: "Not applicable to this patient", N: 2},
			{Label: "(none given)", N: 1}, {Label: "documented-elsewhere", Detail: "Documented elsewhere", N: 1},
			{Label: "patient-declined", Detail: "Patient declined", N: 1, ClientOwn: true}},
		Suggestions: Suggestions{Offered: 7, Accepted: 3},
		Latency:     Latency{N: 10, P50: 50, P90: 90, P99: 100, Max: 100},
		Answered:    Latency{N: 9, P50: 52.5, P90: 95, P99: 110, Max: 110},
		Days:        []Day{{Date: day, Calls: 10, Refused: 2, Orders: 8, Met: 2}},
		ByPolicy: []Split{
			{Key: "default", Calls: 7, Orders: 5, Met: 2, Cards: CardType{Issued: 8, Accepted: 2, Overridden: 5, WithFeedback: 7}},
			{Key: "acme-health", Calls: 3, Orders: 3, Cards: CardType{Issued: 6, Accepted: 1, WithFeedback: 1}},
		},
		PolicyNames: map[string]string{"default": "General lumbar MRI criteria (no payer-specific policy)", "acme-health": "Acme Health Plan"},
		ByHook: []Split{
			{Key: "order-sign", Calls: 7, Orders: 5, Met: 2, Cards: CardType{Issued: 8, Accepted: 2, Overridden: 5, WithFeedback: 7}},
			{Key: "order-select", Calls: 2, Orders: 3, Cards: CardType{Issued: 6, Accepted: 1, WithFeedback: 1}},
			{Key: "", Calls: 1}, // the 400: a body whose hook was not read
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

// TestLabelsAndZeroRates: a call whose hook was not recognised is labelled
// as such, a payer policy by its payer's name (or its bare id when the name
// is not known), and a rate over nothing is "-" rather than 0.0 % (in the
// HTML report too, with its denominator, rather than "0").
func TestLabelsAndZeroRates(t *testing.T) {
	r := sample()
	var text, page bytes.Buffer
	if err := Text(&text, r); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&page, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  (hook not read)      1       0      -      0         -           -\n", "  Acme Health Plan (acme-health)  ", "Suggestions: 7 offered, 3 accepted (42.9%)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	for _, want := range []string{`<tr data-key=""><th scope="row">(hook not read)</th><td>1</td><td>0</td><td>- (0 orders)</td><td>0</td><td>- (0 cards)</td><td>- (0 cards)</td><td>- (0 cards)</td></tr>`,
		`<tr data-key="acme-health"><th scope="row">Acme Health Plan</th>`} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("HTML report lacks %s", want)
		}
	}
	for name, out := range map[string]string{"text": text.String(), "HTML": page.String()} {
		for _, bad := range []string{"Policy acme", "<th scope=\"row\"></th>"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s report shows %q", name, bad)
			}
		}
	}
	r.PolicyNames = nil
	text.Reset()
	if err := Text(&text, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "\n  acme-health ") {
		t.Errorf("without the payer's name the text report should show the bare policy id:\n%s", text.String())
	}
	var empty bytes.Buffer
	if err := Text(&empty, &Report{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(empty.String(), "%)") {
		t.Errorf("an empty report shows a percentage:\n%s", empty.String())
	}
}

// TestEveryCodeHasAName: every finding code the assessment can report
// (the constants of internal/criteria) and every hook the audit trail
// stores has a plain-language name, so neither report shows a bare code.
func TestEveryCodeHasAName(t *testing.T) {
	src := filepath.Join("..", "criteria", "assessment.go")
	file, err := parser.ParseFile(token.NewFileSet(), src, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST || gen.Doc == nil || !strings.HasPrefix(gen.Doc.Text(), "Finding codes") {
			continue
		}
		for _, spec := range gen.Specs {
			for _, v := range spec.(*ast.ValueSpec).Values {
				code, _ := strconv.Unquote(v.(*ast.BasicLit).Value)
				n++
				if FindingName(code) == code {
					t.Errorf("finding %q has no plain-language name", code)
				}
			}
		}
	}
	if n < 15 {
		t.Fatalf("read %d finding codes from %s, want all of them", n, src)
	}
	seen := map[string]string{}
	for _, h := range []string{"", "unknown", "order-sign", "order-select"} {
		name := HookName(h)
		if name == h {
			t.Errorf("hook %q has no plain-language name", h)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("hooks %q and %q are both shown as %q", other, h, name)
		}
		seen[name] = h
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
