package report_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/report"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// skipBrowserEnv opts out of the browser test where Chromium cannot be
// installed; without it a missing browser fails the test.
const skipBrowserEnv = "LUMBAR_MRI_CDS_SKIP_BROWSER"

// browser returns the Chromium binary to drive.
func browser(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-headless-shell"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "headless-shell", "headless_shell", "chromium-headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(skipBrowserEnv) == "1" {
		t.Skipf("no Chromium binary; skipped because %s=1", skipBrowserEnv)
	}
	t.Fatalf("no Chromium binary found: install Debian's chromium (apt-get install -y --no-install-recommends chromium), or set %s=1 to skip", skipBrowserEnv)
	return ""
}

// renderedBar is what the browser shows for one bar.
type renderedBar struct {
	Chart string  `json:"chart"`
	Label string  `json:"label"`
	Value string  `json:"value"`
	Text  string  `json:"text"`
	Width float64 `json:"width"`
}

// TestHTMLReportInChromium fills a store with a scripted set of calls and
// feedback, serves report.HTML, loads it in headless Chromium and reads the
// numbers the SVG bars show.
func TestHTMLReportInChromium(t *testing.T) {
	exe := browser(t)
	db, err := store.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	reason := hooks.Coding{System: "http://example.org/override", Code: "not-applicable", Display: "Not applicable"}
	// The script: 6 calls answered criteria-not-met, 2 criteria-met, one 412
	// and one 401; each 200 call issues one coverage-info card and one
	// therapy card with one suggestion. Latencies 10, 20, ... 100 ms.
	var covCards, ptCards, suggestions []string
	for i := range 10 {
		c := store.Call{Time: day.Add(time.Duration(i) * time.Minute), ServiceID: "svc", Hook: "order-sign",
			HookInstance: fmt.Sprint("hi-", i), PatientID: "p", Status: 200, Latency: time.Duration(10*(i+1)) * time.Millisecond}
		switch {
		case i == 8:
			c.Status = 412
		case i == 9:
			c.Status = 401
		default:
			assessment, findings := "criteria-not-met", []string{"conservative-therapy-missing"}
			if i < 2 {
				assessment, findings = "criteria-met", []string{"red-flag-cauda-equina", "conservative-therapy-missing"}
			}
			c.Orders = []store.Order{{ID: "sr", Codes: []string{"72148"}, Assessment: assessment, Findings: findings}}
			cov, pt, sug := fmt.Sprint("cov-", i), fmt.Sprint("pt-", i), fmt.Sprint("sug-", i)
			c.Cards = []store.Card{
				{UUID: cov, Topic: "coverage-info", Indicator: "warning", OverrideReasons: []hooks.Coding{reason}},
				{UUID: pt, Topic: "therapy-alternatives-opt", Indicator: "info", SuggestionUUIDs: []string{sug}, OverrideReasons: []hooks.Coding{reason}},
			}
			covCards, ptCards, suggestions = append(covCards, cov), append(ptCards, pt), append(suggestions, sug)
		}
		if err := db.RecordCall(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	// Feedback: 4 of 8 coverage cards overridden, 3 therapy cards accepted, 1 overridden.
	ts := "2026-03-01T12:00:00Z"
	var items []hooks.FeedbackItem
	for _, card := range covCards[:4] {
		items = append(items, hooks.FeedbackItem{Card: card, Outcome: "overridden", OutcomeTimestamp: ts, OverrideReason: &hooks.OverrideReason{Reason: &reason}})
	}
	for i := range 3 {
		items = append(items, hooks.FeedbackItem{Card: ptCards[i], Outcome: "accepted", OutcomeTimestamp: ts,
			AcceptedSuggestions: []hooks.AcceptedSuggestion{{ID: suggestions[i]}}})
	}
	items = append(items, hooks.FeedbackItem{Card: ptCards[3], Outcome: "overridden", OutcomeTimestamp: ts})
	if err := db.RecordFeedback(t.Context(), "svc", items); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			// The browser also asks for /favicon.ico; only the page is served.
			http.NotFound(w, r)
			return
		}
		rep, err := db.Report(r.Context(), day, day.Add(24*time.Hour))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := report.HTML(w, rep); err != nil {
			// The page is checked below, in the browser; a write error here
			// only means the browser went away.
			t.Log(err)
		}
	}))
	defer srv.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// Start the browser on a context without deadline (see chromedp.Run).
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL), chromedp.WaitVisible(`svg[data-chart="outcomes"]`)); err != nil {
		t.Fatalf("load report: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil || title != "Lumbar MRI CDS report" {
		t.Errorf("title = %q, %v", title, err)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[[]renderedBar](`[...document.querySelectorAll("svg[data-chart] g.bar")].map(g => ({
		chart: g.closest("svg").dataset.chart,
		label: g.dataset.label,
		value: g.dataset.value,
		text: g.querySelector("text.value").textContent,
		width: g.querySelector("rect").getBoundingClientRect().width,
	}))`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, b := range bars {
		got[b.Chart] = append(got[b.Chart], b.Label+"="+b.Value+" "+b.Text)
		if v := b.Value; v != "0" && v != "0.0" && b.Width <= 0 {
			t.Errorf("%s/%s: bar of %s has no visible width", b.Chart, b.Label, v)
		}
	}
	want := map[string][]string{
		"outcomes":    {"criteria-not-met=6 6", "criteria-met=2 2", "HTTP 401=1 1", "HTTP 412=1 1"},
		"findings":    {"conservative-therapy-missing=8 8", "red-flag-cauda-equina=2 2"},
		"acceptance":  {"coverage-info=0.0 0.0% (0 of 8)", "therapy-alternatives-opt=37.5 37.5% (3 of 8)"},
		"override":    {"coverage-info=50.0 50.0% (4 of 8)", "therapy-alternatives-opt=12.5 12.5% (1 of 8)"},
		"reasons":     {"not-applicable — Not applicable=4 4", "(none given)=1 1"},
		"suggestions": {"offered=8 8", "accepted=3 3 (37.5%)"},
		"latency":     {"p50=50.0 50.0 ms", "p90=90.0 90.0 ms", "p99=100.0 100.0 ms", "max=100.0 100.0 ms"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("bars shown in Chromium (-got +want):\n%s", diff)
	}
	// The longest bar of a chart is drawn longer than a shorter one.
	widths := map[string]float64{}
	for _, b := range bars {
		if b.Chart == "outcomes" {
			widths[b.Label] = b.Width
		}
	}
	if !(widths["criteria-not-met"] > widths["criteria-met"] && widths["criteria-met"] > widths["HTTP 401"]) {
		t.Errorf("outcome bar widths not in order of their values: %v", widths)
	}
	// Nothing on the page came from anywhere but the test server.
	origins, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`performance.getEntriesByType("resource").map(e => e.name)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range origins {
		if !strings.HasPrefix(o, srv.URL) {
			t.Errorf("page loaded %s", o)
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("browser test ran out of time")
	}
}
