package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/consumer"
	"github.com/okta-oidc/okta-oidc/internal/introspect"
	"github.com/okta-oidc/okta-oidc/internal/issuer"
	"github.com/okta-oidc/okta-oidc/internal/metrics"
	"github.com/okta-oidc/okta-oidc/internal/policy"
	"github.com/okta-oidc/okta-oidc/internal/session"
	"github.com/okta-oidc/okta-oidc/internal/sessionstore"
	"github.com/okta-oidc/okta-oidc/internal/token"
)

// Deps are the engine's collaborators; zero values get process defaults.
type Deps struct {
	Issuer *issuer.Issuer   // default: issuer.Shared for the config
	Cache  *token.Cache     // default: the process-wide verified-token cache
	Client *http.Client     // for the token endpoint; default: the issuer's settings
	Now    func() time.Time // default: time.Now
	Rand   io.Reader        // default: crypto/rand
	Replay *ReplayCache     // used login states; default: process-wide
	// IntrospectCache holds introspection answers; default: process-wide.
	IntrospectCache *token.Cache
	// Store keeps sessions; default: by session_storage (the cookie, or
	// Redis through the process-wide pool for the target).
	Store sessionstore.Store
	// Consumers caches Kong consumer lookups; default: consumer.Shared.
	Consumers *consumer.Resolver
	// Metrics receives the measurements; default: metrics.Get().
	Metrics metrics.Recorder
	// Route names the route in metrics (Kong's plugin instance name, route
	// id or plugin id).
	Route string
}

// Engine decides requests for one route's configuration. It is immutable and
// safe for concurrent use.
type Engine struct {
	cfg          *config.Config
	iss          *issuer.Issuer
	access       *token.Verifier
	idTok        *token.Verifier
	intro        *introspect.Client // nil unless auth_methods has introspection
	codec        *session.Codec
	store        sessionstore.Store
	ender        sessionstore.Ender // nil unless the store keeps sessions itself
	logoutTokens *token.Verifier    // back-channel logout tokens; nil when off
	client       *http.Client
	now          func() time.Time
	rand         io.Reader
	replay       *ReplayCache
	attrs        session.Attributes
	// metrics is never nil; timed says it records (take timestamps).
	metrics metrics.Recorder
	timed   bool
	route   string
	// managed holds the folded names of the headers the plugin owns on the
	// upstream request (see managedNames).
	managed map[string]bool
	// consumers resolves consumer_claim and anonymous (identity.go).
	consumers *consumer.Resolver
}

var (
	sharedCache  = token.NewCache(10000, 32<<20)
	sharedIntro  = token.NewCache(10000, 32<<20)
	sharedReplay = NewReplayCache(10000)
)

// New builds an Engine for cfg.
func New(cfg *config.Config, d Deps) (*Engine, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Issuer == nil {
		d.Issuer = issuer.Shared(issuer.Settings{URL: cfg.Issuer, Timeout: cfg.Timeout, Insecure: !cfg.SSLVerify, MinRefresh: cfg.JWKSMinRefresh})
	}
	if d.Cache == nil {
		d.Cache = sharedCache
	}
	if d.Client == nil {
		d.Client = issuer.NewHTTPClient(cfg.Timeout, !cfg.SSLVerify)
	}
	if d.Replay == nil {
		d.Replay = sharedReplay
	}
	if d.IntrospectCache == nil {
		d.IntrospectCache = sharedIntro
	}
	if d.Consumers == nil {
		d.Consumers = consumer.Shared
	}
	if d.Metrics == nil {
		d.Metrics = metrics.Get()
	}
	e := &Engine{
		consumers: d.Consumers,
		cfg:       cfg,
		iss:       d.Issuer,
		client:    d.Client,
		now:       d.Now,
		rand:      d.Rand,
		replay:    d.Replay,
		metrics:   d.Metrics,
		timed:     d.Metrics.Enabled(),
		route:     d.Route,
		access: token.NewVerifier(d.Issuer, token.Config{
			Issuer: cfg.Issuer, Audiences: cfg.Audiences, Algs: cfg.SigningAlgs,
			Leeway: cfg.Leeway, Kind: token.Access, Now: d.Now, Cache: d.Cache,
		}),
		idTok: token.NewVerifier(d.Issuer, token.Config{
			Issuer: cfg.Issuer, Audiences: []string{cfg.ClientID}, Algs: cfg.SigningAlgs,
			Leeway: cfg.Leeway, Kind: token.ID, Now: d.Now,
		}),
		attrs: session.Attributes{
			Path: cfg.Cookie.Path, Domain: cfg.Cookie.Domain, Secure: cfg.Cookie.Secure,
			HTTPOnly: cfg.Cookie.HTTPOnly, SameSite: cfg.Cookie.SameSite,
		},
	}
	names := make([]string, 0, len(cfg.UpstreamHeaders)+2)
	for _, hc := range cfg.UpstreamHeaders {
		names = append(names, hc.Header)
	}
	for _, th := range []config.TokenHeader{cfg.UpstreamAccessToken, cfg.UpstreamIDToken} {
		if th.Header != "" && th.Header != "Authorization" {
			names = append(names, th.Header)
		}
	}
	e.managed = managedNames(names)
	if cfg.Has(config.MethodIntrospection) {
		iss := d.Issuer
		e.intro = introspect.New(introspect.Config{
			Endpoint: func(ctx context.Context) (string, error) {
				m, err := iss.Metadata(ctx)
				if err != nil {
					return "", err
				}
				return m.IntrospectionEndpoint, nil
			},
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			Issuer: cfg.Issuer, Audiences: cfg.Audiences, Leeway: cfg.Leeway,
			CacheTTL: cfg.IntrospectionTTL, HTTP: d.Client, Cache: d.IntrospectCache, Now: d.Now,
			Limits: introspect.Limits{MaxConcurrent: cfg.IntrospectionMaxConcurrency, PerSecond: cfg.IntrospectionRateLimit},
		})
	}
	if cfg.Has(config.MethodSession) || cfg.Has(config.MethodAuthorizationCode) {
		// Bound to the issuer and client: a session or login state made for
		// one client's route never opens on another's, even when both share
		// session_secret, cookie name and scope (it would skip the IdP's
		// per-app assignment).
		codec, err := session.NewCodec(cfg.SessionSecrets, session.WithRand(d.Rand), session.WithBinding(cfg.Issuer, cfg.ClientID))
		if err != nil {
			return nil, fmt.Errorf("gateway: session codec: %w", err)
		}
		e.codec = codec
		if err := e.attrs.Validate(); err != nil {
			return nil, err
		}
		if e.store, err = newStore(cfg, d, codec); err != nil {
			return nil, err
		}
		e.ender, _ = e.store.(sessionstore.Ender)
	}
	if cfg.BackchannelLogoutPath != "" {
		if e.ender == nil {
			return nil, errors.New("gateway: backchannel_logout_path needs session_storage: redis")
		}
		e.logoutTokens = token.NewVerifier(d.Issuer, token.Config{
			Issuer: cfg.Issuer, Audiences: []string{cfg.ClientID}, Algs: cfg.SigningAlgs,
			Leeway: cfg.Leeway, Kind: token.Logout, Now: d.Now,
		})
	}
	return e, nil
}

// Config returns the engine's configuration.
func (e *Engine) Config() *config.Config { return e.cfg }

// Decide decides one request. It never panics: a panic inside becomes a 500.
func (e *Engine) Decide(ctx context.Context, r *Request) (d Decision) {
	defer func() {
		if p := recover(); p != nil {
			d = Internal(fmt.Errorf("gateway: panic: %v", p))
		}
	}()
	d, done := e.earlierCredential(r)
	if !done {
		d = forBrowser(r, e.identify(ctx, r, e.decide(ctx, r)))
	}
	if e.cfg.DebugHeader {
		d = withTrace(d)
	}
	e.metrics.Decision(e.route, metrics.OutcomeOf(d.Action == Pass, d.Status), string(d.Reason))
	return d
}

// SharedCaches are the process-wide caches engines use by default, by name,
// for metrics.
func SharedCaches() map[string]*token.Cache {
	return map[string]*token.Cache{"token": sharedCache, "introspection": sharedIntro}
}

func (e *Engine) decide(ctx context.Context, r *Request) Decision {
	h := r.Header
	if !e.cfg.RunOnPreflight && h.Get("Origin") != "" && h.Get("Access-Control-Request-Method") != "" {
		m, err := r.Method()
		if err != nil {
			return Internal(err)
		}
		if m == http.MethodOptions {
			return e.pass(ReasonPreflight, nil, r, nil)
		}
	}

	tok, fromQuery, d, ok := e.bearerToken(r)
	if !ok {
		return d
	}
	if tok != "" {
		return e.decideBearer(ctx, r, tok, fromQuery)
	}

	browserish := e.codec != nil && len(h.Values("Authorization")) == 0
	if browserish {
		target, err := r.Target()
		if err != nil {
			return Internal(err)
		}
		path, query := splitTarget(target)
		if e.logoutTokens != nil && path == e.cfg.BackchannelLogoutPath {
			return e.backchannelLogout(ctx, r)
		}
		if e.cfg.Has(config.MethodAuthorizationCode) && path == e.cfg.RedirectURI.Path {
			return e.callback(ctx, r, query)
		}
		if path == e.cfg.LogoutPath {
			return e.logout(ctx, r)
		}
		if e.cfg.SignedOutPath != "" && path == e.cfg.SignedOutPath {
			return respond(http.StatusOK, ReasonSignedOut, signedOutPage, "text/html; charset=utf-8", nil)
		}
		if e.cfg.Has(config.MethodSession) {
			if d, handled := e.decideSession(ctx, r, target); handled {
				return d
			}
		}
		return e.unauthenticated(r, target, e.clearSession(h))
	}
	return e.unauthenticated(r, "", nil)
}

// bearerToken finds the bearer token where the config allows it. ok is false
// when the request is malformed (d is then the answer).
func (e *Engine) bearerToken(r *Request) (tok string, fromQuery bool, d Decision, ok bool) {
	h := r.Header
	auth := h.Values("Authorization")
	if len(auth) > 1 {
		return "", false, badRequest(errors.New("repeated Authorization header")), false
	}
	var found []string
	if e.cfg.TakesTokens() && e.cfg.TokenParams[config.ParamHeader] && len(auth) == 1 {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(auth[0]), " ")
		if strings.EqualFold(scheme, "Bearer") {
			t := strings.TrimSpace(rest)
			if t == "" || strings.ContainsAny(t, " \t,") {
				return "", false, badRequest(errors.New("malformed bearer Authorization header")), false
			}
			found = append(found, t)
		}
	}
	if e.cfg.TakesTokens() && e.cfg.TokenParams[config.ParamQuery] {
		target, err := r.Target()
		if err != nil {
			return "", false, Internal(err), false
		}
		_, q := splitTarget(target)
		if strings.Contains(q, "access_token") {
			v, err := url.ParseQuery(q)
			if err != nil {
				return "", false, badRequest(fmt.Errorf("query: %w", err)), false
			}
			if vals := v["access_token"]; len(vals) > 1 || (len(vals) == 1 && vals[0] == "") {
				return "", false, badRequest(errors.New("repeated or empty access_token query parameter")), false
			} else if len(vals) == 1 {
				found = append(found, vals[0])
				fromQuery = true
			}
		}
	}
	if e.cfg.TakesTokens() && e.cfg.TokenParams[config.ParamCookie] {
		jar := session.ParseCookieHeader(h.Values("Cookie"))
		if v, present := jar[e.cfg.TokenCookieName]; present && v != "" {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		return "", false, Decision{}, true
	case 1:
		return found[0], fromQuery, Decision{}, true
	}
	// RFC 6750 section 2: a client must not use more than one method.
	return "", false, badRequest(errors.New("bearer token sent in more than one place")), false
}

func (e *Engine) decideBearer(ctx context.Context, r *Request, tok string, fromQuery bool) Decision {
	var (
		claims token.Claims
		err    error
	)
	var start time.Time
	if e.timed {
		start = time.Now()
	}
	switch {
	case e.cfg.Has(config.MethodBearer) && strings.Count(tok, ".") == 2:
		claims, err = e.access.Verify(ctx, tok)
		if e.timed {
			e.metrics.Verification("bearer", time.Since(start))
		}
	case e.intro != nil:
		claims, err = e.intro.Introspect(ctx, tok)
		if e.timed {
			e.metrics.Verification("introspection", time.Since(start))
		}
	default:
		err = fmt.Errorf("%w: not a JWT and introspection is off", token.ErrMalformed)
	}
	if err != nil {
		if errors.Is(err, token.ErrInvalid) {
			return unauthorized(ReasonTokenInvalid, "invalid_token", err)
		}
		// The IdP (keys, introspection) could not answer: never a pass.
		return unavailable(err)
	}
	if d, denied := e.deny(r, claims, nil, nil); denied {
		return d
	}
	var query *string
	if fromQuery && e.cfg.HideCredentials {
		target, err := r.Target()
		if err != nil {
			return Internal(err)
		}
		_, q := splitTarget(target)
		stripped := removeQueryParam(q, "access_token")
		query = &stripped
	}
	d := e.pass(ReasonAuthenticated, claims, r, nil)
	d.RawQuery = query
	// The token verified (or introspected) above; an ID token header is
	// cleared: a bearer request has none the plugin verified.
	e.forwardTokens(&d, tok, "")
	return d
}

// deny applies the route's policy. It returns the 403 Decision when the
// claims do not satisfy it. who, when set, names the person on the 403 page
// (the session's ID token claims: access tokens rarely carry a name).
func (e *Engine) deny(r *Request, claims token.Claims, respHeader http.Header, who token.Claims) (Decision, bool) {
	if policy.Holds(claims, e.cfg.Groups) && policy.Holds(claims, e.cfg.ScopesRule) {
		return Decision{}, false
	}
	if who == nil {
		who = claims
	}
	d := e.forbidden(r, ReasonForbidden, who)
	for k, v := range respHeader {
		d.Header[k] = append(d.Header[k], v...)
	}
	d.Subject = claims.String("sub")
	d.Detail = strings.TrimPrefix(explainRule("groups", claims, e.cfg.Groups)+explainRule("; scopes", claims, e.cfg.ScopesRule), "; ")
	return d, true
}

// forbidden is a 403: an HTML page naming who for browsers on login
// routes, JSON otherwise.
func (e *Engine) forbidden(r *Request, reason Reason, who token.Claims) Decision {
	if e.codec != nil && acceptsHTML(r.Header) && len(r.Header.Values("Authorization")) == 0 {
		return respond(http.StatusForbidden, reason, forbiddenPage(who, e.cfg.LogoutPath), "text/html; charset=utf-8", nil)
	}
	return respondJSON(http.StatusForbidden, reason, bodyForbidden, nil)
}

func explainRule(label string, claims token.Claims, r config.Rule) string {
	if why := policy.Explain(claims, r); why != "" {
		return label + ": " + why
	}
	return ""
}

// pass builds the pass Decision: identity headers are always set from the
// claims or cleared, and every client-sent spelling of them (and of Kong's
// consumer headers) is cleared, whatever the client sent. All of it goes in
// the one set_headers call.
func (e *Engine) pass(reason Reason, claims token.Claims, r *Request, respHeader http.Header) Decision {
	h := r.Header
	up := make(map[string][]string, len(e.cfg.UpstreamHeaders)+2)
	vals := make([]string, len(e.cfg.UpstreamHeaders)) // one allocation for every value
	for i, hc := range e.cfg.UpstreamHeaders {
		up[hc.Header] = vals[i:i:i] // cleared unless the claim renders
		if claims == nil {
			continue
		}
		if v, ok := policy.Lookup(claims, hc.Claim); ok {
			if s, ok := policy.HeaderValue(v); ok {
				vals[i] = s
				up[hc.Header] = vals[i : i+1 : i+1]
			}
		}
	}
	if e.cfg.HideCredentials && claims != nil {
		up["Authorization"] = []string{}
	}
	for _, th := range []config.TokenHeader{e.cfg.UpstreamAccessToken, e.cfg.UpstreamIDToken} {
		if th.Header != "" && th.Header != "Authorization" {
			up[th.Header] = []string{} // set by forwardTokens, else cleared
		}
	}
	e.clearSpellings(up, r)
	// The plugin's own cookies (the session, login states, and with
	// hide_credentials the bearer cookie) are no business of the upstream,
	// and large sessions would only bloat its request headers.
	if cookies := h.Values("Cookie"); len(cookies) > 0 {
		if kept, changed := e.strippedCookies(cookies); changed {
			up["Cookie"] = kept
		}
	}
	d := Decision{Action: Pass, Reason: reason, Upstream: up, Header: respHeader, claims: claims}
	if claims != nil {
		d.Subject = claims.String("sub")
	}
	return d
}

// strippedCookies removes the plugin's cookies (session, its chunks, login
// states, and with hide_credentials the bearer cookie) from Cookie headers;
// session chunks are named by the session package's own rule. changed is
// false when there was nothing to remove.
func (e *Engine) strippedCookies(headers []string) (kept []string, changed bool) {
	jar := session.ParseCookieHeader(headers)
	owned := map[string]bool{}
	for _, n := range session.ClearCookies(e.cfg.Cookie.Name, jar) {
		owned[n] = true
	}
	// Every name in the login-state namespace goes, not only well-formed
	// ones: the upstream has no business with any of them.
	for n := range jar {
		if strings.HasPrefix(n, e.cfg.Cookie.Name+"_login_") {
			owned[n] = true
		}
	}
	if e.cfg.HideCredentials && e.cfg.TokenParams[config.ParamCookie] {
		if _, ok := jar[e.cfg.TokenCookieName]; ok {
			owned[e.cfg.TokenCookieName] = true
		}
	}
	if len(owned) == 0 {
		return nil, false
	}
	var parts []string
	for _, line := range headers {
		for _, part := range strings.Split(line, ";") {
			p := strings.TrimSpace(part)
			name, _, _ := strings.Cut(p, "=")
			if p == "" || owned[strings.TrimSpace(name)] {
				continue
			}
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return []string{}, true
	}
	return []string{strings.Join(parts, "; ")}, true
}

// unauthenticated answers a request without usable credentials.
func (e *Engine) unauthenticated(r *Request, target string, setCookies []string) Decision {
	if e.cfg.LoginEnabled() && len(r.Header.Values("Authorization")) == 0 {
		redirect := e.cfg.Unauthenticated == config.ActionRedirect
		if !redirect {
			m, err := r.Method()
			if err != nil {
				return Internal(err)
			}
			redirect = isNavigation(m, r.Header)
		}
		if redirect {
			if target == "" {
				t, err := r.Target()
				if err != nil {
					return Internal(err)
				}
				target = t
			}
			return e.startLogin(r, target, setCookies)
		}
	}
	d := unauthorized(ReasonNoCredentials, "", nil)
	if e.cfg.LoginEnabled() && target != "" {
		d.Body = loginHint(e.loginURL(target))
	}
	for _, c := range setCookies {
		d.Header.Add("Set-Cookie", c)
	}
	return d
}

func splitTarget(target string) (path, query string) {
	path, query, _ = strings.Cut(target, "?")
	return path, query
}

// removeQueryParam drops every name= pair from a raw query, keeping the rest
// byte for byte.
func removeQueryParam(q, name string) string {
	parts := strings.Split(q, "&")
	kept := parts[:0]
	for _, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "&")
}
