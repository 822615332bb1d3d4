package store

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

// TestNoPHIInDatabaseFiles records calls and feedback for a patient and greps
// the raw bytes of the database, its WAL and shared-memory files for the
// patient id and the clinician's comment.
func TestNoPHIInDatabaseFiles(t *testing.T) {
	const patient = "pat-secret-123"
	const hookInstance = "hook-instance-control-789"
	const comment = "comment-secret-456 about Jane Doe born 1961-04-02"
	dir := t.TempDir()
	db := open(t, dir)
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var items []hooks.FeedbackItem
	for i := range 50 {
		c := sampleCall(at.Add(time.Duration(i)*time.Second), patient, i)
		c.HookInstance = hookInstance
		if err := db.RecordCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		items = append(items, hooks.FeedbackItem{Card: c.Cards[0].UUID, Outcome: "overridden", OutcomeTimestamp: "2026-03-01T10:05:31Z",
			OverrideReason: &hooks.OverrideReason{Reason: &reasonDocumented, UserComment: comment}})
	}
	if err := db.RecordFeedback(ctx, service, items); err != nil {
		t.Fatal(err)
	}
	var comments int
	db.read.QueryRowContext(ctx, "SELECT count(*) FROM feedback WHERE has_user_comment = 1").Scan(&comments)
	if comments != 50 {
		t.Errorf("feedback with has_user_comment = %d, want 50", comments)
	}

	grep := func(when string) {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(dir, DBFile+"*"))
		sawWAL, sawControl := false, false
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(f, "-wal") {
				sawWAL = true
			}
			// Positive control: the grep reads the bytes where rows live.
			if bytes.Contains(b, []byte(hookInstance)) {
				sawControl = true
			}
			for _, secret := range []string{patient, "comment-secret-456", "Jane Doe", "1961-04-02"} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("%s: %s contains %q", when, filepath.Base(f), secret)
				}
			}
		}
		if !sawControl {
			t.Errorf("%s: hookInstance %q not found in any file; the grep does not see the stored rows", when, hookInstance)
		}
		if when == "open" && !sawWAL {
			t.Errorf("no -wal file while open; the grep did not cover the WAL (files %v)", files)
		}
	}
	grep("open")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	grep("closed")
}
