package issuer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
)

// MinRSABits is the smallest RSA modulus a signing key may have.
const MinRSABits = 2048

// StrongKey reports whether key is a public signature key the plugin may
// verify with: RSA of at least MinRSABits with an odd exponent of at least
// 3, ECDSA on P-256, P-384 or P-521, or Ed25519. Everything else (symmetric
// keys above all, which would let anyone holding them mint tokens) is not.
func StrongKey(key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return k != nil && k.N != nil && k.N.BitLen() >= MinRSABits && k.E >= 3 && k.E%2 == 1
	case *ecdsa.PublicKey:
		if k == nil || k.X == nil || k.Y == nil {
			return false
		}
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return true
		}
	case ed25519.PublicKey:
		return len(k) == ed25519.PublicKeySize
	}
	return false
}
