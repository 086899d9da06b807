package config

import (
	"net/http"
	"strings"
	"time"
)

// Session storages (values of session_storage).
const (
	StorageCookie = "cookie"
	StorageRedis  = "redis"
)

// Redis is the Redis session store's target and settings.
type Redis struct {
	Host       string
	Port       int
	Username   string
	Password   string
	Database   int
	SSL        bool
	SSLVerify  bool
	ServerName string
	Prefix     string
	// ConnectTimeout, ReadTimeout and SendTimeout bound each Redis call.
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	SendTimeout    time.Duration
}

// TokenHeader is an upstream header that carries a token: Header is the
// canonical header name and Scheme, when set, is written before the token
// ("Bearer <token>").
type TokenHeader struct {
	Header string
	Scheme string
}

// Value is the header value for tok.
func (h TokenHeader) Value(tok string) string {
	if h.Scheme == "" {
		return tok
	}
	return h.Scheme + " " + tok
}

func millis(ck *checker, key string, p *int, def int) time.Duration {
	v := def
	if p != nil {
		v = *p
	}
	if v < 10 || v > 60000 {
		ck.add(key, "%d is out of range 10..60000 (milliseconds)", v)
	}
	return time.Duration(v) * time.Millisecond
}

func (c *Config) checkStorage(ck *checker, raw *Raw) {
	c.SessionStorage = str(raw.SessionStorage, StorageCookie)
	c.BackchannelLogoutPath = str(raw.BackchannelLogoutPath, "")
	switch c.SessionStorage {
	case StorageCookie:
	case StorageRedis:
		if !c.Has(MethodSession) && !c.Has(MethodAuthorizationCode) {
			ck.add("session_storage", "redis needs auth_methods session or authorization_code")
		}
	default:
		ck.add("session_storage", "%q is not one of cookie, redis", c.SessionStorage)
	}
	if c.BackchannelLogoutPath != "" {
		switch {
		case !strings.HasPrefix(c.BackchannelLogoutPath, "/") || strings.ContainsAny(c.BackchannelLogoutPath, "?# \t\r\n"):
			ck.add("backchannel_logout_path", "%q must be a path starting with /", c.BackchannelLogoutPath)
		case c.SessionStorage != StorageRedis:
			ck.add("backchannel_logout_path", "needs session_storage: redis (a session kept only in a cookie cannot be ended from elsewhere)")
		case c.BackchannelLogoutPath == c.LogoutPath || (c.RedirectURI != nil && c.BackchannelLogoutPath == c.RedirectURI.Path):
			ck.add("backchannel_logout_path", "%q is already the logout_path or the redirect_uri path", c.BackchannelLogoutPath)
		}
		if c.ClientID == "" {
			ck.add("client_id", "required with backchannel_logout_path (a logout token's aud is the client)")
		}
	}
	if c.SessionStorage != StorageRedis {
		// Redis settings on a cookie-session route are a likely slip (the
		// operator meant sessions in Redis): say so rather than ignore them.
		for _, k := range []struct {
			key string
			set bool
		}{
			{"redis_host", raw.RedisHost != nil}, {"redis_port", raw.RedisPort != nil},
			{"redis_username", raw.RedisUsername != nil}, {"redis_password", raw.RedisPassword != nil},
			{"redis_database", raw.RedisDatabase != nil}, {"redis_ssl", raw.RedisSSL != nil},
			{"redis_ssl_verify", raw.RedisSSLVerify != nil}, {"redis_server_name", raw.RedisServerName != nil},
			{"redis_prefix", raw.RedisPrefix != nil}, {"redis_connect_timeout", raw.RedisConnectTimeout != nil},
			{"redis_read_timeout", raw.RedisReadTimeout != nil}, {"redis_send_timeout", raw.RedisSendTimeout != nil},
		} {
			if k.set {
				ck.add(k.key, "has no effect without session_storage: redis")
			}
		}
		return
	}
	r := &c.Redis
	r.Host = strings.TrimSpace(str(raw.RedisHost, ""))
	if r.Host == "" || strings.ContainsAny(r.Host, " \t\r\n/") {
		ck.add("redis_host", "required when session_storage is redis (a host name or IP address)")
	}
	r.Port = integer(ck, "redis_port", raw.RedisPort, 6379, 1, 65535)
	r.Username = str(raw.RedisUsername, "")
	r.Password = str(raw.RedisPassword, "")
	r.Database = integer(ck, "redis_database", raw.RedisDatabase, 0, 0, 1000)
	r.SSL = boolean(raw.RedisSSL, false)
	r.SSLVerify = boolean(raw.RedisSSLVerify, true)
	r.ServerName = str(raw.RedisServerName, "")
	r.Prefix = str(raw.RedisPrefix, "okta-oidc:")
	if r.Prefix == "" || len(r.Prefix) > 100 || strings.ContainsAny(r.Prefix, " \t\r\n") {
		ck.add("redis_prefix", "%q must be 1 to 100 characters without spaces", r.Prefix)
	}
	r.ConnectTimeout = millis(ck, "redis_connect_timeout", raw.RedisConnectTimeout, 2000)
	r.ReadTimeout = millis(ck, "redis_read_timeout", raw.RedisReadTimeout, 2000)
	r.SendTimeout = millis(ck, "redis_send_timeout", raw.RedisSendTimeout, 2000)
}

// parseTokenHeader reads "header" or "header:scheme" (Kong Enterprise's
// upstream_access_token_header format, e.g. authorization:bearer).
func parseTokenHeader(ck *checker, key string, p *string) TokenHeader {
	v := strings.TrimSpace(str(p, ""))
	if v == "" {
		return TokenHeader{}
	}
	name, scheme, _ := strings.Cut(v, ":")
	name, scheme = strings.TrimSpace(name), strings.TrimSpace(scheme)
	canon := http.CanonicalHeaderKey(name)
	switch {
	case !validHeaderName(name):
		ck.add(key, "%q is not a valid header name", name)
		return TokenHeader{}
	case canon != "Authorization" && reservedHeader(canon):
		ck.add(key, "%q cannot carry a token", name)
		return TokenHeader{}
	case scheme != "" && !validHeaderName(scheme):
		ck.add(key, "%q is not a valid authentication scheme", scheme)
		return TokenHeader{}
	}
	if strings.EqualFold(scheme, "bearer") {
		scheme = "Bearer"
	}
	return TokenHeader{Header: canon, Scheme: scheme}
}

func foldKey(name string) string { return strings.ToLower(strings.ReplaceAll(name, "_", "-")) }

func (c *Config) checkTokenHeaders(ck *checker, raw *Raw) {
	c.UpstreamAccessToken = parseTokenHeader(ck, "upstream_access_token_header", raw.UpstreamAccessTokenHeader)
	c.UpstreamIDToken = parseTokenHeader(ck, "upstream_id_token_header", raw.UpstreamIDTokenHeader)
	a, i := c.UpstreamAccessToken.Header, c.UpstreamIDToken.Header
	if i == "Authorization" {
		// On a bearer request the client's Authorization (its access
		// token) would stay where the upstream expects the ID token.
		ck.add("upstream_id_token_header", "Authorization carries access tokens; name another header for the ID token")
		c.UpstreamIDToken, i = TokenHeader{}, ""
	}
	if a != "" && i != "" && foldKey(a) == foldKey(i) {
		ck.add("upstream_id_token_header", "%q is already upstream_access_token_header", i)
	}
	for _, hc := range c.UpstreamHeaders {
		for _, th := range []struct{ key, name string }{{"upstream_access_token_header", a}, {"upstream_id_token_header", i}} {
			if th.name != "" && foldKey(th.name) == foldKey(hc.Header) {
				ck.add(th.key, "%q is already in upstream_headers", th.name)
			}
		}
	}
}
