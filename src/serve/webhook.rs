//! webhook: the `POST /webhooks/github` endpoint's checks, before any work is queued.
//!
//! Takes the raw request (headers and body) and gives either a verified [`Delivery`] (event
//! name, delivery id, parsed JSON payload) or the refusal to answer with. The signature is the
//! HMAC-SHA256 of the raw body under the shared secret, compared in constant time; a delivery
//! id seen before is a replay and is refused as a duplicate. This module does no work on the
//! event itself and never logs the secret or the body.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::forge::Secret;

/// A delivery that passed every check.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-GitHub-Event`, such as `push`.
    pub event: String,
    /// `X-GitHub-Delivery`.
    pub id: String,
    /// The JSON payload.
    pub payload: serde_json::Value,
}

/// Why a delivery was refused: the status to answer, the metrics label and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: StatusCode,
    /// Result label for `redress_webhook_deliveries_total`.
    pub result: &'static str,
    /// The answer's body.
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, result: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            result,
            message: message.into(),
        }
    }
}

/// Whether `signature` (the `X-Hub-Signature-256` header: `sha256=<hex>`) is the HMAC-SHA256
/// of `body` under `secret`. The comparison takes the same time wherever the bytes differ.
pub fn signature_matches(secret: &Secret, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// `sha256=<hex>` for `body` under `secret`: what GitHub sends (used by tests and the load
/// generator).
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Delivery ids seen lately, so a replayed delivery is not acted on twice. Bounded: the oldest
/// ids are forgotten first.
pub struct Deliveries {
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
    capacity: usize,
}

impl Deliveries {
    /// Remembers up to `capacity` ids.
    pub fn new(capacity: usize) -> Deliveries {
        Deliveries {
            seen: Mutex::new((HashSet::new(), VecDeque::new())),
            capacity,
        }
    }

    /// Records `id`; false when it was already seen.
    pub fn first_time(&self, id: &str) -> bool {
        let mut guard = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (set, order) = &mut *guard;
        if set.contains(id) {
            return false;
        }
        set.insert(id.to_owned());
        order.push_back(id.to_owned());
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks one delivery: signature first (nothing else is looked at before), then the event
/// and delivery headers, the replay, and the JSON body.
pub fn check(
    secret: &Secret,
    deliveries: &Deliveries,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Delivery, Refusal> {
    let Some(signature) = header(headers, "x-hub-signature-256") else {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing X-Hub-Signature-256",
        ));
    };
    if !signature_matches(secret, body, signature) {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the signature does not match",
        ));
    }
    let (Some(event), Some(id)) = (
        header(headers, "x-github-event"),
        header(headers, "x-github-delivery"),
    ) else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "missing X-GitHub-Event or X-GitHub-Delivery",
        ));
    };
    let payload: serde_json::Value = serde_json::from_slice(body).map_err(|error| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body is not JSON: {error}"),
        )
    })?;
    if !deliveries.first_time(id) {
        return Err(Refusal::new(
            StatusCode::OK,
            "duplicate",
            format!("delivery {id} was already received; ignored"),
        ));
    }
    Ok(Delivery {
        event: event.to_owned(),
        id: id.to_owned(),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn github_documented_example_verifies() {
        // The example from GitHub's webhook documentation.
        let secret = Secret::new("It's a Secret to Everybody");
        let body = b"Hello, World!";
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(&secret, body), expected);
        assert!(signature_matches(&secret, body, expected));
        assert!(!signature_matches(&secret, b"Hello, World?", expected));
        assert!(!signature_matches(&Secret::new("other"), body, expected));
        assert!(!signature_matches(&secret, body, "sha1=757107ea"));
        assert!(!signature_matches(&secret, body, "sha256=zz"));
        assert!(!signature_matches(&secret, body, "sha256=757"));
    }

    #[test]
    fn checks_in_order_and_refuses_replays() {
        let secret = Secret::new("s3cret");
        let deliveries = Deliveries::new(2);
        let body = br#"{"ref":"refs/heads/main"}"#;
        let signature = sign(&secret, body);
        let good = headers(&[
            ("x-hub-signature-256", &signature),
            ("x-github-event", "push"),
            ("x-github-delivery", "d1"),
        ]);
        let delivery = check(&secret, &deliveries, &good, body).unwrap();
        assert_eq!(
            (delivery.event.as_str(), delivery.id.as_str()),
            ("push", "d1")
        );
        let replay = check(&secret, &deliveries, &good, body).unwrap_err();
        assert_eq!(replay.result, "duplicate");

        let unsigned = headers(&[("x-github-event", "push"), ("x-github-delivery", "d2")]);
        assert_eq!(
            check(&secret, &deliveries, &unsigned, body)
                .unwrap_err()
                .status,
            StatusCode::UNAUTHORIZED
        );
        // A wrongly signed delivery does not burn its id.
        let wrong = headers(&[
            ("x-hub-signature-256", &sign(&Secret::new("guess"), body)),
            ("x-github-event", "push"),
            ("x-github-delivery", "d3"),
        ]);
        assert_eq!(
            check(&secret, &deliveries, &wrong, body)
                .unwrap_err()
                .result,
            "unauthorized"
        );
        let right = headers(&[
            ("x-hub-signature-256", &signature),
            ("x-github-event", "push"),
            ("x-github-delivery", "d3"),
        ]);
        assert!(check(&secret, &deliveries, &right, body).is_ok());

        let not_json = b"nope";
        let bad = headers(&[
            ("x-hub-signature-256", &sign(&secret, not_json)),
            ("x-github-event", "push"),
            ("x-github-delivery", "d4"),
        ]);
        assert_eq!(
            check(&secret, &deliveries, &bad, not_json)
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn remembers_a_bounded_number_of_ids() {
        let deliveries = Deliveries::new(2);
        assert!(deliveries.first_time("a"));
        assert!(deliveries.first_time("b"));
        assert!(!deliveries.first_time("a"));
        assert!(deliveries.first_time("c"));
        // "a" was the oldest and is forgotten.
        assert!(deliveries.first_time("a"));
    }
}
