package fhir

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// peek is what the decoder reads from an entry's raw JSON before samply sees
// it: the type to dispatch on, the id to de-duplicate on, whether status was
// present (samply turns a missing status into the first enum value) and the
// references that name the patient.
type peek struct {
	ResourceType string          `json:"resourceType"`
	ID           string          `json:"id"`
	Status       json.RawMessage `json:"status"`
	Subject      *peekRef        `json:"subject"`
	Patient      *peekRef        `json:"patient"`
	Beneficiary  *peekRef        `json:"beneficiary"`
}

type peekRef struct {
	Reference string `json:"reference"`
}

// statusPresent reports a non-null status in the JSON.
func (p *peek) statusPresent() bool {
	return len(p.Status) > 0 && string(p.Status) != "null"
}

// statusIs reports whether the JSON status is exactly code.
func (p *peek) statusIs(code string) bool {
	var s string
	return p.statusPresent() && json.Unmarshal(p.Status, &s) == nil && s == code
}

// decoder adds entries to a Record one at a time, so that one bad entry costs
// only itself (go-stack.md section 1, gotcha 3).
type decoder struct {
	rec    *Record
	logger *slog.Logger
	seen   map[string]bool
}

// errOtherType marks an entry of a known type the search did not ask for
// (an _include, an outcome entry): ignored, not counted as skipped.
var errOtherType = errors.New("not the searched type")

// knownType reports the types an entry may have without being an error: the
// searched types and a searchset's outcome entry.
func knownType(t string) bool {
	if t == "OperationOutcome" {
		return true
	}
	for _, s := range Searches {
		if s.ResourceType == t {
			return true
		}
	}
	return false
}

// add decodes raw into the Record slot for s. It logs the resource type and
// the reason only, never content: entries are PHI.
func (d *decoder) add(s SearchSpec, raw json.RawMessage) {
	var p peek
	if err := json.Unmarshal(raw, &p); err != nil {
		d.skip(s, "", "entry is not a FHIR resource object")
		return
	}
	if p.ResourceType != s.ResourceType {
		if p.ResourceType == "" {
			d.skip(s, "", "entry without resourceType")
			return
		}
		if !knownType(p.ResourceType) {
			d.skip(s, clipType(p.ResourceType), "resource type not read by the assessment")
			return
		}
		d.logger.Debug("fhir entry ignored", "search", s.Key, "type", p.ResourceType, "reason", errOtherType.Error())
		return
	}
	if !d.samePatient(&p) {
		d.rec.Dropped++
		d.logger.Info("fhir entry about another patient dropped", "search", s.Key, "type", p.ResourceType)
		return
	}
	if p.ID != "" {
		key := p.ResourceType + "/" + p.ID
		if d.seen[key] {
			return
		}
		defer func() { d.seen[key] = true }()
	}
	if err := d.decode(&p, raw); err != nil {
		d.skip(s, p.ResourceType, err.Error())
	}
}

func (d *decoder) skip(s SearchSpec, typ, reason string) {
	d.rec.Skipped++
	if typ == "" {
		typ = "(unknown)"
	}
	d.logger.Warn("fhir entry skipped", "search", s.Key, "type", typ, "reason", clipReason(reason))
}

// clipReason keeps samply's message ("unknown ObservationStatus code 'x'")
// but cuts it short: the code is server data, not PHI, yet bounded is safer.
func clipReason(s string) string {
	const max = 120
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// decode dispatches on resourceType and calls samply's Unmarshal<Type>.
func (d *decoder) decode(p *peek, raw []byte) error {
	rec := d.rec
	switch p.ResourceType {
	case "Patient":
		v, err := r4.UnmarshalPatient(raw)
		if err != nil {
			return err
		}
		if rec.Patient == nil {
			rec.Patient = &v
		}
	case "Coverage":
		v, err := r4.UnmarshalCoverage(raw)
		if err != nil {
			return err
		}
		// Only an explicitly active Coverage can carry an assertion;
		// samply would read a missing status as "active" (its first code).
		if p.statusIs("active") {
			rec.Coverages = append(rec.Coverages, v)
		}
	case "Condition":
		v, err := r4.UnmarshalCondition(raw)
		if err != nil {
			return err
		}
		rec.Conditions = append(rec.Conditions, v)
	case "Observation":
		v, err := r4.UnmarshalObservation(raw)
		if err != nil {
			return err
		}
		rec.Observations = append(rec.Observations, Observation{Observation: v, StatusPresent: p.statusPresent()})
	case "Procedure":
		v, err := r4.UnmarshalProcedure(raw)
		if err != nil {
			return err
		}
		rec.Procedures = append(rec.Procedures, Procedure{Procedure: v, StatusPresent: p.statusPresent()})
	case "MedicationRequest":
		v, err := r4.UnmarshalMedicationRequest(raw)
		if err != nil {
			return err
		}
		rec.MedicationRequests = append(rec.MedicationRequests, MedicationRequest{MedicationRequest: v, StatusPresent: p.statusPresent()})
	case "MedicationStatement":
		v, err := r4.UnmarshalMedicationStatement(raw)
		if err != nil {
			return err
		}
		rec.MedicationStatements = append(rec.MedicationStatements, MedicationStatement{MedicationStatement: v, StatusPresent: p.statusPresent()})
	case "ImagingStudy":
		v, err := r4.UnmarshalImagingStudy(raw)
		if err != nil {
			return err
		}
		rec.ImagingStudies = append(rec.ImagingStudies, ImagingStudy{ImagingStudy: v, StatusPresent: p.statusPresent()})
	case "DiagnosticReport":
		v, err := r4.UnmarshalDiagnosticReport(raw)
		if err != nil {
			return err
		}
		rec.DiagnosticReports = append(rec.DiagnosticReports, DiagnosticReport{DiagnosticReport: v, StatusPresent: p.statusPresent()})
	default:
		return errors.New("resource type not read by the assessment")
	}
	return nil
}

// samePatient reports whether the resource is about the record's patient:
// a Patient's own id, or the Patient named by subject, patient or
// beneficiary, compared on the trailing Patient/{id}. A reference that names
// no Patient (a Group, a urn:uuid, an identifier only) does not exclude it.
func (d *decoder) samePatient(p *peek) bool {
	want := d.rec.PatientID
	if want == "" {
		return true
	}
	if p.ResourceType == "Patient" {
		return p.ID == "" || p.ID == want
	}
	for _, r := range []*peekRef{p.Subject, p.Patient, p.Beneficiary} {
		if r == nil {
			continue
		}
		if id, ok := PatientIDOf(r.Reference); ok && id != want {
			return false
		}
	}
	return true
}

// PatientIDOf returns the id in a reference that names a Patient: relative
// ("Patient/123"), absolute ("https://ehr/fhir/Patient/123") or versioned
// ("Patient/123/_history/2"). ok is false when the reference names no Patient.
func PatientIDOf(ref string) (id string, ok bool) {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	const p = "Patient/"
	i := strings.LastIndex(ref, p)
	if i < 0 || (i > 0 && ref[i-1] != '/') {
		return "", false
	}
	id = ref[i+len(p):]
	if id == "" || strings.ContainsAny(id, "/?#") {
		return "", false
	}
	return id, true
}
