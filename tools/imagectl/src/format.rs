//! Sizes and ages printed the way the docker CLI prints them.

/// `docker images`' sizes: decimal units, three significant digits (`4.26MB`, `245MB`).
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{}{}", three_significant(value), units[unit])
}

/// Like Go's `%.3g` for the values sizes take (below 1000): no trailing zeros.
fn three_significant(value: f64) -> String {
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_prints_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(245_000_000), "245MB");
        assert_eq!(human_size(1_200_000), "1.2MB");
        assert_eq!(human_size(12_340_000_000), "12.3GB");
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
}
