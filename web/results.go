package web

import (
	"context"
	"strings"

	"github.com/imgrec/imgrec"
)

// result is one output bucket entry: the stored value, and the label read
// from it (imgrec.ParseOutputRecord; empty if the value is not a record).
type result struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Label string `json:"label"`
}

// resultsPage is one page of the output bucket.
type resultsPage struct {
	Results []result `json:"results"`
	Next    string   `json:"next,omitempty"` // pass as after= for the next page
}

// resultsScanFactor bounds a search: one page reads at most this many times
// limit entries, so a rare match costs a few pages of reads, not the whole
// bucket; Next then points past what was read.
const resultsScanFactor = 10

// listResults reads up to limit entries after the key after whose key starts
// with prefix and, when match is not empty, whose key or value contains it
// (ignoring case).
func (s *Server) listResults(ctx context.Context, prefix, after, match string, limit int) (resultsPage, error) {
	page := resultsPage{Results: []result{}}
	match = strings.ToLower(strings.TrimSpace(match))
	for read := 0; ; {
		want := limit - len(page.Results) // never read past what fills the page, so Next loses nothing
		infos, err := s.cfg.Output.List(ctx, prefix, after, want)
		if err != nil {
			return page, err
		}
		for _, in := range infos {
			after = in.Key
			v, err := s.cfg.Output.Get(ctx, in.Key)
			if imgrec.ErrorCode(err) == imgrec.ENOTFOUND {
				continue // deleted since listed
			} else if err != nil {
				return page, err
			}
			if match == "" || strings.Contains(strings.ToLower(in.Key+" "+string(v)), match) {
				rec, _ := imgrec.ParseOutputRecord(string(v))
				page.Results = append(page.Results, result{Key: in.Key, Value: string(v), Label: rec.Label})
			}
		}
		read += len(infos)
		if len(infos) < want {
			page.Next = "" // the end of the bucket
			return page, nil
		}
		page.Next = after
		if match == "" || len(page.Results) == limit || read >= resultsScanFactor*limit {
			return page, nil
		}
	}
}
