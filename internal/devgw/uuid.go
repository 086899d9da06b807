package devgw

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"regexp"
)

// devgwNamespace is the UUID namespace used to derive stable entity ids.
var devgwNamespace = [16]byte{0x6b, 0x6f, 0x6e, 0x67, 0x2d, 0x64, 0x65, 0x76, 0x67, 0x77, 0x2d, 0x6e, 0x73, 0x2d, 0x76, 0x31}

// uuidV5 returns an RFC 4122 name-based (SHA-1) UUID for name.
func uuidV5(name string) string {
	h := sha1.New()
	h.Write(devgwNamespace[:])
	h.Write([]byte(name))
	sum := h.Sum(nil)
	var u [16]byte
	copy(u[:], sum[:16])
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	return formatUUID(u)
}

func randomUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return formatUUID(u)
}

func formatUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// newRequestID returns 32 hex characters, like nginx's $request_id.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var uuidRe = regexp.MustCompile(`(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func isUUID(s string) bool { return len(s) == 36 && uuidRe.MatchString(s) }
