package criteria

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

func TestRecognize(t *testing.T) {
	type result struct {
		OK       bool
		Code     string
		Contrast Contrast
		Billing  string
	}
	tests := []struct {
		system, code string
		want         result
	}{
		{policy.SystemCPT, "72148", result{true, "72148", ContrastWithout, "72148"}},
		{policy.SystemCPT, "72149", result{true, "72149", ContrastWith, "72149"}},
		{policy.SystemCPT, "72158", result{true, "72158", ContrastWithoutAndWith, "72158"}},
		{policy.SystemLOINC, "30679-5", result{true, "30679-5", ContrastWithout, "72148"}},
		{policy.SystemLOINC, "30678-7", result{true, "30678-7", ContrastWith, "72149"}},
		{policy.SystemLOINC, "24967-2", result{true, "24967-2", ContrastWithoutAndWith, "72158"}},
		{policy.SystemLOINC, "24968-0", result{true, "24968-0", ContrastUnspecified, ""}},
		{policy.SystemLOINC, "36111-3", result{true, "36111-3", ContrastWithout, "72148"}},
		{policy.SystemLOINC, "36100-6", result{true, "36100-6", ContrastWith, "72149"}},
		{policy.SystemLOINC, "24977-1", result{true, "24977-1", ContrastUnspecified, ""}},
		{policy.SystemSNOMED, "394451000119106", result{true, "394451000119106", ContrastWithout, "72148"}},
		{policy.SystemSNOMED, "41333006", result{true, "41333006", ContrastWith, "72149"}},
		{policy.SystemSNOMED, "433141005", result{true, "433141005", ContrastUnspecified, ""}},
		{policy.SystemSNOMED, "433140006", result{true, "433140006", ContrastWith, "72149"}},
		{policy.SystemSNOMED, "726546000", result{true, "726546000", ContrastUnspecified, ""}},
		{policy.SystemSNOMED, "709653005", result{true, "709653005", ContrastWith, "72149"}},
		// Neighbours and look-alikes (scenario 11).
		{policy.SystemCPT, "72141", result{}},                                          // cervical MRI
		{policy.SystemCPT, "72146", result{}},                                          // thoracic MRI
		{policy.SystemCPT, "72131", result{}},                                          // lumbar CT
		{policy.SystemCPT, "72100", result{}},                                          // lumbar radiographs
		{policy.SystemLOINC, "24531-6", result{}},                                      // US retroperitoneum
		{policy.SystemLOINC, "24532-4", result{}},                                      // US abdomen RUQ
		{policy.SystemLOINC, "24533-2", result{}},                                      // MRA abdominal vessels
		{policy.SystemLOINC, "24855-9", result{}},                                      // RF videography oropharynx
		{policy.SystemLOINC, "30854-4", result{}},                                      // whole-spine MRI
		{policy.SystemLOINC, "24980-5", result{}},                                      // thoracic MRI
		{policy.SystemSNOMED, "411571000119106", result{}},                             // thoracolumbar MRI
		{policy.SystemSNOMED, "411611000119102", result{}},                             // whole-spine MRI
		{policy.SystemSNOMED, "241645008", result{}},                                   // MRI of spine, site unspecified
		{policy.SystemSNOMED, "2690005", result{}},                                     // MRI of pelvis
		{policy.SystemLOINC, "72148", result{}},                                        // right code, wrong system
		{"http://example.org/local", "72148", result{}},                                // local code system
		{policy.SystemICD10, "M54.5", result{}},                                        // a diagnosis
		{policy.SystemSNOMED, "571891000119109", result{}},                             // cervical MRI
		{policy.SystemSNOMED, "572091000119106", result{}},                             // lumbar CT
		{policy.SystemCPT, " 72148 ", result{true, "72148", ContrastWithout, "72148"}}, // stray spaces
	}
	for _, tt := range tests {
		t.Run(tt.system+"|"+tt.code, func(t *testing.T) {
			o, ok := Recognize(chart.OrderOf(&r4.ServiceRequest{Code: concept(tt.system, tt.code, "")}), nil)
			got := result{ok, o.Code.Code, o.Contrast, o.BillingCode}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

func TestRecognizeDetails(t *testing.T) {
	authored := time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		sr   r4.ServiceRequest
		want Order
		ok   bool
	}{
		{"display from the coding", r4.ServiceRequest{
			Id:         ptr("o1"),
			Code:       &r4.CodeableConcept{Coding: []r4.Coding{coding(policy.SystemCPT, "72148", "MRI lumbar spine wo contrast")}, Text: ptr("Lumbar MRI")},
			AuthoredOn: ptr("2025-03-04T16:20:00-05:00"),
			ReasonCode: []r4.CodeableConcept{*concept(policy.SystemICD10, "M54.16", "Radiculopathy, lumbar region")},
		}, Order{
			ID: "o1", Code: Code{System: policy.SystemCPT, Code: "72148", Display: "MRI lumbar spine wo contrast"},
			Display: "MRI lumbar spine wo contrast", Contrast: ContrastWithout, BillingCode: "72148", AuthoredOn: &authored,
			ReasonCodes: []Code{{System: policy.SystemICD10, Code: "M54.16", Display: "Radiculopathy, lumbar region"}},
		}, true},
		{"display from code.text", r4.ServiceRequest{
			Code: &r4.CodeableConcept{Coding: []r4.Coding{coding(policy.SystemLOINC, "24967-2", "")}, Text: ptr("MRI L-spine w/wo")},
		}, Order{
			Code: Code{System: policy.SystemLOINC, Code: "24967-2"}, Display: "MRI L-spine w/wo", Contrast: ContrastWithoutAndWith, BillingCode: "72158",
		}, true},
		{"display from the table", r4.ServiceRequest{Code: concept(policy.SystemSNOMED, "41333006", "")}, Order{
			Code: Code{System: policy.SystemSNOMED, Code: "41333006"}, Display: "Magnetic resonance imaging of lumbar spine with contrast", Contrast: ContrastWith, BillingCode: "72149",
		}, true},
		{"CPT preferred over LOINC", r4.ServiceRequest{
			Code: &r4.CodeableConcept{Coding: []r4.Coding{coding(policy.SystemLOINC, "30679-5", "MR Lumbar spine WO contrast"), coding(policy.SystemCPT, "72148", "")}},
		}, Order{
			Code: Code{System: policy.SystemCPT, Code: "72148"}, Display: "MRI lumbar spine without contrast", Contrast: ContrastWithout, BillingCode: "72148",
		}, true},
		{"text only is not recognised", r4.ServiceRequest{Code: &r4.CodeableConcept{Text: ptr("MRI lumbar spine without contrast")}}, Order{}, false},
		{"no code", r4.ServiceRequest{}, Order{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Recognize(chart.OrderOf(&tt.sr), nil)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

// benchmarkRecord is a ~200-resource chart: conditions, vitals, therapy,
// medications and imaging spread over two years.
func benchmarkRecord() *chart.Record {
	rec := &chart.Record{}
	codes := []string{"E11.9", "I10", "J45.909", "K21.9", "M54.50", "F32.A", "Z79.4", "E78.5", "N39.0", "G47.33"}
	for i := 0; i < 40; i++ {
		rec.Conditions = append(rec.Conditions, icd(fmt.Sprintf("c%d", i), codes[i%len(codes)], "", 10+i*15))
	}
	for i := 0; i < 60; i++ {
		rec.Observations = append(rec.Observations, temperature(fmt.Sprintf("o%d", i), "37.1", "Cel", i*10))
	}
	for i := 0; i < 50; i++ {
		rec.Procedures = append(rec.Procedures, proc(fmt.Sprintf("p%d", i), policy.SystemCPT, []string{"97110", "99213", "98940", "36415"}[i%4], "", i*9))
	}
	for i := 0; i < 30; i++ {
		rec.MedicationRequests = append(rec.MedicationRequests, medReq(fmt.Sprintf("m%d", i), []string{"7258", "310965", "197361", "5640"}[i%4], "Some Medication 10 MG Oral Tablet", i*20, 30, 1))
	}
	for i := 0; i < 10; i++ {
		rec.MedicationStatements = append(rec.MedicationStatements, chart.MedicationStatement{
			MedicationStatement: r4.MedicationStatement{Id: ptr(fmt.Sprintf("s%d", i)), Status: "active",
				MedicationCodeableConcept: *concept(policy.SystemRxNorm, "6809", "metformin"), EffectiveDateTime: ago(i * 30)},
			StatusPresent: true,
		})
	}
	for i := 0; i < 5; i++ {
		rec.ImagingStudies = append(rec.ImagingStudies, study(fmt.Sprintf("i%d", i), []string{"CT", "MR", "DX"}[i%3], "", 100+i*100))
		rec.DiagnosticReports = append(rec.DiagnosticReports, report(fmt.Sprintf("d%d", i), policy.SystemLOINC, "24627-2", "", 100+i*100))
	}
	return rec
}

func BenchmarkAssess(b *testing.B) {
	rec := benchmarkRecord()
	pol := defaultPolicy()
	o := cpt72148()
	b.ReportAllocs()
	for b.Loop() {
		Assess(o, chart.Derive(rec), pol, laterNow)
	}
}

func TestBenchmarkRecordSize(t *testing.T) {
	r := benchmarkRecord()
	n := len(r.Conditions) + len(r.Observations) + len(r.Procedures) + len(r.MedicationRequests) + len(r.MedicationStatements) + len(r.ImagingStudies) + len(r.DiagnosticReports)
	if n < 190 || n > 210 {
		t.Errorf("benchmark record has %d resources, want about 200", n)
	}
}
