package terminology

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Code systems whose codes this package checks and, for ICD-10-CM, whose
// hierarchy it evaluates from the code's structure.
const (
	SystemICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
	SystemSNOMED  = "http://snomed.info/sct"
	SystemLOINC   = "http://loinc.org"
	SystemRxNorm  = "http://www.nlm.nih.gov/research/umls/rxnorm"
	SystemCPT     = "http://www.ama-assn.org/go/cpt"
	SystemUCUM    = "http://unitsofmeasure.org"
)

// SourceExtension is the extension (valueString or valueUri) by which a
// project value set, or one of its compose.include entries, names where its
// codes come from: a VSAC OID, an implementation guide's value set, a
// guideline, a code system release.
const SourceExtension = "https://lumbar-mri-cds.github.io/fhir/StructureDefinition/valueset-source"

// CanonicalBase is the canonical URL prefix of the project's value sets.
const CanonicalBase = "https://lumbar-mri-cds.github.io/fhir/ValueSet/"

// ErrInvalid is wrapped by every value set validation error.
var ErrInvalid = errors.New("invalid value set")

// Error is one problem with a value set file.
type Error struct {
	// File names the file (or the embedded file) the value set came from.
	File string
	// URL is the value set's canonical URL when known.
	URL string
	// Reason says what is wrong.
	Reason string
}

// Error formats the problem as "file (url): reason".
func (e *Error) Error() string {
	if e.URL != "" {
		return fmt.Sprintf("%s (%s): %s", e.File, e.URL, e.Reason)
	}
	return e.File + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// ValueSet is the part of a FHIR R4 ValueSet resource this package reads.
// Other elements of the resource are allowed and ignored.
type ValueSet struct {
	// ResourceType is "ValueSet".
	ResourceType string `json:"resourceType"`
	// ID is the logical id.
	ID string `json:"id,omitempty"`
	// Extension holds extensions; SourceExtension entries name sources.
	Extension []Extension `json:"extension,omitempty"`
	// URL is the canonical URL (required, without a version).
	URL string `json:"url"`
	// Identifier holds business identifiers (a VSAC OID as urn:oid:...).
	Identifier []Identifier `json:"identifier,omitempty"`
	// Version is the business version (required).
	Version string `json:"version"`
	// Name is the computer-friendly name.
	Name string `json:"name,omitempty"`
	// Title is the human title (required).
	Title string `json:"title"`
	// Status is draft, active, retired or unknown.
	Status string `json:"status,omitempty"`
	// Date is when the set was last changed.
	Date string `json:"date,omitempty"`
	// Publisher names the publisher.
	Publisher string `json:"publisher,omitempty"`
	// Description says what the set holds.
	Description string `json:"description,omitempty"`
	// Purpose says why the set exists.
	Purpose string `json:"purpose,omitempty"`
	// Compose is the content definition.
	Compose *Compose `json:"compose,omitempty"`
	// Expansion is the computed content; when present it is the membership.
	Expansion *Expansion `json:"expansion,omitempty"`

	// file is where the resource was read from (for error messages).
	file string
}

// Extension is a FHIR extension with a string or uri value.
type Extension struct {
	// URL identifies the extension.
	URL string `json:"url"`
	// ValueString is a string value.
	ValueString string `json:"valueString,omitempty"`
	// ValueURI is a uri value.
	ValueURI string `json:"valueUri,omitempty"`
}

// Identifier is a FHIR Identifier (VSAC value sets carry urn:oid:...).
type Identifier struct {
	// System is the code system URI.
	System string `json:"system,omitempty"`
	// Value is the identifier value.
	Value string `json:"value,omitempty"`
}

// Compose is ValueSet.compose.
type Compose struct {
	// Include lists the included selections (unioned).
	Include []Include `json:"include"`
	// Exclude lists the excluded selections.
	Exclude []Include `json:"exclude,omitempty"`
}

// Include is one compose.include or compose.exclude entry.
type Include struct {
	// Extension holds extensions; SourceExtension entries name the include's source.
	Extension []Extension `json:"extension,omitempty"`
	// System is the code system URI.
	System string `json:"system,omitempty"`
	// Version is the code system version.
	Version string `json:"version,omitempty"`
	// Concept lists codes.
	Concept []Concept `json:"concept,omitempty"`
	// Filter lists filters (one per include here).
	Filter []Filter `json:"filter,omitempty"`
	// ValueSet imports value sets by canonical URL.
	ValueSet []string `json:"valueSet,omitempty"`
}

// Concept is one listed code.
type Concept struct {
	// Code is the code.
	Code string `json:"code"`
	// Display is the display.
	Display string `json:"display,omitempty"`
}

// Filter is a compose filter; this package evaluates property "concept"
// with op "is-a" or "descendent-of" on ICD-10-CM.
type Filter struct {
	// Property is the filtered property ("concept").
	Property string `json:"property"`
	// Op is is-a or descendent-of.
	Op string `json:"op"`
	// Value is the identifier value.
	Value string `json:"value"`
}

// Expansion is ValueSet.expansion.
type Expansion struct {
	// Identifier identifies the expansion.
	Identifier string `json:"identifier,omitempty"`
	// Timestamp is when the expansion was made.
	Timestamp string `json:"timestamp,omitempty"`
	// Total is the number of codes in the whole expansion.
	Total *int `json:"total,omitempty"`
	// Offset is the paging offset (a partial expansion when above 0).
	Offset *int `json:"offset,omitempty"`
	// Contains lists the codes (entries may nest).
	Contains []Contains `json:"contains,omitempty"`
}

// Contains is one expansion entry; entries may nest.
type Contains struct {
	// System is the code system URI (empty on grouping entries).
	System string `json:"system,omitempty"`
	// Version is the code system version.
	Version string `json:"version,omitempty"`
	// Abstract marks a grouping entry.
	Abstract bool `json:"abstract,omitempty"`
	// Inactive marks an inactive code.
	Inactive bool `json:"inactive,omitempty"`
	// Code is the code.
	Code string `json:"code,omitempty"`
	// Display is the display.
	Display string `json:"display,omitempty"`
	// Contains lists the codes (entries may nest).
	Contains []Contains `json:"contains,omitempty"`
}

// Sources lists where the value set's codes come from: its source
// extensions (on the resource and on each include), else its identifiers
// (a VSAC set's urn:oid), else its publisher.
func (v *ValueSet) Sources() []string {
	var out []string
	add := func(exts []Extension) {
		for _, e := range exts {
			if e.URL != SourceExtension {
				continue
			}
			if s := strings.TrimSpace(e.ValueString + e.ValueURI); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	add(v.Extension)
	if v.Compose != nil {
		for _, in := range v.Compose.Include {
			add(in.Extension)
		}
		for _, in := range v.Compose.Exclude {
			add(in.Extension)
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, id := range v.Identifier {
		if s := strings.TrimSpace(id.Value); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 && strings.TrimSpace(v.Publisher) != "" {
		out = append(out, strings.TrimSpace(v.Publisher))
	}
	return out
}

// File is the file the value set was read from.
func (v *ValueSet) File() string { return v.file }

// maxFileBytes bounds one value set file (the largest VSAC expansions are a
// few megabytes).
const maxFileBytes = 64 << 20

// Parse decodes and validates one ValueSet resource; file names it in
// errors.
func Parse(file string, data []byte) (*ValueSet, error) {
	if len(data) > maxFileBytes {
		return nil, &Error{File: file, Reason: fmt.Sprintf("larger than %d bytes", maxFileBytes)}
	}
	var v ValueSet
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&v); err != nil {
		return nil, &Error{File: file, Reason: "not a JSON ValueSet: " + err.Error()}
	}
	if dec.More() {
		return nil, &Error{File: file, Reason: "trailing data after the ValueSet"}
	}
	v.file = file
	if err := v.validate(); err != nil {
		return nil, err
	}
	return &v, nil
}

var statuses = []string{"draft", "active", "retired", "unknown"}

// validate checks what the project needs of a value set. It reports every
// problem found, joined.
func (v *ValueSet) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, &Error{File: v.file, URL: v.URL, Reason: fmt.Sprintf(format, args...)})
	}
	if v.ResourceType != "ValueSet" {
		bad("resourceType is %q, want ValueSet", v.ResourceType)
	}
	if !canonicalURL(v.URL) {
		bad("url %q is not an absolute http(s) canonical URL without a version", v.URL)
	}
	if strings.TrimSpace(v.Version) == "" {
		bad("version is required")
	}
	if strings.TrimSpace(v.Title) == "" {
		bad("title is required")
	}
	if v.Status != "" && !slices.Contains(statuses, v.Status) {
		bad("status %q is not one of %s", v.Status, strings.Join(statuses, ", "))
	}
	if len(v.Sources()) == 0 {
		bad("no source: name where the codes come from (a %s extension, an identifier such as the VSAC OID, or the publisher)", SourceExtension)
	}
	if v.Compose == nil && v.Expansion == nil {
		bad("needs a compose or an expansion")
	}
	if v.Compose != nil {
		if len(v.Compose.Include) == 0 {
			bad("compose needs at least one include")
		}
		for i, in := range v.Compose.Include {
			v.checkInclude(fmt.Sprintf("compose.include[%d]", i), in, bad)
		}
		for i, in := range v.Compose.Exclude {
			v.checkInclude(fmt.Sprintf("compose.exclude[%d]", i), in, bad)
		}
	}
	if x := v.Expansion; x != nil {
		n := 0
		walkContains(x.Contains, func(c Contains) {
			if c.Code == "" {
				return
			}
			n++
			if c.System == "" {
				bad("expansion.contains code %q has no system", c.Code)
			} else if !validCode(c.System, c.Code) {
				bad("expansion.contains %q is not a valid %s code", c.Code, c.System)
			}
		})
		if x.Offset != nil && *x.Offset > 0 {
			bad("expansion is one page (offset %d): fetch the whole expansion", *x.Offset)
		}
		if x.Total != nil && *x.Total > n {
			bad("expansion is partial: total %d, %d codes present", *x.Total, n)
		}
	}
	return errors.Join(errs...)
}

func (v *ValueSet) checkInclude(path string, in Include, bad func(string, ...any)) {
	if in.System == "" && len(in.ValueSet) == 0 {
		bad("%s needs a system or a valueSet", path)
	}
	if in.System == "" && (len(in.Concept) > 0 || len(in.Filter) > 0) {
		bad("%s lists concepts or filters without a system", path)
	}
	if len(in.Concept) > 0 && len(in.Filter) > 0 {
		bad("%s has both concepts and filters (FHIR vsd-3): write them as two includes", path)
	}
	for _, c := range in.Concept {
		if !validCode(in.System, c.Code) {
			bad("%s: %q is not a valid %s code", path, c.Code, in.System)
		}
	}
	if len(in.Filter) > 1 {
		bad("%s has %d filters: write one include per filter", path, len(in.Filter))
	}
	for _, f := range in.Filter {
		switch {
		case f.Property != "concept" || (f.Op != "is-a" && f.Op != "descendent-of"):
			bad("%s: filter %s %s %s is not supported (only concept is-a and concept descendent-of)", path, f.Property, f.Op, f.Value)
		case in.System != SystemICD10CM && v.Expansion == nil:
			bad("%s: a %s filter on %s needs a terminology server: give the value set an expansion (lumbar-mri-cds valueset expand)", path, f.Op, in.System)
		case in.System == SystemICD10CM && !validCode(in.System, f.Value):
			bad("%s: filter value %q is not an ICD-10-CM code", path, f.Value)
		}
	}
	for _, u := range in.ValueSet {
		if !canonicalURL(stripVersion(u)) {
			bad("%s: valueSet %q is not an absolute canonical URL", path, u)
		}
	}
}

func walkContains(list []Contains, fn func(Contains)) {
	for _, c := range list {
		fn(c)
		walkContains(c.Contains, fn)
	}
}

// stripVersion drops a "|version" tail from a canonical reference.
func stripVersion(canonical string) string {
	u, _, _ := strings.Cut(strings.TrimSpace(canonical), "|")
	return u
}

func canonicalURL(s string) bool {
	if strings.ContainsAny(s, " \t\n|#") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// validCode checks the form of a code in the systems the project uses;
// codes of other systems need only be non-empty and without spaces.
// WellFormed reports whether code has the form of a code of system: an
// ICD-10-CM code is a letter, two characters and up to four more (dots and
// case ignored), a SNOMED CT id 6 to 18 digits, a CPT code four digits and
// a digit or letter, an RxNorm code digits, a LOINC code digits, a hyphen
// and a check digit. A chart's code that is not (a SNOMED CT id filed under
// ICD-10-CM) cannot be read in the system it names. Codes of other systems
// are well formed when they hold no whitespace. Surrounding whitespace is
// ignored, as membership ignores it.
func WellFormed(system, code string) bool {
	return validCode(system, strings.TrimSpace(code))
}

func validCode(system, code string) bool {
	if code == "" || strings.TrimSpace(code) != code {
		return false
	}
	switch system {
	case SystemICD10CM:
		return isICD10CM(NormalizeICD10CM(code))
	case SystemSNOMED:
		return digits(code, 6, 18)
	case SystemRxNorm:
		return digits(code, 1, 10)
	case SystemCPT:
		return len(code) == 5 && digits(code[:4], 4, 4) && (digits(code[4:], 1, 1) || code[4] >= 'A' && code[4] <= 'Z')
	case SystemLOINC:
		num, check, ok := strings.Cut(code, "-")
		return ok && digits(num, 1, 7) && digits(check, 1, 1)
	}
	return !strings.ContainsAny(code, " \t\n")
}

// isICD10CM accepts a normalised code: a letter, then 2 to 6 letters or
// digits (a category of three characters at least).
func isICD10CM(s string) bool {
	if len(s) < 3 || len(s) > 7 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'A' && s[i] <= 'Z') {
			return false
		}
	}
	return true
}

func digits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NormalizeICD10CM removes dots and spaces and upper-cases an ICD-10-CM code.
func NormalizeICD10CM(code string) string {
	b := make([]byte, 0, len(code))
	for i := 0; i < len(code); i++ {
		ch := code[i]
		switch {
		case ch == '.' || ch == ' ' || ch == '\t':
			continue
		case ch >= 'a' && ch <= 'z':
			ch -= 'a' - 'A'
		}
		b = append(b, ch)
	}
	return string(b)
}
