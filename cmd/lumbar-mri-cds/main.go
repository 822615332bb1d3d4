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
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "lumbar-mri-cds:", err)
		os.Exit(1)
	}
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

Run "lumbar-mri-cds <command> -h" for the flags of a command.
`

// run is the whole program, testable: args without the program name, the
// environment through getenv.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
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
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"
