package fhir

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// seedChunk is the most entries per transaction. Some servers cap updates
// per transaction (Medplum at 50); several small transactions are as
// idempotent as one large one.
const seedChunk = 50

// seedTimeout bounds Seed when ctx has no deadline of its own.
const seedTimeout = 2 * time.Minute

// Summary says what Seed loaded.
type Summary struct {
	// Resources counts the resources written, per resource type.
	Resources map[string]int
	// Total is the number of resources written.
	Total int
	// Transactions is the number of transaction Bundles sent.
	Transactions int
}

// SeedFiles reads each file and seeds it; see Seed.
func SeedFiles(ctx context.Context, c *Client, paths ...string) (Summary, error) {
	docs := make([]json.RawMessage, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return Summary{}, fmt.Errorf("seed: %w", err) // names the path
		}
		var syntax *json.SyntaxError
		if err := json.Unmarshal(b, new(json.RawMessage)); errors.As(err, &syntax) {
			return Summary{}, fmt.Errorf("seed %s: not JSON (%s at byte %d)", filepath.Base(p), syntax, syntax.Offset)
		} else if err != nil {
			return Summary{}, fmt.Errorf("seed %s: not JSON (%v)", filepath.Base(p), err)
		}
		docs = append(docs, b)
	}
	sum, err := Seed(ctx, c, docs...)
	if err != nil && len(paths) == 1 {
		// Seed's own errors start with "seed"; add only which file.
		return sum, fmt.Errorf("%s: %w", filepath.Base(paths[0]), err)
	}
	return sum, err
}

// Seed writes scenario patients to any FHIR R4 server with transaction
// Bundles of PUTs with the resources' own ids, so seeding twice changes
// nothing. Each doc is a CDS Hooks request (its prefetch resources are
// seeded; its draftOrders are not, since EHRs do not serve unsigned orders),
// a Bundle of any type (its entry resources), or a single resource.
//
// A resource without an id gets one: the uuid of its urn:uuid fullUrl
// (references to that fullUrl are rewritten to Type/uuid), else a hash of its
// content, which keeps re-runs idempotent.
func Seed(ctx context.Context, c *Client, docs ...json.RawMessage) (Summary, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, seedTimeout)
		defer cancel()
	}
	var items []seedItem
	for i, d := range docs {
		got, err := seedItems(d, 0)
		if err != nil {
			return Summary{}, fmt.Errorf("seed document %d: %w", i, err)
		}
		items = append(items, got...)
	}
	resources, err := assignIDs(items)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Resources: map[string]int{}}
	for start := 0; start < len(resources); start += seedChunk {
		chunk := resources[start:min(start+seedChunk, len(resources))]
		if err := c.Transaction(ctx, transactionOf(chunk)); err != nil {
			return sum, fmt.Errorf("seed transaction %d: %w", sum.Transactions+1, err)
		}
		sum.Transactions++
		for _, r := range chunk {
			sum.Resources[r.typ]++
			sum.Total++
		}
	}
	return sum, nil
}

// seedItem is one resource found in a seed document.
type seedItem struct {
	fullURL string
	raw     json.RawMessage
}

// seedResource is a resource ready to PUT.
type seedResource struct {
	typ, id string
	raw     json.RawMessage
}

// seedItems collects the resources of one document.
func seedItems(doc json.RawMessage, depth int) ([]seedItem, error) {
	if depth > 3 {
		return nil, fmt.Errorf("Bundles nested too deep: %w", ErrMalformed)
	}
	var head struct {
		ResourceType string                     `json:"resourceType"`
		Hook         string                     `json:"hook"`
		Prefetch     map[string]json.RawMessage `json:"prefetch"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	t := bytes.TrimSpace(doc)
	if len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &head) != nil {
		return nil, fmt.Errorf("not a JSON object: %w", ErrMalformed)
	}
	switch {
	case head.ResourceType == "Bundle":
		var out []seedItem
		for _, e := range head.Entry {
			r := bytes.TrimSpace(e.Resource)
			if len(r) == 0 || r[0] != '{' {
				continue
			}
			var rt struct {
				ResourceType string `json:"resourceType"`
			}
			_ = json.Unmarshal(r, &rt)
			if rt.ResourceType == "Bundle" {
				nested, err := seedItems(r, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, nested...)
				continue
			}
			out = append(out, seedItem{fullURL: e.FullURL, raw: r})
		}
		return out, nil
	case head.ResourceType == "OperationOutcome":
		return nil, nil
	case head.ResourceType != "":
		return []seedItem{{raw: t}}, nil
	case head.Hook != "":
		keys := make([]string, 0, len(head.Prefetch))
		for k := range head.Prefetch {
			keys = append(keys, k)
		}
		slices.Sort(keys) // deterministic order of writes
		var out []seedItem
		for _, k := range keys {
			v := bytes.TrimSpace(head.Prefetch[k])
			if len(v) == 0 || v[0] != '{' { // null or junk: nothing to seed
				continue
			}
			got, err := seedItems(v, depth+1)
			if err != nil {
				return nil, fmt.Errorf("prefetch %q: %w", k, err)
			}
			out = append(out, got...)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("neither a FHIR resource nor a CDS Hooks request: %w", ErrMalformed)
	}
}

// assignIDs gives every resource an id, rewrites urn:uuid references,
// de-duplicates on Type/id (the last copy wins) and orders the result so that
// referenced resources (Patient first) precede the ones that refer to them:
// servers that check references on write (HAPI) need that across chunks.
func assignIDs(items []seedItem) ([]seedResource, error) {
	const urn = "urn:uuid:"
	rewrite := map[string]string{}
	var out []seedResource
	var invalid []string
	for _, it := range items {
		var p struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := json.Unmarshal(it.raw, &p); err != nil || p.ResourceType == "" {
			return nil, fmt.Errorf("seed: entry without resourceType: %w", ErrMalformed)
		}
		if p.ResourceType == "OperationOutcome" {
			continue
		}
		if why := unseedable(p.ResourceType, it.raw); why != "" {
			invalid = append(invalid, fmt.Sprintf("%s/%s (%s)", clipType(p.ResourceType), clipReason(p.ID), why))
			continue
		}
		r := seedResource{typ: p.ResourceType, id: p.ID, raw: it.raw}
		if r.id == "" {
			if u, ok := strings.CutPrefix(it.fullURL, urn); ok && idPattern.MatchString(u) {
				r.id = u
				rewrite[it.fullURL] = r.typ + "/" + u
			} else {
				sum := sha256.Sum256(it.raw)
				r.id = "seed-" + hex.EncodeToString(sum[:8])
			}
			raw, err := withID(it.raw, r.id)
			if err != nil {
				return nil, err
			}
			r.raw = raw
		}
		if !idPattern.MatchString(r.id) {
			return nil, fmt.Errorf("seed: %s id is not a FHIR id: %w", r.typ, ErrMalformed)
		}
		out = append(out, r)
	}
	if len(invalid) > 0 {
		if len(invalid) > 5 {
			invalid = append(invalid[:5], fmt.Sprintf("and %d more", len(invalid)-5))
		}
		return nil, fmt.Errorf("seed: nothing sent: not valid FHIR R4: %s: %w", strings.Join(invalid, "; "), ErrMalformed)
	}
	for i := range out {
		for from, to := range rewrite {
			out[i].raw = bytes.ReplaceAll(out[i].raw, []byte(`"`+from+`"`), []byte(`"`+to+`"`))
		}
	}
	// Last copy wins, first position kept.
	pos := map[string]int{}
	var uniq []seedResource
	for _, r := range out {
		k := r.typ + "/" + r.id
		if i, ok := pos[k]; ok {
			uniq[i] = r
			continue
		}
		pos[k] = len(uniq)
		uniq = append(uniq, r)
	}
	slices.SortStableFunc(uniq, func(a, b seedResource) int { return seedRank(a.typ) - seedRank(b.typ) })
	return uniq, nil
}

// unseedable says why a resource must not be written to a FHIR server, or ""
// when it may be: its type is not an R4 resource type, a member the service
// reads has the wrong JSON type ("subject": {"reference": 5}), or it does not
// decode as the service decodes it (an unknown status code). A server that
// checks what it stores (HAPI) refuses such a file; one that does not (the
// node test server, Medplum's memory store) keeps it, and then fails every
// search of that type for every patient while evaluating its search
// parameters, so that all answers become "could not be checked". Refusing
// here makes seeding give the same result on both.
func unseedable(typ string, raw json.RawMessage) string {
	if !r4Type(typ) {
		return "the resource type is not a FHIR R4 type"
	}
	var err error
	switch {
	case typ == "Medication":
		_, err = unmarshal[r4.Medication](raw)
	case readType(typ):
		// The peek's members are references in these types (not in every
		// R4 type: Contract.subject is a list), so it checks them here only.
		var p peek
		if p.read(raw) != nil {
			return "a member has the wrong JSON type"
		}
		err = (&decoder{rec: &Record{}}).decode(&p, raw)
	}
	if err != nil {
		return "not valid FHIR R4: " + clipReason(err.Error())
	}
	return ""
}

// seedRank orders types so that targets of references come first.
func seedRank(typ string) int {
	switch typ {
	case "Patient":
		return 0
	case "Organization", "Practitioner", "Location", "Medication":
		return 1
	case "PractitionerRole", "Coverage", "Encounter":
		return 2
	default:
		return 3
	}
}

// withID sets "id" on a resource's JSON without going through samply.
func withID(raw json.RawMessage, id string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("seed: %w", ErrMalformed)
	}
	m["id"], _ = json.Marshal(id)
	return json.Marshal(m)
}

// transactionOf builds a transaction Bundle of PUTs.
func transactionOf(rs []seedResource) []byte {
	type request struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	}
	type entry struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Request  request         `json:"request"`
	}
	b := struct {
		ResourceType string  `json:"resourceType"`
		Type         string  `json:"type"`
		Entry        []entry `json:"entry"`
	}{ResourceType: "Bundle", Type: "transaction"}
	for _, r := range rs {
		ref := r.typ + "/" + r.id
		b.Entry = append(b.Entry, entry{FullURL: ref, Resource: r.raw, Request: request{Method: http.MethodPut, URL: ref}})
	}
	out, _ := json.Marshal(b) // only RawMessages already validated and strings
	return out
}
