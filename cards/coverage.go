package cards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/jsoncompat"
)

// CoverageInformationURL is the Da Vinci CRD STU 2.1 coverage-information extension.
const CoverageInformationURL = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"

// CPTSystem is the AMA CPT code system URI.
const CPTSystem = "http://www.ama-assn.org/go/cpt"

// Coverage is the Coverage the assertion is about.
type Coverage struct {
	// Reference is a relative reference such as "Coverage/cov-1".
	Reference string
	// Note says how it was chosen when the patient has several (shown on cards).
	Note string
	// Payer is the Coverage's payor display, when the chart names one.
	Payer string
	// PayerOrganization is the Coverage's payor Organization, the requester
	// of a form completion Task; nil when the Coverage names none.
	PayerOrganization *chart.PayerRef
}

// ext is one FHIR extension with the value types this package writes.
type ext struct {
	URL                  string           `json:"url"`
	Extension            []ext            `json:"extension,omitempty"`
	ValueCode            string           `json:"valueCode,omitempty"`
	ValueString          string           `json:"valueString,omitempty"`
	ValueDate            string           `json:"valueDate,omitempty"`
	ValueCanonical       string           `json:"valueCanonical,omitempty"`
	ValueReference       *reference       `json:"valueReference,omitempty"`
	ValueCoding          *coding          `json:"valueCoding,omitempty"`
	ValueCodeableConcept *codeableConcept `json:"valueCodeableConcept,omitempty"`
}

type reference struct {
	Reference string `json:"reference"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text,omitempty"`
}

// coverageInformation builds the CRD ext-coverage-information for one
// assessment, following DECISIONS.md "Coverage information" and the CRD 2.1
// invariants q1-q7 (reference/crd.md 1.4):
//   - q1: questionnaire only together with doc-needed;
//   - q3, q6: conditional carries info-needed OTH, and OTH carries a reason;
//   - q7: reason codings come from this project's system, so each has text.
//
// order-select is a secondary hook: it never asks for documentation
// (CRD hook-19), so doc-needed, doc-purpose and questionnaire are left out.
func coverageInformation(a *criteria.Assessment, cov Coverage, paNeeded, questionnaire, assertionID string, today time.Time, secondary bool) ext {
	parts := []ext{{URL: "coverage", ValueReference: &reference{Reference: cov.Reference}}}
	switch a.Outcome {
	case criteria.CriteriaIndeterminate:
		parts = append(parts, ext{URL: "covered", ValueCode: "conditional"})
		if paNeeded != "" {
			parts = append(parts, ext{URL: "pa-needed", ValueCode: paNeeded})
		}
		parts = append(parts, ext{URL: "info-needed", ValueCode: "OTH"})
	default:
		parts = append(parts, ext{URL: "covered", ValueCode: "covered"})
		if paNeeded != "" {
			parts = append(parts, ext{URL: "pa-needed", ValueCode: paNeeded})
		}
		// q4: a satisfied authorization is never asked for documentation withpa.
		if !secondary && paNeeded != "satisfied" && paNeeded != "no-auth" {
			parts = append(parts,
				ext{URL: "doc-needed", ValueCode: "clinical"},
				ext{URL: "doc-purpose", ValueCode: "withpa"})
			if questionnaire != "" {
				parts = append(parts, ext{URL: "questionnaire", ValueCanonical: questionnaire})
			}
		}
	}
	if a.Order.BillingCode != "" {
		parts = append(parts, ext{URL: "billingCode", ValueCoding: &coding{System: CPTSystem, Code: a.Order.BillingCode}})
	}
	parts = append(parts, ext{URL: "reason", ValueCodeableConcept: reasonConcept(a.Outcome, outcomeText(a))})
	for _, f := range a.Findings {
		parts = append(parts, ext{URL: "reason", ValueCodeableConcept: reasonConcept(f.Code, f.Text)})
	}
	parts = append(parts,
		ext{URL: "date", ValueDate: today.UTC().Format(time.DateOnly)},
		ext{URL: "coverage-assertion-id", ValueString: assertionID})
	return ext{URL: CoverageInformationURL, Extension: parts}
}

// withAssertionID is a coverage-information extension with its
// coverage-assertion-id set to id; e itself is left as it is.
func (e ext) withAssertionID(id string) ext {
	parts := slices.Clone(e.Extension)
	for i := range parts {
		if parts[i].URL == "coverage-assertion-id" {
			parts[i].ValueString = id
		}
	}
	e.Extension = parts
	return e
}

func reasonConcept(code, text string) *codeableConcept {
	return &codeableConcept{
		Coding: []coding{{System: criteria.CodeSystem, Code: code, Display: Display(code)}},
		Text:   text,
	}
}

// withCoverageInformation returns the client's order JSON with this
// service's coverage information added, replacing an earlier one from this
// service, and nothing else changed (CRD resp-37): the order's members keep
// the client's bytes and order; only "extension" is rewritten, in place, or
// appended when the order had none.
func withCoverageInformation(raw json.RawMessage, info ext) (json.RawMessage, error) {
	b, err := marshal(info)
	if err != nil {
		return nil, err
	}
	return setMember(raw, "extension", func(old jsontext.Value) ([]byte, error) {
		out := []byte{'['}
		if old != nil {
			if old.Kind() != '[' {
				return nil, errors.New("order extension is not an array")
			}
			err := elements(old, func(e jsontext.Value) {
				if !ours(json.RawMessage(e)) {
					out = append(append(out, e...), ',')
				}
			})
			if err != nil {
				return nil, err
			}
		}
		return append(append(out, b...), ']'), nil
	})
}

// setMember returns the JSON object raw with the value of member name
// replaced by value(old) (old nil when absent; the member then goes last).
// Every other member keeps its bytes and place. Later duplicates of name are
// dropped, as a decoder keeping the last one would see only one.
func setMember(raw []byte, name string, value func(old jsontext.Value) ([]byte, error)) (json.RawMessage, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(raw), jsoncompat.Options)
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, errors.New("order is not a JSON object")
	}
	out := make([]byte, 0, len(raw)+512)
	out = append(out, '{')
	var old jsontext.Value
	at := -1 // where the member goes: the place of its first occurrence
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, fmt.Errorf("order is not a JSON object: %w", err)
		}
		key := tok.String()
		v, err := dec.ReadValue()
		if err != nil {
			return nil, fmt.Errorf("order is not a JSON object: %w", err)
		}
		if key == name {
			old = append(old[:0], v...)
			if at < 0 {
				at = len(out)
			}
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out, _ = jsontext.AppendQuote(out, key)
		out = append(append(out, ':'), v...)
	}
	nv, err := value(old)
	if err != nil {
		return nil, err
	}
	member, _ := jsontext.AppendQuote(nil, name)
	member = append(append(member, ':'), nv...)
	switch {
	case at < 0: // absent: last
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, member...)
	case at == 1: // first: what follows has no comma before it
		if len(out) > 1 {
			member = append(member, ',')
		}
		out = append(out[:1], append(member, out[1:]...)...)
	default: // after a member; what follows starts with its comma
		out = append(out[:at], append(append([]byte{','}, member...), out[at:]...)...)
	}
	return append(out, '}'), nil
}

// elements calls fn with each element of a JSON array.
func elements(arr jsontext.Value, fn func(jsontext.Value)) error {
	dec := jsontext.NewDecoder(bytes.NewReader(arr), jsoncompat.Options)
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		fn(v)
	}
	return nil
}

// marshal encodes without HTML escaping, so the client's narrative keeps its
// characters as sent.
func marshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// ours reports whether an extension is a coverage-information extension
// written by this service: its reasons use this project's code system.
func ours(raw json.RawMessage) bool {
	var e ext
	if json.Unmarshal(raw, &e) != nil || e.URL != CoverageInformationURL {
		return false
	}
	for _, p := range e.Extension {
		if p.URL == "reason" && p.ValueCodeableConcept != nil {
			for _, c := range p.ValueCodeableConcept.Coding {
				if c.System == criteria.CodeSystem {
					return true
				}
			}
		}
	}
	return false
}

// withCode returns the client's order JSON with its code replaced (the
// contrast suggestion); nothing else changes.
func withCode(raw json.RawMessage, c criteria.Code) (json.RawMessage, error) {
	cc := codeableConcept{Coding: []coding{{System: c.System, Code: c.Code, Display: c.Display}}, Text: c.Display}
	b, err := marshal(cc)
	if err != nil {
		return nil, err
	}
	return setMember(raw, "code", func(jsontext.Value) ([]byte, error) { return b, nil })
}

// unchangedCoverageInformation reports whether the client's order already
// carries the coverage information info would add, and returns the
// coverage-assertion-id it carries. CRD STU 2.1 cards.md (Coverage
// Information): no update "unless something is new", item 4: none where the
// request "already has a coverage-information extension and the payer has no
// new information to add".
//
// The order must carry exactly one coverage-information extension from this
// service, with a coverage-assertion-id, whose sub-extensions other than
// date and coverage-assertion-id equal info's as a set, each compared in
// full: coverage, covered, pa-needed, doc-needed, doc-purpose, info-needed,
// questionnaire, billingCode and every reason (code, display and text),
// and any sub-extension the client kept that info lacks (an extra or a
// missing one is new). The date the assertion was made and its id are not
// information about coverage: a re-sign on a later day keeps both. Element
// ids are ignored; the order of the sub-extensions is not meaningful.
func unchangedCoverageInformation(raw json.RawMessage, info ext) (string, bool) {
	var order struct {
		Extension []json.RawMessage `json:"extension"`
	}
	if json.Unmarshal(raw, &order) != nil {
		return "", false
	}
	var old []json.RawMessage
	for _, e := range order.Extension {
		if ours(e) {
			old = append(old, e)
		}
	}
	if len(old) != 1 {
		return "", false
	}
	was, id, wasDay, ok := assertionContent(old[0])
	if !ok || id == "" {
		return "", false
	}
	b, err := marshal(info)
	if err != nil {
		return "", false
	}
	now, _, today, ok := assertionContent(b)
	// Only an assertion of the same day stands: an older one is stale (a
	// new date is new information), and the id the order carries is not
	// checked against what this service issued, so whatever an order
	// brings with it is trusted for that day at most (clinical review 8).
	if !ok || wasDay != today || !slices.Equal(was, now) {
		return "", false
	}
	return id, true
}

// assertionContent returns the sub-extensions of a coverage-information
// extension that carry information (all but date and
// coverage-assertion-id), each as canonical JSON without its element id,
// sorted; the coverage-assertion-id; and the date.
func assertionContent(raw json.RawMessage) ([]string, string, string, bool) {
	var e struct {
		Extension []map[string]any `json:"extension"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return nil, "", "", false
	}
	var out []string
	id, day := "", ""
	for _, p := range e.Extension {
		switch url, _ := p["url"].(string); url {
		case "date":
			day, _ = p["valueDate"].(string)
			continue
		case "coverage-assertion-id":
			id, _ = p["valueString"].(string)
			continue
		}
		delete(p, "id")
		b, err := json.Marshal(p) // map keys sorted: canonical
		if err != nil {
			return nil, "", "", false
		}
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out, id, day, true
}
