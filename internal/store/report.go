package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/report"
)

// period selects the calls of the report period; every report query starts
// with it, so all of them count the same calls.
const period = `WITH p AS (SELECT id, at_ms, hook, client_iss, policy_id, status, latency_ms, answered_ms, orders_n, orders_met, outcome, orders
	FROM calls WHERE at_ms >= ?1 AND at_ms < ?2),
k AS (SELECT cards.id, cards.topic, cards.call_id, cards.suggestions, cards.override_reasons FROM cards JOIN p ON p.id = cards.call_id),
latest AS (
	SELECT f.card_id, f.outcome, f.override_system, f.override_code, f.override_display,
		row_number() OVER (PARTITION BY f.card_id ORDER BY f.outcome_at_ms DESC, f.id DESC) AS rn
	FROM feedback f JOIN k ON k.id = f.card_id
)
`

// Report summarises the calls that arrived in [from, to) (see report.Report
// for what each figure counts). It reads one consistent snapshot, and never
// waits for writers.
func (db *DB) Report(ctx context.Context, from, to time.Time) (*report.Report, error) {
	tx, err := db.read.BeginTx(ctx, db.dialect.snapshot)
	if err != nil {
		return nil, fmt.Errorf("store: report: %w", err)
	}
	defer tx.Rollback()
	r := &report.Report{From: from.UTC(), To: to.UTC()}
	args := []any{from.UnixMilli(), to.UnixMilli()}
	q := func(what, query string, scan func(*sql.Rows) error) error {
		rows, err := tx.QueryContext(ctx, db.dialect.rebind(period+query), args...)
		if err != nil {
			return fmt.Errorf("store: report: %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("store: report: %s: %w", what, err)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: report: %s: %w", what, err)
		}
		return nil
	}
	counts := func(dst *[]report.Count) func(*sql.Rows) error {
		return func(rows *sql.Rows) error {
			var c report.Count
			if err := rows.Scan(&c.Label, &c.Detail, &c.N); err != nil {
				return err
			}
			*dst = append(*dst, c)
			return nil
		}
	}
	var latencies, answered []float64
	var days []report.Day
	splitRows := func(dst *[]report.Split) func(*sql.Rows) error {
		return func(rows *sql.Rows) error {
			var s report.Split
			if err := rows.Scan(&s.Key, &s.Calls, &s.Orders, &s.Met,
				&s.Cards.Issued, &s.Cards.Accepted, &s.Cards.Overridden, &s.Cards.WithFeedback); err != nil {
				return err
			}
			*dst = append(*dst, s)
			return nil
		}
	}
	steps := []struct {
		what, query string
		scan        func(*sql.Rows) error
	}{
		{"outcomes", `SELECT CASE WHEN p.status <> 200 THEN 'HTTP ' || p.status
			WHEN p.outcome = '' THEN 'no-lumbar-mri'
			ELSE p.outcome END AS label, '', count(*) AS n
		FROM p GROUP BY label ORDER BY n DESC, label`, counts(&r.Outcomes)},
		{"orders", `SELECT coalesce(sum(orders_n), 0) FROM p`,
			func(rows *sql.Rows) error { return rows.Scan(&r.Orders) }},
		{"findings", db.dialect.findings, counts(&r.Findings)},
		{"card types", `SELECT k.topic, count(*) AS n,
				count(CASE WHEN l.outcome = 'accepted' THEN 1 END),
				count(CASE WHEN l.outcome = 'overridden' THEN 1 END),
				count(l.card_id)
			FROM k LEFT JOIN latest l ON l.card_id = k.id AND l.rn = 1
			GROUP BY k.topic ORDER BY n DESC, k.topic`,
			func(rows *sql.Rows) error {
				var c report.CardType
				if err := rows.Scan(&c.Topic, &c.Issued, &c.Accepted, &c.Overridden, &c.WithFeedback); err != nil {
					return err
				}
				r.CardTypes = append(r.CardTypes, c)
				r.Cards.Issued += c.Issued
				r.Cards.Accepted += c.Accepted
				r.Cards.Overridden += c.Overridden
				r.Cards.WithFeedback += c.WithFeedback
				return nil
			}},
		{"days", `SELECT p.at_ms / 86400000 AS d, count(*), count(CASE WHEN p.status <> 200 THEN 1 END),
				coalesce(sum(p.orders_n), 0), coalesce(sum(p.orders_met), 0)
			FROM p GROUP BY d ORDER BY d`,
			func(rows *sql.Rows) error {
				var d report.Day
				var day int64
				if err := rows.Scan(&day, &d.Calls, &d.Refused, &d.Orders, &d.Met); err != nil {
					return err
				}
				d.Date = time.UnixMilli(day * 86400000).UTC()
				days = append(days, d)
				return nil
			}},
		{"by policy", split("policy_id"), splitRows(&r.ByPolicy)},
		{"by hook", split("hook"), splitRows(&r.ByHook)},
		{"by client", split("client_iss"), splitRows(&r.ByClient)},
		{"override reasons", db.dialect.overrideReasons, func(rows *sql.Rows) error {
			var c report.Count
			if err := rows.Scan(&c.Label, &c.Detail, &c.N, &c.ClientOwn); err != nil {
				return err
			}
			r.OverrideReasons = append(r.OverrideReasons, c)
			return nil
		}},
		{"suggestions offered", db.dialect.suggestionsOffered,
			func(rows *sql.Rows) error { return rows.Scan(&r.Suggestions.Offered) }},
		// A suggestion counts as accepted when any feedback on its card
		// accepted it, even if a later feedback overrode the card.
		{"suggestions accepted", `SELECT count(*) FROM (
				SELECT DISTINCT f.card_id, fs.suggestion_uuid
				FROM feedback_suggestions fs JOIN feedback f ON f.id = fs.feedback_id JOIN k ON k.id = f.card_id) AS accepted`,
			func(rows *sql.Rows) error { return rows.Scan(&r.Suggestions.Accepted) }},
		{"latency", `SELECT latency_ms FROM p ORDER BY latency_ms`,
			func(rows *sql.Rows) error {
				var v float64
				if err := rows.Scan(&v); err != nil {
					return err
				}
				latencies = append(latencies, v)
				return nil
			}},
		{"answered latency", `SELECT answered_ms FROM p WHERE answered_ms IS NOT NULL ORDER BY answered_ms`,
			func(rows *sql.Rows) error {
				var v float64
				if err := rows.Scan(&v); err != nil {
					return err
				}
				answered = append(answered, v)
				return nil
			}},
	}
	for _, s := range steps {
		if err := q(s.what, s.query, s.scan); err != nil {
			return nil, err
		}
	}
	r.Calls = len(latencies)
	r.Latency = report.Percentiles(latencies)
	r.Answered = report.Percentiles(answered)
	r.Days = everyDay(from, to, days)
	return r, nil
}

// split groups the period's calls by one column of calls (a constant of
// this file, never caller input): calls, orders, orders met, and what
// became of their cards.
func split(column string) string {
	return `, c AS (SELECT k.call_id, count(*) AS issued,
				count(CASE WHEN l.outcome = 'accepted' THEN 1 END) AS accepted,
				count(CASE WHEN l.outcome = 'overridden' THEN 1 END) AS overridden,
				count(l.card_id) AS feedback
			FROM k LEFT JOIN latest l ON l.card_id = k.id AND l.rn = 1 GROUP BY k.call_id)
		SELECT p.` + column + ` AS key, count(*) AS n, coalesce(sum(p.orders_n), 0), coalesce(sum(p.orders_met), 0),
			coalesce(sum(c.issued), 0), coalesce(sum(c.accepted), 0), coalesce(sum(c.overridden), 0), coalesce(sum(c.feedback), 0)
		FROM p LEFT JOIN c ON c.call_id = p.id
		GROUP BY key ORDER BY n DESC, key`
}

// maxTrendDays bounds the daily trend: a longer period shows its last
// maxTrendDays days.
const maxTrendDays = 366

// everyDay returns one Day per UTC day of [from, to), the days with calls
// from got and zero days between them.
func everyDay(from, to time.Time, got []report.Day) []report.Day {
	first := from.UTC().Truncate(24 * time.Hour)
	if n := int(to.Sub(first).Hours()/24) + 1; n > maxTrendDays {
		first = to.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(maxTrendDays - 1))
	}
	byDate := map[time.Time]report.Day{}
	for _, d := range got {
		byDate[d.Date] = d
	}
	var out []report.Day
	for d := first; d.Before(to); d = d.AddDate(0, 0, 1) {
		day := byDate[d]
		day.Date = d
		out = append(out, day)
	}
	return out
}
