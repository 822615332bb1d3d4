package fhir

import (
	"encoding/json"
	"strings"
)

// A prefetch value is read three times: json.Unmarshal of the whole request
// (hooks), of its Bundle envelope here, and of each entry (samply). The
// second read needs no syntax check once json.Valid has passed, nor copies
// of the entries: the walk below finds the envelope members and cuts the
// entries out of the value, and leaves anything unusual to json.Unmarshal,
// so the result is always the one parseEnvelope would give.

// members calls fn for each member of the JSON object that starts at i in
// valid JSON, with the member's name and value; ok is false when the input is
// not an object, a name is escaped or not ASCII, or fn says so.
func members(b []byte, i int, fn func(name string, value []byte) bool) (end int, ok bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		start := i + 1
		end := start
		for end < len(b) && b[end] != '"' {
			if c := b[end]; c == '\\' || c >= 0x80 || c < 0x20 {
				return 0, false
			}
			end++
		}
		if end >= len(b) {
			return 0, false
		}
		name := string(b[start:end])
		i = skipSpace(b, end+1)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		i = skipSpace(b, i+1)
		vstart := i
		if i = skipValue(b, i); i < 0 {
			return 0, false
		}
		if !fn(name, b[vstart:i]) {
			return 0, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// elements calls fn for each element of the JSON array value; ok is false
// when value is not an array or fn says so.
func elements(value []byte, fn func(elem []byte) bool) bool {
	i := skipSpace(value, 0)
	if i >= len(value) || value[i] != '[' {
		return false
	}
	i = skipSpace(value, i+1)
	if i < len(value) && value[i] == ']' {
		return true
	}
	for {
		start := i
		if i = skipValue(value, i); i < 0 {
			return false
		}
		if !fn(value[start:i]) {
			return false
		}
		i = skipSpace(value, i)
		if i >= len(value) {
			return false
		}
		switch value[i] {
		case ',':
			i = skipSpace(value, i+1)
		case ']':
			return true
		default:
			return false
		}
	}
}

// plainString returns the string a JSON string literal holds when it has no
// escapes and is ASCII (what json.Unmarshal would give without rewriting).
func plainString(value []byte) (string, bool) {
	if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
		return "", false
	}
	for _, c := range value[1 : len(value)-1] {
		if c == '\\' || c >= 0x80 || c < 0x20 {
			return "", false
		}
	}
	return string(value[1 : len(value)-1]), true
}

// foldsTo reports a name that json.Unmarshal would match to one of names
// without being exactly it (encoding/json matches names case-insensitively).
func foldsTo(name string, names ...string) bool {
	for _, n := range names {
		if name != n && strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// walkEnvelope reads t, valid JSON, as parseEnvelope would; ok is false when
// parseEnvelope must decide. Entry resources are sub-slices of t.
func walkEnvelope(t []byte) (env *envelope, ok bool) {
	env = &envelope{}
	str := func(dst *string, value []byte) bool {
		s, ok := plainString(value)
		*dst = s
		return ok
	}
	end, ok := members(t, 0, func(name string, value []byte) bool {
		switch name {
		case "resourceType":
			return str(&env.ResourceType, value)
		case "id":
			return str(&env.ID, value)
		case "type":
			return str(&env.Type, value)
		case "link":
			env.Link = nil
			return json.Unmarshal(value, &env.Link) == nil && env.Link != nil
		case "entry":
			env.Entry = env.Entry[:0]
			return elements(value, func(elem []byte) bool {
				var e struct {
					FullURL  string          `json:"fullUrl"`
					Resource json.RawMessage `json:"resource"`
				}
				_, ok := members(elem, 0, func(name string, value []byte) bool {
					switch name {
					case "fullUrl":
						return str(&e.FullURL, value)
					case "resource":
						e.Resource = value
						return true
					}
					return !foldsTo(name, "fullUrl", "resource")
				})
				env.Entry = append(env.Entry, e)
				return ok
			})
		}
		return !foldsTo(name, "resourceType", "id", "type", "link", "entry")
	})
	if !ok || skipSpace(t, end) != len(t) || env.ResourceType == "" {
		return nil, false
	}
	return env, true
}
