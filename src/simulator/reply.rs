//! Answers in the Cloud API's conventions: JSON bodies and its error document
//! `{"httpStatus": 404, "messages": [{"errorCode": "309", "message": "..."}]}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A JSON answer; `pretty` as the Cloud API's `pretty` parameter asks (it defaults to true).
pub fn json(status: StatusCode, body: &Value, pretty: bool) -> Response {
    let text = if pretty {
        serde_json::to_string_pretty(body)
    } else {
        serde_json::to_string(body)
    };
    match text {
        Ok(text) => with_type(status, "application/json", text),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500",
            &format!("Cannot encode the answer: {e}"),
        ),
    }
}

/// A body of the given content type.
pub fn with_type(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// The Cloud API's error document.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"httpStatus": status.as_u16(), "messages": [{"errorCode": code, "message": message}]});
    with_type(status, "application/json", body.to_string())
}

pub fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "309", "Resource does not exist")
}

pub fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "100", message)
}

pub fn unauthorized(message: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, "315", message);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

pub fn method_not_allowed() -> Response {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "105",
        "Method not allowed: the simulated account answers GET requests (and the server power actions)",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}
