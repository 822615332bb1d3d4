package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/report"
)

// version4Audit is an audit trail as version 4 of the schema kept it: a row
// per order, finding, coverage assertion, card, suggestion and override
// reason. Call 1 (10:00) assessed two orders differently; call 2 (10:01) was
// answered 400. Card 10 was overridden with a reason it offered; card 11's
// suggestion was accepted.
const version4Audit = `
INSERT INTO calls (id, at_ms, service_id, hook, hook_instance, client_iss, patient_key, policy_id, status, latency_ms, fhir_queries)
	VALUES (1, 1772359200000, 'lumbar-mri-order-sign', 'order-sign', 'hi-1', 'https://ehr.example', 'pk', 'default', 200, 12.5, 2);
INSERT INTO calls (id, at_ms, service_id, hook, hook_instance, client_iss, patient_key, policy_id, status, latency_ms, fhir_queries)
	VALUES (2, 1772359260000, 'lumbar-mri-order-sign', '', '', '', '', '', 400, 0.5, 0);
INSERT INTO call_orders (call_id, seq, order_id, codes, assessment) VALUES (1, 0, 'sr-1', '72148', 'criteria-met');
INSERT INTO call_orders (call_id, seq, order_id, codes, assessment) VALUES (1, 1, 'sr-2', '72149 72158', 'criteria-not-met');
INSERT INTO order_findings (call_id, seq, finding) VALUES (1, 0, 'red-flag-documented');
INSERT INTO order_findings (call_id, seq, finding) VALUES (1, 1, 'conservative-therapy-missing');
INSERT INTO order_findings (call_id, seq, finding) VALUES (1, 1, 'indication-missing');
INSERT INTO coverage_assertions (call_id, assertion_id) VALUES (1, 'assert-1');
INSERT INTO coverage_assertions (call_id, assertion_id) VALUES (1, 'assert-2');
INSERT INTO cards (id, call_id, uuid, service_id, order_id, topic, indicator)
	VALUES (10, 1, 'card-10', 'lumbar-mri-order-sign', 'sr-2', 'coverage-info', 'warning');
INSERT INTO cards (id, call_id, uuid, service_id, order_id, topic, indicator)
	VALUES (11, 1, 'card-11', 'lumbar-mri-order-sign', 'sr-2', 'therapy-alternatives-opt', 'info');
INSERT INTO card_suggestions (card_id, uuid) VALUES (11, 'sug-11');
INSERT INTO card_override_reasons (card_id, system, code, display) VALUES (10, 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp', 'documented', 'Already documented');
INSERT INTO card_override_reasons (card_id, system, code, display) VALUES (10, 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp', 'not-applicable', 'Not applicable');
INSERT INTO feedback (card_id, outcome, outcome_at_ms, override_system, override_code, has_user_comment, received_at_ms, dedup_key)
	VALUES (10, 'overridden', 1772359300000, 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp', 'documented', 0, 1772359300000, 'k1');
INSERT INTO feedback (card_id, outcome, outcome_at_ms, override_system, override_code, has_user_comment, received_at_ms, dedup_key)
	VALUES (11, 'accepted', 1772359300000, '', '', 0, 1772359300000, 'k2');
INSERT INTO feedback_suggestions (feedback_id, suggestion_uuid) SELECT id, 'sug-11' FROM feedback WHERE dedup_key = 'k2';
`

// TestMigrationKeepsVersion4Audit: a database written by version 4 of the
// schema (a row per order, finding, assertion, suggestion and reason) opens
// with the current one, and its report, feedback checks and pruning count
// the old calls as before.
func TestMigrationKeepsVersion4Audit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		loc := version4Location(t, b)

		db := b.openAt(t, loc)
		at := time.UnixMilli(1772359200000).UTC()
		r, err := db.Report(ctx, at.Add(-time.Hour), at.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if r.Calls != 2 || r.Orders != 2 {
			t.Errorf("calls, orders = %d, %d; want 2, 2", r.Calls, r.Orders)
		}
		if diff := cmp.Diff(r.Outcomes, []report.Count{{Label: "HTTP 400", N: 1}, {Label: "mixed", N: 1}}); diff != "" {
			t.Errorf("outcomes (-got +want):\n%s", diff)
		}
		if diff := cmp.Diff(r.Findings, []report.Count{{Label: "conservative-therapy-missing", N: 1},
			{Label: "indication-missing", N: 1}, {Label: "red-flag-documented", N: 1}}); diff != "" {
			t.Errorf("findings (-got +want):\n%s", diff)
		}
		if diff := cmp.Diff(r.OverrideReasons, []report.Count{{Label: "documented", Detail: "Already documented", N: 1}}); diff != "" {
			t.Errorf("override reasons (-got +want):\n%s", diff)
		}
		if r.Suggestions != (report.Suggestions{Offered: 1, Accepted: 1}) {
			t.Errorf("suggestions = %+v, want 1 offered, 1 accepted", r.Suggestions)
		}
		if r.Cards.Issued != 2 || r.Cards.Accepted != 1 || r.Cards.Overridden != 1 {
			t.Errorf("cards = %+v, want 2 issued, 1 accepted, 1 overridden", r.Cards)
		}
		if len(r.ByPolicy) != 2 || r.ByPolicy[0].Orders+r.ByPolicy[1].Orders != 2 || r.ByPolicy[0].Met+r.ByPolicy[1].Met != 1 {
			t.Errorf("by policy = %+v, want the 2 orders, 1 met", r.ByPolicy)
		}

		// Feedback on the migrated cards is checked against what they offered.
		reason := &hooks.OverrideReason{Reason: &hooks.Coding{System: "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp", Code: "not-applicable"}}
		if err := db.RecordFeedback(ctx, service, []hooks.FeedbackItem{{Card: "card-10", Outcome: "overridden",
			OutcomeTimestamp: "2026-03-01T10:05:00Z", OverrideReason: reason}}); err != nil {
			t.Errorf("override with an offered reason: %v", err)
		}
		// A reason the card did not offer is the client's own (CDS Hooks
		// 2.0.1, Card Attributes, overrideReasons): stored.
		reason.Reason.Code = "never-offered"
		if err := db.RecordFeedback(ctx, service, []hooks.FeedbackItem{{Card: "card-10", Outcome: "overridden",
			OutcomeTimestamp: "2026-03-01T10:06:00Z", OverrideReason: reason}}); err != nil {
			t.Errorf("override with the client's own reason: %v", err)
		}
		if err := db.RecordFeedback(ctx, service, []hooks.FeedbackItem{{Card: "card-11", Outcome: "accepted",
			OutcomeTimestamp: "2026-03-01T10:07:00Z", AcceptedSuggestions: []hooks.AcceptedSuggestion{{ID: "sug-x"}}}}); !errors.Is(err, ErrInvalidFeedback) {
			t.Errorf("accepting a suggestion not offered = %v, want ErrInvalidFeedback", err)
		}

		// A new call is written next to the migrated ones.
		if err := db.RecordCall(ctx, sampleCall(at.Add(2*time.Minute), "pat-1", 3)); err != nil {
			t.Fatal(err)
		}
		if n := jsonElements(t, db, "SELECT orders FROM calls"); n != 3 {
			t.Errorf("orders after a new call = %d, want 3", n)
		}
		if n, err := db.Prune(context.WithoutCancel(ctx), at.Add(time.Hour)); err != nil || n != 3 {
			t.Errorf("Prune = %d, %v; want 3, nil", n, err)
		}
	})
}

// version4Location returns a new location of backend b holding a database
// at schema version 4 with version4Audit in it.
func version4Location(t *testing.T, b backend) string {
	t.Helper()
	ctx := t.Context()
	loc := b.fresh(t)
	var raw *sql.DB
	d := sqliteDialect
	if b.name == "sqlite" {
		var err error
		if raw, err = sql.Open("sqlite", dsn(filepath.Join(loc, DBFile), false)); err != nil {
			t.Fatal(err)
		}
	} else {
		cfg, err := pgx.ParseConfig(loc)
		if err != nil {
			t.Fatal(err)
		}
		raw, d = stdlib.OpenDB(*cfg), postgresDialect
	}
	ms, err := migrations(d)
	if err != nil {
		t.Fatal(err)
	}
	mustExec := func(query string) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, query); err != nil {
			t.Fatalf("%v\n%s", err, query)
		}
	}
	mustExec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)`)
	for _, m := range ms {
		if m.version > 4 {
			break
		}
		mustExec(m.sql)
		mustExec(d.rebind("INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (" +
			strconv.Itoa(m.version) + ", '" + m.name + "', 0)"))
	}
	mustExec(version4Audit)
	if b.name == "postgres" {
		mustExec(`SELECT setval(pg_get_serial_sequence('calls', 'id'), 100), setval(pg_get_serial_sequence('cards', 'id'), 100)`)
	}
	raw.Close()
	return loc
}

// TestReportDoesNotMigrate: the report command's open (OpenForReport,
// OpenPostgresForReport) refuses a database at an older schema instead of
// migrating it under an older server still writing to it, creates a missing
// one, and reads one that serve has migrated.
func TestReportDoesNotMigrate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		forReport := func(loc string) (*DB, error) {
			if b.name == "sqlite" {
				return OpenForReport(ctx, loc)
			}
			return OpenPostgresForReport(ctx, loc, nil)
		}
		loc := version4Location(t, b)
		if db, err := forReport(loc); !errors.Is(err, ErrSchemaTooOld) {
			if db != nil {
				db.Close()
			}
			t.Fatalf("report open on a version 4 database = %v, want ErrSchemaTooOld", err)
		}
		db := b.openAt(t, loc) // serve migrates
		var newest int
		if err := db.read.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&newest); err != nil || newest < 5 {
			t.Fatalf("serve's open left version %d (%v)", newest, err)
		}
		db.Close()
		rdb, err := forReport(loc)
		if err != nil {
			t.Fatalf("report open after serve migrated: %v", err)
		}
		r, err := rdb.Report(ctx, time.UnixMilli(1772359200000).Add(-time.Hour), time.UnixMilli(1772359200000).Add(time.Hour))
		rdb.Close()
		if err != nil || r.Calls != 2 {
			t.Errorf("report after migration: %v calls, %v; want 2", r, err)
		}
		fresh, err := forReport(b.fresh(t))
		if err != nil {
			t.Fatalf("report open on an empty location: %v", err)
		}
		fresh.Close()
	})
}
