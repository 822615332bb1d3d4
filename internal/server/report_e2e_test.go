package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-headless-shell", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LUMBAR_MRI_CDS_SKIP_BROWSER") == "1" {
		t.Skip("no Chromium; skipped because LUMBAR_MRI_CDS_SKIP_BROWSER=1")
	}
	t.Fatal("no Chromium: install Debian's chromium, or set LUMBAR_MRI_CDS_SKIP_BROWSER=1 to skip")
	return ""
}

// TestReportPageAfterScriptedRun: hook calls and feedback go through the
// real router; the admin report page, rendered in headless Chromium, shows
// those numbers in its charts.
func TestReportPageAfterScriptedRun(t *testing.T) {
	exe := chromium(t)
	s := newTestServer(t, func(c *Config) { c.AdminToken = "admin-secret" })
	post := func(body []byte) hooks.Response {
		rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", body, nil)
		var resp hooks.Response
		_ = json.Unmarshal(rec.Body.Bytes(), &resp)
		return resp
	}
	// Three calls without conservative therapy (criteria-not-met), two with
	// seven weeks of physical therapy (criteria-met), one malformed (400).
	var notMet []hooks.Response
	for i := 0; i < 3; i++ {
		notMet = append(notMet, post(minimal(t, nil)))
	}
	for i := 0; i < 2; i++ {
		post(payerChart(t, 49, true, nil, coverage("c1", "Example Health Plan", 0)))
	}
	post([]byte(`{"hook":`))
	// Feedback: the physical therapy referral accepted on two of the three;
	// one coverage card overridden as documented elsewhere.
	ts := time.Now().UTC().Format(time.RFC3339)
	var items []string
	for _, resp := range notMet[:2] {
		for _, c := range resp.Cards {
			if c.Source.Topic.Code == "therapy-alternatives-opt" {
				items = append(items, fmt.Sprintf(`{"card":%q,"outcome":"accepted","acceptedSuggestions":[{"id":%q}],"outcomeTimestamp":%q}`, c.UUID, c.Suggestions[0].UUID, ts))
			}
		}
	}
	for _, c := range notMet[2].Cards {
		if c.Source.Topic.Code == "coverage-info" {
			r := c.OverrideReasons[0]
			items = append(items, fmt.Sprintf(`{"card":%q,"outcome":"overridden","overrideReason":{"reason":{"system":%q,"code":%q,"display":%q}},"outcomeTimestamp":%q}`, c.UUID, r.System, r.Code, r.Display, ts))
		}
	}
	if len(items) != 3 {
		t.Fatalf("scripted feedback has %d items, want 3", len(items))
	}
	body := []byte(`{"feedback":[` + items[0] + "," + items[1] + "," + items[2] + `]}`)
	if rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign/feedback", body, nil); rec.Code != 200 {
		t.Fatalf("feedback: %d %s", rec.Code, rec.Body)
	}
	if rec := s.do(t, http.MethodGet, "/admin/report", nil, nil); rec.Code != 401 {
		t.Errorf("report without the admin token: %d, want 401", rec.Code)
	}

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer admin-secret")
		s.Handler().ServeHTTP(w, r)
	}))
	defer web.Close()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.NoFirstRun,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(web.URL+"/admin/report"), chromedp.WaitVisible(`svg[data-chart="outcomes"]`)); err != nil {
		t.Fatalf("load the report: %v", err)
	}
	type bar struct{ Chart, Label, Value, Text string }
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[[]bar](`[...document.querySelectorAll("svg[data-chart] g.bar")].map(g => ({
		Chart: g.closest("svg").dataset.chart, Label: g.dataset.code, Value: g.dataset.value,
		Text: g.querySelector("text.value").textContent }))`))
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]string{}
	for _, b := range bars {
		shown[b.Chart+"/"+b.Label] = b.Text
	}
	want := map[string]string{
		"outcomes/criteria-not-met":             "3",
		"outcomes/criteria-met":                 "2",
		"outcomes/HTTP 400":                     "1",
		"findings/conservative-therapy-missing": "3",
		"findings/conservative-therapy-met":     "2",
		"acceptance/therapy-alternatives-opt":   "66.7% (2 of 3)",
		// Coverage-info cards: three not-met coverage cards (the pre-filled
		// form rides on each) and, for the two met calls, a coverage card
		// and a form card each: 7. Suggestions: 3 referrals and 5 forms.
		"override/coverage-info":       "14.3% (1 of 7)",
		"reasons/documented-elsewhere": "1",
		"suggestions/offered":          "8",
		"suggestions/accepted":         "2 (25.0%)",
	}
	for k, v := range want {
		if shown[k] != v {
			t.Errorf("chart %s shows %q, want %q", k, shown[k], v)
		}
	}
	if t.Failed() {
		t.Logf("all bars: %v", shown)
	}
	// The split rows name the payer of the policy in force and the calls
	// whose hook was not read; a rate over nothing reads "-" with its
	// denominator, never 0.
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("table[data-split] tbody tr")].map(tr =>
		tr.closest("table").dataset.split + ": " + [...tr.children].map(c => c.textContent.trim()).join(" | "))`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"policy: General lumbar MRI criteria (no payer-specific policy) | 5 | 5 |", "hook: (hook not read) | 1 | 0 | - (0 orders) | 0 | - (0 cards) | - (0 cards) | - (0 cards)"} {
		found := false
		for _, r := range rows {
			found = found || strings.HasPrefix(r, want)
		}
		if !found {
			t.Errorf("split tables lack a row %q: %q", want, rows)
		}
	}
}
