//! The report as CSV: one line per measured case.

use super::Report;
use ditbench_core::util::units::terminal_text;

/// Every measured case as CSV (RFC 4180 quoting).
pub fn render_csv(report: &Report) -> String {
    let header = "host,workload,backend,framework,device,dtype,pass,median_s,ci95_low_s,ci95_high_s,tokens_per_s,tflops,peak_rss_mib,rss_growth_mib,speed_vs_reference,parity,threads_requested,threads_busy,cpu_parallelism,samples,stop_reason,confidence,contended,confidence_reasons";
    let mut csv = format!("{header}\n");
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    for r in &report.rows {
        let fields = [
            r.host.clone(),
            r.workload.clone(),
            r.backend.clone(),
            r.framework.clone(),
            r.device.clone(),
            r.dtype.clone(),
            r.pass.clone(),
            format!("{}", r.median_s),
            opt(r.ci_known.then_some(r.ci_low_s)),
            opt(r.ci_known.then_some(r.ci_high_s)),
            format!("{}", r.tokens_per_s),
            format!("{}", r.tflops),
            opt(r.peak_rss_mib),
            opt(r.rss_growth_mib),
            opt(r.speed_vs_reference),
            r.parity.clone(),
            r.threads_requested.map_or(String::new(), |n| n.to_string()),
            r.threads_busy.map_or(String::new(), |n| n.to_string()),
            opt(r.cpu_parallelism),
            r.samples.to_string(),
            r.stop_reason.clone(),
            r.confidence.clone(),
            r.contended.to_string(),
            r.confidence_reasons.join("; "),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        csv.push_str(&line.join(","));
        csv.push('\n');
    }
    csv
}

pub(super) fn csv_field(text: &str) -> String {
    // Control characters (an OSC 52 clipboard write, a line break) as
    // visible escapes: one record per line, nothing a terminal obeys.
    let s = &terminal_text(text);
    // A leading = + - @ TAB or CR would be a formula in a spreadsheet
    // (OWASP's list): quote and prefix.
    let risky = s.starts_with(['=', '+', '@', '\t', '\r'])
        || (s.starts_with('-') && s.parse::<f64>().is_err());
    if risky || s.contains([',', '"', '\n', '\r']) {
        let body = if risky {
            format!("'{s}")
        } else {
            s.to_string()
        };
        format!("\"{}\"", body.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_separators_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "\"'=1+1\"");
        assert_eq!(csv_field("@cmd"), "\"'@cmd\"");
        assert_eq!(csv_field("-0.5"), "-0.5");
        assert_eq!(csv_field("-cmd"), "\"'-cmd\"");
        // Control characters are shown, never written raw.
        assert_eq!(csv_field("\t=Q+1"), "\\x09=Q+1");
        assert_eq!(csv_field("a\nb"), "a\\x0ab");
        assert_eq!(
            csv_field("\x1b]52;c;ZXZpbA==\x07"),
            "\\x1b]52;c;ZXZpbA==\\x07"
        );
    }
}
