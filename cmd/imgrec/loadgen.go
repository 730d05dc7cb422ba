package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/loadgen"
)

func init() {
	register("loadgen", "send images to the web tier and measure the answers (course workload generator)", runLoadgen)
}

func runLoadgen(ctx context.Context, e *env, args []string) error {
	shown := newFlags(e, "loadgen", "loadgen --url URL --image-folder DIR --num-request N [--concurrency C] [--expected CSV] [--timeout 90s] [--field myfile] [--json]")
	url := shown.String("url", "", "upload endpoint of the web tier, e.g. http://127.0.0.1:8000/ (required)")
	folder := shown.String("image-folder", "", "`DIR` of .jpg/.jpeg/.png images, sent in natural order (test_2 before test_10) and cycled through (required; course spelling --image_folder)")
	requests := shown.Int("num-request", 0, "how many requests to send (required; course spelling --num_request)")
	concurrency := shown.Int("concurrency", 1, "at most this many requests in flight")
	expected := shown.String("expected", "", "`CSV` of file,label lines (the course's classification results); an answer that differs counts as wrong")
	timeout := shown.Duration("timeout", 90*time.Second, "per request, reading the answer included; 0 for none")
	field := shown.String("field", loadgen.DefaultField, "multipart file field of the upload")
	asJSON := shown.Bool("json", false, "print the summary as one JSON object, durations in seconds")
	fs := withAliases(shown, map[string]string{"image_folder": "image-folder", "num_request": "num-request"})
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q", rest[0])
	case *url == "":
		return usagef("--url is required")
	case *folder == "":
		return usagef("--image-folder is required")
	case *requests < 1:
		return usagef("--num-request %d: must be at least 1", *requests)
	case *concurrency < 1:
		return usagef("--concurrency %d: must be at least 1", *concurrency)
	case *timeout < 0:
		return usagef("--timeout %v: must not be negative", *timeout)
	case *field == "":
		return usagef("--field must not be empty")
	}
	images, err := readImageFolder(*folder)
	if err != nil {
		return err
	}
	cfg := loadgen.Config{URL: *url, Images: images, Requests: *requests, Concurrency: *concurrency, Timeout: *timeout, Field: *field}
	if *expected != "" {
		if cfg.Expected, err = readExpected(*expected); err != nil {
			return err
		}
		if n := countUnlabelled(images, cfg.Expected); n > 0 {
			fmt.Fprintf(e.stderr, "imgrec loadgen: %d of %d images have no label in %s; their answers are not checked\n", n, len(images), *expected)
		}
	}
	bar := newProgress(e.stderr, "loadgen")
	if isTerminal(e.stderr) {
		cfg.Progress = func(s loadgen.Snapshot) {
			bar.draw(float64(s.Done), float64(s.Total), fmt.Sprintf("%d/%d  ok %d  wrong %d  failed %d  %7.1f req/s",
				s.Done, s.Total, s.OK, s.Wrong, s.Failed, float64(s.Done)/max(s.Elapsed.Seconds(), 1e-9)))
		}
	}

	s, err := loadgen.Run(ctx, cfg)
	bar.done()
	if err != nil && !s.Interrupted {
		return err
	}
	if *asJSON {
		if err := json.NewEncoder(e.stdout).Encode(s); err != nil {
			return err
		}
	} else {
		printSummary(e.stdout, s)
	}
	switch {
	case s.Interrupted:
		return fmt.Errorf("interrupted after %d of %d requests (%d wrong, %d failed)", s.Requests, s.Planned, s.Wrong, s.Failed)
	case s.Wrong > 0 || s.Failed > 0:
		return fmt.Errorf("%d wrong and %d failed of %d requests", s.Wrong, s.Failed, s.Requests)
	}
	return nil
}

// withAliases returns a FlagSet that parses shown's flags and also each alias
// for the flag it names, while -h lists shown's flags only: the course's
// spellings work without cluttering the help.
func withAliases(shown *flag.FlagSet, aliases map[string]string) *flag.FlagSet {
	fs := flag.NewFlagSet(shown.Name(), flag.ContinueOnError)
	fs.SetOutput(shown.Output())
	fs.Usage = shown.Usage
	shown.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	for alias, name := range aliases {
		fs.Var(shown.Lookup(name).Value, alias, "alias of --"+name)
	}
	return fs
}

// readImageFolder loads every image of dir into memory, so that reading
// files does not pace the load. File problems are invalid input (exit 2).
func readImageFolder(dir string) ([]loadgen.Image, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, imgrec.WrapError(imgrec.EINVALID, err, "--image-folder")
	}
	if !st.IsDir() {
		return nil, imgrec.Errorf(imgrec.EINVALID, "--image-folder %s: not a directory", dir)
	}
	files, err := listImages([]string{dir})
	if err != nil {
		return nil, imgrec.WrapError(imgrec.EINVALID, err, "--image-folder")
	}
	if len(files) == 0 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "--image-folder %s: no .jpg, .jpeg or .png files", dir)
	}
	images := make([]loadgen.Image, len(files))
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, imgrec.WrapError(imgrec.EINVALID, err, "--image-folder")
		}
		images[i] = loadgen.Image{Name: filepath.Base(f), Data: data}
	}
	return images, nil
}

// readExpected reads the course's file,label lines, skipping a file,label
// header if there is one.
func readExpected(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, imgrec.WrapError(imgrec.EINVALID, err, "--expected")
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 2
	labels := map[string]string{}
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, imgrec.WrapError(imgrec.EINVALID, err, "--expected %s", path)
		}
		file := strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")) // spreadsheets may add a BOM
		label := strings.TrimSpace(rec[1])
		if first && strings.EqualFold(file, "file") && strings.EqualFold(label, "label") {
			continue
		}
		labels[file] = label
	}
	if len(labels) == 0 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "--expected %s: no file,label lines", path)
	}
	return labels, nil
}

func countUnlabelled(images []loadgen.Image, labels map[string]string) int {
	n := 0
	for _, img := range images {
		if _, ok := labels[img.Name]; !ok {
			n++
		}
	}
	return n
}

func printSummary(w io.Writer, s loadgen.Summary) {
	interrupted := ""
	if s.Interrupted {
		interrupted = " (interrupted)"
	}
	unchecked := ""
	if !s.LabelsChecked {
		unchecked = " (labels not checked: no --expected)"
	}
	l := s.Latency
	fmt.Fprintf(w, "requests    %d of %d%s, concurrency %d\n", s.Requests, s.Planned, interrupted, s.Concurrency)
	fmt.Fprintf(w, "ok          %d\n", s.OK)
	fmt.Fprintf(w, "wrong       %d%s\n", s.Wrong, unchecked)
	fmt.Fprintf(w, "failed      %d\n", s.Failed)
	fmt.Fprintf(w, "wall time   %v\n", sig3(s.Wall))
	fmt.Fprintf(w, "throughput  %.1f req/s\n", s.Throughput)
	fmt.Fprintf(w, "latency     min %v  mean %v  p50 %v  p95 %v  p99 %v  max %v\n",
		sig3(l.Min), sig3(l.Mean), sig3(l.P50), sig3(l.P95), sig3(l.P99), sig3(l.Max))
	if len(s.WrongExamples) > 0 {
		fmt.Fprintf(w, "wrong answers (first %d of %d):\n", len(s.WrongExamples), s.Wrong)
		for _, x := range s.WrongExamples {
			fmt.Fprintf(w, "  %s  got %q  want %q\n", x.File, x.Got, x.Want)
		}
	}
	if len(s.Failures) > 0 {
		fmt.Fprintln(w, "failures:")
		for _, f := range s.Failures {
			fmt.Fprintf(w, "  %6d  %s\n", f.Count, f.Reason)
		}
	}
}

// sig3 rounds d to three significant digits: 12.3ms, 1.23s.
func sig3(d time.Duration) time.Duration {
	for unit := time.Duration(1); ; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
}
