package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/pgtest"
)

// Audit is the kind of interface a consumer such as internal/server declares;
// the assertion keeps *DB able to satisfy it.
type Audit interface {
	RecordCall(ctx context.Context, c Call) error
	RecordFeedback(ctx context.Context, serviceID string, items []hooks.FeedbackItem) error
	Writable(ctx context.Context) error
}

var _ Audit = (*DB)(nil)

const service = "lumbar-mri-order-sign"

// open opens the SQLite store in dir (tests of what only SQLite has).
func open(t testing.TB, dir string) *DB {
	t.Helper()
	return sqliteBackend.openAt(t, dir)
}

// postgres is the test binary's PostgreSQL cluster, started by the first
// test that needs it and stopped by TestMain.
var postgres pgtest.Shared

// backend is one database the behaviour suite runs against.
type backend struct {
	name string
	// fresh returns a new, empty location: a data directory or a database
	// URL.
	fresh func(t testing.TB) string
	open  func(ctx context.Context, loc string) (*DB, error)
}

var (
	sqliteBackend   = backend{"sqlite", func(t testing.TB) string { return t.TempDir() }, Open}
	postgresBackend = backend{"postgres", func(t testing.TB) string { return postgres.NewDatabase(t) },
		func(ctx context.Context, loc string) (*DB, error) { return OpenPostgres(ctx, loc, nil) }}
)

// eachBackend runs f as a subtest per database.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// openAt opens the store at loc, closed when the test ends.
func (b backend) openAt(t testing.TB, loc string) *DB {
	t.Helper()
	db, err := b.open(t.Context(), loc)
	if err != nil {
		t.Fatalf("open %s: %v", b.name, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openNew opens a store at a new location.
func (b backend) openNew(t testing.TB) *DB {
	t.Helper()
	return b.openAt(t, b.fresh(t))
}

// count runs a count query written with ? placeholders.
func count(t testing.TB, db *DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.read.QueryRowContext(t.Context(), db.dialect.rebind(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

var reasonNotApplicable = hooks.Coding{System: "http://example.org/override", Code: "not-applicable", Display: "Not applicable to this patient"}
var reasonDocumented = hooks.Coding{System: "http://example.org/override", Code: "documented-elsewhere", Display: "Documented elsewhere"}

// sampleCall is a 200 order-sign call with one order and two cards.
func sampleCall(at time.Time, patient string, n int) Call {
	id := func(s string) string { return s + "-" + string(rune('a'+n%26)) + time.Duration(n).String() }
	return Call{
		Time: at, ServiceID: service, Hook: "order-sign", HookInstance: "hi-1", ClientISS: "https://ehr.example",
		PatientID: patient, PolicyID: "default", Status: 200, Latency: 12 * time.Millisecond, FHIRQueries: 3,
		Orders: []Order{{ID: "sr-1", Codes: []string{"72148"}, Assessment: "criteria-not-met",
			Findings: []string{"conservative-therapy-missing", "indication-missing"}}},
		Cards: []Card{
			{UUID: id("card-cov"), OrderID: "sr-1", Topic: "coverage-info", Indicator: "warning",
				OverrideReasons: []hooks.Coding{reasonNotApplicable, reasonDocumented}},
			{UUID: id("card-pt"), OrderID: "sr-1", Topic: "therapy-alternatives-opt", Indicator: "info",
				SuggestionUUIDs: []string{id("sug-pt")}, OverrideReasons: []hooks.Coding{reasonNotApplicable}},
		},
		AssertionIDs:   []string{id("assert")},
		RequestSHA256:  sha256.Sum256([]byte("request")),
		ResponseSHA256: sha256.Sum256([]byte("response")),
	}
}

func TestOpenMigratesOnceAndKeepsKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		loc := b.fresh(t)
		db := b.openAt(t, loc)
		k1 := db.PatientKey("p1")
		db.Close()

		db = b.openAt(t, loc)
		if k2 := db.PatientKey("p1"); k2 != k1 {
			t.Errorf("PatientKey after reopen = %s, want %s (key must persist)", k2, k1)
		}
		var versions []int
		rows, err := db.read.QueryContext(t.Context(), "SELECT version FROM schema_migrations ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v int
			rows.Scan(&v)
			versions = append(versions, v)
		}
		rows.Close()
		ms, err := migrations(db.dialect)
		if err != nil {
			t.Fatal(err)
		}
		var want []int
		for _, m := range ms {
			want = append(want, m.version)
		}
		if diff := cmp.Diff(versions, want); diff != "" {
			t.Errorf("schema_migrations (-got +want):\n%s", diff)
		}
		if err := db.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
		if err := db.Writable(t.Context()); err != nil {
			t.Errorf("Writable: %v", err)
		}
		if b.name != "sqlite" {
			return
		}
		fi, err := os.Stat(filepath.Join(loc, KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", KeyFile, fi.Mode().Perm())
		}
		var mode, sync string
		if err := db.write.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := db.write.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || sync != "2" {
			t.Errorf("journal_mode=%s synchronous=%s, want wal and 2 (FULL)", mode, sync)
		}
	})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		loc := b.fresh(t)
		db := b.openAt(t, loc)
		if _, err := db.write.ExecContext(t.Context(), "INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if db, err := b.open(t.Context(), loc); !errors.Is(err, ErrSchemaTooNew) {
			if err == nil {
				db.Close()
			}
			t.Errorf("open = %v, want ErrSchemaTooNew", err)
		}
	})
}

func TestOpenRefusesReadableKey(t *testing.T) {
	dir := t.TempDir()
	open(t, dir).Close()
	if err := os.Chmod(filepath.Join(dir, KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), dir); err == nil {
		t.Error("Open with a world-readable key file succeeded, want an error")
	}
}

func TestPatientKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a, other := b.openNew(t), b.openNew(t)
		if a.PatientKey("p1") == a.PatientKey("p2") {
			t.Error("two patients share a key")
		}
		if a.PatientKey("p1") == other.PatientKey("p1") {
			t.Error("two installations give one patient the same key; the key must be secret per installation")
		}
		if a.PatientKey("p1") == "p1" || len(a.PatientKey("p1")) != 64 {
			t.Errorf("PatientKey = %q, want 64 hex digits", a.PatientKey("p1"))
		}
		if a.PatientKey("") != "" {
			t.Error(`PatientKey("") != ""`)
		}
	})
}

func TestRecordCallStoresWhatFeedbackNeeds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
		ctx := t.Context()
		at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		c := sampleCall(at, "pat-1", 1)
		if err := db.RecordCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		// hookInstance is not unique: the same call again is a second row.
		c2 := sampleCall(at, "pat-1", 2)
		if err := db.RecordCall(ctx, c2); err != nil {
			t.Fatal(err)
		}
		// A 400 with almost nothing known is recorded too.
		if err := db.RecordCall(ctx, Call{Time: at, ServiceID: service, Status: 400}); err != nil {
			t.Fatal(err)
		}
		type row struct {
			Hook, Instance, Patient string
			Status                  int
			Latency                 float64
			Req                     []byte
		}
		var got []row
		rows, err := db.read.QueryContext(ctx, "SELECT hook, hook_instance, patient_key, status, latency_ms, request_sha256 FROM calls ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.Hook, &r.Instance, &r.Patient, &r.Status, &r.Latency, &r.Req); err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
		rows.Close()
		req := sha256.Sum256([]byte("request"))
		pk := db.PatientKey("pat-1")
		want := []row{
			{"order-sign", "hi-1", pk, 200, 12, req[:]},
			{"order-sign", "hi-1", pk, 200, 12, req[:]},
			{"", "", "", 400, 0, nil},
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("calls (-got +want):\n%s", diff)
		}
		if n := jsonElements(t, db, "SELECT override_reasons FROM cards"); n != 6 {
			t.Errorf("override reasons stored = %d, want 6", n)
		}
	})
}

func TestRecordFeedback(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		c := sampleCall(at, "pat-1", 1)
		cov, pt := c.Cards[0].UUID, c.Cards[1].UUID
		sug := c.Cards[1].SuggestionUUIDs[0]
		ts := "2026-03-01T10:05:31Z"
		accepted := hooks.FeedbackItem{Card: pt, Outcome: "accepted", AcceptedSuggestions: []hooks.AcceptedSuggestion{{ID: sug}}, OutcomeTimestamp: ts}
		overridden := hooks.FeedbackItem{Card: cov, Outcome: "overridden", OutcomeTimestamp: ts,
			OverrideReason: &hooks.OverrideReason{Reason: &hooks.Coding{System: reasonDocumented.System, Code: reasonDocumented.Code}, UserComment: "seen by Dr Smith"}}
		with := func(it hooks.FeedbackItem, f func(*hooks.FeedbackItem)) hooks.FeedbackItem {
			f(&it)
			return it
		}
		tests := []struct {
			name    string
			service string
			items   []hooks.FeedbackItem
			want    error
			stored  int // feedback rows after the POST
		}{
			{"accepted and overridden", service, []hooks.FeedbackItem{accepted, overridden}, nil, 2},
			{"override without reason, comment only", service, []hooks.FeedbackItem{with(overridden, func(i *hooks.FeedbackItem) {
				i.OverrideReason = &hooks.OverrideReason{UserComment: "no"}
			})}, nil, 1},
			{"accepted card without suggestions", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) {
				i.Card, i.AcceptedSuggestions = cov, nil
			})}, nil, 1},
			{"duplicate within a POST stored once", service, []hooks.FeedbackItem{accepted, accepted}, nil, 1},
			{"same instant in another offset is a duplicate", service, []hooks.FeedbackItem{accepted, with(accepted, func(i *hooks.FeedbackItem) {
				i.OutcomeTimestamp = "2026-03-01T11:05:31+01:00"
			})}, nil, 1},
			{"another timestamp is another item", service, []hooks.FeedbackItem{accepted, with(accepted, func(i *hooks.FeedbackItem) {
				i.OutcomeTimestamp = "2026-03-01T10:05:32Z"
			})}, nil, 2},
			{"unknown card", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) { i.Card = "nope" })}, ErrUnknownCard, 0},
			{"card of another service", "other-service", []hooks.FeedbackItem{accepted}, ErrUnknownCard, 0},
			{"all or nothing", service, []hooks.FeedbackItem{accepted, with(accepted, func(i *hooks.FeedbackItem) { i.Card = "nope" })}, ErrUnknownCard, 0},
			{"empty", service, nil, ErrInvalidFeedback, 0},
			{"bad outcome", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) { i.Outcome = "ignored" })}, ErrInvalidFeedback, 0},
			{"missing timestamp", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) { i.OutcomeTimestamp = "" })}, ErrInvalidFeedback, 0},
			{"timestamp not RFC 3339", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) { i.OutcomeTimestamp = "2026-03-01 10:05" })}, ErrInvalidFeedback, 0},
			{"timestamp in the future", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) { i.OutcomeTimestamp = "9999-12-31T00:00:00Z" })}, ErrInvalidFeedback, 0},
			{"timestamp two hours ahead", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) {
				i.OutcomeTimestamp = time.Now().Add(2 * time.Hour).Format(time.RFC3339)
			})}, ErrInvalidFeedback, 0},
			{"suggestion of another card", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) {
				i.Card = cov
			})}, ErrInvalidFeedback, 0},
			{"accepted without suggestions on a card that has some", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) {
				i.AcceptedSuggestions = nil
			})}, ErrInvalidFeedback, 0},
			// CDS Hooks 2.0.1, Card Attributes, overrideReasons: a client may
			// add reasons of its own; they are stored, not refused.
			{"reason not offered by the card", service, []hooks.FeedbackItem{with(overridden, func(i *hooks.FeedbackItem) { i.Card = pt })}, nil, 1},
			{"client's own reason in its own system", service, []hooks.FeedbackItem{accepted, with(overridden, func(i *hooks.FeedbackItem) {
				i.OverrideReason = &hooks.OverrideReason{Reason: &hooks.Coding{System: "urn:other", Code: reasonDocumented.Code, Display: "Declined"}}
			})}, nil, 2},
			{"reason without a code", service, []hooks.FeedbackItem{accepted, with(overridden, func(i *hooks.FeedbackItem) {
				i.OverrideReason = &hooks.OverrideReason{Reason: &hooks.Coding{System: "urn:other", Display: "Declined"}}
			})}, ErrInvalidFeedback, 0},
			{"reason without a system", service, []hooks.FeedbackItem{with(overridden, func(i *hooks.FeedbackItem) {
				i.OverrideReason = &hooks.OverrideReason{Reason: &hooks.Coding{Code: "declined"}}
			})}, ErrInvalidFeedback, 0},
			{"invalid UTF-8 in the reason display", service, []hooks.FeedbackItem{with(overridden, func(i *hooks.FeedbackItem) {
				i.OverrideReason = &hooks.OverrideReason{Reason: &hooks.Coding{System: "urn:other", Code: "declined", Display: "\xff"}}
			})}, ErrInvalidFeedback, 0},
			{"overridden with accepted suggestions", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) { i.Outcome = "overridden" })}, ErrInvalidFeedback, 0},
			{"NUL byte in the card", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) { i.Card = pt + "\x00" })}, ErrInvalidFeedback, 0},
			{"NUL byte in a suggestion", service, []hooks.FeedbackItem{with(accepted, func(i *hooks.FeedbackItem) {
				i.AcceptedSuggestions = []hooks.AcceptedSuggestion{{ID: "\x00"}}
			})}, ErrInvalidFeedback, 0},
			{"invalid UTF-8 in the reason code", service, []hooks.FeedbackItem{with(overridden, func(i *hooks.FeedbackItem) {
				i.OverrideReason = &hooks.OverrideReason{Reason: &hooks.Coding{System: reasonDocumented.System, Code: "\xff"}}
			})}, ErrInvalidFeedback, 0},
			{"NUL byte in the service id", service + "\x00", []hooks.FeedbackItem{accepted}, ErrUnknownCard, 0},
		}
		db := b.openNew(t)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// One database per backend, emptied for each case (a
				// PostgreSQL database takes a second to create here).
				if _, err := db.write.ExecContext(t.Context(), "DELETE FROM feedback"); err != nil {
					t.Fatal(err)
				}
				if _, err := db.write.ExecContext(t.Context(), "DELETE FROM calls"); err != nil {
					t.Fatal(err)
				}
				if err := db.RecordCall(t.Context(), c); err != nil {
					t.Fatal(err)
				}
				err := db.RecordFeedback(t.Context(), tt.service, tt.items)
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Fatalf("RecordFeedback = %v, want %v", err, tt.want)
				}
				// Posting the same body again changes nothing (idempotent).
				if err == nil {
					if err := db.RecordFeedback(t.Context(), tt.service, tt.items); err != nil {
						t.Fatalf("repeat: %v", err)
					}
				}
				var n int
				db.read.QueryRowContext(t.Context(), "SELECT count(*) FROM feedback").Scan(&n)
				if n != tt.stored {
					t.Errorf("feedback rows = %d, want %d", n, tt.stored)
				}
			})
		}
	})
}

func TestRecordFeedbackMessageNamesCard(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
		err := db.RecordFeedback(t.Context(), service, []hooks.FeedbackItem{{Card: "9b2c-unknown", Outcome: "accepted", OutcomeTimestamp: "2026-03-01T10:05:31Z"}})
		if err == nil || !errors.Is(err, ErrUnknownCard) || !strings.Contains(err.Error(), "9b2c-unknown") {
			t.Errorf("error = %v, want ErrUnknownCard naming the card", err)
		}
	})
}

func TestPrune(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
		ctx := t.Context()
		old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		recent := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		for i := range 3 {
			if err := db.RecordCall(ctx, sampleCall(old.Add(time.Duration(i)*time.Hour), "p", i)); err != nil {
				t.Fatal(err)
			}
		}
		keep := sampleCall(recent, "p", 10)
		if err := db.RecordCall(ctx, keep); err != nil {
			t.Fatal(err)
		}
		oldCard := sampleCall(old, "p", 0).Cards[0].UUID
		if err := db.RecordFeedback(ctx, service, []hooks.FeedbackItem{{Card: oldCard, Outcome: "overridden", OutcomeTimestamp: "2025-01-01T00:01:00Z"}}); err != nil {
			t.Fatal(err)
		}
		n, err := db.Prune(ctx, recent.Add(-24*time.Hour))
		if err != nil || n != 3 {
			t.Fatalf("Prune = %d, %v; want 3, nil", n, err)
		}
		for table, want := range map[string]int{"calls": 1, "cards": 2, "feedback": 0, "feedback_suggestions": 0} {
			var got int
			db.read.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&got)
			if got != want {
				t.Errorf("%s after prune: %d rows, want %d", table, got, want)
			}
		}
		for query, want := range map[string]int{"SELECT orders FROM calls": 1, "SELECT assertions FROM calls": 1,
			"SELECT suggestions FROM cards": 1, "SELECT override_reasons FROM cards": 3} {
			if got := jsonElements(t, db, query); got != want {
				t.Errorf("%s after prune: %d elements, want %d", query, got, want)
			}
		}
		err = db.RecordFeedback(ctx, service, []hooks.FeedbackItem{{Card: oldCard, Outcome: "overridden", OutcomeTimestamp: "2025-01-01T00:02:00Z"}})
		if !errors.Is(err, ErrUnknownCard) {
			t.Errorf("feedback on a pruned card = %v, want ErrUnknownCard", err)
		}
	})
}

// TestRecordCallStoresHostileText: client-supplied text with NUL bytes or
// invalid UTF-8 (which PostgreSQL refuses in text columns) is stored with
// U+FFFD in their place, so the call's audit row never fails because of it.
func TestRecordCallStoresHostileText(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
		c := sampleCall(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), "pat\x00", 1)
		c.HookInstance = "hi\x00-\xff"
		c.ClientISS = "iss\x00"
		c.Orders[0].ID = "sr\x00"
		c.Orders[0].Codes = []string{"72148\x00"}
		c.AssertionIDs = []string{"a\x00"}
		if err := db.RecordCall(t.Context(), c); err != nil {
			t.Fatalf("RecordCall: %v", err)
		}
		var hi, order string
		if err := db.read.QueryRowContext(t.Context(), "SELECT hook_instance FROM calls").Scan(&hi); err != nil {
			t.Fatal(err)
		}
		var orders string
		if err := db.read.QueryRowContext(t.Context(), "SELECT orders FROM calls").Scan(&orders); err != nil {
			t.Fatal(err)
		}
		var stored []struct{ ID string }
		if err := json.Unmarshal([]byte(orders), &stored); err != nil || len(stored) != 1 {
			t.Fatalf("calls.orders = %s (%v), want one order", orders, err)
		}
		order = stored[0].ID
		if hi != "hi\uFFFD-\uFFFD" || order != "sr\uFFFD" {
			t.Errorf("stored %q and %q, want U+FFFD for each NUL byte and invalid byte", hi, order)
		}
	})
}

// jsonElements counts the elements of the JSON arrays that query returns,
// one per row.
func jsonElements(t *testing.T, db *DB, query string) int {
	t.Helper()
	rows, err := db.read.QueryContext(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var elems []json.RawMessage
		if err := json.Unmarshal([]byte(raw), &elems); err != nil {
			t.Fatalf("%s: %q is not a JSON array: %v", query, raw, err)
		}
		n += len(elems)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKeyFileErrorsNameTheFile: a pseudonym key supplied from a secret
// (--pseudonym-key-file) that is readable by others or too short is
// refused with the name of that file, not the data directory's key.
func TestKeyFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	for name, tt := range map[string]struct {
		body []byte
		mode os.FileMode
		want string
	}{
		"readable":  {make([]byte, keySize), 0o644, "readable by others"},
		"too short": {make([]byte, 8), 0o600, "holds 8 bytes"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+"-secret.key")
		if err := os.WriteFile(path, tt.body, tt.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKeyFile(path)
		if msg := fmt.Sprint(err); err == nil || !strings.Contains(msg, path) || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: error %q, want one naming %s and saying %q", name, msg, path, tt.want)
		}
	}
}

// A verified client gives feedback on its own cards only; another client
// is told the card is unknown (404), and a development instance (no client)
// may give feedback on any card.
func TestFeedbackOnlyOnOwnCards(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
		ctx := t.Context()
		c := sampleCall(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), "pat", 1)
		c.ClientISS = "https://ehr-a.example"
		c.Cards[0].UUID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
		if err := db.RecordCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		item := func(ts string) []hooks.FeedbackItem {
			return []hooks.FeedbackItem{{Card: c.Cards[0].UUID, Outcome: "overridden", OutcomeTimestamp: ts}}
		}
		if err := db.RecordFeedback(WithFeedbackClient(ctx, "https://ehr-b.example"), service, item("2026-03-01T10:05:00Z")); !errors.Is(err, ErrUnknownCard) {
			t.Errorf("another client's feedback: %v, want ErrUnknownCard", err)
		}
		if err := db.RecordFeedback(WithFeedbackClient(ctx, "https://ehr-a.example"), service, item("2026-03-01T10:06:00Z")); err != nil {
			t.Errorf("the card's client: %v", err)
		}
		if err := db.RecordFeedback(ctx, service, item("2026-03-01T10:07:00Z")); err != nil {
			t.Errorf("no verified client (development): %v", err)
		}
		// A UUID is the same in either case (RFC 9562).
		upper := item("2026-03-01T10:08:00Z")
		upper[0].Card = strings.ToUpper(upper[0].Card)
		if err := db.RecordFeedback(ctx, service, upper); err != nil {
			t.Errorf("the card uuid in upper case: %v", err)
		}
	})
}
