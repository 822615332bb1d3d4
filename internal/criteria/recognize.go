package criteria

import (
	"strings"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// systemRank orders code systems when an order carries several recognised
// codings: CPT first (it is the billing code), then LOINC, then SNOMED CT.
func systemRank(system string) int {
	switch system {
	case policy.SystemCPT:
		return 0
	case policy.SystemLOINC:
		return 1
	default:
		return 2
	}
}

// contrastOf returns the contrast variant of a lumbar MRI order code, and
// whether it is one (the policy's order value sets, DECISIONS.md "Order
// codes"). Whole-spine, thoracolumbar, cervical, thoracic, CT and
// radiograph codes are not orders this service assesses.
func contrastOf(o *policy.Orders, system, code string) (Contrast, bool) {
	switch {
	case o.WithoutContrast.Match(system, code):
		return ContrastWithout, true
	case o.WithContrast.Match(system, code):
		return ContrastWith, true
	case o.WithoutAndWithContrast.Match(system, code):
		return ContrastWithoutAndWith, true
	case o.Any.Match(system, code):
		return ContrastUnspecified, true
	}
	return "", false
}

// suggestedCode returns the order code for a contrast variant in a code
// system, falling back to CPT when the system has no such code.
func suggestedCode(o *policy.Orders, system string, c Contrast) *Code {
	oc, ok := o.SuggestedOrder(system, string(c))
	if !ok {
		return nil
	}
	return &Code{System: oc.System, Code: oc.Code, Display: oc.Display}
}

// Recognize reports whether a draft order is a lumbar spine MRI order in
// the policy's order value sets (nil: the default policy) and describes it. Only coded orders count (CPT, LOINC or SNOMED CT in
// ServiceRequest.code); a text-only order is not recognised.
func Recognize(sr chart.OrderRequest, pol *policy.Policy) (Order, bool) {
	if pol == nil {
		pol = policy.Default().Default()
	}
	orders := &pol.Orders
	found := false
	var best chart.Coding
	var contrast Contrast
	for _, cd := range sr.Code.Codings {
		c, ok := contrastOf(orders, cd.System, strings.TrimSpace(cd.Code))
		if !ok {
			continue
		}
		if !found || systemRank(cd.System) < systemRank(best.System) {
			found, best, contrast = true, cd, c
		}
	}
	if !found {
		return Order{}, false
	}
	o := Order{
		ID:          sr.ID,
		Code:        Code{System: best.System, Code: strings.TrimSpace(best.Code), Display: best.Display},
		Contrast:    contrast,
		BillingCode: orders.BillingCode(string(contrast)),
	}
	switch {
	case o.Code.Display != "":
		o.Display = o.Code.Display
	case sr.Code.Text != "":
		o.Display = sr.Code.Text
	default:
		o.Display = orders.Any.Set().Display(best.System, best.Code)
		if o.Display == "" {
			o.Display = best.Code
		}
	}
	if !sr.AuthoredOn.IsZero() {
		d := sr.AuthoredOn.Earliest
		o.AuthoredOn = &d
	}
	for _, rc := range sr.Reasons {
		for _, cd := range rc.Codings {
			o.ReasonCodes = append(o.ReasonCodes, Code{System: cd.System, Code: cd.Code, Display: cd.Display})
		}
	}
	return o, true
}
