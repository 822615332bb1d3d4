package auth

import (
	"net"
	"net/url"
	"strings"
)

// IsLoopback reports whether addr names only the loopback interface:
// 127.0.0.0/8, ::1 or "localhost", with or without a port ("127.0.0.1:8080",
// "[::1]:8080", "localhost"). An empty host (":8080", all interfaces) is not
// loopback.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkFetchURL accepts an absolute https URL, or an http URL whose host is
// loopback (for local development and tests).
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" {
		return errNotAbsolute
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Host) {
			return nil
		}
		return errPlainHTTP
	default:
		return errNotAbsolute
	}
}
