-- One audit row per call and one per card (see the SQLite twin): the rows per
-- order, finding, coverage assertion, suggestion and override reason become
-- JSON arrays in the row they belong to. The columns are text holding JSON,
-- as in SQLite; the report casts them to jsonb.

ALTER TABLE calls
	ADD COLUMN orders_n   INTEGER NOT NULL DEFAULT 0,
	ADD COLUMN orders_met INTEGER NOT NULL DEFAULT 0,
	ADD COLUMN outcome    TEXT    NOT NULL DEFAULT '',
	ADD COLUMN orders     TEXT    NOT NULL DEFAULT '[]',
	ADD COLUMN assertions TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE cards
	ADD COLUMN suggestions      TEXT NOT NULL DEFAULT '[]',
	ADD COLUMN override_reasons TEXT NOT NULL DEFAULT '[]';

UPDATE calls SET orders_n = o.n, orders_met = o.met, outcome = o.outcome, orders = o.orders
FROM (
	SELECT o.call_id, count(*) AS n,
		count(*) FILTER (WHERE o.assessment = 'criteria-met') AS met,
		CASE WHEN count(DISTINCT o.assessment) > 1 THEN 'mixed' ELSE min(o.assessment) END AS outcome,
		json_agg(json_build_object('id', o.order_id, 'codes', o.codes, 'assessment', o.assessment,
			'findings', coalesce((SELECT json_agg(f.finding) FROM order_findings f WHERE f.call_id = o.call_id AND f.seq = o.seq), '[]'::json))
			ORDER BY o.seq)::text AS orders
	FROM call_orders o GROUP BY o.call_id
) o
WHERE o.call_id = calls.id;

UPDATE calls SET assertions = a.ids
FROM (SELECT call_id, json_agg(assertion_id)::text AS ids FROM coverage_assertions GROUP BY call_id) a
WHERE a.call_id = calls.id;

UPDATE cards SET suggestions = s.ids
FROM (SELECT card_id, json_agg(uuid)::text AS ids FROM card_suggestions GROUP BY card_id) s
WHERE s.card_id = cards.id;

UPDATE cards SET override_reasons = r.reasons
FROM (SELECT card_id, json_agg(json_build_object('system', system, 'code', code, 'display', display))::text AS reasons
	FROM card_override_reasons GROUP BY card_id) r
WHERE r.card_id = cards.id;

DROP TABLE order_findings;
DROP TABLE call_orders;
DROP TABLE coverage_assertions;
DROP TABLE card_suggestions;
DROP TABLE card_override_reasons;
