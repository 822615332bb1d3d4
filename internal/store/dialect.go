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
}

var (
	// A SQLite read transaction always reads one snapshot (WAL mode).
	sqliteDialect = dialect{name: "sqlite", snapshot: &sql.TxOptions{ReadOnly: true}}
	// PostgreSQL's default READ COMMITTED takes a snapshot per statement;
	// the report's queries must count the same calls.
	postgresDialect = dialect{name: "postgres", dollar: true,
		snapshot: &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}}
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
