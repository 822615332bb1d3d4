package cards

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// FormQuestionnaireID is the id of the project's prior-authorization
// Questionnaire, served at GET /fhir/Questionnaire/{id}, that the pre-filled
// form answers.
const FormQuestionnaireID = "lumbar-mri-pa"

// Extension URLs written on each answer of the pre-filled form.
const (
	// InformationOriginURL is the Da Vinci DTR STU 2.1 information-origin
	// extension (context QuestionnaireResponse.item.answer); its "source"
	// sub-extension is "auto" from DTR's temporary code system.
	InformationOriginURL = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/information-origin"
	// AnswerEvidenceURL is the project's extension naming where an answer
	// came from (README "Pre-filled form"): sub-extensions "resource"
	// (valueReference to the chart resource, a DocumentReference or
	// DiagnosticReport for a note), "quote" (valueString, the note's words)
	// and "date" (valueString, the evidence date as recorded).
	AnswerEvidenceURL = "https://lumbar-mri-cds.github.io/fhir/StructureDefinition/answer-evidence"
	// sdcTemp is the SDC temporary code system (complete-questionnaire,
	// questionnaire, questionnaire-response).
	sdcTemp = "http://hl7.org/fhir/uv/sdc/CodeSystem/temp"
	// crdTemp is the CRD STU 2.1 temporary code system (CRDTempCodes):
	// after-completion-action, prior-auth-include, reason-prior-auth.
	crdTemp = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
	// maxEvidencePerAnswer bounds the evidence extensions on one answer.
	maxEvidencePerAnswer = 5
)

// ErrNoPayer means the Coverage names no payer Organization, the requester
// a form completion Task needs (CRD STU 2.1 profile-taskquestionnaire:
// requester 1..1, Reference(CRDOrganization), "Payer requesting form
// completion").
var ErrNoPayer = errors.New("cards: no payer organization to request the form")

// ErrNoQuestionnaire means the embedded Questionnaire the form answers is
// missing or unreadable (a build defect, not bad input).
var ErrNoQuestionnaire = errors.New("cards: form questionnaire not available")

// questionnaireItem is the part of a Questionnaire item the form reads.
type questionnaireItem struct {
	LinkID  string              `json:"linkId"`
	Type    string              `json:"type"`
	Repeats bool                `json:"repeats"`
	Code    []coding            `json:"code"`
	Item    []questionnaireItem `json:"item"`
}

type questionnaire struct {
	URL     string              `json:"url"`
	Version string              `json:"version"`
	Item    []questionnaireItem `json:"item"`

	// types maps every linkId to its item type, and byCode maps the
	// project's finding codes to the item that asks about them; both are
	// built once, when the Questionnaire is read.
	types  map[string]string
	byCode map[string]*questionnaireItem
}

// index fills types and byCode.
func (q *questionnaire) index() {
	q.types, q.byCode = map[string]string{}, map[string]*questionnaireItem{}
	var walk func(items []questionnaireItem)
	walk = func(items []questionnaireItem) {
		for i := range items {
			it := &items[i]
			q.types[it.LinkID] = it.Type
			for _, c := range it.Code {
				if c.System == criteria.CodeSystem {
					q.byCode[c.Code] = it
				}
			}
			walk(it.Item)
		}
	}
	walk(q.Item)
}

// formQuestionnaire reads the embedded Questionnaire.
func formQuestionnaire() (*questionnaire, json.RawMessage, error) {
	p := embeddedQuestionnaire()
	return p.q, p.raw, p.err
}

type parsedQuestionnaire struct {
	q   *questionnaire
	raw json.RawMessage
	err error
}

// embeddedQuestionnaire reads the embedded Questionnaire once: it is
// immutable, and reading it on every call cost almost half of a call's CPU.
// Callers never modify what it returns.
var embeddedQuestionnaire = sync.OnceValue(func() parsedQuestionnaire {
	raw, ok := policy.Questionnaires()[FormQuestionnaireID]
	if !ok {
		return parsedQuestionnaire{err: fmt.Errorf("%w: %s not embedded", ErrNoQuestionnaire, FormQuestionnaireID)}
	}
	var q questionnaire
	if err := json.Unmarshal(raw, &q); err != nil || q.URL == "" {
		return parsedQuestionnaire{err: fmt.Errorf("%w: %s unreadable", ErrNoQuestionnaire, FormQuestionnaireID)}
	}
	q.index()
	return parsedQuestionnaire{q: &q, raw: raw}
})

// canonical is the Questionnaire's versioned canonical ("url|version").
func (q *questionnaire) canonical() string {
	if q.Version == "" {
		return q.URL
	}
	return q.URL + "|" + q.Version
}

// FormCompletion returns the CRD Form Completion suggestion for one assessed
// order (CRD STU 2.1 cards.md "Request Form Completion"): two create
// actions, the pre-filled in-progress QuestionnaireResponse and a Task that
// complies with profile-taskquestionnaire (TaskQuestionnaire.fsh, on SDC
// sdc-task); taskQuestionnaire says how. newID gives the suggestion uuid and
// both resource ids. ErrNoPayer when the Coverage names no payer
// Organization to request it.
func FormCompletion(in *Input, o *Order, newID func() string) (hooks.Suggestion, error) {
	q, _, err := formQuestionnaire()
	if err != nil {
		return hooks.Suggestion{}, err
	}
	if !hasPayer(in) {
		return hooks.Suggestion{}, ErrNoPayer
	}
	qrID, taskID := newID(), newID()
	qr, err := questionnaireResponse(q, in, &o.Assessment, qrID)
	if err != nil {
		return hooks.Suggestion{}, err
	}
	taskRaw, err := json.Marshal(taskQuestionnaire(in, o, q.canonical(), taskID, qrID))
	if err != nil {
		return hooks.Suggestion{}, fmt.Errorf("form task: %w", err)
	}
	return hooks.Suggestion{
		Label: "Pre-filled prior-authorization form",
		UUID:  newID(),
		Actions: []hooks.Action{
			{Type: hooks.ActionCreate, Description: "Prior-authorization documentation, pre-filled from the chart (in progress).", Resource: qr},
			{Type: hooks.ActionCreate, Description: "Task to review and complete the prior-authorization form.", Resource: taskRaw},
		},
	}, nil
}

// hasPayer reports whether the Coverage in force names the payer
// Organization the form's Task is requested by (ErrNoPayer otherwise).
func hasPayer(in *Input) bool {
	return in.Coverage != nil && in.Coverage.PayerOrganization != nil
}

// taskQuestionnaire is the form completion Task. in.Coverage.PayerOrganization
// must be set. The rules, from CRD STU 2.1 TaskQuestionnaire.fsh
// (profile-taskquestionnaire) and its parent SDC 3.0 sdc-task:
//   - status ready, intent order (both fixed by the CRD profile);
//   - code complete-questionnaire from the SDC temporary codes (sdc-task:
//     code 1..1, required binding TaskCode);
//   - sdc-t1: with complete-questionnaire, focus is omitted and a
//     'questionnaire' input is present; the order is linked by basedOn
//     (CRD: "linking the Questionnaire to the particular 'request' that
//     triggered its creation");
//   - for 1..1, the Patient; authoredOn 1..1;
//   - requester 1..1, Reference(CRDOrganization), "Payer requesting form
//     completion": the Coverage's own payor reference (literal, logical or
//     display, as the chart gives it), typed Organization. No Organization
//     id is made up;
//   - owner 0..1, Reference(USCorePractitionerProfile): the ordering
//     practitioner when the call names one;
//   - reasonCode from CRDTaskReason: reason-prior-auth;
//   - input[questionnaire] 0..1 (sdc-task): type SDC temp questionnaire,
//     valueCanonical (text "questionnaire" as well, which the Inferno CRD kit
//     reads to recognise the response type);
//   - input[afterCompletion] 1..* (CRD): type CRD temp
//     after-completion-action, a valueCodeableConcept from
//     CRDTaskAfterCompletionCode: prior-auth-include, as the coverage
//     information's doc-purpose withpa says;
//   - one more input (open slicing): the pre-filled QuestionnaireResponse.
func taskQuestionnaire(in *Input, o *Order, canonical, taskID, qrID string) taskJSON {
	payer := in.Coverage.PayerOrganization
	requester := &taskReference{Reference: payer.Reference, Type: "Organization", Display: payer.Display}
	if payer.IdentifierValue != "" {
		requester.Identifier = &identifier{System: payer.IdentifierSystem, Value: payer.IdentifierValue}
	}
	task := taskJSON{
		ResourceType: "Task",
		ID:           taskID,
		Status:       "ready",
		Intent:       "order",
		Code:         codeableConcept{Coding: []coding{{System: sdcTemp, Code: "complete-questionnaire", Display: "Complete Questionnaire"}}},
		Description:  "Review and complete the pre-filled prior-authorization documentation for " + o.Assessment.Order.Display + ".",
		For:          reference{Reference: "Patient/" + in.PatientID},
		AuthoredOn:   in.Today.UTC().Format(time.RFC3339),
		Requester:    requester,
		ReasonCode: &codeableConcept{Coding: []coding{{System: crdTemp, Code: "reason-prior-auth", Display: "Prior authorization"}},
			Text: "Needed for prior authorization"},
		Input: []taskInput{
			{Type: codeableConcept{Coding: []coding{{System: sdcTemp, Code: "questionnaire", Display: "Questionnaire"}}, Text: "questionnaire"}, ValueCanonical: canonical},
			{Type: codeableConcept{Coding: []coding{{System: crdTemp, Code: "after-completion-action", Display: "After-completion action"}}},
				ValueCodeableConcept: &codeableConcept{Coding: []coding{{System: crdTemp, Code: "prior-auth-include", Display: "Include in prior authorization"}}}},
			{Type: codeableConcept{Coding: []coding{{System: sdcTemp, Code: "questionnaire-response", Display: "Questionnaire Response"}}, Text: "questionnaire-response"},
				ValueReference: &reference{Reference: "QuestionnaireResponse/" + qrID}},
		},
	}
	if id := o.Assessment.Order.ID; id != "" {
		task.BasedOn = []reference{{Reference: "ServiceRequest/" + id}}
	}
	if strings.HasPrefix(in.UserID, "Practitioner/") {
		task.Owner = &reference{Reference: in.UserID}
	}
	return task
}

type taskJSON struct {
	ResourceType string           `json:"resourceType"`
	ID           string           `json:"id"`
	BasedOn      []reference      `json:"basedOn,omitempty"`
	Status       string           `json:"status"`
	Intent       string           `json:"intent"`
	Code         codeableConcept  `json:"code"`
	Description  string           `json:"description"`
	For          reference        `json:"for"`
	AuthoredOn   string           `json:"authoredOn"`
	Requester    *taskReference   `json:"requester"`
	Owner        *reference       `json:"owner,omitempty"`
	ReasonCode   *codeableConcept `json:"reasonCode,omitempty"`
	Input        []taskInput      `json:"input"`
}

// taskReference is a FHIR Reference with its logical parts.
type taskReference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

type taskInput struct {
	Type                 codeableConcept  `json:"type"`
	ValueCanonical       string           `json:"valueCanonical,omitempty"`
	ValueCodeableConcept *codeableConcept `json:"valueCodeableConcept,omitempty"`
	ValueReference       *reference       `json:"valueReference,omitempty"`
}

// QuestionnaireResponse returns the pre-filled in-progress
// QuestionnaireResponse for one assessment, with the given id.
func QuestionnaireResponse(in *Input, a *criteria.Assessment, id string) (json.RawMessage, error) {
	q, _, err := formQuestionnaire()
	if err != nil {
		return nil, err
	}
	return questionnaireResponse(q, in, a, id)
}

// qrAnswer is one QuestionnaireResponse answer: one value[x] and its
// extensions.
type qrAnswer struct {
	ValueBoolean *bool    `json:"valueBoolean,omitempty"`
	ValueDate    string   `json:"valueDate,omitempty"`
	ValueDecimal *float64 `json:"valueDecimal,omitempty"`
	ValueString  string   `json:"valueString,omitempty"`
	ValueCoding  *coding  `json:"valueCoding,omitempty"`
	Extension    []ext    `json:"extension,omitempty"`
}

type qrItem struct {
	LinkID string     `json:"linkId"`
	Answer []qrAnswer `json:"answer,omitempty"`
	Item   []qrItem   `json:"item,omitempty"`
}

type questionnaireResponseJSON struct {
	ResourceType  string      `json:"resourceType"`
	ID            string      `json:"id"`
	Questionnaire string      `json:"questionnaire"`
	Status        string      `json:"status"`
	Subject       reference   `json:"subject"`
	BasedOn       []reference `json:"basedOn,omitempty"`
	Authored      string      `json:"authored"`
	Item          []qrItem    `json:"item,omitempty"`
}

func boolAnswer(b bool) qrAnswer   { return qrAnswer{ValueBoolean: &b} }
func dateAnswer(d string) qrAnswer { return qrAnswer{ValueDate: d} }

// Chart text in an answer is cut as on the cards (clipText).
func stringAnswer(s string) qrAnswer   { return qrAnswer{ValueString: clipText(s)} }
func decimalAnswer(v float64) qrAnswer { return qrAnswer{ValueDecimal: &v} }
func codingAnswer(c coding) qrAnswer {
	c.Display = clipText(c.Display)
	return qrAnswer{ValueCoding: &c}
}

// answer is one answer value with the evidence behind it.
type answer struct {
	value    qrAnswer
	evidence []criteria.Evidence
}

func questionnaireResponse(q *questionnaire, in *Input, a *criteria.Assessment, id string) (json.RawMessage, error) {
	qr := questionnaireResponseJSON{
		ResourceType:  "QuestionnaireResponse",
		ID:            id,
		Questionnaire: q.canonical(),
		Status:        "in-progress",
		Subject:       reference{Reference: "Patient/" + in.PatientID},
		Authored:      in.Today.UTC().Format(time.RFC3339),
		Item:          responseItems(q.Item, formAnswers(q, in, a)),
	}
	if a.Order.ID != "" {
		qr.BasedOn = []reference{{Reference: "ServiceRequest/" + a.Order.ID}}
	}
	b, err := jsonv1.Marshal(qr)
	if err != nil {
		return nil, fmt.Errorf("questionnaire response: %w", err)
	}
	return b, nil
}

// responseItems mirrors the Questionnaire's tree, keeping the items that
// have answers (and the groups that hold them), in Questionnaire order.
func responseItems(items []questionnaireItem, answers map[string][]answer) []qrItem {
	var out []qrItem
	for _, it := range items {
		if it.Type == "group" || it.Type == "display" {
			if kids := responseItems(it.Item, answers); len(kids) > 0 {
				out = append(out, qrItem{LinkID: it.LinkID, Item: kids})
			}
			continue
		}
		as := answers[it.LinkID]
		if len(as) == 0 {
			continue
		}
		item := qrItem{LinkID: it.LinkID}
		for _, an := range as {
			v := an.value
			v.Extension = answerExtensions(an)
			item.Answer = append(item.Answer, v)
		}
		out = append(out, item)
	}
	return out
}

// answerExtensions: DTR information-origin (auto) and one answer-evidence
// extension per evidence item.
func answerExtensions(an answer) []ext {
	out := make([]ext, 1, 1+min(len(an.evidence), maxEvidencePerAnswer))
	out[0] = ext{URL: InformationOriginURL, Extension: []ext{{URL: "source", ValueCode: "auto"}}}
	for i, e := range an.evidence {
		if i == maxEvidencePerAnswer {
			break
		}
		sub := make([]ext, 0, 3)
		if strings.Contains(e.Source, "/") {
			sub = append(sub, ext{URL: "resource", ValueReference: &reference{Reference: e.Source}})
		}
		if e.FromNote && e.Quote != "" {
			sub = append(sub, ext{URL: "quote", ValueString: clipText(e.Quote)})
		}
		if d := evidenceDateText(e); d != "" {
			sub = append(sub, ext{URL: "date", ValueString: d})
		}
		if len(sub) > 0 {
			out = append(out, ext{URL: AnswerEvidenceURL, Extension: sub})
		}
	}
	return out
}

// formAnswers maps the assessment onto the Questionnaire's linkIds. Only
// what the evidence supports is answered; the coordinator completes the
// rest (status in-progress). Red-flag and imaging groups are found by the
// finding code they carry in the Questionnaire, so the mapping follows the
// Questionnaire.
func formAnswers(q *questionnaire, in *Input, a *criteria.Assessment) map[string][]answer {
	answers := map[string][]answer{}
	byCode := q.byCode
	set := func(linkID string, an answer) {
		if _, ok := q.types[linkID]; ok {
			answers[linkID] = append(answers[linkID], an)
		}
	}

	// Indication: the diagnosis the assessment used, with its onset when
	// the Condition records one (a recordedDate is not a symptom onset).
	// When a red flag counted new back pain beside a history (cancer,
	// immunosuppression, injection drug use), the symptom onset is that
	// pain's: an older back-pain diagnosis's onset would say to the payer
	// that the pain is not new. Without a recorded onset of the new pain,
	// the item is left for the coordinator.
	if e, ok := formDiagnosis(a); ok {
		// The order's own reason points to the ServiceRequest (when it has
		// an id), a Condition to itself.
		ev := []criteria.Evidence{e}
		set("indication.diagnosis", answer{value: codingAnswer(coding{System: e.Code.System, Code: e.Code.Code, Display: e.Code.Display}), evidence: ev})
		if d := fhirDate(e); e.Onset && d != "" && !hasNewBackPain(a) {
			set("indication.onset", answer{value: dateAnswer(d), evidence: ev})
		}
	}
	if d, e, ok := newBackPainOnset(a); ok {
		set("indication.onset", answer{value: dateAnswer(d), evidence: []criteria.Evidence{e}})
	}

	for _, f := range a.Findings {
		g := byCode[f.Code]
		switch {
		case isRedFlag(f.Code) && g == nil && len(f.Evidence) > 0:
			// A red flag the Questionnaire asks as one item of another
			// red flag's group: that item, with the evidence a group's
			// Present? carries (the new back pain a combination needed
			// included). The group's Present? and Date first documented
			// are the other red flag's, left unless it is reported too.
			if id, ok := redFlagFollowUps[f.Code]; ok && len(answers[id]) == 0 {
				set(id, answer{value: boolAnswer(true), evidence: withPairing(f.Evidence)})
			}
		case isRedFlag(f.Code) && g != nil && len(f.Evidence) > 0:
			set(g.LinkID+".present", answer{value: boolAnswer(true), evidence: withPairing(f.Evidence)})
			// Date first documented: the earliest evidence that raised the
			// flag (a note's date, a history's date), never the back-pain
			// diagnosis a combination needed beside it.
			own, _ := criteria.SplitPairing(f.Evidence)
			if d, ev, ok := earliest(own); ok {
				set(g.LinkID+".onset", answer{value: dateAnswer(d), evidence: []criteria.Evidence{ev}})
			}
			redFlagDetails(g.LinkID, own, set)
			switch f.Code {
			case criteria.RedFlagNeurologicDeficit:
				// Findings from one sentence of a note share its quote:
				// said once. A quote is given as written: the answer's
				// evidence extension says that it is the note's words.
				var parts []string
				for _, e := range f.Evidence {
					p := e.Display
					if e.FromNote && e.Quote != "" {
						p = e.Quote
					}
					if p != "" && !slices.Contains(parts, p) {
						parts = append(parts, p)
					}
				}
				if len(parts) > 0 {
					set(g.LinkID+".exam", answer{value: stringAnswer(strings.Join(parts, "; ")), evidence: f.Evidence})
				}
			case criteria.RedFlagPriorSurgery:
				e := f.Evidence[0]
				// A note names the procedure in its words (as written: the
				// evidence extension marks them as the note's), and its date
				// is when the note was written, not when the surgery was
				// done: the surgery's date is the one the note writes for it
				// ("s/p L4-5 laminectomy in 2019"), else left for the
				// coordinator.
				switch {
				case e.FromNote && e.Quote != "":
					set(g.LinkID+".procedure", answer{value: stringAnswer(e.Quote), evidence: []criteria.Evidence{e}})
				case e.Display != "":
					set(g.LinkID+".procedure", answer{value: stringAnswer(e.Display), evidence: []criteria.Evidence{e}})
				}
				switch d := fhirDate(e); {
				case e.FromNote && e.WrittenDate != "":
					set(g.LinkID+".date", answer{value: dateAnswer(e.WrittenDate), evidence: []criteria.Evidence{e}})
				case d != "" && !e.FromNote:
					set(g.LinkID+".date", answer{value: dateAnswer(d), evidence: []criteria.Evidence{e}})
				}
			}
		case f.Code == criteria.ConservativeTherapyMet || f.Code == criteria.ConservativeTherapyInsufficient:
			therapyAnswers(in.Policy, f.Evidence, set)
		case f.Code == criteria.PriorLumbarMRI && g != nil && len(f.Evidence) > 0:
			set(g.LinkID+".done", answer{value: boolAnswer(true), evidence: f.Evidence})
			if d := fhirDate(f.Evidence[0]); d != "" {
				set(g.LinkID+".date", answer{value: dateAnswer(d), evidence: f.Evidence[:1]})
			}
		case f.Code == criteria.XrayMissing && g != nil:
			// The assessment looked and found none in the payer's window.
			set(g.LinkID+".done", answer{value: boolAnswer(false)})
		}
	}
	return answers
}

// redFlagFollowUps names, for each red flag the Questionnaire has no group
// of its own for, the follow-up item of another group that asks about it.
// Immunosuppression is asked under suspected spinal infection, as one of
// its risk factors (AHCPR 1994 Table 1; ACR Appropriateness Criteria, Low
// Back Pain (2021), variant 7: suspected cancer, infection or
// immunosuppression).
var redFlagFollowUps = map[string]string{
	criteria.RedFlagImmunosuppression: "red-flag.infection.immunosuppression",
}

// withPairing is a red flag's evidence for one answer, in its order, with
// the pairing a combination needed (the new back pain) kept within the
// evidence an answer carries (maxEvidencePerAnswer): without it the answer
// would give a history alone, which is not the red flag.
func withPairing(ev []criteria.Evidence) []criteria.Evidence {
	if len(ev) <= maxEvidencePerAnswer {
		return ev
	}
	var own, pair []criteria.Evidence
	for _, e := range ev {
		if e.Pairing != "" {
			pair = append(pair, e)
		} else {
			own = append(own, e)
		}
	}
	if len(pair) == 0 {
		return ev
	}
	keep := max(1, maxEvidencePerAnswer-len(pair))
	return append(own[:min(keep, len(own)):min(keep, len(own))], pair...)
}

// hasNewBackPain reports whether a red flag counted new back pain beside
// a history (criteria.PairingNewBackPain).
func hasNewBackPain(a *criteria.Assessment) bool {
	for _, f := range a.Findings {
		if !isRedFlag(f.Code) {
			continue
		}
		for _, e := range f.Evidence {
			if e.Pairing == criteria.PairingNewBackPain {
				return true
			}
		}
	}
	return false
}

// newBackPainOnset is the onset of the new back pain red flags counted,
// the earliest recorded: the onset a note writes ("back pain x 10 days",
// Evidence.WrittenDate, not the note's date) or a Condition's onset[x].
func newBackPainOnset(a *criteria.Assessment) (string, criteria.Evidence, bool) {
	var best criteria.Evidence
	var bestDay chart.Date
	for _, f := range a.Findings {
		if !isRedFlag(f.Code) {
			continue
		}
		for _, e := range f.Evidence {
			if e.Pairing != criteria.PairingNewBackPain {
				continue
			}
			var d chart.Date
			switch {
			case e.FromNote && e.WrittenDate != "":
				d, _ = chart.ParseDate(e.WrittenDate)
			case !e.FromNote && e.Onset:
				d, _ = chart.ParseDate(fhirDate(e))
			}
			if !d.IsZero() && (bestDay.IsZero() || d.Earliest.Before(bestDay.Earliest)) {
				best, bestDay = e, d
			}
		}
	}
	if bestDay.IsZero() {
		return "", criteria.Evidence{}, false
	}
	return bestDay.Text, best, true
}

// Follow-up items of the red-flag groups, answered from what the
// evidence is (criteria.Evidence.Kind): the value set of a coded entry,
// the concept of a note finding.
var redFlagItems = map[string]map[string]string{
	"red-flag.malignancy": {"cancer-history": "history", "malignancy-ended": "history", "cancer-stage-ended": "history", "weight-loss": "weight-loss"},
	"red-flag.infection":  {"iv-drug-use": "ivdu", "immunosuppression": "immunosuppression"},
}

// redFlagDetails answers a red-flag group's follow-up items from the
// evidence that raised the flag: a cancer history (Z85.*, a cancer that
// has ended, "history of cancer" in a note), unexplained weight loss,
// injection drug use, and the highest body temperature in Cel.
func redFlagDetails(group string, own []criteria.Evidence, set func(string, answer)) {
	byItem := map[string][]criteria.Evidence{}
	var items []string
	var hottest *criteria.Evidence
	for i := range own {
		e := &own[i]
		if it, ok := redFlagItems[group][e.Kind]; ok {
			if _, seen := byItem[it]; !seen {
				items = append(items, it)
			}
			byItem[it] = append(byItem[it], *e)
		}
		if e.Temperature != nil && (hottest == nil || *e.Temperature > *hottest.Temperature) {
			hottest = e
		}
	}
	for _, it := range items {
		set(group+"."+it, answer{value: boolAnswer(true), evidence: byItem[it]})
	}
	if hottest != nil && group == "red-flag.infection" {
		set(group+".fever", answer{value: decimalAnswer(*hottest.Temperature), evidence: []criteria.Evidence{*hottest}})
	}
}

// formDiagnosis picks the one diagnosis the form's non-repeating item
// takes from the assessment's indication evidence: the chart's Condition
// whose code the order names as its reason, else the latest-dated
// Condition, else the order's own reason code.
func formDiagnosis(a *criteria.Assessment) (criteria.Evidence, bool) {
	var best *criteria.Evidence
	for i := range a.Indication {
		e := &a.Indication[i]
		if e.Code.Code == "" {
			continue
		}
		if !e.FromOrder {
			for _, rc := range a.Order.ReasonCodes {
				if rc.System == e.Code.System && rc.Code == e.Code.Code {
					return *e, true
				}
			}
		}
		switch {
		case best == nil:
			best = e
		case best.FromOrder && !e.FromOrder:
			best = e
		case !e.FromOrder && e.Date != nil && (best.Date == nil || e.Date.After(*best.Date)):
			best = e
		}
	}
	if best == nil {
		return criteria.Evidence{}, false
	}
	return *best, true
}

// therapyAnswers groups therapy evidence by class: one instance of the
// class's group with given = true, the earliest start and the last day
// covered. The dates are the treatments' own (Evidence.Course): a note
// finding is dated by its note, and "PT since March", written in May,
// began in March.
func therapyAnswers(p *policy.Policy, evidence []criteria.Evidence, set func(string, answer)) {
	byKind := map[string][]criteria.Evidence{}
	var kinds []string
	for _, e := range evidence {
		k := therapyKind(p, e)
		if k == "" {
			continue
		}
		if _, seen := byKind[k]; !seen {
			kinds = append(kinds, k)
		}
		byKind[k] = append(byKind[k], e)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		group := "therapy." + strings.ReplaceAll(k, "_", "-")
		evs := byKind[k]
		set(group+".given", answer{value: boolAnswer(true), evidence: evs})
		first, last := -1, -1
		for i, e := range evs {
			if e.Course == nil || e.Course.Start.IsZero() {
				continue
			}
			if first < 0 || e.Course.Start.Latest.Before(evs[first].Course.Start.Latest) {
				first = i
			}
			if last < 0 || e.Course.End.After(evs[last].Course.End) {
				last = i
			}
		}
		if first < 0 {
			if d, ev, ok := earliest(evs); ok {
				set(group+".start", answer{value: dateAnswer(d), evidence: []criteria.Evidence{ev}})
			}
			continue
		}
		start := evs[first].Course.Start
		set(group+".start", answer{value: dateAnswer(start.Text), evidence: []criteria.Evidence{evs[first]}})
		// An end that is only the date of the note mentioning the course
		// ("PT twice weekly since April 1") is not when it ended: left
		// for the coordinator (README "Pre-filled form").
		if c := evs[last].Course; c.End.After(start.Latest) && !c.EndIsNoteDate {
			set(group+".end", answer{value: dateAnswer(c.End.Format(time.DateOnly)), evidence: []criteria.Evidence{evs[last]}})
		}
	}
}

// therapyKind classifies one therapy evidence item by its code through the
// policy (procedure codes, then medication codes); a note finding, which
// carries no code, by the words of its display.
func therapyKind(p *policy.Policy, e criteria.Evidence) string {
	if p != nil && e.Code.Code != "" {
		cd := []policy.Coding{{System: e.Code.System, Code: e.Code.Code}}
		if m, ok := p.MatchTherapyProcedure(cd); ok {
			return string(m.Kind)
		}
		if m, ok := p.MatchTherapyMedication(cd); ok && !m.ByName {
			return string(m.Kind)
		}
	}
	if p != nil && e.FromNote {
		// A medication named in the note's words ("naproxen 500 mg").
		if m, ok := p.MatchTherapyMedication(nil, e.Quote); ok {
			return string(m.Kind)
		}
	}
	d := strings.ToLower(e.Display)
	for _, w := range []struct{ word, kind string }{
		{"physical therap", string(policy.PhysicalTherapy)}, {"physiotherap", string(policy.PhysicalTherapy)},
		{"chiropract", string(policy.Chiropractic)}, {"manipulation", string(policy.Chiropractic)},
	} {
		if strings.Contains(d, w.word) {
			return w.kind
		}
	}
	return ""
}

// earliest returns the earliest dated evidence as a FHIR date.
func earliest(evs []criteria.Evidence) (string, criteria.Evidence, bool) {
	var best *criteria.Evidence
	for i := range evs {
		e := &evs[i]
		if e.Date == nil || fhirDate(*e) == "" {
			continue
		}
		if best == nil || e.Date.Before(*best.Date) {
			best = e
		}
	}
	if best == nil {
		return "", criteria.Evidence{}, false
	}
	return fhirDate(*best), *best, true
}

// fhirDate is the evidence date as a FHIR date at its recorded precision
// ("2026", "2026-04", "2026-04-20"), from DateText when it holds one, else
// from Date; "" when undated.
func fhirDate(e criteria.Evidence) string {
	t := e.DateText
	if i := strings.IndexByte(t, 'T'); i >= 0 {
		t = t[:i]
	}
	for _, layout := range []string{"2006-01-02", "2006-01", "2006"} {
		if len(t) == len(layout) {
			if _, err := time.Parse(layout, t); err == nil {
				return t
			}
		}
	}
	if e.Date != nil {
		return e.Date.Format(time.DateOnly)
	}
	return ""
}

func evidenceDateText(e criteria.Evidence) string {
	if e.DateText != "" {
		return e.DateText
	}
	if e.Date != nil {
		return e.Date.Format(time.DateOnly)
	}
	return ""
}
