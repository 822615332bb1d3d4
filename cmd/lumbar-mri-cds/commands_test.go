package main

import (
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// TestHelpListsEveryCommand: --help, help and serve -h show every subcommand.
func TestHelpListsEveryCommand(t *testing.T) {
	commands := []string{"serve", "evaluate", "seed", "token", "report", "bench", "version"}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"serve", "-h"}} {
		var out, errOut syncBuffer
		err := run(context.Background(), args, env(nil), strings.NewReader(""), &out, &errOut)
		if code := exitCode(err); code != 0 {
			t.Errorf("%v: exit %d (%v)", args, code, err)
		}
		all := out.String() + errOut.String()
		for _, c := range commands {
			if !strings.Contains(all, "\n  "+c+" ") {
				t.Errorf("%v does not list %q:\n%s", args, c, all)
			}
		}
	}
	var errOut syncBuffer
	_ = run(context.Background(), []string{"serve", "-h"}, env(nil), strings.NewReader(""), &syncBuffer{}, &errOut)
	if !strings.Contains(errOut.String(), "-base-url") {
		t.Errorf("serve -h lacks serve's flags:\n%s", errOut.String())
	}
}

// TestSubcommandHelp: -h and --help of every command exit 0 without an
// error, and print a usage line naming the command and saying what it does.
func TestSubcommandHelp(t *testing.T) {
	for _, cmd := range [][]string{{"evaluate"}, {"seed"}, {"token"}, {"report"}, {"bench"}, {"valueset"}, {"valueset", "expand"}} {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, cmd...), h)
			var out, errOut syncBuffer
			err := run(context.Background(), args, env(nil), strings.NewReader(""), &out, &errOut)
			if code := exitCode(err); code != 0 {
				t.Errorf("%v: exit %d (%v)", args, code, err)
			}
			all := out.String() + errOut.String()
			first, _, _ := strings.Cut(all, "\n")
			if !strings.HasPrefix(first, "usage: lumbar-mri-cds "+strings.Join(cmd, " ")) {
				t.Errorf("%v: first line %q, want a usage line naming the command", args, first)
			}
			if lines := strings.SplitN(all, "\n", 4); len(lines) < 4 || lines[1] != "" || len(lines[2]) < 20 || strings.HasPrefix(lines[2], " ") {
				t.Errorf("%v: no one-line description under the usage line:\n%s", args, all)
			}
			if strings.Contains(all, "Usage of") || strings.Contains(all, "needs a subcommand") {
				t.Errorf("%v prints a bare flag usage or an error:\n%s", args, all)
			}
			if !strings.Contains(all, "\n  -") {
				t.Errorf("%v does not list the flags:\n%s", args, all)
			}
		}
	}
}

// TestExitCodes: usage errors exit 2 with a message saying what is wrong,
// failures 1, help 0.
func TestExitCodes(t *testing.T) {
	file := filepath.Join("..", "..", "testdata", "scenarios", "02-cauda-equina.json")
	tests := []struct {
		args []string
		code int
		text string
	}{
		{[]string{"evaluate", "--format", "yaml", file}, 2, `--format "yaml": want json or text`},
		{[]string{"evaluate"}, 2, "needs one request file"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"report", "--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"token"}, 2, "token needs --aud"},
		{[]string{"evaluate", filepath.Join(t.TempDir(), "missing.json")}, 1, "missing.json"},
		{[]string{"evaluate", "--format", "text", file}, 0, ""},
		{[]string{"evaluate", "--format", "text", "--form", file}, 2, "--form prints the QuestionnaireResponse as FHIR JSON"},
		{[]string{"evaluate", "--form", "--format", "json", file}, 0, ""},
		{[]string{"evaluate", "--now", "yesterday", file}, 2, `--now "yesterday": want an RFC 3339 date-time`},
		{[]string{"evaluate", "--service", "nope", file}, 2, `--service "nope": want lumbar-mri-order-sign or lumbar-mri-order-select`},
		{[]string{"valueset"}, 2, "valueset needs a subcommand: expand"},
		{[]string{"valueset", "shrink"}, 2, "valueset needs a subcommand: expand"},
		{[]string{"valueset", "expand"}, 2, "valueset expand needs --tx and --url"},
		{[]string{"valueset", "expand", "--tx", "http://127.0.0.1:1", "--url", "http://x/vs", "--token", "t", "--user", "u", "--password", "p"}, 2, "either --token or --user/--password"},
		{[]string{"valueset", "expand", "--tx", "ftp://tx", "--url", "http://x/vs"}, 2, "not an absolute http(s) URL"},
		{[]string{"seed"}, 2, "seed needs --fhir"},
		{[]string{"report", "--from", "2026-13-01"}, 2, `from must be a date YYYY-MM-DD, got "2026-13-01"`},
		{[]string{"report", "x"}, 2, `report takes no arguments, got "x"`},
		{[]string{"serve", "x"}, 2, `serve takes no arguments, got "x"`},
		{[]string{"serve", "--log-format", "xml"}, 2, `--log-format "xml": want text or json`},
		{[]string{"serve", "--max-body", "0"}, 2, "--max-body: want a positive value"},
		{[]string{"serve", "--fhir-timeout", "-1s"}, 2, "--fhir-timeout: want a positive value"},
		{[]string{"report", "--from", "2026-06-02", "--to", "2026-06-01"}, 2, "from must not be after to"},
	}
	for _, tt := range tests {
		var out syncBuffer
		err := run(context.Background(), tt.args, env(nil), strings.NewReader(""), &out, &syncBuffer{})
		if got := exitCode(err); got != tt.code {
			t.Errorf("%v: exit %d, want %d (%v)", tt.args, got, tt.code, err)
		}
		if tt.text != "" && (err == nil || !strings.Contains(err.Error(), tt.text)) {
			t.Errorf("%v: error %v, want it to say %q", tt.args, err, tt.text)
		}
		if tt.code == 2 && strings.HasPrefix(tt.args[0], "evaluate") && out.String() != "" {
			t.Errorf("%v printed output although refused:\n%s", tt.args, out.String())
		}
	}
	if exitCode(flag.ErrHelp) != 0 || exitCode(errors.New("x")) != 1 {
		t.Error("exitCode of help / a plain error")
	}
}

// TestTokenWithoutKeyRefuses: token --aud on a data dir without a key does
// not make a new key (the server would not know it) and says what to do.
func TestTokenWithoutKeyRefuses(t *testing.T) {
	data := t.TempDir()
	var out syncBuffer
	err := run(context.Background(), []string{"token", "--data-dir", data, "--aud", "http://127.0.0.1:8080/cds-services"}, env(nil), strings.NewReader(""), &out, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "no development key in "+data) || !strings.Contains(err.Error(), "token --init") {
		t.Fatalf("token without a key: %v", err)
	}
	if out.String() != "" {
		t.Errorf("a token was printed: %q", out.String())
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("token without --init wrote %d files into the data dir", len(entries))
	}
	err = run(context.Background(), []string{"bench", "--url", "http://127.0.0.1:1", "--token-dev-key", data, "--requests", "1",
		filepath.Join("..", "..", "testdata", "scenarios", "02-cauda-equina.json")}, env(nil), strings.NewReader(""), &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "no development key") {
		t.Errorf("bench --token-dev-key without a key: %v", err)
	}
}

// TestBenchFailsWithTheReason: a dead URL fails at once with the
// connection error; a target answering errors fails with the count and the
// statuses.
func TestBenchFailsWithTheReason(t *testing.T) {
	file := filepath.Join("..", "..", "testdata", "scenarios", "02-cauda-equina.json")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	var out syncBuffer
	err = run(context.Background(), []string{"bench", "--url", dead, "--requests", "20", file}, env(nil), strings.NewReader(""), &out, &syncBuffer{})
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("bench against a dead URL: %v\n%s", err, out.String())
	}

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"resourceType":"OperationOutcome"}`, http.StatusInternalServerError)
	}))
	defer failing.Close()
	err = run(context.Background(), []string{"bench", "--url", failing.URL, "--requests", "6", "--concurrency", "2", file}, env(nil), strings.NewReader(""), &out, &syncBuffer{})
	if exitCode(err) != 1 || err == nil || !strings.Contains(err.Error(), "6 of 6 calls failed: statuses map[500:6]") {
		t.Errorf("bench against a failing target: %v\n%s", err, out.String())
	}

	throttling := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"resourceType":"OperationOutcome"}`, http.StatusTooManyRequests)
	}))
	defer throttling.Close()
	err = run(context.Background(), []string{"bench", "--url", throttling.URL, "--requests", "4", "--concurrency", "2", file}, env(nil), strings.NewReader(""), &out, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "statuses map[429:4]; 429 is the target's rate limit: start it with --rate-limit 0") {
		t.Errorf("bench against a throttling target: %v", err)
	}
}

// TestStartupLog: the start-up line shows the values in force for base-url,
// cors-origins and fhir-allow, and --trust-sandbox without a trust file does not claim
// that tokens go unverified.
func TestStartupLog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done, stderr := startServe(t, ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--trust-sandbox", "--log-format", "json"}, nil)
	cancel()
	<-done
	log := stderr.String()
	for _, want := range []string{`"base-url":"` + base + `"`, `"cors-origins":"loopback origins"`, `"policy":"embedded default"`,
		`"fhir-allow":"any public https server, and loopback"`, "public CDS Hooks sandbox key are accepted"} {
		if !strings.Contains(log, want) {
			t.Errorf("start-up log lacks %s:\n%s", want, log)
		}
	}
	if strings.Contains(log, "not verified") {
		t.Errorf("with --trust-sandbox the log says tokens are not verified:\n%s", log)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	_, done2, stderr2 := startServe(t, ctx2, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--base-url", "https://cds.example.org/", "--cors-origins", "https://ehr.example.org"}, nil)
	cancel2()
	<-done2
	if log := stderr2.String(); !strings.Contains(log, "base-url=https://cds.example.org ") || !strings.Contains(log, "cors-origins=https://ehr.example.org") ||
		!strings.Contains(log, "tokens are not verified") {
		t.Errorf("start-up log with explicit values:\n%s", log)
	}
}

// TestStartupChecksInputsFirst: a missing trust, policy or TLS file fails
// start-up before anything is logged: no "starting" line, no warnings.
func TestStartupChecksInputsFirst(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nonexist.yaml")
	for _, args := range [][]string{
		{"--trust", missing},
		{"--trust", missing, "--trust-sandbox"},
		{"--policy", missing},
		{"--tls-cert", missing, "--tls-key", missing},
	} {
		var stderr syncBuffer
		err := run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir}, args...), env(nil), strings.NewReader(""), &syncBuffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), "nonexist.yaml") {
			t.Errorf("%v: %v, want an error naming the missing file", args, err)
		}
		if stderr.String() != "" {
			t.Errorf("%v: logged before failing on its input:\n%s", args, stderr.String())
		}
	}
}

// TestErrorPrefixesOnce: each wrapping site adds its context once.
func TestErrorPrefixesOnce(t *testing.T) {
	dir := t.TempDir()
	badTrust := filepath.Join(dir, "trust.yaml")
	os.WriteFile(badTrust, []byte("clients: []\n"), 0o644)
	badPolicy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(badPolicy, []byte("id: x\nname: X\nconservative_therapy:\n  min_days: -3\n"), 0o644)
	notJSON := filepath.Join(dir, "bad.json")
	os.WriteFile(notJSON, []byte("{not json"), 0o644)
	file := filepath.Join("..", "..", "testdata", "scenarios", "02-cauda-equina.json")

	var seedOut, seedErr syncBuffer
	seedRun := run(context.Background(), []string{"seed", "--fhir", "http://127.0.0.1:1/fhir", notJSON}, env(nil), strings.NewReader(""), &seedOut, &seedErr)
	if got, want := seedOut.String(), "Seeded nothing into http://127.0.0.1:1/fhir.\n"; got != want {
		t.Errorf("seed of a file that is not JSON printed %q, want %q", got, want)
	}
	if got, want := seedErr.String(), "seed bad.json: not JSON (invalid character 'n' looking for beginning of object key string at byte 2)\n"; got != want {
		t.Errorf("seed of a file that is not JSON says %q, want %q", got, want)
	}
	tests := []struct {
		name, text, prefix string
	}{
		{"trust file", errText(run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--trust", badTrust}, env(nil), strings.NewReader(""), &syncBuffer{}, &syncBuffer{})), "trust file"},
		{"missing trust file", errText(run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--trust", filepath.Join(dir, "none.yaml")}, env(nil), strings.NewReader(""), &syncBuffer{}, &syncBuffer{})), "trust file"},
		{"policy", errText(run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--policy", badPolicy}, env(nil), strings.NewReader(""), &syncBuffer{}, &syncBuffer{})), "policy:"},
		{"missing policy", errText(run(context.Background(), []string{"evaluate", "--policy", filepath.Join(dir, "none.yaml"), file}, env(nil), strings.NewReader(""), &syncBuffer{}, &syncBuffer{})), "policy:"},
		{"seed", seedErr.String() + errText(seedRun), "seed bad.json"},
	}
	for _, tt := range tests {
		if n := strings.Count(tt.text, tt.prefix); n != 1 {
			t.Errorf("%s: %q appears %d times in %q", tt.name, tt.prefix, n, tt.text)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestComposePortsDistinct: no two services of docker-compose.yml publish
// the same host port.
func TestComposePortsDistinct(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Ports []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for name, svc := range compose.Services {
		for _, p := range svc.Ports {
			host := strings.Split(p, ":")[0]
			if other, ok := seen[host]; ok {
				t.Errorf("host port %s published by %s and %s", host, other, name)
			}
			seen[host] = name
		}
	}
	if len(seen) < 2 {
		t.Errorf("expected HAPI and the service to publish ports, got %v", seen)
	}
}

// TestReportNamesPayers: the report command shows the payer's name of each
// policy (from --policy, by default the embedded one), the policy id when
// the policy is not among them, and "(hook not read)" for a call whose hook
// was not read.
func TestReportNamesPayers(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, c := range []store.Call{
		{Time: now, ServiceID: "lumbar-mri-order-sign", Hook: "order-sign", HookInstance: "h1", PatientID: "p", Status: 200, PolicyID: "default",
			Orders: []store.Order{{ID: "sr", Codes: []string{"72148"}, Assessment: "criteria-not-met"}}},
		{Time: now, ServiceID: "lumbar-mri-order-sign", Hook: "order-sign", HookInstance: "h2", PatientID: "p", Status: 200, PolicyID: "acme-health",
			Orders: []store.Order{{ID: "sr", Codes: []string{"72148"}, Assessment: "criteria-met"}}},
		{Time: now, ServiceID: "lumbar-mri-order-sign", Status: 400},
	} {
		if err := db.RecordCall(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	var out syncBuffer
	if err := run(t.Context(), []string{"report", "--data-dir", dir}, env(nil), strings.NewReader(""), &out, &syncBuffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n  General lumbar MRI criteria (no payer-specific policy) (default)  ", "\n  acme-health  ", "\n  (hook not read)  "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "Policy acme") {
		t.Errorf("report still says \"Policy acme-health\":\n%s", out.String())
	}
}
