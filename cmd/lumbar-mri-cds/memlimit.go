package main

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultMemoryLimit is the Go runtime's soft memory limit when nothing else
// sets one. Without any limit the collector, at serveGCPercent, lets the heap
// grow to five times what is live before it runs: harmless at the service's
// usual 10 MiB, but a burst of large bodies (each call bounded by the decode
// budget and the per-call caps, not by count) could then reach gigabytes.
// 512 MiB is several times the bounded working set (decode budget 32 MiB of
// bodies, about 130 MiB live while they are decoded) and small enough for any
// host the service runs on.
const defaultMemoryLimit = 512 << 20

// cgroupShare is the part of a container's memory limit given to the Go heap:
// the rest is for the runtime's own memory, SQLite's page cache and stacks.
const cgroupShare = 0.9

// memoryLimit decides the runtime's soft memory limit, in this order: the
// --memory-limit flag; GOMEMLIMIT (the runtime has applied it already); the
// container's cgroup limit, of which it takes 90 %; none when GOGC is set
// (whoever tunes the collector by hand decides); otherwise
// defaultMemoryLimit. It returns the limit to apply (0: leave the runtime
// as it is) and where it came from, for the start-up log.
func memoryLimit(flag int64, getenv func(string) string, readFile func(string) ([]byte, error)) (int64, string) {
	switch {
	case flag > 0:
		return flag, "flag"
	case getenv("GOMEMLIMIT") != "":
		return 0, "GOMEMLIMIT"
	}
	if n, ok := cgroupLimit(readFile); ok {
		return int64(float64(n) * cgroupShare), "cgroup"
	}
	if getenv("GOGC") != "" {
		return 0, "none (GOGC set)"
	}
	return defaultMemoryLimit, "default"
}

// cgroupLimit reads the memory limit of the process's cgroup: v2
// (memory.max, "max" when unlimited) or v1 (memory.limit_in_bytes, a huge
// number when unlimited).
func cgroupLimit(readFile func(string) ([]byte, error)) (int64, bool) {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := readFile(p)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		// cgroup v1 writes "no limit" as the largest page-aligned int64.
		if err != nil || n <= 0 || n >= math.MaxInt64/2 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// applyMemoryLimit sets the runtime's soft memory limit as memoryLimit
// decides and returns the limit in force and its source.
func applyMemoryLimit(flag int64, getenv func(string) string) (int64, string) {
	n, source := memoryLimit(flag, getenv, os.ReadFile)
	if n > 0 {
		debug.SetMemoryLimit(n)
	}
	return debug.SetMemoryLimit(-1), source
}
