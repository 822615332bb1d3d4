package fhir

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAddressPolicy(t *testing.T) {
	tests := []struct {
		addr              string
		public, dev, open bool
	}{
		{"8.8.8.8", true, true, true},
		{"2606:4700:4700::1111", true, true, true},
		{"127.0.0.1", false, true, true},
		{"127.8.9.10", false, true, true},
		{"::1", false, true, true},
		{"10.1.2.3", false, false, true},
		{"172.16.0.1", false, false, true},
		{"192.168.1.1", false, false, true},
		{"169.254.169.254", false, false, true}, // cloud metadata
		{"fe80::1", false, false, true},
		{"fd00::1", false, false, true},          // ULA
		{"::ffff:127.0.0.1", false, false, true}, // IPv4-mapped loopback
		{"::ffff:8.8.8.8", false, false, true},   // any IPv4-mapped form
		{"100.64.0.1", false, false, true},       // shared address space
		{"0.0.0.0", false, false, true},          // unspecified
		{"::", false, false, true},               // unspecified
		{"64:ff9b::a00:1", false, false, true},   // NAT64 of 10.0.0.1
		{"2002:a00:1::1", false, false, true},    // 6to4 of 10.0.0.1
		{"224.0.0.1", false, false, true},        // multicast
		{"255.255.255.255", false, false, true},  // broadcast
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		got := [3]bool{PublicOnly.addressAllowed(a) == nil, PublicAndLoopback.addressAllowed(a) == nil, AnyAddress.addressAllowed(a) == nil}
		if want := [3]bool{tt.public, tt.dev, tt.open}; got != want {
			t.Errorf("%s: allowed (public-only, dev, any) = %v, want %v", tt.addr, got, want)
		}
	}
}

// TestGuardOnDialledAddress: with PublicOnly and no allow-list, a fhirServer
// whose name resolves to loopback is refused at connect time, whatever the
// name looks like (so a DNS answer that changes between a check and the
// connection cannot pass), and the access token never leaves.
func TestGuardOnDialledAddress(t *testing.T) {
	srv := newTLSRecorder(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = PublicOnly.dialer().DialContext
	l, sink := newTestLoader(LoaderConfig{Addresses: PublicOnly, HTTPClient: &http.Client{Transport: tr}})
	for _, base := range []string{
		"https://localhost:" + port + "/fhir",
		"https://127.0.0.1:" + port + "/fhir",
		"https://[::ffff:127.0.0.1]:" + port + "/fhir",
	} {
		c, err := l.Client(base, testToken)
		if err != nil {
			t.Fatalf("Client(%s): %v", base, err)
		}
		_, err = c.Fetch(context.Background(), "Patient/"+testPatient)
		if !errors.Is(err, ErrNotAllowed) {
			t.Errorf("Fetch via %s: err = %v, want a refused address", base, err)
		}
	}
	if n := len(srv.seen()); n != 0 {
		t.Errorf("loopback server got %d requests under PublicOnly", n)
	}
	assertNoSecrets(t, sink.String())

	// Development: loopback stays reachable, over http too.
	plain := newRecorder(t, nil)
	dev := NewLoader(LoaderConfig{Addresses: PublicAndLoopback}, nil)
	rec, err := dev.Load(context.Background(), LoadInput{PatientID: testPatient, FHIRServer: plain.base()})
	if err != nil || !rec.Complete() {
		t.Errorf("development loopback: err %v, unavailable %v", err, rec.Unavailable)
	}
}

// TestPlainHTTPNeedsAllowList: PublicOnly refuses http:// for hosts nobody
// listed; a listed host may use http on any address.
func TestPlainHTTPNeedsAllowList(t *testing.T) {
	l := NewLoader(LoaderConfig{Addresses: PublicOnly}, nil)
	if _, err := l.Client("http://fhir.example.org/fhir", ""); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("plain http without allow-list: err = %v, want ErrNotAllowed", err)
	}
	if _, err := l.Client("https://fhir.example.org/fhir", ""); err != nil {
		t.Errorf("https without allow-list: %v", err)
	}
	srv := newRecorder(t, nil)
	listed := NewLoader(LoaderConfig{Addresses: PublicOnly, AllowedHosts: []string{"127.0.0.1"}}, nil)
	rec, err := listed.Load(context.Background(), LoadInput{PatientID: testPatient, FHIRServer: srv.base()})
	if err != nil || !rec.Complete() {
		t.Errorf("listed loopback host over http: err %v, unavailable %v", err, rec.Unavailable)
	}
}

func TestHostAllowed(t *testing.T) {
	allowed := []string{"fhir", "ehr.example.org:8443", "[::1]:9000", "secure.example.org:443"}
	tests := map[string]bool{
		"http://fhir:8080/fhir":              true, // a host entry allows every port
		"https://fhir/fhir":                  true,
		"https://ehr.example.org:8443/r4":    true,
		"https://ehr.example.org/r4":         false, // 443 is not 8443
		"https://ehr.example.org:9443/r4":    false,
		"http://[::1]:9000/fhir":             true,
		"http://[::1]:9001/fhir":             false,
		"https://secure.example.org/fhir":    true, // default port matches :443
		"https://fhir.attacker.example/fhir": false,
	}
	got := map[string]bool{}
	for raw := range tests {
		u, err := parseBase(raw)
		if err != nil {
			t.Fatal(err)
		}
		got[raw] = hostAllowed(u, allowed)
	}
	if diff := cmp.Diff(got, tests); diff != "" {
		t.Errorf("hostAllowed (-got +want):\n%s", diff)
	}
}

// TestSlotsPerHostAndClient: one client, or one host, cannot take every
// outbound slot; a request that cannot get one within the wait fails fast
// with ErrUnavailable.
func TestSlotsPerHostAndClient(t *testing.T) {
	s := newSlots(4, 3, 2, 50*time.Millisecond)
	ctx := context.Background()
	var held []func()
	take := func(host, client string) error {
		release, err := s.acquire(ctx, host, client)
		if err == nil {
			held = append(held, release)
		}
		return err
	}
	var got []bool
	for _, r := range [][2]string{
		{"slow.example", "a"}, {"slow.example", "a"}, {"slow.example", "a"}, // third: client a's cap
		{"slow.example", "b"}, {"slow.example", "c"}, // second: host cap
		{"fast.example", "c"}, {"other.example", "d"}, // total cap reached by the second
	} {
		got = append(got, take(r[0], r[1]) == nil)
	}
	want := []bool{true, true, false, true, false, true, false}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("granted (-got +want):\n%s", diff)
	}
	start := time.Now()
	err := take("other.example", "d")
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > 5*time.Second {
		t.Errorf("full: err %v after %v, want ErrUnavailable after about the wait", err, time.Since(start))
	}
	// A slot given back is taken by a waiter.
	one := newSlots(1, 1, 1, time.Minute)
	release, err := one.acquire(ctx, "h", "a")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		r, err := one.acquire(ctx, "h", "b")
		if err == nil {
			r()
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("waiter not woken by a released slot")
	}
	// A cancelled call stops waiting at once.
	release, _ = one.acquire(ctx, "h", "a")
	defer release()
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := one.acquire(cctx, "h", "b"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("cancelled wait: err = %v, want ErrUnavailable", err)
	}
}

// newTLSRecorder is a recorder over TLS.
func newTLSRecorder(t testing.TB) *recorder {
	t.Helper()
	r := &recorder{}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func parseBase(raw string) (*url.URL, error) { return url.Parse(raw) }

func TestCheckAllowList(t *testing.T) {
	for _, ok := range [][]string{nil, {"fhir"}, {"fhir:8080", "ehr.example.org", "[::1]:9000", "::1", "10.0.0.5"}} {
		if err := CheckAllowList(ok); err != nil {
			t.Errorf("CheckAllowList(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"https://fhir.example.org", "http://fhir:8080/fhir", "fhir:http", "fhir:0", "user@fhir", ":8080"} {
		if err := CheckAllowList([]string{bad}); err == nil {
			t.Errorf("CheckAllowList(%q) = nil, want an error", bad)
		}
	}
}
