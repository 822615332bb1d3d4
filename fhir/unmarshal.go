package fhir

import (
	"encoding/json"
	"errors"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/jsoncompat"
)

// unmarshal decodes one resource into its samply R4 model. samply's
// Unmarshal<Type> functions are encoding/json.Unmarshal; decoding the same
// types with the Go team's JSON v2 engine (the basis of encoding/json/v2)
// takes about half the time, which matters with a few hundred resources per
// call. jsoncompat.Options reproduce what encoding/json accepts (duplicate members,
// invalid UTF-8, member names matched without regard to case, decimals kept
// exactly as json.Number); samply's own
// UnmarshalJSON methods (its enums) still run, so an unknown code fails the
// resource as before. FuzzUnmarshal checks both decoders agree.
func unmarshal[T any](raw []byte) (T, error) {
	var v T
	err := jsoncompat.Unmarshal(raw, &v)
	return v, err
}

// errQuotedDecimal marks a resource whose FHIR decimal (a json.Number in
// the samply models: Quantity.value, Duration.value) is written as a JSON
// string ("42"). FHIR R4 JSON writes decimals as JSON numbers (FHIR R4
// 2.6.2, JSON representation of primitive types); encoding/json would read
// "42" as 42, so a wrongly typed duration would count in full while other
// wrongly typed members make the entry unreadable. The decoder treats it as
// any other member of the wrong JSON type: the entry is named, not read.
var errQuotedDecimal = errors.New("a decimal is written as a JSON string")

// resourceOptions are jsoncompat.Options with decimals that must be JSON
// numbers (errQuotedDecimal); null and absent decimals read as before.
var resourceOptions = jsonv2.JoinOptions(jsoncompat.Options, jsonv2.WithUnmarshalers(
	jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, n *json.Number) error {
		switch dec.PeekKind() {
		case '"':
			return errQuotedDecimal
		case '0':
			v, err := dec.ReadValue()
			if err != nil {
				return err
			}
			*n = json.Number(v)
			return nil
		}
		return jsonv2.SkipFunc
	})))

// unmarshalResource is unmarshal for a chart entry the assessment reads:
// as unmarshal, but a decimal written as a JSON string fails the entry
// with errQuotedDecimal.
func unmarshalResource[T any](raw []byte) (T, error) {
	var v T
	err := jsonv2.Unmarshal(raw, &v, resourceOptions)
	return v, err
}
