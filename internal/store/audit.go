package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

// Call is the audit record of one service call, whatever its status. Fields
// that were not known when the call failed (a 400 has no orders, a 401 may
// have no patient) are left zero.
type Call struct {
	// Time is when the call arrived.
	Time time.Time
	// ServiceID is the {id} of POST /cds-services/{id}, as called.
	ServiceID string
	// Hook and HookInstance are from the request; HookInstance is not unique.
	Hook         string
	HookInstance string
	// ClientISS is the verified `iss` of the calling CDS client ("" without
	// authentication).
	ClientISS string
	// PatientID is context.patientId. It is never stored: RecordCall keeps
	// only PatientKey(PatientID).
	PatientID string
	// PolicyID names the payer policy applied.
	PolicyID string
	// Orders are the lumbar MRI orders assessed.
	Orders []Order
	// Cards are the cards returned, with what feedback checks need.
	Cards []Card
	// AssertionIDs are the coverage-assertion-ids of the coverage information.
	AssertionIDs []string
	// Status is the HTTP status of the response.
	Status int
	// Latency is the time from arrival to the response being ready.
	Latency time.Duration
	// FHIRQueries is the number of FHIR requests made for the call.
	FHIRQueries int
	// RequestSHA256 and ResponseSHA256 are sha256.Sum256 of the bodies as
	// received and sent; all zero when there was no body. The bodies
	// themselves are PHI and are not kept.
	RequestSHA256, ResponseSHA256 [sha256.Size]byte
}

// Order is one assessed lumbar MRI order.
type Order struct {
	// ID is the ServiceRequest id ("" when the client sent none).
	ID string
	// Codes are the order's codes (CPT, LOINC or SNOMED codes).
	Codes []string
	// Assessment is the assessment code (criteria-met, criteria-not-met,
	// criteria-indeterminate).
	Assessment string
	// Findings are the finding codes of the assessment.
	Findings []string
}

// Card is one issued card as the audit trail and feedback checks need it.
// Its fields match cards.Issued, so a conversion store.Card(issued) works.
type Card struct {
	UUID      string
	OrderID   string
	Topic     string // the CRD card type code (source.topic.code)
	Indicator string
	// SuggestionUUIDs are the uuids of the card's suggestions.
	SuggestionUUIDs []string
	// OverrideReasons are the reasons the card offered for an override.
	OverrideReasons []hooks.Coding
}

// maxField bounds each client-supplied string kept in the audit trail, so
// that a hostile client cannot inflate rows (values are ids and codes).
const maxField = 256

// clip shortens s to at most maxField bytes on a rune boundary, and makes
// it storable text in both databases: PostgreSQL refuses NUL bytes and
// invalid UTF-8 in text columns, so each is replaced by U+FFFD (a client
// could otherwise make its own audit row fail, and the call with it).
func clip(s string) string {
	if !storable(s) {
		s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	}
	if len(s) <= maxField {
		return s
	}
	s = s[:maxField]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// storable reports whether s can be stored as text as it is: valid UTF-8
// without NUL bytes.
func storable(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// PatientKey returns the pseudonym stored for a patient id: hex
// HMAC-SHA256 under the data directory's secret key. The same id always gives
// the same key, so calls for one patient can be found (PatientKey(id)) without
// the database revealing the id; without the key file the pseudonyms cannot
// be reversed by hashing candidate ids. "" gives "".
func (db *DB) PatientKey(patientID string) string {
	if patientID == "" {
		return ""
	}
	m := hmac.New(sha256.New, db.key)
	m.Write([]byte(patientID))
	return hex.EncodeToString(m.Sum(nil))
}

func hashOrNull(h [sha256.Size]byte) any {
	if h == ([sha256.Size]byte{}) {
		return nil
	}
	return h[:]
}

// RecordCall commits the audit record of one call. The caller calls it
// before writing the response and answers 503 when it fails, so that no
// answer goes out without its audit record: a nil error means the record is
// committed and synced (synchronous=FULL).
//
// Records of concurrent calls are committed together (group commit): the
// writer goroutine takes every record queued while the previous commit was
// syncing and writes them in one transaction, so the commit's page writes and
// fsync are paid once per batch instead of once per call (a record that
// fails to insert is retried alone and fails alone). A lone call is committed at
// once; nothing waits for a batch to fill.
func (db *DB) RecordCall(ctx context.Context, c Call) error {
	j := &callJob{ctx: ctx, call: c, done: make(chan error, 1)}
	select {
	case db.calls <- j:
	case <-db.closing:
		return errClosed
	case <-ctx.Done():
		return fmt.Errorf("store: record call: %w", ctx.Err())
	}
	select {
	case err := <-j.done:
		return err
	case <-db.written:
		// The writer stopped (Close); it answered every job it took.
		select {
		case err := <-j.done:
			return err
		default:
			return errClosed
		}
	case <-ctx.Done():
		// The record may still be committed: it is then the audit record of
		// a call answered with an error, which is what happened.
		return fmt.Errorf("store: record call: %w", ctx.Err())
	}
}

// errClosed answers records that arrive after Close.
var errClosed = errors.New("store: record call: database closed")

// callJob is one queued audit record and where its result goes.
type callJob struct {
	ctx  context.Context
	call Call
	done chan error // buffered: the writer never blocks on a caller that left
}

// Group commit bounds: the queue a burst of calls may fill before callers
// wait to enqueue, the most records in one transaction, and how long one
// batch may hold the write connection.
const (
	callQueue    = 256
	maxBatch     = 128
	batchTimeout = 10 * time.Second
	// groupWindow is how long the writer, while calls arrive together,
	// waits for more records before committing: small against a call's
	// latency, long against the time between calls under load. Each commit
	// costs an fsync and the write of the pages it changed (about 300 µs
	// of CPU on the reference machine). In the speed run (8 callers, a
	// loaded machine), waiting 250 µs only after a batch with company left
	// 64 % of the commits with one record (1.8 records per commit); waiting
	// 750 µs while calls arrive together gave 3.1 per commit and 25-45 %
	// more calls/s. On a quiet machine, windows from 0 to 1.5 ms gave the
	// same throughput within the run-to-run noise.
	groupWindow = 750 * time.Microsecond
	// busyMemory: calls arrive together while one of the last busyMemory
	// batches had more than one record. A lone caller making calls one
	// after another never has company, and never waits.
	busyMemory = 8
)

// writeCalls is the writer goroutine: it commits queued records in batches
// until Close, then commits what is still queued and stops.
func (db *DB) writeCalls() {
	defer close(db.written)
	batch := make([]*callJob, 0, maxBatch)
	// sizes are the sizes of the last busyMemory batches (a ring, next
	// at n % busyMemory); their largest, peak, is how many records to
	// wait for.
	var sizes [busyMemory]int
	n := 0
	window := time.NewTimer(groupWindow)
	window.Stop()
	for {
		select {
		case j := <-db.calls:
			batch = append(batch[:0], j)
		case <-db.closing:
			// Commit what is queued. A record enqueued after this drain is
			// answered errClosed by RecordCall once written is closed.
			var rest []*callJob
		drain:
			for {
				select {
				case j := <-db.calls:
					rest = append(rest, j)
				default:
					break drain
				}
			}
			if len(rest) > 0 {
				db.commitCalls(rest)
			}
			if len(db.answered) > 0 {
				// The last calls' answered latency: one more small commit.
				ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
				if _, err := db.commitTx(ctx, nil); err != nil {
					db.answered = nil
				}
				cancel()
			}
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case j := <-db.calls:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		peak := slices.Max(sizes[:])
		if len(batch) > 1 || peak > 1 {
			// Under load more records are on their way: wait a moment for
			// them instead of paying a commit each.
			target := min(max(peak, len(batch)+1), maxBatch)
			window.Reset(groupWindow)
		gather:
			for len(batch) < target {
				select {
				case j := <-db.calls:
					batch = append(batch, j)
				case <-window.C:
					break gather
				}
			}
			window.Stop()
		}
		sizes[n%busyMemory] = len(batch)
		n++
		db.commitCalls(batch)
		clear(batch)
	}
}

// commitCalls writes a batch in one transaction and tells each caller its
// result. A record whose caller has gone (context done) is skipped. When a
// record fails to insert, the batch is rolled back and each record is
// committed in a transaction of its own, so that one bad record fails alone;
// a failed commit fails every record of its transaction.
func (db *DB) commitCalls(batch []*callJob) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	live := batch[:0:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.done <- fmt.Errorf("store: record call: %w", err)
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	ids, err := db.commitTx(ctx, live)
	db.noteCommit(err)
	if err == nil || len(live) == 1 {
		db.noteAnswered(live, ids)
		for _, j := range live {
			j.done <- err
		}
		return
	}
	// The answered latencies are best effort: never let one of them keep
	// failing the audit records themselves.
	db.answered = nil
	for _, j := range live {
		one := []*callJob{j}
		ids, err := db.commitTx(ctx, one)
		db.noteCommit(err)
		db.noteAnswered(one, ids)
		j.done <- err
	}
}

// noteCommit records whether an audit commit failed (see Writable).
func (db *DB) noteCommit(err error) {
	if err != nil {
		db.failing.Store(time.Now().UnixNano())
		return
	}
	db.failing.Store(0)
}

// noteAnswered keeps, for each committed job, the latency its client sees:
// from the call reaching the audit step (Call.Time) to now, its commit. The
// next commit writes it into the row (answered_ms). ids is nil when the
// commit failed.
func (db *DB) noteAnswered(jobs []*callJob, ids []int64) {
	if len(ids) != len(jobs) {
		return
	}
	now := time.Now()
	for i, j := range jobs {
		if j.call.Time.IsZero() {
			continue
		}
		db.answered = append(db.answered, answeredLatency{id: ids[i], ms: float64(now.Sub(j.call.Time)) / float64(time.Millisecond)})
	}
}

// commitTx inserts the records of jobs in one transaction, with the
// answered latency of calls committed before (db.answered), and commits it.
// It returns the new calls' row ids, in the order of jobs.
func (db *DB) commitTx(ctx context.Context, jobs []*callJob) (ids []int64, err error) {
	if db.dialect.dollar {
		return db.commitPipelined(ctx, jobs)
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: record call: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	st := db.stmts.in(ctx, tx)
	if len(db.answered) > 0 {
		if _, err := st.answered.ExecContext(ctx, answeredJSON(db.answered)); err != nil {
			return nil, fmt.Errorf("store: record call: answered latency: %w", err)
		}
	}
	for _, j := range jobs {
		id, err := db.insertCall(ctx, &st, j.call)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: record call: commit: %w", err)
	}
	db.answered = db.answered[:0]
	return ids, nil
}

// sqliteInsertCards inserts up to cardsPerInsert cards of a call in one
// statement (a statement costs more than a row); rows whose call_id is
// NULL are padding.
var sqliteInsertCards = `INSERT INTO cards (call_id, uuid, service_id, order_id, topic, indicator, suggestions, override_reasons)
	SELECT * FROM (VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?), ", cardsPerInsert), ", ") + `) AS v
	WHERE v.column1 IS NOT NULL`

// cardsPerInsert is the number of card rows of sqliteInsertCards (a call
// issues up to three per lumbar MRI order), cardColumns its columns per row.
const (
	cardsPerInsert = 4
	cardColumns    = 8
)

// sqliteAnswered writes the answered latencies of earlier calls in one
// statement: ?1 is [[call id, milliseconds], ...].
const sqliteAnswered = `UPDATE calls SET answered_ms = json_extract(a.value, '$[1]')
	FROM json_each(?1) AS a WHERE calls.id = json_extract(a.value, '$[0]')`

// answeredJSON is the argument of sqliteAnswered.
func answeredJSON(as []answeredLatency) string {
	b := make([]byte, 0, 24*len(as)+2)
	b = append(b, '[')
	for i, a := range as {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, a.id, 10)
		b = append(b, ',')
		b = strconv.AppendFloat(b, a.ms, 'f', 3, 64)
		b = append(b, ']')
	}
	return string(append(b, ']'))
}

// callRow is the calls row of c, in the column order of the insert
// statements (id excluded).
func (db *DB) callRow(c Call) []any {
	at := c.Time
	if at.IsZero() {
		at = time.Now()
	}
	n, met, outcome := outcomeOf(c.Orders)
	return []any{at.UnixMilli(), clip(c.ServiceID), clip(c.Hook), clip(c.HookInstance), clip(c.ClientISS),
		db.PatientKey(c.PatientID), clip(c.PolicyID), c.Status,
		float64(c.Latency) / float64(time.Millisecond), c.FHIRQueries,
		hashOrNull(c.RequestSHA256), hashOrNull(c.ResponseSHA256),
		n, met, outcome, ordersJSON(c.Orders), stringsJSON(c.AssertionIDs)}
}

// cardRow is the cards row of one card of a call, in the column order of
// the insert statements (id and call_id excluded).
func cardRow(serviceID string, card Card) []any {
	return []any{card.UUID, clip(serviceID), clip(card.OrderID), card.Topic, card.Indicator,
		stringsJSON(card.SuggestionUUIDs), reasonsJSON(card.OverrideReasons)}
}

// outcomeOf summarises a call's assessed orders for its calls row: how many,
// how many met the criteria, and the outcome column (” for none, the
// assessment every order got, or "mixed").
func outcomeOf(orders []Order) (n, met int, outcome string) {
	for i, o := range orders {
		if o.Assessment == "criteria-met" {
			met++
		}
		switch {
		case i == 0:
			outcome = o.Assessment
		case outcome != o.Assessment:
			outcome = "mixed"
		}
	}
	return len(orders), met, outcome
}

// auditOrder is one element of calls.orders.
type auditOrder struct {
	ID         string   `json:"id"`
	Codes      string   `json:"codes"`
	Assessment string   `json:"assessment"`
	Findings   []string `json:"findings"`
}

// auditReason is one element of cards.override_reasons.
type auditReason struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

// ordersJSON is the calls.orders column: each order with its codes (clipped,
// space separated) and its findings, each finding once.
func ordersJSON(orders []Order) jsonColumn {
	out := make([]auditOrder, len(orders))
	for i, o := range orders {
		out[i] = auditOrder{ID: clip(o.ID), Codes: orderCodes(o), Assessment: clip(o.Assessment), Findings: clipOnce(o.Findings)}
	}
	return jsonColumn{out}
}

// stringsJSON is a JSON array of the values, each clipped and kept once.
func stringsJSON(values []string) jsonColumn {
	return jsonColumn{clipOnce(values)}
}

// clipOnce returns the values clipped, each kept once, in their order
// (never nil, so that none encodes as []).
func clipOnce(values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		if v = clip(v); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// reasonsJSON is the cards.override_reasons column, each system and code
// once.
func reasonsJSON(reasons []hooks.Coding) jsonColumn {
	out := make([]auditReason, 0, len(reasons))
	for _, r := range reasons {
		a := auditReason{System: clip(r.System), Code: clip(r.Code), Display: clip(r.Display)}
		if !slices.ContainsFunc(out, func(b auditReason) bool { return b.System == a.System && b.Code == a.Code }) {
			out = append(out, a)
		}
	}
	return jsonColumn{out}
}

// jsonColumn is a column value stored as JSON text. It is encoded when the
// driver asks for it (driver.Valuer), so an encoding error fails the
// statement, and with it the audit record, instead of the process.
type jsonColumn struct{ v any }

// Value encodes the column as JSON text.
func (c jsonColumn) Value() (driver.Value, error) {
	b, err := json.Marshal(c.v)
	if err != nil {
		return nil, fmt.Errorf("store: encode %T: %w", c.v, err)
	}
	return string(b), nil
}

// orderCodes is the codes of an order: its codes, clipped, space separated.
func orderCodes(o Order) string {
	codes := make([]string, len(o.Codes))
	for j, code := range o.Codes {
		codes[j] = clip(code)
	}
	return strings.Join(codes, " ")
}

// insertCall writes the rows of one call, its calls row and a row per card,
// with the statements of a transaction.
func (db *DB) insertCall(ctx context.Context, st *statements, c Call) (int64, error) {
	res, err := st.insertCall.ExecContext(ctx, db.callRow(c)...)
	if err != nil {
		return 0, fmt.Errorf("store: record call: %w", err)
	}
	callID, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: record call: %w", err)
	}
	// SQLite: up to cardsPerInsert cards per statement, the unused rows of
	// the statement left NULL.
	for cards := c.Cards; len(cards) > 0; {
		n := min(len(cards), cardsPerInsert)
		args := make([]any, 0, cardsPerInsert*cardColumns)
		for _, card := range cards[:n] {
			args = append(append(args, callID), cardRow(c.ServiceID, card)...)
		}
		for len(args) < cap(args) {
			args = append(args, nil)
		}
		if _, err := st.insertCards.ExecContext(ctx, args...); err != nil {
			return 0, fmt.Errorf("store: record call: card: %w", err)
		}
		cards = cards[n:]
	}
	return callID, nil
}

// pruneBatch bounds the calls deleted per transaction, so that retention
// never holds the write lock long enough to delay a service call's audit.
const pruneBatch = 500

// Prune deletes the calls that arrived before olderThan, with their orders,
// cards and the feedback on those cards, and the refused-call counts of
// those minutes, and returns the number of calls
// deleted (retention: --audit-retention days). Feedback arriving later for a
// pruned card is then an unknown card.
//
// On PostgreSQL, retention runs once across replicas: a replica that finds
// another pruning (advisory lock), or the cutoff already reached (within
// pruneSlack), deletes nothing and returns 0.
func (db *DB) Prune(ctx context.Context, olderThan time.Time) (int64, error) {
	exec := db.write.ExecContext
	if db.dialect.dollar {
		// Replicas prune once: one holds the lock, the others skip, and a
		// replica whose daily run comes later finds the cutoff reached.
		conn, err := db.write.Conn(ctx)
		if err != nil {
			return 0, fmt.Errorf("store: prune: %w", err)
		}
		defer conn.Close()
		var locked bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", lockPrune).Scan(&locked); err != nil {
			return 0, fmt.Errorf("store: prune: lock: %w", err)
		}
		if !locked {
			return 0, nil
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockPrune)
		var done int64
		err = conn.QueryRowContext(ctx, "SELECT pruned_before_ms FROM prune_state WHERE id = 1").Scan(&done)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("store: prune: %w", err)
		}
		if err == nil && done >= olderThan.Add(-pruneSlack).UnixMilli() {
			return 0, nil
		}
		exec = conn.ExecContext
	}
	if err := db.pruneRefused(ctx, olderThan); err != nil {
		return 0, err
	}
	var total int64
	for {
		res, err := exec(ctx, db.dialect.rebind(
			`DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE at_ms < ? ORDER BY at_ms LIMIT ?)`),
			olderThan.UnixMilli(), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("store: prune: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("store: prune: %w", err)
		}
		total += n
		if n < pruneBatch {
			break
		}
	}
	_, err := exec(ctx, db.dialect.rebind(`INSERT INTO prune_state (id, pruned_before_ms) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET pruned_before_ms = excluded.pruned_before_ms`), olderThan.UnixMilli())
	if err != nil {
		return total, fmt.Errorf("store: prune: %w", err)
	}
	return total, nil
}

// pruneSlack is how far before the requested cutoff a cutoff already pruned
// by another replica may lie for this run to be skipped: retention is in
// days, and one replica pruning an hour's rows later than another does no
// harm.
const pruneSlack = time.Hour

// statements are prepared once (SQLite: on the single write connection).
type statements struct {
	insertCall, insertCards, answered        *sql.Stmt // SQLite only
	findCard                                 *sql.Stmt
	insertFeedback, insertFeedbackSuggestion *sql.Stmt
}

var statementSQL = []struct {
	dst func(*statements) **sql.Stmt
	sql string
	// sqliteOnly statements are not prepared on PostgreSQL, which sends a
	// batch's rows as one pipeline instead.
	sqliteOnly bool
}{
	{func(s *statements) **sql.Stmt { return &s.insertCall }, `INSERT INTO calls
		(at_ms, service_id, hook, hook_instance, client_iss, patient_key, policy_id, status, latency_ms, fhir_queries, request_sha256, response_sha256,
		orders_n, orders_met, outcome, orders, assertions)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, true},
	{func(s *statements) **sql.Stmt { return &s.insertCards }, sqliteInsertCards, true},
	{func(s *statements) **sql.Stmt { return &s.answered }, sqliteAnswered, true},
	{func(s *statements) **sql.Stmt { return &s.findCard }, `SELECT cards.id, cards.suggestions, calls.client_iss
		FROM cards JOIN calls ON calls.id = cards.call_id
		WHERE cards.uuid = ? AND cards.service_id = ? ORDER BY cards.id DESC LIMIT 1`, false},
	{func(s *statements) **sql.Stmt { return &s.insertFeedback }, `INSERT INTO feedback
		(card_id, outcome, outcome_at_ms, override_system, override_code, override_display, has_user_comment, received_at_ms, dedup_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING RETURNING id`, false},
	{func(s *statements) **sql.Stmt { return &s.insertFeedbackSuggestion }, `INSERT INTO feedback_suggestions (feedback_id, suggestion_uuid) VALUES (?, ?) ON CONFLICT DO NOTHING`, false},
}

func (db *DB) prepare(ctx context.Context) error {
	for _, s := range statementSQL {
		if s.sqliteOnly && db.dialect.dollar {
			continue
		}
		st, err := db.write.PrepareContext(ctx, db.dialect.rebind(s.sql))
		if err != nil {
			return fmt.Errorf("store: prepare: %w", err)
		}
		*s.dst(&db.stmts) = st
	}
	return nil
}

// in returns the statements bound to tx. The SQLite write pool has one
// connection, on which they are already prepared, so binding costs no new
// prepare; on PostgreSQL each connection prepares a statement once.
func (s *statements) in(ctx context.Context, tx *sql.Tx) statements {
	var out statements
	for _, d := range statementSQL {
		if st := *d.dst(s); st != nil {
			*d.dst(&out) = tx.StmtContext(ctx, st)
		}
	}
	return out
}

func (s *statements) close() error {
	var errs []error
	for _, d := range statementSQL {
		if st := *d.dst(s); st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
