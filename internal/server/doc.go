// Package server is the HTTP face of the service: the gin engine, every route
// (routes.go), the handlers, middleware, and the one table that maps errors to
// HTTP statuses (errors.go). A service call flows one way: decode and validate
// (hooks), load the record (fhir), assess (criteria), build cards (cards),
// audit (store).
package server
