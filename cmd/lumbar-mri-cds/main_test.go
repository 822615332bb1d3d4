package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/cards"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/fhirtest"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// startServe runs `serve` in the background and returns its base URL.
func startServe(t *testing.T, ctx context.Context, args []string, vars map[string]string) (string, chan error, *syncBuffer) {
	t.Helper()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), env(vars), strings.NewReader(""), stdout, stderr)
	}()
	re := regexp.MustCompile(`listening on (\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			return "http://" + m[1], done, stderr
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start:\n%s", stderr)
	return "", nil, nil
}

const slowRequest = `{"hook":"order-sign","hookInstance":"h-1","fhirServer":%q,
 "context":{"userId":"Practitioner/u","patientId":"p1","draftOrders":{"resourceType":"Bundle","entry":[{"resource":{
  "resourceType":"ServiceRequest","id":"mri-1","status":"draft","intent":"order","subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"72148"}]}}}]}}}`

// TestGracefulShutdown: on SIGTERM (context cancel) a call in flight
// completes with its answer, and new calls are refused.
func TestGracefulShutdown(t *testing.T) {
	entered := make(chan struct{}, 16)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		time.Sleep(700 * time.Millisecond)
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprint(w, `{"resourceType":"Bundle","type":"searchset","total":0}`)
	}))
	defer slow.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done, stderr := startServe(t, ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--fhir-timeout", "5s"}, nil)

	type result struct {
		status int
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Post(base+"/cds-services/lumbar-mri-order-sign", "application/json", strings.NewReader(fmt.Sprintf(slowRequest, slow.URL)))
		if err != nil {
			inflight <- result{err: err}
			return
		}
		resp.Body.Close()
		inflight <- result{status: resp.StatusCode}
	}()
	<-entered // the call is waiting on the FHIR server
	cancel()  // SIGTERM
	time.Sleep(100 * time.Millisecond)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	if resp, err := client.Get(base + "/cds-services"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("a new call during shutdown got %d, want it refused", resp.StatusCode)
		}
	}
	r := <-inflight
	if r.err != nil || r.status != http.StatusOK {
		t.Errorf("the call in flight got %d, %v; want 200", r.status, r.err)
	}
	if err := <-done; err != nil {
		t.Errorf("serve returned %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("no shutdown log line:\n%s", stderr)
	}
}

func TestServeRefusesNonLoopbackWithoutTrust(t *testing.T) {
	err := run(context.Background(), []string{"serve", "--addr", "0.0.0.0:0", "--data-dir", t.TempDir()}, env(nil), strings.NewReader(""), &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "trust file") {
		t.Errorf("serve on 0.0.0.0 without a trust file: %v, want a refusal naming the trust file", err)
	}
}

func TestConfigurationFromEnvironment(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	_, done, stderr := startServe(t, ctx, nil, map[string]string{
		"LUMBAR_MRI_CDS_ADDR": "127.0.0.1:0", "LUMBAR_MRI_CDS_DATA_DIR": dir, "LUMBAR_MRI_CDS_ADMIN_TOKEN": "s3cret-admin-0123456789abcdefghijklmnopqrstuv",
		"LUMBAR_MRI_CDS_LOG_FORMAT": "json", "LUMBAR_MRI_CDS_UNKNOWN_THING": "ignored",
	})
	cancel()
	<-done
	log := stderr.String()
	if !strings.Contains(log, `"data-dir":"`+dir+`"`) || !strings.Contains(log, `"admin-token":"[redacted]"`) || strings.Contains(log, "s3cret-admin") {
		t.Errorf("effective configuration not printed as expected (env defaults, secrets redacted):\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(dir, "lumbar-mri-cds.db")); err != nil {
		t.Errorf("no database in the data dir: %v", err)
	}
	err := run(context.Background(), []string{"serve"}, env(map[string]string{"LUMBAR_MRI_CDS_FHIR_TIMEOUT": "soon"}), strings.NewReader(""), &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "LUMBAR_MRI_CDS_FHIR_TIMEOUT") {
		t.Errorf("a bad duration in the environment: %v, want an error naming the variable", err)
	}
}

func TestBadPolicyStopsStartup(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(p, []byte("id: x\nname: X\nconservative_therapy:\n  min_days: -3\n"), 0o644)
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--policy", p}, env(nil), strings.NewReader(""), &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Errorf("a bad policy: %v, want an error naming the file", err)
	}
}

// TestPolicyReloadOnSIGHUP: a valid change is picked up on SIGHUP; an
// invalid one is rejected with a log line saying why, and the running
// policy stays.
func TestPolicyReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "acme.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("id: acme\nname: Acme\nmatch: {payor_displays: [Acme]}\nconservative_therapy: {min_days: 28}\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, done, stderr := startServe(t, ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--policy", dir}, nil)
	defer func() { cancel(); <-done }()
	waitLog := func(s string) {
		t.Helper()
		for i := 0; i < 200; i++ {
			if strings.Contains(stderr.String(), s) {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("no log line %q:\n%s", s, stderr)
	}
	write("id: acme\nname: Acme\nmatch: {payor_displays: [Acme]}\nconservative_therapy: {min_days: 35}\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("policy reloaded")
	write("id: acme\nname: Acme\nconservative_therapy: {min_days: -1}\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("policy reload rejected")
	if !strings.Contains(stderr.String(), "acme.yaml") {
		t.Errorf("the rejection does not name the file:\n%s", stderr)
	}
}

// TestTokenForASecuredInstance: the README's flow. token --init writes the
// development JWKS, a trust file names it, serve verifies minted tokens.
func TestTokenForASecuredInstance(t *testing.T) {
	data := t.TempDir()
	var out syncBuffer
	if err := run(context.Background(), []string{"token", "--init", "--data-dir", data}, env(nil), strings.NewReader(""), &out, &syncBuffer{}); err != nil {
		t.Fatal(err)
	}
	// The trust file token --init wrote, used where it lies (its jwks_file
	// is relative to its own folder).
	trust := filepath.Join(data, devTrustFile)
	if !strings.Contains(out.String(), "--trust "+trust) {
		t.Errorf("token --init does not say which trust file to use:\n%s", out.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A trust file allows a non-loopback listener; loopback keeps the test local.
	base, done, stderr := startServe(t, ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", data, "--trust", trust}, nil)
	defer func() { cancel(); <-done }()
	port := base[strings.LastIndex(base, ":"):]
	aud := "http://127.0.0.1" + port + "/cds-services"
	var tok syncBuffer
	if err := run(context.Background(), []string{"token", "--data-dir", data, "--aud", aud}, env(nil), strings.NewReader(""), &tok, &syncBuffer{}); err != nil {
		t.Fatal(err)
	}
	get := func(authz string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/cds-services", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != 401 {
		t.Errorf("discovery without a token: %d, want 401", code)
	}
	if code := get("Bearer " + strings.TrimSpace(tok.String())); code != 200 {
		t.Errorf("discovery with a minted token: %d, want 200\n%s", code, stderr)
	}
}

// TestSeedCommand loads the scenario patients into a real FHIR server
// twice (idempotent: the same ids, the same counts). The one fixture whose
// entries are not valid FHIR R4 (e-bad-entries: an unknown resource type, a
// numeric subject reference, an unknown status) is refused with a warning and
// no patient of its own; the node server stores whatever it is sent, and that
// numeric reference used to make every patient's Observation search fail.
func TestSeedCommand(t *testing.T) {
	srv := fhirtest.Start(t)
	scenarios := filepath.Join("..", "..", "testdata", "scenarios")
	var first, second, firstErr, secondErr syncBuffer
	if err := run(context.Background(), []string{"seed", "--fhir", srv.URL, scenarios}, env(nil), strings.NewReader(""), &first, &firstErr); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"seed", "--fhir", srv.URL, scenarios}, env(nil), strings.NewReader(""), &second, &secondErr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.String(), "Patient") || first.String() != second.String() {
		t.Errorf("seeding twice differs:\n%s\n%s", first.String(), second.String())
	}
	files, _ := filepath.Glob(filepath.Join(scenarios, "*.json"))
	for _, want := range []string{
		"e-bad-entries.json: seed: nothing sent: not valid FHIR R4: ",
		"warning: 1 of " + fmt.Sprint(len(files)-1) + " files were not seeded: e-bad-entries.json\n",
	} {
		if !strings.Contains(firstErr.String(), want) {
			t.Errorf("stderr:\n%s\nwant %q", firstErr.String(), want)
		}
	}
	total := func(query string) int {
		t.Helper()
		resp, err := http.Get(srv.URL + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b struct {
			ResourceType string
			Total        int
		}
		_ = json.NewDecoder(resp.Body).Decode(&b)
		if resp.StatusCode != http.StatusOK || b.ResourceType != "Bundle" {
			t.Fatalf("%s: status %d, %s", query, resp.StatusCode, b.ResourceType)
		}
		return b.Total
	}
	// Every request file has its own patient but e-bad-entries; expected.json is not seeded.
	if got, want := total("/Patient?_count=1000"), len(files)-2; got != want {
		t.Errorf("%d patients on the server after seeding twice, want %d", got, want)
	}
	// The service's searches answer for every patient.
	if got := total("/Observation?patient=lbp-08"); got == 0 {
		t.Errorf("no Observation for lbp-08 (its fever) after seeding")
	}
}

// TestSeedShowsTheServersReason: when the FHIR server refuses a file, seed
// prints the server's OperationOutcome text (one line, no control
// characters), not only "status 400: fhir: unusable response".
func TestSeedShowsTheServersReason(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing",`+
			`"diagnostics":"HAPI-0450: Failed to parse request body as JSON resource.\nError was: Unknown resource name \"Widget\"\u001b[31m",`+
			`"details":{"text":"Invalid resource"}}]}`)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "widget.json")
	// A valid resource, so that seed sends it and the server's refusal is what is shown.
	if err := os.WriteFile(file, []byte(`{"resourceType":"Patient","id":"w1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"seed", "--fhir", srv.URL, file}, env(nil), strings.NewReader(""), &stdout, &stderr)
	if err == nil {
		t.Fatal("seed of a refused file succeeded")
	}
	want := `widget.json: seed transaction 1: transaction: status 400: fhir: unusable response; the server said: ` +
		`HAPI-0450: Failed to parse request body as JSON resource. Error was: Unknown resource name "Widget" [31m; Invalid resource` + "\n"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr:\n%s\nwant a line\n%s", stderr.String(), want)
	}
	if strings.ContainsRune(stderr.String(), 0x1b) {
		t.Errorf("a control character from the server reached the terminal: %q", stderr.String())
	}
}

// TestEvaluate runs the pipeline offline, as JSON and as a text summary.
func TestEvaluate(t *testing.T) {
	file := filepath.Join("..", "..", "testdata", "scenarios", "02-cauda-equina.json")
	var text, js, errOut syncBuffer
	if err := run(context.Background(), []string{"evaluate", "--format", "text", file}, env(nil), strings.NewReader(""), &text, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Outcome: criteria-met", "red-flag-cauda-equina", "[CRITICAL] Emergent MRI, do not wait for prior authorization: Suspected cauda equina", "card type clinical-reminder",
		"Arrange the MRI and a same-day surgical assessment", "Cauda equina syndrome (2026-06-15)", "1 coverage-information update"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, text.String())
		}
	}
	b, _ := os.ReadFile(file)
	if err := run(context.Background(), []string{"evaluate", "-"}, env(nil), bytes.NewReader(b), &js, &errOut); err != nil {
		t.Fatal(err)
	}
	if errs := cards.Check([]byte(js.String())); len(errs) > 0 || !strings.Contains(js.String(), `"systemActions"`) {
		t.Errorf("evaluate JSON: %v\n%.300s", errs, js.String())
	}
	var form syncBuffer
	if err := run(context.Background(), []string{"evaluate", "--form", file}, env(nil), strings.NewReader(""), &form, &errOut); err != nil {
		t.Fatal(err)
	}
	var qr struct{ ResourceType, Status string }
	if err := json.Unmarshal([]byte(form.String()), &qr); err != nil || qr.ResourceType != "QuestionnaireResponse" || qr.Status != "in-progress" {
		t.Errorf("evaluate --form: %v\n%.300s", err, form.String())
	}
	if probs := cards.CheckForm([]byte(form.String()), policy.Questionnaires()[cards.FormQuestionnaireID]); len(probs) > 0 ||
		!strings.Contains(form.String(), `"red-flag.cauda-equina.present"`) {
		t.Errorf("evaluate --form: %v\n%s", probs, form.String())
	}
	err := run(context.Background(), []string{"evaluate", "-"}, env(nil), strings.NewReader(`{"hook":"order-sign"}`), &js, &errOut)
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request") {
		t.Errorf("evaluate of an invalid request: %v, want the 400 the service would answer", err)
	}
}
