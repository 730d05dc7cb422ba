package main

// A container image built FROM scratch has no CA certificates, so the tiers
// could not reach AWS or OpenStack over HTTPS from it. These are the
// Mozilla roots Go's fallback package embeds (about 200 kB), used only
// where the system has none: on any machine with its own, those count.
import _ "golang.org/x/crypto/x509roots/fallback"
