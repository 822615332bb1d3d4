// Package store owns the service's own database: the audit trail (one row per
// service call that reached the service, every status; calls refused before
// it, such as 401 and 429, counted per reason and minute) and CDS Hooks
// feedback, kept in an embedded
// SQLite database in a data directory, with schema migrations embedded in the
// binary and applied in order at Open.
//
// What is kept is chosen so that the database holds no PHI: the patient is a
// keyed HMAC-SHA256 pseudonym (the key lives in the data directory, not in the
// database), request and response bodies are reduced to SHA-256 hashes, and a
// feedback userComment is reduced to whether one was given. No names, birth
// dates or free text are stored.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a call
// that returned nil has been fsynced and survives a killed process and a power
// loss. synchronous=NORMAL would survive a killed process too (the WAL is in
// the OS page cache) but can lose the latest commits on power loss, and the
// audit row is written before the response goes out, so a lost row would be a
// response without an audit record.
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
// and *DB satisfies it; another database (a server-hosted one, for instance)
// can replace this one by implementing the same methods, without changes to
// the server. This package therefore exports a concrete type, not an
// interface.
package store
