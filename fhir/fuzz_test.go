package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scenarioRequests returns the hook requests of testdata/scenarios, the
// seeds of the fuzz targets.
func scenarioRequests(f *testing.F) []map[string]json.RawMessage {
	f.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "scenarios", "*.json"))
	var out []map[string]json.RawMessage
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var req map[string]json.RawMessage
		if json.Unmarshal(b, &req) == nil && req["hook"] != nil {
			out = append(out, req)
		}
	}
	return out
}

// sentinels are the errors this package promises; every error it returns
// wraps one of them.
var sentinels = []error{ErrNothingSupplied, ErrUnavailable, ErrNotFound, ErrUnauthorized, ErrBadResponse,
	ErrTooLarge, ErrPagingLoop, ErrForeignOrigin, ErrNotAllowed, ErrMalformed}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// allocated runs fn and returns the bytes it allocated (the fuzz worker
// runs one input at a time, so the process's count is fn's).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// maxAllocPerByte bounds what Load may allocate per input byte. A resource
// of a few dozen bytes becomes a samply struct of up to ~800 bytes, and
// entries are copied out of their Bundle, so tiny entries cost about 25
// bytes per byte; a bound that grew with the input's nesting or count
// would not hold.
const maxAllocPerByte = 64

// FuzzLoadPrefetch: Load on any prefetch, without fhirServer, never panics,
// fails only with ErrNothingSupplied, keeps only the patient's resources,
// and allocates in proportion to the input. The input is the prefetch
// object; an input that is not one is used as the value of every key.
func FuzzLoadPrefetch(f *testing.F) {
	for _, req := range scenarioRequests(f) {
		if p := req["prefetch"]; p != nil {
			f.Add([]byte(p))
		}
	}
	all, _ := json.Marshal(allNull())
	f.Add(all)
	f.Add([]byte(`{"conditions":` + searchset(condition("c1", "Patient/"+testPatient), condition("c2", "Patient/other")) + `}`))
	f.Add([]byte(`{"patient":{"resourceType":"Patient","id":"` + testPatient + `"},"coverage":{"resourceType":"OperationOutcome"}}`))
	f.Add([]byte(`{"observations":{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"http://x/Observation?page=2"}],"entry":[{"resource":{"resourceType":"Observation","status":"bogus"}}]}}`))
	f.Add([]byte(searchset(`{"resourceType":"Procedure","status":"completed","subject":{"reference":"Patient/` + testPatient + `"}}`)))
	f.Add([]byte(`{"medicationRequests":{"resourceType":"Bundle","type":"collection","entry":[` + strings.Repeat(`{"resource":{"resourceType":"MedicationRequest"}},`, 200) + `{}]}}`))
	loader := NewLoader(LoaderConfig{}, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, in []byte) {
		var prefetch map[string]json.RawMessage
		valid := json.Unmarshal(in, &prefetch) == nil && prefetch != nil
		if !valid {
			prefetch = map[string]json.RawMessage{}
			for _, s := range Searches {
				prefetch[string(s.Key)] = in
			}
		}
		var rec *Record
		var err error
		n := allocated(func() {
			rec, err = loader.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: prefetch})
		})
		if err != nil && !errors.Is(err, ErrNothingSupplied) {
			t.Fatalf("Load: %v, want nil or ErrNothingSupplied", err)
		}
		if rec == nil || rec.PatientID != testPatient || rec.Queries != 0 {
			t.Fatalf("Load returned record %+v", rec)
		}
		if rec.Patient != nil && rec.Patient.Id != nil && *rec.Patient.Id != testPatient {
			t.Fatalf("kept Patient/%s", *rec.Patient.Id)
		}
		for _, c := range rec.Conditions {
			if c.Subject.Reference != nil {
				if id, ok := PatientIDOf(*c.Subject.Reference); ok && id != testPatient {
					t.Fatalf("kept a Condition about Patient/%s", id)
				}
			}
		}
		if valid {
			// Values out of json.Unmarshal are valid: saying so changes nothing.
			again, err2 := loader.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: prefetch, PrefetchValid: true})
			if (err == nil) != (err2 == nil) {
				t.Fatalf("PrefetchValid changed the error: %v, then %v", err, err2)
			}
			if diff := cmp.Diff(again, rec); diff != "" {
				t.Fatalf("PrefetchValid changed the record (-valid +checked):\n%s", diff)
			}
		}
		// Every key of the input is given to Load at most once per search.
		if limit := uint64(1<<20 + maxAllocPerByte*len(in)*len(Searches)); n > limit {
			t.Fatalf("Load allocated %d bytes for %d input bytes (limit %d)", n, len(in), limit)
		}
	})
}

// FuzzFetch: whatever body a FHIR server answers, Fetch returns entries or
// an error that wraps one of the package's sentinels, and never panics.
func FuzzFetch(f *testing.F) {
	for _, req := range scenarioRequests(f) {
		var pf map[string]json.RawMessage
		if json.Unmarshal(req["prefetch"], &pf) == nil {
			for _, v := range pf {
				f.Add([]byte(v))
			}
		}
	}
	f.Add([]byte(searchset(condition("c1", "Patient/"+testPatient))))
	f.Add([]byte(bundleOf("searchset", "/fhir/Condition?page=1", condition("c1", "Patient/"+testPatient))))
	f.Add([]byte(bundleOf("searchset", "http://elsewhere.example/fhir/Condition?page=2")))
	f.Add([]byte(bundleOf("history", "")))
	f.Add([]byte(`{"resourceType":"OperationOutcome","issue":[]}`))
	f.Add([]byte(`<html>busy</html>`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":`))
	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write(*body.Load())
	}))
	defer srv.Close()
	loader := NewLoader(LoaderConfig{HTTPClient: srv.Client(), MaxPages: 3, MaxResources: 500, MaxBodyBytes: 1 << 20}, slog.New(slog.DiscardHandler))
	client, err := loader.Client(srv.URL+"/fhir", testToken)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		body.Store(&in)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		raws, err := client.Fetch(ctx, "Condition?patient="+testPatient)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("Fetch: %v wraps no sentinel", err)
			}
			if strings.Contains(err.Error(), testPatient) || strings.Contains(err.Error(), testToken) {
				t.Fatalf("error text names the patient or the token: %v", err)
			}
			return
		}
		for _, r := range raws {
			if !json.Valid(r) {
				t.Fatalf("entry is not valid JSON: %q", r)
			}
		}
	})
}

// FuzzDraftOrders: DraftOrders never panics, fails only with ErrMalformed,
// and returns entries whose Raw is the client's valid JSON object and whose
// Index is increasing.
func FuzzDraftOrders(f *testing.F) {
	for _, req := range scenarioRequests(f) {
		var c struct {
			DraftOrders json.RawMessage `json:"draftOrders"`
		}
		if json.Unmarshal(req["context"], &c) == nil && c.DraftOrders != nil {
			f.Add([]byte(c.DraftOrders))
		}
	}
	f.Add([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ServiceRequest","id":"o1","status":"draft","intent":"order","code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"72148"}]}}},{},{"resource":null},{"resource":{"resourceType":"MedicationRequest"}}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ServiceRequest","status":"bogus"}}]}`))
	f.Add([]byte(`{"resourceType":"Patient"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := DraftOrders(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DraftOrders: %v, want ErrMalformed", err)
			}
			return
		}
		last := -1
		for _, d := range out {
			if d.Index <= last {
				t.Fatalf("index %d after %d", d.Index, last)
			}
			last = d.Index
			if r := bytes.TrimSpace(d.Raw); len(r) == 0 || r[0] != '{' || !json.Valid(r) {
				t.Fatalf("entry %d Raw is not a JSON object: %q", d.Index, d.Raw)
			}
			if d.ServiceRequest != nil && d.ResourceType != "ServiceRequest" {
				t.Fatalf("entry %d: a %s decoded as a ServiceRequest", d.Index, d.ResourceType)
			}
		}
	})
}

// FuzzPeek: the decoder's walk over an entry reads the same fields as
// json.Unmarshal, and fails on the same entries.
func FuzzPeek(f *testing.F) {
	for _, req := range scenarioRequests(f) {
		var pf map[string]json.RawMessage
		if json.Unmarshal(req["prefetch"], &pf) != nil {
			continue
		}
		for _, v := range pf {
			if env, err := parseEnvelope(v); err == nil {
				for _, e := range env.Entry {
					f.Add([]byte(e.Resource))
				}
			}
		}
	}
	f.Add([]byte(condition("c1", "Patient/"+testPatient)))
	f.Add([]byte(` { "resourceType" : "Coverage" , "status":null, "beneficiary":{"reference":"Patient/1"},"beneficiary":{"display":"x"} } `))
	f.Add([]byte(`{"ResourceType":"Observation","ID":"x"}`))
	f.Add([]byte(`{"resource\u0054ype":"Observation","status":"final","x":[1,{"a":"}\"]"}],"n":-1.5e3,"t":true}`))
	f.Add([]byte(`{"subject":"Patient/1","id":7}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return // entries always come out of a document json.Unmarshal accepted
		}
		var want, got peek
		werr := json.Unmarshal(in, &want)
		gerr := got.read(in)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: json.Unmarshal error %v, read error %v", in, werr, gerr)
		}
		if werr != nil {
			return
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Fatalf("%q: read differs from json.Unmarshal (-read +json.Unmarshal):\n%s", in, diff)
		}
	})
}

// FuzzWalkEnvelope: for valid JSON, the envelope walk gives what
// parseEnvelope gives whenever it does not hand over to it.
func FuzzWalkEnvelope(f *testing.F) {
	for _, req := range scenarioRequests(f) {
		var pf map[string]json.RawMessage
		if json.Unmarshal(req["prefetch"], &pf) == nil {
			for _, v := range pf {
				f.Add([]byte(v))
			}
		}
	}
	f.Add([]byte(bundleOf("searchset", "http://x/fhir/Condition?page=2", condition("c1", "Patient/1"), "null", `{"a":[1,"]"]}`)))
	f.Add([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":null},{"fullUrl":"u","resource":5},{}],"Entry":[]}`))
	f.Add([]byte(`{"resourceType":"Bundle","entry":[{"Resource":{}}],"link":null}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":7}`))
	f.Add([]byte(`{"resourceType":"Patient","id":"p\u0031"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return // classify walks only valid JSON
		}
		got, ok := walkEnvelope(bytes.TrimSpace(in), 0)
		if !ok {
			return
		}
		want, err := parseEnvelope(in)
		if err != nil {
			t.Fatalf("%q: walked, but parseEnvelope fails: %v", in, err)
		}
		if got.ResourceType != want.ResourceType || got.Type != want.Type || got.ID != want.ID || got.next() != want.next() || len(got.Entry) != len(want.Entry) {
			t.Fatalf("%q:\nwalk         %+v\nparseEnvelope %+v", in, got, want)
		}
		for i := range got.Entry {
			if !bytes.Equal(got.Entry[i].Resource, want.Entry[i].Resource) || got.Entry[i].FullURL != want.Entry[i].FullURL {
				t.Fatalf("%q: entry %d: walk %q, parseEnvelope %q", in, i, got.Entry[i].Resource, want.Entry[i].Resource)
			}
		}
	})
}
