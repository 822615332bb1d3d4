package policy

import (
	"embed"
	"encoding/json"
	"path"
	"strings"
)

//go:embed questionnaires/*.json
var questionnaireFiles embed.FS

// Questionnaires returns the embedded documentation Questionnaires (FHIR R4
// JSON) by id, as served at GET /fhir/Questionnaire/{id}. The default
// policy's Questionnaire canonical (DefaultQuestionnaire) names "lumbar-mri-pa".
func Questionnaires() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	entries, _ := questionnaireFiles.ReadDir("questionnaires")
	for _, e := range entries {
		b, err := questionnaireFiles.ReadFile(path.Join("questionnaires", e.Name()))
		if err != nil {
			continue
		}
		out[strings.TrimSuffix(e.Name(), ".json")] = b
	}
	return out
}
