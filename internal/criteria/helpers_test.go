package criteria

import (
	"encoding/json"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// Test records are built relative to D, the order date.
var testD = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// laterNow is a wall clock that differs from D: assessments must not use it.
var laterNow = time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// ago is the date n days before D as a FHIR date.
func ago(n int) *string { return ptr(testD.AddDate(0, 0, -n).Format(time.DateOnly)) }

// span is the TherapySpan of a treatment from `from` to `to` days before D.
func span(from, to int) *TherapySpan {
	start, _ := chart.ParseDate(ymd(agoT(from)))
	return &TherapySpan{Start: start, End: *agoT(to)}
}

func agoT(n int) *time.Time { t := testD.AddDate(0, 0, -n); return &t }

func coding(system, code, display string) r4.Coding {
	c := r4.Coding{System: ptr(system), Code: ptr(code)}
	if display != "" {
		c.Display = ptr(display)
	}
	return c
}

func concept(system, code, display string) *r4.CodeableConcept {
	return &r4.CodeableConcept{Coding: []r4.Coding{coding(system, code, display)}}
}

// cond is an active Condition with onset n days before D.
func cond(id, system, code, display string, onset int) chart.Condition {
	return chart.Condition{Condition: r4.Condition{
		Id:             ptr(id),
		ClinicalStatus: concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", ""),
		Code:           concept(system, code, display),
		OnsetDateTime:  ago(onset),
	}}
}

func icd(id, code, display string, onset int) chart.Condition {
	return cond(id, policy.SystemICD10, code, display, onset)
}

// staged gives c a Condition.stage: summary (system, code, display) and,
// when typeCode is set, a SNOMED CT stage type.
func staged(c chart.Condition, system, code, display, typeCode string) chart.Condition {
	st := r4.ConditionStage{Summary: concept(system, code, display)}
	if typeCode != "" {
		st.Type = concept(policy.SystemSNOMED, typeCode, "")
	}
	c.Stage = append(c.Stage, st)
	return c
}

func withClinical(c chart.Condition, status string) chart.Condition {
	c.ClinicalStatus = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", status, "")
	return c
}

func withVerification(c chart.Condition, status string) chart.Condition {
	c.VerificationStatus = concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", status, "")
	return c
}

// lbp is low back pain with onset n days before D.
func lbp(onset int) chart.Condition { return icd("lbp", "M54.50", "Low back pain, unspecified", onset) }

func proc(id, system, code, display string, performed int) chart.Procedure {
	return chart.Procedure{
		Procedure: r4.Procedure{
			Id:                ptr(id),
			Status:            r4.EventStatusCompleted,
			Code:              concept(system, code, display),
			PerformedDateTime: ago(performed),
		},
		StatusPresent: true,
	}
}

// ptVisits are 97110 sessions every step days from `from` to `to` days before D.
func ptVisits(from, to, step int) []chart.Procedure {
	var out []chart.Procedure
	for n := from; n >= to; n -= step {
		out = append(out, proc("pt"+itoa(n), policy.SystemCPT, "97110", "Therapeutic exercises", n))
	}
	return out
}

func medReq(id, rxnorm, display string, authored, supplyDays, refills int) chart.MedicationRequest {
	m := chart.MedicationRequest{
		MedicationRequest: r4.MedicationRequest{
			Id:                        ptr(id),
			Status:                    "active",
			Intent:                    "order",
			MedicationCodeableConcept: *concept(policy.SystemRxNorm, rxnorm, display),
			AuthoredOn:                ago(authored),
		},
		StatusPresent: true,
	}
	if supplyDays > 0 {
		m.DispenseRequest = &r4.MedicationRequestDispenseRequest{
			ExpectedSupplyDuration: &r4.Duration{Value: ptr(json.Number(itoa(supplyDays))), Code: ptr("d"), System: ptr("http://unitsofmeasure.org")},
			NumberOfRepeatsAllowed: ptr(refills),
		}
	}
	return m
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func temperature(id, value, unit string, n int) chart.Observation {
	return chart.Observation{
		Observation: r4.Observation{
			Id:                ptr(id),
			Status:            r4.ObservationStatusFinal,
			Code:              *concept(policy.SystemLOINC, "8310-5", "Body temperature"),
			EffectiveDateTime: ago(n),
			ValueQuantity:     &r4.Quantity{Value: ptr(json.Number(value)), Code: ptr(unit), System: ptr("http://unitsofmeasure.org")},
		},
		StatusPresent: true,
	}
}

// study is an available ImagingStudy of one series with modality and body site.
func study(id, modality, site string, started int) chart.ImagingStudy {
	s := chart.ImagingStudy{
		ImagingStudy: r4.ImagingStudy{
			Id:       ptr(id),
			Status:   r4.ImagingStudyStatusAvailable,
			Modality: []r4.Coding{coding(policy.SystemDICOM, modality, "")},
			Started:  ago(started),
			Series: []r4.ImagingStudySeries{{
				Uid:      "1.2.3",
				Modality: coding(policy.SystemDICOM, modality, ""),
			}},
		},
		StatusPresent: true,
	}
	if site != "" {
		s.Series[0].BodySite = ptr(coding(policy.SystemSNOMED, site, "Lumbar spine"))
	}
	return s
}

func report(id, system, code, display string, n int) chart.DiagnosticReport {
	return chart.DiagnosticReport{
		DiagnosticReport: r4.DiagnosticReport{
			Id:                ptr(id),
			Status:            r4.DiagnosticReportStatusFinal,
			Code:              *concept(system, code, display),
			EffectiveDateTime: ago(n),
		},
		StatusPresent: true,
	}
}

// order is a lumbar MRI order dated D.
func order(system, code string) Order {
	o, ok := Recognize(chart.OrderOf(&r4.ServiceRequest{
		Id:         ptr("mri"),
		Status:     r4.RequestStatusDraft,
		Intent:     r4.RequestIntentOrder,
		Code:       concept(system, code, ""),
		AuthoredOn: ptr(testD.Format(time.DateOnly)),
	}), nil)
	if !ok {
		return Order{}
	}
	return o
}

func cpt72148() Order { return order(policy.SystemCPT, "72148") }

func defaultPolicy() *policy.Policy { return policy.Default().Default() }
