package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/terminology"
)

const (
	valuesetSynopsis = "valueset expand --tx URL --url CANONICAL [--out FILE] [--user U --password P | --token T]"
	valuesetWhat     = "Expand a value set with a FHIR terminology server (ValueSet/$expand) and write it as the service loads it."
)

// valuesetCmd runs the value set subcommands (expand). Help without a
// subcommand is the help of expand, the only one.
func valuesetCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		return valuesetExpand(ctx, []string{"-h"}, getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "expand" {
		fmt.Fprintf(stderr, "usage: lumbar-mri-cds %s\n", valuesetSynopsis)
		return usageError{errors.New("valueset needs a subcommand: expand")}
	}
	return valuesetExpand(ctx, args[1:], getenv, stdout, stderr)
}

// maxExpandPages bounds the pages one expansion may take (a runaway server
// that never reaches its total).
const maxExpandPages = 1000

// maxExpandBody bounds one $expand response.
const maxExpandBody = 64 << 20

// valuesetExpand asks a FHIR terminology server for ValueSet/$expand of a
// canonical URL, pages through the expansion, checks the result as the
// service would load it and writes it.
func valuesetExpand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("valueset expand", getenv, stderr)
	var tx, canonical, version, out, user, password, token string
	var timeout time.Duration
	var pageSize int
	f.str(&tx, "tx", "", "FHIR terminology server base URL, e.g. https://cts.nlm.nih.gov/fhir", false)
	f.StringVar(&canonical, "url", "", "canonical URL of the value set to expand")
	f.StringVar(&version, "version", "", "value set version to expand (valueSetVersion; default: the server's latest)")
	f.StringVar(&out, "out", "", "write the expanded ValueSet JSON to this file (default: standard output)")
	f.str(&user, "user", "", "HTTP Basic user (VSAC: apikey)", false)
	f.str(&password, "password", "", "HTTP Basic password (VSAC: your UMLS API key)", true)
	f.str(&token, "token", "", "bearer token (instead of --user/--password)", true)
	f.duration(&timeout, "timeout", 2*time.Minute, "deadline for the whole expansion")
	f.IntVar(&pageSize, "page-size", 1000, "codes asked for per request (count)")
	f.usage(stderr, valuesetSynopsis, valuesetWhat)
	if err := f.parse(args); err != nil {
		return err
	}
	switch {
	case tx == "" || canonical == "":
		f.Usage()
		return usageError{errors.New("valueset expand needs --tx and --url")}
	case token != "" && (user != "" || password != ""):
		return usageError{errors.New("give either --token or --user/--password, not both")}
	case (user == "") != (password == ""):
		return usageError{errors.New("--user and --password go together")}
	case pageSize < 1 || pageSize > 100000:
		return usageError{errors.New("--page-size must be between 1 and 100000")}
	}
	base, err := url.Parse(strings.TrimRight(tx, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return usageError{fmt.Errorf("--tx %q is not an absolute http(s) URL", tx)}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	x := &expander{base: base.String(), client: &http.Client{}, user: user, password: password, token: token}
	vs, n, err := x.expand(ctx, canonical, version, pageSize)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the expansion: %w", err)
	}
	data = append(data, '\n')
	name := out
	if name == "" {
		name = "the expansion of " + canonical
	}
	// The service must be able to load what is written: same checks.
	checked, err := terminology.Parse(name, data)
	if err != nil {
		return fmt.Errorf("the server's answer is not a value set the service can load: %w", err)
	}
	if _, err := terminology.New(checked); err != nil {
		return fmt.Errorf("the server's answer is not a value set the service can load: %w", err)
	}
	if out == "" {
		_, err = stdout.Write(data)
		return err
	}
	if err := writeFileAtomic(out, data); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %d codes of %s (version %s) to %s\n", n, checked.URL, checked.Version, out)
	return nil
}

// writeFileAtomic writes through a temporary file and a rename, so a
// watching service never reads half a file.
func writeFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".valueset-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

type expander struct {
	base                  string
	client                *http.Client
	user, password, token string
}

// expandPage is one $expand answer: the resource as sent (every element
// kept) and its expansion's paging fields.
type expandPage struct {
	raw       map[string]json.RawMessage
	expansion map[string]json.RawMessage
	contains  []json.RawMessage
	total     *int
	url       string
}

// expand fetches every page of the expansion and returns the first page's
// resource with the whole expansion (total set, offset and count dropped),
// every other element as the server sent it.
func (x *expander) expand(ctx context.Context, canonical, version string, pageSize int) (map[string]json.RawMessage, int, error) {
	var first *expandPage
	var contains []json.RawMessage
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page == maxExpandPages {
			return nil, 0, fmt.Errorf("expansion of %s still incomplete after %d pages", canonical, maxExpandPages)
		}
		p, err := x.page(ctx, canonical, version, len(contains), pageSize)
		if err != nil {
			return nil, 0, err
		}
		// A server that ignores offset sends the first page again: a
		// repeated code or an offset other than the one asked for means the
		// pages cannot be joined into one expansion.
		if o, ok := p.expansion["offset"]; ok {
			var got int
			if json.Unmarshal(o, &got) != nil || got != len(contains) {
				return nil, 0, fmt.Errorf("asked %s for offset %d, the server answered offset %s: it does not page as $expand defines; try a larger --page-size", canonical, len(contains), fhir.Printable(string(o)))
			}
		}
		for _, c := range p.contains {
			var cd struct{ System, Code string }
			_ = json.Unmarshal(c, &cd)
			k := cd.System + "|" + cd.Code
			if seen[k] {
				return nil, 0, fmt.Errorf("the server sent %s %s twice (page at offset %d): its pages overlap, so the expansion would be wrong; try a larger --page-size", fhir.Printable(cd.System), fhir.Printable(cd.Code), len(contains))
			}
			seen[k] = true
		}
		contains = append(contains, p.contains...)
		if p.total != nil && len(contains) > *p.total {
			return nil, 0, fmt.Errorf("the server sent %d codes of %s, more than its total of %d", len(contains), canonical, *p.total)
		}
		if first == nil {
			first = p
		}
		// Done when the total is reached; without a total, at a short page
		// or when the server does not page (no expansion.offset).
		_, paged := p.expansion["offset"]
		if p.total != nil && len(contains) >= *p.total || p.total == nil && (len(p.contains) < pageSize || !paged) {
			break
		}
		if len(p.contains) == 0 {
			return nil, 0, fmt.Errorf("the server stopped at %d of %d codes of %s", len(contains), *p.total, canonical)
		}
	}
	switch first.url {
	case "":
		first.raw["url"], _ = json.Marshal(canonical)
	case canonical:
	default:
		return nil, 0, fmt.Errorf("asked for %s, the server answered %s", canonical, first.url)
	}
	n := len(contains)
	exp := first.expansion
	exp["contains"], _ = json.Marshal(contains)
	exp["total"], _ = json.Marshal(n)
	delete(exp, "offset")
	if params, ok := exp["parameter"]; ok {
		// Paging parameters describe one page, not the whole expansion.
		var list []map[string]json.RawMessage
		if json.Unmarshal(params, &list) == nil {
			kept := list[:0]
			for _, p := range list {
				var name string
				_ = json.Unmarshal(p["name"], &name)
				if name != "offset" && name != "count" {
					kept = append(kept, p)
				}
			}
			exp["parameter"], _ = json.Marshal(kept)
		}
	}
	first.raw["expansion"], _ = json.Marshal(exp)
	return first.raw, n, nil
}

// page asks for one page of the expansion.
func (x *expander) page(ctx context.Context, canonical, version string, offset, count int) (*expandPage, error) {
	q := url.Values{}
	q.Set("url", canonical)
	if version != "" {
		q.Set("valueSetVersion", version)
	}
	q.Set("offset", strconv.Itoa(offset))
	q.Set("count", strconv.Itoa(count))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, x.base+"/ValueSet/$expand?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("expand %s: %w", canonical, err)
	}
	req.Header.Set("Accept", "application/fhir+json")
	switch {
	case x.token != "":
		req.Header.Set("Authorization", "Bearer "+x.token)
	case x.user != "":
		req.SetBasicAuth(x.user, x.password)
	}
	resp, err := x.client.Do(req)
	if err != nil {
		// The error names the URL, which carries no credential.
		return nil, fmt.Errorf("expand %s: %w", canonical, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxExpandBody+1))
	if err != nil {
		return nil, fmt.Errorf("expand %s: reading the answer: %w", canonical, err)
	}
	if len(body) > maxExpandBody {
		return nil, fmt.Errorf("expand %s: the answer is larger than %d bytes", canonical, maxExpandBody)
	}
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	notJSON := json.Unmarshal(body, &head) != nil
	if resp.StatusCode/100 != 2 || head.ResourceType == "OperationOutcome" {
		msg := outcomeText(body)
		if msg == "" {
			msg = strings.TrimSpace(string(body))
			if len(msg) > 200 {
				msg = msg[:200] + "..."
			}
		}
		msg = fhir.Printable(msg)
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = " (check --user/--password or --token; VSAC takes user apikey and your UMLS API key)"
		}
		return nil, fmt.Errorf("expand %s: HTTP %d: %s%s", canonical, resp.StatusCode, msg, hint)
	}
	if notJSON {
		return nil, fmt.Errorf("expand %s: the answer is not JSON (Content-Type %q): is --tx the FHIR base URL of a terminology server?", canonical, fhir.Printable(resp.Header.Get("Content-Type")))
	}
	if head.ResourceType != "ValueSet" {
		return nil, fmt.Errorf("expand %s: the server answered a %q, not a ValueSet", canonical, fhir.Printable(head.ResourceType))
	}
	p := &expandPage{}
	if err := json.Unmarshal(body, &p.raw); err != nil {
		return nil, fmt.Errorf("expand %s: %w", canonical, err)
	}
	_ = json.Unmarshal(p.raw["url"], &p.url)
	if len(p.raw["expansion"]) == 0 {
		return nil, fmt.Errorf("expand %s: the server answered without an expansion", canonical)
	}
	if err := json.Unmarshal(p.raw["expansion"], &p.expansion); err != nil {
		return nil, fmt.Errorf("expand %s: expansion: %w", canonical, err)
	}
	if c, ok := p.expansion["contains"]; ok {
		if err := json.Unmarshal(c, &p.contains); err != nil {
			return nil, fmt.Errorf("expand %s: expansion.contains: %w", canonical, err)
		}
	}
	if t, ok := p.expansion["total"]; ok {
		var n int
		if err := json.Unmarshal(t, &n); err != nil {
			return nil, fmt.Errorf("expand %s: expansion.total: %w", canonical, err)
		}
		p.total = &n
	}
	return p, nil
}

// outcomeText joins the diagnostics and details of an OperationOutcome.
func outcomeText(body []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string `json:"severity"`
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
			Details     struct {
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return ""
	}
	var parts []string
	for _, is := range oo.Issue {
		t := is.Diagnostics
		if t == "" {
			t = is.Details.Text
		}
		if t == "" {
			t = is.Code
		}
		parts = append(parts, is.Severity+": "+t)
	}
	return strings.Join(parts, "; ")
}
