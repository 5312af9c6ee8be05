package router

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/scfws/scfws/proto"
)

// A member name that matches a documented one only when case is ignored
// is found (encoding/json would take it for the documented one); exact
// names, unknown names and nested objects are not.
func TestMisspelled(t *testing.T) {
	tests := []struct {
		give     string
		wantGot  string
		wantWant string
	}{
		{`{"type":"ping","ackId":1}`, "", ""},
		{`{"Type":"ping"}`, "Type", "type"},
		{`{"type":"ping","ACKID":1}`, "ACKID", "ackId"},
		{`{"type":"sendToUser","userID":"bob"}`, "userID", "userId"},
		{`{"type":"ping","ac\u212aId":1}`, "ac\u212aId", "ackId"}, // a Kelvin sign: json folds it to k
		{`{"type":"sendToGroup","data":{"Type":"x","GROUP":1},"group":"g"}`, "", ""},
		{`{"type":"ping","extra":{"Type":1},"future":true}`, "", ""},
		{`{"noecho":true}`, "noecho", "noEcho"},
		{`[{"Type":1}]`, "", ""},
		{`not json`, "", ""},
		{`{"type":`, "", ""},
	}
	for _, tt := range tests {
		if got, want := misspelled([]byte(tt.give), requestNames()); got != tt.wantGot || want != tt.wantWant {
			t.Errorf("misspelled(%s) = %q, %q; want %q, %q", tt.give, got, want, tt.wantGot, tt.wantWant)
		}
	}
	if want := []string{"type", "group", "userId", "dataType", "data", "noEcho", "ackId", "since", "streams", "user", "limit", "before",
		"secret", "op", "args"}; !slices.Equal(requestNames(), want) {
		t.Errorf("requestNames() = %q; want %q", requestNames(), want)
	}
}

// The objects a request nests, since and each of streams, spell their
// names exactly too.
func TestMisspelledInside(t *testing.T) {
	tests := []struct {
		give     string
		wantGot  string
		wantWant string
	}{
		{`{"type":"resume","streams":[{"group":"g","offset":1,"epoch":"E"},{"user":true,"offset":0,"epoch":""}]}`, "", ""},
		{`{"type":"resume","streams":[{"group":"g","offset":1,"epoch":"E"},{"User":true}]}`, "User", "user"},
		{`{"type":"joinGroup","group":"g","since":{"Offset":3,"epoch":"E"}}`, "Offset", "offset"},
		{`{"type":"joinGroup","group":"g","since":{"offset":3,"epoch":"E","extra":{"Offset":1}}}`, "", ""},
		{`{"type":"resume","streams":"none"}`, "", ""},
	}
	for _, tt := range tests {
		if got, want := misspelledInside([]byte(tt.give)); got != tt.wantGot || want != tt.wantWant {
			t.Errorf("misspelledInside(%s) = %q, %q; want %q, %q", tt.give, got, want, tt.wantGot, tt.wantWant)
		}
	}
}

// Commands: the envelope's name and the command's own, wherever a command
// arrives (an invoke, a timer's Message, the signed route's body).
func TestCheckCommandNames(t *testing.T) {
	tests := []struct {
		give string
		want string // in the error; "" for none
	}{
		{`{"scfws":{"op":"status"}}`, ""},
		{`{"scfws":{"op":"sendToUser","userId":"bob","data":{"Op":1}},"nonce":"n"}`, ""},
		{`{"SCFWS":{"op":"status"}}`, `"SCFWS": names are case-sensitive, want "scfws"`},
		{`{"scfws":{"Op":"status"}}`, `"Op": names are case-sensitive, want "op"`},
		{`{"scfws":{"op":"closeConnection","connectionID":"x=="}}`, `"connectionID": names are case-sensitive, want "connectionId"`},
	}
	for _, tt := range tests {
		err := checkCommandNames([]byte(tt.give))
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("checkCommandNames(%s) = %v; want %q", tt.give, err, tt.want)
		}
	}
}

// A bearer entry that clearly meant a token but would go unread refuses
// the handshake: in another case, or past the offer's caps. One that is
// read, or no bearer entry at all, does not.
func TestScanRefusesUnreadBearerEntries(t *testing.T) {
	many := strings.Repeat("p, ", maxOfferEntries) // 16 entries, then more
	long := strings.Repeat("x", maxOfferBytes)
	tests := []struct {
		give       string
		wantV1     bool
		wantTokens []string
		wantErr    string
	}{
		{"scfws.v1, bearer.t", true, []string{"t"}, ""},
		{"scfws.v1", true, nil, ""},
		{"chat, binary", false, nil, ""},
		{"scfws.v1, Bearer.t", false, nil, `bearer entry in another case: the prefix is "bearer."`},
		{"scfws.v1, BEARER.t", false, nil, "another case"},
		{"chat, Bearer.t", false, nil, "another case"}, // a plain client too: never echoed
		{"scfws.v1, bearer", true, nil, ""},            // no dot: not a bearer entry
		{"scfws.v1, " + many + "bearer.t", false, nil, "bearer entry past the offer's first 16 entries or 16 KiB"},
		{"scfws.v1, " + many + "BeArEr.t", false, nil, "past the offer's first 16 entries"},
		{"scfws.v1, " + long + ", bearer.t", false, nil, "past the offer's first 16 entries or 16 KiB"},
		{"scfws.v1, " + many + "more", true, nil, ""},
	}
	for _, tt := range tests {
		v1, tokens, err := scan(tt.give)
		name := proto.Clip(tt.give, 40)
		switch {
		case tt.wantErr == "" && (err != nil || v1 != tt.wantV1 || !slices.Equal(tokens, tt.wantTokens)):
			t.Errorf("scan(%q) = %v, %q, %v; want %v, %q, nil", name, v1, tokens, err, tt.wantV1, tt.wantTokens)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("scan(%q) = %v; want an error with %q", name, err, tt.wantErr)
		}
	}
	// The entries scan reads are those the other steps read.
	if got, seen := split("a, b ,c"); !slices.Equal(got, []string{"a", "b", "c"}) || seen != 7 {
		t.Errorf("split = %q, %d; want a b c, 7", got, seen)
	}
	if got := negotiate("Bearer.t, chat", nil); got != "chat" {
		t.Errorf("negotiate(Bearer.t, chat) = %q; want chat: a bearer entry in any case is never selected", got)
	}
}

// members, a scan, finds in valid JSON exactly the members encoding/json
// decodes: the same names, escapes decoded, and the same values.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}], "\u0054ype":"x\"y" } `, `{"a":{"b":{}},"c":[]}`,
		`{"a":true,"b":null,"c":-1.5e3}`, `[1]`, `"s"`, `{"a":"\\"}`, `{"k":"v","k":"w"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		var want [][2]string
		d := json.NewDecoder(strings.NewReader(s))
		if tok, _ := d.Token(); tok == json.Delim('{') {
			for d.More() {
				name, _ := d.Token()
				var v json.RawMessage
				if err := d.Decode(&v); err != nil {
					t.Fatal(err)
				}
				want = append(want, [2]string{name.(string), string(v)})
			}
		}
		var got [][2]string
		members([]byte(s), func(name, value []byte) bool {
			got = append(got, [2]string{memberName(name), strings.TrimSpace(string(value))})
			return true
		})
		if !slices.Equal(got, want) {
			t.Errorf("members(%q) = %q; want %q", s, got, want)
		}
	})
}
