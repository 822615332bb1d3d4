package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Advisory lock keys (pg_advisory_lock) of this service: arbitrary 64-bit
// constants, the first bytes of "lumbarmr" followed by a purpose number.
const (
	lockMigrate int64 = 0x6c756d6261720001
	lockPrune   int64 = 0x6c756d6261720002
)

// Pool sizes on PostgreSQL: audit records go through the group-committing
// writer (one connection), feedback and readiness writes through the others
// of the write pool; token ids have a pool of their own (see tokens).
const (
	pgMaxWrite  = 8
	pgMaxRead   = 4
	pgMaxTokens = 4
)

// OpenPostgres opens the PostgreSQL database at databaseURL (a postgres://
// URL or a libpq key=value string), applies the embedded migrations that
// are not yet applied, and returns a store that every replica of the service
// shares: one audit trail, one feedback table, one report, one replay cache.
//
// Replicas starting together migrate once: the migrations and the creation
// of the pseudonym key run in one transaction under a transaction-level
// advisory lock, and PostgreSQL's DDL is transactional, so a replica that
// waited for the lock finds the work done.
//
// key is the secret key of the patient pseudonyms, at least 32 bytes, when it
// is supplied from a secret (LoadKeyFile); with nil, one key is created in
// the database on first use and shared by every replica.
func OpenPostgres(ctx context.Context, databaseURL string, key []byte) (*DB, error) {
	return openPostgres(ctx, databaseURL, key, nil, true)
}

// OpenPostgresForReport is OpenPostgres for a process that reads the audit
// trail (the report command): like OpenForReport, it never migrates a
// database that holds an older schema (ErrSchemaTooOld), which would break
// the replicas still running the older version.
func OpenPostgresForReport(ctx context.Context, databaseURL string, key []byte) (*DB, error) {
	return openPostgres(ctx, databaseURL, key, nil, false)
}

// openPostgres is OpenPostgres with an optional query tracer (benchmarks
// count database round trips with it).
func openPostgres(ctx context.Context, databaseURL string, key []byte, tracer pgx.QueryTracer, upgrade bool) (*DB, error) {
	if key != nil && len(key) < keySize {
		return nil, fmt.Errorf("store: pseudonym key holds %d bytes, want at least %d", len(key), keySize)
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("store: database URL is not a valid PostgreSQL connection string")
	}
	cfg.Tracer = tracer
	w := stdlib.OpenDB(*cfg)
	w.SetMaxOpenConns(pgMaxWrite)
	w.SetMaxIdleConns(pgMaxWrite)
	w.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{dialect: postgresDialect, write: w}
	fail := func(err error) (*DB, error) {
		db.close()
		return nil, err
	}
	if !upgrade {
		if err := db.refuseOlderSchema(ctx); err != nil {
			return fail(err)
		}
	}
	db.key, err = migratePostgres(ctx, w, key)
	if err != nil {
		return fail(err)
	}
	if err := db.prepare(ctx); err != nil {
		return fail(err)
	}
	r := stdlib.OpenDB(*cfg)
	r.SetMaxOpenConns(pgMaxRead)
	r.SetMaxIdleConns(2)
	r.SetConnMaxIdleTime(5 * time.Minute)
	db.read = r
	if err := r.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("store: connect for reading: %w", err))
	}
	// Token ids are committed without waiting for the WAL flush: a
	// replica's answer never depends on them being durable, and a synced
	// commit would double the disk flushes per call. A database crash can
	// forget the ids of the last moment (at most 3 x wal_writer_delay,
	// 600 ms by default), whose tokens could then be replayed once within
	// their few minutes of life; the audit rows stay synced.
	tcfg := cfg.Copy()
	tcfg.RuntimeParams["synchronous_commit"] = "off"
	tk := stdlib.OpenDB(*tcfg)
	tk.SetMaxOpenConns(pgMaxTokens)
	tk.SetMaxIdleConns(pgMaxTokens)
	tk.SetConnMaxIdleTime(5 * time.Minute)
	db.tokens = tk
	db.start()
	return db, nil
}

// migratePostgres applies the pending migrations and loads (or creates) the
// pseudonym key, all in one transaction under the migration lock, and
// returns the key to use.
func migratePostgres(ctx context.Context, db *sql.DB, key []byte) ([]byte, error) {
	ms, err := migrations(postgresDialect)
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", lockMigrate); err != nil {
		return nil, fmt.Errorf("store: migrate: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version       INTEGER PRIMARY KEY,
		name          TEXT    NOT NULL,
		applied_at_ms BIGINT  NOT NULL
	)`); err != nil {
		return nil, fmt.Errorf("store: schema_migrations: %w", err)
	}
	var newest sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&newest); err != nil {
		return nil, fmt.Errorf("store: schema_migrations: %w", err)
	}
	if known := ms[len(ms)-1].version; newest.Valid && int(newest.Int64) > known {
		return nil, fmt.Errorf("store: %w: database at version %d, this program knows up to %d", ErrSchemaTooNew, newest.Int64, known)
	}
	for _, m := range ms {
		if newest.Valid && int64(m.version) <= newest.Int64 {
			var done int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = $1", m.version).Scan(&done); err != nil {
				return nil, fmt.Errorf("store: migration %s: %w", m.name, err)
			}
			if done > 0 {
				continue
			}
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return nil, fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)",
			m.version, m.name, time.Now().UnixMilli()); err != nil {
			return nil, fmt.Errorf("store: migration %s: %w", m.name, err)
		}
	}
	if key == nil {
		fresh := make([]byte, keySize)
		if _, err := rand.Read(fresh); err != nil {
			return nil, fmt.Errorf("store: pseudonym key: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO pseudonym_key (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", fresh); err != nil {
			return nil, fmt.Errorf("store: pseudonym key: %w", err)
		}
		if err := tx.QueryRowContext(ctx, "SELECT secret FROM pseudonym_key WHERE id = 1").Scan(&key); err != nil {
			return nil, fmt.Errorf("store: pseudonym key: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: migrate: commit: %w", err)
	}
	return key, nil
}

// LoadKeyFile reads a pseudonym key supplied from a secret (a file of at
// least 32 random bytes, not readable by group or others), for
// OpenPostgres.
func LoadKeyFile(path string) ([]byte, error) {
	return readKey(path)
}

// Statements of commitPipelined: the ids of calls and cards are allocated
// first, so that the rows of every record of a batch can be sent at once.
const (
	pgAllocateIDs = `SELECT
		ARRAY(SELECT nextval(pg_get_serial_sequence('calls', 'id')) FROM generate_series(1, $1)),
		ARRAY(SELECT nextval(pg_get_serial_sequence('cards', 'id')) FROM generate_series(1, $2))`
	pgInsertCall = `INSERT INTO calls
		(id, at_ms, service_id, hook, hook_instance, client_iss, patient_key, policy_id, status, latency_ms, fhir_queries, request_sha256, response_sha256,
		orders_n, orders_met, outcome, orders, assertions)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`
	pgInsertCard = `INSERT INTO cards (id, call_id, uuid, service_id, order_id, topic, indicator, suggestions, override_reasons)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	// pgAnswered writes the answered latencies of earlier calls in one
	// statement.
	pgAnswered = `UPDATE calls SET answered_ms = a.ms FROM unnest($1::bigint[], $2::double precision[]) AS a (id, ms) WHERE calls.id = a.id`
)

// commitPipelined writes the audit records of a batch to PostgreSQL in two
// round trips, whatever the number of rows: one allocates the row ids, the
// other sends every insert as one pipeline (pgx.Batch), which the server
// runs as one implicit transaction and commits (WAL flushed, as
// synchronous_commit is on) before it answers the last of them. With one
// statement per round trip, a call's dozen rows would cost a dozen network
// round trips, on the one writer connection.
func (db *DB) commitPipelined(ctx context.Context, jobs []*callJob) (ids []int64, err error) {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: record call: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		cards := 0
		for _, j := range jobs {
			cards += len(j.call.Cards)
		}
		var callIDs, cardIDs []int64
		if len(jobs) > 0 {
			if err := pc.QueryRow(ctx, pgAllocateIDs, len(jobs), cards).Scan(&callIDs, &cardIDs); err != nil {
				return fmt.Errorf("store: record call: allocate ids: %w", err)
			}
		}
		if len(callIDs) != len(jobs) || len(cardIDs) != cards {
			return fmt.Errorf("store: record call: allocated %d call and %d card ids, want %d and %d", len(callIDs), len(cardIDs), len(jobs), cards)
		}
		b := &pgx.Batch{}
		// The answered latency of calls committed before (see noteAnswered).
		if len(db.answered) > 0 {
			ids := make([]int64, len(db.answered))
			ms := make([]float64, len(db.answered))
			for i, a := range db.answered {
				ids[i], ms[i] = a.id, a.ms
			}
			b.Queue(pgAnswered, ids, ms)
		}
		for i, j := range jobs {
			c := j.call
			callID := callIDs[i]
			b.Queue(pgInsertCall, append([]any{callID}, db.callRow(c)...)...)
			for _, card := range c.Cards {
				cardID := cardIDs[0]
				cardIDs = cardIDs[1:]
				b.Queue(pgInsertCard, append([]any{cardID, callID}, cardRow(c.ServiceID, card)...)...)
			}
		}
		if b.Len() == 0 {
			return nil
		}
		if err := pc.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("store: record call: %w", err)
		}
		ids = callIDs
		return nil
	})
	if err != nil {
		return nil, err
	}
	db.answered = db.answered[:0]
	return ids, nil
}
