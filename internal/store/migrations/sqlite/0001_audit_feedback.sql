-- Audit trail and feedback. Times are Unix milliseconds (UTC). No column holds
-- a patient identifier, a name, a birth date, free text or a request/response
-- body: the patient is a keyed HMAC, bodies are SHA-256 hashes.

CREATE TABLE calls (
	id              INTEGER PRIMARY KEY,
	at_ms           INTEGER NOT NULL,
	service_id      TEXT    NOT NULL,
	hook            TEXT    NOT NULL,
	hook_instance   TEXT    NOT NULL, -- not unique: clients may reuse it
	client_iss      TEXT    NOT NULL,
	patient_key     TEXT    NOT NULL, -- HMAC-SHA256 of the patient id, hex; '' when unknown
	policy_id       TEXT    NOT NULL,
	status          INTEGER NOT NULL,
	latency_ms      REAL    NOT NULL,
	fhir_queries    INTEGER NOT NULL,
	request_sha256  BLOB,
	response_sha256 BLOB
) STRICT;
CREATE INDEX calls_at ON calls (at_ms);
CREATE INDEX calls_patient ON calls (patient_key);

CREATE TABLE call_orders (
	call_id    INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
	seq        INTEGER NOT NULL,
	order_id   TEXT    NOT NULL,
	codes      TEXT    NOT NULL, -- order codes, space separated
	assessment TEXT    NOT NULL, -- criteria-met | criteria-not-met | criteria-indeterminate
	PRIMARY KEY (call_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE order_findings (
	call_id INTEGER NOT NULL,
	seq     INTEGER NOT NULL,
	finding TEXT    NOT NULL,
	PRIMARY KEY (call_id, seq, finding),
	FOREIGN KEY (call_id, seq) REFERENCES call_orders (call_id, seq) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE TABLE coverage_assertions (
	call_id      INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
	assertion_id TEXT    NOT NULL,
	PRIMARY KEY (call_id, assertion_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX coverage_assertions_id ON coverage_assertions (assertion_id);

-- Card uuids are random per response, but the index is not unique so that a
-- repeated uuid (a client replaying a response id generator in tests) can
-- never make an audit write fail; feedback resolves to the latest card.
CREATE TABLE cards (
	id         INTEGER PRIMARY KEY,
	call_id    INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
	uuid       TEXT    NOT NULL,
	service_id TEXT    NOT NULL,
	order_id   TEXT    NOT NULL,
	topic      TEXT    NOT NULL,
	indicator  TEXT    NOT NULL
) STRICT;
CREATE INDEX cards_uuid ON cards (uuid, service_id);
CREATE INDEX cards_call ON cards (call_id);

CREATE TABLE card_suggestions (
	card_id INTEGER NOT NULL REFERENCES cards (id) ON DELETE CASCADE,
	uuid    TEXT    NOT NULL,
	PRIMARY KEY (card_id, uuid)
) STRICT, WITHOUT ROWID;

CREATE TABLE card_override_reasons (
	card_id INTEGER NOT NULL REFERENCES cards (id) ON DELETE CASCADE,
	system  TEXT    NOT NULL,
	code    TEXT    NOT NULL,
	display TEXT    NOT NULL, -- the service's own display text, not the clinician's
	PRIMARY KEY (card_id, system, code)
) STRICT, WITHOUT ROWID;

-- One row per distinct feedback item. dedup_key is the canonical form of
-- (card, outcome, outcomeTimestamp, accepted suggestion ids, override reason)
-- so that a client retrying a POST stores nothing twice. userComment is free
-- text (possible PHI): only whether one was given is kept.
CREATE TABLE feedback (
	id               INTEGER PRIMARY KEY,
	card_id          INTEGER NOT NULL REFERENCES cards (id) ON DELETE CASCADE,
	outcome          TEXT    NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
	outcome_at_ms    INTEGER NOT NULL,
	override_system  TEXT    NOT NULL, -- '' when no reason was given
	override_code    TEXT    NOT NULL,
	has_user_comment INTEGER NOT NULL,
	received_at_ms   INTEGER NOT NULL,
	dedup_key        TEXT    NOT NULL UNIQUE
) STRICT;
CREATE INDEX feedback_card ON feedback (card_id);

CREATE TABLE feedback_suggestions (
	feedback_id     INTEGER NOT NULL REFERENCES feedback (id) ON DELETE CASCADE,
	suggestion_uuid TEXT    NOT NULL,
	PRIMARY KEY (feedback_id, suggestion_uuid)
) STRICT, WITHOUT ROWID;

-- Written by the readiness probe to prove the database takes writes.
CREATE TABLE heartbeat (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	at_ms INTEGER NOT NULL
) STRICT;
