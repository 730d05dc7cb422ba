package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/loadgen"
	"github.com/imgrec/imgrec/simulate"
)

func init() {
	register("loadgen", "send images to the web tier and measure the answers (course workload generator)", runLoadgen)
}

const loadgenUsage = `loadgen --url URL --image-folder DIR [--num-request N --concurrency C | --num-request N --rate R [--arrival poisson|constant] | --workload SPEC] [--max-in-flight M] [--expected CSV] [--out CSV] [--cdf SVG] [--json]

Closed loop (the course's generator): C requests in flight, each sent when
one is answered. Open loop (--rate or --workload): each request is sent at
its time whether earlier ones were answered or not, as independent users
would; at most --max-in-flight in flight, and a request due when that many
are is dropped and counted, never sent late. --out writes one CSV line per
request, whose first column simulate replays (--workload replay:FILE) and
draws beside its policies (--measured FILE).

Workload SPEC, as imgrec simulate reads it (with --seed, the same arrivals):
%s.`

func runLoadgen(ctx context.Context, e *env, args []string) error {
	shown := newFlags(e, "loadgen", fmt.Sprintf(loadgenUsage, simulate.WorkloadSyntax))
	url := shown.String("url", "", "upload endpoint of the web tier, e.g. http://127.0.0.1:8000/ (required)")
	folder := shown.String("image-folder", "", "`DIR` of .jpg/.jpeg/.png images, sent in natural order (test_2 before test_10) and cycled through (required; course spelling --image_folder)")
	requests := shown.Int("num-request", 0, "how many requests to send (required but with --workload; course spelling --num_request)")
	concurrency := shown.Int("concurrency", 1, "closed loop: this many requests in flight")
	rate := shown.Float64("rate", 0, "open loop: send `R` requests a second (--num-request of them), spaced as --arrival says")
	arrival := shown.String("arrival", "poisson", "with --rate: poisson (independent arrivals, exponential gaps) or constant (evenly spaced)")
	workload := shown.String("workload", "", "open loop: send at the arrival times of `SPEC`, as imgrec simulate --workload (e.g. poisson:2,5m)")
	seed := shown.Uint64("seed", 1, "seed of random arrivals (--rate poisson, --workload poisson and ramp); as simulate's --seed")
	maxInFlight := shown.Int("max-in-flight", 1000, "open loop: at most this many requests in flight; one due when they are is dropped")
	expected := shown.String("expected", "", "`CSV` of file,label lines (the course's classification results); an answer that differs counts as wrong")
	timeout := shown.Duration("timeout", 90*time.Second, "per request, reading the answer included; 0 for none")
	field := shown.String("field", loadgen.DefaultField, "multipart file field of the upload")
	outCSV := shown.String("out", "", "write one line per request to this `CSV`: sent_seconds,name,status,latency_seconds,label,error,outcome")
	cdf := shown.String("cdf", "", "draw the latency CDF into this `SVG` file")
	asJSON := shown.Bool("json", false, "print the summary as one JSON object, durations in seconds")
	aliases := map[string]string{"image_folder": "image-folder", "num_request": "num-request"}
	fs := withAliases(shown, aliases)
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	set := map[string]bool{} // flags given, by their shown names
	fs.Visit(func(f *flag.Flag) { set[cmp.Or(aliases[f.Name], f.Name)] = true })
	open := set["rate"] || set["workload"]
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q", rest[0])
	case *url == "":
		return usagef("--url is required")
	case *folder == "":
		return usagef("--image-folder is required")
	case set["rate"] && set["workload"]:
		return usagef("--rate and --workload: give one (--workload poisson:R,DURATION is a rate too)")
	case set["workload"] && set["num-request"]:
		return usagef("--num-request with --workload: the workload says how many requests")
	case !set["workload"] && *requests < 1:
		return usagef("--num-request %d: must be at least 1", *requests)
	case open && set["concurrency"]:
		return usagef("--concurrency is for the closed loop; open loop bounds the requests in flight with --max-in-flight")
	case !open && set["max-in-flight"]:
		return usagef("--max-in-flight is for the open loop (--rate or --workload); closed loop: --concurrency")
	case set["arrival"] && !set["rate"]:
		return usagef("--arrival goes with --rate")
	case set["rate"] && (!(*rate > 0) || math.IsInf(*rate, 0)):
		return usagef("--rate %v: want requests a second above 0", *rate)
	case *arrival != "poisson" && *arrival != "constant":
		return usagef("--arrival %q: want poisson or constant", *arrival)
	case *concurrency < 1:
		return usagef("--concurrency %d: must be at least 1", *concurrency)
	case *maxInFlight < 1:
		return usagef("--max-in-flight %d: must be at least 1", *maxInFlight)
	case *timeout < 0:
		return usagef("--timeout %v: must not be negative", *timeout)
	case *field == "":
		return usagef("--field must not be empty")
	}
	cfg := loadgen.Config{URL: *url, Requests: *requests, Concurrency: *concurrency, Timeout: *timeout, Field: *field}
	if open {
		cfg.Concurrency, cfg.Requests = *maxInFlight, 0
		if cfg.Arrivals, cfg.Workload, err = openArrivals(*workload, *rate, *arrival, *requests, *seed); err != nil {
			return err
		}
	}
	images, err := readImageFolder(*folder)
	if err != nil {
		return err
	}
	cfg.Images = images
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
			bar.draw(float64(s.Done+s.Dropped), float64(s.Total), fmt.Sprintf("%d/%d  ok %d  wrong %d  failed %d  dropped %d  %7.1f req/s",
				s.Done, s.Total, s.OK, s.Wrong, s.Failed, s.Dropped, float64(s.Done)/max(s.Elapsed.Seconds(), 1e-9)))
		}
	}

	s, err := loadgen.Run(ctx, cfg)
	bar.done()
	if err != nil && !s.Interrupted {
		return err
	}
	if err := writeRunFiles(s, *outCSV, *cdf, *url); err != nil {
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
	case s.Dropped > 0:
		return fmt.Errorf("%d wrong, %d failed and %d dropped (not sent: --max-in-flight %d reached) of %d requests",
			s.Wrong, s.Failed, s.Dropped, s.Concurrency, s.Planned)
	case s.Wrong > 0 || s.Failed > 0:
		return fmt.Errorf("%d wrong and %d failed of %d requests", s.Wrong, s.Failed, s.Requests)
	}
	return nil
}

// openArrivals are the send times of an open-loop run: a workload spec as
// simulate reads it, or n requests at rate a second, Poisson (the first n
// arrivals of simulate's poisson:RATE,DURATION for the same seed) or evenly
// spaced (periodic:1,1/RATE,n). It also returns what to call them.
func openArrivals(spec string, rate float64, arrival string, n int, seed uint64) ([]time.Duration, string, error) {
	if spec != "" {
		w, err := simulate.ParseWorkload(spec, seed)
		if err != nil {
			return nil, "", usagef("--workload: %v", err)
		}
		return w.Arrivals, fmt.Sprintf("%s, seed %d", w.Spec, seed), nil
	}
	gap := time.Duration(float64(time.Second) / rate)
	if arrival == "constant" {
		w, err := simulate.ParseWorkload(fmt.Sprintf("periodic:1,%s,%d", gap, n), seed)
		if err != nil {
			return nil, "", usagef("--rate %v: %v", rate, err)
		}
		return w.Arrivals, fmt.Sprintf("constant %g/s", rate), nil
	}
	// Long enough that n arrivals come before its end but once in 10^20 runs.
	span := time.Duration(float64(2*n+50) * float64(gap))
	w, err := simulate.ParseWorkload(fmt.Sprintf("poisson:%g,%s", rate, span), seed)
	if err != nil {
		return nil, "", usagef("--rate %v with --num-request %d: %v", rate, n, err)
	}
	if len(w.Arrivals) < n {
		return nil, "", fmt.Errorf("--rate %v: only %d of %d arrivals drawn; try another --seed", rate, len(w.Arrivals), n)
	}
	return w.Arrivals[:n], fmt.Sprintf("poisson %g/s, seed %d", rate, seed), nil
}

// writeRunFiles writes a run's per-request CSV and latency CDF, if asked.
func writeRunFiles(s loadgen.Summary, csvPath, cdfPath, url string) error {
	if csvPath != "" {
		f, err := os.Create(csvPath)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		err = loadgen.WriteCSV(f, s.Records)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--out %s: %w", csvPath, err)
		}
	}
	if cdfPath != "" {
		line := latencyLine("measured", s.Records)
		how := fmt.Sprintf("closed loop, %d in flight", s.Concurrency)
		if s.OpenLoop {
			how = "open loop, " + s.Workload
		}
		subtitle := fmt.Sprintf("imgrec loadgen %s: %s, %d requests", url, how, s.Planned)
		if err := simulate.WriteLatencyCDF(cdfPath, subtitle, []simulate.LatencyLine{line}); err != nil {
			return fmt.Errorf("--cdf: %w", err)
		}
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
	if s.OpenLoop {
		fmt.Fprintf(w, "requests    %d of %d%s, open loop: %s, at most %d in flight\n", s.Requests, s.Planned, interrupted, s.Workload, s.Concurrency)
		fmt.Fprintf(w, "sent        %.1f req/s (scheduled %.1f req/s); %d dropped, %d late (over %v behind, at most %v)\n",
			s.SendRate, s.ScheduledRate, s.Dropped, s.Late, loadgen.DefaultLateAfter, sig3(s.MaxLate))
	} else {
		fmt.Fprintf(w, "requests    %d of %d%s, concurrency %d\n", s.Requests, s.Planned, interrupted, s.Concurrency)
	}
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
