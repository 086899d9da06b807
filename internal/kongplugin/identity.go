package kongplugin

import (
	"context"
	"fmt"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/client"
	"github.com/Kong/go-pdk/entities"

	"github.com/okta-oidc/okta-oidc/internal/consumer"
	"github.com/okta-oidc/okta-oidc/internal/gateway"
)

// consumers is consumer.Lookup over kong.client.load_consumer. Kong answers
// nil for "not found", which go-pdk turns into a zero Consumer.
type consumers struct{ c client.Client }

func (p consumers) LoadConsumer(_ context.Context, value string, byUsername bool) (consumer.Consumer, bool, error) {
	c, err := p.c.LoadConsumer(value, byUsername)
	if err != nil {
		return consumer.Consumer{}, false, err
	}
	if c.Id == "" {
		return consumer.Consumer{}, false, nil
	}
	return consumer.Consumer{ID: c.Id, Username: c.Username, CustomID: c.CustomId, CreatedAt: c.CreatedAt, Tags: c.Tags}, true, nil
}

// earlierCredential reads kong.client.get_credential: nil (no earlier
// authentication) arrives as a zero credential.
func earlierCredential(c client.Client) (bool, error) {
	cred, err := c.GetCredential()
	if err != nil {
		return false, err
	}
	return cred.Id != "" || cred.ConsumerId != "", nil
}

// applyIdentity hands a pass's identity to Kong: kong.client.authenticate
// (one call) and kong.ctx.shared.authenticated_groups for acl (one call).
func applyIdentity(kong *pdk.PDK, d gateway.Decision) error {
	if id := d.Identity; id != nil {
		var (
			c    *entities.Consumer
			cred *client.AuthenticatedCredential
		)
		if id.Consumer != nil {
			c = &entities.Consumer{Id: id.Consumer.ID, Username: id.Consumer.Username, CustomId: id.Consumer.CustomID,
				CreatedAt: id.Consumer.CreatedAt, Tags: id.Consumer.Tags}
		}
		if id.CredentialID != "" {
			cred = &client.AuthenticatedCredential{Id: id.CredentialID}
			if c != nil {
				cred.ConsumerId = c.Id
			}
		}
		if err := kong.Client.Authenticate(c, cred); err != nil {
			return fmt.Errorf("kong.client.authenticate: %w", err)
		}
	}
	if d.AuthenticatedGroups != nil {
		groups := make([]any, len(d.AuthenticatedGroups))
		for i, g := range d.AuthenticatedGroups {
			groups[i] = g
		}
		if err := kong.Ctx.SetShared("authenticated_groups", groups); err != nil {
			return fmt.Errorf("setting kong.ctx.shared.authenticated_groups: %w", err)
		}
	}
	return nil
}
