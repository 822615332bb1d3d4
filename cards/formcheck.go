package cards

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// answerTypes maps a Questionnaire item type to the value[x] its answers
// may carry (FHIR R4 QuestionnaireResponse, invariant qrs-2 and the
// Questionnaire item type table).
var answerTypes = map[string][]string{
	"boolean":     {"valueBoolean"},
	"decimal":     {"valueDecimal"},
	"integer":     {"valueInteger"},
	"date":        {"valueDate"},
	"dateTime":    {"valueDateTime"},
	"time":        {"valueTime"},
	"string":      {"valueString"},
	"text":        {"valueString"},
	"url":         {"valueUri"},
	"choice":      {"valueCoding"},
	"open-choice": {"valueCoding", "valueString"},
	"attachment":  {"valueAttachment"},
	"reference":   {"valueReference"},
	"quantity":    {"valueQuantity"},
}

// CheckForm checks a QuestionnaireResponse against its Questionnaire: the
// questionnaire canonical names it, every linkId exists at that place in
// the Questionnaire's tree, groups carry items and no answers, each answer
// has exactly one value[x] of its item's type, a non-repeating item appears
// once and answers once, and a choice answer is one of the item's options.
// It returns every problem found.
func CheckForm(qrJSON, questionnaireJSON []byte) []string {
	var probs []string
	bad := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }
	var q struct {
		URL  string       `json:"url"`
		Item []checkQItem `json:"item"`
	}
	if err := json.Unmarshal(questionnaireJSON, &q); err != nil {
		return []string{"questionnaire is not JSON: " + err.Error()}
	}
	var qr struct {
		ResourceType  string        `json:"resourceType"`
		Questionnaire string        `json:"questionnaire"`
		Item          []checkQRItem `json:"item"`
	}
	if err := json.Unmarshal(qrJSON, &qr); err != nil {
		return []string{"response is not JSON: " + err.Error()}
	}
	if qr.ResourceType != "QuestionnaireResponse" {
		bad("resourceType %q", qr.ResourceType)
	}
	if canon, _, _ := strings.Cut(qr.Questionnaire, "|"); canon != q.URL {
		bad("questionnaire %q does not name %q", qr.Questionnaire, q.URL)
	}
	checkItems("", qr.Item, q.Item, bad)
	return probs
}

type checkQItem struct {
	LinkID       string            `json:"linkId"`
	Type         string            `json:"type"`
	Repeats      bool              `json:"repeats"`
	AnswerOption []json.RawMessage `json:"answerOption"`
	Item         []checkQItem      `json:"item"`
}

type checkQRItem struct {
	LinkID string                       `json:"linkId"`
	Answer []map[string]json.RawMessage `json:"answer"`
	Item   []checkQRItem                `json:"item"`
}

func checkItems(path string, got []checkQRItem, defs []checkQItem, bad func(string, ...any)) {
	byID := map[string]*checkQItem{}
	for i := range defs {
		byID[defs[i].LinkID] = &defs[i]
	}
	seen := map[string]int{}
	for _, it := range got {
		def, ok := byID[it.LinkID]
		if !ok {
			bad("%s%s: no such linkId here in the Questionnaire", path, it.LinkID)
			continue
		}
		seen[it.LinkID]++
		if seen[it.LinkID] > 1 && !def.Repeats {
			bad("%s: repeated, but the item does not repeat", it.LinkID)
		}
		if def.Type == "group" {
			if len(it.Answer) > 0 {
				bad("%s: a group with answers", it.LinkID)
			}
			if len(it.Item) == 0 {
				bad("%s: a group without items", it.LinkID)
			}
			checkItems(it.LinkID+"/", it.Item, def.Item, bad)
			continue
		}
		if len(it.Item) > 0 {
			bad("%s: a question with nested items", it.LinkID)
		}
		if len(it.Answer) == 0 {
			bad("%s: a question without answers", it.LinkID)
		}
		if len(it.Answer) > 1 && !def.Repeats {
			bad("%s: %d answers, but the item does not repeat", it.LinkID, len(it.Answer))
		}
		allowed := answerTypes[def.Type]
		for _, an := range it.Answer {
			var values []string
			for k := range an {
				if strings.HasPrefix(k, "value") {
					values = append(values, k)
				}
			}
			if len(values) != 1 {
				bad("%s: answer with %d values", it.LinkID, len(values))
				continue
			}
			if !slices.Contains(allowed, values[0]) {
				bad("%s: %s answer for an item of type %s", it.LinkID, values[0], def.Type)
				continue
			}
			if def.Type == "choice" && len(def.AnswerOption) > 0 && !inOptions(an[values[0]], def.AnswerOption) {
				bad("%s: answer not among the item's answerOption", it.LinkID)
			}
		}
	}
}

// inOptions reports whether a valueCoding matches an answerOption's
// valueCoding on system and code.
func inOptions(v json.RawMessage, options []json.RawMessage) bool {
	var c coding
	if json.Unmarshal(v, &c) != nil {
		return false
	}
	for _, o := range options {
		var opt struct {
			ValueCoding *coding `json:"valueCoding"`
		}
		if json.Unmarshal(o, &opt) == nil && opt.ValueCoding != nil &&
			opt.ValueCoding.System == c.System && opt.ValueCoding.Code == c.Code {
			return true
		}
	}
	return false
}
