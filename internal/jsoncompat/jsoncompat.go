package jsoncompat

import (
	"encoding/json"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// Options make the v2 engine read as encoding/json does: duplicate member
// names (the last one wins) and invalid UTF-8 accepted, member names matched
// without regard to case (but "-" and "_" count, so "us-e" does not match
// "use"), and json.Number fields kept exactly as written. They are valid for
// jsontext decoders too, which use the first two.
var Options = jsonv2.JoinOptions(
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
	jsonv2.MatchCaseInsensitiveNames(true),
	jsonv1.MatchCaseSensitiveDelimiter(true),
	jsonv2.WithUnmarshalers(numbers),
)

// Unmarshal is json.Unmarshal(raw, v) done by the v2 engine with Options.
// Types' own UnmarshalJSON methods still run.
func Unmarshal(raw []byte, v any) error {
	return jsonv2.Unmarshal(raw, v, Options)
}

// numbers keeps decimals as written in json.Number fields, as encoding/json
// does; anything but a JSON number takes the default path.
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
