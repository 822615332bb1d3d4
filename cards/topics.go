package cards

import "github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"

// TopicSystem is the Da Vinci CRD card-type code system (CRD STU 2.1, CRDTempCodes).
const TopicSystem = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"

// Card-type codes this service emits (DECISIONS.md, "Cards"). Each is also a
// boolean davinci-crd.configuration option.
const (
	TopicCoverageInfo     = "coverage-info"
	TopicClinicalReminder = "clinical-reminder"
	TopicDuplicate        = "duplicate-therapy"
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
	{TopicClinicalReminder, "Urgent clinical reminders", "Suspected cauda equina: emergent imaging without waiting for authorization."},
	{TopicCoverageInfo, "Coverage information cards", "Whether the chart documents what prior authorization requires, and what is missing."},
	{TopicDuplicate, "Repeat imaging", "A lumbar MRI already done within the payer's repeat window."},
	{TopicAppropriateUse, "Contrast appropriateness", "The guideline's contrast variant, with a suggestion to change the order."},
	{TopicTherapyAlt, "Conservative therapy suggestions", "A physical therapy referral when no conservative therapy is documented."},
	{TopicGuideline, "Guideline and policy links", "Links to the payer policy and the ACR guideline."},
}

// MaxCardsDefault is the default of the max-cards configuration option.
const MaxCardsDefault = 10

func topic(code, display string) *hooks.Coding {
	return &hooks.Coding{System: TopicSystem, Code: code, Display: display}
}
