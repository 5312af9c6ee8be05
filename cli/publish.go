//go:build !scfws_function

package cli

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scfws/scfws/client"
	"github.com/scfws/scfws/config"
)

// Environment variables publish reads. Secrets come only from the
// environment, never from flags, so they stay out of shell history and ps.
const (
	envSecretID      = "TENCENTCLOUD_SECRETID"
	envSecretKey     = "TENCENTCLOUD_SECRETKEY"
	envSessionToken  = "TENCENTCLOUD_SESSIONTOKEN"
	envRegion        = "TENCENTCLOUD_REGION"
	envPublishSecret = "PUBLISH_SECRET"
)

//go:embed help/publish.txt
var publishUsage string

// publishFlags are scfws publish's settings.
type publishFlags struct {
	function, namespace, qualifier, region, endpoint string
	url, secretEnv                                   string
	all                                              bool
	group, user, connection                          string
	dataType                                         string
	close, list, history                             bool
	limit                                            int
	before                                           uint64
	addTo, removeFrom                                string
	reason                                           string
	timeout                                          time.Duration
	wait, json                                       bool
	waitTimeout                                      time.Duration
	data                                             string // the argument: DATA or -

	set    map[string]bool // the flags given, even as ""
	args   []string        // the arguments after the flags
	action string          // close, add-to-group, remove-from-group, list, history; "" to send
}

func parsePublishFlags(args []string) (publishFlags, error) {
	var f publishFlags
	fs := f.flagSet()
	if err := parseFlags(fs, args); err != nil {
		return f, err
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	f.args = fs.Args()
	if err := f.validate(); err != nil {
		return f, usageError{err}
	}
	f.data = fs.Arg(0)
	return f, nil
}

func (f *publishFlags) flagSet() *flag.FlagSet {
	fs := newFlagSet("publish", publishUsage)
	fs.StringVar(&f.function, "function", "", "the scfws function's name, invoked through SCF's Invoke API")
	fs.StringVar(&f.namespace, "namespace", "", "the function's namespace (default \"default\")")
	fs.StringVar(&f.qualifier, "qualifier", "", "the function's version or alias (default $LATEST)")
	fs.StringVar(&f.region, "region", "", "the function's region, e.g. ap-guangzhou (default $"+envRegion+")")
	fs.StringVar(&f.endpoint, "endpoint", "", "the Tencent Cloud API address, when not https://scf.tencentcloudapi.com")
	fs.StringVar(&f.url, "url", "", "the function's signed HTTP route, instead of -function")
	fs.StringVar(&f.secretEnv, "secret-env", envPublishSecret, "the environment variable holding the route's secret")
	fs.BoolVar(&f.all, "all", false, "send to every connection")
	fs.StringVar(&f.group, "group", "", "send to the connections in a group")
	fs.StringVar(&f.user, "user", "", "send to (or with -close, close) a user's connections")
	fs.StringVar(&f.connection, "connection", "", "send to (or with -close, close) one connection")
	fs.StringVar(&f.dataType, "type", client.DataText, "what DATA is: text, json or binary")
	fs.BoolVar(&f.close, "close", false, "close the -connection or -user instead of sending")
	fs.StringVar(&f.reason, "reason", "", "why, with -close -connection")
	fs.StringVar(&f.addTo, "add-to-group", "", "add the -user or -connection to this group instead of sending")
	fs.StringVar(&f.removeFrom, "remove-from-group", "", "remove the -user or -connection from this group instead of sending")
	fs.BoolVar(&f.list, "list", false, "list the -group's users or the -user's connections instead of sending")
	fs.BoolVar(&f.history, "history", false, "print the -group's or the -user's last messages instead of sending (HISTORY_SIZE)")
	fs.IntVar(&f.limit, "limit", 0, "with -history, at most this many messages (default 50)")
	fs.Uint64Var(&f.before, "before", 0, "with -history, only messages before this offset")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up on a call to the function after this long")
	fs.BoolVar(&f.wait, "wait", false, "after a send the function handed off, follow its job to the end")
	fs.BoolVar(&f.json, "json", false, "with -wait, print the job's final state as JSON")
	fs.DurationVar(&f.waitTimeout, "wait-timeout", time.Hour, "with -wait, stop following the job after this long")
	return fs
}

// validate returns the first problem with the flags: the way to the
// function, the target, the action (which it records), then the data's type
// and the timeout.
func (f *publishFlags) validate() error {
	for _, check := range []func() error{f.checkWay, f.checkTarget, f.checkAction, f.checkActionTarget, f.checkActionData, f.checkWait} {
		if err := check(); err != nil {
			return err
		}
	}
	switch f.dataType {
	case client.DataText, client.DataJSON, client.DataBinary:
	default:
		return fmt.Errorf("-type %q: want text, json or binary", f.dataType)
	}
	if f.timeout <= 0 {
		return errors.New("-timeout must be positive")
	}
	return nil
}

// checkWay: -function (SCF's Invoke API) or -url (the signed route), each
// with its own flags, and an address that is one.
func (f *publishFlags) checkWay() error {
	switch {
	case f.function != "" && f.url != "":
		return errors.New("-function and -url: one or the other, not both")
	case f.function == "" && f.url == "":
		return errors.New("publish wants -function NAME or -url URL")
	case f.url != "":
		for _, name := range []string{"namespace", "qualifier", "region", "endpoint"} {
			if f.set[name] {
				return fmt.Errorf("-%s goes with -function, not -url", name)
			}
		}
		return checkHTTPURL("-url", f.url, "http://127.0.0.1:8080/_scfws/http/publish")
	case f.set["secret-env"]:
		return errors.New("-secret-env goes with -url, not -function")
	case f.endpoint != "":
		return checkHTTPURL("-endpoint", f.endpoint, "http://127.0.0.1:8080")
	}
	return nil
}

func (f *publishFlags) checkTarget() error {
	targets := 0
	for _, on := range []bool{f.all, f.set["group"], f.set["user"], f.set["connection"]} {
		if on {
			targets++
		}
	}
	if targets != 1 {
		return errors.New("publish wants one target: -all, -group G, -user U or -connection ID")
	}
	return nil
}

// checkAction finds what to do instead of sending, if anything: close,
// add-to-group, remove-from-group or list. Each takes no DATA.
func (f *publishFlags) checkAction() error {
	for _, name := range []string{"close", "add-to-group", "remove-from-group", "list", "history"} {
		if f.set[name] && (name != "close" || f.close) && (name != "list" || f.list) && (name != "history" || f.history) {
			if f.action != "" {
				return fmt.Errorf("-%s and -%s: one at a time", f.action, name)
			}
			f.action = name
		}
	}
	return nil
}

// checkActionTarget: each action reaches only some targets.
func (f *publishFlags) checkActionTarget() error {
	action, wide := f.action, f.all || f.set["group"]
	switch action {
	case "close":
		if wide {
			return errors.New("-close closes a -connection or a -user")
		}
	case "add-to-group", "remove-from-group":
		if wide {
			return fmt.Errorf("-%s takes a -user or a -connection into or out of the group", action)
		}
		if (action == "add-to-group" && f.addTo == "") || (action == "remove-from-group" && f.removeFrom == "") {
			return fmt.Errorf("-%s wants a group name", action)
		}
	case "list":
		if f.all || f.set["connection"] {
			return errors.New("-list lists a -group's users or a -user's connections")
		}
	case "history":
		if f.all || f.set["connection"] {
			return errors.New("-history prints a -group's or a -user's last messages")
		}
	}
	if (f.set["limit"] || f.set["before"]) && action != "history" {
		return errors.New("-limit and -before go with -history")
	}
	if f.limit < 0 {
		return errors.New("-limit must be positive")
	}
	return nil
}

// checkActionData: a send takes one DATA (and a -type); the other actions
// neither.
func (f *publishFlags) checkActionData() error {
	switch action := f.action; {
	case action != "" && f.set["type"]:
		return fmt.Errorf("-%s sends no data: drop -type", action)
	case f.set["reason"] && !(action == "close" && f.set["connection"]):
		return errors.New("-reason goes with -close -connection")
	case action != "" && len(f.args) != 0:
		return fmt.Errorf("-%s takes no DATA, got %q", action, f.args)
	case action == "" && len(f.args) != 1:
		return errors.New("publish wants one DATA argument, or - for standard input")
	}
	return nil
}

// checkWait: -wait follows a send; -json and -wait-timeout go with it.
func (f *publishFlags) checkWait() error {
	switch {
	case f.wait && f.action != "":
		return fmt.Errorf("-wait follows a send, not -%s", f.action)
	case (f.json || f.set["wait-timeout"]) && !f.wait:
		return errors.New("-json and -wait-timeout go with -wait")
	case f.waitTimeout <= 0:
		return errors.New("-wait-timeout must be positive")
	}
	return nil
}

// publishCmd runs scfws publish.
func publishCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f, err := parsePublishFlags(args)
	if err != nil {
		return err
	}
	cmd, err := publishCommand(f, stdin)
	if err != nil {
		return err
	}
	transport, err := publishTransport(f)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := client.New(transport)
	raw, err := doPublish(ctx, c, cmd, f.timeout)
	var refused *client.Error
	if err != nil && !errors.As(err, &refused) {
		return explainPublish(err, f)
	}
	job := ""
	if f.wait && refused == nil {
		job = jobOf(raw)
	}
	if job == "" || !f.json { // with -json, the job's state is all stdout gets
		if err := printReply(stdout, raw); err != nil {
			return err
		}
	}
	if refused != nil {
		return exitError{code: 1, msg: fmt.Sprintf("the function answered errNo %d: %s", refused.ErrNo, refused.Msg)}
	}
	if job != "" {
		return waitJob(ctx, c, job, f, stdout, stderr)
	}
	return nil
}

// doPublish sends cmd, giving up after timeout.
func doPublish(ctx context.Context, c *client.Client, cmd client.Command, timeout time.Duration) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Do(ctx, cmd)
}

// printReply prints the function's reply, indented.
func printReply(stdout io.Writer, raw []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return fmt.Errorf("indent the reply: %w", err)
	}
	out.WriteByte('\n')
	_, err := stdout.Write(out.Bytes())
	return err
}

// publishCommand is the backend command the flags and DATA ask for.
func publishCommand(f publishFlags, stdin io.Reader) (client.Command, error) {
	cmd := client.Command{Group: f.group, UserID: f.user, ConnectionID: f.connection}
	switch {
	case f.close && f.connection != "":
		cmd.Op, cmd.Reason = client.OpCloseConnection, f.reason
	case f.close:
		cmd.Op = client.OpCloseUser
	case f.addTo != "":
		cmd.Op, cmd.Group = client.OpAddToGroup, f.addTo
	case f.removeFrom != "":
		cmd.Op, cmd.Group = client.OpRemoveFromGroup, f.removeFrom
	case f.list && f.group != "":
		cmd.Op = client.OpListGroup
	case f.list:
		cmd.Op = client.OpListUser
	case f.history:
		cmd.Op, cmd.Limit, cmd.Before = client.OpHistory, f.limit, f.before
	default:
		return sendCommand(cmd, f, stdin)
	}
	return cmd, nil
}

// sendCommand is cmd as the send to the target, with DATA.
func sendCommand(cmd client.Command, f publishFlags, stdin io.Reader) (client.Command, error) {
	switch {
	case f.all:
		cmd.Op = client.OpSendToAll
	case f.group != "":
		cmd.Op = client.OpSendToGroup
	case f.user != "":
		cmd.Op = client.OpSendToUser
	default:
		cmd.Op = client.OpSendToConnection
	}
	data, err := readData(f.data, stdin)
	if err != nil {
		return cmd, err
	}
	p, err := payload(f.dataType, data)
	if err != nil {
		return cmd, err
	}
	if cmd.DataType, cmd.Data, err = p.Encode(); err != nil {
		return cmd, usageError{err}
	}
	return cmd, nil
}

// readData is the DATA argument, or standard input for -, never more than
// SCF's limit.
func readData(arg string, stdin io.Reader) ([]byte, error) {
	if arg != "-" {
		return []byte(arg), nil
	}
	data, err := io.ReadAll(io.LimitReader(stdin, config.MaxEventBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read DATA from standard input: %w", err)
	}
	if len(data) > config.MaxEventBytes {
		return nil, usageError{fmt.Errorf("DATA is over %d bytes, SCF's limit", config.MaxEventBytes)}
	}
	return data, nil
}

// payload is data as -type says it is, once it is what it says.
func payload(dataType string, data []byte) (client.Payload, error) {
	switch dataType {
	case client.DataText:
		if !utf8.Valid(data) {
			return client.Payload{}, usageError{errors.New("DATA is not UTF-8 text; use -type binary")}
		}
		return client.Text(string(data)), nil
	case client.DataJSON:
		if !json.Valid(data) {
			return client.Payload{}, usageError{errors.New("DATA is not JSON (-type json)")}
		}
		return client.JSON(json.RawMessage(data)), nil
	}
	return client.Binary(data), nil
}

// publishTransport is SCF's Invoke API or the signed route, with secrets
// from the environment.
func publishTransport(f publishFlags) (client.Transport, error) {
	if f.url != "" {
		if !validEnvName(f.secretEnv) {
			return nil, usageError{fmt.Errorf("-secret-env %q is not an environment variable name", f.secretEnv)}
		}
		secret := os.Getenv(f.secretEnv)
		if secret == "" {
			return nil, usageError{fmt.Errorf("%s is not set: it holds the route's secret", f.secretEnv)}
		}
		if n := len(secret); n < config.MinSecretBytes {
			// The function's route is off with such a secret: every
			// signature would be "bad".
			return nil, usageError{fmt.Errorf("%s is %d bytes; the function refuses one under %d (its route stays off): give publish the function's PUBLISH_SECRET",
				f.secretEnv, n, config.MinSecretBytes)}
		}
		t, err := client.NewHTTP(client.HTTPConfig{URL: f.url, Secret: []byte(secret)})
		if err != nil {
			return nil, usageError{err}
		}
		return t, nil
	}
	id, key := os.Getenv(envSecretID), os.Getenv(envSecretKey)
	if id == "" || key == "" {
		return nil, usageError{fmt.Errorf("%s and %s must hold the API key that may invoke the function", envSecretID, envSecretKey)}
	}
	region := publishRegion(f)
	if region == "" {
		return nil, usageError{fmt.Errorf("no region: give -region or set %s", envRegion)}
	}
	t, err := client.NewSCF(client.SCFConfig{
		SecretID: id, SecretKey: key, Token: os.Getenv(envSessionToken),
		Region: region, Namespace: f.namespace, Function: f.function, Qualifier: f.qualifier, Endpoint: f.endpoint,
	})
	if err != nil {
		return nil, usageError{err}
	}
	return t, nil
}

// publishRegion is -region, else $TENCENTCLOUD_REGION, else any for an API
// on this machine; "" when none applies.
func publishRegion(f publishFlags) string {
	region := f.region
	if region == "" {
		region = os.Getenv(envRegion)
	}
	if region == "" && loopback(f.endpoint) {
		region = localRegion // scfws local serves every region
	}
	return region
}

// localRegion is the region sent to an API on this machine when none is
// given: scfws local answers any.
const localRegion = "ap-guangzhou"

// loopback reports whether endpoint is an API on this machine.
func loopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// validEnvName: what a shell can export.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	return strings.IndexFunc(s, func(c rune) bool {
		return !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
	}) < 0 && (s[0] < '0' || s[0] > '9')
}
