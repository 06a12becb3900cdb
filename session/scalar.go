package session

import (
	"strconv"
)

// Most session values are small ints, strings and bools: a user ID, a
// counter, a theme. encoding/json handles them through reflection, which
// on a read-only request costs more than the rest of the session lookup.
// The JSON codec therefore encodes and decodes these types itself when the
// JSON is in the plain form json.Marshal produces for them, and hands
// everything else (escapes, whitespace, null, overflow, other types) to
// encoding/json, so results and errors are always exactly encoding/json's.
// FuzzScalarJSON checks that claim against encoding/json.

// encodeScalar returns json.Marshal(v) for the types and values it handles
// and false for the rest.
func encodeScalar(v any) ([]byte, bool) {
	return appendScalar(nil, v)
}

// appendScalar appends json.Marshal(v) to dst for the types and values
// encodeScalar handles, and reports false for the rest.
func appendScalar(dst []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case int:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int64:
		return strconv.AppendInt(dst, v, 10), true
	case bool:
		return strconv.AppendBool(dst, v), true
	case string:
		if !plainString(v) {
			return nil, false
		}
		dst = append(dst, '"')
		dst = append(dst, v...)
		return append(dst, '"'), true
	}
	return nil, false
}

// decodeScalar does json.Unmarshal(data, dst) for the types and inputs it
// handles and reports false, leaving *dst alone, for the rest. It does not
// retain dst, so a caller's variable behind it stays on the stack.
func decodeScalar(data []byte, dst any) bool {
	switch p := dst.(type) {
	case *int:
		if !plainInt(data) {
			return false
		}
		n, err := strconv.ParseInt(string(data), 10, strconv.IntSize)
		if err != nil {
			return false
		}
		*p = int(n)
		return true
	case *int64:
		if !plainInt(data) {
			return false
		}
		n, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			return false
		}
		*p = n
		return true
	case *bool:
		switch string(data) {
		case "true":
			*p = true
			return true
		case "false":
			*p = false
			return true
		}
	case *string:
		if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
			return false
		}
		body := data[1 : len(data)-1]
		for _, c := range body {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				return false
			}
		}
		*p = string(body)
		return true
	}
	return false
}

// plainInt reports whether data is a JSON integer: an optional minus, then
// 0 or a digit string without a leading zero.
func plainInt(data []byte) bool {
	if len(data) > 0 && data[0] == '-' {
		data = data[1:]
	}
	if len(data) == 0 || len(data) > 1 && data[0] == '0' {
		return false
	}
	for _, c := range data {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// plainString reports whether json.Marshal writes s between quotes as it
// is: printable ASCII without the characters it escapes (the quote, the
// backslash, and <, > and & which it escapes for safe embedding in HTML).
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
