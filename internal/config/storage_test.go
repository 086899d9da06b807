package config

import (
	"strings"
	"testing"
	"time"
)

func TestRedisStorageDefaults(t *testing.T) {
	raw := validRaw()
	raw.SessionStorage = sp("redis")
	raw.RedisHost = sp("redis.internal")
	c, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := Redis{Host: "redis.internal", Port: 6379, SSLVerify: true, Prefix: "okta-oidc:",
		ConnectTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, SendTimeout: 2 * time.Second}
	if c.SessionStorage != StorageRedis || c.Redis != want {
		t.Fatalf("storage %q, redis %+v", c.SessionStorage, c.Redis)
	}
	c, err = Parse(validRaw())
	if err != nil || c.SessionStorage != StorageCookie || c.Redis != (Redis{}) {
		t.Fatalf("default storage %q %+v %v", c.SessionStorage, c.Redis, err)
	}
}

// TestStorageProblemsNameTheirKey: every bad storage, back-channel or
// token-header setting is refused with its kong.yml key.
func TestStorageProblemsNameTheirKey(t *testing.T) {
	for _, c := range []struct {
		key string
		mod func(*Raw)
	}{
		{"session_storage", func(r *Raw) { r.SessionStorage = sp("memcache") }},
		{"redis_host", func(r *Raw) { r.SessionStorage = sp("redis") }},
		{"redis_port", func(r *Raw) { r.SessionStorage, r.RedisHost, r.RedisPort = sp("redis"), sp("h"), ip(0) }},
		{"redis_database", func(r *Raw) { r.SessionStorage, r.RedisHost, r.RedisDatabase = sp("redis"), sp("h"), ip(-1) }},
		{"redis_prefix", func(r *Raw) { r.SessionStorage, r.RedisHost, r.RedisPrefix = sp("redis"), sp("h"), sp("") }},
		{"redis_read_timeout", func(r *Raw) { r.SessionStorage, r.RedisHost, r.RedisReadTimeout = sp("redis"), sp("h"), ip(0) }},
		{"backchannel_logout_path", func(r *Raw) { r.BackchannelLogoutPath = sp("/bc") }}, // cookie storage
		{"backchannel_logout_path", func(r *Raw) {
			r.SessionStorage, r.RedisHost, r.BackchannelLogoutPath = sp("redis"), sp("h"), sp("bc")
		}},
		{"backchannel_logout_path", func(r *Raw) {
			r.SessionStorage, r.RedisHost, r.BackchannelLogoutPath = sp("redis"), sp("h"), sp("/web/callback")
		}},
		{"upstream_access_token_header", func(r *Raw) { r.UpstreamAccessTokenHeader = sp("bad name:bearer") }},
		{"upstream_access_token_header", func(r *Raw) { r.UpstreamAccessTokenHeader = sp("host") }},
		{"upstream_id_token_header", func(r *Raw) { r.UpstreamIDTokenHeader = sp("X-Authenticated-Userid") }},
		{"upstream_id_token_header", func(r *Raw) { r.UpstreamIDTokenHeader = sp("authorization:bearer") }},
		{"redis_password", func(r *Raw) { r.RedisPassword = sp("x") }}, // cookie storage: a slip, not ignored
		{"redis_host", func(r *Raw) { r.RedisHost = sp("redis.internal") }},
	} {
		raw := validRaw()
		c.mod(raw)
		_, err := Parse(raw)
		if err == nil || !strings.Contains(err.Error(), c.key+":") {
			t.Errorf("%s: err = %v", c.key, err)
		}
	}
}

func TestTokenHeaderValue(t *testing.T) {
	raw := validRaw()
	raw.UpstreamAccessTokenHeader = sp("authorization:bearer")
	raw.UpstreamIDTokenHeader = sp("x-id-token")
	c, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.UpstreamAccessToken.Value("t"); c.UpstreamAccessToken.Header != "Authorization" || got != "Bearer t" {
		t.Fatalf("%+v %q", c.UpstreamAccessToken, got)
	}
	if got := c.UpstreamIDToken.Value("t"); c.UpstreamIDToken.Header != "X-Id-Token" || got != "t" {
		t.Fatalf("%+v %q", c.UpstreamIDToken, got)
	}
}
