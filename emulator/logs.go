package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// ReadableLog returns a sink for a function's log lines that writes them to
// w for people: JSON lines (zap's, or any) as
//
//	14:02:03.481 fn INFO  invoke action=connecting connectionId=… errNo=0
//
// with fields in their original order; other lines as they are.
func ReadableLog(w io.Writer) func(line []byte) {
	var mu sync.Mutex
	return func(line []byte) {
		s := readable(line)
		mu.Lock()
		defer mu.Unlock()
		_, _ = io.WriteString(w, s)
	}
}

func readable(line []byte) string {
	fields, ok := orderedFields(line)
	if !ok {
		return "fn " + string(line) + "\n"
	}
	var b strings.Builder
	at, level, msg := time.Now().Format("15:04:05.000"), "", ""
	var rest []string
	for _, f := range fields {
		switch f.key {
		case "time", "ts":
			if t, err := time.Parse(time.RFC3339Nano, strings.Trim(f.raw, `"`)); err == nil {
				at = t.Local().Format("15:04:05.000")
			}
		case "level":
			level = strings.ToUpper(strings.Trim(f.raw, `"`))
		case "msg":
			if json.Unmarshal([]byte(f.raw), &msg) != nil {
				msg = f.raw
			}
		default:
			rest = append(rest, f.key+"="+unquote(f.raw))
		}
	}
	fmt.Fprintf(&b, "%s fn %-5s %s", at, level, msg)
	for _, r := range rest {
		b.WriteString(" ")
		b.WriteString(r)
	}
	b.WriteString("\n")
	return b.String()
}

type field struct{ key, raw string }

// orderedFields splits a JSON object into its fields, keeping their order.
func orderedFields(line []byte) ([]field, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(line, &m) != nil {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	var out []field
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := k.(string)
		out = append(out, field{key: key, raw: string(m[key])})
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, false
		}
	}
	return out, true
}

// unquote shows a JSON string bare unless it has spaces, anything else as is.
func unquote(raw string) string {
	var s string
	if json.Unmarshal([]byte(raw), &s) != nil {
		return raw
	}
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
