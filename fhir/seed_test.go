package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// txServer accepts transactions and keeps the PUTs it saw, in order.
type txServer struct {
	*httptest.Server
	mu   sync.Mutex
	puts [][]string // per transaction: "Type/id"
	body map[string]json.RawMessage
	fail bool
}

func newTxServer(t *testing.T) *txServer {
	s := &txServer{body: map[string]json.RawMessage{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Type  string `json:"type"`
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
				Request  struct{ Method, URL string }
			} `json:"entry"`
		}
		raw, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/fhir" || json.Unmarshal(raw, &b) != nil || b.Type != "transaction" {
			http.Error(w, "want a transaction", 400)
			return
		}
		s.mu.Lock()
		var urls, statuses []string
		for _, e := range b.Entry {
			urls = append(urls, e.Request.Method+" "+e.Request.URL)
			s.body[e.Request.URL] = e.Resource
			st := `"200 OK"`
			if s.fail {
				st = `"422 Unprocessable Entity"`
			}
			statuses = append(statuses, `{"response":{"status":`+st+`}}`)
		}
		s.puts = append(s.puts, urls)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprintf(w, `{"resourceType":"Bundle","type":"transaction-response","entry":[%s]}`, strings.Join(statuses, ","))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestSeed(t *testing.T) {
	hookRequest := `{"hook":"order-sign","hookInstance":"x","context":{"patientId":"p1",
	  "draftOrders":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ServiceRequest","id":"draft-1"}}]}},
	  "prefetch":{
	    "patient":{"resourceType":"Patient","id":"p1"},
	    "conditions":{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"}}}]},
	    "observations":null,
	    "procedures":{"resourceType":"OperationOutcome","issue":[]}
	  }}`
	bundle := `{"resourceType":"Bundle","type":"transaction","entry":[
	  {"fullUrl":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
	  {"fullUrl":"urn:x","resource":{"resourceType":"Condition","subject":{"reference":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}},"request":{"method":"POST","url":"Condition"}},
	  {"resource":{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},"note":[{"text":"second copy wins"}]}}
	]}`
	srv := newTxServer(t)
	c, err := NewLoader(LoaderConfig{}, nil).Client(srv.URL+"/fhir", "")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Seed(context.Background(), c, json.RawMessage(hookRequest), json.RawMessage(bundle))
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Resources: map[string]int{"Patient": 2, "Condition": 2}, Total: 4, Transactions: 1}
	if diff := cmp.Diff(sum, want); diff != "" {
		t.Errorf("Summary (-got +want):\n%s", diff)
	}
	if len(srv.puts) != 1 {
		t.Fatalf("transactions = %d", len(srv.puts))
	}
	got := srv.puts[0]
	hashID := strings.TrimPrefix(got[3], "PUT Condition/")
	wantPuts := []string{"PUT Patient/p1", "PUT Patient/0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "PUT Condition/c1", "PUT Condition/" + hashID}
	if diff := cmp.Diff(got, wantPuts); diff != "" || !strings.HasPrefix(hashID, "seed-") {
		t.Errorf("PUTs (-got +want):\n%s", diff)
	}
	if !strings.Contains(string(srv.body["Condition/"+hashID]), `"reference":"Patient/0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"`) {
		t.Errorf("urn:uuid reference not rewritten: %s", srv.body["Condition/"+hashID])
	}
	if !strings.Contains(string(srv.body["Condition/c1"]), "second copy wins") {
		t.Errorf("later copy did not win: %s", srv.body["Condition/c1"])
	}
	for _, p := range got {
		if strings.Contains(p, "draft") {
			t.Errorf("a draft order was seeded: %s", p)
		}
	}

	// Same input, same ids: seeding again writes the same PUTs.
	if _, err := Seed(context.Background(), c, json.RawMessage(hookRequest), json.RawMessage(bundle)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(srv.puts[1], srv.puts[0]); diff != "" {
		t.Errorf("second seed differs:\n%s", diff)
	}
}

func TestSeedChunksAndFailures(t *testing.T) {
	var rs []string
	for i := range 120 {
		rs = append(rs, fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","code":{"text":"x"}}`, i))
	}
	rs = append(rs, `{"resourceType":"Patient","id":"p"}`)
	dir := t.TempDir()
	file := filepath.Join(dir, "b.json")
	if err := os.WriteFile(file, []byte(bundleOf("collection", "", rs...)), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := newTxServer(t)
	c, _ := NewLoader(LoaderConfig{}, nil).Client(srv.URL+"/fhir", "")
	sum, err := SeedFiles(context.Background(), c, file)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Transactions != 3 || sum.Total != 121 || len(srv.puts[0]) != 50 || srv.puts[0][0] != "PUT Patient/p" {
		t.Errorf("summary %+v, first transaction starts %v with %d entries", sum, srv.puts[0][0], len(srv.puts[0]))
	}

	srv.fail = true
	if _, err := SeedFiles(context.Background(), c, file); !errors.Is(err, ErrBadResponse) {
		t.Errorf("failed entries: err = %v, want ErrBadResponse", err)
	}
	for _, bad := range []string{`[]`, `{"foo":1}`} {
		if _, err := Seed(context.Background(), c, json.RawMessage(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Seed(%s) err = %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := SeedFiles(context.Background(), c, filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
}

// refusal is an OperationOutcome a server answers a refused transaction
// with: diagnostics over several lines with an escape sequence, and a
// details text.
const refusal = `{"resourceType":"OperationOutcome","issue":[
  {"severity":"error","code":"processing","diagnostics":"Bundle.entry[3].resource: Unknown resource type\n'Widget'\u001b[2J","details":{"text":"Invalid resource"}},
  {"severity":"error","code":"processing","details":{"text":"Invalid resource"}}]}`

// TestSeedShowsServerReason: a refused seed transaction keeps the server's
// OperationOutcome text for the operator (one line, bounded), out of the
// error's own message; a search on the service path never keeps it.
func TestSeedShowsServerReason(t *testing.T) {
	long := `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"` + strings.Repeat("x", 2000) + `"}]}`
	tests := []struct {
		name, status, body string
		code               int
		want               string
	}{
		{"400 OperationOutcome", "", refusal, 400, "Bundle.entry[3].resource: Unknown resource type 'Widget' [2J; Invalid resource"},
		{"422 without content type", "", refusal, 422, "Bundle.entry[3].resource: Unknown resource type 'Widget' [2J; Invalid resource"},
		{"long diagnostics", "", long, 400, strings.Repeat("x", maxOutcomeRunes-1) + "…"},
		{"entry outcome", `"422 Unprocessable Entity","outcome":` + refusal, "", 200, "Bundle.entry[3].resource: Unknown resource type 'Widget' [2J; Invalid resource"},
		{"400 not an OperationOutcome", "", `{"error":"no"}`, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tc.name == "422 without content type" {
					w.Header()["Content-Type"] = nil
				} else {
					w.Header().Set("Content-Type", "application/fhir+json")
				}
				w.WriteHeader(tc.code)
				if tc.status != "" {
					fmt.Fprintf(w, `{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":%s}}]}`, tc.status)
					return
				}
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := NewLoader(LoaderConfig{}, nil).Client(srv.URL+"/fhir", "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = Seed(context.Background(), c, json.RawMessage(`{"resourceType":"Patient","id":"p1"}`))
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("err = %v, want ErrBadResponse", err)
			}
			if got := OutcomeText(err); got != tc.want {
				t.Errorf("OutcomeText:\ngot  %q\nwant %q", got, tc.want)
			}
			if strings.Contains(err.Error(), "Widget") {
				t.Errorf("the server's text is in the error's own message: %v", err)
			}
		})
	}
}

// TestSearchKeepsNoServerText: on the service path a refusal's
// OperationOutcome text is neither kept nor logged: it may hold patient data.
func TestSearchKeepsNoServerText(t *testing.T) {
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		if typ != "Condition" {
			return nil
		}
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/fhir+json")
			w.WriteHeader(400)
			_, _ = io.WriteString(w, refusal)
		}
	})
	_, logs := loadConditionsFrom(t, LoaderConfig{}, srv.base(), testToken)
	if !strings.Contains(logs, "status 400") || strings.Contains(logs, "Widget") || strings.Contains(logs, "Invalid resource") {
		t.Errorf("service log of a refused search:\n%s", logs)
	}
	c, err := NewLoader(LoaderConfig{}, nil).Client(srv.base(), "")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.base()+"/Condition?patient=p1", nil)
	if _, _, err := c.do(req, "conditions"); err == nil || OutcomeText(err) != "" {
		t.Errorf("search refusal: err = %v, text %q, want an error without the server's text", err, OutcomeText(err))
	}
}

// TestSeedRefusesInvalidR4: a document holding entries the service cannot
// read as FHIR R4 is refused whole, naming them, before anything is sent. A
// server that stores whatever it is given (the node test server) otherwise
// keeps an Observation whose subject reference is a number and then fails
// every patient's Observation search.
func TestSeedRefusesInvalidR4(t *testing.T) {
	srv := newTxServer(t)
	c, _ := NewLoader(LoaderConfig{}, nil).Client(srv.URL+"/fhir", "")
	tests := []struct {
		name, entry, want string
	}{
		{"reference of the wrong JSON type", `{"resourceType":"Observation","id":"o3","status":"final","code":{"text":"x"},"subject":{"reference":5}}`,
			"Observation/o3 (a member has the wrong JSON type)"},
		{"unknown status code", `{"resourceType":"Observation","id":"o2","status":"weird-status","code":{"text":"x"},"subject":{"reference":"Patient/p"}}`,
			"Observation/o2 (not valid FHIR R4: "},
		{"not an R4 type", `{"resourceType":"FooBar","id":"f1","subject":{"reference":"Patient/p"}}`,
			"FooBar/f1 (the resource type is not a FHIR R4 type)"},
		{"Medication with a code of the wrong JSON type", `{"resourceType":"Medication","id":"m1","code":"naproxen"}`,
			"Medication/m1 (not valid FHIR R4: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := bundleOf("collection", "", `{"resourceType":"Patient","id":"p"}`, tt.entry)
			_, err := Seed(context.Background(), c, json.RawMessage(doc))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Seed: %v, want ErrMalformed naming %q", err, tt.want)
			}
			if len(srv.puts) != 0 {
				t.Errorf("sent %v, want nothing", srv.puts)
			}
		})
	}
	// Valid resources of types the service does not read are sent as they
	// are, also where a member the service peeks at is not a reference.
	doc := bundleOf("collection", "", `{"resourceType":"Patient","id":"p"}`, `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p"}}`,
		`{"resourceType":"Contract","id":"k1","subject":[{"reference":"Patient/p"}]}`)
	if _, err := Seed(context.Background(), c, json.RawMessage(doc)); err != nil {
		t.Errorf("Seed of valid resources: %v", err)
	}
}
