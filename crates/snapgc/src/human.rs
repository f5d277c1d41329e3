//! Sizes and durations in units people read.

/// Bytes in binary units: `512 B`, `1.5 KiB`, `2.4 MiB`, `1.0 GiB`.
/// (Not `indicatif::BinaryBytes`: it prints two decimals, `2.40 MiB`, and docs/CLI.md's tables
/// show one.)
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `1 blob`, `2 blobs`.
pub fn blobs(n: u64) -> String {
    if n == 1 { "1 blob".to_owned() } else { format!("{n} blobs") }
}

/// Microseconds as `850 µs`, `12.3 ms` or `4.56 s`.
pub fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1_000.0)
    } else {
        format!("{:.2} s", us as f64 / 1_000_000.0)
    }
}

/// `text`, or its first 120 characters and its length when longer (a 100 KB key must not
/// become a 100 KB stderr line).
pub fn shorten(text: &str) -> String {
    const LIMIT: usize = 120;
    if text.len() <= LIMIT {
        return text.to_owned();
    }
    let cut = (0..=LIMIT).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{}… ({} bytes)", &text[..cut], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(2_516_582), "2.4 MiB");
        assert_eq!(bytes(1 << 30), "1.0 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn blob_counts() {
        assert_eq!(blobs(0), "0 blobs");
        assert_eq!(blobs(1), "1 blob");
        assert_eq!(blobs(7), "7 blobs");
    }

    #[test]
    fn time_units() {
        assert_eq!(micros(850), "850 µs");
        assert_eq!(micros(12_345), "12.3 ms");
        assert_eq!(micros(4_560_000), "4.56 s");
    }
}
