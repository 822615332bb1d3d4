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
	"sort"
	"strconv"
	"strings"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
	"gopkg.in/yaml.v3"
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

// Parse reads one policy file named name (used in error messages). The file
// is overlaid on the embedded default policy: what it sets wins, what it
// leaves out is inherited. A file whose id is "default" yields a complete
// default policy.
func Parse(name string, data []byte) (*Policy, error) {
	return parse(name, [][]byte{defaultYAML}, data)
}

// defaultPayer is the embedded default policy's payer name (default.yaml).
const defaultPayer = "General lumbar MRI criteria (no payer-specific policy)"

// Default returns the set that holds only the embedded default policy.
func Default() *Set {
	p, err := parse("default.yaml", nil, defaultYAML)
	if err != nil {
		// The embedded file is covered by tests; keep serving with an
		// empty-coded policy rather than failing at run time.
		p = &Policy{ID: DefaultID, Name: "Lumbar MRI prior-authorization criteria (default)", Payer: defaultPayer, PANeeded: "auth-needed", Questionnaire: DefaultQuestionnaire}
		p.compileAll(func(int, string) {})
	}
	s, _ := newSet(p, nil)
	return s
}

// Load reads policies from path: one YAML file, or every *.yaml and *.yml
// file directly inside a folder. Each file holds one policy, overlaid on the
// default policy. A file with id "default" replaces the embedded default
// (itself overlaid on the embedded one) and is the base for the other files.
// Errors name the file and line of every problem found.
func Load(path string) (*Set, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	var files []string
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
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
			return nil, fmt.Errorf("policy: %w", err)
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
		def, err = parse(defaultFile, base[:1], base[1])
	} else {
		def, err = parse("default.yaml", nil, defaultYAML)
	}
	if err != nil {
		errs = append(errs, err)
	}
	var payers []*Policy
	seen := map[string]string{}
	for _, f := range all {
		p, err := parse(f.name, base, f.data)
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
	s, err := newSet(def, payers)
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
// against data's own keys and compiles it.
func parse(name string, base [][]byte, data []byte) (*Policy, error) {
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
	v := &validator{file: name, root: &doc}
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
	errs []error
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

func (v *validator) line(line int, path, reason string) {
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Reason: path + ": " + reason})
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
	if !contains(paNeededCodes, p.PANeeded) {
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
	if p.Indication.Empty() {
		v.at("indication", "needs at least one code")
	}
	if p.Imaging.LumbarMRI.Empty() {
		v.at("imaging.lumbar_mri", "needs at least one code")
	}
	if p.Imaging.LumbarBodySites.Empty() {
		v.at("imaging.lumbar_body_sites", "needs at least one code")
	}
	if len(p.Imaging.MRModalities) == 0 {
		v.at("imaging.mr_modalities", "needs at least one modality code")
	}
	if p.XrayFirst && (len(p.Imaging.XrayModalities) == 0 || p.Imaging.LumbarXray.Empty()) {
		v.at("imaging", "xray_first needs lumbar_xray codes and xray_modalities")
	}
	p.compileAll(func(line int, reason string) {
		v.errs = append(v.errs, &Error{File: v.file, Line: line, Reason: reason})
	})
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
	if t.RequireFollowup && t.FollowupCodes.Empty() {
		v.at("conservative_therapy.followup_codes", "require_followup needs at least one follow-up code")
	}
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
		for i, ing := range c.Class.Ingredients {
			ip := fmt.Sprintf("%s.ingredients.%d", path, i)
			if !isDigits(1, 10)(ing.RxNorm) {
				v.at(ip+".rxnorm", "%q is not an RxNorm code", ing.RxNorm)
			}
			if strings.TrimSpace(ing.Name) == "" {
				v.at(ip+".name", "must not be empty")
			}
			if prev, dup := rx[ing.RxNorm]; dup {
				v.at(ip+".rxnorm", "RxNorm %s is also listed under %s", ing.RxNorm, prev)
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
	if f.Empty() {
		v.at("fever", "needs at least one body-temperature code")
	}
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
		if !contains(contrasts, f.Contrast) {
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
				v.at(cp+".indication", "an indication alone is not a red flag")
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
	}
	if c.Fever {
		kinds++
	}
	if c.Indication {
		kinds++
	}
	if c.LumbarIndication {
		kinds++
	}
	if kinds != 1 {
		v.at(path, "needs exactly one of: codes, fever: true, indication: true, lumbar_indication: true")
	}
	if c.WithinDays < 0 || c.WithinDays > 3650 {
		v.at(path+".within_days", "%d is out of range (0 to 3650)", c.WithinDays)
	}
}

// compileAll compiles every code set of the policy and its indexes.
func (p *Policy) compileAll(bad func(line int, reason string)) {
	sets := []*Codes{
		&p.Indication, &p.LumbarIndication, &p.Fever.Codes, &p.ConservativeTherapy.FollowupCodes,
		&p.Imaging.LumbarMRI, &p.Imaging.LumbarXray, &p.Imaging.LumbarBodySites,
	}
	for _, c := range p.ConservativeTherapy.Classes.All() {
		sets = append(sets, &c.Class.Procedures)
	}
	for _, rf := range p.RedFlags.All() {
		for i := range rf.Flag.Alone {
			sets = append(sets, &rf.Flag.Alone[i].Codes)
		}
		for i := range rf.Flag.Combinations {
			for j := range rf.Flag.Combinations[i].All {
				sets = append(sets, &rf.Flag.Combinations[i].All[j].Codes)
			}
		}
	}
	for _, s := range sets {
		s.compile(bad)
	}
	p.buildIndex()
}

// Compile builds the lookup tables of a policy assembled in Go rather than
// loaded (tests, tools). It returns the first bad code found.
func (p *Policy) Compile() error {
	var first error
	p.compileAll(func(line int, reason string) {
		if first == nil {
			first = fmt.Errorf("%w: %s", ErrInvalid, reason)
		}
	})
	return first
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && !strings.ContainsAny(s, " \t\n")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Set is the default policy plus the payer policies. It is read-only once
// built and safe for concurrent use.
type Set struct {
	def          *Policy
	payers       []*Policy
	byIdentifier map[string]*Policy
	byDisplay    map[string]*Policy
	byOrg        map[string]*Policy
}

func newSet(def *Policy, payers []*Policy) (*Set, error) {
	s := &Set{def: def, byIdentifier: map[string]*Policy{}, byDisplay: map[string]*Policy{}, byOrg: map[string]*Policy{}}
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
