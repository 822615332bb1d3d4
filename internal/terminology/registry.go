package terminology

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed valuesets/*.json
var shippedFiles embed.FS

// Set is a compiled value set: membership and displays of its codes. It is
// read-only and safe for concurrent use.
type Set struct {
	vs *ValueSet
	// parts are unioned; a code in exclude is never a member.
	parts   []part
	exclude []part
	// size counts listed codes and filters (imports count their own).
	size     int
	displays map[string]string
	shipped  bool
}

// part is one selection: codes and ICD-10-CM filters of a system (sel, nil
// when the include names only value sets), intersected with every value set
// in sets.
type part struct {
	sel    *matcher
	system string
	sets   []*Set
}

// matcher holds codes by system (ICD-10-CM codes normalised) and
// ICD-10-CM is-a and descendent-of roots, normalised.
type matcher struct {
	codes      map[string]map[string]struct{}
	isa        map[string]struct{}
	descendant map[string]struct{}
	n          int
}

func newMatcher() *matcher {
	return &matcher{codes: map[string]map[string]struct{}{}, isa: map[string]struct{}{}, descendant: map[string]struct{}{}}
}

func (m *matcher) empty() bool { return m.n+len(m.isa)+len(m.descendant) == 0 }

// add adds a code and reports whether it was new.
func (m *matcher) add(system, code string) bool {
	c := normalize(system, code)
	set := m.codes[system]
	if set == nil {
		set = map[string]struct{}{}
		m.codes[system] = set
	}
	if _, dup := set[c]; dup {
		return false
	}
	set[c] = struct{}{}
	m.n++
	return true
}

// normalize returns the form a code is stored and looked up in.
func normalize(system, code string) string {
	if system == SystemICD10CM {
		return NormalizeICD10CM(code)
	}
	return strings.TrimSpace(code)
}

// key names a code of a system in the displays map.
func key(system, code string) string { return system + "|" + normalize(system, code) }

func (m *matcher) match(system, code string) bool {
	if system != SystemICD10CM {
		_, ok := m.codes[system][strings.TrimSpace(code)]
		return ok
	}
	// Normalise into a stack buffer: map lookups with string(bytes) do not
	// allocate.
	var buf [16]byte
	n := 0
	for i := 0; i < len(code); i++ {
		ch := code[i]
		switch {
		case ch == '.' || ch == ' ' || ch == '\t':
			continue
		case ch >= 'a' && ch <= 'z':
			ch -= 'a' - 'A'
		}
		if n == len(buf) {
			return false // longer than any ICD-10-CM code
		}
		buf[n] = ch
		n++
	}
	if _, ok := m.codes[system][string(buf[:n])]; ok {
		return true
	}
	if len(m.isa)+len(m.descendant) == 0 {
		return false
	}
	// ICD-10-CM descendants extend their ancestor's code: probe each prefix
	// of at least three characters (a category).
	for l := 3; l <= n; l++ {
		if _, ok := m.isa[string(buf[:l])]; ok {
			return true
		}
		if l < n {
			if _, ok := m.descendant[string(buf[:l])]; ok {
				return true
			}
		}
	}
	return false
}

func (p *part) match(system, code string) bool {
	if p.sel != nil && !p.sel.match(system, code) {
		return false
	}
	if p.system != "" && p.system != system {
		return false
	}
	for _, s := range p.sets {
		if !s.Contains(system, code) {
			return false
		}
	}
	return p.sel != nil || len(p.sets) > 0
}

// Contains reports whether the code of the system is in the set. ICD-10-CM
// codes are compared without dots and case; other codes exactly (spaces
// around them trimmed). A nil Set contains nothing.
func (s *Set) Contains(system, code string) bool {
	if s == nil {
		return false
	}
	for i := range s.exclude {
		if s.exclude[i].match(system, code) {
			return false
		}
	}
	for i := range s.parts {
		if s.parts[i].match(system, code) {
			return true
		}
	}
	return false
}

// Display returns the display the value set gives a code it lists, or "".
func (s *Set) Display(system, code string) string {
	if s == nil {
		return ""
	}
	if d, ok := s.displays[key(system, code)]; ok {
		return d
	}
	for _, p := range s.parts {
		for _, imp := range p.sets {
			if d := imp.Display(system, code); d != "" {
				return d
			}
		}
	}
	return ""
}

// Displays returns the displays the set gives the codes it lists, its
// imports' included, sorted and without repeats: the words a chart may use
// where it does not code the concept.
func (s *Set) Displays() []string {
	if s == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, d := range s.displays {
		seen[d] = d != ""
	}
	for _, p := range s.parts {
		for _, imp := range p.sets {
			for _, d := range imp.Displays() {
				seen[d] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for d, ok := range seen {
		if ok {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// URL is the set's canonical URL.
func (s *Set) URL() string { return s.vs.URL }

// Version is the set's business version.
func (s *Set) Version() string { return s.vs.Version }

// Title is the set's title.
func (s *Set) Title() string { return s.vs.Title }

// Sources lists where the set's codes come from (see ValueSet.Sources).
func (s *Set) Sources() []string { return s.vs.Sources() }

// File is the file the set was read from.
func (s *Set) File() string { return s.vs.file }

// Shipped reports whether the set is one the project ships (not replaced
// from an operator's folder).
func (s *Set) Shipped() bool { return s.shipped }

// Resource returns the ValueSet resource the set was compiled from. Callers
// must not modify it.
func (s *Set) Resource() *ValueSet { return s.vs }

// Size counts the codes the set lists and the ICD-10-CM filters it holds,
// its imports' included; an is-a filter counts as one.
func (s *Set) Size() int {
	if s == nil {
		return 0
	}
	n := s.size
	for _, p := range s.parts {
		for _, imp := range p.sets {
			n += imp.Size()
		}
	}
	return n
}

// Empty reports whether the set can hold no code.
func (s *Set) Empty() bool { return s.Size() == 0 }

// Registry is a collection of compiled value sets keyed by canonical URL.
// It is read-only once built and safe for concurrent use.
type Registry struct {
	sets map[string]*Set
}

// Get returns the set with the canonical URL (a "|version" tail is
// ignored), or nil.
func (r *Registry) Get(canonical string) *Set {
	if r == nil {
		return nil
	}
	return r.sets[stripVersion(canonical)]
}

// Sets lists the sets by URL.
func (r *Registry) Sets() []*Set {
	out := make([]*Set, 0, len(r.sets))
	for _, s := range r.sets {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL() < out[j].URL() })
	return out
}

// ShippedValueSets parses the embedded value sets.
func ShippedValueSets() ([]*ValueSet, error) {
	entries, err := shippedFiles.ReadDir("valuesets")
	if err != nil {
		return nil, fmt.Errorf("shipped value sets: %w", err)
	}
	var out []*ValueSet
	var errs []error
	for _, e := range entries {
		name := path.Join("valuesets", e.Name())
		data, err := shippedFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("shipped value sets: %w", err)
		}
		v, err := Parse(name, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, v)
	}
	return out, errors.Join(errs...)
}

// ShippedSet compiles one embedded value set, found by its id (the file
// name without ".json"), without the others: for a caller that needs one
// fixed set and not a policy's registry. It must not include others.
func ShippedSet(id string) (*Set, error) {
	name := path.Join("valuesets", id+".json")
	data, err := shippedFiles.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("shipped value set %s: %w", id, err)
	}
	v, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	r, err := New(v)
	if err != nil {
		return nil, err
	}
	return r.Get(v.URL), nil
}

// Shipped builds the registry of the embedded value sets alone.
func Shipped() (*Registry, error) {
	vs, err := ShippedValueSets()
	if err != nil {
		return nil, err
	}
	return build(vs, nil)
}

// ReadDir parses every *.json file directly inside dir as a ValueSet.
func ReadDir(dir string) ([]*ValueSet, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("value sets: %w", err)
	}
	var out []*ValueSet
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.EqualFold(filepath.Ext(e.Name()), ".json") {
			continue
		}
		name := filepath.Join(dir, e.Name())
		data, err := readLimited(name)
		if err != nil {
			errs = append(errs, &Error{File: name, Reason: err.Error()})
			continue
		}
		v, err := Parse(name, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, v)
	}
	return out, errors.Join(errs...)
}

func readLimited(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxFileBytes)
	}
	return os.ReadFile(name)
}

// Load builds the registry of the embedded value sets with the files of
// dir (when not empty) added: a file whose url equals a shipped set's
// replaces it. Two files in dir with one url are an error, and so is any
// bad file: the caller keeps its previous registry.
func Load(dir string) (*Registry, error) {
	shipped, err := ShippedValueSets()
	if err != nil {
		return nil, err
	}
	var extra []*ValueSet
	if dir != "" {
		if extra, err = ReadDir(dir); err != nil {
			return nil, err
		}
	}
	return build(shipped, extra)
}

// New builds a registry from value sets (tests and tools); URLs must be
// unique.
func New(sets ...*ValueSet) (*Registry, error) { return build(nil, sets) }

// build compiles shipped sets overlaid with extra ones.
func build(shipped, extra []*ValueSet) (*Registry, error) {
	byURL := map[string]*ValueSet{}
	isShipped := map[string]bool{}
	for _, v := range shipped {
		if prev, dup := byURL[v.URL]; dup {
			return nil, &Error{File: v.file, URL: v.URL, Reason: "url also used by " + prev.file}
		}
		byURL[v.URL] = v
		isShipped[v.URL] = true
	}
	fromExtra := map[string]string{}
	var errs []error
	for _, v := range extra {
		if prev, dup := fromExtra[v.URL]; dup {
			errs = append(errs, &Error{File: v.file, URL: v.URL, Reason: "url also used by " + prev})
			continue
		}
		fromExtra[v.URL] = v.file
		byURL[v.URL] = v
		isShipped[v.URL] = false
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c := &compiler{src: byURL, done: map[string]*Set{}, busy: map[string]bool{}}
	urls := make([]string, 0, len(byURL))
	for u := range byURL {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	for _, u := range urls {
		if _, err := c.compile(u, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for u, s := range c.done {
		s.shipped = isShipped[u]
	}
	return &Registry{sets: c.done}, nil
}

type compiler struct {
	src  map[string]*ValueSet
	done map[string]*Set
	busy map[string]bool
}

func (c *compiler) compile(u string, chain []string) (*Set, error) {
	if s, ok := c.done[u]; ok {
		return s, nil
	}
	v := c.src[u]
	if c.busy[u] {
		return nil, &Error{File: v.file, URL: u, Reason: "imports itself: " + strings.Join(append(chain, u), " -> ")}
	}
	c.busy[u] = true
	defer delete(c.busy, u)
	s := &Set{vs: v, displays: map[string]string{}}
	if v.Expansion != nil {
		// The expansion is the set's content (FHIR: the result of the
		// compose as evaluated by a terminology server).
		m := newMatcher()
		walkContains(v.Expansion.Contains, func(ct Contains) {
			if ct.Code == "" || ct.System == "" {
				return
			}
			if m.add(ct.System, ct.Code) {
				s.size++
			}
			if ct.Display != "" {
				s.displays[key(ct.System, ct.Code)] = ct.Display
			}
		})
		if !m.empty() {
			s.parts = []part{{sel: m}}
		}
		c.done[u] = s
		return s, nil
	}
	var err error
	if s.parts, err = c.parts(v, u, v.Compose.Include, s, chain); err != nil {
		return nil, err
	}
	if s.exclude, err = c.parts(v, u, v.Compose.Exclude, nil, chain); err != nil {
		return nil, err
	}
	c.done[u] = s
	return s, nil
}

// parts compiles includes (or excludes, with s nil): the includes without
// value sets merge into one matcher; each include with value sets is a part
// of its own.
func (c *compiler) parts(v *ValueSet, u string, list []Include, s *Set, chain []string) ([]part, error) {
	merged := newMatcher()
	var out []part
	for _, in := range list {
		listed := len(in.Concept) > 0 || len(in.Filter) > 0
		if in.System != "" && !listed && len(in.ValueSet) == 0 {
			return nil, &Error{File: v.file, URL: u, Reason: fmt.Sprintf("an include of all of %s cannot be evaluated here: list its concepts or give an expansion", in.System)}
		}
		m := merged
		if len(in.ValueSet) > 0 {
			m = nil
			if listed {
				m = newMatcher()
			}
		}
		if m != nil {
			n := addInclude(m, in, s)
			if s != nil {
				s.size += n
			}
		}
		if len(in.ValueSet) == 0 {
			continue
		}
		p := part{sel: m, system: in.System}
		for _, ref := range in.ValueSet {
			ru := stripVersion(ref)
			if _, ok := c.src[ru]; !ok {
				return nil, &Error{File: v.file, URL: u, Reason: fmt.Sprintf("imports value set %s, which is not loaded", ru)}
			}
			imp, err := c.compile(ru, append(chain, u))
			if err != nil {
				return nil, err
			}
			p.sets = append(p.sets, imp)
		}
		out = append(out, p)
	}
	if !merged.empty() {
		out = append([]part{{sel: merged}}, out...)
	}
	return out, nil
}

// addInclude adds an include's concepts and filters to m and returns how
// many it added; displays go to s when not nil.
func addInclude(m *matcher, in Include, s *Set) int {
	n := 0
	for _, ct := range in.Concept {
		if m.add(in.System, ct.Code) {
			n++
		}
		if s != nil && ct.Display != "" {
			s.displays[key(in.System, ct.Code)] = ct.Display
		}
	}
	for _, f := range in.Filter {
		// Filters are validated to be on ICD-10-CM (others need an
		// expansion, which takes precedence).
		k := NormalizeICD10CM(f.Value)
		switch f.Op {
		case "is-a":
			m.isa[k] = struct{}{}
		case "descendent-of":
			m.descendant[k] = struct{}{}
		}
		n++
	}
	return n
}
