//! Sizes and ages printed the way the docker CLI prints them.

/// `docker images`' sizes: decimal units, three significant digits (`4.26MB`, `245MB`).
pub fn human_size(bytes: u64) -> String {
    human_size_with(bytes, 3)
}

/// The sizes of `docker system df` and the prunes' totals (Go's `units.HumanSize`): four
/// significant digits (`4.262MB`).
pub fn human_size_4(bytes: u64) -> String {
    human_size_with(bytes, 4)
}

fn human_size_with(bytes: u64, digits: usize) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{}{}", significant(value, digits), units[unit])
}

/// Like Go's `%.<digits>g` for the values sizes take (below 1000): no trailing zeros.
fn significant(value: f64, digits: usize) -> String {
    let magnitude = if value >= 100.0 {
        3
    } else if value >= 10.0 {
        2
    } else {
        1
    };
    let decimals = digits.saturating_sub(magnitude);
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// How long ago `then` (Unix seconds) was, as `docker images` says it (`2 hours ago`).
pub fn ago(then: i64, now: i64) -> String {
    if then <= 0 {
        return "N/A".into();
    }
    let seconds = (now - then).max(0);
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    let text = if seconds < 1 {
        "Less than a second".to_string()
    } else if seconds == 1 {
        "1 second".to_string()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".to_string()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{days} days")
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", days / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", days / 30)
    } else {
        format!("{} years", days / 365)
    };
    format!("{text} ago")
}

/// Unix seconds as docker's `CreatedAt` (`2024-05-01 12:00:00 +0000 UTC`).
pub fn created_at(secs: i64) -> String {
    let rfc = rfc3339(secs);
    let (date, time) = rfc.split_once('T').unwrap_or((&rfc, ""));
    format!("{date} {} +0000 UTC", time.trim_end_matches('Z'))
}

/// Unix seconds as RFC 3339 (`2024-05-01T12:00:00Z`).
pub fn rfc3339(secs: i64) -> String {
    berth_image::time::format(secs)
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    berth_image::time::now()
}

/// Aligns tab-separated cells as docker's tabwriter does (min width 10, padding 3); the
/// last cell of a line is not padded.
pub fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let width = (cell.chars().count() + 3).max(10);
            if widths.len() <= i {
                widths.push(width);
            } else {
                widths[i] = widths[i].max(width);
            }
        }
    }
    let mut out = String::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// Re-indents JSON text with four spaces as Go's `json.MarshalIndent` does, keeping the
/// daemon's key order and string escapes (`docker inspect` prints the daemon's JSON so).
pub fn indent_json(raw: &[u8], level: usize, out: &mut String) {
    let text = String::from_utf8_lossy(raw);
    let mut chars = text.chars().peekable();
    let mut depth = level;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("    ", depth));
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                while let Some(c) = chars.next() {
                    out.push(c);
                    match c {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '{' | '[' => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                let close = if c == '{' { '}' } else { ']' };
                out.push(c);
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(close);
                } else {
                    depth += 1;
                    newline(out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_indented_like_gos_marshal_indent_in_its_own_order() {
        let mut out = String::new();
        indent_json(
            br#"{"b": 1, "a":{"x":[],"y":{}, "z":["s,\"}", 2]}}"#,
            0,
            &mut out,
        );
        assert_eq!(
            out,
            "{\n    \"b\": 1,\n    \"a\": {\n        \"x\": [],\n        \"y\": {},\n        \"z\": [\n            \"s,\\\"}\",\n            2\n        ]\n    }\n}"
        );
    }

    #[test]
    fn sizes_read_as_docker_prints_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(245_000_000), "245MB");
        assert_eq!(human_size(1_200_000), "1.2MB");
        assert_eq!(human_size(12_340_000_000), "12.3GB");
        assert_eq!(human_size_4(4_261_524), "4.262MB");
        assert_eq!(human_size_4(1_048_576), "1.049MB");
        assert_eq!(human_size_4(1_000_000), "1MB");
        assert_eq!(human_size_4(123_456_789), "123.5MB");
        assert_eq!(human_size_4(0), "0B");
    }

    #[test]
    fn ages_read_as_docker_prints_them() {
        let now = 1_700_000_000;
        assert_eq!(ago(now - 30, now), "30 seconds ago");
        assert_eq!(ago(now - 90, now), "About a minute ago");
        assert_eq!(ago(now - 3 * 3600, now), "3 hours ago");
        assert_eq!(ago(now - 3 * 86400, now), "3 days ago");
        assert_eq!(ago(now - 20 * 86400, now), "2 weeks ago");
        assert_eq!(ago(now - 800 * 86400, now), "2 years ago");
        assert_eq!(ago(0, now), "N/A");
    }

    #[test]
    fn times_read_as_docker_prints_them() {
        assert_eq!(created_at(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(created_at(1_700_000_000), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(rfc3339(951_825_600), "2000-02-29T12:00:00Z");
    }

    #[test]
    fn columns_align_like_docker() {
        let lines = vec![
            "REPOSITORY\tTAG\tSIZE".to_string(),
            "busybox\tlatest-and-long\t1MB".to_string(),
        ];
        assert_eq!(
            align(&lines),
            "REPOSITORY   TAG               SIZE\nbusybox      latest-and-long   1MB\n"
        );
    }
}
