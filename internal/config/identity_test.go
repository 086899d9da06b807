package config

import (
	"strings"
	"testing"
)

func TestIdentityKeys(t *testing.T) {
	iss := "https://dev-1.okta.com/oauth2/default"
	s := func(v string) *string { return &v }
	b := func(v bool) *bool { return &v }
	cases := []struct {
		name string
		raw  Raw
		want string // a problem substring; "" = valid
	}{
		{"unset", Raw{}, ""},
		{"mapping with default consumer_by", Raw{ConsumerClaim: []string{"sub"}}, ""},
		{"custom_id refused with the reason", Raw{ConsumerClaim: []string{"sub"}, ConsumerBy: []string{"custom_id"}}, "consumer_by: custom_id is not supported: Kong's PDK (kong.client.load_consumer) finds consumers only by id or username"},
		{"unknown consumer_by", Raw{ConsumerClaim: []string{"sub"}, ConsumerBy: []string{"email"}}, `consumer_by: "email" is not one of id, username`},
		{"empty consumer_by", Raw{ConsumerClaim: []string{"sub"}, ConsumerBy: []string{}}, "consumer_by: must name id or username"},
		{"consumer_by without claim", Raw{ConsumerBy: []string{"id"}}, "consumer_by: has no effect without consumer_claim"},
		{"consumer_optional without claim", Raw{ConsumerOptional: b(true)}, "consumer_optional: has no effect without consumer_claim"},
		{"empty claim element", Raw{ConsumerClaim: []string{""}}, "consumer_claim: element 1 is empty"},
		{"empty groups claim", Raw{AuthenticatedGroupsClaim: []string{}}, "authenticated_groups_claim: must name a claim"},
		{"anonymous with spaces", Raw{Anonymous: s(" anon")}, "anonymous:"},
		{"anonymous", Raw{Anonymous: s("anonymous")}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			raw.Issuer, raw.AuthMethods = &iss, []string{"bearer"}
			cfg, err := Parse(&raw)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if raw.ConsumerClaim != nil && (!cfg.Identity.ByUsername || cfg.Identity.ByID) {
					t.Fatalf("default consumer_by = %+v, want username", cfg.Identity)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
