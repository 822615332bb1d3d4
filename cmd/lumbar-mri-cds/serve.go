package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/auth"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/server"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// serveConfig is the configuration of `serve` (README "Configuration").
type serveConfig struct {
	addr, baseURL, policyPath, dataDir, logFormat, logLevel string
	databaseURL, pseudonymKeyFile                           string
	fhirTimeout                                             time.Duration
	fhirAllow                                               string
	trustedProxies                                          string
	fhirMaxConcurrent, fhirMaxPerHost, fhirMaxPerClient     int
	authFailureLimit                                        int
	tokenMaxLifetime                                        time.Duration
	trustFile                                               string
	trustSandbox, openDiscovery                             bool
	corsOrigins                                             string
	adminToken                                              string
	auditRetention                                          int
	tlsCert, tlsKey                                         string
	maxBody                                                 int
	memoryLimit, decodeBudget                               int
	rateLimit, rateBurst                                    int
	shutdownTimeout                                         time.Duration
	// valueSetDir is the operator's ValueSet folder (--valuesets).
	valueSetDir string
}

func serveFlags(getenv func(string) string, stderr io.Writer) (*flags, *serveConfig) {
	c := &serveConfig{}
	f := newFlags("serve", getenv, stderr)
	f.str(&c.addr, "addr", "127.0.0.1:8080", "listen address host:port", false)
	f.str(&c.baseURL, "base-url", "", "public URL of the service as EHRs call it (default: derived from --addr)", false)
	f.str(&c.policyPath, "policy", "", "payer policy YAML file or folder (default: the embedded default policy)", false)
	f.str(&c.valueSetDir, "valuesets", "", "folder of FHIR ValueSet JSON files that add to or replace the shipped value sets by URL, reloaded like the policy (default: none)", false)
	f.str(&c.dataDir, "data-dir", "data", "folder for the audit database and keys", false)
	f.str(&c.databaseURL, "database-url", "", "postgres:// URL of a PostgreSQL database shared by replicas (default: SQLite in --data-dir)", true)
	f.str(&c.pseudonymKeyFile, "pseudonym-key-file", "", "with --database-url: file holding the patient pseudonym key (default: one key kept in the database)", false)
	f.str(&c.logFormat, "log-format", "text", "log format: text or json", false)
	f.str(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error", false)
	f.duration(&c.fhirTimeout, "fhir-timeout", 3*time.Second, "deadline for all FHIR queries of one call (CRD allows 5 s in all)")
	f.str(&c.trustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDR ranges of reverse proxies in front of the service; their X-Forwarded-For names the client that failed-authentication budgets and rate limits count against (default: none, the TCP peer is the client)", false)
	f.str(&c.fhirAllow, "fhir-allow", "", "comma-separated FHIR servers the service may query, each host (any port) or host:port; a listed host may be on a private address and use http (default: any public https server; in development also loopback)", false)
	f.integer(&c.fhirMaxConcurrent, "fhir-max-concurrent", fhir.DefaultMaxConcurrent, "cap on concurrent outbound FHIR requests")
	f.integer(&c.fhirMaxPerHost, "fhir-max-per-host", fhir.DefaultMaxPerHost, "cap on concurrent outbound FHIR requests to one FHIR server host")
	f.integer(&c.fhirMaxPerClient, "fhir-max-per-client", fhir.DefaultMaxPerClient, "cap on concurrent outbound FHIR requests made for one CDS client")
	f.str(&c.trustFile, "trust", "", "trust file of CDS clients (YAML); without it the service runs in development mode", false)
	f.boolean(&c.trustSandbox, "trust-sandbox", false, "trust the public CDS Hooks sandbox issuer (development only: its private key is public)")
	f.boolean(&c.openDiscovery, "open-discovery", false, "serve GET /cds-services without authentication")
	f.str(&c.corsOrigins, "cors-origins", "", "comma-separated allowed browser origins, * for any (default: loopback origins in development, none otherwise)", false)
	f.str(&c.adminToken, "admin-token", "", "bearer token for /admin/report (empty: the report page is off)", true)
	f.integer(&c.auditRetention, "audit-retention", 2190, "days of audit rows to keep (0: keep forever)")
	f.str(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves HTTPS", false)
	f.str(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)", false)
	f.integer(&c.maxBody, "max-body", server.DefaultMaxBodyBytes, "largest request body in bytes (413 above)")
	f.integer(&c.decodeBudget, "decode-budget", server.DefaultDecodeBudget, "total bytes of request bodies decoded at once (503 with Retry-After above)")
	f.integer(&c.memoryLimit, "memory-limit", 0, "Go runtime soft memory limit in bytes (0: GOMEMLIMIT, else 90% of the container limit, else none with GOGC set, else 512 MiB)")
	f.integer(&c.rateLimit, "rate-limit", 100, "calls per second per client (0: no limit)")
	f.integer(&c.rateBurst, "rate-burst", 200, "burst of calls per client above the rate")
	f.integer(&c.authFailureLimit, "auth-failure-limit", server.DefaultAuthFailures, "failed authentications per minute per remote address before it is answered 429 without verification (0: no limit)")
	f.duration(&c.tokenMaxLifetime, "token-max-lifetime", auth.DefaultMaxLifetime, "longest CDS client token lifetime accepted (exp - iat); each token id is remembered until its exp")
	f.duration(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long calls in flight may take at shutdown")
	f.SetOutput(stderr)
	f.Usage = func() {
		fmt.Fprint(stderr, usage)
		fmt.Fprintln(stderr, "\nflags of serve:")
		f.PrintDefaults()
	}
	return f, c
}

// serveGCPercent is the garbage collector's target when GOGC is not set.
// The live heap of the service is small (about 10 MiB: policies, caches and
// the calls in flight) while each call allocates about 100 KiB, so at Go's
// default of 100 the collector runs every few dozen calls and takes about a
// third of the CPU of a call (profiles of BenchmarkOrderSignScenarios); at
// 400 it takes much less for a few MiB more heap. GOGC, and GOMEMLIMIT for a
// container's limit, still override it.
const serveGCPercent = 400

// tuneGC applies serveGCPercent unless GOGC is set, and returns the
// percentage in force (-1: off).
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(serveGCPercent)
	return serveGCPercent
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f, c := serveFlags(getenv, stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return usageError{fmt.Errorf("serve takes no arguments, got %q", clipArg(f.Arg(0)))}
	}
	log, err := newLogger(c.logFormat, c.logLevel, stderr)
	if err != nil {
		return usageError{err}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.adminToken != "" && len(c.adminToken) < server.MinAdminTokenLength {
		return fmt.Errorf("--admin-token (LUMBAR_MRI_CDS_ADMIN_TOKEN) has %d character(s); it must have at least %d (for example: openssl rand -hex 32), or empty to turn the report page off",
			len(c.adminToken), server.MinAdminTokenLength)
	}
	trustedProxies := splitList(c.trustedProxies)
	if err := server.ParseTrustedProxies(trustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if c.authFailureLimit < 0 || c.tokenMaxLifetime < 0 {
		return errors.New("--auth-failure-limit and --token-max-lifetime must not be negative")
	}
	// A size, a deadline or a burst of zero or less would turn the bound
	// off or fall back to a default unseen: refuse it, naming the flag.
	for _, b := range []struct {
		name string
		bad  bool
	}{
		{"--max-body", c.maxBody <= 0}, {"--decode-budget", c.decodeBudget <= 0}, {"--fhir-timeout", c.fhirTimeout <= 0},
		{"--audit-retention", c.auditRetention < 0}, {"--memory-limit", c.memoryLimit < 0}, {"--rate-burst", c.rateBurst < 0},
	} {
		if b.bad {
			return usageError{fmt.Errorf("%s: want a positive value (see serve -h)", b.name)}
		}
	}
	gcPercent := tuneGC(getenv)
	memLimit, memSource := applyMemoryLimit(int64(c.memoryLimit), getenv)

	dev := c.trustFile == ""
	if dev && !auth.IsLoopback(c.addr) {
		return fmt.Errorf("refusing to listen on %s without a trust file: set --trust (LUMBAR_MRI_CDS_TRUST_FILE), or listen on loopback for development", c.addr)
	}
	fhirAllow := splitList(c.fhirAllow)
	if err := fhir.CheckAllowList(fhirAllow); err != nil {
		return fmt.Errorf("--fhir-allow: %w", err)
	}
	// Every start-up input is read before "starting" is logged, so a bad
	// file fails alone, without a start line and warnings before it.
	// The key pair read here is the one served: the files are read once.
	var tlsConfig *tls.Config
	if c.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	var trustClients []auth.Client
	if !dev {
		trust, err := auth.LoadTrust(c.trustFile)
		if err != nil {
			return err // LoadTrust's errors name the trust file
		}
		trustClients = trust.Clients
	}
	metrics := server.NewMetrics()
	holder, err := policy.NewHolderWithValueSets(c.policyPath, c.valueSetDir, log, metrics.PolicyReload)
	if err != nil {
		return err // policy errors name the policy and file
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if c.baseURL == "" {
		// Derived from the address actually bound (so port 0 works too).
		scheme := "http"
		if c.tlsCert != "" {
			scheme = "https"
		}
		c.baseURL = scheme + "://" + ln.Addr().String()
	}
	c.baseURL = strings.TrimRight(c.baseURL, "/")
	corsOrigins := splitList(c.corsOrigins)
	// Development: a page on the developer's own machine may call the
	// service, any other web page may not ("*" only when asked).
	corsLoopback := c.corsOrigins == "" && dev
	addresses := fhir.PublicOnly
	if dev {
		addresses = fhir.PublicAndLoopback
	}
	db, err := openStore(ctx, c.dataDir, c.databaseURL, c.pseudonymKeyFile, false)
	if err != nil {
		// The store's errors say "store: " themselves.
		return err
	}
	defer db.Close()
	// Replicas share one replay cache in PostgreSQL; a single instance
	// keeps it in memory (no synced write per call).
	var sharedReplay auth.SharedReplay
	if c.databaseURL != "" {
		sharedReplay = db
	}
	clients := trustClients
	if c.trustSandbox {
		clients = append(clients, auth.SandboxClient())
	}
	var verifier *auth.Verifier
	if len(clients) > 0 {
		verifier, err = auth.NewVerifier(auth.VerifierConfig{Clients: clients, BaseURL: c.baseURL, Logger: log,
			OnFailure: metrics.AuthFailure, MaxLifetime: c.tokenMaxLifetime, SharedReplay: sharedReplay})
		if err != nil {
			return fmt.Errorf("authentication: %w", err)
		}
		defer verifier.Close()
	}

	// The configuration in force, defaults resolved: what the flags left
	// empty is logged as the value used.
	resolved := map[string]string{"base-url": c.baseURL, "cors-origins": corsInForce(corsOrigins, corsLoopback)}
	if c.policyPath == "" {
		resolved["policy"] = "embedded default"
	}
	if len(fhirAllow) == 0 {
		resolved["fhir-allow"] = "any public https server"
		if dev {
			resolved["fhir-allow"] += ", and loopback"
		}
	}
	log.Info("starting lumbar-mri-cds", append([]any{slog.String("version", version), slog.Int("gc_percent", gcPercent),
		slog.Int64("memory_limit", memLimit), slog.String("memory_limit_from", memSource)},
		f.effective(resolved)...)...)
	if !dev && len(fhirAllow) == 0 {
		log.Warn("--fhir-allow is not set: any public https FHIR server named by a verified client is queried (private, loopback and link-local addresses and plain http are refused); list the EHRs' FHIR servers to allow only those")
	}
	switch {
	case dev && c.trustSandbox:
		log.Warn("DEVELOPMENT MODE: no trust file; only tokens signed with the public CDS Hooks sandbox key are accepted (--trust-sandbox); listening on loopback only")
	case dev:
		log.Warn("DEVELOPMENT MODE: no trust file, so CDS client tokens are not verified; listening on loopback only")
	}
	if c.trustSandbox {
		log.Warn("trusting the public CDS Hooks sandbox issuer: development only, its private key is public")
	}

	loader := fhir.NewLoader(fhir.LoaderConfig{
		Timeout:       c.fhirTimeout,
		AllowedHosts:  fhirAllow,
		Addresses:     addresses,
		MaxConcurrent: c.fhirMaxConcurrent,
		MaxPerHost:    c.fhirMaxPerHost,
		MaxPerClient:  c.fhirMaxPerClient,
		Observe:       metrics.FHIRQuery,
	}, log)
	srv := server.New(server.Config{
		Pipeline:              &server.Pipeline{Loader: loader, Policies: holder, Now: time.Now, NewID: newUUID},
		BaseURL:               c.baseURL,
		Logger:                log,
		MaxBodyBytes:          int64(c.maxBody),
		DecodeBudget:          int64(c.decodeBudget),
		Questionnaires:        policy.Questionnaires(),
		Store:                 db,
		OpenDiscovery:         c.openDiscovery,
		CORSOrigins:           corsOrigins,
		CORSLoopback:          corsLoopback,
		LoopbackHostsOnly:     dev,
		RatePerSecond:         float64(c.rateLimit),
		ReplayUsage:           replayUsage(verifier, sharedReplay != nil),
		AuthFailuresPerMinute: c.authFailureLimit,
		TrustedProxies:        trustedProxies,
		RateBurst:             c.rateBurst,
		AdminToken:            c.adminToken,
		Metrics:               metrics,
		Ready: map[string]func(context.Context) error{
			"policy": func(context.Context) error {
				if holder.Current() == nil {
					return errors.New("no policy")
				}
				return nil
			},
			"store": db.Writable,
			"trust": func(context.Context) error {
				if verifier == nil {
					return nil
				}
				return verifier.Ready()
			},
		},
		Authenticate: authMiddleware(verifier),
		CallerOf: func(r *http.Request) string {
			if cl, ok := auth.CallerFrom(r.Context()); ok {
				return cl.Issuer
			}
			return ""
		},
		ReleaseToken: func(r *http.Request) {
			cl, ok := auth.CallerFrom(r.Context())
			if !ok || verifier == nil {
				return
			}
			if err := verifier.Release(r.Context(), cl); err != nil {
				log.WarnContext(r.Context(), "token id not released; a retry with the same token will be refused", "error", err.Error())
			}
		},
	})

	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         tlsConfig,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	if err := holder.Watch(bg); err != nil {
		log.Warn("policy file watching is off", slog.String("error", err.Error()))
	}
	// Register for SIGHUP before listening, so a reload signal can never hit
	// the default action (exit).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnHUP(bg, hup, holder)
	go prune(bg, db, c.auditRetention, log)
	if sharedReplay != nil {
		go pruneTokenIDs(bg, db, log)
	}

	errc := make(chan error, 1)
	go func() {
		log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("base_url", c.baseURL), slog.Bool("tls", c.tlsCert != ""))
		fmt.Fprintf(stdout, "lumbar-mri-cds listening on %s (discovery: %s/cds-services)\n", ln.Addr(), c.baseURL)
		if tlsConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Graceful shutdown: refuse new calls, let calls in flight complete.
	log.Info("shutting down: refusing new calls, completing calls in flight")
	srv.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	err = hs.Shutdown(sctx)
	if ferr := srv.FlushRefused(sctx); ferr != nil {
		log.Warn("refused-call counts not written at shutdown", slog.String("error", ferr.Error()))
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func authMiddleware(v *auth.Verifier) func(http.Handler) http.Handler {
	if v == nil {
		return nil
	}
	return v.Middleware
}

// replayUsage adapts the verifier's replay-cache fill for the server (nil
// in development, where no token is verified).
func replayUsage(v *auth.Verifier, shared bool) func() []server.ReplayFill {
	// With replicas the token ids are in the database, which has no
	// per-issuer capacity to fill: nothing to report.
	if v == nil || shared {
		return nil
	}
	return func() []server.ReplayFill {
		var out []server.ReplayFill
		for _, u := range v.ReplayUsage() {
			out = append(out, server.ReplayFill{Issuer: u.Issuer, Entries: u.Entries, Capacity: u.Capacity})
		}
		return out
	}
}

func reloadOnHUP(ctx context.Context, ch <-chan os.Signal, h *policy.Holder) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			_ = h.Reload()
		}
	}
}

// prune deletes audit rows older than the retention, at start and daily.
func prune(ctx context.Context, db *store.DB, days int, log *slog.Logger) {
	if days <= 0 {
		return
	}
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		n, err := db.Prune(ctx, time.Now().AddDate(0, 0, -days))
		if err != nil && ctx.Err() == nil {
			log.Warn("audit pruning failed", slog.String("error", err.Error()))
		} else if n > 0 {
			log.Info("audit rows pruned", slog.Int64("rows", n), slog.Int("retention_days", days))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// openStore opens the PostgreSQL store when databaseURL is set, else the
// SQLite store in dataDir (created 0700 when missing). serve migrates the
// database; the report command (forReport) never migrates one that holds an
// older schema, which would break an older server still writing to it.
func openStore(ctx context.Context, dataDir, databaseURL, keyFile string, forReport bool) (*store.DB, error) {
	if databaseURL == "" {
		if keyFile != "" {
			return nil, errors.New("--pseudonym-key-file goes with --database-url (SQLite keeps its key in --data-dir)")
		}
		if forReport {
			return store.OpenForReport(ctx, dataDir)
		}
		return store.Open(ctx, dataDir)
	}
	var key []byte
	if keyFile != "" {
		k, err := store.LoadKeyFile(keyFile)
		if err != nil {
			return nil, err
		}
		key = k
	}
	if forReport {
		return store.OpenPostgresForReport(ctx, databaseURL, key)
	}
	return store.OpenPostgres(ctx, databaseURL, key)
}

// tokenIDPruneInterval is how often expired token ids are deleted from the
// shared replay cache; tokens live at most an hour.
const tokenIDPruneInterval = time.Minute

// pruneTokenIDs deletes expired token ids from the shared replay cache
// every minute until ctx ends.
func pruneTokenIDs(ctx context.Context, db *store.DB, log *slog.Logger) {
	t := time.NewTicker(tokenIDPruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := db.PruneTokenIDs(ctx, time.Now()); err != nil && ctx.Err() == nil {
			log.Warn("token id pruning failed", slog.String("error", err.Error()))
		}
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newUUID returns a time-ordered (RFC 9562 version 7) UUID for cards,
// suggestions and coverage assertions (uuidV7).
func newUUID() string {
	return uuidV7(time.Now())
}

// uuidV7 makes an RFC 9562 version 7 UUID: 48 bits of Unix milliseconds,
// then 74 random bits. Ids made close in time sort close together, so the
// audit store's indexes on card uuids and coverage-assertion ids grow at
// their end instead of touching a random page per id (version 4), which
// was a large part of each audit commit's writes.
func uuidV7(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// corsInForce names the browser origins allowed, for the start-up line.
func corsInForce(origins []string, loopback bool) string {
	switch {
	case len(origins) > 0:
		return strings.Join(origins, ",")
	case loopback:
		return "loopback origins"
	}
	return "none"
}
