package fhir

import (
	"encoding/json"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// unmarshal decodes one resource into its samply R4 model. samply's
// Unmarshal<Type> functions are encoding/json.Unmarshal; decoding the same
// types with the Go team's JSON v2 engine (the basis of encoding/json/v2)
// takes about half the time, which matters with a few hundred resources per
// call. The options reproduce what encoding/json accepts (duplicate members,
// invalid UTF-8, member names matched without regard to case, decimals kept
// exactly as json.Number); samply's own
// UnmarshalJSON methods (its enums) still run, so an unknown code fails the
// resource as before. FuzzUnmarshal checks both decoders agree.
func unmarshal[T any](raw []byte) (T, error) {
	var v T
	err := decodeCompat(raw, &v)
	return v, err
}

// decodeCompat is json.Unmarshal(raw, v) done by the JSON v2 engine with
// the options above.
func decodeCompat(raw []byte, v any) error {
	return jsonv2.Unmarshal(raw, v,
		jsontext.AllowDuplicateNames(true),
		jsontext.AllowInvalidUTF8(true),
		jsonv2.MatchCaseInsensitiveNames(true),
		// encoding/json folds case only: "us-e" must not match "use".
		jsonv1.MatchCaseSensitiveDelimiter(true),
		jsonv2.WithUnmarshalers(numbers))
}

// numbers keeps FHIR decimals as written (samply's *json.Number fields), as
// encoding/json does; anything but a JSON number takes the default path.
var numbers = jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, n *json.Number) error {
	if dec.PeekKind() != '0' {
		return jsonv2.SkipFunc
	}
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	*n = json.Number(v)
	return nil
})
