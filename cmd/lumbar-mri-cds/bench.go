package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/auth"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/loadtest"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/server"
)

// bench drives concurrent order-sign calls against a running instance and
// reports throughput, latency percentiles, errors and peak memory; with
// --baseline it runs the same load, in alternating turns, against a bare
// net/http handler for comparison; with --soak it mixes hostile calls and checks for 5xx and for
// goroutine and memory growth.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("bench", func(string) string { return "" }, stderr)
	var base, service, devKeyDir, metricsURL string
	var concurrency, requests, pid, maxGoroutineGrowth, tiny, rounds int
	var duration time.Duration
	var baseline, soak bool
	f.StringVar(&base, "url", "http://127.0.0.1:8080", "base URL of the running instance")
	f.StringVar(&service, "service", server.ServiceOrderSign, "service id to call")
	f.IntVar(&concurrency, "concurrency", 8, "concurrent callers")
	f.DurationVar(&duration, "duration", 10*time.Second, "length of the run (soak: of the mixed load)")
	f.IntVar(&requests, "requests", 0, "stop after this many calls (0: run for --duration)")
	f.StringVar(&devKeyDir, "token-dev-key", "", "data folder of the development key: mint a fresh token per call (secured target)")
	f.IntVar(&pid, "pid", 0, "process id of the target, for peak memory from /proc (default: its /metrics)")
	f.StringVar(&metricsURL, "metrics", "", "the target's Prometheus endpoint (default: URL/metrics)")
	f.IntVar(&rounds, "rounds", 5, "with --baseline: turns of service and baseline in alternation, each --duration/rounds long")
	f.BoolVar(&baseline, "baseline", false, "also run the same load against a bare net/http handler that only decodes the JSON, and print the ratio")
	f.BoolVar(&soak, "soak", false, "mix valid calls, malformed bodies, bad tokens and a failing FHIR server; fail on 5xx or growth")
	f.IntVar(&tiny, "tiny-resources", 0, "bounded-memory run: replace each body's observations prefetch by this many minimal entries (110000: ~4.9 MB), then send one normal call, which must answer 200")
	f.IntVar(&maxGoroutineGrowth, "max-goroutine-growth", 10, "soak: most goroutines the target may gain between start and end")
	f.usage(stderr, "bench [flags] [FILE|DIR ...]  (default: testdata/scenarios)", "Load-test a running instance: throughput, latency and memory (--baseline, --soak).")
	if err := f.parse(args); err != nil {
		return err
	}
	paths := f.Args()
	if len(paths) == 0 {
		paths = []string{filepath.Join("testdata", "scenarios")}
	}
	bodies, names, err := benchBodies(paths)
	if err != nil {
		return err
	}
	normal := bodies[0]
	if tiny > 0 {
		for i, b := range bodies {
			if bodies[i], err = loadtest.TinyResources(b, tiny); err != nil {
				return err
			}
		}
	}
	base = strings.TrimRight(base, "/")
	url := base + "/cds-services/" + service
	if metricsURL == "" {
		metricsURL = base + "/metrics"
	}
	var tok func() string
	if devKeyDir != "" {
		key, err := auth.LoadDevKey(devKeyDir)
		if err != nil {
			return err
		}
		tok = func() string {
			t, err := key.Mint(url, 5*time.Minute)
			if err != nil {
				return ""
			}
			return "Bearer " + t
		}
	}
	total := 0
	for _, b := range bodies {
		total += len(b)
	}
	if len(names) > 3 {
		names = []string{names[0], "…", names[len(names)-1]}
	}
	fmt.Fprintf(stdout, "target %s, %d request bodies (%s; %d bytes on average), concurrency %d\n",
		url, len(bodies), strings.Join(names, ", "), total/len(bodies), concurrency)

	if err := probe(ctx, url, bodies[0], tok); err != nil {
		return err
	}
	if soak {
		res, err := loadtest.Soak(ctx, loadtest.SoakConfig{
			URL: url, MetricsURL: metricsURL, Bodies: bodies, Concurrency: concurrency, Duration: duration, Token: tok,
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, res)
		return res.Err(maxGoroutineGrowth)
	}

	mem := loadtest.MetricsRSS(metricsURL)
	if pid > 0 {
		mem = loadtest.ProcRSS(pid)
	}
	cfg := loadtest.Config{URL: url, Bodies: bodies, Concurrency: concurrency, Duration: duration, Requests: requests, Token: tok, Memory: mem}
	if requests > 0 {
		cfg.Duration = 0
	}
	if baseline && tiny == 0 {
		return benchWithBaseline(ctx, cfg, rounds, stdout)
	}
	svc, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	printService(stdout, svc)
	if tiny > 0 {
		// The flood expects refusals (503); the normal call after it must answer 200.
		return benchAfterFlood(ctx, cfg, normal, stdout)
	}
	return failed(svc)
}

// printService prints the service's result, and its statuses when calls
// failed.
func printService(w io.Writer, svc loadtest.Result) {
	fmt.Fprintf(w, "service:  %s\n", svc)
	if svc.Errors > 0 {
		fmt.Fprintf(w, "          statuses %v\n", svc.Statuses)
	}
}

// benchWithBaseline runs the load against the service and the bare baseline
// handler in alternating turns (loadtest.Interleave) and prints both and the
// ratio of their throughputs.
func benchWithBaseline(ctx context.Context, cfg loadtest.Config, rounds int, stdout io.Writer) error {
	if cfg.Duration <= 0 {
		return errors.New("bench: --baseline runs for --duration, not --requests")
	}
	burl, stop, err := loadtest.Baseline()
	if err != nil {
		return err
	}
	defer stop()
	bcfg := cfg
	bcfg.URL, bcfg.Token, bcfg.Memory = burl, nil, loadtest.ProcRSS(os.Getpid())
	svc, bl, err := loadtest.Interleave(ctx, cfg, bcfg, rounds)
	if err != nil {
		return err
	}
	printService(stdout, svc)
	fmt.Fprintf(stdout, "baseline: %s (peak_rss is this process, load driver included)\n", bl)
	if bl.Throughput > 0 {
		fmt.Fprintf(stdout, "ratio:    service/baseline throughput = %.2f (p50 %.2fx); %d alternating turns each\n",
			svc.Throughput/bl.Throughput, float64(svc.P50)/float64(max(bl.P50, 1)), rounds)
	}
	return failed(svc)
}

// benchAfterFlood sends one normal call after the bounded-memory run and
// reports its status and the target's memory then; anything but 200 fails.
func benchAfterFlood(ctx context.Context, cfg loadtest.Config, body []byte, stdout io.Writer) error {
	cfg.Bodies, cfg.Concurrency, cfg.Requests, cfg.Duration = [][]byte{body}, 1, 1, 0
	res, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rss := "unknown"
	if cfg.Memory != nil {
		if m, err := cfg.Memory(); err == nil {
			rss = fmt.Sprintf("%.1fMiB", float64(m)/(1<<20))
		}
	}
	fmt.Fprintf(stdout, "after:    normal call statuses %v, latency %s, target rss %s\n", res.Statuses, res.Max.Round(time.Microsecond), rss)
	if res.Statuses[200] != 1 {
		return fmt.Errorf("bench: the normal call after the run did not answer 200 (%v)", res.Statuses)
	}
	return nil
}

// probe sends one call before the load, so that a target that does not
// answer fails the run at once with the reason, not after a run of errors.
func probe(ctx context.Context, url string, body []byte, tok func() string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != nil {
		req.Header.Set("Authorization", tok())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench: the target does not answer: %w", err)
	}
	defer resp.Body.Close()
	// A wrong URL or token fails every call the same way: stop here.
	// Other statuses are the run's to count.
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("bench: the target answered %s to a first call: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// failed turns a run with failed calls into an error saying how many and why.
func failed(r loadtest.Result) error {
	if r.Errors == 0 {
		return nil
	}
	why := fmt.Sprintf("statuses %v", r.Statuses)
	if r.Transport > 0 {
		why += fmt.Sprintf(", %d without an answer (first: %s)", r.Transport, r.FirstTransportError)
	}
	if r.Statuses[http.StatusTooManyRequests] > 0 {
		why += "; 429 is the target's rate limit: start it with --rate-limit 0 for a load run"
	}
	return fmt.Errorf("bench: %d of %d calls failed: %s", r.Errors, r.Requests, why)
}

// benchBodies reads order-sign requests from files and folders (a folder's
// *.json files whose hook is order-sign; other JSON is skipped).
func benchBodies(paths []string) ([][]byte, []string, error) {
	var bodies [][]byte
	var names []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, err
		}
		files := []string{p}
		if fi.IsDir() {
			files, _ = filepath.Glob(filepath.Join(p, "*.json"))
		}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, nil, err
			}
			var probe struct {
				Hook string `json:"hook"`
			}
			if json.Unmarshal(b, &probe) != nil || probe.Hook != hooks.HookOrderSign {
				continue
			}
			bodies = append(bodies, b)
			names = append(names, filepath.Base(name))
		}
	}
	if len(bodies) == 0 {
		return nil, nil, errors.New("no order-sign request files")
	}
	return bodies, names, nil
}
