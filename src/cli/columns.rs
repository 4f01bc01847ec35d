//! Plain-text tables for the terminal: every column as wide as its widest cell, headers
//! included, two spaces apart; the last column is not padded.

/// The table as text, one line per row after the header.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i < last {
                let pad = widths.get(i).copied().unwrap_or(0) - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up_under_their_headers() {
        let t = super::render(
            &["TOOL", "ACCESS", "PATH"],
            &[
                vec!["a".into(), "read".into(), "/x".into()],
                vec!["objectstorage_s3".into(), "write".into(), "/y/z".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "TOOL              ACCESS  PATH");
        assert_eq!(lines[1], "a                 read    /x");
        assert_eq!(lines[2], "objectstorage_s3  write   /y/z");
    }
}
