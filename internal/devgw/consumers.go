package devgw

import (
	"fmt"
)

// Consumer is a declarative consumer entity with the credentials and ACL
// groups nested under it (keyauth_credentials, acls).
type Consumer struct {
	ID        string
	Username  string
	CustomID  string
	Tags      []string
	CreatedAt int64
	Groups    []string // acls, in declaration order
}

// keyCredential is a keyauth_credentials entity.
type keyCredential struct {
	ID       string
	Key      string
	Consumer *Consumer
}

// consumerSet holds the consumers of one declarative config.
type consumerSet struct {
	byID       map[string]*Consumer
	byUsername map[string]*Consumer
	byKey      map[string]*keyCredential
	// byRef resolves a plugin's consumer reference (id or username).
	byRef map[string]*Consumer
}

var keyCredentialKeys = map[string]bool{"id": true, "key": true, "tags": true, "ttl": true, "created_at": true, "consumer": true}
var aclKeys = map[string]bool{"id": true, "group": true, "tags": true, "created_at": true, "consumer": true}

// parseConsumers reads top-level consumers with their nested
// keyauth_credentials and acls. Other nested credentials and consumer
// plugins are refused.
func parseConsumers(c vctx, list []any, now int64) consumerSet {
	set := consumerSet{byID: map[string]*Consumer{}, byUsername: map[string]*Consumer{},
		byKey: map[string]*keyCredential{}, byRef: map[string]*Consumer{}}
	for i, item := range list {
		ic := c.at("consumers", i+1)
		m, ok := asRecord(ic, item)
		if !ok {
			continue
		}
		checkUnknown(ic, m, consumerKeys)
		for _, k := range []string{"plugins", "basicauth_credentials", "hmacauth_credentials", "jwt_secrets", "oauth2_credentials"} {
			if p, ok := getList(ic, m, k); ok && len(p) > 0 {
				ic.at(k).fail("'" + k + "' under a consumer is not supported by kong-devgw")
			}
		}
		cs := &Consumer{ID: getID(ic, m), CreatedAt: now}
		cs.Username, _ = getString(ic, m, "username")
		cs.CustomID, _ = getString(ic, m, "custom_id")
		cs.Tags, _ = getStringArray(ic, m, "tags")
		checkTimestamps(ic, m)
		if cs.Username == "" && cs.CustomID == "" {
			ic.entityFail("at least one of these fields must be non-empty: 'custom_id', 'username'")
			continue
		}
		if cs.ID == "" {
			cs.ID = defaultID(ic, "consumers", cs.Username+"\x00"+cs.CustomID)
		}
		if cs.Username != "" {
			if _, dup := set.byUsername[cs.Username]; dup {
				ic.at("username").fail(fmt.Sprintf("uniqueness violation: 'consumers' entity with username set to '%s' already declared", cs.Username))
			}
			set.byUsername[cs.Username] = cs
			set.byRef[cs.Username] = cs
		}
		if _, dup := set.byID[cs.ID]; dup {
			ic.at("id").fail(fmt.Sprintf("uniqueness violation: 'consumers' entity with primary key set to '%s' already declared", cs.ID))
		}
		set.byID[cs.ID] = cs
		set.byRef[cs.ID] = cs
		eachRecord(ic, m, "keyauth_credentials", keyCredentialKeys, func(kc vctx, km map[string]any) {
			if v, ok := km["ttl"]; ok && v != nil {
				kc.at("ttl").fail("'ttl' is not supported by kong-devgw")
			}
			cred := &keyCredential{ID: getID(kc, km), Consumer: cs}
			key, ok := getString(kc, km, "key")
			if !ok || key == "" {
				kc.at("key").fail("required by kong-devgw (Kong would generate a random key)")
				return
			}
			cred.Key = key
			if cred.ID == "" {
				cred.ID = uuidV5("keyauth_credentials:" + key)
			}
			if _, dup := set.byKey[key]; dup {
				kc.at("key").fail(fmt.Sprintf("uniqueness violation: 'keyauth_credentials' entity with key set to '%s' already declared", key))
			}
			set.byKey[key] = cred
		})
		eachRecord(ic, m, "acls", aclKeys, func(ac vctx, am map[string]any) {
			getID(ac, am)
			g, ok := getString(ac, am, "group")
			if !ok || g == "" {
				ac.at("group").fail("required field missing")
				return
			}
			cs.Groups = append(cs.Groups, g)
		})
	}
	return set
}

// eachRecord calls fn for every record of the list m[key] (a nested entity
// such as a consumer's keyauth_credentials), after checking its field names
// against known.
func eachRecord(parent vctx, m map[string]any, key string, known map[string]bool, fn func(vctx, map[string]any)) {
	list, ok := getList(parent, m, key)
	if !ok {
		return
	}
	for j, item := range list {
		c := parent.at(key, j+1)
		rec, ok := asRecord(c, item)
		if !ok {
			continue
		}
		checkUnknown(c, rec, known)
		fn(c, rec)
	}
}

// load is kong.client.load_consumer's database part: by id, then by
// username.
func (s consumerSet) load(value string, byUsername bool) *Consumer {
	if isUUIDAnyCase(value) {
		if c := s.byID[lowerASCII(value)]; c != nil {
			return c
		}
	}
	if byUsername {
		return s.byUsername[value]
	}
	return nil
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// isUUIDAnyCase is kong.tools.uuid.is_valid_uuid (3.9.1): 8-4-4-4-12 hex
// digits, case-insensitive.
func isUUIDAnyCase(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
