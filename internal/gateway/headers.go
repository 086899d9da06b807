package gateway

import (
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// Header names: how the plugin reads them and which spellings it clears.
//
// Kong's nginx runs with underscores_in_headers on, so a client may send
// X_Authenticated_Userid next to (or instead of) X-Authenticated-Userid; both
// reach the plugin and the upstream, and CGI, WSGI and PHP upstreams read
// both as HTTP_X_AUTHENTICATED_USERID. kong.service.request.set_headers
// replaces only names equal to the given one (case aside), so the plugin
// must name every spelling the client sent to clear it.
//
// Reading folds case and "_" into "-" on purpose, like Kong's own
// kong.request.get_header and like those upstreams: every spelling of a
// header is one header to the plugin, its values merged. So a credential sent
// twice under two spellings is a repeated header (refused), never a second
// source the plugin cannot see or one it ignores while the upstream reads it.

// consumerHeaders are the headers Kong's auth plugins set for a consumer.
// A client-sent copy is always cleared; with a mapped consumer the plugin
// sets its own values in the same call.
var consumerHeaders = []string{
	"X-Consumer-ID", "X-Consumer-Custom-ID", "X-Consumer-Username",
	"X-Credential-Identifier", "X-Anonymous-Consumer",
}

// foldName is a header name with case and the "_"/"-" difference removed.
func foldName(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// NewRequest builds a Request from the headers kong.request.get_headers
// returned (keys lower-case, as the client spelt them). Header folds every
// spelling of a name into its canonical "-" form, values of different
// spellings merged in the order of their sorted raw names; Names keeps the
// raw names so that a pass can clear each of them.
func NewRequest(raw map[string][]string, method, target func() (string, error)) *Request {
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	slices.Sort(names)
	h := make(http.Header, len(raw))
	for _, k := range names {
		ck := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(k, "_", "-"))
		if prev, ok := h[ck]; ok {
			h[ck] = append(prev, raw[k]...) // a copy: the cap below is full
		} else {
			h[ck] = slices.Clip(raw[k]) // shared, not copied: Header is only read
		}
	}
	return &Request{Header: h, Names: names, Method: method, Target: target}
}

// managedNames maps the folded name of every header the plugin owns on the
// upstream request (upstream_headers and Kong's consumer headers) to true.
func managedNames(upstream []string) map[string]bool {
	m := make(map[string]bool, len(upstream)+len(consumerHeaders))
	for _, n := range upstream {
		m[foldName(n)] = true
	}
	for _, n := range consumerHeaders {
		m[foldName(n)] = true
	}
	return m
}

// clearSpellings adds to up an empty list (a clear) for every header name the
// client sent whose folded form is managed, unless up already names it (case
// aside): set_headers must never get two names for one nginx header, whose
// order Lua's pairs would decide.
//
// It looks at the header names of r as sent (Names), then at the keys of
// Header (all a request built without NewRequest has).
func (e *Engine) clearSpellings(up map[string][]string, r *Request) {
	for _, n := range r.Names {
		e.clearSpelling(up, n)
	}
	for n := range r.Header {
		e.clearSpelling(up, n)
	}
}

func (e *Engine) clearSpelling(up map[string][]string, n string) {
	if !e.isManaged(n) || hasNameFold(up, n) {
		return
	}
	up[n] = []string{}
}

// isManaged reports whether e.managed holds foldName(name). It folds ASCII
// names on the stack (it runs for every header of every request); any other
// name goes through foldName itself.
func (e *Engine) isManaged(name string) bool {
	var buf [64]byte
	if len(name) > len(buf) {
		return e.managed[foldName(name)]
	}
	b := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 0x80:
			return e.managed[foldName(name)]
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		b[i] = c
	}
	return e.managed[string(b)]
}

func hasNameFold(up map[string][]string, name string) bool {
	for k := range up {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// HeaderLines counts the header lines in what kong.request.get_headers
// returned: a repeated header is one line per value.
func HeaderLines(raw map[string][]string) int {
	n := 0
	for _, v := range raw {
		n += max(len(v), 1)
	}
	return n
}

// TooManyHeaders is the answer when kong.request.get_headers came back full:
// Kong silently drops the lines past its max, so a second Authorization (or
// another spelling of an identity header) may hide there. The request is
// refused with a fixed 400 rather than decided on a partial view.
func TooManyHeaders(lines, max int) Decision {
	return badRequest(fmt.Errorf("the request has at least %d header lines, the most the plugin reads is %d", lines, max-1))
}
