package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
)

// peek is what the decoder reads from an entry's raw JSON before samply sees
// it: the type to dispatch on, the id to de-duplicate on, whether status was
// present (samply turns a missing status into the first enum value) and the
// references that name the patient, and the contained resources (which the
// R4 models drop) as they are, so the entry is not scanned again for them.
type peek struct {
	ResourceType string          `json:"resourceType"`
	ID           string          `json:"id"`
	Status       json.RawMessage `json:"status"`
	Subject      *peekRef        `json:"subject"`
	Patient      *peekRef        `json:"patient"`
	Beneficiary  *peekRef        `json:"beneficiary"`
	Contained    json.RawMessage `json:"contained"`
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

// read fills p from raw as json.Unmarshal would. raw is valid JSON (it was
// cut out of a document json.Unmarshal accepted), so the top-level members
// are walked without a second syntax check and only the peeked members are
// decoded; entries are read twice (peek, then samply), and the general
// decoder cost a quarter of an order-sign call. Anything the walk does not
// handle plainly (not an object, escaped or non-ASCII member names, a name
// that matches a peeked one only without regard to case, as encoding/json
// allows) goes to json.Unmarshal.
func (p *peek) read(raw []byte) error {
	if ok, err := p.readFast(raw); ok {
		return err
	}
	*p = peek{}
	return json.Unmarshal(raw, p)
}

// readFast is read's walk; ok is false when json.Unmarshal must decide.
func (p *peek) readFast(raw []byte) (ok bool, err error) {
	end, ok := members(raw, 0, func(name string, b []byte, v int) int {
		var dst any
		switch name {
		case "resourceType":
			dst = &p.ResourceType
		case "id":
			dst = &p.ID
		case "status":
			dst = &p.Status
		case "subject":
			dst = &p.Subject
		case "patient":
			dst = &p.Patient
		case "beneficiary":
			dst = &p.Beneficiary
		case "contained":
			dst = &p.Contained
		default:
			if foldsTo(name, "resourceType", "id", "status", "subject", "patient", "beneficiary", "contained") {
				return -1
			}
			return skipValue(b, v)
		}
		end := skipValue(b, v)
		if end < 0 {
			return -1
		}
		value := b[v:end]
		switch sp, plain := plainString(value); {
		case plain && (name == "resourceType" || name == "id"):
			*dst.(*string) = sp
		case (name == "subject" || name == "patient" || name == "beneficiary") && readRef(dst.(**peekRef), value):
		case name == "status":
			// What json.Unmarshal into a RawMessage does: copy the literal.
			p.Status = append(p.Status[:0:0], value...)
		case name == "contained":
			// raw outlives the decode; a sub-slice is enough.
			p.Contained = value
		default:
			if e := json.Unmarshal(value, dst); e != nil && err == nil {
				err = e
			}
		}
		return end
	})
	if !ok || skipSpace(raw, end) != len(raw) {
		return false, nil
	}
	return true, err
}

// readRef decodes a reference object {"reference": "..."} into *dst as
// json.Unmarshal would (into the existing peekRef, if any); false hands over
// to json.Unmarshal.
func readRef(dst **peekRef, value []byte) bool {
	ref, found := "", false
	_, ok := members(value, 0, func(name string, b []byte, v int) int {
		if name == "reference" {
			end := skipValue(b, v)
			if end < 0 {
				return -1
			}
			s, plain := plainString(b[v:end])
			if !plain {
				return -1
			}
			ref, found = s, true
			return end
		}
		if foldsTo(name, "reference") {
			return -1
		}
		return skipValue(b, v)
	})
	if !ok {
		return false
	}
	if *dst == nil {
		*dst = &peekRef{}
	}
	if found {
		(*dst).Reference = ref
	}
	return true
}

// decoder adds entries to a Record one at a time, so that one bad entry costs
// only itself (go-stack.md section 1, gotcha 3).
type decoder struct {
	rec    *Record
	logger *slog.Logger
	seen   map[string]bool
	// hint is the number of entries of the search being added: the first
	// append to a Record slice makes room for them all at once.
	hint int
	// skips counts skipped entries by type and reason; flush logs them once
	// per search, so a Bundle of thousands of bad entries costs one line.
	skips map[skipKey]int
}

type skipKey struct{ typ, reason string }

// appendHint appends v to s; a nil s first gets room for hint elements
// (an empty search still leaves s nil).
func appendHint[T any](s []T, v T, hint int) []T {
	if s == nil && hint > 1 {
		s = make([]T, 0, hint)
	}
	return append(s, v)
}

// errOtherType marks an entry of a known type the search did not ask for
// (an _include, an outcome entry): ignored, not counted as skipped.
var errOtherType = errors.New("not the searched type")

// knownType reports the types an entry may have without being an error: the
// types the assessment reads (readType) and a searchset's outcome entry.
func knownType(t string) bool {
	return t == "OperationOutcome" || readType(t)
}

// add decodes raw into the Record slot for s. It logs the resource type and
// the reason only, never content: entries are PHI. An entry of the searched
// type that cannot be read, one whose resourceType is missing or not an R4
// resource type, and one that is not a resource object at all are named in
// the Record's Unreadable (issue 13: nothing is dropped in silence).
func (d *decoder) add(s SearchSpec, raw json.RawMessage) {
	var p peek
	bad := "" // why the entry is not a readable resource, "" when it may be
	if err := p.read(raw); err != nil {
		// A member the peek reads has the wrong JSON type ("id": 5,
		// "subject": 5): read what can be read, to name the entry and to
		// check its patient.
		if !p.readLenient(raw) {
			d.unreadable(s, &p, raw, "the entry is not a JSON object")
			return
		}
		bad = "a member has the wrong JSON type"
	}
	switch {
	case p.ResourceType == "":
		bad = "the entry has no resourceType"
	case p.ResourceType == s.ResourceType:
	case !r4Type(p.ResourceType):
		bad = "the resource type is not a FHIR R4 type"
	case !knownType(p.ResourceType):
		d.skip(s, clipType(p.ResourceType), "resource type not read by the assessment")
		return
	case slices.Contains(s.Includes, p.ResourceType):
		// A Medication the search included (_include): resolves the
		// orders' medicationReference.
		d.addMedication(raw)
		return
	default:
		d.logger.Debug("fhir entry ignored", "search", s.Key, "type", p.ResourceType, "reason", errOtherType.Error())
		return
	}
	if !d.samePatient(&p) {
		d.rec.Dropped++
		if d.rec.OtherPatient == nil {
			d.rec.OtherPatient = map[string]int{}
		}
		d.rec.OtherPatient[clipType(p.ResourceType)]++
		d.logger.Info("fhir entry about another patient dropped", "search", s.Key, "type", clipType(p.ResourceType))
		return
	}
	if p.ID != "" {
		key := p.ResourceType + "/" + p.ID
		if d.seen[key] {
			return
		}
		defer func() { d.seen[key] = true }()
	}
	if bad != "" {
		d.unreadable(s, &p, raw, bad)
		return
	}
	if err := d.decode(&p, raw); err != nil {
		if errors.Is(err, errQuotedDecimal) {
			// A number written as text ("value": "42"): named as any
			// other member of the wrong JSON type.
			d.unreadable(s, &p, raw, "a member has the wrong JSON type")
			return
		}
		d.unreadable(s, &p, raw, "the entry is not valid FHIR R4 ("+clipReason(err.Error())+")")
	}
}

// unreadable skips an entry that cannot be read and, unless it is the
// Patient or a Coverage (read for the policy, not as clinical evidence),
// describes it in the Record for the answer.
func (d *decoder) unreadable(s SearchSpec, p *peek, raw []byte, reason string) {
	typ := ""
	if p.ResourceType != "" {
		typ = clipType(p.ResourceType)
	}
	d.skip(s, typ, reason)
	if p.ResourceType != "Patient" && p.ResourceType != "Coverage" {
		d.rec.Unreadable = append(d.rec.Unreadable, describe(typ, p.ID, raw, reason))
	}
}

// readLenient fills p with the peeked members of raw that have the JSON type
// the peek expects and leaves out the others (a reference of the wrong type
// names no patient). It is false when raw is not a JSON object.
func (p *peek) readLenient(raw []byte) bool {
	*p = peek{}
	var m struct {
		ResourceType json.RawMessage `json:"resourceType"`
		ID           json.RawMessage `json:"id"`
		Status       json.RawMessage `json:"status"`
		Subject      json.RawMessage `json:"subject"`
		Patient      json.RawMessage `json:"patient"`
		Beneficiary  json.RawMessage `json:"beneficiary"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	lenient := func(v json.RawMessage, dst any) {
		if len(v) > 0 && json.Unmarshal(v, dst) != nil {
			// Unmarshal may have filled part of dst; keep none of it.
			switch x := dst.(type) {
			case *string:
				*x = ""
			case **peekRef:
				*x = nil
			}
		}
	}
	lenient(m.ResourceType, &p.ResourceType)
	lenient(m.ID, &p.ID)
	p.Status = m.Status
	lenient(m.Subject, &p.Subject)
	lenient(m.Patient, &p.Patient)
	lenient(m.Beneficiary, &p.Beneficiary)
	return true
}

// r4Type reports whether t is a FHIR R4 resource type.
func r4Type(t string) bool {
	var rt r4.ResourceType
	// samply's UnmarshalJSON trims quotes itself: a name with quotes in it
	// must not pass.
	return !strings.Contains(t, `"`) && rt.UnmarshalJSON([]byte(t)) == nil
}

// addMedication keeps an included Medication by "Medication/{id}".
func (d *decoder) addMedication(raw []byte) {
	m, err := unmarshal[r4.Medication](raw)
	if err != nil || m.Id == nil || *m.Id == "" {
		d.logger.Debug("included Medication ignored", "reason", "unreadable or without id")
		return
	}
	if d.rec.Medications == nil {
		d.rec.Medications = map[string]r4.Medication{}
	}
	d.rec.Medications["Medication/"+*m.Id] = m
}

// containedMedications decodes the Medications among an entry's contained
// resources (peek.Contained: the R4 models drop `contained`). Other
// contained types and unreadable ones are ignored.
func containedMedications(contained json.RawMessage) []r4.Medication {
	if len(contained) == 0 {
		return nil
	}
	var c []json.RawMessage
	if json.Unmarshal(contained, &c) != nil {
		return nil
	}
	var out []r4.Medication
	for _, r := range c {
		var p struct {
			ResourceType string `json:"resourceType"`
		}
		if json.Unmarshal(r, &p) != nil || p.ResourceType != "Medication" {
			continue
		}
		if m, err := unmarshal[r4.Medication](r); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// abatementBoolean reads Condition.abatementBoolean (STU3's form, which the
// R4 model lacks), nil when absent or not a boolean.
func abatementBoolean(raw []byte) *bool {
	if !bytes.Contains(raw, []byte("abatementBoolean")) {
		return nil
	}
	var c struct {
		AbatementBoolean *bool `json:"abatementBoolean"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return nil
	}
	return c.AbatementBoolean
}

// describe reads what it can of an entry that failed to decode: a display
// from its code (or medication) and a date, each leniently (a member of the
// wrong shape is left out). Displays name the coded concept, as cards do.
func describe(typ, id string, raw []byte, reason string) Unreadable {
	u := Unreadable{ResourceType: typ, Reason: reason}
	if id != "" {
		u.ID = clipType(id)
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return u
	}
	for _, k := range []string{"code", "medicationCodeableConcept", "type"} {
		var cc struct {
			Coding []struct {
				Display string `json:"display"`
				Code    string `json:"code"`
			} `json:"coding"`
			Text string `json:"text"`
		}
		if v, ok := m[k]; ok && json.Unmarshal(v, &cc) == nil {
			for _, c := range cc.Coding {
				if c.Display != "" {
					u.Display = c.Display
					break
				}
			}
			if u.Display == "" {
				u.Display = cc.Text
			}
			if u.Display == "" && len(cc.Coding) > 0 {
				u.Display = cc.Coding[0].Code
			}
		}
		if u.Display != "" {
			break
		}
	}
	for _, k := range []string{"authoredOn", "onsetDateTime", "performedDateTime", "effectiveDateTime", "whenHandedOver", "recordedDate", "started", "issued", "date"} {
		var v string
		if r, ok := m[k]; ok && json.Unmarshal(r, &v) == nil && v != "" {
			if len(v) > 10 {
				v = v[:10]
			}
			u.Date = v
			break
		}
	}
	if len([]rune(u.Display)) > 80 {
		u.Display = string([]rune(u.Display)[:80]) + "…"
	}
	return u
}

func (d *decoder) skip(s SearchSpec, typ, reason string) {
	d.rec.Skipped++
	if typ == "" {
		typ = "(unknown)"
	}
	if d.skips == nil {
		d.skips = map[skipKey]int{}
	}
	k := skipKey{typ, clipReason(reason)}
	// A bounded number of distinct reasons per search: samply's messages
	// name the bad code, so each new one would be a new key.
	if _, ok := d.skips[k]; !ok && len(d.skips) >= maxSkipKeys {
		k = skipKey{typ, "other reasons"}
	}
	d.skips[k]++
}

// maxSkipKeys is the most distinct (type, reason) pairs logged per search.
const maxSkipKeys = 16

// flush logs the entries skipped in search s, one line per type and reason.
func (d *decoder) flush(s SearchSpec) {
	for k, n := range d.skips {
		d.logger.Warn("fhir entries skipped", "search", s.Key, "type", k.typ, "reason", k.reason, "count", n)
	}
	clear(d.skips)
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

// decode dispatches on resourceType and decodes into samply's model (see unmarshalResource).
func (d *decoder) decode(p *peek, raw []byte) error {
	rec := d.rec
	switch p.ResourceType {
	case "Patient":
		v, err := unmarshalResource[r4.Patient](raw)
		if err != nil {
			return err
		}
		if rec.Patient == nil {
			rec.Patient = &v
		}
	case "Coverage":
		v, err := unmarshalResource[r4.Coverage](raw)
		if err != nil {
			return err
		}
		// Only an explicitly active Coverage can carry an assertion;
		// samply would read a missing status as "active" (its first code).
		if p.statusIs("active") {
			rec.Coverages = appendHint(rec.Coverages, v, d.hint)
		}
	case "Condition":
		v, err := unmarshalResource[r4.Condition](raw)
		if err != nil {
			return err
		}
		rec.Conditions = appendHint(rec.Conditions, Condition{Condition: v, AbatementBoolean: abatementBoolean(raw)}, d.hint)
	case "Observation":
		v, err := unmarshalResource[r4.Observation](raw)
		if err != nil {
			return err
		}
		rec.Observations = appendHint(rec.Observations, Observation{Observation: v, StatusPresent: p.statusPresent()}, d.hint)
	case "Procedure":
		v, err := unmarshalResource[r4.Procedure](raw)
		if err != nil {
			return err
		}
		rec.Procedures = appendHint(rec.Procedures, Procedure{Procedure: v, StatusPresent: p.statusPresent()}, d.hint)
	case "MedicationRequest":
		v, err := unmarshalResource[r4.MedicationRequest](raw)
		if err != nil {
			return err
		}
		rec.MedicationRequests = appendHint(rec.MedicationRequests, MedicationRequest{MedicationRequest: v, StatusPresent: p.statusPresent(), Contained: containedMedications(p.Contained)}, d.hint)
	case "MedicationStatement":
		v, err := unmarshalResource[r4.MedicationStatement](raw)
		if err != nil {
			return err
		}
		rec.MedicationStatements = appendHint(rec.MedicationStatements, MedicationStatement{MedicationStatement: v, StatusPresent: p.statusPresent(), Contained: containedMedications(p.Contained)}, d.hint)
	case "MedicationDispense":
		v, err := unmarshalResource[r4.MedicationDispense](raw)
		if err != nil {
			return err
		}
		rec.MedicationDispenses = appendHint(rec.MedicationDispenses, MedicationDispense{MedicationDispense: v, StatusPresent: p.statusPresent(), Contained: containedMedications(p.Contained)}, d.hint)
	case "ImagingStudy":
		v, err := unmarshalResource[r4.ImagingStudy](raw)
		if err != nil {
			return err
		}
		rec.ImagingStudies = appendHint(rec.ImagingStudies, ImagingStudy{ImagingStudy: v, StatusPresent: p.statusPresent()}, d.hint)
	case "DiagnosticReport":
		v, err := unmarshalResource[r4.DiagnosticReport](raw)
		if err != nil {
			return err
		}
		rec.DiagnosticReports = appendHint(rec.DiagnosticReports, DiagnosticReport{DiagnosticReport: v, StatusPresent: p.statusPresent()}, d.hint)
	case "DocumentReference":
		v, err := unmarshalResource[r4.DocumentReference](raw)
		if err != nil {
			return err
		}
		rec.DocumentReferences = appendHint(rec.DocumentReferences, DocumentReference{DocumentReference: v, StatusPresent: p.statusPresent()}, d.hint)
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
		if typ := chart.ReferenceType(r.Reference); typ != "" && typ != "Patient" {
			// The subject is a Group, a Device, a Location...: not this
			// patient's record.
			return false
		}
	}
	return true
}

// PatientIDOf returns the id in a reference that names a Patient: relative
// ("Patient/123"), absolute ("https://ehr/fhir/Patient/123") or versioned
// ("Patient/123/_history/2"). ok is false when the reference names no Patient.
func PatientIDOf(ref string) (id string, ok bool) {
	key := chart.TrailingReference(ref, "Patient")
	if key == "" {
		return "", false
	}
	return strings.TrimPrefix(key, "Patient/"), true
}
