package fhir

import (
	"bytes"
	"encoding/json"
	"strings"
)

// A prefetch value is read three times: json.Unmarshal of the whole request
// (hooks), of its Bundle envelope here, and of each entry (samply). The
// second read needs no syntax check once json.Valid has passed, nor copies
// of the entries: the walk below finds the envelope members and cuts the
// entries out of the value, and leaves anything unusual to json.Unmarshal,
// so the result is always the one parseEnvelope would give.

// members walks the JSON object that starts at i in valid JSON. For each
// member fn gets the name and the index where the value starts in b, and
// returns the index just past the value, or -1 to hand over. ok is false when
// the input is not an object, a name is escaped or not ASCII, or fn handed over.
func members(b []byte, i int, fn func(name string, b []byte, v int) int) (end int, ok bool) {
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
		if i = fn(name, b, skipSpace(b, i+1)); i < 0 {
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

// elements walks the JSON array that starts at i in valid JSON like members;
// fn gets the index where each element starts.
func elements(b []byte, i int, fn func(b []byte, e int) int) (end int, ok bool) {
	if i >= len(b) || b[i] != '[' {
		return 0, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		if i = fn(b, i); i < 0 {
			return 0, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// structural marks the bytes skipValue stops at inside an object or array.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// skipValue returns the index just past the JSON value that starts at i in
// valid JSON, or -1 when the input ends first.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for {
			for i < len(b) && !structural[b[i]] {
				i++
			}
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			default:
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// skipString returns the index just past the string that starts at i: the
// first quote not escaped, that is not after an odd run of backslashes.
func skipString(b []byte, i int) int {
	for i++; ; i++ {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		i += j
		n := 0
		for k := i - 1; b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return i + 1
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
// parseEnvelope must decide. Entry resources are sub-slices of t. With
// maxEntries > 0 the walk stops at the first entry over it and returns an
// envelope with only over set, so a Bundle of a hundred thousand entries costs
// no more memory than one of maxEntries.
func walkEnvelope(t []byte, maxEntries int) (env *envelope, ok bool) {
	env = &envelope{}
	over := false
	str := func(dst *string, b []byte, v int) int {
		end := skipValue(b, v)
		if end < 0 {
			return -1
		}
		s, ok := plainString(b[v:end])
		if !ok {
			return -1
		}
		*dst = s
		return end
	}
	end, ok := members(t, 0, func(name string, b []byte, v int) int {
		switch name {
		case "resourceType":
			return str(&env.ResourceType, b, v)
		case "id":
			return str(&env.ID, b, v)
		case "type":
			return str(&env.Type, b, v)
		case "link":
			end := skipValue(b, v)
			if end < 0 {
				return -1
			}
			env.Link = nil
			if json.Unmarshal(b[v:end], &env.Link) != nil || env.Link == nil {
				return -1
			}
			return end
		case "entry":
			env.Entry = env.Entry[:0]
			end, ok := elements(b, v, func(b []byte, e int) int {
				if maxEntries > 0 && len(env.Entry) >= maxEntries {
					over = true
					return -1
				}
				var entry struct {
					FullURL  string          `json:"fullUrl"`
					Resource json.RawMessage `json:"resource"`
				}
				end, ok := members(b, e, func(name string, b []byte, v int) int {
					switch name {
					case "fullUrl":
						return str(&entry.FullURL, b, v)
					case "resource":
						end := skipValue(b, v)
						if end >= 0 {
							entry.Resource = b[v:end]
						}
						return end
					}
					if foldsTo(name, "fullUrl", "resource") {
						return -1
					}
					return skipValue(b, v)
				})
				if !ok {
					return -1
				}
				env.Entry = append(env.Entry, entry)
				return end
			})
			if !ok {
				return -1
			}
			return end
		}
		if foldsTo(name, "resourceType", "id", "type", "link", "entry") {
			return -1
		}
		return skipValue(b, v)
	})
	if over {
		return &envelope{over: true}, true
	}
	if !ok || skipSpace(t, end) != len(t) || env.ResourceType == "" {
		return nil, false
	}
	return env, true
}
