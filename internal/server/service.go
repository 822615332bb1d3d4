package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/cards"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/logctx"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// Service ids advertised in discovery.
const (
	ServiceOrderSign   = "lumbar-mri-order-sign"
	ServiceOrderSelect = "lumbar-mri-order-select"
)

// ErrUnknownService means the path names no service of this server (404).
var ErrUnknownService = errors.New("unknown service")

// services maps a service id to its hook.
var services = map[string]string{
	ServiceOrderSign:   hooks.HookOrderSign,
	ServiceOrderSelect: hooks.HookOrderSelect,
}

// RecordLoader turns a request's prefetch (and, when needed, FHIR queries)
// into the patient's record.
type RecordLoader interface {
	Load(ctx context.Context, in fhir.LoadInput) (*fhir.Record, error)
}

// PolicySource gives the policy set in force; it may change between calls (reload).
type PolicySource interface {
	Current() *policy.Set
}

// Pipeline runs one service call from body to response. It is shared by the
// HTTP handler and the offline `evaluate` command.
type Pipeline struct {
	Loader   RecordLoader
	Policies PolicySource
	// Now is the clock (UTC); NewID makes card, suggestion and assertion ids.
	Now   func() time.Time
	NewID func() string
}

// Outcome is everything one call produced, for the response and the audit trail.
type Outcome struct {
	Request     *hooks.Request
	Response    hooks.Response
	Assessments []criteria.Assessment
	Cards       []cards.Issued
	Assertions  []string
	OrderCodes  []string
	Queries     int
	PolicyID    string
}

// MaxLumbarOrders is the most lumbar spine MRI orders one call may ask to
// have assessed. Each gets its cards, a pre-filled form (about 8 KB of answer
// together) and a systemAction: thousands in one body took seconds and
// hundreds of megabytes. No clinician signs more than a few at once.
const MaxLumbarOrders = 20

// Run decodes, validates and answers a call to the service id. Errors wrap
// the sentinels of hooks, fhir and this package; errors.go maps them. More
// than fhir.MaxDraftOrders draft orders or MaxLumbarOrders lumbar MRI orders
// is an invalid request (400).
func (p *Pipeline) Run(ctx context.Context, serviceID string, body []byte) (*Outcome, error) {
	hook, ok := services[serviceID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownService, clip(serviceID))
	}
	req, err := hooks.Decode(body, hook)
	if err != nil {
		// Keep what is known of an invalid request for the audit row.
		return &Outcome{Request: req}, err
	}
	out := &Outcome{Request: req}
	ctx = logctx.With(ctx, slog.String("hook_instance", auditHookInstance(req.HookInstance)))
	drafts, err := fhir.DraftOrders(req.Context.DraftOrders)
	if err != nil {
		return out, fmt.Errorf("%w: context.draftOrders: %v", hooks.ErrInvalid, err)
	}
	// One policy set for the whole call, recognition and assessment alike,
	// even when a reload lands in between.
	set := p.Policies.Current()
	var orders []cards.Order
	for _, d := range considered(req, drafts) {
		if d.ServiceRequest == nil {
			// A lumbar MRI order that is not valid FHIR R4 cannot be
			// assessed, and answering without it would read as "no lumbar
			// MRI ordered": refuse the call, naming the member. Other
			// orders that do not decode are not this service's concern.
			if d.DecodeErr != nil && d.Code != nil {
				if _, ok := criteria.Recognize(chart.OrderOfCode(d.Code), set.Default()); ok {
					return out, fmt.Errorf("%w: context.draftOrders entry %d: the lumbar spine MRI order is not a valid FHIR R4 ServiceRequest: %v", hooks.ErrInvalid, d.Index, d.DecodeErr)
				}
			}
			continue
		}
		sr := chart.OrderOf(d.ServiceRequest)
		o, ok := criteria.Recognize(sr, set.Default())
		if !ok || sr.Withdrawn {
			// A withdrawn order (do not perform, revoked, entered in
			// error) asks for no MRI: no prior authorization to check.
			continue
		}
		// An order date that is present but not a FHIR dateTime would
		// silently become today and move every window: refuse it.
		if sr.AuthoredOnInvalid {
			return out, fmt.Errorf("%w: context.draftOrders entry %d: the lumbar spine MRI order's authoredOn %q is not a FHIR dateTime", hooks.ErrInvalid, d.Index, clip(sr.AuthoredOnText))
		}
		// A draft being signed is dated about now; one dated years ahead
		// (2031, 9999) would move every window past the chart and answer
		// "nothing documented". A date within a year is left to the
		// assessment, which shows the date it assessed for.
		if !sr.AuthoredOn.IsZero() && sr.AuthoredOn.Earliest.After(p.Now().AddDate(1, 0, 0)) {
			return out, fmt.Errorf("%w: context.draftOrders entry %d: the lumbar spine MRI order's authoredOn %q is more than a year after today", hooks.ErrInvalid, d.Index, clip(sr.AuthoredOnText))
		}
		// A lumbar MRI order about another patient than context.patientId
		// would be assessed against the wrong chart: refuse the call.
		if sr.Subject != "" {
			if id, named := fhir.PatientIDOf(sr.Subject); named && id != req.Context.PatientID {
				return out, fmt.Errorf("%w: context.draftOrders: the lumbar MRI order's subject names another patient than context.patientId", hooks.ErrInvalid)
			}
		}
		out.OrderCodes = append(out.OrderCodes, o.Code.Code)
		orders = append(orders, cards.Order{Assessment: criteria.Assessment{Order: o}, Raw: d.Raw})
		if len(orders) > MaxLumbarOrders {
			return out, fmt.Errorf("%w: context.draftOrders: more than %d lumbar spine MRI orders in one call; sign them in smaller groups", hooks.ErrInvalid, MaxLumbarOrders)
		}
	}
	if len(orders) == 0 {
		// EHRs call order-sign for every order signed: answer at once,
		// without prefetch or FHIR access (DECISIONS.md, "Requests").
		out.Response = hooks.Response{Cards: []hooks.Card{}, SystemActions: cards.NoActions(hook)}
		return out, nil
	}
	rec, err := p.Loader.Load(ctx, fhir.LoadInput{
		PatientID:   req.Context.PatientID,
		Prefetch:    req.Prefetch,
		FHIRServer:  req.FHIRServer,
		AccessToken: req.AccessToken(),
		// hooks.Decode left the prefetch values as json.Unmarshal checked them.
		PrefetchValid: true,
	})
	if rec != nil {
		out.Queries = rec.Queries
	}
	if err != nil {
		return out, err
	}
	now := p.Now().UTC()
	// One step derives the facts the assessment reads (FHIR semantics
	// handled once: dates, statuses, references, coverage periods).
	facts := chart.Derive(rec)
	// The Coverage in force on D (the first lumbar MRI order's date, else
	// today): an expired or future Coverage is none (DECISIONS.md "No Coverage").
	d := chart.Day(now)
	if at := orders[0].Assessment.Order.AuthoredOn; at != nil {
		d = chart.Day(*at)
	}
	cov, note := facts.CoverageInForce(d)
	pol := set.Default() // what ForCoverage gives without a Coverage
	if cov != nil {
		pol = set.ForCoverage(cov.Resource)
	}
	out.PolicyID = pol.ID
	for i := range orders {
		orders[i].Assessment = criteria.Assess(orders[i].Assessment.Order, facts, pol, now)
		out.Assessments = append(out.Assessments, orders[i].Assessment)
	}
	in := cards.Input{
		Hook:      hook,
		PatientID: req.Context.PatientID,
		UserID:    req.Context.UserID,
		Orders:    orders,
		Policy:    pol,
		Config:    configuration(req.Extension),
		Today:     now,
		Drafts:    draftCodes(drafts),
	}
	if cov != nil && cov.Reference != "" {
		in.Coverage = &cards.Coverage{Reference: cov.Reference, Note: note, Payer: cov.Payer, PayerOrganization: cov.PayerOrganization}
	}
	res, err := cards.Build(in, p.NewID)
	if err != nil {
		return out, fmt.Errorf("%w: %v", hooks.ErrInvalid, err)
	}
	out.Response, out.Cards, out.Assertions = res.Response, res.Cards, res.AssertionIDs
	return out, nil
}

// considered returns the draft orders this call is about: for order-select
// the ones named in selections (all when selections is absent or empty;
// names not in draftOrders are ignored), for order-sign all of them.
func considered(req *hooks.Request, drafts []fhir.DraftOrder) []fhir.DraftOrder {
	if req.Hook != hooks.HookOrderSelect || len(req.Context.Selections) == 0 {
		return drafts
	}
	want := map[string]bool{}
	for _, s := range req.Context.Selections {
		want[s] = true
	}
	var out []fhir.DraftOrder
	for _, d := range drafts {
		if want[d.ResourceType+"/"+d.ID] {
			out = append(out, d)
		}
	}
	return out
}

// draftCodes returns the codes of the draft orders that ask for something to
// be done, selected or not: on order-select the other drafts are in context
// "to allow decision support to take into account other pending actions"
// (CDS Hooks order-select), and CRD STU 2.1 hooks.md asks not to recommend
// an action a draft order already performs.
func draftCodes(drafts []fhir.DraftOrder) []chart.Concept {
	var out []chart.Concept
	for _, d := range drafts {
		if d.ServiceRequest == nil {
			continue
		}
		if o := chart.OrderOf(d.ServiceRequest); !o.Withdrawn {
			out = append(out, o.Code)
		}
	}
	return out
}

// configuration reads davinci-crd.configuration (CRD deviations.md):
// booleans per card type and max-cards. Unknown or ill-typed options are ignored.
func configuration(ext map[string]json.RawMessage) cards.Config {
	var cfg cards.Config
	raw, ok := ext["davinci-crd.configuration"]
	if !ok {
		return cfg
	}
	var opts map[string]json.RawMessage
	if json.Unmarshal(raw, &opts) != nil {
		return cfg
	}
	for _, t := range cards.Topics {
		var on bool
		if v, ok := opts[t.Code]; ok && json.Unmarshal(v, &on) == nil && !on {
			if cfg.Disabled == nil {
				cfg.Disabled = map[string]bool{}
			}
			cfg.Disabled[t.Code] = true
		}
	}
	var max int
	if v, ok := opts["max-cards"]; ok && json.Unmarshal(v, &max) == nil && max >= 0 {
		cfg.MaxCards = &max
	}
	return cfg
}

func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 32 {
			return -1
		}
		return r
	}, s)
	if len([]rune(s)) > 64 {
		return string([]rune(s)[:64]) + "…"
	}
	return s
}
