package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Gauges are the process figures read from the service's /metrics.
type Gauges struct {
	Goroutines float64 // go_goroutines
	RSS        float64 // process_resident_memory_bytes
	HeapInuse  float64 // go_memstats_heap_inuse_bytes
	// LiveHeap is the heap that survived the last collection: the GC's
	// next target (go_memstats_next_gc_bytes) divided by 1 + GOGC/100
	// (go_gc_gogc_percent, 100 when absent). Unlike HeapInuse it does not
	// count garbage waiting for the next collection, so it is the figure
	// that shows growth.
	LiveHeap float64
}

// String formats the gauges on one line.
func (g Gauges) String() string {
	return fmt.Sprintf("goroutines=%.0f rss=%.1fMiB heap_inuse=%.1fMiB live_heap=%.1fMiB",
		g.Goroutines, g.RSS/(1<<20), g.HeapInuse/(1<<20), g.LiveHeap/(1<<20))
}

// ReadGauges reads the gauges from a Prometheus text endpoint.
func ReadGauges(ctx context.Context, metricsURL string) (Gauges, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return Gauges{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Gauges{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Gauges{}, fmt.Errorf("metrics: status %d", resp.StatusCode)
	}
	want := map[string]*float64{}
	var g Gauges
	var nextGC float64
	gogc := 100.0
	want["go_goroutines"], want["process_resident_memory_bytes"], want["go_memstats_heap_inuse_bytes"] = &g.Goroutines, &g.RSS, &g.HeapInuse
	want["go_memstats_next_gc_bytes"] = &nextGC
	optional := map[string]*float64{"go_gc_gogc_percent": &gogc}
	found := 0
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), " ")
		if p, hit := optional[name]; ok && hit {
			if f, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
				*p = f
			}
			continue
		}
		if p, hit := want[name]; ok && hit {
			f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				return Gauges{}, fmt.Errorf("metrics: %s: %w", name, err)
			}
			*p = f
			found++
		}
	}
	if err := s.Err(); err != nil {
		return Gauges{}, err
	}
	if found < len(want) {
		return Gauges{}, errors.New("metrics: go_goroutines, process_resident_memory_bytes, go_memstats_heap_inuse_bytes or go_memstats_next_gc_bytes missing")
	}
	if gogc > 0 {
		g.LiveHeap = nextGC / (1 + gogc/100)
	}
	return g, nil
}

// Kind names one sort of call in a soak run.
type Kind string

// The kinds of call a soak run mixes.
const (
	KindValid       Kind = "valid"        // a fixture with a valid token
	KindHostile     Kind = "hostile-body" // a broken or hostile body: 4xx, or 200 when it is a request with bad entries
	KindBadToken    Kind = "bad-token"    // a valid body with a missing, forged or replayed token
	KindFHIRFailing Kind = "fhir-failing" // no prefetch; fhirServer answers 500
	KindFHIRSlow    Kind = "fhir-slow"    // no prefetch; fhirServer answers after the service's deadline
)

// SoakConfig describes a soak run against a running instance.
type SoakConfig struct {
	// URL is the service endpoint; MetricsURL its /metrics.
	URL, MetricsURL string
	// Bodies are valid request bodies (with prefetch).
	Bodies [][]byte
	// Concurrency callers for Duration.
	Concurrency int
	Duration    time.Duration
	// Token returns a fresh Authorization header value and is called
	// concurrently; nil when the target does not verify tokens (bad-token
	// calls are then skipped).
	Token func() string
	// SlowDelay is how long the slow FHIR server waits before answering;
	// it should exceed the service's --fhir-timeout.
	SlowDelay time.Duration
	// Settle is the pause before each gauge reading, so that calls and
	// connections that are ending have ended.
	Settle time.Duration
	// Warmup is how long valid calls run before the start reading.
	Warmup time.Duration
}

// SoakResult is what a soak run saw.
type SoakResult struct {
	Start, End Gauges
	// Statuses counts HTTP statuses by kind of call; Transport counts
	// calls without a status.
	Statuses  map[Kind]map[int]int
	Transport int
	Requests  int
	Elapsed   time.Duration
}

// ServerErrors counts 5xx answers.
func (r SoakResult) ServerErrors() int {
	n := 0
	for _, m := range r.Statuses {
		for s, c := range m {
			if s >= 500 {
				n += c
			}
		}
	}
	return n
}

// Err says why the run failed: answers with a 5xx status, goroutines grown
// by more than maxGoroutineGrowth, or valid calls refused with 429. A target
// that throttles the run (its per-client rate limit, or its failed-
// authentication budget, which the bad-token calls use up within seconds
// from one address) answers almost everything 429 at once, so the run would
// soak the refusal path only and say nothing about the service.
func (r SoakResult) Err(maxGoroutineGrowth int) error {
	valid, throttled := 0, r.Statuses[KindValid][http.StatusTooManyRequests]
	for _, n := range r.Statuses[KindValid] {
		valid += n
	}
	switch growth := r.End.Goroutines - r.Start.Goroutines; {
	case r.ServerErrors() > 0:
		return fmt.Errorf("soak: %d answers with a 5xx status", r.ServerErrors())
	case growth > float64(maxGoroutineGrowth):
		return fmt.Errorf("soak: goroutines grew by %.0f", growth)
	case throttled > 0:
		return fmt.Errorf("soak: the target refused %d of %d valid calls with 429 (its rate limit or failed-authentication limit), "+
			"so the run soaked refusals, not the service: start the target with --rate-limit 0 --auth-failure-limit 0", throttled, valid)
	}
	return nil
}

// String lists the statuses per kind.
func (r SoakResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "requests=%d elapsed=%s 5xx=%d transport_errors=%d\n", r.Requests, r.Elapsed.Round(time.Millisecond), r.ServerErrors(), r.Transport)
	kinds := make([]string, 0, len(r.Statuses))
	for k := range r.Statuses {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		m := r.Statuses[Kind(k)]
		codes := make([]int, 0, len(m))
		for s := range m {
			codes = append(codes, s)
		}
		sort.Ints(codes)
		fmt.Fprintf(&b, "  %-13s", k)
		for _, s := range codes {
			fmt.Fprintf(&b, " %d×%d", s, m[s])
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "start: %s\nend:   %s", r.Start, r.End)
	return b.String()
}

// hostileBodies are broken or hostile bodies: not JSON, not an object, deep
// nesting, wrong hook, wrong types; the last-but-two is a request whose order
// and prefetch entries are broken, which the service answers without them.
var hostileBodies = [][]byte{
	[]byte(``),
	[]byte(`{`),
	[]byte(`[]`),
	[]byte(`null`),
	[]byte(`{"hook":"order-sign"}`),
	[]byte(`{"hook":"patient-view","hookInstance":"x","context":{"patientId":"p","draftOrders":{"resourceType":"Bundle"}}}`),
	[]byte(`{"hook":"order-sign","hookInstance":"x","context":{"patientId":"p","draftOrders":{"resourceType":"Patient"}}}`),
	[]byte(`{"hook":"order-sign","hookInstance":"x","context":{"patientId":"p","draftOrders":[1,2]}}`),
	[]byte(`{"hook":"order-sign","hookInstance":"x","context":{"patientId":7}}`),
	[]byte(`{"hook":"order-sign","hookInstance":"x","context":{"patientId":"p","draftOrders":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ServiceRequest","status":"??","code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"72148"}]}}}]}},"prefetch":{"patient":"x","conditions":{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Condition","code":17}}]}}}`),
	bytes.Repeat([]byte(`[`), 10000),
	[]byte("\xff\xfe{\"hook\":\"order-sign\"}"),
}

// Soak runs the mixed load: valid calls, malformed bodies, bad tokens and
// calls whose FHIR server fails or is slow (a loopback server this function
// runs). It reads the gauges after a warm-up at the start and after the run
// at the end.
func Soak(ctx context.Context, cfg SoakConfig) (SoakResult, error) {
	if cfg.URL == "" || cfg.MetricsURL == "" || len(cfg.Bodies) == 0 {
		return SoakResult{}, errors.New("loadtest: URL, MetricsURL and at least one body are required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Duration <= 0 {
		cfg.Duration = time.Minute
	}
	if cfg.SlowDelay <= 0 {
		cfg.SlowDelay = 4 * time.Second
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 3 * time.Second
	}
	if cfg.Warmup <= 0 {
		cfg.Warmup = 5 * time.Second
	}
	fhirURL, stopFHIR, err := failingFHIR(cfg.SlowDelay)
	if err != nil {
		return SoakResult{}, err
	}
	defer stopFHIR()
	failing, err := withoutPrefetch(cfg.Bodies[0], fhirURL+"/fail")
	if err != nil {
		return SoakResult{}, err
	}
	slow, err := withoutPrefetch(cfg.Bodies[0], fhirURL+"/slow")
	if err != nil {
		return SoakResult{}, err
	}
	kinds := []Kind{KindValid, KindValid, KindValid, KindValid, KindHostile, KindHostile, KindFHIRFailing, KindFHIRSlow}
	if cfg.Token != nil {
		kinds = append(kinds, KindBadToken, KindBadToken)
	}

	transport := &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, DisableCompression: true}
	client := &http.Client{Timeout: 30 * time.Second, Transport: transport}
	res := SoakResult{Statuses: map[Kind]map[int]int{}}

	// Warm up (connections, caches, the first GC cycles) before the start reading.
	warm, cancelWarm := context.WithTimeout(ctx, cfg.Warmup)
	for warm.Err() == nil {
		_, _ = send(warm, client, cfg.URL, cfg.Bodies[0], cfg.Token)
	}
	cancelWarm()
	transport.CloseIdleConnections()
	if err := sleep(ctx, cfg.Settle); err != nil {
		return res, err
	}
	if res.Start, err = ReadGauges(ctx, cfg.MetricsURL); err != nil {
		return res, err
	}

	run, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var (
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Go(func() {
			for run.Err() == nil {
				n := next.Add(1)
				kind := kinds[int(n)%len(kinds)]
				var status int
				var err error
				switch kind {
				case KindValid:
					status, err = send(run, client, cfg.URL, cfg.Bodies[int(n)%len(cfg.Bodies)], cfg.Token)
				case KindHostile:
					status, err = send(run, client, cfg.URL, hostileBodies[int(n)%len(hostileBodies)], cfg.Token)
				case KindBadToken:
					body := cfg.Bodies[int(n)%len(cfg.Bodies)]
					if n%4 == 3 {
						// A replay: the token's first use is valid, its second is refused.
						tok := cfg.Token()
						once := func() string { return tok }
						if s, err := send(run, client, cfg.URL, body, once); err == nil && run.Err() == nil {
							mu.Lock()
							res.count(KindValid, s)
							mu.Unlock()
						}
						status, err = send(run, client, cfg.URL, body, once)
						break
					}
					status, err = send(run, client, cfg.URL, body, badToken(n, cfg.Token))
				case KindFHIRFailing:
					status, err = send(run, client, cfg.URL, failing, cfg.Token)
				case KindFHIRSlow:
					status, err = send(run, client, cfg.URL, slow, cfg.Token)
				}
				if run.Err() != nil {
					return
				}
				mu.Lock()
				res.Requests++
				if err != nil {
					res.Transport++
				} else {
					res.count(kind, status)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	transport.CloseIdleConnections()
	// Calls cut off at the end (slow FHIR) finish within the service's deadline.
	if err := sleep(ctx, cfg.Settle+cfg.SlowDelay); err != nil {
		return res, err
	}
	res.End, err = ReadGauges(ctx, cfg.MetricsURL)
	return res, err
}

// send posts body with a fresh token (when token is set) and returns the status.
func send(ctx context.Context, client *http.Client, url string, body []byte, token func() string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != nil {
		if t := token(); t != "" {
			req.Header.Set("Authorization", t)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (r *SoakResult) count(kind Kind, status int) {
	if r.Statuses[kind] == nil {
		r.Statuses[kind] = map[int]int{}
	}
	r.Statuses[kind][status]++
}

// badToken returns a token source that sends no token, a garbage token or a
// token whose signature was tampered with, in turn (Soak does replays).
func badToken(n int64, good func() string) func() string {
	switch n % 3 {
	case 0:
		return func() string { return "" }
	case 1:
		return func() string { return "Bearer not-a-jwt" }
	default:
		return func() string {
			t := good()
			if i := strings.LastIndexByte(t, '.'); i > 0 {
				return t[:i+1] + "AAAA" + t[i+1:]
			}
			return t
		}
	}
}

// withoutPrefetch turns a request into one without prefetch whose data must
// come from fhirServer.
func withoutPrefetch(body []byte, fhirServer string) ([]byte, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("loadtest: request body: %w", err)
	}
	delete(req, "prefetch")
	req["fhirServer"], _ = json.Marshal(fhirServer)
	req["fhirAuthorization"] = json.RawMessage(`{"access_token":"soak-token","token_type":"Bearer","expires_in":300,"scope":"patient/*.read","subject":"soak"}`)
	return json.Marshal(req)
}

// failingFHIR starts a loopback FHIR server whose /fail base answers 500 and
// whose /slow base answers after delay.
func failingFHIR(delay time.Duration) (string, func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/fail/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}`)
	})
	mux.HandleFunc("/slow/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(delay):
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = io.WriteString(w, `{"resourceType":"Bundle","type":"searchset","entry":[]}`)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
