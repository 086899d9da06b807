package session

import (
	"maps"
	"net/http"
	"strings"
	"testing"
)

func TestParseCookieHeader(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    map[string]string
	}{
		{"nil", nil, map[string]string{}},
		{"empty", []string{""}, map[string]string{}},
		{"separators only", []string{";; ; ;"}, map[string]string{}},
		{"two", []string{"a=1; b=2"}, map[string]string{"a": "1", "b": "2"}},
		{"no space", []string{"a=1;b=2;"}, map[string]string{"a": "1", "b": "2"}},
		{"extra whitespace", []string{"  a = 1 ;\tb=2\t"}, map[string]string{"a": "1", "b": "2"}},
		{"several headers", []string{"a=1", "b=2; c=3"}, map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"duplicate keeps first", []string{"s=first; s=second"}, map[string]string{"s": "first"}},
		{"duplicate across headers keeps first", []string{"s=first", "s=second"}, map[string]string{"s": "first"}},
		{"invalid first does not shadow", []string{"s=bad value; s=good"}, map[string]string{"s": "good"}},
		{"empty value", []string{"a="}, map[string]string{"a": ""}},
		{"equals in value", []string{"a=b=c"}, map[string]string{"a": "b=c"}},
		{"quoted value", []string{`a="xyz"`}, map[string]string{"a": "xyz"}},
		{"empty quoted value", []string{`a=""`}, map[string]string{"a": ""}},
		{"lone quote", []string{`a="; b=2`}, map[string]string{"b": "2"}},
		{"quote inside", []string{`a=x"y; b=2`}, map[string]string{"b": "2"}},
		{"no equals", []string{"flag; a=1"}, map[string]string{"a": "1"}},
		{"empty name", []string{"=x; a=1"}, map[string]string{"a": "1"}},
		{"space in name", []string{"a b=1; c=2"}, map[string]string{"c": "2"}},
		{"separator in name", []string{"a(b)=1; a@b=2; a/b=3; ok=4"}, map[string]string{"ok": "4"}},
		{"space in value", []string{"a=x y; c=2"}, map[string]string{"c": "2"}},
		{"comma in value", []string{"a=x,y; c=2"}, map[string]string{"c": "2"}},
		{"backslash in value", []string{`a=x\y; c=2`}, map[string]string{"c": "2"}},
		{"control in value", []string{"a=x\x01y; c=2"}, map[string]string{"c": "2"}},
		{"NUL in name", []string{"a\x00=1; c=2"}, map[string]string{"c": "2"}},
		{"newline", []string{"a=1\r\nb=2; c=3"}, map[string]string{"c": "3"}},
		{"non-ASCII value", []string{"a=\u00e9; c=2"}, map[string]string{"c": "2"}},
		{"invalid UTF-8", []string{"a=\xff; \xfe=1; c=2"}, map[string]string{"c": "2"}},
		{"token punctuation", []string{"a!#$%&'*+-.^_`|~=v"}, map[string]string{"a!#$%&'*+-.^_`|~": "v"}},
		{"base64url value", []string{"okta_session=AQ-_zz09"}, map[string]string{"okta_session": "AQ-_zz09"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseCookieHeader(tt.headers)
			if got == nil || !maps.Equal(got, tt.want) {
				t.Fatalf("ParseCookieHeader(%q) = %q; want %q", tt.headers, got, tt.want)
			}
		})
	}
}

// The parser agrees with net/http on well-formed headers.
func TestParseCookieHeaderMatchesNetHTTP(t *testing.T) {
	for _, h := range []string{"a=1; b=2", `a="q"; b=`, "x=AQ-_; y=z=z", "okta_session_1=abc; okta_session_2=def"} {
		want := map[string]string{}
		for _, c := range (&http.Request{Header: http.Header{"Cookie": {h}}}).Cookies() {
			if _, ok := want[c.Name]; !ok {
				want[c.Name] = c.Value
			}
		}
		if got := ParseCookieHeader([]string{h}); !maps.Equal(got, want) {
			t.Errorf("ParseCookieHeader(%q) = %q; net/http %q", h, got, want)
		}
	}
}

func TestSetCookie(t *testing.T) {
	all := Attributes{Path: "/", Domain: "gw.example", Secure: true, HTTPOnly: true, SameSite: "lax"}
	tests := []struct {
		name   string
		value  string
		attrs  Attributes
		maxAge int
		want   string
	}{
		{"bare session cookie", "v", Attributes{}, 0, "s=v"},
		{"all attributes", "v", all, 3600, "s=v; Path=/; Domain=gw.example; Max-Age=3600; Secure; HttpOnly; SameSite=Lax"},
		{"deletion", "ignored", all, -1, "s=; Path=/; Domain=gw.example; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Lax"},
		{"strict", "v", Attributes{Path: "/app", SameSite: "Strict", HTTPOnly: true}, 0, "s=v; Path=/app; HttpOnly; SameSite=Strict"},
		{"none with secure", "v", Attributes{Secure: true, SameSite: "NONE"}, 0, "s=v; Secure; SameSite=None"},
		{"none without secure is left out", "v", Attributes{SameSite: "None"}, 0, "s=v"},
		{"unknown samesite is left out", "v", Attributes{SameSite: "Loose"}, 0, "s=v"},
		{"attribute injection in path is left out", "v", Attributes{Path: "/; Domain=evil.example", Secure: true}, 0, "s=v; Secure"},
		{"relative path is left out", "v", Attributes{Path: "app"}, 0, "s=v"},
		{"control char in domain is left out", "v", Attributes{Domain: "a\r\nSet-Cookie: x=y"}, 0, "s=v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SetCookie("s", tt.value, tt.attrs, tt.maxAge); got != tt.want {
				t.Fatalf("SetCookie =\n %q; want\n %q", got, tt.want)
			}
		})
	}
	// net/http reads back what we write.
	resp := http.Response{Header: http.Header{"Set-Cookie": {SetCookie("okta_session", "AQ-_", all, 60)}}}
	cs := resp.Cookies()
	if len(cs) != 1 || cs[0].Name != "okta_session" || cs[0].Value != "AQ-_" || cs[0].MaxAge != 60 || !cs[0].Secure || !cs[0].HttpOnly ||
		cs[0].SameSite != http.SameSiteLaxMode || cs[0].Path != "/" || cs[0].Domain != "gw.example" {
		t.Fatalf("net/http parsed %+v", cs)
	}
	resp.Header.Set("Set-Cookie", SetCookie("okta_session", "x", all, -1))
	if cs := resp.Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Fatalf("deletion cookie parsed as %+v; want MaxAge < 0", cs)
	}
}

func TestAttributesValidate(t *testing.T) {
	tests := []struct {
		name  string
		attrs Attributes
		want  []string // substrings; none means valid
	}{
		{"zero", Attributes{}, nil},
		{"typical", Attributes{Path: "/", Secure: true, HTTPOnly: true, SameSite: "Lax"}, nil},
		{"lower-case samesite", Attributes{SameSite: "strict"}, nil},
		{"none with secure", Attributes{Secure: true, SameSite: "None"}, nil},
		{"none without secure", Attributes{SameSite: "None"}, []string{"session_cookie_samesite", "Secure"}},
		{"unknown samesite", Attributes{SameSite: "Loose"}, []string{"session_cookie_samesite", "Loose"}},
		{"relative path", Attributes{Path: "app"}, []string{"session_cookie_path"}},
		{"path injection", Attributes{Path: "/;Domain=x"}, []string{"session_cookie_path"}},
		{"domain injection", Attributes{Domain: "a;b"}, []string{"session_cookie_domain"}},
		{"every problem", Attributes{Path: "x", Domain: "\n", SameSite: "None"}, []string{"session_cookie_path", "session_cookie_domain", "session_cookie_samesite"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.attrs.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v; want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil; want errors naming %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestValidName(t *testing.T) {
	for n, want := range map[string]bool{"okta_session": true, "__Host-s": true, "": false, "a b": false, "a=b": false, "a;b": false, "é": false} {
		if got := ValidName(n); got != want {
			t.Errorf("ValidName(%q) = %v; want %v", n, got, want)
		}
	}
}
