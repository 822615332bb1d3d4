// Package loadtest drives concurrent CDS Hooks calls against a running
// instance and reports throughput, latency percentiles, errors and peak
// memory. It also serves the baseline: a bare net/http handler that decodes the
// same request body and answers {"cards": []}, the practical limit of the
// machine for comparison in the same run.
package loadtest
