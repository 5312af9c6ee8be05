package router

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"

	"github.com/scfws/scfws/proto"
)

// Member names are case-sensitive in scfws's JSON, as documented, but
// encoding/json matches a name in any case: {"Type":"ping"} would decode
// as a ping, and a reader that spells names exactly (a JavaScript client,
// a filter in front) would see no type at all. So before a request or a
// command is decoded, a name that matches a documented one only when case
// is ignored is refused. Other unknown names are ignored, as before.

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
	requestNames  = sync.OnceValue(func() []string { return jsonNames(proto.Request{}) })
	commandNames  = sync.OnceValue(func() []string { return jsonNames(proto.Command{}) })
	envelopeNames = []string{"scfws"}
)

// misspelled returns the first member name of the JSON object b that is a
// name of known in another case, and that name; "" when there is none, or
// when b is not an object (its decoder says so).
func misspelled(b []byte, known []string) (got, want string) {
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return "", ""
	}
	for d.More() {
		t, err := d.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return "", ""
		}
		for _, k := range known {
			if name != k && strings.EqualFold(name, k) {
				return name, k
			}
		}
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			return "", ""
		}
	}
	return "", ""
}

// checkCommandNames refuses a command whose envelope ({"scfws":...}) or
// whose own members are spelled in another case. b is the event, the
// timer's Message or the signed route's body.
func checkCommandNames(b []byte) error {
	if got, want := misspelled(b, envelopeNames); got != "" {
		return fail(proto.CodeMalformedEvent, nil, "malformed event: %q: names are case-sensitive, want %q", clip(got), want)
	}
	var env struct {
		Scfws json.RawMessage `json:"scfws"`
	}
	if json.Unmarshal(b, &env) != nil {
		return nil // the decoder's error is reported where it decodes
	}
	if got, want := misspelled(env.Scfws, commandNames()); got != "" {
		return fail(proto.CodeMalformedEvent, nil, "malformed event: %q: names are case-sensitive, want %q", clip(got), want)
	}
	return nil
}
