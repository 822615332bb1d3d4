// Package criteria is the clinical core: it recognises lumbar spine MRI
// orders and assesses a patient's record against a payer policy. It is pure:
// no I/O, no clock (the caller passes now), no logger.
package criteria
