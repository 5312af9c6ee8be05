package router

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/scfws/scfws/proto"
)

// Member names are case-sensitive in scfws's JSON, as documented, but
// encoding/json matches a name in any case: {"Type":"ping"} would decode
// as a ping, and a reader that spells names exactly (a JavaScript client,
// a filter in front) would see no type at all. So a request or a command
// with a name that matches a documented one only when case is ignored is
// refused. Other unknown names are ignored, as before.

// jsonNames are the member names of a struct's json tags.
func jsonNames(v any) []string {
	t := reflect.TypeOf(v)
	var out []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

var (
	requestNames = sync.OnceValue(func() []string { return jsonNames(proto.Request{}) })
	commandNames = sync.OnceValue(func() []string { return jsonNames(proto.Command{}) })
	streamNames  = sync.OnceValue(func() []string { return jsonNames(proto.StreamPosition{}) })
)

// misspelledInside is misspelled for the objects a request nests: its
// since and each of its streams.
func misspelledInside(b []byte) (got, want string) {
	members(b, func(raw, value []byte) bool {
		switch memberName(raw) {
		case "since":
			got, want = misspelled(value, streamNames())
		case "streams":
			var items []json.RawMessage
			_ = json.Unmarshal(value, &items) // decoded already: a bad one fails there
			for _, it := range items {
				if got, want = misspelled(it, streamNames()); got != "" {
					break
				}
			}
		}
		return got == ""
	})
	return got, want
}

// misspelled returns the first member name of the JSON object b that is a
// name of known in another case, and that name; "" when there is none. b
// has been decoded already: this is a scan of valid JSON, not a parser.
func misspelled(b []byte, known []string) (got, want string) {
	members(b, func(raw, _ []byte) bool {
		got, want = variant(raw, known)
		return got == ""
	})
	return got, want
}

// variant is the member name raw (as in the JSON text) and the name of
// known it matches in another case, or "".
func variant(raw []byte, known []string) (got, want string) {
	name := memberName(raw)
	for _, k := range known {
		if name != k && strings.EqualFold(name, k) {
			return name, k
		}
	}
	return "", ""
}

// memberName decodes a raw member name as encoding/json does: its escapes
// ("\u0054ype" is "Type"), and invalid UTF-8 as U+FFFD.
func memberName(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw)
	}
	var s string
	_ = json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s)
	return s
}

// checkCommandNames refuses a command whose envelope ({"scfws":...}) or
// whose own members are named in another case. b is the event, the timer's
// Message or the signed route's body, already decoded.
func checkCommandNames(b []byte) error {
	var cmd []byte
	var got, want string
	members(b, func(raw, value []byte) bool {
		if got, want = variant(raw, []string{"scfws"}); got != "" {
			return false
		}
		if memberName(raw) == "scfws" {
			cmd = value // the last one, as encoding/json takes
		}
		return true
	})
	if got == "" {
		got, want = misspelled(cmd, commandNames())
	}
	if got != "" {
		return fail(proto.CodeMalformedEvent, nil, "malformed event: %q: names are case-sensitive, want %q", clip(got), want)
	}
	return nil
}

// members calls f with each member of the JSON object b, its name as it
// is in the text (escapes kept) and its value, until f returns false.
// Nothing but an object has members. b must be valid JSON; a scan rather
// than a decode, it costs no allocation, whatever the values hold.
func members(b []byte, f func(name, value []byte) bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	for i++; ; i++ {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return // the object's end
		}
		end := stringEnd(b, i)
		name := b[i+1 : end]
		i = skipSpace(b, end+1) // the colon
		start := skipSpace(b, i+1)
		i = valueEnd(b, start)
		if start >= i || !f(name, b[start:i]) {
			return
		}
		if i = skipSpace(b, i); i >= len(b) || b[i] != ',' {
			return
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd is the index of the quote closing the string that opens at i.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(b)
}

// valueEnd is the index just past the value that starts at i.
func valueEnd(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			if j = stringEnd(b, j); depth == 0 {
				return min(j+1, len(b))
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth <= 0 {
				return min(j+1+depth, len(b)) // a closer of the object itself ends a scalar
			}
		case ',':
			if depth == 0 {
				return j
			}
		}
	}
	return len(b)
}
