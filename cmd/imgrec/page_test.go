package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browserWait bounds every wait for the page: generous, for a loaded machine.
const browserWait = 90 * time.Second

// TestPage drives the web page in headless Chromium against a real `imgrec
// serve`: 20 course images and a file with a hostile name go in through the
// file picker and a drop, every label comes back right, the instances rise
// and return to 0, and Reset empties the results. Set IMGREC_SCREENSHOT to a
// PNG path (relative to the repository root) for README's screenshot of a
// larger run after that.
func TestPage(t *testing.T) {
	ctx := startBrowser(t)
	s := startServe(t)
	expected := standinExpected(t)
	consoleErrors := watchConsole(ctx)
	dialogs := dismissDialogs(ctx)

	images, err := listImages([]string{filepath.Join(sharedDir, "data/imagenet-100")})
	if err != nil {
		t.Fatal(err)
	}
	images = images[:20]
	// The course image behind the hostile name, whose label it must get.
	const hostile = "<img src=x onerror=alert(1)>.jpg"
	hostilePath := filepath.Join(t.TempDir(), hostile)
	copyFile(t, images[0], hostilePath)

	act(t, ctx, chromedp.Navigate(s.url))
	waitInPage(t, ctx, "the limits shown", `document.getElementById("limits").textContent.includes("10 MiB")`)

	// Half through the file picker, half dropped on the page.
	picked, dropped := append(images[:10:10], hostilePath), images[10:]
	act(t, ctx, chromedp.SetUploadFiles(chromedp.ID("files"), absPaths(t, picked)))
	if handled := eval[bool](t, ctx, dropScript(t, dropped)); !handled {
		t.Fatal("the page did not take the dropped files (drop event not cancelled)")
	}

	// Every row finishes with the stand-in model's label.
	waitInPage(t, ctx, "all 21 rows finished", `[...document.querySelectorAll("#uploads tbody tr")].filter(
		tr => tr.dataset.state === "done" || tr.dataset.state === "failed").length === 21`)
	rows := uploadRows(t, ctx)
	for _, r := range rows {
		source := r.Name
		if r.Name == hostile {
			source = filepath.Base(images[0])
		}
		if want := expected[source]; r.State != "done" || r.Label != want {
			t.Errorf("row %q: %s %q, want done %q", r.Name, r.State, r.Label, want)
		}
	}

	// The hostile name is text: shown as typed, no element made from it, no script run.
	if !slices.ContainsFunc(rows, func(r pageRow) bool { return r.Name == hostile }) {
		t.Errorf("no row shows the name %q as text: %+v", hostile, rows)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('img[src="x"], [onerror]').length`); n != 0 {
		t.Errorf("%d elements were made from the hostile file name", n)
	}

	// The system panel saw the controller scale out and back to zero.
	waitInPage(t, ctx, "the instance chart above 0", `+document.getElementById("instances-peak").textContent > 0`)
	waitInPage(t, ctx, "active instances back to 0",
		`document.getElementById("instances-now").textContent === "0" && document.getElementById("count-running").textContent === "0"`)
	// Each instance's provider: serve's workers are local, kept stopped.
	waitInPage(t, ctx, "the instances by provider: local, none running, some stopped", `(() => {
		const rows = document.querySelectorAll("#providers tbody tr");
		return !document.getElementById("providers").hidden && rows.length === 1 &&
			rows[0].cells[0].textContent === "local" && rows[0].cells[2].textContent === "0" && +rows[0].cells[4].textContent > 0;
	})()`)

	// The results list follows the output bucket, the hostile key as text too.
	waitInPage(t, ctx, "21 results listed", `document.querySelectorAll("#results-table tbody tr").length === 21`)
	if !eval[bool](t, ctx, `[...document.querySelectorAll("#results-table td.name")].some(td => td.textContent === "_img src=x onerror=alert(1)_")`) {
		t.Error("the hostile result key is not shown as text")
	}
	writeScreenshot(t, ctx, filepath.Join(t.ArtifactDir(), "page-after-run.png"), chromedp.FullScreenshot(100))

	// Reset, confirmed in the page's own dialog, says what it removed and empties the lists.
	act(t, ctx,
		chromedp.SendKeys(chromedp.ID("admin-token"), "t"),
		chromedp.Click(chromedp.ID("reset-button")),
		chromedp.WaitVisible(chromedp.ID("reset-confirm")),
		chromedp.Click(chromedp.ID("reset-confirm")),
	)
	waitInPage(t, ctx, "the reset report", `document.getElementById("reset-status").textContent.startsWith("Removed")`)
	if got, want := eval[string](t, ctx, `document.getElementById("reset-status").textContent`),
		"Removed 21 images, 21 results, 0 queued requests, 0 dead letters and 21 jobs."; got != want {
		t.Errorf("reset says %q, want %q", got, want)
	}
	waitInPage(t, ctx, "empty lists after reset",
		`document.querySelectorAll("#results-table tbody tr, #uploads tbody tr").length === 0 && document.getElementById("results-status").textContent === "No results yet."`)
	writeScreenshot(t, ctx, filepath.Join(t.ArtifactDir(), "page-after-reset.png"), chromedp.FullScreenshot(100))

	if path := os.Getenv("IMGREC_SCREENSHOT"); path != "" {
		screenshotMidRun(t, ctx, path)
	}

	if d := dialogs(); len(d) > 0 {
		t.Errorf("JavaScript dialogs opened: %q", d)
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// screenshotMidRun puts the 100 course images through the page three times
// and takes README's screenshot while instances run and rows are done.
func screenshotMidRun(t *testing.T, ctx context.Context, path string) {
	images, err := listImages([]string{filepath.Join(sharedDir, "data/imagenet-100")})
	if err != nil {
		t.Fatal(err)
	}
	images = absPaths(t, images)
	act(t, ctx, chromedp.SetUploadFiles(chromedp.ID("files"), slices.Concat(images, images, images)))
	waitInPage(t, ctx, "a mid-run view (instances up, rows done)",
		`+document.getElementById("instances-now").textContent > 0 && document.querySelectorAll('#uploads tr[data-state=done]').length >= 100`)
	// The list shows where done meets running; the window its top (the reset above scrolled it).
	eval[any](t, ctx, `(() => {
		const box = document.getElementById("uploads-scroll");
		const row = document.querySelector("#uploads tbody tr:not([data-state=done])");
		if (row) box.scrollTop += row.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight / 2;
		window.scrollTo(0, 0);
	})()`)
	if !filepath.IsAbs(path) {
		path = filepath.Join("..", "..", path) // this test runs in cmd/imgrec
	}
	writeScreenshot(t, ctx, path, chromedp.CaptureScreenshot())
}

// startBrowser starts headless Chromium for the test, or skips the test
// when it is not installed (fails instead under IMGREC_REQUIRE_CHROMIUM=1, as in CI).
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("IMGREC_REQUIRE_CHROMIUM") == "1" {
			t.Fatalf("IMGREC_REQUIRE_CHROMIUM=1 but %v", err)
		}
		t.Skipf("no Chromium (apt-get install chromium): %v", err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1000), chromedp.UserDataDir(t.TempDir()))...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// watchConsole collects the page's console errors and uncaught exceptions
// (a failed request and a CSP violation are console errors too).
func watchConsole(ctx context.Context) func() []string {
	var mu sync.Mutex
	var errs []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// dismissDialogs records and closes any alert, confirm or prompt, so that a
// script that should never run cannot block the test either.
func dismissDialogs(ctx context.Context) func() []string {
	var mu sync.Mutex
	var seen []string
	events := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			mu.Lock()
			seen = append(seen, string(ev.Type)+": "+ev.Message)
			mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{})
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func act(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %.80s: %v", js, err)
	}
	return v
}

// waitInPage waits until the JavaScript condition holds in the page.
func waitInPage(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	for deadline := time.Now().Add(browserWait); !eval[bool](t, ctx, cond); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s; the page says: %s", what, browserWait,
				eval[string](t, ctx, `document.getElementById("progress").textContent + " | " + document.getElementById("system-note").textContent`))
		}
	}
}

type pageRow struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Label string `json:"label"`
}

func uploadRows(t *testing.T, ctx context.Context) []pageRow {
	return eval[[]pageRow](t, ctx, `[...document.querySelectorAll("#uploads tbody tr")].map(tr => ({
		name: tr.querySelector(".name").textContent, state: tr.dataset.state, label: tr.querySelector(".label").textContent}))`)
}

// dropScript builds the files in the page and drops them on the drop zone
// as a user's drag would; it evaluates to whether the page took the drop.
func dropScript(t *testing.T, paths []string) string {
	type file struct {
		Name string `json:"name"`
		Data string `json:"data"`
	}
	var files []file
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file{filepath.Base(p), base64.StdEncoding.EncodeToString(b)})
	}
	js, err := json.Marshal(files)
	if err != nil {
		t.Fatal(err)
	}
	return `(() => {
		const dt = new DataTransfer();
		for (const f of ` + string(js) + `) {
			const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
			dt.items.add(new File([bytes], f.name, { type: "image/jpeg" }));
		}
		const zone = document.getElementById("dropzone");
		const init = { bubbles: true, cancelable: true, dataTransfer: dt };
		zone.dispatchEvent(new DragEvent("dragenter", init));
		zone.dispatchEvent(new DragEvent("dragover", init));
		return !zone.dispatchEvent(new DragEvent("drop", init));
	})()`
}

func writeScreenshot(t *testing.T, ctx context.Context, path string, shot chromedp.Action[[]byte]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

func absPaths(t *testing.T, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = abs
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
