package fsblob_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/imgrec/imgrec/fsblob"
)

// BenchmarkPut writes course-sized objects from 32 goroutines, durable
// (group commit) and not (the peer: the cost of durability is the ratio):
//
//	go test -run '^$' -bench Put ./fsblob
func BenchmarkPut(b *testing.B) {
	data := make([]byte, 2<<10)
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("nosync=%v", noSync), func(b *testing.B) {
			s, err := fsblob.OpenWith(b.TempDir(), fsblob.Options{NoSync: noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n atomic.Int64
			b.SetParallelism(16) // 32 writers on 2 cores, as the web tier under load
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Put(b.Context(), fmt.Sprint("k", n.Add(1)), data); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
