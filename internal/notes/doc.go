// Package notes finds evidence in the text of clinical notes: cauda equina
// signs, severe or progressive motor deficit, suspected infection, suspected
// cancer, prior lumbar surgery and conservative therapy courses, each with
// its span, a short quote and its context (negated, hypothetical, experienced
// by someone else, historical), in the manner of NegEx and ConText.
//
// It is pure: text in, findings out; no I/O, no clock, no logger. The phrases
// and context cues are data (phrases.yaml, embedded), each entry citing its
// source. StripHTML turns an HTML note into the plain text Find reads.
//
// # Which findings count
//
// Negated, hypothetical and other-person findings never count. A historical
// finding counts only when its concept is history by nature (a cancer
// history, a prior surgery, a therapy course); concepts that need a current
// state (cauda equina signs, motor deficit, fever) do not count when
// historical.
package notes
