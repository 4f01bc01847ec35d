//! S3 answers: XML documents as Amazon S3 writes them (compact, escaped, the S3 namespace on
//! the root where S3 puts it), and S3's error document.

use std::fmt::Display;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

/// The namespace of S3's answers.
pub const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A compact XML document, written element by element.
pub struct Xml {
    out: String,
}

impl Xml {
    /// `<?xml ...?>` and a `root` element (in the S3 namespace when `namespaced`) holding what
    /// `content` writes.
    pub fn document(root: &str, namespaced: bool, content: impl FnOnce(&mut Xml)) -> String {
        let mut xml = Xml {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        };
        xml.out.push('<');
        xml.out.push_str(root);
        if namespaced {
            xml.out.push_str(" xmlns=\"");
            xml.out.push_str(NAMESPACE);
            xml.out.push('"');
        }
        xml.out.push('>');
        let start = xml.out.len();
        content(&mut xml);
        if xml.out.len() == start {
            // An empty root is written the way S3 does: `<VersioningConfiguration .../>`.
            xml.out.pop();
            xml.out.push_str("/>");
        } else {
            xml.close(root);
        }
        xml.out
    }

    /// Text content of the current element.
    pub fn text(&mut self, text: &str) -> &mut Xml {
        escape_into(&mut self.out, text);
        self
    }

    /// An element holding other elements.
    pub fn node(&mut self, name: &str, content: impl FnOnce(&mut Xml)) -> &mut Xml {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        content(self);
        self.close(name);
        self
    }

    /// An element holding text.
    pub fn leaf(&mut self, name: &str, text: impl Display) -> &mut Xml {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        escape_into(&mut self.out, &text.to_string());
        self.close(name);
        self
    }

    /// A text element when there is a value.
    pub fn opt<T: Display>(&mut self, name: &str, text: Option<T>) -> &mut Xml {
        if let Some(text) = text {
            self.leaf(name, text);
        }
        self
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }
}

/// `text` with `&`, `<`, `>`, `"` and `'` as entities.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// A successful answer before it becomes a response: a HEAD request gets its headers (and the
/// length the body would have) without the body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// A `200` XML document.
    pub fn xml(document: String) -> Answer {
        Answer::typed("application/xml", document.into_bytes())
    }

    /// A `200` body of the given type.
    pub fn typed(content_type: &str, body: Vec<u8>) -> Answer {
        Answer {
            status: StatusCode::OK,
            headers: vec![(header::CONTENT_TYPE, content_type.to_string())],
            body,
        }
    }

    /// One more header (a name that is not a valid header name is left out).
    pub fn header(mut self, name: impl TryInto<HeaderName>, value: impl Into<String>) -> Answer {
        if let Ok(name) = name.try_into() {
            self.headers.push((name, value.into()));
        }
        self
    }

    /// The response; for HEAD without the body but with its `Content-Length` (unless the
    /// answer sets its own, as HeadObject does).
    pub fn into_response(self, head: bool) -> Response {
        let has_length = self
            .headers
            .iter()
            .any(|(name, _)| name == header::CONTENT_LENGTH);
        let length = self.body.len();
        let mut response = Response::new(if head {
            Body::empty()
        } else {
            Body::from(self.body)
        });
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            // Values come from the data and are checked when it is loaded; a bad one is left out.
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(name, value);
            }
        }
        if head && !has_length {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        response
    }
}

/// An S3 error: the status, S3's code and message, and the extra elements S3 adds (the bucket
/// name, the key, the string to sign, ...).
#[derive(Debug)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
}

impl S3Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// One more element of the error document, after `Message`.
    pub fn detail(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.details.push((name, value.into()));
        self
    }

    /// One more response header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error::new(StatusCode::FORBIDDEN, code, message)
    }

    /// `400 InvalidArgument` about one query parameter.
    pub fn invalid_argument(message: impl Into<String>, name: &str, value: &str) -> S3Error {
        S3Error::bad_request("InvalidArgument", message)
            .detail("ArgumentName", name)
            .detail("ArgumentValue", value)
    }

    /// A missing bucket sub-resource (`NoSuchCORSConfiguration`, ...), naming the bucket.
    pub fn missing(code: &'static str, message: &str, bucket: &str) -> S3Error {
        S3Error::not_found(code, message).detail("BucketName", bucket)
    }

    /// The error document `<Error><Code/><Message/>...<Resource/><RequestId/></Error>`; a HEAD
    /// answer has the status and headers only.
    pub fn into_response(self, head: bool, resource: &str, request_id: &str) -> Response {
        let document = Xml::document("Error", false, |x| {
            x.leaf("Code", self.code).leaf("Message", &self.message);
            for (name, value) in &self.details {
                x.leaf(name, value);
            }
            x.leaf("Resource", resource).leaf("RequestId", request_id);
        });
        let mut answer = Answer::xml(document);
        answer.status = self.status;
        for (name, value) in self.headers {
            answer.headers.push((HeaderName::from_static(name), value));
        }
        let mut response = answer.into_response(false);
        if head {
            *response.body_mut() = Body::empty();
            response.headers_mut().remove(header::CONTENT_TYPE);
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_compact_and_escaped() {
        let doc = Xml::document("Tagging", true, |x| {
            x.node("TagSet", |x| {
                x.node("Tag", |x| {
                    x.leaf("Key", "a&b").leaf("Value", "<\"'>");
                });
            })
            .opt("Missing", None::<&str>)
            .opt("Present", Some(3));
        });
        assert_eq!(
            doc,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet><Tag><Key>a&amp;b</Key><Value>&lt;&quot;&apos;&gt;</Value></Tag></TagSet><Present>3</Present></Tagging>"
        );
        assert_eq!(
            Xml::document("VersioningConfiguration", true, |_| {}),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"
        );
        assert!(
            Xml::document("LocationConstraint", true, |x| {
                x.text("de");
            })
            .ends_with(">de</LocationConstraint>")
        );
    }
}
