//! The report as Markdown, for CI job summaries.

use super::claims::{ClaimPair, Evidence, FramePoint};
use super::{AS_MUCH_AS, Report};
use ditbench_core::util::units::{
    dollars, flops_text, format_seconds, group_thousands, md_escape, rate, si_count, times,
};

/// A Markdown summary (for CI job summaries): headlines, claims, the
/// buyer's view, machines, whole models, then one table of every measured case.
pub fn render_markdown(report: &Report) -> String {
    let mut md = String::from("# ditbench report\n\n");
    if !report.headlines.is_empty() {
        let quoted: Vec<String> = report
            .headlines
            .iter()
            .map(|h| format!("> {}", md_escape(h)))
            .collect();
        md.push_str(&quoted.join("\n>\n"));
        md.push_str("\n\n");
    }
    claims(report, &mut md);
    buyers(report, &mut md);
    machines(report, &mut md);
    videos(report, &mut md);
    published(report, &mut md);
    full_models(report, &mut md);
    served(report, &mut md);
    cases(report, &mut md);
    fastest(report, &mut md);
    not_measured(report, &mut md);
    // Every cell is escaped; this catches any text a section forgot.
    ditbench_core::util::units::visible_controls(&md)
}

/// One line per machine: its hardware and its counts.
fn machines(report: &Report, md: &mut String) {
    for m in &report.machines {
        md.push_str(&format!(
            "- **{}**: {} ({}), {} GiB RAM, GPUs: {}; {} ok, {} skipped, {} failed; parity {} pass, {} fail\n",
            md_escape(&m.host),
            md_escape(&m.cpu),
            md_escape(&m.cores),
            m.ram_gib,
            md_escape(&m.gpus),
            m.ok,
            m.skipped,
            m.failed,
            m.parity_pass,
            m.parity_fail
        ));
    }
}

/// One whole video per pipeline, place and dtype: its stages.
fn videos(report: &Report, md: &mut String) {
    if report.videos.is_empty() {
        return;
    }
    md.push_str("\n**One whole video** (each stage's fastest backend; seconds per video = one forward of the stage's whole model x its runs; memory: the cost model's estimate of the stage's peak)\n\n");
    md.push_str("| machine · device | pipeline | dtype | stage | model x runs | backend | basis | seconds per video | share | FLOPs | estimated peak |\n");
    md.push_str("|---|---|---|---|---|---|---|---:|---:|---:|---:|\n");
    for v in &report.videos {
        for s in &v.stages {
            let (backend, basis, seconds) = match &s.measured {
                Some(m) => (
                    md_escape(&m.backend),
                    md_escape(&m.basis),
                    format_seconds(m.seconds),
                ),
                None => ("-".into(), "not run".into(), "-".into()),
            };
            md.push_str(&format!(
                "| {} · {} | {} | {} | {} | {} x{} | {} | {} | {} | {} | {} | {:.1} GiB |\n",
                md_escape(&v.host),
                md_escape(&v.device),
                md_escape(&v.pipeline),
                v.dtype,
                s.stage,
                md_escape(&s.preset),
                s.runs,
                backend,
                basis,
                seconds,
                s.share.map_or("-".into(), |x| format!("{:.1}%", x * 100.0)),
                flops_text(s.flops),
                s.estimated_gib
            ));
        }
        md.push_str(&format!(
            "| {} · {} | **{}** | {} | **whole video** | {} steps{} | | {} | **{}** | | {} | **{:.1} GiB ({})** |\n",
            md_escape(&v.host),
            md_escape(&v.device),
            md_escape(&v.pipeline),
            v.dtype,
            v.steps,
            if v.guidance { ", guidance" } else { "" },
            if v.not_run.is_empty() {
                if v.extrapolated { "extrapolated" } else { "measured" }.to_string()
            } else {
                format!("incomplete: the {} did not run", v.not_run.join(" and "))
            },
            v.seconds.map_or("-".into(), format_seconds),
            flops_text(v.stages.iter().map(|s| s.flops).sum()),
            v.memory_gib,
            v.memory_stage
        ));
    }
}

/// Published figures for the same pipelines, labelled as such, with ours
/// beside them where a pipeline ran.
fn published(report: &Report, md: &mut String) {
    if report.published.is_empty() {
        return;
    }
    md.push_str("\n**Published figures, not measured here** (each as its source states it; ours beside it where the same pipeline ran)\n\n");
    md.push_str("| card | model | resolution · frames · steps | what | published seconds | peak memory | source (read on) | ours |\n");
    md.push_str("|---|---|---|---|---:|---:|---|---|\n");
    let or_dash = |v: Option<u32>| v.map_or("-".to_string(), |n| n.to_string());
    for row in &report.published {
        let f = &row.figure;
        let ours: Vec<String> = row
            .ours
            .iter()
            .map(|b| {
                format!(
                    "{} {} {}: {} {}{}",
                    md_escape(&b.host),
                    md_escape(&b.device),
                    b.dtype,
                    format_seconds(b.seconds),
                    b.what,
                    if b.extrapolated {
                        " (extrapolated)"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        md.push_str(&format!(
            "| {} x{} | {} | {} · {} · {} | {} | {}{} | {} | [{}]({}) ({}) | {} |\n",
            md_escape(&f.card),
            f.gpus,
            md_escape(&f.model),
            md_escape(&f.resolution),
            or_dash(f.frames),
            or_dash(f.steps),
            md_escape(&f.what),
            if f.approximate { "about " } else { "" },
            format_seconds(f.seconds),
            f.peak_memory_gb.map_or("-".into(), |g| format!("{g} GB")),
            md_escape(f.source_date.as_deref().unwrap_or("undated")),
            f.source_url,
            f.read_on,
            if ours.is_empty() {
                format!("not run: `run --presets {}`", f.pipeline)
            } else {
                ours.join("<br>")
            }
        ));
    }
}

/// One video, image and LLM request per model, backend and device.
fn full_models(report: &Report, md: &mut String) {
    if !report.full_models.is_empty() {
        md.push_str("\n**One video, image and LLM request** (extrapolated rows: T(k) + (L - k) x (T(k) - T(j)) / (k - j) from k measured blocks and a base of j < k blocks)\n\n");
        md.push_str("| machine | model | backend | device | dtype | basis | one forward | per unit | $ per unit |\n");
        md.push_str("|---|---|---|---|---|---|---:|---:|---:|\n");
        for f in &report.full_models {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} per {} | {} |\n",
                md_escape(&f.host),
                md_escape(&f.preset),
                md_escape(&f.backend),
                md_escape(&f.device),
                f.dtype,
                md_escape(&f.basis),
                format_seconds(f.forward_s),
                format_seconds(f.per_unit_s),
                f.unit,
                f.usd_per_unit.map_or("-".into(), dollars),
            ));
        }
    }
}

/// Each video or image as LLM prefill tokens and served requests.
fn served(report: &Report, md: &mut String) {
    if !report.served.is_empty() {
        md.push_str("\n**One video or image in LLM terms** (its time / the LLM's prefill time per prompt token; / one served request's time, prefill and decode)\n\n");
        md.push_str("| machine | backend | device | dtype | DiT | time | LLM | as prefill tokens | as served requests | their tokens |\n");
        md.push_str("|---|---|---|---|---|---:|---|---:|---:|---:|\n");
        for e in &report.served {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} ({}{}) | {} | {} | {} | {:.1} | {} |\n",
                md_escape(&e.host),
                md_escape(&e.backend),
                md_escape(&e.device),
                e.dtype,
                md_escape(&e.dit),
                e.unit,
                if e.extrapolated { ", extrapolated" } else { "" },
                format_seconds(e.dit_s),
                md_escape(&e.llm),
                group_thousands(e.prefill_tokens),
                e.requests,
                group_thousands(e.request_tokens),
            ));
        }
    }
}

/// Every measured case, one row each.
fn cases(report: &Report, md: &mut String) {
    md.push_str("\n| machine | workload | backend | device | dtype | pass | median | 95% CI | n (stop) | tokens/s | TFLOP/s | vs reference | parity | confidence |\n");
    md.push_str("|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---|\n");
    for r in &report.rows {
        md.push_str(&format!(
            "| {} | {} | {}{} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} |\n",
            md_escape(&r.host),
            md_escape(&r.workload),
            md_escape(&r.backend),
            if r.fastest { " (fastest)" } else { "" },
            md_escape(&r.device),
            r.dtype,
            r.pass,
            format_seconds(r.median_s),
            if r.ci_known {
                format!(
                    "{} – {}",
                    format_seconds(r.ci_low_s),
                    format_seconds(r.ci_high_s)
                )
            } else {
                "n/a".into()
            },
            r.samples,
            r.stop_reason,
            si_count(r.tokens_per_s),
            rate(r.tflops),
            r.speed_vs_reference
                .map_or("-".into(), |s| format!("{s:.2}x")),
            md_escape(&r.parity),
            md_escape(&confidence_text(r)),
        ));
    }
}

/// The fastest backend of each comparison, where one is named.
fn fastest(report: &Report, md: &mut String) {
    let compared: Vec<_> = report
        .comparisons
        .iter()
        .filter(|c| c.rows.len() > 1)
        .collect();
    if !compared.is_empty() {
        md.push_str("\n**Fastest** (named only where its figure is of good confidence, its 95% CI lies below every other's and no other median is in doubt)\n\n");
        for c in compared {
            md.push_str(&format!(
                "- {}: {}\n",
                md_escape(&c.title),
                md_escape(&c.verdict)
            ));
        }
    }
}

/// The cases that did not run, and why.
fn not_measured(report: &Report, md: &mut String) {
    if !report.not_run.is_empty() {
        md.push_str("\n**Not measured**\n\n");
        for n in &report.not_run {
            md.push_str(&format!(
                "- {} {}: {} ({})\n",
                md_escape(&n.host),
                md_escape(&n.case),
                n.status,
                md_escape(&n.why)
            ));
        }
    }
}

/// The claims: wording, verdict, figures per unit, measured times.
fn claims(report: &Report, md: &mut String) {
    if report.claims.is_empty() {
        return;
    }
    md.push_str(&format!(
        "## Claims\n\n\"About as much\" means within {AS_MUCH_AS}x either way; FLOPs are the cost model's.\n\n"
    ));
    for c in &report.claims {
        md.push_str(&format!(
            "### {}: \"{}\"\n\n**Verdict:** {}\n\n{}\n\n",
            c.id,
            md_escape(&c.wording),
            md_escape(&c.verdict),
            md_escape(&c.stand_ins)
        ));
        match &c.evidence {
            Evidence::Pairs { pairs } => pairs.iter().for_each(|p| claim_pair(p, md)),
            Evidence::Frames {
                frames, frames_llm, ..
            } if !frames.is_empty() => claim_frames(frames, frames_llm, md),
            Evidence::Frames { .. } => {}
        }
        md.push_str("Assumptions:\n");
        for a in &c.assumptions {
            md.push_str(&format!("- {}\n", md_escape(a)));
        }
        md.push('\n');
    }
}

/// One DiT against one LLM: the cost model per unit, then measured times.
fn claim_pair(p: &ClaimPair, md: &mut String) {
    md.push_str(&format!(
        "**{}{}** against **{}**\n\n| per | DiT | LLM | DiT / LLM |\n|---|---:|---:|---:|\n",
        md_escape(&p.dit),
        if p.hypothetical {
            " (hypothetical)"
        } else {
            ""
        },
        md_escape(&p.llm)
    ));
    for u in &p.units {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            u.unit,
            flops_text(u.dit_flops),
            flops_text(u.llm_flops),
            times(u.ratio)
        ));
    }
    for m in &p.measured {
        md.push_str(&format!(
            "\nMeasured on {} ({} {} {}){}: one {} {}, one LLM request {}: {} per unit, {} per token.\n",
            md_escape(&m.host),
            md_escape(&m.backend),
            md_escape(&m.device),
            m.dtype,
            if m.extrapolated { ", extrapolated" } else { "" },
            if p.dit.contains("image") { "image" } else { "video" },
            format_seconds(m.dit_unit_s),
            format_seconds(m.llm_unit_s),
            times(m.per_unit_ratio),
            times(m.per_token_ratio)
        ));
    }
    md.push('\n');
}

/// A video token's cost as frames grow, against a text token's.
fn claim_frames(frames: &[FramePoint], frames_llm: &str, md: &mut String) {
    md.push_str(&format!(
        "| frames | tokens | FLOPs per token | attention share | vs a {} token |\n|---:|---:|---:|---:|---:|\n",
        md_escape(frames_llm)
    ));
    for f in frames {
        md.push_str(&format!(
            "| {} | {} | {} | {:.0}% | {} |\n",
            f.frames,
            group_thousands(f.tokens as f64),
            flops_text(f.flops_per_token),
            f.attention_share * 100.0,
            times(f.vs_llm)
        ));
    }
    md.push('\n');
}

/// The buyer's view: one line per machine and device, fastest first.
fn buyers(report: &Report, md: &mut String) {
    if report.buyers.is_empty() {
        return;
    }
    md.push_str("## What a clip, an image and 1M LLM tokens cost on each machine\n\n| machine · device | one whole video | one real clip (DiT only) | one image | 1M LLM tokens | best MFU | fits (forward) | fits (train) |\n|---|---|---|---|---|---:|---|---|\n");
    let units = |units: &[super::BuyerUnit]| -> String {
        if units.is_empty() {
            return "not run".into();
        }
        units
            .iter()
            .map(|u| {
                format!(
                    "{}: {}{}{}{} ({} {})",
                    md_escape(&u.preset),
                    format_seconds(u.seconds),
                    if u.extrapolated { " extrapolated" } else { "" },
                    u.usd.map_or(String::new(), |d| format!(", {}", dollars(d))),
                    u.kwh.map_or(String::new(), |k| format!(", {k:.4} kWh")),
                    md_escape(&u.backend),
                    u.dtype
                )
            })
            .collect::<Vec<_>>()
            .join("<br>")
    };
    let list = |names: &[String], known: bool| {
        if names.is_empty() {
            if known { "none" } else { "memory not recorded" }.to_string()
        } else {
            md_escape(&names.join(", "))
        }
    };
    for b in &report.buyers {
        md.push_str(&format!(
            "| {} · {} ({}) | {} | {} | {} | {} | {} | {} | {} |\n",
            md_escape(&b.host),
            md_escape(&b.device),
            md_escape(&b.device_name),
            units(&b.videos),
            units(&b.clips),
            units(&b.images),
            units(&b.llm),
            b.best_mfu
                .map_or("-".into(), |m| format!("{:.1}%", m * 100.0)),
            list(&b.fits_forward, b.memory_gib.is_some()),
            list(&b.fits_train, b.memory_gib.is_some()),
        ));
    }
    md.push('\n');
}

/// `good`, or `low: reasons` (a contended case's first reason says so).
pub(super) fn confidence_text(r: &super::Row) -> String {
    if r.confidence_reasons.is_empty() {
        r.confidence.clone()
    } else {
        format!("{}: {}", r.confidence, r.confidence_reasons.join("; "))
    }
}
