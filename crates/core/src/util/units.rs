//! How numbers and text are written for readers: durations, byte sizes,
//! grouped digits, Markdown-safe text; and memory sizes read from users.
//! Every figure the terminal, the reports and the errors print goes through
//! these, so one figure reads the same everywhere.

/// The unit that keeps a duration of `s` seconds at 1-999: (scale, unit).
pub fn seconds_unit(s: f64) -> (f64, &'static str) {
    if s >= 1.0 {
        (1.0, "s")
    } else if s >= 1e-3 {
        (1e3, "ms")
    } else {
        (1e6, "µs")
    }
}

/// `1.234 ms`-style text for a duration in seconds; from 1,000 s on, in
/// minutes (`16.7 min`) and from 3 hours on, in hours (`50.8 h`).
pub fn format_seconds(s: f64) -> String {
    if s >= 3.0 * 3600.0 {
        return format!("{:.1} h", s / 3600.0);
    }
    if s >= 1000.0 {
        return format!("{:.1} min", s / 60.0);
    }
    let (scale, unit) = seconds_unit(s);
    let decimals = if unit == "µs" { 1 } else { 3 };
    format!("{:.decimals$} {unit}", s * scale)
}

/// A byte size in GiB from 1 GiB up, else MiB: `gib_decimals` decimals in
/// GiB and one fewer in MiB (`12.0 GiB`, `512 MiB` with 1; `3.00 GiB`,
/// `512.0 MiB` with 2).
pub fn bytes(b: u64, gib_decimals: usize) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    let mib = b as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.gib_decimals$} GiB", mib / 1024.0)
    } else {
        let decimals = gib_decimals.saturating_sub(1);
        format!("{mib:.decimals$} MiB")
    }
}

/// FLOPs with an SI prefix and three significant digits: `9.10 GFLOP`,
/// `655 TFLOP`, `32.8 PFLOP`.
pub fn flops_text(f: f64) -> String {
    const PREFIXES: [(f64, &str); 6] = [
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
    ];
    let (scale, prefix) = PREFIXES
        .iter()
        .copied()
        .find(|(scale, _)| f.abs() >= *scale)
        .unwrap_or((1.0, ""));
    let v = f / scale;
    let decimals = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.decimals$} {prefix}FLOP")
}

/// A count with an SI suffix and three significant digits at most: `1.42B`,
/// `32.8k`, `999` (parameters, tokens, tokens per second).
pub fn si_count(x: f64) -> String {
    let (v, suffix) = match x.abs() {
        a if a >= 1e12 => (x / 1e12, "T"),
        a if a >= 1e9 => (x / 1e9, "B"),
        a if a >= 1e6 => (x / 1e6, "M"),
        a if a >= 1e3 => (x / 1e3, "k"),
        _ => (x, ""),
    };
    if suffix.is_empty() {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.0}{suffix}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}{suffix}")
    } else {
        format!("{v:.2}{suffix}")
    }
}

/// A rate such as TFLOP/s with the digits small rates need: `312`, `1.25`,
/// `0.0123`.
pub fn rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// US dollars with three significant digits (cents at least): `$12.35`,
/// `$0.00341`.
pub fn dollars(usd: f64) -> String {
    if !usd.is_finite() || usd <= 0.0 {
        return format!("${usd}");
    }
    let decimals = (2 - usd.log10().floor() as i64).max(2) as usize;
    format!("${usd:.decimals$}")
}

/// A ratio as `0.27x`, `14x`, `1,234x`, `0.0031x`: two significant
/// digits at least.
pub fn times(ratio: f64) -> String {
    if ratio >= 100.0 {
        format!("{}x", group_thousands(ratio))
    } else if ratio >= 10.0 {
        format!("{ratio:.0}x")
    } else if ratio >= 0.1 || ratio <= 0.0 || !ratio.is_finite() {
        format!("{ratio:.2}x")
    } else {
        // Two significant digits: 0.058, 0.0099.
        let decimals = (1.0 - ratio.log10().floor()).min(12.0) as usize;
        format!("{ratio:.decimals$}x")
    }
}

/// A whole number with thousands separators: `-1,234,567`.
pub fn group_thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// Text from a results file on a terminal: control characters (escape
/// sequences, an OSC 52 clipboard write, a carriage return that overwrites
/// a line) are shown as `\x1b`-style escapes instead of acting.
pub fn terminal_text(s: &str) -> String {
    escaped_controls(s, |_| true)
}

/// A whole document (a table, Markdown, CSV, HTML, an error) on its way to
/// a terminal or a file: every control character but its line breaks and
/// tabs shown as in [`terminal_text`]. ESC, C1 (0x80-0x9f, which a UTF-8
/// terminal also obeys) and DEL never leave ditbench raw.
pub fn visible_controls(s: &str) -> String {
    escaped_controls(s, |ch| !matches!(ch, '\n' | '\t'))
}

fn escaped_controls(s: &str, escape: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_control() && escape(ch) {
            let code = u32::from(ch);
            if code < 0x100 {
                out.push_str(&format!("\\x{code:02x}"));
            } else {
                out.push_str(&format!("\\u{{{code:x}}}"));
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// JSON as serde_json writes it, with DEL and the C1 controls (which it
/// leaves raw inside strings) written as `\u00XX` escapes: the same
/// document, with no control character left but the layout's line breaks.
pub fn json_without_raw_controls(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for ch in json.chars() {
        match ch {
            '\n' => out.push(ch),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Text from a results file inside Markdown: no markup, no table breaks,
/// no control character (shown as in [`terminal_text`]).
pub fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push_str(&terminal_text(&c.to_string())),
            _ => out.push(ch),
        }
    }
    out
}

/// Parse a memory size: a number with an optional unit, `K`/`KiB`, `M`/`MiB`,
/// `G`/`GiB`, `T`/`TiB` (all binary), or bytes. At least 1 MiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size such as 512MiB or 8GiB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        "t" | "tib" | "tb" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit '{other}' in '{text}'; use MiB or GiB"
            ));
        }
    };
    let bytes = value * scale as f64;
    // 16 EiB is what a u64 holds; no machine has near that much.
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!(
            "'{text}' is larger than 16 EiB, more than any memory"
        ));
    }
    if bytes < (1u64 << 20) as f64 {
        return Err(format!("'{text}' must be at least 1 MiB"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_documents_keep_their_lines_and_lose_their_controls() {
        let osc52 = "a\x1b]52;c;ZXZpbA==\x07b\n\tc\u{9d}d\u{7f}\re";
        assert_eq!(
            visible_controls(osc52),
            "a\\x1b]52;c;ZXZpbA==\\x07b\n\tc\\x9dd\\x7f\\x0de"
        );
        let json = serde_json::to_string_pretty(&serde_json::json!({"k": osc52})).unwrap();
        let safe = json_without_raw_controls(&json);
        assert!(!safe.chars().any(|c| c.is_control() && c != '\n'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["k"], osc52, "the same document");
        assert_eq!(md_escape("x\x1bcy\u{90}z"), "x\\x1bcy\\x90z");
    }

    #[test]
    fn terminal_text_defuses_escape_sequences() {
        assert_eq!(terminal_text("plain · text"), "plain · text");
        assert_eq!(
            terminal_text("a\u{1b}]52;c;aGk=\u{7}b\r\n"),
            "a\\x1b]52;c;aGk=\\x07b\\x0d\\x0a"
        );
        assert_eq!(terminal_text("\u{9b}31m"), "\\x9b31m");
    }

    #[test]
    fn flops_and_ratios_read_with_their_prefix() {
        assert_eq!(flops_text(9.1e9), "9.10 GFLOP");
        assert_eq!(flops_text(6.55e14), "655 TFLOP");
        assert_eq!(flops_text(3.28e16), "32.8 PFLOP");
        assert_eq!(flops_text(2.0e21), "2000 EFLOP");
        assert_eq!(flops_text(12.0), "12.0 FLOP");
        assert_eq!(si_count(1_418_996_800.0), "1.42B");
        assert_eq!(si_count(32_760.0), "32.8k");
        assert_eq!(si_count(999.0), "999");
        assert_eq!(rate(0.01234), "0.0123");
        assert_eq!(rate(312.4), "312");
        assert_eq!(dollars(4.8812), "$4.88");
        assert_eq!(dollars(0.003412), "$0.00341");
        assert_eq!(dollars(0.5), "$0.500");
        assert_eq!(dollars(1234.5), "$1234.50");
        assert_eq!(dollars(0.0), "$0");
        assert_eq!(times(0.2712), "0.27x");
        assert_eq!(times(14.4), "14x");
        assert_eq!(times(1234.0), "1,234x");
        assert_eq!(times(0.0031), "0.0031x");
        assert_eq!(times(0.058), "0.058x");
        assert_eq!(times(0.0), "0.00x");
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("8G").unwrap(), 8 << 30);
        assert_eq!(parse_size("1.5 GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("2097152").unwrap(), 2 << 20);
        for bad in ["", "MiB", "12 parsecs", "-1G", "1K", "0"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        let huge = parse_size("99999999999999999999GiB").unwrap_err();
        assert!(huge.contains("larger than 16 EiB"), "{huge}");
    }

    #[test]
    fn figures_read_the_same_everywhere() {
        assert_eq!(bytes(12 << 30, 1), "12.0 GiB");
        assert_eq!(bytes(512 << 20, 1), "512 MiB");
        assert_eq!(bytes(3 << 30, 2), "3.00 GiB");
        assert_eq!(bytes(512 << 20, 2), "512.0 MiB");
        assert_eq!(format_seconds(0.001_234_5), "1.234 ms");
        assert_eq!(format_seconds(0.000_012_34), "12.3 µs");
        assert_eq!(format_seconds(999.0), "999.000 s");
        assert_eq!(format_seconds(1829.6), "30.5 min");
        assert_eq!(format_seconds(182_956.0), "50.8 h");
        assert_eq!(group_thousands(-1_234_567.0), "-1,234,567");
        assert_eq!(md_escape("a|b_c\nd"), "a\\|b\\_c d");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0.4), "0");
        assert_eq!(group_thousands(999.0), "999");
        assert_eq!(group_thousands(1234567.8), "1,234,568");
        assert_eq!(group_thousands(-1000.0), "-1,000");
    }

    #[test]
    fn markdown_text_cannot_break_tables_or_add_markup() {
        assert_eq!(md_escape("a|b"), "a\\|b");
        assert_eq!(md_escape("<b>x</b>\nnext"), "\\<b\\>x\\</b\\> next");
    }
}

/// An RFC 3339 time to the second: `2026-12-01T19:25:28.123456789+00:00`
/// reads `2026-12-01T19:25:28+00:00`; text that is not one is returned as is.
pub fn to_the_second(time: &str) -> String {
    match (time.find('T'), time.rfind('.')) {
        (Some(t), Some(dot)) if dot > t => {
            let rest = &time[dot + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return time.to_string();
            }
            format!("{}{}", &time[..dot], &rest[digits..])
        }
        _ => time.to_string(),
    }
}

#[cfg(test)]
mod time_tests {
    use super::to_the_second;

    #[test]
    fn times_read_to_the_second() {
        assert_eq!(
            to_the_second("2026-12-01T19:25:28.123456789+00:00"),
            "2026-12-01T19:25:28+00:00"
        );
        assert_eq!(
            to_the_second("2026-12-01T19:25:28Z"),
            "2026-12-01T19:25:28Z"
        );
        assert_eq!(
            to_the_second("2026-12-01T19:25:28.5Z"),
            "2026-12-01T19:25:28Z"
        );
        assert_eq!(to_the_second("not. a time"), "not. a time");
    }
}
