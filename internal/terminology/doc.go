// Package terminology owns the project's code sets: FHIR R4 ValueSet
// resources (JSON), their validation, and membership tests. It ships the
// value sets the default policy names (embedded, under valuesets/), each
// stating where its codes come from (VSAC OID, implementation guide,
// guideline), and builds a Registry keyed by canonical URL from them plus an
// operator's folder of ValueSet files that add or replace sets by URL.
//
// # Membership
//
// A value set with an expansion is its expansion.contains (nested contains
// included); a partial expansion (total above the codes it holds, or an
// offset) is refused. Otherwise membership is computed from compose:
//
//   - include.concept lists codes of one system;
//   - include.filter "concept is-a CODE" (and "descendent-of", which leaves
//     out CODE itself) is evaluated for ICD-10-CM on the code's structure:
//     the descendants of an ICD-10-CM code are the codes that extend it
//     (M54.1 is-a covers M54.16); dots and case are ignored. Filters on other
//     systems need a terminology server: such a set must carry an expansion
//     (see the valueset expand command);
//   - include.valueSet imports other sets of the Registry by canonical URL
//     (combined with a system, the codes must be in both);
//   - compose.exclude removes concepts and is-a filters the same way.
//
// Sets are compiled once, when the Registry is built, into maps: a lookup is
// a few map probes (one per ICD-10-CM prefix length), never a scan.
//
// The package does no I/O beyond reading files it is pointed at; fetching an
// expansion from a terminology server is the valueset expand command's job.
package terminology
