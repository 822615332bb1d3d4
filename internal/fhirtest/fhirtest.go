// Package fhirtest starts a real, in-memory FHIR R4 server for integration
// tests: the node program in node/ (Medplum's FHIR router and memory store,
// plus the search features EHR servers have). Run `npm ci` in
// internal/fhirtest/node once; tests that need the server fail without it
// unless LUMBAR_MRI_CDS_SKIP_NODE=1 is set, which skips them instead.
package fhirtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SkipEnv, set to 1, turns "node or its packages are missing" from a test
// failure into a skip.
const SkipEnv = "LUMBAR_MRI_CDS_SKIP_NODE"

// startTimeout covers loading the R4 definitions (about 0.6 s on a quiet
// machine; much more under -race with parallel packages).
const startTimeout = 30 * time.Second

// Server is a running FHIR test server.
type Server struct {
	// URL is the FHIR base, such as http://127.0.0.1:PORT/fhir.
	URL string

	t      testing.TB
	client *http.Client
}

// Start runs the node FHIR server on a free loopback port and stops it when
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	dir, node := nodeTool(t, filepath.Join("@medplum", "fhir-router", "package.json"))

	cmd := exec.Command(node, "server.js", "--port", "0", "--watch-stdin")
	cmd.Dir = dir
	// The server exits when this pipe closes, so it cannot outlive the test
	// binary even when the binary is killed.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("fhirtest: %v", err)
	}
	// An os.Pipe of our own, not StdoutPipe: Wait (in its own goroutine)
	// would close StdoutPipe's reader under the goroutine draining it.
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatalf("fhirtest: %v", err)
	}
	cmd.Stdout = stdoutW
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	err = cmd.Start()
	_ = stdoutW.Close() // the child holds its own copy
	if err != nil {
		_ = stdout.Close()
		t.Fatalf("fhirtest: starting node: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { stop(cmd, stdin, exited) })

	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		// Keep draining so the server never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, stdout)
		_ = stdout.Close()
	}()
	var line string
	select {
	case l, ok := <-first:
		if !ok {
			<-exited
			t.Fatalf("fhirtest: the server exited before it listened; stderr:\n%s", stderr)
		}
		line = l
	case <-time.After(startTimeout):
		t.Fatalf("fhirtest: no address from the server within %v; stderr:\n%s", startTimeout, stderr)
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || !strings.HasPrefix(fields[len(fields)-1], "http://") {
		t.Fatalf("fhirtest: unexpected first line %q", line)
	}
	return &Server{
		URL:    fields[len(fields)-1],
		t:      t,
		client: &http.Client{Timeout: 30 * time.Second},
	}
}

// missing fails (or, when SkipEnv=1, skips) the test for a missing prerequisite.
func missing(t testing.TB, why string) {
	t.Helper()
	msg := "fhirtest: " + why + ": run `npm ci` in internal/fhirtest/node (node >= 20.19)"
	if os.Getenv(SkipEnv) == "1" {
		t.Skip(msg + " (skipped: " + SkipEnv + "=1)")
	}
	t.Fatalf("%s, or set %s=1 to skip tests that need it", msg, SkipEnv)
}

// nodeDir finds internal/fhirtest/node: beside this file when the source is
// where it was compiled, else from the module root above the working directory.
func nodeDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Join(filepath.Dir(file), "node")
		if fileExists(filepath.Join(d, "server.js")) {
			return d, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if fileExists(filepath.Join(d, "go.mod")) {
			n := filepath.Join(d, "internal", "fhirtest", "node")
			if fileExists(filepath.Join(n, "server.js")) {
				return n, nil
			}
			return "", errors.New("internal/fhirtest/node/server.js not found under the module root")
		}
		if filepath.Dir(d) == d {
			return "", errors.New("module root (go.mod) not found")
		}
	}
}

// nodeTool returns the folder of the node scripts and the node executable,
// after checking that the package file pkg (below node_modules) is
// installed; what is missing fails the test (or skips it, see missing).
func nodeTool(t testing.TB, pkg string) (dir, node string) {
	t.Helper()
	dir, err := nodeDir()
	if err != nil {
		missing(t, err.Error())
	}
	node, err = exec.LookPath("node")
	if err != nil {
		missing(t, "node is not on PATH")
	}
	if !fileExists(filepath.Join(dir, "node_modules", pkg)) {
		missing(t, "the FHIR test server's node packages are not installed (run npm ci in internal/fhirtest/node)")
	}
	return dir, node
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// stop asks the server to exit, then kills it if it does not.
func stop(cmd *exec.Cmd, stdin io.Closer, exited <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = stdin.Close()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Reset empties the server's store.
func (s *Server) Reset() {
	s.t.Helper()
	if _, err := s.post(context.Background(), s.URL+"/$reset", nil); err != nil {
		s.t.Fatalf("fhirtest: reset: %v", err)
	}
}

// Load posts a transaction or batch Bundle to the server and fails the test
// unless every entry succeeded. It returns the response Bundle.
func (s *Server) Load(bundle []byte) json.RawMessage {
	s.t.Helper()
	body, err := s.post(context.Background(), s.URL, bundle)
	if err != nil {
		s.t.Fatalf("fhirtest: load: %v", err)
	}
	var resp struct {
		Entry []struct {
			Response struct {
				Status string `json:"status"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		s.t.Fatalf("fhirtest: load: response is not JSON: %v", err)
	}
	for i, e := range resp.Entry {
		if !strings.HasPrefix(e.Response.Status, "2") {
			s.t.Fatalf("fhirtest: load: entry %d: status %q", i, e.Response.Status)
		}
	}
	return body
}

func (s *Server) post(ctx context.Context, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(out))
	}
	return out, nil
}

// lockedBuffer collects the server's stderr for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
