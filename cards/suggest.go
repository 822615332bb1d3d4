package cards

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
)

// The CRD response types a suggestion belongs to (CRD STU 2.1, cards.html):
// an order's suggestions of one type share a card of that type, or ride on
// its coverage-information card.
const (
	// KindAdditionalOrders: create actions of order resources (companions
	// and prerequisites), such as the physical therapy referral.
	KindAdditionalOrders = "additional-orders"
	// KindProposeAlternate: an update of the draft order, such as the
	// contrast change.
	KindProposeAlternate = "propose-alternate-request"
	// KindFormCompletion: a create of a Task (complete-questionnaire) and
	// what it needs, such as a pre-filled documentation form.
	KindFormCompletion = "form-completion"
	// KindChartFix: creates of chart entries (the coded fact for a red flag
	// read only in a note). Not an order, so never an Additional Orders
	// card: it always rides on the coverage card.
	KindChartFix = "chart-fix"
)

// kinds is the order in which suggestion types claim a card of their own.
var kinds = []string{KindAdditionalOrders, KindProposeAlternate, KindFormCompletion}

// offer is one suggestion with where it belongs and how cards speak of it.
type offer struct {
	kind string
	// topic is the card type of the offer's own card (and the configuration
	// option that switches it off).
	topic, topicDisplay string
	suggestion          hooks.Suggestion
	// summary and detail are the text of the offer's own card.
	summary, detail string
	// todo is the line the coverage card's "What to do" gives it when the
	// suggestion rides on that card; pointer is the line when it has a card
	// of its own (which says the rest).
	todo, pointer string
}

// offers returns the suggestions for one order in the order of kinds, each
// switched off with its card type's configuration option.
func (b *builder) offers(o *Order) []offer {
	var out []offer
	for _, of := range []*offer{b.referralOffer(o), b.contrastOffer(o), b.formOffer(o), b.notesOffer(o)} {
		if of != nil && !b.in.Config.Disabled[of.topic] {
			out = append(out, *of)
		}
	}
	return out
}

// byKind groups offers by CRD response type, in the order of kinds.
func byKind(offers []offer) [][]offer {
	var out [][]offer
	for _, k := range kinds {
		var group []offer
		for _, of := range offers {
			if of.kind == k {
				group = append(group, of)
			}
		}
		if len(group) > 0 {
			out = append(out, group)
		}
	}
	return out
}

// offerCard adds the card that carries an order's suggestions of one type
// (or all of them, when the order has no coverage card to carry the rest).
func (b *builder) offerCard(a *criteria.Assessment, group []offer) {
	first := group[0]
	c := hooks.Card{
		Summary:           first.summary,
		Detail:            first.detail,
		Indicator:         hooks.IndicatorInfo,
		SelectionBehavior: selection(len(group)),
	}
	if len(group) > 1 {
		c.Summary = "Lumbar MRI: suggested changes"
		var d []string
		for _, of := range group {
			d = append(d, of.detail)
		}
		c.Detail = strings.Join(d, "\n\n")
	}
	for _, of := range group {
		c.Suggestions = append(c.Suggestions, of.suggestion)
	}
	b.add(first.topic, first.topicDisplay, c, a.Order.ID)
}

// ACR Appropriateness Criteria, Low Back Pain (2021): the variants rate MRI
// without contrast and without-and-with contrast only; without-and-with is
// preferred for malignancy, infection and prior surgery (variants 5 and 7).
func (b *builder) contrastOffer(o *Order) *offer {
	a := &o.Assessment
	if !a.Has(criteria.ContrastReview) || a.SuggestedCode == nil {
		return nil
	}
	sc := *a.SuggestedCode
	resource, err := withCode(o.Raw, sc)
	if err != nil {
		return nil
	}
	name := sc.Display
	if name == "" {
		name = sc.Code
	}
	why := "without red flags for malignancy, infection or prior surgery, the guideline prefers MRI without contrast"
	if a.RecommendedContrast == criteria.ContrastWithoutAndWith {
		why = "for suspected malignancy, infection or prior surgery, the guideline prefers MRI without and with contrast"
	}
	if a.Order.Contrast == criteria.ContrastWith {
		why += "; a with-contrast-only study is not a rated variant"
	}
	uuid := b.newID()
	if a.Order.ID != "" {
		b.alternates[a.Order.ID] = uuid
	}
	return &offer{
		kind: KindProposeAlternate, topic: TopicAppropriateUse, topicDisplay: "Appropriate Use",
		suggestion: hooks.Suggestion{
			Label:         "Change the order to " + name + " (" + sc.Code + ")",
			UUID:          uuid,
			IsRecommended: true,
			Actions: []hooks.Action{{
				Type:        hooks.ActionUpdate,
				Description: "Change the order's code to " + sc.Code + ".",
				Resource:    resource,
			}},
		},
		summary: "Consider " + name + " (" + sc.Code + ") instead, per ACR guideline",
		detail: "Ordered: " + mdEscape(a.Order.Display) + " (" + mdEscape(a.Order.Code.Code) + "). " + upperFirst(why) + ".\n\n" +
			"*ACR Appropriateness Criteria, Low Back Pain (2021), variants 3-7.*",
		todo:    "Consider " + mdEscape(name) + " (" + mdEscape(sc.Code) + ") instead: " + why + " (the change is suggested on this card).",
		pointer: "Consider " + mdEscape(name) + " (" + mdEscape(sc.Code) + ") instead (see the contrast suggestion).",
	}
}

// referralCode is SNOMED CT 306170007 "Referral to physiotherapy service"
// ([V] S-VSAC, reference/clinical-criteria.md 3.3).
var referralCode = coding{System: "http://snomed.info/sct", Code: "306170007", Display: "Referral to physiotherapy service"}

// ACP/APS 2007 (Chou), recommendations 2 and 7: do not image nonspecific low
// back pain; start with self-care, medication and exercise therapy.
//
// The referral is a CRD ServiceRequest (profile-servicerequest: code,
// subject, authoredOn and a Practitioner or PractitionerRole requester are
// required), so it is offered only when the requester is known: the hook's
// user, else the lumbar MRI order's own requester.
func (b *builder) referralOffer(o *Order) *offer {
	a := &o.Assessment
	if !a.Has(criteria.ConservativeTherapyMissing) || len(redFlags(a)) > 0 || a.Outcome == criteria.CriteriaIndeterminate {
		return nil
	}
	// CRD STU 2.1 hooks.md (order-select): don't recommend an action if
	// there's already a draft order to perform that action.
	if _, ok := b.draftReferral(); ok {
		return nil
	}
	// Therapy in the look-back recorded without a therapy code: recording
	// it comes first, and a referral for a new course would contradict the
	// card that asks for that (clinical review 6, 06b).
	if len(uncountedTherapy(a)) > 0 {
		return nil
	}
	requester := b.in.UserID
	if !isPractitioner(requester) {
		requester = requesterOf(o.Raw)
	}
	if !isPractitioner(requester) || b.in.PatientID == "" {
		return nil
	}
	sr := map[string]any{
		"resourceType": "ServiceRequest",
		"status":       "draft",
		"intent":       "order",
		"code":         codeableConcept{Coding: []coding{referralCode}, Text: "Physical therapy for low back pain"},
		"subject":      reference{Reference: "Patient/" + b.in.PatientID},
		"authoredOn":   b.in.Today.UTC().Format(time.DateOnly),
		"requester":    reference{Reference: requester},
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
		return nil
	}
	return &offer{
		kind: KindAdditionalOrders, topic: TopicTherapyAlt, topicDisplay: "Therapy Alternatives Optional",
		suggestion: hooks.Suggestion{
			Label: "Refer to physical therapy",
			UUID:  b.newID(),
			Actions: []hooks.Action{{
				Type:        hooks.ActionCreate,
				Description: "Create a physical therapy referral.",
				Resource:    resource,
			}},
		},
		summary: "No conservative therapy counted: consider a physical therapy referral",
		detail: fmt.Sprintf("A physical therapy referral starts the %d-day conservative-therapy trial required before lumbar MRI when no red flag is documented.\n\n"+
			"*ACP/APS low back pain guideline (Chou 2007), recommendation 7; ACR Appropriateness Criteria, Low Back Pain (2021), variant 3.*", a.TherapyRequiredDays),
		todo:    "Consider physical therapy (a referral is suggested on this card).",
		pointer: "Consider physical therapy (see the referral suggestion).",
	}
}

// draftReferral returns the name of a draft order of the call that is the
// physical therapy referral this service would suggest (referralCode), and
// whether there is one.
func (b *builder) draftReferral() (string, bool) {
	for _, c := range b.in.Drafts {
		for _, cd := range c.Codings {
			if cd.System == referralCode.System && cd.Code == referralCode.Code {
				name := c.Name()
				if name == "" {
					name = referralCode.Display
				}
				return name, true
			}
		}
	}
	return "", false
}

// selection is the selectionBehavior for n suggestions: one may be taken
// alone; several (of different kinds) may all be taken.
func selection(n int) string {
	if n > 1 {
		return "any"
	}
	return "at-most-one"
}

func isPractitioner(ref string) bool {
	for _, p := range []string{"Practitioner/", "PractitionerRole/"} {
		if id, ok := strings.CutPrefix(ref, p); ok && id != "" && !strings.Contains(id, "/") {
			return true
		}
	}
	return false
}

// requesterOf returns the order's requester reference, or "".
func requesterOf(raw json.RawMessage) string {
	var sr struct {
		Requester *reference `json:"requester"`
	}
	if json.Unmarshal(raw, &sr) != nil || sr.Requester == nil {
		return ""
	}
	return sr.Requester.Reference
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// formOffer is the project's prior-authorization Questionnaire pre-filled
// from the same evidence, as a CRD Form Completion suggestion (CRD STU 2.1
// "Request Form Completion"; DECISIONS.md "Pre-filled form"), offered on
// order-sign whenever the assessment ran, a Questionnaire is served and the
// Coverage names a payer Organization: the Task's requester, which CRD's
// profile-taskquestionnaire requires (requester 1..1, the payer).
func (b *builder) formOffer(o *Order) *offer {
	a := &o.Assessment
	if b.in.Hook != hooks.HookOrderSign || b.in.PatientID == "" || b.in.Policy.Questionnaire == "" || a.Has(criteria.OtherPatientData) {
		return nil
	}
	s, err := FormCompletion(&b.in, o, b.newID)
	if err != nil {
		return nil
	}
	return &offer{
		kind: KindFormCompletion, topic: TopicCoverageInfo, topicDisplay: "Coverage Information",
		suggestion: s,
		summary:    "Lumbar MRI: prior-authorization form, pre-filled from the chart",
		detail: "The payer's prior-authorization questions, answered from the evidence above where the chart documents it; " +
			"each answer says where it came from. Accept to create the form and a task to review and complete it.",
		todo:    "Accept the pre-filled prior-authorization form on this card and complete what the chart does not answer.",
		pointer: "Review the pre-filled prior-authorization form (see the form card).",
	}
}

// notesOffer proposes recording, as coded problem-list entries, the red
// flags read only in clinical notes, so the chart is fixed at the source
// (DECISIONS.md "Notes").
func (b *builder) notesOffer(o *Order) *offer {
	s, ok, err := RecordFromNotes(&b.in, &o.Assessment, b.newID)
	if err != nil || !ok {
		return nil
	}
	return &offer{
		kind: KindChartFix, topic: TopicCoverageInfo, topicDisplay: "Coverage Information",
		suggestion: s,
		todo:       "Record the red flag found in the note as a coded problem (suggested on this card).",
	}
}
