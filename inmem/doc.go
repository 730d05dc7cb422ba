// Package inmem holds in-process implementations of imgrec.Queue and
// imgrec.BlobStore for unit tests, examples and experiments. Nothing is
// durable and nothing leaves the process: what they hold is gone when it
// exits.
//
// Both pass the conformance suites the real backends pass. A Queue has
// work-queue semantics with a visibility timeout, Nack with a delay, dead
// letters, natsq's MaxDeliver backstop, a message size limit (1 MiB, NATS's
// default, unless configured) and one response inbox per Listen. NewQueue
// makes a queue and its first handle; Connect gives further handles on the
// same queue, as separate processes (web tier, workers) would open it. A
// Store keeps objects in a map under the keys imgrec.CheckKey allows.
package inmem
