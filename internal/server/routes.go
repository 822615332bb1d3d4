package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// routes lists every route of the service and its protection
// (DECISIONS.md, "Authentication and routes").
//
// A service call flows: recover -> request id -> development guard (a Host
// that is not loopback, or an Origin that CORS does not allow: 403) -> CORS (preflights end here)
// -> failure gate (429 before any verification for an address past its
// failed-authentication budget) -> authenticate -> rate limit (per verified
// issuer, else remote address) -> audit (buffers the response until the row
// is committed) -> admission (the decode budget, weighted by body size) ->
// handler. Calls refused before the audit step (401, 429)
// are counted per reason and minute, not audited one row each.
func (s *Server) routes() {
	e := s.engine
	// A known path called with another method is 405 with Allow (gin fills
	// the header from the routes); trailing slashes are trimmed before
	// routing (Handler), so no empty redirect is ever sent.
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.Use(gin.CustomRecovery(func(c *gin.Context, _ any) { s.fail(c, errPanic) }), s.requestID, s.loopbackOnly, s.cors)

	discovery := []gin.HandlerFunc{}
	if !s.cfg.OpenDiscovery {
		discovery = append(discovery, s.gate, s.authenticate)
	}
	discovery = append(discovery, s.rateLimit, s.handleDiscovery)
	e.GET("/cds-services", discovery...)
	e.POST("/cds-services/:id", s.gate, s.authenticate, s.rateLimit, s.audit, s.admit, s.handleService)
	e.POST("/cds-services/:id/feedback", s.gate, s.authenticate, s.rateLimit, s.admit, s.handleFeedback)

	e.GET("/fhir/Questionnaire/:id", s.handleQuestionnaire)
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", s.handleReady)
	if s.cfg.Metrics != nil {
		e.GET("/metrics", gin.WrapH(s.cfg.Metrics.Handler()))
	}
	e.GET("/admin/report", s.gate, s.adminOnly, s.handleReport)
	e.NoRoute(func(c *gin.Context) { s.fail(c, ErrNotFound) })
	e.NoMethod(func(c *gin.Context) { s.fail(c, ErrMethodNotAllowed) })
}
