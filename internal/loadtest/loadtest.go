package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one load run.
type Config struct {
	// URL is the service endpoint, e.g. http://127.0.0.1:8080/cds-services/lumbar-mri-order-sign.
	URL string
	// Bodies are the request bodies, sent round-robin.
	Bodies [][]byte
	// Concurrency is the number of concurrent callers.
	Concurrency int
	// Duration bounds the run; Requests, when positive, bounds it too.
	Duration time.Duration
	Requests int
	// Header is added to every request (for example Authorization).
	Header http.Header
	// Token, when set, returns a fresh Authorization header value per call
	// (tokens carry a jti that may be used once).
	Token func() string
	// Memory, when set, is sampled during the run for the peak (bytes).
	Memory func() (uint64, error)
}

// Result is the outcome of a run.
type Result struct {
	Requests   int
	Errors     int
	Statuses   map[int]int
	Elapsed    time.Duration
	Throughput float64 // requests per second
	P50        time.Duration
	P90        time.Duration
	P99        time.Duration
	Max        time.Duration
	PeakMemory uint64
	// Transport counts calls that got no HTTP answer at all (refused,
	// reset, timed out); FirstTransportError is the first such error.
	Transport           int
	FirstTransportError string
}

// Run drives the load and returns the figures. A non-2xx status or a
// transport failure counts as an error.
func Run(ctx context.Context, cfg Config) (Result, error) {
	r, err := run(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	return r.result(), nil
}

// Interleave runs the same load against two targets in turns (a, b, a, b,
// ...; rounds turns each, each a's Duration/rounds long), so that both see the
// same machine: on a shared machine the load of other processes changes from
// second to second, and two back-to-back runs compare different machines.
func Interleave(ctx context.Context, a, b Config, rounds int) (Result, Result, error) {
	if rounds < 1 {
		rounds = 1
	}
	a.Duration /= time.Duration(rounds)
	b.Duration = a.Duration
	a.Requests, b.Requests = 0, 0
	var ra, rb raw
	for range rounds {
		x, err := run(ctx, a)
		if err != nil {
			return Result{}, Result{}, err
		}
		ra.add(x)
		y, err := run(ctx, b)
		if err != nil {
			return Result{}, Result{}, err
		}
		rb.add(y)
	}
	return ra.result(), rb.result(), nil
}

// raw is what a run measured, before it is summarised.
type raw struct {
	lat       []time.Duration
	statuses  map[int]int
	errs      int
	transport int
	elapsed   time.Duration
	peak      uint64
	firstErr  string
}

// add merges another run's measurements into r.
func (r *raw) add(o raw) {
	r.lat = append(r.lat, o.lat...)
	if r.statuses == nil {
		r.statuses = map[int]int{}
	}
	for k, v := range o.statuses {
		r.statuses[k] += v
	}
	r.errs += o.errs
	r.transport += o.transport
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	r.elapsed += o.elapsed
	r.peak = max(r.peak, o.peak)
}

// result summarises r.
func (r raw) result() Result {
	lat := r.lat
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := Result{Requests: len(lat) + r.transport, Errors: r.errs, Statuses: r.statuses, Elapsed: r.elapsed, PeakMemory: r.peak,
		Transport: r.transport, FirstTransportError: r.firstErr}
	if len(lat) > 0 {
		res.P50, res.P90, res.P99, res.Max = pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1]
		res.Throughput = float64(len(lat)) / r.elapsed.Seconds()
	}
	return res
}

// run drives the load once.
func run(ctx context.Context, cfg Config) (raw, error) {
	if cfg.URL == "" || len(cfg.Bodies) == 0 {
		return raw{}, fmt.Errorf("loadtest: URL and at least one body are required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Duration <= 0 && cfg.Requests <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, MaxConnsPerHost: cfg.Concurrency, DisableCompression: true},
	}
	var (
		next      atomic.Int64
		mu        sync.Mutex
		lat       = make([]time.Duration, 0, 1<<16)
		statuses  = map[int]int{}
		errs      int
		transport int // failures without an HTTP status
		firstErr  string
		peak      atomic.Uint64
	)
	stopMem := make(chan struct{})
	memDone := make(chan struct{})
	go func() {
		defer close(memDone)
		if cfg.Memory == nil {
			return
		}
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := cfg.Memory(); err == nil && m > peak.Load() {
				peak.Store(m)
			}
			select {
			case <-stopMem:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := next.Add(1)
				if cfg.Requests > 0 && n > int64(cfg.Requests) {
					return
				}
				body := cfg.Bodies[int(n-1)%len(cfg.Bodies)]
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(body))
				if err != nil {
					return
				}
				req.Header.Set("Content-Type", "application/json")
				for k, v := range cfg.Header {
					req.Header[k] = v
				}
				if cfg.Token != nil {
					req.Header.Set("Authorization", cfg.Token())
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				d := time.Since(t0)
				if ctx.Err() != nil {
					if resp != nil {
						resp.Body.Close()
					}
					return
				}
				mu.Lock()
				if err != nil {
					errs++
					transport++
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[resp.StatusCode]++
				if resp.StatusCode >= 300 {
					errs++
				}
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopMem)
	<-memDone
	client.CloseIdleConnections()
	return raw{lat: lat, statuses: statuses, errs: errs, transport: transport, elapsed: elapsed, peak: peak.Load(), firstErr: firstErr}, nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[i]
}

// Baseline starts the bare handler on a loopback port: plain net/http (no
// router, no middleware) that decodes the request body as JSON with
// encoding/json and answers {"cards":[]}. It is the floor a service call is
// compared against. Close stops it.
func Baseline() (url string, close func(), err error) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"error":"malformed JSON"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"cards":[]}`)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/cds-services/baseline", func() { _ = srv.Close() }, nil
}

// String formats a result on one line.
func (r Result) String() string {
	return fmt.Sprintf("requests=%d errors=%d throughput=%.0f/s p50=%s p90=%s p99=%s max=%s peak_rss=%.1fMiB",
		r.Requests, r.Errors, r.Throughput, r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond),
		r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond), float64(r.PeakMemory)/(1<<20))
}
