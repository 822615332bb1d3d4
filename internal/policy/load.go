package policy

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
	"gopkg.in/yaml.v3"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/notes"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/terminology"
)

//go:embed default.yaml
var defaultYAML []byte

// ErrInvalid is wrapped by every policy validation error.
var ErrInvalid = errors.New("invalid policy")

// Error is one problem in a policy file: the file, the line and the reason.
type Error struct {
	// File is the file name given to Parse or found by Load.
	File string
	// Line is the 1-based line of the problem; 0 when unknown.
	Line int
	// Reason says what is wrong, starting with the key path when known.
	Reason string
}

// Error formats the problem as "file:line: reason".
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return e.File + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// paNeededCodes are the CRD STU 2.1 pa-needed codes a policy may use.
var paNeededCodes = []string{"auth-needed", "no-auth", "satisfied", "performpa", "conditional"}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Parse reads one policy file named name (used in error messages), its
// value sets resolved against the shipped ones. The file is overlaid on the
// embedded default policy: what it sets wins, what it leaves out is
// inherited. A file whose id is "default" yields a complete default policy.
func Parse(name string, data []byte) (*Policy, error) {
	reg, err := terminology.Shipped()
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return ParseWith(name, data, reg)
}

// ParseWith is Parse with the value sets of reg.
func ParseWith(name string, data []byte, reg *terminology.Registry) (*Policy, error) {
	return parse(name, [][]byte{defaultYAML}, data, reg)
}

// defaultPayer is the embedded default policy's payer name (default.yaml).
const defaultPayer = "General lumbar MRI criteria (no payer-specific policy)"

// Default returns the set that holds only the embedded default policy, with
// the shipped value sets.
func Default() *Set {
	reg, err := terminology.Shipped()
	if err != nil {
		// The shipped value sets are covered by tests; an empty registry
		// makes every code list match nothing rather than fail at run time.
		reg, _ = terminology.New()
	}
	return DefaultWith(reg)
}

// DefaultWith returns the set that holds only the embedded default policy,
// its value sets resolved against reg.
func DefaultWith(reg *terminology.Registry) *Set {
	p, err := parse("default.yaml", nil, defaultYAML, reg)
	if err != nil {
		// The embedded file is covered by tests; keep serving with an
		// empty-coded policy rather than failing at run time.
		p = &Policy{ID: DefaultID, Name: "Lumbar MRI prior-authorization criteria (default)", Payer: defaultPayer, PANeeded: "auth-needed", Questionnaire: DefaultQuestionnaire}
		p.buildIndex()
	}
	s, _ := newSet(p, nil, reg)
	return s
}

// Load reads policies from path with the shipped value sets; see LoadWith.
func Load(path string) (*Set, error) {
	reg, err := terminology.Shipped()
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return LoadWith(path, reg)
}

// LoadWith reads policies from path: one YAML file, or every *.yaml and
// *.yml file directly inside a folder. Each file holds one policy, overlaid
// on the default policy. A file with id "default" replaces the embedded
// default (itself overlaid on the embedded one) and is the base for the
// other files. Value sets are resolved against reg. Errors name the file and
// line of every problem found, and the URL of a value set that is missing or
// empty, after one "policy: " prefix.
func LoadWith(path string, reg *terminology.Registry) (*Set, error) {
	s, err := load(path, reg)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return s, nil
}

func load(path string, reg *terminology.Registry) (*Set, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var files []string
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		sort.Strings(files)
	} else {
		files = []string{path}
	}
	type file struct {
		name string
		data []byte
		id   string
	}
	var all []file
	var errs []error
	base := [][]byte{defaultYAML}
	defaultFile := ""
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var head struct {
			ID string `yaml:"id"`
		}
		_ = yaml.Unmarshal(data, &head) // syntax errors are reported by parse
		if head.ID == DefaultID {
			if defaultFile != "" {
				errs = append(errs, &Error{File: f, Line: 1, Reason: "duplicate id \"default\" (also in " + defaultFile + ")"})
				continue
			}
			defaultFile = f
			base = append(base, data)
			continue
		}
		all = append(all, file{f, data, head.ID})
	}
	var def *Policy
	if defaultFile != "" {
		def, err = parse(defaultFile, base[:1], base[1], reg)
	} else {
		def, err = parse("default.yaml", nil, defaultYAML, reg)
	}
	if err != nil {
		errs = append(errs, err)
	}
	var payers []*Policy
	seen := map[string]string{}
	for _, f := range all {
		p, err := parse(f.name, base, f.data, reg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := seen[p.ID]; dup {
			errs = append(errs, &Error{File: f.name, Line: lineOf(f.data, "id"), Reason: fmt.Sprintf("duplicate id %q (also in %s)", p.ID, prev)})
			continue
		}
		seen[p.ID] = f.name
		payers = append(payers, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s, err := newSet(def, payers, reg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// lineOf returns the line of a top-level key in a YAML document, or 1.
func lineOf(data []byte, key string) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return 1
	}
	return nodeLine(&doc, key)
}

// parse decodes the base layers and then data into one Policy, validates it
// against data's own keys and resolves its value sets in reg.
func parse(name string, base [][]byte, data []byte, reg *terminology.Registry) (*Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(name, err)
	}
	if len(doc.Content) == 0 {
		return nil, &Error{File: name, Line: 1, Reason: "empty policy file"}
	}
	if doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: name, Line: doc.Content[0].Line, Reason: "a policy file must be a mapping"}
	}
	p := &Policy{}
	for i, layer := range base {
		if err := decodeStrict(layer, p); err != nil {
			return nil, yamlError(fmt.Sprintf("base layer %d", i), err)
		}
	}
	if err := decodeStrict(data, p); err != nil {
		return nil, yamlError(name, err)
	}
	if p.ID != DefaultID && !hasKey(&doc, "payer") {
		p.Payer = "" // the default's payer name describes the default only
	}
	v := &validator{file: name, root: &doc, reg: reg}
	v.policy(p)
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return p, nil
}

func decodeStrict(data []byte, p *Policy) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// yamlError turns yaml.v3 errors ("yaml: line 3: ...", unmarshal errors with
// one "line N: ..." per problem) into Errors naming file and line.
func yamlError(name string, err error) error {
	var errs []error
	for _, l := range strings.Split(err.Error(), "\n") {
		m := yamlLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		reason := m[2]
		if i := strings.Index(reason, " in type "); i >= 0 {
			reason = reason[:i]
		}
		reason = strings.Replace(reason, "field ", "unknown key ", 1)
		reason = strings.Replace(reason, " not found", "", 1)
		errs = append(errs, &Error{File: name, Line: n, Reason: reason})
	}
	if len(errs) == 0 {
		return &Error{File: name, Reason: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	return errors.Join(errs...)
}

// nodeLine walks path (mapping keys, or sequence indexes as decimal strings)
// from the document root and returns the line of the deepest node found.
func nodeLine(doc *yaml.Node, path ...string) int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					next = n.Content[i+1]
					line = n.Content[i].Line
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(p); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func hasKey(doc *yaml.Node, key string) bool {
	n := doc.Content[0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

type validator struct {
	file string
	root *yaml.Node
	reg  *terminology.Registry
	errs []error
	// noteNames is notes.Vocabulary as a set, built on first use.
	noteNames map[string]bool
}

// at records a problem at the line of path in the file's own YAML.
func (v *validator) at(path string, format string, args ...any) {
	var parts []string
	if path != "" {
		parts = strings.Split(path, ".")
	}
	reason := fmt.Sprintf(format, args...)
	if path != "" {
		reason = path + ": " + reason
	}
	v.errs = append(v.errs, &Error{File: v.file, Line: nodeLine(v.root, parts...), Reason: reason})
}

// codes resolves a named value set: a missing valueset key (when required),
// a set that is not loaded and an empty set are errors naming the URL.
func (v *validator) codes(path string, c *Codes, required bool) {
	if c.Empty() {
		if required {
			v.at(path, "needs a valueset (the canonical URL of a ValueSet)")
		}
		return
	}
	u := strings.TrimSpace(c.ValueSet)
	s := v.reg.Get(u)
	switch {
	case s == nil:
		v.at(path+".valueset", "value set %s is not loaded (neither shipped nor in the value set folder)", u)
	case s.Empty():
		v.at(path+".valueset", "value set %s is empty", u)
	}
	c.set = s
}

func (v *validator) policy(p *Policy) {
	if !hasKey(v.root, "id") {
		v.at("", "missing required key id")
	} else if !idPattern.MatchString(p.ID) {
		v.at("id", "%q must be lower-case letters, digits and hyphens", p.ID)
	}
	payer := p.ID != DefaultID
	if payer && !hasKey(v.root, "name") {
		v.at("", "missing required key name")
	}
	if strings.TrimSpace(p.Name) == "" {
		v.at("name", "must not be empty")
	}
	if payer {
		m := p.Match
		if !hasKey(v.root, "match") || len(m.PayorIdentifiers)+len(m.PayorDisplays)+len(m.OrganizationIDs) == 0 {
			v.at("match", "a payer policy needs at least one of payor_identifiers, payor_displays, organization_ids")
		}
		for key, list := range map[string][]string{"payor_identifiers": m.PayorIdentifiers, "payor_displays": m.PayorDisplays, "organization_ids": m.OrganizationIDs} {
			for i, s := range list {
				if strings.TrimSpace(s) == "" {
					v.at(fmt.Sprintf("match.%s.%d", key, i), "must not be empty")
				}
			}
		}
	}
	if !slices.Contains(paNeededCodes, p.PANeeded) {
		v.at("pa_needed", "%q is not a pa-needed code (%s)", p.PANeeded, strings.Join(paNeededCodes, ", "))
	}
	for i, l := range p.Links {
		path := fmt.Sprintf("links.%d", i)
		if strings.TrimSpace(l.Label) == "" {
			v.at(path+".label", "must not be empty")
		}
		if !absoluteURL(l.URL) {
			v.at(path+".url", "%q is not an absolute http(s) URL", l.URL)
		}
	}
	if p.Questionnaire != "" {
		canon, _, _ := strings.Cut(p.Questionnaire, "|")
		if !absoluteURL(canon) {
			v.at("questionnaire", "%q is not an absolute http(s) canonical URL", p.Questionnaire)
		}
	}
	v.therapy(p)
	v.between("repeat_mri_window_days", p.RepeatMRIWindowDays, 0, 3650)
	v.between("xray_lookback_days", p.XrayLookbackDays, 1, 3650)
	v.fever(&p.Fever)
	v.redFlags(p)
	v.codes("indication", &p.Indication, true)
	v.codes("lumbar_indication", &p.LumbarIndication, p.usesLumbarIndication())
	v.codes("imaging.lumbar_mri", &p.Imaging.LumbarMRI, true)
	v.codes("imaging.lumbar_body_sites", &p.Imaging.LumbarBodySites, true)
	v.codes("imaging.lumbar_xray", &p.Imaging.LumbarXray, p.XrayFirst)
	v.orders(&p.Orders)
	if len(p.Imaging.MRModalities) == 0 {
		v.at("imaging.mr_modalities", "needs at least one modality code")
	}
	if p.XrayFirst && len(p.Imaging.XrayModalities) == 0 {
		v.at("imaging", "xray_first needs lumbar_xray and xray_modalities")
	}
	p.buildIndex()
}

// usesLumbarIndication reports whether a red-flag criterion needs the
// lumbar-indication value set.
func (p *Policy) usesLumbarIndication() bool {
	for part := range p.RedFlags.Parts() {
		if part.Criterion.LumbarIndication {
			return true
		}
	}
	return false
}

func (v *validator) between(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.at(path, "%d is out of range (%d to %d)", n, lo, hi)
	}
}

func (v *validator) therapy(p *Policy) {
	t := &p.ConservativeTherapy
	v.between("conservative_therapy.min_days", t.MinDays, 1, 730)
	v.between("conservative_therapy.lookback_days", t.LookbackDays, 1, 3650)
	if t.LookbackDays < t.MinDays {
		v.at("conservative_therapy.lookback_days", "%d is shorter than min_days %d: the trial could never be met", t.LookbackDays, t.MinDays)
	}
	v.between("conservative_therapy.max_gap_days", t.MaxGapDays, 0, 365)
	v.between("conservative_therapy.min_visits", t.MinVisits, 0, 100)
	v.codes("conservative_therapy.followup_codes", &t.FollowupCodes, t.RequireFollowup)
	v.codes("conservative_therapy.nonspecific_reasons", &t.NonspecificReasons, false)
	alone := false
	rx := map[string]string{}
	for _, c := range t.Classes.All() {
		path := "conservative_therapy.classes." + string(c.Kind)
		if strings.TrimSpace(c.Class.Label) == "" {
			v.at(path+".label", "must not be empty")
		}
		if c.Class.Counts && c.Class.Alone {
			alone = true
		}
		if c.Class.Counts && strings.TrimSpace(c.Class.Source) == "" {
			v.at(path+".source", "a counted class needs a source citation")
		}
		v.codes(path+".procedures", &c.Class.Procedures, false)
		v.codes(path+".medications", &c.Class.Medications, len(c.Class.Ingredients) > 0)
		for i, ing := range c.Class.Ingredients {
			ip := fmt.Sprintf("%s.ingredients.%d", path, i)
			if !isDigits(ing.RxNorm, 1, 10) {
				v.at(ip+".rxnorm", "%q is not an RxNorm code", ing.RxNorm)
			}
			if strings.TrimSpace(ing.Name) == "" {
				v.at(ip+".name", "must not be empty")
			}
			if prev, dup := rx[ing.RxNorm]; dup {
				v.at(ip+".rxnorm", "RxNorm %s is also listed under %s", ing.RxNorm, prev)
			}
			if s := c.Class.Medications.Set(); s != nil && !s.Contains(SystemRxNorm, ing.RxNorm) {
				v.at(ip+".rxnorm", "RxNorm %s is not in the class's value set %s", ing.RxNorm, c.Class.Medications.ValueSet)
			}
			rx[ing.RxNorm] = string(c.Kind)
		}
	}
	if !alone {
		v.at("conservative_therapy.classes", "no class both counts and counts alone: the trial could never be met")
	}
}

func (v *validator) fever(f *Fever) {
	v.between("fever.within_days", f.WithinDays, 1, 365)
	v.codes("fever", &f.Codes, true)
	if len(f.Thresholds) == 0 {
		v.at("fever.thresholds", "needs at least one threshold")
	}
	for i, t := range f.Thresholds {
		path := fmt.Sprintf("fever.thresholds.%d", i)
		switch t.Unit {
		case "Cel":
			if t.Value < 36 || t.Value > 43 {
				v.at(path+".value", "%.1f Cel is not a plausible fever threshold (36 to 43)", t.Value)
			}
		case "[degF]":
			if t.Value < 96.8 || t.Value > 109.4 {
				v.at(path+".value", "%.1f [degF] is not a plausible fever threshold (96.8 to 109.4)", t.Value)
			}
		default:
			v.at(path+".unit", "%q must be the UCUM code Cel or [degF]", t.Unit)
		}
	}
}

var contrasts = []string{ContrastWithout, ContrastWithoutAndWith, ContrastEither}

func (v *validator) redFlags(p *Policy) {
	for _, rf := range p.RedFlags.All() {
		path := "red_flags." + string(rf.Kind)
		f := rf.Flag
		if strings.TrimSpace(f.Label) == "" {
			v.at(path+".label", "must not be empty")
		}
		if !slices.Contains(contrasts, f.Contrast) {
			v.at(path+".contrast", "%q must be one of %s", f.Contrast, strings.Join(contrasts, ", "))
		}
		for i := range f.Alone {
			c := &f.Alone[i]
			cp := fmt.Sprintf("%s.alone.%d", path, i)
			v.criterion(cp, c)
			if strings.TrimSpace(c.Source) == "" {
				v.at(cp, "needs a source citation")
			}
			if c.Indication || c.LumbarIndication {
				v.at(cp, "an indication alone is not a red flag")
			}
		}
		for i := range f.Combinations {
			cb := &f.Combinations[i]
			cp := fmt.Sprintf("%s.combinations.%d", path, i)
			if strings.TrimSpace(cb.Source) == "" {
				v.at(cp, "needs a source citation")
			}
			if len(cb.All) < 2 {
				v.at(cp+".all", "a combination needs at least two parts")
			}
			for j := range cb.All {
				v.criterion(fmt.Sprintf("%s.all.%d", cp, j), &cb.All[j])
			}
		}
	}
}

func (v *validator) criterion(path string, c *Criterion) {
	kinds := 0
	if !c.Empty() {
		kinds++
		v.codes(path, &c.Codes, true)
	}
	for _, b := range []bool{c.Fever, c.Indication, c.LumbarIndication, c.CancerStage} {
		if b {
			kinds++
		}
	}
	if len(c.Note) > 0 {
		kinds++
		if v.noteNames == nil {
			v.noteNames = map[string]bool{}
			for _, k := range notes.Vocabulary() {
				v.noteNames[k] = true
			}
		}
		for i, n := range c.Note {
			if !v.noteNames[n] {
				v.at(fmt.Sprintf("%s.note.%d", path, i), "%q is not a note concept or category", n)
			}
		}
	}
	if kinds != 1 {
		v.at(path, "needs exactly one of: valueset, fever: true, indication: true, lumbar_indication: true, cancer_stage: true, note")
	}
	if c.WithinDays < 0 || c.WithinDays > 3650 {
		v.at(path+".within_days", "%d is out of range (0 to 3650)", c.WithinDays)
	}
	if c.Ongoing && (c.Empty() || c.WithinDays == 0) {
		v.at(path+".ongoing", "needs a valueset and within_days")
	}
	if c.CancerStage && (c.WithinDays > 0 || c.Ongoing || c.History) {
		v.at(path+".cancer_stage", "takes only ended: true (no within_days, ongoing or history)")
	}
	if c.Ended && ((c.Empty() && !c.CancerStage) || c.History) {
		v.at(path+".ended", "needs a valueset or cancer_stage: true and excludes history: true")
	}
}

// Compile resolves the value sets of a policy assembled in Go rather than
// loaded (tests, tools) against reg, and builds its indexes. It returns the
// first value set that is missing or empty.
func (p *Policy) Compile(reg *terminology.Registry) error {
	v := &validator{file: "policy " + p.ID, root: &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}, reg: reg}
	for _, c := range p.allCodes() {
		v.codes(c.path, c.codes, false)
	}
	p.buildIndex()
	if len(v.errs) > 0 {
		return v.errs[0]
	}
	return nil
}

type namedCodes struct {
	path  string
	codes *Codes
}

// allCodes lists every value set reference of the policy with its key path.
func (p *Policy) allCodes() []namedCodes {
	out := []namedCodes{
		{"indication", &p.Indication}, {"lumbar_indication", &p.LumbarIndication}, {"fever", &p.Fever.Codes},
		{"conservative_therapy.followup_codes", &p.ConservativeTherapy.FollowupCodes},
		{"conservative_therapy.nonspecific_reasons", &p.ConservativeTherapy.NonspecificReasons},
		{"imaging.lumbar_mri", &p.Imaging.LumbarMRI}, {"imaging.lumbar_xray", &p.Imaging.LumbarXray},
		{"imaging.lumbar_body_sites", &p.Imaging.LumbarBodySites},
		{"orders.any", &p.Orders.Any}, {"orders.without_contrast", &p.Orders.WithoutContrast},
		{"orders.with_contrast", &p.Orders.WithContrast}, {"orders.without_and_with_contrast", &p.Orders.WithoutAndWithContrast},
	}
	for _, c := range p.ConservativeTherapy.Classes.All() {
		path := "conservative_therapy.classes." + string(c.Kind)
		out = append(out, namedCodes{path + ".procedures", &c.Class.Procedures}, namedCodes{path + ".medications", &c.Class.Medications})
	}
	for _, rf := range p.RedFlags.All() {
		path := "red_flags." + string(rf.Kind)
		for i := range rf.Flag.Alone {
			out = append(out, namedCodes{fmt.Sprintf("%s.alone.%d", path, i), &rf.Flag.Alone[i].Codes})
		}
		for i := range rf.Flag.Combinations {
			for j := range rf.Flag.Combinations[i].All {
				out = append(out, namedCodes{fmt.Sprintf("%s.combinations.%d.all.%d", path, i, j), &rf.Flag.Combinations[i].All[j].Codes})
			}
		}
	}
	return out
}

// ValueSets lists the canonical URLs the policy names, sorted, each once.
func (p *Policy) ValueSets() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range p.allCodes() {
		if u := strings.TrimSpace(c.codes.ValueSet); u != "" && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && !strings.ContainsAny(s, " \t\n")
}

// Set is the default policy plus the payer policies. It is read-only once
// built and safe for concurrent use.
type Set struct {
	reg          *terminology.Registry
	def          *Policy
	payers       []*Policy
	byIdentifier map[string]*Policy
	byDisplay    map[string]*Policy
	byOrg        map[string]*Policy
}

func newSet(def *Policy, payers []*Policy, reg *terminology.Registry) (*Set, error) {
	s := &Set{reg: reg, def: def, byIdentifier: map[string]*Policy{}, byDisplay: map[string]*Policy{}, byOrg: map[string]*Policy{}}
	sort.Slice(payers, func(i, j int) bool { return payers[i].ID < payers[j].ID })
	s.payers = payers
	var errs []error
	add := func(m map[string]*Policy, key string, p *Policy, what string) {
		if prev, dup := m[key]; dup && prev != p {
			errs = append(errs, fmt.Errorf("%w: policies %s and %s both match %s %q", ErrInvalid, prev.ID, p.ID, what, key))
			return
		}
		m[key] = p
	}
	for _, p := range payers {
		for _, v := range p.Match.PayorIdentifiers {
			add(s.byIdentifier, strings.TrimSpace(v), p, "payor identifier")
		}
		for _, v := range p.Match.PayorDisplays {
			add(s.byDisplay, normDisplay(v), p, "payor display")
		}
		for _, v := range p.Match.OrganizationIDs {
			add(s.byOrg, strings.TrimSpace(v), p, "organization id")
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func normDisplay(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// Default returns the default policy.
func (s *Set) Default() *Policy { return s.def }

// ValueSets returns the value set registry the policies were resolved
// against.
func (s *Set) ValueSets() *terminology.Registry { return s.reg }

// Policies lists the default policy first, then the payer policies by id.
func (s *Set) Policies() []*Policy {
	return append([]*Policy{s.def}, s.payers...)
}

// Get returns the policy with the id, or nil.
func (s *Set) Get(id string) *Policy {
	for _, p := range s.Policies() {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// ForCoverage returns the policy of the Coverage's payer: the first payor
// reference (in order) whose identifier.value, Organization reference or
// display matches a payer policy. An unknown payer or a nil Coverage gets the
// default policy.
func (s *Set) ForCoverage(cov *r4.Coverage) *Policy {
	if cov == nil {
		return s.def
	}
	for _, ref := range cov.Payor {
		if ref.Identifier != nil && ref.Identifier.Value != nil {
			if p, ok := s.byIdentifier[strings.TrimSpace(*ref.Identifier.Value)]; ok {
				return p
			}
		}
		if ref.Reference != nil {
			r := strings.TrimSpace(*ref.Reference)
			if i := strings.LastIndex(r, "Organization/"); i >= 0 && (i == 0 || r[i-1] == '/') {
				id := r[i+len("Organization/"):]
				if j := strings.Index(id, "/"); j >= 0 { // drop a _history/{vid} tail
					id = id[:j]
				}
				if p, ok := s.byOrg[id]; ok {
					return p
				}
			}
		}
		if ref.Display != nil {
			if p, ok := s.byDisplay[normDisplay(*ref.Display)]; ok {
				return p
			}
		}
	}
	return s.def
}

// orders checks the order value sets and the suggested codes: each
// suggestion names a variant, belongs to that variant's set, and each
// variant has a CPT entry (its billing code).
func (v *validator) orders(o *Orders) {
	v.codes("orders.any", &o.Any, true)
	sets := map[string]*Codes{OrderWithout: &o.WithoutContrast, OrderWith: &o.WithContrast, OrderWithoutAndWith: &o.WithoutAndWithContrast}
	v.codes("orders.without_contrast", &o.WithoutContrast, true)
	v.codes("orders.with_contrast", &o.WithContrast, true)
	v.codes("orders.without_and_with_contrast", &o.WithoutAndWithContrast, true)
	cpt := map[string]bool{}
	for i, oc := range o.Suggest {
		path := fmt.Sprintf("orders.suggest.%d", i)
		set, ok := sets[oc.Contrast]
		switch {
		case !ok:
			v.at(path+".contrast", "%q is not one of without, with, without-and-with", oc.Contrast)
		case set.Set() != nil && !set.Match(oc.System, oc.Code):
			v.at(path+".code", "%s %s is not in %s", oc.System, oc.Code, set.ValueSet)
		}
		if oc.System == SystemCPT {
			cpt[oc.Contrast] = true
		}
	}
	for _, c := range []string{OrderWithout, OrderWith, OrderWithoutAndWith} {
		if !cpt[c] {
			v.at("orders.suggest", "needs a CPT code for the %s variant (its billing code)", c)
		}
	}
}
