-- No query reads calls by patient_key (the report counts and groups by time,
-- service and outcome; feedback finds cards by uuid), while the index's keys
-- are HMACs, random by design: each call's insert dirtied a random page of
-- it, written out again by every audit commit. An auditor looking up one
-- patient's calls by their HMAC scans the calls of the retention period.
DROP INDEX IF EXISTS calls_patient;
