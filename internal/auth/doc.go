// Package auth authenticates CDS clients (EHRs) calling the service, following
// CDS Hooks 2.0 "Trusting CDS Clients": every call carries
// "Authorization: Bearer <JWT>" signed with the client's private key, and the
// service checks it against the client's published JWK Set.
//
// The package owns the trust file (which issuers are trusted, where their keys
// come from, which algorithms they may use), JWKS loading and refreshing, the
// verification rules, the jti replay cache and the development helpers (the
// public CDS Hooks sandbox's issuer, a local signing key for
// "lumbar-mri-cds token", loopback checks).
//
// It does not import gin: [Verifier.Middleware] is plain net/http middleware,
// and [Verifier.Verify] with [WriteUnauthorized] serves other routers.
//
// Keys are parsed with jwkset and tokens verified with golang-jwt. The keyfunc
// package's remote JWKS cache is not used because its refresh policy cannot
// express the CDS Hooks rules this service needs: a jku header is fetched only
// for an unknown kid and only when the issuer's trust entry allows that URL,
// and each issuer's keys never verify another issuer's tokens.
//
// Start-up behaviour: a jwks_file is read by [LoadTrust] (errors stop start-up);
// a jwks_url is fetched by [NewVerifier]. A failed first fetch is not fatal: it
// is logged, [Verifier.Ready] reports it until a later fetch succeeds, and the
// fetch is retried in the background and when a token for that issuer arrives
// (subject to the refresh rate).
package auth
