-- Calls refused before the service ran (401, 429 and the like) are counted
-- per reason and minute, not kept one row each: a flood of garbage tokens
-- must not grow the audit trail by a row per call.

CREATE TABLE refused_calls (
	minute_ms INTEGER NOT NULL, -- start of the UTC minute, Unix milliseconds
	reason    TEXT    NOT NULL, -- a reason code of this service (bounded set)
	n         INTEGER NOT NULL,
	PRIMARY KEY (minute_ms, reason)
) STRICT, WITHOUT ROWID;
