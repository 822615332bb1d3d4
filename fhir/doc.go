// Package fhir turns what a CDS client supplies (prefetch values) and what the
// EHR's FHIR server answers into the patient's clinical Record, decoded with the
// samply R4 models (imported as r4). It owns the FHIR REST client: searches,
// paging, the bearer token and deadlines, which servers and addresses may be
// reached (AddressPolicy, the allow-list), the outbound caps per host and per
// client, and Seed, which writes scenario
// patients to a FHIR server for development and tests.
package fhir
