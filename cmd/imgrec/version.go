package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

func init() {
	register("version", "print the version: module version, source revision, Go version", runVersion)
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "version", "version")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, versionLine())
	return nil
}

// versionLine says what this binary was built from, as the build recorded
// it: "imgrec v1.2.3 (rev 3e12e09c1a2b, 2026-12-07T05:38:00Z, modified) go1.26.8".
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "imgrec (no build information)"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	rev := "unknown revision"
	if r := settings["vcs.revision"]; r != "" {
		rev = "rev " + r[:min(12, len(r))]
		if t := settings["vcs.time"]; t != "" {
			rev += ", " + t
		}
		if settings["vcs.modified"] == "true" {
			rev += ", modified"
		}
	}
	return fmt.Sprintf("imgrec %s (%s) %s", bi.Main.Version, rev, bi.GoVersion)
}
