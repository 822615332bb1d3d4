// Package report owns the usage report of the service: the Report model
// (calls by outcome, findings, card acceptance and override rates, suggestion
// acceptance, latency percentiles) and its two renderings, aligned plain text
// for the `report` subcommand and a self-contained HTML page whose charts are
// server-rendered inline SVG (no script, font or stylesheet from elsewhere).
//
// The model holds counts and codes only, never patient data; internal/store
// fills it from the audit trail.
package report
