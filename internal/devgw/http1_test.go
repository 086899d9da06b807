package devgw

import (
	"bufio"
	"strings"
	"testing"
)

// FuzzReadHead: whatever the bytes, reading a head never panics, and a
// head it accepts is one nginx would accept too: every line fits one large
// buffer, no unique header (Authorization, Host, Content-Length, ...) is
// repeated, names are nginx's alphabet, values have no surrounding space,
// and HTTP/1.1 carries a Host.
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
			if strings.HasPrefix(l.value, " ") || strings.HasSuffix(l.value, " ") {
				t.Fatalf("value kept a surrounding space: %q", l.value)
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

// Header lines as nginx 1.25's ngx_http_parse_header_line takes them: a
// line starting with a space, tab or ':', or a name with a space or control
// character, is a 400; a name with other characters is dropped; only spaces
// around a value are skipped, tabs stay.
func TestReadHeadHeaderLines(t *testing.T) {
	cases := []struct {
		line   string
		status int    // 0 = accepted
		value  string // X-A's value when accepted; "-" = the line is dropped
	}{
		{"X-A: v", 0, "v"},
		{"X-A:   v  ", 0, "v"},
		{"X-A:\tv\t", 0, "\tv\t"},
		{"X-A: \tv", 0, "\tv"},
		{"X-A", 0, ""},
		{"X@A: v", 0, "-"},
		{" X-A: v", 400, ""},
		{"\tX-A: v", 400, ""},
		{": v", 400, ""},
		{":X-A: v", 400, ""},
		{"X A: v", 400, ""},
		{"X-A : v", 400, ""},
		{"X-A\t: v", 400, ""},
		{"X@A B: v", 400, ""},
		{"X-A\x01: v", 400, ""},
		{"X-A\x7f: v", 400, ""},
		{"X A", 400, ""},
	}
	for _, tc := range cases {
		raw := "GET / HTTP/1.1\r\nHost: a\r\n" + tc.line + "\r\n\r\n"
		h, ref, err := readHead(bufio.NewReader(strings.NewReader(raw)), HeaderBuffers{Num: 4, Size: 8192})
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if tc.status != 0 {
			if ref == nil || ref.status != tc.status || ref.reason != "client sent invalid header line" {
				t.Errorf("%q: refusal %+v, want %d invalid header line", tc.line, ref, tc.status)
			}
			continue
		}
		if ref != nil {
			t.Errorf("%q: refused %+v", tc.line, ref)
			continue
		}
		got := "-"
		for _, l := range h.lines {
			if l.name != "Host" {
				got = l.value
			}
		}
		if got != tc.value {
			t.Errorf("%q: value %q, want %q", tc.line, got, tc.value)
		}
	}
}
