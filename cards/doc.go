// Package cards turns assessments into what the clinician sees: CDS Hooks
// cards in clinician language (per order one coverage-information card, a
// critical card only where emergent imaging is indicated, suggestions on a
// card of their CRD type or on the coverage card, and one links card), the
// Da Vinci CRD coverage-information systemAction for each assessed order,
// the checks of the CRD card rules, and a plain-text rendering of cards. It
// is pure and deterministic given an ID generator and the day.
package cards
