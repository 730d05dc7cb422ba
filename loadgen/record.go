package loadgen

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/imgrec/imgrec"
)

// Outcomes of a request, as Record.Outcome and the CSV name them.
const (
	OutcomeOK      = "ok"      // 200 with the expected label, or any 200 without labels
	OutcomeWrong   = "wrong"   // 200 with another label than expected
	OutcomeFailed  = "failed"  // transport error, timeout or non-200 status
	OutcomeDropped = "dropped" // open loop: due while every slot was taken, not sent
)

// Record is one request of a run.
type Record struct {
	Sent    time.Duration // from the start of the run to the send; to when it was due, if dropped
	Name    string        // the image's name
	Status  int           // the HTTP status; 0 when no answer came or nothing was sent
	Latency time.Duration // send to answer or failure; 0 if not sent
	Label   string        // what a 200 answered
	Error   string        // why it failed or was not sent, grouped as in Summary.Failures
	Outcome string        // OutcomeOK, OutcomeWrong, OutcomeFailed or OutcomeDropped
}

// CSVHeader names the columns WriteCSV writes. The first column, seconds
// from the start, is what `imgrec simulate --workload replay:FILE` reads
// as arrival times.
var CSVHeader = []string{"sent_seconds", "name", "status", "latency_seconds", "label", "error", "outcome"}

// WriteCSV writes records under CSVHeader: times in seconds with
// microseconds, an empty status for no answer.
func WriteCSV(w io.Writer, records []Record) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	sec := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 6, 64) }
	for _, r := range records {
		status := ""
		if r.Status != 0 {
			status = strconv.Itoa(r.Status)
		}
		cw.Write([]string{sec(r.Sent), r.Name, status, sec(r.Latency), r.Label, r.Error, r.Outcome})
	}
	cw.Flush()
	return cw.Error()
}

// ReadCSV reads what WriteCSV wrote; name is used in errors.
func ReadCSV(r io.Reader, name string) ([]Record, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(CSVHeader)
	var out []Record
	for line := 1; ; line++ {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, imgrec.WrapError(imgrec.EINVALID, err, "reading %s", name)
		}
		if line == 1 {
			if fmt.Sprint(row) != fmt.Sprint(CSVHeader) {
				return nil, imgrec.Errorf(imgrec.EINVALID, "%s: header %q, want %q", name, row, CSVHeader)
			}
			continue
		}
		sent, errS := strconv.ParseFloat(row[0], 64)
		latency, errL := strconv.ParseFloat(row[3], 64)
		status := 0
		var errC error
		if row[2] != "" {
			status, errC = strconv.Atoi(row[2])
		}
		if err := errors.Join(errS, errL, errC); err != nil {
			return nil, imgrec.WrapError(imgrec.EINVALID, err, "%s line %d", name, line)
		}
		out = append(out, Record{
			Sent: seconds(sent), Name: row[1], Status: status, Latency: seconds(latency),
			Label: row[4], Error: row[5], Outcome: row[6],
		})
	}
}

func seconds(f float64) time.Duration { return time.Duration(math.Round(f * float64(time.Second))) }
