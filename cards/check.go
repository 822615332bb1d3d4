package cards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"unicode/utf8"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

// Check verifies a response body against the CDS Hooks 2.0 card rules and
// the Da Vinci CRD STU 2.1 rules this service promises: summaries under 140
// characters, valid indicators, a CRD topic on every card, uuids on
// suggestions, selectionBehavior with suggestions, displays on override
// reasons, no null or empty JSON values (except "cards": [] and
// "systemActions": []), the card-type rules (External Reference: links
// only, all absolute; suggestions never beside links; Additional Orders:
// creates of order resources that meet their CRD profile), at most
// MaxCardsPerOrder cards per order, and the ext-coverage-information
// invariants q1-q7 (reference/crd.md 1.4). It returns every problem found.
func Check(body []byte) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	var resp hooks.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		return []error{fmt.Errorf("response is not JSON: %v", err)}
	}
	var generic any
	_ = json.Unmarshal(body, &generic)
	emptyValues(generic, "$", true, bad)
	if resp.Cards == nil {
		bad("cards is missing")
	}
	topics := map[string]bool{}
	for _, t := range Topics {
		topics[t.Code] = true
	}
	for i, c := range resp.Cards {
		at := fmt.Sprintf("cards[%d]", i)
		if n := utf8.RuneCountInString(c.Summary); n == 0 || n >= 140 {
			bad("%s.summary has %d characters (want 1-139)", at, n)
		}
		switch c.Indicator {
		case hooks.IndicatorInfo, hooks.IndicatorWarning, hooks.IndicatorCritical:
		default:
			bad("%s.indicator %q is not info, warning or critical", at, c.Indicator)
		}
		if c.UUID == "" {
			bad("%s.uuid is missing", at)
		}
		if c.Source.Label == "" {
			bad("%s.source.label is missing", at)
		}
		if c.Source.Topic == nil || c.Source.Topic.System != TopicSystem || !topics[c.Source.Topic.Code] {
			bad("%s.source.topic is not a CRD card type", at)
		}
		if len(c.Suggestions) > 0 && c.SelectionBehavior != "at-most-one" && c.SelectionBehavior != "any" {
			bad("%s has suggestions but selectionBehavior %q", at, c.SelectionBehavior)
		}
		if len(c.Suggestions) > 0 && len(c.Links) > 0 {
			bad("%s has both links and suggestions (External Reference cards carry links only)", at)
		}
		for j, s := range c.Suggestions {
			if s.UUID == "" || s.Label == "" {
				bad("%s.suggestions[%d] needs uuid and label", at, j)
			}
			if len(s.Actions) == 0 {
				bad("%s.suggestions[%d] has no actions", at, j)
			}
			for k, a := range s.Actions {
				for _, err := range checkAction(a) {
					bad("%s.suggestions[%d].actions[%d]: %v", at, j, k, err)
				}
			}
		}
		for j, o := range c.OverrideReasons {
			if o.Code == "" || o.System == "" || o.Display == "" {
				bad("%s.overrideReasons[%d] needs code, system and display", at, j)
			}
		}
		for j, l := range c.Links {
			u, err := url.Parse(l.URL)
			if l.Type != "absolute" || err != nil || !u.IsAbs() || l.Label == "" {
				bad("%s.links[%d] must be a labelled absolute URL", at, j)
			}
		}
	}
	for ref, n := range cardsPerOrder(resp.Cards) {
		if n > MaxCardsPerOrder {
			bad("%s has %d cards (at most %d)", ref, n, MaxCardsPerOrder)
		}
	}
	for i, a := range resp.SystemActions {
		at := fmt.Sprintf("systemActions[%d]", i)
		if a.Type != hooks.ActionUpdate || a.Description == "" {
			bad("%s must be an update with a description", at)
		}
		for _, err := range checkCoverageInformation(a.Resource) {
			bad("%s: %v", at, err)
		}
	}
	return errs
}

// emptyValues reports null, "", [] and {} anywhere (CDS Hooks 2.0 §JSON);
// the top-level "cards": [] is allowed.
func emptyValues(v any, path string, top bool, bad func(string, ...any)) {
	switch x := v.(type) {
	case nil:
		bad("%s is null", path)
	case string:
		if x == "" {
			bad("%s is an empty string", path)
		}
	case []any:
		if len(x) == 0 && path != "$.cards" && path != "$.systemActions" {
			bad("%s is an empty array", path)
		}
		for i, e := range x {
			emptyValues(e, fmt.Sprintf("%s[%d]", path, i), false, bad)
		}
	case map[string]any:
		if len(x) == 0 {
			bad("%s is an empty object", path)
		}
		for k, e := range x {
			emptyValues(e, path+"."+k, false, bad)
		}
	}
}

// checkCoverageInformation checks each coverage-information extension on
// the resource against CRD STU 2.1 cardinalities and invariants q1-q7.
func checkCoverageInformation(resource json.RawMessage) []error {
	var errs []error
	var r struct {
		Extension []ext `json:"extension"`
	}
	if err := json.Unmarshal(resource, &r); err != nil {
		return []error{fmt.Errorf("resource is not a FHIR resource: %v", err)}
	}
	found := 0
	for _, e := range r.Extension {
		if e.URL != CoverageInformationURL {
			continue
		}
		found++
		count := map[string]int{}
		codes := map[string][]string{}
		var reasons []*codeableConcept
		for _, p := range e.Extension {
			count[p.URL]++
			if p.ValueCode != "" {
				codes[p.URL] = append(codes[p.URL], p.ValueCode)
			}
			if p.URL == "reason" {
				reasons = append(reasons, p.ValueCodeableConcept)
			}
		}
		for _, one := range []string{"coverage", "covered", "date", "coverage-assertion-id"} {
			if count[one] != 1 {
				errs = append(errs, fmt.Errorf("coverage-information needs exactly one %s, has %d", one, count[one]))
			}
		}
		for _, most := range []string{"pa-needed", "satisfied-pa-id", "expiry-date"} {
			if count[most] > 1 {
				errs = append(errs, fmt.Errorf("coverage-information has %d %s", count[most], most))
			}
		}
		has := func(url, code string) bool { return slices.Contains(codes[url], code) }
		anyConditional := has("covered", "conditional") || has("pa-needed", "conditional") || has("doc-needed", "conditional")
		if count["questionnaire"] > 0 && count["doc-needed"] == 0 {
			errs = append(errs, fmt.Errorf("q1: questionnaire without doc-needed"))
		}
		if has("covered", "not-covered") && count["pa-needed"] > 0 {
			errs = append(errs, fmt.Errorf("q2: not-covered with pa-needed"))
		}
		if anyConditional && count["info-needed"] == 0 {
			errs = append(errs, fmt.Errorf("q3: conditional without info-needed"))
		}
		if has("pa-needed", "satisfied") && has("doc-purpose", "withpa") {
			errs = append(errs, fmt.Errorf("q4: satisfied with doc-purpose withpa"))
		}
		if has("pa-needed", "satisfied") != (count["satisfied-pa-id"] > 0) {
			errs = append(errs, fmt.Errorf("q5: satisfied-pa-id must be present exactly when pa-needed is satisfied"))
		}
		if has("info-needed", "OTH") && len(reasons) == 0 {
			errs = append(errs, fmt.Errorf("q6: info-needed OTH without reason"))
		}
		for i, cc := range reasons {
			// Our reasons are outside the CRD coverageAssertionReasons value
			// set, so each needs text (q7).
			if cc == nil || cc.Text == "" {
				errs = append(errs, fmt.Errorf("q7: reason[%d] has no text", i))
			}
		}
	}
	if found != 1 {
		errs = append(errs, fmt.Errorf("want exactly one coverage-information extension, found %d", found))
	}
	return errs
}

// Unpatched returns the resource JSON with this service's coverage
// information removed, for comparing an update with the client's order.
func Unpatched(resource json.RawMessage) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(resource, &obj); err != nil {
		return nil, err
	}
	var exts, kept []json.RawMessage
	if raw, ok := obj["extension"]; ok {
		if err := json.Unmarshal(raw, &exts); err != nil {
			return nil, err
		}
	}
	for _, e := range exts {
		if !ours(e) {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		delete(obj, "extension")
	} else {
		b, err := marshal(kept)
		if err != nil {
			return nil, err
		}
		obj["extension"] = b
	}
	out, err := marshal(obj)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// orderTypes are the resources an Additional Orders suggestion may create
// (CRD STU 2.1 cards.html; the Inferno CRD kit's list).
var orderTypes = map[string]bool{
	"CommunicationRequest": true, "Device": true, "DeviceRequest": true, "Medication": true,
	"MedicationRequest": true, "NutritionOrder": true, "ServiceRequest": true, "VisionPrescription": true,
}

// formTypes are the resources a Form Completion suggestion may create.
var formTypes = map[string]bool{"Task": true, "QuestionnaireResponse": true, "Questionnaire": true}

// chartTypes are chart entries a suggestion may create to record at the
// source what the service read only in a note (a provisional problem-list
// Condition; DECISIONS.md "Notes"). They ride on the coverage card.
var chartTypes = map[string]bool{"Condition": true}

// checkAction checks one suggestion action: its type and description, a
// resource for create and update (an id for update), a resourceId for
// delete, and for a created ServiceRequest the elements the CRD
// profile-servicerequest requires (code, subject, authoredOn, a
// Practitioner or PractitionerRole requester) besides status and intent.
func checkAction(a hooks.Action) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if a.Description == "" {
		bad("needs a description")
	}
	switch a.Type {
	case hooks.ActionDelete:
		if a.ResourceID == "" {
			bad("a delete needs resourceId")
		}
		return errs
	case hooks.ActionCreate, hooks.ActionUpdate:
	default:
		bad("type %q is not create, update or delete", a.Type)
		return errs
	}
	var r struct {
		ResourceType string     `json:"resourceType"`
		ID           string     `json:"id"`
		Status       string     `json:"status"`
		Intent       string     `json:"intent"`
		Code         *struct{}  `json:"code"`
		Subject      *reference `json:"subject"`
		AuthoredOn   string     `json:"authoredOn"`
		Requester    *reference `json:"requester"`
	}
	if len(a.Resource) == 0 || json.Unmarshal(a.Resource, &r) != nil || r.ResourceType == "" {
		bad("a %s needs a FHIR resource", a.Type)
		return errs
	}
	if a.Type == hooks.ActionUpdate {
		if r.ID == "" {
			bad("an update needs the resource's id")
		}
		return errs
	}
	if !orderTypes[r.ResourceType] && !formTypes[r.ResourceType] && !chartTypes[r.ResourceType] {
		bad("creates a %s, not an order, a form or a problem-list entry", r.ResourceType)
	}
	if r.ResourceType == "ServiceRequest" {
		if r.Status == "" || r.Intent == "" || r.Code == nil || r.Subject == nil || r.Subject.Reference == "" {
			bad("the ServiceRequest needs status, intent, code and subject")
		}
		if r.AuthoredOn == "" {
			bad("the ServiceRequest needs authoredOn (CRD profile-servicerequest)")
		}
		if r.Requester == nil || !isPractitioner(r.Requester.Reference) {
			bad("the ServiceRequest needs a Practitioner or PractitionerRole requester (CRD profile-servicerequest)")
		}
	}
	return errs
}

// cardsPerOrder counts the cards each order gets: those associated with it
// (davinci-crd.associated-resource) plus those associated with no order.
func cardsPerOrder(cards []hooks.Card) map[string]int {
	out := map[string]int{}
	shared := 0
	for _, c := range cards {
		var refs []reference
		if raw, ok := c.Extension["davinci-crd.associated-resource"]; ok {
			_ = json.Unmarshal(raw, &refs)
		}
		if len(refs) == 0 {
			shared++
		}
		for _, r := range refs {
			out[r.Reference]++
		}
	}
	for ref := range out {
		out[ref] += shared
	}
	return out
}

// CheckAnswer is Check plus the rules that need the request: an order-sign
// answer carries systemActions, and every update (systemAction or
// suggestion) changes one of the request's draft orders (CRD resp-37).
func CheckAnswer(hook string, request, response []byte) []error {
	errs := Check(response)
	var resp map[string]json.RawMessage
	if json.Unmarshal(response, &resp) != nil {
		return errs
	}
	if _, ok := resp["systemActions"]; hook == hooks.HookOrderSign && !ok {
		errs = append(errs, fmt.Errorf("an order-sign answer needs systemActions (empty when nothing applies)"))
	}
	var req struct {
		Context struct {
			DraftOrders struct {
				Entry []struct {
					Resource struct {
						ResourceType string `json:"resourceType"`
						ID           string `json:"id"`
					} `json:"resource"`
				} `json:"entry"`
			} `json:"draftOrders"`
		} `json:"context"`
	}
	if err := json.Unmarshal(request, &req); err != nil {
		return append(errs, fmt.Errorf("request is not JSON: %v", err))
	}
	drafts := map[string]bool{}
	for _, e := range req.Context.DraftOrders.Entry {
		drafts[e.Resource.ResourceType+"/"+e.Resource.ID] = true
	}
	var r hooks.Response
	_ = json.Unmarshal(response, &r)
	updates := append([]hooks.Action{}, r.SystemActions...)
	for _, c := range r.Cards {
		for _, s := range c.Suggestions {
			updates = append(updates, s.Actions...)
		}
	}
	for _, a := range updates {
		if a.Type != hooks.ActionUpdate {
			continue
		}
		var res struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		_ = json.Unmarshal(a.Resource, &res)
		if !drafts[res.ResourceType+"/"+res.ID] {
			errs = append(errs, fmt.Errorf("an update changes %s/%s, which is not among the draft orders", res.ResourceType, res.ID))
		}
	}
	return errs
}
