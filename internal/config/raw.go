// Package config holds the plugin's Kong-facing configuration: the struct
// Kong's schema is generated from, its defaults, and validation that reports
// every problem by its kong.yml key.
package config

// Raw is the plugin configuration exactly as Kong sends it. Kong sends every
// schema key, with null for keys the user did not set, so scalars are
// pointers (nil = use the default) and lists and maps are nil when unset.
//
// The json tags are the kong.yml key names; go-pdk generates the -dump schema
// from them, so a tag is a bare name (never ",omitempty") and no field is an
// int64 (go-pdk silently drops those).
type Raw struct {
	// Issuer is the Okta authorization server, e.g.
	// https://dev-1.okta.com/oauth2/default.
	Issuer *string `json:"issuer"`
	// AudienceRequired lists accepted token audiences; the token's aud must
	// hold one of them. Empty: not checked.
	AudienceRequired []string `json:"audience_required"`
	ClientID         *string  `json:"client_id"`
	ClientSecret     *string  `json:"client_secret"`
	// AuthMethods lists the ways in: bearer, introspection, session,
	// authorization_code.
	AuthMethods []string `json:"auth_methods"`
	// Scopes are requested at login.
	Scopes      []string `json:"scopes"`
	RedirectURI *string  `json:"redirect_uri"`

	GroupsClaim    []string `json:"groups_claim"`
	GroupsRequired []string `json:"groups_required"`
	ScopesClaim    []string `json:"scopes_claim"`
	ScopesRequired []string `json:"scopes_required"`

	SigningAlgs []string `json:"signing_algs"`
	Leeway      *int     `json:"leeway"`

	UnauthenticatedAction *string  `json:"unauthenticated_action"`
	BearerTokenParamType  []string `json:"bearer_token_param_type"`
	BearerTokenCookieName *string  `json:"bearer_token_cookie_name"`

	UpstreamHeaders map[string]string `json:"upstream_headers"`
	HideCredentials *bool             `json:"hide_credentials"`
	RunOnPreflight  *bool             `json:"run_on_preflight"`

	SessionSecret          *string  `json:"session_secret"`
	SessionSecretsPrevious []string `json:"session_secrets_previous"`
	SessionCookieName      *string  `json:"session_cookie_name"`
	SessionCookiePath      *string  `json:"session_cookie_path"`
	SessionCookieDomain    *string  `json:"session_cookie_domain"`
	SessionCookieSecure    *bool    `json:"session_cookie_secure"`
	SessionCookieHTTPOnly  *bool    `json:"session_cookie_http_only"`
	SessionCookieSameSite  *string  `json:"session_cookie_samesite"`
	SessionIdlingTimeout   *int     `json:"session_idling_timeout"`
	SessionAbsoluteTimeout *int     `json:"session_absolute_timeout"`
	// SessionCookieMaxSize bounds, in bytes, the session cookies' share of
	// the browser's Cookie line (name=value pairs joined with "; "); a
	// session larger than this is refused at login. nginx refuses a header
	// line over large_client_header_buffers (8k in Kong): raise both
	// together. Default 6144.
	SessionCookieMaxSize *int    `json:"session_cookie_max_size"`
	RefreshTokens        *bool   `json:"refresh_tokens"`
	LogoutPath           *string `json:"logout_path"`
	LogoutRedirectURI    *string `json:"logout_redirect_uri"`
	// SignedOutPath, when set on a route with login, is a path the plugin
	// answers itself with a small "You are signed out" page: point
	// logout_redirect_uri (and Okta's sign-out redirect URI) at it.
	SignedOutPath *string `json:"signed_out_path"`
	LoginTimeout  *int    `json:"login_timeout"`

	SSLVerify *bool `json:"ssl_verify"`
	// LogDenials logs every 400/401/403 with its reason at notice level
	// (which claim held what; never tokens), to debug a policy.
	LogDenials *bool `json:"log_denials"`
	// DebugHeader returns each decision's reason in an
	// X-Okta-OIDC-Decision response header (for 403s with the policy
	// explanation log_denials logs; never tokens, cookies or secrets). For
	// non-production routes: it tells a caller why it was refused.
	DebugHeader    *bool `json:"debug_header"`
	Timeout        *int  `json:"timeout"`
	JWKSMinRefresh *int  `json:"jwks_min_refresh_interval"`
	// IntrospectionCacheTTL is the longest time, in seconds, an active
	// introspection answer is reused (never past the token's exp).
	IntrospectionCacheTTL *int `json:"introspection_cache_ttl"`
	// IntrospectionMaxConcurrency caps the introspection calls in flight at
	// once, per issuer and per Kong node; over it, unknown tokens get 503.
	IntrospectionMaxConcurrency *int `json:"introspection_max_concurrency"`
	// IntrospectionRateLimit caps the introspection calls started per
	// second, per issuer and per Kong node; over it, unknown tokens get 503.
	IntrospectionRateLimit *int `json:"introspection_rate_limit"`

	// SessionStorage is where sessions live: cookie (default: the whole
	// session, encrypted, in the browser's cookie) or redis (the cookie
	// carries only a sealed random id; the session, encrypted with the
	// session secret, lives in Redis and ends at once on every node).
	SessionStorage *string `json:"session_storage"`
	RedisHost      *string `json:"redis_host"`
	RedisPort      *int    `json:"redis_port"`
	RedisUsername  *string `json:"redis_username"`
	RedisPassword  *string `json:"redis_password"`
	RedisDatabase  *int    `json:"redis_database"`
	RedisSSL       *bool   `json:"redis_ssl"`
	RedisSSLVerify *bool   `json:"redis_ssl_verify"`
	// RedisServerName is the TLS server name (SNI and certificate check)
	// when it differs from redis_host.
	RedisServerName *string `json:"redis_server_name"`
	// RedisPrefix starts every key the plugin writes (default okta-oidc:).
	RedisPrefix *string `json:"redis_prefix"`
	// RedisConnectTimeout, RedisReadTimeout and RedisSendTimeout are in
	// milliseconds (default 2000 each); a session request fails closed
	// once they pass.
	RedisConnectTimeout *int `json:"redis_connect_timeout"`
	RedisReadTimeout    *int `json:"redis_read_timeout"`
	RedisSendTimeout    *int `json:"redis_send_timeout"`
	// BackchannelLogoutPath is where the IdP POSTs OpenID Connect
	// back-channel logout tokens (needs session_storage: redis).
	BackchannelLogoutPath *string `json:"backchannel_logout_path"`

	// UpstreamAccessTokenHeader forwards the access token the plugin
	// verified (bearer) or obtained (session) to the upstream:
	// "header" or "header:scheme", e.g. authorization:bearer.
	UpstreamAccessTokenHeader *string `json:"upstream_access_token_header"`
	// UpstreamIDTokenHeader forwards the session's ID token the same way.
	UpstreamIDTokenHeader *string `json:"upstream_id_token_header"`
	// Kong's identity model (see identity.go).
	//
	// ConsumerClaim is the claim path whose value names a Kong consumer;
	// unset: no consumer mapping.
	ConsumerClaim []string `json:"consumer_claim"`
	// ConsumerBy says how the claim's value is looked up: id, username
	// (custom_id is refused: Kong's PDK cannot look it up). Default
	// [username].
	ConsumerBy []string `json:"consumer_by"`
	// ConsumerOptional lets a request pass without a consumer when none
	// matches (default false: 403).
	ConsumerOptional *bool `json:"consumer_optional"`
	// Anonymous is a consumer id or username: a request without valid
	// credentials passes as that consumer.
	Anonymous *string `json:"anonymous"`
	// AuthenticatedGroupsClaim is the claim path handed to Kong's acl plugin
	// as kong.ctx.shared.authenticated_groups.
	AuthenticatedGroupsClaim []string `json:"authenticated_groups_claim"`
}
