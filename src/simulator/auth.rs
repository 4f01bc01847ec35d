//! The Auth API v1 at `/auth/v1`: the user's tokens (metadata only — the API never returns a
//! token's value once generated). Dates are relative to now, so some tokens are expired.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{Incoming, Product, reply};

/// Token ids and their (created, expires) offsets from now, in days.
const TOKENS: [(&str, i64, i64); 4] = [
    ("0f4a2b6e-2c41-4f7e-9a53-3c1d5e7b8a90", -20, 345),
    ("6b1d9e2a-7c3f-4a8b-b5d1-2e9f0c4a7b63", -400, -35),
    ("c3e8f1a7-5b2d-4c9e-8f60-1a7d3b5e9c24", -2, 5),
    ("9a7c5e3b-1d4f-4b2a-a6e8-7f0c2d4b6e18", -90, -1),
];

pub struct AuthApi {
    origin: String,
}

impl AuthApi {
    pub fn new(origin: &str) -> AuthApi {
        AuthApi {
            origin: origin.trim_end_matches('/').to_string(),
        }
    }

    fn token(&self, id: &str, created: i64, expires: i64) -> Value {
        let today = crate::tools::behaviour::Day::today().0;
        let at = |days: i64| format!("{}T08:00:00Z", crate::tools::behaviour::Day(today + days));
        json!({
            "id": id,
            "href": format!("{}/auth/v1/tokens/{id}", self.origin),
            "createdDate": at(created),
            "expirationDate": at(expires),
        })
    }
}

impl Product for AuthApi {
    fn prefix(&self) -> &'static str {
        "/auth/v1"
    }

    fn handle(&self, req: &Incoming<'_>) -> Response {
        if req.method != Method::GET {
            return reply::method_not_allowed();
        }
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["tokens"] => {
                let tokens: Vec<Value> = TOKENS
                    .iter()
                    .map(|(id, c, e)| self.token(id, *c, *e))
                    .collect();
                reply::json(StatusCode::OK, &json!({"tokens": tokens}), false)
            }
            ["tokens", id] => match TOKENS.iter().find(|(t, _, _)| t == id) {
                Some((id, c, e)) => reply::json(StatusCode::OK, &self.token(id, *c, *e), false),
                None => reply::not_found(),
            },
            _ => reply::not_found(),
        }
    }
}
