package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/report"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// callTimeout bounds one service call; the FHIR deadline is shorter.
const callTimeout = 10 * time.Second

func (s *Server) handleDiscovery(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", s.discoveryBody)
}

// handleService answers POST /cds-services/{id}.
func (s *Server) handleService(c *gin.Context) {
	if s.draining.Load() {
		c.Header("Retry-After", "1")
		s.fail(c, ErrUnavailable)
		return
	}
	body, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	// The audit row keeps the body's hash (disputes are settled by matching a
	// body against it). Hashing now, not after the answer, lets the body go
	// once it is decoded: on a large prefetch it is megabytes the rest of
	// the call does not need.
	if len(body) > 0 && s.cfg.Store != nil {
		c.Set(ctxBodyHash, sha256.Sum256(body))
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), callTimeout)
	defer cancel()
	// Outbound FHIR requests are capped per client: the verified issuer,
	// else (development) the remote address.
	client := caller(c)
	if client == "" {
		client = gateKey(c.ClientIP()).String()
	}
	ctx = fhir.WithClient(ctx, client)
	out, err := s.cfg.Pipeline.Run(ctx, c.Param("id"), body)
	c.Set(ctxOutcome, out)
	if err != nil {
		s.fail(c, err)
		return
	}
	b, err := jsonv1.Marshal(out.Response)
	if err != nil {
		s.fail(c, err)
		return
	}
	if w, ok := c.Writer.(*bufferedWriter); ok && w.buf.Len() == 0 {
		// The audit step holds the answer until its row is committed: hand
		// it the encoded answer instead of a copy of it.
		c.Header("Content-Type", "application/json; charset=utf-8")
		c.Status(http.StatusOK)
		w.buf = *bytes.NewBuffer(b)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", b)
}

const (
	ctxOutcome  = "lumbar-mri-cds.outcome"
	ctxBodyHash = "lumbar-mri-cds.body-sha256"
)

// audit runs around a service call: it buffers the response, writes the
// audit row (every status, with what is known), and only then sends the
// response, so an answered call is never missing from the audit trail
// (DECISIONS.md, "Audit and feedback"). It also logs one line per call and
// feeds the metrics.
// nextRecovering runs the rest of the chain; a panic there becomes the
// call's 500 answer, written into the audit step's buffer, so the call is
// audited and the client reads the status. Unrecovered, it would unwind
// past the buffer: the router's recovery wrote its 500 into a buffer never
// sent, and the client got an empty 200 (a stage text that made the
// facts step panic did so).
func (s *Server) nextRecovering(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		s.log.ErrorContext(c.Request.Context(), "panic in a service call", slog.String("panic", clip(fmt.Sprint(r))), slog.String("stack", string(debug.Stack())))
		s.fail(c, errPanic)
	}()
	c.Next()
}

func (s *Server) audit(c *gin.Context) {
	start := time.Now()
	w := &bufferedWriter{ResponseWriter: c.Writer}
	c.Writer = w
	s.nextRecovering(c)
	status := w.Status()
	// latency is the service time: request received to answer ready, the
	// figure the audit row can hold (it is written in the commit). The
	// client also waits for that commit; answered (below) includes it.
	latency := time.Since(start)
	// A service id not of this server is what the client typed in the path:
	// neither logged nor stored as sent (it could hold a name).
	serviceID := c.Param("id")
	if _, ok := services[serviceID]; !ok {
		serviceID = auditHash(serviceID)
	}
	call := store.Call{Time: start.UTC(), ServiceID: serviceID, Status: status, Latency: latency, ClientISS: caller(c)}
	// The body hashes are for the audit row only (disputes are settled by
	// matching a body against its hash).
	if h, ok := c.Get(ctxBodyHash); ok {
		call.RequestSHA256 = h.([32]byte)
	}
	if w.buf.Len() > 0 && s.cfg.Store != nil {
		call.ResponseSHA256 = sha256.Sum256(w.buf.Bytes())
	}
	var outcomes, findings []string
	if v, ok := c.Get(ctxOutcome); ok && v.(*Outcome) != nil {
		out := v.(*Outcome)
		if out.Request != nil {
			call.Hook, call.HookInstance, call.PatientID = knownHook(out.Request.Hook), auditHookInstance(out.Request.HookInstance), out.Request.Context.PatientID
		}
		call.PolicyID, call.FHIRQueries, call.AssertionIDs = out.PolicyID, out.Queries, out.Assertions
		for _, a := range out.Assessments {
			o := store.Order{ID: auditID(a.Order.ID), Codes: []string{a.Order.Code.Code}, Assessment: a.Outcome}
			for _, f := range a.Findings {
				o.Findings = append(o.Findings, f.Code)
			}
			call.Orders = append(call.Orders, o)
			outcomes = append(outcomes, a.Outcome)
			findings = append(findings, o.Findings...)
		}
		for _, ic := range out.Cards {
			ic.OrderID = auditID(ic.OrderID)
			call.Cards = append(call.Cards, store.Card(ic))
		}
	}
	log := logger(c).With(slog.String("hook_instance", clip(call.HookInstance)))
	if s.cfg.Store != nil {
		// The response waits for the commit; a detached context lets the row
		// land even when the client has gone.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 5*time.Second)
		err := s.cfg.Store.RecordCall(ctx, call)
		cancel()
		if err != nil {
			// Never answer a call that is not in the audit trail.
			log.Error("audit write failed; answering 503", slog.String("error", err.Error()))
			w.buf.Reset()
			status, code, msg := statusOf(ErrUnavailable)
			w.status = status
			b, _ := json.Marshal(outcome(code, msg))
			w.buf.Write(b)
			w.Header().Set("Content-Type", "application/json")
		}
	}
	answered := time.Since(start)
	if m := s.cfg.Metrics; m != nil {
		// Labels come from this service's own names, never from what the
		// client sent, so the number of series stays bounded.
		svc, hook := call.ServiceID, services[call.ServiceID]
		if hook == "" {
			svc = "unknown"
		}
		m.calls.WithLabelValues(svc, hook, strconv.Itoa(w.Status())).Inc()
		m.latency.WithLabelValues(svc, hook).Observe(answered.Seconds())
		for _, o := range outcomes {
			m.outcomes.WithLabelValues(o).Inc()
		}
		for _, f := range findings {
			m.findings.WithLabelValues(f).Inc()
		}
	}
	log.Info("call",
		slog.String("service", call.ServiceID), slog.String("hook", call.Hook), slog.Int("status", w.Status()),
		slog.Duration("service_time", latency), slog.Duration("latency", answered), slog.String("outcomes", strings.Join(outcomes, ",")),
		slog.String("findings", strings.Join(findings, ",")), slog.Int("fhir_queries", call.FHIRQueries),
		slog.String("client", call.ClientISS))
	if w.buf.Len() > 0 {
		// The whole answer is known: say its length, so that net/http
		// writes it in one piece instead of in chunks (an answer is larger
		// than the buffer net/http sizes a response by).
		w.Header().Set("Content-Length", strconv.Itoa(w.buf.Len()))
	}
	w.ResponseWriter.WriteHeader(w.Status())
	_, _ = w.ResponseWriter.Write(w.buf.Bytes())
}

// handleFeedback answers POST /cds-services/{id}/feedback (CDS Hooks 2.0
// §Feedback): all-or-nothing, idempotent, 200 with no body.
func (s *Server) handleFeedback(c *gin.Context) {
	if _, ok := services[c.Param("id")]; !ok {
		s.fail(c, ErrUnknownService)
		return
	}
	body, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var fb hooks.Feedback
	var probe map[string]json.RawMessage
	if json.Unmarshal(body, &probe) != nil || probe == nil {
		s.fail(c, hooks.ErrMalformed)
		return
	}
	if err := json.Unmarshal(body, &fb); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			s.fail(c, fmt.Errorf("%w: %s must not be a JSON %s", ErrInvalidFeedback, te.Field, te.Value))
			return
		}
		s.fail(c, fmt.Errorf("%w: the body must be {\"feedback\": [...]} with at least one item", ErrInvalidFeedback))
		return
	}
	if len(fb.Feedback) == 0 {
		s.fail(c, fmt.Errorf("%w: the body must be {\"feedback\": [...]} with at least one item", ErrInvalidFeedback))
		return
	}
	if len(fb.Feedback) > MaxFeedbackItems {
		s.fail(c, fmt.Errorf("%w: at most %d feedback items per request", ErrTooLarge, MaxFeedbackItems))
		return
	}
	// Items beyond the first feedbackItemsPerCall spend more of the
	// client's rate (the middleware took one call): feedback items share
	// the one audit writer with every client's calls.
	if extra := (len(fb.Feedback) - 1) / feedbackItemsPerCall; extra > 0 && !s.spend(c, extra) {
		return
	}
	if s.cfg.Store == nil {
		s.fail(c, ErrUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 5*time.Second)
	defer cancel()
	if err := s.cfg.Store.RecordFeedback(store.WithFeedbackClient(ctx, caller(c)), c.Param("id"), fb.Feedback); err != nil {
		if !errors.Is(err, store.ErrUnknownCard) && !errors.Is(err, store.ErrInvalidFeedback) {
			logger(c).Error("feedback write failed", slog.String("error", err.Error()))
			err = ErrUnavailable
		}
		s.fail(c, err)
		return
	}
	logger(c).Info("feedback", slog.Int("items", len(fb.Feedback)))
	c.Status(http.StatusOK)
}

// MaxFeedbackItems bounds the items of one feedback request (413 above). A
// client sends one item per card it acted on, and an answer carries at most
// three cards per order; the bound keeps one request from holding the audit
// writer, which every client's calls wait on, for seconds.
const MaxFeedbackItems = 100

// feedbackItemsPerCall is how many feedback items cost one call of the
// client's rate limit: writing ten items costs the audit writer about what
// one call's audit row does.
const feedbackItemsPerCall = 10

func (s *Server) handleReady(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	for name, check := range s.cfg.Ready {
		if err := check(ctx); err != nil {
			checks[name] = "failing"
			ok = false
			logger(c).Warn("not ready", slog.String("check", name), slog.String("error", err.Error()))
			continue
		}
		checks[name] = "ok"
	}
	if s.draining.Load() {
		checks["shutdown"] = "draining"
		ok = false
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	body := gin.H{"status": map[bool]string{true: "ready", false: "not ready"}[ok], "checks": checks}
	if s.cfg.ReplayUsage != nil {
		// A saturated share refuses its own issuer's new tokens only, so the
		// service stays ready; the detail says which issuer is affected.
		type share struct {
			Issuer    string `json:"issuer"`
			Entries   int    `json:"entries"`
			Capacity  int    `json:"capacity"`
			Saturated bool   `json:"saturated"`
		}
		shares := []share{}
		for _, u := range s.cfg.ReplayUsage() {
			shares = append(shares, share{u.Issuer, u.Entries, u.Capacity, u.Entries >= u.Capacity})
		}
		sort.Slice(shares, func(i, j int) bool { return shares[i].Issuer < shares[j].Issuer })
		body["replay_cache"] = shares
	}
	c.JSON(status, body)
}

// handleReport serves the HTML report for ?from=YYYY-MM-DD&to=YYYY-MM-DD
// (default: the last 30 days).
func (s *Server) handleReport(c *gin.Context) {
	if s.cfg.Store == nil {
		s.fail(c, ErrUnavailable)
		return
	}
	from, to, err := Period(c.Query("from"), c.Query("to"), time.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.cfg.Store.Report(c.Request.Context(), from, to)
	if err != nil {
		logger(c).Error("report failed", slog.String("error", err.Error()))
		s.fail(c, ErrUnavailable)
		return
	}
	refused, err := s.cfg.Store.Refused(c.Request.Context(), from, to)
	if err != nil {
		logger(c).Error("report failed", slog.String("error", err.Error()))
		s.fail(c, ErrUnavailable)
		return
	}
	r.Refused = append(r.Refused, store.RefusalCounts(refused)...)
	if p := s.cfg.Pipeline; p != nil && p.Policies != nil {
		r.PolicyNames = PolicyNames(p.Policies.Current())
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
	c.Status(http.StatusOK)
	if err := report.HTML(c.Writer, r); err != nil {
		logger(c).Error("report render failed", slog.String("error", err.Error()))
	}
}

// PolicyNames maps each policy id of set to its payer's name, for the
// report's split by payer policy.
func PolicyNames(set *policy.Set) map[string]string {
	if set == nil {
		return nil
	}
	names := map[string]string{}
	for _, p := range set.Policies() {
		names[p.ID] = p.PayerName()
	}
	return names
}

// Period parses a report period: dates YYYY-MM-DD, "to" inclusive; the
// default is the 30 days up to now.
func Period(fromS, toS string, now time.Time) (time.Time, time.Time, error) {
	to := now.UTC()
	from := to.AddDate(0, 0, -30)
	if toS != "" {
		t, err := time.Parse(time.DateOnly, toS)
		if err != nil {
			return from, to, fmt.Errorf("%w: to must be a date YYYY-MM-DD, got %q", ErrBadPeriod, clip(toS))
		}
		to = t.AddDate(0, 0, 1)
		// Without a from, the 30 days up to the given last day.
		from = to.AddDate(0, 0, -30)
	}
	if fromS != "" {
		t, err := time.Parse(time.DateOnly, fromS)
		if err != nil {
			return from, to, fmt.Errorf("%w: from must be a date YYYY-MM-DD, got %q", ErrBadPeriod, clip(fromS))
		}
		from = t
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("%w: from must not be after to", ErrBadPeriod)
	}
	return from, to, nil
}

// knownHook returns hook when it is one this service answers, else
// "unknown": the audit trail keeps no free text a client chose.
func knownHook(hook string) string {
	for _, h := range services {
		if hook == h {
			return hook
		}
	}
	return "unknown"
}

// auditID returns an order id or hook instance fit for the audit trail and
// the log: a FHIR id (a UUID is one) as it is,
// anything else (free text, overlong) as a short hash that still matches
// the same id across calls and feedback without keeping what was sent.
func auditID(id string) string {
	if id == "" || fhir.IsID(id) {
		return id
	}
	return auditHash(id)
}

// auditHash stands for client text that is not kept as sent: "sha256:"
// and the first 8 bytes of its SHA-256 in hex ("" stays "").
func auditHash(s string) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// auditHookInstance is hookInstance as logged and stored: as sent when it
// is a UUID (CDS Hooks 2.0, hookInstance), else auditHash: an id-shaped
// "SofiaMarchetti-MRN-06" would put a name in the log.
func auditHookInstance(s string) string {
	if hooks.IsUUID(s) {
		return s
	}
	return auditHash(s)
}
