// Package returnto sanitizes the address a browser is sent back to after
// login, so that the login flow can never be turned into an open redirect.
//
// Only a same-origin relative reference survives: a path starting with a
// single "/", with an optional query. Everything else becomes "/". The rules
// are deliberately stricter than RFC 3986: browsers (WHATWG URL parsing)
// strip tabs and newlines, treat "\" as "/" and decode some escapes, so any
// input a browser might read differently from net/url is refused rather than
// repaired.
package returnto

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen is the longest return target kept, in bytes, before and after
// percent-encoding non-ASCII characters.
const MaxLen = 2048

// Fallback is what every refused input becomes.
const Fallback = "/"

// maxDecodeRounds is how many layers of percent-encoding a path may have.
const maxDecodeRounds = 4

// origin stands in for the gateway's origin when checking how the result
// resolves; any host works, only "does the host change" is asked.
func origin() *url.URL { return &url.URL{Scheme: "https", Host: "gw.example", Path: "/"} }

// Sanitize returns raw if it is a safe same-origin path (with query; the
// fragment is dropped and non-ASCII characters are percent-encoded), else
// Fallback ("/"). It refuses: absolute and scheme-relative URLs ("//host",
// "/\host"), anything not starting with "/", backslashes, whitespace and
// control or format characters anywhere (also percent-encoded, in the path),
// paths whose first segment is empty once decoded or once dot segments are
// removed ("/%2f%2fhost", "/..//host"), the characters " < > `, invalid UTF-8,
// invalid percent-encoding, and inputs longer than MaxLen.
func Sanitize(raw string) string {
	if raw == "" || len(raw) > MaxLen || !utf8.ValidString(raw) {
		return Fallback
	}
	for _, r := range raw {
		if !allowedRune(r) {
			return Fallback
		}
	}
	s, _, _ := strings.Cut(raw, "#")
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || !validEscapes(s) {
		return Fallback
	}
	s = escapeNonASCII(s)
	if len(s) > MaxLen {
		return Fallback
	}
	// Check every layer of percent-decoding, for servers or proxies that
	// decode more than once; refuse inputs with too many layers.
	p, _, _ := strings.Cut(s, "?")
	for round := 0; ; round++ {
		if !safePath(p) {
			return Fallback
		}
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			break
		}
		if round == maxDecodeRounds {
			return Fallback
		}
		p = d
	}
	// Belt and braces: net/url must see a bare path on our host.
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Opaque != "" || u.User != nil || u.Host != "" {
		return Fallback
	}
	if r := origin().ResolveReference(u); r.Host != origin().Host || strings.HasPrefix(r.EscapedPath(), "//") {
		return Fallback
	}
	return s
}

// allowedRune refuses whitespace, control and format (invisible, bidi)
// characters, backslashes, and characters that matter in HTML.
func allowedRune(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f:
		return false
	case r == '\\' || r == '"' || r == '<' || r == '>' || r == '`':
		return false
	case r < utf8.RuneSelf:
		return r != ' '
	case unicode.IsSpace(r) || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs):
		return false
	case r == utf8.RuneError:
		return false
	}
	return true
}

// validEscapes reports whether every "%" starts a two-hex-digit escape.
func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isHex(b byte) bool { return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F' }

// safePath checks one decoding layer of the path: no backslash or control
// character, and neither the path nor the path with dot segments removed (as
// a browser removes them, "%2e" included) starts with an empty segment, which
// would read as an authority.
func safePath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; b < 0x20 || b == 0x7f || b == '\\' {
			return false
		}
	}
	return !strings.HasPrefix(removeDotSegments(p), "//")
}

// removeDotSegments follows the WHATWG URL path parser, which differs from
// net/url (and RFC 3986) on inputs such as "/a/..//b": the browser keeps the
// empty segment and gets "//b".
func removeDotSegments(p string) string {
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	for i, seg := range segs {
		last := i == len(segs)-1
		switch strings.ToLower(seg) {
		case ".", "%2e":
			if last {
				out = append(out, "")
			}
		case "..", ".%2e", "%2e.", "%2e%2e":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}

// escapeNonASCII percent-encodes every byte outside ASCII.
func escapeNonASCII(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}
