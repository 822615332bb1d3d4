package fhir

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// hapiPaging answers a search as HAPI FHIR does by default: 20 entries a page
// unless _count asks for more, at most 200 a page, with a next link while
// entries remain.
func hapiPaging(resources []string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		count := 20
		if n, err := strconv.Atoi(q.Get("_count")); err == nil && n > 0 {
			count = min(n, 200)
		}
		offset, _ := strconv.Atoi(q.Get("_offset"))
		end := min(offset+count, len(resources))
		next := ""
		if end < len(resources) {
			nq := req.URL.Query()
			nq.Set("_count", strconv.Itoa(count))
			nq.Set("_offset", strconv.Itoa(end))
			next = "http://" + req.Host + req.URL.Path + "?" + nq.Encode()
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprint(w, bundleOf("searchset", next, resources[offset:end]...))
	}
}

// TestLoadAsksForLargePages: a chart of 250 Observations (vital signs add up
// over the years) on a server that pages by 20 unless asked otherwise needs
// 13 pages; the service reads at most 10. It asks for pages of
// MaxResources/MaxPages entries (_count), so that a search is cut by the
// documented 2000-entry cap, not by the server's default page size.
func TestLoadAsksForLargePages(t *testing.T) {
	var obs []string
	for i := range 250 {
		obs = append(obs, fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","code":{"text":"Heart rate"},"subject":{"reference":"Patient/%s"}}`, i, testPatient))
	}
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		if typ == "Observation" {
			return hapiPaging(obs)
		}
		return nil
	})
	l, _ := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, FHIRServer: srv.base()})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Complete() || len(rec.Observations) != len(obs) {
		t.Errorf("Observations: %d of %d, unavailable %v", len(rec.Observations), len(obs), rec.Unavailable)
	}
}
