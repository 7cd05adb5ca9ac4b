//! Random secrets from the operating system's generator, and their SHA-256 digests, which are
//! all the database keeps.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const TOKEN_PREFIX: &str = "vit_";

/// 256 random bits, URL-safe base64 (43 characters).
pub fn random() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// An API token as handed out: `vit_<id>_<secret>`.
pub fn join_token(id: i64, secret: &str) -> String {
    format!("{TOKEN_PREFIX}{id}_{secret}")
}

/// The id and secret of a token, if it has the token's shape.
pub fn split_token(token: &str) -> Option<(i64, &str)> {
    let (id, secret) = token.trim().strip_prefix(TOKEN_PREFIX)?.split_once('_')?;
    // One spelling per token: plain digits, no sign, no leading zero.
    let canonical = !id.starts_with('0') && id.bytes().all(|byte| byte.is_ascii_digit());
    let id = id.parse().ok().filter(|_| canonical)?;
    (secret.len() == 43).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_one_spelling() {
        let secret = random();
        assert_eq!(secret.len(), 43);
        let token = join_token(12, &secret);
        assert_eq!(split_token(&token), Some((12, secret.as_str())));
        for odd in ["+12", "012", "0", "-1", "1 2", ""] {
            assert_eq!(split_token(&format!("vit_{odd}_{secret}")), None, "{odd}");
        }
        assert_eq!(split_token(&format!("vit_12_{}", &secret[1..])), None);
    }
}
