// Package notes finds evidence in the text of clinical notes: cauda equina
// signs, severe or progressive motor deficit, suspected infection, suspected
// cancer, prior lumbar surgery, a lumbar or thoracolumbar vertebral fracture
// and conservative therapy courses, each with its span, a short quote and
// its context (negated, hypothetical, experienced by someone else,
// historical), in the manner of NegEx and ConText.
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
// state (cauda equina signs, motor deficit, fever, a vertebral fracture) do
// not count when historical, nor does an old or healed fracture.
//
// A vertebral fracture counts at L1-L5, the lumbar spine and the
// thoracolumbar or lumbosacral junction only (DECISIONS.md red flags: S32.0,
// M48.55-M48.57, M80.08, M80.88); not a thoracic level such as T12 (coded
// S22.08, thoracic), not the sacrum, hip, wrist or ribs, and not a
// transverse or spinous process or pars fracture (AO Spine type A0,
// spondylolysis). A suspected fracture ("concern for", "?L1 fracture")
// counts as a suspected cauda equina does; "rule out" does not.
package notes
