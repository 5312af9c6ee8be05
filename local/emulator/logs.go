package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Console writes the emulator's and the function's log lines to a terminal
// in one readable format:
//
//	14:02:03.481 gw INFO  connected connectionId=… remote=127.0.0.1
//	14:02:03.483 fn INFO  invoke action=connecting connectionId=… errNo=0
//
// JSON lines (zap's, or any) keep their fields in order; other lines get
// the time and source only.
type Console struct {
	mu sync.Mutex
	w  io.Writer
}

// NewConsole writes to w.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Function is a FunctionOptions.Logs sink: one line the function printed.
func (c *Console) Function(line []byte) { c.print(readable("fn", line)) }

// Source is a FunctionOptions.Logs sink whose lines show name where
// Function's show fn: for other functions than local's own (deployed ones),
// so that their lines tell them apart.
func (c *Console) Source(name string) func(line []byte) {
	return func(line []byte) { c.print(readable(name, line)) }
}

// Logger is a logger for the gateway whose lines look like the function's.
func (c *Console) Logger(level zapcore.LevelEnabler) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	enc.CallerKey, enc.StacktraceKey, enc.NameKey = "", "", ""
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(gwSink{c}), level))
}

// gwSink gets one JSON line per Write from zap.
type gwSink struct{ c *Console }

func (s gwSink) Write(p []byte) (int, error) {
	s.c.print(readable("gw", bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func (c *Console) print(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, s)
}

func readable(source string, line []byte) string {
	fields, ok := orderedFields(line)
	if !ok {
		return fmt.Sprintf("%s %s %-5s %s\n", time.Now().Format("15:04:05.000"), source, "", line)
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
	fmt.Fprintf(&b, "%s %s %-5s %s", at, source, level, msg)
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
