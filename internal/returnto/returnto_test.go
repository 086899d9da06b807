package returnto

import (
	"bufio"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
)

const gwHost = "gw.example"

// readCorpus reads testdata/openredirects.txt: one attack per line; a line
// starting with a double quote is a Go string literal (for control bytes,
// invalid UTF-8 and the empty string), any other line is taken literally.
func readCorpus(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("testdata/openredirects.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, `"`) {
			if line, err = strconv.Unquote(line); err != nil {
				t.Fatalf("openredirects.txt:%d: %v", n, err)
			}
		} else if line == "" {
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func home() *url.URL { return &url.URL{Scheme: "https", Host: gwHost, Path: "/"} }

// browserNormalize rewrites ref roughly as a browser (WHATWG URL parser)
// reads a Location header: leading and trailing C0 controls and spaces are
// stripped, tabs and newlines removed anywhere, and "\" read as "/".
func browserNormalize(ref string) string {
	ref = strings.TrimFunc(ref, func(r rune) bool { return r <= 0x20 })
	return strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(ref)
}

// staysHome reports whether following ref from https://gw.example/ stays on
// the gateway with a path that cannot read as an authority, both as net/url
// and as a browser would read it.
func staysHome(ref string) bool {
	for _, r := range []string{ref, browserNormalize(ref)} {
		u, err := url.Parse(r)
		if err != nil {
			return false
		}
		if res := home().ResolveReference(u); res.Scheme != "https" || res.Host != gwHost || strings.HasPrefix(res.EscapedPath(), "//") {
			return false
		}
		// net/url removes dot segments unlike browsers: "/a/..//b" is "//b" there.
		p, _, _ := strings.Cut(r, "#")
		p, _, _ = strings.Cut(p, "?")
		if strings.HasPrefix(p, "/") && strings.HasPrefix(removeDotSegments(p), "//") {
			return false
		}
	}
	return true
}

// Expected values follow the WHATWG URL Standard's path state; check them in
// a browser console with new URL(path, "https://gw.example").pathname.
func TestRemoveDotSegments(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/..", "/"},
		{"/a/..", "/"},
		{"/a/.", "/a/"},
		{"/../../a", "/a"},
		{"/..//b", "//b"},
		{"/a/..//b", "//b"},
		{"/.//b", "//b"},
		{"/%2e%2e//b", "//b"},
		{"/%2E/%2e%2E/x", "/x"},
		{"/.%2e/x", "/x"},
		{"/a/...", "/a/..."},
		{"/a//b", "/a//b"},
	}
	for _, tt := range tests {
		if got := removeDotSegments(tt.in); got != tt.want {
			t.Errorf("removeDotSegments(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestOpenRedirectCorpus(t *testing.T) {
	attacks := readCorpus(t)
	if len(attacks) < 40 {
		t.Fatalf("corpus has %d attacks; want at least 40", len(attacks))
	}
	escaping := 0
	for _, a := range attacks {
		if !staysHome(a) {
			escaping++
		}
		t.Run(strconv.Quote(a), func(t *testing.T) {
			got := Sanitize(a)
			if got != Fallback {
				t.Errorf("Sanitize(%q) = %q; want %q", a, got, Fallback)
			}
			if !staysHome(got) {
				t.Errorf("Sanitize(%q) = %q leaves %s", a, got, gwHost)
			}
		})
	}
	// The corpus is worth something: most entries, unsanitized, would leave
	// the gateway or fail to parse.
	if escaping < len(attacks)/3 {
		t.Errorf("only %d of %d attacks would escape unsanitized", escaping, len(attacks))
	}
}

func TestSanitizeLongInputs(t *testing.T) {
	ok := "/" + strings.Repeat("a", MaxLen-1)
	if got := Sanitize(ok); got != ok {
		t.Errorf("Sanitize(%d bytes) changed it", len(ok))
	}
	if got := Sanitize(ok + "a"); got != Fallback {
		t.Errorf("Sanitize(%d bytes) = %.20q...; want %q", len(ok)+1, got, Fallback)
	}
	// Within MaxLen raw but beyond it once percent-encoded.
	if got := Sanitize("/" + strings.Repeat("\u00e9", 1000)); got != Fallback {
		t.Errorf("Sanitize(1000 x é) = %.20q...; want %q", got, Fallback)
	}
}

func TestSanitizeAccepted(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/app", "/app"},
		{"/app/", "/app/"},
		{"/app?x=1&y=2", "/app?x=1&y=2"},
		{"/app?", "/app?"},
		{"/?x", "/?x"},
		{"/app/a%20b", "/app/a%20b"},
		{"/a/b/c.html?q=hello%20world&next=%2F%2Fevil", "/a/b/c.html?q=hello%20world&next=%2F%2Fevil"},
		{"/app?next=https://evil.example", "/app?next=https://evil.example"},
		{"/app;jsessionid=1", "/app;jsessionid=1"},
		{"/@user", "/@user"},
		{"/a//b", "/a//b"},
		{"/a/./b/../c", "/a/./b/../c"},
		{"/a%2Fb", "/a%2Fb"},
		{"/%7Euser/", "/%7Euser/"},
		{"/~user/", "/~user/"},
		{"/a:b", "/a:b"},
		{"/app?q=a+b&r=%3D", "/app?q=a+b&r=%3D"},
		{"/..", "/.."},
		{"/path.with.dots/file.tar.gz", "/path.with.dots/file.tar.gz"},
		// Changed but kept:
		{"/path#frag", "/path"},
		{"/path?x=1#//evil.example", "/path?x=1"},
		{"/#", "/"},
		{"/caf\u00e9?q=\u00fc", "/caf%C3%A9?q=%C3%BC"},
		{"/\u65e5\u672c", "/%E6%97%A5%E6%9C%AC"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Sanitize(tt.in)
			if got != tt.want {
				t.Fatalf("Sanitize(%q) = %q; want %q", tt.in, got, tt.want)
			}
			if !staysHome(got) {
				t.Fatalf("Sanitize(%q) = %q leaves %s", tt.in, got, gwHost)
			}
			if again := Sanitize(got); again != got {
				t.Fatalf("Sanitize not idempotent: %q -> %q", got, again)
			}
		})
	}
}

func FuzzSanitize(f *testing.F) {
	for _, a := range readCorpus(f) {
		f.Add(a)
	}
	for _, s := range []string{"/", "/app?x=1", "/caf\u00e9", "/a%2Fb#c", "/%2e%2e/%2f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := Sanitize(raw)
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, `/\`) {
			t.Fatalf("Sanitize(%q) = %q: not a rooted path", raw, got)
		}
		if len(got) > MaxLen {
			t.Fatalf("Sanitize(%q) is %d bytes", raw, len(got))
		}
		for i := 0; i < len(got); i++ {
			if b := got[i]; b <= 0x20 || b >= 0x7f || b == '\\' || b == '#' {
				t.Fatalf("Sanitize(%q) = %q holds byte %#x", raw, got, b)
			}
		}
		if !staysHome(got) {
			t.Fatalf("Sanitize(%q) = %q leaves %s", raw, got, gwHost)
		}
		if again := Sanitize(got); again != got {
			t.Fatalf("Sanitize not idempotent: %q -> %q -> %q", raw, got, again)
		}
	})
}
