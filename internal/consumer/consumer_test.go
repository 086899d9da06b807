package consumer

import (
	"context"
	"errors"
	"testing"
	"time"
)

const aliceID = "6a0c2e8e-3c5b-4a43-9a55-0e8f6f1c2d11"

// kongLookup behaves like kong.client.load_consumer over a fixed set of
// consumers, and counts its calls. It fails the test when asked what Kong
// would throw on.
type kongLookup struct {
	t         *testing.T
	consumers []Consumer
	calls     int
	err       error
}

func (k *kongLookup) LoadConsumer(_ context.Context, v string, byUsername bool) (Consumer, bool, error) {
	k.calls++
	if k.err != nil {
		return Consumer{}, false, k.err
	}
	if !IsUUID(v) && !byUsername {
		k.t.Fatalf("load_consumer(%q, false) would throw in Kong (500)", v)
	}
	if IsUUID(v) {
		for _, c := range k.consumers {
			if c.ID == v {
				return c, true, nil
			}
		}
	}
	if byUsername {
		for _, c := range k.consumers {
			if c.Username == v {
				return c, true, nil
			}
		}
	}
	return Consumer{}, false, nil
}

func TestFind(t *testing.T) {
	alice := Consumer{ID: aliceID, Username: "alice"}
	// a consumer whose username is another consumer's id
	tricky := Consumer{ID: "11111111-2222-4333-8444-555555555555", Username: aliceID}
	cases := []struct {
		name      string
		value     string
		by        By
		want      string // consumer id, "" for none
		wantCalls int
	}{
		{"username", "alice", By{Username: true}, aliceID, 1},
		{"username is case-sensitive", "Alice", By{Username: true}, "", 1},
		{"id", aliceID, By{ID: true}, aliceID, 1},
		{"id in upper case", "6A0C2E8E-3C5B-4A43-9A55-0E8F6F1C2D11", By{ID: true}, "", 1},
		{"non-UUID never reaches an id-only lookup", "alice", By{ID: true}, "", 0},
		{"empty value never reaches a lookup", "", By{ID: true, Username: true}, "", 0},
		{"id or username, by username", "alice", By{ID: true, Username: true}, aliceID, 1},
		{"id or username, by id", aliceID, By{ID: true, Username: true}, aliceID, 1},
		// Kong finds alice by id first: with username only that is no match.
		{"username only refuses a match by id", aliceID, By{Username: true}, "", 1},
		{"unknown", "carol", By{Username: true}, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := &kongLookup{t: t, consumers: []Consumer{alice, tricky}}
			r := NewResolver(nil)
			c, found, err := r.Find(context.Background(), k, tc.value, tc.by)
			if err != nil {
				t.Fatal(err)
			}
			if found != (tc.want != "") || c.ID != tc.want {
				t.Fatalf("got %+v found=%v, want id %q", c, found, tc.want)
			}
			if k.calls != tc.wantCalls {
				t.Fatalf("%d lookups, want %d", k.calls, tc.wantCalls)
			}
		})
	}
}

func TestCacheLifetimes(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewResolver(func() time.Time { return now })
	k := &kongLookup{t: t, consumers: []Consumer{{ID: aliceID, Username: "alice"}}}
	ctx := context.Background()
	by := By{Username: true}
	for range 3 {
		if _, found, _ := r.Find(ctx, k, "alice", by); !found {
			t.Fatal("alice not found")
		}
	}
	if k.calls != 1 {
		t.Fatalf("%d lookups for a cached consumer, want 1", k.calls)
	}
	now = now.Add(FoundTTL)
	r.Find(ctx, k, "alice", by)
	if k.calls != 2 {
		t.Fatalf("found entry not refreshed after FoundTTL")
	}

	// a miss is remembered only briefly: a consumer added to Kong is seen
	// after MissTTL
	r.Find(ctx, k, "bob", by)
	r.Find(ctx, k, "bob", by)
	if k.calls != 3 {
		t.Fatalf("%d lookups, want the miss cached once", k.calls)
	}
	k.consumers = append(k.consumers, Consumer{ID: "22222222-2222-4333-8444-555555555555", Username: "bob"})
	now = now.Add(MissTTL)
	if _, found, _ := r.Find(ctx, k, "bob", by); !found {
		t.Fatal("bob added to Kong not found after MissTTL")
	}
}

func TestLookupErrorIsNotCached(t *testing.T) {
	r := NewResolver(nil)
	k := &kongLookup{t: t, err: errors.New("closed")}
	if _, _, err := r.Find(context.Background(), k, "alice", By{Username: true}); !errors.Is(err, ErrLookup) {
		t.Fatalf("err = %v, want ErrLookup", err)
	}
	k.err = nil
	k.consumers = []Consumer{{ID: aliceID, Username: "alice"}}
	if _, found, err := r.Find(context.Background(), k, "alice", By{Username: true}); err != nil || !found {
		t.Fatalf("after a failed lookup: found=%v err=%v", found, err)
	}
}

func TestLoadAnonymousByIDOrUsername(t *testing.T) {
	k := &kongLookup{t: t, consumers: []Consumer{{ID: aliceID, Username: "anon"}}}
	r := NewResolver(nil)
	for _, v := range []string{"anon", aliceID} {
		if c, found, err := r.Load(context.Background(), k, v); err != nil || !found || c.ID != aliceID {
			t.Fatalf("Load(%q) = %+v %v %v", v, c, found, err)
		}
	}
	if _, found, _ := r.Load(context.Background(), k, "nobody"); found {
		t.Fatal("nobody found")
	}
}

func TestCredentialID(t *testing.T) {
	a := CredentialID("https://a.example/oauth2/default", "alice")
	if !IsUUID(a) || a[14] != '5' {
		t.Fatalf("%q is not a UUIDv5", a)
	}
	if a != CredentialID("https://a.example/oauth2/default", "alice") {
		t.Fatal("not stable")
	}
	if a == CredentialID("https://b.example/oauth2/default", "alice") {
		t.Fatal("same id for another issuer")
	}
	// the separator keeps issuer and subject apart
	if CredentialID("ab", "c") == CredentialID("a", "bc") {
		t.Fatal("issuer/subject boundary ambiguous")
	}
}

func TestIsUUID(t *testing.T) {
	for s, want := range map[string]bool{
		aliceID: true, "6A0C2E8E-3C5B-4A43-9A55-0E8F6F1C2D11": true,
		"alice": false, "": false, "6a0c2e8e3c5b4a439a550e8f6f1c2d11": false,
		"6a0c2e8e-3c5b-4a43-9a55-0e8f6f1c2d1g": false, "6a0c2e8e-3c5b-4a43-9a55-0e8f6f1c2d11 ": false,
	} {
		if IsUUID(s) != want {
			t.Errorf("IsUUID(%q) = %v", s, !want)
		}
	}
}
