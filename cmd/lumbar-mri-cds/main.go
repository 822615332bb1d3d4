// Command lumbar-mri-cds is the lumbar spine MRI prior-authorization CDS
// Hooks service. With no arguments it serves; subcommands evaluate a request
// offline, seed a FHIR server, mint development tokens and print the report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "lumbar-mri-cds:", err)
	}
	os.Exit(exitCode(err))
}

// usageError is a command line that cannot run as given (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// exitCode is the process status for run's error: 0 for none or a help
// request, 2 for a usage error (a bad flag or value), 1 for a failure.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

const usage = `usage: lumbar-mri-cds [command] [flags]

commands:
  serve      run the CDS Hooks service (the default)
  evaluate   run the pipeline on a hook request file (or - for stdin) and print the response
  seed       load scenario patients into a FHIR R4 server
  token      mint a short-lived development JWT for a secured instance
  report     print calls, outcomes, card acceptance and latency for a period
  bench      load-test a running instance (throughput, latency, memory; --baseline, --soak)
  valueset   expand a value set with a FHIR terminology server (valueset expand --tx URL --url CANONICAL)
  version    print the version

Run "lumbar-mri-cds <command> -h" for the flags of a command; with no
command, flags are serve's.
`

// run is the whole program, testable: args without the program name, the
// environment through getenv.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		cmd, args = "help", nil
	}
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "evaluate":
		return evaluate(ctx, args, getenv, stdin, stdout, stderr)
	case "seed":
		return seed(ctx, args, getenv, stdout, stderr)
	case "token":
		return token(ctx, args, getenv, stdout, stderr)
	case "report":
		return report(ctx, args, getenv, stdout, stderr)
	case "bench":
		return bench(ctx, args, stdout, stderr)
	case "valueset":
		return valuesetCmd(ctx, args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "lumbar-mri-cds", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Errorf("unknown command %q", cmd)}
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"
