package issuer

import (
	"sync"
	"time"
)

// Settings are what distinguishes two shared Issuers for the same URL.
type Settings struct {
	URL        string
	Timeout    time.Duration
	Insecure   bool // ssl_verify: false
	MinRefresh time.Duration
}

var registry sync.Map // Settings -> *Issuer

// Shared returns the process-wide Issuer for s, creating it on first use.
// Kong starts one plugin instance per nginx worker per config; they all share
// it, so discovery, keys and their refetch allowance are per process.
func Shared(s Settings) *Issuer {
	if v, ok := registry.Load(s); ok {
		return v.(*Issuer)
	}
	v, _ := registry.LoadOrStore(s, New(s.URL, Options{
		Client:     NewHTTPClient(s.Timeout, s.Insecure),
		MinRefresh: s.MinRefresh,
	}))
	return v.(*Issuer)
}
