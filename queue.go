package imgrec

import (
	"context"
	"time"
)

// Request is one image to classify as it travels on the request queue. The
// image itself stays in the input bucket; the message carries its key.
type Request struct {
	ID      string    `json:"id"`                 // unique per upload; answers are matched on it, never on names
	Key     string    `json:"key"`                // input bucket key, e.g. "test_0.JPEG"
	ReplyTo string    `json:"reply_to,omitempty"` // response address from Inbox.Address; "" when nobody waits
	Sent    time.Time `json:"sent"`
	// Image is the image itself when the web tier sends small ones inline
	// (web --inline-max-bytes), saving the worker a read of the input
	// bucket; the input bucket holds it all the same. Empty otherwise.
	Image []byte `json:"image,omitempty"`
}

// Response is a worker's answer to a Request.
type Response struct {
	ID        string       `json:"id"`
	Key       string       `json:"key"`             // output bucket key, e.g. "test_0"
	Label     string       `json:"label,omitempty"` // top-1 label when the image was classified
	Top       []Prediction `json:"top,omitempty"`
	Error     string       `json:"error,omitempty"` // why it could not be classified; the request was dead-lettered
	Worker    string       `json:"worker,omitempty"`
	Attempt   int          `json:"attempt,omitempty"` // which delivery produced this answer; 1 unless a worker failed
	Inference float64      `json:"inference_seconds,omitempty"`
	// Recorded says the answer is in the job store already (the worker
	// finished the job before replying); a web tier records it otherwise.
	Recorded bool `json:"recorded,omitempty"`
}

// A received request is leased to its worker: it stays invisible to other
// workers for the visibility timeout, which the worker extends while it works
// (Delivery.Extend). A worker that dies (SIGKILL, OOM, a lost instance)
// extends nothing, so its requests go back to the queue within the lease.
// A short lease means fast recovery; the price is that a worker stalled for
// longer than the lease (a paused VM) has its requests worked on twice,
// which is harmless: results are stored idempotently under their key and
// answers are matched on the request id, first answer wins.
const (
	// DefaultVisibility is the lease: how long a received request stays
	// with a worker that does not extend it.
	DefaultVisibility = 5 * time.Second
	// DefaultExtendEvery is how often a worker extends the requests it
	// holds: several times a lease, so a renewal or two may be late.
	DefaultExtendEvery = time.Second
)

// QueueStats is a snapshot of the request queue. Depth, what the controller
// scales on, counts both waiting and in-flight requests.
type QueueStats struct {
	Waiting     int `json:"waiting"`
	InFlight    int `json:"in_flight"`
	DeadLetters int `json:"dead_letters"`
}

// Depth is the number of requests not yet finished.
func (s QueueStats) Depth() int { return s.Waiting + s.InFlight }

// Queue is the request queue with work-queue semantics: each request goes to
// one worker and comes back (to any worker) unless acknowledged within the
// visibility timeout; plus a response path back to the web tier.
type Queue interface {
	// Send enqueues a request.
	Send(ctx context.Context, r Request) error
	// Receive waits for the next request until ctx ends. The delivery must
	// be settled with Ack, Nack or DeadLetter.
	Receive(ctx context.Context) (Delivery, error)
	// Stats reports depth and dead letters.
	Stats(ctx context.Context) (QueueStats, error)
	// Purge drops every waiting request and dead letter.
	Purge(ctx context.Context) error
	// DeadLetters lists up to max dead-lettered requests, oldest first.
	DeadLetters(ctx context.Context, max int) ([]DeadLetter, error)
	// Reply sends a response to the address a request named.
	Reply(ctx context.Context, to string, r Response) error
	// Listen opens this process's response path.
	Listen(ctx context.Context) (Inbox, error)
	Close() error
}

// Delivery is a request handed to one worker.
type Delivery interface {
	Request() Request
	// Attempt is 1 on the first delivery and grows with each redelivery.
	Attempt() int
	// Extend restarts the visibility timeout; call it while working.
	Extend(ctx context.Context) error
	// Ack removes the request for good. Call it only once the result is stored.
	Ack(ctx context.Context) error
	// Nack hands the request back for another attempt after delay.
	Nack(ctx context.Context, delay time.Duration) error
	// DeadLetter gives up on the request, keeping it with the reason.
	DeadLetter(ctx context.Context, reason string) error
}

// DeadLetter is a request that was given up on.
type DeadLetter struct {
	Request  Request   `json:"request"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
}

// Inbox receives the responses addressed to one web tier process.
type Inbox interface {
	// Address is what requests put in ReplyTo.
	Address() string
	// Responses delivers responses until the inbox is closed.
	Responses() <-chan Response
	Close() error
}
