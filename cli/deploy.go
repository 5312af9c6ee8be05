//go:build !scfws_function

package cli

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/scfws/scfws/deploy"
)

//go:embed help/deploy.txt
var deployUsage string

//go:embed help/destroy.txt
var destroyUsage string

// deployHooks are what tests replace.
type deployHooks struct {
	getenv       func(string) string
	executable   string        // this program, default os.Executable()
	moduleDir    string        // where to build from, default the current directory
	pollInterval time.Duration // default the Deployer's
	retryPause   time.Duration // default the Deployer's
}

func defaultHooks() deployHooks { return deployHooks{getenv: os.Getenv} }

type deployFlags struct {
	region, name, namespace string
	memory                  int64
	timeout, idleTimeout    time.Duration
	path                    string
	env                     []string // -env KEY=VALUE, repeated
	envFile                 string
	vpc, subnet             string
	role                    string
	noRole                  bool
	endpoint, zip           string
	dryRun, json            bool
	args                    []string
}

func parseDeployFlags(args []string, getenv func(string) string) (deployFlags, error) {
	var f deployFlags
	fs := f.flagSet()
	if err := parseFlags(fs, args); err != nil {
		return f, err
	}
	f.args = fs.Args()
	if f.region == "" {
		f.region = getenv(envRegion)
	}
	if err := f.validate(); err != nil {
		return f, usageError{err}
	}
	return f, nil
}

func (f *deployFlags) flagSet() *flag.FlagSet {
	fs := newFlagSet("deploy", deployUsage)
	fs.StringVar(&f.region, "region", "", "the region, e.g. ap-guangzhou (default $"+envRegion+")")
	fs.StringVar(&f.name, "name", "", "the function's name (2-60 letters, digits, - and _)")
	fs.StringVar(&f.namespace, "namespace", "default", "the function's SCF namespace")
	fs.Int64Var(&f.memory, "memory", 128, "the function's memory, MB")
	fs.DurationVar(&f.timeout, "timeout", 3*time.Second, "the function's timeout, whole seconds")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 600*time.Second, "the API's backend timeout (quiet clients are closed), whole seconds up to 1800s; also the function's IDLE_TIMEOUT")
	fs.StringVar(&f.path, "path", "/websocket", "the WebSocket API's path")
	fs.Func("env", "a function environment variable KEY=VALUE (repeat the flag for more)", func(kv string) error {
		f.env = append(f.env, kv)
		return nil
	})
	fs.StringVar(&f.envFile, "env-file", "", "a file of KEY=VALUE lines for the function's environment (-env wins)")
	fs.StringVar(&f.vpc, "vpc", "", "put the function in this VPC (with -subnet), e.g. the database's")
	fs.StringVar(&f.subnet, "subnet", "", "the VPC's subnet")
	fs.StringVar(&f.role, "role", "", "run the function as this existing CAM role (its carrier scf.qcloud.com); default: the role deploy makes, when the key may")
	fs.BoolVar(&f.noRole, "no-role", false, "make and set no run role (the function then cannot hand broadcasts off)")
	fs.StringVar(&f.endpoint, "endpoint", "", "the Tencent Cloud API address when not Tencent's, e.g. http://127.0.0.1:8080 for scfws local")
	fs.StringVar(&f.zip, "zip", "", "deploy this package (a zip with a static linux/amd64 main) instead")
	fs.BoolVar(&f.dryRun, "dry-run", false, "say what would change, and change nothing")
	fs.BoolVar(&f.json, "json", false, "print the result as one JSON object")
	return fs
}

// validate returns the first problem with the flags.
func (f deployFlags) validate() error {
	switch {
	case len(f.args) > 0:
		return fmt.Errorf("deploy takes no arguments, got %q", f.args)
	case f.name == "":
		return errors.New("deploy wants -name, the function's name")
	case f.region == "":
		return fmt.Errorf("no region: give -region or set %s", envRegion)
	case f.memory <= 0:
		return errors.New("-memory must be positive (MB)")
	case f.timeout < time.Second || f.timeout%time.Second != 0:
		return fmt.Errorf("-timeout %s: whole seconds, at least 1s", f.timeout)
	case f.idleTimeout < time.Second || f.idleTimeout > deploy.MaxIdleTimeout || f.idleTimeout%time.Second != 0:
		return fmt.Errorf("-idle-timeout %s: whole seconds, 1s to %s (API Gateway's longest backend timeout)", f.idleTimeout, deploy.MaxIdleTimeout)
	case !strings.HasPrefix(f.path, "/"):
		return fmt.Errorf("-path %q must start with /", f.path)
	case (f.vpc == "") != (f.subnet == ""):
		return errors.New("-vpc and -subnet go together")
	case f.role != "" && f.noRole:
		return errors.New("-role and -no-role: give one or neither")
	}
	return nil
}

// functionEnv is the function's environment from -env-file and -env.
func (f deployFlags) functionEnv() (map[string]string, error) {
	env := map[string]string{}
	if f.envFile != "" {
		file, err := os.Open(f.envFile)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		if err := deploy.ParseEnvFile(file, env); err != nil {
			return nil, usageError{fmt.Errorf("-env-file %s: %w", f.envFile, err)}
		}
	}
	for i, kv := range f.env {
		if err := deploy.ParseEnv(kv, env); err != nil {
			return nil, usageError{fmt.Errorf("-env number %d: %w", i+1, err)}
		}
	}
	for _, k := range []string{deploy.EnvSendbackHost, deploy.EnvIdleTimeout, "wsBackUrl"} {
		if _, ok := env[k]; ok {
			return nil, usageError{fmt.Errorf("%s is deploy's to set (the API's push address, and -idle-timeout): leave it out", k)}
		}
	}
	return env, nil
}

func deployer(endpoint string, stderr io.Writer, h deployHooks) (*deploy.Deployer, error) {
	id, key := h.getenv(envSecretID), h.getenv(envSecretKey)
	if id == "" || key == "" {
		return nil, usageError{fmt.Errorf("%s and %s must hold the API key to deploy with", envSecretID, envSecretKey)}
	}
	return &deploy.Deployer{
		Credentials:  deploy.Credentials{SecretID: id, SecretKey: key, Token: h.getenv(envSessionToken)},
		Endpoint:     endpoint,
		Progress:     stderr,
		PollInterval: h.pollInterval,
		RetryPause:   h.retryPause,
	}, nil
}

// deployCmd runs scfws deploy.
func deployCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runDeploy(args, stdin, stdout, stderr, defaultHooks())
}

func runDeploy(args []string, _ io.Reader, stdout, stderr io.Writer, h deployHooks) error {
	f, err := parseDeployFlags(args, h.getenv)
	if err != nil {
		return err
	}
	env, err := f.functionEnv()
	if err != nil {
		return err
	}
	d, err := deployer(f.endpoint, stderr, h)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	code, err := deploy.Package(ctx, deploy.PackageOptions{ZipFile: f.zip, Executable: h.executable, ModuleDir: h.moduleDir, Version: Version, BuildLog: stderr})
	if err != nil {
		return fmt.Errorf("make the zip: %w", err)
	}
	res, err := d.Deploy(ctx, deploy.Config{
		Target:   deploy.Target{Region: f.region, Namespace: f.namespace, Name: f.name},
		MemoryMB: f.memory, Timeout: f.timeout, IdleTimeout: f.idleTimeout, Path: f.path, Env: env,
		VpcID: f.vpc, SubnetID: f.subnet, Code: code, DryRun: f.dryRun, Role: f.role, NoRole: f.noRole,
	})
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printDeploy(stdout, res, env)
	return nil
}

func printDeploy(w io.Writer, res deploy.Result, env map[string]string) {
	switch {
	case res.DryRun && len(res.Changed) == 0:
		fmt.Fprintf(w, "Dry run: nothing would change; %s is up to date.\n", res.FunctionName)
	case res.DryRun:
		fmt.Fprintf(w, "Dry run: deploy would %s.\n", strings.Join(res.Changed, ", "))
		for _, s := range res.Steps {
			fmt.Fprintf(w, "  - %s\n", s.Detail)
		}
	case len(res.Changed) == 0:
		fmt.Fprintf(w, "Nothing changed: the function %s, its API and the release are up to date.\n", res.FunctionName)
	default:
		fmt.Fprintf(w, "Deployed %s (%s).\n", res.FunctionName, strings.Join(res.Changed, ", "))
		for _, s := range res.Steps {
			fmt.Fprintf(w, "  - %s\n", s.Detail)
		}
	}
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "  %-11s %s\n", name, value)
		}
	}
	row("function", res.Namespace+"/"+res.FunctionName)
	row("service", res.ServiceID)
	row("API", res.APIID)
	row("client URL", res.WSURL)
	row("push URL", res.PushURL)
	row("run role", res.Role)
	for _, n := range res.Notes {
		fmt.Fprintf(w, "Note: %s.\n", n)
	}
	if res.WSURL != "" && !res.DryRun {
		// The secret from the environment: a flag would show in ps.
		fmt.Fprintf(w, "Next, try it (with the function's PROBE_SECRET in your environment):\n  scfws probe -url %s\n", res.WSURL)
		if _, ok := env["PROBE_SECRET"]; !ok {
			fmt.Fprintln(w, "  (give the function a PROBE_SECRET first: scfws deploy ... -env PROBE_SECRET=...)")
		}
	}
}

// destroyCmd runs scfws destroy.
func destroyCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runDestroy(args, stdin, stdout, stderr, defaultHooks())
}

type destroyFlags struct {
	region, name, namespace, endpoint string
	yes                               bool
	args                              []string
}

func parseDestroyFlags(args []string, getenv func(string) string) (destroyFlags, error) {
	var f destroyFlags
	fs := newFlagSet("destroy", destroyUsage)
	fs.StringVar(&f.region, "region", "", "the region (default $"+envRegion+")")
	fs.StringVar(&f.name, "name", "", "the function's name, as given to deploy")
	fs.StringVar(&f.namespace, "namespace", "default", "the function's SCF namespace")
	fs.StringVar(&f.endpoint, "endpoint", "", "the Tencent Cloud API address when not Tencent's")
	fs.BoolVar(&f.yes, "yes", false, "do not ask")
	if err := parseFlags(fs, args); err != nil {
		return f, err
	}
	f.args = fs.Args()
	if f.region == "" {
		f.region = getenv(envRegion)
	}
	if err := f.validate(); err != nil {
		return f, usageError{err}
	}
	return f, nil
}

// validate returns the first problem with the flags.
func (f destroyFlags) validate() error {
	switch {
	case len(f.args) > 0:
		return fmt.Errorf("destroy takes no arguments, got %q", f.args)
	case f.name == "":
		return errors.New("destroy wants -name, the function's name")
	case f.region == "":
		return fmt.Errorf("no region: give -region or set %s", envRegion)
	}
	return nil
}

func runDestroy(args []string, stdin io.Reader, stdout, stderr io.Writer, h deployHooks) error {
	f, err := parseDestroyFlags(args, h.getenv)
	if err != nil {
		return err
	}
	d, err := deployer(f.endpoint, stderr, h)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var confirm func([]string) (bool, error)
	if !f.yes {
		confirm = askFirst(stdin, stderr)
	}
	res, err := d.Destroy(ctx, deploy.Target{Region: f.region, Namespace: f.namespace, Name: f.name}, confirm)
	if errors.Is(err, deploy.ErrNotConfirmed) {
		return exitError{code: 1, msg: "destroy: " + err.Error()}
	}
	if err != nil {
		return err
	}
	printDestroy(stdout, res)
	return nil
}

// askFirst lists the removals on stderr and reads the answer from stdin.
func askFirst(stdin io.Reader, stderr io.Writer) func(removals []string) (bool, error) {
	return func(removals []string) (bool, error) {
		fmt.Fprintln(stderr, "scfws destroy will:")
		for _, r := range removals {
			fmt.Fprintf(stderr, "  - %s\n", r)
		}
		fmt.Fprint(stderr, "Go ahead? [y/N] ")
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		answer := strings.ToLower(strings.TrimSpace(line))
		return answer == "y" || answer == "yes", nil
	}
}

func printDestroy(w io.Writer, res deploy.Result) {
	if len(res.Changed) == 0 {
		fmt.Fprintf(w, "Nothing removed.\n")
	} else {
		fmt.Fprintf(w, "Removed (%s):\n", strings.Join(res.Changed, ", "))
		for _, s := range res.Steps {
			fmt.Fprintf(w, "  - %s\n", s.Detail)
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "Note: %s.\n", n)
	}
}
