package fhir

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// AddressPolicy says which IP addresses the Loader may connect to when no
// allow-list is configured. It is checked on the address actually dialled
// (a net.Dialer Control hook), after name resolution, so a name that
// resolves to a public address for the check and a private one for the
// connection (DNS rebinding) cannot pass.
type AddressPolicy int

const (
	// AnyAddress checks nothing (the zero value; tests and callers that
	// decide themselves).
	AnyAddress AddressPolicy = iota
	// PublicOnly refuses loopback, private, link-local, unique-local,
	// IPv4-mapped and other special-purpose addresses, and plain http: the
	// default of a secured service without --fhir-allow.
	PublicOnly
	// PublicAndLoopback is PublicOnly but allows loopback addresses and
	// plain http: development mode, where the EHR and FHIR server under test
	// run on the developer's machine.
	PublicAndLoopback
)

// specialPrefixes are ranges that are not public unicast beyond what
// netip.Addr's predicates cover (RFC 6890 and the IANA special-purpose
// registries): shared address space, IETF protocol assignments,
// benchmarking, reserved, "this network", IPv4-compatible, NAT64, 6to4,
// Teredo and documentation ranges.
var specialPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
}

// addressAllowed applies p to one dialled address.
func (p AddressPolicy) addressAllowed(a netip.Addr) error {
	if p == AnyAddress {
		return nil
	}
	if a.Is4In6() {
		// The check must see the address the kernel connects to; a mapped
		// form hides an IPv4 address behind an IPv6 one.
		return fmt.Errorf("IPv4-mapped address: %w", ErrNotAllowed)
	}
	if a.IsLoopback() {
		if p == PublicAndLoopback {
			return nil
		}
		return fmt.Errorf("loopback address: %w", ErrNotAllowed)
	}
	switch {
	case a.IsPrivate():
		return fmt.Errorf("private or unique-local address: %w", ErrNotAllowed)
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return fmt.Errorf("link-local address: %w", ErrNotAllowed)
	case a.IsUnspecified(), a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("not a unicast address: %w", ErrNotAllowed)
	}
	for _, pre := range specialPrefixes {
		if pre.Contains(a) {
			return fmt.Errorf("special-purpose address: %w", ErrNotAllowed)
		}
	}
	return nil
}

// control is the net.Dialer ControlContext hook: address is the IP and port
// about to be connected.
func (p AddressPolicy) control(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %q: %w", address, ErrNotAllowed)
	}
	return p.addressAllowed(ap.Addr())
}

// dialer returns the dialer of the shared transport, with p's check.
func (p AddressPolicy) dialer() *net.Dialer {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
	if p != AnyAddress {
		d.ControlContext = p.control
	}
	return d
}

// CheckAllowList reports the first entry of an allow-list (LoaderConfig
// AllowedHosts) that is neither a host nor host:port with a numeric port,
// such as a URL, which would otherwise match nothing and silently refuse
// the server it was meant to allow.
func CheckAllowList(entries []string) error {
	for _, e := range entries {
		host, port := splitAllowEntry(e)
		if p, perr := strconv.Atoi(port); port != "" && (perr != nil || p < 1 || p > 65535) {
			return fmt.Errorf("FHIR allow-list entry %q: want host or host:port", e)
		}
		if host == "" || strings.ContainsAny(host, "/:@?#") && !isIPv6(host) {
			return fmt.Errorf("FHIR allow-list entry %q: want host or host:port", e)
		}
	}
	return nil
}

// splitAllowEntry splits an allow-list entry into host and port ("" when
// the entry is a host alone, brackets of an IPv6 literal removed).
func splitAllowEntry(e string) (host, port string) {
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		return strings.TrimSuffix(strings.TrimPrefix(e, "["), "]"), ""
	}
	return host, port
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}
