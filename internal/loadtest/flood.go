package loadtest

import (
	"bytes"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// TinyResources returns body, an order-sign request, with its observations
// prefetch replaced by a searchset of n minimal entries
// ({"resource":{"resourceType":"Observation"}}): the largest number of
// resources a body of a given size can carry, for the bounded-memory run.
// 110,000 of them make a body of about 4.9 MB.
func TinyResources(body []byte, n int) ([]byte, error) {
	var req map[string]jsontext.Value
	if err := jsonv2.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("tiny resources: the base body: %w", err)
	}
	var prefetch map[string]jsontext.Value
	if p, ok := req["prefetch"]; ok {
		if err := jsonv2.Unmarshal(p, &prefetch); err != nil {
			return nil, fmt.Errorf("tiny resources: the base prefetch: %w", err)
		}
	}
	if prefetch == nil {
		prefetch = map[string]jsontext.Value{}
	}
	var b bytes.Buffer
	b.Grow(45*n + 64)
	b.WriteString(`{"resourceType":"Bundle","type":"searchset","entry":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"resource":{"resourceType":"Observation"}}`)
	}
	b.WriteString(`]}`)
	prefetch["observations"] = b.Bytes()
	p, err := jsonv2.Marshal(prefetch, jsonv2.Deterministic(true))
	if err != nil {
		return nil, err
	}
	req["prefetch"] = p
	return jsonv2.Marshal(req, jsonv2.Deterministic(true))
}
