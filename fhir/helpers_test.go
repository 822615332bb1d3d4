package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const (
	testPatient = "pat-7781"
	testToken   = "tok-SECRET-4242"
)

// recorder is an httptest FHIR server whose answers the test chooses per
// resource type; it records every request it sees.
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []seen
	// answer returns the handler for a resource type; nil means an empty searchset.
	answer func(typ string) http.HandlerFunc
}

type seen struct {
	Path, Query, Auth string
}

func newRecorder(t testing.TB, answer func(typ string) http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, seen{Path: req.URL.Path, Query: req.URL.RawQuery, Auth: req.Header.Get("Authorization")})
	r.mu.Unlock()
	typ := strings.TrimPrefix(req.URL.Path, "/fhir/")
	if i := strings.Index(typ, "/"); i >= 0 {
		typ = typ[:i]
	}
	var h http.HandlerFunc
	if r.answer != nil {
		h = r.answer(typ)
	}
	if h == nil {
		h = bundleHandler(typ)
	}
	h(w, req)
}

func (r *recorder) seen() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.requests...)
}

func (r *recorder) base() string { return r.URL + "/fhir" }

// bundleHandler answers with a searchset of the given resources (or, for a
// read of Patient, the Patient itself).
func bundleHandler(typ string, resources ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		if typ == "Patient" && !strings.Contains(req.URL.RawQuery, "=") {
			fmt.Fprintf(w, `{"resourceType":"Patient","id":%q,"gender":"female"}`, testPatient)
			return
		}
		_, _ = w.Write([]byte(searchset(resources...)))
	}
}

// searchset builds a searchset Bundle JSON from resource JSON strings.
func searchset(resources ...string) string { return bundleOf("searchset", "", resources...) }

func bundleOf(typ, next string, resources ...string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"resourceType":"Bundle","type":%q`, typ)
	if next != "" {
		fmt.Fprintf(&b, `,"link":[{"relation":"self","url":"x"},{"relation":"next","url":%q}]`, next)
	}
	b.WriteString(`,"entry":[`)
	for i, r := range resources {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"fullUrl":"urn:x:%d","resource":%s,"search":{"mode":"match"}}`, i, r)
	}
	b.WriteString(`]}`)
	return b.String()
}

func condition(id, subject string) string {
	return fmt.Sprintf(`{"resourceType":"Condition","id":%q,"subject":{"reference":%q},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"M54.50"}]}}`, id, subject)
}

// allNull is a prefetch in which every search says "no data", so a test can
// vary one key and know the rest will never be queried.
func allNull() map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for _, s := range Searches {
		m[string(s.Key)] = json.RawMessage("null")
	}
	return m
}

// logSink captures logs so tests can assert that no PHI or token leaks.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func newTestLoader(cfg LoaderConfig) (*Loader, *logSink) {
	sink := &logSink{}
	logger := slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return NewLoader(cfg, logger), sink
}

// assertNoSecrets fails when logs carry the patient id or the token.
func assertNoSecrets(t *testing.T, logs string) {
	t.Helper()
	for _, s := range []string{testPatient, testToken} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain %q:\n%s", s, logs)
		}
	}
}

func ids[T any](items []T, id func(T) *string) []string {
	out := []string{}
	for _, it := range items {
		if p := id(it); p != nil {
			out = append(out, *p)
		} else {
			out = append(out, "")
		}
	}
	return out
}
