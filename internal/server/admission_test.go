package server

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDecodeBudget: while a call holds the decode budget (its body still
// arriving), a call that does not fit gets 503 with Retry-After and
// Connection: close, read by a real HTTP client; once the first call is
// answered, the same call gets 200.
func TestDecodeBudget(t *testing.T) {
	small := minimal(t, nil)
	const held = 9000
	ts := newTestServer(t, func(cfg *Config) { cfg.DecodeBudget = int64(held + len(small) - 1) })
	srv := httptest.NewServer(ts.Handler())
	defer srv.Close()
	url := srv.URL + "/cds-services/" + ServiceOrderSign

	// The first call announces 9000 bytes and sends them slowly.
	big := append(append([]byte{}, small...), bytes.Repeat([]byte(" "), held-len(small))...)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, url, pr)
	req.ContentLength = held
	req.Header.Set("Content-Type", "application/json")
	first := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	if _, err := pw.Write(big[:100]); err != nil {
		t.Fatal(err)
	}
	// Wait until the first call holds its share of the budget, so that a
	// small call admitted first cannot turn the first one away instead.
	for until := time.Now().Add(5 * time.Second); ; {
		ts.decoding.mu.Lock()
		used := ts.decoding.used
		ts.decoding.mu.Unlock()
		if used >= held {
			break
		}
		if time.Now().After(until) {
			t.Fatal("the first call never took its share of the decode budget")
		}
		time.Sleep(time.Millisecond)
	}

	var refused *http.Response
	deadline := time.Now().Add(5 * time.Second)
	for refused == nil && time.Now().Before(deadline) {
		resp, err := http.Post(url, "application/json", bytes.NewReader(small))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			refused = resp
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if refused == nil {
		t.Fatal("no 503 while the budget was held")
	}
	if got := refused.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if !refused.Close {
		t.Errorf("503 without Connection: close")
	}

	if _, err := pw.Write(big[100:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if got := <-first; got != http.StatusOK {
		t.Fatalf("the call holding the budget answered %d", got)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(small))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after the budget was released: %d, want 200", resp.StatusCode)
	}
}

// TestAdmissionAlone: a call larger than the whole budget runs when nothing
// else does (it could never run otherwise), and blocks others meanwhile.
func TestAdmissionAlone(t *testing.T) {
	a := admission{limit: 100}
	if !a.tryAcquire(500) {
		t.Fatal("an oversized call was refused with nothing running")
	}
	if a.tryAcquire(1) {
		t.Fatal("a call was admitted beside an oversized one")
	}
	a.release(500)
	if !a.tryAcquire(60) || !a.tryAcquire(40) || a.tryAcquire(1) {
		t.Fatal("the budget does not add up to its limit")
	}
}
