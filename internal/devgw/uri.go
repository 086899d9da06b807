package devgw

import (
	"strings"
)

// reservedURIChars are never percent-decoded by normalizePath (RFC 3986
// reserved set plus '%'), matching Kong's kong.tools.uri.
const reservedURIChars = "!*'();:@&=+$,/?%#[]"

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// normalizePath implements the normalisation of kong.request.get_path() and
// of the router: decode percent-encoded non-reserved bytes (reserved ones are
// upper-cased), remove dot segments and optionally merge duplicate slashes.
func normalizePath(uri string, mergeSlashes bool) string {
	if uri == "" || uri == "/" {
		return uri
	}
	if strings.IndexByte(uri, '%') >= 0 {
		var b strings.Builder
		for i := 0; i < len(uri); i++ {
			c := uri[i]
			if c == '%' && i+2 < len(uri) && isHex(uri[i+1]) && isHex(uri[i+2]) {
				v := unhex(uri[i+1])<<4 | unhex(uri[i+2])
				if strings.IndexByte(reservedURIChars, v) >= 0 {
					b.WriteByte('%')
					b.WriteString(strings.ToUpper(uri[i+1 : i+3]))
				} else {
					b.WriteByte(v)
				}
				i += 2
				continue
			}
			b.WriteByte(c)
		}
		uri = b.String()
	}
	if !strings.Contains(uri, ".") {
		if !mergeSlashes || !strings.Contains(uri, "//") {
			return uri
		}
	}
	var out []string
	for len(uri) > 0 {
		switch {
		case uri == "/.":
			uri = "/"
		case uri == "/..":
			uri = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case uri == "." || uri == "..":
			uri = ""
		case strings.HasPrefix(uri, "../"):
			uri = uri[3:]
		case strings.HasPrefix(uri, "./"):
			uri = uri[2:]
		case strings.HasPrefix(uri, "/./"):
			uri = uri[2:]
		case strings.HasPrefix(uri, "/../"):
			uri = uri[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case mergeSlashes && strings.HasPrefix(uri, "//"):
			uri = uri[1:]
		default:
			i := strings.IndexByte(uri[1:], '/')
			if i >= 0 {
				out = append(out, uri[:i+1])
				uri = uri[i+1:]
			} else {
				out = append(out, uri)
				uri = ""
			}
		}
	}
	return strings.Join(out, "")
}

// escapeURI percent-encodes every byte outside the set Kong leaves alone when
// building $upstream_uri (kong.tools.uri.escape).
func escapeURI(uri string) string {
	const keep = "!#$&'()*+,/:;=?@[]-_.~%"
	needs := false
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		if !(isAlnum(c) || strings.IndexByte(keep, c) >= 0) {
			needs = true
			break
		}
	}
	if !needs {
		return uri
	}
	var b strings.Builder
	const hexd = "0123456789ABCDEF"
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		if isAlnum(c) || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// sanitizeURIPostfix mirrors the router's handling of the part of the path
// that follows a stripped prefix.
func sanitizeURIPostfix(p string) string {
	switch {
	case p == "":
		return p
	case p == "." || p == "..":
		return ""
	case strings.HasPrefix(p, "./"):
		return p[2:]
	case strings.HasPrefix(p, "../"):
		return p[3:]
	}
	return p
}

// upstreamURIv0 computes the upstream path for path_handling "v0" (the
// default): base is the service path ("/" when unset), reqURI the
// normalised request path and postfix the part after the matched prefix.
func upstreamURIv0(stripPath bool, postfix, reqURI, base string) string {
	if strings.HasSuffix(base, "/") {
		if stripPath {
			if postfix == "" {
				if base == "/" {
					return "/"
				}
				if strings.HasSuffix(reqURI, "/") {
					return base
				}
				return base[:len(base)-1]
			}
			if strings.HasPrefix(postfix, "/") {
				return base[:len(base)-1] + postfix
			}
			return base + postfix
		}
		return base + strings.TrimPrefix(reqURI, "/")
	}
	if stripPath {
		if postfix == "" {
			if len(reqURI) > 1 && strings.HasSuffix(reqURI, "/") {
				return base + "/"
			}
			return base
		}
		if strings.HasPrefix(postfix, "/") {
			return base + postfix
		}
		return base + "/" + postfix
	}
	if reqURI == "/" {
		return base
	}
	return base + reqURI
}

// nginxURI approximates nginx's $uri: fully percent-decoded path with dot
// segments removed and slashes merged.
func nginxURI(rawPath string) string {
	var b strings.Builder
	for i := 0; i < len(rawPath); i++ {
		c := rawPath[i]
		if c == '%' && i+2 < len(rawPath) && isHex(rawPath[i+1]) && isHex(rawPath[i+2]) {
			b.WriteByte(unhex(rawPath[i+1])<<4 | unhex(rawPath[i+2]))
			i += 2
			continue
		}
		b.WriteByte(c)
	}
	s := b.String()
	// Remove dot segments / merge slashes without any further decoding.
	var out []string
	for _, seg := range strings.Split(s, "/") {
		switch seg {
		case "", ".":
			continue
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	res := "/" + strings.Join(out, "/")
	if strings.HasSuffix(s, "/") && res != "/" {
		res += "/"
	}
	return res
}
