"""Seeded synthetic Marketplace tokens for scripts: the same SplitMix64 generator (Steele et al. 2014) as
Sources/_MPTScanTestSupport/SyntheticTokens.swift, so Swift tests and Python scripts agree on every value.
Never a real secret: each value is a pure function of its seed."""

MASK = (1 << 64) - 1
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def synthetic_secret(seed, length=64, alphabet=ALNUM):
    state = mix((seed * 0x2545F4914F6CDD1D + 1) & MASK)
    out = []
    for _ in range(length):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        out.append(alphabet[mix(state) % len(alphabet)])
    return "".join(out)


def synthetic_token_id(seed):
    n = mix((seed + 77) & MASK)
    return "TKN-%04d-%04d" % (n % 10000, (n // 10000) % 10000)


def synthetic_token(seed):
    """`idt:TKN-dddd-dddd:<64>` for `seed`, as SyntheticTokens.token(seed:)."""
    return f"idt:{synthetic_token_id(seed)}:{synthetic_secret(seed)}"


URLSAFE = ALNUM + "-_"


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def synthetic_jwt(seed, claims, header=None):
    """A JWT (RFC 7519 compact form) with `claims` as its payload and a synthetic signature: never a real
    credential (the signature is a pure function of `seed`, so it verifies against no key)."""
    import json
    header = header or {"alg": "RS256", "typ": "JWT", "kid": "synthetic-%d" % seed}
    parts = [b64url(json.dumps(header, separators=(",", ":")).encode()),
             b64url(json.dumps(claims, separators=(",", ":")).encode()),
             synthetic_secret(seed + 100000, length=342, alphabet=URLSAFE)]
    return ".".join(parts)
