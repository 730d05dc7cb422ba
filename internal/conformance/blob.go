package conformance

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

// BlobStore runs the imgrec.BlobStore suite. open must return an empty
// store; each subtest opens its own and they run in parallel.
func BlobStore(t *testing.T, open func(t *testing.T) imgrec.BlobStore) {
	t.Run("RoundTrip", func(t *testing.T) { t.Parallel(); blobRoundTrip(t, open(t)) })
	t.Run("Overwrite", func(t *testing.T) { t.Parallel(); blobOverwrite(t, open(t)) })
	t.Run("PutNew", func(t *testing.T) { t.Parallel(); blobPutNew(t, open(t)) })
	t.Run("GetMissing", func(t *testing.T) { t.Parallel(); blobGetMissing(t, open(t)) })
	t.Run("Delete", func(t *testing.T) { t.Parallel(); blobDelete(t, open(t)) })
	t.Run("List", func(t *testing.T) { t.Parallel(); blobList(t, open(t)) })
	t.Run("ListPaging", func(t *testing.T) { t.Parallel(); blobListPaging(t, open(t)) })
	t.Run("Keys", func(t *testing.T) { t.Parallel(); blobKeys(t, open(t)) })
	t.Run("ConcurrentPut", func(t *testing.T) { t.Parallel(); blobConcurrentPut(t, open(t)) })
	t.Run("ConcurrentPutNew", func(t *testing.T) { t.Parallel(); blobConcurrentPutNew(t, open(t)) })
	t.Run("CancelledContext", func(t *testing.T) { t.Parallel(); blobCancelled(t, open(t)) })
}

func blobRoundTrip(t *testing.T, s imgrec.BlobStore) {
	binary := make([]byte, 0, 1024)
	for i := range 1024 {
		binary = append(binary, byte(i)) // every byte value, zeros included
	}
	large := make([]byte, 10<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range large {
		large[i] = byte(rng.Uint32())
	}
	objects := map[string][]byte{
		"binary.bin": binary,
		"zeros.bin":  make([]byte, 4096),
		"empty.txt":  {},
		"large.bin":  large,
	}
	for key, data := range objects {
		mustPut(t, s, key, data)
	}
	for key, data := range objects {
		if got := mustGet(t, s, key); !bytes.Equal(got, data) {
			t.Errorf("Get(%q): got %d bytes, want the %d bytes put", key, len(got), len(data))
		}
	}
	infos := mustList(t, s, "", "", 100)
	if len(infos) != len(objects) {
		t.Fatalf("List: got %d objects, want %d: %v", len(infos), len(objects), keysOf(infos))
	}
	for _, in := range infos {
		if want := int64(len(objects[in.Key])); in.Size != want {
			t.Errorf("List: %q has size %d, want %d", in.Key, in.Size, want)
		}
		if d := time.Since(in.Modified); d < -time.Hour || d > time.Hour {
			t.Errorf("List: %q modified at %v, not around now", in.Key, in.Modified)
		}
	}

	// The store must not keep the caller's slice nor hand out its own.
	data := []byte("original")
	mustPut(t, s, "copy", data)
	copy(data, "CHANGED!")
	got := mustGet(t, s, "copy")
	if string(got) != "original" {
		t.Errorf("Get after the caller changed its slice: got %q, want %q", got, "original")
	}
	copy(got, "CHANGED!")
	if got := mustGet(t, s, "copy"); string(got) != "original" {
		t.Errorf("Get after the caller changed a returned slice: got %q, want %q", got, "original")
	}
}

func blobOverwrite(t *testing.T, s imgrec.BlobStore) {
	mustPut(t, s, "k", []byte("first, longer version"))
	mustPut(t, s, "k", []byte("second"))
	if got := mustGet(t, s, "k"); string(got) != "second" {
		t.Errorf("Get after overwrite: got %q, want %q", got, "second")
	}
	infos := mustList(t, s, "", "", 10)
	if len(infos) != 1 || infos[0].Size != int64(len("second")) {
		t.Errorf("List after overwrite: got %+v, want one object of size %d", infos, len("second"))
	}
}

func blobPutNew(t *testing.T, s imgrec.BlobStore) {
	ctx := t.Context()
	if err := s.PutNew(ctx, "k", []byte("v1")); err != nil {
		t.Fatalf("PutNew on a free key: %v", err)
	}
	err := s.PutNew(ctx, "k", []byte("v2"))
	wantCode(t, err, imgrec.ECONFLICT, "PutNew on a taken key")
	if got := mustGet(t, s, "k"); string(got) != "v1" {
		t.Errorf("Get after a refused PutNew: got %q, want the original %q", got, "v1")
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.PutNew(ctx, "k", []byte("v3")); err != nil {
		t.Fatalf("PutNew on a key freed by Delete: %v", err)
	}
	if got := mustGet(t, s, "k"); string(got) != "v3" {
		t.Errorf("Get: got %q, want %q", got, "v3")
	}
}

func blobGetMissing(t *testing.T, s imgrec.BlobStore) {
	mustPut(t, s, "present", []byte("x"))
	_, err := s.Get(t.Context(), "absent.jpg")
	wantCode(t, err, imgrec.ENOTFOUND, "Get of a missing key")
	if err != nil && !strings.Contains(err.Error(), "absent.jpg") {
		t.Errorf("Get of a missing key: error %q does not name the key", err)
	}
}

func blobDelete(t *testing.T, s imgrec.BlobStore) {
	ctx := t.Context()
	mustPut(t, s, "a", []byte("1"))
	mustPut(t, s, "b", []byte("2"))
	for i := range 2 { // the second time the key is already gone
		if err := s.Delete(ctx, "a"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := s.Delete(ctx, "never-existed"); err != nil {
		t.Fatalf("Delete of a key that never existed: %v", err)
	}
	_, err := s.Get(ctx, "a")
	wantCode(t, err, imgrec.ENOTFOUND, "Get after Delete")
	if got := keysOf(mustList(t, s, "", "", 10)); !slices.Equal(got, []string{"b"}) {
		t.Errorf("List after Delete: got %q, want [b]", got)
	}
}

func blobList(t *testing.T, s imgrec.BlobStore) {
	keys := []string{"ba", "a", "B.jpg", "ab", "b.jpg", "a(1).jpg", "b", "a.jpg"}
	for _, k := range keys {
		mustPut(t, s, k, []byte(k))
	}
	sorted := slices.Sorted(slices.Values(keys)) // byte order: "B.jpg" < "a" < "a(1).jpg" < "a.jpg" < "ab" < ...
	cases := []struct {
		prefix, after string
		limit         int
		want          []string
	}{
		{"", "", 100, sorted},
		{"", "", 3, sorted[:3]},
		{"a", "", 100, []string{"a", "a(1).jpg", "a.jpg", "ab"}},
		{"a", "a", 100, []string{"a(1).jpg", "a.jpg", "ab"}},
		{"", "a.jpg", 100, []string{"ab", "b", "b.jpg", "ba"}},
		{"b", "b", 1, []string{"b.jpg"}},
		{"", "aa", 2, []string{"ab", "b"}},            // after need not be a stored key
		{"b", "a", 100, []string{"b", "b.jpg", "ba"}}, // after before the prefix
		{"", "ba", 100, nil},
		{"c", "", 100, nil},
		{"a(", "", 100, []string{"a(1).jpg"}},
	}
	for _, c := range cases {
		got := keysOf(mustList(t, s, c.prefix, c.after, c.limit))
		if !slices.Equal(got, c.want) {
			t.Errorf("List(prefix %q, after %q, limit %d): got %q, want %q", c.prefix, c.after, c.limit, got, c.want)
		}
	}
	_, err := s.List(t.Context(), "", "", 0)
	wantCode(t, err, imgrec.EINVALID, "List with limit 0")
}

func blobListPaging(t *testing.T, s imgrec.BlobStore) {
	var want []string
	for i := range 250 {
		want = append(want, fmt.Sprintf("img-%03d.jpg", i))
	}
	parallel(t, 8, len(want), func(i int) error {
		return s.Put(t.Context(), want[i], []byte{byte(i)})
	})
	var got []string
	var sizes []int
	after := ""
	for {
		page := mustList(t, s, "img-", after, 100)
		if len(page) == 0 {
			break
		}
		sizes = append(sizes, len(page))
		got = append(got, keysOf(page)...)
		after = page[len(page)-1].Key
		if len(sizes) > 10 {
			t.Fatalf("List paging does not end: pages %v", sizes)
		}
	}
	if !slices.Equal(sizes, []int{100, 100, 50}) {
		t.Errorf("page sizes: got %v, want [100 100 50]", sizes)
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged keys: got %d keys %q..., want the %d put in order", len(got), got[:min(5, len(got))], len(want))
	}
}

// blobKeys checks that names clients really upload survive unchanged.
func blobKeys(t *testing.T, s imgrec.BlobStore) {
	keys := []string{
		"with space.jpg",
		"ünïcødé 日本語.png",
		"e\u0301.jpg", // decomposed é: stored as given, not normalised
		"test (1).JPEG",
		"[x]{y}#%&+=,;@!$'~^`.jpeg",
		"trailing dot.",
		"-leading-dash",
		"x..y",
		strings.Repeat("k", 200),
	}
	for _, k := range keys {
		mustPut(t, s, k, []byte("value of "+k))
	}
	for _, k := range keys {
		if got := mustGet(t, s, k); string(got) != "value of "+k {
			t.Errorf("Get(%q): got %q", k, got)
		}
	}
	got := keysOf(mustList(t, s, "", "", 100))
	if want := slices.Sorted(slices.Values(keys)); !slices.Equal(got, want) {
		t.Errorf("List: got %q, want %q", got, want)
	}
}

// blobConcurrentPut has many writers replace one key while readers check
// that every read is one whole object, never a mix or a prefix.
func blobConcurrentPut(t *testing.T, s imgrec.BlobStore) {
	const writers, rounds = 12, 4
	object := func(w int) []byte { return bytes.Repeat([]byte{byte(w)}, 64<<10+w*997) }
	valid := func(b []byte) bool {
		return len(b) > 0 && int(b[0]) < writers && bytes.Equal(b, object(int(b[0])))
	}
	mustPut(t, s, "contended", object(0))

	ctx, stop := context.WithCancel(t.Context())
	var readers sync.WaitGroup
	var bad sync.Once
	for range 4 {
		readers.Go(func() {
			for ctx.Err() == nil {
				b, err := s.Get(ctx, "contended")
				if err == nil && !valid(b) {
					bad.Do(func() {
						t.Errorf("Get during concurrent Puts: got %d bytes starting %v, not one whole object", len(b), b[:min(4, len(b))])
					})
				} else if err != nil && ctx.Err() == nil {
					bad.Do(func() { t.Errorf("Get during concurrent Puts: %v", err) })
				}
			}
		})
	}
	parallel(t, writers, writers*rounds, func(i int) error {
		return s.Put(t.Context(), "contended", object(i%writers))
	})
	stop()
	readers.Wait()
	if b := mustGet(t, s, "contended"); !valid(b) {
		t.Errorf("Get after concurrent Puts: got %d bytes, not one whole object", len(b))
	}
}

// blobConcurrentPutNew races writers to create one key: exactly one wins.
func blobConcurrentPutNew(t *testing.T, s imgrec.BlobStore) {
	const n = 16
	var mu sync.Mutex
	var winners []int
	parallel(t, n, n, func(i int) error {
		err := s.PutNew(t.Context(), "race", []byte(fmt.Sprint("writer ", i)))
		switch imgrec.ErrorCode(err) {
		case "":
			mu.Lock()
			winners = append(winners, i)
			mu.Unlock()
		case imgrec.ECONFLICT:
		default:
			return err
		}
		return nil
	})
	if len(winners) != 1 {
		t.Fatalf("racing PutNew: %d winners %v, want exactly 1", len(winners), winners)
	}
	if got, want := string(mustGet(t, s, "race")), fmt.Sprint("writer ", winners[0]); got != want {
		t.Errorf("Get after racing PutNew: got %q, want the winner's %q", got, want)
	}
}

func blobCancelled(t *testing.T, s imgrec.BlobStore) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, "k", []byte("v")); err == nil {
		t.Errorf("Put with a cancelled context succeeded")
	}
	if err := s.PutNew(ctx, "k", []byte("v")); err == nil {
		t.Errorf("PutNew with a cancelled context succeeded")
	}
	_, err := s.Get(t.Context(), "k")
	wantCode(t, err, imgrec.ENOTFOUND, "Get after Puts with a cancelled context")
}
