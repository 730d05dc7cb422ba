package web

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/imgrec/imgrec"
)

// getJSON decodes a GET's JSON answer into v and returns the status code.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode
}

// The page runs under a CSP without inline script, so its markup must have
// none; the browser test (cmd/imgrec) checks that it then works.
func TestPageAssetsAndCSP(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	resp, err := http.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	if m := regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]|\sstyle=|\son[a-z]+=|<style`).FindString(page); m != "" {
		t.Errorf("page has inline script or style the CSP would block: %q", m)
	}
	for _, asset := range []struct{ path, contentType string }{
		{"/static/app.js", "text/javascript"}, {"/static/app.css", "text/css"}, {"/static/favicon.svg", "image/svg+xml"},
	} {
		if !strings.Contains(page, asset.path) {
			t.Errorf("page does not load %s", asset.path)
		}
		resp, err := http.Get(s.url + asset.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), asset.contentType) {
			t.Errorf("%s: %d %q, want 200 %s", asset.path, resp.StatusCode, resp.Header.Get("Content-Type"), asset.contentType)
		}
	}
	for _, path := range []string{"/static/", "/static/missing.js", "/static/index.html/x"} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// getAsset GETs the page or one of its files and checks it is there, as the
// type its name says (the page at / is HTML), under the page's CSP and caching.
func getAsset(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	ext := path.Ext(url)
	if strings.HasSuffix(url, "/") {
		ext = ".html"
	}
	wantType := map[string]string{
		".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml",
	}[ext]
	if resp.StatusCode != 200 {
		t.Errorf("%s: %d, want 200", url, resp.StatusCode)
		return ""
	}
	if wantType == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), wantType) {
		t.Errorf("%s: Content-Type %q, want %q", url, resp.Header.Get("Content-Type"), wantType)
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != pageCSP {
		t.Errorf("%s: CSP %q, want the page's", url, got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("%s: Cache-Control %q, want no-cache", url, got)
	}
	return string(b)
}

// Every file embedded for the page is served (the route is one level deep,
// and page.go serves only the types it knows), as its type, with the page's
// headers.
func TestPageServesEveryAsset(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	err := fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			getAsset(t, s.url+"/"+name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// moduleImport finds a module's static imports and re-exports
// (import x from "./a.js", import { y } from "./b.js", import "./c.js",
// export { z } from "./d.js"), each on a line of its own.
var moduleImport = regexp.MustCompile(`(?m)^\s*(?:import|export)\s(?:[^"';]*?\sfrom\s*)?["']([^"']+)["']`)

// The page's script is a graph of ES modules: every import names a file
// that is served as JavaScript, and every .js file embedded is in the graph.
func TestPageModuleGraph(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	base, err := url.Parse(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page := getAsset(t, base.String())
	var queue []*url.URL
	for _, m := range regexp.MustCompile(`<script type="module" src="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		queue = append(queue, base.ResolveReference(&url.URL{Path: m[1]}))
	}
	if len(queue) == 0 {
		t.Fatal(`index.html loads no <script type="module">`)
	}
	seen := map[string]bool{} // paths of the modules in the graph
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if seen[u.Path] {
			continue
		}
		seen[u.Path] = true
		if u.Host != base.Host || !strings.HasPrefix(u.Path, "/static/") || path.Ext(u.Path) != ".js" {
			t.Errorf("module %s: want a .js file under this server's /static/", u)
			continue
		}
		src := getAsset(t, u.String())
		// This test follows static imports only, so the page has no others.
		if regexp.MustCompile(`\bimport\s*\(`).MatchString(src) {
			t.Errorf("%s has a dynamic import() this test cannot follow", u.Path)
		}
		for _, m := range moduleImport.FindAllStringSubmatch(src, -1) {
			if !strings.HasPrefix(m[1], "./") {
				t.Errorf("%s imports %q, want a path relative to it (./name.js)", u.Path, m[1])
			}
			next, err := u.Parse(m[1])
			if err != nil {
				t.Errorf("%s imports %q: %v", u.Path, m[1], err)
				continue
			}
			queue = append(queue, next)
		}
	}
	files, err := fs.Glob(static, "static/*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !seen["/"+f] {
			t.Errorf("%s is embedded but no module imports it", f)
		}
	}
	t.Logf("%d modules: %v", len(seen), seen)
}

func TestLimitsForThePage(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true, maxUpload: 64 << 10, maxPixels: 300 * 300})
	var l limits
	if code := getJSON(t, s.url+"/v1/limits", &l); code != 200 {
		t.Fatalf("limits: %d", code)
	}
	if want := (limits{MaxUploadBytes: 64 << 10, MaxPixels: 300 * 300, MaxFiles: pageMaxFiles, MaxWatchIDs: maxWatchIDs, ResetEnabled: true}); l != want {
		t.Fatalf("limits %+v, want %+v", l, want)
	}
}

func TestWatchJobs(t *testing.T) {
	s := newStack(t, stackOptions{})
	names := []string{"test_10.JPEG", "test_11.JPEG", "test_12.JPEG"}
	ids := map[string]string{} // job id → name
	for _, name := range names {
		code, body := post(t, s.url+"/v1/jobs", "file", name, courseImage(t, name))
		var j job
		if err := json.Unmarshal([]byte(body), &j); err != nil || code != http.StatusAccepted {
			t.Fatalf("submit %s: %d %s", name, code, body)
		}
		ids[j.ID] = name
	}
	pending := map[string]bool{}
	for id := range ids {
		pending[id] = true
	}
	for len(pending) > 0 {
		list := []string{"nosuchjob"}
		for id := range pending {
			list = append(list, id)
		}
		var w watchedJobs
		if code := getJSON(t, s.url+"/v1/jobs?wait=30s&ids="+strings.Join(list, ","), &w); code != 200 {
			t.Fatalf("watch: %d %+v", code, w)
		}
		if len(w.Unknown) != 1 || w.Unknown[0] != "nosuchjob" {
			t.Fatalf("unknown = %v, want [nosuchjob]", w.Unknown)
		}
		for _, j := range w.Jobs {
			if !pending[j.ID] {
				t.Fatalf("watch returned %s again or unasked", j.ID)
			}
			if want := s.expected[ids[j.ID]]; j.State != JobDone || j.Label != want {
				t.Fatalf("%s: %+v, want done %q", ids[j.ID], j, want)
			}
			delete(pending, j.ID)
		}
	}

	var w watchedJobs
	tooMany := strings.TrimSuffix(strings.Repeat("x,", maxWatchIDs+1), ",")
	for _, query := range []string{"", "ids=", "ids=a&wait=soon", "ids=a&wait=2m", "ids=" + tooMany} {
		if code := getJSON(t, s.url+"/v1/jobs?"+query, &w); code != 400 {
			t.Errorf("watch ?%s: %d, want 400", query, code)
		}
	}
}

func TestHistorySamples(t *testing.T) {
	s := newStack(t, stackOptions{})
	if code, body := post(t, s.url+"/", "myfile", "test_4.JPEG", courseImage(t, "test_4.JPEG")); code != 200 {
		t.Fatalf("upload: %d %s", code, body)
	}
	type historyAnswer struct {
		IntervalSeconds float64 `json:"interval_seconds"`
		WindowSeconds   float64 `json:"window_seconds"`
		Samples         []sample
	}
	var h historyAnswer
	answered := int64(0)
	waitFor(t, func() bool {
		h = historyAnswer{}
		getJSON(t, s.url+"/v1/history", &h)
		answered = 0
		for _, smp := range h.Samples {
			answered += smp.Answered
		}
		return answered >= 1
	})
	if answered != 1 || h.IntervalSeconds != 1 || h.WindowSeconds != 180 {
		t.Fatalf("history: answered %d, %+v", answered, h)
	}
	last := h.Samples[len(h.Samples)-1]
	for i, smp := range h.Samples {
		if smp.Seq != h.Samples[0].Seq+int64(i) || smp.Instances != nil {
			t.Fatalf("sample %d: %+v (want consecutive numbers; no instances without a lister)", i, smp)
		}
	}
	var newer historyAnswer
	getJSON(t, s.url+"/v1/history?after="+strconv.FormatInt(last.Seq, 10), &newer)
	for _, smp := range newer.Samples {
		if smp.Seq <= last.Seq {
			t.Fatalf("after=%d returned sample %d", last.Seq, smp.Seq)
		}
	}
	// A page that saw a previous run of the server (higher numbers) gets everything.
	var restarted historyAnswer
	getJSON(t, s.url+"/v1/history?after=1000000", &restarted)
	if len(restarted.Samples) == 0 || restarted.Samples[0].Seq != h.Samples[0].Seq {
		t.Fatalf("after a restart: %+v", restarted.Samples)
	}
	var e map[string]string
	if code := getJSON(t, s.url+"/v1/history?after=x", &e); code != 400 || !strings.Contains(e["error"], "after") {
		t.Fatalf("after=x: %d %v", code, e)
	}
}

func TestResultsSearch(t *testing.T) {
	s := newStack(t, stackOptions{})
	for i := range 12 {
		name := fmt.Sprintf("test_%d.JPEG", i)
		if code, body := post(t, s.url+"/", "myfile", name, courseImage(t, name)); code != 200 {
			t.Fatalf("upload %s: %d %s", name, code, body)
		}
	}
	type page struct {
		Results []result
		Next    string
	}
	get := func(query string) page {
		var p page
		if code := getJSON(t, s.url+"/v1/results?"+query, &p); code != 200 {
			t.Fatalf("results?%s: %d", query, code)
		}
		return p
	}
	// By label, ignoring case: every entry with that label and no other.
	label := s.expected["test_3.JPEG"]
	found := get("q=" + strings.ToUpper(label)).Results
	if len(found) == 0 {
		t.Fatalf("q=%s found nothing", label)
	}
	for _, r := range found {
		if r.Value != (imgrec.OutputRecord{Name: r.Key, Label: label}).String() || r.Label != label {
			t.Errorf("q=%s found %+v", label, r)
		}
	}
	// By name, across pages: keys sort test_0, test_1, test_10, test_11, test_2, ...
	if p := get("q=test_1&limit=2"); len(p.Results) != 2 || p.Results[0].Key != "test_1" || p.Results[1].Key != "test_10" || p.Next != "test_10" {
		t.Fatalf("q=test_1 page 1: %+v", p)
	}
	if p := get("q=test_1&limit=2&after=test_10"); len(p.Results) != 1 || p.Results[0].Key != "test_11" || p.Next != "" {
		t.Fatalf("q=test_1 page 2: %+v", p)
	}
	// A rare match: one page reads at most 10 × limit entries, then points past them.
	p := get("q=test_9&limit=1")
	if len(p.Results) != 0 || p.Next != "test_7" {
		t.Fatalf("q=test_9 page 1: %+v, want nothing yet and next test_7 (the 10th key)", p)
	}
	if p = get("q=test_9&limit=1&after=" + p.Next); len(p.Results) != 1 || p.Results[0].Key != "test_9" || p.Next != "test_9" {
		t.Fatalf("q=test_9 page 2: %+v", p)
	}
	// A full page cannot tell whether more follow; the next one says so.
	if p = get("q=test_9&limit=1&after=" + p.Next); len(p.Results) != 0 || p.Next != "" {
		t.Fatalf("q=test_9 page 3: %+v", p)
	}
	if p := get("q=no+such+thing"); len(p.Results) != 0 || p.Next != "" {
		t.Fatalf("q=no such thing: %+v", p)
	}
}
