package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCountRefused: refused calls add to one count per reason and minute,
// not a row each; the read sums the period per reason; pruning drops old
// minutes.
func TestCountRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
		ctx := t.Context()
		base := time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC)
		for _, c := range []struct {
			reason string
			at     time.Time
			n      int
		}{
			{"unauthenticated", base.Add(5 * time.Second), 700},
			{"unauthenticated", base.Add(50 * time.Second), 300},
			{"auth-throttled", base.Add(59 * time.Second), 2000},
			{"rate-limited", base.Add(time.Minute), 4},
			{"unauthenticated", base.Add(-24 * time.Hour), 9},
		} {
			if err := db.CountRefused(ctx, c.reason, c.at, c.n); err != nil {
				t.Fatal(err)
			}
		}
		var rows int
		if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM refused_calls").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 4 {
			t.Errorf("rows = %d for 3,013 refused calls in 4 (reason, minute) pairs, want 4", rows)
		}
		got, err := db.Refused(ctx, base, base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []Refusal{{"auth-throttled", 2000}, {"unauthenticated", 1000}, {"rate-limited", 4}}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("Refused (-got +want):\n%s", diff)
		}
		if _, err := db.Prune(ctx, base.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err = db.Refused(ctx, time.Time{}, base)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("after pruning, the old minute is still counted: %v", got)
		}
		if err := db.CountRefused(ctx, "", base, 1); err == nil {
			t.Error("empty reason accepted")
		}
	})
}

// TestFileModes: the data directory is 0700 and the database, its WAL and
// SHM and the key file 0600, also when the directory and files existed with
// looser modes.
func TestFileModes(t *testing.T) {
	modes := func(dir string) map[string]os.FileMode {
		out := map[string]os.FileMode{}
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		out["."] = fi.Mode().Perm()
		for _, name := range []string{DBFile, DBFile + "-wal", DBFile + "-shm", KeyFile} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			out[name] = fi.Mode().Perm()
		}
		return out
	}
	want := map[string]os.FileMode{".": 0o700, DBFile: 0o600, DBFile + "-wal": 0o600, DBFile + "-shm": 0o600, KeyFile: 0o600}

	fresh := filepath.Join(t.TempDir(), "data")
	db := open(t, fresh)
	if err := db.Writable(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(modes(fresh), want); diff != "" {
		t.Errorf("new data dir modes (-got +want):\n%s", diff)
	}
	db.Close()

	// An existing, loosened directory and database are tightened.
	for _, p := range []string{DBFile, DBFile + "-wal", DBFile + "-shm"} {
		// Create without truncating: the database keeps its rows.
		f, err := os.OpenFile(filepath.Join(fresh, p), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.Chmod(filepath.Join(fresh, p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(fresh, 0o755); err != nil {
		t.Fatal(err)
	}
	db = open(t, fresh)
	if err := db.Writable(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(modes(fresh), want); diff != "" {
		t.Errorf("reopened data dir modes (-got +want):\n%s", diff)
	}
}

// TestDataDirNotADirectory: a data dir that cannot be used is refused with
// the reason.
func TestDataDirNotADirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), p); err == nil {
		t.Fatal("Open on a file: want an error")
	}
}

// TestWritableAfterFailedCommit: when audit commits fail (here: the cards
// table is gone, as when an older server writes to a database a newer
// version migrated), Writable fails too, so the readiness probe takes the
// replica out of rotation; it recovers with the next successful commit.
func TestWritableAfterFailedCommit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
		ctx := t.Context()
		at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		if err := db.Writable(ctx); err != nil {
			t.Fatalf("fresh database: %v", err)
		}
		if _, err := db.write.ExecContext(ctx, "ALTER TABLE cards RENAME TO cards_gone"); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordCall(ctx, sampleCall(at, "pat-1", 1)); err == nil {
			t.Fatal("RecordCall succeeded without the cards table")
		}
		if err := db.Writable(ctx); err == nil {
			t.Error("Writable = nil after a failed audit commit")
		}
		if _, err := db.write.ExecContext(ctx, "ALTER TABLE cards_gone RENAME TO cards"); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordCall(ctx, sampleCall(at, "pat-1", 2)); err != nil {
			t.Fatalf("RecordCall after repair: %v", err)
		}
		if err := db.Writable(ctx); err != nil {
			t.Errorf("Writable after a successful commit: %v", err)
		}
	})
}
