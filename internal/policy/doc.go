// Package policy holds the payer policy model: which payer a policy applies
// to, its thresholds and code sets, card labels and links. It loads and
// validates policy YAML and embeds the default policy. It does no network or
// database I/O.
//
// # Files
//
// A policy file is one YAML mapping (see Policy for every key). Load reads a
// file or every *.yaml / *.yml file in a folder; Parse reads one file from
// memory; Default returns the embedded default.yaml alone.
//
// A payer file is overlaid on the default policy: nested mappings merge key by
// key, and each scalar or list the payer file sets replaces the default's
// value (a payer that sets red_flags.malignancy.alone replaces that list and
// keeps every other red flag). A payer file must set id, name and match
// itself. A file in the folder with id "default" replaces the embedded
// default (it is itself overlaid on the embedded one) and becomes the base
// of the other files.
//
// Unknown keys, missing required keys, out-of-range thresholds, missing or
// empty value sets, bad URLs, unknown pa-needed codes, duplicate ids and two policies matching
// the same payer are errors; each *Error names the file and line.
//
// # Codes
//
// Code lists are FHIR ValueSets named by canonical URL (`valueset:` with an
// optional `source:`), resolved when the policy is loaded against a
// terminology.Registry: the shipped value sets, plus an operator's folder
// (LoadWith, ParseWith, NewHolderWithValueSets). A named set that is missing
// or empty is an error naming the file, line and URL. Medication classes
// name a value set of RxNorm codes at every level and list their ingredients
// by name for the text fallback.
//
// # Selecting a policy
//
// Set.ForCoverage picks the payer policy whose match names one of the
// Coverage's payor references (identifier value, Organization id, or display
// compared case-insensitively), else the default policy.
package policy
