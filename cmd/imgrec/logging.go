package main

import (
	"flag"
	"log/slog"
)

// logFlags adds --log-level and returns a constructor for the logger.
func logFlags(fs *flag.FlagSet, e *env) func() *slog.Logger {
	level := fs.String("log-level", "info", "debug, info, warn or error")
	return func() *slog.Logger {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*level)); err != nil {
			l = slog.LevelInfo
		}
		return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: l}))
	}
}
