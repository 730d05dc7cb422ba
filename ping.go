package imgrec

import "context"

// Pinger is implemented by a backend (queue, bucket, job store) that can
// tell cheaply, with only the permissions every tier using it has, whether
// it is reachable. Readiness probes use it where it exists (package probe)
// and fall back to an ordinary read elsewhere.
type Pinger interface {
	Ping(ctx context.Context) error
}
