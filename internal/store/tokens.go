package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RecordTokenID records the token id jti of issuer iss until expires, and
// reports whether it is new: false when the same (iss, jti) was recorded
// before and has not expired at now, which makes the token a replay. The
// check and the record are one statement, so of two replicas receiving the
// same token at once exactly one is told it is new.
//
// On PostgreSQL the record is committed without waiting for the WAL flush
// (see OpenPostgres). A single instance keeps token ids in memory (internal/auth) and does not
// pay a synced write per call for them; replicas on PostgreSQL share them
// here.
func (db *DB) RecordTokenID(ctx context.Context, iss, jti string, expires, now time.Time) (bool, error) {
	var one int
	err := db.tokenPool().QueryRowContext(ctx, db.dialect.rebind(`INSERT INTO token_ids (issuer, jti, expires_ms) VALUES (?, ?, ?)
		ON CONFLICT (issuer, jti) DO UPDATE SET expires_ms = excluded.expires_ms WHERE token_ids.expires_ms <= ?
		RETURNING 1`), iss, jti, expires.UnixMilli(), now.UnixMilli()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: record token id: %w", err)
	}
	return true, nil
}

// ForgetTokenID deletes the record of (iss, jti): the call that used the
// token was refused before it was served (auth.Verifier.Release).
func (db *DB) ForgetTokenID(ctx context.Context, iss, jti string) error {
	if _, err := db.tokenPool().ExecContext(ctx, db.dialect.rebind(`DELETE FROM token_ids WHERE issuer = ? AND jti = ?`), iss, jti); err != nil {
		return fmt.Errorf("store: forget token id: %w", err)
	}
	return nil
}

// PruneTokenIDs deletes the token ids that expired before now and returns
// how many. The service runs it every minute; several replicas running it
// at once delete each row once.
func (db *DB) PruneTokenIDs(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.tokenPool().ExecContext(ctx, db.dialect.rebind(`DELETE FROM token_ids WHERE expires_ms <= ?`), now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("store: prune token ids: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune token ids: %w", err)
	}
	return n, nil
}

// tokenPool is the pool that writes token ids.
func (db *DB) tokenPool() *sql.DB {
	if db.tokens != nil {
		return db.tokens
	}
	return db.write
}
