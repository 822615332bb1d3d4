package store

import (
	"database/sql"
	"strconv"
	"strings"
)

// dialect is what differs between the two databases for the shared SQL of
// this package: the migrations folder, the placeholder syntax and the
// transaction options of a consistent read.
type dialect struct {
	// name is the migrations folder: sqlite or postgres.
	name string
	// dollar: placeholders are $1, $2, ... (PostgreSQL) instead of ? and ?N.
	dollar bool
	// snapshot are the options of a read-only transaction that sees one
	// consistent state of the database.
	snapshot *sql.TxOptions
	// findings, overrideReasons and suggestionsOffered are the report's
	// queries that read the JSON arrays of calls.orders and of the cards
	// (after the period's common table expressions p, k and latest).
	findings, overrideReasons, suggestionsOffered string
}

var (
	// A SQLite read transaction always reads one snapshot (WAL mode).
	sqliteDialect = dialect{name: "sqlite", snapshot: &sql.TxOptions{ReadOnly: true},
		findings: `SELECT f.value, '', count(*) AS n
			FROM p, json_each(p.orders) AS o, json_each(o.value, '$.findings') AS f
			GROUP BY f.value ORDER BY n DESC, f.value`,
		overrideReasons: `SELECT CASE WHEN l.override_code = '' THEN '(none given)' ELSE l.override_code END AS label,
				coalesce(max((SELECT json_extract(r.value, '$.display') FROM json_each(k.override_reasons) AS r
					WHERE json_extract(r.value, '$.system') = l.override_system AND json_extract(r.value, '$.code') = l.override_code)),
					nullif(max(l.override_display), ''), ''),
				count(*) AS n,
				l.override_code <> '' AND NOT max(EXISTS (SELECT 1 FROM json_each(k.override_reasons) AS r
					WHERE json_extract(r.value, '$.system') = l.override_system AND json_extract(r.value, '$.code') = l.override_code)) AS client
			FROM latest l JOIN k ON k.id = l.card_id
			WHERE l.rn = 1 AND l.outcome = 'overridden'
			GROUP BY l.override_system, l.override_code ORDER BY n DESC, label`,
		suggestionsOffered: `SELECT coalesce(sum(json_array_length(k.suggestions)), 0) FROM k`,
	}
	// PostgreSQL's default READ COMMITTED takes a snapshot per statement;
	// the report's queries must count the same calls.
	postgresDialect = dialect{name: "postgres", dollar: true,
		snapshot: &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
		findings: `SELECT f.value, '', count(*) AS n
			FROM p, jsonb_array_elements(p.orders::jsonb) AS o (value), jsonb_array_elements_text(o.value -> 'findings') AS f (value)
			GROUP BY f.value ORDER BY n DESC, f.value`,
		overrideReasons: `SELECT CASE WHEN l.override_code = '' THEN '(none given)' ELSE l.override_code END AS label,
				coalesce(max((SELECT r.value ->> 'display' FROM jsonb_array_elements(k.override_reasons::jsonb) AS r (value)
					WHERE r.value ->> 'system' = l.override_system AND r.value ->> 'code' = l.override_code LIMIT 1)),
					nullif(max(l.override_display), ''), ''),
				count(*) AS n,
				l.override_code <> '' AND NOT bool_or(EXISTS (SELECT 1 FROM jsonb_array_elements(k.override_reasons::jsonb) AS r (value)
					WHERE r.value ->> 'system' = l.override_system AND r.value ->> 'code' = l.override_code)) AS client
			FROM latest l JOIN k ON k.id = l.card_id
			WHERE l.rn = 1 AND l.outcome = 'overridden'
			GROUP BY l.override_system, l.override_code ORDER BY n DESC, label`,
		suggestionsOffered: `SELECT coalesce(sum(jsonb_array_length(k.suggestions::jsonb)), 0) FROM k`,
	}
)

// rebind rewrites the placeholders of query, written with ? (the next
// argument) and ?N (argument N), for the dialect. The package's queries hold
// no ? inside string literals.
func (d dialect) rebind(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c != '?' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(query) && query[j] >= '0' && query[j] <= '9' {
			j++
		}
		b.WriteByte('$')
		if j > i+1 {
			b.WriteString(query[i+1 : j])
			i = j - 1
			continue
		}
		n++
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}
