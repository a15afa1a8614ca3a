//! Console sessions: a bearer token is exchanged once, at sign-in, for a session cookie.
//!
//! The cookie holds only a random id (32 bytes from the OS); the session, in the server's memory,
//! holds the caller and the session's CSRF token. `HttpOnly` keeps scripts from reading it,
//! `SameSite=Strict` keeps other sites' pages from sending it, `Secure` is added when the request
//! came over TLS (a proxy's `X-Forwarded-Proto: https`). A session ends at sign-out or after
//! [`SESSION_IDLE`] without a request; a server restart ends them all (people sign in again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use ring::rand::{SecureRandom, SystemRandom};
use shuyu::governance::model::Caller;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "shuyu_session";
/// A session unused this long has ended.
pub(crate) const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// One signed-in person.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) caller: Caller,
    /// Every form carries it; a POST without it is refused (another site cannot read it).
    pub(crate) csrf: String,
    last_seen: Instant,
}

/// The sessions of one server. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sessions(Arc<Mutex<HashMap<String, Session>>>);

/// 32 random bytes as hex.
fn random_id() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Sessions {
    /// Starts a session for `caller`; returns its id, or `None` if the OS gave no randomness.
    pub(crate) fn start(&self, caller: Caller) -> Option<String> {
        let id = random_id()?;
        let csrf = random_id()?;
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Ended sessions are forgotten as new ones start, so the map stays as large as the
        // people signed in recently.
        map.retain(|_, s| s.last_seen.elapsed() < SESSION_IDLE);
        map.insert(
            id.clone(),
            Session {
                caller,
                csrf,
                last_seen: Instant::now(),
            },
        );
        Some(id)
    }

    /// The live session of a request's cookie, touched.
    pub(crate) fn of(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, COOKIE)?;
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let session = map.get_mut(&id)?;
        if session.last_seen.elapsed() >= SESSION_IDLE {
            map.remove(&id);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    /// Ends the session of a request's cookie.
    pub(crate) fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, COOKIE) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        }
    }
}

/// The value of cookie `name` in a request, if any.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The `Set-Cookie` value of a session (empty `id` and `Max-Age=0`: the cookie's removal).
pub(crate) fn set_cookie(id: &str, headers: &HeaderMap) -> String {
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let age = if id.is_empty() {
        0
    } else {
        SESSION_IDLE.as_secs()
    };
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={age}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use shuyu::governance::model::Role;

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_at_sign_out() {
        let sessions = Sessions::default();
        let caller = Caller {
            id: "rev".into(),
            role: Role::Reviewer,
        };
        let id = sessions.start(caller).expect("session");
        assert_eq!(id.len(), 64);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("lang=en; {COOKIE}={id}")).expect("header"),
        );
        let session = sessions.of(&headers).expect("live");
        assert_eq!(session.caller.id, "rev");
        assert_eq!(session.csrf.len(), 64);
        assert_ne!(session.csrf, id);
        sessions.end(&headers);
        assert!(sessions.of(&headers).is_none());
    }

    #[test]
    fn a_session_idle_longer_than_its_limit_has_ended() {
        let sessions = Sessions::default();
        let id = sessions
            .start(Caller {
                id: "bureau".into(),
                role: Role::Bureau,
            })
            .expect("session");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{COOKIE}={id}")).expect("header"),
        );
        let long_ago = Instant::now()
            .checked_sub(SESSION_IDLE + Duration::from_secs(1))
            .expect("a past instant");
        if let Some(session) = sessions.0.lock().expect("map").get_mut(&id) {
            session.last_seen = long_ago;
        }
        assert!(sessions.of(&headers).is_none(), "expired");
        assert!(sessions.0.lock().expect("map").is_empty(), "and forgotten");
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_behind_tls() {
        let plain = set_cookie("abc", &HeaderMap::new());
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        let mut tls = HeaderMap::new();
        tls.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(set_cookie("abc", &tls).ends_with("; Secure"));
        assert!(set_cookie("", &tls).contains("Max-Age=0"));
    }
}
