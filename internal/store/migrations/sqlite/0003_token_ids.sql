-- Token ids (jti) of accepted CDS client tokens, kept until the token can no
-- longer be accepted (exp + clock skew), so that a replayed token is refused.
-- A single instance keeps them in memory; the table exists so that both
-- databases offer the same store (the PostgreSQL one shares it across
-- replicas).
CREATE TABLE token_ids (
	issuer     TEXT    NOT NULL,
	jti        TEXT    NOT NULL,
	expires_ms INTEGER NOT NULL,
	PRIMARY KEY (issuer, jti)
) STRICT, WITHOUT ROWID;
CREATE INDEX token_ids_expires ON token_ids (expires_ms);

-- Retention pruning: the cutoff of the last completed run.
CREATE TABLE prune_state (
	id               INTEGER PRIMARY KEY CHECK (id = 1),
	pruned_before_ms INTEGER NOT NULL
) STRICT;
