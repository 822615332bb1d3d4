// Package jsoncompat reads JSON with the Go team's JSON v2 engine
// (github.com/go-json-experiment/json, the basis of encoding/json/v2) while
// accepting exactly what encoding/json accepts. CDS clients and the samply
// FHIR models were written against encoding/json; the v2 engine decodes the
// same input in about half the time. The request decoding (hooks), the FHIR
// resource decoding (fhir) and the order patching (cards) all read with these
// rules, so a body one of them accepts the others accept too.
package jsoncompat
