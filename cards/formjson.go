package cards

import (
	"math"
	"strconv"

	jsonv1 "github.com/go-json-experiment/json/v1"
)

// The pre-filled QuestionnaireResponse is the largest resource of an answer,
// built on every call with a lumbar MRI order. Encoding it through the
// reflection-driven encoder took about 5 % of a call's CPU; the appenders
// below write the same bytes as jsonv1.Marshal (member order, omitempty,
// escaping) without reflection. Anything outside their fast paths (a string
// needing escapes or not plain ASCII, a float outside plain decimal notation)
// is encoded by jsonv1.Marshal itself, so the two cannot differ;
// TestQuestionnaireResponseEncoding compares them.

// appendJSON appends qr as jsonv1.Marshal encodes it.
func (qr *questionnaireResponseJSON) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"resourceType":`...)
	b = appendString(b, qr.ResourceType)
	b = append(b, `,"id":`...)
	b = appendString(b, qr.ID)
	b = append(b, `,"questionnaire":`...)
	b = appendString(b, qr.Questionnaire)
	b = append(b, `,"status":`...)
	b = appendString(b, qr.Status)
	b = append(b, `,"subject":`...)
	b = qr.Subject.appendJSON(b)
	if len(qr.BasedOn) > 0 {
		b = append(b, `,"basedOn":[`...)
		for i := range qr.BasedOn {
			if i > 0 {
				b = append(b, ',')
			}
			b = qr.BasedOn[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	b = append(b, `,"authored":`...)
	b = appendString(b, qr.Authored)
	if len(qr.Item) > 0 {
		var err error
		b = append(b, `,"item":`...)
		if b, err = appendItems(b, qr.Item); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendItems(b []byte, items []qrItem) ([]byte, error) {
	var err error
	b = append(b, '[')
	for i := range items {
		it := &items[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"linkId":`...)
		b = appendString(b, it.LinkID)
		if len(it.Answer) > 0 {
			b = append(b, `,"answer":[`...)
			for j := range it.Answer {
				if j > 0 {
					b = append(b, ',')
				}
				if b, err = it.Answer[j].appendJSON(b); err != nil {
					return nil, err
				}
			}
			b = append(b, ']')
		}
		if len(it.Item) > 0 {
			b = append(b, `,"item":`...)
			if b, err = appendItems(b, it.Item); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func (a *qrAnswer) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	start := len(b)
	sep := func() {
		if len(b) > start {
			b = append(b, ',')
		}
	}
	if a.ValueBoolean != nil {
		sep()
		b = append(b, `"valueBoolean":`...)
		b = strconv.AppendBool(b, *a.ValueBoolean)
	}
	if a.ValueDate != "" {
		sep()
		b = append(b, `"valueDate":`...)
		b = appendString(b, a.ValueDate)
	}
	if a.ValueDecimal != nil {
		sep()
		b = append(b, `"valueDecimal":`...)
		var err error
		if b, err = appendFloat(b, *a.ValueDecimal); err != nil {
			return nil, err
		}
	}
	if a.ValueString != "" {
		sep()
		b = append(b, `"valueString":`...)
		b = appendString(b, a.ValueString)
	}
	if a.ValueCoding != nil {
		sep()
		b = append(b, `"valueCoding":`...)
		b = a.ValueCoding.appendJSON(b)
	}
	if len(a.Extension) > 0 {
		sep()
		b = append(b, `"extension":`...)
		b = appendExts(b, a.Extension)
	}
	return append(b, '}'), nil
}

func appendExts(b []byte, exts []ext) []byte {
	b = append(b, '[')
	for i := range exts {
		if i > 0 {
			b = append(b, ',')
		}
		b = exts[i].appendJSON(b)
	}
	return append(b, ']')
}

func (e *ext) appendJSON(b []byte) []byte {
	b = append(b, `{"url":`...)
	b = appendString(b, e.URL)
	if len(e.Extension) > 0 {
		b = append(b, `,"extension":`...)
		b = appendExts(b, e.Extension)
	}
	if e.ValueCode != "" {
		b = append(b, `,"valueCode":`...)
		b = appendString(b, e.ValueCode)
	}
	if e.ValueString != "" {
		b = append(b, `,"valueString":`...)
		b = appendString(b, e.ValueString)
	}
	if e.ValueDate != "" {
		b = append(b, `,"valueDate":`...)
		b = appendString(b, e.ValueDate)
	}
	if e.ValueCanonical != "" {
		b = append(b, `,"valueCanonical":`...)
		b = appendString(b, e.ValueCanonical)
	}
	if e.ValueReference != nil {
		b = append(b, `,"valueReference":`...)
		b = e.ValueReference.appendJSON(b)
	}
	if e.ValueCoding != nil {
		b = append(b, `,"valueCoding":`...)
		b = e.ValueCoding.appendJSON(b)
	}
	if cc := e.ValueCodeableConcept; cc != nil {
		b = append(b, `,"valueCodeableConcept":{"coding":`...)
		if cc.Coding == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i := range cc.Coding {
				if i > 0 {
					b = append(b, ',')
				}
				b = cc.Coding[i].appendJSON(b)
			}
			b = append(b, ']')
		}
		if cc.Text != "" {
			b = append(b, `,"text":`...)
			b = appendString(b, cc.Text)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func (r *reference) appendJSON(b []byte) []byte {
	b = append(b, `{"reference":`...)
	b = appendString(b, r.Reference)
	return append(b, '}')
}

func (c *coding) appendJSON(b []byte) []byte {
	b = append(b, `{"system":`...)
	b = appendString(b, c.System)
	b = append(b, `,"code":`...)
	b = appendString(b, c.Code)
	if c.Display != "" {
		b = append(b, `,"display":`...)
		b = appendString(b, c.Display)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string the way jsonv1.Marshal writes it:
// printable ASCII other than the characters it escapes is copied, anything
// else goes through jsonv1.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			// A Go string always encodes (invalid UTF-8 is replaced); were
			// it ever to fail, the answer's encoder would refuse the
			// incomplete resource instead of sending it.
			q, _ := jsonv1.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat appends f as jsonv1.Marshal writes a float64: plain decimal
// notation, shortest form, between 1e-6 and 1e21; jsonv1.Marshal itself
// for anything else (exponent notation, NaN and infinities, which fail).
func appendFloat(b []byte, f float64) ([]byte, error) {
	if abs := math.Abs(f); abs == 0 || (abs >= 1e-6 && abs < 1e21) {
		return strconv.AppendFloat(b, f, 'f', -1, 64), nil
	}
	q, err := jsonv1.Marshal(f)
	if err != nil {
		return nil, err
	}
	return append(b, q...), nil
}
