// Package store owns the service's own database: the audit trail (one row per
// service call that reached the service, every status; calls refused before
// it, such as 401 and 429, counted per reason and minute), CDS Hooks feedback
// and, for replicas, the shared replay records of token ids. Two databases
// implement it, with one behaviour test suite: SQLite in a data directory
// (Open; the embedded default, all a single instance needs) and PostgreSQL
// (OpenPostgres; one database shared by every replica of the service).
// Schema migrations are embedded in the binary per database
// (migrations/sqlite, migrations/postgres) and applied in order at open; on
// PostgreSQL under an advisory lock, so replicas starting together migrate
// once.
//
// The audit trail is one row per call (calls) and one per card it issued
// (cards, which feedback names by uuid). A call's orders with their findings
// and its coverage assertion ids, and a card's suggestion uuids and override
// reasons, are JSON arrays in those rows (migration 0005): each answered call
// waits for its audit commit, and a row per order, finding, suggestion and
// reason cost it some twenty B-tree inserts inside that commit. The report
// reads the arrays with the database's JSON functions.
//
// What is kept is chosen so that the database holds no PHI: the patient is a
// keyed HMAC-SHA256 pseudonym (SQLite: the key lives in the data directory,
// not in the database; PostgreSQL: one key in the database for every
// replica, or supplied from a secret), request and response bodies are
// reduced to SHA-256 hashes, and a feedback userComment is reduced to whether
// one was given. No names, birth dates or free text are stored.
//
// Durability: SQLite runs in WAL mode with synchronous=FULL, so a call
// that returned nil has been fsynced and survives a killed process and a power
// loss. synchronous=NORMAL would survive a killed process too (the WAL is in
// the OS page cache) but can lose the latest commits on power loss, and the
// audit row is written before the response goes out, so a lost row would be a
// response without an audit record. PostgreSQL commits with its default
// synchronous_commit=on (WAL flushed before the commit returns), except token
// ids (see OpenPostgres).
//
// Consumers declare the interface they need, where they use it (the Go habit
// of small, consumer-side interfaces). internal/server, for example, declares
// something like
//
//	type Audit interface {
//		RecordCall(ctx context.Context, c store.Call) error
//		RecordFeedback(ctx context.Context, serviceID string, items []hooks.FeedbackItem) error
//		Writable(ctx context.Context) error
//	}
//
// and *DB satisfies it, whichever database it was opened on: the SQL is
// shared, and what differs (placeholders, migrations, locks, how a batch of
// audit records is sent) is chosen by the database at open. This package
// therefore exports a concrete type, not an interface.
package store
