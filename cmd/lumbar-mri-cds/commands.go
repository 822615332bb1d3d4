package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/cards"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/auth"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/criteria"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
	reportpkg "github.com/lumbar-mri-cds/lumbar-mri-cds/internal/report"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/server"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// evaluate runs the service pipeline on one hook request offline.
func evaluate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newFlags("evaluate", getenv, stderr)
	var policyPath, valueSetDir, format, service, now string
	var form bool
	var fhirTimeout time.Duration
	f.str(&policyPath, "policy", "", "payer policy YAML file or folder (default: the embedded default policy)", false)
	f.str(&valueSetDir, "valuesets", "", "folder of FHIR ValueSet JSON files that add to or replace the shipped value sets by URL (default: none)", false)
	f.StringVar(&format, "format", "json", "output: json (the response) or text (a summary per order)")
	f.StringVar(&service, "service", "", "service id (default: from the request's hook)")
	f.StringVar(&now, "now", "", "the answer date, RFC 3339 (default: now)")
	f.BoolVar(&form, "form", false, "print the pre-filled prior-authorization QuestionnaireResponse instead of the response")
	f.duration(&fhirTimeout, "fhir-timeout", 3*time.Second, "deadline for FHIR queries when the request names a fhirServer")
	f.usage(stderr, "evaluate [flags] FILE|-", "Run the service pipeline on a hook request file (- for stdin) offline and print the response.")
	if err := f.parse(args); err != nil {
		return err
	}
	if format != "json" && format != "text" {
		return usageError{fmt.Errorf("--format %q: want json or text", format)}
	}
	// The form is a FHIR resource and only printed as JSON: --format text
	// with --form would be silently ignored, so it is refused.
	if form && format != "json" {
		return usageError{fmt.Errorf("--form prints the QuestionnaireResponse as FHIR JSON; it does not take --format %s", format)}
	}
	if f.NArg() != 1 {
		f.Usage()
		return usageError{errors.New("evaluate needs one request file, or - for stdin")}
	}
	var body []byte
	var err error
	if name := f.Arg(0); name == "-" {
		body, err = io.ReadAll(io.LimitReader(stdin, server.DefaultMaxBodyBytes+1))
	} else {
		body, err = os.ReadFile(name)
	}
	if err != nil {
		return err
	}
	clock := time.Now
	if now != "" {
		t, err := time.Parse(time.RFC3339, now)
		if err != nil {
			return usageError{fmt.Errorf("--now %q: want an RFC 3339 date-time such as 2026-06-15T12:00:00Z", now)}
		}
		clock = func() time.Time { return t }
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	holder, err := policy.NewHolderWithValueSets(policyPath, valueSetDir, log, nil)
	if err != nil {
		return err // policy errors name the policy and file
	}
	if service == "" {
		var h struct {
			Hook string `json:"hook"`
		}
		_ = json.Unmarshal(body, &h)
		service = server.ServiceOrderSign
		if h.Hook == "order-select" {
			service = server.ServiceOrderSelect
		}
	}
	if service != server.ServiceOrderSign && service != server.ServiceOrderSelect {
		return usageError{fmt.Errorf("--service %q: want %s or %s", service, server.ServiceOrderSign, server.ServiceOrderSelect)}
	}
	p := &server.Pipeline{Loader: fhir.NewLoader(fhir.LoaderConfig{Timeout: fhirTimeout}, log), Policies: holder, Now: clock, NewID: newUUID}
	out, err := p.Run(ctx, service, body)
	if err != nil {
		return fmt.Errorf("the service would answer %s", server.Describe(err))
	}
	if form {
		return writeForm(stdout, out, holder.Current(), clock().UTC())
	}
	if format == "text" {
		return writeSummary(stdout, out)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out.Response)
}

// writeForm prints the pre-filled QuestionnaireResponse of the assessed
// order, or a collection Bundle of them when the request held several.
func writeForm(w io.Writer, out *server.Outcome, set *policy.Set, today time.Time) error {
	if len(out.Assessments) == 0 {
		return errors.New("no lumbar spine MRI among the orders: no form")
	}
	pol := set.Get(out.PolicyID)
	if pol == nil {
		pol = set.Default()
	}
	in := &cards.Input{PatientID: out.Request.Context.PatientID, UserID: out.Request.Context.UserID, Policy: pol, Today: today}
	var forms []json.RawMessage
	for i := range out.Assessments {
		qr, err := cards.QuestionnaireResponse(in, &out.Assessments[i], newUUID())
		if err != nil {
			return err
		}
		forms = append(forms, qr)
	}
	var doc any = forms[0]
	if len(forms) > 1 {
		entries := make([]map[string]json.RawMessage, len(forms))
		for i, f := range forms {
			entries[i] = map[string]json.RawMessage{"resource": f}
		}
		doc = map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// writeSummary prints a readable summary per order: outcome, findings, cards.
func writeSummary(w io.Writer, out *server.Outcome) error {
	var b bytes.Buffer
	if len(out.Assessments) == 0 {
		b.WriteString("No lumbar spine MRI among the orders: no cards.\n")
	}
	for _, a := range out.Assessments {
		id := a.Order.ID
		if id == "" {
			id = "(no id)"
		}
		fmt.Fprintf(&b, "Order %s: %s [%s %s], assessed for %s\n", id, a.Order.Display, a.Order.Code.Code, a.Order.Contrast, a.Date.Format(time.DateOnly))
		fmt.Fprintf(&b, "  Outcome: %s (%s)\n", a.Outcome, cards.Display(a.Outcome))
		for _, fd := range a.Findings {
			fmt.Fprintf(&b, "  - %s: %s\n", fd.Code, fd.Text)
			for _, e := range fd.Evidence {
				d := "undated"
				switch {
				case e.DateText != "":
					d = e.DateText
				case e.Date != nil:
					d = e.Date.Format(time.DateOnly)
				}
				src := e.Source
				if e.ByText {
					src += ", matched by medication name, not code"
				}
				if e.FromNote {
					src = "note " + src + ": \u201c" + e.Quote + "\u201d"
				}
				fmt.Fprintf(&b, "      %s %s (%s)\n", d, e.Display, src)
			}
		}
		// Everything read but not counted, with its reason (the cards show
		// at most five lines of it).
		if len(a.NotCounted) > 0 {
			b.WriteString("  Not counted:\n")
			for _, nc := range a.NotCounted {
				d := nc.DateText
				switch {
				case d != "":
				case nc.Reason == criteria.ReasonNoDate && nc.Why != "":
					// A date was recorded but is not valid: Why says which.
					d = "date not valid"
				default:
					d = "undated"
				}
				src := ""
				if nc.Source != "" {
					src = " (" + nc.Source + ")"
				}
				why := ""
				if nc.Why != "" {
					why = "; " + nc.Why
				}
				if nc.Needs != "" {
					why = "; counts only with " + nc.Needs
					if nc.Instead != "" {
						why += " (" + nc.Instead + ")"
					}
				}
				fmt.Fprintf(&b, "    - %s: %s, %s, %s%s%s\n", nc.Reason, nc.What, nc.Display, d, src, why)
			}
		}
	}
	if len(out.Response.Cards) > 0 {
		b.WriteString("\nCards:\n\n")
		if err := cards.WriteText(&b, out.Response.Cards); err != nil {
			return err
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "System actions: %d coverage-information update(s)\n", len(out.Response.SystemActions))
	_, err := w.Write(b.Bytes())
	return err
}

// seed loads scenario patients into a FHIR R4 server.
func seed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("seed", getenv, stderr)
	var base, token string
	var wait time.Duration
	var strict bool
	f.str(&base, "fhir", "", "FHIR R4 base URL, e.g. http://localhost:8080/fhir", false)
	f.BoolVar(&strict, "strict", false, "fail when any file is refused (default: fail only when none could be seeded)")
	f.str(&token, "fhir-token", "", "bearer token for the FHIR server (optional)", true)
	f.duration(&wait, "wait", 0, "wait up to this long for the server's /metadata before seeding")
	f.usage(stderr, "seed --fhir URL [FILE|DIR ...]  (default: testdata/scenarios)", "Load scenario patients into a FHIR R4 server (idempotent: PUTs with the resources' own ids).")
	if err := f.parse(args); err != nil {
		return err
	}
	if base == "" {
		f.Usage()
		return usageError{errors.New("seed needs --fhir")}
	}
	paths := f.Args()
	if len(paths) == 0 {
		paths = []string{filepath.Join("testdata", "scenarios")}
	}
	files, err := seedFiles(paths)
	if err != nil {
		return err
	}
	if wait > 0 {
		if err := waitFor(ctx, strings.TrimRight(base, "/")+"/metadata", wait); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	client, err := fhir.NewLoader(fhir.LoaderConfig{Timeout: 60 * time.Second}, log).Client(base, token)
	if err != nil {
		return err
	}
	// Each file on its own: one file a server refuses (for example a fixture
	// with an invalid entry) does not stop the others.
	total := fhir.Summary{Resources: map[string]int{}}
	var failed []string
	for _, file := range files {
		sum, err := fhir.SeedFiles(ctx, client, file)
		if err != nil {
			// SeedFiles' errors name the file. The server's reason for a
			// refusal is shown here, to the operator seeding test data; the
			// service never shows or logs a FHIR server's text.
			if why := fhir.OutcomeText(err); why != "" {
				fmt.Fprintf(stderr, "%v; the server said: %s\n", err, why)
			} else {
				fmt.Fprintln(stderr, err)
			}
			failed = append(failed, filepath.Base(file))
			continue
		}
		for t, n := range sum.Resources {
			total.Resources[t] += n
		}
		total.Total += sum.Total
		total.Transactions += sum.Transactions
	}
	types := make([]string, 0, len(total.Resources))
	for t := range total.Resources {
		types = append(types, t)
	}
	sort.Strings(types)
	if len(types) == 0 {
		fmt.Fprintf(stdout, "Seeded nothing into %s.\n", base)
	} else {
		fmt.Fprintf(stdout, "Seeded %d resources from %d files into %s in %d transactions:\n", total.Total, len(files)-len(failed), base, total.Transactions)
	}
	for _, t := range types {
		fmt.Fprintf(stdout, "  %-20s %d\n", t, total.Resources[t])
	}
	if len(failed) > 0 {
		err := fmt.Errorf("%d of %d files were not seeded: %s", len(failed), len(files), strings.Join(failed, ", "))
		// Some fixtures deliberately hold entries that are not valid R4 (an
		// unknown resource type), which seed or the server refuses: by
		// default they are reported, not fatal.
		if strict || len(failed) == len(files) {
			return err
		}
		fmt.Fprintln(stderr, "warning:", err)
	}
	return nil
}

// seedFiles expands folders to their JSON files that are hook requests,
// Bundles or resources (other JSON, such as expected outcomes, is skipped).
func seedFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(p, "*.json"))
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err != nil {
				return nil, err
			}
			var probe struct {
				Hook         string `json:"hook"`
				ResourceType string `json:"resourceType"`
			}
			if json.Unmarshal(b, &probe) == nil && (probe.Hook != "" || probe.ResourceType != "") {
				out = append(out, m)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no request or Bundle files to seed")
	}
	return out, nil
}

func waitFor(ctx context.Context, url string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("FHIR server not ready after %s: %s", wait, url)
		case <-time.After(2 * time.Second):
		}
	}
}

// devTrustFile is the trust file `token --init` writes beside the key.
const devTrustFile = "dev-trust.yaml"

// token mints a development JWT with the local key in the data dir.
func token(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("token", getenv, stderr)
	var dataDir, aud string
	var ttl time.Duration
	var jwks, initKey bool
	f.str(&dataDir, "data-dir", "data", "folder holding the development signing key", false)
	f.StringVar(&aud, "aud", "", "audience: the exact URL to call, e.g. http://127.0.0.1:8080/cds-services/lumbar-mri-order-sign")
	f.DurationVar(&ttl, "ttl", 5*time.Minute, "token lifetime (at most 1h)")
	f.BoolVar(&jwks, "jwks", false, "print the public JWKS of the development key instead of a token")
	f.BoolVar(&initKey, "init", false, "create the key if needed, write dev-jwks.json and dev-trust.yaml (a trust file for --trust) next to it")
	f.usage(stderr, "token --aud URL | --jwks | --init [flags]", "Mint a short-lived development JWT for a secured instance, with the development key in --data-dir.")
	if err := f.parse(args); err != nil {
		return err
	}
	if !initKey && !jwks && aud == "" {
		return usageError{errors.New("token needs --aud (the URL you will call), or --jwks / --init")}
	}
	if initKey {
		key, err := auth.LoadOrCreateDevKey(dataDir)
		if err != nil {
			return err
		}
		jwksPath := filepath.Join(dataDir, "dev-jwks.json")
		if err := os.WriteFile(jwksPath, key.JWKS(), 0o644); err != nil {
			return err
		}
		// The trust file sits beside the JWKS and names it relative to its
		// own folder, which is how the server reads jwks_file.
		trustPath := filepath.Join(dataDir, devTrustFile)
		entry := auth.DevTrustEntry("dev-jwks.json")
		if err := os.WriteFile(trustPath, []byte(entry), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Development key %s in %s; public JWKS written to %s.\nStart the server with --trust %s (it trusts this key). Trust file:\n\n%s",
			key.KID(), dataDir, jwksPath, trustPath, entry)
		return nil
	}
	key, err := auth.LoadDevKey(dataDir)
	if errors.Is(err, auth.ErrNoDevKey) {
		return fmt.Errorf("no development key in %s: run \"lumbar-mri-cds token --init --data-dir %s\" and start the server with --trust %s; a new key the server does not trust would only get 401",
			dataDir, dataDir, filepath.Join(dataDir, devTrustFile))
	}
	if err != nil {
		return err
	}
	if jwks {
		_, err := stdout.Write(append(key.JWKS(), '\n'))
		return err
	}
	tok, err := key.Mint(aud, ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// report prints the report for a period from the audit database.
func report(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("report", getenv, stderr)
	var dataDir, databaseURL, from, to, policyPath, valueSetDir string
	f.str(&dataDir, "data-dir", "data", "folder of the audit database", false)
	f.str(&policyPath, "policy", "", "the service's payer policy YAML file or folder, for the payers' names (default: the embedded default policy)", false)
	f.str(&valueSetDir, "valuesets", "", "the service's ValueSet folder, needed when its policies name the operator's value sets", false)
	f.str(&databaseURL, "database-url", "", "postgres:// URL of the PostgreSQL database of replicas (default: SQLite in --data-dir)", true)
	f.StringVar(&from, "from", "", "first day YYYY-MM-DD (default: 30 days ago)")
	f.StringVar(&to, "to", "", "last day YYYY-MM-DD, inclusive (default: today); without --from, the 30 days up to it")
	f.usage(stderr, "report [flags]", "Print calls, outcomes, card acceptance and latency for a period, from the audit database.")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return usageError{fmt.Errorf("report takes no arguments, got %q", clipArg(f.Arg(0)))}
	}
	start, end, err := server.Period(from, to, time.Now())
	if err != nil {
		return usageError{err} // a --from or --to the command does not take
	}
	if _, err := os.Stat(filepath.Join(dataDir, store.DBFile)); err != nil && databaseURL == "" {
		return fmt.Errorf("no audit database in %s (set --data-dir, or --database-url for PostgreSQL)", dataDir)
	}
	db, err := openStore(ctx, dataDir, databaseURL, "", true)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := db.Report(ctx, start, end)
	if err != nil {
		return err
	}
	refused, err := db.Refused(ctx, start, end)
	if err != nil {
		return err
	}
	r.Refused = append(r.Refused, store.RefusalCounts(refused)...)
	// The payers' names come from the policies, not the audit trail: a
	// policy that does not load leaves the report with the policy ids.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if holder, err := policy.NewHolderWithValueSets(policyPath, valueSetDir, log, nil); err != nil {
		fmt.Fprintf(stderr, "warning: payer names not shown (%v)\n", err)
	} else {
		r.PolicyNames = server.PolicyNames(holder.Current())
	}
	return reportpkg.Text(stdout, r)
}

// clipArg keeps a stray command-line argument short in an error.
func clipArg(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
