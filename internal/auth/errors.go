package auth

import "errors"

// ErrUnauthenticated matches (with errors.Is) every authentication failure
// returned by [Verifier.Verify]; the server maps it to 401.
var ErrUnauthenticated = errors.New("cds client authentication failed")

// Error is an authentication failure with a short, stable reason code that is
// safe to log and to use as a metric label. Clients never see it.
type Error struct {
	// Reason is one of the Reason* constants.
	Reason string
}

// Error implements error.
func (e *Error) Error() string { return "cds client authentication failed: " + e.Reason }

// Is reports whether target is [ErrUnauthenticated], so that every failure
// can be recognised without listing the reasons.
func (e *Error) Is(target error) bool { return target == ErrUnauthenticated }

// Reason codes for authentication failures.
const (
	ReasonMissing         = "missing"           // no Authorization header, or not a Bearer token
	ReasonMalformed       = "malformed"         // not a parsable JWT, or claims of the wrong type
	ReasonBadAlg          = "bad-alg"           // alg is none, HMAC, unsupported, not allowed for the issuer or not the key's
	ReasonBadTyp          = "bad-typ"           // typ present and not JWT
	ReasonBadCrit         = "bad-crit"          // a crit header naming extensions (none is understood; RFC 7515 §4.1.11)
	ReasonUnknownIssuer   = "unknown-issuer"    // iss missing or not a configured client
	ReasonMissingKID      = "missing-kid"       // no kid header
	ReasonUnknownKID      = "unknown-kid"       // kid not among the issuer's keys, even after an allowed refresh
	ReasonJKUNotAllowed   = "jku-not-allowed"   // unknown kid and a jku that the issuer's entry does not allow
	ReasonBadSignature    = "bad-signature"     // signature does not verify with the key
	ReasonBadAudience     = "bad-audience"      // aud is not the URL called
	ReasonMissingExp      = "missing-exp"       // no exp claim
	ReasonMissingIat      = "missing-iat"       // no iat claim
	ReasonMissingJTI      = "missing-jti"       // no jti claim
	ReasonExpired         = "expired"           // exp in the past (beyond the clock skew)
	ReasonNotYetValid     = "not-yet-valid"     // nbf in the future (beyond the clock skew)
	ReasonIatFuture       = "iat-future"        // iat in the future (beyond the clock skew)
	ReasonLifetime        = "lifetime"          // exp - iat longer than the maximum lifetime
	ReasonReplayed        = "replayed"          // jti already seen for this issuer
	ReasonReplayCacheFull = "replay-cache-full" // the replay cache is full of unexpired entries
)

// Sentinel errors, one per reason. Verify returns them wrapped with detail;
// compare with errors.Is.
var (
	ErrMissing         = &Error{ReasonMissing}
	ErrMalformed       = &Error{ReasonMalformed}
	ErrBadAlg          = &Error{ReasonBadAlg}
	ErrBadTyp          = &Error{ReasonBadTyp}
	ErrBadCrit         = &Error{ReasonBadCrit}
	ErrUnknownIssuer   = &Error{ReasonUnknownIssuer}
	ErrMissingKID      = &Error{ReasonMissingKID}
	ErrUnknownKID      = &Error{ReasonUnknownKID}
	ErrJKUNotAllowed   = &Error{ReasonJKUNotAllowed}
	ErrBadSignature    = &Error{ReasonBadSignature}
	ErrBadAudience     = &Error{ReasonBadAudience}
	ErrMissingExp      = &Error{ReasonMissingExp}
	ErrMissingIat      = &Error{ReasonMissingIat}
	ErrMissingJTI      = &Error{ReasonMissingJTI}
	ErrExpired         = &Error{ReasonExpired}
	ErrNotYetValid     = &Error{ReasonNotYetValid}
	ErrIatFuture       = &Error{ReasonIatFuture}
	ErrLifetime        = &Error{ReasonLifetime}
	ErrReplayed        = &Error{ReasonReplayed}
	ErrReplayCacheFull = &Error{ReasonReplayCacheFull}
)

// ReasonOf returns the reason code of an authentication failure, or "" when
// err is not one.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
