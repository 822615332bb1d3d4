-- Token ids (jti) of accepted CDS client tokens, shared by every replica and
-- kept until the token can no longer be accepted (exp + clock skew): a token
-- accepted by one replica is refused by every other. Expired rows are pruned.
CREATE TABLE token_ids (
	issuer     TEXT   NOT NULL,
	jti        TEXT   NOT NULL,
	expires_ms BIGINT NOT NULL,
	PRIMARY KEY (issuer, jti)
);
CREATE INDEX token_ids_expires ON token_ids (expires_ms);

-- Retention pruning: the cutoff of the last completed run, so that replicas
-- pruning at different times of day do the work once.
CREATE TABLE prune_state (
	id               INTEGER PRIMARY KEY CHECK (id = 1),
	pruned_before_ms BIGINT  NOT NULL
);

-- The secret key of the patient pseudonyms, one for all replicas, created
-- once under the migration lock unless it is supplied from a secret (then
-- this table stays empty).
CREATE TABLE pseudonym_key (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	secret BYTEA   NOT NULL
);
