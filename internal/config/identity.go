package config

import (
	"strings"
)

// Values of consumer_by.
const (
	ConsumerByID       = "id"
	ConsumerByUsername = "username"
	ConsumerByCustomID = "custom_id"
)

// Identity is how the plugin takes part in Kong's identity model: the
// consumer it maps a token to, the anonymous consumer, and the groups it
// hands to Kong's acl plugin.
type Identity struct {
	// ConsumerClaim names the consumer (nil: no mapping).
	ConsumerClaim Claim
	// ByID and ByUsername are consumer_by.
	ByID, ByUsername bool
	// ConsumerOptional: a token whose consumer is not found still passes.
	ConsumerOptional bool
	// Anonymous is the consumer (id or username) for requests without valid
	// credentials; "" for none.
	Anonymous string
	// GroupsClaim is authenticated_groups_claim (nil: not set).
	GroupsClaim Claim
}

// Authenticates reports whether a token's pass calls
// kong.client.authenticate: with a consumer mapping, and with anonymous (so
// that an anonymous consumer set by an earlier plugin is replaced).
func (i Identity) Authenticates() bool { return i.ConsumerClaim != nil || i.Anonymous != "" }

// Enabled reports whether any identity key is set.
func (i Identity) Enabled() bool { return i.Authenticates() || i.GroupsClaim != nil }

func claimPath(ck *checker, key string, v []string) Claim {
	if v == nil {
		return nil
	}
	if len(v) == 0 {
		ck.add(key, "must name a claim (or be left unset)")
		return nil
	}
	for i, p := range v {
		if p == "" {
			ck.add(key, "element %d is empty", i+1)
		}
	}
	return Claim(v)
}

func (c *Config) checkIdentity(ck *checker, raw *Raw) {
	id := &c.Identity
	id.ConsumerClaim = claimPath(ck, "consumer_claim", raw.ConsumerClaim)
	id.GroupsClaim = claimPath(ck, "authenticated_groups_claim", raw.AuthenticatedGroupsClaim)
	id.ConsumerOptional = boolean(raw.ConsumerOptional, false)
	if raw.Anonymous != nil {
		id.Anonymous = *raw.Anonymous
		if strings.TrimSpace(id.Anonymous) != id.Anonymous || id.Anonymous == "" {
			ck.add("anonymous", "%q must be a consumer id or username without surrounding spaces", id.Anonymous)
		}
	}
	// Kong Enterprise's openid-connect defaults to [username, custom_id];
	// custom_id cannot be honoured here (see below), so the default is
	// [username].
	by := list(raw.ConsumerBy, ConsumerByUsername)
	if raw.ConsumerBy != nil && len(raw.ConsumerBy) == 0 {
		ck.add("consumer_by", "must name id or username (or be left unset)")
	}
	for _, b := range by {
		switch b {
		case ConsumerByID:
			id.ByID = true
		case ConsumerByUsername:
			id.ByUsername = true
		case ConsumerByCustomID:
			// kong.client.load_consumer (the only consumer lookup Kong
			// serves to a Go plugin) searches by id and by username only.
			ck.add("consumer_by", "custom_id is not supported: Kong's PDK (kong.client.load_consumer) finds consumers only by id or username; use id or username")
		default:
			ck.add("consumer_by", "%q is not one of id, username", b)
		}
	}
	if id.ConsumerClaim == nil {
		if raw.ConsumerBy != nil {
			ck.add("consumer_by", "has no effect without consumer_claim")
		}
		if id.ConsumerOptional {
			ck.add("consumer_optional", "has no effect without consumer_claim")
		}
	}
}
