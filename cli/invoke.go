package cli

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/function"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
)

//go:embed help/invoke.txt
var invokeUsage string

// invokeCmd runs scfws invoke: one event through the function, with the
// settings of this environment, as SCF would deliver it.
func invokeCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("invoke", invokeUsage)
	timeout := fs.Duration("timeout", 3*time.Second, "the invocation deadline, as SCF's function timeout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usageError{errors.New("-timeout must be positive")}
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("invoke wants one event file, or - for standard input")}
	}
	payload, err := readEvent(fs.Arg(0), stdin, *timeout)
	if err != nil {
		return err
	}
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	log := function.NewLogger(stderr, level, false)
	defer func() { _ = log.Sync() }()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	reply := router.New(log, function.Loader(log, level)).Handle(ctx, payload)
	out, err := json.MarshalIndent(reply, "", "  ")
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", out); err != nil {
		return err
	}
	if reply.ErrNo != proto.CodeOK {
		// Scripts see a refusal without parsing the reply.
		return exitError{code: 1, msg: fmt.Sprintf("the function answered errNo %d", reply.ErrNo)}
	}
	return nil
}

// readEvent reads an event from a file, or standard input for "-", never
// more than SCF's limit: /dev/zero or a huge file is refused, not slurped.
// A file (a FIFO nobody writes, say) must be read within wait; standard
// input may be typed, and is the caller's to interrupt.
func readEvent(name string, stdin io.Reader, wait time.Duration) ([]byte, error) {
	if name == "-" {
		return readLimited(stdin)
	}
	type read struct {
		b   []byte
		err error
	}
	done := make(chan read, 1)
	go func() { // left behind on a timeout: the process is about to exit
		f, err := os.Open(name)
		if err != nil {
			done <- read{nil, err}
			return
		}
		defer f.Close()
		b, err := readLimited(f)
		done <- read{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(wait):
		return nil, fmt.Errorf("%s: no event within %s (a FIFO with no writer?)", name, wait)
	}
}

func readLimited(r io.Reader) ([]byte, error) {
	payload, err := io.ReadAll(io.LimitReader(r, config.MaxEventBytes+1))
	if err != nil {
		return nil, err
	}
	if len(payload) > config.MaxEventBytes {
		return nil, fmt.Errorf("the event is over %d bytes, SCF's limit", config.MaxEventBytes)
	}
	return payload, nil
}
