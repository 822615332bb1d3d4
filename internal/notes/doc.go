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
//
// # Not red flags
//
// New back pain (BackPain: "new low back pain for 3 weeks", "LBP x 10
// days") is what a history of cancer, immunosuppression or IV drug use
// pairs with; Finding.Course holds the onset its own words write. A
// medication named in a medication list section ("Medications:", "Current
// Outpatient Medications on File Prior to Visit") is an entry of the list
// (Finding.Listed), not a trial, unless it writes a course ("naproxen x 6
// weeks, no relief"); a list written on its header's line is that line's
// first sentence. An allergy list negates the medications it names only.
// In an Assessment and Plan section a diagnosis keeps its own context
// unless a plan cue precedes it ("MRI to exclude", "will"), and a therapy
// is planned unless a cue says it was done ("failed 8 weeks of PT"); in a
// Plan a therapy continued right before its name ("continue naproxen") is
// current use, for the note's day only. A correction ("documented in
// error") and an unchecked box ("[ ]", each box its own clause) negate.
package notes
