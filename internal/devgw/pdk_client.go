package devgw

import (
	"strings"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
)

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.client
		"kong.client.get_ip":             func(rq *request, _ []byte) pdkResult { return wrapString(rq.realipAddr) },
		"kong.client.get_forwarded_ip":   func(rq *request, _ []byte) pdkResult { return wrapString(rq.remoteAddr) },
		"kong.client.get_port":           func(rq *request, _ []byte) pdkResult { return wrapInt(rq.realipPort) },
		"kong.client.get_forwarded_port": func(rq *request, _ []byte) pdkResult { return wrapInt(rq.remotePort) },
		"kong.client.get_protocol":       pdkClientGetProtocol,
		"kong.client.get_credential":     pdkClientGetCredential,
		"kong.client.get_consumer":       pdkClientGetConsumer,
		"kong.client.load_consumer":      pdkClientLoadConsumer,
		"kong.client.authenticate":       pdkClientAuthenticate,
	})
}

// authAndLater is check_phase(AUTH_AND_LATER) of kong/pdk/client.lua: every
// phase kong-devgw runs except rewrite.
func authAndLater(rq *request) *pdkResult {
	if rq.phase == "rewrite" {
		return failed(phaseError(rq, "access, header_filter, response, body_filter, log"))
	}
	return nil
}

// kong.client.get_credential: ngx.ctx.authenticated_credential (nil: an
// empty reply, which go-pdk reads as a zero credential).
func pdkClientGetCredential(rq *request, _ []byte) pdkResult {
	if fail := authAndLater(rq); fail != nil {
		return *fail
	}
	if rq.authCredential == nil {
		return empty()
	}
	return reply(rq.authCredential)
}

// kong.client.get_consumer: ngx.ctx.authenticated_consumer.
func pdkClientGetConsumer(rq *request, _ []byte) pdkResult {
	if fail := authAndLater(rq); fail != nil {
		return *fail
	}
	if rq.authConsumer == nil {
		return empty()
	}
	return reply(rq.authConsumer)
}

// kong.client.load_consumer(id, search_by_username) (3.9.1): a non-UUID id
// without search_by_username throws (a 500); a UUID is looked up by id,
// then by username when asked; not found is nil.
func pdkClientLoadConsumer(rq *request, args []byte) pdkResult {
	if fail := authAndLater(rq); fail != nil {
		return *fail
	}
	var spec kpp.ConsumerSpec
	if !decode(args, &spec) {
		return decodeFail("ConsumerSpec")
	}
	if !isUUIDAnyCase(spec.Id) && !spec.ByUsername {
		return throw("cannot load a consumer with an id that is not a uuid")
	}
	c := rq.snap.cfg.consumers.load(spec.Id, spec.ByUsername)
	if c == nil {
		return empty()
	}
	return reply(c.proto())
}

// kong.client.authenticate(consumer, credential): access only; both nil
// throws.
func pdkClientAuthenticate(rq *request, args []byte) pdkResult {
	if rq.phase != "access" {
		return phaseError(rq, "access")
	}
	var a kpp.AuthenticateArgs
	if !decode(args, &a) {
		return decodeFail("AuthenticateArgs")
	}
	if a.Consumer == nil && a.Credential == nil {
		return throw("either credential or consumer must be provided")
	}
	rq.authConsumer, rq.authCredential, rq.authCredentialLua = a.Consumer, a.Credential, false
	return empty()
}

// proto is the consumer as Kong encodes the entity for a Go plugin.
func (c *Consumer) proto() *kpp.Consumer {
	return &kpp.Consumer{Id: c.ID, Username: c.Username, CustomId: c.CustomID, CreatedAt: c.CreatedAt, Tags: c.Tags}
}

func pdkClientGetProtocol(rq *request, args []byte) pdkResult {
	var b kpp.Bool
	if !decode(args, &b) {
		return decodeFail("Bool")
	}
	if rq.route == nil {
		return empty() // nil, "No active route found"
	}
	if len(rq.route.Protocols) == 1 {
		return wrapString(rq.route.Protocols[0])
	}
	if rq.scheme == "https" {
		return wrapString("https")
	}
	if b.V && rq.trusted {
		if v, ok := rq.hdrs.joined("x-forwarded-proto"); ok {
			if strings.Contains(v, ",") {
				return empty() // nil, "Only one X-Forwarded-Proto header allowed"
			}
			if strings.EqualFold(v, "https") {
				return wrapString("https")
			}
		}
	}
	return wrapString("http")
}
