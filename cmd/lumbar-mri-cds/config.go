package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/logctx"
)

const envPrefix = "LUMBAR_MRI_CDS_"

// flags is a FlagSet whose defaults come from LUMBAR_MRI_CDS_* variables.
// Unknown variables are ignored; a variable that does not parse is an error
// naming it.
type flags struct {
	*flag.FlagSet
	getenv func(string) string
	errs   []error
	// shown lists name -> whether it is secret, in definition order, for the
	// effective configuration printed at start.
	shown []shownFlag
}

type shownFlag struct {
	name, env string
	secret    bool
}

func newFlags(name string, getenv func(string) string, stderr io.Writer) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &flags{FlagSet: fs, getenv: getenv}
}

// envNames maps flags whose variable is not derived from the flag name.
var envNames = map[string]string{"trust": envPrefix + "TRUST_FILE"}

func (f *flags) env(name string) (string, string, bool) {
	key := envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if k, ok := envNames[name]; ok {
		key = k
	}
	v := f.getenv(key)
	return key, v, v != ""
}

func (f *flags) str(p *string, name, def, help string, secret bool) {
	key, v, ok := f.env(name)
	if ok {
		def = v
	}
	f.StringVar(p, name, def, help+" (env "+key+")")
	f.shown = append(f.shown, shownFlag{name, key, secret})
}

func (f *flags) boolean(p *bool, name string, def bool, help string) {
	key, v, ok := f.env(name)
	if ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s: %q is not a boolean", key, v))
		}
		def = b
	}
	f.BoolVar(p, name, def, help+" (env "+key+")")
	f.shown = append(f.shown, shownFlag{name, key, false})
}

func (f *flags) duration(p *time.Duration, name string, def time.Duration, help string) {
	key, v, ok := f.env(name)
	if ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s: %q is not a Go duration", key, v))
		}
		def = d
	}
	f.DurationVar(p, name, def, help+" (env "+key+")")
	f.shown = append(f.shown, shownFlag{name, key, false})
}

func (f *flags) integer(p *int, name string, def int, help string) {
	key, v, ok := f.env(name)
	if ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s: %q is not an integer", key, v))
		}
		def = n
	}
	f.IntVar(p, name, def, help+" (env "+key+")")
	f.shown = append(f.shown, shownFlag{name, key, false})
}

// usage sets the help of a subcommand: its synopsis after
// "usage: lumbar-mri-cds ", one line saying what it does, then its flags.
func (f *flags) usage(w io.Writer, synopsis, what string) {
	f.Usage = func() {
		fmt.Fprintf(w, "usage: lumbar-mri-cds %s\n\n%s\n\nflags:\n", synopsis, what)
		f.PrintDefaults()
	}
}

// parse parses args; environment errors come first. Both are usage errors
// (exit status 2), as is a help request's flag.ErrHelp (exit status 0).
func (f *flags) parse(args []string) error {
	if len(f.errs) > 0 {
		return usageError{f.errs[0]}
	}
	err := f.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return usageError{err}
	}
	return err
}

// effective returns the configuration as log attributes, secrets redacted;
// resolved holds the values in force of flags whose default is derived at
// start (base-url from the bound address, for example).
func (f *flags) effective(resolved map[string]string) []any {
	var attrs []any
	for _, s := range f.shown {
		v := f.Lookup(s.name).Value.String()
		if r, ok := resolved[s.name]; ok {
			v = r
		}
		if s.secret && v != "" {
			v = "[redacted]"
		}
		attrs = append(attrs, slog.String(s.name, v))
	}
	return attrs
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	// logctx adds the call's request id and hookInstance to every line
	// logged with the call's context.
	switch format {
	case "text":
		return slog.New(logctx.NewHandler(slog.NewTextHandler(w, opts))), nil
	case "json":
		return slog.New(logctx.NewHandler(slog.NewJSONHandler(w, opts))), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
