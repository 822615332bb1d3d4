-- The latency the client sees: from the call reaching the audit step to its
-- audit record being committed (the answer leaves right after), beside
-- latency_ms (the service's own time, before the commit). Filled in by the
-- next commit, or at Close; NULL for a call answered 503 or cut off by a
-- crash before that.
ALTER TABLE calls ADD COLUMN answered_ms REAL;
