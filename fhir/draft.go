package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/jsoncompat"
)

// DraftOrder is one entry of context.draftOrders.
type DraftOrder struct {
	// Index is the entry's position in the Bundle.
	Index int
	// ResourceType and ID as the client sent them (ID may be empty).
	ResourceType string
	ID           string
	// Raw is the client's exact JSON for the resource: coverage information
	// is added by patching it, never by re-serialising samply's struct
	// (go-stack.md section 1, gotcha 5).
	Raw json.RawMessage
	// ServiceRequest is the decoded order, nil when the entry is another
	// type or does not decode (an unknown enum code, for example).
	ServiceRequest *r4.ServiceRequest
	// DecodeErr says why a ServiceRequest entry did not decode as FHIR R4
	// (a JSON pointer and the reason), nil otherwise. Code is then what
	// could be read of its code, so the caller can tell whether the order
	// it could not read is one it assesses.
	DecodeErr error
	Code      *r4.CodeableConcept
}

// MaxDraftOrders is the most entries context.draftOrders may hold. An
// admission order set runs to about a hundred orders; each entry is decoded
// (a ServiceRequest into its samply struct), so without a bound one body of
// the allowed size could carry ten thousand of them.
const MaxDraftOrders = 1000

// DraftOrders reads context.draftOrders, a Bundle of orders of any type.
// Entries without a resource are left out; Index still counts them. It fails
// with ErrMalformed when raw is not a Bundle, an entry's resource is not a
// JSON object with a string resourceType and id, or the Bundle holds more
// than MaxDraftOrders entries.
func DraftOrders(raw json.RawMessage) ([]DraftOrder, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("not a JSON object: %w", ErrMalformed)
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := jsoncompat.Unmarshal(t, &b); err != nil {
		// Which member had the wrong type, and where (the entries must be
		// objects with a resource object).
		return nil, fmt.Errorf("not a Bundle of entries (%s): %w", jsonReason(err), ErrMalformed)
	}
	if b.ResourceType != "Bundle" {
		return nil, fmt.Errorf("a %s, not a Bundle: %w", clipType(b.ResourceType), ErrMalformed)
	}
	if len(b.Entry) > MaxDraftOrders {
		return nil, fmt.Errorf("%d entries, more than the %d one call may hold: %w", len(b.Entry), MaxDraftOrders, ErrMalformed)
	}
	out := make([]DraftOrder, 0, len(b.Entry))
	for i, e := range b.Entry {
		rt := bytes.TrimSpace(e.Resource)
		if len(rt) == 0 || string(rt) == "null" {
			continue
		}
		if rt[0] != '{' {
			// A draft order that is not a resource cannot be assessed, and
			// leaving it out would answer as if it were not ordered.
			return nil, fmt.Errorf("entry %d: the resource is not a JSON object: %w", i, ErrMalformed)
		}
		var p struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := jsoncompat.Unmarshal(rt, &p); err != nil {
			return nil, fmt.Errorf("entry %d: %s: %w", i, jsonReason(err), ErrMalformed)
		}
		d := DraftOrder{Index: i, ResourceType: p.ResourceType, ID: p.ID, Raw: e.Resource}
		if p.ResourceType == "ServiceRequest" {
			if sr, err := unmarshal[r4.ServiceRequest](rt); err == nil {
				d.ServiceRequest = &sr
			} else {
				d.DecodeErr = errors.New(jsonReason(err))
				var c struct {
					Code *r4.CodeableConcept `json:"code"`
				}
				if jsoncompat.Unmarshal(rt, &c) == nil {
					d.Code = c.Code
				}
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// jsonReason is a decoding error in a few words, without the Go type names
// of the decoder: what was wrong and where (a JSON pointer).
func jsonReason(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	if i := strings.Index(msg, " into Go "); i >= 0 {
		if j := strings.Index(msg[i:], " within "); j >= 0 {
			msg = msg[:i] + msg[i+j:]
		} else {
			msg = msg[:i]
		}
	}
	if len(msg) > 160 {
		msg = msg[:160] + "..."
	}
	return msg
}
