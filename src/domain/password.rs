//! What a password must be: long enough, not absurdly long (argon2 hashes every byte), and not
//! one of the passwords people pick most (a short list compiled in: attackers try these first,
//! and a rate limit only slows them down).

/// Fewer characters than this are refused.
pub const MIN_CHARS: usize = 8;
/// More characters than this are refused (a long password costs each sign-in's hash).
pub const MAX_CHARS: usize = 256;

/// The most common passwords of public breach lists that pass the length rule (compared without
/// case, and with trailing digits and symbols removed too: `Password123!` is `password`).
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "12345678",
    "123456789",
    "1234567890",
    "0123456789",
    "11111111",
    "00000000",
    "88888888",
    "12341234",
    "87654321",
    "11223344",
    "qwertyui",
    "qwertyuiop",
    "qwerty123",
    "1q2w3e4r",
    "1qaz2wsx",
    "zaq12wsx",
    "qazwsxedc",
    "asdfghjkl",
    "asdfasdf",
    "abcd1234",
    "abcdefgh",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "starwars",
    "whatever",
    "trustno1",
    "letmein",
    "welcome",
    "welcome1",
    "password1",
    "changeme",
    "computer",
    "corvette",
    "mercedes",
    "michelle",
    "jennifer",
    "jordan23",
    "internet",
    "shadow",
    "master",
    "dragon",
    "monkey",
    "mustang",
    "michael",
    "charlie",
    "freedom",
    "killer",
    "batman",
    "access",
    "secret",
    "admin",
    "administrator",
    "default",
    "qwerty",
    "azerty",
    "azertyuiop",
    "motdepasse",
    "passwort",
    "contrasena",
    "contraseña",
    "senha",
    "test",
    "testtest",
    "guest",
    "login",
    "root",
    "toor",
    "hello",
    "hellohello",
    "loveme",
    "lovely",
    "babygirl",
    "1234qwer",
    "q1w2e3r4",
    "q1w2e3r4t5",
    "zxcvbnm",
    "zxcvbnm1",
    "asdf1234",
    "pokemon",
    "minecraft",
    "samsung",
    "liverpool",
    "chelsea",
    "arsenal",
    "soccer",
    "hockey",
    "summer",
    "winter",
    "spring",
    "autumn",
    "queuecast",
];

/// Why a password is refused, in words for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weak {
    TooShort,
    TooLong,
    Common,
    /// The same as the account's email or its name part.
    LikeEmail,
}

impl std::fmt::Display for Weak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Weak::TooShort => write!(f, "a password has at least {MIN_CHARS} characters"),
            Weak::TooLong => write!(f, "a password has at most {MAX_CHARS} characters"),
            Weak::Common => write!(f, "this password is among the most common ones; choose another"),
            Weak::LikeEmail => write!(f, "a password may not be the account's email"),
        }
    }
}

/// Checks a new password for the account `email`.
pub fn check(password: &str, email: &str) -> Result<(), Weak> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(Weak::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(Weak::TooLong);
    }
    let lower = password.trim().to_lowercase();
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    if COMMON.iter().any(|c| *c == lower || *c == stem) {
        return Err(Weak::Common);
    }
    let email = email.trim().to_lowercase();
    let name = email.split('@').next().unwrap_or_default();
    if lower == email || (!name.is_empty() && (lower == name || stem == name)) {
        return Err(Weak::LikeEmail);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_long_and_common_passwords_are_refused() {
        assert_eq!(check("short1", "a@b.test"), Err(Weak::TooShort));
        assert_eq!(check(&"x".repeat(MAX_CHARS + 1), "a@b.test"), Err(Weak::TooLong));
        assert_eq!(check("password", "a@b.test"), Err(Weak::Common));
        assert_eq!(check("Password123!", "a@b.test"), Err(Weak::Common));
        assert_eq!(check("QWERTYUIOP", "a@b.test"), Err(Weak::Common));
        assert_eq!(check("12345678", "a@b.test"), Err(Weak::Common));
        assert_eq!(check("ann.lee@acme.test", "ann.lee@acme.test"), Err(Weak::LikeEmail));
        assert_eq!(check("ann.lee2024", "ann.lee@acme.test"), Err(Weak::LikeEmail));
    }

    #[test]
    fn ordinary_passphrases_pass() {
        assert_eq!(check("correct horse battery", "a@b.test"), Ok(()));
        assert_eq!(check("demo-password", "admin@demo.test"), Ok(()));
        // Length is counted in characters, not bytes.
        assert_eq!(check("ééééééé", "a@b.test"), Err(Weak::TooShort));
        assert_eq!(check("éééééééé", "a@b.test"), Ok(()));
    }
}
