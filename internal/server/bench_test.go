//go:build unix

package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/loadtest"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// largeFixture is the realistic ~200-resource order-sign request of the
// scenarios; when it is absent, largeRequest builds an equivalent one.
var largeFixture = filepath.Join("..", "..", "testdata", "scenarios", "large-200.json")

// BenchmarkOrderSign measures one order-sign call through the real router
// (request id, CORS, audit, authentication off, handler, pipeline) with a
// prefetch of about 200 resources. "store" includes the synchronous,
// fsynced SQLite audit write; "nostore" isolates the CPU cost of the call.
//
//	go test -run '^$' -bench OrderSign -benchmem -cpuprofile cpu.out -memprofile mem.out ./internal/server
func BenchmarkOrderSign(b *testing.B) {
	benchmarkOrderSign(b, [][]byte{largeRequest(b)})
}

// BenchmarkOrderSignScenarios is BenchmarkOrderSign over every order-sign
// scenario in turn: small charts, where the fixed cost of a call shows.
func BenchmarkOrderSignScenarios(b *testing.B) {
	bodies := orderSignScenarios(b)
	if len(bodies) == 0 {
		b.Skip("no scenarios in testdata/scenarios")
	}
	benchmarkOrderSign(b, bodies)
}

// orderSignScenarios returns the bodies of the order-sign scenarios of
// testdata/scenarios, the large one (largeFixture) left out.
func orderSignScenarios(tb testing.TB) [][]byte {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "scenarios", "*.json"))
	var bodies [][]byte
	for _, name := range files {
		body, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		var probe struct {
			Hook string `json:"hook"`
		}
		if json.Unmarshal(body, &probe) == nil && probe.Hook == "order-sign" && filepath.Base(name) != filepath.Base(largeFixture) {
			bodies = append(bodies, body)
		}
	}
	return bodies
}

func benchmarkOrderSign(b *testing.B, bodies [][]byte) {
	for _, withStore := range []bool{true, false} {
		name := "store"
		if !withStore {
			name = "nostore"
		}
		b.Run(name, func(b *testing.B) {
			ts := newTestServer(b, func(cfg *Config) {
				// Production logs at info level; the debug buffer of the
				// tests would measure the buffer.
				log := slog.New(slog.NewTextHandler(io.Discard, nil))
				cfg.Logger = log
				cfg.Pipeline.Loader = fhir.NewLoader(fhir.LoaderConfig{Timeout: 2 * time.Second}, log)
				cfg.Pipeline.Policies = fixedPolicies{policy.Default()}
				if !withStore {
					cfg.Store = nil
				}
			})
			size := 0
			for _, body := range bodies {
				size += len(body)
				// Scenarios include answers other than 200 (412 for no data).
				if rec := ts.do(b, http.MethodPost, "/cds-services/"+ServiceOrderSign, body, nil); rec.Code >= 500 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			b.SetBytes(int64(size / len(bodies)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			i := 0
			for b.Loop() {
				rec := ts.do(b, http.MethodPost, "/cds-services/"+ServiceOrderSign, bodies[i%len(bodies)], nil)
				if rec.Code >= 500 {
					b.Fatalf("status %d", rec.Code)
				}
				i++
			}
			// CPU time (the GC's included) is steadier than wall time on a
			// shared machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// largeRequest returns testdata/scenarios/large-200.json, or, while that
// fixture does not exist, a request of the same shape: minimalRequest's
// order, patient and coverage with about 200 clinical resources.
func largeRequest(tb testing.TB) []byte {
	tb.Helper()
	if b, err := os.ReadFile(largeFixture); err == nil {
		return b
	}
	var req map[string]any
	if err := json.Unmarshal([]byte(minimalRequest), &req); err != nil {
		tb.Fatal(err)
	}
	date := func(daysAgo int) string { return testNow.AddDate(0, 0, -daysAgo).Format(time.DateOnly) }
	subject := map[string]any{"reference": "Patient/p1"}
	coding := func(system, code, display string) map[string]any {
		return map[string]any{"coding": []any{map[string]any{"system": system, "code": code, "display": display}}}
	}
	bundle := func(resources []any) map[string]any {
		entries := make([]any, len(resources))
		for i, r := range resources {
			entries[i] = map[string]any{"fullUrl": fmt.Sprintf("urn:uuid:%d", i), "resource": r}
		}
		return map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(resources), "entry": entries}
	}
	var conds, obs, procs, meds, stmts, studies, reports []any
	icd := [][2]string{{"M54.50", "Low back pain"}, {"M54.16", "Radiculopathy, lumbar region"}, {"I10", "Essential hypertension"}, {"E11.9", "Type 2 diabetes mellitus"}, {"J45.909", "Asthma"}}
	for i := 0; i < 30; i++ {
		c := icd[i%len(icd)]
		conds = append(conds, map[string]any{"resourceType": "Condition", "id": fmt.Sprintf("c%d", i), "subject": subject,
			"clinicalStatus": coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
			"code":           coding("http://hl7.org/fhir/sid/icd-10-cm", c[0], c[1]), "onsetDateTime": date(20 + i*15)})
	}
	for i := 0; i < 80; i++ {
		obs = append(obs, map[string]any{"resourceType": "Observation", "id": fmt.Sprintf("o%d", i), "status": "final", "subject": subject,
			"code": coding("http://loinc.org", "8480-6", "Systolic blood pressure"), "effectiveDateTime": date(i * 7),
			"valueQuantity": map[string]any{"value": 120 + i%20, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}})
	}
	cpt := [][2]string{{"97110", "Therapeutic exercises"}, {"97140", "Manual therapy techniques"}, {"99213", "Office visit"}}
	for i := 0; i < 40; i++ {
		c := cpt[i%len(cpt)]
		procs = append(procs, map[string]any{"resourceType": "Procedure", "id": fmt.Sprintf("pr%d", i), "status": "completed", "subject": subject,
			"code": coding("http://www.ama-assn.org/go/cpt", c[0], c[1]), "performedDateTime": date(3 + i*2)})
	}
	rx := [][2]string{{"5640", "ibuprofen"}, {"6809", "metformin"}, {"29046", "lisinopril"}}
	for i := 0; i < 25; i++ {
		r := rx[i%len(rx)]
		meds = append(meds, map[string]any{"resourceType": "MedicationRequest", "id": fmt.Sprintf("m%d", i), "status": "active", "intent": "order",
			"subject": subject, "medicationCodeableConcept": coding("http://www.nlm.nih.gov/research/umls/rxnorm", r[0], r[1]), "authoredOn": date(10 + i*5)})
	}
	for i := 0; i < 15; i++ {
		r := rx[i%len(rx)]
		stmts = append(stmts, map[string]any{"resourceType": "MedicationStatement", "id": fmt.Sprintf("s%d", i), "status": "active",
			"subject": subject, "medicationCodeableConcept": coding("http://www.nlm.nih.gov/research/umls/rxnorm", r[0], r[1]), "effectiveDateTime": date(30 + i*30)})
	}
	for i := 0; i < 5; i++ {
		studies = append(studies, map[string]any{"resourceType": "ImagingStudy", "id": fmt.Sprintf("i%d", i), "status": "available", "subject": subject,
			"started": date(400 + i*100), "modality": []any{map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": []string{"CT", "DX", "MR"}[i%3]}}})
		reports = append(reports, map[string]any{"resourceType": "DiagnosticReport", "id": fmt.Sprintf("d%d", i), "status": "final", "subject": subject,
			"code": coding("http://loinc.org", "24627-2", "CT Chest"), "effectiveDateTime": date(400 + i*100)})
	}
	pf := req["prefetch"].(map[string]any)
	pf["conditions"], pf["observations"], pf["procedures"] = bundle(conds), bundle(obs), bundle(procs)
	pf["medicationRequests"], pf["medicationStatements"] = bundle(meds), bundle(stmts)
	pf["imagingStudies"], pf["diagnosticReports"] = bundle(studies), bundle(reports)
	b, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// speedFixture is the body of the speed run (docs/performance.md): 6,394
// bytes, one lumbar MRI order and one other order, full prefetch with
// medications and physical therapy.
var speedFixture = filepath.Join("..", "..", "testdata", "bench", "order-sign-6k.json")

// BenchmarkOrderSignParallel is the speed run's call through the real router
// by 8 concurrent callers (4 per CPU on the 2-CPU reference machine), with
// the durable audit store (group commit) and without it: the difference is
// what the audit commit costs a call.
//
//	go test -run '^$' -bench OrderSignParallel -benchmem -cpuprofile cpu.out ./internal/server
func BenchmarkOrderSignParallel(b *testing.B) {
	body, err := os.ReadFile(speedFixture)
	if err != nil {
		b.Fatal(err)
	}
	for _, withStore := range []bool{true, false} {
		name := "store"
		if !withStore {
			name = "nostore"
		}
		b.Run(name, func(b *testing.B) {
			ts := benchServer(b, withStore)
			if rec := ts.do(b, http.MethodPost, "/cds-services/"+ServiceOrderSign, body, nil); rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if rec := ts.do(b, http.MethodPost, "/cds-services/"+ServiceOrderSign, body, nil); rec.Code != http.StatusOK {
						b.Errorf("status %d", rec.Code)
						return
					}
				}
			})
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// benchServer is newTestServer as production runs it: logs at info level
// to nowhere, the default policy, and the audit store or none.
func benchServer(b *testing.B, withStore bool) *testServer {
	return newTestServer(b, func(cfg *Config) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		cfg.Logger = log
		cfg.Pipeline.Loader = fhir.NewLoader(fhir.LoaderConfig{Timeout: 2 * time.Second}, log)
		cfg.Pipeline.Policies = fixedPolicies{policy.Default()}
		if !withStore {
			cfg.Store = nil
		}
	})
}

// BenchmarkOrderSignTinyResources is the bounded-memory run through the real
// router: 8 concurrent callers each sending a ~4.9 MB order-sign body whose
// observations prefetch holds 110,000 minimal resources, with the default
// decode budget and caps. peak-heap-MiB is the most heap the process held
// (sampled every 5 ms); calls refused by the decode budget answer 503.
//
//	go test -run '^$' -bench TinyResources -benchmem ./internal/server
func BenchmarkOrderSignTinyResources(b *testing.B) {
	base, err := os.ReadFile(speedFixture)
	if err != nil {
		b.Fatal(err)
	}
	body, err := loadtest.TinyResources(base, 110_000)
	if err != nil {
		b.Fatal(err)
	}
	ts := benchServer(b, true)
	runtime.GC()
	stop := sampleHeap()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	var refused atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			switch rec := ts.do(b, http.MethodPost, "/cds-services/"+ServiceOrderSign, body, nil); rec.Code {
			case http.StatusOK:
			case http.StatusServiceUnavailable:
				refused.Add(1)
			default:
				b.Errorf("status %d: %s", rec.Code, rec.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(refused.Load())/float64(b.N), "refused/op")
	if rec := ts.do(b, http.MethodPost, "/cds-services/"+ServiceOrderSign, base, nil); rec.Code != http.StatusOK {
		b.Fatalf("a normal call after the run: status %d", rec.Code)
	}
}

// sampleHeap samples the heap's in-use bytes every 5 ms until stop, which
// returns the peak.
func sampleHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}
