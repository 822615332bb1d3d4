package report_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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
	Name  string  `json:"name"`
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
	// and one 401, two calls a day over five days of a seven-day period;
	// each 200 call issues one coverage-info card and one therapy card with
	// one suggestion. Latencies 10, 20, ... 100 ms. Calls 6 and 7 come from
	// another hook, client and payer policy.
	var covCards, ptCards, suggestions []string
	for i := range 10 {
		c := store.Call{Time: day.AddDate(0, 0, i/2).Add(time.Duration(i) * time.Minute), ServiceID: "svc", Hook: "order-sign",
			HookInstance: fmt.Sprint("hi-", i), PatientID: "p", Status: 200, Latency: time.Duration(10*(i+1)) * time.Millisecond,
			ClientISS: "https://ehr.example", PolicyID: "default"}
		if i == 6 || i == 7 {
			c.Hook, c.ClientISS, c.PolicyID = "order-select", "", "acme"
		}
		switch {
		case i == 8:
			c.Status, c.PolicyID = 412, ""
		case i == 9:
			c.Status, c.PolicyID = 401, ""
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
		rep, err := db.Report(r.Context(), day, day.AddDate(0, 0, 7))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// The payer's name of the acme policy, as the server fills it in
		// from the policies in force.
		rep.PolicyNames = map[string]string{"acme": "Acme Health Plan"}
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
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
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
		label: g.dataset.code,
		name: g.dataset.label,
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
	// The latency the client saw runs from each call's time to its audit
	// commit, and these calls are dated in the past: its four bars are
	// shown, their figures are not the script's.
	if n := len(got["answered"]); n != 4 {
		t.Errorf("%d bars of the latency the client saw, want 4: %v", n, got["answered"])
	}
	delete(got, "answered")
	want := map[string][]string{
		"outcomes":    {"criteria-not-met=6 6", "criteria-met=2 2", "HTTP 401=1 1", "HTTP 412=1 1"},
		"findings":    {"conservative-therapy-missing=8 8", "red-flag-cauda-equina=2 2"},
		"acceptance":  {"coverage-info=0.0 0.0% (0 of 8)", "therapy-alternatives-opt=37.5 37.5% (3 of 8)"},
		"override":    {"coverage-info=50.0 50.0% (4 of 8)", "therapy-alternatives-opt=12.5 12.5% (1 of 8)"},
		"reasons":     {"not-applicable=4 4", "(none given)=1 1"},
		"suggestions": {"offered=8 8", "accepted=3 3 (37.5%)"},
		"latency":     {"p50=50.0 50.0 ms", "p90=90.0 90.0 ms", "p99=100.0 100.0 ms", "max=100.0 100.0 ms"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("bars shown in Chromium (-got +want):\n%s", diff)
	}
	// Plain-language labels, the codes kept beside them.
	names := map[string]string{}
	for _, b := range bars {
		names[b.Label] = b.Name
	}
	for code, name := range map[string]string{
		"criteria-not-met": "Documentation incomplete", "HTTP 412": "Refused: no patient data available",
		"conservative-therapy-missing": "Conservative therapy: none documented", "coverage-info": "Coverage information",
		"not-applicable": "Not applicable", "(none given)": "No reason given",
	} {
		if names[code] != name {
			t.Errorf("bar %s is labelled %q, want %q", code, names[code], name)
		}
	}

	// The daily trends: every day of the period, its figure and a visible
	// column where the figure is not zero.
	type renderedDay struct {
		Chart  string  `json:"chart"`
		Date   string  `json:"date"`
		Value  string  `json:"value"`
		Height float64 `json:"height"`
	}
	days, err := chromedp.Run(ctx, chromedp.Evaluate[[]renderedDay](`[...document.querySelectorAll("svg[data-trend] g.day")].map(g => ({
		chart: g.closest("svg").dataset.trend,
		date: g.dataset.date,
		value: g.dataset.value,
		height: [...g.querySelectorAll("rect")].reduce((h, r) => h + r.getBoundingClientRect().height, 0),
	}))`))
	if err != nil {
		t.Fatal(err)
	}
	gotDays := map[string][]string{}
	for _, d := range days {
		gotDays[d.Chart] = append(gotDays[d.Chart], d.Date+"="+d.Value)
		if v := d.Value; v != "" && v != "0" && v != "0.0" && d.Height <= 0 {
			t.Errorf("%s %s: the column of %s is not visible", d.Chart, d.Date, v)
		}
	}
	wantDays := map[string][]string{
		"calls-per-day": {"2026-03-01=2", "2026-03-02=2", "2026-03-03=2", "2026-03-04=2", "2026-03-05=2", "2026-03-06=0", "2026-03-07=0"},
		"met-per-day":   {"2026-03-01=100.0", "2026-03-02=0.0", "2026-03-03=0.0", "2026-03-04=0.0", "2026-03-05=", "2026-03-06=", "2026-03-07="},
	}
	if diff := cmp.Diff(gotDays, wantDays); diff != "" {
		t.Errorf("daily trend columns (-got +want):\n%s", diff)
	}

	// The splits, each rate with its denominator in the column heading.
	splits, err := chromedp.Run(ctx, chromedp.Evaluate[map[string][]string](`Object.fromEntries([...document.querySelectorAll("table[data-split]")].map(t =>
		[t.dataset.split, [...t.querySelectorAll("tbody tr")].map(tr => [...tr.children].map(c => c.textContent.trim()).join(" | "))]))`))
	if err != nil {
		t.Fatal(err)
	}
	signed := "8 | 6 | 2 (33.3%) | 12 | 8 (66.7%) | 3 (25.0%) | 5 (41.7%)"
	selected := "2 | 2 | 0 (0.0%) | 4 | 0 (0.0%) | 0 (0.0%) | 0 (0.0%)"
	wantSplits := map[string][]string{
		"hook":   {"Order signed | " + signed, "Order selected | " + selected},
		"client": {"https://ehr.example | " + signed, "No verified client (development mode or refused) | " + selected},
		"policy": {"Default policy | 6 | 6 | 2 (33.3%) | 12 | 8 (66.7%) | 3 (25.0%) | 5 (41.7%)",
			"No policy (nothing assessed) | 2 | 0 | - (0 orders) | 0 | - (0 cards) | - (0 cards) | - (0 cards)",
			"Acme Health Plan | " + selected},
	}
	if diff := cmp.Diff(splits, wantSplits); diff != "" {
		t.Errorf("split tables (-got +want):\n%s", diff)
	}
	heads, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("table[data-split] thead").textContent`))
	if err != nil || !strings.Contains(heads, "% of orders assessed") || !strings.Contains(heads, "% of cards issued") {
		t.Errorf("split headings do not state the denominators: %q %v", heads, err)
	}
	summary, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#accepted").textContent`))
	if err != nil || summary != "3 of 16 cards issued (18.8%)" {
		t.Errorf("accepted cards summary %q, %v", summary, err)
	}

	// The page as a reader sees it, for a look (go test -artifacts).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1100, 900)); err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "report.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}

	// The date picker: choosing a period and pressing Show asks for it.
	pctx, cancelPicker := context.WithTimeout(bctx, 30*time.Second)
	defer cancelPicker()
	start := time.Now()
	// The inputs are filled as a user's picker would, then the form's own
	// submit button is pressed (requestSubmit validates the form first).
	if _, err := chromedp.Run(pctx, chromedp.Evaluate[bool](`(() => {
		document.querySelector("#from").value = "2026-03-02";
		document.querySelector("#to").value = "2026-03-04";
		const f = document.querySelector("form.period");
		f.requestSubmit(f.querySelector("button[type=submit]"));
		return true;
	})()`)); err != nil {
		t.Fatalf("date picker after %s: %v", time.Since(start), err)
	}
	var search string
	for pctx.Err() == nil {
		search, err = chromedp.Run(pctx, chromedp.Evaluate[string](`location.search`))
		if err == nil && search != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || search != "?from=2026-03-02&to=2026-03-04" {
		t.Errorf("the date picker asked for %q (%v)", search, err)
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
