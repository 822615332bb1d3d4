package sandboxcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/fhirtest"
)

// SandboxDirEnv names the folder of a locally built CDS Hooks sandbox: the
// clone (holding build/) or build/ itself.
const SandboxDirEnv = "LUMBAR_MRI_CDS_SANDBOX_DIR"

// sandboxIssuer is the iss of every token the sandbox sends.
const sandboxIssuer = "https://sandbox.cds-hooks.org"

// patientCase is one patient tried on the PAMA screen and what the cards must say.
type patientCase struct {
	name, patientID string
	// reason, when set, is typed into the "Search reasons" box first (the
	// order's reasonCode, a SNOMED coding).
	reason string
	// want are the cards that must be shown: indicator and a piece of the summary.
	want []wantCard
}

type wantCard struct{ indicator, summary string }

// shownCard is a card as the sandbox renders it.
type shownCard struct {
	Summary   string `json:"summary"`
	Indicator string `json:"indicator"`
	Text      string `json:"text"`
}

func TestPAMAScreenShowsCards(t *testing.T) {
	dir := os.Getenv(SandboxDirEnv)
	if dir == "" {
		t.Skipf("%s is not set: set it to a CDS Hooks sandbox folder built with `npm ci && npm run build` (github.com/cds-hooks/sandbox; its code is not part of this project)", SandboxDirEnv)
	}
	build := sandboxBuild(t, dir)
	exe := browser(t)
	bin := buildBinary(t)

	// A missing node or node_modules fails here: the variable asked for the full flow.
	t.Setenv(fhirtest.SkipEnv, "")
	fhirSrv := fhirtest.Start(t)
	seedPatients(t, bin, fhirSrv.URL, time.Now().UTC())

	site := httptest.NewServer(http.FileServer(http.Dir(build)))
	t.Cleanup(site.Close)

	cases := []patientCase{
		{
			name: "therapy-3-weeks", patientID: "sandbox-lbp-1", reason: "lumbar radiculopathy",
			want: []wantCard{
				{"warning", "conservative therapy"},
				{"info", "without contrast (72148)"},
			},
		},
		{
			name: "cauda-equina", patientID: "sandbox-lbp-2",
			want: []wantCard{
				{"critical", "cauda equina"},
				{"info", "supports prior authorization"},
				{"info", "No active coverage"},
			},
		},
	}
	modes := []struct {
		name  string
		flags []string
	}{
		{"development", nil},
		{"trust-sandbox", []string{"--trust-sandbox"}},
	}
	shots := t.ArtifactDir()
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			svc := startService(t, bin, mode.flags)
			for _, pc := range cases {
				t.Run(pc.name, func(t *testing.T) {
					shot := filepath.Join(shots, mode.name+"-"+pc.name+".png")
					cards := runPAMA(t, exe, site.URL, fhirSrv.URL, svc.base, pc, shot)
					for _, c := range cards {
						t.Logf("card [%s] %s", c.Indicator, c.Summary)
					}
					t.Logf("screenshot: %s", shot)
					for _, w := range pc.want {
						if !hasCard(cards, w) {
							t.Errorf("no %s card whose summary contains %q among %d cards", w.indicator, w.summary, len(cards))
						}
					}
				})
			}
			logs := svc.log.String()
			if !strings.Contains(logs, "service=lumbar-mri-order-select hook=order-select status=200") {
				t.Errorf("the service logged no answered order-select call:\n%s", logs)
			}
			if !strings.Contains(logs, "msg=feedback") {
				t.Errorf("the service logged no feedback from the dismissed card:\n%s", logs)
			}
			if strings.Contains(logs, "authentication failed") {
				t.Errorf("the service refused a sandbox token:\n%s", logs)
			}
			if len(mode.flags) > 0 && !strings.Contains(logs, "client="+sandboxIssuer) {
				t.Errorf("with --trust-sandbox no call was verified as the sandbox's:\n%s", logs)
			}
		})
	}
}

func hasCard(cards []shownCard, w wantCard) bool {
	for _, c := range cards {
		if c.Indicator == w.indicator && strings.Contains(strings.ToLower(c.Summary), strings.ToLower(w.summary)) {
			return true
		}
	}
	return false
}

// sandboxBuild returns the folder holding the built sandbox's index.html.
func sandboxBuild(t *testing.T, dir string) string {
	t.Helper()
	for _, d := range []string{filepath.Join(dir, "build"), dir} {
		if _, err := os.Stat(filepath.Join(d, "app.bundle.js")); err == nil {
			return d
		}
	}
	t.Fatalf("%s=%s holds no built sandbox (no build/app.bundle.js): run `npm ci --no-audit --no-fund && npm run build` in the sandbox's folder", SandboxDirEnv, dir)
	return ""
}

// browser returns the Chromium binary to drive.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-headless-shell", "headless-shell", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium binary found: install Debian's chromium (apt-get install -y --no-install-recommends chromium)")
	return ""
}

// buildBinary builds cmd/lumbar-mri-cds, as a user would run it.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the service: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "lumbar-mri-cds")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/lumbar-mri-cds/lumbar-mri-cds/cmd/lumbar-mri-cds")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// seedPatients loads two patients with the binary's seed command:
// sandbox-lbp-1 has had low back pain for 3 weeks, physical therapy for the
// last 2 and an active Coverage; sandbox-lbp-2 has suspected cauda equina
// since yesterday and no Coverage.
func seedPatients(t *testing.T, bin, fhirBase string, now time.Time) {
	t.Helper()
	day := func(daysAgo int) string { return now.AddDate(0, 0, -daysAgo).Format(time.DateOnly) }
	put := func(r map[string]any) map[string]any {
		return map[string]any{"resource": r, "request": map[string]any{"method": "PUT", "url": fmt.Sprint(r["resourceType"], "/", r["id"])}}
	}
	coding := func(system, code, display string) map[string]any {
		return map[string]any{"system": system, "code": code, "display": display}
	}
	concept := func(cs ...map[string]any) map[string]any { return map[string]any{"coding": cs} }
	condition := func(id, patient, onset string, code ...map[string]any) map[string]any {
		return put(map[string]any{
			"resourceType":   "Condition",
			"id":             id,
			"clinicalStatus": concept(coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active")),
			"category":       []any{concept(coding("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "Encounter Diagnosis"))},
			"code":           concept(code...),
			"subject":        map[string]any{"reference": "Patient/" + patient},
			"onsetDateTime":  onset,
			"recordedDate":   onset,
		})
	}
	procedure := func(id, patient, date, code, display string) map[string]any {
		return put(map[string]any{
			"resourceType":      "Procedure",
			"id":                id,
			"status":            "completed",
			"code":              concept(coding("http://www.ama-assn.org/go/cpt", code, display)),
			"subject":           map[string]any{"reference": "Patient/" + patient},
			"performedDateTime": date,
		})
	}
	patient := func(id, family, given, gender, birth string) map[string]any {
		return put(map[string]any{"resourceType": "Patient", "id": id, "gender": gender, "birthDate": birth,
			"name": []any{map[string]any{"family": family, "given": []string{given}}}})
	}
	bundles := map[string][]map[string]any{
		"sandbox-lbp-1.json": {
			patient("sandbox-lbp-1", "Lumbago", "Lee", "female", "1978-04-02"),
			condition("sandbox-lbp-1-lbp", "sandbox-lbp-1", day(21),
				coding("http://hl7.org/fhir/sid/icd-10-cm", "M54.50", "Low back pain, unspecified"),
				coding("http://snomed.info/sct", "279039007", "Low back pain")),
			procedure("sandbox-lbp-1-pt1", "sandbox-lbp-1", day(14), "97161", "PT evaluation low complexity"),
			procedure("sandbox-lbp-1-pt2", "sandbox-lbp-1", day(7), "97110", "Therapeutic exercises"),
			put(map[string]any{"resourceType": "Coverage", "id": "sandbox-lbp-1-cov", "status": "active",
				"beneficiary": map[string]any{"reference": "Patient/sandbox-lbp-1"},
				"payor":       []any{map[string]any{"display": "Example Health Plan"}}}),
		},
		"sandbox-lbp-2.json": {
			patient("sandbox-lbp-2", "Equina", "Cora", "male", "1965-09-12"),
			condition("sandbox-lbp-2-ce", "sandbox-lbp-2", day(1),
				coding("http://hl7.org/fhir/sid/icd-10-cm", "G83.4", "Cauda equina syndrome"),
				coding("http://snomed.info/sct", "192970008", "Cauda equina syndrome")),
		},
	}
	dir := t.TempDir()
	args := []string{"seed", "--fhir", fhirBase}
	for name, entries := range bundles {
		b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("lumbar-mri-cds seed: %v\n%s", err, out)
	}
}

// service is a running `lumbar-mri-cds serve`.
type service struct {
	base string
	log  *lockedBuffer
}

// startService runs `serve` on a free loopback port (development mode: no
// trust file) with the extra flags, and stops it when the test ends.
func startService(t *testing.T, bin string, flags []string) *service {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// The sandbox calls http://<addr>/cds-services...; that URL is the
	// tokens' aud, so --base-url (derived from --addr here) must match it.
	args := append([]string{"serve", "--addr", addr, "--data-dir", t.TempDir(), "--log-level", "info"}, flags...)
	cmd := exec.Command(bin, args...)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &service{base: base, log: logs}
			}
		}
		select {
		case <-done:
			t.Fatalf("lumbar-mri-cds serve exited:\n%s", logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("lumbar-mri-cds serve not healthy after 20 s:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runPAMA opens the sandbox's PAMA screen for the patient, picks a lumbar MRI
// (and the case's reason), waits for the cards, saves a screenshot, dismisses
// the last card (feedback) and returns the cards shown.
func runPAMA(t *testing.T, exe, siteURL, fhirBase, serviceBase string, pc patientCase, shot string) []shownCard {
	t.Helper()
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
		chromedp.WindowSize(1400, 1800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	var mu sync.Mutex
	var exceptions []string
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			mu.Lock()
			exceptions = append(exceptions, msg)
			mu.Unlock()
		}
	}))
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	q := url.Values{}
	q.Set("fhirServiceUrl", fhirBase)
	q.Set("patientId", pc.patientID)
	q.Set("serviceDiscoveryURL", serviceBase+"/cds-services")
	q.Set("hook", "order-select")
	q.Set("screen", "pama")
	page := siteURL + "/?" + q.Encode()
	selectURL := serviceBase + "/cds-services/lumbar-mri-order-select"
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("%s: %v\npage %s shows:\n%s", what, err, page, text)
		}
	}
	step("open the sandbox", chromedp.Do(ctx, chromedp.Navigate(page)))
	// The patient banner shows the patient read from the FHIR server, and
	// the developer panel lists the service once discovery succeeded.
	_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](`(id, svc) => document.body.innerText.includes("ID: " + id) && document.body.innerText.includes(svc)`,
		chromedp.WithPollingArgs(pc.patientID, selectURL), chromedp.WithPollingInterval(200*time.Millisecond)))
	step("wait for the patient and the discovered service", err)

	if pc.reason != "" {
		step("choose the reason", choose(ctx, "Search reasons", pc.reason))
	}
	step("choose the order", choose(ctx, "Search orders", "lumbar magnetic"))
	order, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('[class*="current-selection"]')].map(e => e.textContent).join(" | ")`))
	step("read the chosen order", err)
	if !strings.Contains(order, "lumbar") {
		t.Fatalf("the order chosen is %q, not a lumbar MRI", order)
	}
	t.Logf("chosen: %s", order)

	// Wait for a card that names the lumbar MRI assessment.
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`[...document.querySelectorAll('[class*="decision-card"]')].length > 1`,
		chromedp.WithPollingInterval(200*time.Millisecond)))
	step("wait for cards", err)
	time.Sleep(500 * time.Millisecond) // let the last cards render
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[[]shownCard](`[...document.querySelectorAll('[class*="decision-card"]')].map(c => ({
		summary: (c.querySelector('p') || c).textContent.trim(),
		indicator: ([...c.classList].map(k => (k.match(/alert-(info|warning|critical)/) || [])[1]).find(Boolean) || ""),
		text: c.innerText,
	}))`))
	step("read the cards", err)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	step("screenshot", err)
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}

	// Dismiss the last card: the sandbox posts feedback with its token.
	n := len(cards)
	step("dismiss a card", chromedp.Do(ctx, chromedp.Click(chromedp.JSPath(`[...[...document.querySelectorAll('[class*="decision-card"]')].pop().querySelectorAll("button")].find(b => b.textContent.trim() === "Dismiss")`))))
	_, err = chromedp.Run(ctx, chromedp.PollFunction[bool](`(n) => document.querySelectorAll('[class*="decision-card"]').length < n`,
		chromedp.WithPollingArgs(n), chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	step("wait for the dismissed card to go", err)

	mu.Lock()
	defer mu.Unlock()
	if len(exceptions) > 0 {
		t.Errorf("uncaught exceptions in the sandbox page: %s", strings.Join(exceptions, "; "))
	}
	return cards
}

// choose types text into the react-select box whose placeholder is
// placeholder, waits for the options and takes the first with Enter.
func choose(ctx context.Context, placeholder, text string) error {
	id := "sandboxcheck-" + strings.ReplaceAll(strings.ToLower(placeholder), " ", "-")
	// Mark the box's input with an id so that the key events can target it.
	ok, err := chromedp.Run(ctx, chromedp.PollFunction[bool](`(ph, id) => {
		const p = [...document.querySelectorAll("div")].find(d => d.children.length === 0 && d.textContent === ph);
		const input = p && p.parentElement && p.parentElement.querySelector("input");
		if (!input) return false;
		input.id = id;
		return true;
	}`, chromedp.WithPollingArgs(placeholder, id), chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil || !ok {
		return fmt.Errorf("no %q box: %v", placeholder, err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID(id), text)); err != nil {
		return err
	}
	// Options of react-select have ids ending in -option-<n>.
	first := strings.Fields(text)[0]
	if _, err := chromedp.Run(ctx, chromedp.PollFunction[bool](`(w) => [...document.querySelectorAll('[id*="-option-"]')].some(o => o.textContent.toLowerCase().includes(w))`,
		chromedp.WithPollingArgs(first), chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		return fmt.Errorf("no option for %q in %q: %w", text, placeholder, err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID(id), "\r")); err != nil {
		return err
	}
	return nil
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
