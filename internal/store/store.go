package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver (pure Go)
)

// Files in the data directory.
const (
	// DBFile is the SQLite database (with its -wal and -shm companions).
	DBFile = "lumbar-mri-cds.db"
	// KeyFile holds the secret key of the patient pseudonyms; created 0600.
	KeyFile = "audit-hmac.key"
)

// Errors of this package's own making. Errors from RecordFeedback wrap
// ErrUnknownCard or ErrInvalidFeedback with a message written for the client.
var (
	// ErrUnknownCard is feedback naming a card uuid this service did not issue
	// (or whose audit rows were pruned).
	ErrUnknownCard = errors.New("unknown card")
	// ErrInvalidFeedback is feedback that breaks the CDS Hooks rules or does
	// not match the card it names.
	ErrInvalidFeedback = errors.New("invalid feedback")
	// ErrSchemaTooNew means the database was migrated by a newer version of
	// the service; this version refuses to write to it.
	ErrSchemaTooNew = errors.New("database schema is newer than this program")
	// ErrSchemaTooOld means OpenForReport found a database at an older
	// schema version: only serve migrates a database that holds data.
	ErrSchemaTooOld = errors.New("database schema is older than this program")
)

// busyTimeout is how long a connection waits for another process's write
// lock (a second process such as the report subcommand, or a migration)
// before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// DB is the service's database. Its methods are safe for concurrent use.
//
// Writes go through one connection (SQLite has one writer at a time; queueing
// in Go is cheaper than spinning on SQLITE_BUSY), reads through a separate
// read-only pool so that the report and readiness checks never wait for it.
//
// On PostgreSQL (OpenPostgres) the write pool has several connections, and
// the database is shared by every replica of the service.
type DB struct {
	dialect dialect
	key     []byte
	write   *sql.DB
	read    *sql.DB
	// tokens writes token ids (PostgreSQL only; nil: write is used).
	tokens *sql.DB
	stmts  statements

	// Group commit of audit records (see RecordCall): the queue, the
	// signal to stop, and the writer's exit.
	calls     chan *callJob
	closing   chan struct{}
	written   chan struct{}
	closeOnce sync.Once
	// answered holds, for calls already committed, the latency their client
	// saw (to the commit), written by the next commit or at Close. Only the
	// writer goroutine touches it.
	answered []answeredLatency
	// failing is the time (Unix nanoseconds) of the latest audit commit
	// that failed, 0 once one succeeds again: Writable reports it, so a
	// replica whose audit writes fail is not kept in rotation.
	failing atomic.Int64
}

// answeredLatency is one committed call's row id and the milliseconds from
// its arrival at the audit step to its commit.
type answeredLatency struct {
	id int64
	ms float64
}

// Open opens (creating when needed) the database in dir, applies the embedded
// migrations that are not yet applied, and loads or creates the pseudonym key.
// dir is created 0700 (an existing one open to others is tightened) and the
// database, its -wal and -shm and the key file are 0600.
func Open(ctx context.Context, dir string) (*DB, error) {
	return openSQLite(ctx, dir, true)
}

// OpenForReport is Open for a process that reads the audit trail beside a
// running service (the report command): it creates a missing database, but
// never migrates one that already holds a schema, so that it cannot change
// the schema under an older server still writing to it (an older server
// cannot write the newer schema). A database at an older version is refused
// with ErrSchemaTooOld, one at a newer version with ErrSchemaTooNew.
func OpenForReport(ctx context.Context, dir string) (*DB, error) {
	return openSQLite(ctx, dir, false)
}

func openSQLite(ctx context.Context, dir string, upgrade bool) (*DB, error) {
	if dir == "" {
		return nil, errors.New("store: empty data directory")
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	key, err := loadKey(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, DBFile)
	if err := prepareDBFiles(path); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	db := &DB{dialect: sqliteDialect, key: key, write: w}
	if err := db.init(ctx, upgrade); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(2)
	db.read = r
	if err := r.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s for reading: %w", path, err)
	}
	db.start()
	return db, nil
}

// start starts the writer of audit records.
func (db *DB) start() {
	db.calls = make(chan *callJob, callQueue)
	db.closing = make(chan struct{})
	db.written = make(chan struct{})
	go db.writeCalls()
}

// dsn builds the modernc.org/sqlite data source name. Pragmas given here run
// on every new connection, so a reconnect cannot come back without them.
func dsn(path string, readOnly bool) string {
	// Escape the path so that '?', '#' and '%' in a directory name cannot
	// be taken for URI syntax.
	u := "file:" + (&url.URL{Path: path}).EscapedPath()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(int(busyTimeout/time.Millisecond))+")")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		// Checkpoint every 4000 WAL pages (16 MiB) instead of 1000: the
		// audit rows of consecutive calls dirty the same few pages, which a
		// checkpoint copies once however many commits wrote them; the WAL
		// file is truncated back to that size after a checkpoint.
		q.Add("_pragma", "wal_autocheckpoint(4000)")
		// Some audit indexes have keys with no order in time (patient
		// pseudonyms; card uuids and assertion ids from other generators),
		// so a call can touch index pages anywhere in the file: keep up to
		// 16 MiB of pages in memory (SQLite's default is 2 MiB) rather than
		// read them back for every call.
		q.Add("_pragma", "cache_size(-16384)")
		q.Add("_pragma", "journal_size_limit(16777216)")
		// Take the write lock at BEGIN: a transaction that reads first and
		// upgrades later can fail at once with SQLITE_BUSY instead of waiting.
		q.Set("_txlock", "immediate")
	}
	return u + "?" + q.Encode()
}

func (db *DB) init(ctx context.Context, upgrade bool) error {
	var mode string
	if err := db.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("store: open: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("store: journal_mode is %q, want wal (is the file system local?)", mode)
	}
	if !upgrade {
		if err := db.refuseOlderSchema(ctx); err != nil {
			return err
		}
	}
	if err := migrateSQLite(ctx, db.write); err != nil {
		return err
	}
	return db.prepare(ctx)
}

// Close commits the audit records already queued, then closes the database.
// Records arriving after Close fail. It is safe to call more than once.
func (db *DB) Close() error {
	var errs []error
	db.closeOnce.Do(func() { errs = db.close() })
	return errors.Join(errs...)
}

func (db *DB) close() []error {
	if db.closing != nil {
		close(db.closing)
		<-db.written
	}
	errs := []error{db.stmts.close()}
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	if db.tokens != nil {
		errs = append(errs, db.tokens.Close())
	}
	return errs
}

// Ping reports whether the database answers reads (liveness of the store).
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Writable reports whether the database accepts and persists a write now
// (readiness: the audit row of a call must be committed before the answer).
// It commits a one-row heartbeat, so it also fails on a full or read-only
// disk.
func (db *DB) Writable(ctx context.Context) error {
	if at := db.failing.Load(); at != 0 && time.Since(time.Unix(0, at)) < failingFor {
		return errors.New("store: write check: the latest audit commit failed")
	}
	_, err := db.write.ExecContext(ctx, db.dialect.rebind(
		`INSERT INTO heartbeat (id, at_ms) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms`),
		time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("store: write check: %w", err)
	}
	return nil
}

// failingFor is how long a failed audit commit makes Writable fail, unless
// a later commit succeeds.
const failingFor = time.Minute

// refuseOlderSchema returns ErrSchemaTooOld when the database holds a
// schema older than this program's (nil for a database without any).
func (db *DB) refuseOlderSchema(ctx context.Context) error {
	ms, err := migrations(db.dialect)
	if err != nil {
		return err
	}
	var exists bool
	q := "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
	if db.dialect.dollar {
		q = "SELECT to_regclass('schema_migrations') IS NOT NULL"
	}
	if err := db.write.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return fmt.Errorf("store: schema version: %w", err)
	}
	if !exists {
		return nil
	}
	var newest sql.NullInt64
	if err := db.write.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&newest); err != nil {
		return fmt.Errorf("store: schema version: %w", err)
	}
	if known := ms[len(ms)-1].version; newest.Valid && int(newest.Int64) < known {
		return fmt.Errorf("store: %w: database at version %d, this program reads version %d; start serve of this version "+
			"(after stopping older ones) to migrate it", ErrSchemaTooOld, newest.Int64, known)
	}
	return nil
}

// migration is one embedded schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded migrations of a dialect in version order.
// File names start with the version number: 0001_audit_feedback.sql.
func migrations(d dialect) ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/"+d.name+"/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, n := range names {
		base := filepath.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s: name must start with a positive version and '_'", base)
		}
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("store: migrations %s and %s share version %d", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}

// migrateSQLite applies, in version order and each in its own transaction,
// the migrations not yet recorded in schema_migrations. The write lock taken
// at BEGIN makes two processes opening the same database at once apply each
// migration once.
func migrateSQLite(ctx context.Context, db *sql.DB) error {
	ms, err := migrations(sqliteDialect)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version       INTEGER PRIMARY KEY,
		name          TEXT    NOT NULL,
		applied_at_ms INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: schema_migrations: %w", err)
	}
	var newest sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&newest); err != nil {
		return fmt.Errorf("store: schema_migrations: %w", err)
	}
	if known := ms[len(ms)-1].version; newest.Valid && int(newest.Int64) > known {
		return fmt.Errorf("store: %w: database at version %d, this program knows up to %d", ErrSchemaTooNew, newest.Int64, known)
	}
	for _, m := range ms {
		if err := applySQLite(ctx, db, m); err != nil {
			return err
		}
	}
	return nil
}

func applySQLite(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migration %s: %w", m.name, err)
	}
	defer tx.Rollback()
	var done int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&done); err != nil {
		return fmt.Errorf("store: migration %s: %w", m.name, err)
	}
	if done > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("store: migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)",
		m.version, m.name, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("store: migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migration %s: %w", m.name, err)
	}
	return nil
}

// keySize is the length of the pseudonym key: the HMAC-SHA256 block-size
// guidance asks for at least the output size.
const keySize = 32

// loadKey reads the pseudonym key from dir, creating it on first use. The
// key is written to a temporary file, synced and then hard-linked into
// place, so that a crash never leaves a short key and two processes starting
// together agree on one key.
func loadKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, KeyFile)
	key, err := readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: %s: %w", KeyFile, err)
	}
	tmp, err := os.CreateTemp(dir, KeyFile+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", KeyFile, err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600; say so explicitly all the same.
	err = errors.Join(tmp.Chmod(0o600), writeAll(tmp, key), tmp.Sync(), tmp.Close())
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", KeyFile, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("store: %s: %w", KeyFile, err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("store: %s: %w", KeyFile, err)
	}
	// Read back: if another process won the race, its key is the one.
	return readKey(path)
}

// readKey reads a pseudonym key file; its errors name path (the data
// directory's key, or the operator's --pseudonym-key-file).
func readKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store: pseudonym key: %w", err) // the PathError names path
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("store: %s is readable by others (mode %v); make it 0600", path, fi.Mode().Perm())
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: pseudonym key: %w", err)
	}
	if len(key) < keySize {
		return nil, fmt.Errorf("store: %s holds %d bytes, want at least %d", path, len(key), keySize)
	}
	return key, nil
}

func writeAll(f *os.File, b []byte) error {
	_, err := f.Write(b)
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
