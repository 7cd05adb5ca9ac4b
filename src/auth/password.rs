//! Password hashing with argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane),
//! stored as PHC strings so the parameters travel with each hash and can be raised later.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::AccountError;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 1024;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash to verify against when the account does not exist, so an unknown name costs the same
/// time as a wrong password.
static DECOY: LazyLock<String> = LazyLock::new(|| {
    hasher()
        .hash_password(b"no such account", &SaltString::generate(&mut OsRng))
        .expect("hashing a fixed password")
        .to_string()
});

/// Hashes a password after checking its length (12 to 1,024 characters).
pub fn hash(password: &str) -> Result<String, AccountError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(AccountError::Invalid(format!(
            "a password needs at least {MIN_LENGTH} characters"
        )));
    }
    if length > MAX_LENGTH {
        return Err(AccountError::Invalid(format!(
            "a password has at most {MAX_LENGTH} characters"
        )));
    }
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AccountError::Invalid(format!("the password cannot be hashed: {error}")))
}

/// Whether `password` matches `hash`; `None` verifies against a decoy and answers false.
pub fn verify(password: &str, hash: Option<&str>) -> bool {
    let hash = hash.unwrap_or(DECOY.as_str());
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let matches = hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && hash != DECOY.as_str()
}
