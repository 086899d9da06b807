package devgw

import (
	"sort"
	"strings"
)

// routeCandidate is one (route, path) pair: like Kong's compatible router,
// a route with several paths is split so each path gets its own priority.
type routeCandidate struct {
	route     *Route
	path      string // "" when the route has no paths
	weight    int
	plainHost bool
	headers   int
	pathLen   int
}

type router struct {
	cands []routeCandidate
}

// buildRouter orders candidates like Kong's traditional_compatible flavor:
// more matching attributes first, then plain hosts, header count, longer
// path, then declaration order.
func buildRouter(routes []*Route) *router {
	rt := &router{}
	for _, r := range routes {
		if r.Service != nil && !r.Service.Enabled {
			continue
		}
		w := 0
		if len(r.Methods) > 0 {
			w++
		}
		if len(r.Hosts) > 0 {
			w++
		}
		if len(r.Headers) > 0 {
			w++
		}
		if len(r.Paths) > 0 {
			w++
		}
		plain := len(r.Hosts) > 0
		for _, h := range r.Hosts {
			if strings.Contains(h, "*") {
				plain = false
			}
		}
		base := routeCandidate{route: r, weight: w, plainHost: plain, headers: len(r.Headers)}
		if len(r.Paths) == 0 {
			rt.cands = append(rt.cands, base)
			continue
		}
		for _, p := range r.Paths {
			c := base
			c.path, c.pathLen = p, len(p)
			rt.cands = append(rt.cands, c)
		}
	}
	sort.SliceStable(rt.cands, func(i, j int) bool {
		a, b := rt.cands[i], rt.cands[j]
		if a.weight != b.weight {
			return a.weight > b.weight
		}
		if a.plainHost != b.plainHost {
			return a.plainHost
		}
		if a.headers != b.headers {
			return a.headers > b.headers
		}
		if a.pathLen != b.pathLen {
			return a.pathLen > b.pathLen
		}
		return a.route.index < b.route.index
	})
	return rt
}

type routeMatch struct {
	route       *Route
	path        string // matched path ("" when none)
	upstreamURI string // before escaping
	prefix      string // stripped prefix ("" when nothing was stripped)
}

// match finds the route for a request. host is $host (no port), port the
// listening port, reqPath the normalised request path.
func (rt *router) match(method, host string, port int, reqPath string, hdrs *headerList) *routeMatch {
	for _, c := range rt.cands {
		r := c.route
		if len(r.Methods) > 0 && !containsStr(r.Methods, method) {
			continue
		}
		if len(r.Hosts) > 0 && !hostMatches(r.Hosts, host, port) {
			continue
		}
		if len(r.Headers) > 0 && !headersMatch(r.Headers, hdrs) {
			continue
		}
		if c.path != "" && !strings.HasPrefix(reqPath, c.path) {
			continue
		}
		m := &routeMatch{route: r, path: c.path}
		base := "/"
		if r.Service != nil && r.Service.Path != "" {
			base = r.Service.Path
		}
		postfix := ""
		if r.StripPath && c.path != "" {
			postfix = sanitizeURIPostfix(reqPath[len(c.path):])
			m.prefix = c.path
		}
		m.upstreamURI = upstreamURIv0(r.StripPath, postfix, reqPath, base)
		return m
	}
	return nil
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hostMatches(hosts []string, host string, port int) bool {
	hostPort := host + ":" + itoa(port)
	for _, h := range hosts {
		target := host
		if strings.Contains(h, ":") {
			target = hostPort
		}
		switch {
		case strings.HasPrefix(h, "*."):
			if strings.HasSuffix(target, h[1:]) && len(target) > len(h)-1 {
				return true
			}
		case strings.HasSuffix(h, ".*"):
			if strings.HasPrefix(target, h[:len(h)-1]) && len(target) > len(h)-1 {
				return true
			}
		case h == target:
			return true
		}
	}
	return false
}

func headersMatch(want map[string][]string, hdrs *headerList) bool {
	for name, vals := range want {
		got := hdrs.values(name)
		ok := false
		for _, g := range got {
			for _, v := range vals {
				if strings.EqualFold(g, v) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
