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

	"github.com/gin-gonic/gin"
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
	if cfg.URL == "" || len(cfg.Bodies) == 0 {
		return Result{}, fmt.Errorf("loadtest: URL and at least one body are required")
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
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := Result{Requests: len(lat) + transport, Errors: errs, Statuses: statuses, Elapsed: elapsed, PeakMemory: peak.Load(),
		Transport: transport, FirstTransportError: firstErr}
	if len(lat) > 0 {
		res.P50, res.P90, res.P99, res.Max = pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1]
		res.Throughput = float64(len(lat)) / elapsed.Seconds()
	}
	return res, nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[i]
}

// Baseline starts the bare gin handler on a loopback port: it decodes the
// request body as JSON and answers {"cards": []}. Close stops it.
func Baseline() (url string, close func(), err error) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.POST("/cds-services/:id", func(c *gin.Context) {
		var body map[string]any
		if err := json.NewDecoder(c.Request.Body).Decode(&body); err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": "malformed JSON"})
			return
		}
		c.JSON(http.StatusOK, gin.H{"cards": []any{}})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/cds-services/baseline", func() { _ = srv.Close() }, nil
}

// String formats a result on one line.
func (r Result) String() string {
	return fmt.Sprintf("requests=%d errors=%d throughput=%.0f/s p50=%s p90=%s p99=%s max=%s peak_rss=%.1fMiB",
		r.Requests, r.Errors, r.Throughput, r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond),
		r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond), float64(r.PeakMemory)/(1<<20))
}
