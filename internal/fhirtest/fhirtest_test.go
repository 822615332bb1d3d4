package fhirtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const seedBundle = `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"Patient/123","resource":{"resourceType":"Patient","id":"123","gender":"male"},"request":{"method":"PUT","url":"Patient/123"}},
 {"fullUrl":"Condition/c1","resource":{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/123"},"code":{"text":"a"}},"request":{"method":"PUT","url":"Condition/c1"}},
 {"fullUrl":"Condition/c2","resource":{"resourceType":"Condition","id":"c2","subject":{"reference":"Patient/123"},"code":{"text":"b"}},"request":{"method":"PUT","url":"Condition/c2"}},
 {"fullUrl":"Condition/c3","resource":{"resourceType":"Condition","id":"c3","subject":{"reference":"Patient/999"},"code":{"text":"c"}},"request":{"method":"PUT","url":"Condition/c3"}}
]}`

type searchset struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        int    `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL  string `json:"fullUrl"`
		Resource struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		} `json:"resource"`
		Search struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func getSearch(t *testing.T, url string) searchset {
	t.Helper()
	resp, b := get(t, url)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	var s searchset
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s searchset) link(rel string) string {
	for _, l := range s.Link {
		if l.Relation == rel {
			return l.URL
		}
	}
	return ""
}

func TestServer(t *testing.T) {
	srv := Start(t)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") || !strings.HasSuffix(srv.URL, "/fhir") {
		t.Fatalf("URL = %q", srv.URL)
	}
	srv.Load([]byte(seedBundle))
	srv.Load([]byte(seedBundle)) // PUT with client ids: idempotent

	t.Run("bare id, include, fullUrl, mode, paging", func(t *testing.T) {
		s := getSearch(t, srv.URL+"/Condition?patient=123&_include=Condition:subject&_count=1")
		if s.Type != "searchset" || s.Total != 2 || len(s.Entry) != 2 {
			t.Fatalf("got %+v", s)
		}
		if e := s.Entry[0]; e.Search.Mode != "match" || e.FullURL != srv.URL+"/Condition/"+e.Resource.ID {
			t.Errorf("match entry %+v", e)
		}
		if e := s.Entry[1]; e.Search.Mode != "include" || e.Resource.ResourceType != "Patient" || e.FullURL != srv.URL+"/Patient/123" {
			t.Errorf("include entry %+v", e)
		}
		if s.link("self") == "" || s.link("next") == "" {
			t.Fatalf("links %+v", s.Link)
		}
		p2 := getSearch(t, s.link("next"))
		if len(p2.Entry) != 2 || p2.Entry[0].Resource.ID == s.Entry[0].Resource.ID || p2.link("next") != "" {
			t.Errorf("page 2 %+v", p2)
		}
	})
	t.Run("reference form still works", func(t *testing.T) {
		if s := getSearch(t, srv.URL+"/Condition?subject=Patient/999"); len(s.Entry) != 1 || s.Entry[0].Resource.ID != "c3" {
			t.Errorf("got %+v", s)
		}
	})
	t.Run("read and 404", func(t *testing.T) {
		if resp, b := get(t, srv.URL+"/Patient/123"); resp.StatusCode != 200 || !strings.Contains(string(b), `"id":"123"`) {
			t.Errorf("read: %d %s", resp.StatusCode, b)
		}
		if resp, b := get(t, srv.URL+"/Patient/nope"); resp.StatusCode != 404 || !strings.Contains(string(b), "OperationOutcome") {
			t.Errorf("missing: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("CORS", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/Condition", nil)
		req.Header.Set("Origin", "http://example.org")
		req.Header.Set("Access-Control-Request-Method", "GET")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("reset", func(t *testing.T) {
		srv.Reset()
		if s := getSearch(t, srv.URL+"/Condition?patient=123"); len(s.Entry) != 0 || s.Total != 0 {
			t.Errorf("after reset: %+v", s)
		}
	})
}

// TestPostSearch: POST [type]/_search with a form body searches like GET
// (the CDS Hooks sandbox fills its prefetch this way).
func TestPostSearch(t *testing.T) {
	s := Start(t)
	s.Load([]byte(seedBundle))
	resp, err := http.Post(s.URL+"/Condition/_search", "application/x-www-form-urlencoded", strings.NewReader("patient=123"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got searchset
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || got.Total != 2 {
		t.Errorf("POST _search: %d, total %d; want 200 and the patient's 2 conditions", resp.StatusCode, got.Total)
	}
}
