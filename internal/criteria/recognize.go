package criteria

import (
	"strings"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// orderCode is one lumbar spine MRI order code.
type orderCode struct {
	system   string
	code     string
	display  string
	contrast Contrast
	// suggest marks the code offered when an order is changed to this
	// contrast variant in this code system (one per system and variant).
	suggest bool
	source  string
}

// orderCodes are the lumbar spine MRI order codes (DECISIONS.md "Order
// codes"). Whole-spine, thoracolumbar, cervical, thoracic, CT and radiograph
// codes are not orders this service assesses, and neither are the LOINC
// look-alikes 24531-6, 24532-4, 24533-2 and 24855-9 that public code labels
// "MR Lumbar spine" (they are ultrasound, MRA and fluoroscopy codes).
var orderCodes = [...]orderCode{
	{policy.SystemCPT, "72148", "MRI lumbar spine without contrast", ContrastWithout, true, "CPT (AMA), reference/clinical-criteria.md 1.1 [V]"},
	{policy.SystemCPT, "72149", "MRI lumbar spine with contrast", ContrastWith, true, "CPT (AMA), reference/clinical-criteria.md 1.1 [V]"},
	{policy.SystemCPT, "72158", "MRI lumbar spine without and with contrast", ContrastWithoutAndWith, true, "CPT (AMA), reference/clinical-criteria.md 1.1 [V]"},
	{policy.SystemLOINC, "30679-5", "MR Lumbar spine WO contrast", ContrastWithout, true, "LOINC imaging document codes, reference/clinical-criteria.md 1.2 [V]"},
	{policy.SystemLOINC, "30678-7", "MR Lumbar spine W contrast IV", ContrastWith, true, "LOINC imaging document codes, reference/clinical-criteria.md 1.2 [V]"},
	{policy.SystemLOINC, "24967-2", "MR Lumbar spine WO and W contrast IV", ContrastWithoutAndWith, true, "LOINC imaging document codes, reference/clinical-criteria.md 1.2 [V]"},
	{policy.SystemLOINC, "24968-0", "MR Lumbar spine", ContrastUnspecified, false, "LOINC imaging document codes, reference/clinical-criteria.md 1.2 [V]"},
	{policy.SystemLOINC, "36111-3", "MR Lumbar spine limited WO contrast", ContrastWithout, false, "LOINC imaging document codes, reference/clinical-criteria.md 1.2 [V]"},
	{policy.SystemLOINC, "36100-6", "MR Lumbar spine limited W contrast IV", ContrastWith, false, "LOINC imaging document codes, reference/clinical-criteria.md 1.2 [V]"},
	{policy.SystemLOINC, "24977-1", "MR Lumbar spine W anesthesia", ContrastUnspecified, false, "LOINC imaging document codes, reference/clinical-criteria.md 1.2 [V]"},
	{policy.SystemSNOMED, "394451000119106", "Magnetic resonance imaging of lumbar spine without contrast", ContrastWithout, true, "SNOMED CT (US Edition), reference/clinical-criteria.md 1.3 [V]"},
	{policy.SystemSNOMED, "41333006", "Magnetic resonance imaging of lumbar spine with contrast", ContrastWith, true, "SNOMED CT, reference/clinical-criteria.md 1.3 [V]"},
	{policy.SystemSNOMED, "433141005", "MRI of lumbar and sacral spine", ContrastUnspecified, false, "SNOMED CT, reference/clinical-criteria.md 1.3 [V]"},
	{policy.SystemSNOMED, "433140006", "MRI of lumbar and sacral spine with contrast", ContrastWith, false, "SNOMED CT, reference/clinical-criteria.md 1.3 [V]"},
	{policy.SystemSNOMED, "726546000", "MRI of lumbar spine and sacroiliac joint", ContrastUnspecified, false, "SNOMED CT, reference/clinical-criteria.md 1.3 [V]"},
	{policy.SystemSNOMED, "709653005", "MRI of lumbar spine and sacroiliac joint with contrast", ContrastWith, false, "SNOMED CT, reference/clinical-criteria.md 1.3 [V]"},
}

// billingCodes maps a contrast variant to its CPT code (CPT 72148/72149/72158;
// 72148 with 72149 in one session bills as 72158, reference 1.1).
var billingCodes = map[Contrast]string{
	ContrastWithout:        "72148",
	ContrastWith:           "72149",
	ContrastWithoutAndWith: "72158",
}

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

func lookupOrderCode(system, code string) (orderCode, bool) {
	code = strings.TrimSpace(code)
	for _, oc := range orderCodes {
		if oc.system == system && oc.code == code {
			return oc, true
		}
	}
	return orderCode{}, false
}

// suggestedCode returns the order code for a contrast variant in a code
// system, falling back to CPT when the system has no such code (SNOMED CT has
// no lumbar MRI without-and-with concept).
func suggestedCode(system string, c Contrast) *Code {
	for _, s := range []string{system, policy.SystemCPT} {
		for _, oc := range orderCodes {
			if oc.system == s && oc.contrast == c && oc.suggest {
				return &Code{System: oc.system, Code: oc.code, Display: oc.display}
			}
		}
	}
	return nil
}

// Recognize reports whether a draft order is a lumbar spine MRI order and
// describes it. Only coded orders count (CPT, LOINC or SNOMED CT in
// ServiceRequest.code); a text-only order is not recognised.
func Recognize(sr chart.OrderRequest) (Order, bool) {
	var best *orderCode
	var bestCoding chart.Coding
	for _, cd := range sr.Code.Codings {
		oc, ok := lookupOrderCode(cd.System, cd.Code)
		if !ok {
			continue
		}
		if best == nil || systemRank(oc.system) < systemRank(best.system) {
			o := oc
			best, bestCoding = &o, cd
		}
	}
	if best == nil {
		return Order{}, false
	}
	o := Order{
		ID:          sr.ID,
		Code:        Code{System: best.system, Code: best.code, Display: bestCoding.Display},
		Contrast:    best.contrast,
		BillingCode: billingCodes[best.contrast],
	}
	switch {
	case o.Code.Display != "":
		o.Display = o.Code.Display
	case sr.Code.Text != "":
		o.Display = sr.Code.Text
	default:
		o.Display = best.display
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
