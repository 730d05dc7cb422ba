package main

import (
	"flag"
	"log/slog"
)

// logFlagSet holds --log-level and --log-format.
type logFlagSet struct {
	level, format string
	e             *env
}

func logFlags(fs *flag.FlagSet, e *env) *logFlagSet {
	lf := &logFlagSet{e: e}
	fs.StringVar(&lf.level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&lf.format, "log-format", "text", "text (key=value lines) or json (one object a line, for log collectors)")
	return lf
}

// logger makes the logger the flags ask for, on stderr.
func (lf *logFlagSet) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lf.level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", lf.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch lf.format {
	case "text":
		return slog.New(slog.NewTextHandler(lf.e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(lf.e.stderr, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", lf.format)
}

// workerArgs hands the log format on to the workers a tier starts (their
// level is set apart: quieter than their parent's).
func (lf *logFlagSet) workerArgs() []string { return []string{"--log-format", lf.format} }
