package criteria

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// summary is the part of an Assessment most cases check.
type summary struct {
	Outcome     string
	Findings    []string
	TherapyDays int
}

func summarize(a Assessment) summary {
	s := summary{Outcome: a.Outcome, TherapyDays: a.TherapyDays}
	for _, f := range a.Findings {
		s.Findings = append(s.Findings, f.Code)
	}
	return s
}

// sixWeeksPT is 97110 weekly from 49 to 7 days before D: a 42-day course.
func sixWeeksPT() []chart.Procedure { return ptVisits(49, 7, 7) }

func TestAssess(t *testing.T) {
	missing := ConservativeTherapyMissing
	tests := []struct {
		name  string
		rec   chart.Record
		order Order
		want  summary
	}{
		// Scenario 1: acute nonspecific low back pain, no therapy.
		{"acute LBP no therapy", chart.Record{Conditions: []chart.Condition{lbp(14)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"no indication no red flag", chart.Record{}, cpt72148(),
			summary{CriteriaNotMet, []string{IndicationMissing, missing}, 0}},
		{"indication from the order's reasonCode", chart.Record{Procedures: sixWeeksPT()},
			func() Order {
				o := cpt72148()
				o.ReasonCodes = []Code{{System: policy.SystemICD10, Code: "M54.16"}}
				return o
			}(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"legacy M54.5 accepted", chart.Record{Conditions: []chart.Condition{icd("c", "M54.5", "", 60)}, Procedures: sixWeeksPT()}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"SNOMED low back pain accepted", chart.Record{Conditions: []chart.Condition{cond("c", policy.SystemSNOMED, "279039007", "Low back pain", 60)}, Procedures: sixWeeksPT()}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},

		// Red flags.
		{"cauda equina G83.4", chart.Record{Conditions: []chart.Condition{lbp(5), icd("ces", "G83.4", "Cauda equina syndrome", 0)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagCaudaEquina, missing}, 0}},
		{"cauda equina SNOMED only", chart.Record{Conditions: []chart.Condition{cond("ces", policy.SystemSNOMED, "192970008", "", 1)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagCaudaEquina, missing}, 0}},
		{"cauda equina entered-in-error ignored", chart.Record{Conditions: []chart.Condition{lbp(5), withVerification(icd("ces", "G83.4", "", 0), "entered-in-error")}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"cauda equina refuted ignored", chart.Record{Conditions: []chart.Condition{lbp(5), withVerification(icd("ces", "G83.4", "", 0), "refuted")}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"cauda equina resolved ignored", chart.Record{Conditions: []chart.Condition{lbp(5), withClinical(icd("ces", "G83.4", "", 0), "resolved")}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"cauda equina absent clinicalStatus counts", chart.Record{Conditions: []chart.Condition{{Condition: r4.Condition{Id: ptr("ces"), Code: concept(policy.SystemICD10, "G83.4", "")}}}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagCaudaEquina, missing}, 0}},
		{"urinary retention with saddle anaesthesia", chart.Record{Conditions: []chart.Condition{lbp(5), icd("r", "R33.9", "Retention of urine", 2), icd("a", "R20.0", "Anesthesia of skin", 2)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagCaudaEquina, missing}, 0}},
		{"urinary retention alone is not enough", chart.Record{Conditions: []chart.Condition{lbp(5), icd("r", "R33.9", "Retention of urine", 2)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"foot drop", chart.Record{Conditions: []chart.Condition{icd("fd", "M21.372", "Foot drop, left foot", 0), lbp(10)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagNeurologicDeficit, missing}, 0}},
		{"active malignancy", chart.Record{Conditions: []chart.Condition{icd("ca", "C50.911", "Malignant neoplasm of breast", 300)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagMalignancy, missing}, 0}},
		{"vertebral metastasis", chart.Record{Conditions: []chart.Condition{icd("ca", "C79.51", "", 30)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagMalignancy, missing}, 0}},
		// A neoplasm whose code says no behaviour, staged as an invasive
		// cancer (AJCC stage group I-IV): counted by its stage.
		{"neoplasm staged IVB (AJCC)", chart.Record{Conditions: []chart.Condition{staged(cond("np", policy.SystemSNOMED, "126906006", "Neoplasm of prostate", 400), "http://cancerstaging.org", "4B", "IVB", "")}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagMalignancy, missing}, 0}},
		{"neoplasm staged by a TNM stage grouping's display", chart.Record{Conditions: []chart.Condition{staged(cond("np", policy.SystemSNOMED, "126906006", "Neoplasm of prostate", 400), "http://example.org/stage", "x", "Stage IIA", "399537006")}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagMalignancy, missing}, 0}},
		{"stage 0 (in situ) is not an invasive cancer", chart.Record{Conditions: []chart.Condition{lbp(10), staged(cond("np", policy.SystemSNOMED, "126906006", "Neoplasm of prostate", 400), "http://cancerstaging.org", "0is", "0is", "")}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"kidney disease stage 3 is no cancer stage", chart.Record{Conditions: []chart.Condition{lbp(10), staged(icd("ckd", "N18.30", "Chronic kidney disease, stage 3 unspecified", 400), "http://example.org/ckd", "3", "Stage 3", "")}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"ended staged neoplasm with new back pain is a cancer history", chart.Record{Conditions: []chart.Condition{lbp(10), staged(withClinical(cond("np", policy.SystemSNOMED, "126906006", "Neoplasm of prostate", 4000), "resolved"), "http://cancerstaging.org", "3", "III", "")}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagMalignancy, missing}, 0}},
		{"ended staged neoplasm without back pain", chart.Record{Conditions: []chart.Condition{staged(withClinical(cond("np", policy.SystemSNOMED, "126906006", "Neoplasm of prostate", 4000), "resolved"), "http://cancerstaging.org", "3", "III", "")}}, cpt72148(),
			summary{CriteriaNotMet, []string{IndicationMissing, missing}, 0}},
		{"skin cancer C44 is not a red flag", chart.Record{Conditions: []chart.Condition{lbp(20), icd("ca", "C44.91", "", 30)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"benign neoplasm D32.9 never", chart.Record{Conditions: []chart.Condition{lbp(20), icd("d", "D32.9", "", 30)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"benign neoplasm D18.01 never, even with Z85-like history", chart.Record{Conditions: []chart.Condition{lbp(20), icd("d", "D18.01", "", 30)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		// Scenario 3: history of cancer with new back pain.
		{"Z85 with back pain onset 21 days ago", chart.Record{Conditions: []chart.Condition{withClinical(icd("z", "Z85.3", "Personal history of malignant neoplasm of breast", 2000), "inactive"), lbp(21)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagMalignancy, missing}, 0}},
		{"Z85 with back pain onset 200 days ago", chart.Record{Conditions: []chart.Condition{icd("z", "Z85.3", "", 2000), lbp(200)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"Z85 without back pain", chart.Record{Conditions: []chart.Condition{icd("z", "Z85.3", "", 2000)}}, cpt72148(),
			summary{CriteriaNotMet, []string{IndicationMissing, missing}, 0}},
		{"vertebral osteomyelitis", chart.Record{Conditions: []chart.Condition{icd("o", "M46.26", "Osteomyelitis of vertebra, lumbar region", 3)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagInfection, missing}, 0}},
		{"fever 38.6 Cel 3 days ago", chart.Record{Conditions: []chart.Condition{lbp(10)}, Observations: []chart.Observation{temperature("t", "38.6", "Cel", 3)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagInfection, missing}, 0}},
		{"fever exactly 38.0 Cel counts", chart.Record{Conditions: []chart.Condition{lbp(10)}, Observations: []chart.Observation{temperature("t", "38.0", "Cel", 14)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagInfection, missing}, 0}},
		{"fever 101.2 degF", chart.Record{Conditions: []chart.Condition{lbp(10)}, Observations: []chart.Observation{temperature("t", "101.2", "[degF]", 1)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagInfection, missing}, 0}},
		{"100.0 degF is no fever", chart.Record{Conditions: []chart.Condition{lbp(10)}, Observations: []chart.Observation{temperature("t", "100.0", "[degF]", 1)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"37.9 Cel is no fever", chart.Record{Conditions: []chart.Condition{lbp(10)}, Observations: []chart.Observation{temperature("t", "37.9", "Cel", 1)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"fever 15 days ago is outside the window", chart.Record{Conditions: []chart.Condition{lbp(10)}, Observations: []chart.Observation{temperature("t", "39.0", "Cel", 15)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"fever after D does not count", chart.Record{Conditions: []chart.Condition{lbp(10)}, Observations: []chart.Observation{temperature("t", "39.0", "Cel", -2)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"fever observation entered-in-error", chart.Record{Conditions: []chart.Condition{lbp(10)}, Observations: []chart.Observation{func() chart.Observation {
			o := temperature("t", "39.0", "Cel", 1)
			o.Status = r4.ObservationStatusEnteredInError
			return o
		}()}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"fever observation without status", chart.Record{Conditions: []chart.Condition{lbp(10)}, Observations: []chart.Observation{func() chart.Observation {
			o := temperature("t", "39.0", "Cel", 1)
			o.StatusPresent = false
			return o
		}()}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"preliminary temperature counts", chart.Record{Conditions: []chart.Condition{lbp(10)}, Observations: []chart.Observation{func() chart.Observation {
			o := temperature("t", "39.0", "Cel", 1)
			o.Status = r4.ObservationStatusPreliminary
			return o
		}()}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagInfection, missing}, 0}},
		{"IV drug use with new back pain", chart.Record{Conditions: []chart.Condition{icd("iv", "F11.20", "Opioid dependence", 100), lbp(10)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagInfection, missing}, 0}},
		{"IV drug use with old back pain", chart.Record{Conditions: []chart.Condition{icd("iv", "F11.20", "Opioid dependence", 100), lbp(150)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"IV drug use alone", chart.Record{Conditions: []chart.Condition{icd("iv", "F11.20", "", 100)}}, cpt72148(),
			summary{CriteriaNotMet, []string{IndicationMissing, missing}, 0}},
		// ACR Appropriateness Criteria, Low Back Pain (2021): suspected
		// cancer, infection or immunosuppression; named as immunosuppression.
		{"HIV with new back pain", chart.Record{Conditions: []chart.Condition{icd("hiv", "B20", "HIV disease", 1000), lbp(10)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagImmunosuppression, missing}, 0}},
		{"kidney transplant status with new back pain", chart.Record{Conditions: []chart.Condition{icd("tx", "Z94.0", "Kidney transplant status", 1000), lbp(10)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagImmunosuppression, missing}, 0}},
		// Synthea's kidney transplant recipients (VSAC 2.16.840.1.113883.3.464.1003.109.12.1029;
		// clinical review 6, finding 03).
		{"history of renal transplant (SNOMED CT) with new back pain", chart.Record{Conditions: []chart.Condition{cond("tx", "http://snomed.info/sct", "161665007", "History of renal transplant (situation)", 1000), lbp(10)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagImmunosuppression, missing}, 0}},
		{"cannabis dependence is not IV drug use", chart.Record{Conditions: []chart.Condition{icd("c", "F12.20", "Cannabis dependence, uncomplicated", 100), lbp(10)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"opioid dependence in remission is not current IV drug use", chart.Record{Conditions: []chart.Condition{icd("o", "F11.21", "Opioid dependence, in remission", 100), lbp(10)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"femur osteoporotic fracture is not vertebral", chart.Record{Conditions: []chart.Condition{icd("f", "M80.051A", "Age-related osteoporosis with current pathological fracture, right femur", 3), lbp(10)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"cord compression G95.20", chart.Record{Conditions: []chart.Condition{icd("cc", "G95.20", "Unspecified cord compression", 1), lbp(10)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagCaudaEquina, missing}, 0}},
		{"spinal epidural abscess G06.1", chart.Record{Conditions: []chart.Condition{icd("ab", "G06.1", "Intraspinal abscess and granuloma", 1), lbp(10)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagInfection, missing}, 0}},
		{"tuberculous epidural abscess, SNOMED CT without display", chart.Record{Conditions: []chart.Condition{cond("ab", policy.SystemSNOMED, "447332005", "", 1), lbp(10)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagInfection, missing}, 0}},
		{"lumbar fracture S32.0", chart.Record{Conditions: []chart.Condition{icd("f", "S32.000A", "Wedge compression fracture of unspecified lumbar vertebra", 3)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagFracture, missing}, 0}},
		{"osteoporotic fracture M80", chart.Record{Conditions: []chart.Condition{icd("f", "m80.08xa", "", 3)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagFracture, missing}, 0}},
		{"collapsed vertebra M48.5", chart.Record{Conditions: []chart.Condition{icd("f", "M48.56XA", "", 3)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagFracture, missing}, 0}},
		{"osteoporosis without fracture is not a red flag", chart.Record{Conditions: []chart.Condition{icd("o", "M81.0", "", 300), lbp(7)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		// Scenario 10: prior lumbar surgery; history codes count whatever clinicalStatus.
		{"arthrodesis status inactive", chart.Record{Conditions: []chart.Condition{withClinical(icd("z", "Z98.1", "Arthrodesis status", 700), "inactive"), icd("r", "M54.17", "", 14)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagPriorSurgery, missing}, 0}},
		// M96.1 and Z98.1 name no level: they count only beside a lumbar
		// or lumbosacral back-pain or radiculopathy diagnosis (DECISIONS.md).
		{"postlaminectomy syndrome M96.1 with lumbar pain", chart.Record{Conditions: []chart.Condition{withClinical(icd("z", "M96.1", "", 700), "resolved"), icd("r", "M54.16", "Radiculopathy, lumbar region", 30)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagPriorSurgery, missing}, 0}},
		{"postlaminectomy syndrome M96.1 alone", chart.Record{Conditions: []chart.Condition{withClinical(icd("z", "M96.1", "", 700), "resolved")}}, cpt72148(),
			summary{CriteriaNotMet, []string{IndicationMissing, missing}, 0}},
		{"M96.1 with cervical radiculopathy only", chart.Record{Conditions: []chart.Condition{icd("z", "M96.1", "", 700), icd("c", "M54.12", "Radiculopathy, cervical region", 30)}}, cpt72148(),
			summary{CriteriaNotMet, []string{IndicationMissing, missing}, 0}},
		{"SNOMED lumbar post-laminectomy syndrome alone", chart.Record{Conditions: []chart.Condition{cond("p", policy.SystemSNOMED, "202725007", "Lumbar post-laminectomy syndrome", 2000)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagPriorSurgery, missing}, 0}},
		{"ankylosis M43.26 is not surgical fusion", chart.Record{Conditions: []chart.Condition{icd("a", "M43.26", "Fusion of spine, lumbar region", 700), lbp(20)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		// A laminectomy without a level may be cervical: not lumbar surgery.
		{"laminectomy without a level", chart.Record{Procedures: []chart.Procedure{proc("lam", policy.SystemSNOMED, "387731002", "Laminectomy", 730)}}, cpt72148(),
			summary{CriteriaNotMet, []string{IndicationMissing, missing}, 0}},
		{"lumbar discectomy CPT", chart.Record{Procedures: []chart.Procedure{proc("s", policy.SystemCPT, "63030", "", 400)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagPriorSurgery, missing}, 0}},
		{"not-done surgery does not count", chart.Record{Conditions: []chart.Condition{lbp(10)}, Procedures: []chart.Procedure{func() chart.Procedure {
			p := proc("s", policy.SystemCPT, "63030", "", 400)
			p.Status = r4.EventStatusNotDone
			return p
		}()}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"procedure without status does not count", chart.Record{Conditions: []chart.Condition{lbp(10)}, Procedures: []chart.Procedure{func() chart.Procedure {
			p := proc("s", policy.SystemCPT, "63030", "", 400)
			p.StatusPresent = false
			return p
		}()}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"surgery after D does not count", chart.Record{Conditions: []chart.Condition{lbp(10)}, Procedures: []chart.Procedure{proc("s", policy.SystemCPT, "63030", "", -3)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"several red flags in a stable order", chart.Record{Conditions: []chart.Condition{icd("f", "S32.000A", "", 3), icd("ces", "G83.4", "", 1), icd("ca", "C41.2", "", 50)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagCaudaEquina, RedFlagMalignancy, RedFlagFracture, missing}, 0}},

		// Conservative therapy.
		{"six weeks of PT", chart.Record{Conditions: []chart.Condition{lbp(90)}, Procedures: sixWeeksPT()}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"three weeks of PT", chart.Record{Conditions: []chart.Condition{icd("c", "M51.16", "", 35)}, Procedures: ptVisits(21, 0, 7)}, cpt72148(),
			summary{CriteriaNotMet, []string{ConservativeTherapyInsufficient}, 21}},
		{"gaps of exactly 21 days merge", chart.Record{Conditions: []chart.Condition{lbp(90)}, Procedures: ptVisits(50, 8, 21)}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"gaps of 22 days split the course", chart.Record{Conditions: []chart.Condition{lbp(90)}, Procedures: ptVisits(66, 0, 22)}, cpt72148(),
			summary{CriteriaNotMet, []string{ConservativeTherapyInsufficient}, 0}},
		{"PT 8 months ago does not count", chart.Record{Conditions: []chart.Condition{lbp(400)}, Procedures: ptVisits(290, 240, 7)}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"PT period clipped to the lookback", chart.Record{Conditions: []chart.Condition{lbp(400)}, Procedures: []chart.Procedure{{
			Procedure: r4.Procedure{Id: ptr("pt"), Status: r4.EventStatusCompleted, Code: concept(policy.SystemSNOMED, "91251008", "Physical therapy procedure"),
				PerformedPeriod: &r4.Period{Start: ago(250), End: ago(150)}},
			StatusPresent: true,
		}}}, cpt72148(),
			summary{CriteriaNotMet, []string{ConservativeTherapyInsufficient}, 30}},
		{"PT and NSAID merge across kinds", chart.Record{Conditions: []chart.Condition{lbp(90)},
			Procedures:         ptVisits(60, 40, 7),
			MedicationRequests: []chart.MedicationRequest{medReq("m", "7258", "naproxen", 30, 28, 0)}}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 58}},
		{"naproxen 20 days x (1+1) is 40 days", chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{medReq("m", "7258", "naproxen", 50, 20, 1)}}, cpt72148(),
			summary{CriteriaNotMet, []string{ConservativeTherapyInsufficient}, 40}},
		{"naproxen 20 days x (1+2) capped at D", chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{medReq("m", "7258", "naproxen", 50, 20, 2)}}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 50}},
		// A branded drug coded without display text counts by its code
		// (muscle-relaxant: Amrix SBD from the CDC opioid CDS set).
		{"branded muscle relaxant without display", chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{medReq("m", "828359", "", 50, 50, 0)}}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 50}},
		{"medication without supply is one day", chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{medReq("m", "5640", "ibuprofen", 50, 0, 0)}}, cpt72148(),
			summary{CriteriaNotMet, []string{ConservativeTherapyInsufficient}, 0}},
		{"cancelled medication does not count", chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{func() chart.MedicationRequest {
			m := medReq("m", "7258", "naproxen", 60, 60, 0)
			m.Status = "cancelled"
			return m
		}()}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"draft medication does not count", chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{func() chart.MedicationRequest {
			m := medReq("m", "7258", "naproxen", 60, 60, 0)
			m.Status = "draft"
			return m
		}()}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"medication plan does not count", chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{func() chart.MedicationRequest {
			m := medReq("m", "7258", "naproxen", 60, 60, 0)
			m.Intent = "plan"
			return m
		}()}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"medication statement period", chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationStatements: []chart.MedicationStatement{{
			MedicationStatement: r4.MedicationStatement{Id: ptr("s"), Status: "completed",
				MedicationCodeableConcept: *concept(policy.SystemRxNorm, "41493", "meloxicam"),
				EffectivePeriod:           &r4.Period{Start: ago(70), End: ago(20)}},
			StatusPresent: true,
		}}}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 50}},
		{"medication statement not-taken does not count", chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationStatements: []chart.MedicationStatement{{
			MedicationStatement: r4.MedicationStatement{Id: ptr("s"), Status: "not-taken",
				MedicationCodeableConcept: *concept(policy.SystemRxNorm, "41493", "meloxicam"),
				EffectivePeriod:           &r4.Period{Start: ago(70), End: ago(20)}},
			StatusPresent: true,
		}}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"medication by name when the code is not an ingredient", chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{medReq("m", "198013", "Naproxen 500 MG Oral Tablet", 60, 30, 1)}}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 60}},
		{"gabapentin does not count by default", chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{medReq("m", "25480", "gabapentin", 60, 60, 0)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"PT referral is not therapy", chart.Record{Conditions: []chart.Condition{lbp(90)}, Procedures: []chart.Procedure{proc("r", policy.SystemSNOMED, "306170007", "Referral to physiotherapy service", 60)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"extraspinal CMT 98943 is not therapy", chart.Record{Conditions: []chart.Condition{lbp(90)}, Procedures: []chart.Procedure{proc("c1", policy.SystemCPT, "98943", "", 50), proc("c2", policy.SystemCPT, "98943", "", 20), proc("c3", policy.SystemCPT, "98943", "", 5)}}, cpt72148(),
			summary{CriteriaNotMet, []string{missing}, 0}},
		{"chiropractic 98940 weekly", chart.Record{Conditions: []chart.Condition{lbp(120)}, Procedures: func() []chart.Procedure {
			var out []chart.Procedure
			for n := 63; n >= 14; n -= 7 {
				out = append(out, proc("cmt"+itoa(n), policy.SystemCPT, "98940", "", n))
			}
			return out
		}()}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 49}},

		// Prior imaging (scenario 4 and variants).
		{"prior lumbar MRI 3 months ago", chart.Record{Conditions: []chart.Condition{lbp(200)}, Procedures: sixWeeksPT(), ImagingStudies: []chart.ImagingStudy{study("mr", "MR", "122496007", 90)}}, cpt72148(),
			summary{CriteriaNotMet, []string{ConservativeTherapyMet, PriorLumbarMRI}, 42}},
		{"prior lumbar MRI 14 months ago", chart.Record{Conditions: []chart.Condition{lbp(500)}, Procedures: sixWeeksPT(), ImagingStudies: []chart.ImagingStudy{study("mr", "MR", "122496007", 425)}}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"prior MRI as a DiagnosticReport", chart.Record{Conditions: []chart.Condition{lbp(200)}, Procedures: sixWeeksPT(), DiagnosticReports: []chart.DiagnosticReport{report("dr", policy.SystemLOINC, "30679-5", "MR Lumbar spine WO contrast", 90)}}, cpt72148(),
			summary{CriteriaNotMet, []string{ConservativeTherapyMet, PriorLumbarMRI}, 42}},
		{"prior MRI as a Procedure", chart.Record{Conditions: []chart.Condition{lbp(200)}, Procedures: append(sixWeeksPT(), proc("p", policy.SystemCPT, "72148", "", 100))}, cpt72148(),
			summary{CriteriaNotMet, []string{ConservativeTherapyMet, PriorLumbarMRI}, 42}},
		{"whole-spine MRI counts as prior lumbar imaging", chart.Record{Conditions: []chart.Condition{lbp(200)}, Procedures: sixWeeksPT(), ImagingStudies: []chart.ImagingStudy{func() chart.ImagingStudy {
			s := study("mr", "MR", "", 60)
			s.ProcedureCode = []r4.CodeableConcept{*concept(policy.SystemSNOMED, "411611000119102", "MRI of cervical, thoracic and lumbar spine")}
			return s
		}()}}, cpt72148(),
			summary{CriteriaNotMet, []string{ConservativeTherapyMet, PriorLumbarMRI}, 42}},
		{"lumbar CT is not a prior MRI", chart.Record{Conditions: []chart.Condition{lbp(200)}, Procedures: sixWeeksPT(), ImagingStudies: []chart.ImagingStudy{study("ct", "CT", "122496007", 60)}}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"cervical MRI is not a prior lumbar MRI", chart.Record{Conditions: []chart.Condition{lbp(200)}, Procedures: sixWeeksPT(), ImagingStudies: []chart.ImagingStudy{study("mr", "MR", "122494005", 60)}}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"cancelled ImagingStudy does not count", chart.Record{Conditions: []chart.Condition{lbp(200)}, Procedures: sixWeeksPT(), ImagingStudies: []chart.ImagingStudy{func() chart.ImagingStudy {
			s := study("mr", "MR", "122496007", 60)
			s.Status = r4.ImagingStudyStatusCancelled
			return s
		}()}}, cpt72148(),
			summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"ImagingStudy without status counts", chart.Record{Conditions: []chart.Condition{lbp(200)}, Procedures: sixWeeksPT(), ImagingStudies: []chart.ImagingStudy{func() chart.ImagingStudy {
			s := study("mr", "MR", "122496007", 60)
			s.Status, s.StatusPresent = r4.ImagingStudyStatusRegistered, false
			return s
		}()}}, cpt72148(),
			summary{CriteriaNotMet, []string{ConservativeTherapyMet, PriorLumbarMRI}, 42}},
		{"red flag after the prior MRI", chart.Record{Conditions: []chart.Condition{lbp(200), icd("ces", "G83.4", "", 2)}, ImagingStudies: []chart.ImagingStudy{study("mr", "MR", "122496007", 90)}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagCaudaEquina, missing, PriorLumbarMRI}, 0}},
		{"red flag before the prior MRI", chart.Record{Conditions: []chart.Condition{lbp(200), icd("ca", "C50.9", "", 120)}, ImagingStudies: []chart.ImagingStudy{study("mr", "MR", "122496007", 90)}}, cpt72148(),
			summary{CriteriaNotMet, []string{RedFlagMalignancy, missing, PriorLumbarMRI}, 0}},

		// Incomplete records: never criteria-not-met, and no finding states
		// an absence that a search which did not arrive could have disproved
		// (no "no conservative therapy" without the procedures, no "no
		// diagnosis" without the conditions); absences the arrived data
		// settles are still reported.
		{"incomplete record with a red flag", chart.Record{Conditions: []chart.Condition{icd("ces", "G83.4", "", 0)}, Unavailable: []chart.Search{chart.SearchProcedures}}, cpt72148(),
			summary{CriteriaMet, []string{RedFlagCaudaEquina}, 0}},
		{"incomplete record without a red flag", chart.Record{Conditions: []chart.Condition{lbp(30)}, Unavailable: []chart.Search{chart.SearchProcedures, chart.SearchMedicationRequests}}, cpt72148(),
			summary{CriteriaIndeterminate, nil, 0}},
		{"incomplete record never not-met", chart.Record{Unavailable: []chart.Search{chart.SearchConditions}}, cpt72148(),
			summary{CriteriaIndeterminate, []string{missing}, 0}},
		{"incomplete record: the absence the arrived data settles", chart.Record{Conditions: []chart.Condition{lbp(30)}, Unavailable: []chart.Search{chart.SearchObservations}}, cpt72148(),
			summary{CriteriaIndeterminate, []string{missing}, 0}},
	}
	pol := defaultPolicy()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.rec
			got := summarize(Assess(tt.order, chart.Derive(&rec), pol, laterNow))
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Assess() mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

func TestAssessUnchecked(t *testing.T) {
	rec := &chart.Record{Conditions: []chart.Condition{lbp(30)}, Unavailable: []chart.Search{chart.SearchProcedures, chart.SearchImagingStudies}}
	got := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow).Unchecked
	if diff := cmp.Diff(got, []string{"procedures", "imagingStudies"}); diff != "" {
		t.Errorf("Unchecked (-got +want):\n%s", diff)
	}
	if got := Assess(cpt72148(), chart.Derive(&chart.Record{}), defaultPolicy(), laterNow).Unchecked; got != nil {
		t.Errorf("complete record: Unchecked = %v, want nil", got)
	}
}

// TestAssessDate: D is the order's authoredOn, else the UTC date of now.
func TestAssessDate(t *testing.T) {
	rec := &chart.Record{Conditions: []chart.Condition{lbp(90)}, Procedures: sixWeeksPT()}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if !a.Date.Equal(testD) || a.Outcome != CriteriaMet {
		t.Errorf("with authoredOn: Date %v outcome %s, want %v criteria-met", a.Date, a.Outcome, testD)
	}
	o := cpt72148()
	o.AuthoredOn = nil
	now := time.Date(2025, 6, 1, 23, 59, 0, 0, time.FixedZone("x", -5*3600)) // 2025-06-02 UTC
	a = Assess(o, chart.Derive(rec), defaultPolicy(), now)
	if want := testD.AddDate(0, 0, 1); !a.Date.Equal(want) {
		t.Errorf("without authoredOn: Date %v, want %v", a.Date, want)
	}
}

func TestAssessTherapyDetail(t *testing.T) {
	rec := &chart.Record{Conditions: []chart.Condition{lbp(60)}, Procedures: ptVisits(21, 7, 7)}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	wantOn := testD.AddDate(0, 0, -21+42)
	f := a.Finding(ConservativeTherapyInsufficient)
	if f == nil {
		t.Fatalf("no insufficient finding: %+v", a.Findings)
	}
	want := Finding{
		Code: ConservativeTherapyInsufficient,
		Text: "Conservative therapy (physical therapy) from 2025-05-11 to 2025-05-25: 14 days; at least 42 required. The 42-day point falls on 2025-06-22.",
		Evidence: []Evidence{
			{Source: "Procedure/pt21", Date: agoT(21), Latest: agoT(21), DateText: ymd(agoT(21)), Display: "Therapeutic exercises", Code: Code{System: policy.SystemCPT, Code: "97110", Display: "Therapeutic exercises"},
				Course: &TherapySpan{Start: chart.DayDate(*agoT(21)), End: *agoT(21)}},
			{Source: "Procedure/pt14", Date: agoT(14), Latest: agoT(14), DateText: ymd(agoT(14)), Display: "Therapeutic exercises", Code: Code{System: policy.SystemCPT, Code: "97110", Display: "Therapeutic exercises"},
				Course: &TherapySpan{Start: chart.DayDate(*agoT(14)), End: *agoT(14)}},
			{Source: "Procedure/pt7", Date: agoT(7), Latest: agoT(7), DateText: ymd(agoT(7)), Display: "Therapeutic exercises", Code: Code{System: policy.SystemCPT, Code: "97110", Display: "Therapeutic exercises"},
				Course: &TherapySpan{Start: chart.DayDate(*agoT(7)), End: *agoT(7)}},
		},
	}
	if diff := cmp.Diff(*f, want); diff != "" {
		t.Errorf("finding (-got +want):\n%s", diff)
	}
	if a.TherapyMetOn == nil || !a.TherapyMetOn.Equal(wantOn) {
		t.Errorf("TherapyMetOn = %v, want %v", a.TherapyMetOn, wantOn)
	}

	// A lapsed course (last visit long before D) gets no date to aim for.
	rec = &chart.Record{Conditions: []chart.Condition{lbp(160)}, Procedures: ptVisits(120, 100, 7)}
	if a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow); a.TherapyMetOn != nil {
		t.Errorf("lapsed course: TherapyMetOn = %v, want nil", a.TherapyMetOn)
	}
}

func TestAssessNameFallbackIsMarked(t *testing.T) {
	rec := &chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{medReq("m", "1", "Naproxen 500 MG Oral Tablet", 60, 60, 0)}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	f := a.Finding(ConservativeTherapyMet)
	if f == nil || len(f.Evidence) != 1 {
		t.Fatalf("findings %+v", a.Findings)
	}
	want := Evidence{Source: "MedicationRequest/m", Date: agoT(60), Latest: agoT(60), DateText: ymd(agoT(60)), Display: "naproxen", ByText: true,
		Code:   Code{System: policy.SystemRxNorm, Code: "7258", Display: "naproxen"},
		Course: &TherapySpan{Start: chart.DayDate(*agoT(60)), End: testD}}
	if diff := cmp.Diff(f.Evidence[0], want); diff != "" {
		t.Errorf("evidence (-got +want):\n%s", diff)
	}
	// "oxycodone" must not match the word "codeine", nor "morphine" "hydromorphone".
	rec.MedicationRequests = []chart.MedicationRequest{medReq("m", "1", "hydromorphone-like product", 60, 60, 0)}
	rec.MedicationRequests[0].MedicationCodeableConcept.Coding[0].Display = ptr("Hydromorphone 2 MG Oral Tablet")
	a = Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if f := a.Finding(ConservativeTherapyMet); f == nil || f.Evidence[0].Code.Code != "3423" {
		t.Errorf("hydromorphone matched %+v, want ingredient 3423", a.Findings)
	}
}

func TestAssessRedFlagEvidence(t *testing.T) {
	rec := &chart.Record{Conditions: []chart.Condition{
		withClinical(icd("z", "Z85.3", "Personal history of malignant neoplasm of breast", 2000), "inactive"),
		lbp(21),
	}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	want := Finding{
		Code: RedFlagMalignancy,
		// The back pain is the pairing the history code needs, said as such.
		Text: "Known or suspected malignancy: Personal history of malignant neoplasm of breast (2019-12-10), with new back pain since 2025-05-11.",
		Evidence: []Evidence{
			{Source: "Condition/z", Date: agoT(2000), Latest: agoT(2000), DateText: ymd(agoT(2000)), Onset: true, Display: "Personal history of malignant neoplasm of breast", Code: Code{System: policy.SystemICD10, Code: "Z85.3", Display: "Personal history of malignant neoplasm of breast"}, Paired: true, Kind: "cancer-history"},
			{Source: "Condition/lbp", Date: agoT(21), Latest: agoT(21), DateText: ymd(agoT(21)), Onset: true, Display: "Low back pain, unspecified", Code: Code{System: policy.SystemICD10, Code: "M54.50", Display: "Low back pain, unspecified"}, Pairing: "new back pain"},
		},
	}
	if diff := cmp.Diff(a.Findings[0], want); diff != "" {
		t.Errorf("finding (-got +want):\n%s", diff)
	}

	// An entry that counts alone comes first; the pairing clause follows
	// the entry that needed it.
	rec = &chart.Record{
		Conditions:   []chart.Condition{icd("ivdu", "F11.20", "Opioid dependence, uncomplicated", 200), lbp(10)},
		Observations: []chart.Observation{temperature("t", "38.6", "Cel", 1)},
	}
	a = Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if f := a.Finding(RedFlagInfection); f == nil || f.Text != "Suspected spinal infection: Body temperature 38.6 Cel ("+ymd(agoT(1))+"); Opioid dependence, uncomplicated ("+ymd(agoT(200))+"), with new back pain since "+ymd(agoT(10))+"." {
		t.Errorf("infection finding %+v", f)
	}

	rec = &chart.Record{Observations: []chart.Observation{temperature("t", "101.2", "[degF]", 1)}}
	a = Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if got, want := a.Findings[0].Evidence[0].Display, "Body temperature 101.2 [degF]"; got != want {
		t.Errorf("fever display %q, want %q", got, want)
	}
}

func TestAssessXrayFirst(t *testing.T) {
	on, err := policy.Parse("xray.yaml", []byte("id: xray-payer\nname: X-ray Health\nmatch: {payor_displays: [X-ray Health]}\nxray_first: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	base := chart.Record{Conditions: []chart.Condition{lbp(90)}, Procedures: sixWeeksPT()}
	withXR := base
	withXR.ImagingStudies = []chart.ImagingStudy{study("xr", "DX", "122496007", 30)}
	withXRCode := base
	withXRCode.DiagnosticReports = []chart.DiagnosticReport{report("xr", policy.SystemLOINC, "24972-2", "XR Lumbar spine Views", 30)}
	oldXR := base
	oldXR.ImagingStudies = []chart.ImagingStudy{study("xr", "CR", "122496007", 400)}
	tests := []struct {
		name string
		pol  *policy.Policy
		rec  chart.Record
		want summary
	}{
		{"off by default", defaultPolicy(), base, summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"on, none", on, base, summary{CriteriaNotMet, []string{ConservativeTherapyMet, XrayMissing}, 42}},
		{"on, DX study", on, withXR, summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"on, LOINC report", on, withXRCode, summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"on, radiograph too old", on, oldXR, summary{CriteriaNotMet, []string{ConservativeTherapyMet, XrayMissing}, 42}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(Assess(cpt72148(), chart.Derive(&tt.rec), tt.pol, laterNow))
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

// TestAssessPayerOverlay: a payer that accepts 28 days against the default 42.
func TestAssessPayerOverlay(t *testing.T) {
	payer, err := policy.Parse("acme.yaml", []byte(`id: acme
name: Acme Health
match:
  payor_identifiers: [ACME01]
conservative_therapy:
  min_days: 28
`))
	if err != nil {
		t.Fatal(err)
	}
	rec := &chart.Record{Conditions: []chart.Condition{lbp(90)}, Procedures: ptVisits(40, 5, 7)} // 35 days
	for _, tt := range []struct {
		pol  *policy.Policy
		want summary
	}{
		{payer, summary{CriteriaMet, []string{ConservativeTherapyMet}, 35}},
		{defaultPolicy(), summary{CriteriaNotMet, []string{ConservativeTherapyInsufficient}, 35}},
	} {
		a := Assess(cpt72148(), chart.Derive(rec), tt.pol, laterNow)
		if diff := cmp.Diff(summarize(a), tt.want); diff != "" {
			t.Errorf("%s (-got +want):\n%s", tt.pol.ID, diff)
		}
		if a.TherapyRequiredDays != tt.pol.ConservativeTherapy.MinDays {
			t.Errorf("%s: TherapyRequiredDays %d", tt.pol.ID, a.TherapyRequiredDays)
		}
	}
	if payer.ConservativeTherapy.LookbackDays != 180 || payer.ConservativeTherapy.MaxGapDays != 21 {
		t.Errorf("overlay lost inherited values: %+v", payer.ConservativeTherapy)
	}
}

func TestAssessTherapyOptions(t *testing.T) {
	parse := func(extra string) *policy.Policy {
		t.Helper()
		p, err := policy.Parse("p.yaml", []byte("id: p\nname: P\nmatch: {payor_identifiers: [P]}\n"+extra))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	followup := parse("conservative_therapy: {require_followup: true}\n")
	visits := parse("conservative_therapy: {min_visits: 8}\n")
	ptNotAlone := parse("conservative_therapy: {classes: {physical_therapy: {alone: false}}}\n")
	gaba := parse("conservative_therapy: {classes: {gabapentinoid: {counts: true}}}\n")

	pt := chart.Record{Conditions: []chart.Condition{lbp(90)}, Procedures: sixWeeksPT()}
	ptReeval := pt
	ptReeval.Procedures = append(sixWeeksPT(), proc("re", policy.SystemCPT, "97164", "PT re-evaluation", 3))
	ptNSAID := pt
	ptNSAID.MedicationRequests = []chart.MedicationRequest{medReq("m", "5640", "ibuprofen", 45, 30, 0)}
	gabapentin := chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{medReq("m", "25480", "gabapentin", 60, 60, 0)}}
	// Lyrica 75 MG (SBD) and the Gralise sample pack (BPCK), coded without display text.
	lyrica := chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{medReq("m", "607038", "", 60, 60, 0)}}
	gralisePack := chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{medReq("m", "2398512", "", 45, 45, 0)}}
	tests := []struct {
		name string
		pol  *policy.Policy
		rec  chart.Record
		want summary
	}{
		{"follow-up required, none", followup, pt, summary{CriteriaNotMet, []string{ConservativeTherapyInsufficient}, 42}},
		{"follow-up required, re-evaluation", followup, ptReeval, summary{CriteriaMet, []string{ConservativeTherapyMet}, 46}},
		{"8 visits required, 7 documented", visits, pt, summary{CriteriaNotMet, []string{ConservativeTherapyInsufficient}, 42}},
		{"8 visits required, 8 documented", visits, ptReeval, summary{CriteriaMet, []string{ConservativeTherapyMet}, 46}},
		{"class that does not count alone", ptNotAlone, pt, summary{CriteriaNotMet, []string{ConservativeTherapyMissing}, 0}},
		{"class that does not count alone, with an NSAID", ptNotAlone, ptNSAID, summary{CriteriaMet, []string{ConservativeTherapyMet}, 42}},
		{"gabapentinoids turned on", gaba, gabapentin, summary{CriteriaMet, []string{ConservativeTherapyMet}, 60}},
		{"branded gabapentinoid without display, gabapentinoids turned on", gaba, lyrica, summary{CriteriaMet, []string{ConservativeTherapyMet}, 60}},
		{"branded gabapentinoid pack without display, gabapentinoids turned on", gaba, gralisePack, summary{CriteriaMet, []string{ConservativeTherapyMet}, 45}},
		{"branded gabapentinoid without display, default policy", defaultPolicy(), lyrica, summary{CriteriaNotMet, []string{ConservativeTherapyMissing}, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(Assess(cpt72148(), chart.Derive(&tt.rec), tt.pol, laterNow))
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

func TestAssessContrast(t *testing.T) {
	radic := []chart.Condition{icd("r", "M54.16", "Radiculopathy, lumbar region", 60)}
	malig := []chart.Condition{icd("ca", "C50.9", "", 60)}
	ces := []chart.Condition{icd("ces", "G83.4", "", 1)}
	surgery := []chart.Condition{icd("z", "Z98.1", "", 700), icd("r", "M54.17", "Radiculopathy, lumbosacral region", 30)}
	type result struct {
		Review      bool
		Recommended Contrast
		Suggested   *Code
	}
	cptCode := func(c, d string) *Code { return &Code{System: policy.SystemCPT, Code: c, Display: d} }
	tests := []struct {
		name  string
		order Order
		conds []chart.Condition
		want  result
	}{
		{"72149 for radiculopathy", order(policy.SystemCPT, "72149"), radic, result{true, ContrastWithout, cptCode("72148", "MRI lumbar spine without contrast")}},
		{"72149 with malignancy", order(policy.SystemCPT, "72149"), malig, result{true, ContrastWithoutAndWith, cptCode("72158", "MRI lumbar spine without and with contrast")}},
		{"72158 without red flags", order(policy.SystemCPT, "72158"), radic, result{true, ContrastWithout, cptCode("72148", "MRI lumbar spine without contrast")}},
		{"72158 with malignancy", order(policy.SystemCPT, "72158"), malig, result{false, ContrastWithoutAndWith, nil}},
		{"72158 with cauda equina", order(policy.SystemCPT, "72158"), ces, result{false, ContrastWithout, nil}},
		{"72158 with prior surgery", order(policy.SystemCPT, "72158"), surgery, result{false, ContrastWithoutAndWith, nil}},
		{"72148 with malignancy is not questioned", order(policy.SystemCPT, "72148"), malig, result{false, ContrastWithoutAndWith, nil}},
		{"72148 for radiculopathy", order(policy.SystemCPT, "72148"), radic, result{false, ContrastWithout, nil}},
		{"contrast unspecified never", order(policy.SystemLOINC, "24968-0"), radic, result{false, ContrastWithout, nil}},
		{"LOINC with-contrast gets a LOINC suggestion", order(policy.SystemLOINC, "30678-7"), radic, result{true, ContrastWithout, &Code{System: policy.SystemLOINC, Code: "30679-5", Display: "MR Lumbar spine WO contrast"}}},
		{"LOINC limited with-contrast", order(policy.SystemLOINC, "36100-6"), malig, result{true, ContrastWithoutAndWith, &Code{System: policy.SystemLOINC, Code: "24967-2", Display: "MR Lumbar spine WO and W contrast IV"}}},
		{"SNOMED with-contrast gets a SNOMED suggestion", order(policy.SystemSNOMED, "41333006"), radic, result{true, ContrastWithout, &Code{System: policy.SystemSNOMED, Code: "394451000119106", Display: "Magnetic resonance imaging of lumbar spine without contrast"}}},
		{"SNOMED has no without-and-with code: CPT", order(policy.SystemSNOMED, "709653005"), malig, result{true, ContrastWithoutAndWith, cptCode("72158", "MRI lumbar spine without and with contrast")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Assess(tt.order, chart.Derive(&chart.Record{Conditions: tt.conds}), defaultPolicy(), laterNow)
			got := result{a.Has(ContrastReview), a.RecommendedContrast, a.SuggestedCode}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
			if f := a.Finding(ContrastReview); f != nil && (f.Text == "" || f != &a.Findings[len(a.Findings)-1]) {
				t.Errorf("contrast-review must come last with a text: %+v", a.Findings)
			}
		})
	}
}

func TestAssessNilInputs(t *testing.T) {
	a := Assess(cpt72148(), chart.Derive(nil), nil, laterNow)
	if diff := cmp.Diff(summarize(a), summary{CriteriaNotMet, []string{IndicationMissing, ConservativeTherapyMissing}, 0}); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

func TestFindingTextsUseDates(t *testing.T) {
	rec := &chart.Record{Conditions: []chart.Condition{lbp(200)}, ImagingStudies: []chart.ImagingStudy{study("mr", "MR", "122496007", 90)}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	f := a.Finding(PriorLumbarMRI)
	if f == nil || !strings.Contains(f.Text, "2025-03-03") || a.PriorMRI == nil || a.PriorMRI.Source != "ImagingStudy/mr" || a.PriorMRI.Display != "MR Lumbar spine" {
		t.Errorf("prior MRI finding %+v, PriorMRI %+v", f, a.PriorMRI)
	}
}

// TestAssessJoinsRepeatedOrdersWithoutSupply: orders of one class without a
// supply duration are one day each, joined into a course when the gaps are
// within the policy's maximum gap (21 days); a longer gap starts a new course.
func TestAssessJoinsRepeatedOrdersWithoutSupply(t *testing.T) {
	rec := &chart.Record{Conditions: []chart.Condition{lbp(120)}, MedicationRequests: []chart.MedicationRequest{
		medReq("a", "7258", "naproxen", 63, 0, 0),
		medReq("b", "7258", "naproxen", 45, 0, 0),
		medReq("c", "7258", "naproxen", 25, 0, 0),
		medReq("d", "7258", "naproxen", 3, 0, 0),
	}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	// 63 -> 45 -> 25 days before D: gaps of 18 and 20 days join (38 days);
	// 25 -> 3: a gap of 22 days starts a new course.
	if a.TherapyDays != 38 {
		t.Errorf("TherapyDays = %d, want 38", a.TherapyDays)
	}
}

// TestAssessNotCounted: entries that looked relevant but did not count are
// named with their reason (issue 13).
func TestAssessNotCounted(t *testing.T) {
	undated := medReq("u", "7258", "naproxen 500 MG Oral Tablet", 0, 0, 0)
	undated.AuthoredOn = nil
	old := proc("old", policy.SystemCPT, "97110", "Therapeutic exercises", 300)
	rec := &chart.Record{
		Conditions:         []chart.Condition{lbp(400)},
		MedicationRequests: []chart.MedicationRequest{undated},
		Procedures:         []chart.Procedure{old},
		Unreadable:         []chart.Unreadable{{ResourceType: "MedicationRequest", ID: "bad", Display: "Temazepam 15 MG Oral Capsule", Date: "2025-05-20", Reason: "invalid"}},
		OtherPatient:       map[string]int{"Condition": 2},
	}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	got := map[string]string{}
	for _, nc := range a.NotCounted {
		got[nc.Reason] = nc.Display + "|" + nc.DateText
	}
	want := map[string]string{
		ReasonNoDate:        "naproxen 500 MG Oral Tablet|",
		ReasonOutsideWindow: "Therapeutic exercises|" + ymd(agoT(300)),
		ReasonUnreadable:    "Temazepam 15 MG Oral Capsule|2025-05-20",
		ReasonOtherPatient:  "2 Condition entries about another patient|",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("not counted (-got +want):\n%s", diff)
	}
}

// TestAssessRedFlagDatedAfterTheOrder: a red flag dated after D (a future or
// mistyped date) is not evidence for the order, and the answer says so.
func TestAssessRedFlagDatedAfterTheOrder(t *testing.T) {
	rec := &chart.Record{Conditions: []chart.Condition{lbp(20), icd("ces", "G83.4", "Cauda equina syndrome", -3000)}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if a.Has(RedFlagCaudaEquina) {
		t.Fatalf("a red flag dated after the order counted: %+v", a.Findings)
	}
	if len(a.NotCounted) != 1 || a.NotCounted[0].Reason != ReasonAfterOrder || a.NotCounted[0].Display != "Cauda equina syndrome" {
		t.Errorf("not counted = %+v, want the cauda equina Condition dated after the order", a.NotCounted)
	}
}

// TestAssessCombinationNotMet: a code that counts only in a combination
// (Z85.3 with new back pain) whose pairing fails is named as not counted,
// with what it needs and what the chart has instead (issue 17, scenario e16).
func TestAssessCombinationNotMet(t *testing.T) {
	z85 := withClinical(icd("z", "Z85.3", "Personal history of malignant neoplasm of breast", 2000), "inactive")
	tests := []struct {
		name  string
		conds []chart.Condition
		want  []NotCounted
	}{
		{"old back pain", []chart.Condition{z85, lbp(120)}, []NotCounted{{
			Reason: ReasonCombinationNotMet, What: "Known or suspected malignancy",
			Display: "Personal history of malignant neoplasm of breast", DateText: ymd(agoT(2000)), Source: "Condition/z",
			Needs: "back pain that began within 90 days of the order", Instead: "the back-pain diagnosis is dated " + ymd(agoT(120)),
		}}},
		{"no back pain", []chart.Condition{z85}, []NotCounted{{
			Reason: ReasonCombinationNotMet, What: "Known or suspected malignancy",
			Display: "Personal history of malignant neoplasm of breast", DateText: ymd(agoT(2000)), Source: "Condition/z",
			Needs: "back pain that began within 90 days of the order", Instead: "no back-pain diagnosis is coded",
		}}},
		// The pairing holds: the red flag counts and nothing is listed.
		{"new back pain", []chart.Condition{z85, lbp(30)}, nil},
		// Old back pain alone matches no combination part of its own.
		{"back pain only", []chart.Condition{lbp(120)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Assess(cpt72148(), chart.Derive(&chart.Record{Conditions: tt.conds}), defaultPolicy(), laterNow)
			if diff := cmp.Diff(a.NotCounted, tt.want); diff != "" {
				t.Errorf("not counted (-got +want):\n%s", diff)
			}
			if tt.name == "no back pain" {
				// Back pain only as the order's reason: named as such,
				// never "no back-pain diagnosis" beside the card's
				// "Diagnosis: ... (the order's reason)".
				o := cpt72148()
				o.ReasonCodes = []Code{{System: policy.SystemICD10, Code: "M54.50", Display: "Low back pain, unspecified"}}
				a := Assess(o, chart.Derive(&chart.Record{Conditions: tt.conds}), defaultPolicy(), laterNow)
				if len(a.NotCounted) != 1 || a.NotCounted[0].Instead != "the back-pain diagnosis is only the order's reason, which has no onset date" {
					t.Errorf("with the order's reason: not counted %+v", a.NotCounted)
				}
			}
			if got, want := a.Has(RedFlagMalignancy), tt.want == nil && len(tt.conds) == 2; got != want {
				t.Errorf("malignancy red flag %v, want %v", got, want)
			}
		})
	}
}

// TestAssessIndicationEvidence: the diagnosis that made the indication is
// on the Assessment: the chart's Conditions, else the order's reasonCode.
func TestAssessIndicationEvidence(t *testing.T) {
	recorded := icd("r", "M54.16", "Radiculopathy, lumbar region", 0)
	recorded.OnsetDateTime, recorded.RecordedDate = nil, ago(40)
	rec := &chart.Record{Conditions: []chart.Condition{lbp(14), recorded,
		withClinical(icd("old", "M54.42", "Lumbago with sciatica, left side", 900), "resolved")}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	want := []Evidence{
		{Source: "Condition/r", Date: agoT(40), Latest: agoT(40), DateText: ymd(agoT(40)), Display: "Radiculopathy, lumbar region", Code: Code{System: policy.SystemICD10, Code: "M54.16", Display: "Radiculopathy, lumbar region"}},
		{Source: "Condition/lbp", Date: agoT(14), Latest: agoT(14), DateText: ymd(agoT(14)), Onset: true, Display: "Low back pain, unspecified", Code: Code{System: policy.SystemICD10, Code: "M54.50", Display: "Low back pain, unspecified"}},
	}
	if diff := cmp.Diff(a.Indication, want); diff != "" {
		t.Errorf("indication (-got +want):\n%s", diff)
	}

	o := cpt72148()
	o.ReasonCodes = []Code{{System: policy.SystemICD10, Code: "J45.909", Display: "Asthma"}, {System: policy.SystemICD10, Code: "M54.16", Display: "Radiculopathy, lumbar region"}}
	a = Assess(o, chart.Derive(&chart.Record{}), defaultPolicy(), laterNow)
	want = []Evidence{{Source: "ServiceRequest/mri", FromOrder: true, Display: "Radiculopathy, lumbar region", Code: Code{System: policy.SystemICD10, Code: "M54.16", Display: "Radiculopathy, lumbar region"}}}
	if diff := cmp.Diff(a.Indication, want); diff != "" {
		t.Errorf("indication from the order (-got +want):\n%s", diff)
	}

	a = Assess(cpt72148(), chart.Derive(&chart.Record{}), defaultPolicy(), laterNow)
	if a.Indication != nil || !a.Has(IndicationMissing) {
		t.Errorf("no diagnosis: indication %+v, findings %+v", a.Indication, a.Findings)
	}
}

// TestAssessUnreadableWithoutID: unreadable entries without an id are each
// named (none merged into another as a repeat), by display when one was read,
// else by their type, else as entries without a type.
func TestAssessUnreadableWithoutID(t *testing.T) {
	rec := &chart.Record{
		Conditions: []chart.Condition{lbp(20)},
		Unreadable: []chart.Unreadable{
			{ResourceType: "Condition", Display: "Cauda equina syndrome", Reason: "a member has the wrong JSON type"},
			{ResourceType: "Condition", Reason: "a member has the wrong JSON type"},
			{ResourceType: "Observation", Reason: "a member has the wrong JSON type"},
			{ResourceType: "FooBar", ID: "f1", Reason: "the resource type is not a FHIR R4 type"},
			{Reason: "the entry is not a JSON object"},
		},
	}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	var got []NotCounted
	for _, nc := range a.NotCounted {
		if nc.Reason == ReasonUnreadable {
			got = append(got, nc)
		}
	}
	want := []NotCounted{
		{Reason: ReasonUnreadable, What: "Condition", Display: "Cauda equina syndrome"},
		{Reason: ReasonUnreadable, What: "Condition", Display: "A Condition entry"},
		{Reason: ReasonUnreadable, What: "Observation", Display: "An Observation entry"},
		{Reason: ReasonUnreadable, What: "FooBar", Display: "A FooBar entry", Source: "FooBar/f1"},
		{Reason: ReasonUnreadable, Display: "An entry without a resource type"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("unreadable entries (-got +want):\n%s", diff)
	}
}

// TestAssessSaysWhyUnchecked: the assessment carries why searches were not
// checked (too large, coverage not checked, note search failed) for the
// cards; the outcome stays indeterminate.
func TestAssessSaysWhyUnchecked(t *testing.T) {
	rec := &chart.Record{
		Conditions:  []chart.Condition{lbp(20)},
		Unavailable: []chart.Search{chart.SearchCoverage, chart.SearchProcedures},
		Shortfalls: map[chart.Search]chart.Shortfall{
			chart.SearchProcedures:         {Limit: 2000},
			chart.SearchDocumentReferences: {Failed: true},
		},
	}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if a.Outcome != CriteriaIndeterminate {
		t.Errorf("outcome = %s, want %s", a.Outcome, CriteriaIndeterminate)
	}
	if diff := cmp.Diff(a.TooLarge, map[string]Limit{"procedures": {Max: 2000}}); diff != "" {
		t.Errorf("TooLarge (-got +want):\n%s", diff)
	}
	if !a.CoverageUnchecked || !a.NotesFailed || a.NotesChecked {
		t.Errorf("CoverageUnchecked = %t, NotesFailed = %t, NotesChecked = %t; want true, true, false", a.CoverageUnchecked, a.NotesFailed, a.NotesChecked)
	}
}

// TestAssessNamesStatusesThatDoNotCount: an entry that looks relevant but
// whose status does not count is named with that status, never dropped in
// silence (issue 13; DECISIONS.md "Statuses that count"): a cancelled or
// planned order, a therapy visit not done or without a status, a fever
// reading whose status does not count, a cancelled lumbar MRI, and a red-flag
// Condition that has ended in any abatement form. Entered-in-error entries
// were never valid (FHIR R4) and stay out.
func TestAssessNamesStatusesThatDoNotCount(t *testing.T) {
	cancelled := medReq("c", "7258", "naproxen 500 MG Oral Tablet", 60, 30, 1)
	cancelled.Status = "cancelled"
	planned := medReq("p", "7258", "naproxen 500 MG Oral Tablet", 60, 30, 1)
	planned.Intent = "plan"
	eie := medReq("e", "7258", "naproxen 500 MG Oral Tablet", 60, 30, 1)
	eie.Status = "entered-in-error"
	notDone := proc("nd", policy.SystemCPT, "97110", "Therapeutic exercises", 50)
	notDone.Status = r4.EventStatusNotDone
	noStatus := proc("ns", policy.SystemCPT, "97110", "Therapeutic exercises", 40)
	noStatus.StatusPresent = false
	fever := temperature("t", "38.6", "Cel", 2)
	fever.Status = r4.ObservationStatusCancelled
	mri := study("mr", "MR", "122496007", 90)
	mri.Status = r4.ImagingStudyStatusCancelled
	ces := func(id string, f func(*chart.Condition)) chart.Condition {
		c := icd(id, "G83.4", "Cauda equina syndrome", 800)
		c.ClinicalStatus = nil
		f(&c)
		return c
	}
	tests := []struct {
		name string
		rec  chart.Record
		want []NotCounted
	}{
		{"cancelled order", chart.Record{MedicationRequests: []chart.MedicationRequest{cancelled}},
			[]NotCounted{{Reason: ReasonStatus, What: "NSAID", Display: "naproxen 500 MG Oral Tablet", DateText: ymd(agoT(60)), Source: "MedicationRequest/c", Why: "status cancelled"}}},
		{"planned order", chart.Record{MedicationRequests: []chart.MedicationRequest{planned}},
			[]NotCounted{{Reason: ReasonStatus, What: "NSAID", Display: "naproxen 500 MG Oral Tablet", DateText: ymd(agoT(60)), Source: "MedicationRequest/p", Why: "intent plan, not an order"}}},
		{"entered in error", chart.Record{MedicationRequests: []chart.MedicationRequest{eie}}, nil},
		{"therapy not done or without status", chart.Record{Procedures: []chart.Procedure{notDone, noStatus}}, []NotCounted{
			{Reason: ReasonStatus, What: "physical therapy", Display: "Therapeutic exercises", DateText: ymd(agoT(50)), Source: "Procedure/nd", Why: "status not-done"},
			{Reason: ReasonStatus, What: "physical therapy", Display: "Therapeutic exercises", DateText: ymd(agoT(40)), Source: "Procedure/ns", Why: "no status recorded"},
		}},
		{"fever reading cancelled", chart.Record{Observations: []chart.Observation{fever}},
			[]NotCounted{{Reason: ReasonStatus, What: "Suspected spinal infection", Display: "Body temperature 38.6 Cel", DateText: ymd(agoT(2)), Source: "Observation/t", Why: "status cancelled"}}},
		{"lumbar MRI cancelled", chart.Record{ImagingStudies: []chart.ImagingStudy{mri}},
			[]NotCounted{{Reason: ReasonStatus, What: "prior lumbar imaging", Display: "MR Lumbar spine", DateText: ymd(agoT(90)), Source: "ImagingStudy/mr", Why: "status cancelled"}}},
		{"abatementBoolean", chart.Record{Conditions: []chart.Condition{ces("b", func(c *chart.Condition) { c.AbatementBoolean = ptr(true) })}},
			[]NotCounted{{Reason: ReasonNotCurrent, What: "Suspected cauda equina syndrome or cord compression", Display: "Cauda equina syndrome", DateText: ymd(agoT(800)), Source: "Condition/b", Why: "ended, date not recorded"}}},
		{"abatementString", chart.Record{Conditions: []chart.Condition{ces("s", func(c *chart.Condition) { c.AbatementString = ptr("after surgery") })}},
			[]NotCounted{{Reason: ReasonNotCurrent, What: "Suspected cauda equina syndrome or cord compression", Display: "Cauda equina syndrome", DateText: ymd(agoT(800)), Source: "Condition/s", Why: "ended, date not recorded"}}},
		{"abatementDateTime", chart.Record{Conditions: []chart.Condition{ces("d", func(c *chart.Condition) { c.AbatementDateTime = ago(700) })}},
			[]NotCounted{{Reason: ReasonNotCurrent, What: "Suspected cauda equina syndrome or cord compression", Display: "Cauda equina syndrome", DateText: ymd(agoT(800)), Source: "Condition/d", Why: "ended " + ymd(agoT(700))}}},
		{"resolved", chart.Record{Conditions: []chart.Condition{withClinical(icd("r", "G83.4", "Cauda equina syndrome", 800), "resolved")}},
			[]NotCounted{{Reason: ReasonNotCurrent, What: "Suspected cauda equina syndrome or cord compression", Display: "Cauda equina syndrome", DateText: ymd(agoT(800)), Source: "Condition/r", Why: "clinical status resolved"}}},
		// An abatement dated after D leaves it current: the red flag counts.
		{"abatement after D", chart.Record{Conditions: []chart.Condition{ces("f", func(c *chart.Condition) { c.AbatementDateTime = ago(-10) })}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.rec
			rec.Conditions = append(rec.Conditions, lbp(100))
			a := Assess(cpt72148(), chart.Derive(&rec), defaultPolicy(), laterNow)
			if diff := cmp.Diff(a.NotCounted, tt.want); diff != "" {
				t.Errorf("not counted (-got +want):\n%s", diff)
			}
			if a.Has(ConservativeTherapyMet) || a.Has(PriorLumbarMRI) || a.Has(RedFlagInfection) {
				t.Errorf("an entry whose status does not count was counted: %+v", a.Findings)
			}
		})
	}
}

// TestAssessEndedMalignancyIsCancerHistory: a malignancy that has ended
// (abatement[x], or resolved, inactive or in remission) is a history of
// cancer, as Z85.* is, and counts with new back pain only (ACP 2011 (Chou)
// Table 2); a refuted one never counts, and an active one counts alone.
func TestAssessEndedMalignancyIsCancerHistory(t *testing.T) {
	breast := func(id string, f func(*chart.Condition)) chart.Condition {
		c := cond(id, policy.SystemSNOMED, "254837009", "Malignant neoplasm of breast", 4000)
		f(&c)
		return c
	}
	tests := []struct {
		name string
		c    chart.Condition
		back int // back-pain onset, days before D
		want bool
		nc   string // reason the cancer is named under, "" when not named
	}{
		{"resolved with abatement, new back pain", breast("a", func(c *chart.Condition) {
			c.ClinicalStatus = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved", "")
			c.AbatementDateTime = ago(2500)
		}), 21, true, ""},
		{"remission, new back pain", breast("r", func(c *chart.Condition) {
			c.ClinicalStatus = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "remission", "")
		}), 21, true, ""},
		{"abatementString without clinicalStatus, new back pain", breast("s", func(c *chart.Condition) {
			c.ClinicalStatus = nil
			c.AbatementString = ptr("completed treatment")
		}), 30, true, ""},
		{"resolved, old back pain", breast("o", func(c *chart.Condition) {
			c.ClinicalStatus = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved", "")
		}), 120, false, ReasonCombinationNotMet},
		{"refuted, new back pain", breast("f", func(c *chart.Condition) {
			c.VerificationStatus = concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "refuted", "")
		}), 21, false, ReasonNotCurrent},
		{"active, old back pain: alone", breast("x", func(*chart.Condition) {}), 120, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &chart.Record{Conditions: []chart.Condition{tt.c, lbp(tt.back)}}
			a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
			if got := a.Has(RedFlagMalignancy); got != tt.want {
				t.Errorf("malignancy red flag %v, want %v: %+v", got, tt.want, a.Findings)
			}
			var reasons []string
			for _, nc := range a.NotCounted {
				if nc.Source == "Condition/"+*tt.c.Id {
					reasons = append(reasons, nc.Reason)
				}
			}
			var want []string
			if tt.nc != "" {
				want = []string{tt.nc}
			}
			if diff := cmp.Diff(reasons, want); diff != "" {
				t.Errorf("not counted (-got +want):\n%s", diff)
			}
			if tt.want && a.RecommendedContrast != ContrastWithoutAndWith {
				t.Errorf("contrast %v, want without and with (ACR variant 7)", a.RecommendedContrast)
			}
		})
	}
}

// TestAssessOngoingDrugUse: an opioid use disorder that is still current on
// D is drug use within the last 12 months whenever it began (DECISIONS.md:
// IV drug use counts with new back pain, never in remission); one that has
// ended, or is in remission, does not count.
func TestAssessOngoingDrugUse(t *testing.T) {
	tests := []struct {
		name string
		c    chart.Condition
		back int
		want bool
	}{
		{"active, began 900 days ago, new back pain", icd("a", "F11.20", "Opioid dependence, uncomplicated", 900), 21, true},
		{"active SNOMED, began 2000 days ago, new back pain", cond("s", policy.SystemSNOMED, "5602001", "Opioid abuse", 2000), 21, true},
		{"active, old back pain", icd("o", "F11.20", "Opioid dependence, uncomplicated", 900), 120, false},
		{"resolved, began 100 days ago", withClinical(icd("r", "F11.20", "Opioid dependence, uncomplicated", 100), "resolved"), 21, false},
		{"in remission code", icd("m", "F11.21", "Opioid dependence, in remission", 900), 21, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &chart.Record{Conditions: []chart.Condition{tt.c, lbp(tt.back)}}
			a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
			if got := a.Has(RedFlagInfection); got != tt.want {
				t.Errorf("infection red flag %v, want %v: %+v", got, tt.want, a.Findings)
			}
		})
	}
}

// TestAssessLocalCodesAreNamed: a problem or a therapy visit coded only in an
// EHR's local code system cannot be counted by the value sets, but its words
// name a red flag or a therapy: named, not dropped in silence (issue 13).
// One that also carries a standard code is read by that code.
func TestAssessLocalCodesAreNamed(t *testing.T) {
	const local = "urn:oid:1.2.840.114350.1.13.999.2.7.2.696871"
	ces := cond("ces", local, "88321", "Cauda equina syndrome", 1)
	pt := proc("pt", local, "PT101", "Physical therapy visit", 30)
	old := proc("old", local, "PT101", "Physical therapy visit", 200)
	both := cond("both", local, "88321", "Cauda equina syndrome", 1)
	both.Code.Coding = append(both.Code.Coding, coding(policy.SystemICD10, "G83.4", "Cauda equina syndrome"))
	tests := []struct {
		name string
		rec  chart.Record
		want []NotCounted
		flag bool
	}{
		{"problem", chart.Record{Conditions: []chart.Condition{ces}}, []NotCounted{{Reason: ReasonTextOnly, What: "cauda equina syndrome",
			Display: "Cauda equina syndrome", DateText: ymd(agoT(1)), Source: "Condition/ces", Why: localCodeWhy}}, false},
		{"therapy visit", chart.Record{Procedures: []chart.Procedure{pt}}, []NotCounted{{Reason: ReasonTextOnly, What: "physical therapy",
			Display: "Physical therapy visit", DateText: ymd(agoT(30)), Source: "Procedure/pt", Why: localCodeWhy, Course: span(30, 30)}}, false},
		// Before the look-back a code would not count it either: said
		// (clinical review 6, 06).
		{"therapy visit before the look-back", chart.Record{Procedures: []chart.Procedure{old}}, []NotCounted{{Reason: ReasonTextOnly, What: "physical therapy",
			Display: "Physical therapy visit", DateText: ymd(agoT(200)), Source: "Procedure/old",
			Why: localCodeWhy + "; it also ended before the 180-day look-back, so a therapy code would not count it"}}, false},
		{"local and ICD-10-CM", chart.Record{Conditions: []chart.Condition{both}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.rec
			rec.Conditions = append(rec.Conditions, lbp(10))
			a := Assess(cpt72148(), chart.Derive(&rec), defaultPolicy(), laterNow)
			if diff := cmp.Diff(a.NotCounted, tt.want); diff != "" {
				t.Errorf("not counted (-got +want):\n%s", diff)
			}
			if a.Has(RedFlagCaudaEquina) != tt.flag {
				t.Errorf("cauda equina red flag %v, want %v", a.Has(RedFlagCaudaEquina), tt.flag)
			}
		})
	}
}

// TestAssessFeverUnits: a temperature in a unit the fever rule is stated in
// counts against its threshold; one in another unit cannot be compared and
// is named (issue 13).
func TestAssessFeverUnits(t *testing.T) {
	odd := temperature("odd", "101.5", "Grad F", 2)
	rec := &chart.Record{Conditions: []chart.Condition{lbp(10)}, Observations: []chart.Observation{temperature("f", "101.3", "[degF]", 3), odd}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if !a.Has(RedFlagInfection) {
		t.Errorf("101.3 [degF] is a fever: %+v", a.Findings)
	}
	want := []NotCounted{{Reason: ReasonUnreadable, What: "Suspected spinal infection", Display: "Body temperature 101.5 Grad F", DateText: ymd(agoT(2)),
		Source: "Observation/odd", Why: "its unit is not one the fever rule is stated in"}}
	if diff := cmp.Diff(a.NotCounted, want); diff != "" {
		t.Errorf("not counted (-got +want):\n%s", diff)
	}
}

// TestAssessLumbarStudyInWordsIsNamed: an MR study that says it is of the
// lumbar spine only in words (description, an uncoded body site) cannot be
// placed by the value sets; it is named, not dropped in silence (issue 13).
// A coded one counts as before.
func TestAssessLumbarStudyInWordsIsNamed(t *testing.T) {
	words := study("w", "MR", "", 90)
	words.Description = ptr("MRI LUMBAR SPINE WO CONTRAST")
	words.Series[0].BodySite = &r4.Coding{Code: ptr("LSPINE")}
	knee := study("k", "MR", "", 60)
	knee.Description = ptr("MRI KNEE RIGHT")
	old := study("o", "MR", "", 500)
	old.Description = ptr("MRI lumbar spine")
	rec := &chart.Record{Conditions: []chart.Condition{lbp(100)}, ImagingStudies: []chart.ImagingStudy{words, knee, old}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	want := []NotCounted{{Reason: ReasonTextOnly, What: "prior lumbar imaging", Display: "MRI LUMBAR SPINE WO CONTRAST", DateText: ymd(agoT(90)),
		Source: "ImagingStudy/w", Why: "its body site and procedure are not coded in a system the criteria read"}}
	if diff := cmp.Diff(a.NotCounted, want); diff != "" {
		t.Errorf("not counted (-got +want):\n%s", diff)
	}
	if a.PriorMRI != nil {
		t.Errorf("a study placed only by words counted: %+v", a.PriorMRI)
	}
}

// TestAssessDatedOutsideIsNamed: a lumbar MRI before the repeat-imaging
// window, and a therapy order, visit or study dated after the order, are
// read but do not count: each is named with why (issue 13).
func TestAssessDatedOutsideIsNamed(t *testing.T) {
	rec := &chart.Record{
		Conditions:         []chart.Condition{lbp(100)},
		ImagingStudies:     []chart.ImagingStudy{study("old", "MR", "122496007", 430), study("new", "MR", "122496007", -5)},
		MedicationRequests: []chart.MedicationRequest{medReq("later", "7258", "naproxen 500 MG Oral Tablet", -3, 30, 0)},
		Procedures:         []chart.Procedure{proc("pt", policy.SystemCPT, "97110", "Therapeutic exercises", -2)},
	}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	got := map[string]string{}
	for _, nc := range a.NotCounted {
		got[nc.Source] = nc.Reason + "|" + nc.DateText + "|" + nc.Why
	}
	want := map[string]string{
		"ImagingStudy/old":        ReasonOutsideImagingWindow + "|" + ymd(agoT(430)) + "|before the 365-day window for prior imaging",
		"ImagingStudy/new":        ReasonAfterOrder + "|" + ymd(agoT(-5)) + "|",
		"MedicationRequest/later": ReasonAfterOrder + "|" + ymd(agoT(-3)) + "|",
		"Procedure/pt":            ReasonAfterOrder + "|" + ymd(agoT(-2)) + "|",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("not counted (-got +want):\n%s", diff)
	}
	if a.PriorMRI != nil || a.Has(ConservativeTherapyMet) {
		t.Errorf("an entry outside its window counted: %+v", a.Findings)
	}
}

// TestAssessRedFlagOutsideItsWindowIsNamed: a current Condition that counts
// only when dated within a window (new urinary retention within 14 days)
// and is dated before it, or undated, is named with the window (issue 13).
func TestAssessRedFlagOutsideItsWindowIsNamed(t *testing.T) {
	undated := icd("u", "R20.0", "Anesthesia of skin", 0)
	undated.OnsetDateTime = nil
	rec := &chart.Record{Conditions: []chart.Condition{lbp(70), icd("r", "R33.9", "Retention of urine, unspecified", 60), undated}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if a.Has(RedFlagCaudaEquina) {
		t.Fatalf("old symptoms counted as cauda equina: %+v", a.Findings)
	}
	want := []NotCounted{
		{Reason: ReasonOutsideRedFlagWindow, What: "Suspected cauda equina syndrome or cord compression", Display: "Retention of urine, unspecified",
			DateText: ymd(agoT(60)), Source: "Condition/r", Why: "counts only when dated within 14 days of the order"},
		{Reason: ReasonOutsideRedFlagWindow, What: "Suspected cauda equina syndrome or cord compression", Display: "Anesthesia of skin",
			Source: "Condition/u", Why: "counts only when dated within 14 days of the order; it is undated"},
	}
	if diff := cmp.Diff(a.NotCounted, want); diff != "" {
		t.Errorf("not counted (-got +want):\n%s", diff)
	}
}

// TestAssessOldResolvedSymptomNotNamed: a resolved Condition that would
// count only within a window it is far outside (a fever diagnosis of years
// ago) says nothing about the order and is not listed; a resolved one
// within the window is named as not current.
func TestAssessOldResolvedSymptomNotNamed(t *testing.T) {
	old := withClinical(icd("old", "R50.9", "Fever, unspecified", 1500), "resolved")
	recent := withClinical(icd("recent", "R50.9", "Fever, unspecified", 5), "resolved")
	a := Assess(cpt72148(), chart.Derive(&chart.Record{Conditions: []chart.Condition{lbp(20), old, recent}}), defaultPolicy(), laterNow)
	var got []string
	for _, nc := range a.NotCounted {
		got = append(got, nc.Source+"|"+nc.Reason)
	}
	if diff := cmp.Diff(got, []string{"Condition/recent|" + ReasonNotCurrent}); diff != "" {
		t.Errorf("not counted (-got +want):\n%s", diff)
	}
}

// TestAssessUncountedClassIsNamed: therapy of a class the policy lists but
// does not count (gabapentinoids by default) is named, and the therapy
// finding says it is documented; old entries are not (issue 13).
func TestAssessUncountedClassIsNamed(t *testing.T) {
	gaba := medReq("g", "25480", "gabapentin", 60, 30, 1)
	oldGaba := medReq("o", "25480", "gabapentin", 400, 30, 0)
	rec := &chart.Record{Conditions: []chart.Condition{lbp(100)}, MedicationRequests: []chart.MedicationRequest{gaba, oldGaba}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	want := []NotCounted{{Reason: ReasonPolicyExcluded, What: "gabapentinoid", Display: "gabapentin", DateText: ymd(agoT(60)), Source: "MedicationRequest/g",
		Why: "this policy does not count gabapentinoid as conservative therapy"}}
	if diff := cmp.Diff(a.NotCounted, want); diff != "" {
		t.Errorf("not counted (-got +want):\n%s", diff)
	}
	if f := a.Finding(ConservativeTherapyMissing); f == nil || !strings.Contains(f.Text, "Gabapentinoid (gabapentin) is documented, but this policy does not count it.") {
		t.Errorf("therapy finding %+v", f)
	}
}

// TestAssessReferralIsNamed: a procedure coded with a code that is not a
// counted therapy, but whose words name one (a referral for physical
// therapy), is not therapy done; within the look-back it is named, older
// ones are not (issue 13).
func TestAssessReferralIsNamed(t *testing.T) {
	ref := proc("ref", policy.SystemSNOMED, "444831000124102", "Referral for physical therapy", 25)
	old := proc("old", policy.SystemSNOMED, "444831000124102", "Referral for physical therapy", 900)
	a := Assess(cpt72148(), chart.Derive(&chart.Record{Conditions: []chart.Condition{lbp(60)}, Procedures: []chart.Procedure{ref, old}}), defaultPolicy(), laterNow)
	want := []NotCounted{{Reason: ReasonNotTherapyCode, What: "physical therapy", Display: "Referral for physical therapy", DateText: ymd(agoT(25)), Source: "Procedure/ref",
		Why: "its code is not a physical therapy treatment the policy counts (a referral or an order is not therapy done)"}}
	if diff := cmp.Diff(a.NotCounted, want); diff != "" {
		t.Errorf("not counted (-got +want):\n%s", diff)
	}
	if !a.Has(ConservativeTherapyMissing) {
		t.Errorf("a referral counted as therapy: %+v", a.Findings)
	}
}

// TestAssessCombinationNotMetOnsetByAge: a back-pain onset placed only by
// the patient's age names a year, so it cannot show the pain is new; the
// answer says the diagnosis is dated at that age.
func TestAssessCombinationNotMetOnsetByAge(t *testing.T) {
	back := icd("b", "M54.50", "Low back pain, unspecified", 0)
	back.OnsetDateTime = nil
	back.OnsetAge = &r4.Age{Value: ptr(json.Number("58")), Code: ptr("a"), System: ptr("http://unitsofmeasure.org")}
	rec := &chart.Record{Patient: &r4.Patient{BirthDate: ptr("1966-08-10")},
		Conditions: []chart.Condition{icd("z", "Z85.3", "Personal history of malignant neoplasm of breast", 2000), back}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if a.Has(RedFlagMalignancy) || len(a.NotCounted) != 1 || a.NotCounted[0].Instead != "the back-pain diagnosis is dated at age 58 a" {
		t.Errorf("not counted %+v", a.NotCounted)
	}
}

// TestAssessImpreciseStartRunningPastD: a therapy dated only by a year or
// month that contains D starts, at the latest, on D (a course never gains
// days from imprecision); it is not "dated after the order".
func TestAssessImpreciseStartRunningPastD(t *testing.T) {
	m := medReq("y", "7258", "naproxen", 0, 30, 1)
	m.AuthoredOn = ptr(testD.Format("2006"))
	a := Assess(cpt72148(), chart.Derive(&chart.Record{Conditions: []chart.Condition{lbp(100)}, MedicationRequests: []chart.MedicationRequest{m}}), defaultPolicy(), laterNow)
	if len(a.NotCounted) != 0 {
		t.Errorf("not counted %+v, want none", a.NotCounted)
	}
	if a.TherapyDays != 0 || a.TherapyFrom == nil || !a.TherapyFrom.Equal(testD) {
		t.Errorf("therapy %d days from %v, want 0 days from D", a.TherapyDays, a.TherapyFrom)
	}
}

// TestAssessTherapyDurationsAndDates: therapy whose duration or date cannot
// be used is counted conservatively and named with the reason (DECISIONS.md
// "Dates", "Conservative therapy"; issue 13, nothing dropped in silence):
// an unusable supply duration and an active order without one count as a
// single day; a fractional supply rounds down; an invalid date is said to
// be invalid, not missing; a reversed period counts as its start day only;
// therapy begun before the look-back keeps its recorded date; a one-day
// course reads "1 day".
func TestAssessTherapyDurationsAndDates(t *testing.T) {
	withSupply := func(m chart.MedicationRequest, value, code string) chart.MedicationRequest {
		d := &r4.Duration{Value: ptr(json.Number(value))}
		if code != "" {
			d.Code = ptr(code)
		}
		m.DispenseRequest = &r4.MedicationRequestDispenseRequest{ExpectedSupplyDuration: d}
		return m
	}
	completed := func(m chart.MedicationRequest) chart.MedicationRequest { m.Status = "completed"; return m }
	naproxen := func(authored int) chart.MedicationRequest {
		return medReq("nap", "7258", "naproxen 500 MG Oral Tablet", authored, 0, 0)
	}
	ptDated := func(start, end string) chart.Procedure {
		p := proc("pt", policy.SystemCPT, "97110", "Therapeutic exercises", 0)
		p.PerformedDateTime = nil
		p.PerformedPeriod = &r4.Period{Start: ptr(start), End: ptr(end)}
		return p
	}
	type nc struct{ Reason, DateText, Why string }
	tests := []struct {
		name     string
		meds     []chart.MedicationRequest
		procs    []chart.Procedure
		days     int
		met      bool
		text     string // in the therapy finding
		notText  string // never in it
		evidence string // the first evidence's date as shown
		want     []nc
	}{
		{
			name: "supply without a unit", meds: []chart.MedicationRequest{withSupply(completed(naproxen(49)), "42", "")},
			text: "counts as a single day only",
			want: []nc{{ReasonSupplyUnusable, ymd(agoT(49)), "supply duration unusable: no unit; counted as a single day"}},
		},
		{
			name: "negative supply", meds: []chart.MedicationRequest{withSupply(completed(naproxen(49)), "-42", "d")},
			want: []nc{{ReasonSupplyUnusable, ymd(agoT(49)), "supply duration unusable: value -42 is not a positive number; counted as a single day"}},
		},
		{
			name: "absurd supply", meds: []chart.MedicationRequest{withSupply(completed(naproxen(49)), "1e308", "d")},
			want: []nc{{ReasonSupplyUnusable, ymd(agoT(49)), "supply duration unusable: value 1e308 d is longer than 100 years; counted as a single day"}},
		},
		{
			name: "supply in a unit that is not time", meds: []chart.MedicationRequest{withSupply(completed(naproxen(49)), "42", "mg")},
			want: []nc{{ReasonSupplyUnusable, ymd(agoT(49)), "supply duration unusable: unit mg is not a time unit; counted as a single day"}},
		},
		{
			name: "fractional supply rounds down", meds: []chart.MedicationRequest{withSupply(completed(naproxen(49)), "41.9", "d")},
			days: 41, text: ": 41 days; at least 42 required",
		},
		{
			name: "whole supply meets the minimum", meds: []chart.MedicationRequest{withSupply(completed(naproxen(49)), "42", "d")},
			days: 42, met: true,
		},
		{
			name: "active orders without a duration, trial not met",
			meds: []chart.MedicationRequest{naproxen(30), medReq("oxy", "7804", "oxycodone 5 MG Oral Tablet", 30, 0, 0)},
			text: "active order with no supply duration or end date recorded) count as a single day only",
			want: []nc{
				{ReasonNoSupplyDuration, ymd(agoT(30)), "active order with no supply duration or end date recorded; counted as a single day"},
				{ReasonNoSupplyDuration, ymd(agoT(30)), "active order with no supply duration or end date recorded; counted as a single day"},
			},
		},
		{
			// Stopped or completed, an order without a duration in the
			// look-back is named too: how long it was taken is unknown.
			name: "completed order without a duration, trial not met",
			meds: []chart.MedicationRequest{completed(naproxen(30))},
			text: "order (completed) with no supply duration or end date recorded) counts as a single day only",
			want: []nc{{ReasonNoSupplyDuration, ymd(agoT(30)), "order (completed) with no supply duration or end date recorded; counted as a single day"}},
		},
		{
			name:  "active order without a duration beside a met trial is not named",
			meds:  []chart.MedicationRequest{naproxen(10)},
			procs: ptVisits(60, 5, 5),
			days:  55, met: true,
		},
		{
			name: "invalid date",
			procs: []chart.Procedure{func() chart.Procedure {
				p := proc("pt", policy.SystemCPT, "97110", "Therapeutic exercises", 0)
				p.PerformedDateTime = ptr("2026-13-45")
				return p
			}()},
			text: "recorded with a date that is not valid", notText: "without a start date",
			want: []nc{{ReasonNoDate, "", "date 2026-13-45 is not a valid date"}},
		},
		{
			name:  "reversed period counts as its start day",
			procs: []chart.Procedure{ptDated(*ago(10), *ago(100))},
			want:  []nc{{ReasonPeriodReversed, ymd(agoT(10)), "period end " + ymd(agoT(100)) + " is before its start " + ymd(agoT(10)) + "; counted as its start day only"}},
		},
		{
			name: "begun before the look-back keeps its recorded date",
			meds: []chart.MedicationRequest{withSupply(completed(naproxen(200)), "365", "d")},
			days: 180, met: true, evidence: ymd(agoT(200)),
			text: "The first treatment began " + ymd(agoT(200)) + ", before the 180-day look-back, so the course is counted from " + ymd(agoT(180)) + ".",
		},
		{
			name:  "one day is singular",
			procs: []chart.Procedure{ptDated(*ago(2), *ago(1))},
			days:  1, text: ": 1 day; at least", notText: "1 days",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &chart.Record{Conditions: []chart.Condition{lbp(300)}, MedicationRequests: tt.meds, Procedures: tt.procs}
			a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
			if a.TherapyDays != tt.days || a.Has(ConservativeTherapyMet) != tt.met {
				t.Errorf("therapy %d days, met %v; want %d, %v (%+v)", a.TherapyDays, a.Has(ConservativeTherapyMet), tt.days, tt.met, a.Findings)
			}
			var got []nc
			for _, n := range a.NotCounted {
				got = append(got, nc{n.Reason, n.DateText, n.Why})
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("not counted (-got +want):\n%s", diff)
			}
			var f *Finding
			for _, code := range []string{ConservativeTherapyMet, ConservativeTherapyInsufficient, ConservativeTherapyMissing} {
				if f == nil {
					f = a.Finding(code)
				}
			}
			if f == nil {
				t.Fatalf("no therapy finding: %+v", a.Findings)
			}
			if tt.text != "" && !strings.Contains(f.Text, tt.text) {
				t.Errorf("finding %q\nwant it to contain %q", f.Text, tt.text)
			}
			if tt.notText != "" && strings.Contains(f.Text, tt.notText) {
				t.Errorf("finding %q contains %q", f.Text, tt.notText)
			}
			if tt.evidence != "" && (len(f.Evidence) == 0 || f.Evidence[0].DateText != tt.evidence) {
				t.Errorf("evidence %+v, want the first dated %s as recorded", f.Evidence, tt.evidence)
			}
		})
	}
}

// TestAssessWordsOfUnlistedOrMisfiledCodes: a Condition coded in SNOMED CT
// or ICD-10-CM whose code is in no value set the policy reads but whose
// words name a red flag is named (code-not-in-value-sets), and one whose
// code is not a code of its declared system (a SNOMED CT id filed under
// ICD-10-CM) is read by its words and named with why, never dropped in
// silence. Listed codes and words that name nothing are not named.
func TestAssessWordsOfUnlistedOrMisfiledCodes(t *testing.T) {
	// 1000000000119999 is a well-formed SNOMED CT id in no shipped set.
	unlisted := cond("u", policy.SystemSNOMED, "1000000000119999", "Malignant neoplasm of left adrenal gland (disorder)", 30)
	listed := cond("l", policy.SystemSNOMED, "363346000", "Malignant neoplastic disease", 30)
	plain := cond("p", policy.SystemSNOMED, "1000000000119998", "Essential hypertension", 30)
	misfiled := cond("m", policy.SystemICD10, "278860009", "Chronic Lower Back Pain", 30)
	misfiledCES := cond("mc", policy.SystemICD10, "192970008", "Cauda equina syndrome", 1)
	// A fever counts, coded, only with new back pain (fever-diagnosis is a
	// combination part): the safety net names it in those terms, never as
	// suspected spinal infection itself (clinical review 3, finding 02).
	unlistedFever := cond("uf", policy.SystemSNOMED, "1000000000119997", "Fever (finding)", 3)
	fever := cond("f", policy.SystemSNOMED, "386661006", "Fever (finding)", 3)
	// Dated after the order: not named by the safety net (findings 03, 08).
	laterCancer := cond("lc", policy.SystemSNOMED, "1000000000119999", "Malignant neoplasm of left adrenal gland (disorder)", -30)
	laterFever := cond("lf", policy.SystemSNOMED, "1000000000119997", "Fever (finding)", -30)
	oldLBP := lbp(400)
	tests := []struct {
		name string
		rec  chart.Record
		want []NotCounted
	}{
		{"unlisted SNOMED CT code, words name cancer", chart.Record{Conditions: []chart.Condition{unlisted, lbp(10)}},
			[]NotCounted{{Reason: ReasonCodeNotListed, What: "Known or suspected malignancy", Display: "Malignant neoplasm of left adrenal gland (disorder)",
				DateText: ymd(agoT(30)), Source: "Condition/u",
				Why: "its code is not one the criteria's value sets list, so it was not counted; its words name known or suspected malignancy: if that is right, add the diagnosis with an ICD-10-CM code"}}},
		{"unlisted SNOMED CT code, words name fever, old back pain", chart.Record{Conditions: []chart.Condition{unlistedFever, oldLBP}},
			[]NotCounted{{Reason: ReasonCodeNotListed, What: "Suspected spinal infection", Display: "Fever (finding)", DateText: ymd(agoT(3)), Source: "Condition/uf",
				Why: "its code is not one the criteria's value sets list, so it was not counted; its words name fever, which counts as suspected spinal infection only with back pain that began within 90 days of the order: if that is right, add the diagnosis with an ICD-10-CM code"}}},
		{"SNOMED CT fever, old back pain", chart.Record{Conditions: []chart.Condition{fever, oldLBP}},
			[]NotCounted{{Reason: ReasonCombinationNotMet, What: "Suspected spinal infection", Display: "Fever (finding)", DateText: ymd(agoT(3)), Source: "Condition/f",
				Needs: "back pain that began within 90 days of the order", Instead: "the back-pain diagnosis is dated " + ymd(agoT(400))}}},
		{"unlisted codes dated after the order", chart.Record{Conditions: []chart.Condition{laterCancer, laterFever, lbp(10)}}, nil},
		{"listed code", chart.Record{Conditions: []chart.Condition{listed, lbp(10)}}, nil},
		{"unlisted code, words name nothing", chart.Record{Conditions: []chart.Condition{plain, lbp(10)}}, nil},
		{"SNOMED CT id under ICD-10-CM, indication", chart.Record{Conditions: []chart.Condition{misfiled}},
			[]NotCounted{{Reason: ReasonTextOnly, What: "back-pain diagnosis", Display: "Chronic Lower Back Pain", DateText: ymd(agoT(30)), Source: "Condition/m",
				Why: "coded 278860009 under ICD-10-CM, which is not an ICD-10-CM code (it has the form of a SNOMED CT code); not counted (back-pain diagnosis): correct the code"}}},
		{"SNOMED CT id under ICD-10-CM, red flag words", chart.Record{Conditions: []chart.Condition{misfiledCES, lbp(10)}},
			[]NotCounted{{Reason: ReasonTextOnly, What: "cauda equina syndrome", Display: "Cauda equina syndrome", DateText: ymd(agoT(1)), Source: "Condition/mc",
				Why: "coded 192970008 under ICD-10-CM, which is not an ICD-10-CM code (it has the form of a SNOMED CT code); not counted (cauda equina syndrome): correct the code"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Assess(cpt72148(), chart.Derive(&tt.rec), defaultPolicy(), laterNow)
			if diff := cmp.Diff(a.NotCounted, tt.want); diff != "" {
				t.Errorf("not counted (-got +want):\n%s", diff)
			}
			if listed := tt.name == "listed code"; a.Has(RedFlagCaudaEquina) || a.Has(RedFlagMalignancy) != listed || a.Has(RedFlagInfection) {
				t.Errorf("red flags %+v; want malignancy only from the listed code", a.Findings)
			}
		})
	}
}

// TestAssessMovementTherapyIsNamed: Synthea's back-pain sessions are SNOMED
// CT 229064008 "Movement therapy", which no published physical therapy
// value set lists: completed sessions within the look-back are not counted
// but named, with what to record; older ones are not named.
func TestAssessMovementTherapyIsNamed(t *testing.T) {
	mt := proc("mt", policy.SystemSNOMED, "229064008", "Movement therapy (regime/therapy)", 40)
	old := proc("old", policy.SystemSNOMED, "229064008", "Movement therapy (regime/therapy)", 400)
	a := Assess(cpt72148(), chart.Derive(&chart.Record{Conditions: []chart.Condition{lbp(60)}, Procedures: []chart.Procedure{mt, old}}), defaultPolicy(), laterNow)
	want := []NotCounted{{Reason: ReasonNotTherapyCode, What: "physical therapy", Display: "Movement therapy (regime/therapy)", DateText: ymd(agoT(40)), Source: "Procedure/mt",
		Why:    "its code is not in the policy's physical therapy value set; its words name movement therapy: if it was physical therapy, record it with a physical therapy code",
		Course: span(40, 40)}}
	if diff := cmp.Diff(a.NotCounted, want); diff != "" {
		t.Errorf("not counted (-got +want):\n%s", diff)
	}
	if !a.Has(ConservativeTherapyMissing) {
		t.Errorf("movement therapy counted as physical therapy: %+v", a.Findings)
	}
}

// TestAssessTextOnlyTherapyPeriod: a therapy recorded as text only with a
// performedPeriod is named with its period as recorded, not its start
// alone, and carries the span it covers, for the card to ask that it be
// recorded with a code (clinical review 3, finding 01).
func TestAssessTextOnlyTherapyPeriod(t *testing.T) {
	pt := chart.Procedure{Procedure: r4.Procedure{Id: ptr("pt"), Status: r4.EventStatusCompleted,
		Code:            &r4.CodeableConcept{Text: ptr("Supervised physical therapy for low back pain")},
		PerformedPeriod: &r4.Period{Start: ago(50), End: ago(7)}}, StatusPresent: true}
	a := Assess(cpt72148(), chart.Derive(&chart.Record{Conditions: []chart.Condition{lbp(60)}, Procedures: []chart.Procedure{pt}}), defaultPolicy(), laterNow)
	want := []NotCounted{{Reason: ReasonTextOnly, What: "physical therapy", Display: "Supervised physical therapy for low back pain",
		DateText: ymd(agoT(50)) + " to " + ymd(agoT(7)), Source: "Procedure/pt", Course: span(50, 7)}}
	if diff := cmp.Diff(a.NotCounted, want); diff != "" {
		t.Errorf("not counted (-got +want):\n%s", diff)
	}
	if !a.Has(ConservativeTherapyMissing) {
		t.Errorf("findings %+v; want conservative-therapy-missing (text only never counts)", a.Findings)
	}
}

// A Condition staged as an invasive cancer is named with its stage group;
// one whose code the malignancy value set lists counts once, by its code.
func TestStagedCancerEvidence(t *testing.T) {
	neoplasm := staged(cond("np", policy.SystemSNOMED, "126906006", "Neoplasm of prostate", 400), "http://cancerstaging.org", "4B", "IVB", "")
	listed := staged(icd("c61", "C61", "Malignant neoplasm of prostate", 400), "http://cancerstaging.org", "4B", "IVB", "")
	tests := []struct {
		name    string
		cond    chart.Condition
		display string
		code    string
	}{
		{"unlisted code, by its stage", neoplasm, "Neoplasm of prostate, stage IVB", "126906006"},
		{"listed code, by its code only", listed, "Malignant neoplasm of prostate", "C61"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Assess(cpt72148(), chart.Derive(&chart.Record{Conditions: []chart.Condition{tt.cond}}), defaultPolicy(), laterNow)
			f := a.Finding(RedFlagMalignancy)
			if f == nil || len(f.Evidence) != 1 {
				t.Fatalf("malignancy finding = %+v, want one piece of evidence", f)
			}
			if e := f.Evidence[0]; e.Display != tt.display || e.Code.Code != tt.code || e.Source != "Condition/"+*tt.cond.Id {
				t.Errorf("evidence = %q %q %q, want %q %q", e.Display, e.Code.Code, e.Source, tt.display, tt.code)
			}
		})
	}
}

// A treatment ordered for a pain that names no condition ("Chronic pain",
// "Pain, unspecified") is not ordered for another condition: it counts as
// an uncoded reason would; one ordered for shoulder pain does not.
func TestReasonThatNamesNoCondition(t *testing.T) {
	withReason := func(system, code, display string) chart.MedicationRequest {
		m := medReq("m", "7258", "naproxen", 50, 45, 0)
		m.ReasonCode = []r4.CodeableConcept{*concept(system, code, display)}
		return m
	}
	tests := []struct {
		name   string
		med    chart.MedicationRequest
		counts bool
	}{
		{"SNOMED CT chronic pain", withReason(policy.SystemSNOMED, "82423001", "Chronic pain"), true},
		{"ICD-10-CM pain, unspecified", withReason(policy.SystemICD10, "R52", "Pain, unspecified"), true},
		{"ICD-10-CM chronic pain syndrome", withReason(policy.SystemICD10, "G89.4", "Chronic pain syndrome"), true},
		{"shoulder pain", withReason(policy.SystemICD10, "M25.511", "Pain in right shoulder"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Assess(cpt72148(), chart.Derive(&chart.Record{Conditions: []chart.Condition{lbp(90)}, MedicationRequests: []chart.MedicationRequest{tt.med}}), defaultPolicy(), laterNow)
			other := slices.ContainsFunc(a.NotCounted, func(nc NotCounted) bool { return nc.Reason == ReasonOtherCondition })
			if counted := a.TherapyDays > 0; counted != tt.counts || other == tt.counts {
				t.Errorf("therapy days %d, named ordered-for-another-condition %v; want counted %v", a.TherapyDays, other, tt.counts)
			}
		})
	}
}
