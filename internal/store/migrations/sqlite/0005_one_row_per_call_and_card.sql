-- One audit row per call and one per card. What was a row per order, finding,
-- coverage assertion, suggestion and override reason is kept as a JSON array
-- in the row it belongs to: an answered call cost some twenty B-tree inserts
-- and a dozen statements inside its synchronous commit, now one statement per
-- call and one per card. The report reads the arrays with json_each.
--
-- calls.outcome: '' (no lumbar MRI order assessed), the assessment code of
-- every assessed order, or 'mixed'. calls.orders:
-- [{"id": ..., "codes": "72148 72149", "assessment": ..., "findings": [...]}].
-- cards.override_reasons: [{"system": ..., "code": ..., "display": ...}].

ALTER TABLE calls ADD COLUMN orders_n   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN orders_met INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN outcome    TEXT    NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN orders     TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE calls ADD COLUMN assertions TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE cards ADD COLUMN suggestions      TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cards ADD COLUMN override_reasons TEXT NOT NULL DEFAULT '[]';

UPDATE calls SET
	orders_n   = (SELECT count(*) FROM call_orders o WHERE o.call_id = calls.id),
	orders_met = (SELECT count(*) FROM call_orders o WHERE o.call_id = calls.id AND o.assessment = 'criteria-met'),
	outcome    = coalesce((SELECT CASE WHEN count(DISTINCT o.assessment) > 1 THEN 'mixed' ELSE min(o.assessment) END
		FROM call_orders o WHERE o.call_id = calls.id), ''),
	orders     = coalesce((SELECT json_group_array(json_object('id', o.order_id, 'codes', o.codes, 'assessment', o.assessment,
			'findings', json((SELECT json_group_array(f.finding) FROM order_findings f WHERE f.call_id = o.call_id AND f.seq = o.seq))))
		FROM call_orders o WHERE o.call_id = calls.id), '[]')
WHERE id IN (SELECT call_id FROM call_orders);

UPDATE calls SET assertions = (SELECT json_group_array(a.assertion_id) FROM coverage_assertions a WHERE a.call_id = calls.id)
WHERE id IN (SELECT call_id FROM coverage_assertions);

UPDATE cards SET suggestions = (SELECT json_group_array(s.uuid) FROM card_suggestions s WHERE s.card_id = cards.id)
WHERE id IN (SELECT card_id FROM card_suggestions);

UPDATE cards SET override_reasons = (SELECT json_group_array(json_object('system', r.system, 'code', r.code, 'display', r.display))
	FROM card_override_reasons r WHERE r.card_id = cards.id)
WHERE id IN (SELECT card_id FROM card_override_reasons);

DROP TABLE order_findings;
DROP TABLE call_orders;
DROP TABLE coverage_assertions;
DROP TABLE card_suggestions;
DROP TABLE card_override_reasons;
