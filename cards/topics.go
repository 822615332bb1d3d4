package cards

import "github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"

// TopicSystem is the Da Vinci CRD card-type code system (CRD STU 2.1, CRDTempCodes).
const TopicSystem = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"

// Card-type codes this service emits (DECISIONS.md, "Cards"). Each is also a
// boolean davinci-crd.configuration option. A repeat lumbar MRI is said on
// the coverage-information card (round 2), so duplicate-therapy is not one.
const (
	TopicCoverageInfo     = "coverage-info"
	TopicClinicalReminder = "clinical-reminder"
	TopicAppropriateUse   = "appropriate-use"
	TopicTherapyAlt       = "therapy-alternatives-opt"
	TopicGuideline        = "guideline"
)

// Topic describes one card type for the discovery configuration options.
type Topic struct {
	Code, Name, Description string
}

// Topics lists the card types in the order cards are emitted.
var Topics = []Topic{
	{TopicClinicalReminder, "Urgent clinical reminders", "Emergent imaging without waiting for authorization: suspected cauda equina or cord compression, spinal epidural abscess, progressive neurological deficit."},
	{TopicCoverageInfo, "Coverage information cards", "Whether the chart documents what prior authorization requires (including a repeat MRI), what to add and by when, and what to do."},
	{TopicAppropriateUse, "Contrast appropriateness", "The guideline's contrast variant, with a suggestion to change the order."},
	{TopicTherapyAlt, "Conservative therapy suggestions", "A physical therapy referral when no conservative therapy is documented."},
	{TopicGuideline, "Guideline and policy links", "Links to the payer policy and the ACR guideline."},
}

// MaxCardsDefault is the default of the max-cards configuration option.
const MaxCardsDefault = 10

func topic(code, display string) *hooks.Coding {
	return &hooks.Coding{System: TopicSystem, Code: code, Display: display}
}
