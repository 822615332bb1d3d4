package cards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"unicode/utf8"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

// Check verifies a response body against the CDS Hooks 2.0 card rules and
// the Da Vinci CRD STU 2.1 rules this service promises: summaries under 140
// characters, valid indicators, a CRD topic on every card, uuids on
// suggestions, selectionBehavior with suggestions, displays on override
// reasons, absolute links, no null or empty JSON values (except "cards": []),
// and the ext-coverage-information invariants q1-q7 (reference/crd.md 1.4).
// It returns every problem found.
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
		for j, s := range c.Suggestions {
			if s.UUID == "" || s.Label == "" {
				bad("%s.suggestions[%d] needs uuid and label", at, j)
			}
			for k, a := range s.Actions {
				if a.Description == "" || (a.Type != hooks.ActionCreate && a.Type != hooks.ActionUpdate && a.Type != hooks.ActionDelete) {
					bad("%s.suggestions[%d].actions[%d] needs a type and a description", at, j, k)
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
		if len(x) == 0 && !(path == "$.cards") {
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
		has := func(url, code string) bool {
			for _, c := range codes[url] {
				if c == code {
					return true
				}
			}
			return false
		}
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
