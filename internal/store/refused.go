package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/report"
)

// maxReasonBytes bounds a refusal reason; reasons are this service's own
// codes, so a longer one is a programming error.
const maxReasonBytes = 64

// Refusal is the number of calls refused for one reason in a period.
type Refusal struct {
	Reason string
	N      int64
}

// RefusalCounts is refused as the report's refused-call counts.
func RefusalCounts(refused []Refusal) []report.Count {
	var out []report.Count
	for _, r := range refused {
		out = append(out, report.Count{Label: r.Reason, N: int(r.N)})
	}
	return out
}

// CountRefused adds n calls refused for reason in the minute that contains
// minute (UTC). Refused calls are counted, not kept one row each; the
// caller batches them, so one write covers many calls.
func (db *DB) CountRefused(ctx context.Context, reason string, minute time.Time, n int) error {
	if reason == "" || len(reason) > maxReasonBytes {
		return errors.New("store: count refused: reason empty or too long")
	}
	if n <= 0 {
		return nil
	}
	m := minute.UTC().Truncate(time.Minute).UnixMilli()
	if _, err := db.write.ExecContext(ctx, db.dialect.rebind(
		`INSERT INTO refused_calls (minute_ms, reason, n) VALUES (?, ?, ?)
		 ON CONFLICT (minute_ms, reason) DO UPDATE SET n = refused_calls.n + excluded.n`), m, reason, n); err != nil {
		return fmt.Errorf("store: count refused: %w", err)
	}
	return nil
}

// Refused returns the refused calls of the minutes in [from, to), summed per
// reason, most frequent first.
func (db *DB) Refused(ctx context.Context, from, to time.Time) ([]Refusal, error) {
	rows, err := db.read.QueryContext(ctx, db.dialect.rebind(
		`SELECT reason, CAST(sum(n) AS BIGINT) FROM refused_calls WHERE minute_ms >= ? AND minute_ms < ?
		 GROUP BY reason ORDER BY sum(n) DESC, reason`), from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: refused: %w", err)
	}
	defer rows.Close()
	var out []Refusal
	for rows.Next() {
		var r Refusal
		if err := rows.Scan(&r.Reason, &r.N); err != nil {
			return nil, fmt.Errorf("store: refused: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: refused: %w", err)
	}
	return out, nil
}

// pruneRefused deletes the refusal counts of minutes before olderThan.
func (db *DB) pruneRefused(ctx context.Context, olderThan time.Time) error {
	if _, err := db.write.ExecContext(ctx, db.dialect.rebind(`DELETE FROM refused_calls WHERE minute_ms < ?`), olderThan.UnixMilli()); err != nil {
		return fmt.Errorf("store: prune refused: %w", err)
	}
	return nil
}
