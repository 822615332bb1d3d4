// Package cards turns assessments into what the clinician sees: CDS Hooks
// cards in clinician language, and the Da Vinci CRD coverage-information
// systemAction for each assessed order. It is pure and deterministic given an
// ID generator and the day.
package cards
