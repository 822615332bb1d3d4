package store

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

func TestRecordTokenID(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
		ctx := t.Context()
		now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		exp := now.Add(5 * time.Minute)
		steps := []struct {
			name     string
			iss, jti string
			expires  time.Time
			now      time.Time
			want     bool
		}{
			{"first use", "https://ehr.example", "j1", exp, now, true},
			{"replay", "https://ehr.example", "j1", exp, now.Add(time.Minute), false},
			{"same jti, other issuer", "https://other.example", "j1", exp, now, true},
			{"replay just before expiry", "https://ehr.example", "j1", exp, exp.Add(-time.Millisecond), false},
			{"after expiry the id is free again", "https://ehr.example", "j1", exp.Add(time.Hour), exp, true},
			{"and recorded anew", "https://ehr.example", "j1", exp.Add(time.Hour), exp.Add(time.Minute), false},
		}
		for _, s := range steps {
			got, err := db.RecordTokenID(ctx, s.iss, s.jti, s.expires, s.now)
			if err != nil || got != s.want {
				t.Errorf("%s: RecordTokenID = %v, %v; want %v", s.name, got, err, s.want)
			}
		}
		// A released id (its call refused before it was served) is new
		// again; another issuer's is untouched.
		if err := db.ForgetTokenID(ctx, "https://ehr.example", "j1"); err != nil {
			t.Fatal(err)
		}
		if got, err := db.RecordTokenID(ctx, "https://ehr.example", "j1", exp.Add(time.Hour), exp.Add(2*time.Minute)); err != nil || !got {
			t.Errorf("after ForgetTokenID: RecordTokenID = %v, %v; want true", got, err)
		}
		if got, err := db.RecordTokenID(ctx, "https://other.example", "j1", exp, now.Add(time.Minute)); err != nil || got {
			t.Errorf("other issuer's id after ForgetTokenID: %v, %v; want a replay", got, err)
		}
		n, err := db.PruneTokenIDs(ctx, exp.Add(time.Minute))
		if err != nil || n != 1 {
			t.Errorf("PruneTokenIDs = %d, %v; want 1 (the other issuer's expired id)", n, err)
		}
		if left := count(t, db, "SELECT count(*) FROM token_ids"); left != 1 {
			t.Errorf("token ids after pruning: %d, want 1", left)
		}
	})
}

// TestReplicasShareOnePostgres opens one database from several stores at
// once, as replicas starting together do: they migrate once, agree on one
// pseudonym key, accept feedback on each other's cards, refuse each other's
// tokens, and prune once.
func TestReplicasShareOnePostgres(t *testing.T) {
	u := postgres.NewDatabase(t)
	const replicas = 3
	dbs := make([]*DB, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { dbs[i], errs[i] = OpenPostgres(t.Context(), u, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		t.Cleanup(func() { dbs[i].Close() })
	}
	ms, _ := migrations(postgresDialect)
	if n := count(t, dbs[0], "SELECT count(*) FROM schema_migrations"); n != len(ms) {
		t.Errorf("schema_migrations rows = %d, want %d (each migration once)", n, len(ms))
	}
	for i := 1; i < replicas; i++ {
		if dbs[i].PatientKey("p1") != dbs[0].PatientKey("p1") {
			t.Errorf("replica %d has another pseudonym key", i)
		}
	}

	ctx := t.Context()
	// Audit rows and feedback wait for the WAL flush; token ids do not.
	for pool, want := range map[*sql.DB]string{dbs[0].write: "on", dbs[0].tokens: "off"} {
		var got string
		if err := pool.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&got); err != nil || got != want {
			t.Errorf("synchronous_commit = %q, %v; want %s", got, err, want)
		}
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	c := sampleCall(at, "pat-1", 1)
	if err := dbs[2].RecordCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	fb := []hooks.FeedbackItem{{Card: c.Cards[0].UUID, Outcome: "overridden", OutcomeTimestamp: "2026-03-01T10:05:31Z"}}
	if err := dbs[0].RecordFeedback(ctx, service, fb); err != nil {
		t.Errorf("feedback on replica 0 about a card of replica 2: %v", err)
	}

	if fresh, err := dbs[0].RecordTokenID(ctx, "https://ehr.example", "jti-1", at.Add(time.Hour), at); !fresh || err != nil {
		t.Fatalf("first use = %v, %v", fresh, err)
	}
	if fresh, err := dbs[1].RecordTokenID(ctx, "https://ehr.example", "jti-1", at.Add(time.Hour), at); fresh || err != nil {
		t.Errorf("replay on another replica = %v, %v; want refused", fresh, err)
	}
	// The same token at every replica at once: exactly one accepts it.
	var mu sync.Mutex
	accepted := 0
	for i := range replicas * 4 {
		wg.Go(func() {
			fresh, err := dbs[i%replicas].RecordTokenID(ctx, "https://ehr.example", "jti-race", at.Add(time.Hour), at)
			if err != nil {
				t.Error(err)
			}
			if fresh {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if accepted != 1 {
		t.Errorf("a token sent to every replica at once was accepted %d times, want 1", accepted)
	}

	// Retention: the replicas' daily runs prune once.
	cutoff := at.Add(24 * time.Hour)
	var total int64
	for i := range replicas {
		wg.Go(func() {
			n, err := dbs[i].Prune(ctx, cutoff)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 1 || count(t, dbs[0], "SELECT count(*) FROM calls") != 0 {
		t.Errorf("pruned %d calls across replicas, want 1", total)
	}
	if err := dbs[0].RecordCall(ctx, sampleCall(at, "pat-1", 2)); err != nil {
		t.Fatal(err)
	}
	if n, err := dbs[1].Prune(ctx, cutoff.Add(-time.Minute)); n != 0 || err != nil {
		t.Errorf("Prune to a cutoff already reached = %d, %v; want 0 (done once)", n, err)
	}
	if n, err := dbs[1].Prune(ctx, cutoff.Add(48*time.Hour)); n != 1 || err != nil {
		t.Errorf("next day's Prune = %d, %v; want 1", n, err)
	}
}

func TestOpenPostgresKeyFromSecret(t *testing.T) {
	u := postgres.NewDatabase(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "pseudonym.key")
	if err := os.WriteFile(path, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := postgresBackend.openAt(t, u)
	withSecret, err := OpenPostgres(t.Context(), u, key)
	if err != nil {
		t.Fatal(err)
	}
	defer withSecret.Close()
	other := open(t, t.TempDir())
	if withSecret.PatientKey("p1") == a.PatientKey("p1") {
		t.Error("the key from the secret is not the one used")
	}
	if other.key = key; withSecret.PatientKey("p1") != other.PatientKey("p1") {
		t.Error("the same secret gives another pseudonym")
	}
	if _, err := OpenPostgres(t.Context(), u, []byte("short")); err == nil {
		t.Error("a 5-byte key was accepted")
	}
	if _, err := OpenPostgres(t.Context(), "postgres://user:s3cret@[bad", nil); err == nil {
		t.Error("a malformed URL was accepted")
	} else if msg := fmt.Sprint(err); strings.Contains(msg, "s3cret") {
		t.Errorf("error quotes the password: %s", msg)
	}
}

// TestPipelinedBatchIsAllOrNothing: the audit records of a batch go to
// PostgreSQL as one pipeline run as one transaction; when one record fails,
// none of the batch is committed, and each record is then retried alone, so
// only the bad one fails.
func TestPipelinedBatchIsAllOrNothing(t *testing.T) {
	db := postgresBackend.openNew(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	good, bad := sampleCall(at, "p", 1), sampleCall(at, "p", 2)
	good.HookInstance, bad.HookInstance = "good", "bad"
	// Not a client value, so not cleaned by clip: PostgreSQL refuses it.
	bad.Orders[0].Assessment = "criteria-\x00"
	job := func(c Call) *callJob { return &callJob{ctx: ctx, call: c, done: make(chan error, 1)} }
	if _, err := db.commitTx(ctx, []*callJob{job(good), job(bad)}); err == nil {
		t.Fatal("a batch with a bad record committed")
	}
	if n := count(t, db, "SELECT count(*) FROM calls"); n != 0 {
		t.Fatalf("%d calls committed by a failed batch, want 0", n)
	}
	g, b := job(good), job(bad)
	db.commitCalls([]*callJob{g, b})
	if err := <-g.done; err != nil {
		t.Errorf("good record of a failed batch: %v", err)
	}
	if err := <-b.done; err == nil {
		t.Error("bad record committed")
	}
	if n := count(t, db, "SELECT count(*) FROM calls WHERE hook_instance = 'good'"); n != 1 {
		t.Errorf("good record stored %d times, want 1", n)
	}
	if n := count(t, db, "SELECT count(*) FROM cards"); n != len(good.Cards) {
		t.Errorf("%d cards stored, want %d", n, len(good.Cards))
	}
}
