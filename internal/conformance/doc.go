// Package conformance holds the test suites that every backend of a domain
// interface must pass. They use nothing but the interface, so a backend is
// done when its package's tests run the suite and pass.
package conformance
