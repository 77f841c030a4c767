//! Strict HS256 JWT verification with a pre-keyed HMAC, and token minting.
