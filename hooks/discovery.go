package hooks

import "encoding/json"

// Discovery is the body of GET /cds-services.
type Discovery struct {
	Services []Service `json:"services"`
}

// Service describes one CDS service in discovery.
type Service struct {
	Hook        string                     `json:"hook"`
	Title       string                     `json:"title,omitempty"`
	Description string                     `json:"description"`
	ID          string                     `json:"id"`
	Prefetch    map[string]string          `json:"prefetch,omitempty"`
	Extension   map[string]json.RawMessage `json:"extension,omitempty"`
}

// Feedback is the body of POST /cds-services/{id}/feedback (CDS Hooks 2.0 §Feedback).
type Feedback struct {
	Feedback []FeedbackItem `json:"feedback"`
}

// FeedbackItem reports what the clinician did with one card.
type FeedbackItem struct {
	Card                string               `json:"card"`
	Outcome             string               `json:"outcome"`
	AcceptedSuggestions []AcceptedSuggestion `json:"acceptedSuggestions,omitempty"`
	OverrideReason      *OverrideReason      `json:"overrideReason,omitempty"`
	OutcomeTimestamp    string               `json:"outcomeTimestamp"`
}

// AcceptedSuggestion names a suggestion by its uuid.
type AcceptedSuggestion struct {
	ID string `json:"id"`
}

// OverrideReason is the clinician's reason for overriding a card.
type OverrideReason struct {
	Reason      *Coding `json:"reason,omitempty"`
	UserComment string  `json:"userComment,omitempty"`
}
