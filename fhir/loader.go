package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/logctx"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for LoaderConfig fields left zero.
const (
	DefaultTimeout       = 3 * time.Second
	DefaultMaxPages      = 10
	DefaultMaxResources  = 2000
	DefaultMaxBodyBytes  = 8 << 20
	DefaultMaxConcurrent = 64
	// DefaultMaxCallResources bounds the resources of one call: about 50
	// times a large real chart (large-200.json holds ~200), and at most some
	// tens of MiB of decoded models.
	DefaultMaxCallResources = 10000
	// DefaultMaxCallBytes bounds the FHIR response bodies one call reads:
	// four full-size pages, where 9 searches x 10 pages x 8 MiB would allow
	// 720 MiB.
	DefaultMaxCallBytes = 32 << 20
)

// LoaderConfig bounds what one Load may cost. Zero fields take the defaults.
type LoaderConfig struct {
	// Timeout is the one deadline for all FHIR queries of a Load (CDS Hooks
	// clients wait for the answer while the clinician signs).
	Timeout time.Duration
	// MaxPages is the most pages read for one search.
	MaxPages int
	// MaxResources is the most entries accepted for one search, from a
	// prefetch Bundle or from the FHIR server's pages; a search over it is
	// not used (not supplied).
	MaxResources int
	// MaxCallResources is the most entries one Load accepts across all its
	// searches; searches that would go over it are not used.
	MaxCallResources int
	// MaxCallBytes caps the FHIR response bodies one Load reads, across all
	// searches and pages; a page that would go over it fails its search.
	MaxCallBytes int64
	// MaxBodyBytes caps each response body; a larger one fails its search.
	MaxBodyBytes int64
	// AllowedHosts, when not empty, lists the only fhirServer hosts queried
	// ("fhir.example.org" allows every port, "fhir.example.org:8443" one);
	// a listed host may be on any address and use plain http.
	AllowedHosts []string
	// Addresses, when AllowedHosts is empty, says which addresses may be
	// dialled (see AddressPolicy); with AllowedHosts it is not used.
	Addresses AddressPolicy
	// MaxConcurrent caps outbound FHIR requests in flight across all Loads.
	MaxConcurrent int
	// MaxPerHost caps them per FHIR server host, MaxPerClient per calling
	// client (see WithClient); SlotWait is the longest wait for a slot.
	MaxPerHost   int
	MaxPerClient int
	SlotWait     time.Duration
	// HTTPClient, when set, replaces the shared transport (tests). Its
	// CheckRedirect is replaced by the origin check.
	HTTPClient *http.Client
	// Observe, when set, is told of every FHIR request: the resource type, the
	// result ("ok", "unavailable", "unauthorized"...) and the latency. It feeds
	// metrics; it never sees ids, queries or tokens.
	Observe func(resourceType, result string, d time.Duration)
}

// Loader builds Records from prefetch and the EHR's FHIR server. It holds the
// process-wide connection pool and concurrency cap; make one and share it.
type Loader struct {
	cfg    LoaderConfig
	proto  *http.Client
	slots  *slots
	logger *slog.Logger
}

// attrsOf returns the log attributes the call's context carries.
func attrsOf(ctx context.Context) []any {
	var out []any
	for _, a := range logctx.Attrs(ctx) {
		out = append(out, a)
	}
	return out
}

// NewLoader returns a Loader. A nil logger discards logs.
func NewLoader(cfg LoaderConfig, logger *slog.Logger) *Loader {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = DefaultMaxPages
	}
	if cfg.MaxResources <= 0 {
		cfg.MaxResources = DefaultMaxResources
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxCallResources <= 0 {
		cfg.MaxCallResources = DefaultMaxCallResources
	}
	if cfg.MaxCallBytes <= 0 {
		cfg.MaxCallBytes = DefaultMaxCallBytes
	}
	if cfg.MaxPerHost <= 0 {
		cfg.MaxPerHost = DefaultMaxPerHost
	}
	if cfg.MaxPerClient <= 0 {
		cfg.MaxPerClient = DefaultMaxPerClient
	}
	if cfg.SlotWait <= 0 {
		cfg.SlotWait = DefaultSlotWait
	}
	if len(cfg.AllowedHosts) > 0 {
		// Only listed hosts are queried, and a listed host overrides the
		// address check.
		cfg.Addresses = AnyAddress
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	proto := cfg.HTTPClient
	if proto == nil {
		proto = &http.Client{Transport: newTransport(cfg.Addresses)}
	}
	return &Loader{
		cfg:    cfg,
		proto:  proto,
		slots:  newSlots(cfg.MaxConcurrent, cfg.MaxPerHost, cfg.MaxPerClient, cfg.SlotWait),
		logger: logger,
	}
}

// Dialer settings of the shared transport.
const (
	dialTimeout = 5 * time.Second
	keepAlive   = 30 * time.Second
)

// newTransport is the one pool of connections to FHIR servers. A hook call
// fans out to about nine searches on one host, so keep that many idle. With
// an address policy, no proxy is used: the check must see the FHIR server's
// own address, not the proxy's.
func newTransport(policy AddressPolicy) *http.Transport {
	proxy := http.ProxyFromEnvironment
	if policy != AnyAddress {
		proxy = nil
	}
	return &http.Transport{
		Proxy:                 proxy,
		DialContext:           policy.dialer().DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          128,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Client returns a FHIR client for base that sends token (when not empty)
// only to base's origin. It fails with ErrNotAllowed for a base that is not
// http(s) or not in AllowedHosts.
func (l *Loader) Client(base, token string) (*Client, error) {
	lim := limits{maxPages: l.cfg.MaxPages, maxResources: l.cfg.MaxResources, maxBodyBytes: l.cfg.MaxBodyBytes}
	c, err := newClient(base, token, l.proto, lim, l.cfg.AllowedHosts, l.cfg.Addresses, l.slots, l.logger)
	if c != nil {
		c.observe = l.cfg.Observe
		// One Client per call: the byte budget spans all its searches and pages.
		c.bytes = newBudget(l.cfg.MaxCallBytes)
	}
	return c, err
}

// LoadInput is what a CDS Hooks call gives the Loader.
type LoadInput struct {
	// PatientID is context.patientId.
	PatientID string
	// Prefetch is the request's prefetch, keyed by Search.
	Prefetch map[string]json.RawMessage
	// FHIRServer is the request's fhirServer base URL ("" when absent).
	FHIRServer string
	// AccessToken is fhirAuthorization.access_token ("" when absent).
	AccessToken string
	// PrefetchValid says every Prefetch value is valid JSON, as values that
	// come out of json.Unmarshal (hooks.Decode) are, so Load does not check
	// their syntax again.
	PrefetchValid bool
}

// idPattern is the FHIR id syntax. A patient id outside it is never put into
// a URL, so a crafted context.patientId cannot change the query.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// IsID reports whether s is a FHIR R4 id (datatypes, id): A-Z, a-z, 0-9,
// "-" and ".", 1 to 64 characters.
func IsID(s string) bool { return idPattern.MatchString(s) }

// Load returns the patient's Record. Each search in Searches comes from the
// prefetch when supplied there (DECISIONS.md, "Where the data comes from"),
// otherwise from fhirServer; the queries run in parallel under one deadline
// (LoaderConfig.Timeout). Searches neither source supplied are listed in
// Record.Unavailable; that is not an error. When none of the needed data was
// supplied at all, Load returns the (empty) Record and an error wrapping
// ErrNothingSupplied.
func (l *Loader) Load(ctx context.Context, in LoadInput) (*Record, error) {
	rec := &Record{PatientID: in.PatientID}
	var client *Client
	var unused error // why fhirServer was not used, nil when it was or none was named
	if in.FHIRServer != "" {
		switch c, err := l.Client(in.FHIRServer, in.AccessToken); {
		case err != nil:
			l.logger.WarnContext(ctx, "fhirServer not used", "reason", err.Error())
			unused = fmt.Errorf("%w: %w", ErrFHIRServerRefused, err)
		case !idPattern.MatchString(in.PatientID):
			l.logger.WarnContext(ctx, "fhirServer not used", "reason", "patientId is not a FHIR id")
			unused = ErrPatientIDNotFHIR
		default:
			client = c
		}
	}

	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	results := make([]result, len(Searches))
	if client == nil {
		// Prefetch only: nothing waits on the network, so goroutines would
		// only add scheduling and stack growth.
		for i, s := range Searches {
			results[i] = l.resolve(ctx, s, in, nil)
		}
	} else {
		var wg sync.WaitGroup
		for i, s := range Searches {
			wg.Go(func() { results[i] = l.resolve(ctx, s, in, client) })
		}
		wg.Wait()
	}
	forgetUnknownPatient(results)
	for _, k := range capResults(results, l.cfg.MaxCallResources) {
		l.logger.WarnContext(ctx, "search not used", "search", k, "reason", fmt.Sprintf("the call would hold more than %d resources", l.cfg.MaxCallResources))
	}

	// Each search fills only its own resource type (add ignores entries of
	// other types), so the searches decode in parallel into parts of the
	// Record and are joined in search order: the same Record as one decoder
	// would build, in less wall time on a chart of a few hundred resources.
	// The decoders log without a context: bind the call's attributes
	// (request id, hookInstance) to their logger.
	// A small chart decodes in this goroutine: below parallelDecodeMin
	// bytes, starting goroutines (and growing their stacks for the
	// decoder's recursion) costs more CPU than it saves wall time.
	log := l.logger.With(attrsOf(ctx)...)
	parts := make([]Record, len(Searches))
	size := 0
	for _, r := range results {
		for _, raw := range r.raws {
			size += len(raw)
		}
	}
	decode := func(i int, s SearchSpec) {
		parts[i].PatientID = rec.PatientID
		d := decoder{rec: &parts[i], logger: log, seen: map[string]bool{}, hint: len(results[i].raws)}
		for _, raw := range results[i].raws {
			d.add(s, raw)
		}
		d.flush(s)
	}
	var dwg sync.WaitGroup
	for i, s := range Searches {
		switch {
		case len(results[i].raws) == 0:
		case size < parallelDecodeMin:
			decode(i, s)
		default:
			dwg.Go(func() { decode(i, s) })
		}
	}
	dwg.Wait()
	got := 0
	for i, s := range Searches {
		r := results[i]
		join(rec, &parts[i])
		if !r.supplied && !s.Optional {
			rec.Unavailable = append(rec.Unavailable, s.Key)
		}
		if sf := r.shortfall(); !r.supplied && sf != (Shortfall{}) {
			if rec.Shortfalls == nil {
				rec.Shortfalls = map[Search]Shortfall{}
			}
			rec.Shortfalls[s.Key] = sf
		}
		if !s.Optional && (r.supplied || len(r.raws) > 0) {
			got++
		}
		if s.Key == SearchDocumentReferences {
			// Notes: the DocumentReference search is optional data; whether
			// it was supplied is what "notes checked" means (DECISIONS.md,
			// "Notes").
			rec.Notes.Checked = r.supplied
		}
	}
	var fetch AttachmentFetcher
	if client != nil {
		fetch = client.Attachment
	}
	rec.Notes.List = ExtractNotes(ctx, rec.DocumentReferences, rec.DiagnosticReports, fetch)
	if client != nil {
		l.resolveMedications(ctx, client, rec, log)
		rec.Queries = client.Queries()
	}
	if failed, reason := failures(results); len(failed) > 0 {
		// One line per call, not one per search: a failing server fails
		// every search the same way.
		l.logger.WarnContext(ctx, "fhir searches failed", "searches", strings.Join(failed, ","), "count", len(failed),
			"reason", reason)
	}
	if got == 0 {
		if in.FHIRServer == "" {
			return rec, fmt.Errorf("load: %d searches, none supplied: %w: %w", len(Searches), ErrNothingSupplied, ErrNoFHIRServer)
		}
		if slices.ContainsFunc(results, func(r result) bool { return r.notFound }) {
			return rec, fmt.Errorf("load: %d searches, none supplied: %w: %w", len(Searches), ErrNothingSupplied, ErrPatientNotFound)
		}
		if unused != nil {
			return rec, fmt.Errorf("load: %d searches, none supplied: %w: %w", len(Searches), ErrNothingSupplied, unused)
		}
		return rec, fmt.Errorf("load: %d searches, none supplied (fhirServer used: %t): %w",
			len(Searches), client != nil, ErrNothingSupplied)
	}
	return rec, nil
}

// parallelDecodeMin is the size of a chart's resources (bytes of JSON) from
// which its searches are decoded in parallel.
const parallelDecodeMin = 64 << 10

// result is what one search produced. supplied means complete: an empty
// result from a null prefetch is supplied, a first page whose `next` could
// not be followed is not (raws then hold that partial page).
type result struct {
	raws     []json.RawMessage
	supplied bool
	// failed is why the search failed on fhirServer ("" when it did not).
	failed string
	// limit is the cap a search that arrived went over (0 when none);
	// callLimit says it is the call's cap on resources, not the search's
	// on entries.
	limit     int
	callLimit bool
	// fromServer: the result came from the FHIR server (not prefetch).
	fromServer bool
	// notFound: the FHIR server does not know the patient (404 or 410 on
	// its Patient read); see forgetUnknownPatient.
	notFound bool
}

// shortfall says why an unsupplied result is not there beyond "not sent".
func (r result) shortfall() Shortfall {
	return Shortfall{Limit: r.limit, Call: r.callLimit, Failed: r.failed != "", PatientNotFound: r.notFound}
}

// failures lists the keys of the searches that failed (rs is in Searches
// order) and the reason of the first.
func failures(rs []result) (keys []string, first string) {
	for i, r := range rs {
		if r.failed != "" {
			keys = append(keys, string(Searches[i].Key))
			if first == "" {
				first = r.failed
			}
		}
	}
	return keys, first
}

// resolve gets one search from the prefetch or, failing that, the server.
func (l *Loader) resolve(ctx context.Context, s SearchSpec, in LoadInput, client *Client) result {
	var partial []json.RawMessage
	over := 0 // the per-search cap the prefetch value went over
	if v, ok := in.Prefetch[string(s.Key)]; ok {
		pv := classify(v, s.ResourceType, in.PrefetchValid, l.cfg.MaxResources)
		switch pv.kind {
		case prefetchNull:
			return result{supplied: true}
		case prefetchResource:
			return result{raws: []json.RawMessage{v}, supplied: true}
		case prefetchBundle:
			if pv.next == "" {
				return result{raws: pv.raws, supplied: true}
			}
			if client == nil {
				l.logger.InfoContext(ctx, "prefetch page not followed", "search", s.Key, "reason", "no fhirServer")
				return result{raws: pv.raws}
			}
			more, err := client.FetchURL(ctx, pv.next)
			if err == nil {
				return result{raws: append(pv.raws, more...), supplied: true}
			}
			if !errors.Is(err, ErrForeignOrigin) {
				return result{raws: pv.raws, failed: "prefetch next page: " + err.Error()}
			}
			// A `next` link off the fhirServer origin is never sent the
			// token; run the whole search on fhirServer instead.
			l.logger.InfoContext(ctx, "prefetch next link on another origin, querying fhirServer", "search", s.Key)
			partial = pv.raws
		default:
			if pv.over {
				over = l.cfg.MaxResources
			}
			l.logger.InfoContext(ctx, "prefetch not usable, querying fhirServer", "search", s.Key, "reason", pv.reason)
		}
	}
	if client == nil {
		return result{raws: partial, limit: over}
	}
	rel := strings.ReplaceAll(s.Template, "{{context.patientId}}", in.PatientID)
	if strings.Contains(rel, "?") {
		// Ask for pages large enough that the page cap is not reached before
		// the entry cap: servers page by their own default otherwise (HAPI
		// by 20), which would cut a search at 200 entries. A server that
		// caps _count lower pages by its cap.
		rel += "&_count=" + strconv.Itoa(l.pageSize())
	}
	raws, err := client.Fetch(ctx, rel)
	if err != nil {
		isRead := !strings.Contains(s.Template, "?")
		if isRead && errors.Is(err, ErrNotFound) {
			// The server does not know the patient: its searches for that
			// patient id say nothing (forgetUnknownPatient).
			return result{raws: partial, failed: "the FHIR server has no Patient/" + in.PatientID, notFound: true}
		}
		l.logger.DebugContext(ctx, "fhir search failed", "search", s.Key, "type", s.ResourceType, "reason", err.Error())
		return result{raws: partial, failed: err.Error(), limit: over}
	}
	return result{raws: raws, supplied: true, fromServer: true}
}

// forgetUnknownPatient: when the FHIR server answered the Patient read with
// 404 or 410, the empty searches it answered for that patient id are not
// "no data" but a chart it does not have (a wrong patient id, or another
// server's): every result that came from the server is dropped as not
// supplied, so the assessment is never criteria-not-met on it. Prefetched
// results stay (the client sent them for this patient).
func forgetUnknownPatient(results []result) {
	if !slices.ContainsFunc(results, func(r result) bool { return r.notFound }) {
		return
	}
	for i, r := range results {
		if r.fromServer || r.notFound {
			results[i] = result{failed: "the FHIR server has no record of this patient", notFound: true}
		}
	}
}

// pageSize is the _count of the service's own searches: the entry cap spread
// over the page cap (200 with the defaults, HAPI's own maximum page size).
func (l *Loader) pageSize() int {
	return max(1, (l.cfg.MaxResources+l.cfg.MaxPages-1)/l.cfg.MaxPages)
}

// prefetchKind classifies one prefetch value.
type prefetchKind int

const (
	prefetchUnusable prefetchKind = iota // missing, OperationOutcome, wrong type, not an object
	prefetchNull                         // JSON null: the client has no such data
	prefetchResource                     // one resource of the expected type
	prefetchBundle                       // a searchset or collection Bundle
)

type prefetchValue struct {
	kind   prefetchKind
	raws   []json.RawMessage
	next   string
	reason string
	// over is true when the value arrived with more entries than the
	// per-search cap.
	over bool
}

// classify reads a prefetch value per CDS Hooks 2.0 section 1.4 and
// DECISIONS.md: only a resource of the expected type or a searchset or
// collection Bundle counts; null means "none"; anything else is not supplied.
// A Bundle of more than maxEntries entries is not supplied either (the
// FHIR path's per-search cap); its walk stops at the first entry over.
func classify(v json.RawMessage, resourceType string, valid bool, maxEntries int) prefetchValue {
	t := bytes.TrimSpace(v)
	if bytes.Equal(t, []byte("null")) {
		return prefetchValue{kind: prefetchNull}
	}
	if len(t) == 0 || t[0] != '{' {
		return prefetchValue{reason: "not a JSON object"}
	}
	env, ok := (*envelope)(nil), false
	if valid || json.Valid(t) {
		env, ok = walkEnvelope(t, maxEntries)
	}
	if !ok {
		var err error
		if env, err = parseEnvelope(t); err != nil {
			return prefetchValue{reason: err.Error()}
		}
	}
	if env.over || (maxEntries > 0 && len(env.Entry) > maxEntries) {
		return prefetchValue{reason: overCap(maxEntries), over: true}
	}
	switch env.ResourceType {
	case resourceType:
		return prefetchValue{kind: prefetchResource}
	case "OperationOutcome":
		return prefetchValue{reason: "OperationOutcome"}
	case "Bundle":
		if env.Type != "searchset" && env.Type != "collection" {
			return prefetchValue{reason: "Bundle of type " + clipType(env.Type)}
		}
		pv := prefetchValue{kind: prefetchBundle}
		for _, e := range env.Entry {
			if len(e.Resource) > 0 {
				pv.raws = append(pv.raws, e.Resource)
			}
		}
		if env.Type == "searchset" {
			pv.next = env.next()
		}
		return pv
	default:
		return prefetchValue{reason: "resource of type " + clipType(env.ResourceType)}
	}
}

// maxMedicationIDs bounds the ids put into one Medication search URL.
const maxMedicationIDs = 50

// resolveMedications fetches, in one batched search on the fhirServer
// origin with the call's token, the Medications that medicationReference
// names but that neither the entries' contained resources nor the Bundle
// (search mode include) held (FHIR R4 search: _id takes a comma-separated
// list). What still cannot be resolved is reported by the facts step.
func (l *Loader) resolveMedications(ctx context.Context, client *Client, rec *Record, log *slog.Logger) {
	var ids []string
	for _, id := range rec.UnresolvedMedicationIDs() {
		if idPattern.MatchString(id) && len(ids) < maxMedicationIDs {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	raws, err := client.Fetch(ctx, "Medication?_id="+strings.Join(ids, ","))
	if err != nil {
		log.Warn("fhir search failed", "search", "medications", "type", "Medication", "reason", err.Error())
		return
	}
	d := decoder{rec: rec, logger: log, seen: map[string]bool{}}
	for _, raw := range raws {
		var p peek
		if p.read(raw) == nil && p.ResourceType == "Medication" {
			d.addMedication(raw)
		}
	}
}
