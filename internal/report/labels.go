package report

import (
	"net/http"
	"strconv"
	"strings"
)

// Plain-language names for the codes the audit trail stores, so that the
// report reads without the code list at hand. The codes stay visible
// beside the names (in the HTML as data-code and a tooltip, in the text
// report in parentheses) so a reader can match them with logs and the API.

// outcomeNames names the outcome groups of Report.Outcomes.
var outcomeNames = map[string]string{
	"criteria-met":           "Documentation meets the criteria",
	"criteria-not-met":       "Documentation incomplete",
	"criteria-indeterminate": "Could not be verified (patient data unavailable)",
	"mixed":                  "Orders of one call assessed differently",
	"no-lumbar-mri":          "No lumbar MRI among the orders",
}

// statusNames says why a call was not answered with cards.
var statusNames = map[int]string{
	http.StatusBadRequest:            "Refused: invalid request",
	http.StatusUnauthorized:          "Refused: client not authenticated",
	http.StatusNotFound:              "Refused: unknown service or card",
	http.StatusMethodNotAllowed:      "Refused: wrong HTTP method",
	http.StatusRequestTimeout:        "Refused: body not received in time",
	http.StatusPreconditionFailed:    "Refused: no patient data available",
	http.StatusRequestEntityTooLarge: "Refused: request too large",
	http.StatusTooManyRequests:       "Refused: over the rate limit",
	http.StatusInternalServerError:   "Failed: internal error",
	http.StatusServiceUnavailable:    "Failed: service unavailable",
}

// findingNames follows the README's outcome code table.
var findingNames = map[string]string{
	"red-flag-cauda-equina":             "Red flag: cauda equina or cord compression",
	"red-flag-neurologic-deficit":       "Red flag: severe or progressive neurological deficit",
	"red-flag-malignancy":               "Red flag: known or suspected cancer",
	"red-flag-infection":                "Red flag: suspected spinal infection",
	"red-flag-fracture":                 "Red flag: lumbar vertebral fracture",
	"red-flag-prior-surgery":            "Red flag: prior lumbar surgery",
	"red-flag-immunosuppression":        "Red flag: immunosuppression with new back pain",
	"conservative-therapy-met":          "Conservative therapy: long enough",
	"conservative-therapy-insufficient": "Conservative therapy: too short",
	"conservative-therapy-missing":      "Conservative therapy: none documented",
	"prior-lumbar-mri":                  "Lumbar MRI already done in the repeat window",
	"xray-missing":                      "Radiographs required first, none documented",
	"contrast-review":                   "Contrast differs from the guideline",
	"indication-missing":                "No back pain or radiculopathy diagnosis",
	"other-patient-data":                "Chart data sent was about another patient",
}

// topicNames names the CRD card types.
var topicNames = map[string]string{
	"coverage-info":            "Coverage information",
	"clinical-reminder":        "Clinical reminder (emergent imaging)",
	"duplicate-therapy":        "Repeat imaging",
	"appropriate-use":          "Appropriate use (contrast)",
	"therapy-alternatives-opt": "Therapy alternatives (PT referral)",
	"therapy-alternatives-req": "Therapy alternatives (required)",
	"guideline":                "Guideline and policy links",
	"prior-auth":               "Prior authorization",
	"dtr-clin":                 "Documentation form",
}

// hookNames names the CDS Hooks, and "unknown", which the audit trail
// stores for a hook this service does not answer (the client's own text is
// never kept).
var hookNames = map[string]string{
	"order-sign":   "Order signed",
	"order-select": "Order selected",
	"unknown":      "(a hook this service does not answer)",
}

// OutcomeName is the plain name of an outcome group: an assessment code,
// "mixed", "no-lumbar-mri" or "HTTP nnn".
func OutcomeName(code string) string {
	if n, ok := outcomeNames[code]; ok {
		return n
	}
	if s, ok := strings.CutPrefix(code, "HTTP "); ok {
		if n, err := strconv.Atoi(s); err == nil {
			if name, ok := statusNames[n]; ok {
				return name
			}
			return "Other answer"
		}
	}
	return code
}

// FindingName is the plain name of a finding code.
func FindingName(code string) string { return nameOr(findingNames, code) }

// TopicName is the plain name of a CRD card type.
func TopicName(code string) string { return nameOr(topicNames, code) }

// HookName is the plain name of a hook; "" (a call whose hook could not be
// read, such as a body that is not JSON) is "(hook not read)".
func HookName(code string) string {
	if code == "" {
		return "(hook not read)"
	}
	return nameOr(hookNames, code)
}

// PolicyName is how the report shows a payer policy id when the policy's
// payer name is not known: the id itself.
func PolicyName(id string) string {
	switch id {
	case "":
		return "No policy (nothing assessed)"
	case "default":
		return "Default policy"
	}
	return id
}

// policyName is how r shows a policy id: the payer's name from
// r.PolicyNames when known, else PolicyName.
func (r *Report) policyName(id string) string {
	if n := r.PolicyNames[id]; n != "" && id != "" {
		return n
	}
	return PolicyName(id)
}

// ClientName is how the report shows a client issuer.
func ClientName(iss string) string {
	if iss == "" {
		return "No verified client (development mode or refused)"
	}
	return iss
}

func nameOr(names map[string]string, code string) string {
	if n, ok := names[code]; ok {
		return n
	}
	return code
}

// refusedNames are the reasons calls were refused before the service ran
// (the server's refusal counters), in plain words.
var refusedNames = map[string]string{
	"unauthenticated":       "no valid CDS client token (401)",
	"auth-throttled":        "too many failed logins from one address (429)",
	"rate-limited":          "over the client's call rate (429)",
	"admin-unauthenticated": "wrong or missing admin token (401)",
	"auth-unavailable":      "token could not be checked: replay store unavailable (503)",
	"foreign-host":          "development instance called through a non-loopback host or from a foreign page (403)",
}

// RefusedName is a refusal reason in plain words; unknown reasons are shown
// as they are.
func RefusedName(code string) string { return nameOr(refusedNames, code) }

// clientOwnReason marks an override reason the CDS client added itself, not
// one the card offered (CDS Hooks 2.0.1, Card Attributes, overrideReasons).
const clientOwnReason = "the EHR's own reason"
