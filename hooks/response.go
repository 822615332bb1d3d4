package hooks

import "encoding/json"

// Card indicators (CDS Hooks 2.0 §Card).
const (
	IndicatorInfo     = "info"
	IndicatorWarning  = "warning"
	IndicatorCritical = "critical"
)

// Response is the body of a successful service call. Cards is always
// present (an empty list means "no guidance"). SystemActions is omitted when
// nil and sent when non-nil, even empty: CRD clients expect it on every
// order-sign answer (DECISIONS.md, "Requests").
type Response struct {
	Cards         []Card   `json:"cards"`
	SystemActions []Action `json:"systemActions,omitzero"`
}

// Card is one piece of guidance shown to the clinician.
type Card struct {
	UUID              string                     `json:"uuid,omitempty"`
	Summary           string                     `json:"summary"`
	Detail            string                     `json:"detail,omitempty"`
	Indicator         string                     `json:"indicator"`
	Source            Source                     `json:"source"`
	Suggestions       []Suggestion               `json:"suggestions,omitempty"`
	SelectionBehavior string                     `json:"selectionBehavior,omitempty"`
	OverrideReasons   []Coding                   `json:"overrideReasons,omitempty"`
	Links             []Link                     `json:"links,omitempty"`
	Extension         map[string]json.RawMessage `json:"extension,omitempty"`
}

// Source names who gives the advice; CRD requires Topic.
type Source struct {
	Label string  `json:"label"`
	URL   string  `json:"url,omitempty"`
	Icon  string  `json:"icon,omitempty"`
	Topic *Coding `json:"topic,omitempty"`
}

// Coding is the CDS Hooks Coding: code and system required, display required
// for override reasons.
type Coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// Suggestion is a set of actions the clinician can accept together.
type Suggestion struct {
	Label         string   `json:"label"`
	UUID          string   `json:"uuid,omitempty"`
	IsRecommended bool     `json:"isRecommended,omitempty"`
	Actions       []Action `json:"actions,omitempty"`
}

// Action types.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
)

// Action is a create, update or delete of a FHIR resource.
type Action struct {
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Resource    json.RawMessage `json:"resource,omitempty"`
	ResourceID  string          `json:"resourceId,omitempty"`
}

// Link is an absolute URL or a SMART app launch.
type Link struct {
	Label      string `json:"label"`
	URL        string `json:"url"`
	Type       string `json:"type"`
	AppContext string `json:"appContext,omitempty"`
}
