package devgw

import (
	"bufio"
	"strings"
	"testing"
)

// FuzzReadHead: whatever the bytes, reading a head never panics, and a
// head it accepts is one nginx would accept too: every line fits one large
// buffer, no unique header (Authorization, Host, Content-Length, ...) is
// repeated, names are nginx's alphabet, and HTTP/1.1 carries a Host.
func FuzzReadHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /r HTTP/1.1\r\nHost: a\r\nX_Probe: 1\r\nx-probe: 2\r\n\r\n",
		"GET /r HTTP/1.1\r\nHost: a\r\nAuthorization: a\r\nAUTHORIZATION: b\r\n\r\n",
		"POST /r HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /r HTTP/1.0\r\n\r\n",
		"\r\n\r\nGET /r HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
		"GET /r HTTP/1.1\r\nHost: a\r\nCookie: " + strings.Repeat("c", 9000) + "\r\n\r\n",
	} {
		f.Add(s)
	}
	lim := HeaderBuffers{Num: 4, Size: 2048}
	f.Fuzz(func(t *testing.T, raw string) {
		h, ref, err := readHead(bufio.NewReaderSize(strings.NewReader(raw), 16<<10), lim)
		if err != nil || ref != nil {
			if ref != nil && ref.status == 0 {
				t.Fatalf("refusal without a status: %+v", ref)
			}
			return
		}
		if len(h.method)+len(h.uri)+len(h.proto)+4 > lim.Size {
			t.Fatalf("request line longer than a buffer accepted: %d bytes", len(h.uri))
		}
		seen := map[string]bool{}
		host := false
		for _, l := range h.lines {
			if len(l.name)+len(l.value)+4 > lim.Size {
				t.Fatalf("header line longer than a buffer accepted: %s", l.name)
			}
			if !validHeaderName(l.name) {
				t.Fatalf("invalid name accepted: %q", l.name)
			}
			n := strings.ToLower(l.name)
			if uniqueHeaders[n] && seen[n] {
				t.Fatalf("repeated %s accepted", l.name)
			}
			seen[n] = true
			host = host || n == "host"
		}
		if h.minor >= 1 && !host {
			t.Fatalf("HTTP/1.1 without Host accepted")
		}
	})
}
