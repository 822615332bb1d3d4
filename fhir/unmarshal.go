package fhir

import "github.com/lumbar-mri-cds/lumbar-mri-cds/internal/jsoncompat"

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
