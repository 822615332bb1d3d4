package cards

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// OverrideSystem is the code system of this service's override reasons.
const OverrideSystem = "https://lumbar-mri-cds.github.io/fhir/CodeSystem/override-reason"

// MaxCardsPerOrder is the most cards one order gets, the critical card and
// the shared links card included (DECISIONS.md, "Cards", round 2).
const MaxCardsPerOrder = 3

// Order is one assessed order with the client's own JSON for it.
type Order struct {
	Assessment criteria.Assessment
	// Raw is the client's ServiceRequest JSON, patched but never re-serialised.
	Raw json.RawMessage
}

// Input is everything Build needs for one response.
type Input struct {
	Hook      string
	PatientID string
	// UserID is the ordering user ("Practitioner/..."), the requester of suggested orders.
	UserID string
	Orders []Order
	Policy *policy.Policy
	// Coverage is the Coverage the assertions are about; nil when the patient
	// has no active Coverage (then no coverage information is returned).
	Coverage *Coverage
	Config   Config
	// Today is the day the service answers (the coverage information date).
	Today time.Time
	// Drafts are the codes of the call's draft orders that ask for something
	// to be done: all of context.draftOrders, selected or not, withdrawn
	// orders left out. No suggestion is made for an action one of them
	// already performs (CRD STU 2.1 hooks.md, order-select: "don't recommend
	// an action if there's already a draft order to perform that action").
	Drafts []chart.Concept
}

// Config is the client's davinci-crd.configuration (CRD deviations.md).
type Config struct {
	// Disabled holds card-type codes switched off.
	Disabled map[string]bool
	// MaxCards caps the number of cards (0: none); nil means MaxCardsDefault.
	MaxCards *int
}

// Issued describes one card for the audit trail and feedback checks.
type Issued struct {
	UUID            string
	OrderID         string
	Topic           string
	Indicator       string
	SuggestionUUIDs []string
	OverrideReasons []hooks.Coding
}

// Result is the response plus what the audit trail needs to know about it.
type Result struct {
	Response     hooks.Response
	Cards        []Issued
	AssertionIDs []string
}

// NoActions is the systemActions of an answer with nothing to update: an
// empty list for order-sign, whose CRD clients expect the field on every
// answer, and none for the other hooks.
func NoActions(hook string) []hooks.Action {
	if hook == hooks.HookOrderSign {
		return []hooks.Action{}
	}
	return nil
}

// Build turns assessments into cards and, for order-sign, one coverage
// information systemAction per assessed order that has an id, unless the
// order already carries the same coverage information. newID returns
// a fresh random id (uuid) on each call.
//
// Each order gets one coverage-information card (the decision, what is
// documented, what to add and by when, what to do), a critical card only
// where emergent imaging is indicated, and its suggestions on one card of
// their CRD type while the order has fewer than MaxCardsPerOrder cards, else
// on the coverage card. One links card (External Reference) serves all
// orders.
func Build(in Input, newID func() string) (Result, error) {
	b := builder{in: in, newID: newID, kept: map[string]string{}, alternates: map[string]string{}}
	secondary := in.Hook != hooks.HookOrderSign
	actions := NoActions(in.Hook)
	var assertions []string
	links := len(in.Orders) > 0 && b.hasLinks()
	eligible := func(o *Order) bool {
		return !secondary && in.Coverage != nil && o.Assessment.Order.ID != "" && !in.Config.Disabled[TopicCoverageInfo]
	}
	// CRD STU 2.1 cards.md, Coverage Information: "payers SHALL NOT send a
	// system action to update the order unless something is new", and item
	// 4: a system action for each in-scope request "unless that request
	// resource already has a coverage-information extension and the payer has
	// no new information to add". An order that already carries what this
	// answer would add gets no update and keeps its assertion id; known
	// before the cards, which say so.
	infos := make([]ext, len(in.Orders))
	for i := range in.Orders {
		o := &in.Orders[i]
		if !eligible(o) {
			continue
		}
		infos[i] = coverageInformation(&o.Assessment, *in.Coverage, in.Policy.PANeeded, in.Policy.Questionnaire, "", in.Today, false)
		if id, ok := unchangedCoverageInformation(o.Raw, infos[i]); ok {
			b.kept[o.Assessment.Order.ID] = id
		}
	}
	b.critical()
	for i := range in.Orders {
		o := &in.Orders[i]
		b.orderCards(o, links)
		if !eligible(o) {
			continue
		}
		// A kept order gets no update, so no new assertion: the audit row
		// records only the ids this answer sends.
		id, kept := b.kept[o.Assessment.Order.ID]
		if !kept {
			id = newID()
			patched, err := withCoverageInformation(o.Raw, infos[i].withAssertionID(id))
			if err != nil {
				return Result{}, fmt.Errorf("order %s: %w", o.Assessment.Order.ID, err)
			}
			assertions = append(assertions, id)
			actions = append(actions, hooks.Action{
				Type:        hooks.ActionUpdate,
				Description: "Coverage information for " + o.Assessment.Order.Display + ": " + Display(o.Assessment.Outcome) + ".",
				Resource:    patched,
			})
		}
		if err := b.alternateCoverage(o, id); err != nil {
			return Result{}, fmt.Errorf("order %s: %w", o.Assessment.Order.ID, err)
		}
	}
	if links {
		b.links()
	}
	cards := b.finish()
	return Result{Response: hooks.Response{Cards: cards, SystemActions: actions}, Cards: b.issued(cards), AssertionIDs: assertions}, nil
}

// alternateCoverage gives the order's propose-alternate suggestion (the
// contrast variant the guideline prefers), if it has one, the coverage
// information the systemAction adds, under the same assertion id, with the
// alternative's billing code. An update holds the resource in its entirety
// (CDS Hooks 2.0.1, Action): without it, accepting the suggestion would
// erase the payer's assertion the claim must carry (CRD STU 2.1 cards.md,
// Coverage Information; conformance review M3).
func (b *builder) alternateCoverage(o *Order, assertionID string) error {
	uuid, ok := b.alternates[o.Assessment.Order.ID]
	if !ok || b.in.Coverage == nil {
		return nil
	}
	a := &o.Assessment
	alt := *a
	if a.SuggestedCode != nil && a.SuggestedCode.System == CPTSystem {
		alt.Order.BillingCode = a.SuggestedCode.Code
	}
	info := coverageInformation(&alt, *b.in.Coverage, b.in.Policy.PANeeded, b.in.Policy.Questionnaire, assertionID, b.in.Today, false)
	patched, err := withCoverageInformation(o.Raw, info)
	if err != nil {
		return err
	}
	resource, err := withCode(patched, *a.SuggestedCode)
	if err != nil {
		return err
	}
	for i := range b.cards {
		for j := range b.cards[i].card.Suggestions {
			sg := &b.cards[i].card.Suggestions[j]
			if sg.UUID == uuid && len(sg.Actions) == 1 && sg.Actions[0].Type == hooks.ActionUpdate {
				sg.Actions[0].Resource = resource
			}
		}
	}
	return nil
}

type pending struct {
	card    hooks.Card
	orderID string
	rank    int
	// decision marks an order's coverage-information card, the one that
	// says whether the chart supports it.
	decision bool
}

type builder struct {
	in    Input
	newID func() string
	cards []pending
	// emergent holds the ids of the orders a critical card covers.
	emergent map[string]bool
	// kept maps the ids of the orders that already carry this answer's
	// coverage information to the coverage-assertion-id they carry; they
	// get no update.
	kept map[string]string
	// alternates maps an order's id to the uuid of its propose-alternate
	// suggestion, whose resource alternateCoverage completes.
	alternates map[string]string
}

// add completes a card (uuid, source, associated orders) and queues it,
// returning the queued entry (valid until the next add). orderIDs are the
// orders the card is about; none for the shared links card.
func (b *builder) add(topicCode, topicDisplay string, c hooks.Card, orderIDs ...string) *pending {
	c.UUID = b.newID()
	if len(orderIDs) == 1 {
		c.Summary = b.naming(orderIDs[0], c.Summary)
	}
	c.Summary = summary(c.Summary)
	c.Source = hooks.Source{Label: b.in.Policy.Label(), Topic: topic(topicCode, topicDisplay)}
	var refs []map[string]string
	for _, id := range orderIDs {
		if id != "" {
			refs = append(refs, map[string]string{"reference": "ServiceRequest/" + id})
		}
	}
	if len(refs) > 0 {
		ref, _ := json.Marshal(refs)
		c.Extension = map[string]json.RawMessage{"davinci-crd.associated-resource": ref}
	}
	rank := map[string]int{hooks.IndicatorCritical: 0, hooks.IndicatorWarning: 1, hooks.IndicatorInfo: 2}[c.Indicator]
	if topicCode == TopicGuideline {
		rank = 3
	}
	first := ""
	if len(orderIDs) > 0 {
		first = orderIDs[0]
	}
	b.cards = append(b.cards, pending{card: c, orderID: first, rank: rank})
	return &b.cards[len(b.cards)-1]
}

// naming makes the summary of a card about one order say which order it is
// when the answer assesses several ("Lumbar MRI (72158): ..."): the cards
// of each order otherwise read the same in the EHR's list. The order's
// billing code (else its code) names it, or its id when two orders share a
// code.
func (b *builder) naming(orderID, s string) string {
	rest, ok := strings.CutPrefix(s, "Lumbar MRI: ")
	if !ok || orderID == "" || len(b.in.Orders) < 2 {
		return s
	}
	code := func(o *criteria.Order) string {
		if o.BillingCode != "" {
			return o.BillingCode
		}
		return o.Code.Code
	}
	name := ""
	for i := range b.in.Orders {
		if o := &b.in.Orders[i].Assessment.Order; o.ID == orderID {
			name = code(o)
		}
	}
	for i := range b.in.Orders {
		if o := &b.in.Orders[i].Assessment.Order; o.ID != orderID && code(o) == name {
			name = orderID
		}
	}
	if name == "" {
		return s
	}
	return "Lumbar MRI (" + name + "): " + rest
}

// finish orders cards by urgency (critical first, links last) and applies
// max-cards to every card but the critical ones. Without a max-cards from
// the client, the default cap never cuts an order's decision card either:
// with eleven lumbar MRI orders, the eleventh would otherwise be answered
// with no word on its documentation.
func (b *builder) finish() []hooks.Card {
	sort.SliceStable(b.cards, func(i, j int) bool { return b.cards[i].rank < b.cards[j].rank })
	max, keepDecisions := MaxCardsDefault, true
	if b.in.Config.MaxCards != nil {
		max, keepDecisions = *b.in.Config.MaxCards, false
	}
	out := make([]hooks.Card, 0, len(b.cards))
	for _, p := range b.cards {
		// A critical card (image emergently) is never cut by max-cards: a
		// client's display preference must not hide an emergency.
		if len(out) >= max && p.card.Indicator != hooks.IndicatorCritical && !(keepDecisions && p.decision) {
			continue
		}
		out = append(out, p.card)
	}
	return out
}

func (b *builder) issued(cards []hooks.Card) []Issued {
	byUUID := map[string]pending{}
	for _, p := range b.cards {
		byUUID[p.card.UUID] = p
	}
	out := make([]Issued, 0, len(cards))
	for _, c := range cards {
		is := Issued{UUID: c.UUID, OrderID: byUUID[c.UUID].orderID, Topic: c.Source.Topic.Code, Indicator: c.Indicator, OverrideReasons: c.OverrideReasons}
		for _, s := range c.Suggestions {
			is.SuggestionUUIDs = append(is.SuggestionUUIDs, s.UUID)
		}
		out = append(out, is)
	}
	return out
}

// orderCards adds the coverage-information card of one order and places its
// suggestions: each CRD response type on one card of its own while the order
// has fewer than MaxCardsPerOrder cards (the critical and links cards it
// shares included), the rest on the coverage card.
func (b *builder) orderCards(o *Order, links bool) {
	a := &o.Assessment
	offers := b.offers(o)
	if b.in.Config.Disabled[TopicCoverageInfo] {
		// No coverage card to ride on: one card holds the suggestions.
		if len(offers) > 0 {
			b.offerCard(a, offers)
		}
		return
	}
	used := 1 // the coverage card
	if b.emergent[a.Order.ID] {
		used++
	}
	if links {
		used++
	}
	var own [][]offer
	var riding []offer
	// Recording a note's finding in the chart rests on the evidence the
	// coverage card shows: it rides on it, so no evidence repeats.
	var own0, later []offer
	for _, of := range offers {
		if of.kind == KindChartFix {
			later = append(later, of)
			continue
		}
		own0 = append(own0, of)
	}
	for _, group := range byKind(own0) {
		if used < MaxCardsPerOrder {
			own = append(own, group)
			used++
			continue
		}
		riding = append(riding, group...)
	}
	riding = append(riding, later...)
	b.coverageCard(o, offers, riding)
	for _, group := range own {
		b.offerCard(a, group)
	}
}

// hasLinks reports whether the response gets the links card.
func (b *builder) hasLinks() bool {
	return len(b.in.Policy.Links) > 0 && !b.in.Config.Disabled[TopicGuideline]
}

// links is the External Reference card: links only, all absolute, shared by
// every order of the response.
func (b *builder) links() {
	var links []hooks.Link
	for _, l := range b.in.Policy.Links {
		links = append(links, hooks.Link{Label: l.Label, URL: l.URL, Type: "absolute"})
	}
	b.add(TopicGuideline, "Guideline", hooks.Card{
		Summary:   "Lumbar MRI: payer policy and guidelines",
		Indicator: hooks.IndicatorInfo,
		Links:     links,
	})
}
