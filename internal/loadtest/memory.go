package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcRSS returns a sampler of the resident memory of process pid (Linux /proc).
func ProcRSS(pid int) func() (uint64, error) {
	return func() (uint64, error) {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0, err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
				kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				return kb << 10, err
			}
		}
		return 0, fmt.Errorf("no VmRSS for pid %d", pid)
	}
}

// MetricsRSS returns a sampler that reads process_resident_memory_bytes from
// the service's Prometheus endpoint.
func MetricsRSS(metricsURL string) func() (uint64, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	return func() (uint64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		s := bufio.NewScanner(resp.Body)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		for s.Scan() {
			if rest, ok := strings.CutPrefix(s.Text(), "process_resident_memory_bytes "); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
				return uint64(f), err
			}
		}
		return 0, fmt.Errorf("process_resident_memory_bytes not found")
	}
}
