package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/auth"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/pgtest"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/server"
)

// replicaEnv makes the test binary a service replica: it holds the JSON
// array of arguments passed to run.
const replicaEnv = "LUMBAR_MRI_CDS_TEST_REPLICA_ARGS"

// postgres is the test binary's PostgreSQL cluster, started by the first
// test that needs it and stopped by TestMain.
var postgres pgtest.Shared

func TestMain(m *testing.M) {
	if a := os.Getenv(replicaEnv); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			fmt.Fprintln(os.Stderr, "replica:", err)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "replica:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if err := postgres.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop PostgreSQL:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// replica is one service process.
type replica struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	done   chan error
}

// startReplica starts the test binary as a service process with args.
func startReplica(t *testing.T, args []string) *replica {
	t.Helper()
	a, _ := json.Marshal(append([]string{"serve"}, args...))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), replicaEnv+"="+string(a))
	r := &replica{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = r.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		r.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
			}
		}
	})
	re := regexp.MustCompile(`listening on (\S+)`)
	select {
	case line := <-lines:
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("replica said %q\n%s", line, r.stderr)
		}
		r.url = "http://" + m[1]
	case err := <-r.done:
		t.Fatalf("replica stopped: %v\n%s", err, r.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("replica did not start\n%s", r.stderr)
	}
	return r
}

// TestReplicasOnPostgres runs three service processes on one PostgreSQL
// database behind a round-robin proxy: a token used on one replica is
// refused by another, feedback about a card issued by one replica is
// accepted by another, and after one replica is killed with SIGKILL during a
// burst of calls and feedback, every answered call and every acknowledged
// feedback item is in the database.
func TestReplicasOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: starts three service processes")
	}
	dbURL := postgres.NewDatabase(t)
	data := t.TempDir()
	var out syncBuffer
	if err := run(t.Context(), []string{"token", "--init", "--data-dir", data}, env(nil), strings.NewReader(""), &out, &syncBuffer{}); err != nil {
		t.Fatal(err)
	}
	trust := filepath.Join(data, "trust.yaml")
	if err := os.WriteFile(trust, []byte(out.String()[strings.Index(out.String(), "clients:"):]), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadOrCreateDevKey(data)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "scenarios", "01-acute-lbp-no-therapy.json"))
	if err != nil {
		t.Fatal(err)
	}

	// The proxy's address is the service's public URL, so it is known
	// before the replicas start.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	reps := make([]*replica, 3)
	var wg sync.WaitGroup
	for i := range reps {
		// Started together: they migrate the empty database at once.
		wg.Go(func() {
			reps[i] = startReplica(t, []string{"--addr", "127.0.0.1:0", "--base-url", public, "--trust", trust,
				"--database-url", dbURL, "--data-dir", filepath.Join(data, fmt.Sprint("replica", i)), "--rate-limit", "0",
				"--audit-retention", "0", "--log-level", "warn"})
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var next atomic.Uint64
	proxies := make([]*httputil.ReverseProxy, len(reps))
	for i, r := range reps {
		u, _ := url.Parse(r.url)
		proxies[i] = httputil.NewSingleHostReverseProxy(u)
		proxies[i].ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	}
	proxy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxies[next.Add(1)%uint64(len(proxies))].ServeHTTP(w, r)
	}))
	proxy.Listener.Close()
	proxy.Listener = ln
	proxy.Start()
	defer proxy.Close()

	client := &http.Client{Timeout: 15 * time.Second}
	callPath := "/cds-services/" + server.ServiceOrderSign
	feedbackPath := callPath + "/feedback"
	post := func(base, path, token string, body []byte) (int, []byte, error) {
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, err = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes(), err
	}
	mint := func(path string) string {
		tok, err := key.Mint(public+path, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	var hookInstances atomic.Int64
	call := func(base string) (int, string, []string, error) {
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatal(err)
		}
		hi := fmt.Sprintf("00000000-0000-4000-8000-%012d", hookInstances.Add(1)) // a UUID, as CDS Hooks has it: stored as sent
		req["hookInstance"] = hi
		b, _ := json.Marshal(req)
		code, resp, err := post(base, callPath, mint(callPath), b)
		var answer struct {
			Cards []struct {
				UUID string `json:"uuid"`
			} `json:"cards"`
		}
		if err == nil && code == http.StatusOK {
			err = json.Unmarshal(resp, &answer)
		}
		var uuids []string
		for _, c := range answer.Cards {
			uuids = append(uuids, c.UUID)
		}
		return code, hi, uuids, err
	}
	feedback := func(base, card string, at time.Time) (int, error) {
		b, _ := json.Marshal(map[string]any{"feedback": []map[string]any{{
			"card": card, "outcome": "overridden", "outcomeTimestamp": at.UTC().Format(time.RFC3339Nano)}}})
		code, _, err := post(base, feedbackPath, mint(feedbackPath), b)
		return code, err
	}

	// A token used on replica 1 is refused on replica 2.
	tok := mint(callPath)
	if code, _, err := post(reps[0].url, callPath, tok, body); err != nil || code != http.StatusOK {
		t.Fatalf("replica 1: %d, %v\n%s", code, err, reps[0].stderr)
	}
	if code, _, err := post(reps[1].url, callPath, tok, body); err != nil || code != http.StatusUnauthorized {
		t.Errorf("the same token on replica 2: %d, %v; want 401", code, err)
	}
	// Feedback about a card of replica 3, posted to replica 1, is accepted.
	code, _, cards, err := call(reps[2].url)
	if err != nil || code != http.StatusOK || len(cards) == 0 {
		t.Fatalf("replica 3: %d, %v, %d cards\n%s", code, err, len(cards), reps[2].stderr)
	}
	if code, err := feedback(reps[0].url, cards[0], time.Now()); err != nil || code != http.StatusOK {
		t.Errorf("feedback on replica 1 about a card of replica 3: %d, %v; want 200", code, err)
	}

	// A burst through the proxy; replica 2 is killed with SIGKILL in the
	// middle of it.
	type ack struct {
		card string
		at   time.Time
	}
	var (
		mu        sync.Mutex
		answered  []string // hookInstances of calls answered 200
		acked     []ack
		unplanned []string
		stop      = make(chan struct{})
	)
	const workers, killAfter = 6, 60
	reached := make(chan struct{})
	var once sync.Once
	for w := range workers {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				code, hi, cards, err := call(public)
				if err == nil && code == http.StatusOK {
					mu.Lock()
					answered = append(answered, hi)
					if len(answered) >= killAfter {
						once.Do(func() { close(reached) })
					}
					mu.Unlock()
				} else if code != http.StatusBadGateway && err == nil {
					mu.Lock()
					unplanned = append(unplanned, fmt.Sprint("call ", code))
					mu.Unlock()
				}
				if len(cards) == 0 {
					continue
				}
				at := time.Now().Add(time.Duration(w) * time.Microsecond)
				code, err = feedback(public, cards[0], at)
				if err == nil && code == http.StatusOK {
					mu.Lock()
					acked = append(acked, ack{cards[0], at})
					mu.Unlock()
				} else if code != http.StatusBadGateway && err == nil {
					mu.Lock()
					unplanned = append(unplanned, fmt.Sprint("feedback ", code))
					mu.Unlock()
				}
			}
		})
	}
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
	}
	if err := reps[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitErr := <-reps[1].done
	// Keep going on the two replicas left, then stop.
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	var exit *exec.ExitError
	if !errors.As(waitErr, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("replica 2 ended with %v, want killed by SIGKILL", waitErr)
	}
	if len(unplanned) > 0 {
		t.Errorf("%d answers other than 200 or 502 (killed replica), first %s", len(unplanned), unplanned[0])
	}
	if len(answered) < killAfter || len(acked) == 0 {
		t.Fatalf("only %d calls answered and %d feedback items acknowledged", len(answered), len(acked))
	}

	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	lostCalls, lostFeedback := 0, 0
	for _, hi := range answered {
		var n int
		if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM calls WHERE hook_instance = $1", hi).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			lostCalls++
		}
	}
	for _, a := range acked {
		var n int
		err := conn.QueryRow(t.Context(), `SELECT count(*) FROM feedback f JOIN cards c ON c.id = f.card_id
			WHERE c.uuid = $1 AND f.outcome_at_ms = $2`, a.card, a.at.UnixMilli()).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			lostFeedback++
		}
	}
	if lostCalls > 0 || lostFeedback > 0 {
		t.Errorf("after SIGKILL: %d of %d answered calls and %d of %d acknowledged feedback items missing from the database",
			lostCalls, len(answered), lostFeedback, len(acked))
	}
	var rows int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM calls").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d calls answered, %d feedback items acknowledged, all in the database (%d call rows, in-flight ones included)",
		len(answered), len(acked), rows)

	// One report for every replica's rows; its first line is `Calls: N`.
	var report syncBuffer
	now := time.Now().UTC()
	if err := run(t.Context(), []string{"report", "--from", now.AddDate(0, 0, -1).Format(time.DateOnly), "--to", now.Format(time.DateOnly)},
		env(map[string]string{"LUMBAR_MRI_CDS_DATABASE_URL": dbURL}), strings.NewReader(""), &report, &syncBuffer{}); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(report.String(), "\n")
	if want := fmt.Sprintf("Calls: %d", rows); first != want {
		t.Errorf("report first line %q, want %q", first, want)
	}
}
