// Package sandboxcheck tries the service the way a new user would: in the
// CDS Hooks sandbox (github.com/cds-hooks/sandbox), built locally, on its
// "PAMA Imaging" order screen.
//
// Its test builds the lumbar-mri-cds binary, starts the project's node FHIR
// R4 test server (internal/fhirtest) and seeds it with the binary's `seed`
// command, runs `serve` in development mode and with --trust-sandbox, serves
// the sandbox's build/ folder, and drives headless Chromium: open the sandbox
// pointed at both servers, choose a lumbar MRI in the order search box, read
// the cards the sandbox renders, dismiss one (feedback) and take a
// screenshot.
//
// The sandbox's code cannot be part of this project, so the test needs a
// built copy: set LUMBAR_MRI_CDS_SANDBOX_DIR to the sandbox's folder (after
// `npm ci && npm run build` there) or to its build/ folder. Without the
// variable the test skips; with it, anything missing (Chromium, node, a
// build) fails the test. See the README section "Try it in the CDS Hooks
// sandbox".
package sandboxcheck
