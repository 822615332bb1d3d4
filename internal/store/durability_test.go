package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

// helperEnv selects the helper mode of the test binary: it names the data
// directory of a store that the helper serves feedback writes for.
const helperEnv = "LUMBAR_MRI_CDS_STORE_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(serveFeedback(dir))
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

// serveFeedback is the helper process: it opens the store in dir and answers
// POST /feedback (a hooks.Feedback body) with 204 only after RecordFeedback
// returned nil, and POST /call (a Call) with 204 only after RecordCall
// returned nil, until it is killed. It prints its address on stdout.
func serveFeedback(dir string) int {
	ctx := context.Background()
	db, err := Open(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/call" {
			var c Call
			if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if err := db.RecordCall(r.Context(), c); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var fb hooks.Feedback
		if err := json.NewDecoder(r.Body).Decode(&fb); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := db.RecordFeedback(r.Context(), service, fb.Feedback); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	err = http.Serve(ln, h)
	fmt.Fprintln(os.Stderr, "helper:", err)
	return 2
}

// TestAcknowledgedFeedbackSurvivesSIGKILL writes feedback and audit records
// (group-committed) concurrently to a child process, kills it with SIGKILL
// while writes are in flight, reopens the database and checks that every
// acknowledged item and record is there.
func TestAcknowledgedFeedbackSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: starts a child process and kills it")
	}
	dir := t.TempDir()
	db := open(t, dir)
	var cards []Card
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		c := sampleCall(at, "pat", i)
		if err := db.RecordCall(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		cards = append(cards, c.Cards...)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper did not start: %q, %v; stderr: %s", line, err, stderr.String())
	}
	url := "http://" + addr + "/feedback"
	callURL := "http://" + addr + "/call"

	// item makes the n-th feedback item, distinct from every other one.
	item := func(n int) hooks.FeedbackItem {
		c := cards[n%len(cards)]
		ts := at.Add(time.Duration(n) * time.Millisecond).Format(time.RFC3339Nano)
		if len(c.SuggestionUUIDs) > 0 && n%3 == 0 {
			return hooks.FeedbackItem{Card: c.UUID, Outcome: "accepted", OutcomeTimestamp: ts,
				AcceptedSuggestions: []hooks.AcceptedSuggestion{{ID: c.SuggestionUUIDs[0]}}}
		}
		return hooks.FeedbackItem{Card: c.UUID, Outcome: "overridden", OutcomeTimestamp: ts,
			OverrideReason: &hooks.OverrideReason{Reason: &c.OverrideReasons[0]}}
	}

	const workers, killAfter = 8, 300
	var (
		mu      sync.Mutex
		acked   []hooks.FeedbackItem
		calls   []string // HookInstance of each acknowledged audit record
		next    int
		failed  []string
		killed  = make(chan struct{})
		reached = make(chan struct{})
		once    sync.Once
	)
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-killed:
					return
				default:
				}
				mu.Lock()
				if next%2 == 1 {
					// An audit record, told apart by its hookInstance.
					c := sampleCall(at, "pat", 1000+next)
					c.HookInstance = fmt.Sprintf("durable-%d", next)
					next++
					mu.Unlock()
					body, _ := json.Marshal(c)
					resp, err := client.Post(callURL, "application/json", bytes.NewReader(body))
					if err != nil {
						continue
					}
					resp.Body.Close()
					mu.Lock()
					if resp.StatusCode == http.StatusNoContent {
						calls = append(calls, c.HookInstance)
					} else {
						failed = append(failed, resp.Status)
					}
					mu.Unlock()
					continue
				}
				// One to three items per POST: all or nothing.
				var batch []hooks.FeedbackItem
				for range 1 + next%3 {
					batch = append(batch, item(next))
					next++
				}
				mu.Unlock()
				body, _ := json.Marshal(hooks.Feedback{Feedback: batch})
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					continue // killed mid-request: not acknowledged
				}
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == http.StatusNoContent {
					acked = append(acked, batch...)
					if len(acked) >= killAfter {
						once.Do(func() { close(reached) })
					}
				} else {
					failed = append(failed, resp.Status)
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
	}
	// SIGKILL while the workers are still posting.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitErr := cmd.Wait()
	close(killed)
	wg.Wait()

	var exit *exec.ExitError
	if !errors.As(waitErr, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, want killed by SIGKILL; stderr: %s", waitErr, stderr.String())
	}
	if len(failed) > 0 {
		t.Errorf("%d POSTs failed before the kill, first %s; stderr: %s", len(failed), failed[0], stderr.String())
	}
	if len(acked) < killAfter {
		t.Fatalf("only %d items acknowledged before the deadline", len(acked))
	}

	db = open(t, dir)
	var integrity string
	if err := db.read.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check = %q, %v", integrity, err)
	}
	missing := 0
	for _, it := range acked {
		c, err := check(it)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.read.QueryRowContext(t.Context(), "SELECT count(*) FROM feedback WHERE dedup_key = ?", dedupKey(c)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged item lost after SIGKILL: card %s at %s", it.Card, it.OutcomeTimestamp)
			}
		}
	}
	var stored int
	db.read.QueryRowContext(t.Context(), "SELECT count(*) FROM feedback").Scan(&stored)
	t.Logf("acknowledged %d items, %d stored after SIGKILL (unacknowledged in-flight writes may also have committed), %d missing", len(acked), stored, missing)

	if len(calls) < killAfter/4 {
		t.Fatalf("only %d audit records acknowledged before the kill", len(calls))
	}
	lostCalls := 0
	for _, hi := range calls {
		var n int
		if err := db.read.QueryRowContext(t.Context(), "SELECT count(*) FROM calls WHERE hook_instance = ?", hi).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			lostCalls++
			if lostCalls <= 5 {
				t.Errorf("acknowledged audit record %s: %d rows after SIGKILL, want 1", hi, n)
			}
		}
	}
	t.Logf("acknowledged %d audit records, %d lost", len(calls), lostCalls)
}
