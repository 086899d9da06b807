package session

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseCookieHeader parses one or more Cookie request header values
// (RFC 6265 section 5.4: "name=value; name2=value2") into a map. Pairs whose
// name is not an RFC 7230 token or whose value holds bytes outside RFC 6265's
// cookie-octet range (after removing one pair of surrounding double quotes)
// are skipped. On duplicate names the first wins: browsers send cookies with
// the longest (most specific) Path first. It never panics.
func ParseCookieHeader(headers []string) map[string]string {
	jar := make(map[string]string)
	for _, h := range headers {
		for part := range strings.SplitSeq(h, ";") {
			part = strings.Trim(part, " \t")
			name, value, ok := strings.Cut(part, "=")
			if !ok {
				continue
			}
			name = strings.Trim(name, " \t")
			value = strings.Trim(value, " \t")
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if !isToken(name) || !isCookieValue(value) {
				continue
			}
			if _, dup := jar[name]; !dup {
				jar[name] = value
			}
		}
	}
	return jar
}

// isToken reports whether s is a non-empty RFC 7230 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// isCookieValue reports whether every byte of s is an RFC 6265 cookie-octet.
func isCookieValue(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= 0x20 || b >= 0x7f || b == '"' || b == ',' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}

// ValidName reports whether name can be used as a cookie name (an RFC 7230
// token), e.g. to check session_cookie_name.
func ValidName(name string) bool { return isToken(name) }

// Attributes are the Set-Cookie attributes shared by the gateway's cookies.
type Attributes struct {
	Path, Domain string
	Secure       bool
	HTTPOnly     bool
	// SameSite is "", "Lax", "Strict" or "None" (any case); "" omits the
	// attribute (browsers then apply Lax). "None" requires Secure.
	SameSite string
}

// Validate reports every problem with a, each naming its kong.yml key.
func (a Attributes) Validate() error {
	var errs []error
	if a.Path != "" && (a.Path[0] != '/' || !isAttrValue(a.Path)) {
		errs = append(errs, fmt.Errorf("session_cookie_path: %q must start with / and hold no control character or ;", a.Path))
	}
	if a.Domain != "" && !isAttrValue(a.Domain) {
		errs = append(errs, fmt.Errorf("session_cookie_domain: %q must hold no control character or ;", a.Domain))
	}
	switch ss := canonicalSameSite(a.SameSite); {
	case ss == "" && a.SameSite != "":
		errs = append(errs, fmt.Errorf("session_cookie_samesite: %q must be one of Lax, Strict, None", a.SameSite))
	case ss == "None" && !a.Secure:
		errs = append(errs, errors.New("session_cookie_samesite: None requires Secure cookies (session_cookie_secure: true)"))
	}
	return errors.Join(errs...)
}

func canonicalSameSite(s string) string {
	switch strings.ToLower(s) {
	case "lax":
		return "Lax"
	case "strict":
		return "Strict"
	case "none":
		return "None"
	}
	return ""
}

// isAttrValue reports whether s can appear as a Set-Cookie attribute value.
func isAttrValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == 0x7f || b == ';' {
			return false
		}
	}
	return true
}

// SetCookie returns a Set-Cookie header value. maxAge > 0 sets Max-Age;
// maxAge == 0 makes a browser-session cookie; maxAge < 0 makes a deletion
// cookie (empty value, Max-Age=0 and an Expires in the past). name and value
// must be valid (ValidName; values from the Codec are); attributes that fail
// Attributes.Validate are left out, never written half-way, so call Validate
// when loading the config.
func SetCookie(name, value string, attrs Attributes, maxAge int) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('=')
	if maxAge >= 0 {
		b.WriteString(value)
	}
	if attrs.Path != "" && attrs.Path[0] == '/' && isAttrValue(attrs.Path) {
		b.WriteString("; Path=")
		b.WriteString(attrs.Path)
	}
	if attrs.Domain != "" && isAttrValue(attrs.Domain) {
		b.WriteString("; Domain=")
		b.WriteString(attrs.Domain)
	}
	switch {
	case maxAge > 0:
		b.WriteString("; Max-Age=")
		b.WriteString(strconv.Itoa(maxAge))
	case maxAge < 0:
		b.WriteString("; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
	}
	if attrs.Secure {
		b.WriteString("; Secure")
	}
	if attrs.HTTPOnly {
		b.WriteString("; HttpOnly")
	}
	if ss := canonicalSameSite(attrs.SameSite); ss != "" && (ss != "None" || attrs.Secure) {
		b.WriteString("; SameSite=")
		b.WriteString(ss)
	}
	return b.String()
}
