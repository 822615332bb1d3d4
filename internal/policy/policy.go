package policy

// CONTRACT SKELETON: the fields below are used by cards and server. The
// clinical fields (code sets, thresholds) are filled in by the criteria work.

// Policy is one payer's rules for lumbar spine MRI.
type Policy struct {
	// ID is a stable identifier, e.g. "default" or "acme-health".
	ID string `yaml:"id"`
	// Name is the payer's name, shown as the card source label (CRD resp-1..12:
	// the insurer on the member's card).
	Name string `yaml:"name"`
	// Match selects this policy from the patient's Coverage.
	Match Match `yaml:"match"`
	// PANeeded is the CRD pa-needed code for lumbar MRI: auth-needed, no-auth...
	PANeeded string `yaml:"pa_needed"`
	// Links are the policy and guideline links shown on the External Reference card.
	Links []Link `yaml:"links"`
	// Questionnaire is the canonical URL of the documentation Questionnaire.
	Questionnaire string `yaml:"questionnaire"`
}

// Match lists how a Coverage selects a policy.
type Match struct {
	PayorIdentifiers []string `yaml:"payor_identifiers"`
	PayorDisplays    []string `yaml:"payor_displays"`
	OrganizationIDs  []string `yaml:"organization_ids"`
}

// Link is an absolute URL with a label.
type Link struct {
	Label string `yaml:"label"`
	URL   string `yaml:"url"`
}
