package main

import (
	"errors"
	"io/fs"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	v2 := func(s string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if p == "/sys/fs/cgroup/memory.max" {
				return []byte(s + "\n"), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	v1 := func(s string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if p == "/sys/fs/cgroup/memory/memory.limit_in_bytes" {
				return []byte(s + "\n"), nil
			}
			return nil, errors.New("no such file")
		}
	}
	none := func(string) ([]byte, error) { return nil, fs.ErrNotExist }
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name       string
		flag       int64
		getenv     func(string) string
		readFile   func(string) ([]byte, error)
		want       int64
		wantSource string
	}{
		{name: "nothing set", getenv: env(), readFile: none, want: defaultMemoryLimit, wantSource: "default"},
		{name: "cgroup v2 unlimited", getenv: env(), readFile: v2("max"), want: defaultMemoryLimit, wantSource: "default"},
		{name: "cgroup v2 limit", getenv: env(), readFile: v2("1073741824"), want: 966367641, wantSource: "cgroup"},
		{name: "cgroup v1 limit", getenv: env(), readFile: v1("2147483648"), want: 1932735283, wantSource: "cgroup"},
		{name: "cgroup v1 unlimited", getenv: env(), readFile: v1("9223372036854771712"), want: defaultMemoryLimit, wantSource: "default"},
		{name: "flag wins over all", flag: 300 << 20, getenv: env("GOMEMLIMIT", "1GiB", "GOGC", "50"), readFile: v2("1073741824"), want: 300 << 20, wantSource: "flag"},
		{name: "GOMEMLIMIT wins over the cgroup", getenv: env("GOMEMLIMIT", "1GiB"), readFile: v2("1073741824"), want: 0, wantSource: "GOMEMLIMIT"},
		{name: "cgroup wins over GOGC", getenv: env("GOGC", "200"), readFile: v2("1073741824"), want: 966367641, wantSource: "cgroup"},
		{name: "GOGC alone: no limit", getenv: env("GOGC", "200"), readFile: none, want: 0, wantSource: "none (GOGC set)"},
		{name: "garbage in memory.max", getenv: env(), readFile: v2("lots"), want: defaultMemoryLimit, wantSource: "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, source := memoryLimit(tc.flag, tc.getenv, tc.readFile)
			if got != tc.want || source != tc.wantSource {
				t.Errorf("memoryLimit = %d, %q; want %d, %q", got, source, tc.want, tc.wantSource)
			}
		})
	}
}
