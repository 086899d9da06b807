//go:build !unix

package idp

// lockFile is a no-op where flock is unavailable: concurrent first runs may both run npm ci.
func lockFile(string) (func(), error) { return func() {}, nil }
