package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// loadConditionsFrom runs a Load in which only the conditions search goes to
// the server; every other key is a prefetch null.
func loadConditionsFrom(t *testing.T, cfg LoaderConfig, base, token string) (*Record, string) {
	t.Helper()
	l, logs := newTestLoader(cfg)
	pf := allNull()
	delete(pf, string(SearchConditions))
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf, FHIRServer: base, AccessToken: token})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return rec, logs.String()
}

// TestClientFaults: each broken answer fails the conditions search (and
// only it), never the Load, and leaks neither the patient id nor the token.
func TestClientFaults(t *testing.T) {
	page := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(body))
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		reason  string // in the log line
	}{
		{"500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) }, "status 500"},
		{"503 OperationOutcome", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/fhir+json")
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[]}`))
		}, "status 503"},
		{"401", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", 401) }, "status 401"},
		{"403", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", 403) }, "status 403"},
		{"404 search", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", 404) }, "status 404"},
		{"400", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "bad param", 400) }, "status 400"},
		{"OperationOutcome 200", func(w http.ResponseWriter, _ *http.Request) {
			page(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}`)
		}, "OperationOutcome"},
		{"HTML", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<html><body>Login</body></html>`))
		}, "content type text/html"},
		{"HTML without content type", func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Content-Type"] = nil
			_, _ = w.Write([]byte(`<html><body>Login</body></html>`))
		}, "not a JSON object"},
		{"truncated JSON", func(w http.ResponseWriter, _ *http.Request) {
			full := searchset(condition("c1", "Patient/"+testPatient))
			page(w, full[:len(full)-7])
		}, "invalid JSON"},
		{"JSON null", func(w http.ResponseWriter, _ *http.Request) { page(w, `null`) }, "not a JSON object"},
		{"not FHIR", func(w http.ResponseWriter, _ *http.Request) { page(w, `{"hello":"world"}`) }, "no resourceType"},
		{"history Bundle", func(w http.ResponseWriter, _ *http.Request) {
			page(w, bundleOf("history", "", condition("c1", "Patient/"+testPatient)))
		}, "Bundle of type history"},
		{"next loop", func(w http.ResponseWriter, r *http.Request) {
			// page 1 -> page 2 -> page 1
			next := "/fhir/Condition?patient=" + testPatient + "&_offset=1"
			if r.URL.Query().Get("_offset") == "1" {
				next = "/fhir/Condition?patient=" + testPatient
			}
			page(w, bundleOf("searchset", next, condition("c"+r.URL.Query().Get("_offset"), "Patient/"+testPatient)))
		}, "repeats an earlier page"},
		{"endless pages", func(w http.ResponseWriter, r *http.Request) {
			n := len(r.URL.Query().Get("_page"))
			page(w, bundleOf("searchset", fmt.Sprintf("/fhir/Condition?_page=%s", strings.Repeat("x", n+1)), condition(fmt.Sprint("c", n), "Patient/"+testPatient)))
		}, "more than 10 pages"},
		{"too many resources", func(w http.ResponseWriter, _ *http.Request) {
			var rs []string
			for i := range 2001 {
				rs = append(rs, condition(fmt.Sprint("c", i), "Patient/"+testPatient))
			}
			page(w, searchset(rs...))
		}, "more than 2000 resources"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRecorder(t, func(typ string) http.HandlerFunc {
				if typ == "Condition" {
					return tc.handler
				}
				return nil
			})
			rec, logs := loadConditionsFrom(t, LoaderConfig{}, srv.base(), testToken)
			if !slices.Equal(rec.Unavailable, []Search{SearchConditions}) {
				t.Errorf("Unavailable = %v, want [conditions]", rec.Unavailable)
			}
			if len(rec.Conditions) != 0 {
				t.Errorf("%d conditions kept from a failed search", len(rec.Conditions))
			}
			if !strings.Contains(logs, tc.reason) || !strings.Contains(logs, "type=Condition") {
				t.Errorf("log does not say %q for type Condition:\n%s", tc.reason, logs)
			}
			assertNoSecrets(t, logs)
		})
	}
}

func TestClientPaging(t *testing.T) {
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		if typ != "Condition" {
			return nil
		}
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/fhir+json")
			switch r.URL.Query().Get("_offset") {
			case "":
				// An absolute next link on the same origin.
				_, _ = w.Write([]byte(bundleOf("searchset", "http://"+r.Host+"/fhir/Condition?patient="+testPatient+"&_offset=2",
					condition("c1", "Patient/"+testPatient), condition("c2", "Patient/"+testPatient))))
			case "2":
				// A relative one, and a duplicate entry that must not double.
				_, _ = w.Write([]byte(bundleOf("searchset", "Condition?patient="+testPatient+"&_offset=4",
					condition("c2", "Patient/"+testPatient), condition("c3", "Patient/"+testPatient))))
			default:
				_, _ = w.Write([]byte(searchset(condition("c4", "Patient/"+testPatient))))
			}
		}
	})
	rec, _ := loadConditionsFrom(t, LoaderConfig{}, srv.base(), testToken)
	if got := conditionIDs(rec); !slices.Equal(got, []string{"c1", "c2", "c3", "c4"}) {
		t.Errorf("conditions = %v", got)
	}
	if rec.Queries != 3 {
		t.Errorf("Queries = %d, want 3", rec.Queries)
	}
	for _, s := range srv.seen() {
		if s.Auth != "Bearer "+testToken {
			t.Errorf("same-origin page without the token")
		}
	}
}

func TestClientSlowServerDeadline(t *testing.T) {
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		if typ != "Condition" {
			return nil
		}
		return func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}
	})
	const timeout = 300 * time.Millisecond
	start := time.Now()
	rec, logs := loadConditionsFrom(t, LoaderConfig{Timeout: timeout}, srv.base(), testToken)
	elapsed := time.Since(start)
	t.Logf("slow server: Load returned after %v (Timeout %v)", elapsed, timeout)
	if elapsed > timeout+250*time.Millisecond {
		t.Errorf("Load took %v, want at most Timeout %v plus a small margin", elapsed, timeout)
	}
	if !slices.Equal(rec.Unavailable, []Search{SearchConditions}) {
		t.Errorf("Unavailable = %v", rec.Unavailable)
	}
	if !strings.Contains(logs, "deadline exceeded") {
		t.Errorf("log does not name the deadline:\n%s", logs)
	}
}

// TestClientBodyCap streams 50 MB; the client must stop reading at the cap
// and the process must not allocate anything like the body's size.
func TestClientBodyCap(t *testing.T) {
	const bodySize = 50 << 20
	chunk := []byte(strings.Repeat(" ", 64<<10))
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		if typ != "Condition" {
			return nil
		}
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/fhir+json")
			_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[`))
			for sent := 0; sent < bodySize; sent += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return // the client hung up: what we want
				}
			}
			_, _ = w.Write([]byte(`]}`))
		}
	})
	const capBytes = 1 << 20
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rec, logs := loadConditionsFrom(t, LoaderConfig{MaxBodyBytes: capBytes}, srv.base(), "")
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("50 MB body with a 1 MiB cap: %.1f MiB allocated during Load", float64(alloc)/(1<<20))
	if alloc > 16<<20 {
		t.Errorf("allocated %d bytes for a capped 50 MB body", alloc)
	}
	if !slices.Equal(rec.Unavailable, []Search{SearchConditions}) {
		t.Errorf("Unavailable = %v", rec.Unavailable)
	}
	if !strings.Contains(logs, "body over 1048576 bytes") {
		t.Errorf("log does not say the body was over the cap:\n%s", logs)
	}
}

// TestClientTokenStaysOnOrigin: a next link or a redirect to another host or
// port is not followed, so the other server never sees the token.
func TestClientTokenStaysOnOrigin(t *testing.T) {
	other := newRecorder(t, nil)
	tests := []struct {
		name    string
		handler func(otherURL string) http.HandlerFunc
	}{
		{"next link to another port", func(o string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/fhir+json")
				_, _ = w.Write([]byte(bundleOf("searchset", o+"/fhir/Condition?page=2", condition("c1", "Patient/"+testPatient))))
			}
		}},
		{"next link to another host name", func(o string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/fhir+json")
				// localhost is the same machine but not the same origin as 127.0.0.1.
				_, _ = w.Write([]byte(bundleOf("searchset", strings.Replace(o, "127.0.0.1", "localhost", 1)+"/fhir/Condition?page=2", condition("c1", "Patient/"+testPatient))))
			}
		}},
		{"next link to another scheme", func(o string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/fhir+json")
				_, _ = w.Write([]byte(bundleOf("searchset", "https://"+r.Host+"/fhir/Condition?page=2", condition("c1", "Patient/"+testPatient))))
			}
		}},
		{"redirect to another port", func(o string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, o+"/fhir/Condition?"+r.URL.RawQuery, http.StatusFound)
			}
		}},
		{"307 redirect to another port", func(o string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, o+"/fhir/Condition?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(other.seen())
			srv := newRecorder(t, func(typ string) http.HandlerFunc {
				if typ == "Condition" {
					return tc.handler(other.URL)
				}
				return nil
			})
			rec, logs := loadConditionsFrom(t, LoaderConfig{}, srv.base(), testToken)
			for _, s := range other.seen()[before:] {
				if s.Auth != "" {
					t.Errorf("the other origin received Authorization %q", s.Auth)
				}
			}
			if n := len(other.seen()) - before; n != 0 {
				t.Errorf("the other origin received %d requests, want none", n)
			}
			if !slices.Equal(rec.Unavailable, []Search{SearchConditions}) {
				t.Errorf("Unavailable = %v", rec.Unavailable)
			}
			if !strings.Contains(logs, "another origin refused") {
				t.Errorf("log does not name the refused origin:\n%s", logs)
			}
			assertNoSecrets(t, logs)
		})
	}
}

func TestClientSameOriginRedirectKeepsWorking(t *testing.T) {
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		switch typ {
		case "Condition":
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/fhir/Moved?"+r.URL.RawQuery, http.StatusFound)
			}
		case "Moved":
			return bundleHandler("Condition", condition("c1", "Patient/"+testPatient))
		}
		return nil
	})
	rec, _ := loadConditionsFrom(t, LoaderConfig{}, srv.base(), testToken)
	if got := conditionIDs(rec); !slices.Equal(got, []string{"c1"}) {
		t.Errorf("conditions = %v", got)
	}
}

func TestClientNoTokenNoAuthorization(t *testing.T) {
	for _, token := range []string{"", testToken} {
		srv := newRecorder(t, nil)
		rec, _ := loadConditionsFrom(t, LoaderConfig{}, srv.base(), token)
		if !rec.Complete() {
			t.Fatalf("Unavailable = %v", rec.Unavailable)
		}
		want := ""
		if token != "" {
			want = "Bearer " + token
		}
		reqs := srv.seen()
		if len(reqs) != 1 {
			t.Fatalf("%d requests, want 1", len(reqs))
		}
		if reqs[0].Auth != want {
			t.Errorf("token %q: Authorization %q, want %q", token, reqs[0].Auth, want)
		}
	}
}

// TestPrefetchNextLink: a prefetch searchset's next link is followed (with the
// token) only on the fhirServer origin; elsewhere the search goes to fhirServer.
func TestPrefetchNextLink(t *testing.T) {
	other := newRecorder(t, nil)
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		if typ == "Condition" {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/fhir+json")
				if r.URL.Query().Get("page") == "2" {
					_, _ = w.Write([]byte(searchset(condition("page2", "Patient/"+testPatient))))
					return
				}
				_, _ = w.Write([]byte(searchset(condition("requeried", "Patient/"+testPatient))))
			}
		}
		return nil
	})
	tests := []struct {
		name       string
		next       string
		server     bool
		wantIDs    []string
		wantUnavl  bool
		wantOnSrv  int
		wantOnElse int
	}{
		{name: "same origin", next: srv.URL + "/fhir/Condition?page=2", server: true, wantIDs: []string{"page1", "page2"}, wantOnSrv: 1},
		{name: "foreign origin, server given", next: other.URL + "/fhir/Condition?page=2", server: true, wantIDs: []string{"requeried"}, wantOnSrv: 1},
		{name: "no server", next: srv.URL + "/fhir/Condition?page=2", wantIDs: []string{"page1"}, wantUnavl: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nSrv, nOther := len(srv.seen()), len(other.seen())
			pf := allNull()
			pf["conditions"] = json.RawMessage(bundleOf("searchset", tc.next, condition("page1", "Patient/"+testPatient)))
			in := LoadInput{PatientID: testPatient, Prefetch: pf, AccessToken: testToken}
			if tc.server {
				in.FHIRServer = srv.base()
			}
			l, _ := newTestLoader(LoaderConfig{})
			rec, err := l.Load(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if got := conditionIDs(rec); !slices.Equal(got, tc.wantIDs) {
				t.Errorf("conditions = %v, want %v", got, tc.wantIDs)
			}
			if got := slices.Contains(rec.Unavailable, SearchConditions); got != tc.wantUnavl {
				t.Errorf("conditions unavailable = %t, want %t", got, tc.wantUnavl)
			}
			if got := len(srv.seen()) - nSrv; got != tc.wantOnSrv {
				t.Errorf("fhirServer got %d requests, want %d", got, tc.wantOnSrv)
			}
			if got := len(other.seen()) - nOther; got != tc.wantOnElse {
				t.Errorf("foreign origin got %d requests, want %d", got, tc.wantOnElse)
			}
		})
	}
}

func TestClientRejectsBadBase(t *testing.T) {
	l := NewLoader(LoaderConfig{AllowedHosts: []string{"fhir.example.org:8443"}}, nil)
	for _, base := range []string{"ftp://fhir.example.org:8443/fhir", "https://user:pw@fhir.example.org:8443/fhir", "https://fhir.example.org/fhir", "https://evil.example.org:8443/fhir", "::", "https://fhir.example.org:8443/fhir?x=1"} {
		if _, err := l.Client(base, ""); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("Client(%q) err = %v, want ErrNotAllowed", base, err)
		}
	}
	if _, err := l.Client("https://FHIR.example.org:8443/fhir/", ""); err != nil {
		t.Errorf("allowed base refused: %v", err)
	}
}

// TestMaxConcurrent: no more than MaxConcurrent requests are in flight,
// across Loads sharing the Loader.
func TestMaxConcurrent(t *testing.T) {
	inFlight, peak := make(chan struct{}, 100), 0
	var peakCh = make(chan int, 1)
	peakCh <- 0
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			inFlight <- struct{}{}
			p := <-peakCh
			peakCh <- max(p, len(inFlight))
			time.Sleep(20 * time.Millisecond)
			<-inFlight
			bundleHandler(typ)(w, r)
		}
	})
	l, _ := newTestLoader(LoaderConfig{MaxConcurrent: 3, SlotWait: 10 * time.Second})
	done := make(chan error)
	for range 3 {
		go func() {
			_, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, FHIRServer: srv.base()})
			done <- err
		}()
	}
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	peak = <-peakCh
	if peak > 3 || peak < 2 {
		t.Errorf("peak in-flight requests = %d, want 2..3 with MaxConcurrent 3", peak)
	}
}

// TestClientEncodesSearchValues: a server that enforces RFC 3986 section 3.4
// in the request target (Tomcat 8.5+ answers 400 to a raw "|") still answers
// every search, and the parameters it decodes are those of the templates.
func TestClientEncodesSearchValues(t *testing.T) {
	var mu sync.Mutex
	decoded := map[string]url.Values{}
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if strings.ContainsAny(r.RequestURI, "|{}[]^<>\\\" ") {
				http.Error(w, "Invalid character found in the request target", http.StatusBadRequest)
				return
			}
			mu.Lock()
			decoded[typ] = r.URL.Query()
			mu.Unlock()
			bundleHandler(typ)(w, r)
		}
	})
	l, _ := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, FHIRServer: srv.base(), AccessToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Unavailable) != 0 {
		t.Errorf("Unavailable = %v, want none (a strict server refused a raw query)", rec.Unavailable)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := decoded["Observation"].Get("code"), "http://loinc.org|8310-5,urn:oid:2.16.840.1.113883.6.1|8310-5"; got != want {
		t.Errorf("Observation code = %q, want %q", got, want)
	}
	if got := decoded["Observation"].Get("patient"); got != testPatient {
		t.Errorf("Observation patient = %q, want %q", got, testPatient)
	}
	if got, want := decoded["MedicationRequest"].Get("_include"), "MedicationRequest:medication"; got != want {
		t.Errorf("MedicationRequest _include = %q, want %q", got, want)
	}
}

func TestEncodeQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"patient=p1&code=http://loinc.org|8310-5", "patient=p1&code=http%3A%2F%2Floinc.org%7C8310-5"},
		{"code=http%3A%2F%2Floinc.org%7C8310-5", "code=http%3A%2F%2Floinc.org%7C8310-5"}, // already encoded: not doubled
		{"_id=a,b&_count=200", "_id=a%2Cb&_count=200"},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := encodeQuery(tc.in)
		if err != nil {
			t.Fatalf("encodeQuery(%q): %v", tc.in, err)
		}
		if got != tc.want {
			t.Errorf("encodeQuery(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if _, err := encodeQuery("code=%zz"); err == nil {
		t.Errorf("encodeQuery accepted a broken escape")
	}
}
