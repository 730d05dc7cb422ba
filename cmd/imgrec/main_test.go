package main

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec/loadgen"
)

// A mistyped flag gets the error and where the help is, not the whole help.
func TestUsageErrorIsShort(t *testing.T) {
	for _, cmd := range [][]string{{"serve"}, {"web"}, {"worker"}, {"controller"}, {"nats"}, {"loadgen"}, {"classify"}, {"simulate"}, {"infra", "up"}} {
		code, _, errs := runImgrec(t, append(cmd, "--max-instnces", "3")...)
		name := strings.Join(cmd, " ")
		want := "imgrec " + name + ": flag provided but not defined: -max-instnces\nRun 'imgrec " + name + " -h' for usage.\n"
		if code != 2 || errs != want {
			t.Errorf("%s --max-instnces 3: exit %d, stderr %q; want 2 and %q", name, code, errs, want)
		}
	}
	code, _, errs := runImgrec(t, "web", "--queue", "nats://127.0.0.1:1", "--blobs", t.TempDir(), "--log-format", "xml")
	if code != 2 || !strings.Contains(errs, `--log-format "xml": want text or json`) {
		t.Errorf("--log-format xml: exit %d, %q", code, errs)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runImgrec(t, args...)
		if code != 0 || !strings.HasPrefix(out, "imgrec ") || !strings.HasSuffix(out, " "+runtime.Version()+"\n") {
			t.Errorf("%v: exit %d, %q; want imgrec VERSION (REVISION) %s", args, code, out, runtime.Version())
		}
	}
}

// TestJSONLogs: with --log-format json, serve and the workers it starts log
// one JSON object a line, with level and message.
func TestJSONLogs(t *testing.T) {
	s := startServe(t, "--log-format", "json")
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: s.url, Images: loadCourseImages(t)[:5], Requests: 5, Concurrency: 5, Expected: standinExpected(t), Timeout: time.Minute,
	})
	if err != nil || sum.OK != 5 {
		t.Fatalf("%v %+v", err, sum)
	}
	if resp, err := http.Get(s.url + "healthz"); err == nil {
		resp.Body.Close()
	}
	s.stop(t)
	msgs := map[string]bool{}
	for line := range strings.Lines(s.logText()) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[w-") { // a worker's line, prefixed with its id by serve
			line = strings.TrimSpace(line[strings.IndexByte(line, ']')+1:])
		}
		if !strings.HasPrefix(line, "{") {
			continue // serve's one human line: "imgrec serving on ..."
		}
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Level == "" || rec.Msg == "" {
			t.Errorf("not a JSON log record with level and msg: %q (%v)", line, err)
		}
		msgs[rec.Msg] = true
	}
	for _, want := range []string{"serving", "worker started", "worker ready"} {
		if !msgs[want] {
			t.Errorf("no JSON record %q among %v", want, msgs)
		}
	}
}
