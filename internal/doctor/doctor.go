// Package doctor checks each okta-oidc entry of a declarative kong.yml
// against its live issuer and, given one, a real access token: the
// misconfigurations behind most "the group check does not work" reports
// (org instead of custom authorization server, groups only in the ID token,
// scope vs scp, wrong audience), plus redirect URI, session secret and TLS
// settings. Each finding names the kong.yml key and says how to fix it.
package doctor

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/okta-oidc/okta-oidc/internal/config"
)

// Severity of a finding.
type Severity int

const (
	OK Severity = iota
	Warn
	Error
)

func (s Severity) String() string {
	switch s {
	case Warn:
		return "WARN"
	case Error:
		return "ERROR"
	}
	return "OK"
}

// Finding is one line of the report.
type Finding struct {
	Severity Severity
	Where    string // the entry's location in kong.yml
	Check    string // a stable name, e.g. "org-authorization-server"
	Key      string // the kong.yml key concerned, if any
	Message  string
	Fix      string
}

func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-5s %s: ", f.Severity, f.Where)
	if f.Key != "" {
		b.WriteString(f.Key + ": ")
	}
	b.WriteString(f.Message)
	if f.Fix != "" {
		b.WriteString(" -> fix: " + f.Fix)
	}
	return b.String()
}

// Options configure Run.
type Options struct {
	// HTTPClient calls the issuer (default: a client with a 10 s timeout).
	// ssl_verify: false is not honoured: the doctor always verifies TLS.
	HTTPClient *http.Client
	// Token is an access token to inspect against every entry of its issuer.
	Token string
	// ClientID and ClientSecret, when Token is empty, get one with the
	// client_credentials grant (Scope space-separated, may be empty).
	ClientID, ClientSecret, Scope string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ErrInvalid is returned when kong.yml cannot be used at all.
var ErrInvalid = errors.New("doctor: kong.yml")

// Run checks every okta-oidc entry of the declarative config data.
func Run(ctx context.Context, data []byte, o Options) ([]Finding, error) {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	res, err := config.ValidateDeclarative(data, "okta-oidc")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var out []Finding
	if res.Entries == 0 {
		return []Finding{{Severity: Error, Where: "kong.yml", Check: "no-entry", Message: strings.Join(res.Problems, "; "),
			Fix: "add a plugin with name: okta-oidc to a route"}}, nil
	}
	d := &doctor{o: o, issuers: map[string]*issuerInfo{}, tokens: map[string]*tokenInfo{}, fileIssuers: map[string]bool{}}
	d.entries = res.Found
	for _, e := range res.Found {
		if e.Config != nil {
			d.fileIssuers[e.Config.Issuer] = true
		}
	}
	for _, e := range res.Found {
		if e.Config == nil {
			var probs []string
			for _, p := range res.Problems {
				if strings.HasPrefix(p, e.Where+": ") {
					probs = append(probs, strings.TrimPrefix(p, e.Where+": "))
				}
			}
			out = append(out, Finding{Severity: Error, Where: e.Where, Check: "config-invalid",
				Message: "config refused: " + strings.Join(probs, "; "), Fix: "run okta-oidc -validate on this file and fix each key"})
			continue
		}
		out = append(out, d.entry(ctx, e)...)
	}
	return out, nil
}

// Failed reports whether any finding is an error.
func Failed(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == Error {
			return true
		}
	}
	return false
}

type doctor struct {
	o           Options
	issuers     map[string]*issuerInfo
	tokens      map[string]*tokenInfo
	fileIssuers map[string]bool // the issuers of the file's entries
	entries     []config.DeclarativeEntry
}

// tokenFor reports whether a given token is for issuer: a file with entries
// of several issuers has the token checked only against its own.
func (d *doctor) tokenFor(issuer string) bool {
	if d.o.Token == "" {
		return true
	}
	parts := strings.Split(d.o.Token, ".")
	if len(parts) != 3 {
		return true
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Iss string `json:"iss"`
	}
	if err != nil || json.Unmarshal(b, &c) != nil || c.Iss == issuer || !d.fileIssuers[c.Iss] {
		return true
	}
	return false
}

type issuerInfo struct {
	meta     metadata
	keys     *jose.JSONWebKeySet
	findings []Finding // about the issuer itself, repeated for each entry
}

type metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	EndSessionEndpoint    string `json:"end_session_endpoint"`
}

type tokenInfo struct {
	claims   map[string]any
	findings []Finding
}

func (d *doctor) entry(ctx context.Context, e config.DeclarativeEntry) []Finding {
	c := e.Config
	var out []Finding
	add := func(sev Severity, check, key, msg, fix string) {
		out = append(out, Finding{Severity: sev, Where: e.Where, Check: check, Key: key, Message: msg, Fix: fix})
	}
	if !c.SSLVerify {
		add(Warn, "ssl-verify", "ssl_verify", "false: the IdP's certificate is not checked, so anyone on the path can serve their own keys", "remove ssl_verify (default true); for a private CA, install it in the gateway's trust store")
	}
	out = append(out, d.redirect(e)...)
	out = append(out, d.secret(e)...)
	// The issuer, live: its findings once per issuer.
	_, seen := d.issuers[c.Issuer]
	info := d.issuer(ctx, c.Issuer)
	if !seen {
		for _, f := range info.findings {
			f.Where = "issuer " + c.Issuer
			out = append(out, f)
		}
	}
	if info.keys != nil {
		if c.Has(config.MethodAuthorizationCode) && (info.meta.AuthorizationEndpoint == "" || info.meta.TokenEndpoint == "") {
			add(Error, "discovery-login", "auth_methods", "authorization_code is on but discovery has no authorization_endpoint or token_endpoint", "use the authorization server's issuer")
		}
		if c.Has(config.MethodIntrospection) && info.meta.IntrospectionEndpoint == "" {
			add(Error, "discovery-introspection", "auth_methods", "introspection is on but discovery has no introspection_endpoint", "remove introspection or use an authorization server that offers it")
		}
		if c.LogoutRedirect != "" && info.meta.EndSessionEndpoint == "" {
			add(Warn, "discovery-logout", "logout_redirect_uri", "discovery has no end_session_endpoint: logout ends the gateway session only", "")
		}
		algs := map[string]bool{}
		for _, k := range info.keys.Keys {
			if k.Use == "" || k.Use == "sig" {
				algs[k.Algorithm] = true
			}
		}
		usable := false
		for _, a := range c.SigningAlgs {
			if algs[a] || algs[""] {
				usable = true
			}
		}
		if !usable {
			add(Error, "jwks-algs", "signing_algs", fmt.Sprintf("%v matches none of the issuer's signing keys", c.SigningAlgs), "set signing_algs to the keys' alg (Okta: RS256)")
		}
	}
	// A real token.
	if !d.tokenFor(c.Issuer) {
		// the token is for another entry's issuer
	} else if _, seen := d.tokens[c.Issuer]; !seen {
		if tok := d.token(ctx, c, info); tok != nil {
			for _, f := range tok.findings {
				f.Where = "token for " + c.Issuer
				out = append(out, f)
			}
		}
	}
	if tok := d.tokens[c.Issuer]; tok != nil && d.tokenFor(c.Issuer) {
		if tok.claims != nil {
			out = append(out, d.claims(e, tok.claims)...)
		}
	}
	if !hasProblem(out) && !Failed(info.findings) {
		add(OK, "ok", "", "no problem found", "")
	}
	return out
}

func hasProblem(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity != OK {
			return true
		}
	}
	return false
}

// redirect checks redirect_uri: https unless loopback, and routed to this
// entry (its path under one of the route's paths).
func (d *doctor) redirect(e config.DeclarativeEntry) []Finding {
	c := e.Config
	if c.RedirectURI == nil {
		return nil
	}
	var out []Finding
	u := c.RedirectURI
	if u.Scheme != "https" && !loopback(u.Hostname()) {
		out = append(out, Finding{Severity: Error, Where: e.Where, Check: "redirect-scheme", Key: "redirect_uri",
			Message: fmt.Sprintf("%q is plain http on a non-loopback host: the authorization code and the session cookie travel in clear (and Okta refuses it in production)", u),
			Fix:     "serve the gateway over https and register https://" + u.Host + u.Path + " in the Okta app"})
	}
	if u.Scheme != "https" && c.Cookie.Secure {
		out = append(out, Finding{Severity: Error, Where: e.Where, Check: "cookie-secure-http", Key: "session_cookie_secure",
			Message: "the session cookie is Secure but redirect_uri is http: browsers drop it and login loops", Fix: "use https (or, on loopback only, session_cookie_secure: false)"})
	}
	if !c.Cookie.Secure && !loopback(u.Hostname()) {
		out = append(out, Finding{Severity: Error, Where: e.Where, Check: "cookie-insecure", Key: "session_cookie_secure",
			Message: "false on a non-loopback host: the session cookie may be sent over plain http", Fix: "remove session_cookie_secure (default true) and use https"})
	}
	if len(e.Paths) > 0 {
		// Routed when this route, or another route whose entry logs in
		// with the same issuer and client (a shared callback), covers it.
		routed := false
		for _, o := range d.entries {
			oc := o.Config
			if oc == nil || oc.Issuer != c.Issuer || oc.ClientID != c.ClientID || !oc.Has(config.MethodAuthorizationCode) {
				continue
			}
			for _, p := range o.Paths {
				if strings.HasPrefix(p, "~") || strings.HasPrefix(u.Path, p) {
					routed = true // (a regex path: cannot tell, assume so)
				}
			}
		}
		if !routed {
			out = append(out, Finding{Severity: Error, Where: e.Where, Check: "redirect-not-routed", Key: "redirect_uri",
				Message: fmt.Sprintf("path %s is not under this route's paths %v: the callback never reaches the plugin", u.Path, e.Paths),
				Fix:     "use a redirect_uri under " + e.Paths[0] + " (e.g. " + strings.TrimRight(e.Paths[0], "/") + "/callback) and register it in the Okta app"})
		}
	}
	return out
}

// demoSecret is the session_secret published in the repository's kong.yml.
const demoSecret = "demo-only-session-secret-change-me-0123456789"

// secret checks session_secret's strength.
func (d *doctor) secret(e config.DeclarativeEntry) []Finding {
	c := e.Config
	if len(c.SessionSecrets) == 0 || !(c.Has(config.MethodSession) || c.Has(config.MethodAuthorizationCode)) {
		return nil
	}
	s := c.SessionSecrets[0]
	lower := strings.ToLower(s)
	switch {
	case s == demoSecret || strings.Contains(lower, "change-me") || strings.Contains(lower, "changeme") || strings.Contains(lower, "demo"):
		return []Finding{{Severity: Error, Where: e.Where, Check: "secret-demo", Key: "session_secret",
			Message: "is the published demo secret (or looks like a placeholder): anyone can forge sessions", Fix: "generate one: openssl rand -base64 32 (the same on every Kong node)"}}
	case entropyBits(s) < 128:
		return []Finding{{Severity: Warn, Where: e.Where, Check: "secret-weak", Key: "session_secret",
			Message: fmt.Sprintf("has about %.0f bits of entropy (want 128 or more): it looks typed, not generated", entropyBits(s)), Fix: "generate one: openssl rand -base64 32"}}
	}
	return nil
}

// entropyBits estimates a secret's entropy from its length and the
// empirical distribution of its characters (an upper bound for typed
// secrets, close for generated ones).
func entropyBits(s string) float64 {
	if s == "" {
		return 0
	}
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	h := 0.0
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h * float64(n)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// issuer fetches discovery and JWKS once per issuer.
func (d *doctor) issuer(ctx context.Context, iss string) *issuerInfo {
	if info, ok := d.issuers[iss]; ok {
		return info
	}
	info := &issuerInfo{}
	d.issuers[iss] = info
	add := func(sev Severity, check, key, msg, fix string) {
		info.findings = append(info.findings, Finding{Severity: sev, Check: check, Key: key, Message: msg, Fix: fix})
	}
	iu, _ := url.Parse(iss)
	if iu != nil && iu.Scheme == "http" {
		if loopback(iu.Hostname()) {
			add(Warn, "http-issuer", "issuer", "plain http to a loopback issuer: fine for a local test provider only", "use the https Okta issuer in production")
		} else {
			add(Error, "http-issuer", "issuer", "plain http issuer: keys and tokens travel unprotected and can be forged on the way", "use https://<your-org>.okta.com/oauth2/<server-id>")
		}
	}
	if iu != nil && strings.Trim(iu.Path, "/") == "" {
		add(Error, "org-authorization-server", "issuer",
			"an Okta org authorization server (no /oauth2/<server-id>): its access tokens are for Okta's own APIs and cannot be validated by a third party such as Kong",
			"use a custom authorization server, e.g. "+strings.TrimRight(iss, "/")+"/oauth2/default (Security > API > Authorization Servers)")
	} else if iu != nil && !strings.Contains(iu.Path, "/oauth2/") {
		add(Warn, "not-okta-path", "issuer", "no Okta /oauth2/<server-id> path", "check the issuer URI shown on the authorization server's Settings page")
	}
	disc := strings.TrimRight(iss, "/") + "/.well-known/openid-configuration"
	if err := d.getJSON(ctx, disc, &info.meta); err != nil {
		add(Error, "discovery", "issuer", fmt.Sprintf("discovery %s: %v", disc, err),
			"check the issuer URI on the authorization server's Settings page and that the gateway can reach it")
		return info
	}
	if info.meta.Issuer != iss {
		add(Error, "discovery-issuer", "issuer", fmt.Sprintf("discovery says issuer %q, kong.yml says %q: every token would be refused", info.meta.Issuer, iss),
			fmt.Sprintf("set issuer: %s (exactly, trailing slash included)", info.meta.Issuer))
		return info
	}
	if info.meta.JWKSURI == "" {
		add(Error, "discovery-jwks", "issuer", "discovery has no jwks_uri", "use an authorization server that publishes its keys")
		return info
	}
	var set jose.JSONWebKeySet
	if err := d.getJSON(ctx, info.meta.JWKSURI, &set); err != nil {
		add(Error, "jwks", "issuer", fmt.Sprintf("keys %s: %v", info.meta.JWKSURI, err), "check that the gateway can reach the jwks_uri")
		return info
	}
	sig := 0
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if rk, ok := k.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
			add(Error, "jwks-weak-key", "issuer", fmt.Sprintf("key %q is RSA %d bits: the plugin refuses keys under 2048 bits", k.KeyID, rk.N.BitLen()), "rotate the authorization server's keys")
			continue
		}
		sig++
	}
	if sig == 0 {
		add(Error, "jwks-empty", "issuer", "the key set has no usable signing key", "check the authorization server's keys (Okta: Authorization Servers > Keys)")
		return info
	}
	info.keys = &set
	return info
}

const maxBody = 1 << 20

func (d *doctor) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.o.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return nil
}

// token returns the token to inspect for this entry's issuer: the given
// one, or one from the client_credentials grant; its signature checked.
func (d *doctor) token(ctx context.Context, c *config.Config, info *issuerInfo) *tokenInfo {
	if d.o.Token == "" && d.o.ClientID == "" {
		return nil
	}
	if t, ok := d.tokens[c.Issuer]; ok {
		return t
	}
	t := &tokenInfo{}
	d.tokens[c.Issuer] = t
	add := func(sev Severity, check, key, msg, fix string) {
		t.findings = append(t.findings, Finding{Severity: sev, Check: check, Key: key, Message: msg, Fix: fix})
	}
	raw := d.o.Token
	if raw == "" {
		if info.meta.TokenEndpoint == "" {
			return t // discovery already failed and said so
		}
		var err error
		if raw, err = d.clientCredentials(ctx, info.meta.TokenEndpoint); err != nil {
			add(Error, "token-request", "", fmt.Sprintf("client_credentials token from %s: %v", info.meta.TokenEndpoint, err),
				"check the client id/secret and that the app has the Client Credentials grant and the scope")
			return t
		}
	}
	if strings.Count(raw, ".") != 2 {
		add(Error, "token-opaque", "auth_methods", "the access token is not a JWT: an org authorization server's (or an opaque) token cannot be checked offline",
			"use a custom authorization server, or auth_methods: [introspection] for opaque tokens")
		return t
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA})
	if err != nil || len(jws.Signatures) != 1 {
		add(Error, "token-malformed", "", fmt.Sprintf("the token is not a signed JWT: %v", err), "pass an access token (not an ID token or a refresh token)")
		return t
	}
	payload := jws.UnsafePayloadWithoutVerification()
	if info.keys != nil {
		kid := jws.Signatures[0].Header.KeyID
		keys := info.keys.Key(kid)
		verified := false
		for _, k := range keys {
			if p, err := jws.Verify(k); err == nil {
				payload, verified = p, true
				break
			}
		}
		if !verified {
			add(Error, "token-signature", "issuer", fmt.Sprintf("the token's signature does not verify with this issuer's keys (kid %q)", kid),
				"the token comes from another authorization server: use its issuer, or get the token from this one")
		}
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		add(Error, "token-malformed", "", "the token's payload is not a JSON object", "")
		return t
	}
	t.claims = claims
	if iss, _ := claims["iss"].(string); iss != c.Issuer {
		add(Error, "token-issuer", "issuer", fmt.Sprintf("the token's iss is %q, kong.yml says %q", iss, c.Issuer), "use the issuer that minted the token (org vs custom authorization server?)")
	}
	if exp, ok := claims["exp"].(json.Number); ok {
		if n, err := exp.Int64(); err == nil && d.o.Now().Unix() > n {
			add(Warn, "token-expired", "", "the token has expired: its claims are still checked below", "get a fresh token")
		}
	}
	if _, ok := claims["nonce"]; ok {
		add(Error, "token-is-id-token", "", "this looks like an ID token (it has nonce): the plugin wants access tokens", "pass the access_token, not the id_token")
	}
	return t
}

func (d *doctor) clientCredentials(ctx context.Context, endpoint string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if d.o.Scope != "" {
		form.Set("scope", d.o.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(d.o.ClientID), url.QueryEscape(d.o.ClientSecret))
	resp, err := d.o.HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", err
	}
	_ = json.Unmarshal(b, &body)
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		if body.Error != "" {
			return "", fmt.Errorf("status %d, error %q", resp.StatusCode, body.Error)
		}
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return body.AccessToken, nil
}

// claims checks the entry's claim settings against a real token.
func (d *doctor) claims(e config.DeclarativeEntry, claims map[string]any) []Finding {
	c := e.Config
	var out []Finding
	add := func(sev Severity, check, key, msg, fix string) {
		out = append(out, Finding{Severity: sev, Where: e.Where, Check: check, Key: key, Message: msg, Fix: fix})
	}
	if len(c.Audiences) > 0 {
		aud := stringsOf(claims["aud"])
		match := false
		for _, a := range c.Audiences {
			if slices.Contains(aud, a) {
				match = true
			}
		}
		if !match {
			add(Error, "audience", "audience_required", fmt.Sprintf("%v, but the token's aud is %v: every such token gets 401", c.Audiences, aud),
				fmt.Sprintf("set audience_required to %v, or the authorization server's Audience to one of %v", aud, c.Audiences))
		}
	}
	// Scopes: scp vs scope.
	if len(c.ScopesRule.Required) > 0 {
		v, found := lookup(claims, c.ScopesRule.Claim)
		switch {
		case !found:
			other := "scope"
			if c.ScopesRule.Claim.String() == "scope" {
				other = "scp"
			}
			if _, ok := claims[other]; ok {
				add(Error, "scopes-claim", "scopes_claim", fmt.Sprintf("[%s], but the token carries its scopes in %q", c.ScopesRule.Claim, other),
					fmt.Sprintf("set scopes_claim: [%s] (Okta access tokens use scp; introspection answers use scope)", other))
			} else {
				add(Error, "scopes-claim", "scopes_claim", fmt.Sprintf("the token has no %q claim: scopes_required can never hold", c.ScopesRule.Claim), "request the scopes when getting the token")
			}
		case !stringShaped(v):
			add(Error, "scopes-shape", "scopes_claim", fmt.Sprintf("claim %q is %s, not a list of strings or a space-separated string", c.ScopesRule.Claim, kind(v)), "point scopes_claim at the scopes claim")
		case !holds(c.ScopesRule.Required, splitScopes(v)):
			add(Warn, "scopes-missing", "scopes_required", fmt.Sprintf("%v: this token's %s is %v, so it would get 403", reqs(c.ScopesRule.Required), c.ScopesRule.Claim, splitScopes(v)),
				"request one of the required scopes (and grant it to the client in the authorization server's access policy)")
		}
	}
	// Groups: in the access token, at groups_claim, a list of strings.
	if len(c.Groups.Required) > 0 {
		v, found := lookup(claims, c.Groups.Claim)
		switch {
		case !found:
			_, isClient := claims["cid"]
			msg := fmt.Sprintf("the access token has no %q claim: groups_required can never hold, everybody gets 403", c.Groups.Claim)
			fix := "Okta puts groups in the ID token only by default: in the authorization server add a claim named " + c.Groups.Claim.String() +
				", include in Access Token, value type Groups, filter e.g. Matches regex .* (or set groups_claim to where the groups are)"
			if isClient && claims["sub"] == claims["cid"] {
				msg += " (this is a client_credentials token: it has no user, so no groups; check with a user's token)"
				add(Warn, "groups-claim", "groups_claim", msg, fix)
			} else {
				add(Error, "groups-claim", "groups_claim", msg, fix)
			}
		case !stringShaped(v):
			add(Error, "groups-shape", "groups_claim", fmt.Sprintf("claim %q is %s, not a list of strings: it never matches", c.Groups.Claim, kind(v)), "point groups_claim at the list of group names")
		case !holds(c.Groups.Required, stringsOf(v)):
			add(Warn, "groups-missing", "groups_required", fmt.Sprintf("%v: this token's %s is %v, so its user gets 403", reqs(c.Groups.Required), c.Groups.Claim, stringsOf(v)),
				"expected for users outside the groups; otherwise check the claim's filter in the authorization server")
		}
	}
	return out
}

func lookup(claims map[string]any, path config.Claim) (any, bool) {
	var cur any = claims
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func stringShaped(v any) bool {
	switch x := v.(type) {
	case string:
		return true
	case []any:
		for _, e := range x {
			if _, ok := e.(string); !ok {
				return false
			}
		}
		return true
	}
	return false
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list with non-strings"
	}
	return fmt.Sprintf("%T", v)
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func splitScopes(v any) []string {
	if s, ok := v.(string); ok {
		return strings.Fields(s)
	}
	return stringsOf(v)
}

// holds is the plugin's rule: any requirement whose words are all present.
func holds(req []config.Requirement, have []string) bool {
	for _, r := range req {
		all := true
		for _, w := range r {
			if !slices.Contains(have, w) {
				all = false
			}
		}
		if all {
			return true
		}
	}
	return false
}

func reqs(req []config.Requirement) []string {
	out := make([]string, len(req))
	for i, r := range req {
		out[i] = strings.Join(r, " ")
	}
	return out
}
