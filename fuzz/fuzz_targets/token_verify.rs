//! Fuzz target: verifying any string never panics and accepts only tokens that `sign` would produce.
#![no_main]

use arshjul::link::{sign, verify, Secret, TokenError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const KEY: [u8; 32] = [7; 32];

/// Verifies `token` and checks that whatever is accepted (in date or
/// expired) is exactly what `sign` makes of the claims it carries: anything
/// else would be a second spelling of one link, or a forgery.
fn check(secret: &Secret, token: &str, now: DateTime<Utc>) {
    match verify(secret, token, now) {
        Ok(claims) => {
            assert!(
                claims.expires >= now.timestamp(),
                "accepted an expired token"
            );
            assert_eq!(
                sign(secret, &claims),
                token,
                "accepted a token sign() did not make"
            );
        }
        Err(TokenError::Expired(claims)) => {
            assert!(
                claims.expires < now.timestamp(),
                "refused a token still in date"
            );
            assert_eq!(
                sign(secret, &claims),
                token,
                "decoded a token sign() did not make"
            );
        }
        Err(TokenError::Invalid) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let secret = Secret::from_bytes(KEY);
    let Some(now) = DateTime::from_timestamp(1_800_000_000, 0) else {
        return;
    };
    // The input as a token, as an attacker would send it.
    if let Ok(token) = std::str::from_utf8(data) {
        check(&secret, token, now);
    }
    // The input as a payload carrying a genuine MAC, as if the key had
    // signed it: this reaches the payload decoder, which a forged MAC never
    // does, and checks that it accepts only the encoding `sign` writes.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&KEY) else {
        return;
    };
    mac.update(data);
    let mut signed = data.to_vec();
    signed.extend_from_slice(&mac.finalize().into_bytes());
    check(&secret, &URL_SAFE_NO_PAD.encode(signed), now);
});
