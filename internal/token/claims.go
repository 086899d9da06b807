package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Claims are a token's claims, decoded exactly: names are matched
// case-sensitively, duplicate names anywhere make the token invalid, and
// numbers stay json.Number.
type Claims map[string]any

// String returns the claim name as a string, or "" when absent or not a
// string.
func (c Claims) String(name string) string {
	s, _ := c[name].(string)
	return s
}

// Time returns a NumericDate claim. ok is false when the claim is absent;
// err is set when it is present but not a JSON number (a quoted "exp" is not
// a date).
func (c Claims) Time(name string) (t time.Time, ok bool, err error) {
	v, present := c[name]
	if !present {
		return time.Time{}, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return time.Time{}, true, fmt.Errorf("claim %s is not a number", name)
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, true, fmt.Errorf("claim %s is out of range", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

var errDuplicate = errors.New("duplicate member name")

// decodeClaims decodes a JSON object exactly: duplicate member names at any
// depth are an error, numbers are kept as json.Number, and nothing may follow
// the object.
func decodeClaims(data []byte) (Claims, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("claims are not a JSON object")
	}
	obj, err := decodeObject(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after claims")
	}
	return Claims(obj), nil
}

const maxDepth = 32

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return decodeObject(dec, depth+1)
		case '[':
			return decodeArray(dec, depth+1)
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

func decodeObject(dec *json.Decoder, depth int) (map[string]any, error) {
	if depth > maxDepth {
		return nil, errors.New("claims nested too deeply")
	}
	obj := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("member name is not a string")
		}
		if _, dup := obj[name]; dup {
			return nil, fmt.Errorf("%w %q", errDuplicate, name)
		}
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		obj[name] = v
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, err
	}
	return obj, nil
}

func decodeArray(dec *json.Decoder, depth int) ([]any, error) {
	if depth > maxDepth {
		return nil, errors.New("claims nested too deeply")
	}
	arr := []any{}
	for dec.More() {
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, err
	}
	return arr, nil
}

// DecodeClaims decodes a JSON object exactly, as token claims are decoded:
// duplicate member names at any depth are an error, numbers stay
// json.Number, and nothing may follow the object. Introspection responses
// use it too.
func DecodeClaims(data []byte) (Claims, error) { return decodeClaims(data) }
