package cards

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// OverrideSystem is the code system of this service's override reasons.
const OverrideSystem = "https://lumbar-mri-cds.github.io/fhir/CodeSystem/override-reason"

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

// Build turns assessments into cards and, for order-sign, one coverage
// information systemAction per assessed order that has an id. newID returns
// a fresh random id (uuid) on each call.
func Build(in Input, newID func() string) (Result, error) {
	b := builder{in: in, newID: newID}
	secondary := in.Hook != hooks.HookOrderSign
	var actions []hooks.Action
	var assertions []string
	for i := range in.Orders {
		o := &in.Orders[i]
		b.orderCards(o)
		if secondary || in.Coverage == nil || o.Assessment.Order.ID == "" || in.Config.Disabled[TopicCoverageInfo] {
			continue
		}
		id := newID()
		info := coverageInformation(&o.Assessment, *in.Coverage, in.Policy.PANeeded, in.Policy.Questionnaire, id, in.Today, false)
		patched, err := withCoverageInformation(o.Raw, info)
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
	if len(in.Orders) > 0 {
		if in.Coverage == nil {
			b.noCoverage()
		}
		b.guideline()
	}
	cards := b.finish()
	return Result{Response: hooks.Response{Cards: cards, SystemActions: actions}, Cards: b.issued(cards), AssertionIDs: assertions}, nil
}

type pending struct {
	card    hooks.Card
	orderID string
	rank    int
}

type builder struct {
	in    Input
	newID func() string
	cards []pending
}

func (b *builder) add(orderID, topicCode, topicDisplay string, c hooks.Card) {
	if b.in.Config.Disabled[topicCode] {
		return
	}
	c.UUID = b.newID()
	c.Summary = summary(c.Summary)
	c.Source = hooks.Source{Label: b.in.Policy.Label(), Topic: topic(topicCode, topicDisplay)}
	if orderID != "" {
		ref, _ := json.Marshal([]map[string]string{{"reference": "ServiceRequest/" + orderID}})
		c.Extension = map[string]json.RawMessage{"davinci-crd.associated-resource": ref}
	}
	rank := map[string]int{hooks.IndicatorCritical: 0, hooks.IndicatorWarning: 1, hooks.IndicatorInfo: 2}[c.Indicator]
	if topicCode == TopicGuideline {
		rank = 3
	}
	b.cards = append(b.cards, pending{card: c, orderID: orderID, rank: rank})
}

// finish orders cards by urgency (critical first, links last) and applies max-cards.
func (b *builder) finish() []hooks.Card {
	sort.SliceStable(b.cards, func(i, j int) bool { return b.cards[i].rank < b.cards[j].rank })
	max := MaxCardsDefault
	if b.in.Config.MaxCards != nil {
		max = *b.in.Config.MaxCards
	}
	out := make([]hooks.Card, 0, len(b.cards))
	for _, p := range b.cards {
		if len(out) == max {
			break
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

func (b *builder) orderCards(o *Order) {
	a := &o.Assessment
	id := a.Order.ID
	if f := a.Finding(criteria.RedFlagCaudaEquina); f != nil {
		b.caudaEquina(id, a, f)
	}
	b.outcome(id, a)
	if a.Has(criteria.PriorLumbarMRI) {
		b.repeat(id, a)
	}
	if a.Has(criteria.ContrastReview) && a.SuggestedCode != nil {
		b.contrast(o)
	}
	if a.Has(criteria.ConservativeTherapyMissing) && len(redFlags(a)) == 0 && a.Outcome != criteria.CriteriaIndeterminate {
		b.therapyReferral(id, a)
	}
}

func orderLine(a *criteria.Assessment) string {
	code := a.Order.Code.Code
	return fmt.Sprintf("**Order:** %s (%s)\n\n", mdEscape(a.Order.Display), mdEscape(code))
}

// ACR Appropriateness Criteria, Low Back Pain (2021), variant 4: suspected
// cauda equina syndrome; MRI without, or without and with, contrast is
// usually appropriate. Emergent imaging must not wait for authorization.
func (b *builder) caudaEquina(id string, a *criteria.Assessment, f *criteria.Finding) {
	var d strings.Builder
	d.WriteString(orderLine(a))
	d.WriteString("The chart documents suspected cauda equina syndrome:\n\n")
	d.WriteString(evidenceLines(*f))
	d.WriteString("\nArrange emergent MRI and surgical assessment today. Emergency imaging does not need to wait for prior authorization; submit the documentation afterwards.\n\n*ACR Appropriateness Criteria, Low Back Pain (2021), variant 4.*")
	b.add(id, TopicClinicalReminder, "Clinical reminder", hooks.Card{
		Summary:   "Suspected cauda equina: image emergently, do not wait for prior authorization",
		Detail:    d.String(),
		Indicator: hooks.IndicatorCritical,
	})
}

var documentationOverrides = []hooks.Coding{
	{System: OverrideSystem, Code: "documented-elsewhere", Display: "Documented outside the coded chart"},
	{System: OverrideSystem, Code: "urgent-clinical-need", Display: "Urgent clinical need"},
	{System: OverrideSystem, Code: "will-attach-documentation", Display: "Will attach documentation to the request"},
}

// Override reasons for a repeat study: reference/clinical-criteria.md 2.x
// "Repeat imaging" (ACP 2011; RBM repeat-intervention rules).
var repeatOverrides = []hooks.Coding{
	{System: OverrideSystem, Code: "new-red-flag", Display: "New red flag since the prior MRI"},
	{System: OverrideSystem, Code: "progressive-deficit", Display: "Progressive neurological deficit"},
	{System: OverrideSystem, Code: "post-operative", Display: "New symptoms after surgery"},
	{System: OverrideSystem, Code: "surgical-planning", Display: "Surgical or injection planning"},
	{System: OverrideSystem, Code: "prior-nondiagnostic", Display: "Prior study limited or non-diagnostic"},
	{System: OverrideSystem, Code: "tumor-infection-follow-up", Display: "Follow-up of known tumour or infection"},
}

// outcome is the coverage-info card: an Instructions card (text only, no
// links or suggestions) saying what is documented and what is missing.
func (b *builder) outcome(id string, a *criteria.Assessment) {
	var d strings.Builder
	d.WriteString(orderLine(a))
	var documented, gaps []criteria.Finding
	for _, f := range a.Findings {
		switch f.Code {
		case criteria.ConservativeTherapyMissing, criteria.XrayMissing, criteria.IndicationMissing:
			gaps = append(gaps, f)
		case criteria.ContrastReview:
		case criteria.ConservativeTherapyInsufficient:
			documented = append(documented, f)
			gaps = append(gaps, f)
		default:
			documented = append(documented, f)
		}
	}
	c := hooks.Card{}
	switch a.Outcome {
	case criteria.CriteriaMet:
		c.Indicator = hooks.IndicatorInfo
		c.Summary = "Lumbar MRI: chart supports prior authorization"
		if rf := redFlags(a); len(rf) > 0 {
			var names []string
			for _, f := range rf {
				names = append(names, lower(Display(f.Code)))
			}
			c.Summary += " (" + strings.Join(names, "; ") + ")"
		} else {
			c.Summary += fmt.Sprintf(" (%d days of conservative therapy)", a.TherapyDays)
		}
		d.WriteString("**Attach this documentation to the prior-authorization request:**\n\n")
		for _, f := range documented {
			d.WriteString(evidenceLines(f))
		}
		if len(gaps) > 0 {
			d.WriteString("\n**Also noted:**\n\n")
			for _, f := range gaps {
				d.WriteString(evidenceLines(f))
			}
		}
		if len(a.Unchecked) > 0 {
			fmt.Fprintf(&d, "\nCould not be checked (data not available): %s.\n", strings.Join(a.Unchecked, ", "))
		}
	case criteria.CriteriaIndeterminate:
		c.Indicator = hooks.IndicatorWarning
		c.Summary = "Lumbar MRI: prior-authorization documentation could not be verified automatically"
		fmt.Fprintf(&d, "Part of the chart could not be retrieved, so the payer criteria were not checked: **%s**.\n\n", strings.Join(a.Unchecked, ", "))
		if len(documented) > 0 {
			d.WriteString("**Found in what was retrieved:**\n\n")
			for _, f := range documented {
				d.WriteString(evidenceLines(f))
			}
			d.WriteString("\n")
		}
		fmt.Fprintf(&d, "Before submitting, make sure the request documents a red flag or at least %d days of conservative therapy (physical therapy, medications, chiropractic care).", a.TherapyRequiredDays)
		c.OverrideReasons = documentationOverrides
	default:
		c.Indicator = hooks.IndicatorWarning
		c.Summary = "Lumbar MRI: prior-authorization documentation incomplete: " + missing(a)[0]
		if len(documented) > 0 {
			d.WriteString("**Documented:**\n\n")
			for _, f := range documented {
				d.WriteString(evidenceLines(f))
			}
			d.WriteString("\n")
		}
		d.WriteString("**Missing:**\n\n")
		for _, m := range missing(a) {
			d.WriteString("- " + m + "\n")
		}
		d.WriteString("\n**What to do:**\n\n")
		for _, s := range todo(a) {
			d.WriteString("- " + s + "\n")
		}
		c.OverrideReasons = documentationOverrides
	}
	c.Detail = strings.TrimSpace(d.String())
	b.add(id, TopicCoverageInfo, "Coverage Information", c)
}

// todo is the advice for an unmet order. Without red flags, imaging is not
// appropriate before about 6 weeks of conservative care: ACR Appropriateness
// Criteria, Low Back Pain (2021), variants 1-3; Choosing Wisely (AAFP, NASS).
func todo(a *criteria.Assessment) []string {
	var out []string
	flagged := len(redFlags(a)) > 0
	if a.Has(criteria.IndicationMissing) {
		out = append(out, "Add the back-pain or radiculopathy diagnosis to the problem list or to the order's reason, or document the red flag that prompts imaging.")
	}
	if a.Has(criteria.ConservativeTherapyMissing) && !flagged {
		out = append(out, fmt.Sprintf("Start conservative therapy (physical therapy, NSAIDs, activity modification, chiropractic care) and re-assess after %d days; document each treatment with its dates.", a.TherapyRequiredDays))
	}
	if a.Has(criteria.ConservativeTherapyInsufficient) {
		s := "Continue conservative therapy and document the response"
		if a.TherapyMetOn != nil {
			s += "; the " + fmt.Sprint(a.TherapyRequiredDays) + "-day point falls on " + day(a.TherapyMetOn)
		}
		out = append(out, s+".")
	}
	if a.Has(criteria.XrayMissing) {
		out = append(out, "Order lumbar spine radiographs (CPT 72100) first, as this payer requires.")
	}
	if a.Has(criteria.PriorLumbarMRI) {
		if flagged {
			out = append(out, "The documented red flag predates the prior lumbar MRI: document what is new or progressing since that study.")
		} else {
			out = append(out, "Review the prior lumbar MRI; document the clinical change that justifies repeating it.")
		}
	}
	if !flagged {
		out = append(out, "If a red flag is present (cauda equina, progressive deficit, cancer, infection, fracture, prior surgery), document it: it supports imaging without a therapy trial.")
	}
	return out
}

// ACP 2011 high-value imaging advice, Table 2: no repeat imaging without a
// change in clinical status.
func (b *builder) repeat(id string, a *criteria.Assessment) {
	var d strings.Builder
	d.WriteString(orderLine(a))
	if f := a.Finding(criteria.PriorLumbarMRI); f != nil {
		d.WriteString(evidenceLines(*f))
	}
	when := ""
	if a.PriorMRI != nil {
		when = " on " + day(a.PriorMRI.Date)
	}
	summary := "Lumbar MRI already done" + when + ": payers usually deny a repeat without a change"
	if a.Outcome == criteria.CriteriaMet {
		// The red flag is dated after the prior study (the outcome rule), so
		// the repeat is supported: say what to attach instead of warning it off.
		summary = "Lumbar MRI already done" + when + ": attach the red flag documented since that study"
		d.WriteString("\nThe red flag documented after that study supports repeating it. Attach the prior report and the new findings to the prior-authorization request.\n\n*ACP high-value care advice (Chou 2011), Table 2.*")
	} else {
		d.WriteString("\nRepeat imaging of the same region needs a change in clinical status, an intervention since the prior study, or a non-diagnostic prior study. Review the prior report before ordering.\n\n*ACP high-value care advice (Chou 2011), Table 2.*")
	}
	b.add(id, TopicDuplicate, "Duplicate Therapy", hooks.Card{
		Summary:         summary,
		Detail:          d.String(),
		Indicator:       hooks.IndicatorWarning,
		OverrideReasons: repeatOverrides,
	})
}

// ACR Appropriateness Criteria, Low Back Pain (2021): the variants rate MRI
// without contrast and without-and-with contrast only; without-and-with is
// preferred for malignancy, infection and prior surgery (variants 5 and 7).
func (b *builder) contrast(o *Order) {
	a := &o.Assessment
	sc := *a.SuggestedCode
	resource, err := withCode(o.Raw, sc)
	if err != nil {
		return
	}
	name := sc.Display
	if name == "" {
		name = sc.Code
	}
	why := "Without red flags for malignancy, infection or prior surgery, the guideline prefers MRI without contrast."
	if a.RecommendedContrast == criteria.ContrastWithoutAndWith {
		why = "For suspected malignancy, infection or prior surgery, the guideline prefers MRI without and with contrast."
	}
	detail := orderLine(a) + why + " A with-contrast-only study is not a rated variant.\n\n*ACR Appropriateness Criteria, Low Back Pain (2021), variants 3-7.*"
	if a.Order.Contrast != criteria.ContrastWith {
		detail = orderLine(a) + why + "\n\n*ACR Appropriateness Criteria, Low Back Pain (2021), variants 3-7.*"
	}
	b.add(a.Order.ID, TopicAppropriateUse, "Appropriate Use", hooks.Card{
		Summary:           "Consider " + name + " (" + sc.Code + ") instead, per ACR guideline",
		Detail:            detail,
		Indicator:         hooks.IndicatorInfo,
		SelectionBehavior: "at-most-one",
		Suggestions: []hooks.Suggestion{{
			Label:         "Change the order to " + name + " (" + sc.Code + ")",
			UUID:          b.newID(),
			IsRecommended: true,
			Actions: []hooks.Action{{
				Type:        hooks.ActionUpdate,
				Description: "Change the order's code to " + sc.Code + ".",
				Resource:    resource,
			}},
		}},
	})
}

// referralCode is SNOMED CT 306170007 "Referral to physiotherapy service"
// ([V] S-VSAC, reference/clinical-criteria.md 3.3).
var referralCode = coding{System: "http://snomed.info/sct", Code: "306170007", Display: "Referral to physiotherapy service"}

// ACP/APS 2007 (Chou), recommendations 2 and 7: do not image nonspecific low
// back pain; start with self-care, medication and exercise therapy.
func (b *builder) therapyReferral(id string, a *criteria.Assessment) {
	sr := map[string]any{
		"resourceType": "ServiceRequest",
		"status":       "draft",
		"intent":       "order",
		"code":         codeableConcept{Coding: []coding{referralCode}, Text: "Physical therapy for low back pain"},
		"subject":      reference{Reference: "Patient/" + b.in.PatientID},
	}
	if strings.HasPrefix(b.in.UserID, "Practitioner/") || strings.HasPrefix(b.in.UserID, "PractitionerRole/") {
		sr["requester"] = reference{Reference: b.in.UserID}
	}
	if len(a.Order.ReasonCodes) > 0 {
		var cs []coding
		for _, c := range a.Order.ReasonCodes {
			cs = append(cs, coding{System: c.System, Code: c.Code, Display: c.Display})
		}
		sr["reasonCode"] = []codeableConcept{{Coding: cs}}
	}
	resource, err := marshal(sr)
	if err != nil {
		return
	}
	b.add(id, TopicTherapyAlt, "Therapy Alternatives Optional", hooks.Card{
		Summary:           "No conservative therapy documented: consider a physical therapy referral",
		Detail:            orderLine(a) + fmt.Sprintf("Payers require at least %d days of conservative therapy before lumbar MRI when no red flag is present. A physical therapy referral starts that trial.\n\n*ACP/APS low back pain guideline (Chou 2007), recommendation 7; ACR Appropriateness Criteria, Low Back Pain (2021), variant 3.*", a.TherapyRequiredDays),
		Indicator:         hooks.IndicatorInfo,
		SelectionBehavior: "at-most-one",
		Suggestions: []hooks.Suggestion{{
			Label: "Refer to physical therapy",
			UUID:  b.newID(),
			Actions: []hooks.Action{{
				Type:        hooks.ActionCreate,
				Description: "Create a physical therapy referral.",
				Resource:    resource,
			}},
		}},
	})
}

// noCoverage tells the clinician coverage could not be checked (CRD "No
// Active Coverage", reference/crd.md 1.2); the clinical assessment still stands.
func (b *builder) noCoverage() {
	b.add("", TopicCoverageInfo, "Coverage Information", hooks.Card{
		Summary:   "No active coverage found: payer requirements were checked against the default criteria",
		Detail:    "The patient's record has no active Coverage, so no coverage information was added to the order. The assessment above uses the default lumbar MRI criteria; confirm the patient's insurance before requesting prior authorization.",
		Indicator: hooks.IndicatorInfo,
	})
}

// guideline is the External Reference card: links only, all absolute.
func (b *builder) guideline() {
	var links []hooks.Link
	for _, l := range b.in.Policy.Links {
		links = append(links, hooks.Link{Label: l.Label, URL: l.URL, Type: "absolute"})
	}
	if len(links) == 0 {
		return
	}
	detail := "The payer policy and the ACR Appropriateness Criteria for low back pain behind these checks."
	if b.in.Coverage != nil && b.in.Coverage.Note != "" {
		detail += " " + b.in.Coverage.Note
	}
	b.add("", TopicGuideline, "Guideline", hooks.Card{
		Summary:   "Lumbar MRI criteria: " + b.in.Policy.Label(),
		Detail:    detail,
		Indicator: hooks.IndicatorInfo,
		Links:     links,
	})
}
