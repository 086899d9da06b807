package config

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Auth methods (values of auth_methods).
const (
	MethodBearer            = "bearer"
	MethodIntrospection     = "introspection"
	MethodSession           = "session"
	MethodAuthorizationCode = "authorization_code"
)

// Unauthenticated actions (values of unauthenticated_action).
const (
	ActionAuto     = "auto"
	ActionRedirect = "redirect"
	ActionDeny     = "deny"
)

// Places a bearer token may come from (values of bearer_token_param_type).
const (
	ParamHeader = "header"
	ParamQuery  = "query"
	ParamCookie = "cookie"
)

// MinSecretLength is the shortest session_secret accepted.
const MinSecretLength = 32

// asymmetricAlgs are the JWS algorithms signing_algs may name. HMAC and none
// are absent on purpose: a public key must never serve as an HMAC secret.
var asymmetricAlgs = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// Claim is a claim path: each element is one level of nesting.
type Claim []string

// String renders the path with dots, for messages.
func (c Claim) String() string { return strings.Join(c, ".") }

// Requirement is one entry of groups_required or scopes_required: all of its
// words must be present.
type Requirement []string

// Rule is a claim with the entries of which at least one must hold.
// A rule with no entries always holds.
type Rule struct {
	Claim    Claim
	Required []Requirement
}

// HeaderClaim maps an upstream header to a claim path.
type HeaderClaim struct {
	Header string // canonical header name
	Claim  Claim
}

// Cookie holds the session cookie's attributes.
type Cookie struct {
	Name     string
	Path     string
	Domain   string
	Secure   bool
	HTTPOnly bool
	SameSite string // Lax, Strict or None
}

// Config is a validated configuration with every default applied.
type Config struct {
	Issuer          string
	Audiences       []string
	ClientID        string
	ClientSecret    string
	Methods         map[string]bool
	Scopes          []string
	RedirectURI     *url.URL
	Groups          Rule
	ScopesRule      Rule
	SigningAlgs     []string
	Leeway          time.Duration
	Unauthenticated string
	TokenParams     map[string]bool
	TokenCookieName string
	UpstreamHeaders []HeaderClaim
	HideCredentials bool
	RunOnPreflight  bool
	SessionSecrets  []string // the first seals, all open
	Cookie          Cookie
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	// SessionCookieMaxSize is session_cookie_max_size: the most bytes the
	// session's cookies may take in the Cookie line.
	SessionCookieMaxSize int
	RefreshTokens        bool
	LogoutPath           string
	LogoutRedirect       string
	SignedOutPath        string
	LoginTimeout         time.Duration
	SSLVerify            bool
	LogDenials           bool
	DebugHeader          bool
	Timeout              time.Duration
	JWKSMinRefresh       time.Duration
	IntrospectionTTL     time.Duration
	// IntrospectionMaxConcurrency and IntrospectionRateLimit cap the
	// issuer's introspection calls (per process; the strictest route wins).
	IntrospectionMaxConcurrency int
	IntrospectionRateLimit      int

	// SessionStorage is StorageCookie or StorageRedis; Redis is set for
	// StorageRedis.
	SessionStorage string
	Redis          Redis
	// BackchannelLogoutPath is where the IdP POSTs logout tokens ("": off).
	BackchannelLogoutPath string
	// UpstreamAccessToken and UpstreamIDToken name the upstream headers
	// that carry the verified or obtained tokens (zero: not forwarded).
	UpstreamAccessToken TokenHeader
	UpstreamIDToken     TokenHeader
	// Identity is what the plugin hands to Kong's identity model.
	Identity Identity
}

// Has reports whether auth method m is enabled.
func (c *Config) Has(m string) bool { return c.Methods[m] }

// TakesTokens reports whether the route accepts access tokens from the
// client (bearer JWTs or introspected tokens).
func (c *Config) TakesTokens() bool { return c.Has(MethodBearer) || c.Has(MethodIntrospection) }

// LoginEnabled reports whether unauthenticated browsers may be sent to login.
func (c *Config) LoginEnabled() bool {
	return c.Has(MethodAuthorizationCode) && c.Unauthenticated != ActionDeny
}

// Error lists every problem found in a configuration, each naming its
// kong.yml key.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "invalid okta-oidc config: " + strings.Join(e.Problems, "; ")
}

type checker struct{ problems []string }

func (c *checker) add(key, format string, args ...any) {
	c.problems = append(c.problems, key+": "+fmt.Sprintf(format, args...))
}

func str(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func boolean(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func list(v []string, def ...string) []string {
	if v == nil {
		return def
	}
	return v
}

// Parse applies defaults to raw and validates it. On failure the error is an
// *Error listing every problem, each prefixed with its kong.yml key.
func Parse(raw *Raw) (*Config, error) {
	if raw == nil {
		raw = &Raw{}
	}
	var ck checker
	c := &Config{
		Issuer:          strings.TrimSpace(str(raw.Issuer, "")),
		Audiences:       list(raw.AudienceRequired),
		ClientID:        str(raw.ClientID, ""),
		ClientSecret:    str(raw.ClientSecret, ""),
		Scopes:          list(raw.Scopes, "openid", "profile", "email"),
		SigningAlgs:     list(raw.SigningAlgs, "RS256"),
		Unauthenticated: str(raw.UnauthenticatedAction, ActionAuto),
		TokenCookieName: str(raw.BearerTokenCookieName, ""),
		HideCredentials: boolean(raw.HideCredentials, false),
		RunOnPreflight:  boolean(raw.RunOnPreflight, true),
		RefreshTokens:   boolean(raw.RefreshTokens, true),
		LogoutPath:      str(raw.LogoutPath, "/logout"),
		LogoutRedirect:  str(raw.LogoutRedirectURI, ""),
		SignedOutPath:   str(raw.SignedOutPath, ""),
		SSLVerify:       boolean(raw.SSLVerify, true),
		LogDenials:      boolean(raw.LogDenials, false),
		DebugHeader:     boolean(raw.DebugHeader, false),
		Cookie: Cookie{
			Name:     str(raw.SessionCookieName, "okta_session"),
			Path:     str(raw.SessionCookiePath, "/"),
			Domain:   str(raw.SessionCookieDomain, ""),
			Secure:   boolean(raw.SessionCookieSecure, true),
			HTTPOnly: boolean(raw.SessionCookieHTTPOnly, true),
			SameSite: str(raw.SessionCookieSameSite, "Lax"),
		},
	}

	c.checkIssuer(&ck)
	c.checkMethods(&ck, raw)
	c.checkClaims(&ck, raw)
	c.checkAlgs(&ck)
	c.checkTokenParams(&ck, raw)
	c.checkUpstreamHeaders(&ck, raw)
	c.checkDurations(&ck, raw)
	c.checkSession(&ck, raw)
	c.checkLogin(&ck, raw)
	c.checkStorage(&ck, raw)
	c.checkTokenHeaders(&ck, raw)
	c.checkIdentity(&ck, raw)

	switch c.Unauthenticated {
	case ActionAuto, ActionRedirect, ActionDeny:
	default:
		ck.add("unauthenticated_action", "%q is not one of auto, redirect, deny", c.Unauthenticated)
	}
	for i, a := range c.Audiences {
		if a == "" {
			ck.add("audience_required", "entry %d is empty", i+1)
		}
	}
	if len(ck.problems) > 0 {
		return nil, &Error{Problems: ck.problems}
	}
	return c, nil
}

func (c *Config) checkIssuer(ck *checker) {
	if c.Issuer == "" {
		ck.add("issuer", "required (e.g. https://dev-1.okta.com/oauth2/default)")
		return
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		ck.add("issuer", "%q is not an absolute URL without query or fragment", c.Issuer)
		return
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		ck.add("issuer", "%q must use https (or http for local testing)", c.Issuer)
	}
}

func (c *Config) checkMethods(ck *checker, raw *Raw) {
	methods := list(raw.AuthMethods, MethodBearer, MethodSession, MethodAuthorizationCode)
	if len(methods) == 0 {
		ck.add("auth_methods", "must name at least one of bearer, introspection, session, authorization_code")
	}
	c.Methods = map[string]bool{}
	for _, m := range methods {
		switch m {
		case MethodBearer, MethodIntrospection, MethodSession, MethodAuthorizationCode:
			c.Methods[m] = true
		default:
			ck.add("auth_methods", "%q is not one of bearer, introspection, session, authorization_code", m)
		}
	}
	if c.Has(MethodIntrospection) {
		if c.ClientID == "" {
			ck.add("client_id", "required when auth_methods has introspection")
		}
		if c.ClientSecret == "" {
			ck.add("client_secret", "required when auth_methods has introspection")
		}
	}
}

func parseRule(ck *checker, claimKey, reqKey string, claim, required []string) Rule {
	r := Rule{Claim: Claim(claim)}
	if len(claim) == 0 {
		ck.add(claimKey, "must name a claim")
	}
	for i, p := range claim {
		if p == "" {
			ck.add(claimKey, "element %d is empty", i+1)
		}
	}
	for i, entry := range required {
		words := strings.Fields(entry)
		if len(words) == 0 {
			ck.add(reqKey, "entry %d is empty", i+1)
			continue
		}
		r.Required = append(r.Required, Requirement(words))
	}
	return r
}

func (c *Config) checkClaims(ck *checker, raw *Raw) {
	c.Groups = parseRule(ck, "groups_claim", "groups_required", list(raw.GroupsClaim, "groups"), raw.GroupsRequired)
	c.ScopesRule = parseRule(ck, "scopes_claim", "scopes_required", list(raw.ScopesClaim, "scp"), raw.ScopesRequired)
}

func (c *Config) checkAlgs(ck *checker) {
	if len(c.SigningAlgs) == 0 {
		ck.add("signing_algs", "must name at least one algorithm")
	}
	for _, a := range c.SigningAlgs {
		if !slices.Contains(asymmetricAlgs, a) {
			ck.add("signing_algs", "%q is not accepted (one of %s; none and HMAC are never accepted)", a, strings.Join(asymmetricAlgs, ", "))
		}
	}
}

func (c *Config) checkTokenParams(ck *checker, raw *Raw) {
	params := list(raw.BearerTokenParamType, ParamHeader)
	c.TokenParams = map[string]bool{}
	if len(params) == 0 && c.TakesTokens() {
		ck.add("bearer_token_param_type", "must name at least one of header, query, cookie when auth_methods has bearer or introspection")
	}
	for _, p := range params {
		switch p {
		case ParamHeader, ParamQuery, ParamCookie:
			c.TokenParams[p] = true
		default:
			ck.add("bearer_token_param_type", "%q is not one of header, query, cookie", p)
		}
	}
	if c.TokenParams[ParamCookie] && c.TokenCookieName == "" {
		ck.add("bearer_token_cookie_name", "required when bearer_token_param_type has cookie")
	}
}

func (c *Config) checkUpstreamHeaders(ck *checker, raw *Raw) {
	headers := raw.UpstreamHeaders
	if headers == nil {
		headers = map[string]string{
			"X-Authenticated-Userid": "sub",
			"X-Authenticated-Groups": strings.Join(c.Groups.Claim, "."),
		}
	}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	seen := map[string]bool{}
	for _, name := range names {
		claim := headers[name]
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !validHeaderName(name):
			ck.add("upstream_headers", "%q is not a valid header name", name)
			continue
		case reservedHeader(canon):
			ck.add("upstream_headers", "%q cannot carry a claim", name)
			continue
		case seen[strings.ToLower(strings.ReplaceAll(canon, "_", "-"))]:
			// Upstreams built on CGI read X_A and X-A as one header.
			ck.add("upstream_headers", "%q is named twice (header names are case-insensitive, and _ and - are alike)", name)
			continue
		case claim == "" || slices.Contains(strings.Split(claim, "."), ""):
			ck.add("upstream_headers", "%q: claim path %q is empty or has an empty element", name, claim)
			continue
		}
		seen[strings.ToLower(strings.ReplaceAll(canon, "_", "-"))] = true
		c.UpstreamHeaders = append(c.UpstreamHeaders, HeaderClaim{Header: canon, Claim: strings.Split(claim, ".")})
	}
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		ok := b == '-' || b == '_' || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

func reservedHeader(canon string) bool {
	switch canon {
	case "Host", "Authorization", "Cookie", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection":
		return true
	}
	return false
}

func seconds(ck *checker, key string, p *int, def, min, max int) time.Duration {
	v := def
	if p != nil {
		v = *p
	}
	if v < min || v > max {
		ck.add(key, "%d is out of range %d..%d", v, min, max)
	}
	return time.Duration(v) * time.Second
}

func integer(ck *checker, key string, p *int, def, min, max int) int {
	v := def
	if p != nil {
		v = *p
	}
	if v < min || v > max {
		ck.add(key, "%d is out of range %d..%d", v, min, max)
	}
	return v
}

// timeoutSeconds reads a session timeout: there is no "never", so 0 and
// negative values are refused rather than read as "no timeout".
func timeoutSeconds(ck *checker, key string, p *int, def, max int) time.Duration {
	v := def
	if p != nil {
		v = *p
	}
	switch {
	case v < 1:
		ck.add(key, "%d is refused: a session timeout must be at least 1 second (0 would let sessions live forever)", v)
	case v > max:
		ck.add(key, "%d is out of range 1..%d", v, max)
	}
	return time.Duration(v) * time.Second
}

func (c *Config) checkDurations(ck *checker, raw *Raw) {
	c.Leeway = seconds(ck, "leeway", raw.Leeway, 30, 0, 600)
	// A 0 timeout would make sessions immortal: refused, as is any value
	// below 1 second.
	c.IdleTimeout = timeoutSeconds(ck, "session_idling_timeout", raw.SessionIdlingTimeout, 900, 7*24*3600)
	c.AbsoluteTimeout = timeoutSeconds(ck, "session_absolute_timeout", raw.SessionAbsoluteTimeout, 86400, 30*24*3600)
	c.LoginTimeout = seconds(ck, "login_timeout", raw.LoginTimeout, 600, 30, 3600)
	c.JWKSMinRefresh = seconds(ck, "jwks_min_refresh_interval", raw.JWKSMinRefresh, 30, 1, 3600)
	c.IntrospectionTTL = seconds(ck, "introspection_cache_ttl", raw.IntrospectionCacheTTL, 60, 0, 3600)
	c.IntrospectionMaxConcurrency = integer(ck, "introspection_max_concurrency", raw.IntrospectionMaxConcurrency, 10, 1, 1000)
	c.IntrospectionRateLimit = integer(ck, "introspection_rate_limit", raw.IntrospectionRateLimit, 25, 1, 10000)
	ms := 5000
	if raw.Timeout != nil {
		ms = *raw.Timeout
	}
	if ms < 100 || ms > 60000 {
		ck.add("timeout", "%d is out of range 100..60000 (milliseconds)", ms)
	}
	c.Timeout = time.Duration(ms) * time.Millisecond
}

func (c *Config) checkSession(ck *checker, raw *Raw) {
	if !c.Has(MethodSession) && !c.Has(MethodAuthorizationCode) {
		return
	}
	secret := str(raw.SessionSecret, "")
	switch {
	case secret == "":
		ck.add("session_secret", "required when auth_methods has session or authorization_code (the same value on every Kong node)")
	case len(secret) < MinSecretLength:
		ck.add("session_secret", "must be at least %d characters", MinSecretLength)
	}
	c.SessionSecrets = append([]string{secret}, raw.SessionSecretsPrevious...)
	for i, s := range raw.SessionSecretsPrevious {
		if len(s) < MinSecretLength {
			ck.add("session_secrets_previous", "entry %d must be at least %d characters", i+1, MinSecretLength)
		}
	}
	c.SessionCookieMaxSize = 6144
	if raw.SessionCookieMaxSize != nil {
		c.SessionCookieMaxSize = *raw.SessionCookieMaxSize
	}
	if c.SessionCookieMaxSize < 1024 || c.SessionCookieMaxSize > 30000 {
		ck.add("session_cookie_max_size", "%d is out of range 1024..30000 (bytes; nginx's large_client_header_buffers must hold it plus the other cookies)", c.SessionCookieMaxSize)
	}
	if !validHeaderName(c.Cookie.Name) {
		ck.add("session_cookie_name", "%q is not a valid cookie name", c.Cookie.Name)
	}
	if !strings.HasPrefix(c.Cookie.Path, "/") || strings.ContainsAny(c.Cookie.Path, ";, \t\r\n") {
		ck.add("session_cookie_path", "%q must be a path starting with /", c.Cookie.Path)
	}
	if strings.ContainsAny(c.Cookie.Domain, ";, \t\r\n/") {
		ck.add("session_cookie_domain", "%q is not a domain", c.Cookie.Domain)
	}
	switch c.Cookie.SameSite {
	case "Lax", "Strict":
	case "None":
		if !c.Cookie.Secure {
			ck.add("session_cookie_samesite", "None requires session_cookie_secure: true")
		}
	default:
		ck.add("session_cookie_samesite", "%q is not one of Lax, Strict, None", c.Cookie.SameSite)
	}
}

func (c *Config) checkLogin(ck *checker, raw *Raw) {
	if !c.Has(MethodAuthorizationCode) {
		if c.SignedOutPath != "" {
			ck.add("signed_out_path", "only served on a route whose auth_methods has authorization_code")
		}
		return
	}
	if p := c.SignedOutPath; p != "" && (!strings.HasPrefix(p, "/") || p == c.LogoutPath) {
		ck.add("signed_out_path", "%q must be a path starting with / other than logout_path", p)
	}
	if c.ClientID == "" {
		ck.add("client_id", "required when auth_methods has authorization_code")
	}
	if c.ClientSecret == "" {
		ck.add("client_secret", "required when auth_methods has authorization_code")
	}
	if !slices.Contains(c.Scopes, "openid") {
		ck.add("scopes", "must include openid when auth_methods has authorization_code")
	}
	ru := str(raw.RedirectURI, "")
	if ru == "" {
		ck.add("redirect_uri", "required when auth_methods has authorization_code (the gateway callback URL registered in Okta)")
	} else if u, err := url.Parse(ru); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		ck.add("redirect_uri", "%q is not an absolute http(s) URL", ru)
	} else {
		if u.Path == "" {
			u.Path = "/"
		}
		c.RedirectURI = u
		if u.Path == c.LogoutPath {
			ck.add("logout_path", "%q is the redirect_uri path", c.LogoutPath)
		}
		if u.Path == c.SignedOutPath {
			ck.add("signed_out_path", "%q is the redirect_uri path", c.SignedOutPath)
		}
	}
	if !strings.HasPrefix(c.LogoutPath, "/") {
		ck.add("logout_path", "%q must start with /", c.LogoutPath)
	}
	if c.LogoutRedirect != "" {
		if u, err := url.Parse(c.LogoutRedirect); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			ck.add("logout_redirect_uri", "%q is not an absolute http(s) URL", c.LogoutRedirect)
		}
	}
}

// Problems returns the list of problems in err, or nil if err is not an
// *Error.
func Problems(err error) []string {
	var e *Error
	if errors.As(err, &e) {
		return e.Problems
	}
	return nil
}
