package main

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

// TestUUIDv7: ids are RFC 9562 version 7 (variant 10), unique, and sort in
// the order they were made across milliseconds.
func TestUUIDv7(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := uuidV7(at.Add(time.Duration(i) * time.Millisecond))
		if !re.MatchString(id) {
			t.Fatalf("uuidV7 = %q, not a version 7 UUID", id)
		}
		if seen[id] || id <= prev {
			t.Fatalf("id %d %q repeats or sorts before %q", i, id, prev)
		}
		seen[id], prev = true, id
	}
	// The first 48 bits are the Unix time in milliseconds.
	if got := uuidV7(at)[:13]; got != fmt.Sprintf("%08x-%04x", at.UnixMilli()>>16, at.UnixMilli()&0xffff) {
		t.Errorf("time prefix %s", got)
	}
}
