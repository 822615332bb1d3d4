package policy

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHolderWatchesTheFolder: a valid change to a policy file is picked up
// without a signal; an invalid one is rejected and the running set kept.
func TestHolderWatchesTheFolder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "acme.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("id: acme\nname: Acme\nmatch: {payor_displays: [Acme]}\nconservative_therapy: {min_days: 28}\n")
	results := make(chan string, 16)
	h, err := NewHolder(dir, slog.New(slog.NewTextHandler(io.Discard, nil)), func(r string) { results <- r })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	write("id: acme\nname: Acme\nmatch: {payor_displays: [Acme]}\nconservative_therapy: {min_days: 35}\n")
	waitReload(t, results, "ok")
	if got := h.Current().Get("acme").ConservativeTherapy.MinDays; got != 35 {
		t.Errorf("min_days after the change = %d, want 35", got)
	}
	write("id: acme\nname: Acme\nconservative_therapy: {min_days: -1}\n")
	waitReload(t, results, "rejected")
	if got := h.Current().Get("acme").ConservativeTherapy.MinDays; got != 35 {
		t.Errorf("min_days after a rejected change = %d, want 35 (kept)", got)
	}
}

// waitReload waits for the next reload result and fails unless it is want.
func waitReload(t *testing.T, results <-chan string, want string) {
	t.Helper()
	select {
	case got := <-results:
		if got != want {
			t.Fatalf("reload result %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no reload after the file changed (want %q)", want)
	}
}
