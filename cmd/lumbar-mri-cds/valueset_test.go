package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/terminology"
)

const (
	vsacCanonical = "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.464.1003.196.12.1266"
	testUMLSKey   = "umls-key-0f3c9a"
)

// expandServer answers ValueSet/$expand the way VSAC does: HTTP Basic with
// user apikey, pages by offset and count, an OperationOutcome for errors.
// It records the requests it saw.
func expandServer(t *testing.T, codes []string) (*httptest.Server, *[]string) {
	t.Helper()
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/fhir+json")
		outcome := func(status int, code, text string) {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":%q,"diagnostics":%q}]}`, code, text)
		}
		user, pass, ok := r.BasicAuth()
		bearer := r.Header.Get("Authorization") == "Bearer tok-123"
		if !bearer && (!ok || user != "apikey" || pass != testUMLSKey) {
			outcome(http.StatusUnauthorized, "login", "authentication required")
			return
		}
		if r.URL.Path != "/fhir/ValueSet/$expand" {
			outcome(http.StatusNotFound, "not-found", "no such operation")
			return
		}
		q := r.URL.Query()
		if q.Get("url") != vsacCanonical {
			outcome(http.StatusNotFound, "not-found", "Value set "+q.Get("url")+" not found")
			return
		}
		offset, _ := strconv.Atoi(q.Get("offset"))
		count, _ := strconv.Atoi(q.Get("count"))
		end := min(offset+count, len(codes))
		var contains []map[string]string
		for _, c := range codes[offset:end] {
			contains = append(contains, map[string]string{"system": terminology.SystemRxNorm, "version": "2020-05", "code": c})
		}
		json.NewEncoder(w).Encode(map[string]any{
			"resourceType": "ValueSet", "id": "2.16.840.1.113883.3.464.1003.196.12.1266",
			"url":        vsacCanonical,
			"identifier": []map[string]string{{"system": "urn:ietf:rfc:3986", "value": "urn:oid:2.16.840.1.113883.3.464.1003.196.12.1266"}},
			"version":    "20200507", "name": "GlucocorticoidsOralOnly", "title": "Glucocorticoids (oral only)",
			"status": "active", "publisher": "test terminology server",
			"expansion": map[string]any{
				"identifier": "urn:uuid:1", "timestamp": "2026-11-30T00:00:00Z", "total": len(codes), "offset": offset,
				"parameter": []map[string]any{{"name": "count", "valueInteger": count}, {"name": "offset", "valueInteger": offset}, {"name": "displayLanguage", "valueCode": "en-US"}},
				"contains":  contains,
			},
		})
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestValuesetExpand(t *testing.T) {
	codes := []string{"1005830", "1013114", "1085728", "1303125", "1303132", "197577", "197579"}
	srv, seen := expandServer(t, codes)
	out := filepath.Join(t.TempDir(), "glucocorticoids.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"valueset", "expand", "--tx", srv.URL + "/fhir/", "--url", vsacCanonical,
		"--out", out, "--user", "apikey", "--page-size", "3"}, env(map[string]string{"LUMBAR_MRI_CDS_PASSWORD": testUMLSKey}),
		strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("expand: %v\n%s", err, stderr.String())
	}
	if len(*seen) != 3 {
		t.Errorf("requests %q, want 3 pages of 3", *seen)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := terminology.Parse(out, data)
	if err != nil {
		t.Fatalf("written file does not load: %v", err)
	}
	reg, err := terminology.New(vs)
	if err != nil {
		t.Fatal(err)
	}
	set := reg.Get(vsacCanonical)
	for _, c := range codes {
		if !set.Contains(terminology.SystemRxNorm, c) {
			t.Errorf("code %s missing from the written expansion", c)
		}
	}
	if *vs.Expansion.Total != len(codes) || vs.Expansion.Offset != nil || set.Size() != len(codes) {
		t.Errorf("total %v, offset %v, size %d; want %d, none, %d", *vs.Expansion.Total, vs.Expansion.Offset, set.Size(), len(codes), len(codes))
	}
	if strings.Contains(string(data), `"offset"`) || !strings.Contains(string(data), "displayLanguage") || !strings.Contains(string(data), "urn:oid:") {
		t.Errorf("paging parameters kept or other elements lost:\n%s", data)
	}
	if !strings.Contains(stderr.String(), "wrote 7 codes") {
		t.Errorf("stderr %q", stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), testUMLSKey) {
		t.Error("the UMLS key was printed")
	}
}

func TestValuesetExpandBearerToStdout(t *testing.T) {
	srv, _ := expandServer(t, []string{"197577"})
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"valueset", "expand", "--tx", srv.URL + "/fhir", "--url", vsacCanonical, "--token", "tok-123"},
		env(nil), strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("expand: %v", err)
	}
	if _, err := terminology.Parse("stdout", stdout.Bytes()); err != nil {
		t.Errorf("stdout is not a loadable ValueSet: %v\n%s", err, stdout.String())
	}
}

func TestValuesetExpandErrors(t *testing.T) {
	srv, _ := expandServer(t, []string{"197577"})
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"wrong key", []string{"--url", vsacCanonical, "--user", "apikey", "--password", "wrong-key"}, nil,
			"HTTP 401: error: authentication required (check --user/--password or --token"},
		{"unknown value set", []string{"--url", "http://cts.nlm.nih.gov/fhir/ValueSet/9.9"}, map[string]string{"LUMBAR_MRI_CDS_USER": "apikey", "LUMBAR_MRI_CDS_PASSWORD": testUMLSKey},
			"HTTP 404: error: Value set http://cts.nlm.nih.gov/fhir/ValueSet/9.9 not found"},
		{"token and password", []string{"--url", vsacCanonical, "--token", "t", "--user", "apikey", "--password", "p"}, nil, "either --token or --user/--password"},
		{"no url", nil, nil, "needs --tx and --url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"valueset", "expand", "--tx", srv.URL + "/fhir"}, tt.args...)
			err := run(context.Background(), args, env(tt.vars), strings.NewReader(""), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error()+stdout.String()+stderr.String(), testUMLSKey) || strings.Contains(err.Error(), "wrong-key") {
				t.Error("a credential was printed")
			}
		})
	}
}

// TestValuesetExpandRefusesWhatCannotLoad: an answer without a version or
// title is refused, and nothing is written.
func TestValuesetExpandRefusesWhatCannotLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"resourceType":"ValueSet","url":%q,"publisher":"X","expansion":{"total":1,"contains":[{"system":"http://snomed.info/sct","code":"192970008"}]}}`, vsacCanonical)
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "x.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"valueset", "expand", "--tx", srv.URL, "--url", vsacCanonical, "--out", out}, env(nil), strings.NewReader(""), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "version is required") {
		t.Fatalf("error %v, want version is required", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a file was written: %v", err)
	}
}

// TestValuesetExpandRefusesBrokenPaging: a server that ignores offset (the
// first page again, with or without expansion.offset) or answers a web
// page is refused with a reason, instead of an expansion with repeated codes
// and missing ones written as a success.
func TestValuesetExpandRefusesBrokenPaging(t *testing.T) {
	codes := []string{"1", "2", "3", "4", "5"}
	page := func(w http.ResponseWriter, offsetField bool) {
		exp := map[string]any{"timestamp": "2026-11-30T00:00:00Z", "total": len(codes)}
		if offsetField {
			exp["offset"] = 0
		}
		var contains []map[string]string
		for _, c := range codes[:2] {
			contains = append(contains, map[string]string{"system": terminology.SystemRxNorm, "code": c})
		}
		exp["contains"] = contains
		w.Header().Set("Content-Type", "application/fhir+json")
		json.NewEncoder(w).Encode(map[string]any{"resourceType": "ValueSet", "url": vsacCanonical, "version": "1",
			"title": "T", "status": "active", "expansion": exp})
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"offset ignored, offset echoed as 0", func(w http.ResponseWriter, r *http.Request) { page(w, true) }, "answered offset 0"},
		{"offset ignored, no offset element", func(w http.ResponseWriter, r *http.Request) { page(w, false) }, "twice"},
		{"a web page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body>\x1b[31mlogin</body></html>")
		}, `not JSON (Content-Type "text/html")`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			out := filepath.Join(t.TempDir(), "vs.json")
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"valueset", "expand", "--tx", srv.URL, "--url", vsacCanonical, "--page-size", "2", "--out", out},
				env(nil), strings.NewReader(""), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if strings.ContainsRune(err.Error(), 0x1b) {
				t.Error("a terminal escape from the server was printed")
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Error("a value set was written")
			}
		})
	}
}
