// Package pgtest starts a throw-away PostgreSQL cluster for tests: initdb in
// a temporary directory, a server listening on a unix socket in that
// directory only (no TCP port), trust authentication, stopped and removed by
// Stop. It uses Debian's server binaries (/usr/lib/postgresql/*/bin, package
// postgresql) or initdb and pg_ctl on PATH.
//
// initdb refuses to run as root, so when the tests run as root (as in CI)
// the server programs run as the postgres system user through runuser.
//
// Tests that need PostgreSQL fail when it is missing, unless the run opts out
// with LUMBAR_MRI_CDS_SKIP_POSTGRES=1 (SkipEnv).
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// SkipEnv names the environment variable that, set to 1, makes tests that
// need PostgreSQL skip instead of fail (for a developer without it; CI never
// sets it).
const SkipEnv = "LUMBAR_MRI_CDS_SKIP_POSTGRES"

// Cluster is a running throw-away PostgreSQL cluster.
type Cluster struct {
	dir    string // temporary directory: data/, the socket, the log
	bin    string // folder of initdb, pg_ctl, postgres
	runAs  string // "postgres" when running as root, else ""
	nextDB atomic.Int64
}

// Start creates and starts a cluster. The caller must call Stop.
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		c.runAs = "postgres"
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: running as root needs the postgres system user (Debian package postgresql): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	// -N: no fsync of the new cluster's files (thrown away anyway); the
	// server itself runs with fsync and synchronous_commit on, as in
	// production, so commit figures are real.
	if err := c.run(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "-N"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c max_connections=200 -c fsync=on -c synchronous_commit=on", dir)
	if err := c.run(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// findBin finds the folder of the PostgreSQL server programs: the newest
// Debian version, else PATH.
func findBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("pgtest: PostgreSQL server programs not found (install Debian's postgresql, or set %s=1 to skip these tests)", SkipEnv)
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

func (c *Cluster) run(ctx context.Context, prog string, args ...string) error {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: %s: %w\n%s", prog, err, out.String())
	}
	return nil
}

// URL returns the connection URL of database name on the cluster.
func (c *Cluster) URL(name string) string {
	q := url.Values{"host": {c.dir}, "sslmode": {"disable"}}
	return "postgres://postgres@/" + url.PathEscape(name) + "?" + q.Encode()
}

// NewDatabase creates an empty database and returns its URL.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d", c.nextDB.Add(1))
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.URL(name), nil
}

// PostmasterPID returns the process id of the server's main process.
func (c *Cluster) PostmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// Stop stops the server (fast shutdown) and removes its directory.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := c.run(ctx, "pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "fast", "-w", "stop")
	return errors.Join(err, os.RemoveAll(c.dir))
}

// Shared is one cluster for a whole test binary, started by the first test
// that asks for it (Get) and stopped by TestMain (Stop). The zero value is
// ready to use.
type Shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

// Get returns the running cluster, starting it on first use. It skips the
// test when SkipEnv is 1 and fails it when the cluster cannot start.
func (s *Shared) Get(t testing.TB) *Cluster {
	t.Helper()
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("%s=1: PostgreSQL tests skipped", SkipEnv)
	}
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.cluster, s.err = Start(ctx)
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.cluster
}

// NewDatabase returns the URL of a new empty database on the shared cluster.
func (s *Shared) NewDatabase(t testing.TB) string {
	t.Helper()
	u, err := s.Get(t).NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Stop stops the cluster if it was started.
func (s *Shared) Stop() error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.Stop()
}
