// Package hooks holds the CDS Hooks 2.0 wire types: the service request, the
// response with cards and system actions, the discovery document, and the
// validation of an incoming request. It does no I/O.
package hooks
