//! Passwords (argon2id), session tokens and CSRF tokens. Tokens are 32 random bytes in hex; the
//! database keeps only the SHA-256 of a session token, so a copy of it opens no session.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "se_session";
/// Header a state-changing request must carry, equal to the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The longest user name there can be (bytes): `user add` refuses longer ones, and a sign-in
/// with a longer one is answered 400 before anything is looked up or hashed.
pub const MAX_USERNAME_BYTES: usize = 64;
/// The longest password there can be (bytes), for the same reasons.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// An argon2id hash (PHC string) of `password`.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).expect("the OS has randomness");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password")
        .to_string()
}

/// Whether `password` matches `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the user does not exist, so an unknown name takes as long
/// as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password anyone has"))
}

/// What logs say instead of a user name: `user-` and the first 8 hex digits of its SHA-256.
/// A name as typed at sign-in may be a password typed into the wrong field, so logs never
/// carry one; to find a user's lines, `printf %s NAME | sha256sum | cut -c1-8`.
pub fn user_tag(name: &str) -> String {
    let h = Sha256::digest(name.as_bytes());
    format!("user-{:02x}{:02x}{:02x}{:02x}", h[0], h[1], h[2], h[3])
}

/// A password for people to type: 16 characters from 32 that are hard to confuse (no 0/O, 1/l/I),
/// 80 random bits.
pub fn new_password() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).expect("the OS has randomness");
    b.iter()
        .map(|x| ALPHABET[usize::from(x % 32)] as char)
        .collect()
}

/// 32 random bytes as 64 hex digits.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("the OS has randomness");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the database stores for a session token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horse ", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(hash_password("same"), hash_password("same"), "salted");
    }

    #[test]
    fn tokens_cookies_and_comparison() {
        let t = new_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, new_token());
        assert_eq!(token_hash("abc").len(), 64);
        assert_eq!(
            cookie("a=1; se_session=xyz; b=2", SESSION_COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie("se_sessionx=1", SESSION_COOKIE), None);
        assert!(same_token("abcd", "abcd"));
        assert!(!same_token("abcd", "abce") && !same_token("abc", "abcd"));
    }

    #[test]
    fn a_user_tag_is_short_stable_and_not_the_name() {
        // printf %s wang | sha256sum
        assert_eq!(user_tag("wang"), "user-2ac81299");
        assert_eq!(user_tag("wang"), user_tag("wang"));
        assert_ne!(user_tag("wang"), user_tag("Wang"));
        assert!(!user_tag("correct horse").contains("horse"));
    }
}
