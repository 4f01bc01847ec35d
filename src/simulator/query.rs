//! Query strings: decoding, and the parameters every Cloud API GET understands.

use percent_encoding::percent_decode_str;

/// Decodes `a=1&b=x%20y` (form encoding: `+` is a space) into pairs, in order.
pub fn decode_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// `depth`, `offset`, `limit`, `pretty` and `filter.<property>`, validated as the Cloud API
/// does. Other parameters (`orderBy`, `maxResults`, ...) are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub depth: u8,
    pub offset: usize,
    pub limit: usize,
    pub pretty: bool,
    /// `(property, value)` pairs; an item must match all of them.
    pub filters: Vec<(String, String)>,
}

pub const MAX_DEPTH: u8 = 10;
pub const DEFAULT_LIMIT: usize = 1000;
pub const MAX_LIMIT: usize = 10_000;

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            depth: 0,
            offset: 0,
            limit: DEFAULT_LIMIT,
            pretty: true,
            filters: Vec::new(),
        }
    }
}

impl ListQuery {
    /// The parameters of a request, or the message of a 400 answer.
    pub fn parse(pairs: &[(String, String)]) -> Result<ListQuery, String> {
        let mut q = ListQuery::default();
        for (key, value) in pairs {
            match key.as_str() {
                "depth" => {
                    q.depth = integer(key, value, 0, i64::from(MAX_DEPTH))?
                        .try_into()
                        .unwrap_or(MAX_DEPTH)
                }
                "offset" => {
                    q.offset = integer(key, value, 0, i64::from(i32::MAX))?
                        .try_into()
                        .unwrap_or(usize::MAX)
                }
                "limit" => {
                    q.limit = integer(key, value, 1, MAX_LIMIT as i64)?
                        .try_into()
                        .unwrap_or(MAX_LIMIT)
                }
                "pretty" => {
                    q.pretty = match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(format!(
                                "Query parameter 'pretty' must be true or false, got '{value}'"
                            ));
                        }
                    }
                }
                _ => {
                    if let Some(property) = key.strip_prefix("filter.") {
                        if property.is_empty() {
                            return Err("Query parameter 'filter.' names no property".to_string());
                        }
                        q.filters.push((property.to_string(), value.clone()));
                    }
                }
            }
        }
        Ok(q)
    }
}

fn integer(key: &str, value: &str, min: i64, max: i64) -> Result<i64, String> {
    match value.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "Query parameter '{key}' must be an integer from {min} to {max}, got '{value}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        decode_pairs(q)
    }

    #[test]
    fn decodes_form_encoding() {
        assert_eq!(
            pairs("a=1&&b=x%20y+z&filter.name=%C3%A9&flag"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("filter.name".into(), "é".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert_eq!(pairs("x=%ff%"), vec![("x".into(), "\u{fffd}%".into())]);
    }

    #[test]
    fn accepts_the_documented_ranges() {
        let q = ListQuery::parse(&pairs(
            "depth=10&offset=5&limit=10000&pretty=False&filter.name=web&orderBy=x",
        ))
        .expect("valid");
        assert_eq!(
            q,
            ListQuery {
                depth: 10,
                offset: 5,
                limit: 10000,
                pretty: false,
                filters: vec![("name".into(), "web".into())]
            }
        );
        assert_eq!(ListQuery::parse(&[]), Ok(ListQuery::default()));
    }

    #[test]
    fn rejects_out_of_range_and_non_integers() {
        for bad in [
            "depth=11",
            "depth=-1",
            "depth=deep",
            "depth=",
            "depth=1.5",
            "offset=-1",
            "offset=x",
            "limit=0",
            "limit=10001",
            "limit=99999999999999999999",
            "pretty=yes",
            "filter.=x",
        ] {
            let err = ListQuery::parse(&pairs(bad)).expect_err(bad);
            let key = bad.split(['=', '.']).next().unwrap_or_default();
            assert!(err.contains(key), "{bad}: {err}");
        }
    }
}
